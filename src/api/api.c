/*
 * api.c: lifecycle, route table and request dispatcher of the JSON API (see
 * api.h, docs/api.md). Runs in the web process on server threads. Every
 * request goes through dispatch(): Origin check on state-changing methods,
 * a database connection, the JSON body, the owner session and its CSRF
 * token when the route needs one, then the handler; errors become one JSON
 * shape with a client-safe message (internal detail is only logged).
 */
#include "api/api.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/api_mail.h"

#define GET   HTTP_GET
#define POST  HTTP_POST
#define PUT   HTTP_PUT
#define PATCH HTTP_PATCH
#define DEL   HTTP_DELETE
#define P     "/api/v1/projects/{id}"

static const struct api_route route_table[] = {
    {GET, "/api/v1/server", api_server_info, 0, NULL},
    {POST, "/api/v1/accounts", api_signup, 0, NULL},
    {POST, "/api/v1/session", api_login, 0, NULL},
    {GET, "/api/v1/session", api_session_get, API_AUTH, NULL},
    {DEL, "/api/v1/session", api_logout, API_AUTH, NULL},
    {GET, "/api/v1/sessions", api_sessions_list, API_AUTH, NULL},
    {DEL, "/api/v1/sessions", api_sessions_revoke_others, API_AUTH, NULL},
    {DEL, "/api/v1/sessions/{id}", api_session_revoke, API_AUTH, NULL},
    {GET, "/api/v1/account", api_account_get, API_AUTH, NULL},
    {DEL, "/api/v1/account", api_account_delete, API_AUTH, NULL},
    {POST, "/api/v1/account/password", api_password_change, API_AUTH, NULL},
    {GET, "/api/v1/projects", api_projects_list, API_AUTH, NULL},
    {POST, "/api/v1/projects", api_project_create, API_AUTH, NULL},
    {GET, P, api_project_get, API_AUTH, NULL},
    {PATCH, P, api_project_patch, API_AUTH, NULL},
    {DEL, P, api_project_delete, API_AUTH, NULL},
    {PUT, P "/password", api_project_password_set, API_AUTH, NULL},
    {DEL, P "/password", api_project_password_remove, API_AUTH, NULL},
    {GET, P "/events", api_events_list, API_AUTH, NULL},
    {GET, P "/activity", api_activity, API_AUTH, NULL},
    {GET, P "/log/sth", api_log_sth, API_AUTH, NULL},
    {GET, P "/log/entries", api_log_entries, API_AUTH, NULL},
    {GET, P "/links", api_links_list, API_AUTH, NULL},
    {POST, P "/links", api_link_create, API_AUTH, NULL},
    {POST, P "/links/{lid}/regenerate", api_link_regenerate, API_AUTH, NULL},
    {DEL, P "/links/{lid}", api_link_revoke, API_AUTH, NULL},
    {POST, P "/tracks", api_track_create, API_AUTH, NULL},
    {PUT, P "/tracks/order", api_tracks_order, API_AUTH, NULL},
    {PATCH, P "/tracks/{tid}", api_track_patch, API_AUTH, NULL},
    {DEL, P "/tracks/{tid}", api_track_delete, API_AUTH, NULL},
    {POST, P "/tracks/{tid}/uploads", api_upload_create, API_AUTH, NULL},
    {GET, P "/tracks/{tid}/urls", api_track_urls, API_AUTH, NULL},
    {GET, P "/markers", api_markers_project, API_AUTH, NULL},
    {GET, P "/archive", api_project_archive, API_AUTH, NULL},
    {GET, P "/versions/{vid}/markers", api_markers_version, API_AUTH, NULL},
    {GET, P "/comments", api_comments_list, API_AUTH, NULL},
    {POST, P "/comments", api_comment_create, API_AUTH, NULL},
    {PATCH, P "/comments/{cid}", api_comment_patch, API_AUTH, NULL},
    {DEL, P "/comments/{cid}", api_comment_delete, API_AUTH, NULL},
    {GET | POST, "/api/v1/export", api_export, API_AUTH, NULL},
    {GET, "/api/v1/s/{token}", api_guest_open, 0, NULL},
    {POST, "/api/v1/s/{token}/password", api_guest_password, 0, NULL},
    {POST, "/api/v1/s/{token}/comments", api_guest_comment, 0, NULL},
    {GET, "/api/v1/s/{token}/urls", api_guest_urls, 0, NULL},
    {PATCH, "/api/v1/s/{token}/comments/{cid}", api_guest_comment_edit, 0, NULL},
    {DEL, "/api/v1/s/{token}/comments/{cid}", api_guest_comment_delete, 0, NULL},
    {PUT, "/api/v1/s/{token}/versions/{vid}/verdict", api_guest_verdict, 0, NULL},
    {GET, "/api/v1/s/{token}/reviewer", api_guest_reviewer, 0, NULL},
    {GET, P "/verdicts", api_verdicts_list, API_AUTH, NULL},
    {POST, "/api/v1/s/{token}/listen", api_guest_listen, 0, NULL},
    {GET, "/api/v1/s/{token}/markers", api_guest_markers, 0, NULL},
    {GET, "/api/v1/s/{token}/archive", api_guest_archive, 0, NULL},
    {GET, "/api/v1/s/{token}/versions/{vid}/markers", api_guest_markers, 0, NULL},
    {GET, "/api/v1/account/notifications", api_notifications_get, API_AUTH, NULL},
    {PUT, "/api/v1/account/notifications", api_notifications_put, API_AUTH, NULL},
    {GET, P "/notifications", api_project_notifications_get, API_AUTH, NULL},
    {PUT, P "/notifications", api_project_notifications_put, API_AUTH, NULL},
    {POST, "/api/v1/password-reset", api_password_reset, 0, NULL},
    {POST, "/api/v1/password-reset/confirm", api_password_reset_confirm, 0, NULL},
    {POST, "/api/v1/account/email/verify", api_email_verify, 0, NULL},
    {POST, "/api/v1/account/email/resend", api_email_resend, API_AUTH, NULL},
    {GET, P "/mark", api_mark_settings_get, API_AUTH, NULL},
    {PUT, P "/mark", api_mark_settings_put, API_AUTH, NULL},
    {POST, "/api/v1/s/{token}/mark", api_guest_mark, 0, NULL},
    {POST, P "/trace", api_trace_url, API_AUTH, NULL},
};

/* The origin (scheme://host[:port]) of public_url: what Origin must say. */
static void set_origin(struct api *api, const char *url)
{
	const char *host = strstr(url, "://");
	const char *slash = host ? strchr(host + 3, '/') : NULL;
	size_t n = slash ? (size_t)(slash - url) : strlen(url);

	if (n >= sizeof(api->origin))
		n = sizeof(api->origin) - 1;
	memcpy(api->origin, url, n);
	api->origin[n] = 0;
}

const char *api_dummy_hash(struct api *api)
{
	return api->dummy_hash;
}

struct api *api_new(struct app *a)
{
	struct api *api = calloc(1, sizeof(*api));
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (!api)
		return NULL;
	api->app = a;
	pthread_mutex_init(&api->open_lock, NULL);
	if (!(api->opens = calloc(API_OPEN_SLOTS, sizeof(*api->opens))) ||
	    api_view_new(&api->views))
		goto fail;
	if (sodium_init() < 0 || api_proxies_parse(api, a->conf.trusted_proxies))
		goto fail;
	set_origin(api, a->conf.public_url);
	api_gate_init(&api->gate, cores > 0 ? (int)cores : 1, cores > 0 ? 4 * (int)cores : 4, 3000);
	/* no hash at start: an Argon2id run was a core's worth of CPU and 64 MiB
	 * of MAP_POPULATE, whose mmap lock held up the start's threads ~40 ms */
	if (api_password_dummy(&a->conf, api->dummy_hash, sizeof(api->dummy_hash)))
		goto fail;
	am_test_clock_setup(); /* test builds only (util.h) */
	return api;
fail:
	api_view_free(api->views);
	free(api->opens);
	pthread_mutex_destroy(&api->open_lock);
	free(api);
	return NULL;
}

void api_free(struct api *api)
{
	if (!api)
		return;
	api_gate_cleanup(&api->gate);
	api_view_free(api->views);
	free(api->routes);
	free(api->opens);
	pthread_mutex_destroy(&api->open_lock);
	free(api);
}

static int is_unsafe(enum http_method m)
{
	return m != HTTP_GET && m != HTTP_HEAD && m != HTTP_OPTIONS;
}

/* Parse the JSON body; an empty body reads as {}. */
static int load_body(struct api_ctx *c)
{
	struct am_slice b = http_req_body(c->req);
	int rc;

	if (b.n == 0) {
		c->body = json_object();
		return c->body ? 0 : AM_ERR_NOMEM;
	}
	rc = http_req_json(c->req, &c->body);
	if (rc == AM_ERR_UNSUPPORTED)
		return api_err(c, rc, "send JSON with Content-Type: application/json");
	if (rc)
		return api_err(c, rc, "the body is not a JSON object (or repeats a key)");
	return 0;
}

static int dispatch(struct http_req *req, void *arg)
{
	struct api_route *rt = arg;
	struct api_ctx c = {.api = rt->api, .req = req};
	int unsafe = is_unsafe(http_req_method(req)), rc;

	am_test_clock_apply(); /* test builds only: a no-op in release */
	if (unsafe && (rc = api_check_origin(&c)))
		goto out;
	if ((rc = app_db_get(rt->api->app, &c.db))) {
		c.db = NULL;
		api_err(&c, rc, "the service is busy: try again shortly");
		c.retry_ms = 1000;
		goto out;
	}
	if ((rc = load_body(&c)))
		goto out;
	if ((rt->flags & API_AUTH) && (rc = api_auth(&c)))
		goto out;
	if ((rt->flags & API_AUTH) && unsafe && (rc = api_check_csrf_token(&c)))
		goto out;
	rc = rt->fn(&c);
out:
	if (rc < 0)
		api_reply_error(&c, rc);
	json_decref(c.body);
	if (c.db)
		app_db_put(rt->api->app, c.db);
	am_memzero(&c.acct, sizeof(c.acct));
	return 0;
}

int api_register(struct api *api, struct http_router *r)
{
	size_t n = AM_ARRAY_LEN(route_table);
	int rc;

	free(api->routes);
	if (!(api->routes = calloc(n, sizeof(*api->routes))))
		return AM_ERR_NOMEM;
	api->nroutes = n;
	for (size_t i = 0; i < n; i++) {
		struct http_route_def d = {0};

		api->routes[i] = route_table[i];
		api->routes[i].api = api;
		d.methods = route_table[i].methods;
		d.pattern = route_table[i].pattern;
		d.handler = dispatch;
		d.arg = &api->routes[i];
		d.max_body = API_MAX_BODY;
		if ((rc = http_router_add(r, &d)))
			return rc;
	}
	return api_mail_register(api, r);
}
