/*
 * api_link.c: share links of a project (DESIGN §6): list, extra named links
 * with an optional expiry, regenerate (a new token and generation in one
 * statement: the old link, its signed URLs and its password cookies die at
 * once) and revoke. Tokens are 192-bit random; the server keeps their
 * SHA-256 for the guest look-up and the token itself only sealed under the
 * project's field key, so the owner's list shows the current link from any
 * signed-in session (never a guest path, never an export). Runs in the web
 * process; ids are client input, checked against the session's projects.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "api/api_mail.h"
#include "crypto/crypto.h"
#include "repo/repo.h"

json_t *api_link_json(struct api_ctx *c, const struct db_link *l, const char *token)
{
	json_t *j = json_pack("{s:o,s:s,s:b,s:I,s:I,s:b,s:I}", "id", api_id_json(l->id), "label",
			      l->label, "is_default", l->is_default, "generation",
			      (json_int_t)l->generation, "created", (json_int_t)l->created,
			      "revoked", l->revoked, "expires", (json_int_t)l->expires);
	char url[CONF_STR_MAX + 64];

	if (j && token) {
		snprintf(url, sizeof(url), "%s/s/%s", c->api->app->conf.public_url, token);
		if (api_set(j, "token", json_string(token)) ||
		    api_set(j, "url", json_string(url))) {
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

struct link_list {
	struct api_ctx *c;
	json_t *arr;
};

static int link_item(void *ctx, const struct db_link *l)
{
	struct link_list *ll = ctx;

	return json_array_append_new(ll->arr,
				     api_link_json(ll->c, l, l->token[0] ? l->token : NULL))
		   ? AM_ERR_NOMEM
		   : 0;
}

int api_links_list(struct api_ctx *c)
{
	struct link_list ll = {c, json_array()};
	struct db_project p;
	int rc;

	if (!ll.arr)
		return AM_ERR_NOMEM;
	/* The sealed tokens open only for the owner's session: the reply is
	 * private and not stored (api_reply sends Cache-Control: no-store). */
	if ((rc = api_owner_project(c, "id", &p)) ||
	    (rc = db_link_list(c->db, c->api->app->keys, p.id, link_item, &ll))) {
		json_decref(ll.arr);
		return rc;
	}
	return api_reply(c, 200, json_pack("{s:o}", "links", ll.arr));
}

static int reply_link(struct api_ctx *c, unsigned status, const uint8_t pid[DB_ID_LEN],
		      const uint8_t lid[DB_ID_LEN], const char *token)
{
	struct db_link l;
	int rc = db_link_get(c->db, c->api->app->keys, pid, lid, &l);

	if (rc == 0)
		rc = api_reply(c, status, json_pack("{s:o}", "link", api_link_json(c, &l, token)));
	am_memzero(&l, sizeof(l));
	return rc;
}

int api_link_create(struct api_ctx *c)
{
	const char *label = NULL;
	char token[CRYPTO_TOKEN_LEN + 1];
	uint8_t lid[DB_ID_LEN];
	struct db_project p;
	int64_t expires_in = 0, expires = 0;
	int has_exp = 0, rc;

	if ((rc = api_owner_project(c, "id", &p)) ||
	    (rc = api_str(c, "label", 1, 100, 1, &label)) ||
	    (rc = api_int(c, "expires_in_s", 60, 10LL * 366 * 86400, 0, &expires_in, &has_exp)))
		return rc;
	if (has_exp)
		expires = am_now_ms() + expires_in * 1000;
	if ((rc = db_begin_write(c->db)))
		return rc;
	if ((rc = api_link_new(c, p.id, label, expires, 0, token, lid))) {
		db_rollback(c->db);
		return rc;
	}
	if ((rc = db_commit(c->db)))
		return rc;
	api_event(c, p.id, "link_created", NULL, NULL);
	return reply_link(c, 201, p.id, lid, token);
}

/* The project and link of the path, or 404. */
static int owner_link(struct api_ctx *c, struct db_project *p, struct db_link *l)
{
	uint8_t lid[DB_ID_LEN];
	int rc;

	if ((rc = api_owner_project(c, "id", p)) || (rc = api_param_id(c, "lid", lid)))
		return rc;
	rc = db_link_get(c->db, c->api->app->keys, p->id, lid, l);
	return rc == AM_ERR_NOTFOUND ? api_err(c, rc, "not found") : rc;
}

int api_link_regenerate(struct api_ctx *c)
{
	char token[CRYPTO_TOKEN_LEN + 1];
	struct db_project p;
	struct db_link l;
	uint8_t h[32];
	int64_t gen = 0;
	int rc;

	if ((rc = owner_link(c, &p, &l)))
		return rc;
	if (l.revoked)
		return api_err(c, AM_ERR_CONFLICT, "this link was revoked: create a new one");
	if ((rc = crypto_token_new(token, sizeof(token))) ||
	    (rc = crypto_sha256(token, CRYPTO_TOKEN_LEN, h)) || (rc = db_begin_write(c->db)))
		return rc;
	rc = db_link_regenerate(c->db, p.id, l.id, h, &gen);
	if (rc == 0)
		rc = db_link_seal_token(c->db, c->api->app->keys, p.id, l.id, token);
	if (rc == 0)
		rc = api_mail_event(c, c->acct.id, p.id, MAIL_LINK_REGEN,
				    l.is_default ? "the default link" : NULL);
	if ((rc = api_mail_tx_end(c, rc)))
		return rc;
	api_event(c, p.id, "link_regenerated", NULL, l.is_default ? "default link" : NULL);
	return reply_link(c, 200, p.id, l.id, token);
}

int api_link_revoke(struct api_ctx *c)
{
	struct db_project p;
	struct db_link l;
	int rc;

	if ((rc = owner_link(c, &p, &l)))
		return rc;
	if (l.is_default)
		return api_err(c, AM_ERR_CONFLICT,
			       "the default link cannot be revoked: regenerate it instead");
	if (!l.revoked) {
		if ((rc = db_link_revoke(c->db, p.id, l.id)))
			return rc;
		api_event(c, p.id, "link_revoked", NULL, NULL);
	}
	return http_respond_empty(c->req, 204);
}
