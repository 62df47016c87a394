/*
 * router.c: the route table: method mask + path pattern with {name}
 * segments, matched segment by segment against a decoded, validated path.
 * Built at start-up by the roles (trusted); matched on server threads
 * against client paths (read-only, no locking needed).
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

#define HTTP_MAX_ROUTES 256

struct http_router {
	struct http_route *routes;
	size_t n;
};

struct http_router *http_router_new(void)
{
	return calloc(1, sizeof(struct http_router));
}

static void route_cleanup(struct http_route *rt)
{
	for (size_t i = 0; i < rt->nsegs; i++)
		free(rt->segs[i]);
}

void http_router_free(struct http_router *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		route_cleanup(&r->routes[i]);
	free(r->routes);
	free(r);
}

static int is_param(const char *seg)
{
	size_t n = strlen(seg);
	return n > 2 && seg[0] == '{' && seg[n - 1] == '}';
}

/* Split pattern into rt->segs; validate literal segments like a path. */
static int split_pattern(struct http_route *rt, const char *pattern)
{
	const char *p = pattern + 1;
	size_t nparams = 0;

	if (pattern[0] != '/')
		return AM_ERR_INVAL;
	while (*pattern && pattern[1] && *p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0 || rt->nsegs >= AM_ARRAY_LEN(rt->segs))
			return AM_ERR_INVAL;
		if (!(rt->segs[rt->nsegs] = strndup(p, len)))
			return AM_ERR_NOMEM;
		if (is_param(rt->segs[rt->nsegs]) && ++nparams > HTTP_MAX_PARAMS)
			return AM_ERR_INVAL;
		rt->nsegs++;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p)
			return AM_ERR_INVAL; /* trailing slash */
	}
	return 0;
}

static int same_pattern(const struct http_route *a, const struct http_route *b)
{
	if (a->nsegs != b->nsegs)
		return 0;
	for (size_t i = 0; i < a->nsegs; i++)
		if (strcmp(a->segs[i], b->segs[i]) != 0 &&
		    !(is_param(a->segs[i]) && is_param(b->segs[i])))
			return 0;
	return 1;
}

int http_router_add(struct http_router *r, const struct http_route_def *def)
{
	struct http_route rt = {.def = *def}, *grown;
	int rc;

	if (!def->handler || !def->methods || !def->pattern)
		return AM_ERR_INVAL;
	if (r->n >= HTTP_MAX_ROUTES)
		return AM_ERR_TOOBIG;
	if ((rc = split_pattern(&rt, def->pattern)) != 0)
		goto out;
	rt.mroute = metrics_route_of_pattern(def->pattern);
	for (size_t i = 0; i < r->n; i++) {
		if (same_pattern(&r->routes[i], &rt) && (r->routes[i].def.methods & def->methods)) {
			rc = AM_ERR_EXISTS;
			goto out;
		}
	}
	grown = realloc(r->routes, (r->n + 1) * sizeof(*grown));
	if (!grown) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	r->routes = grown;
	r->routes[r->n++] = rt;
	return 0;
out:
	route_cleanup(&rt);
	return rc;
}

int http_route(struct http_router *r, unsigned methods, const char *pattern,
	       http_handler_fn *handler, void *arg)
{
	struct http_route_def d = {
	    .methods = methods, .pattern = pattern, .handler = handler, .arg = arg};
	return http_router_add(r, &d);
}

/* Match one route against the split path; fill params on success. */
static int match_one(const struct http_route *rt, char **segs, size_t nsegs, struct http_kv *params,
		     size_t *nparams)
{
	size_t np = 0;

	if (rt->nsegs != nsegs)
		return 0;
	for (size_t i = 0; i < nsegs; i++) {
		if (is_param(rt->segs[i])) {
			params[np].name = rt->segs[i];
			params[np++].value = segs[i];
		} else if (strcmp(rt->segs[i], segs[i]) != 0) {
			return 0;
		}
	}
	*nparams = np;
	return 1;
}

int http_router_match(const struct http_router *r, enum http_method m, char *pathbuf,
		      const struct http_route **route, struct http_kv *params, size_t *nparams,
		      unsigned *allow)
{
	char *segs[16];
	size_t nsegs = 0;
	char *p = pathbuf + 1;
	unsigned want = m == HTTP_HEAD ? (HTTP_HEAD | HTTP_GET) : m;
	int found = 0;

	*allow = 0;
	if (pathbuf[0] != '/')
		return AM_ERR_NOTFOUND;
	while (*p) {
		char *slash = strchr(p, '/');
		if (nsegs >= AM_ARRAY_LEN(segs))
			return AM_ERR_NOTFOUND;
		segs[nsegs++] = p;
		if (!slash)
			break;
		*slash = 0;
		p = slash + 1;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct http_kv tmp[HTTP_MAX_PARAMS];
		size_t ntmp = 0;

		if (!match_one(&r->routes[i], segs, nsegs, tmp, &ntmp))
			continue;
		found = 1;
		*allow |= r->routes[i].def.methods;
		if (r->routes[i].def.methods & want) {
			*route = &r->routes[i];
			memcpy(params, tmp, ntmp * sizeof(*tmp));
			*nparams = ntmp;
			return 0;
		}
	}
	if (*allow & HTTP_GET)
		*allow |= HTTP_HEAD;
	return found ? AM_ERR_METHOD : AM_ERR_NOTFOUND;
}
