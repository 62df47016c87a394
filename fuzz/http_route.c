/*
 * fuzz/http_route.c: libFuzzer target for request routing: the request
 * target is split at '?', the path is normalised by http_parse_path and
 * matched by http_router_match against a table shaped like the real one
 * (API, share, media, upload routes with {parameters}). The first input byte
 * picks the method. Properties: no crash; a match yields only non-empty
 * parameters without '/', one per {name} in the pattern; a 405 always names
 * allowed methods.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int nop(struct http_req *req, void *arg)
{
	(void)req;
	(void)arg;
	return 0;
}

static const struct {
	unsigned methods;
	const char *pattern;
} routes[] = {
    {HTTP_GET, "/"},
    {HTTP_GET, "/healthz"},
    {HTTP_GET, "/.well-known/security.txt"},
    {HTTP_GET, "/static/{file}"},
    {HTTP_GET, "/static/vendor/{file}"},
    {HTTP_GET, "/s/{token}"},
    {HTTP_GET, "/m/{object}"},
    {HTTP_POST, "/u/{upload}"},
    {HTTP_PATCH | HTTP_DELETE, "/u/{upload}/{id}"},
    {HTTP_POST, "/api/v1/session"},
    {HTTP_GET | HTTP_DELETE, "/api/v1/session"},
    {HTTP_GET | HTTP_POST, "/api/v1/projects"},
    {HTTP_GET | HTTP_PATCH | HTTP_DELETE, "/api/v1/projects/{project}"},
    {HTTP_POST, "/api/v1/projects/{project}/links"},
    {HTTP_POST, "/api/v1/projects/{project}/links/{link}/regenerate"},
    {HTTP_GET | HTTP_POST, "/api/v1/projects/{project}/tracks"},
    {HTTP_POST, "/api/v1/tracks/{track}/versions"},
    {HTTP_GET, "/api/v1/share/{token}"},
    {HTTP_POST, "/api/v1/share/{token}/password"},
    {HTTP_POST, "/api/v1/share/{token}/comments"},
    {HTTP_GET, "/api/v1/export"},
};

static struct http_router *router(void)
{
	static struct http_router *r;

	if (r)
		return r;
	if (!(r = http_router_new()))
		abort();
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (http_route(r, routes[i].methods, routes[i].pattern, nop, NULL) != 0)
			abort();
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum http_method methods[] = {HTTP_GET,   HTTP_HEAD,   HTTP_POST,	 HTTP_PUT,
						   HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS};
	char raw[1024], path[1024];
	const char *q;
	const struct http_route *rt = NULL;
	struct http_kv params[HTTP_MAX_PARAMS];
	size_t np = 0, n;
	unsigned allow = 0;
	enum http_method m;
	int rc, braces = 0;

	if (size < 1 || size > 900)
		return 0;
	m = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
	n = size - 1;
	memcpy(raw, data + 1, n);
	raw[n] = 0;
	q = memchr(raw, '?', n);
	if (http_parse_path(raw, q ? (size_t)(q - raw) : n, path, sizeof(path)) != 0)
		return 0;
	rc = http_router_match(router(), m, path, &rt, params, &np, &allow);
	if (rc == 0) {
		if (!rt)
			abort();
		for (const char *p = rt->def.pattern; *p; p++)
			braces += *p == '{';
		if ((size_t)braces != np)
			abort();
		for (size_t i = 0; i < np; i++)
			if (!params[i].value || !*params[i].value || strchr(params[i].value, '/'))
				abort();
	} else if (rc == AM_ERR_METHOD && !allow) {
		abort();
	}
	return 0;
}
