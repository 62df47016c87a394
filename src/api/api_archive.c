/*
 * api_archive.c: "Download all" (docs/api.md "Project archive"): the
 * signed URL of a project's archive on the media role (a ZIP of every
 * ready original and the comments as JSON and CSV, src/export/, streamed by
 * src/media/media_export.c). GET /api/v1/projects/{id}/archive for the
 * owner (bound to this session: a logout ends it) and GET
 * /api/v1/s/{token}/archive for a share-link visitor, only while the owner
 * allows downloads (api_guest.c checks the link and the password first).
 * The web role never touches audio. Runs in the web process.
 */
#include <stdio.h>
#include <string.h>

#include "access/access.h"
#include "api/api_int.h"
#include "repo/repo.h"

int api_archive_send(struct api_ctx *c, const struct access_grant *g)
{
	char path[ACCESS_URL_MAX], url[ACCESS_URL_MAX + CONF_STR_MAX];
	int64_t expires = access_url_expiry(c->api->app);
	int rc;

	if ((rc = access_url_sign(c->api->app, g, g->project_id, ACCESS_D_ARCHIVE, expires, path,
				  sizeof(path))))
		return rc;
	snprintf(url, sizeof(url), "%s%s", c->api->app->conf.public_url, path);
	return api_reply(c, 200,
			 json_pack("{s:s,s:I,s:s}", "url", url, "expires", (json_int_t)expires,
				   "format", "zip"));
}

int api_project_archive(struct api_ctx *c)
{
	struct access_grant g;
	struct db_project p;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)))
		return rc;
	memset(&g, 0, sizeof(g));
	g.owner = 1;
	memcpy(g.project_id, p.id, DB_ID_LEN);
	memcpy(g.account_id, c->acct.id, DB_ID_LEN);
	memcpy(g.session_id, c->sess.id, DB_ID_LEN);
	rc = api_archive_send(c, &g);
	am_memzero(&g, sizeof(g));
	am_memzero(&p, sizeof(p));
	return rc;
}
