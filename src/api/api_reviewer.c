/*
 * api_reviewer.c: reviewer actions behind a share link (issue 22,
 * docs/api.md "Reviewer actions"): the guest-session cookie that tells one
 * browser's comments from another's, a guest editing or deleting their own
 * comment within API_GUEST_EDIT_WINDOW_MS, a reviewer's verdict on a
 * version, the guest's own state (which comments they may still change,
 * the verdicts), and the owner's list of verdicts. Guests have no account:
 * a comment is "theirs" when its guest row was written through the same
 * link with the same guest-session cookie (its SHA-256 is stored, never the
 * value). Runs in the web process on untrusted input (tokens, cookies, ids,
 * bodies); every id is looked up inside the link's project.
 */
#include <string.h>

#include "access/access.h"
#include "api/api_int.h"
#include "crypto/crypto.h"
#include "repo/repo.h"

#define SESSION_BYTES 32
#define SESSION_LEN   43 /* base64url of 32 bytes, no padding */

/* "__Host-am-gs-" + 32 hex of the link id. */
static int session_name(const uint8_t lid[DB_ID_LEN], char *out, size_t n)
{
	char hex[2 * DB_ID_LEN + 1];

	api_id_hex(lid, hex);
	return snprintf(out, n, "%s%s", API_GUEST_SESSION_PREFIX, hex) < (int)n ? 0 : AM_ERR_TOOBIG;
}

int api_guest_session(struct api_ctx *c, const uint8_t lid[DB_ID_LEN], int mint,
		      uint8_t hash[DB_SESSION_HASH_LEN])
{
	char name[64], value[SESSION_LEN + 8];
	const char *have;
	uint8_t raw[SESSION_BYTES];
	size_t n = 0;
	int rc;

	if ((rc = session_name(lid, name, sizeof(name))))
		return rc;
	have = http_req_cookie(c->req, name);
	if (have && strlen(have) == SESSION_LEN &&
	    crypto_b64url_decode(have, SESSION_LEN, raw, sizeof(raw), &n) == 0 && n == sizeof(raw))
		memcpy(value, have, SESSION_LEN + 1);
	else if (!mint)
		return api_err(c, AM_ERR_DENIED,
			       "you can only change your own comments and verdicts");
	else if ((rc = crypto_random(raw, sizeof(raw))) ||
		 (rc = crypto_b64url_encode(raw, sizeof(raw), value, sizeof(value))))
		goto out;
	rc = crypto_sha256(raw, sizeof(raw), hash);
	/* Posting keeps the cookie for another API_GUEST_SESSION_S (sliding). */
	if (rc == 0 && mint)
		rc =
		    http_set_cookie(c->req, name, value, API_GUEST_SESSION_S, HTTP_COOKIE_HTTPONLY);
out:
	am_memzero(raw, sizeof(raw));
	am_memzero(value, sizeof(value));
	return rc;
}

/* A guest's own live comment {cid}, still within the edit window: 404 for
 * an id that is not a live comment of the link's project, 403 for one
 * written by the owner, through another link or another guest session, or
 * after the window. Rate-limited like posting. */
static int own_comment(struct api_ctx *c, struct db_link *link, struct db_project *p,
		       struct db_comment *cm)
{
	uint8_t cid[DB_ID_LEN], pseudo[16], hash[DB_SESSION_HASH_LEN];
	int64_t epoch = 0, now = am_now_ms();
	int rc;

	if ((rc = api_guest_link(c, link, p)) || (rc = api_client_pseudo(c, pseudo, &epoch)) ||
	    (rc = api_rate(c, &API_LIMIT_COMMENT_IP, p->id, DB_ID_LEN, pseudo, sizeof(pseudo))) ||
	    (rc = api_rate(c, &API_LIMIT_COMMENT_PROJECT, p->id, DB_ID_LEN, NULL, 0)) ||
	    (rc = api_param_id(c, "cid", cid)))
		return rc;
	rc = db_comment_get(c->db, c->api->app->keys, p->id, cid, cm);
	if (rc == AM_ERR_NOTFOUND || (rc == 0 && cm->deleted))
		return api_err(c, AM_ERR_NOTFOUND, "not found");
	if (rc)
		return rc;
	if (!cm->has_guest)
		return api_err(c, AM_ERR_DENIED,
			       "you can only change your own comments and verdicts");
	if ((rc = api_guest_session(c, link->id, 0, hash)))
		return rc;
	rc = db_guest_session_check(c->db, p->id, cm->guest_id, link->id, hash);
	if (rc == AM_ERR_DENIED || rc == AM_ERR_NOTFOUND)
		return api_err(c, AM_ERR_DENIED,
			       "you can only change your own comments and verdicts");
	if (rc)
		return rc;
	if (now < cm->created || now - cm->created > API_GUEST_EDIT_WINDOW_MS)
		return api_err(c, AM_ERR_DENIED,
			       "a comment can be changed for 24 hours after it was posted");
	return 0;
}

int api_guest_comment_edit(struct api_ctx *c)
{
	struct db_link link;
	struct db_project p;
	struct db_comment cm;
	const char *body = NULL;
	int rc;

	if ((rc = own_comment(c, &link, &p, &cm)) ||
	    (rc = api_str(c, "body", 1, DB_BODY_MAX, 1, &body)))
		return rc;
	rc = db_comment_edit(c->db, c->api->app->keys, p.id, cm.id, body);
	if (rc == AM_ERR_NOTFOUND)
		return api_err(c, rc, "not found");
	if (rc == 0)
		rc = db_comment_get(c->db, c->api->app->keys, p.id, cm.id, &cm);
	if (rc)
		return rc;
	api_event(c, p.id, "comment_edited", cm.guest_id, NULL);
	return api_reply(c, 200, json_pack("{s:o}", "comment", api_comment_json(&cm, 0)));
}

int api_guest_comment_delete(struct api_ctx *c)
{
	struct db_link link;
	struct db_project p;
	struct db_comment cm;
	int rc;

	if ((rc = own_comment(c, &link, &p, &cm)))
		return rc;
	rc = db_comment_delete(c->db, p.id, cm.id);
	if (rc == AM_ERR_NOTFOUND)
		return api_err(c, rc, "not found");
	if (rc)
		return rc;
	api_event(c, p.id, "comment_deleted", cm.guest_id, NULL);
	return http_respond_empty(c->req, 204);
}

/* A reviewer name or note: no control characters but newlines in a note. */
static int text_ok(const char *s, int newlines)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && !(newlines && *s == '\n')) || *s == 0x7f)
			return 0;
	return 1;
}

int api_guest_verdict(struct api_ctx *c)
{
	const char *name = NULL, *verdict = NULL, *note = NULL;
	uint8_t vid[DB_ID_LEN], pseudo[16], hash[DB_SESSION_HASH_LEN];
	int64_t epoch = 0;
	struct db_link link;
	struct db_project p;
	struct db_version v;
	int rc;

	if ((rc = api_guest_link(c, &link, &p)) || (rc = api_param_id(c, "vid", vid)) ||
	    (rc = api_str(c, "name", 1, API_GUEST_NAME_MAX, 1, &name)) ||
	    (rc = api_str(c, "verdict", 1, 32, 1, &verdict)) ||
	    (rc = api_str(c, "note", 0, DB_NOTE_MAX, 0, &note)))
		return rc;
	if (!text_ok(name, 0) || (note && !text_ok(note, 1)))
		return api_err(c, AM_ERR_INVAL, "the name or note holds control characters");
	if (strcmp(verdict, "approved") != 0 && strcmp(verdict, "changes_requested") != 0)
		return api_err(c, AM_ERR_INVAL,
			       "field \"verdict\" must be \"approved\" or \"changes_requested\"");
	if ((rc = api_client_pseudo(c, pseudo, &epoch)) ||
	    (rc = api_rate(c, &API_LIMIT_COMMENT_IP, p.id, DB_ID_LEN, pseudo, sizeof(pseudo))) ||
	    (rc = api_rate(c, &API_LIMIT_COMMENT_PROJECT, p.id, DB_ID_LEN, NULL, 0)))
		return rc;
	rc = db_version_get(c->db, c->api->app->keys, p.id, vid, &v);
	if (rc == AM_ERR_NOTFOUND)
		return api_err(c, rc, "not found");
	if (rc || (rc = api_guest_session(c, link.id, 1, hash)) ||
	    (rc = db_verdict_set(c->db, c->api->app->keys, p.id, vid, link.id, hash, name, verdict,
				 note && *note ? note : NULL)))
		return rc;
	api_event(c, p.id,
		  strcmp(verdict, "approved") == 0 ? "verdict_approved"
						   : "verdict_changes_requested",
		  NULL, name);
	return api_reply(c, 200,
			 json_pack("{s:{s:o,s:s,s:s,s:s}}", "verdict", "version_id",
				   api_id_json(vid), "name", name, "verdict", verdict, "note",
				   note ? note : ""));
}

json_t *api_verdict_json(const struct db_verdict *v, const uint8_t *mine)
{
	json_t *j = json_pack("{s:o,s:s,s:s,s:s,s:I,s:I}", "version_id", api_id_json(v->version_id),
			      "name", v->name, "verdict", v->verdict, "note", v->note, "created",
			      (json_int_t)v->created, "updated", (json_int_t)v->updated);

	if (j && mine &&
	    api_set(j, "mine",
		    json_boolean(memcmp(v->session_hash, mine, DB_SESSION_HASH_LEN) == 0))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

struct verdict_list {
	json_t *arr;
	const uint8_t *mine; /* guest view: the session hash, or NULL */
};

static int verdict_item(void *ctx, const struct db_verdict *v)
{
	struct verdict_list *vl = ctx;

	return json_array_append_new(vl->arr, api_verdict_json(v, vl->mine)) ? AM_ERR_NOMEM : 0;
}

int api_verdicts_json(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const uint8_t *mine,
		      json_t **out)
{
	struct verdict_list vl = {json_array(), mine};
	int rc;

	*out = NULL;
	if (!vl.arr)
		return AM_ERR_NOMEM;
	if ((rc = db_verdict_list(c->db, c->api->app->keys, pid, verdict_item, &vl))) {
		json_decref(vl.arr);
		return rc;
	}
	*out = vl.arr;
	return 0;
}

static int mine_item(void *ctx, const struct db_comment_mine *m)
{
	json_t *j = json_pack("{s:o,s:I}", "id", api_id_json(m->id), "editable_until",
			      (json_int_t)(m->created + API_GUEST_EDIT_WINDOW_MS));

	return json_array_append_new(ctx, j) ? AM_ERR_NOMEM : 0;
}

/* What this browser may do on the review page: its comments still in the
 * edit window, and every verdict of the project (its own marked "mine"). */
int api_guest_reviewer(struct api_ctx *c)
{
	uint8_t hash[DB_SESSION_HASH_LEN];
	json_t *mine = NULL, *verdicts = NULL;
	struct db_link link;
	struct db_project p;
	int has = 0, rc;

	if ((rc = api_guest_link(c, &link, &p)))
		return rc;
	has = api_guest_session(c, link.id, 0, hash) == 0;
	c->msg = NULL; /* no cookie is not an error here */
	if (!(mine = json_array()))
		return AM_ERR_NOMEM;
	if ((has && (rc = db_comment_list_mine(c->db, p.id, link.id, hash,
					       am_now_ms() - API_GUEST_EDIT_WINDOW_MS, mine_item,
					       mine))) ||
	    (rc = api_verdicts_json(c, p.id, has ? hash : NULL, &verdicts))) {
		json_decref(mine);
		return rc;
	}
	return api_reply(c, 200,
			 json_pack("{s:I,s:o,s:o}", "edit_window_ms",
				   (json_int_t)API_GUEST_EDIT_WINDOW_MS, "mine", mine, "verdicts",
				   verdicts));
}

/* The owner's view: every reviewer's verdict on every version. */
int api_verdicts_list(struct api_ctx *c)
{
	struct db_project p;
	json_t *arr = NULL;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) || (rc = api_verdicts_json(c, p.id, NULL, &arr)))
		return rc;
	return api_reply(c, 200, json_pack("{s:o}", "verdicts", arr));
}
