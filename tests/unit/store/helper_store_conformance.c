/*
 * helper_store_conformance.c: the object-store conformance suite, written
 * once against store.h only, so that every backend (file: now, s3:// later)
 * runs the identical tests. Linked into every unit-test binary (helper_*),
 * hence only store_conformance_* / store_cf_* names are exported and there is
 * no main. Each test works in its own random namespace and cleans up after
 * itself, so the suite can run against a shared bucket. Test code only.
 */
#include "store_conformance.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "store/store.h"
#include "util/util.h"

#define CF_SEG 65536

static const char *cf_url;

/* ---- shared helpers -------------------------------------------------------- */

uint8_t store_cf_byte(uint64_t seed, uint64_t off)
{
	uint64_t x = off + seed * 0x9E3779B97F4A7C15ull;

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 32;
	return (uint8_t)x;
}

void store_cf_fill(uint64_t seed, uint64_t off, void *buf, size_t n)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < n; i++)
		p[i] = store_cf_byte(seed, off + i);
}

int store_cf_check(uint64_t seed, uint64_t off, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < n; i++)
		if (p[i] != store_cf_byte(seed, off + i))
			return 0;
	return 1;
}

static void cf_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[16];

	assert_true(nbytes <= sizeof(r));
	assert_int_equal(getrandom(r, nbytes, 0), (ssize_t)nbytes);
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[2 * nbytes] = 0;
}

void store_cf_ns(char ns[17])
{
	ns[0] = 't';
	cf_hex(ns + 1, 6);
}

void store_cf_key(char key[64], const char *ns, const char *ext)
{
	uint8_t id[16];

	assert_int_equal(getrandom(id, sizeof(id), 0), (ssize_t)sizeof(id));
	assert_int_equal(store_key_format(key, 64, ns, id, ext), 0);
}

void store_cf_put(struct store *s, const char *key, uint64_t seed, uint64_t size, size_t chunk)
{
	struct store_put *p = NULL;
	uint8_t *buf = malloc(chunk);
	uint64_t off = 0, got = 0;

	assert_non_null(buf);
	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	while (off < size) {
		size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
		store_cf_fill(seed, off, buf, n);
		assert_int_equal(store_put_write(p, buf, n), 0);
		off += n;
	}
	assert_int_equal(store_put_size(p), size);
	assert_int_equal(store_put_commit(p, &got, NULL), 0);
	assert_int_equal(got, size);
	free(buf);
}

void store_cf_verify(struct store *s, const char *key, uint64_t seed, uint64_t size)
{
	struct store_reader *r = NULL;
	size_t chunk = 1 << 20, got;
	uint8_t *buf = malloc(chunk);
	uint64_t off = 0;

	assert_non_null(buf);
	/* in order from the start: the open for that (store_reader_open_seq) */
	assert_int_equal(store_reader_open_seq(s, key, &r, NULL), 0);
	assert_int_equal(store_reader_size(r), size);
	while (off < size) {
		assert_int_equal(store_reader_read_at(r, off, buf, chunk, &got), 0);
		assert_true(got > 0);
		assert_true(got == chunk || off + got == size);
		assert_true(store_cf_check(seed, off, buf, got));
		off += got;
	}
	assert_int_equal(store_reader_read_at(r, off, buf, chunk, &got), 0);
	assert_int_equal(got, 0);
	store_reader_close(r);
	free(buf);
}

static int cf_delete_cb(void *arg, const char *key, const struct store_info *info)
{
	return store_delete(arg, key, NULL);
}

void store_cf_cleanup(struct store *s, const char *ns)
{
	char prefix[24];

	snprintf(prefix, sizeof(prefix), "%s/", ns);
	assert_int_equal(store_list(s, prefix, cf_delete_cb, s, NULL), 0);
}

struct cf_count {
	char keys[16][64];
	uint64_t sizes[16];
	int n;
	int stop_after; /* 0 = never */
};

static int cf_count_cb(void *arg, const char *key, const struct store_info *info)
{
	struct cf_count *c = arg;

	if (c->n < 16) {
		am_strlcpy(c->keys[c->n], key, sizeof(c->keys[0]));
		c->sizes[c->n] = info->size;
	}
	c->n++;
	return c->stop_after && c->n >= c->stop_after ? 7 : 0;
}

static int cf_listed(const struct cf_count *c, const char *key)
{
	for (int i = 0; i < c->n && i < 16; i++)
		if (!strcmp(c->keys[i], key))
			return 1;
	return 0;
}

static int cf_count_ns(struct store *s, const char *ns)
{
	struct cf_count c = {.n = 0};
	char prefix[24];

	snprintf(prefix, sizeof(prefix), "%s/", ns);
	assert_int_equal(store_list(s, prefix, cf_count_cb, &c, NULL), 0);
	return c.n;
}

/* ---- tests ------------------------------------------------------------------ */

static void cf_roundtrip_small(void **state)
{
	struct store *s = *state;
	struct store_info info;
	char ns[17], key[64];
	uint8_t buf[1200];
	size_t got;
	int64_t now = am_now();

	store_cf_ns(ns);
	store_cf_key(key, ns, "am1");
	store_cf_put(s, key, 1, 1000, 333);
	assert_int_equal(store_stat(s, key, &info, NULL), 0);
	assert_int_equal(info.size, 1000);
	assert_true(info.mtime > now - 3600 && info.mtime < now + 3600);
	assert_int_equal(store_read_at(s, key, 0, buf, sizeof(buf), &got, NULL), 0);
	assert_int_equal(got, 1000);
	assert_true(store_cf_check(1, 0, buf, got));
	assert_string_not_equal(store_backend(s), "");
	store_cf_cleanup(s, ns);
}

static void cf_empty_object(void **state)
{
	struct store *s = *state;
	struct store_reader *r = NULL;
	struct store_info info;
	char ns[17], key[64];
	uint8_t buf[8];
	size_t got = 99;

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_put(s, key, 2, 0, 16);
	assert_int_equal(store_stat(s, key, &info, NULL), 0);
	assert_int_equal(info.size, 0);
	assert_int_equal(store_read_at(s, key, 0, buf, sizeof(buf), &got, NULL), 0);
	assert_int_equal(got, 0);
	assert_int_equal(store_read_at(s, key, 1, buf, sizeof(buf), &got, NULL), AM_ERR_RANGE);
	assert_int_equal(store_reader_open(s, key, &r, NULL), 0);
	assert_int_equal(store_reader_size(r), 0);
	store_reader_close(r);
	assert_int_equal(store_reader_open_seq(s, key, &r, NULL), 0);
	assert_int_equal(store_reader_size(r), 0);
	assert_int_equal(store_reader_read_at(r, 0, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 0);
	store_reader_close(r);
	store_cf_cleanup(s, ns);
}

static void cf_missing_and_delete(void **state)
{
	struct store *s = *state;
	struct store_reader *r = (void *)1;
	struct store_info info;
	struct store_err err;
	char ns[17], key[64];
	uint8_t buf[8];
	size_t got;

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	assert_int_equal(store_stat(s, key, &info, NULL), AM_ERR_NOTFOUND);
	assert_int_equal(store_read_at(s, key, 0, buf, 8, &got, &err), AM_ERR_NOTFOUND);
	assert_string_not_equal(err.msg, "");
	assert_int_equal(store_reader_open(s, key, &r, &err), AM_ERR_NOTFOUND);
	assert_null(r);
	assert_string_not_equal(err.msg, "");
	r = (void *)1;
	assert_int_equal(store_reader_open_seq(s, key, &r, &err), AM_ERR_NOTFOUND);
	assert_null(r);
	assert_string_not_equal(err.msg, "");
	assert_int_equal(store_delete(s, key, NULL), 0);
	store_cf_put(s, key, 3, 10, 10);
	assert_int_equal(store_delete(s, key, NULL), 0);
	assert_int_equal(store_stat(s, key, &info, NULL), AM_ERR_NOTFOUND);
	assert_int_equal(store_delete(s, key, NULL), 0);
	assert_int_equal(cf_count_ns(s, ns), 0);
}

/* The detail is the caller's: a call's struct store_err is "" after a
 * success and names the failure after one; a failed put gives its first
 * failure's detail (store_put_errmsg) with every later write, after other
 * calls succeeded in between, and its commit hands it to the caller; a
 * reader's detail is its latest read's. */
static void cf_error_detail(void **state)
{
	struct store *s = *state;
	struct store_put *p = NULL;
	struct store_reader *r = NULL;
	struct store_info info;
	struct store_err err, other_err;
	char ns[17], key[64], other[64];
	uint8_t buf[16];
	size_t got = 0;

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_key(other, ns, NULL);
	store_cf_put(s, other, 5, 10, 10);
	assert_int_equal(store_stat(s, key, &info, &err), AM_ERR_NOTFOUND);
	assert_string_not_equal(err.msg, "");
	assert_int_equal(store_stat(s, other, &info, &other_err), 0);
	assert_string_equal(other_err.msg, "");
	assert_string_not_equal(err.msg, ""); /* another call's success leaves it alone */
	assert_int_equal(store_stat(s, other, &info, &err), 0);
	assert_string_equal(err.msg, "");
	assert_int_equal(store_put_begin_reserved(s, key, 100, &p, &err), 0);
	assert_string_equal(err.msg, "");
	assert_string_equal(store_put_errmsg(p), "");
	assert_int_equal(store_put_write_at(p, 90, "0123456789a", 11), AM_ERR_INVAL);
	assert_non_null(strstr(store_put_errmsg(p), "outside the reserved head"));
	assert_int_equal(store_stat(s, other, &info, &err), 0);
	assert_non_null(strstr(store_put_errmsg(p), "outside the reserved head"));
	assert_int_equal(store_put_write(p, "x", 1), AM_ERR_INVAL);
	assert_non_null(strstr(store_put_errmsg(p), "outside the reserved head"));
	assert_int_equal(store_put_commit(p, NULL, &err), AM_ERR_INVAL);
	assert_non_null(strstr(err.msg, "outside the reserved head"));
	assert_int_equal(store_stat(s, key, &info, NULL), AM_ERR_NOTFOUND);
	/* a reader: a failed read names itself, the next good read clears it */
	assert_int_equal(store_reader_open(s, other, &r, &err), 0);
	assert_string_equal(store_reader_errmsg(r), "");
	assert_int_equal(store_reader_read_at(r, 11, buf, sizeof(buf), &got), AM_ERR_RANGE);
	assert_non_null(strstr(store_reader_errmsg(r), "past the end"));
	assert_int_equal(store_reader_read_at(r, 0, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, 10);
	assert_string_equal(store_reader_errmsg(r), "");
	store_reader_close(r);
	assert_string_equal(store_put_errmsg(NULL), "");
	assert_string_equal(store_reader_errmsg(NULL), "");
	store_cf_cleanup(s, ns);
}

/* Threads failing on the same store at once each get their own call's
 * detail: nothing is kept on the shared store. */
struct cf_err_thread {
	struct store *s;
	char key[64];
	int wrong;
};

static void *cf_err_worker(void *arg)
{
	struct cf_err_thread *t = arg;
	struct store_info info;
	struct store_err err;

	for (int i = 0; i < 25; i++)
		if (store_stat(t->s, t->key, &info, &err) != AM_ERR_NOTFOUND ||
		    !strstr(err.msg, t->key))
			t->wrong++;
	return NULL;
}

static void cf_error_detail_threads(void **state)
{
	struct cf_err_thread t[4];
	pthread_t th[4];
	char ns[17];

	store_cf_ns(ns);
	for (int i = 0; i < 4; i++) {
		t[i].s = *state;
		t[i].wrong = 0;
		store_cf_key(t[i].key, ns, NULL);
		assert_int_equal(pthread_create(&th[i], NULL, cf_err_worker, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].wrong, 0);
	}
}

static const char *const cf_bad_keys[] = {
    "",
    "orig",
    "orig/",
    "/orig/0123456789abcdef0123456789abcdef",
    "orig/0123456789abcdef0123456789abcde",   /* 31 hex */
    "orig/0123456789abcdef0123456789abcdef0", /* 33 hex */
    "orig/0123456789ABCDEF0123456789abcdef",  /* uppercase */
    "Orig/0123456789abcdef0123456789abcdef",
    "orig/0123456789abcdef0123456789abcdeg",
    "orig//0123456789abcdef0123456789abcdef",
    "orig/../0123456789abcdef0123456789abcd",
    "../orig/0123456789abcdef0123456789abcdef",
    "orig/0123456789abcdef0123456789abcdef/x",
    "orig/0123456789abcdef0123456789abcdef.",
    "orig/0123456789abcdef0123456789abcdef..",
    "orig/0123456789abcdef0123456789abcdef.a.b",
    "orig/0123456789abcdef0123456789abcdef.abcdefghi", /* ext 9 */
    "orig/0123456789abcdef0123456789abcdef.MP4",
    "abcdefghijklmnopq/0123456789abcdef0123456789abcdef", /* ns 17 */
    "or-g/0123456789abcdef0123456789abcdef",
    "or.g/0123456789abcdef0123456789abcdef",
    "orig/0123456789abcdef0123456789abcdef ",
    " orig/0123456789abcdef0123456789abcdef",
    "orig\\0123456789abcdef0123456789abcdef",
    "orig/0123456789abcdef0123456789abcdef\n",
    "orig/0123456789abcdef0123456789abcd\xc3\xa9",
    ".tmp-0123456789abcdef",
    "orig/.tmp-0123456789abcdef0123456789ab",
};

static void cf_invalid_keys(void **state)
{
	struct store *s = *state;
	struct store_put *p = (void *)1;
	struct store_reader *r = (void *)1;
	struct store_info info;
	uint8_t buf[4];
	size_t got;
	/* the NUL makes the C string a valid key, the rest must never matter */
	const char nul_key[] = "orig/0123456789abcdef0123456789abcdef\0/../../etc";

	for (size_t i = 0; i < AM_ARRAY_LEN(cf_bad_keys); i++) {
		const char *k = cf_bad_keys[i];
		assert_false(store_key_valid(k));
		assert_int_equal(store_put_begin(s, k, &p, NULL), AM_ERR_INVAL);
		assert_null(p);
		assert_int_equal(store_put_begin_reserved(s, k, 10, &p, NULL), AM_ERR_INVAL);
		assert_int_equal(store_reader_open(s, k, &r, NULL), AM_ERR_INVAL);
		assert_null(r);
		assert_int_equal(store_read_at(s, k, 0, buf, 4, &got, NULL), AM_ERR_INVAL);
		assert_int_equal(store_stat(s, k, &info, NULL), AM_ERR_INVAL);
		assert_int_equal(store_delete(s, k, NULL), AM_ERR_INVAL);
	}
	assert_false(store_key_valid(NULL));
	assert_int_equal(store_stat(s, NULL, &info, NULL), AM_ERR_INVAL);
	assert_true(store_key_valid(nul_key));
	assert_true(store_key_valid("a/0123456789abcdef0123456789abcdef"));
	assert_true(store_key_valid("abcdefghijklmnop/0123456789abcdef0123456789abcdef.abcdefg8"));
}

static void cf_key_format_and_prefixes(void **state)
{
	struct store *s = *state;
	struct cf_count c = {.n = 0};
	const uint8_t id[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
				0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
	static const char *const bad_prefixes[] = {
	    "/",
	    "../",
	    "A",
	    "orig//",
	    "abcdefghijklmnopq",
	    "orig/g",
	    "orig/.",
	    "orig/0123456789abcdef0123456789abcdef.abcdefghi",
	    "orig/x/"};
	char k[64];

	assert_int_equal(store_key_format(k, sizeof(k), "orig", id, NULL), 0);
	assert_string_equal(k, "orig/0123456789abcdeffedcba9876543210");
	assert_int_equal(store_key_format(k, sizeof(k), "peaks", id, "dat"), 0);
	assert_string_equal(k, "peaks/0123456789abcdeffedcba9876543210.dat");
	assert_int_equal(store_key_format(k, sizeof(k), "../x", id, NULL), AM_ERR_INVAL);
	assert_int_equal(store_key_format(k, sizeof(k), "orig", id, "a/b"), AM_ERR_INVAL);
	assert_int_equal(store_key_format(k, sizeof(k), "abcdefghijklmnopq", id, NULL),
			 AM_ERR_INVAL);
	assert_int_equal(store_key_format(k, 20, "orig", id, NULL), AM_ERR_INVAL);
	for (size_t i = 0; i < AM_ARRAY_LEN(bad_prefixes); i++)
		assert_int_equal(store_list(s, bad_prefixes[i], cf_count_cb, &c, NULL),
				 AM_ERR_INVAL);
	assert_int_equal(store_list(s, NULL, cf_count_cb, &c, NULL), AM_ERR_INVAL);
	assert_int_equal(c.n, 0);
}

/* Reads at every boundary through a reader (opened for random access, or
 * for reading in order: either serves any range), and one-shot. */
static void cf_ranges_through(struct store *s, const char *key, uint64_t size, int seq,
			      uint8_t *buf)
{
	const uint64_t offs[] = {0,	     1,		CF_SEG - 1, CF_SEG, CF_SEG + 1,
				 2 * CF_SEG, size - 17, size - 1,   size};
	const size_t lens[] = {0, 1, 2, 16, 17, 18, CF_SEG - 1, CF_SEG, CF_SEG + 1, size + 5};
	struct store_reader *r = NULL;
	size_t got;

	assert_int_equal((seq ? store_reader_open_seq : store_reader_open)(s, key, &r, NULL), 0);
	assert_int_equal(store_reader_size(r), size);
	for (size_t i = 0; i < AM_ARRAY_LEN(offs); i++) {
		for (size_t j = 0; j < AM_ARRAY_LEN(lens); j++) {
			uint64_t want = size - offs[i] < lens[j] ? size - offs[i] : lens[j];
			got = 12345;
			assert_int_equal(store_reader_read_at(r, offs[i], buf, lens[j], &got), 0);
			assert_int_equal(got, want);
			assert_true(store_cf_check(4, offs[i], buf, got));
		}
		got = 12345;
		assert_int_equal(store_read_at(s, key, offs[i], buf, CF_SEG, &got, NULL), 0);
		assert_true(store_cf_check(4, offs[i], buf, got));
	}
	assert_int_equal(store_reader_read_at(r, size + 1, buf, 1, &got), AM_ERR_RANGE);
	assert_int_equal(got, 0);
	assert_int_equal(store_reader_read_at(r, size + 1, buf, 0, &got), AM_ERR_RANGE);
	assert_int_equal(store_reader_read_at(r, UINT64_MAX, buf, 10, &got), AM_ERR_RANGE);
	assert_int_equal(store_read_at(s, key, size + 100, buf, 10, &got, NULL), AM_ERR_RANGE);
	/* many random ranges through one handle */
	for (int i = 0; i < 300; i++) {
		uint32_t rnd[2];
		assert_int_equal(getrandom(rnd, sizeof(rnd), 0), (ssize_t)sizeof(rnd));
		uint64_t off = rnd[0] % (size + 1);
		size_t n = rnd[1] % (2 * CF_SEG);
		assert_int_equal(store_reader_read_at(r, off, buf, n, &got), 0);
		assert_int_equal(got, size - off < n ? size - off : n);
		assert_true(store_cf_check(4, off, buf, got));
	}
	store_reader_close(r);
}

static void cf_ranges(void **state)
{
	struct store *s = *state;
	const uint64_t size = 3 * CF_SEG + 17;
	char ns[17], key[64];
	uint8_t *buf = malloc(size + 8);

	assert_non_null(buf);
	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_put(s, key, 4, size, 7000);
	cf_ranges_through(s, key, size, 0, buf);
	cf_ranges_through(s, key, size, 1, buf);
	store_reader_close(NULL);
	free(buf);
	store_cf_cleanup(s, ns);
}

static void cf_abort_leaves_nothing(void **state)
{
	struct store *s = *state;
	struct store_put *p = NULL;
	struct store_info info;
	char ns[17], key[64];
	uint8_t buf[4096];

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_fill(5, 0, buf, sizeof(buf));
	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	for (int i = 0; i < 30; i++)
		assert_int_equal(store_put_write(p, buf, sizeof(buf)), 0);
	store_put_abort(p);
	assert_int_equal(store_put_begin_reserved(s, key, 100, &p, NULL), 0);
	assert_int_equal(store_put_write(p, buf, sizeof(buf)), 0);
	assert_int_equal(store_put_write_at(p, 0, buf, 100), 0);
	store_put_abort(p);
	store_put_abort(NULL);
	assert_int_equal(store_stat(s, key, &info, NULL), AM_ERR_NOTFOUND);
	assert_int_equal(cf_count_ns(s, ns), 0);
}

static void cf_invisible_until_commit(void **state)
{
	struct store *s = *state;
	struct store_put *p = NULL;
	struct store_info info;
	char ns[17], key[64];
	uint8_t buf[5000];
	size_t got;

	store_cf_ns(ns);
	store_cf_key(key, ns, "mp4");
	store_cf_fill(6, 0, buf, sizeof(buf));
	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	assert_int_equal(store_put_write(p, buf, sizeof(buf)), 0);
	assert_int_equal(store_stat(s, key, &info, NULL), AM_ERR_NOTFOUND);
	assert_int_equal(store_read_at(s, key, 0, buf, 10, &got, NULL), AM_ERR_NOTFOUND);
	assert_int_equal(cf_count_ns(s, ns), 0);
	assert_int_equal(store_put_commit(p, NULL, NULL), 0);
	assert_int_equal(cf_count_ns(s, ns), 1);
	store_cf_verify(s, key, 6, sizeof(buf));
	store_cf_cleanup(s, ns);
}

static void cf_overwrite_is_atomic(void **state)
{
	struct store *s = *state;
	struct store_put *p = NULL;
	char ns[17], key[64];
	uint8_t buf[8192];

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_put(s, key, 7, 100000, 4096);
	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	for (uint64_t off = 0; off < 3 * sizeof(buf); off += sizeof(buf)) {
		store_cf_fill(8, off, buf, sizeof(buf));
		assert_int_equal(store_put_write(p, buf, sizeof(buf)), 0);
		store_cf_verify(s, key, 7, 100000);
	}
	assert_int_equal(store_put_commit(p, NULL, NULL), 0);
	store_cf_verify(s, key, 8, 3 * sizeof(buf));
	store_cf_cleanup(s, ns);
}

/* Head [0, H) written last, in pieces, out of order, overlapping. */
static void cf_reserved_head(void **state)
{
	struct store *s = *state;
	struct store_put *p = NULL;
	const uint64_t head = 48 + CF_SEG + 16, body = 3 * (CF_SEG + 16) + 999;
	char ns[17], key[64];
	uint8_t *buf = malloc(head);
	uint64_t size = 0;

	assert_non_null(buf);
	store_cf_ns(ns);
	store_cf_key(key, ns, "m4a");
	assert_int_equal(store_put_begin_reserved(s, key, head, &p, NULL), 0);
	assert_int_equal(store_put_size(p), head);
	for (uint64_t off = head; off < head + body;) {
		size_t n = head + body - off < 5000 ? (size_t)(head + body - off) : 5000;
		store_cf_fill(9, off, buf, n);
		assert_int_equal(store_put_write(p, buf, n), 0);
		off += n;
	}
	store_cf_fill(9, 0, buf, head);
	assert_int_equal(store_put_write_at(p, 1000, buf + 1000, 20000), 0);
	assert_int_equal(store_put_write_at(p, head - 10, buf + head - 10, 10), 0);
	assert_int_equal(store_put_write_at(p, 20000, buf + 20000, head - 20010), 0);
	assert_int_equal(store_put_write_at(p, 0, buf, 1001), 0);
	assert_int_equal(store_put_write_at(p, 0, buf, 0), 0);
	assert_int_equal(store_put_size(p), head + body);
	assert_int_equal(store_put_commit(p, &size, NULL), 0);
	assert_int_equal(size, head + body);
	store_cf_verify(s, key, 9, head + body);

	/* a head-only object */
	assert_int_equal(store_put_begin_reserved(s, key, 100, &p, NULL), 0);
	store_cf_fill(10, 0, buf, 100);
	assert_int_equal(store_put_write_at(p, 0, buf, 100), 0);
	assert_int_equal(store_put_commit(p, NULL, NULL), 0);
	store_cf_verify(s, key, 10, 100);
	/* nothing appended: the object may end inside the head (a prefix) */
	assert_int_equal(store_put_begin_reserved(s, key, head, &p, NULL), 0);
	store_cf_fill(14, 0, buf, 777);
	assert_int_equal(store_put_write_at(p, 500, buf + 500, 277), 0);
	assert_int_equal(store_put_write_at(p, 0, buf, 600), 0);
	assert_int_equal(store_put_size(p), 777);
	assert_int_equal(store_put_commit(p, &size, NULL), 0);
	assert_int_equal(size, 777);
	store_cf_verify(s, key, 14, 777);
	free(buf);
	store_cf_cleanup(s, ns);
}

static void cf_reserved_head_misuse(void **state)
{
	struct store *s = *state;
	struct store_put *p = NULL;
	struct store_info info;
	char ns[17], key[64];
	uint8_t buf[256] = {0};

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	/* head left incomplete: CONFLICT, nothing visible */
	assert_int_equal(store_put_begin_reserved(s, key, 200, &p, NULL), 0);
	assert_int_equal(store_put_write(p, buf, 50), 0);
	assert_int_equal(store_put_write_at(p, 0, buf, 100), 0);
	assert_int_equal(store_put_write_at(p, 101, buf, 99), 0);
	assert_int_equal(store_put_commit(p, NULL, NULL), AM_ERR_CONFLICT);
	assert_int_equal(store_stat(s, key, &info, NULL), AM_ERR_NOTFOUND);
	/* nothing appended: a gap, a hole at 0, or nothing at all is CONFLICT */
	assert_int_equal(store_put_begin_reserved(s, key, 200, &p, NULL), 0);
	assert_int_equal(store_put_write_at(p, 0, buf, 50), 0);
	assert_int_equal(store_put_write_at(p, 60, buf, 10), 0);
	assert_int_equal(store_put_commit(p, NULL, NULL), AM_ERR_CONFLICT);
	assert_int_equal(store_put_begin_reserved(s, key, 200, &p, NULL), 0);
	assert_int_equal(store_put_write_at(p, 10, buf, 190), 0);
	assert_int_equal(store_put_commit(p, NULL, NULL), AM_ERR_CONFLICT);
	assert_int_equal(store_put_begin_reserved(s, key, 200, &p, NULL), 0);
	assert_int_equal(store_put_commit(p, NULL, NULL), AM_ERR_CONFLICT);
	assert_int_equal(store_stat(s, key, &info, NULL), AM_ERR_NOTFOUND);
	/* outside the head: INVAL, and the put stays failed */
	assert_int_equal(store_put_begin_reserved(s, key, 200, &p, NULL), 0);
	assert_int_equal(store_put_write_at(p, 150, buf, 51), AM_ERR_INVAL);
	assert_int_equal(store_put_write_at(p, 0, buf, 200), AM_ERR_INVAL);
	assert_int_equal(store_put_write(p, buf, 10), AM_ERR_INVAL);
	assert_int_equal(store_put_commit(p, NULL, NULL), AM_ERR_INVAL);
	assert_int_equal(store_stat(s, key, &info, NULL), AM_ERR_NOTFOUND);
	/* write_at on a put without a head */
	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	assert_int_equal(store_put_write_at(p, 0, buf, 1), AM_ERR_INVAL);
	store_put_abort(p);
	assert_int_equal(store_put_begin_reserved(s, key, UINT64_MAX, &p, NULL), AM_ERR_TOOBIG);
	assert_null(p);
	assert_int_equal(store_put_begin_reserved(s, key, STORE_PUT_HEAD_MAX + 1, &p, NULL),
			 AM_ERR_TOOBIG);
	/* a head fragmented into too many pieces */
	assert_int_equal(store_put_begin_reserved(s, key, 200, &p, NULL), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(store_put_write_at(p, (uint64_t)i * 10, buf, 5), 0);
	assert_int_equal(store_put_write_at(p, 190, buf, 5), AM_ERR_TOOBIG);
	store_put_abort(p);
	assert_int_equal(cf_count_ns(s, ns), 0);
}

static void cf_list_prefix(void **state)
{
	struct store *s = *state;
	struct cf_count c = {.n = 0};
	char a[17], b[17], keys[6][64], prefix[64];
	int expect = 0;

	store_cf_ns(a);
	store_cf_ns(b);
	for (int i = 0; i < 5; i++) {
		store_cf_key(keys[i], a, i % 2 ? "dat" : NULL);
		store_cf_put(s, keys[i], 11, (uint64_t)i * 100, 64);
	}
	store_cf_key(keys[5], b, NULL);
	store_cf_put(s, keys[5], 11, 5, 64);

	snprintf(prefix, sizeof(prefix), "%s/", a);
	assert_int_equal(store_list(s, prefix, cf_count_cb, &c, NULL), 0);
	assert_int_equal(c.n, 5);
	for (int i = 0; i < 5; i++) {
		assert_true(cf_listed(&c, keys[i]));
		for (int j = 0; j < c.n; j++)
			if (!strcmp(c.keys[j], keys[i]))
				assert_int_equal(c.sizes[j], (uint64_t)i * 100);
	}
	/* narrower: namespace plus the first three hex digits of one id */
	snprintf(prefix, sizeof(prefix), "%.*s", (int)strlen(a) + 4, keys[2]);
	for (int i = 0; i < 5; i++)
		expect += !strncmp(keys[i], prefix, strlen(prefix));
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_list(s, prefix, cf_count_cb, &c, NULL), 0);
	assert_int_equal(c.n, expect);
	assert_true(cf_listed(&c, keys[2]));
	/* a whole key as the prefix, and a partial namespace */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_list(s, keys[5], cf_count_cb, &c, NULL), 0);
	assert_int_equal(c.n, 1);
	memset(&c, 0, sizeof(c));
	snprintf(prefix, sizeof(prefix), "%.5s", a);
	assert_int_equal(store_list(s, prefix, cf_count_cb, &c, NULL), 0);
	assert_true(c.n >= 5);
	/* the callback stops the listing */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	snprintf(prefix, sizeof(prefix), "%s/", a);
	assert_int_equal(store_list(s, prefix, cf_count_cb, &c, NULL), 7);
	assert_int_equal(c.n, 2);
	/* the callback may delete what it is given */
	store_cf_cleanup(s, a);
	assert_int_equal(cf_count_ns(s, a), 0);
	assert_int_equal(cf_count_ns(s, b), 1);
	store_cf_cleanup(s, b);
}

/* Variable chunk sizes, several S3 parts' worth, read back in ranges. */
static void cf_large_streamed(void **state)
{
	struct store *s = *state;
	struct store_put *p = NULL;
	const uint64_t size = (24u << 20) + 12345;
	const size_t maxchunk = 70000;
	char ns[17], key[64];
	uint8_t *buf = malloc(maxchunk);
	uint64_t off = 0, got = 0;

	assert_non_null(buf);
	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	for (size_t i = 1; off < size; i++) {
		size_t n = (i * 7919) % maxchunk + 1;
		if (n > size - off)
			n = (size_t)(size - off);
		store_cf_fill(12, off, buf, n);
		assert_int_equal(store_put_write(p, buf, n), 0);
		off += n;
	}
	assert_int_equal(store_put_commit(p, &got, NULL), 0);
	assert_int_equal(got, size);
	store_cf_verify(s, key, 12, size);
	free(buf);
	store_cf_cleanup(s, ns);
}

struct cf_race {
	struct store *s;
	const char *key;
	size_t size;
	volatile int stop;
	int reads, bad;
};

/* One read of the whole object through a sequential reader, in two halves. */
static int cf_race_seq(struct cf_race *rc, uint8_t *buf, size_t *got)
{
	struct store_reader *r = NULL;
	size_t half = rc->size / 2, g1 = 0, g2 = 0;
	int e;

	*got = 0;
	if ((e = store_reader_open_seq(rc->s, rc->key, &r, NULL)))
		return e;
	if (!(e = store_reader_read_at(r, 0, buf, half, &g1)))
		e = store_reader_read_at(r, half, buf + half, rc->size - half, &g2);
	store_reader_close(r);
	*got = g1 + g2;
	return e;
}

static void *cf_race_reader(void *arg)
{
	struct cf_race *rc = arg;
	uint8_t *buf = malloc(rc->size);
	size_t got;

	if (!buf) {
		rc->bad++;
		return NULL;
	}
	while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE) || rc->reads < 5) {
		int r = rc->reads % 2 ? cf_race_seq(rc, buf, &got)
				      : store_read_at(rc->s, rc->key, 0, buf, rc->size, &got, NULL);
		rc->reads++;
		if (r == AM_ERR_CONFLICT) /* changed between two requests: refused, fine */
			continue;
		if (r || got != rc->size ||
		    !(store_cf_check(20, 0, buf, got) || store_cf_check(21, 0, buf, got)))
			rc->bad++;
	}
	free(buf);
	return NULL;
}

/* A concurrent reader sees the old object or the new one, never a mix
 * (one-shot reads and sequential readers alike; a reader may refuse with
 * AM_ERR_CONFLICT instead). */
static void cf_concurrent_overwrite(void **state)
{
	struct store *s = *state;
	char ns[17], key[64];
	struct cf_race rc = {.s = s, .key = key, .size = 200000};
	pthread_t t;

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_put(s, key, 20, rc.size, 4096);
	assert_int_equal(pthread_create(&t, NULL, cf_race_reader, &rc), 0);
	for (int i = 0; i < 30; i++)
		store_cf_put(s, key, 20 + (uint64_t)(i % 2 == 0), rc.size, 4096);
	__atomic_store_n(&rc.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(rc.reads >= 5);
	assert_int_equal(rc.bad, 0);
	store_cf_cleanup(s, ns);
}

/* gc with a sane cut-off never harms a live put. */
static void cf_gc_spares_live_put(void **state)
{
	struct store *s = *state;
	struct store_put *p = NULL;
	char ns[17], key[64];
	uint8_t buf[1000];
	uint64_t removed = 99;

	store_cf_ns(ns);
	store_cf_key(key, ns, NULL);
	store_cf_fill(13, 0, buf, sizeof(buf));
	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	assert_int_equal(store_put_write(p, buf, sizeof(buf)), 0);
	assert_int_equal(store_gc_temp(s, am_now() - 3600, &removed, NULL), 0);
	store_cf_fill(13, sizeof(buf), buf, sizeof(buf));
	assert_int_equal(store_put_write(p, buf, sizeof(buf)), 0);
	assert_int_equal(store_put_commit(p, NULL, NULL), 0);
	assert_int_equal(store_gc_temp(s, am_now() - 3600, NULL, NULL), 0);
	store_cf_verify(s, key, 13, 2 * sizeof(buf));
	store_cf_cleanup(s, ns);
}

static void cf_null_arguments(void **state)
{
	struct store *s = *state;
	struct store_put *p = NULL;
	struct store_reader *r = NULL;
	size_t got;

	assert_int_equal(store_put_begin(NULL, "a/0123456789abcdef0123456789abcdef", &p, NULL),
			 AM_ERR_INVAL);
	assert_int_equal(store_put_write(NULL, "x", 1), AM_ERR_INVAL);
	assert_int_equal(store_put_write_at(NULL, 0, "x", 1), AM_ERR_INVAL);
	assert_int_equal(store_put_commit(NULL, NULL, NULL), AM_ERR_INVAL);
	assert_int_equal(store_reader_read_at(NULL, 0, &got, 1, &got), AM_ERR_INVAL);
	assert_int_equal(store_reader_size(NULL), 0);
	assert_int_equal(store_put_size(NULL), 0);
	assert_int_equal(store_list(s, "", NULL, NULL, NULL), AM_ERR_INVAL);
	assert_int_equal(store_reader_open(s, "a/0123456789abcdef0123456789abcdef", NULL, NULL),
			 AM_ERR_INVAL);
	assert_null(r);
}

static const struct CMUnitTest cf_tests[] = {
    cmocka_unit_test(cf_roundtrip_small),
    cmocka_unit_test(cf_empty_object),
    cmocka_unit_test(cf_missing_and_delete),
    cmocka_unit_test(cf_invalid_keys),
    cmocka_unit_test(cf_key_format_and_prefixes),
    cmocka_unit_test(cf_ranges),
    cmocka_unit_test(cf_abort_leaves_nothing),
    cmocka_unit_test(cf_invisible_until_commit),
    cmocka_unit_test(cf_overwrite_is_atomic),
    cmocka_unit_test(cf_reserved_head),
    cmocka_unit_test(cf_reserved_head_misuse),
    cmocka_unit_test(cf_list_prefix),
    cmocka_unit_test(cf_large_streamed),
    cmocka_unit_test(cf_concurrent_overwrite),
    cmocka_unit_test(cf_gc_spares_live_put),
    cmocka_unit_test(cf_null_arguments),
    cmocka_unit_test(cf_error_detail),
    cmocka_unit_test(cf_error_detail_threads),
};

void store_conformance_set_url(const char *url)
{
	cf_url = url;
}

size_t store_conformance_tests(struct CMUnitTest *out, size_t max)
{
	size_t n = AM_ARRAY_LEN(cf_tests) < max ? AM_ARRAY_LEN(cf_tests) : max;

	memcpy(out, cf_tests, n * sizeof(cf_tests[0]));
	return n;
}

int store_conformance_setup(void **state)
{
	struct store *s = NULL;
	struct store_err err = {""};

	if (!cf_url || store_open(cf_url, &s, &err)) {
		fprintf(stderr, "store_conformance: cannot open %s: %s\n",
			cf_url ? cf_url : "(no url)", err.msg);
		return -1;
	}
	*state = s;
	return 0;
}

int store_conformance_teardown(void **state)
{
	store_close(*state);
	*state = NULL;
	return 0;
}

int store_conformance_run(const char *url)
{
	store_conformance_set_url(url);
	return _cmocka_run_group_tests("store_conformance", cf_tests, AM_ARRAY_LEN(cf_tests),
				       store_conformance_setup, store_conformance_teardown);
}
