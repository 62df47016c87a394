/*
 * api_comment.c: timestamped comments: the JSON shared by the owner and
 * guest views, the validation shared by both (body length, a version of
 * this project, a time within the version's duration), and the owner's
 * workflow (list per project or version, comment or reply as the owner,
 * resolve/unresolve, delete). Comment bodies and guest names are user text:
 * they are stored encrypted and returned as JSON strings only (the pages
 * insert them as text, never as HTML). Runs in the web process; ids are
 * client input, looked up inside the session's project.
 */
#include <string.h>

#include "api/api_int.h"
#include "api/api_mail.h"
#include "repo/repo.h"

json_t *api_comment_json(const struct db_comment *cm, int owner_view)
{
	json_t *j = json_pack("{s:o,s:o,s:s,s:b,s:s,s:I,s:b,s:I,s:b}", "id", api_id_json(cm->id),
			      "version_id", api_id_json(cm->version_id), "author", cm->author,
			      "by_owner", !cm->has_guest, "body", cm->body, "time_ms",
			      (json_int_t)cm->time_ms, "resolved", cm->resolved, "created",
			      (json_int_t)cm->created, "deleted", cm->deleted != 0);

	if (!j)
		return NULL;
	if (api_set(j, "end_ms", cm->end_ms >= 0 ? json_integer(cm->end_ms) : json_null()) ||
	    api_set(j, "edited", cm->edited > 0 ? json_integer(cm->edited) : json_null()) ||
	    api_set(j, "parent_id", cm->has_parent ? api_id_json(cm->parent_id) : json_null()) ||
	    (owner_view && cm->has_guest && api_set(j, "guest_id", api_id_json(cm->guest_id)))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

struct comment_list {
	json_t *arr;
	int owner_view;
};

static int comment_item(void *ctx, const struct db_comment *cm)
{
	struct comment_list *cl = ctx;

	return json_array_append_new(cl->arr, api_comment_json(cm, cl->owner_view)) ? AM_ERR_NOMEM
										    : 0;
}

int api_comments_json(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const uint8_t *version_id,
		      int owner_view, json_t **out)
{
	struct comment_list cl = {json_array(), owner_view};
	int rc;

	*out = NULL;
	if (!cl.arr)
		return AM_ERR_NOMEM;
	if ((rc = db_comment_list(c->db, c->api->app->keys, pid, version_id, comment_item, &cl))) {
		json_decref(cl.arr);
		return rc;
	}
	*out = cl.arr;
	return 0;
}

/* The fixed part of a comment's JSON at most: every key, three ids, four
 * numbers, three bools and two more ids (parent, guest), with room to
 * spare; the two strings are added by their length. */
#define COMMENT_FIXED_MAX 512

/* ,"key":id or ,"key":null (key is the literal ,"key":) */
#define W_OPT_ID(p, lit, has, id)                                                                  \
	(has ? api_jw_raw_id(API_JW_LIT(p, lit), id) : API_JW_LIT(API_JW_LIT(p, lit), "null"))
#define W_OPT_I64(p, lit, has, n)                                                                  \
	(has ? api_jw_raw_i64(API_JW_LIT(p, lit), n) : API_JW_LIT(API_JW_LIT(p, lit), "null"))

/* Keep in step with api_comment_json: the same fields in the same order.
 * One reservation for the comment's largest text (every byte of its
 * strings escaped as \u00XX), then written without a bound check per
 * field (issue 25: the per-append overhead was most of this function). */
int api_comment_write(struct am_buf *b, const struct db_comment *cm, int owner_view)
{
	size_t na = strlen(cm->author), nb = strlen(cm->body);
	char *p, *at;
	int rc;

	if ((rc = am_buf_reserve(b, COMMENT_FIXED_MAX + API_JW_STR_MAX(na) + API_JW_STR_MAX(nb))))
		return rc;
	at = p = (char *)b->p + b->len;
	p = api_jw_raw_id(API_JW_LIT(p, "{\"id\":"), cm->id);
	p = api_jw_raw_id(API_JW_LIT(p, ",\"version_id\":"), cm->version_id);
	if (!(p = api_jw_raw_str(API_JW_LIT(p, ",\"author\":"), cm->author, na)))
		goto bad;
	p = api_jw_raw_bool(API_JW_LIT(p, ",\"by_owner\":"), !cm->has_guest);
	if (!(p = api_jw_raw_str(API_JW_LIT(p, ",\"body\":"), cm->body, nb)))
		goto bad;
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"time_ms\":"), cm->time_ms);
	p = api_jw_raw_bool(API_JW_LIT(p, ",\"resolved\":"), cm->resolved);
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"created\":"), cm->created);
	p = api_jw_raw_bool(API_JW_LIT(p, ",\"deleted\":"), cm->deleted != 0);
	p = W_OPT_I64(p, ",\"end_ms\":", cm->end_ms >= 0, cm->end_ms);
	p = W_OPT_I64(p, ",\"edited\":", cm->edited > 0, cm->edited);
	p = W_OPT_ID(p, ",\"parent_id\":", cm->has_parent, cm->parent_id);
	if (owner_view && cm->has_guest)
		p = api_jw_raw_id(API_JW_LIT(p, ",\"guest_id\":"), cm->guest_id);
	*p++ = '}';
	b->len += (size_t)(p - at);
	b->p[b->len] = 0;
	return 0;
bad: /* text that is not UTF-8: nothing appended, the partial text wiped */
	am_memzero(at, COMMENT_FIXED_MAX + API_JW_STR_MAX(na) + API_JW_STR_MAX(nb));
	b->p[b->len] = 0;
	return AM_ERR_INVAL;
}

struct comment_out {
	struct am_buf *b;
	int owner_view;
	size_t n;
};

static int comment_out_item(void *ctx, const struct db_comment *cm)
{
	struct comment_out *co = ctx;
	int rc;

	if (co->n++ && (rc = am_buf_append(co->b, ",", 1)))
		return rc;
	rc = api_comment_write(co->b, cm, co->owner_view);
	return rc == AM_ERR_INVAL ? AM_ERR_INTERNAL : rc; /* stored text that is not UTF-8 */
}

int api_comments_write(struct api_ctx *c, const struct db_keys *k, const uint8_t pid[DB_ID_LEN],
		       int owner_view, struct am_buf *b)
{
	struct comment_out co = {b, owner_view, 0};
	int rc;

	if ((rc = am_buf_append(b, "[", 1)) ||
	    (rc = db_comment_list(c->db, k, pid, NULL, comment_out_item, &co)))
		return rc;
	return am_buf_append(b, "]", 1);
}

int api_comments_list(struct api_ctx *c)
{
	const char *vq = http_req_query(c->req, "version");
	uint8_t vid[DB_ID_LEN];
	struct db_project p;
	struct db_version v;
	json_t *arr = NULL;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)))
		return rc;
	if (vq && api_id_parse(vq, vid))
		return api_err(c, AM_ERR_NOTFOUND, "not found");
	if (vq && (rc = db_version_get(c->db, c->api->app->keys, p.id, vid, &v)))
		return rc == AM_ERR_NOTFOUND ? api_err(c, rc, "not found") : rc;
	if ((rc = api_comments_json(c, p.id, vq ? vid : NULL, 1, &arr)))
		return rc;
	return api_reply(c, 200, json_pack("{s:o}", "comments", arr));
}

/* Whether the comment's time (and range end) lie within the version. The
 * duration is known once the worker has processed the version (0 until
 * then: only the general bound of api_comment_fields applies). */
static int within_duration(const struct db_version *v, const struct api_comment_in *in)
{
	if (v->duration_ms <= 0)
		return 1;
	return in->time_ms <= v->duration_ms && in->end_ms <= v->duration_ms;
}

int api_comment_fields(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], struct api_comment_in *in)
{
	struct db_version v;
	struct db_comment parent;
	int has_end = 0, rc;

	in->end_ms = -1;
	if ((rc = api_id_field(c, "version_id", 1, in->version_id, NULL)) ||
	    (rc = api_str(c, "body", 1, DB_BODY_MAX, 1, &in->body)) ||
	    (rc = api_int(c, "time_ms", 0, INT64_C(1) << 40, 1, &in->time_ms, NULL)) ||
	    (rc = api_int(c, "end_ms", 0, INT64_C(1) << 40, 0, &in->end_ms, &has_end)) ||
	    (rc = api_id_field(c, "parent_id", 0, in->parent_id, &in->has_parent)))
		return rc;
	if (has_end && in->end_ms < in->time_ms)
		return api_err(c, AM_ERR_INVAL, "field \"end_ms\" must not be before \"time_ms\"");
	rc = db_version_get(c->db, c->api->app->keys, pid, in->version_id, &v);
	if (rc == 0 && !within_duration(&v, in))
		return api_err(c, AM_ERR_INVAL, "the comment's time is past the end of the track");
	if (rc == 0 && in->has_parent) {
		rc = db_comment_get(c->db, c->api->app->keys, pid, in->parent_id, &parent);
		if (rc == 0 && memcmp(parent.version_id, in->version_id, DB_ID_LEN) != 0)
			return api_err(c, AM_ERR_INVAL, "the parent comment is on another version");
	}
	return rc == AM_ERR_NOTFOUND ? api_err(c, rc, "not found") : rc;
}

static int reply_comment(struct api_ctx *c, unsigned status, const uint8_t pid[DB_ID_LEN],
			 const uint8_t id[DB_ID_LEN], int owner_view)
{
	struct db_comment cm;
	int rc = db_comment_get(c->db, c->api->app->keys, pid, id, &cm);

	if (rc)
		return rc;
	return api_reply(c, status,
			 json_pack("{s:o}", "comment", api_comment_json(&cm, owner_view)));
}

int api_comment_post(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const uint8_t *guest_id,
		     const struct api_comment_in *in)
{
	uint8_t id[DB_ID_LEN];
	int rc = db_begin_write(c->db); /* the comment and its e-mail event commit together */

	if (rc == 0)
		rc = db_comment_create(c->db, c->api->app->keys, pid, in->version_id, guest_id,
				       in->body, in->time_ms, in->end_ms,
				       in->has_parent ? in->parent_id : NULL, id);
	if (rc == 0)
		rc = api_mail_comment(c, pid, id, guest_id);
	rc = api_mail_tx_end(c, rc);
	if (rc == AM_ERR_NOTFOUND)
		return api_err(c, rc, "not found");
	return rc ? rc : reply_comment(c, 201, pid, id, guest_id == NULL);
}

/* A comment by the owner: top-level at a time or range of a version, or a
 * reply (parent_id). The same fields and checks as a guest's; the author
 * is the owner (by_owner, no name: the account's address is never shown
 * to guests). No rate limit, unlike guests: the guests' limits hold back
 * anonymous visitors whose comments e-mail the owner, while the owner's
 * comments notify nobody, and a session could write as much through the
 * other, unlimited owner routes (projects, tracks, links). Nor does the
 * guests' per-project limit count the owner: a flood of guest comments
 * cannot silence the owner. */
int api_comment_create(struct api_ctx *c)
{
	struct api_comment_in in;
	struct db_project p;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) || (rc = api_comment_fields(c, p.id, &in)))
		return rc;
	return api_comment_post(c, p.id, NULL, &in);
}

static int owner_comment(struct api_ctx *c, struct db_project *p, struct db_comment *cm)
{
	uint8_t cid[DB_ID_LEN];
	int rc;

	if ((rc = api_owner_project(c, "id", p)) || (rc = api_param_id(c, "cid", cid)))
		return rc;
	rc = db_comment_get(c->db, c->api->app->keys, p->id, cid, cm);
	return rc == AM_ERR_NOTFOUND ? api_err(c, rc, "not found") : rc;
}

int api_comment_patch(struct api_ctx *c)
{
	struct db_project p;
	struct db_comment cm;
	int resolved = 0, rc;

	if ((rc = owner_comment(c, &p, &cm)) ||
	    (rc = api_bool(c, "resolved", 1, &resolved, NULL)) ||
	    (rc = db_comment_set_resolved(c->db, p.id, cm.id, resolved)))
		return rc;
	return reply_comment(c, 200, p.id, cm.id, 1);
}

int api_comment_delete(struct api_ctx *c)
{
	struct db_project p;
	struct db_comment cm;
	int rc;

	if ((rc = owner_comment(c, &p, &cm)) || (rc = db_comment_delete(c->db, p.id, cm.id)))
		return rc;
	return http_respond_empty(c->req, 204);
}
