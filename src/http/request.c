/*
 * request.c: read access to a request for handlers: method, path, route
 * parameters, query, headers, cookies, body, JSON body, client address.
 * Runs on server threads; everything returned was validated by the server
 * (parse.c) before the handler was called.
 */
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_int.h"

enum http_method http_req_method(const struct http_req *req)
{
	return req->method;
}

const char *http_req_path(const struct http_req *req)
{
	return req->path ? req->path : "/";
}

const char *http_req_route(const struct http_req *req)
{
	return req->route ? req->route->def.pattern : NULL;
}

const char *http_req_param(const struct http_req *req, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < req->nparams; i++) {
		const char *p = req->params[i].name; /* "{name}" */
		if (strlen(p) == n + 2 && memcmp(p + 1, name, n) == 0)
			return req->params[i].value;
	}
	return NULL;
}

const char *http_req_query(const struct http_req *req, const char *name)
{
	for (size_t i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].name, name) == 0)
			return req->query[i].value;
	return NULL;
}

const char *http_req_target(const struct http_req *req)
{
	return req->raw_uri ? req->raw_uri : "/";
}

const char *http_req_header(const struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_cookie(const struct http_req *req, const char *name)
{
	struct http_req *r = (struct http_req *)req; /* lazily parsed cache */

	if (r->ncookies < 0) {
		const char *h = http_req_header(req, MHD_HTTP_HEADER_COOKIE);
		size_t n = h ? strlen(h) : 0;
		int c;

		r->ncookies = 0;
		if (!h || !(r->cookie_store = malloc(n + 1)))
			return NULL;
		c = http_parse_cookies(h, n, r->cookies, HTTP_MAX_COOKIES, r->cookie_store, n + 1);
		r->ncookies = c > 0 ? c : 0;
	}
	for (int i = 0; i < r->ncookies; i++)
		if (strcmp(r->cookies[i].name, name) == 0)
			return r->cookies[i].value;
	return NULL;
}

struct am_slice http_req_body(const struct http_req *req)
{
	struct am_slice s = {req->body.p, req->body.len};
	return s;
}

int http_req_json(const struct http_req *req, json_t **out)
{
	const char *ct = http_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n = strlen("application/json");
	json_error_t jerr;
	json_t *j;

	*out = NULL;
	if (!ct || strncasecmp(ct, "application/json", n) != 0 || (ct[n] && ct[n] != ';'))
		return AM_ERR_UNSUPPORTED;
	j = json_loadb((const char *)req->body.p, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return AM_ERR_INVAL;
	if (!json_is_object(j)) {
		json_decref(j);
		return AM_ERR_INVAL;
	}
	*out = j;
	return 0;
}

int http_req_client_addr(const struct http_req *req, struct sockaddr_storage *ss, socklen_t *len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	socklen_t n;

	if (!sa)
		return AM_ERR_NOTFOUND;
	n = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, sa, n);
	*len = n;
	return 0;
}

void http_req_set_data(struct http_req *req, void *ptr, void (*free_fn)(void *))
{
	if (req->data && req->data_free && req->data != ptr)
		req->data_free(req->data);
	req->data = ptr;
	req->data_free = free_fn;
}

void *http_req_data(const struct http_req *req)
{
	return req->data;
}

void http_req_suspend(struct http_req *req)
{
	/* Read by complete() once the handler returns: by then another thread
	 * may already have resumed the request, so it is not a "still
	 * suspended" state but "the handler chose to wait". */
	req->suspend_seen = 1;
	if (req->srv)
		http_server_suspended(req->srv, 1);
	MHD_suspend_connection(req->conn);
}

void http_req_resume(struct http_req *req)
{
	/* any thread: req may be gone once the connection runs again, so what
	 * is needed of it is read first, and the count drops only after the
	 * resume (the server's stop must not see 0 before it) */
	struct http_server *srv = req->srv;

	MHD_resume_connection(req->conn);
	if (srv)
		http_server_suspended(srv, -1);
}

void http_req_set_metrics_route(struct http_req *req, enum metrics_route r)
{
	if ((unsigned)r < METRICS_ROUTE_N)
		req->mroute = r;
}

void http_req_release(struct http_req *req)
{
	if (!req)
		return;
	if (req->data && req->data_free)
		req->data_free(req->data);
	for (size_t i = 0; i < req->nextra; i++) {
		free(req->extra[i][0]);
		free(req->extra[i][1]);
	}
	if (req->resp)
		MHD_destroy_response(req->resp);
	http_handoff_free(req->handoff);
	am_buf_cleanup(&req->body);
	free(req->raw_uri);
	free(req->path);
	free(req->pathsplit);
	free(req->query_store);
	free(req->cookie_store);
	free(req);
}
