/*
 * test_store_s3.c: the S3 backend against a real S3 implementation (OpenStack
 * Swift with s3api on loopback: scripts/s3-test, which checks SigV4 and payload
 * hashes and enforces 5 MiB parts). Runs the unchanged backend-neutral
 * conformance suite, then what only S3 has: a wrong secret rejected as
 * AM_ERR_DENIED, multipart uploads with several parts, a reserved head sent as
 * part 1 last, abort leaving neither object nor upload, collection of stale
 * uploads, listings over many pages, a reader noticing an overwrite, AM1
 * ciphertext being all the bucket ever holds, and streaming reads (one GET
 * for a sequential pass through a small ring, skips, jumps, readers closed
 * mid-stream; a reader opened for reading in order is one GET in all). Needs AUDIOMUS_TEST_S3_URL
 * and the credentials (eval "$(scripts/s3-test env)"); otherwise prints SKIP and exits 77, which
 * scripts/run-unit reports as a skip (a failure under CI unless tests/skips.allow lists it). Test
 * code only.
 */
#include "store_conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "crypto/crypto_int.h"
#include "store/store.h"
#include "store/store_s3_int.h"
#include "util/util.h"

static const char *s3_url;

/* Open the test bucket with extra URL parameters. */
static struct store *open_with(const char *extra)
{
	struct store *s = NULL;
	struct store_err err;
	char url[1024];

	snprintf(url, sizeof(url), "%s%s", s3_url, extra ? extra : "");
	if (store_open(url, &s, &err))
		fail_msg("cannot open %s: %s", url, err.msg);
	return s;
}

/* The test bucket with a stream ring of ring bytes (small: many times around). */
static struct store *open_small_ring(size_t ring)
{
	struct store *s = open_with(NULL);
	struct s3_tuning t;

	store_s3_test_get_tune(s, &t);
	t.stream_buf = ring;
	store_s3_test_tune(s, &t);
	return s;
}

/* Raw S3 request through the backend's engine (for what store.h hides). */
static int raw(struct store *s, const char *method, const char *key, const char *query,
	       struct am_buf *xml, struct s3_req *out)
{
	struct s3_req rq = {.method = method, .key = key, .query = query, .xml = xml};
	int rc = s3_request((struct s3_store *)s, &rq, "test");

	if (out)
		*out = rq;
	return rc;
}

/* Number of multipart uploads in progress under name prefix (a store key or
 * key prefix). */
static int uploads_under(struct store *s, const char *prefix)
{
	struct am_buf xml, q;
	struct s3_str in, u;
	size_t pos = 0;
	int n = 0;

	am_buf_init(&xml, S3_XML_MAX);
	am_buf_init(&q, 1024);
	assert_int_equal(am_buf_puts(&q, "prefix="), 0);
	assert_int_equal(s3_uri_encode(&q, prefix, strlen(prefix), 0), 0);
	assert_int_equal(am_buf_puts(&q, "&uploads="), 0);
	assert_int_equal(raw(s, "GET", NULL, (char *)q.p, &xml, NULL), 0);
	in = (struct s3_str){(char *)xml.p, xml.len};
	while (s3_xml_next(in, &pos, "Upload", &u))
		n++;
	am_buf_cleanup(&xml);
	am_buf_cleanup(&q);
	return n;
}

/* The ETag of key as stored: multipart objects end in -<parts>". */
static void etag_of(struct store *s, const char *key, char *out, size_t outsz)
{
	struct s3_req rq;

	assert_int_equal(raw(s, "HEAD", key, NULL, NULL, &rq), 0);
	am_strlcpy(out, rq.etag, outsz);
}

static int list_none(void *arg, const char *key, const struct store_info *info)
{
	return 0;
}

/* The test bucket's URL with another, missing bucket. */
static struct store *open_nosuch_bucket(void)
{
	const char *q = strchr(s3_url, '?');
	struct store *s = NULL;
	struct store_err err;
	char url[1024];

	assert_non_null(q);
	snprintf(url, sizeof(url), "s3://audiomus-nosuch-%u%s", (unsigned)getpid(), q);
	if (store_open(url, &s, &err))
		fail_msg("cannot open %s: %s", url, err.msg);
	return s;
}

/* ---- tests ------------------------------------------------------------------- */

static void wrong_secret_denied(void **state)
{
	struct conf c;
	struct store *s = NULL;
	struct store_put *p = NULL;
	struct store_info info;
	struct store_err err;
	const char *bad = "wr0ng-S3cret-Must-Not-Leak";

	conf_defaults(&c);
	am_strlcpy(c.storage, s3_url, sizeof(c.storage));
	am_strlcpy(c.s3_access_key, getenv("AUDIOMUS_S3_ACCESS_KEY"), sizeof(c.s3_access_key));
	am_strlcpy(c.secret->s3_secret_key, bad, sizeof(c.secret->s3_secret_key));
	assert_int_equal(store_open_conf(&c, &s, &err), 0);
	/* each call fails at its first request (a rejected signature answers
	 * the same every time: no retries, no backoff) and says why */
	assert_int_equal(store_s3_test_requests(s), 0);
	assert_int_equal(store_stat(s, "orig/0123456789abcdef0123456789abcdef", &info, &err),
			 AM_ERR_DENIED);
	assert_int_equal(store_s3_test_requests(s), 1);
	assert_null(strstr(err.msg, bad));
	assert_int_equal(store_probe(s, &err), AM_ERR_DENIED);
	assert_int_equal(store_s3_test_requests(s), 2); /* the probe stops at its listing */
	assert_non_null(strstr(err.msg, "storage probe: list failed"));
	assert_non_null(strstr(err.msg, "403 SignatureDoesNotMatch"));
	assert_non_null(strstr(err.msg, "s3_secret_key does not match"));
	assert_null(strstr(err.msg, bad));
	assert_null(strstr(err.msg, "gave up"));
	assert_int_equal(store_put_begin(s, "orig/0123456789abcdef0123456789abcdef", &p, &err), 0);
	assert_int_equal(store_put_write(p, "x", 1), 0);
	assert_int_equal(store_put_commit(p, NULL, &err), AM_ERR_DENIED);
	assert_int_equal(store_s3_test_requests(s), 3);
	assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
	store_close(s);
	/* an unknown access key: the same, named as such */
	am_strlcpy(c.s3_access_key, "nosuch:user", sizeof(c.s3_access_key));
	assert_int_equal(store_open_conf(&c, &s, &err), 0);
	assert_int_equal(store_stat(s, "orig/0123456789abcdef0123456789abcdef", &info, &err),
			 AM_ERR_DENIED);
	assert_int_equal(store_list(s, "", list_none, NULL, &err), AM_ERR_DENIED);
	assert_int_equal(store_s3_test_requests(s), 2);
	assert_non_null(strstr(err.msg, "s3 list: 403 "));
	store_close(s);
	/* a bucket that does not exist: AM_ERR_IO (not "no such object"), at once */
	s = open_nosuch_bucket();
	assert_int_equal(store_list(s, "", list_none, NULL, &err), AM_ERR_IO);
	assert_int_equal(store_s3_test_requests(s), 1);
	assert_non_null(strstr(err.msg, "NoSuchBucket"));
	assert_int_equal(store_delete(s, "orig/0123456789abcdef0123456789abcdef", &err), AM_ERR_IO);
	store_close(s);
	/* and the right one passes the probe check-config runs */
	s = open_with(NULL);
	assert_int_equal(store_probe(s, &err), 0);
	store_close(s);
}

/* 3 x 5 MiB + a tail: four parts, streamed in uneven chunks. */
static void multipart_several_parts(void **state)
{
	struct store *s = open_with("&part_size=5M");
	const uint64_t size = 3 * (5u << 20) + 777777;
	char ns[17], key[64], etag[S3_ETAG_MAX];

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_put(s, key, 31, size, 300001);
	store_cf_verify(s, key, 31, size);
	etag_of(s, key, etag, sizeof(etag));
	assert_non_null(strstr(etag, "-4"));
	assert_int_equal(uploads_under(s, key), 0);
	/* exactly one part's worth is a single PUT, one byte more is two parts */
	store_cf_put(s, key, 32, 5u << 20, 1 << 20);
	store_cf_verify(s, key, 32, 5u << 20);
	etag_of(s, key, etag, sizeof(etag));
	assert_null(strchr(etag, '-'));
	store_cf_put(s, key, 33, (5u << 20) + 1, 1 << 20);
	store_cf_verify(s, key, 33, (5u << 20) + 1);
	etag_of(s, key, etag, sizeof(etag));
	assert_non_null(strstr(etag, "-2"));
	store_cf_cleanup(s, ns);
	store_close(s);
}

/* Write size bytes of seed's stream into p, 1 MiB at a time. */
static void put_stream(struct store_put *p, uint64_t seed, uint64_t size)
{
	uint8_t *buf = malloc(1 << 20);

	assert_non_null(buf);
	for (uint64_t off = 0; off < size;) {
		size_t n = size - off < (1u << 20) ? (size_t)(size - off) : 1u << 20;
		store_cf_fill(seed, off, buf, n);
		assert_int_equal(store_put_write(p, buf, n), 0);
		off += n;
	}
	free(buf);
}

/* store_put_expect of more than a part starts the multipart upload at
 * once (an S3 that refuses us then fails before the bytes are read); the
 * object is the same whether the put then grows past part 1 or, cut short,
 * ends inside it (one PUT; the early upload is aborted); a small
 * expectation starts nothing. */
static void multipart_expected(void **state)
{
	struct store *s = open_with("&part_size=5M");
	const uint64_t big = (11u << 20) + 99, cut = 777777;
	struct store_put *p = NULL;
	char ns[17], key[64], etag[S3_ETAG_MAX];

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	assert_int_equal(store_put_expect(p, big), 0);
	assert_int_equal(uploads_under(s, key), 1);
	put_stream(p, 41, big);
	assert_int_equal(store_put_commit(p, NULL, NULL), 0);
	store_cf_verify(s, key, 41, big);
	etag_of(s, key, etag, sizeof(etag));
	assert_non_null(strstr(etag, "-3"));
	assert_int_equal(uploads_under(s, key), 0);

	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	assert_int_equal(store_put_expect(p, big), 0);
	put_stream(p, 42, cut);
	assert_int_equal(store_put_commit(p, NULL, NULL), 0);
	store_cf_verify(s, key, 42, cut);
	etag_of(s, key, etag, sizeof(etag));
	assert_null(strchr(etag, '-'));
	assert_int_equal(uploads_under(s, key), 0);

	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	assert_int_equal(store_put_expect(p, 5u << 20), 0);
	assert_int_equal(uploads_under(s, key), 0);
	store_put_abort(p);
	store_cf_cleanup(s, ns);
	store_close(s);
}

/* The head [0, 1 MiB) arrives last, in overlapping pieces: part 1 goes last. */
static void multipart_reserved_head(void **state)
{
	struct store *s = open_with("&part_size=5M");
	const uint64_t head = STORE_PUT_HEAD_MAX, size = (12u << 20) + 4321;
	struct store_put *p = NULL;
	char ns[17], key[64], etag[S3_ETAG_MAX];
	uint8_t *buf = malloc(1 << 20);
	uint64_t got = 0;

	assert_non_null(buf);
	store_cf_ns(ns);
	store_cf_key(key, ns, "mp4");
	assert_int_equal(store_put_begin_reserved(s, key, head, &p, NULL), 0);
	for (uint64_t off = head; off < size;) {
		size_t n = size - off < 123457 ? (size_t)(size - off) : 123457;
		store_cf_fill(34, off, buf, n);
		assert_int_equal(store_put_write(p, buf, n), 0);
		off += n;
	}
	assert_int_equal(uploads_under(s, key), 1); /* parts 2.. are out already */
	store_cf_fill(34, 0, buf, head);
	assert_int_equal(store_put_write_at(p, 500000, buf + 500000, head - 500000), 0);
	assert_int_equal(store_put_write_at(p, 0, buf, 600000), 0);
	assert_int_equal(store_put_commit(p, &got, NULL), 0);
	assert_int_equal(got, size);
	store_cf_verify(s, key, 34, size);
	etag_of(s, key, etag, sizeof(etag));
	assert_non_null(strstr(etag, "-3"));
	assert_int_equal(uploads_under(s, key), 0);
	free(buf);
	store_cf_cleanup(s, ns);
	store_close(s);
}

static void abort_leaves_nothing(void **state)
{
	struct store *s = open_with("&part_size=5M");
	struct store_put *p = NULL;
	struct store_info info;
	char ns[17], key[64];
	uint8_t *buf = malloc(1 << 20);

	assert_non_null(buf);
	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	for (int reserved = 0; reserved < 2; reserved++) {
		assert_int_equal(store_put_begin_reserved(s, key, reserved ? 1000 : 0, &p, NULL),
				 0);
		for (int i = 0; i < 12; i++) {
			store_cf_fill(35, (uint64_t)i << 20, buf, 1 << 20);
			assert_int_equal(store_put_write(p, buf, 1 << 20), 0);
		}
		assert_int_equal(uploads_under(s, key), 1);
		store_put_abort(p);
		assert_int_equal(uploads_under(s, key), 0);
		assert_int_equal(store_stat(s, key, &info, NULL), AM_ERR_NOTFOUND);
	}
	free(buf);
	store_close(s);
}

/* A crashed writer's upload: kept while young, aborted once older than the
 * cut-off; foreign uploads (not our keys) are never touched. */
static void gc_stale_uploads(void **state)
{
	struct store *s = open_with(NULL);
	struct s3_tuning t;
	struct am_buf xml;
	char ns[17], keys[3][64], prefix[24];
	uint64_t removed = 99;

	am_buf_init(&xml, 65536);
	store_cf_ns(ns);
	snprintf(prefix, sizeof(prefix), "%s/", ns);
	for (int i = 0; i < 3; i++) {
		store_cf_key(keys[i], ns, NULL);
		assert_int_equal(raw(s, "POST", keys[i], "uploads=", &xml, NULL), 0);
	}
	assert_int_equal(uploads_under(s, prefix), 3);
	assert_int_equal(store_gc_temp(s, am_now() - 3600, &removed, NULL), 0);
	assert_int_equal(uploads_under(s, prefix), 3);
	store_s3_test_get_tune(s, &t);
	t.max_keys = 1; /* one upload per page: the markers must work */
	store_s3_test_tune(s, &t);
	assert_int_equal(store_gc_temp(s, am_now() + 60, &removed, NULL), 0);
	assert_true(removed >= 3);
	assert_int_equal(uploads_under(s, prefix), 0);
	am_buf_cleanup(&xml);
	store_close(s);
}

struct pages {
	int n;
	uint64_t total;
	int stop_at;
};

static int pages_cb(void *arg, const char *key, const struct store_info *info)
{
	struct pages *pg = arg;

	pg->n++;
	pg->total += info->size;
	return pg->stop_at && pg->n == pg->stop_at ? 5 : 0;
}

static void list_pagination(void **state)
{
	struct store *s = open_with(NULL);
	struct s3_tuning t;
	struct pages pg = {0, 0, 0};
	char ns[17], key[64], prefix[24];

	store_cf_ns(ns);
	snprintf(prefix, sizeof(prefix), "%s/", ns);
	for (int i = 0; i < 7; i++) {
		store_cf_key(key, ns, i % 2 ? "dat" : NULL);
		store_cf_put(s, key, 36, (uint64_t)i + 1, 16);
	}
	store_s3_test_get_tune(s, &t);
	t.max_keys = 2;
	store_s3_test_tune(s, &t);
	assert_int_equal(store_list(s, prefix, pages_cb, &pg, NULL), 0);
	assert_int_equal(pg.n, 7);
	assert_int_equal(pg.total, 28);
	pg = (struct pages){0, 0, 5}; /* stop on the third page */
	assert_int_equal(store_list(s, prefix, pages_cb, &pg, NULL), 5);
	assert_int_equal(pg.n, 5);
	store_cf_cleanup(s, ns); /* deletes while paging */
	pg = (struct pages){0, 0, 0};
	assert_int_equal(store_list(s, prefix, pages_cb, &pg, NULL), 0);
	assert_int_equal(pg.n, 0);
	store_close(s);
}

/* S3 cannot pin a version: after the first bytes, a change is a CONFLICT,
 * for an exact ranged GET and for a stream alike (the object is larger than
 * what the open fetched, so both go to S3). */
static void reader_notices_overwrite(void **state)
{
	const uint64_t size = 3 * S3_OPEN_READ;
	struct store *s = open_with(NULL);
	struct store_reader *r = NULL;
	char ns[17], key[64];
	uint8_t buf[100];
	size_t got;

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_put(s, key, 37, size, 4096);
	assert_int_equal(store_reader_open(s, key, &r, NULL), 0);
	assert_int_equal(store_reader_read_at(r, 0, buf, 100, &got), 0);
	assert_true(store_cf_check(37, 0, buf, 100));
	store_cf_put(s, key, 38, size, 4096);
	/* what the open fetched is the pinned version: still readable */
	assert_int_equal(store_reader_read_at(r, 100, buf, 100, &got), 0);
	assert_true(store_cf_check(37, 100, buf, 100));
	/* far away: one ranged GET with If-Match */
	assert_int_equal(store_reader_read_at(r, 2 * S3_OPEN_READ, buf, 100, &got),
			 AM_ERR_CONFLICT);
	/* sequential past what the open fetched: a stream with If-Match */
	assert_int_equal(store_reader_read_at(r, S3_OPEN_READ - 100, buf, 100, &got), 0);
	assert_int_equal(store_reader_read_at(r, S3_OPEN_READ, buf, 100, &got), AM_ERR_CONFLICT);
	store_reader_close(r);
	store_cf_verify(s, key, 38, size);
	store_cf_cleanup(s, ns);
	store_close(s);
}

/* Read [off, off + n) through r and check it against seed. */
static void read_check(struct store_reader *r, uint64_t seed, uint64_t off, size_t n, uint8_t *buf)
{
	size_t got = 0;

	assert_int_equal(store_reader_read_at(r, off, buf, n, &got), 0);
	assert_int_equal(got, n);
	assert_true(store_cf_check(seed, off, buf, n));
}

/* Sequential reads of odd sizes through a small ring (many times around it,
 * reads larger than it), a forward skip, a jump back and a restart: every
 * byte right, and one sequential pass is one GET at open plus one stream. */
static void stream_many_windows(void **state)
{
	const uint64_t size = (9u << 20) + 4321;
	struct store *s = open_small_ring(65536 + 7);
	struct store_reader *r = NULL;
	char ns[17], key[64];
	uint8_t *buf = malloc(300000);
	uint64_t off = 0;
	unsigned long before;

	assert_non_null(buf);
	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_put(s, key, 41, size, 1 << 20);
	before = store_s3_test_requests(s);
	assert_int_equal(store_reader_open(s, key, &r, NULL), 0);
	for (size_t i = 1; off < (6u << 20); i++) {
		size_t n = (i * 7919) % 300000 + 1;
		read_check(r, 41, off, n, buf);
		off += n;
	}
	assert_int_equal(store_s3_test_requests(s) - before, 2);
	off += 500000; /* skipped within the stream */
	read_check(r, 41, off, 65552, buf);
	read_check(r, 41, 1000, 5000, buf); /* back: one exact GET, the stream stops */
	read_check(r, 41, 6000, 1234, buf); /* sequential again: a new stream */
	read_check(r, 41, 7234, 65552, buf);
	read_check(r, 41, size - 10, 10, buf); /* far ahead: exact GET */
	store_reader_close(r);
	free(buf);
	store_cf_cleanup(s, ns);
	store_close(s);
}

/* A reader opened for reading in order costs one GET for a whole pass (the
 * open is the stream's first answer: it learns the size and pins the ETag),
 * for an object larger than the ring and one smaller than the open's read
 * of other readers; a read elsewhere afterwards is an exact GET pinned to
 * that version, so an overwrite after the first bytes is a CONFLICT. */
static void seq_open_one_request(void **state)
{
	const uint64_t sizes[] = {(5u << 20) + 4321, 100};
	struct store *s = open_small_ring(65536 + 7);
	struct store_reader *r = NULL;
	char ns[17], key[64];
	uint8_t *buf = malloc(300000);
	unsigned long before;
	size_t got;

	assert_non_null(buf);
	store_cf_ns(ns);
	for (size_t k = 0; k < AM_ARRAY_LEN(sizes); k++) {
		uint64_t off = 0, size = sizes[k];
		store_cf_key(key, ns, NULL);
		store_cf_put(s, key, 61 + k, size, 1 << 20);
		before = store_s3_test_requests(s);
		assert_int_equal(store_reader_open_seq(s, key, &r, NULL), 0);
		assert_int_equal(store_reader_size(r), size);
		for (size_t i = 1; off < size; i++) {
			size_t n = (i * 7919) % 300000 + 1;
			if (n > size - off)
				n = (size_t)(size - off);
			read_check(r, 61 + k, off, n, buf);
			off += n;
		}
		assert_int_equal(store_s3_test_requests(s) - before, 1);
		read_check(r, 61 + k, size / 3, 50, buf); /* back: an exact GET */
		store_reader_close(r);
	}
	/* pinned: the version of the open's answer */
	store_cf_key(key, ns, NULL);
	store_cf_put(s, key, 71, 3u << 20, 1 << 20);
	assert_int_equal(store_reader_open_seq(s, key, &r, NULL), 0);
	read_check(r, 71, 0, 1000, buf);
	store_cf_put(s, key, 72, 3u << 20, 1 << 20);
	assert_int_equal(store_reader_read_at(r, 2u << 20, buf, 100, &got), AM_ERR_CONFLICT);
	store_reader_close(r);
	store_cf_verify(s, key, 72, 3u << 20);
	free(buf);
	store_cf_cleanup(s, ns);
	store_close(s);
}

/* The ring grows (to 4 times its size) only for a reader that keeps emptying
 * it: a slow reader, which never empties a full ring, keeps the small one.
 * The pauses let the stream fill the ring; loopback Swift needs a few ms. */
static void stream_ring_grows_for_fast_reader(void **state)
{
	const uint64_t size = 6u << 20;
	const size_t ring = 65536 + 7;
	struct store *s = open_small_ring(ring);
	struct store_reader *r = NULL;
	char ns[17], key[64];
	uint8_t *buf = malloc(300000);
	uint64_t off = 0;

	assert_non_null(buf);
	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_put(s, key, 81, size, 1 << 20);
	assert_int_equal(store_reader_open_seq(s, key, &r, NULL), 0);
	usleep(200000);				    /* full */
	for (int i = 0; i < 20; i++, off += 1000) { /* slow: never empties it */
		read_check(r, 81, off, 1000, buf);
		usleep(10000);
	}
	assert_int_equal(store_s3_test_ring(r), ring);
	for (int i = 0; i < 3; i++, off += 300000) { /* fast: empties it, then it fills */
		read_check(r, 81, off, 300000, buf);
		usleep(200000);
	}
	assert_int_equal(store_s3_test_ring(r), 4 * ring);
	for (; off < size; off += 100000) /* every byte still right */
		read_check(r, 81, off, size - off < 100000 ? (size_t)(size - off) : 100000, buf);
	store_reader_close(r);
	free(buf);
	store_cf_cleanup(s, ns);
	store_close(s);
}

/* A reader closed mid-stream (the ring full, the thread waiting for room, or
 * the stream just started) frees everything (ASan) and the store goes on. */
static void stream_abort_frees(void **state)
{
	const uint64_t size = 24u << 20;
	struct store *s = open_with(NULL);
	struct store_reader *r = NULL;
	char ns[17], key[64];
	uint8_t *buf = malloc(65552);
	struct store_info info;

	assert_non_null(buf);
	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_put(s, key, 43, size, 1 << 20);
	for (int round = 0; round < 6; round++) {
		uint64_t off = 0;
		assert_int_equal(store_reader_open(s, key, &r, NULL), 0);
		for (int i = 0; i < 1 + round % 3; i++, off += 65552)
			read_check(r, 43, off, 65552, buf);
		store_reader_close(r);
	}
	assert_int_equal(store_stat(s, key, &info, NULL), 0);
	assert_int_equal(info.size, size);
	store_cf_verify(s, key, 43, size);
	free(buf);
	store_cf_cleanup(s, ns);
	store_close(s);
}

/* Encrypt through store_am1 (plain and head mode), fetch the raw object with
 * a plain GET and find no plaintext in it; decrypt back through the store. */
static void only_ciphertext_in_bucket(void **state)
{
	struct store *s = open_with("&part_size=5M");
	const uint64_t plain = (11u << 20) + 999;
	uint8_t dek[CRYPTO_KEY_LEN], fid[CRYPTO_ID_LEN], marker[32];
	uint8_t *pt = malloc(plain), *raw_obj = malloc(plain + (1 << 20));
	char key[STORE_KEY_MAX];

	assert_non_null(pt);
	assert_non_null(raw_obj);
	memset(marker, 'M', sizeof(marker));
	store_cf_fill(39, 0, pt, plain);
	for (uint64_t o = 0; o + sizeof(marker) <= plain; o += 100000)
		memcpy(pt + o, marker, sizeof(marker)); /* a recognisable plaintext */
	for (int head = 0; head < 2; head++) {
		uint64_t hl = head ? 2 * AM1_SEGMENT : 0, csize = 0, psize = 0, size = 0;
		struct store_am1_put ap;
		struct am1_sink sink;
		struct am1_writer *w = NULL;
		struct store_reader *r = NULL;
		struct am1_reader *ar = NULL;
		struct am1_source src;
		size_t got = 0;

		assert_int_equal(crypto_random(dek, sizeof(dek)), 0);
		assert_int_equal(crypto_random_id(fid), 0);
		assert_int_equal(store_key_format(key, sizeof(key), "orig", fid, NULL), 0);
		assert_int_equal(store_am1_put_begin(s, key, hl, &ap, &sink, NULL), 0);
		assert_int_equal(am1_writer_new(dek, fid, &sink, hl, &w), 0);
		for (uint64_t off = hl; off < plain; off += 200000)
			assert_int_equal(
			    am1_writer_write(w, pt + off,
					     plain - off < 200000 ? plain - off : 200000),
			    0);
		if (hl)
			assert_int_equal(am1_writer_patch_head(w, pt, hl), 0);
		assert_int_equal(am1_writer_finish(w, &psize, &csize), 0);
		am1_writer_free(w);
		assert_int_equal(store_put_commit(ap.put, &size, NULL), 0);
		assert_int_equal(size, csize);
		/* what the bucket holds, fetched with a plain ranged GET */
		assert_int_equal(store_read_at(s, key, 0, raw_obj, csize, &got, NULL), 0);
		assert_int_equal(got, csize);
		assert_memory_equal(raw_obj, "AM1SEG", 6);
		assert_null(memmem(raw_obj, csize, marker, sizeof(marker)));
		assert_null(memmem(raw_obj, csize, pt + 5000, 64));
		/* and it decrypts back */
		assert_int_equal(store_reader_open(s, key, &r, NULL), 0);
		store_am1_source(r, &src);
		assert_int_equal(am1_reader_open(dek, fid, &src, plain, &ar), 0);
		assert_int_equal(am1_reader_pread(ar, 0, raw_obj, plain, &got), 0);
		assert_int_equal(got, plain);
		assert_memory_equal(raw_obj, pt, plain);
		am1_reader_free(ar);
		store_reader_close(r);
		assert_int_equal(store_delete(s, key, NULL), 0);
	}
	free(pt);
	free(raw_obj);
	store_close(s);
}

static const struct CMUnitTest s3_tests[] = {
    cmocka_unit_test(wrong_secret_denied),
    cmocka_unit_test(multipart_several_parts),
    cmocka_unit_test(multipart_expected),
    cmocka_unit_test(multipart_reserved_head),
    cmocka_unit_test(abort_leaves_nothing),
    cmocka_unit_test(gc_stale_uploads),
    cmocka_unit_test(list_pagination),
    cmocka_unit_test(reader_notices_overwrite),
    cmocka_unit_test(only_ciphertext_in_bucket),
    cmocka_unit_test(stream_many_windows),
    cmocka_unit_test(stream_abort_frees),
    cmocka_unit_test(seq_open_one_request),
    cmocka_unit_test(stream_ring_grows_for_fast_reader),
};

int main(void)
{
	struct CMUnitTest tests[64];
	size_t n;

	s3_url = getenv("AUDIOMUS_TEST_S3_URL");
	if (!s3_url || !*s3_url) {
		printf("SKIP store (s3): AUDIOMUS_TEST_S3_URL is not set; start a server with\n"
		       "  eval \"$(scripts/s3-test env)\"; scripts/s3-test start\n");
		return 77; /* skipped: scripts/run-unit counts it, and CI fails on it */
	}
	/* the conformance suite, unchanged, then the S3-only tests, in one group */
	store_conformance_set_url(s3_url);
	n = store_conformance_tests(tests, AM_ARRAY_LEN(tests));
	for (size_t i = 0; i < AM_ARRAY_LEN(s3_tests) && n < AM_ARRAY_LEN(tests); i++)
		tests[n++] = s3_tests[i];
	return _cmocka_run_group_tests("store_s3", tests, n, store_conformance_setup,
				       store_conformance_teardown);
}
