/*
 * api_markers.c: review comments as DAW marker files over the API (issue
 * 24, docs/api.md "Markers"): each of the four marker files of a version
 * alone, and the signed media-role URLs of what carries audio: the marked
 * WAV, the zip of a version's five files, and the zip of a project (a
 * folder per track, its newest ready version), which the media role builds
 * (src/media/media_marked.c, media_marked_zip.c; the web role never reads
 * audio). The files themselves are src/markers/'s. Owner routes here; the
 * guest routes are in api_guest.c and call api_markers_send once the link,
 * the password cookie and the downloads flag allowed it. Runs in the web
 * process; the query is client input, parsed strictly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "api/api_int.h"
#include "markers/markers.h"
#include "repo/repo.h"

#define MK_ZIP	    -1
#define MK_FILE_MAX (16 * 1024 * 1024) /* one marker file, at most */
#define MK_SLUG_MAX 40

/* What the query asked for. */
struct mk_query {
	int format; /* enum markers_format, or MK_ZIP */
	struct markers_opts o;
};

static int flag_param(struct api_ctx *c, const char *name, unsigned bit, unsigned *flags)
{
	const char *v = http_req_query(c->req, name);

	if (!v || strcmp(v, "0") == 0)
		return 0;
	if (strcmp(v, "1") != 0)
		return api_err(c, AM_ERR_INVAL, "marker options are 0 or 1");
	*flags |= bit;
	return 0;
}

static int read_query(struct api_ctx *c, struct mk_query *q)
{
	const char *f = http_req_query(c->req, "format"), *lm = http_req_query(c->req, "label_max");
	int rc;

	memset(q, 0, sizeof(*q));
	q->format = !f || strcmp(f, "zip") == 0 ? MK_ZIP : markers_format_parse(f);
	if (q->format == AM_ERR_INVAL)
		return api_err(c, AM_ERR_INVAL,
			       "format is one of zip, smf, reaper, audacity, audition, wav");
	if ((rc = flag_param(c, "resolved", MARKERS_RESOLVED, &q->o.flags)) ||
	    (rc = flag_param(c, "replies", MARKERS_REPLIES, &q->o.flags)) ||
	    (rc = flag_param(c, "ascii", MARKERS_ASCII, &q->o.flags)))
		return rc;
	if (lm) {
		unsigned v = 0;
		size_t i = 0;

		for (; lm[i] >= '0' && lm[i] <= '9' && i < 4; i++)
			v = v * 10 + (unsigned)(lm[i] - '0');
		if (i == 0 || lm[i] || lm[0] == '0' || v < 8 || v > 1000)
			return api_err(c, AM_ERR_INVAL, "label_max is 8 to 1000 characters");
		q->o.label_max = v;
	}
	return 0;
}

/* A file-name part: lowercase ASCII letters and digits joined by "-". */
static void slug(const char *in, char out[MK_SLUG_MAX + 1])
{
	struct am_buf b;
	size_t n = 0;
	int dash = 0;

	am_buf_init(&b, 4096);
	if (markers_text(NULL, in, 200, 1, &b) == 0)
		for (size_t i = 0; i < b.len && n < MK_SLUG_MAX; i++) {
			char ch = (char)b.p[i];

			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
				if (dash && n && n < MK_SLUG_MAX - 1)
					out[n++] = '-';
				out[n++] = ch;
				dash = 0;
			} else {
				dash = 1;
			}
		}
	am_buf_cleanup(&b);
	if (n == 0)
		out[n++] = 'x';
	out[n] = 0;
}

/* ---- the comments of a version ----------------------------------------------------- */

struct mk_list {
	struct markers_comment *v;
	size_t n, cap;
};

static int take(void *ctx, const struct db_comment *cm)
{
	struct mk_list *l = ctx;
	struct markers_comment *x;

	if (cm->deleted)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;

		if (cap > 4 * MARKERS_MAX || !(x = realloc(l->v, cap * sizeof(*x))))
			return AM_ERR_TOOBIG;
		l->v = x;
		l->cap = cap;
	}
	x = &l->v[l->n];
	memset(x, 0, sizeof(*x));
	x->time_ms = cm->time_ms;
	x->end_ms = cm->end_ms;
	x->resolved = cm->resolved;
	x->is_reply = cm->has_parent;
	if (!(x->author = strdup(cm->author)) || !(x->text = strdup(cm->body))) {
		free((char *)x->author);
		return AM_ERR_NOMEM;
	}
	l->n++;
	return 0;
}

static void list_free(struct mk_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->v[i].author);
		free((char *)l->v[i].text);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The version's comments and its track's tempo map and title into o. */
static int load_version(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const struct db_version *v,
			struct db_track *t, struct markers_opts *o, struct mk_list *l)
{
	int rc;

	if ((rc = db_track_get(c->db, c->api->app->keys, pid, v->track_id, t)) ||
	    (rc = db_comment_list(c->db, c->api->app->keys, pid, v->id, take, l)))
		return rc;
	o->tempo_mbpm = (uint32_t)t->tempo_mbpm;
	o->ts_num = (unsigned)t->ts_num;
	o->ts_den = (unsigned)t->ts_den;
	o->name = t->title;
	return 0;
}

/* ---- answers ------------------------------------------------------------------------ */

static int send_file(struct api_ctx *c, const char *name, const char *ctype, const struct am_buf *b)
{
	char disp[160];
	int rc;

	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", name); /* slug: ASCII */
	if ((rc = http_add_header(c->req, "Content-Disposition", disp)) ||
	    (rc = http_add_header(c->req, "Cache-Control", "private, no-store")))
		return rc;
	return http_respond_bytes(c->req, 200, ctype, b->len ? (const void *)b->p : "", b->len, 1);
}

/* The marked WAV and the zips carry audio, so the media role makes them:
 * answer the signed URL of object obj with d (ACCESS_D_MARKED,
 * ACCESS_D_MARKERS_ZIP or ACCESS_D_MARKERS_PROJECT, + the marker flags). */
static int send_url(struct api_ctx *c, const struct access_grant *g, const uint8_t obj[DB_ID_LEN],
		    int d, const struct mk_query *q)
{
	char path[ACCESS_URL_MAX], url[ACCESS_URL_MAX + CONF_STR_MAX];
	int64_t expires = access_url_expiry(c->api->app);
	int rc;

	if ((rc = access_url_sign(c->api->app, g, obj, d + (int)(q->o.flags & 7), expires, path,
				  sizeof(path))))
		return rc;
	snprintf(url, sizeof(url), "%s%s", c->api->app->conf.public_url, path);
	return api_reply(c, 200,
			 json_pack("{s:s,s:I}", "url", url, "expires", (json_int_t)expires));
}

static int send_version(struct api_ctx *c, const struct db_project *p, const struct access_grant *g,
			const uint8_t vid[DB_ID_LEN], struct mk_query *q)
{
	struct mk_list l = {0};
	struct db_version v;
	struct db_object o;
	struct db_track t;
	struct am_buf b;
	char s[MK_SLUG_MAX + 1], name[128];
	int rc;

	am_buf_init(&b, MK_FILE_MAX);
	if (db_version_get(c->db, c->api->app->keys, p->id, vid, &v) != 0 ||
	    strcmp(v.state, "ready") != 0) {
		rc = api_err(c, AM_ERR_NOTFOUND, "not found");
		goto out;
	}
	if (q->format == MARKERS_WAV || q->format == MK_ZIP) {
		if (db_object_find(c->db, p->id, v.id, "original", &o) != 0)
			rc = api_err(c, AM_ERR_NOTFOUND, "not found");
		else
			rc = send_url(c, g, o.id,
				      q->format == MK_ZIP ? ACCESS_D_MARKERS_ZIP : ACCESS_D_MARKED,
				      q);
		goto out;
	}
	if ((rc = load_version(c, p->id, &v, &t, &q->o, &l)))
		goto out;
	slug(t.title, s);
	if ((rc = markers_write((enum markers_format)q->format, &q->o, l.v, l.n, &b)))
		goto out;
	snprintf(name, sizeof(name), "%s-v%lld-%s", s, (long long)v.number,
		 markers_file_name((enum markers_format)q->format));
	rc = send_file(c, name, markers_content_type((enum markers_format)q->format), &b);
out:
	list_free(&l);
	am_buf_cleanup(&b);
	return rc;
}

/* A project's markers: the zip of every track, made by the media role. */
static int send_project(struct api_ctx *c, const struct db_project *p, const struct access_grant *g,
			struct mk_query *q)
{
	if (q->format != MK_ZIP)
		return api_err(c, AM_ERR_INVAL, "a project's markers come as a zip: format=zip");
	return send_url(c, g, p->id, ACCESS_D_MARKERS_PROJECT, q);
}

int api_markers_send(struct api_ctx *c, const struct db_project *p, const struct access_grant *g,
		     const uint8_t *vid)
{
	struct mk_query q;
	int rc;

	if ((rc = read_query(c, &q)))
		return rc;
	return vid ? send_version(c, p, g, vid, &q) : send_project(c, p, g, &q);
}

/* The owner's grant for the marked WAV URL: bound to this session. */
static void owner_grant(struct api_ctx *c, const struct db_project *p, struct access_grant *g)
{
	memset(g, 0, sizeof(*g));
	g->owner = 1;
	memcpy(g->project_id, p->id, DB_ID_LEN);
	memcpy(g->account_id, c->acct.id, DB_ID_LEN);
	memcpy(g->session_id, c->sess.id, DB_ID_LEN);
}

int api_markers_version(struct api_ctx *c)
{
	struct access_grant g;
	struct db_project p;
	uint8_t vid[DB_ID_LEN];
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) || (rc = api_param_id(c, "vid", vid)))
		return rc;
	owner_grant(c, &p, &g);
	return api_markers_send(c, &p, &g, vid);
}

int api_markers_project(struct api_ctx *c)
{
	struct access_grant g;
	struct db_project p;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)))
		return rc;
	owner_grant(c, &p, &g);
	return api_markers_send(c, &p, &g, NULL);
}
