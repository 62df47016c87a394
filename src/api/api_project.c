/*
 * api_project.c: an owner's projects: list, create (a new project key,
 * wrapped under the master key, and the default share link in one
 * transaction), get, rename, the downloads and show-loudness toggles, delete
 * (crypto-shredding: the wrapped key goes first), the project password, and
 * the event log. Runs in the web process; every id comes from the client and is looked up
 * together with the session's account, so another owner's id is a 404.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "crypto/crypto.h"
#include "repo/repo.h"

int api_owner_project(struct api_ctx *c, const char *param, struct db_project *out)
{
	uint8_t id[DB_ID_LEN];
	int rc;

	if ((rc = api_param_id(c, param, id)))
		return rc;
	rc = db_project_get(c->db, c->api->app->keys, c->acct.id, id, out);
	if (rc == AM_ERR_NOTFOUND || rc == AM_ERR_CRYPTO)
		return api_err(c, AM_ERR_NOTFOUND, "not found");
	return rc;
}

void api_event(struct api_ctx *c, const uint8_t project_id[DB_ID_LEN], const char *kind,
	       const uint8_t *guest_id, const char *details)
{
	int rc = db_event_add(c->db, c->api->app->keys, project_id, kind, guest_id, details);

	if (rc)
		am_log(AM_LOG_WARN, "event_not_recorded", "kind", kind, "error", am_strerror(rc));
}

int api_project_shred(struct api_ctx *c, const uint8_t id[DB_ID_LEN])
{
	/* One statement destroys the wrapped key, title and password hash and
	 * marks the project deleted: from then on nothing of it opens. The
	 * rows and stored objects stay listed (db_project_list_deleted) until
	 * the worker removes the objects and purges the rows. */
	int rc = db_project_shred(c->db, c->acct.id, id);

	if (rc == 0) {
		api_view_forget(c->api->views, id);
		am_log(AM_LOG_INFO, "project_shredded");
	}
	return rc;
}

json_t *api_project_json(const struct db_project *p)
{
	return json_pack("{s:o,s:s,s:I,s:b,s:b,s:b,s:I,s:b}", "id", api_id_json(p->id), "title",
			 p->title, "created", (json_int_t)p->created, "downloads", p->downloads,
			 "show_loudness", p->show_loudness, "has_password", p->has_password,
			 "password_failures", (json_int_t)p->pw_failures, "password_locked",
			 p->has_password && p->pw_failures >= API_PROJECT_PW_LOCK);
}

static int project_item(void *ctx, const struct db_project *p)
{
	return json_array_append_new(ctx, api_project_json(p)) ? AM_ERR_NOMEM : 0;
}

int api_projects_list(struct api_ctx *c)
{
	json_t *arr = json_array();
	int rc;

	if (!arr)
		return AM_ERR_NOMEM;
	if ((rc = db_project_list(c->db, c->api->app->keys, c->acct.id, project_item, arr))) {
		json_decref(arr);
		return rc;
	}
	return api_reply(c, 200, json_pack("{s:o}", "projects", arr));
}

int api_link_new(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const char *label,
		 int64_t expires, int is_default, char *token, uint8_t lid[DB_ID_LEN])
{
	uint8_t h[32];
	int rc;

	if ((rc = crypto_token_new(token, CRYPTO_TOKEN_LEN + 1)) ||
	    (rc = crypto_sha256(token, CRYPTO_TOKEN_LEN, h)))
		return rc;
	if ((rc =
		 db_link_create(c->db, c->api->app->keys, pid, h, label, expires, is_default, lid)))
		return rc;
	return db_link_seal_token(c->db, c->api->app->keys, pid, lid, token);
}

/* Create the project row (new PK wrapped under MK) and its default link. */
static int create_rows(struct api_ctx *c, const char *title, uint8_t id[DB_ID_LEN], char *token,
		       uint8_t lid[DB_ID_LEN])
{
	const struct keyring *kr = c->api->app->kr;
	uint8_t wrapped[CRYPTO_WRAPPED_LEN];
	int rc;

	if ((rc = crypto_random_id(id)) || (rc = crypto_pk_create(kr, id, wrapped)) ||
	    (rc = db_begin_write(c->db)))
		return rc;
	if ((rc = db_project_create(c->db, c->api->app->keys, c->acct.id, id, wrapped,
				    sizeof(wrapped), keyring_mk_id(kr), title)) ||
	    (rc = api_link_new(c, id, NULL, 0, 1, token, lid))) {
		db_rollback(c->db);
		return rc;
	}
	return db_commit(c->db);
}

int api_project_create(struct api_ctx *c)
{
	const char *title = NULL;
	char token[CRYPTO_TOKEN_LEN + 1];
	uint8_t id[DB_ID_LEN], lid[DB_ID_LEN];
	struct db_project p;
	struct db_link l;
	json_t *j;
	int rc;

	if ((rc = api_str(c, "title", 1, 200, 1, &title)) ||
	    (rc = create_rows(c, title, id, token, lid)) ||
	    (rc = db_project_get(c->db, c->api->app->keys, c->acct.id, id, &p)) ||
	    (rc = db_link_get(c->db, c->api->app->keys, id, lid, &l)))
		return rc;
	j = api_project_json(&p);
	if (!j || api_set(j, "link", api_link_json(c, &l, token))) {
		json_decref(j);
		return AM_ERR_NOMEM;
	}
	return api_reply(c, 201, json_pack("{s:o}", "project", j));
}

int api_project_get(struct api_ctx *c)
{
	struct db_project p;
	json_t *j = NULL, *tracks = NULL;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) || (rc = api_tracks_json(c, p.id, NULL, &tracks)))
		return rc;
	if (!(j = api_project_json(&p)) || api_set(j, "tracks", tracks)) {
		json_decref(j);
		return AM_ERR_NOMEM;
	}
	return api_reply(c, 200, json_pack("{s:o}", "project", j));
}

int api_project_patch(struct api_ctx *c)
{
	const char *title = NULL;
	struct db_project p;
	int downloads = 0, has_dl = 0, loud = 0, has_loud = 0, rc;

	if ((rc = api_owner_project(c, "id", &p)) ||
	    (rc = api_str(c, "title", 1, 200, 0, &title)) ||
	    (rc = api_bool(c, "downloads", 0, &downloads, &has_dl)) ||
	    (rc = api_bool(c, "show_loudness", 0, &loud, &has_loud)))
		return rc;
	if (!title && !has_dl && !has_loud)
		return api_err(c, AM_ERR_INVAL,
			       "send \"title\", \"downloads\" and/or \"show_loudness\"");
	if (title && (rc = db_project_rename(c->db, c->api->app->keys, c->acct.id, p.id, title)))
		return rc;
	if (has_dl && downloads != p.downloads) {
		if ((rc = db_project_set_downloads(c->db, c->acct.id, p.id, downloads)))
			return rc;
		api_event(c, p.id, downloads ? "downloads_enabled" : "downloads_disabled", NULL,
			  NULL);
	}
	if (has_loud && loud != p.show_loudness &&
	    (rc = db_project_set_show_loudness(c->db, c->acct.id, p.id, loud)))
		return rc;
	if ((rc = db_project_get(c->db, c->api->app->keys, c->acct.id, p.id, &p)))
		return rc;
	return api_reply(c, 200, json_pack("{s:o}", "project", api_project_json(&p)));
}

int api_project_delete(struct api_ctx *c)
{
	const char *confirm = NULL;
	struct db_project p;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) ||
	    (rc = api_str(c, "confirm", 0, 4096, 1, &confirm)))
		return rc;
	if (strcmp(confirm, p.title) != 0)
		return api_err(
		    c, AM_ERR_INVAL,
		    "deleting is irreversible: send {\"confirm\": \"<the project title>\"}");
	if ((rc = api_project_shred(c, p.id)))
		return rc;
	return http_respond_empty(c->req, 204);
}

int api_project_password_set(struct api_ctx *c)
{
	const char *pw = NULL;
	char hash[API_PHC_MAX];
	struct db_project p;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) ||
	    (rc = api_str(c, "password", 0, 4096, 1, &pw)) || (rc = api_pw_policy(c, pw)) ||
	    (rc = api_pw_hash(c, pw, hash)))
		return rc;
	rc = db_project_set_password(c->db, c->api->app->keys, c->acct.id, p.id, hash);
	am_memzero(hash, sizeof(hash));
	if (rc)
		return rc;
	api_event(c, p.id, p.has_password ? "password_changed" : "password_set", NULL, NULL);
	return http_respond_empty(c->req, 204);
}

int api_project_password_remove(struct api_ctx *c)
{
	struct db_project p;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)))
		return rc;
	if (!p.has_password)
		return api_err(c, AM_ERR_NOTFOUND, "this project has no password");
	if ((rc = db_project_set_password(c->db, c->api->app->keys, c->acct.id, p.id, NULL)))
		return rc;
	api_event(c, p.id, "password_removed", NULL, NULL);
	return http_respond_empty(c->req, 204);
}

static int event_item(void *ctx, const struct db_event *e)
{
	json_t *j = json_pack("{s:o,s:s,s:s,s:I}", "id", api_id_json(e->id), "kind", e->kind,
			      "details", e->details, "created", (json_int_t)e->created);

	if (j && e->has_guest && api_set(j, "guest_id", api_id_json(e->guest_id))) {
		json_decref(j);
		return AM_ERR_NOMEM;
	}
	return json_array_append_new(ctx, j) ? AM_ERR_NOMEM : 0;
}

int api_events_list(struct api_ctx *c)
{
	const char *lim = http_req_query(c->req, "limit");
	struct db_project p;
	int64_t limit = 200;
	json_t *arr;
	int rc;

	if (lim && am_parse_i64(lim, 1, 1000, &limit))
		return api_err(c, AM_ERR_INVAL, "limit must be 1 to 1000");
	if ((rc = api_owner_project(c, "id", &p)))
		return rc;
	if (!(arr = json_array()))
		return AM_ERR_NOMEM;
	if ((rc = db_event_list(c->db, c->api->app->keys, p.id, (int)limit, event_item, arr))) {
		json_decref(arr);
		return rc;
	}
	return api_reply(c, 200, json_pack("{s:o}", "events", arr));
}
