/*
 * http_int.h: internals shared by the files of src/http/ (and by its unit
 * tests and fuzz target). Does not include <microhttpd.h>: the connection
 * and response handles are opaque here.
 */
#ifndef AM_HTTP_INT_H
#define AM_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "http/http.h"
#include "metrics/metrics.h"

struct MHD_Connection;
struct MHD_Response;
struct MHD_Daemon;

/* A name/value pair pointing into a caller-owned store. */
struct http_kv {
	const char *name;
	const char *value;
};

/* ---- pure parsers (parse.c): no allocation, bounded output ----------------- */

/* Decode and validate a request path (the part before '?'): must start with
 * '/'; only RFC 3986 path characters; %XX escapes valid and not decoding to
 * NUL, control characters, '/', '\\'; no empty, "." or ".." segment (except
 * the root "/"). Writes the decoded NUL-terminated path to out (outlen).
 * 0, AM_ERR_INVAL, AM_ERR_TOOBIG. */
int http_parse_path(const char *raw, size_t n, char *out, size_t outlen);

/* Parse a query string (without '?') strictly: pairs split by '&', names and
 * values percent-decoded ('+' is a space), names non-empty [A-Za-z0-9_.-],
 * no empty pair, no duplicate name, no decoded NUL or control character, at
 * most max pairs. Strings are stored in store (storelen; needs n + max + 1).
 * Returns the pair count, AM_ERR_INVAL or AM_ERR_TOOBIG. */
int http_parse_query(const char *raw, size_t n, struct http_kv *kv, size_t max, char *store,
		     size_t storelen);

/* Parse a Cookie header: "a=b; c=d". Pairs whose name is not an RFC 6265
 * token or whose value has non cookie-octets are skipped (a junk cookie set
 * by a sibling site must not lock a user out); a quoted value loses its
 * quotes; the first of repeated names wins. Returns the count (<= max) or
 * AM_ERR_TOOBIG if store is too small (needs n + 1). */
int http_parse_cookies(const char *raw, size_t n, struct http_kv *kv, size_t max, char *store,
		       size_t storelen);

/* Validate a cookie name (token) and value (cookie-octets): 1 if valid. */
int http_cookie_name_ok(const char *s);
int http_cookie_value_ok(const char *s);

/* Method token -> enum http_method, 0 if unknown. */
enum http_method http_method_of(const char *s);

/* ---- router (router.c) ------------------------------------------------------ */

struct http_route {
	struct http_route_def def;
	char *segs[16]; /* pattern split into segments; "{x}" kept as is */
	size_t nsegs;
	enum metrics_route mroute; /* the metrics class of the pattern */
};

/* Match path against the table. On success *route is the route and params
 * (max HTTP_MAX_PARAMS) point into pathbuf (a writable copy of the path that
 * the function splits). Returns 0, AM_ERR_NOTFOUND (no pattern matches:
 * 404), or AM_ERR_METHOD (a pattern matches, not the method: 405; *allow
 * gets the allowed methods). */
int http_router_match(const struct http_router *r, enum http_method m, char *pathbuf,
		      const struct http_route **route, struct http_kv *params, size_t *nparams,
		      unsigned *allow);

/* ---- connection deadlines (watch.c) ----------------------------------------- */

/* The registry of open connections and its watchdog thread (see watch.c):
 * a connection waiting for request headers is shut down header_ms after it
 * started (or after its previous response ended); one receiving a body is
 * shut down when fewer than min_rate bytes/s (0: never) arrived over a
 * window_ms window. Lifecycle: http_watch_new (starts the thread; 0,
 * AM_ERR_NOMEM or AM_ERR_IO) -> the daemons run -> http_watch_free after
 * every daemon using it has stopped (accepts NULL). */
struct http_watch;
struct http_watch_conn;
int http_watch_new(int64_t header_ms, int64_t min_rate, int64_t window_ms, struct http_watch **out);
void http_watch_free(struct http_watch *w);
/* A connection started (socket fd; waiting for headers). Returns its entry,
 * owned by the registry until http_watch_remove, or NULL when out of memory
 * (the connection is then not watched). */
struct http_watch_conn *http_watch_add(struct http_watch *w, int fd);
/* The connection closed: forget and free c (NULL accepted). Must come
 * before its descriptor is closed (libmicrohttpd's CLOSED notification). */
void http_watch_remove(struct http_watch *w, struct http_watch_conn *c);
/* A request's headers are complete; body: whether a body follows. */
void http_watch_headers_done(struct http_watch *w, struct http_watch_conn *c, int body);
/* n body bytes arrived and our body handler takes them; http_watch_body_done
 * when it returns. A window in which the handler was busy does not count
 * against the client (any thread; no lock; NULL accepted). */
void http_watch_body(struct http_watch_conn *c, size_t n);
void http_watch_body_done(struct http_watch_conn *c);
/* The body is complete (or not read): no limit of ours until the response
 * has been sent. */
void http_watch_busy(struct http_watch *w, struct http_watch_conn *c);
/* The response was sent: the next request's headers have header_ms. */
void http_watch_next_request(struct http_watch *w, struct http_watch_conn *c);

/* ---- lingering close (linger.c) ---------------------------------------------- */

/* A connection answered before its body was read is closed gracefully: its
 * write side shut, what the client still sends read and dropped (at most
 * 2 s, 16 MiB), so that the client reads the answer instead of a reset.
 * Lifecycle: http_linger_new (a thread; 0, AM_ERR_NOMEM, AM_ERR_IO) ->
 * http_linger_add (takes fd, a duplicate of the socket's descriptor) ->
 * http_linger_free after the daemons stopped (closes what is left;
 * accepts NULL). */
struct http_linger;
int http_linger_new(struct http_linger **out);
void http_linger_add(struct http_linger *l, int fd);
void http_linger_free(struct http_linger *l);

/* ---- streaming loops (stream_loop.c) ------------------------------------------ */

/* A streamed GET response of a known size at least this large is sent by a
 * streaming loop instead of libmicrohttpd (stream_loop.c says why); smaller
 * ones, HEAD, unknown sizes and the redirect listener stay with it. */
#define HTTP_HANDOFF_MIN (256 * 1024)
/* The most TLS records a loop puts in one send(). */
#define HTTP_LOOP_BATCH 4
/* The longest head (status line and headers) a handed-over response has. */
#define HTTP_HANDOFF_HEAD_MAX (4 * 16384)

/* A response on its way to a loop. Made by http_respond_stream (response.c),
 * owned by its request (freed with it); server.c fills session and fd and
 * gives it to a loop, which sets outcome and finished, then resumes the
 * connection. */
struct http_handoff {
	struct http_req *req;
	void *session; /* gnutls_session_t: libmicrohttpd's, lent while suspended */
	int fd;
	struct am_buf head; /* "HTTP/1.1 206 ...\r\n" ... "\r\n" */
	http_stream_fn *fn;
	http_stream_view_fn *view; /* optional: the body without a copy */
	void *arg;
	void (*free_fn)(void *);
	size_t block;		/* the producer's read size hint */
	uint64_t size;		/* body bytes */
	_Atomic uint64_t bytes; /* body bytes produced so far */
	const char *outcome;	/* for the access log: "ok", "client_abort", ... */
	atomic_int finished;	/* the loop is done with it */
};

/* Free h and what it holds (its producer's arg with free_fn); NULL accepted. */
void http_handoff_free(struct http_handoff *h);

struct http_loops;
/* n loops (threads), each cutting a connection whose socket took nothing
 * for idle_ms (0: never). 0, AM_ERR_NOMEM, AM_ERR_IO. */
int http_loops_new(size_t n, int64_t idle_ms, struct http_loops **out);
/* Hand h (session and fd set; its connection suspended) to a loop. 0, or
 * AM_ERR_UNAVAIL when the loops are stopping, AM_ERR_NOMEM: the caller keeps
 * h and resumes the connection. */
int http_loops_give(struct http_loops *ls, struct http_handoff *h);
/* End every stream ("shutdown"), resuming their connections, and join the
 * threads; a give() afterwards fails. Before the daemon stops: it refuses
 * to stop with a connection suspended. Accepts NULL. */
void http_loops_stop(struct http_loops *ls);
/* Stop and free (accepts NULL). */
void http_loops_free(struct http_loops *ls);
/* The server's loops, NULL when it has none (response.c asks). */
struct http_loops *http_server_loops(const struct http_server *s);
/* Count a request suspended (+1) or resumed (-1): the server's stop waits
 * for none to be left before it stops libmicrohttpd (request.c). */
void http_server_suspended(struct http_server *s, int delta);

/* ---- request state (server.c, request.c, response.c) ----------------------- */

/* REQ_HEADERS: on_headers suspended the request; it runs again on resume. */
enum http_req_state { REQ_NEW, REQ_HEADERS, REQ_BODY, REQ_DONE };

#define HTTP_MAX_EXTRA_HEADERS 16

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	enum http_req_state state;
	enum http_method method;
	char method_str[16];
	char *raw_uri;	 /* owned copy of the request target */
	char *path;	 /* decoded path (owned) */
	char *pathsplit; /* scratch copy split by the router (owned) */
	const struct http_route *route;
	struct http_kv params[HTTP_MAX_PARAMS];
	size_t nparams;
	struct http_kv query[HTTP_MAX_QUERY];
	size_t nquery;
	int query_bad;	   /* the query did not parse (duplicates, encoding) */
	char *query_store; /* owned */
	struct http_kv cookies[HTTP_MAX_COOKIES];
	int ncookies;	    /* -1: not parsed yet */
	char *cookie_store; /* owned */
	struct am_buf body;
	uint64_t body_seen;
	uint64_t discard_until; /* after a failure mid-body: read no further */
	unsigned err_status;	/* an HTTP error decided before the handler ran */
	int err_rc;		/* its enum am_err when a callback gave one (else 0) */
	unsigned allow;		/* for 405 */
	char *extra[HTTP_MAX_EXTRA_HEADERS][2]; /* owned name/value copies */
	size_t nextra;
	struct MHD_Response *resp;
	unsigned status;
	uint64_t bytes;			/* body bytes produced */
	_Atomic uint64_t *stream_bytes; /* for streamed responses */
	struct http_handoff *handoff;	/* a response for a streaming loop (owned) */
	int64_t start_us;		/* monotonic, when the request line arrived */
	enum metrics_route
	    mroute;	  /* the route's class, or the handler's (http_req_set_metrics_route) */
	int suspend_seen; /* http_req_suspend ran (server thread only) */
	void *data;
	void (*data_free)(void *);
};

/* Build the error response for HTTP status (generic JSON body). */
int http_respond_status(struct http_req *req, unsigned status);
/* True if the server is draining (responses get Connection: close). */
int http_server_draining(const struct http_server *s);
/* Free everything a request owns (server.c calls it on completion). */
void http_req_release(struct http_req *req);

/* Resolve HOST:PORT, then socket + bind + listen (non-blocking, close on
 * exec); the bound port in *port_out. 0, AM_ERR_INVAL (address), AM_ERR_IO,
 * with a message in err. */
int http_bind_listen(const char *listen_addr, int *fd_out, uint16_t *port_out, char *err,
		     size_t errlen);

/* TLS (tls.c): load and install the pair behind the certificate callback. */
int http_tls_load(const char *cert_path, const char *key_path, char *err, size_t errlen);
/* The certificate callback installed with MHD_OPTION_HTTPS_CERT_CALLBACK. */
void *http_tls_cert_callback(void);
/* Free every loaded pair (after the daemon stopped). */
void http_tls_cleanup(void);

/* Renegotiation refusal (tls_reneg.c). libmicrohttpd answers a client's TLS
 * 1.2 renegotiation by closing with a warning close_notify; RFC 5746 and
 * testssl want a fatal alert. Each connection's guard watches the record
 * headers of the bytes it receives (a transport pull function around recv)
 * and, on a handshake record after the client's Finished, sends a fatal
 * no_renegotiation alert and fails the read, so libmicrohttpd closes. The
 * guard lives in the connection's socket context (server.c), freed on the
 * CLOSED notification, which libmicrohttpd sends after gnutls_deinit. */
struct http_tls_guard {
	void *session; /* gnutls_session_t; NULL: not installed */
	int fd;
	uint8_t hdr[5];	    /* the record header being read */
	uint8_t hdr_have;   /* bytes of it so far */
	uint8_t ccs;	    /* the client's ChangeCipherSpec arrived */
	uint8_t hs_after;   /* handshake records since (the Finished: 1) */
	uint8_t off;	    /* not a record stream we understand: stand aside */
	uint32_t body_left; /* bytes of the current record still to come */
};
/* The guard in libmicrohttpd's socket context of a connection (server.c). */
struct http_tls_guard *http_conn_tls_guard(void *socket_context);
/* Install g on session (a gnutls_session_t whose transport is a socket);
 * called from the certificate callback, during the first handshake. */
void http_tls_guard_install(struct http_tls_guard *g, void *session);
/* The record scanner on its own (fuzz/unit tests): feed n received bytes;
 * 1 when they hold a TLS 1.2 renegotiation attempt (tls12: the session
 * negotiated TLS 1.2), else 0. */
int http_tls_guard_scan(struct http_tls_guard *g, const uint8_t *p, size_t n, int tls12);

#endif
