/*
 * store_s3_http.c: one signed S3 request over libcurl, for the S3 backend.
 * SigV4 is libcurl's CURLOPT_AWS_SIGV4 with the caller-side work libcurl
 * 7.88 needs (../shared/recipes/README.md): we send x-amz-content-sha256
 * ourselves (the real SHA-256 of every body we send), pass the credentials
 * with CURLOPT_USERNAME/PASSWORD (access keys may contain ':'), and build
 * canonical URLs (keys are [a-z0-9/.] by construction, query parameters are
 * sorted and percent-encoded by the callers through s3_uri_encode).
 * Connections, DNS and TLS sessions are shared between a small pool of easy
 * handles; transient failures (the network, timeouts, 429, 5xx) are retried
 * with jittered backoff, permanent ones (a TLS handshake the peer or we
 * refuse, 4xx answers such as a rejected signature or a missing bucket)
 * fail at the first attempt with a message that names the cause.
 *
 * Runs in the media and worker roles. Trust boundary: the server is an
 * untrusted peer: headers and bodies are read into fixed or capped buffers,
 * and messages never carry the secret key (libcurl's own messages do not
 * include credentials, and we never format them).
 */
#include "store/store_s3_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/util.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- share and pool ------------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *arg)
{
	struct s3_store *s = arg;

	(void)h;
	(void)a;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&s->share_locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *arg)
{
	struct s3_store *s = arg;

	(void)h;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&s->share_locks[d]);
}

int s3_http_init(struct s3_store *s, char *emsg)
{
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->share_locks[i], NULL);
	pthread_mutex_init(&s->pool_lock, NULL);
	if (!(s->share = curl_share_init()))
		return AM_ERR_NOMEM;
	if (curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s) ||
	    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) ||
	    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT))
		return store_fail(emsg, AM_ERR_INTERNAL, "storage: curl share setup failed");
	return 0;
}

void s3_http_cleanup(struct s3_store *s)
{
	for (unsigned i = 0; i < s->npool; i++)
		curl_easy_cleanup(s->pool[i]);
	s->npool = 0;
	if (s->share)
		curl_share_cleanup(s->share);
	s->share = NULL;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->share_locks[i]);
	pthread_mutex_destroy(&s->pool_lock);
}

static CURL *handle_get(struct s3_store *s)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s->pool_lock);
	if (s->npool > 0)
		h = s->pool[--s->npool];
	pthread_mutex_unlock(&s->pool_lock);
	return h ? h : curl_easy_init();
}

static void handle_put(struct s3_store *s, CURL *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&s->pool_lock);
	if (s->npool < S3_POOL_MAX) {
		s->pool[s->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- helpers ---------------------------------------------------------------- */

int s3_uri_encode(struct am_buf *b, const char *src, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
			rc = am_buf_append(b, &c, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			rc = am_buf_append(b, e, 3);
		}
		if (rc)
			return rc;
	}
	return 0;
}

long store_s3_backoff_ms(int attempt, int base_ms, int cap_ms, uint32_t rnd)
{
	long d = base_ms > 0 ? base_ms : 1;
	long half;

	for (int i = 0; i < attempt && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms > 0 ? cap_ms : 1;
	half = d / 2;
	return half + (long)(rnd % (uint32_t)(half + 1));
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static int sha256_hex(const uint8_t *p, size_t n, char out[65], char *emsg)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return store_fail(emsg, AM_ERR_INTERNAL, "storage: SHA-256 failed");
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = 0;
	return 0;
}

/* The request URL: base [/ prefix key] [? query]. */
static int build_url(struct s3_store *s, const struct s3_req *rq, struct am_buf *u)
{
	char *emsg = rq->emsg;
	int rc = am_buf_puts(u, s->base_url);

	if (!rc && rq->key) {
		rc = am_buf_puts(u, "/");
		if (!rc)
			rc = s3_uri_encode(u, s->prefix, strlen(s->prefix), 1);
		if (!rc)
			rc = s3_uri_encode(u, rq->key, strlen(rq->key), 1);
	} else if (!rc && !s->path_style) {
		rc = am_buf_puts(u, "/"); /* virtual-host style: the bucket is "/" */
	}
	if (!rc && rq->query && *rq->query) {
		rc = am_buf_puts(u, "?");
		if (!rc)
			rc = am_buf_puts(u, rq->query);
	}
	return rc ? store_fail(emsg, AM_ERR_INVAL, "storage: s3 request URL too long") : 0;
}

/* ---- callbacks -------------------------------------------------------------- */

struct s3_xfer {
	struct s3_req *rq;
	CURL *h;
	size_t body_off;
};

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_xfer *x = arg;
	size_t room = size * nitems, left = x->rq->body_len - x->body_off;
	size_t n = left < room ? left : room;

	if (n)
		memcpy(buf, x->rq->body + x->body_off, n);
	x->body_off += n;
	return n;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct s3_xfer *x = arg;
	struct s3_req *rq = x->rq;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		size_t room = sizeof(rq->errbody) - 1 - rq->errbody_len;
		size_t k = n < room ? n : room;
		memcpy(rq->errbody + rq->errbody_len, p, k);
		rq->errbody_len += k;
		rq->errbody[rq->errbody_len] = 0;
		return n;
	}
	if (rq->sink) {
		int e;
		rq->status = status;
		if ((e = rq->sink(rq->arg, rq, (const uint8_t *)p, n)) != 0) {
			rq->sink_err = e;
			rq->aborted_by_us = 1;
			return 0;
		}
		rq->sunk += n;
		return n;
	}
	if (rq->dst) {
		if (n > rq->dst_len - rq->dst_got) {
			rq->aborted_by_us = 1;
			return 0; /* more than we asked for: refuse */
		}
		memcpy(rq->dst + rq->dst_got, p, n);
		rq->dst_got += n;
		return n;
	}
	if (rq->xml && am_buf_append(rq->xml, p, n)) {
		rq->aborted_by_us = 1;
		return 0;
	}
	return n;
}

/* Polled by libcurl during the transfer (at least once a second). */
static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct s3_req *rq = ((struct s3_xfer *)arg)->rq;
	char *emsg = rq->emsg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	if (rq->cancel && rq->cancel(rq->arg)) {
		rq->sink_err = store_fail(emsg, AM_ERR_IO, "s3: request cancelled");
		rq->aborted_by_us = 1;
		return 1;
	}
	return 0;
}

/* Value of header line "Name: value" when it is name, trimmed, else NULL. */
static const char *header_value(const char *line, size_t n, const char *name, size_t *vlen)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
		return NULL;
	line += k + 1;
	n -= k + 1;
	while (n && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	*vlen = n;
	return line;
}

static size_t header_cb(char *p, size_t size, size_t nitems, void *arg)
{
	struct s3_req *rq = ((struct s3_xfer *)arg)->rq;
	size_t n = size * nitems, vl;
	const char *v;
	char tmp[64];

	if (n >= 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (after 100) */
		rq->has_length = 0;
		rq->has_range_total = 0;
		rq->etag[0] = 0;
		rq->last_modified = 0;
	} else if ((v = header_value(p, n, "ETag", &vl)) && vl < sizeof(rq->etag)) {
		memcpy(rq->etag, v, vl);
		rq->etag[vl] = 0;
	} else if ((v = header_value(p, n, "Content-Length", &vl)) && vl > 0 && vl < 21) {
		int64_t x;
		memcpy(tmp, v, vl);
		tmp[vl] = 0;
		if (am_parse_i64(tmp, 0, INT64_MAX, &x) == 0) {
			rq->length = (uint64_t)x;
			rq->has_length = 1;
		}
	} else if ((v = header_value(p, n, "Content-Range", &vl)) && vl < sizeof(tmp)) {
		char *slash, *dash;
		int64_t x, a;
		memcpy(tmp, v, vl);
		tmp[vl] = 0;
		slash = strchr(tmp, '/');
		dash = strchr(tmp, '-');
		if (!strncmp(tmp, "bytes ", 6) && slash && dash && dash < slash) {
			*dash = 0;
			if (am_parse_i64(tmp + 6, 0, INT64_MAX, &a) == 0 &&
			    am_parse_i64(slash + 1, 0, INT64_MAX, &x) == 0) {
				rq->range_first = (uint64_t)a;
				rq->range_total = (uint64_t)x;
				rq->has_range_total = 1;
			}
		}
	} else if ((v = header_value(p, n, "Last-Modified", &vl)) && vl < sizeof(tmp)) {
		time_t t;
		memcpy(tmp, v, vl);
		tmp[vl] = 0;
		t = curl_getdate(tmp, NULL);
		rq->last_modified = t > 0 ? (int64_t)t : 0;
	}
	return n;
}

/* ---- one attempt -------------------------------------------------------------- */

static int set_common(struct s3_store *s, CURL *h, struct s3_xfer *x, const char *url, char *errbuf)
{
	char *emsg = x->rq->emsg;
	CURLcode e = CURLE_OK;

	curl_easy_reset(h);
#define SET(o, v)                                                                                  \
	if (e == CURLE_OK)                                                                         \
	e = curl_easy_setopt(h, o, v)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_SHARE, s->share);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	/* "TLS 1.2+ on all connections" includes the one to the object store,
	 * whatever the system's OpenSSL default is. */
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_AWS_SIGV4, s->sigv4);
	SET(CURLOPT_USERNAME, s->access);
	SET(CURLOPT_PASSWORD, s->secret);
	SET(CURLOPT_CONNECTTIMEOUT_MS, s->tune.connect_timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, s->tune.low_speed_time_s);
	SET(CURLOPT_TIMEOUT_MS, s->tune.timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_BUFFERSIZE, 256L * 1024);
	SET(CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, x);
	if (*s->cainfo)
		SET(CURLOPT_CAINFO, s->cainfo);
	if (x->rq->cancel) {
		SET(CURLOPT_XFERINFOFUNCTION, progress_cb);
		SET(CURLOPT_XFERINFODATA, x);
		SET(CURLOPT_NOPROGRESS, 0L);
	}
#undef SET
	return e == CURLE_OK ? 0 : store_fail(emsg, AM_ERR_INTERNAL, "storage: curl setup failed");
}

static int set_method(CURL *h, struct s3_req *rq, struct s3_xfer *x)
{
	char *emsg = rq->emsg;
	CURLcode e = CURLE_OK;
	const char *m = rq->method;

	if (!strcmp(m, "HEAD"))
		e = curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (!strcmp(m, "PUT")) {
		e = curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		if (e == CURLE_OK)
			e = curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		if (e == CURLE_OK)
			e = curl_easy_setopt(h, CURLOPT_READDATA, x);
		if (e == CURLE_OK) /* a Content-Length: AWS refuses chunked PUTs */
			e = curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
	} else if (!strcmp(m, "POST")) {
		e = curl_easy_setopt(h, CURLOPT_POST, 1L);
		if (e == CURLE_OK)
			e = curl_easy_setopt(h, CURLOPT_POSTFIELDS,
					     rq->body ? (const char *)rq->body : "");
		if (e == CURLE_OK)
			e = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					     (curl_off_t)rq->body_len);
	} else if (!strcmp(m, "DELETE")) {
		e = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else if (strcmp(m, "GET")) {
		return store_fail(emsg, AM_ERR_INTERNAL, "storage: unknown method");
	}
	return e == CURLE_OK ? 0 : store_fail(emsg, AM_ERR_INTERNAL, "storage: curl setup failed");
}

static int add_header(struct curl_slist **l, const char *name, const char *value, char *emsg)
{
	char line[S3_UPLOAD_ID_MAX + 64];
	struct curl_slist *n;
	int k = snprintf(line, sizeof(line), "%s: %s", name, value);

	if (k < 0 || (size_t)k >= sizeof(line))
		return store_fail(emsg, AM_ERR_INVAL, "storage: header %s too long", name);
	if (!(n = curl_slist_append(*l, line)))
		return AM_ERR_NOMEM;
	*l = n;
	return 0;
}

static int build_headers(struct s3_req *rq, const char *hash, struct curl_slist **l)
{
	int rc = add_header(l, "x-amz-content-sha256", hash, rq->emsg);
	int body = !strcmp(rq->method, "PUT") || !strcmp(rq->method, "POST");

	if (!rc && body)
		rc = add_header(l, "Content-Type",
				rq->content_type ? rq->content_type : "application/octet-stream",
				rq->emsg);
	if (!rc && rq->range)
		rc = add_header(l, "Range", rq->range, rq->emsg);
	if (!rc && rq->if_match)
		rc = add_header(l, "If-Match", rq->if_match, rq->emsg);
	return rc;
}

/* Pull <Code> out of an XML error body. */
static void parse_error_code(struct s3_req *rq)
{
	struct s3_str in = {rq->errbody, rq->errbody_len};

	rq->code[0] = 0;
	if (s3_xml_text(in, "Code", rq->code, sizeof(rq->code)))
		rq->code[0] = 0;
}

/* A TLS handshake that failed on a decision, ours or the peer's (an alert,
 * no common protocol version or cipher, a certificate problem, TLS spoken to
 * a plain-HTTP port), fails the same way every time; one cut short by the
 * network (a reset, an early EOF, a timeout) may not. libcurl reports both as
 * CURLE_SSL_CONNECT_ERROR; its message (OpenSSL's reason) tells them apart. */
static int tls_refusal(const char *msg)
{
	static const char *const marks[] = {
	    "alert",		      /* the peer refused: "tlsv1 alert protocol version", ... */
	    "wrong version number",   /* not TLS at all (an http:// port) */
	    "unsupported protocol",   /* no version in common */
	    "no protocols available", /* ditto, our side */
	    "no shared cipher",	      /* no cipher in common */
	    "no ciphers available",
	    "handshake failure",
	    "certificate",
	};

	for (size_t i = 0; i < AM_ARRAY_LEN(marks); i++)
		if (strstr(msg, marks[i]))
			return 1;
	return 0;
}

/* A transport failure (no HTTP answer) as an am_err with a message; *retry
 * says whether another try may help. */
static int transport_error(CURLcode e, const char *errbuf, const char *what, int *retry, char *emsg)
{
	const char *m = *errbuf ? errbuf : curl_easy_strerror(e);

	*retry = 0;
	if (e == CURLE_SSL_CONNECT_ERROR && tls_refusal(m))
		return store_fail(
		    emsg, AM_ERR_IO, "s3 %s: TLS handshake refused (%s): %s; not retried", what, m,
		    strstr(m, "wrong version number")
			? "the endpoint does not speak TLS (http:// instead of https://?)"
			: "the endpoint must offer TLS 1.2 or newer and a modern cipher");
	switch (e) {
	case CURLE_SSL_CONNECT_ERROR: /* cut short by the network (see tls_refusal) */
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST: /* DNS can be down for a moment */
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		*retry = 1;
		return store_fail(emsg, AM_ERR_UNAVAIL, "s3 %s: %s", what, m);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return store_fail(
		    emsg, AM_ERR_IO,
		    "s3 %s: TLS verification failed (%s); set s3_ca_file for a private CA", what,
		    m);
	default: /* a setup or protocol error that recurs: not retried */
		return store_fail(emsg, AM_ERR_IO, "s3 %s: %s", what, m);
	}
}

/* One try. Returns 0 (any HTTP status: rq->status) or an am_err for a
 * transport failure; *retry says whether another try may help. */
static int s3_once(struct s3_store *s, CURL *h, struct s3_req *rq, const char *url,
		   struct curl_slist *hdrs, const char *what, int *retry)
{
	struct s3_xfer x = {.rq = rq, .h = h, .body_off = 0};
	char errbuf[CURL_ERROR_SIZE] = "", *emsg = rq->emsg;
	CURLcode e;
	int rc;

	*retry = 0;
	rq->status = 0;
	rq->dst_got = 0;
	rq->errbody_len = 0;
	rq->errbody[0] = 0;
	rq->code[0] = 0;
	rq->aborted_by_us = 0;
	rq->sunk = 0;
	rq->sink_err = 0;
	rq->has_length = 0;
	rq->has_range_total = 0;
	rq->etag[0] = 0;
	rq->last_modified = 0;
	if (rq->xml)
		am_buf_reset(rq->xml);
	if ((rc = set_common(s, h, &x, url, errbuf)) || (rc = set_method(h, rq, &x)))
		return rc;
	if (curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK)
		return store_fail(emsg, AM_ERR_INTERNAL, "storage: curl setup failed");
	__atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
	e = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rq->status);
	if (e == CURLE_OK)
		return 0;
	if (rq->sink_err) /* the sink or cancel recorded its own message */
		return rq->sink_err;
	if (rq->aborted_by_us)
		return store_fail(emsg, AM_ERR_IO, "s3 %s: response larger than expected", what);
	return transport_error(e, errbuf, what, retry, emsg);
}

/* Whether another try of a finished non-2xx answer may help: S3's own
 * "slow down" and "try again" answers, 429 and 5xx (but 501 Not Implemented
 * and 505, which recur). Every other 4xx (a rejected signature, an unknown
 * key id, a missing bucket, a denied permission) answers the same next time. */
static int retryable_status(const struct s3_req *rq)
{
	if (!strcmp(rq->code, "SlowDown") || !strcmp(rq->code, "RequestTimeout") ||
	    !strcmp(rq->code, "InternalError") || !strcmp(rq->code, "ServiceUnavailable"))
		return 1;
	return rq->status == 429 || (rq->status >= 500 && rq->status != 501 && rq->status != 505);
}

/* Map a finished non-2xx answer to an am_err with a message. */
static int map_status(const struct s3_req *rq, const char *what)
{
	char *emsg = rq->emsg;
	long st = rq->status;
	const char *code = *rq->code ? rq->code : "";

	if (st == 404 && !strcmp(code, "NoSuchBucket")) /* not "no such object": misconfigured */
		return store_fail(
		    emsg, AM_ERR_IO,
		    "s3 %s: 404 NoSuchBucket: the bucket does not exist (check BUCKET "
		    "and endpoint in storage = s3://BUCKET?...)",
		    what);
	if (st == 404)
		return store_fail(emsg, AM_ERR_NOTFOUND, "s3 %s: not found (404%s%s)", what,
				  *code ? " " : "", code);
	if (st == 403) {
		const char *hint = "access denied: check the bucket policy and s3_access_key";
		if (!strcmp(code, "SignatureDoesNotMatch"))
			hint = "signature rejected: s3_secret_key does not match the access key "
			       "(or the region is wrong)";
		else if (!strcmp(code, "InvalidAccessKeyId"))
			hint = "unknown access key: check s3_access_key";
		else if (!strcmp(code, "RequestTimeTooSkewed"))
			hint = "clock skew: fix this machine's clock (NTP)";
		else if (!strcmp(code, "AccessDenied"))
			hint = "the key lacks a permission on the bucket: check the bucket policy "
			       "(docs/storage.md, Providers)";
		else if (!*code)
			hint = "access denied or bad signature: check s3_access_key, "
			       "s3_secret_key and region";
		return store_fail(emsg, AM_ERR_DENIED, "s3 %s: 403 %s: %s", what, code, hint);
	}
	if (st == 412 || st == 409)
		return store_fail(emsg, AM_ERR_CONFLICT, "s3 %s: %ld %s (object changed)", what, st,
				  code);
	if (st == 416)
		return store_fail(emsg, AM_ERR_RANGE, "s3 %s: 416 range not satisfiable", what);
	if (retryable_status(rq))
		return store_fail(emsg, AM_ERR_UNAVAIL, "s3 %s: %ld %s", what, st, code);
	return store_fail(emsg, AM_ERR_IO, "s3 %s: HTTP %ld %s", what, st, code);
}

/* Sleep ms before a retry, in slices when rq can be cancelled: 1 if it was. */
static int backoff(struct s3_req *rq, long ms)
{
	while (rq->cancel && ms > 20) {
		if (rq->cancel(rq->arg))
			return 1;
		sleep_ms(20);
		ms -= 20;
	}
	sleep_ms(ms);
	return rq->cancel && rq->cancel(rq->arg);
}

int s3_request(struct s3_store *s, struct s3_req *rq, const char *what)
{
	struct am_buf url;
	struct curl_slist *hdrs = NULL;
	char hash[65];
	CURL *h = NULL;
	char *emsg = rq->emsg;
	int rc, retry = 0, attempt;

	am_buf_init(&url, S3_URL_MAX);
	if ((rc = build_url(s, rq, &url)))
		goto out;
	if (rq->body_len)
		rc = sha256_hex(rq->body, rq->body_len, hash, emsg);
	else
		am_strlcpy(hash, EMPTY_SHA256, sizeof(hash));
	if (rc || (rc = build_headers(rq, hash, &hdrs)))
		goto out;
	if (!(h = handle_get(s))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	for (attempt = 0;; attempt++) {
		uint32_t rnd = 0;
		rc = s3_once(s, h, rq, (const char *)url.p, hdrs, what, &retry);
		if (rc == 0 && (rq->status < 200 || rq->status > 299)) {
			parse_error_code(rq);
			retry = retryable_status(rq);
			rc = map_status(rq, what);
		}
		if (rc == 0 || !retry || attempt + 1 >= s->tune.attempts || rq->sunk > 0)
			break;
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			rnd = 0;
		if (backoff(rq, store_s3_backoff_ms(attempt, s->tune.backoff_base_ms,
						    s->tune.backoff_cap_ms, rnd))) {
			retry = 0;
			rc = store_fail(emsg, AM_ERR_IO, "s3 %s: cancelled", what);
			break;
		}
	}
	if (rc && retry && rq->sunk == 0) { /* gave up: UNAVAIL (even a 400 RequestTimeout) */
		char m[400];
		am_strlcpy(m, emsg ? emsg : "", sizeof(m));
		rc = store_fail(emsg, AM_ERR_UNAVAIL, "%s (gave up after %d attempts)", m,
				attempt + 1);
	}
out:
	handle_put(s, h);
	curl_slist_free_all(hdrs);
	am_buf_cleanup(&url);
	return rc;
}
