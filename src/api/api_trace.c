/*
 * api_trace.c: the tracer's door in the web role (issue 26, docs/api.md
 * "Trace a leak"): POST /api/v1/projects/{id}/trace gives the project's
 * owner a signed, short-lived URL on the media role (access_trace.c),
 * bound to this account, session and project, to which the page posts the
 * suspect file; the web role never sees the file (it reads no audio). Owner
 * only (another account's project is the same 404 as none), CSRF-checked
 * like every authenticated POST, and rate-limited here (URLs) and in the
 * media role (traces). Runs in the web role on untrusted input.
 */
#include <stdio.h>
#include <string.h>

#include "access/access.h"
#include "api/api_int.h"
#include "app/app.h"
#include "repo/repo.h"

/* 30 URLs in a burst, then one per 4 s, per account. */
static const struct api_limit LIMIT_TRACE_URL = {"trace-url", 4000, 30};

#define TRACE_MAX_MIB 64 /* TRACE_MAX_BYTES of src/trace/trace.h, which api/ does not include */

int api_trace_url(struct api_ctx *c)
{
	char path[ACCESS_URL_MAX], url[ACCESS_URL_MAX + CONF_STR_MAX];
	struct access_trace t;
	struct db_project p;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) ||
	    (rc = api_rate(c, &LIMIT_TRACE_URL, c->acct.id, DB_ID_LEN, NULL, 0)))
		return rc;
	memset(&t, 0, sizeof(t));
	memcpy(t.project_id, p.id, DB_ID_LEN);
	memcpy(t.account_id, c->acct.id, DB_ID_LEN);
	memcpy(t.session_id, c->sess.id, DB_ID_LEN);
	t.expires = access_trace_expiry(c->api->app);
	if ((rc = access_trace_sign(c->api->app, &t, path, sizeof(path))) != 0)
		return rc;
	snprintf(url, sizeof(url), "%s%s", c->api->app->conf.public_url, path);
	return api_reply(c, 200,
			 json_pack("{s:s,s:I,s:I}", "url", url, "expires", (json_int_t)t.expires,
				   "max_bytes", (json_int_t)TRACE_MAX_MIB << 20));
}
