/*
 * api_export.c: the owner's full data export ("Full data export available on
 * request", docs/api.md "Export"). POST /api/v1/export (session + CSRF)
 * answers a signed, short-lived URL of the media role's archive
 * (/m/export/{account}: every project's JSON and every decrypted original,
 * src/export/), bound to the account and to this session; the web role
 * itself never touches audio. GET /api/v1/export stays the metadata-only
 * JSON: the account, every live project with its links (no tokens: only
 * their hashes exist), tracks, versions, comments and events. Both are
 * rate-limited per account (GCRA in the database, 429 with Retry-After):
 * each answer costs the server a pass over everything the account owns.
 * Runs in the web process; reads only what the session's account owns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "api/api_int.h"
#include "repo/repo.h"

/* Per account (docs/api.md "Export"): 5 archive URLs at once, then one per
 * 10 minutes; 10 metadata documents at once, then one per minute. */
static const struct api_limit LIMIT_EXPORT_URL = {"export-url-acct", 600000, 5};
static const struct api_limit LIMIT_EXPORT_JSON = {"export-json-acct", 60000, 10};

struct export_ctx {
	struct api_ctx *c;
	json_t *arr;
	int rc;
};

static int link_item(void *ctx, const struct db_link *l)
{
	struct export_ctx *e = ctx;

	return json_array_append_new(e->arr, api_link_json(e->c, l, NULL)) ? AM_ERR_NOMEM : 0;
}

static int event_item(void *ctx, const struct db_event *ev)
{
	json_t *j = json_pack("{s:o,s:s,s:s,s:I}", "id", api_id_json(ev->id), "kind", ev->kind,
			      "details", ev->details, "created", (json_int_t)ev->created);

	return json_array_append_new(ctx, j) ? AM_ERR_NOMEM : 0;
}

/* One project with everything under it. */
static json_t *project_export(struct api_ctx *c, const struct db_project *p)
{
	const struct db_keys *k = c->api->app->keys;
	struct export_ctx links = {c, json_array(), 0};
	json_t *j = api_project_json(p), *tracks = NULL, *comments = NULL, *events = json_array();
	json_t *verdicts = NULL;

	if (!j || !links.arr || !events || db_link_list(c->db, k, p->id, link_item, &links) ||
	    api_tracks_json(c, p->id, NULL, &tracks) ||
	    api_comments_json(c, p->id, NULL, 1, &comments) ||
	    api_verdicts_json(c, p->id, NULL, &verdicts) ||
	    db_event_list(c->db, k, p->id, 0, event_item, events))
		goto fail;
	if (api_set(j, "links", links.arr) || api_set(j, "tracks", tracks) ||
	    api_set(j, "comments", comments) || api_set(j, "verdicts", verdicts) ||
	    api_set(j, "events", events)) {
		json_decref(j);
		return NULL;
	}
	return j;
fail:
	json_decref(j);
	json_decref(links.arr);
	json_decref(tracks);
	json_decref(comments);
	json_decref(verdicts);
	json_decref(events);
	return NULL;
}

struct id_list {
	struct db_project *items;
	size_t n, cap;
};

static int collect(void *ctx, const struct db_project *p)
{
	struct id_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		void *grown = realloc(l->items, cap * sizeof(*l->items));
		if (!grown)
			return AM_ERR_NOMEM;
		l->items = grown;
		l->cap = cap;
	}
	l->items[l->n++] = *p;
	return 0;
}

/* POST: a signed archive URL on the media role, bound to this session (a
 * logout or a revoked session kills it) and expiring within 30 minutes. */
static int export_url(struct api_ctx *c)
{
	struct access_export x;
	char path[ACCESS_URL_MAX], url[ACCESS_URL_MAX + CONF_STR_MAX];
	int64_t size = 0;
	int rc;

	memset(&x, 0, sizeof(x));
	memcpy(x.account_id, c->acct.id, DB_ID_LEN);
	memcpy(x.session_id, c->sess.id, DB_ID_LEN);
	x.expires = access_export_expiry(c->api->app);
	if ((rc = access_export_sign(c->api->app, &x, path, sizeof(path))) != 0)
		return rc;
	snprintf(url, sizeof(url), "%s%s", c->api->app->conf.public_url, path);
	/* What the page's progress bar measures against: the originals'
	 * bytes (the archive adds headers and the JSON). */
	if (db_account_usage(c->db, c->acct.id, NULL, &size) != 0)
		size = 0;
	return api_reply(c, 200,
			 json_pack("{s:s,s:I,s:s,s:I}", "url", url, "expires",
				   (json_int_t)x.expires, "format", "tar", "estimated_size",
				   (json_int_t)size));
}

/* One event from the account's export limit l: 0, or AM_ERR_RATE with
 * the 429 message and Retry-After set. */
static int export_rate(struct api_ctx *c, const struct api_limit *l)
{
	int rc = api_rate(c, l, c->acct.id, DB_ID_LEN, NULL, 0);

	return rc == AM_ERR_RATE ? api_err(c, rc, "too many export requests") : rc;
}

int api_export(struct api_ctx *c)
{
	struct id_list l = {0};
	json_t *projects = NULL, *doc;
	int post = http_req_method(c->req) == HTTP_POST, rc;

	if ((rc = export_rate(c, post ? &LIMIT_EXPORT_URL : &LIMIT_EXPORT_JSON)))
		return rc;
	if (post)
		return export_url(c);
	if (!(projects = json_array()))
		return AM_ERR_NOMEM;
	/* Collect first: a listing holds its statement open while nested
	 * queries would run on the same connection. */
	if ((rc = db_project_list(c->db, c->api->app->keys, c->acct.id, collect, &l)))
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		if (json_array_append_new(projects, project_export(c, &l.items[i]))) {
			rc = AM_ERR_NOMEM;
			goto out;
		}
	}
	doc = json_pack(
	    "{s:s,s:I,s:{s:o,s:s,s:I},s:O,s:s}", "format", "audiomus-export-v1", "exported",
	    (json_int_t)am_now_ms(), "account", "id", api_id_json(c->acct.id), "email",
	    c->acct.email, "created", (json_int_t)c->acct.created, "projects", projects, "audio",
	    "the original audio files are in the archive the media role serves (docs/api.md)");
	if (doc && http_add_header(c->req, "Content-Disposition",
				   "attachment; filename=\"audiomus-export.json\"")) {
		json_decref(doc);
		doc = NULL;
	}
	rc = api_reply(c, 200, doc);
out:
	json_decref(projects);
	if (l.items)
		am_memzero(l.items, l.cap * sizeof(*l.items));
	free(l.items);
	return rc;
}
