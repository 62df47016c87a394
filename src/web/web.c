/*
 * web.c: the web role's public routes that need no database: /healthz,
 * /.well-known/security.txt (RFC 9116) and the embedded static assets with ETag
 * revalidation: / is the dashboard (web/index.html), /s/{token} the review page
 * (web/review.html), /reset-password and /verify-email the pages of the mailed
 * links, /static/vendor/ the npm libraries. Runs in the web process on
 * server threads; the only client input used is the path (already validated) and
 * If-None-Match.
 */
#include "web/web.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "http/http.h"
#include "web/assets.h"

struct web {
	char contact[CONF_STR_MAX];
	char canonical[CONF_STR_MAX + 64];
};

struct web *web_new(const struct conf *c)
{
	struct web *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	am_strlcpy(w->contact, c->security_contact, sizeof(w->contact));
	snprintf(w->canonical, sizeof(w->canonical), "%s/.well-known/security.txt", c->public_url);
	return w;
}

void web_free(struct web *w)
{
	free(w);
}

static int healthz(struct http_req *req, void *arg)
{
	json_t *j = json_pack("{s:s,s:s}", "status", "ok", "version", AM_VERSION);
	int rc;

	(void)arg;
	if (!j)
		return AM_ERR_NOMEM;
	rc = http_respond_json(req, 200, j);
	json_decref(j);
	return rc;
}

static int security_txt(struct http_req *req, void *arg)
{
	struct web *w = arg;
	char expires[32], body[2048];
	time_t t = (time_t)am_now() + 365L * 86400L;
	struct tm tm;
	int n;

	gmtime_r(&t, &tm);
	strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(body, sizeof(body),
		     "Contact: %s\nExpires: %s\nPreferred-Languages: en\nCanonical: %s\n",
		     w->contact, expires, w->canonical);
	if (n < 0 || (size_t)n >= sizeof(body))
		return AM_ERR_INTERNAL;
	if (http_add_header(req, "Cache-Control", "no-cache"))
		return AM_ERR_NOMEM;
	return http_respond_bytes(req, 200, "text/plain; charset=utf-8", body, (size_t)n, 1);
}

/* RFC 9110 If-None-Match: "*" or a list of (possibly weak) entity tags,
 * compared weakly. */
static int etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	if (!inm)
		return 0;
	while (*inm) {
		while (*inm == ' ' || *inm == '\t' || *inm == ',')
			inm++;
		if (*inm == '*')
			return 1;
		if (inm[0] == 'W' && inm[1] == '/')
			inm += 2;
		if (strncmp(inm, etag, n) == 0 && (inm[n] == 0 || inm[n] == ',' || inm[n] == ' '))
			return 1;
		while (*inm && *inm != ',')
			inm++;
	}
	return 0;
}

static int asset(struct http_req *req, void *arg)
{
	const struct web_asset *a = arg;

	/* Names are not content-hashed yet, so "immutable" would pin stale
	 * files in browsers: revalidate every time, cheaply, with the ETag. */
	if (http_add_header(req, "Cache-Control", "no-cache") ||
	    http_add_header(req, "ETag", a->etag))
		return AM_ERR_NOMEM;
	if (etag_matches(http_req_header(req, "If-None-Match"), a->etag))
		return http_respond_empty(req, 304);
	return http_respond_bytes(req, 200, a->content_type, a->data, a->len, 0);
}

int web_register_health(struct web *w, struct http_router *r)
{
	return http_route(r, HTTP_GET, "/healthz", healthz, w);
}

/* Pages served under a second path. The review page is one static file
 * for every share link: its script reads the token from the path and asks
 * the guest API, so an unknown token costs nothing here. The mailed links
 * carry their tokens in the fragment, which never reaches the server. */
static const struct {
	const char *file, *route;
} page_alias[] = {
    {"/review.html", "/s/{token}"},
    {"/reset-password.html", "/reset-password"},
    {"/verify-email.html", "/verify-email"},
};

int web_register(struct web *w, struct http_router *r)
{
	int rc;

	if ((rc = web_register_health(w, r)) ||
	    (rc = http_route(r, HTTP_GET, "/.well-known/security.txt", security_txt, w)))
		return rc;
	for (const struct web_asset *a = web_assets; a->path; a++) {
		const char *path = strcmp(a->path, "/index.html") == 0 ? "/" : a->path;
		if ((rc = http_route(r, HTTP_GET, path, asset, (void *)a)) != 0)
			return rc;
		for (size_t i = 0; i < sizeof(page_alias) / sizeof(page_alias[0]); i++)
			if (strcmp(a->path, page_alias[i].file) == 0 &&
			    (rc = http_route(r, HTTP_GET, page_alias[i].route, asset, (void *)a)) !=
				0)
				return rc;
	}
	return 0;
}
