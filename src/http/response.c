/*
 * response.c: building responses: bytes, JSON, empty, streamed, errors; the
 * security headers every response carries (DESIGN §7); cookies; and the one
 * mapping from enum am_err to HTTP status. Runs on server threads. Error
 * bodies are generic ("not found"): internal messages never reach a client.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/http_int.h"
#include "util/util.h"

/* The largest JSON answer we build (a hard cap, far above any real one). */
#define HTTP_JSON_MAX ((size_t)64 << 20)

/* DESIGN §7. The CSP forbids inline script and style, plugins, framing,
 * <base> and foreign form targets; the roles serve everything from 'self'. */
static const char *const security_headers[][2] = {
    {"Strict-Transport-Security", "max-age=63072000; includeSubDomains"},
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
};

unsigned http_status_of(int err)
{
	switch (err) {
	case AM_OK: return 200;
	case AM_ERR_INVAL: return 400;
	case AM_ERR_UNAUTH: return 401;
	case AM_ERR_DENIED: return 403;
	case AM_ERR_NOTFOUND: return 404;
	case AM_ERR_METHOD: return 405;
	case AM_ERR_EXISTS: return 409;
	case AM_ERR_CONFLICT: return 409;
	case AM_ERR_TOOBIG: return 413;
	case AM_ERR_UNSUPPORTED: return 415;
	case AM_ERR_RANGE: return 416;
	case AM_ERR_RATE: return 429;
	case AM_ERR_NOMEM: return 503;
	case AM_ERR_UNAVAIL: return 503;
	case AM_ERR_NOSPACE: return 503;
	case AM_ERR_READONLY: return 503;
	case AM_ERR_IO:
	case AM_ERR_CRYPTO:
	case AM_ERR_DB:
	case AM_ERR_INTERNAL:
	default: return 500;
	}
}

unsigned http_retry_after_of(int err)
{
	return err == AM_ERR_NOSPACE || err == AM_ERR_READONLY ? HTTP_RETRY_AFTER_STORAGE_S : 0;
}

const char *http_message_of(int err)
{
	switch (err) {
	case AM_ERR_NOSPACE:
		return "the server is out of space: nothing was saved, try again later";
	case AM_ERR_READONLY:
		return "the server's storage is read-only: nothing was saved, try again later";
	default: return NULL;
	}
}

static int header_text_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int http_add_header(struct http_req *req, const char *name, const char *value)
{
	char *n = NULL, *v = NULL;

	if (!*name || !header_text_ok(name) || !header_text_ok(value) || strchr(name, ':'))
		return AM_ERR_INVAL;
	if (req->nextra >= HTTP_MAX_EXTRA_HEADERS)
		return AM_ERR_TOOBIG;
	if (!(n = strdup(name)) || !(v = strdup(value))) {
		free(n);
		return AM_ERR_NOMEM;
	}
	req->extra[req->nextra][0] = n;
	req->extra[req->nextra++][1] = v;
	return 0;
}

int http_set_cookie(struct http_req *req, const char *name, const char *value, int64_t max_age,
		    unsigned flags)
{
	struct am_buf b;
	int rc;

	if (!http_cookie_name_ok(name) || !http_cookie_value_ok(value))
		return AM_ERR_INVAL;
	am_buf_init(&b, 4096);
	rc = am_buf_printf(&b, "%s=%s; Path=/; Secure; SameSite=%s%s", name, value,
			   (flags & HTTP_COOKIE_LAX) ? "Lax" : "Strict",
			   (flags & HTTP_COOKIE_HTTPONLY) ? "; HttpOnly" : "");
	if (!rc && max_age >= 0)
		rc = am_buf_printf(&b, "; Max-Age=%lld", (long long)max_age);
	if (!rc)
		rc = http_add_header(req, "Set-Cookie", (const char *)b.p);
	am_buf_cleanup(&b);
	return rc;
}

/* A header sink: 0 or AM_ERR_INVAL. */
typedef int header_fn(void *cls, const char *name, const char *value);

/* Every header of a response but those of its framing: the security
 * headers, the queued ones, Cache-Control unless one was queued,
 * Content-Type, and Connection: close while draining (when close_too). */
static int each_header(const struct http_req *req, const char *content_type, int close_too,
		       header_fn *fn, void *cls)
{
	int has_cache = 0, rc = 0;

	for (size_t i = 0; !rc && i < AM_ARRAY_LEN(security_headers); i++)
		rc = fn(cls, security_headers[i][0], security_headers[i][1]);
	for (size_t i = 0; !rc && i < req->nextra; i++) {
		if (strcasecmp(req->extra[i][0], "Cache-Control") == 0)
			has_cache = 1;
		rc = fn(cls, req->extra[i][0], req->extra[i][1]);
	}
	if (!rc && !has_cache)
		rc = fn(cls, "Cache-Control", "no-store");
	if (!rc && content_type)
		rc = fn(cls, "Content-Type", content_type);
	if (!rc && close_too && req->srv && http_server_draining(req->srv))
		rc = fn(cls, "Connection", "close");
	return rc;
}

static int mhd_header(void *cls, const char *name, const char *value)
{
	return MHD_add_response_header(cls, name, value) == MHD_YES ? 0 : AM_ERR_INVAL;
}

/* Attach the headers to r and keep it on req; takes r. */
static int finish(struct http_req *req, unsigned status, struct MHD_Response *r,
		  const char *content_type)
{
	if (!r)
		return AM_ERR_NOMEM;
	if (req->resp || req->handoff) { /* a handler responded twice: keep the first */
		MHD_destroy_response(r);
		return AM_ERR_INTERNAL;
	}
	if (each_header(req, content_type, 1, mhd_header, r) != 0) {
		MHD_destroy_response(r);
		return AM_ERR_INVAL;
	}
	req->resp = r;
	req->status = status;
	return 0;
}

int http_respond_bytes(struct http_req *req, unsigned status, const char *content_type,
		       const void *data, size_t n, int copy)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    n, (void *)data, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	int rc = finish(req, status, r, content_type);

	if (!rc)
		req->bytes = n;
	return rc;
}

int http_respond_pieces(struct http_req *req, unsigned status, const char *content_type,
			const struct http_piece *pieces, size_t npieces, void (*release)(void *),
			void *cls)
{
	struct MHD_IoVec iov[HTTP_PIECES_MAX];
	struct MHD_Response *r = NULL;
	size_t total = 0;
	int rc;

	if (npieces >= 1 && npieces <= HTTP_PIECES_MAX) {
		for (size_t i = 0; i < npieces; i++) {
			iov[i].iov_base = pieces[i].p;
			iov[i].iov_len = pieces[i].n;
			total += pieces[i].n;
		}
		/* MHD copies the array, not the bytes, and calls release when done */
		r = MHD_create_response_from_iovec(iov, (unsigned)npieces, release, cls);
	}
	if (!r)
		release(cls);
	if ((rc = finish(req, status, r, content_type)) == 0)
		req->bytes = total;
	return rc;
}

/* json_dump_callback sink: append to an am_buf. */
static int dump_to_buf(const char *p, size_t n, void *arg)
{
	return am_buf_append(arg, p, n) ? -1 : 0;
}

/* One pass over the tree (json_dumpb would need two: size, then bytes). */
int http_respond_json(struct http_req *req, unsigned status, const json_t *body)
{
	struct am_buf b;
	struct MHD_Response *r;
	size_t n;
	int rc;

	am_buf_init(&b, HTTP_JSON_MAX);
	if (json_dump_callback(body, dump_to_buf, &b, JSON_COMPACT) || am_buf_append(&b, "\n", 1)) {
		am_buf_cleanup(&b);
		return AM_ERR_NOMEM;
	}
	n = b.len;
	/* MHD takes the bytes and frees them with free() when sent. */
	r = MHD_create_response_from_buffer(n, b.p, MHD_RESPMEM_MUST_FREE);
	if (!r)
		am_buf_cleanup(&b);
	if ((rc = finish(req, status, r, "application/json")) == 0)
		req->bytes = n;
	return rc;
}

int http_respond_empty(struct http_req *req, unsigned status)
{
	return finish(req, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
		      NULL);
}

int http_respond_status(struct http_req *req, unsigned status)
{
	const char *reason = MHD_get_reason_phrase_for(status);
	json_t *j = json_pack("{s:s,s:i}", "error", reason && *reason ? reason : "error", "status",
			      (int)status);
	int rc;

	if (!j)
		return AM_ERR_NOMEM;
	rc = http_respond_json(req, status, j);
	json_decref(j);
	return rc;
}

int http_respond_error(struct http_req *req, int err)
{
	unsigned status = http_status_of(err), retry = http_retry_after_of(err);
	const char *msg = http_message_of(err);
	char num[16];
	json_t *j;
	int rc;

	if (retry) {
		snprintf(num, sizeof(num), "%u", retry);
		(void)http_add_header(req, "Retry-After", num);
	}
	if (!msg)
		return http_respond_status(req, status);
	if (!(j = json_pack("{s:s,s:i}", "error", msg, "status", (int)status)))
		return AM_ERR_NOMEM;
	rc = http_respond_json(req, status, j);
	json_decref(j);
	return rc;
}

struct stream {
	http_stream_fn *fn;
	void *arg;
	void (*free_fn)(void *);
	_Atomic uint64_t bytes;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	ssize_t n = s->fn(s->arg, pos, (uint8_t *)buf, max);

	if (n > 0) {
		s->bytes += (uint64_t)n;
		return n;
	}
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	if (s->free_fn)
		s->free_fn(s->arg);
	free(s);
}

static int head_line(void *cls, const char *name, const char *value)
{
	return am_buf_printf(cls, "%s: %s\r\n", name, value) ? AM_ERR_INVAL : 0;
}

/* The response's head as it goes on the wire: status line, headers (as
 * libmicrohttpd would send them, with its Date and Content-Length) and
 * Connection: close, since the connection ends with the body. */
static int handoff_head(const struct http_req *req, struct http_handoff *h, unsigned status,
			const char *content_type)
{
	static const char *const day[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	const char *reason = MHD_get_reason_phrase_for(status);
	time_t now = time(NULL);
	struct tm tm;

	if (!gmtime_r(&now, &tm) ||
	    am_buf_printf(&h->head, "HTTP/1.1 %u %s\r\n", status, reason ? reason : "") ||
	    each_header(req, content_type, 0, head_line, &h->head) ||
	    am_buf_printf(&h->head,
			  "Content-Length: %llu\r\nDate: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n"
			  "Connection: close\r\n\r\n",
			  (unsigned long long)h->size, day[tm.tm_wday % 7], tm.tm_mday,
			  mon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec))
		return AM_ERR_INVAL;
	return 0;
}

/* A large GET stream of a known size on a TLS server with loops: made into
 * a hand-over (server.c gives it to a loop once the handler returns). */
static int respond_handoff(struct http_req *req, unsigned status, const char *content_type,
			   int64_t size, size_t block, http_stream_fn *fn, void *arg,
			   void (*free_fn)(void *))
{
	struct http_handoff *h = calloc(1, sizeof(*h));
	int rc = AM_ERR_NOMEM;

	if (!h)
		goto out;
	h->req = req;
	h->fd = -1;
	h->fn = fn;
	h->arg = arg;
	h->free_fn = free_fn;
	h->block = block;
	h->size = (uint64_t)size;
	h->outcome = "error";
	am_buf_init(&h->head, HTTP_HANDOFF_HEAD_MAX);
	arg = NULL;
	rc = AM_ERR_INTERNAL;
	if (req->resp || req->handoff) /* a handler responded twice: keep the first */
		goto out;
	if ((rc = handoff_head(req, h, status, content_type)) != 0)
		goto out;
	req->handoff = h;
	req->status = status;
	req->stream_bytes = &h->bytes;
	h = NULL;
out:
	if (arg && free_fn)
		free_fn(arg);
	http_handoff_free(h);
	return rc;
}

void http_handoff_free(struct http_handoff *h)
{
	if (!h)
		return;
	if (h->free_fn)
		h->free_fn(h->arg);
	am_buf_cleanup(&h->head);
	free(h);
}

void http_respond_stream_view(struct http_req *req, http_stream_view_fn *view)
{
	if (req->handoff)
		req->handoff->view = view;
}

int http_respond_stream(struct http_req *req, unsigned status, const char *content_type,
			int64_t size, size_t block, http_stream_fn *fn, void *arg,
			void (*free_fn)(void *))
{
	struct stream *s;
	struct MHD_Response *r;
	int rc;

	block = block ? block : 65536;
	if (req->method == HTTP_GET && size >= HTTP_HANDOFF_MIN &&
	    (status == 200 || status == 206) && req->srv && http_server_loops(req->srv))
		return respond_handoff(req, status, content_type, size, block, fn, arg, free_fn);
	if (!(s = calloc(1, sizeof(*s)))) {
		if (free_fn)
			free_fn(arg);
		return AM_ERR_NOMEM;
	}
	s->fn = fn;
	s->arg = arg;
	s->free_fn = free_fn;
	r = MHD_create_response_from_callback(size < 0 ? MHD_SIZE_UNKNOWN : (uint64_t)size, block,
					      stream_read, s, stream_free);
	if (!r) {
		stream_free(s);
		return AM_ERR_NOMEM;
	}
	/* The response (kept on req until the request ends) keeps s alive. */
	if ((rc = finish(req, status, r, content_type)) == 0)
		req->stream_bytes = &s->bytes;
	return rc;
}
