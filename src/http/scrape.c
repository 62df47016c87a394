/*
 * scrape.c: the plaintext listener for the Prometheus scrape (metrics_listen,
 * docs/deploy.md "Metrics"): one path, GET/HEAD only, an optional bearer
 * token, a body made by the caller at request time. Runs in every role
 * process that sets metrics_listen, on a libmicrohttpd thread of its own,
 * apart from the HTTPS daemon: its port is never the public one. Its
 * clients are the operator's monitoring, still untrusted: nothing they send
 * is read beyond the request line and the Authorization header.
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http/http_int.h"

#define SCRAPE_MAX_BODY (4u << 20)
#define SCRAPE_PATH_MAX 64

struct http_scrape {
	struct MHD_Daemon *d;
	int fd;
	uint16_t port;
	int has_token;
	uint8_t token_digest[32]; /* SHA-256 of the token: the token itself is not kept */
	char path[SCRAPE_PATH_MAX];
	char content_type[64];
	http_scrape_fn *fn;
	void *arg;
};

/* Whether the request carries "Authorization: Bearer TOKEN" with our
 * token: digests compared in constant time, so neither the bytes nor the
 * length of the token leak through timing. */
static int authorized(const struct http_scrape *s, struct MHD_Connection *conn)
{
	const char *h =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	uint8_t d[32];
	int ok;

	if (!s->has_token)
		return 1;
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, h, strlen(h), d) < 0)
		return 0;
	ok = am_ct_eq(d, s->token_digest, sizeof(d));
	am_memzero(d, sizeof(d));
	return ok;
}

/* Queue a response: body (copied) or a fixed text, with no-store. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
			     const void *body, size_t n)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	(void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (status == 401)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					      "Bearer realm=\"audiomus metrics\"");
	if (status == 405)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	return reply(conn, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	static int seen;
	struct http_scrape *s = cls;
	struct am_buf body;
	enum MHD_Result ret;

	(void)version;
	(void)upload_data;
	if (!*con_cls) {
		*con_cls = &seen; /* answer once the request is complete */
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body is never read */
		return MHD_YES;
	}
	if (!authorized(s, conn))
		return text(conn, 401, "a bearer token is required\n");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return text(conn, 405, "GET only\n");
	if (strcmp(url, s->path) != 0)
		return text(conn, 404, "not found\n");
	am_buf_init(&body, SCRAPE_MAX_BODY);
	if (s->fn(&body, s->arg) != 0) {
		am_buf_cleanup(&body);
		am_log(AM_LOG_WARN, "metrics_render_failed");
		return text(conn, 500, "cannot render the metrics\n");
	}
	ret = reply(conn, 200, s->content_type, body.p ? (const void *)body.p : "", body.len);
	am_buf_cleanup(&body);
	return ret;
}

int http_scrape_start(const char *listen, const char *path, const char *token,
		      const char *content_type, http_scrape_fn *fn, void *arg,
		      struct http_scrape **out, char *err, size_t errlen)
{
	struct http_scrape *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return AM_ERR_NOMEM;
	s->fd = -1;
	s->fn = fn;
	s->arg = arg;
	if (am_strlcpy(s->path, path, sizeof(s->path)) ||
	    am_strlcpy(s->content_type, content_type, sizeof(s->content_type))) {
		snprintf(err, errlen, "metrics path or content type too long");
		rc = AM_ERR_INVAL;
		goto fail;
	}
	if (token && *token) {
		s->has_token = 1;
		if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), s->token_digest) <
		    0) {
			snprintf(err, errlen, "cannot hash metrics_token");
			rc = AM_ERR_CRYPTO;
			goto fail;
		}
	}
	if ((rc = http_bind_listen(listen, &s->fd, &s->port, err, errlen)) != 0)
		goto fail;
	s->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    on_request, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->fd, MHD_OPTION_CONNECTION_LIMIT,
	    16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)32768, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, errlen, "cannot start the metrics listener on %s", listen);
		rc = AM_ERR_IO;
		goto fail;
	}
	s->fd = -1; /* the daemon's now */
	*out = s;
	return 0;
fail:
	http_scrape_free(s);
	return rc;
}

uint16_t http_scrape_port(const struct http_scrape *s)
{
	return s->port;
}

void http_scrape_free(struct http_scrape *s)
{
	if (!s)
		return;
	if (s->d)
		MHD_stop_daemon(s->d);
	if (s->fd >= 0)
		close(s->fd);
	am_memzero(s->token_digest, sizeof(s->token_digest));
	free(s);
}
