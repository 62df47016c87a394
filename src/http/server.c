/*
 * server.c: the libmicrohttpd daemon(s): start/stop, limits, the request
 * state machine (validate -> route -> body -> handler), the access log, the
 * optional plaintext listener that only redirects to https, and graceful
 * shutdown. Runs in the web/media processes at the network boundary; every
 * byte it sees is untrusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/conf.h"
#include "http/http_int.h"

/* Unsent bytes a connection's kernel send queue may hold before the socket
 * stops being writable (TCP_NOTSENT_LOWAT). Without it Linux grows the send
 * buffer of every connection to megabytes, and a streamed response is
 * produced (read, decrypted, TLS-encrypted) that far ahead of a slow client:
 * 1,000 slow downloads made the server produce 2.4 MiB each in their first
 * seconds, of which the clients had read 0.4 MiB (docs/benchmarks.md). Bytes
 * in flight are not limited by it, so a fast client's throughput is kept. */
#define HTTP_NOTSENT_LOWAT (128 * 1024)

/* After a body fails mid-way, how much more we read before closing. */
#define HTTP_DISCARD_MAX (1u << 20)

struct http_server {
	struct MHD_Daemon *d;
	struct MHD_Daemon *redir;
	struct http_router *router;
	uint16_t port, redir_port;
	atomic_int draining;
	atomic_long inflight;
	atomic_long suspended; /* requests suspended now (http_req_suspend) */
	int fd;		       /* the HTTPS listening socket (our accept loop's) */
	int redir_fd;	       /* bound, not yet handed to the redirect daemon */
	int wake_fd;	       /* eventfd: stop the accept loop */
	pthread_t acceptor;    /* valid while accepting */
	int accepting;
	atomic_int stop_accept;
	size_t max_headers;
	struct http_watch *watch;   /* header deadline, body rate (watch.c) */
	struct http_loops *loops;   /* large streams (stream_loop.c); NULL: none */
	struct http_linger *linger; /* closes after an answer before the body */
	struct conf c;
};

struct http_loops *http_server_loops(const struct http_server *s)
{
	return s->loops;
}

void http_server_suspended(struct http_server *s, int delta)
{
	atomic_fetch_add(&s->suspended, delta);
}

int http_server_draining(const struct http_server *s)
{
	return atomic_load(&s->draining);
}

/* What we keep per connection, in libmicrohttpd's socket context. */
struct conn_ctx {
	struct http_watch_conn *watch; /* NULL: not watched (out of memory) */
	struct http_tls_guard tls;     /* renegotiation refusal (tls_reneg.c) */
	int fd;			       /* the socket, for the lingering close */
	int linger;		       /* answered before its body: close through linger.c */
};

struct http_tls_guard *http_conn_tls_guard(void *socket_context)
{
	struct conn_ctx *ctx = socket_context;

	return ctx ? &ctx->tls : NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION: register each connection with the watchdog
 * (its headers' deadline starts now) and forget it when it closes, which
 * libmicrohttpd reports before it closes the descriptor (and after
 * gnutls_deinit, so the TLS guard in the context is no longer used). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn_ctx *ctx;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		metrics_connection_open();
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		ctx = ci ? calloc(1, sizeof(*ctx)) : NULL;
		if (ctx)
			ctx->fd = ci->connect_fd;
		if (ctx && !(ctx->watch = http_watch_add(s->watch, ci->connect_fd))) {
			free(ctx);
			ctx = NULL;
		}
		*socket_context = ctx;
		if (!ctx)
			am_log(AM_LOG_WARN, "http_watch_unwatched");
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		ctx = *socket_context;
		if (ctx)
			http_watch_remove(s->watch, ctx->watch);
		if (ctx && ctx->linger) {
			/* libmicrohttpd closes its descriptor next; ours keeps
			 * the socket open (linger.c) */
			int fd = fcntl(ctx->fd, F_DUPFD_CLOEXEC, 0);
			if (fd >= 0)
				http_linger_add(s->linger, fd);
		}
		free(ctx);
		*socket_context = NULL;
		metrics_connection_close();
	}
}

static struct conn_ctx *ctx_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* The watchdog's entry for conn (NULL if it is not watched). */
static struct http_watch_conn *watch_of(struct MHD_Connection *conn)
{
	struct conn_ctx *ctx = ctx_of(conn);

	return ctx ? ctx->watch : NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK: the first thing MHD tells us about a request,
 * with the raw request target (before MHD unescapes it, which would hide an
 * encoded '/'). Our request object starts here. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *s = cls;
	struct http_req *req = calloc(1, sizeof(*req));
	size_t n;

	if (!req)
		return NULL;
	req->srv = s;
	req->conn = conn;
	req->ncookies = -1;
	req->start_us = am_mono_us();
	req->mroute = METRICS_ROUTE_OTHER;
	n = strnlen(uri, HTTP_MAX_URI + 1);
	if (n > HTTP_MAX_URI)
		req->err_status = 414;
	else if (!(req->raw_uri = strndup(uri, n))) {
		free(req);
		return NULL;
	}
	atomic_fetch_add(&s->inflight, 1);
	return req;
}

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	size_t *sum = cls;

	(void)kind;
	*sum += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

/* Path and query of the raw target; sets err_status on failure. */
static void parse_target(struct http_req *req)
{
	const char *raw = req->raw_uri, *q = strchr(raw, '?');
	size_t pn = q ? (size_t)(q - raw) : strlen(raw), qn = q ? strlen(q + 1) : 0;
	int rc;

	if (!(req->path = malloc(pn + 2)) || !(req->pathsplit = malloc(pn + 2)) ||
	    !(req->query_store = malloc(qn + HTTP_MAX_QUERY + 2))) {
		req->err_status = 503;
		return;
	}
	if ((rc = http_parse_path(raw, pn, req->path, pn + 2)) != 0) {
		free(req->path);
		req->path = NULL;
		req->err_status = 400;
		return;
	}
	rc = http_parse_query(q ? q + 1 : "", qn, req->query, HTTP_MAX_QUERY, req->query_store,
			      qn + HTTP_MAX_QUERY + 2);
	/* Judged after routing: a raw_query route answers for itself. */
	if (rc < 0)
		req->query_bad = 1;
	else
		req->nquery = (size_t)rc;
}

/* Whether the request announces a body, and its declared length (-1 when
 * chunked). */
static int body_announced(struct http_req *req, int64_t *len)
{
	const char *cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = http_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);

	*len = 0;
	if (te) {
		*len = -1;
		return 1;
	}
	if (cl && am_parse_i64(cl, 0, INT64_MAX, len) == 0)
		return *len > 0;
	return 0;
}

/* The route's on_headers, if any. It may suspend the request (a job decides
 * before the body, e.g. whether the store takes an upload): the request is
 * then REQ_HEADERS, and on_headers runs again once it is resumed, still
 * before any byte of the body is read, when an answer is still accepted. */
static void headers_call(struct http_req *req)
{
	const struct http_route_def *def = &req->route->def;
	int rc;

	req->state = REQ_BODY;
	if (!def->on_headers)
		return;
	req->suspend_seen = 0;
	if ((rc = def->on_headers(req, def->arg)) < 0)
		req->err_status = http_status_of(req->err_rc = rc);
	else if (req->suspend_seen)
		req->state = REQ_HEADERS;
}

/* The headers are complete: decide everything we can before the body. */
static void begin(struct http_req *req, const char *method)
{
	const struct http_route_def *def;
	size_t hsum = 0;
	int64_t clen;
	int rc;

	am_strlcpy(req->method_str, method, sizeof(req->method_str));
	req->method = http_method_of(method);
	am_buf_init(&req->body, 0);
	if (req->err_status)
		return;
	parse_target(req);
	if (req->err_status)
		return;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, sum_header, &hsum);
	if (hsum > req->srv->max_headers) {
		req->err_status = 431;
		return;
	}
	if (!req->method) {
		req->err_status = 501;
		return;
	}
	memcpy(req->pathsplit, req->path, strlen(req->path) + 1);
	rc = http_router_match(req->srv->router, req->method, req->pathsplit, &req->route,
			       req->params, &req->nparams, &req->allow);
	if (rc) {
		req->err_status = http_status_of(rc); /* 404 or 405 */
		return;
	}
	def = &req->route->def;
	req->mroute = req->route->mroute;
	if (req->query_bad && !def->raw_query) {
		req->err_status = 400;
		return;
	}
	if (body_announced(req, &clen) && (def->max_body == 0 || clen > (int64_t)def->max_body)) {
		req->err_status = 413;
		return;
	}
	am_buf_init(&req->body, def->on_body ? 0 : def->max_body);
	headers_call(req);
}

/* Queue req->resp (made by a handler or an error) on the connection. */
static enum MHD_Result queue(struct http_req *req)
{
	if (!req->resp && http_respond_status(req, 500) != 0)
		return MHD_NO;
	req->state = REQ_DONE;
	return MHD_queue_response(req->conn, req->status, req->resp);
}

static void allow_header(struct http_req *req)
{
	static const char *const names[] = {"GET",   "HEAD",   "POST",	 "PUT",
					    "PATCH", "DELETE", "OPTIONS"};
	char buf[64] = "";
	size_t o = 0;

	for (size_t i = 0; i < AM_ARRAY_LEN(names); i++)
		if (req->allow & (1u << i))
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", o ? ", " : "",
					      names[i]);
	(void)http_add_header(req, "Allow", buf);
}

static enum MHD_Result respond_err(struct http_req *req)
{
	if (req->err_status == 405)
		allow_header(req);
	/* a callback's error keeps its message and Retry-After (disk full) */
	if (req->err_rc ? http_respond_error(req, req->err_rc) != 0
			: http_respond_status(req, req->err_status) != 0)
		return MHD_NO;
	return queue(req);
}

/* The handler answered with a stream for a loop: lend it the connection's
 * socket and TLS session, suspended until the loop resumes it; on_request
 * then closes it. Without a session (cannot happen on the HTTPS daemon) or
 * with the loops stopping, the connection just closes. */
static enum MHD_Result handoff(struct http_req *req)
{
	struct http_handoff *h = req->handoff;
	const union MHD_ConnectionInfo *ti, *fi;

	req->state = REQ_DONE;
	ti = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	fi = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ti || !ti->tls_session || !fi)
		return MHD_NO;
	h->session = ti->tls_session;
	h->fd = fi->connect_fd;
	http_req_suspend(req);
	if (http_loops_give(req->srv->loops, h) != 0) {
		h->outcome = "shutdown";
		atomic_store(&h->finished, 1);
		http_req_resume(req);
	}
	return MHD_YES;
}

/* The request is complete: run the handler. */
static enum MHD_Result complete(struct http_req *req)
{
	const struct http_route_def *def;
	int rc;

	if (req->err_status)
		return respond_err(req);
	def = &req->route->def;
	req->suspend_seen = 0;
	rc = def->handler(req, def->arg);
	if (rc == 0 && req->handoff)
		return handoff(req);
	/* called again after http_req_resume(), which may already have run */
	if (rc == 0 && !req->resp && req->suspend_seen)
		return MHD_YES;
	if (rc < 0 && !req->resp) {
		if (http_status_of(rc) >= 500)
			am_log(AM_LOG_WARN, "handler_error", "route", def->pattern, "error",
			       am_strerror(rc));
		(void)http_respond_error(req, rc);
	} else if (!req->resp) {
		am_log(AM_LOG_ERROR, "handler_no_response", "route", def->pattern);
	}
	return queue(req);
}

static int body_chunk(struct http_req *req, const char *data, size_t n)
{
	const struct http_route_def *def = &req->route->def;

	req->body_seen += n;
	if (req->body_seen > def->max_body)
		return AM_ERR_TOOBIG;
	if (def->on_body)
		return def->on_body(req, (const uint8_t *)data, n, def->arg);
	return am_buf_append(&req->body, data, n);
}

/* After a failure mid-body the answer can only follow the whole body
 * (libmicrohttpd 0.9.75): read what is left if that is a little, so that
 * the client gets the answer; hang up at once (no answer) when more is
 * announced: a refused 2 GB upload is not read. A chunked body is read up
 * to HTTP_DISCARD_MAX past the failure, then the connection is closed. */
static int discard_worth(struct http_req *req)
{
	int64_t clen;

	if (body_announced(req, &clen) && clen >= 0)
		return (uint64_t)clen <= req->discard_until;
	return 1;
}

/* The first call (and, while on_headers suspends the request, the call
 * after each resume): the headers are in, no body byte has been read. Never
 * respond here (see http.h), except to refuse a request whose body we will
 * not read: libmicrohttpd 0.9.75 accepts a response only while no body byte
 * was read (this call, also when it is repeated after a resume) or after
 * the whole body, and an early one closes the connection, which is what a
 * refused upload deserves. */
static enum MHD_Result headers_done(struct http_req *req, const char *method)
{
	struct http_watch_conn *wc = watch_of(req->conn);
	int64_t clen;

	if (req->state == REQ_NEW) {
		begin(req, method);
		if (req->state == REQ_NEW)
			req->state = REQ_BODY; /* refused before routing */
	} else {
		headers_call(req); /* resumed: on_headers again */
	}
	if (req->state == REQ_HEADERS) {
		http_watch_busy(req->srv->watch, wc); /* waits for us, not the client */
		return MHD_YES;
	}
	if (req->err_status && body_announced(req, &clen)) {
		struct conn_ctx *ctx = ctx_of(req->conn);

		if (ctx) /* the client may be sending the body: no reset */
			ctx->linger = 1;
		http_watch_busy(req->srv->watch, wc);
		return respond_err(req);
	}
	http_watch_headers_done(req->srv->watch, wc, body_announced(req, &clen));
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_req *req = *con_cls;
	int rc;

	(void)cls;
	(void)url;
	(void)version;
	if (!req)
		return MHD_NO;
	req->conn = conn;
	if (req->handoff && atomic_load(&req->handoff->finished))
		return MHD_NO; /* a loop sent the response: close (it said so) */
	if (req->state == REQ_NEW || req->state == REQ_HEADERS)
		return headers_done(req, method);
	if (req->state == REQ_DONE) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		struct http_watch_conn *wc = watch_of(conn);

		*upload_data_size = 0;
		if (req->err_status) {
			/* Failed mid-body: discard a little, then hang up. */
			http_watch_body(wc, n);
			http_watch_body_done(wc);
			req->body_seen += n;
			return req->body_seen > req->discard_until ? MHD_NO : MHD_YES;
		}
		http_watch_body(wc, n);
		if ((rc = body_chunk(req, upload_data, n)) != 0) {
			req->err_status = http_status_of(req->err_rc = rc);
			req->discard_until = req->body_seen + HTTP_DISCARD_MAX;
		}
		http_watch_body_done(wc);
		return rc && !discard_worth(req) ? MHD_NO : MHD_YES;
	}
	http_watch_busy(req->srv->watch, watch_of(conn));
	return complete(req);
}

static const char *log_path(const struct http_req *req)
{
	static const char *const secret_prefixes[] = {"/s/", "/m/", "/u/"};

	if (req->route && strchr(req->route->def.pattern, '{'))
		return req->route->def.pattern;
	if (!req->path)
		return "-";
	for (size_t i = 0; i < AM_ARRAY_LEN(secret_prefixes); i++)
		if (strncmp(req->path, secret_prefixes[i], 3) == 0)
			return secret_prefixes[i];
	return req->path;
}

static const char *outcome(enum MHD_RequestTerminationCode toe)
{
	switch (toe) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "ok";
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "shutdown";
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client_abort";
	default: return "error";
	}
}

/* MHD_OPTION_NOTIFY_COMPLETED: access log line, then free the request. Never
 * the client address, the query string or a token (log_path). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_req *req = *con_cls;
	char status[8], bytes[24], ms[24];
	char path[256];
	uint64_t sent;
	int64_t us;

	/* Sent (or given up): on keep-alive the next request's headers are due
	 * header_timeout from now. */
	http_watch_next_request(s->watch, watch_of(conn));
	if (!req)
		return;
	sent = req->stream_bytes ? atomic_load(req->stream_bytes) : req->bytes;
	us = am_mono_us() - req->start_us;
	/* A response never queued was never sent, whatever was prepared. */
	metrics_request(req->mroute, req->state == REQ_DONE ? req->status : 0, us, sent,
			req->body_seen);
	snprintf(status, sizeof(status), "%u", req->status);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)sent);
	snprintf(ms, sizeof(ms), "%lld", (long long)(us / 1000));
	am_strlcpy(path, log_path(req), sizeof(path));
	am_log(AM_LOG_INFO, "access", "method", req->method ? req->method_str : "-", "path", path,
	       "status", status, "bytes", bytes, "ms", ms, "outcome",
	       req->handoff ? req->handoff->outcome : outcome(toe));
	*con_cls = NULL;
	http_req_release(req);
	atomic_fetch_sub(&s->inflight, 1);
}

/* The plaintext listener: nothing but a 301 to the https URL. */
static enum MHD_Result on_redirect(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct http_req *req = *con_cls;
	struct am_buf loc;
	int rc;

	(void)url;
	(void)version;
	(void)upload_data;
	if (!req)
		return MHD_NO;
	req->conn = conn;
	if (req->state == REQ_NEW) {
		am_strlcpy(req->method_str, method, sizeof(req->method_str));
		req->method = http_method_of(method);
		if (!req->err_status)
			parse_target(req);
		req->state = REQ_BODY;
		http_watch_busy(s->watch, watch_of(conn)); /* a body is never read here */
		return MHD_YES;
	}
	if (*upload_data_size || req->state == REQ_DONE) {
		*upload_data_size = 0; /* a body is never read here */
		return MHD_YES;
	}
	am_buf_init(&loc, CONF_STR_MAX + HTTP_MAX_URI);
	rc = am_buf_printf(&loc, "%s%s", s->c.public_url, req->path ? req->path : "/");
	rc = rc ? rc : http_add_header(req, "Location", (const char *)loc.p);
	am_buf_cleanup(&loc);
	if (rc || http_respond_bytes(req, 301, "text/plain; charset=utf-8", "use https\n", 10, 0))
		return MHD_NO;
	return queue(req);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* libmicrohttpd's own messages (TLS handshake failures and the like):
 * debug level, they can be triggered at will by any client. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	am_log(AM_LOG_DEBUG, "mhd", "msg", msg);
}
#pragma GCC diagnostic pop

/* Resolve HOST:PORT, then socket + bind + listen (non-blocking): binding
 * before the daemon starts tells the caller the real port (listen port 0)
 * before any route is built, so public_url can name it. */
int http_bind_listen(const char *listen_addr, int *fd_out, uint16_t *port_out, char *err,
		     size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[8];
	uint16_t p;
	int g, fd = -1, one = 1, lowat = HTTP_NOTSENT_LOWAT, rc = AM_ERR_IO;

	if (conf_split_listen(listen_addr, host, sizeof(host), &p)) {
		snprintf(err, errlen, "cannot parse listen address \"%s\"", listen_addr);
		return AM_ERR_INVAL;
	}
	snprintf(port, sizeof(port), "%u", (unsigned)p);
	if ((g = getaddrinfo(host, port, &hints, &ai)) != 0 || !ai) {
		snprintf(err, errlen, "cannot resolve \"%s\": %s", host, gai_strerror(g));
		return AM_ERR_INVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", listen_addr, strerror(errno));
		goto out;
	}
	/* Accepted connections inherit it (Linux). A kernel that refuses it
	 * only lets responses run further ahead of the client: not fatal. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return rc;
}

/* Header budget: our own 431 (with the security headers) fires before
 * libmicrohttpd's pool runs out and answers on its own. */
static size_t header_budget(const struct conf *c)
{
	size_t quarter = (size_t)c->connection_memory / 4;
	return quarter < HTTP_MAX_HEADERS ? quarter : HTTP_MAX_HEADERS;
}

int http_server_new(const struct conf *c, struct http_server **out, char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return AM_ERR_NOMEM;
	s->fd = s->redir_fd = s->wake_fd = -1;
	s->c = *c;
	s->c.secret = NULL; /* the server needs no credentials: keep no pointer to them */
	s->max_headers = header_budget(c);
	if ((rc = http_tls_load(c->tls_cert, c->tls_key, err, errlen)) != 0 ||
	    (rc = http_bind_listen(c->listen, &s->fd, &s->port, err, errlen)) != 0 ||
	    (*c->redirect_listen && (rc = http_bind_listen(c->redirect_listen, &s->redir_fd,
							   &s->redir_port, err, errlen)) != 0)) {
		http_server_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void http_server_set_public_url(struct http_server *s, const char *url)
{
	am_strlcpy(s->c.public_url, url, sizeof(s->c.public_url));
}

/* Options both daemons share: limits, callbacks, logger. */
#define COMMON_OPTIONS(s)                                                                          \
	MHD_OPTION_CONNECTION_LIMIT, (unsigned)(s)->c.max_connections,                             \
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(s)->c.per_ip_connections,               \
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(s)->c.connection_timeout,                    \
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(s)->c.connection_memory,                  \
	    MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_URI_LOG_CALLBACK, on_uri, (s),             \
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, (s), MHD_OPTION_NOTIFY_CONNECTION,          \
	    on_connection, (s), MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL

/* The accept loop. One thread takes every new HTTPS connection and hands it
 * to the daemon (MHD_add_connection), which spreads connections over its
 * threads by descriptor number, so consecutive connections alternate.
 * libmicrohttpd's own accept lets the first worker thread that wakes take
 * up to 10 connections in a row: a burst (a browser's parallel requests, a
 * download manager's ranges, wrk) landed on one thread, and 4 streams used
 * one of two cores (docs/benchmarks.md, "media_stream"). Limits are the
 * daemon's: beyond max_connections or per_ip_connections MHD_add_connection
 * closes the socket at once, as libmicrohttpd's own accept did. */
static void *accept_loop(void *arg)
{
	struct http_server *s = arg;
	struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
			      {.fd = s->wake_fd, .events = POLLIN}};

	while (!atomic_load(&s->stop_accept)) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(s->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
		int again;

		if (fd >= 0) {
			(void)MHD_add_connection(s->d, fd, (struct sockaddr *)&ss,
						 sl); /* closes on failure */
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		/* EAGAIN: wait for the next connection. Out of descriptors or
		 * memory: the backlog waits 100 ms. A stop wakes either wait. */
		again = errno == EAGAIN || errno == EWOULDBLOCK;
		if (poll(again ? p : p + 1, again ? 2 : 1, again ? -1 : 100) < 0 && errno != EINTR)
			break;
	}
	return NULL;
}

int http_server_start(struct http_server *s, struct http_router *r, char *err, size_t errlen)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS |
			 MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	long threads = s->c.threads ? (long)s->c.threads : sysconf(_SC_NPROCESSORS_ONLN);

	s->router = r;
	if (http_watch_new(s->c.header_timeout * 1000, s->c.body_min_rate,
			   s->c.body_rate_window * 1000, &s->watch) != 0) {
		snprintf(err, errlen, "cannot start the connection watchdog");
		return AM_ERR_IO;
	}
	if (http_linger_new(&s->linger) != 0) {
		snprintf(err, errlen, "cannot start the lingering close");
		return AM_ERR_IO;
	}
	if (http_loops_new((size_t)(threads > 0 ? threads : 1), s->c.connection_timeout * 1000,
			   &s->loops) != 0) {
		snprintf(err, errlen, "cannot start the streaming loops");
		return AM_ERR_IO;
	}
	s->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, COMMON_OPTIONS(s), MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)(threads > 0 ? threads : 1), MHD_OPTION_HTTPS_PRIORITIES, http_tls_priorities,
	    MHD_OPTION_HTTPS_CERT_CALLBACK, http_tls_cert_callback(), MHD_OPTION_END);
	if (!s->d || (s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    pthread_create(&s->acceptor, NULL, accept_loop, s) != 0) {
		snprintf(err, errlen, "cannot start the HTTPS server on %s", s->c.listen);
		return AM_ERR_IO;
	}
	s->accepting = 1;
	if (s->redir_fd < 0)
		return 0;
	s->redir =
	    MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
			     NULL, NULL, on_redirect, s, COMMON_OPTIONS(s),
			     MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->redir_fd, MHD_OPTION_END);
	if (!s->redir) {
		snprintf(err, errlen, "cannot start the redirect listener on %s",
			 s->c.redirect_listen);
		return AM_ERR_IO;
	}
	s->redir_fd = -1;
	return 0;
}

/* Stop taking connections: the accept loop ends and the listening socket
 * closes, so new clients are refused by the kernel. */
static void stop_accepting(struct http_server *s)
{
	uint64_t one = 1;

	if (s->accepting) {
		atomic_store(&s->stop_accept, 1);
		if (write(s->wake_fd, &one, sizeof(one)) != sizeof(one))
			am_log(AM_LOG_WARN, "http_accept_stop", "error", strerror(errno));
		pthread_join(s->acceptor, NULL);
		s->accepting = 0;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

uint16_t http_server_port(const struct http_server *s)
{
	return s->port;
}

uint16_t http_server_redirect_port(const struct http_server *s)
{
	return s->redir_port;
}

int http_server_reload_tls(struct http_server *s, char *err, size_t errlen)
{
	return http_tls_load(s->c.tls_cert, s->c.tls_key, err, errlen);
}

/* libmicrohttpd 0.9.75 aborts the process when it is stopped with a
 * connection suspended, so a request a job still holds past the grace (an
 * upload part's commit to a slow store) is waited for, said at once and
 * every 5 s. */
static void wait_resumed(struct http_server *s)
{
	int64_t next = am_mono_ms(); /* said at once, then every 5 s */
	long n;

	while ((n = atomic_load(&s->suspended)) > 0) {
		if (am_mono_ms() >= next) {
			char v[24];

			snprintf(v, sizeof(v), "%ld", n);
			am_log(AM_LOG_WARN, "http_shutdown_waiting", "suspended", v);
			next += 5000;
		}
		usleep(20000);
	}
}

int http_server_shutdown(struct http_server *s, int64_t grace_ms)
{
	int64_t deadline = am_mono_ms() + grace_ms;
	long left;

	atomic_store(&s->draining, 1);
	if (s->redir) {
		MHD_stop_daemon(s->redir);
		s->redir = NULL;
	}
	stop_accepting(s);
	while ((left = atomic_load(&s->inflight)) > 0 && am_mono_ms() < deadline)
		usleep(20000);
	http_loops_stop(s->loops); /* the daemon must not stop with one suspended */
	wait_resumed(s);
	if (s->d) {
		MHD_stop_daemon(s->d);
		s->d = NULL;
	}
	return (int)left;
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	stop_accepting(s);
	if (s->redir)
		MHD_stop_daemon(s->redir);
	http_loops_stop(s->loops);
	if (s->d)
		MHD_stop_daemon(s->d);
	http_loops_free(s->loops);
	http_watch_free(s->watch); /* after the daemons: they notified every close */
	http_linger_free(s->linger);
	if (s->redir_fd >= 0)
		close(s->redir_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	http_tls_cleanup();
	free(s);
}
