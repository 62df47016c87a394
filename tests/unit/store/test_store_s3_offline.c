/*
 * test_store_s3_offline.c: the S3 backend without an S3 server: URL and
 * credential parsing, the XML reader, the backoff schedule, and the request
 * engine against a scripted in-process HTTP server that injects faults (503
 * then success, 503 forever, a hanging answer, 403 SignatureDoesNotMatch,
 * an oversized body, a hostile listing, continuation tokens that need
 * encoding), and streaming reads: resumed after a body cut short, pinned,
 * refusing a resumed answer of the wrong range or version). What is retried
 * and what is not, counted in connections and requests: TLS refusals (a
 * protocol-version or handshake-failure alert, TLS spoken to an HTTP port)
 * fail at the first attempt, a reset handshake is retried; 403 codes, 404
 * NoSuchBucket and 501 once, 500/429/RequestTimeout four times; and the
 * detail: a call's own (empty after a success, untouched by other calls),
 * and an S3 put's failure kept on the put and through the abort that
 * follows it. Always runs (no network beyond
 * loopback). Test code only.
 */
#include "store_conformance.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_s3_int.h"
#include "util/util.h"

#define SECRET "s3cr3t-Never-Shown-9f2"
#define KEY1   "orig/0123456789abcdef0123456789abcdef"

/* ---- scripted HTTP server -------------------------------------------------- */

#define FS_CONNS 8
#define FS_LOG	 16

struct fsrv {
	int lfd;
	uint16_t port;
	pthread_t t;
	const char *const *script; /* one raw response per request; the last repeats */
	int nscript;
	/* Or, for TLS clients: on a connection's first bytes (a ClientHello),
	 * write these hello_len bytes (e.g. a TLS alert) and close, or with
	 * hello_reset close at once with a TCP reset; each counts a request. */
	const char *hello;
	size_t hello_len;
	int hello_reset;
	int requests;
	char reqs[FS_LOG][2048]; /* request heads, in order */
	volatile int stop;
	pthread_mutex_t lock;
};

struct fconn {
	int fd;
	char buf[8192];
	size_t len;
	int64_t hang_until;
	int discard; /* answered before a large body: drop the rest of it */
};

/* A complete request head in c->buf: record it, skip its body, answer. */
static int fs_serve_one(struct fsrv *f, struct fconn *c)
{
	char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *cl;
	size_t head, body = 0;
	const char *resp;
	int i;

	if (!end)
		return 0;
	head = (size_t)(end - c->buf) + 4;
	c->buf[head - 1] = 0;
	if ((cl = strcasestr(c->buf, "\r\nContent-Length:")))
		body = (size_t)strtoul(cl + 17, NULL, 10);
	c->buf[head - 1] = '\n';
	if (head + body > c->len) {
		if (head + body <= sizeof(c->buf))
			return 0;     /* wait for the body */
		c->discard = 1;	      /* a body too large to keep (an UploadPart): */
		body = c->len - head; /* answer now, as S3 does to Expect: 100-continue */
	}
	pthread_mutex_lock(&f->lock);
	i = f->requests++;
	if (i < FS_LOG) {
		size_t k = head < sizeof(f->reqs[0]) - 1 ? head : sizeof(f->reqs[0]) - 1;
		memcpy(f->reqs[i], c->buf, k);
		f->reqs[i][k] = 0;
	}
	pthread_mutex_unlock(&f->lock);
	memmove(c->buf, c->buf + head + body, c->len - head - body);
	c->len -= head + body;
	resp = f->script[i < f->nscript ? i : f->nscript - 1];
	if (!strcmp(resp, "HANG")) {
		c->hang_until = am_mono_ms() + 3000;
		return 1;
	}
	if (write(c->fd, resp, strlen(resp)) < 0)
		return -1;
	return 1;
}

/* TLS mode: once the connection's first TLS record (the whole ClientHello)
 * is in, answer it, then hang up: returns 0. Until then 1 (read on): closing
 * with part of the hello unread would make the kernel send a reset, which
 * the client rightly retries, and this test would count a second hello
 * only when the machine was slow enough to split the first one. */
static ssize_t fs_hello(struct fsrv *f, struct fconn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (c->len < 5 ||
	    c->len < 5 + (((size_t)(unsigned char)c->buf[3] << 8) | (unsigned char)c->buf[4]))
		return c->len == sizeof(c->buf) ? 0 : 1;
	pthread_mutex_lock(&f->lock);
	f->requests++;
	pthread_mutex_unlock(&f->lock);
	if (f->hello_reset)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	else if (write(c->fd, f->hello, f->hello_len) < 0)
		return 0;
	return 0;
}

static void *fs_main(void *arg)
{
	struct fsrv *f = arg;
	struct fconn conns[FS_CONNS];
	int n = 0;

	while (!f->stop) {
		struct pollfd pf[FS_CONNS + 1];
		pf[0] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
		for (int i = 0; i < n; i++)
			pf[i + 1] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
		if (poll(pf, (nfds_t)n + 1, 50) <= 0)
			continue;
		if ((pf[0].revents & POLLIN) && n < FS_CONNS) {
			int fd = accept(f->lfd, NULL, NULL);
			if (fd >= 0)
				conns[n++] = (struct fconn){.fd = fd};
		}
		for (int i = 0; i < n; i++) {
			struct fconn *c = &conns[i];
			ssize_t r;
			if (!(pf[i + 1].revents & (POLLIN | POLLHUP)))
				continue;
			r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (r > 0)
				c->len += (size_t)r;
			if (c->discard)
				c->len = 0;
			if (r > 0 && (f->hello || f->hello_reset))
				r = fs_hello(f, c);
			while (r > 0 && c->hang_until == 0 && !c->discard && fs_serve_one(f, c) > 0)
				;
			if (r <= 0 || c->len == sizeof(c->buf)) {
				close(c->fd);
				conns[i--] = conns[--n];
			}
		}
	}
	for (int i = 0; i < n; i++)
		close(conns[i].fd);
	return NULL;
}

/* Start f, set up by the caller (script or hello). */
static void fs_run(struct fsrv *f)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	pthread_mutex_init(&f->lock, NULL);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->t, NULL, fs_main, f), 0);
}

static void fs_start(struct fsrv *f, const char *const *script, int nscript)
{
	memset(f, 0, sizeof(*f));
	f->script = script;
	f->nscript = nscript;
	fs_run(f);
}

/* A TLS endpoint that answers each ClientHello with hello (or a reset). */
static void fs_start_tls(struct fsrv *f, const char *hello, size_t hello_len, int reset)
{
	memset(f, 0, sizeof(*f));
	f->hello = hello;
	f->hello_len = hello_len;
	f->hello_reset = reset;
	fs_run(f);
}

static void fs_stop(struct fsrv *f)
{
	f->stop = 1;
	pthread_join(f->t, NULL);
	close(f->lfd);
	pthread_mutex_destroy(&f->lock);
}

/* Open an S3 store on the fake server (scheme "http" or "https") with fast
 * retries. */
static struct store *fs_store_scheme(struct fsrv *f, const char *scheme, const char *extra)
{
	struct store *s = NULL;
	struct s3_tuning t;
	char url[256];

	snprintf(url, sizeof(url), "s3://bucket-1?endpoint=%s://127.0.0.1:%u&path_style=1%s",
		 scheme, (unsigned)f->port, extra ? extra : "");
	assert_int_equal(store_open(url, &s, NULL), 0);
	store_s3_test_get_tune(s, &t);
	t.backoff_base_ms = 1;
	t.backoff_cap_ms = 4;
	t.timeout_ms = 400;
	t.connect_timeout_ms = 1000;
	store_s3_test_tune(s, &t);
	return s;
}

static struct store *fs_store(struct fsrv *f, const char *extra)
{
	return fs_store_scheme(f, "http", extra);
}

static int setup_env(void **state)
{
	setenv("AUDIOMUS_S3_ACCESS_KEY", "AKIDTEST:user", 1);
	setenv("AUDIOMUS_S3_SECRET_KEY", SECRET, 1);
	return 0;
}

#define R503                                                                                       \
	"HTTP/1.1 503 Slow Down\r\nContent-Length: 36\r\n\r\n<Error><Code>SlowDown</Code></Error>"
#define R412 "HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n\r\n"
#define RHEAD                                                                                      \
	"HTTP/1.1 200 OK\r\nContent-Length: 42\r\nETag: \"abc\"\r\nLast-Modified: Tue, 15 Nov "    \
	"1994 08:12:31 GMT\r\n\r\n"

/* ---- tests --------------------------------------------------------------------- */

static void retry_503_then_ok(void **state)
{
	static const char *const script[] = {R503, R503, RHEAD};
	struct fsrv f;
	struct store_info info;
	struct store *s;

	fs_start(&f, script, 3);
	s = fs_store(&f, NULL);
	assert_int_equal(store_stat(s, KEY1, &info, NULL), 0);
	assert_int_equal(info.size, 42);
	assert_int_equal(info.mtime, 784887151);
	assert_int_equal(f.requests, 3);
	/* signed as the recipe requires: our payload hash, SigV4, no secret */
	assert_non_null(strstr(f.reqs[0], "HEAD /bucket-1/" KEY1 " HTTP/1.1"));
	assert_non_null(strcasestr(f.reqs[0], "x-amz-content-sha256: e3b0c442"));
	assert_non_null(strstr(f.reqs[0], "AWS4-HMAC-SHA256 Credential=AKIDTEST:user/"));
	assert_null(strstr(f.reqs[0], SECRET));
	store_close(s);
	fs_stop(&f);
}

static int list_cb_none(void *arg, const char *key, const struct store_info *info)
{
	return 0;
}

static void retry_exhausted_is_unavail(void **state)
{
	static const char *const script[] = {R503};
	struct fsrv f;
	struct store_info info;
	struct store_err err;
	struct store *s;

	fs_start(&f, script, 1);
	s = fs_store(&f, NULL);
	assert_int_equal(store_stat(s, KEY1, &info, &err), AM_ERR_UNAVAIL);
	assert_int_equal(f.requests, 4);
	assert_non_null(strstr(err.msg, "503")); /* HEAD: no body, no code */
	assert_int_equal(store_list(s, "", list_cb_none, NULL, &err), AM_ERR_UNAVAIL);
	assert_int_equal(f.requests, 8);
	assert_non_null(strstr(err.msg, "SlowDown"));
	store_close(s);
	fs_stop(&f);
}

static void hang_then_ok(void **state)
{
	static const char *const script[] = {"HANG", RHEAD};
	struct fsrv f;
	struct store_info info;
	struct store *s;

	fs_start(&f, script, 2);
	s = fs_store(&f, NULL);
	assert_int_equal(store_stat(s, KEY1, &info, NULL), 0);
	assert_int_equal(info.size, 42);
	assert_int_equal(f.requests, 2);
	store_close(s);
	fs_stop(&f);
}

static void signature_mismatch_is_denied(void **state)
{
	static const char *const script[] = {
	    "HTTP/1.1 403 Forbidden\r\nContent-Length: 91\r\n\r\n<?xml version='1.0'?>"
	    "<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>"};
	struct fsrv f;
	struct store_err err;
	struct store *s;

	fs_start(&f, script, 1);
	s = fs_store(&f, NULL);
	assert_int_equal(store_probe(s, &err), AM_ERR_DENIED);
	assert_int_equal(f.requests, 1); /* a 4xx is never retried */
	assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
	assert_non_null(strstr(err.msg, "s3_secret_key"));
	assert_null(strstr(err.msg, SECRET));
	store_close(s);
	fs_stop(&f);
}

#define R206(total, etag)                                                                          \
	"HTTP/1.1 206 Partial\r\nContent-Length: 10\r\nContent-Range: bytes 0-9/" total            \
	"\r\nETag: " etag "\r\n\r\n0123456789"

static void status_mapping(void **state)
{
	static const char *const script[] = {
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",	       /* delete: ok */
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",	       /* stat */
	    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\n\r\n", /* open: GET */
	    RHEAD,							       /* then HEAD */
	    R206("43", "\"abd\""), /* first read: another size, so another object */
	    R206("42", "\"abd\""), /* same size: this version is pinned */
	    R412,		   /* changed after bytes were returned */
	    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/1.1 206 Partial\r\nContent-Length: 10\r\n\r\n0123456789"};
	struct fsrv f;
	struct store_info info;
	struct store *s;
	struct store_reader *r = NULL;
	uint8_t buf[64];
	size_t got;

	fs_start(&f, script, AM_ARRAY_LEN(script));
	s = fs_store(&f, NULL);
	assert_int_equal(store_delete(s, KEY1, NULL), 0);
	assert_int_equal(store_stat(s, KEY1, &info, NULL), AM_ERR_NOTFOUND);
	assert_int_equal(store_reader_open(s, KEY1, &r, NULL), 0);
	assert_int_equal(store_reader_size(r), 42);
	assert_int_equal(store_reader_read_at(r, 0, buf, 10, &got), AM_ERR_CONFLICT);
	assert_int_equal(store_reader_read_at(r, 0, buf, 10, &got), 0);
	assert_int_equal(got, 10);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(store_reader_read_at(r, 0, buf, 10, &got), AM_ERR_CONFLICT);
	assert_int_equal(store_reader_read_at(r, 5, buf, 10, &got), AM_ERR_RANGE);
	assert_int_equal(store_reader_read_at(r, 0, buf, 10, &got), AM_ERR_IO);
	store_reader_close(r);
	assert_int_equal(f.requests, 9);
	assert_non_null(strstr(f.reqs[2], "GET /bucket-1/" KEY1 " HTTP/1.1"));
	assert_non_null(strcasestr(f.reqs[2], "Range: bytes=0-65535"));
	assert_non_null(strstr(f.reqs[3], "HEAD /bucket-1/" KEY1 " HTTP/1.1"));
	assert_non_null(strcasestr(f.reqs[5], "Range: bytes=0-9"));
	assert_null(strcasestr(f.reqs[5], "If-Match"));
	/* after the first bytes, every GET carries the pinned ETag */
	assert_non_null(strcasestr(f.reqs[6], "If-Match: \"abd\""));
	store_close(s);
	fs_stop(&f);
}

static void oversized_body_refused(void **state)
{
	static const char *const script[] = {
	    RHEAD, "HTTP/1.1 206 Partial\r\nContent-Length: 20\r\n\r\n01234567890123456789"};
	struct fsrv f;
	struct store *s;
	uint8_t buf[64];
	size_t got;

	fs_start(&f, script, 2);
	s = fs_store(&f, NULL);
	assert_int_equal(store_read_at(s, KEY1, 0, buf, 10, &got, NULL), AM_ERR_IO);
	store_close(s);
	fs_stop(&f);
}

static int list_cb(void *arg, const char *key, const struct store_info *info)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 1024 - n, "%s=%llu;", key, (unsigned long long)info->size);
	return 0;
}

#define LIST_HDR "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: "

static void hostile_listing_and_tokens(void **state)
{
	static const char page1[] =
	    "<?xml version='1.0'?><ListBucketResult><KeyCount>4</KeyCount>"
	    "<IsTruncated>true</IsTruncated><NextContinuationToken>a/b+c=</NextContinuationToken>"
	    "<Contents><Key>p/orig/0123456789abcdef0123456789abcdef</Key><Size>7</Size>"
	    "<LastModified>2024-01-02T03:04:05.000Z</LastModified></Contents>"
	    "<Contents><Key>p/../etc/passwd</Key><Size>1</Size></Contents>"
	    "<Contents><Key>other/orig/0123456789abcdef0123456789abcdef</Key><Size>1</Size></"
	    "Contents>"
	    "<Contents><Key>p/orig/0123456789abcdef0123456789abcdef.a&amp;b</Key><Size>1</Size>"
	    "</Contents></ListBucketResult>";
	static const char page2[] =
	    "<ListBucketResult><IsTruncated>false</IsTruncated>"
	    "<Contents><Key>p/peaks/00000000000000000000000000000000.dat</Key><Size>9</Size>"
	    "</Contents></ListBucketResult>";
	char r1[2048], r2[1024], out[1024] = "";
	const char *script[2] = {r1, r2};
	struct fsrv f;
	struct store *s;

	snprintf(r1, sizeof(r1), LIST_HDR "%zu\r\n\r\n%s", strlen(page1), page1);
	snprintf(r2, sizeof(r2), LIST_HDR "%zu\r\n\r\n%s", strlen(page2), page2);
	fs_start(&f, script, 2);
	s = fs_store(&f, "&prefix=p/");
	assert_int_equal(store_list(s, "", list_cb, out, NULL), 0);
	assert_string_equal(out, "orig/0123456789abcdef0123456789abcdef=7;"
				 "peaks/00000000000000000000000000000000.dat=9;");
	assert_int_equal(f.requests, 2);
	assert_non_null(strstr(f.reqs[0], "GET /bucket-1?list-type=2&max-keys=1000&prefix=p%2F "));
	assert_non_null(strstr(f.reqs[1], "?continuation-token=a%2Fb%2Bc%3D&list-type=2&"));
	store_close(s);
	fs_stop(&f);
}

static void urls_and_credentials(void **state)
{
	static const char *const bad[] = {"s3://",
					  "s3://ab",
					  "s3://Bucket",
					  "s3://bucket?endpoint=ftp://x",
					  "s3://bucket?endpoint=http://x/path",
					  "s3://bucket?endpoint=http://user@x",
					  "s3://bucket?endpoint=http://",
					  "s3://bucket?region=",
					  "s3://bucket?path_style=2",
					  "s3://bucket?part_size=4M",
					  "s3://bucket?part_size=2000M",
					  "s3://bucket?prefix=../x",
					  "s3://bucket?prefix=/x",
					  "s3://bucket?nope=1",
					  "s3://bucket?endpoint"};
	struct store *s = NULL;
	struct store_err err;

	for (size_t i = 0; i < AM_ARRAY_LEN(bad); i++) {
		assert_int_equal(store_open(bad[i], &s, NULL), AM_ERR_INVAL);
		assert_null(s);
	}
	assert_int_equal(
	    store_open("s3://my-bucket?region=eu-west-1&part_size=16M&prefix=a/b/", &s, NULL), 0);
	assert_string_equal(store_backend(s), "s3");
	assert_string_equal(((struct s3_store *)s)->base_url,
			    "https://my-bucket.s3.eu-west-1.amazonaws.com");
	assert_int_equal(((struct s3_store *)s)->part_size, 16 << 20);
	store_close(s);
	assert_int_equal(
	    store_open("s3://b.c-d?endpoint=https://minio.lan:9000/&path_style=1", &s, NULL), 0);
	assert_string_equal(((struct s3_store *)s)->base_url, "https://minio.lan:9000/b.c-d");
	store_close(s);
	/* no credentials anywhere: a clear INVAL, nothing leaked */
	unsetenv("AUDIOMUS_S3_SECRET_KEY");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(store_open("s3://bucket", &s, &err), AM_ERR_INVAL);
	assert_non_null(strstr(err.msg, "s3_secret_key"));
	assert_null(strstr(err.msg, SECRET));
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	assert_int_equal(store_open("s3://bucket", &s, NULL), 0);
	store_close(s);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AUDIOMUS_S3_SECRET_KEY", SECRET, 1);
}

static void xml_reader(void **state)
{
	static const char doc[] = "<R><KeyCount>3</KeyCount><Key>a&lt;&#65;&#x42;&amp;</Key>"
				  "<Prefix/><Bad>x<y</Bad><Ent>&bogus;</Ent><Long>0123456789</Long>"
				  "<Open>never closed";
	struct s3_str in = {doc, sizeof(doc) - 1};
	char out[8];
	int64_t t;

	assert_int_equal(s3_xml_text(in, "Key", out, sizeof(out)), 0);
	assert_string_equal(out, "a<AB&");
	assert_int_equal(s3_xml_text(in, "KeyCount", out, sizeof(out)), 0);
	assert_string_equal(out, "3");
	assert_int_equal(s3_xml_text(in, "Prefix", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(s3_xml_text(in, "Bad", out, sizeof(out)), AM_ERR_INVAL);
	assert_int_equal(s3_xml_text(in, "Ent", out, sizeof(out)), AM_ERR_INVAL);
	assert_int_equal(s3_xml_text(in, "Long", out, sizeof(out)), AM_ERR_TOOBIG);
	assert_int_equal(s3_xml_text(in, "Open", out, sizeof(out)), AM_ERR_NOTFOUND);
	assert_int_equal(s3_xml_text(in, "Missing", out, sizeof(out)), AM_ERR_NOTFOUND);
	assert_int_equal(s3_parse_iso8601("2024-01-02T03:04:05.000Z", &t), 0);
	assert_int_equal(t, 1704164645);
	assert_int_equal(s3_parse_iso8601("2024-01-02T03:04:05Z", &t), 0);
	assert_int_equal(s3_parse_iso8601("2024-13-02T03:04:05Z", &t), AM_ERR_INVAL);
	assert_int_equal(s3_parse_iso8601("2024-01-02 03:04:05Z", &t), AM_ERR_INVAL);
	assert_int_equal(s3_parse_iso8601("2024-01-02T03:04:05+02:00", &t), AM_ERR_INVAL);
}

static void backoff_schedule(void **state)
{
	long prev_max = 0;

	for (int a = 0; a < 8; a++) {
		long lo = store_s3_backoff_ms(a, 200, 5000, 0);
		long hi = store_s3_backoff_ms(a, 200, 5000, UINT32_MAX - 1);
		long full = 200L << a > 5000 ? 5000 : 200L << a;
		assert_int_equal(lo, full / 2);
		assert_true(hi >= lo && hi <= full);
		assert_true(hi >= prev_max || full == 5000);
		prev_max = hi;
	}
	assert_true(store_s3_backoff_ms(30, 200, 5000, 12345) <= 5000);
}

static void uri_encoding(void **state)
{
	struct am_buf b;

	am_buf_init(&b, 256);
	assert_int_equal(s3_uri_encode(&b, "a/b c~d_e.f-g+h=%", 17, 1), 0);
	assert_string_equal((char *)b.p, "a/b%20c~d_e.f-g%2Bh%3D%25");
	am_buf_reset(&b);
	assert_int_equal(s3_uri_encode(&b, "a/b", 3, 0), 0);
	assert_string_equal((char *)b.p, "a%2Fb");
	am_buf_cleanup(&b);
}

/* ---- what is retried and what is not ----------------------------------------- */

/* An S3 error answer: status and an XML body with code. */
static void err_answer(char *out, size_t n, int status, const char *code)
{
	char body[160];
	int k = snprintf(body, sizeof(body),
			 "<?xml version='1.0'?><Error><Code>%s</Code><Message>m</Message></Error>",
			 code);

	snprintf(out, n, "HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s", status, k, body);
}

/* A TLS handshake the peer refuses (an alert: no protocol version or cipher
 * in common) or TLS spoken to a plain-HTTP port fails the same way every
 * time: one ClientHello, AM_ERR_IO (not UNAVAIL: waiting will not help), and
 * a message that names the cause. */
static void tls_refusal_not_retried(void **state)
{
	static const struct {
		const char *answer;
		size_t len;
		const char *why;
	} cases[] = {
	    {"\x15\x03\x03\x00\x02\x02\x46", 7, "alert protocol version"},  /* fatal, 70 */
	    {"\x15\x03\x03\x00\x02\x02\x28", 7, "alert handshake failure"}, /* fatal, 40 */
	    {"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 0, "does not speak TLS"},
	};

	for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
		struct store_info info;
		struct store_err err;
		struct fsrv f;
		struct store *s;
		size_t n = cases[i].len ? cases[i].len : strlen(cases[i].answer);

		fs_start_tls(&f, cases[i].answer, n, 0);
		s = fs_store_scheme(&f, "https", NULL);
		assert_int_equal(store_stat(s, KEY1, &info, &err), AM_ERR_IO);
		assert_int_equal(f.requests, 1);
		assert_int_equal(store_s3_test_requests(s), 1);
		assert_non_null(strstr(err.msg, cases[i].why));
		assert_non_null(strstr(err.msg, "TLS handshake refused"));
		assert_non_null(strstr(err.msg, "not retried"));
		store_close(s);
		fs_stop(&f);
	}
}

/* A handshake cut by a reset may work next time: retried, then UNAVAIL. */
static void tls_reset_retried(void **state)
{
	struct store_info info;
	struct store_err err;
	struct fsrv f;
	struct store *s;

	fs_start_tls(&f, NULL, 0, 1);
	s = fs_store_scheme(&f, "https", NULL);
	assert_int_equal(store_stat(s, KEY1, &info, &err), AM_ERR_UNAVAIL);
	assert_int_equal(f.requests, 4);
	assert_int_equal(store_s3_test_requests(s), 4);
	assert_non_null(strstr(err.msg, "gave up after 4 attempts"));
	store_close(s);
	fs_stop(&f);
}

/* Rejected credentials, a denied permission, a missing bucket, an
 * unimplemented call, a bad argument: one request each and a message that
 * says which. Overload and server errors: the full four tries, then UNAVAIL. */
static void statuses_permanent_or_retried(void **state)
{
	static const struct {
		int status;
		const char *code;
		int rc, tries;
		const char *why;
	} cases[] = {
	    {403, "SignatureDoesNotMatch", AM_ERR_DENIED, 1, "s3_secret_key does not match"},
	    {403, "InvalidAccessKeyId", AM_ERR_DENIED, 1, "unknown access key"},
	    {403, "AccessDenied", AM_ERR_DENIED, 1, "bucket policy"},
	    {404, "NoSuchBucket", AM_ERR_IO, 1, "the bucket does not exist"},
	    {501, "NotImplemented", AM_ERR_IO, 1, "501 NotImplemented"},
	    {400, "InvalidArgument", AM_ERR_IO, 1, "400 InvalidArgument"},
	    {500, "InternalError", AM_ERR_UNAVAIL, 4, "500 InternalError (gave up after 4"},
	    {503, "ServiceUnavailable", AM_ERR_UNAVAIL, 4, "503 ServiceUnavailable (gave up"},
	    {429, "TooManyRequests", AM_ERR_UNAVAIL, 4, "429 TooManyRequests (gave up"},
	    {400, "RequestTimeout", AM_ERR_UNAVAIL, 4, "400 RequestTimeout (gave up"},
	};

	for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
		char answer[512];
		const char *script[1] = {answer};
		struct store_err err;
		struct fsrv f;
		struct store *s;

		err_answer(answer, sizeof(answer), cases[i].status, cases[i].code);
		fs_start(&f, script, 1);
		s = fs_store(&f, NULL);
		assert_int_equal(store_list(s, "", list_cb_none, NULL, &err), cases[i].rc);
		assert_int_equal(f.requests, cases[i].tries);
		assert_int_equal(store_s3_test_requests(s), cases[i].tries);
		assert_non_null(strstr(err.msg, cases[i].why));
		assert_null(strstr(err.msg, SECRET));
		if (cases[i].tries == 1)
			assert_null(strstr(err.msg, "gave up"));
		/* a missing bucket is not a missing object: a delete fails */
		if (!strcmp(cases[i].code, "NoSuchBucket"))
			assert_int_equal(store_delete(s, KEY1, &err), AM_ERR_IO);
		store_close(s);
		fs_stop(&f);
	}
}

/* A call's detail is its own: empty after a success (so a caller that logs
 * it after a failure of its own logs nothing stale), and another call's
 * success, on any struct store_err, leaves an earlier failure's alone. */
static void errmsg_is_the_calls_own(void **state)
{
	char deny[512];
	const char *script[3] = {deny, RHEAD, deny};
	struct store_info info;
	struct store_err err, other;
	struct fsrv f;
	struct store *s;

	err_answer(deny, sizeof(deny), 403, "SignatureDoesNotMatch");
	fs_start(&f, script, 3);
	s = fs_store(&f, NULL);
	assert_int_equal(store_list(s, "", list_cb_none, NULL, &err), AM_ERR_DENIED);
	assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
	assert_int_equal(store_stat(s, KEY1, &info, &other), 0);
	assert_string_equal(other.msg, "");
	assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
	assert_int_equal(store_list(s, "", list_cb_none, NULL, &other), AM_ERR_DENIED);
	assert_non_null(strstr(other.msg, "SignatureDoesNotMatch"));
	store_close(s);
	fs_stop(&f);
}

/* A put that failed in S3 gives its reason with every later call, even after
 * other calls succeeded in between, and the AbortMultipartUpload that follows
 * (refused here too: logged as s3_abort_failed) does not replace it. */
static void failed_put_keeps_its_reason(void **state)
{
	static const char created[] = "<InitiateMultipartUploadResult><UploadId>up-1</UploadId></"
				      "InitiateMultipartUploadResult>";
	char r_create[256], r_part[512], r_abort[512];
	const char *script[4] = {r_create, r_part, RHEAD, r_abort};
	struct store_put *p = NULL;
	struct store_info info;
	struct store_err err;
	uint8_t *buf = calloc(1, 1 << 20);
	struct fsrv f;
	struct store *s;

	assert_non_null(buf);
	snprintf(r_create, sizeof(r_create), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(created), created);
	err_answer(r_part, sizeof(r_part), 403, "SignatureDoesNotMatch");
	err_answer(r_abort, sizeof(r_abort), 403, "AccessDenied");
	fs_start(&f, script, 4);
	s = fs_store(&f, "&part_size=5M");
	assert_int_equal(store_put_begin(s, KEY1, &p, NULL), 0);
	for (int i = 0; i < 5; i++) /* part 1, held */
		assert_int_equal(store_put_write(p, buf, 1 << 20), 0);
	/* one byte more: CreateMultipartUpload, then UploadPart 1, refused */
	assert_int_equal(store_put_write(p, buf, 1), AM_ERR_DENIED);
	assert_non_null(strstr(store_put_errmsg(p), "SignatureDoesNotMatch"));
	assert_int_equal(store_stat(s, KEY1, &info, &err), 0);
	assert_string_equal(err.msg, "");
	assert_int_equal(store_put_write(p, buf, 1), AM_ERR_DENIED);
	assert_non_null(strstr(store_put_errmsg(p), "SignatureDoesNotMatch"));
	assert_int_equal(store_put_commit(p, NULL, &err), AM_ERR_DENIED);
	assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
	assert_null(strstr(err.msg, "AccessDenied"));
	assert_int_equal(f.requests, 4);
	assert_non_null(strstr(f.reqs[0], "POST /bucket-1/" KEY1 "?uploads= "));
	assert_non_null(strstr(f.reqs[1], "PUT /bucket-1/" KEY1 "?partNumber=1&uploadId=up-1 "));
	assert_non_null(strstr(f.reqs[3], "DELETE /bucket-1/" KEY1 "?uploadId=up-1 "));
	store_close(s);
	fs_stop(&f);
	free(buf);
}

/* ---- streaming reads against scripted answers ------------------------------ */

#define ST_SIZE (S3_OPEN_READ + 3000)

static char st_byte(uint64_t off)
{
	return (char)('a' + off % 23);
}

/* "206" answer for [a, b] of the ST_SIZE object with ETag etag, claiming
 * Content-Range from cr_first, but carrying only body bytes (of [a, ...)). */
static char *st_answer(uint64_t a, uint64_t b, uint64_t cr_first, const char *etag, size_t body)
{
	size_t cap = 256 + body;
	char *r = malloc(cap);
	int k;

	assert_non_null(r);
	k = snprintf(r, cap,
		     "HTTP/1.1 206 Partial\r\nContent-Length: %llu\r\nContent-Range: bytes "
		     "%llu-%llu/%llu\r\nETag: %s\r\n\r\n",
		     (unsigned long long)(b - a + 1), (unsigned long long)cr_first,
		     (unsigned long long)b, (unsigned long long)ST_SIZE, etag);
	for (size_t i = 0; i < body; i++)
		r[k + (int)i] = st_byte(a + i);
	r[k + (int)body] = 0;
	return r;
}

/* Read [from, ST_SIZE): up to S3_OPEN_READ (what the open fetched) in one
 * read, then in 1000-byte steps; the first failure's code. */
static int st_read_rest(struct store_reader *r, uint64_t from, uint64_t *upto)
{
	static uint8_t buf[S3_OPEN_READ];
	size_t got;
	int rc;

	for (*upto = from; *upto < ST_SIZE; *upto += got) {
		size_t n = *upto < S3_OPEN_READ ? (size_t)(S3_OPEN_READ - *upto) : 1000;
		if ((rc = store_reader_read_at(r, *upto, buf, n, &got)))
			return rc;
		for (size_t i = 0; i < got; i++)
			assert_int_equal(buf[i], st_byte(*upto + i)); /* never a wrong byte */
	}
	return 0;
}

/* A stream that dies mid-body goes on with a fresh request from the next
 * byte, pinned with If-Match; the bytes come out whole and in order. */
static void stream_resumes_mid_body(void **state)
{
	const uint64_t h = S3_OPEN_READ;
	char *script[3];
	struct store_reader *r = NULL;
	struct fsrv f;
	struct store *s;
	uint64_t upto;
	char want[64];

	script[0] = st_answer(0, h - 1, 0, "\"v1\"", h);	  /* open */
	script[1] = st_answer(h, ST_SIZE - 1, h, "\"v1\"", 1000); /* dies after 1000 */
	script[2] = st_answer(h + 1000, ST_SIZE - 1, h + 1000, "\"v1\"", 2000); /* the rest */
	fs_start(&f, (const char *const *)script, 3);
	s = fs_store(&f, NULL);
	assert_int_equal(store_reader_open(s, KEY1, &r, NULL), 0);
	assert_int_equal(store_reader_size(r), ST_SIZE);
	assert_int_equal(st_read_rest(r, 0, &upto), 0);
	store_reader_close(r);
	assert_int_equal(f.requests, 3);
	snprintf(want, sizeof(want), "Range: bytes=%llu-%llu", (unsigned long long)h,
		 (unsigned long long)ST_SIZE - 1);
	assert_non_null(strcasestr(f.reqs[1], want));
	assert_non_null(strcasestr(f.reqs[1], "If-Match: \"v1\""));
	snprintf(want, sizeof(want), "Range: bytes=%llu-%llu", (unsigned long long)h + 1000,
		 (unsigned long long)ST_SIZE - 1);
	assert_non_null(strcasestr(f.reqs[2], want));
	assert_non_null(strcasestr(f.reqs[2], "If-Match: \"v1\""));
	store_close(s);
	fs_stop(&f);
	for (int i = 0; i < 3; i++)
		free(script[i]);
}

/* A resumed answer that is not the range asked for, or another version, ends
 * the stream with an error at the first byte it would have supplied. */
static void stream_resume_refuses_wrong_answer(void **state)
{
	const uint64_t h = S3_OPEN_READ;
	static const struct {
		uint64_t cr_first;
		const char *etag;
		int rc;
	} cases[] = {{S3_OPEN_READ, "\"v1\"", AM_ERR_IO},
		     {S3_OPEN_READ + 1000, "\"v2\"", AM_ERR_CONFLICT}};

	for (size_t c = 0; c < AM_ARRAY_LEN(cases); c++) {
		char *script[3];
		struct store_reader *r = NULL;
		struct fsrv f;
		struct store *s;
		uint64_t upto;

		script[0] = st_answer(0, h - 1, 0, "\"v1\"", h);
		script[1] = st_answer(h, ST_SIZE - 1, h, "\"v1\"", 1000);
		script[2] =
		    st_answer(h + 1000, ST_SIZE - 1, cases[c].cr_first, cases[c].etag, 2000);
		fs_start(&f, (const char *const *)script, 3);
		s = fs_store(&f, NULL);
		assert_int_equal(store_reader_open(s, KEY1, &r, NULL), 0);
		assert_int_equal(st_read_rest(r, 0, &upto), cases[c].rc);
		assert_int_equal(upto, h + 1000);
		/* the reader stays failed there, and reading elsewhere still works */
		assert_int_equal(st_read_rest(r, upto, &upto), cases[c].rc);
		store_reader_close(r);
		store_close(s);
		fs_stop(&f);
		for (int i = 0; i < 3; i++)
			free(script[i]);
	}
}

/* A failure before the stream's first byte is retried like any request; one
 * that persists surfaces as the read's error. */
static void stream_start_retries_then_fails(void **state)
{
	const uint64_t h = S3_OPEN_READ;
	char *script[3];
	struct store_reader *r = NULL;
	struct fsrv f;
	struct store *s;
	uint64_t upto;

	script[0] = st_answer(0, h - 1, 0, "\"v1\"", h);
	script[1] = strdup(R503);
	script[2] = strdup(R412);
	fs_start(&f, (const char *const *)script, 3);
	s = fs_store(&f, NULL);
	assert_int_equal(store_reader_open(s, KEY1, &r, NULL), 0);
	assert_int_equal(st_read_rest(r, 0, &upto), AM_ERR_CONFLICT);
	assert_int_equal(upto, h);
	assert_non_null(strstr(store_reader_errmsg(r), "412"));
	store_reader_close(r);
	assert_int_equal(f.requests, 3);
	store_close(s);
	fs_stop(&f);
	for (int i = 0; i < 3; i++)
		free(script[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(urls_and_credentials),
	    cmocka_unit_test(xml_reader),
	    cmocka_unit_test(backoff_schedule),
	    cmocka_unit_test(uri_encoding),
	    cmocka_unit_test(retry_503_then_ok),
	    cmocka_unit_test(retry_exhausted_is_unavail),
	    cmocka_unit_test(hang_then_ok),
	    cmocka_unit_test(signature_mismatch_is_denied),
	    cmocka_unit_test(status_mapping),
	    cmocka_unit_test(oversized_body_refused),
	    cmocka_unit_test(hostile_listing_and_tokens),
	    cmocka_unit_test(stream_resumes_mid_body),
	    cmocka_unit_test(stream_resume_refuses_wrong_answer),
	    cmocka_unit_test(stream_start_retries_then_fails),
	    cmocka_unit_test(tls_refusal_not_retried),
	    cmocka_unit_test(tls_reset_retried),
	    cmocka_unit_test(statuses_permanent_or_retried),
	    cmocka_unit_test(errmsg_is_the_calls_own),
	    cmocka_unit_test(failed_put_keeps_its_reason),
	};

	return cmocka_run_group_tests_name("store_s3_offline", tests, setup_env, NULL);
}
