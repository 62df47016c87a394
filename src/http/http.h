/*
 * http: the HTTPS server every web-facing role runs (DESIGN §2a, §7): a thin,
 * strict layer over GNU libmicrohttpd + GnuTLS. Nothing outside src/http/
 * includes <microhttpd.h>. Runs in the web and media processes, at the trust
 * boundary: everything a client sends arrives here first and is parsed
 * strictly (bounded sizes, no ambiguous paths, duplicate query keys refused).
 *
 * Life of a request: the server parses and validates the request line and
 * headers, finds the route (404/405/501 otherwise), reads the body within the
 * route's cap (buffered, or streamed to on_body), then calls the handler once
 * the request is complete (never earlier: queueing a response before the body
 * is read forces Connection: close in libmicrohttpd 0.9.75). The handler either
 * responds with one http_respond_*() call and returns 0, or returns a negative
 * enum am_err and the server answers with http_status_of(err) and a generic
 * body; internal messages never reach a client. Every response, errors
 * included, carries the security headers of DESIGN §7.
 */
#ifndef AM_HTTP_H
#define AM_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>

#include "metrics/metrics.h"
#include "util/util.h"

struct conf;
struct http_server;
struct http_router;
struct http_req;

/* Methods a route can take (bit mask). HEAD is served by every GET route. */
enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_HEAD = 1 << 1,
	HTTP_POST = 1 << 2,
	HTTP_PUT = 1 << 3,
	HTTP_PATCH = 1 << 4,
	HTTP_DELETE = 1 << 5,
	HTTP_OPTIONS = 1 << 6,
};

/* Hard limits of the request parser (a request over them gets a 4xx). */
#define HTTP_MAX_URI	 8192  /* request target: 414 beyond */
#define HTTP_MAX_HEADERS 16384 /* sum of header names and values: 431 beyond */
#define HTTP_MAX_PARAMS	 8     /* path parameters per route */
#define HTTP_MAX_QUERY	 32    /* query parameters: 400 beyond */
#define HTTP_MAX_COOKIES 64    /* cookies considered; the rest are ignored */

/* A request handler. Runs on a server thread once the request (headers and
 * body) is complete. Returns 0 after exactly one http_respond_*() call, or a
 * negative enum am_err (then the server answers http_status_of(err)). */
typedef int http_handler_fn(struct http_req *req, void *arg);

/* A streaming request-body consumer: called with each chunk in order (n > 0)
 * as it arrives, with bounded memory. Returns 0 or a negative enum am_err,
 * which ends the request with that error (the connection is then closed). */
typedef int http_body_fn(struct http_req *req, const uint8_t *data, size_t n, void *arg);

/* One route. pattern is a path whose segments are literals or {name}
 * parameters matching one non-empty segment, e.g. "/s/{token}". */
struct http_route_def {
	unsigned methods;    /* enum http_method bits */
	const char *pattern; /* borrowed: must outlive the router */
	http_handler_fn *handler;
	void *arg;		     /* passed to every callback; borrowed */
	size_t max_body;	     /* 0: a request with a body gets 413 */
	http_handler_fn *on_headers; /* optional: runs before the body is read; an
				      * error return rejects the request unread
				      * (answered before the body); it may
				      * suspend the request and runs again,
				      * still before the body, once resumed */
	http_body_fn *on_body;	     /* optional: stream the body instead of buffering */
	int raw_query;		     /* the handler verifies http_req_target() itself: a
				      * query that does not parse (duplicate or badly
				      * encoded parameters) is not refused with 400 but
				      * reaches it with no parsed parameters, so that
				      * e.g. a signed URL fails with its own answer */
};

/* ---- router ---------------------------------------------------------------- */

/* A new, empty route table; NULL on allocation failure. */
struct http_router *http_router_new(void);
/* Free the table (accepts NULL). Not while a server uses it. */
void http_router_free(struct http_router *r);
/* Add a route (the definition is copied). AM_ERR_INVAL for a malformed
 * pattern, AM_ERR_EXISTS if the same pattern and a method are taken,
 * AM_ERR_TOOBIG past 256 routes, AM_ERR_NOMEM. */
int http_router_add(struct http_router *r, const struct http_route_def *def);
/* Shorthand for a bodiless route. */
int http_route(struct http_router *r, unsigned methods, const char *pattern,
	       http_handler_fn *handler, void *arg);

/* ---- server ---------------------------------------------------------------- */

/* Prepare the HTTPS server of conf c (copied): load the certificate and key
 * (refusing to go on without them), bind the listen address and, when set,
 * redirect_listen. Nothing is served yet; the bound ports are known. Errors:
 * AM_ERR_IO (bind, files), AM_ERR_CRYPTO (certificate or key unusable),
 * AM_ERR_INVAL, AM_ERR_NOMEM, with a message in err. */
int http_server_new(const struct conf *c, struct http_server **out, char *err, size_t errlen);
/* Replace the public URL (used by the redirect listener), e.g. once the port
 * of a "HOST:0" listen address is known. Before http_server_start only. */
void http_server_set_public_url(struct http_server *s, const char *url);
/* Start serving with router r (borrowed; must outlive the server; no route
 * may be added afterwards). AM_ERR_IO with a message in err. */
int http_server_start(struct http_server *s, struct http_router *r, char *err, size_t errlen);
/* The TCP port the HTTPS listener is bound to (useful with port 0). */
uint16_t http_server_port(const struct http_server *s);
/* Port of the plaintext redirect listener, 0 when it is off. */
uint16_t http_server_redirect_port(const struct http_server *s);
/* Re-read the certificate and key files (SIGHUP). New handshakes use the new
 * pair; established connections are untouched. On failure the old pair stays
 * in use and err says why (AM_ERR_IO, AM_ERR_CRYPTO). */
int http_server_reload_tls(struct http_server *s, char *err, size_t errlen);
/* Graceful stop: stop accepting, let in-flight requests finish for at most
 * grace_ms (responses meanwhile carry Connection: close), then close all
 * connections. Returns the number of requests still running at the
 * deadline (0 for a clean drain). The server must still be freed. */
int http_server_shutdown(struct http_server *s, int64_t grace_ms);
/* Stop (immediately, if not shut down) and free; accepts NULL. */
void http_server_free(struct http_server *s);

/* ---- request ---------------------------------------------------------------- */

/* The method (one enum http_method bit). */
enum http_method http_req_method(const struct http_req *req);
/* The decoded, validated path (no query). Borrowed until the request ends. */
const char *http_req_path(const struct http_req *req);
/* The matched route pattern, e.g. "/s/{token}" (safe to log). */
const char *http_req_route(const struct http_req *req);
/* A path parameter of the route ("{token}" -> "token"), NULL if none. */
const char *http_req_param(const struct http_req *req, const char *name);
/* A query parameter (percent-decoded; duplicates were refused with 400),
 * NULL if absent. */
const char *http_req_query(const struct http_req *req, const char *name);
/* The raw request target as the client sent it (path and query, before
 * percent-decoding; already validated by the parsers). For credentials that
 * must be checked byte for byte (signed media URLs). Borrowed. */
const char *http_req_target(const struct http_req *req);
/* A request header (case-insensitive name), NULL if absent. */
const char *http_req_header(const struct http_req *req, const char *name);
/* A cookie value, NULL if absent (first one wins when a name repeats). */
const char *http_req_cookie(const struct http_req *req, const char *name);
/* The buffered body (routes with max_body and no on_body). Borrowed. */
struct am_slice http_req_body(const struct http_req *req);
/* Parse the buffered body as one JSON object (Content-Type must be
 * application/json). Returns 0 and a new reference in *out, AM_ERR_UNSUPPORTED
 * (wrong type: 415), AM_ERR_INVAL (not a JSON object, duplicate keys). */
int http_req_json(const struct http_req *req, json_t **out);
/* The client's address, ONLY for pseudonymisation (DESIGN §6): never log or
 * store it. Returns 0 or AM_ERR_NOTFOUND. */
int http_req_client_addr(const struct http_req *req, struct sockaddr_storage *ss, socklen_t *len);
/* Per-request state for multi-call handlers (on_headers/on_body/handler):
 * ptr is freed with free_fn when the request ends. */
void http_req_set_data(struct http_req *req, void *ptr, void (*free_fn)(void *));
void *http_req_data(const struct http_req *req);
/* Pause a request that waits for something else (a job, a peer): call from a
 * handler, on_headers or on_body, which then returns 0 without responding;
 * the server calls the same callback again after http_req_resume() (any
 * thread). on_body's chunk was taken: the next call brings the next one. */
void http_req_suspend(struct http_req *req);
void http_req_resume(struct http_req *req);
/* Count this request under class r in the metrics instead of its route's
 * (e.g. a /m/{object} URL that turned out to be a download). */
void http_req_set_metrics_route(struct http_req *req, enum metrics_route r);

/* ---- response ---------------------------------------------------------------- */

/* Queue an extra header for the response (copied; CR/LF refused with
 * AM_ERR_INVAL; at most 16). Call before http_respond_*(). Without a
 * Cache-Control header the server adds "no-store". */
int http_add_header(struct http_req *req, const char *name, const char *value);

enum http_cookie_flags {
	HTTP_COOKIE_HTTPONLY = 1 << 0,
	HTTP_COOKIE_LAX = 1 << 1, /* SameSite=Lax (default Strict) */
};
/* Queue Set-Cookie: NAME=VALUE; Path=/; Secure; SameSite=Strict|Lax
 * [; HttpOnly] [; Max-Age=N]. max_age < 0: session cookie; 0: delete.
 * Names must be RFC 6265 tokens, values cookie-octets (AM_ERR_INVAL). */
int http_set_cookie(struct http_req *req, const char *name, const char *value, int64_t max_age,
		    unsigned flags);

/* Respond with bytes; copied when copy != 0, else borrowed (static data). */
int http_respond_bytes(struct http_req *req, unsigned status, const char *content_type,
		       const void *data, size_t n, int copy);
/* A borrowed run of response body bytes. */
struct http_piece {
	const void *p;
	size_t n;
};
#define HTTP_PIECES_MAX 8
/* Respond with the concatenation of npieces (1..HTTP_PIECES_MAX) runs of
 * bytes, sent without a copy: borrowed until the response is done, then
 * release(cls) is called, also when this fails. For an answer made of a
 * per-request part and a part shared with other responses (a cache entry). */
int http_respond_pieces(struct http_req *req, unsigned status, const char *content_type,
			const struct http_piece *pieces, size_t npieces, void (*release)(void *),
			void *cls);
/* Respond with a JSON document (borrowed; serialised compactly). */
int http_respond_json(struct http_req *req, unsigned status, const json_t *body);
/* Respond with no body (204, 304, ...). */
int http_respond_empty(struct http_req *req, unsigned status);
/* Respond with the error body for err (status http_status_of(err)): the
 * generic reason, or http_message_of(err) when it has one, with a
 * Retry-After header when http_retry_after_of(err) gives one. */
int http_respond_error(struct http_req *req, int err);

/* A response-body producer: fill at most max bytes of buf for body offset
 * pos; return the count (> 0), 0 at the end, or a negative enum am_err to
 * abort the connection (e.g. an authentication tag failed after the headers
 * went out). It is called only when the socket can take more (backpressure),
 * from a server thread. */
typedef ssize_t http_stream_fn(void *arg, uint64_t pos, uint8_t *buf, size_t max);
/* Respond with a streamed body of size bytes (-1: unknown, chunked). free_fn
 * (optional) releases arg when the response is done. block: read size hint.
 * A GET body of a known size of HTTP_HANDOFF_MIN (256 KiB) or more is sent
 * by a streaming loop, not libmicrohttpd, on another thread, and the
 * connection closes after it (docs/architecture.md "Streaming loops"): fn
 * must not depend on running on the thread that ran the handler. */
int http_respond_stream(struct http_req *req, unsigned status, const char *content_type,
			int64_t size, size_t block, http_stream_fn *fn, void *arg,
			void (*free_fn)(void *));

/* A producer's zero-copy read, for the streaming loops: point *p at up to
 * max body bytes at pos held by the producer (valid until its next call),
 * return their count (> 0, possibly fewer than max), or a negative enum
 * am_err as http_stream_fn. */
typedef ssize_t http_stream_view_fn(void *arg, uint64_t pos, size_t max, const uint8_t **p);
/* After http_respond_stream answered 0: let a streaming loop read the body
 * through view as well (the loop encrypts from the producer's own buffer
 * instead of a copy; it still calls fn for a piece shorter than one TLS
 * record that does not end the body). No effect on a body libmicrohttpd
 * sends. */
void http_respond_stream_view(struct http_req *req, http_stream_view_fn *view);

/* The one mapping from enum am_err to an HTTP status (0 -> 200; an unknown
 * or positive value -> 500). Every error answer, the API's and the media
 * role's included, takes its status from here. */
unsigned http_status_of(int err);

/* Retry-After for a disk that is full or read-only (AM_ERR_NOSPACE,
 * AM_ERR_READONLY): long enough not to hammer a server that needs its
 * operator, short enough that an upload resumes soon after space returns. */
#define HTTP_RETRY_AFTER_STORAGE_S 60
/* Seconds a client should wait before trying again after err (the value of
 * Retry-After), or 0 when err carries no such advice. */
unsigned http_retry_after_of(int err);
/* A message a person understands for err, for the error body, or NULL when
 * the generic reason phrase is all there is to say. Static storage. */
const char *http_message_of(int err);

/* ---- scrape listener (metrics) ------------------------------------------------ */

/* A plaintext HTTP listener that answers GET (and HEAD) of one path with a
 * text body made at request time, for Prometheus (docs/deploy.md
 * "Metrics"); every other path is 404, every other method 405. With a
 * token, a request without "Authorization: Bearer TOKEN" gets 401 (the
 * token is compared as SHA-256 digests in constant time). No TLS: bind it
 * to loopback, or to a private network with a token. */
struct http_scrape;
/* Fill out (cap 4 MiB) with the body; 0 or a negative enum am_err (500). */
typedef int http_scrape_fn(struct am_buf *out, void *arg);
/* Bind listen (HOST:PORT; port 0 picks one) and serve path with fn(arg)
 * (borrowed; must outlive the listener) on a thread of its own. token may
 * be NULL or "" (no token); it is copied. At most 16 connections, 10 s
 * each. 0 and an owned listener in *out; AM_ERR_IO (bind, start),
 * AM_ERR_INVAL, AM_ERR_NOMEM, with a message in err. */
int http_scrape_start(const char *listen, const char *path, const char *token,
		      const char *content_type, http_scrape_fn *fn, void *arg,
		      struct http_scrape **out, char *err, size_t errlen);
/* The bound TCP port. */
uint16_t http_scrape_port(const struct http_scrape *s);
/* Stop and free (accepts NULL); the token is wiped. */
void http_scrape_free(struct http_scrape *s);

/* ---- TLS certificates (init) ---------------------------------------------- */

/* Write a new self-signed ECDSA P-256 certificate for "localhost" (SANs
 * DNS:localhost, IP:127.0.0.1, IP:::1; valid for days days, random 128-bit
 * serial) and its private key (PKCS#8 PEM, mode 0600). Never overwrites:
 * AM_ERR_EXISTS if either file exists; AM_ERR_IO, AM_ERR_CRYPTO otherwise;
 * message in err. */
int http_tls_selfsigned_write(const char *cert_path, const char *key_path, int days, char *err,
			      size_t errlen);

/* The GnuTLS priority string of DESIGN §7 (for docs and tests). */
extern const char http_tls_priorities[];

#endif
