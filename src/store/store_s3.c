/*
 * store_s3.c: the S3-compatible object-store backend (s3://BUCKET?...): URL
 * and credential handling, and every operation but puts (store_s3_put.c):
 * readers pinned to an ETag (HEAD at open, ranged GET with If-Match, a
 * streaming GET for sequential reads: store_s3_stream.c), stat,
 * idempotent delete, paged ListObjectsV2, and the collection of stale
 * multipart uploads. Works with AWS S3, Cloudflare R2, MinIO, Ceph RGW and
 * Swift s3api (docs/storage.md).
 *
 * Runs in the media and worker roles. Trust boundary: the S3 service is an
 * untrusted peer, trusted for availability only: it sees nothing but AM1
 * ciphertext under random names, and what it answers is bounded and checked
 * (listed names must be valid keys under our prefix, sizes and ETags must be
 * consistent). The secret key lives in locked memory and never reaches a log
 * line or an error message.
 */
#include "store/store_s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* A reader opens with a GET of the object's first bytes (open_get) and
 * answers reads inside them from memory; any other read that does not
 * continue the previous one takes one ranged GET of exactly what was asked. A read that
 * continues where the previous one ended starts a stream (store_s3_stream.c):
 * one GET for the rest of the object, read ahead in the background into a
 * bounded ring, which serves every later read at or a little past its
 * position; a read behind it, or far ahead, stops it. */
struct s3_reader {
	struct store_reader base;
	struct s3_store *s;
	char key[STORE_KEY_MAX];
	char etag[S3_ETAG_MAX];
	int delivered; /* bytes were returned: the version is pinned (If-Match) */
	uint64_t next; /* where a sequential read would continue */
	uint8_t *head; /* the object's first head_len bytes, until a stream starts */
	size_t head_len;
	struct s3_stream *st; /* the running stream, or NULL */
};

static const struct store_ops s3_ops;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- URL and credentials ------------------------------------------------ */

static int valid_bucket(const char *b, size_t n)
{
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
	}
	return b[0] != '-' && b[0] != '.' && b[n - 1] != '-' && b[n - 1] != '.';
}

static int valid_chars(const char *v, const char *extra)
{
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		      (*v >= '0' && *v <= '9') || strchr(extra, *v)))
			return 0;
	return 1;
}

/* scheme://host[:port] with nothing else; *host points after "://". */
static int parse_endpoint(const char *e, char *out, size_t outsz, const char **host, char *emsg)
{
	size_t n = strlen(e);
	const char *h;

	while (n > 0 && e[n - 1] == '/')
		n--;
	if (!strncmp(e, "https://", 8))
		h = e + 8;
	else if (!strncmp(e, "http://", 7))
		h = e + 7;
	else
		return store_fail(emsg, AM_ERR_INVAL,
				  "storage: s3 endpoint must be http(s)://HOST[:PORT]");
	if (h >= e + n || n >= outsz)
		return store_fail(emsg, AM_ERR_INVAL,
				  "storage: s3 endpoint has no host or is too long");
	memcpy(out, e, n);
	out[n] = 0;
	*host = out + (h - e);
	if (!valid_chars(*host, ".-:[]"))
		return store_fail(emsg, AM_ERR_INVAL,
				  "storage: s3 endpoint must be scheme://HOST[:PORT] (no path, "
				  "user or query)");
	return 0;
}

struct s3_url {
	char endpoint[400];
	int path_style;
	int64_t part_size;
};

/* One name=value of the URL's query. */
static int url_param(struct s3_store *s, struct s3_url *u, const char *name, const char *v,
		     char *emsg)
{
	if (!strcmp(name, "endpoint")) {
		if (am_strlcpy(u->endpoint, v, sizeof(u->endpoint)))
			return store_fail(emsg, AM_ERR_INVAL, "storage: s3 endpoint too long");
	} else if (!strcmp(name, "region")) {
		if (!*v || am_strlcpy(s->region, v, sizeof(s->region)) || !valid_chars(v, "-_"))
			return store_fail(emsg, AM_ERR_INVAL, "storage: bad s3 region");
	} else if (!strcmp(name, "path_style")) {
		if (strcmp(v, "0") && strcmp(v, "1"))
			return store_fail(emsg, AM_ERR_INVAL,
					  "storage: s3 path_style must be 0 or 1");
		u->path_style = v[0] == '1';
	} else if (!strcmp(name, "prefix")) {
		if (am_strlcpy(s->prefix, v, sizeof(s->prefix)) || !valid_chars(v, "-._~/") ||
		    v[0] == '/' || strstr(v, "//") || strstr(v, ".."))
			return store_fail(emsg, AM_ERR_INVAL,
					  "storage: bad s3 prefix (A-Z a-z 0-9 - . _ ~ /)");
	} else if (!strcmp(name, "part_size")) {
		size_t n = strlen(v);
		int mib = n > 1 && (v[n - 1] == 'M' || v[n - 1] == 'm');
		char num[24];
		if (n == 0 || n >= sizeof(num))
			return store_fail(emsg, AM_ERR_INVAL, "storage: bad s3 part_size");
		memcpy(num, v, n + 1);
		if (mib)
			num[n - 1] = 0;
		if (am_parse_i64(num, 1, (int64_t)S3_PART_MAX, &u->part_size))
			return store_fail(emsg, AM_ERR_INVAL, "storage: bad s3 part_size");
		if (mib)
			u->part_size <<= 20;
		if ((uint64_t)u->part_size < S3_PART_MIN || (uint64_t)u->part_size > S3_PART_MAX)
			return store_fail(emsg, AM_ERR_INVAL,
					  "storage: s3 part_size must be 5M..1024M");
	} else {
		return store_fail(emsg, AM_ERR_INVAL, "storage: unknown s3 URL parameter \"%.40s\"",
				  name);
	}
	return 0;
}

/* BUCKET?name=value&... (the text after "s3://"). */
/* Plain HTTP is for an endpoint on this machine (a local MinIO or Swift);
 * elsewhere it works but is logged. */
static void warn_plaintext(const struct s3_store *s, const char *ep)
{
	char host[256];

	if (!strncmp(ep, "http://", 7) &&
	    (am_url_host(ep, host, sizeof(host)) || !am_host_is_loopback(host)))
		am_log(AM_LOG_WARN, "s3_endpoint_plaintext", "bucket", s->bucket, "hint",
		       "use https unless the endpoint is on loopback");
}

static int parse_url(struct s3_store *s, const char *rest, char *emsg)
{
	struct s3_url u = {.endpoint = "", .path_style = 0, .part_size = (int64_t)S3_PART_DEFAULT};
	char q[1024], *save = NULL, *tok, ep[400];
	const char *qm = strchr(rest, '?'), *host = NULL;
	size_t bn = qm ? (size_t)(qm - rest) : strlen(rest);
	int rc, n;

	if (!valid_bucket(rest, bn))
		return store_fail(emsg, AM_ERR_INVAL,
				  "storage: s3://BUCKET needs a valid bucket name");
	memcpy(s->bucket, rest, bn);
	s->bucket[bn] = 0;
	am_strlcpy(s->region, "us-east-1", sizeof(s->region));
	if (qm && am_strlcpy(q, qm + 1, sizeof(q)))
		return store_fail(emsg, AM_ERR_INVAL, "storage: s3 URL too long");
	for (tok = qm ? strtok_r(q, "&", &save) : NULL; tok; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			return store_fail(emsg, AM_ERR_INVAL,
					  "storage: s3 URL parameter without '='");
		*eq = 0;
		if ((rc = url_param(s, &u, tok, eq + 1, emsg)))
			return rc;
	}
	if (!*u.endpoint) /* AWS: virtual-host style on the regional endpoint */
		snprintf(u.endpoint, sizeof(u.endpoint), "https://s3.%s.amazonaws.com", s->region);
	if ((rc = parse_endpoint(u.endpoint, ep, sizeof(ep), &host, emsg)))
		return rc;
	s->path_style = u.path_style;
	s->part_size = (uint64_t)u.part_size;
	if (u.path_style)
		n = snprintf(s->base_url, sizeof(s->base_url), "%s/%s", ep, s->bucket);
	else
		n = snprintf(s->base_url, sizeof(s->base_url), "%.*s%s.%s", (int)(host - ep), ep,
			     s->bucket, host);
	if (n < 0 || (size_t)n >= sizeof(s->base_url))
		return store_fail(emsg, AM_ERR_INVAL, "storage: s3 endpoint too long");
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->region);
	warn_plaintext(s, ep);
	return 0;
}

/* The first non-empty of given, getenv(e1), getenv(e2). */
static const char *pick(const char *given, const char *e1, const char *e2)
{
	const char *v;

	if (given && *given)
		return given;
	if ((v = getenv(e1)) && *v)
		return v;
	if ((v = getenv(e2)) && *v)
		return v;
	return NULL;
}

static int set_credentials(struct s3_store *s, const char *access, const char *secret, char *emsg)
{
	const char *a = pick(access, "AUDIOMUS_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID");
	const char *k = pick(secret, "AUDIOMUS_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY");

	if (!a || !k)
		return store_fail(emsg, AM_ERR_INVAL,
				  "storage: s3 needs credentials: s3_access_key and s3_secret_key "
				  "(or AUDIOMUS_S3_ACCESS_KEY/AUDIOMUS_S3_SECRET_KEY, or "
				  "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)");
	s->access_sz = strlen(a) + 1;
	s->secret_sz = strlen(k) + 1;
	if (s->access_sz > 256 || s->secret_sz > 256)
		return store_fail(emsg, AM_ERR_INVAL, "storage: s3 credentials too long");
	if (!(s->access = am_secret_alloc(s->access_sz)) ||
	    !(s->secret = am_secret_alloc(s->secret_sz)))
		return AM_ERR_NOMEM;
	memcpy(s->access, a, s->access_sz);
	memcpy(s->secret, k, s->secret_sz);
	return 0;
}

static void s3_tune_defaults(struct s3_tuning *t)
{
	t->max_keys = 1000;
	t->attempts = 4;
	t->backoff_base_ms = 200;
	t->backoff_cap_ms = 5000;
	t->connect_timeout_ms = 10000;
	t->low_speed_time_s = 30;
	t->timeout_ms = 0;
	t->stream_buf = S3_STREAM_BUF;
}

static void s3_free(struct s3_store *s)
{
	if (!s)
		return;
	s3_http_cleanup(s);
	am_secret_free(s->access, s->access_sz);
	am_secret_free(s->secret, s->secret_sz);
	free(s);
}

int store_s3_open(const char *rest, const char *access, const char *secret, const char *cainfo,
		  struct store **out, char *emsg)
{
	struct s3_store *s = NULL;
	int rc;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return store_fail(emsg, AM_ERR_INTERNAL, "storage: curl_global_init failed");
	if (!(s = calloc(1, sizeof(*s))))
		return AM_ERR_NOMEM;
	s->base.ops = &s3_ops;
	s3_tune_defaults(&s->tune);
	if ((rc = s3_http_init(s, emsg)) || (rc = parse_url(s, rest, emsg)) ||
	    (rc = set_credentials(s, access, secret, emsg)))
		goto out;
	if (cainfo && am_strlcpy(s->cainfo, cainfo, sizeof(s->cainfo))) {
		rc = store_fail(emsg, AM_ERR_INVAL, "storage: s3_ca_file path too long");
		goto out;
	}
	*out = &s->base;
	s = NULL;
	rc = 0;
out:
	s3_free(s);
	return rc;
}

static void s3_close(struct store *bs)
{
	s3_free((struct s3_store *)bs);
}

void store_s3_test_tune(struct store *bs, const struct s3_tuning *t)
{
	if (bs && bs->ops == &s3_ops)
		((struct s3_store *)bs)->tune = *t;
}

unsigned long store_s3_test_requests(const struct store *bs)
{
	if (!bs || bs->ops != &s3_ops)
		return 0;
	return __atomic_load_n(&((const struct s3_store *)bs)->requests, __ATOMIC_RELAXED);
}

size_t store_s3_test_ring(struct store_reader *br)
{
	struct s3_reader *r = (struct s3_reader *)br;

	if (!br || !br->s || br->s->ops != &s3_ops || !r->st)
		return 0;
	return s3_stream_ring(r->st);
}

void store_s3_test_get_tune(const struct store *bs, struct s3_tuning *t)
{
	if (bs && bs->ops == &s3_ops)
		*t = ((const struct s3_store *)bs)->tune;
	else
		s3_tune_defaults(t);
}

/* ---- HEAD, read ------------------------------------------------------------ */

static int s3_head(struct s3_store *s, const char *key, struct store_info *info, char *etag,
		   size_t etagsz, char *emsg)
{
	struct s3_req rq = {.emsg = emsg, .method = "HEAD", .key = key};
	char what[STORE_KEY_MAX + 8];
	int rc;

	snprintf(what, sizeof(what), "HEAD %s", key);
	if ((rc = s3_request(s, &rq, what)))
		return rc;
	if (!rq.has_length)
		return store_fail(emsg, AM_ERR_IO, "s3 %s: no Content-Length", what);
	info->size = rq.length;
	info->mtime = rq.last_modified;
	if (etag && am_strlcpy(etag, rq.etag, etagsz))
		return store_fail(emsg, AM_ERR_IO, "s3 %s: ETag too long", what);
	return 0;
}

static int s3_stat(struct store *bs, const char *key, struct store_info *info, char *emsg)
{
	return s3_head((struct s3_store *)bs, key, info, NULL, 0, emsg);
}

/* Open with a GET of the object's first S3_OPEN_READ bytes rather than a
 * HEAD: the same round trip gives the size (Content-Range), the version to
 * pin (ETag) and the bytes a reader asks for first (AM1's header), kept
 * until a stream starts. An empty object has no range to answer (416): HEAD. */
static int open_get(struct s3_reader *r, char *emsg)
{
	char range[32], what[STORE_KEY_MAX + 8];
	struct s3_req rq = {.emsg = emsg, .method = "GET", .key = r->key, .range = range};
	uint64_t want;
	int rc;

	if (!(r->head = malloc(S3_OPEN_READ)))
		return AM_ERR_NOMEM;
	rq.dst = r->head;
	rq.dst_len = S3_OPEN_READ;
	snprintf(range, sizeof(range), "bytes=0-%zu", S3_OPEN_READ - 1);
	snprintf(what, sizeof(what), "GET %s", r->key);
	if ((rc = s3_request(r->s, &rq, what)))
		return rc;
	if (rq.status == 206 && rq.has_range_total && rq.range_first == 0)
		r->base.size = rq.range_total;
	else if (rq.status == 200 && rq.has_length)
		r->base.size = rq.length;
	else
		return store_fail(emsg, AM_ERR_IO, "s3 %s: HTTP %ld to a range request", what,
				  rq.status);
	want = r->base.size < S3_OPEN_READ ? r->base.size : S3_OPEN_READ;
	if (rq.dst_got != want)
		return store_fail(emsg, AM_ERR_IO, "s3 %s: short body (%zu of %llu bytes)", what,
				  rq.dst_got, (unsigned long long)want);
	if (am_strlcpy(r->etag, rq.etag, sizeof(r->etag)))
		return store_fail(emsg, AM_ERR_IO, "s3 %s: ETag too long", what);
	r->head_len = rq.dst_got;
	return 0;
}

/* Open key. seq (reading in order from the start): the stream's one GET of
 * bytes=0- is the open (it gives the size and the ETag to pin), so a
 * whole-object read costs one request instead of two; without a thread, or
 * otherwise, the 64 KiB open_get. An empty object answers 416: HEAD. */
static int reader_open(struct store *bs, const char *key, int seq, struct store_reader **out,
		       char *emsg)
{
	struct s3_reader *r = calloc(1, sizeof(*r));
	struct store_info info;
	int rc;

	if (!r)
		return AM_ERR_NOMEM;
	r->s = (struct s3_store *)bs;
	am_strlcpy(r->key, key, sizeof(r->key));
	if (seq && s3_stream_start(r->s, key, "", 0, S3_SIZE_UNKNOWN, &r->st, NULL) == 0)
		rc = s3_stream_wait_open(r->st, &r->base.size, r->etag, sizeof(r->etag), emsg);
	else
		rc = open_get(r, emsg);
	if (rc == AM_ERR_RANGE) {
		s3_stream_stop(r->st);
		r->st = NULL;
		if ((rc = s3_head(r->s, key, &info, r->etag, sizeof(r->etag), emsg)) == 0)
			r->base.size = info.size;
	}
	if (rc) {
		s3_stream_stop(r->st);
		free(r->head);
		free(r);
		return rc;
	}
	*out = &r->base;
	return 0;
}

static int s3_reader_open(struct store *bs, const char *key, struct store_reader **out, char *emsg)
{
	return reader_open(bs, key, 0, out, emsg);
}

static int s3_reader_open_seq(struct store *bs, const char *key, struct store_reader **out,
			      char *emsg)
{
	return reader_open(bs, key, 1, out, emsg);
}

/* GET [off, off+n) into buf. The first bytes a reader returns pin the version
 * they belong to (its ETag), provided it has the size the open saw: the bytes
 * and the ETag come in one answer, so no overwrite can slip in between, and to
 * the caller that is the version it opened (a GET before that which finds
 * another version drops the bytes the open kept). Later GETs send If-Match with it;
 * S3 cannot keep an old version readable, so a change is AM_ERR_CONFLICT
 * (docs/storage.md). */
static int ranged_get(struct s3_reader *r, uint64_t off, void *buf, size_t n)
{
	char range[64], what[STORE_KEY_MAX + 8], *emsg = r->base.errmsg;
	struct s3_req rq = {
	    .emsg = emsg, .method = "GET", .key = r->key, .range = range, .dst = buf, .dst_len = n};
	uint64_t total;
	int rc;

	rq.if_match = r->delivered && *r->etag ? r->etag : NULL;
	snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + n - 1));
	snprintf(what, sizeof(what), "GET %s", r->key);
	if ((rc = s3_request(r->s, &rq, what)))
		return rc;
	if (rq.status == 206 && rq.has_range_total)
		total = rq.range_total;
	else if (rq.status == 200 && off == 0 && rq.has_length)
		total = rq.length;
	else
		return store_fail(emsg, AM_ERR_IO, "s3 %s: HTTP %ld to a range request", what,
				  rq.status);
	if (total != r->base.size ||
	    (*r->etag && *rq.etag && strcmp(rq.etag, r->etag) && r->delivered))
		return store_fail(emsg, AM_ERR_CONFLICT, "s3 %s: object changed under the reader",
				  what);
	if (*rq.etag && strcmp(rq.etag, r->etag)) { /* unpinned: another version now */
		free(r->head);
		r->head = NULL;
		r->head_len = 0;
		am_strlcpy(r->etag, rq.etag, sizeof(r->etag));
	}
	if (rq.dst_got != n)
		return store_fail(emsg, AM_ERR_IO, "s3 %s: short body (%zu of %zu bytes)", what,
				  rq.dst_got, n);
	return 0;
}

static int s3_reader_read(struct store_reader *br, uint64_t off, void *buf, size_t n)
{
	struct s3_reader *r = (struct s3_reader *)br;
	char *emsg = br->errmsg;
	int rc;

	if (r->head && off + n <= r->head_len) {
		memcpy(buf, r->head + off, n);
		r->delivered = 1; /* pins the version the open saw */
		r->next = off + n;
		return 0;
	}
	if (r->st && !s3_stream_covers(r->st, off)) {
		s3_stream_stop(r->st);
		r->st = NULL;
	}
	/* Sequential with more to come: stream (no thread: read without one). */
	if (!r->st && r->delivered && off == r->next && r->base.size - off > n &&
	    s3_stream_start(r->s, r->key, r->etag, off, r->base.size, &r->st, NULL) == 0) {
		free(r->head);
		r->head = NULL;
	}
	if (r->st)
		rc = s3_stream_read(r->st, off, buf, n, emsg);
	else
		rc = ranged_get(r, off, buf, n);
	if (rc == AM_ERR_NOTFOUND) /* deleted under the reader */
		rc = store_fail(emsg, AM_ERR_CONFLICT, "s3 GET %s: object deleted under the reader",
				r->key);
	if (rc == 0) {
		r->delivered = 1;
		r->next = off + n;
	}
	return rc;
}

static void s3_reader_close(struct store_reader *br)
{
	struct s3_reader *r = (struct s3_reader *)br;

	s3_stream_stop(r->st);
	free(r->head);
	free(r);
}

/* ---- delete, list, gc ------------------------------------------------------ */

static int s3_delete(struct store *bs, const char *key, char *emsg)
{
	struct s3_req rq = {.emsg = emsg, .method = "DELETE", .key = key};
	char what[STORE_KEY_MAX + 8];
	int rc;

	snprintf(what, sizeof(what), "DELETE %s", key);
	rc = s3_request((struct s3_store *)bs, &rq, what);
	return rc == AM_ERR_NOTFOUND ? 0 : rc;
}

/* Append "name=ENC(value)&" to q. */
static int q_add(struct am_buf *q, const char *name, const char *value, int last)
{
	int rc = am_buf_puts(q, name);

	if (!rc)
		rc = am_buf_puts(q, "=");
	if (!rc)
		rc = s3_uri_encode(q, value, strlen(value), 0);
	if (!rc && !last)
		rc = am_buf_puts(q, "&");
	return rc;
}

/* Strip our prefix from an object name; NULL unless the rest is a valid key. */
static const char *our_key(const struct s3_store *s, const char *name)
{
	size_t pl = strlen(s->prefix);

	if (strncmp(name, s->prefix, pl) || !store_key_valid(name + pl))
		return NULL;
	return name + pl;
}

/* Call cb for each valid <Contents> of one ListObjectsV2 page. */
static int list_page(struct s3_store *s, struct s3_str in, store_list_cb cb, void *arg, char *emsg)
{
	struct s3_str c;
	size_t pos = 0;
	char name[1024], num[32];
	int rc;

	while (s3_xml_next(in, &pos, "Contents", &c)) {
		struct store_info info = {0, 0};
		const char *key;
		int64_t size;
		if (s3_xml_text(c, "Key", name, sizeof(name)) ||
		    s3_xml_text(c, "Size", num, sizeof(num)) ||
		    am_parse_i64(num, 0, INT64_MAX, &size))
			return store_fail(emsg, AM_ERR_IO, "s3 list: malformed <Contents>");
		if (!(key = our_key(s, name)))
			continue; /* not ours: never listed */
		info.size = (uint64_t)size;
		if (s3_xml_text(c, "LastModified", num, sizeof(num)) == 0)
			(void)s3_parse_iso8601(num, &info.mtime);
		if ((rc = cb(arg, key, &info)))
			return rc;
	}
	return 0;
}

static int s3_list(struct store *bs, const char *prefix, store_list_cb cb, void *arg, char *emsg)
{
	struct s3_store *s = (struct s3_store *)bs;
	struct am_buf q, xml;
	char token[1024] = "", full[S3_PREFIX_MAX + STORE_KEY_MAX], mk[16], more[8];
	int rc;

	am_buf_init(&q, S3_URL_MAX);
	am_buf_init(&xml, S3_XML_MAX);
	snprintf(full, sizeof(full), "%s%s", s->prefix, prefix);
	snprintf(mk, sizeof(mk), "%d", s->tune.max_keys);
	do {
		struct s3_req rq = {.emsg = emsg, .method = "GET", .xml = &xml};
		struct s3_str in;
		am_buf_reset(&q);
		rc = *token ? q_add(&q, "continuation-token", token, 0) : 0;
		if (rc || (rc = q_add(&q, "list-type", "2", 0)) ||
		    (rc = q_add(&q, "max-keys", mk, 0)) || (rc = q_add(&q, "prefix", full, 1))) {
			rc = store_fail(emsg, AM_ERR_IO, "s3 list: query too long");
			goto out;
		}
		rq.query = (const char *)q.p;
		if ((rc = s3_request(s, &rq, "list")))
			goto out;
		in = (struct s3_str){(const char *)xml.p, xml.len};
		if (s3_xml_text(in, "IsTruncated", more, sizeof(more)))
			rc = store_fail(emsg, AM_ERR_IO, "s3 list: no <IsTruncated> in the answer");
		if (rc || (rc = list_page(s, in, cb, arg, emsg)))
			goto out;
		*token = 0;
		if (!strcmp(more, "true") &&
		    (s3_xml_text(in, "NextContinuationToken", token, sizeof(token)) || !*token)) {
			rc = store_fail(emsg, AM_ERR_IO,
					"s3 list: truncated without a usable token");
			goto out;
		}
	} while (*token);
out:
	am_buf_cleanup(&q);
	am_buf_cleanup(&xml);
	return rc;
}

int s3_abort_upload(struct s3_store *s, const char *key, const char *upload_id, char *emsg)
{
	struct s3_req rq = {.emsg = emsg, .method = "DELETE", .key = key};
	struct am_buf q;
	char what[STORE_KEY_MAX + 16];
	int rc;

	am_buf_init(&q, S3_URL_MAX);
	snprintf(what, sizeof(what), "abort %s", key);
	if ((rc = q_add(&q, "uploadId", upload_id, 1)) == 0) {
		rq.query = (const char *)q.p;
		rc = s3_request(s, &rq, what);
	}
	am_buf_cleanup(&q);
	return rc == AM_ERR_NOTFOUND ? 0 : rc;
}

struct gc_state {
	char key_marker[1024], id_marker[S3_UPLOAD_ID_MAX];
	char last_key[1024], last_id[S3_UPLOAD_ID_MAX]; /* of the page, for markers */
	uint64_t removed;
};

/* Abort each upload of one ListMultipartUploads page initiated before before. */
static int gc_page(struct s3_store *s, struct s3_str in, int64_t before, struct gc_state *g,
		   char *emsg)
{
	struct s3_str u;
	size_t pos = 0;
	char name[1024], id[S3_UPLOAD_ID_MAX], when[40];
	int rc;

	while (s3_xml_next(in, &pos, "Upload", &u)) {
		const char *key;
		int64_t t;
		if (s3_xml_text(u, "Key", name, sizeof(name)) ||
		    s3_xml_text(u, "UploadId", id, sizeof(id)) ||
		    s3_xml_text(u, "Initiated", when, sizeof(when)) || s3_parse_iso8601(when, &t))
			return store_fail(emsg, AM_ERR_IO, "s3 gc: malformed <Upload>");
		am_strlcpy(g->last_key, name, sizeof(g->last_key));
		am_strlcpy(g->last_id, id, sizeof(g->last_id));
		if (!(key = our_key(s, name)) || t >= before)
			continue;
		if ((rc = s3_abort_upload(s, key, id, emsg)))
			return rc;
		g->removed++;
	}
	return 0;
}

static int s3_gc_temp(struct store *bs, int64_t before, uint64_t *removed, char *emsg)
{
	struct s3_store *s = (struct s3_store *)bs;
	struct gc_state g = {.key_marker = "", .id_marker = "", .removed = 0};
	struct am_buf q, xml;
	char mk[16], more[8];
	int rc;

	am_buf_init(&q, S3_URL_MAX);
	am_buf_init(&xml, S3_XML_MAX);
	snprintf(mk, sizeof(mk), "%d", s->tune.max_keys);
	for (;;) {
		struct s3_req rq = {.emsg = emsg, .method = "GET", .xml = &xml};
		struct s3_str in;
		am_buf_reset(&q);
		rc = *g.key_marker ? q_add(&q, "key-marker", g.key_marker, 0) : 0;
		if (rc || (rc = q_add(&q, "max-uploads", mk, 0)) ||
		    (rc = q_add(&q, "prefix", s->prefix, 0)) ||
		    (*g.id_marker && (rc = q_add(&q, "upload-id-marker", g.id_marker, 0))) ||
		    (rc = q_add(&q, "uploads", "", 1))) {
			rc = store_fail(emsg, AM_ERR_IO, "s3 gc: query too long");
			goto out;
		}
		rq.query = (const char *)q.p;
		if ((rc = s3_request(s, &rq, "list multipart uploads")))
			goto out;
		in = (struct s3_str){(const char *)xml.p, xml.len};
		g.last_key[0] = 0;
		if ((rc = gc_page(s, in, before, &g, emsg)))
			goto out;
		if (s3_xml_text(in, "IsTruncated", more, sizeof(more)) || strcmp(more, "true"))
			break;
		if (s3_xml_text(in, "NextKeyMarker", g.key_marker, sizeof(g.key_marker)) ||
		    s3_xml_text(in, "NextUploadIdMarker", g.id_marker, sizeof(g.id_marker)) ||
		    !*g.key_marker) {
			/* Swift s3api leaves the Next*Marker empty: continue after the
			 * page's last upload, which is what they mean */
			am_strlcpy(g.key_marker, g.last_key, sizeof(g.key_marker));
			am_strlcpy(g.id_marker, g.last_id, sizeof(g.id_marker));
		}
		if (!*g.key_marker) {
			rc =
			    store_fail(emsg, AM_ERR_IO, "s3 gc: truncated listing without markers");
			goto out;
		}
	}
	rc = 0;
out:
	*removed = g.removed;
	am_buf_cleanup(&q);
	am_buf_cleanup(&xml);
	return rc;
}

static const struct store_ops s3_ops = {
    .name = "s3",
    .close = s3_close,
    .put_begin = s3_put_begin,
    .put_append = s3_put_append,
    .put_expect = s3_put_expect,
    .put_write_head = s3_put_write_head,
    .put_commit = s3_put_commit,
    .put_free = s3_put_free,
    .reader_open = s3_reader_open,
    .reader_open_seq = s3_reader_open_seq,
    .reader_read = s3_reader_read,
    .reader_close = s3_reader_close,
    .stat = s3_stat,
    .del = s3_delete,
    .list = s3_list,
    .gc_temp = s3_gc_temp,
};
