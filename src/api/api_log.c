/*
 * api_log.c: the owner's side of the tamper-evident access log (issue 26,
 * docs/api.md "Access log"): the current signed tree head to download and
 * keep outside the server, and the log's entries page by page, for
 * `audiomus log verify`; and the web role's grant hook (a review page
 * opened, a project password accepted). Runs in the web role; the owner is
 * authenticated by the route, the project is one the session's account owns.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "crypto/crypto.h"
#include "repo/repo.h"
#include "translog/translog.h"

#define LOG_PAGE_MAX 10000

void api_translog(struct api_ctx *c, const uint8_t project_id[DB_ID_LEN], const char *kind,
		  const uint8_t *link_id)
{
	struct translog_rec r = {project_id, kind, NULL, link_id, 0};
	int rc = translog_append(c->db, &r);

	if (rc)
		am_log(AM_LOG_WARN, "translog_append_failed", "kind", kind, "error",
		       am_strerror(rc));
}

/* The project's current signed tree head as a JSON object. */
static int sth_json(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], json_t **out)
{
	struct translog_sth s;
	char text[TRANSLOG_STH_JSON];
	int rc;

	*out = NULL;
	if ((rc = translog_head(c->db, c->api->app->kr, pid, &s)) ||
	    (rc = translog_sth_json(&s, text, sizeof(text))))
		return rc;
	return (*out = json_loads(text, 0, NULL)) ? 0 : AM_ERR_NOMEM;
}

int api_log_sth(struct api_ctx *c)
{
	struct db_project p;
	json_t *j = NULL;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) || (rc = sth_json(c, p.id, &j)))
		return rc;
	return api_reply(c, 200, j);
}

static int entry_item(void *ctx, const struct db_translog_entry *e)
{
	char entry[2 * DB_TRANSLOG_ENTRY_MAX], root[64];
	json_t *j;

	if (crypto_b64url_encode(e->entry, e->len, entry, sizeof(entry)) ||
	    crypto_b64url_encode(e->root, sizeof(e->root), root, sizeof(root)))
		return AM_ERR_TOOBIG;
	j = json_pack("{s:I,s:s,s:s}", "index", (json_int_t)e->index, "entry", entry, "root", root);
	return json_array_append_new(ctx, j) ? AM_ERR_NOMEM : 0;
}

int api_log_entries(struct api_ctx *c)
{
	const char *fs = http_req_query(c->req, "from"), *ls = http_req_query(c->req, "limit");
	int64_t from = 0, limit = LOG_PAGE_MAX;
	struct db_project p;
	json_t *sth = NULL, *arr = NULL, *next;
	size_t n;
	int rc;

	if ((fs && am_parse_i64(fs, 0, INT64_MAX - 1, &from)) ||
	    (ls && am_parse_i64(ls, 1, LOG_PAGE_MAX, &limit)))
		return api_err(c, AM_ERR_INVAL, "from must be an index, limit 1 to 10000");
	if ((rc = api_owner_project(c, "id", &p)))
		return rc;
	/* The head first: the entries then hold at least what it counts. */
	if ((rc = sth_json(c, p.id, &sth)))
		return rc;
	if (!(arr = json_array())) {
		json_decref(sth);
		return AM_ERR_NOMEM;
	}
	if ((rc = db_translog_list(c->db, p.id, from, limit, entry_item, arr))) {
		json_decref(sth);
		json_decref(arr);
		return rc;
	}
	n = json_array_size(arr);
	next = (int64_t)n == limit ? json_integer(from + limit) : json_null();
	return api_reply(c, 200,
			 json_pack("{s:o,s:o,s:I,s:o,s:o}", "project", api_id_json(p.id), "sth",
				   sth, "from", (json_int_t)from, "entries", arr, "next", next));
}
