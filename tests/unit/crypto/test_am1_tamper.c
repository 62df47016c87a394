/*
 * Tamper matrix for the AM1 reader: every modification an attacker with write
 * access to the object store can make (truncation around every segment
 * boundary, a flipped byte in each segment, tag and header byte, swapped
 * segments, an appended byte, a moved object, a wrong key) must fail, and no
 * plaintext from the bad segment may ever reach the caller.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/crypto_int.h"
#include "crypto/helper_crypto.h"

#define S  AM1_SEGMENT
#define CT AM1_SEGMENT_CT
#define P  (3 * S + 1000) /* four segments, the last one short */

static uint8_t dek[32], fid[16], *pt;
static struct tcrypto_mem good;

static int setup(void **state)
{
	assert_int_equal(crypto_random(dek, sizeof(dek)), 0);
	assert_int_equal(crypto_random_id(fid), 0);
	pt = malloc(P);
	assert_int_equal(crypto_random(pt, P), 0);
	assert_int_equal(tcrypto_am1_encrypt(dek, fid, pt, P, &good), 0);
	return 0;
}

static int teardown(void **state)
{
	tcrypto_mem_free(&good);
	free(pt);
	return 0;
}

struct collect {
	uint8_t *p;
	size_t n;
};

static int collect_emit(void *ctx, const void *p, size_t n)
{
	struct collect *c = ctx;

	memcpy(c->p + c->n, p, n);
	c->n += n;
	return 0;
}

static void copy_good(struct tcrypto_mem *m)
{
	memset(m, 0, sizeof(*m));
	m->p = malloc(good.len + 1);
	memcpy(m->p, good.p, good.len);
	m->len = m->alloc = good.len;
}

/* Read everything; it must fail with AM_ERR_CRYPTO, and what came out before
 * the failure must be correct plaintext from segments before bad_seg only. */
static void expect_read_fails(struct tcrypto_mem *m, uint64_t plain, const uint8_t *key,
			      uint64_t bad_seg)
{
	struct am1_source src = tcrypto_mem_source(m);
	struct am1_reader *r = NULL;
	struct collect c = {calloc(1, P + S), 0};
	uint8_t *buf = calloc(1, P + S);
	size_t got = 0;
	int rc = am1_reader_open(key, fid, &src, plain, &r);

	if (rc == 0) {
		if (plain > 0)
			assert_int_equal(am1_reader_range(r, 0, plain - 1, collect_emit, &c),
					 AM_ERR_CRYPTO);
		assert_true(c.n <= bad_seg * S);
		assert_memory_equal(c.p, pt, c.n);
		if (plain > 0)
			assert_int_equal(am1_reader_pread(r, 0, buf, plain, &got), AM_ERR_CRYPTO);
		assert_true(got <= bad_seg * S);
		assert_memory_equal(buf, pt, got);
		for (size_t i = got; i < plain && i < P + S; i++)
			assert_int_equal(buf[i], 0);
		/* views: none reaches the bad segment, and it is refused */
		for (uint64_t off = 0; off < plain; off += got) {
			const uint8_t *v = NULL;

			rc = am1_reader_view(r, off, (size_t)(plain - off), &v, &got);
			if (rc) {
				assert_int_equal(rc, AM_ERR_CRYPTO);
				assert_null(v);
				assert_true(off / S <= bad_seg);
				break;
			}
			assert_true(off / S < bad_seg);
			assert_memory_equal(v, pt + off, got);
		}
		assert_int_not_equal(rc, 0);
	} else {
		assert_int_equal(rc, AM_ERR_CRYPTO);
		assert_null(r);
	}
	am1_reader_free(r);
	free(c.p);
	free(buf);
}

static void truncation_around_every_boundary(void **state)
{
	for (uint64_t seg = 0; seg <= 4; seg++) {
		uint64_t b = AM1_HEADER_LEN + seg * CT;
		int64_t deltas[] = {-17, -16, -15, -1, 0, 1, 15, 16, 17};

		for (size_t d = 0; d < AM_ARRAY_LEN(deltas); d++) {
			int64_t len = (int64_t)b + deltas[d];
			struct tcrypto_mem m;
			uint64_t forged;

			if (len < 0 || (uint64_t)len >= good.len)
				continue;
			copy_good(&m);
			m.len = (size_t)len;
			/* With the database's size: refused at open. */
			expect_read_fails(&m, P, dek, 0);
			/* With a forged size that fits the truncated object: the new
			 * final segment was not encrypted as final. */
			if (am1_plain_size(m.len, &forged) == 0)
				expect_read_fails(&m, forged, dek, am1_segments(forged) - 1);
			tcrypto_mem_free(&m);
		}
	}
}

static void flipped_byte_in_each_segment_and_tag(void **state)
{
	for (uint64_t seg = 0; seg < 4; seg++) {
		uint64_t start = AM1_HEADER_LEN + seg * CT;
		uint64_t len = seg < 3 ? CT : 1000 + 16;
		uint64_t where[] = {start, start + len / 2, start + len - 17, start + len - 16,
				    start + len - 1};

		for (size_t k = 0; k < AM_ARRAY_LEN(where); k++) {
			struct tcrypto_mem m;

			copy_good(&m);
			m.p[where[k]] ^= 0x80;
			expect_read_fails(&m, P, dek, seg);
			tcrypto_mem_free(&m);
		}
	}
}

static void flipped_header_bytes(void **state)
{
	for (size_t i = 0; i < AM1_HEADER_LEN; i++) {
		struct tcrypto_mem m;

		copy_good(&m);
		m.p[i] ^= 0x01;
		expect_read_fails(&m, P, dek, 0);
		tcrypto_mem_free(&m);
	}
}

static void swapped_segments(void **state)
{
	struct tcrypto_mem m;
	uint8_t *tmp = malloc(CT);

	copy_good(&m);
	memcpy(tmp, m.p + AM1_HEADER_LEN, CT);
	memcpy(m.p + AM1_HEADER_LEN, m.p + AM1_HEADER_LEN + CT, CT);
	memcpy(m.p + AM1_HEADER_LEN + CT, tmp, CT);
	expect_read_fails(&m, P, dek, 0);
	/* Also segment 2 alone, read from the middle. */
	{
		struct am1_source src = tcrypto_mem_source(&m);
		struct am1_reader *r = NULL;
		uint8_t buf[100];
		size_t got = 1;

		assert_int_equal(am1_reader_open(dek, fid, &src, P, &r), 0);
		assert_int_equal(am1_reader_pread(r, S + 5, buf, sizeof(buf), &got), AM_ERR_CRYPTO);
		assert_int_equal(got, 0);
		assert_int_equal(am1_reader_pread(r, 2 * S + 5, buf, sizeof(buf), &got), 0);
		assert_memory_equal(buf, pt + 2 * S + 5, sizeof(buf));
		am1_reader_free(r);
	}
	tcrypto_mem_free(&m);
	free(tmp);
}

static void appended_byte(void **state)
{
	struct tcrypto_mem m = {0};
	uint64_t forged;

	copy_good(&m);
	m.p = realloc(m.p, good.len + 1);
	m.p[good.len] = 0;
	m.len = good.len + 1;
	expect_read_fails(&m, P, dek, 0);
	if (am1_plain_size(m.len, &forged) == 0)
		expect_read_fails(&m, forged, dek, 3);
	tcrypto_mem_free(&m);
}

static void moved_object_and_wrong_key(void **state)
{
	struct tcrypto_mem m;
	struct am1_source src;
	struct am1_reader *r = NULL;
	uint8_t other[16], key2[32];

	copy_good(&m);
	src = tcrypto_mem_source(&m);
	/* Presented under another file id: refused by the header check. */
	memcpy(other, fid, 16);
	other[15] ^= 1;
	assert_int_equal(am1_reader_open(dek, other, &src, P, &r), AM_ERR_CRYPTO);
	/* Header rewritten to the other id: the header is every tag's AAD. */
	memcpy(m.p + 16, other, 16);
	assert_int_equal(am1_reader_open(dek, other, &src, P, &r), 0);
	{
		uint8_t buf[10];
		size_t got = 1;
		assert_int_equal(am1_reader_pread(r, 0, buf, 10, &got), AM_ERR_CRYPTO);
		assert_int_equal(got, 0);
	}
	am1_reader_free(r);
	tcrypto_mem_free(&m);
	/* Wrong data key. */
	copy_good(&m);
	memcpy(key2, dek, 32);
	key2[0] ^= 1;
	expect_read_fails(&m, P, key2, 0);
	tcrypto_mem_free(&m);
}

static void empty_object_is_authenticated(void **state)
{
	struct tcrypto_mem m = {0}, big;
	struct am1_source src;
	struct am1_reader *r = NULL;

	assert_int_equal(tcrypto_am1_encrypt(dek, fid, NULL, 0, &m), 0);
	src = tcrypto_mem_source(&m);
	assert_int_equal(am1_reader_open(dek, fid, &src, 0, &r), 0);
	am1_reader_free(r);
	m.p[50] ^= 1;
	assert_int_equal(am1_reader_open(dek, fid, &src, 0, &r), AM_ERR_CRYPTO);
	tcrypto_mem_free(&m);
	/* A real object truncated to 64 bytes, its size forged to 0. */
	copy_good(&big);
	big.len = 64;
	src = tcrypto_mem_source(&big);
	assert_int_equal(am1_reader_open(dek, fid, &src, 0, &r), AM_ERR_CRYPTO);
	tcrypto_mem_free(&big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(truncation_around_every_boundary),
	    cmocka_unit_test(flipped_byte_in_each_segment_and_tag),
	    cmocka_unit_test(flipped_header_bytes),
	    cmocka_unit_test(swapped_segments),
	    cmocka_unit_test(appended_byte),
	    cmocka_unit_test(moved_object_and_wrong_key),
	    cmocka_unit_test(empty_object_is_authenticated),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
