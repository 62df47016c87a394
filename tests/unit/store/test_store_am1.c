/*
 * test_store_am1.c: AM1 objects through the object store, end to end: the
 * AM1 writer streams into a file: store through store_am1_put_begin's sink
 * (plain and head mode, with and without a body), the AM1 reader reads
 * random ranges back through store_am1_source, the stored bytes are not the
 * plaintext, and tampering with the file on disk is caught. Test code only.
 */
#include "store_conformance.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto_int.h"
#include "store/store.h"
#include "util/util.h"

struct am1fx {
	char dir[200];
	char root[220];
	struct store *s;
	uint8_t dek[CRYPTO_KEY_LEN];
	uint8_t fid[CRYPTO_ID_LEN];
	char key[STORE_KEY_MAX];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int am1_setup(void **state)
{
	struct am1fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	char url[256];
	int n;

	if (!f)
		return -1;
	n = snprintf(f->dir, sizeof(f->dir), "%s/am-am1-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(f->dir) || !mkdtemp(f->dir))
		goto fail;
	if (snprintf(f->root, sizeof(f->root), "%s/objects", f->dir) >= (int)sizeof(f->root) ||
	    snprintf(url, sizeof(url), "file:%s", f->root) >= (int)sizeof(url))
		goto fail;
	if (store_open(url, &f->s, NULL) || crypto_random(f->dek, sizeof(f->dek)) ||
	    crypto_random_id(f->fid) ||
	    store_key_format(f->key, sizeof(f->key), "orig", f->fid, NULL))
		goto fail;
	*state = f;
	return 0;
fail:
	store_close(f->s);
	free(f);
	return -1;
}

static int am1_teardown(void **state)
{
	struct am1fx *f = *state;

	store_close(f->s);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	am_memzero(f->dek, sizeof(f->dek));
	free(f);
	return 0;
}

/* Encrypt plain bytes of seed 50: body [head, plain) in chunks, then the head. */
static void put_am1(struct am1fx *f, uint64_t plain, uint64_t head, size_t chunk)
{
	struct store_am1_put ap;
	struct am1_sink sink;
	struct am1_writer *w = NULL;
	uint8_t *buf = malloc(head > chunk ? head : chunk);
	uint64_t psize = 0, csize = 0, size = 0;

	assert_non_null(buf);
	assert_int_equal(store_am1_put_begin(f->s, f->key, head, &ap, &sink, NULL), 0);
	assert_int_equal(am1_writer_new(f->dek, f->fid, &sink, head, &w), 0);
	for (uint64_t off = head; off < plain;) {
		size_t n = plain - off < chunk ? (size_t)(plain - off) : chunk;
		store_cf_fill(50, off, buf, n);
		assert_int_equal(am1_writer_write(w, buf, n), 0);
		off += n;
	}
	if (head) {
		size_t n = plain < head ? (size_t)plain : (size_t)head;
		store_cf_fill(50, 0, buf, n);
		assert_int_equal(am1_writer_patch_head(w, buf, n), 0);
	}
	assert_int_equal(am1_writer_finish(w, &psize, &csize), 0);
	am1_writer_free(w);
	assert_int_equal(psize, plain);
	assert_int_equal(store_put_commit(ap.put, &size, NULL), 0);
	assert_int_equal(size, csize);
	assert_int_equal(size, am1_cipher_size(plain));
	free(buf);
}

/* Decrypt boundary and random ranges and compare with the plaintext. */
static void check_am1(struct am1fx *f, uint64_t plain)
{
	struct store_reader *r = NULL;
	struct am1_reader *ar = NULL;
	struct am1_source src;
	const size_t max = 3 * AM1_SEGMENT;
	uint8_t *buf = malloc(max);
	size_t got;

	assert_non_null(buf);
	assert_int_equal(store_reader_open(f->s, f->key, &r, NULL), 0);
	store_am1_source(r, &src);
	assert_int_equal(am1_reader_open(f->dek, f->fid, &src, plain, &ar), 0);
	assert_int_equal(am1_reader_size(ar), plain);
	for (int i = 0; i < 200; i++) {
		uint32_t rnd[2];
		uint64_t off;
		size_t n;

		assert_int_equal(getrandom(rnd, sizeof(rnd), 0), (ssize_t)sizeof(rnd));
		off = i < 8 ? (uint64_t)i * AM1_SEGMENT - (i > 0) : rnd[0] % (plain + 1);
		if (off > plain)
			off = plain;
		n = rnd[1] % max;
		assert_int_equal(am1_reader_pread(ar, off, buf, n, &got), 0);
		assert_int_equal(got, plain - off < n ? plain - off : n);
		assert_true(store_cf_check(50, off, buf, got));
	}
	am1_reader_free(ar);
	store_reader_close(r);
	free(buf);
}

/* The stored bytes are ciphertext: no plaintext segment appears verbatim. */
static void check_not_plain(struct am1fx *f, uint64_t plain)
{
	uint8_t ct[256], pt[256];
	size_t got;

	store_cf_fill(50, 0, pt, sizeof(pt));
	for (uint64_t off = 0; off + sizeof(ct) <= am1_cipher_size(plain); off += 4099) {
		assert_int_equal(store_read_at(f->s, f->key, off, ct, sizeof(ct), &got, NULL), 0);
		assert_int_equal(got, sizeof(ct));
		assert_memory_not_equal(ct, pt, 64);
		assert_memory_not_equal(ct + AM1_HEADER_LEN, pt, 64);
	}
}

static void am1_plain_stream(void **state)
{
	struct am1fx *f = *state;
	const uint64_t plain = (3u << 20) + 123;

	put_am1(f, plain, 0, 10000);
	check_am1(f, plain);
	check_not_plain(f, plain);
}

static void am1_head_mode(void **state)
{
	struct am1fx *f = *state;
	const uint64_t head = 4 * AM1_SEGMENT, plain = head + (1u << 20) + 7;

	put_am1(f, plain, head, 65537);
	check_am1(f, plain);
	check_not_plain(f, plain);
}

static void am1_head_mode_small_body(void **state)
{
	struct am1fx *f = *state;
	const uint64_t head = 2 * AM1_SEGMENT;

	put_am1(f, head + 10, head, 4096);
	check_am1(f, head + 10);
}

/* Head mode with no body: a short object written in order. */
static void am1_head_mode_no_body(void **state)
{
	struct am1fx *f = *state;
	const uint64_t head = 4 * AM1_SEGMENT;

	put_am1(f, 100000, head, 4096);
	check_am1(f, 100000);
	put_am1(f, head, head, 4096);
	check_am1(f, head);
}

static void am1_head_too_large(void **state)
{
	struct am1fx *f = *state;
	struct store_am1_put ap;
	struct am1_sink sink;

	assert_int_equal(store_am1_put_begin(f->s, f->key, 16 * AM1_SEGMENT, &ap, &sink, NULL),
			 AM_ERR_TOOBIG);
	assert_null(ap.put);
	assert_int_equal(store_am1_put_begin(f->s, f->key, 100, &ap, &sink, NULL), AM_ERR_INVAL);
}

/* An abandoned writer leaves nothing under the key. */
static void am1_abandoned(void **state)
{
	struct am1fx *f = *state;
	struct store_am1_put ap;
	struct am1_sink sink;
	struct am1_writer *w = NULL;
	struct store_info info;
	uint8_t buf[70000] = {0};

	assert_int_equal(store_am1_put_begin(f->s, f->key, 0, &ap, &sink, NULL), 0);
	assert_int_equal(am1_writer_new(f->dek, f->fid, &sink, 0, &w), 0);
	assert_int_equal(am1_writer_write(w, buf, sizeof(buf)), 0);
	am1_writer_free(w);
	store_put_abort(ap.put);
	assert_int_equal(store_stat(f->s, f->key, &info, NULL), AM_ERR_NOTFOUND);
}

/* Flip one ciphertext byte on disk: that segment fails, others still read. */
static void am1_tamper_on_disk(void **state)
{
	struct am1fx *f = *state;
	const uint64_t plain = 3 * AM1_SEGMENT + 5;
	struct store_reader *r = NULL;
	struct am1_reader *ar = NULL;
	struct am1_source src;
	char path[512];
	uint8_t b, buf[100];
	size_t got;
	int fd;

	put_am1(f, plain, 0, 8192);
	assert_true(snprintf(path, sizeof(path), "%s/orig/%.2s/%.2s/%s", f->root, f->key + 5,
			     f->key + 7, f->key + 5) < (int)sizeof(path));
	assert_true((fd = open(path, O_RDWR)) >= 0);
	assert_int_equal(pread(fd, &b, 1, AM1_HEADER_LEN + AM1_SEGMENT_CT + 10), 1);
	b ^= 1;
	assert_int_equal(pwrite(fd, &b, 1, AM1_HEADER_LEN + AM1_SEGMENT_CT + 10), 1);
	assert_int_equal(store_reader_open(f->s, f->key, &r, NULL), 0);
	store_am1_source(r, &src);
	assert_int_equal(am1_reader_open(f->dek, f->fid, &src, plain, &ar), 0);
	assert_int_equal(am1_reader_pread(ar, 0, buf, sizeof(buf), &got), 0);
	assert_true(store_cf_check(50, 0, buf, got));
	assert_int_equal(am1_reader_pread(ar, AM1_SEGMENT + 1, buf, sizeof(buf), &got),
			 AM_ERR_CRYPTO);
	am1_reader_free(ar);
	store_reader_close(r);
	/* truncation is refused at open */
	assert_int_equal(ftruncate(fd, (off_t)am1_cipher_size(plain) - 1), 0);
	close(fd);
	assert_int_equal(store_reader_open(f->s, f->key, &r, NULL), 0);
	store_am1_source(r, &src);
	ar = NULL;
	assert_int_equal(am1_reader_open(f->dek, f->fid, &src, plain, &ar), AM_ERR_CRYPTO);
	assert_null(ar);
	store_reader_close(r);
}

#define AM1_TEST(t) cmocka_unit_test_setup_teardown(t, am1_setup, am1_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    AM1_TEST(am1_plain_stream),		AM1_TEST(am1_head_mode),
	    AM1_TEST(am1_head_mode_small_body), AM1_TEST(am1_head_mode_no_body),
	    AM1_TEST(am1_head_too_large),	AM1_TEST(am1_abandoned),
	    AM1_TEST(am1_tamper_on_disk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
