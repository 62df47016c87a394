/*
 * Unit tests for the AM1 format (src/crypto/am1_*.c): known-answer vectors
 * (cross-checked by the independent tests/unit/crypto/am1_kat.py), size
 * arithmetic, round trips over boundary sizes with random and suffix ranges,
 * head mode (segment 0 written last) and sink failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/crypto_int.h"
#include "crypto/helper_crypto.h"

#define S AM1_SEGMENT

static uint8_t kdek[32], ksalt[16], kfid[16];

static int setup_keys(void **state)
{
	for (int i = 0; i < 32; i++)
		kdek[i] = (uint8_t)i;
	for (int i = 0; i < 16; i++) {
		ksalt[i] = (uint8_t)(0x40 + i);
		kfid[i] = (uint8_t)(0x80 + i);
	}
	return 0;
}

/* Known answers: size, ciphertext size, SHA-256 of the ciphertext. The same
 * table is in docs/crypto.md and is printed by am1_kat.py. */
static const struct {
	size_t n;
	uint64_t c;
	const char *sha;
} kat[] = {
    {0, 64, "e70d6e730d463d40117b68460cbb9ba80f134282878a93a8f8ea18f28bda64f9"},
    {1, 65, "4d5f00b1b88732af2a5215532e78b03d1d51e76f9a016f74e3007a2f2e1dc953"},
    {65535, 65599, "a78d1f35ee83249ed2c930672e41e6cdc956604d1fe84b0604db59b7559182ea"},
    {65536, 65600, "fa3e4256ffc29f8f1fd1f649942a058d008d2d92fcb42eaa78fc8d2164b67d4f"},
    {65537, 65617, "f1ef705b555b98ab1fe89b4d74c1d30584b558d95c3af99b3eb03ed8ce086e4b"},
    {200000, 200112, "58ebd24387e57c47cab38e86f5bb1224fa14f76771962ee683795c8f87b8b942"},
};

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Encrypt with the fixed salt, feeding chunk bytes at a time (0: one call). */
static void kat_encrypt(size_t n, size_t chunk, uint64_t head_len, struct tcrypto_mem *m)
{
	struct am1_sink sink = tcrypto_mem_sink(m);
	struct am1_writer *w = NULL;
	uint8_t *pt = malloc(n + 1);
	uint64_t ps = 0, cs = 0;
	size_t h = head_len < n ? (size_t)head_len : n;

	tcrypto_pattern(pt, n, 0);
	assert_int_equal(am1_writer_new_salt(kdek, kfid, ksalt, &sink, head_len, &w), 0);
	if (head_len && h == n)
		h = n; /* everything is head: nothing is written before patch */
	for (size_t off = head_len ? h : 0; off < n;) {
		size_t k = chunk && chunk < n - off ? chunk : n - off;
		assert_int_equal(am1_writer_write(w, pt + off, k), 0);
		off += k;
	}
	if (head_len)
		assert_int_equal(am1_writer_patch_head(w, pt, h), 0);
	assert_int_equal(am1_writer_finish(w, &ps, &cs), 0);
	assert_int_equal(ps, n);
	assert_int_equal(cs, m->len);
	am1_writer_free(w);
	free(pt);
}

static void check_kat(size_t i, struct tcrypto_mem *m)
{
	uint8_t d[32];
	char h[65];

	assert_int_equal(m->len, kat[i].c);
	assert_int_equal(crypto_sha256(m->p, m->len, d), 0);
	hex(d, 32, h);
	assert_string_equal(h, kat[i].sha);
}

static void am1_known_answers(void **state)
{
	static const size_t chunks[] = {0, 1, 4093, S, S + 1};

	for (size_t i = 0; i < AM_ARRAY_LEN(kat); i++) {
		for (size_t c = 0; c < AM_ARRAY_LEN(chunks); c++) {
			struct tcrypto_mem m = {0};

			if (chunks[c] == 1 && kat[i].n > 70000)
				continue;
			kat_encrypt(kat[i].n, chunks[c], 0, &m);
			check_kat(i, &m);
			assert_int_equal(m.write_at_calls, 0);
			tcrypto_mem_free(&m);
		}
	}
}

/* Head mode must produce the very same bytes as a sequential write. */
static void am1_head_mode_same_bytes(void **state)
{
	for (size_t i = 0; i < AM_ARRAY_LEN(kat); i++) {
		for (uint64_t hl = S; hl <= 3 * S; hl += S) {
			struct tcrypto_mem m = {0};

			kat_encrypt(kat[i].n, 5000, hl, &m);
			check_kat(i, &m);
			if (kat[i].n > hl)
				assert_int_equal(m.write_at_calls, (int)(hl / S));
			else
				assert_int_equal(m.write_at_calls, 0);
			tcrypto_mem_free(&m);
		}
	}
}

static void am1_head_mode_contract(void **state)
{
	struct tcrypto_mem m = {0};
	struct am1_sink sink = tcrypto_mem_sink(&m), nowa = {sink.write, NULL, &m};
	struct am1_writer *w = NULL;
	uint8_t buf[S + 10] = {0};

	assert_int_equal(am1_writer_new(kdek, kfid, &sink, S + 1, &w), AM_ERR_INVAL);
	assert_int_equal(am1_writer_new(kdek, kfid, &nowa, S, &w), AM_ERR_INVAL);
	assert_int_equal(am1_writer_new(kdek, kfid, &sink, S, &w), 0);
	assert_int_equal(am1_writer_write(w, buf, 10), 0);
	/* The header and the placeholder are out before the body. */
	assert_int_equal(m.len, 0); /* body still held: look-ahead */
	assert_int_equal(am1_writer_finish(w, NULL, NULL), AM_ERR_CONFLICT);
	assert_int_equal(am1_writer_patch_head(w, buf, S - 1), AM_ERR_INVAL);
	assert_int_equal(am1_writer_patch_head(w, buf, S), 0);
	assert_int_equal(am1_writer_patch_head(w, buf, S), AM_ERR_CONFLICT);
	assert_int_equal(am1_writer_write(w, buf, 1), AM_ERR_CONFLICT);
	assert_int_equal(am1_writer_finish(w, NULL, NULL), 0);
	assert_int_equal(m.len, am1_cipher_size(S + 10));
	assert_int_equal(am1_head_reserved(S), 48 + S + 16);
	am1_writer_free(w);
	tcrypto_mem_free(&m);
	/* patch_head outside head mode */
	assert_int_equal(am1_writer_new(kdek, kfid, &sink, 0, &w), 0);
	assert_int_equal(am1_writer_patch_head(w, buf, 1), AM_ERR_CONFLICT);
	am1_writer_free(w);
	tcrypto_mem_free(&m);
}

static void am1_sizes(void **state)
{
	uint64_t p;

	assert_int_equal(am1_cipher_size(0), 64);
	assert_int_equal(am1_cipher_size(S), 48 + S + 16);
	assert_int_equal(am1_cipher_size(S + 1), 48 + S + 1 + 32);
	for (uint64_t c = 0; c < 3 * AM1_SEGMENT_CT + 100; c++) {
		int rc = am1_plain_size(c, &p);

		if (rc == 0)
			assert_int_equal(am1_cipher_size(p), c);
	}
	for (uint64_t n = 0; n < 4 * S; n += 997)
		assert_true(am1_plain_size(am1_cipher_size(n), &p) == 0 && p == n);
	assert_int_equal(am1_plain_size(48 + 15, &p), AM_ERR_CRYPTO);
	assert_int_equal(am1_plain_size(48 + AM1_SEGMENT_CT + 16, &p), AM_ERR_CRYPTO);
	assert_int_equal(am1_plain_size(48 + AM1_SEGMENT_CT + 17, &p), 0);
}

struct collect {
	uint8_t *p;
	size_t n;
};

static int collect_emit(void *ctx, const void *p, size_t n)
{
	struct collect *c = ctx;

	assert_true(n <= S);
	memcpy(c->p + c->n, p, n);
	c->n += n;
	return 0;
}

static void check_range(struct am1_reader *r, const uint8_t *pt, uint64_t a, uint64_t b)
{
	size_t len = (size_t)(b - a + 1), got = 0;
	struct collect c = {malloc(len), 0};

	assert_int_equal(am1_reader_range(r, a, b, collect_emit, &c), 0);
	assert_int_equal(c.n, len);
	assert_memory_equal(c.p, pt + a, len);
	memset(c.p, 0, len);
	assert_int_equal(am1_reader_pread(r, a, c.p, len, &got), 0);
	assert_int_equal(got, len);
	assert_memory_equal(c.p, pt + a, len);
	/* the same bytes through views: each ends at its segment's end */
	for (uint64_t off = a; off <= b; off += got) {
		const uint8_t *v = NULL;

		assert_int_equal(am1_reader_view(r, off, (size_t)(b - off + 1), &v, &got), 0);
		assert_true(got > 0 && got <= S - off % S && off + got <= b + 1);
		assert_true(got == b - off + 1 || (off + got) % S == 0);
		assert_memory_equal(v, pt + off, got);
	}
	free(c.p);
}

static void am1_roundtrip_random_ranges(void **state)
{
	const size_t sizes[] = {0, 1, S - 1, S, S + 1, 3 * S, 3 * S + 1, 3 * 1024 * 1024 + 123};
	uint8_t fid[16];
	unsigned seed = 12345;

	assert_int_equal(crypto_random_id(fid), 0);
	for (size_t si = 0; si < AM_ARRAY_LEN(sizes); si++) {
		size_t n = sizes[si], got = 99;
		uint8_t *pt = malloc(n + 1), tmp[8];
		struct tcrypto_mem m = {0};
		struct am1_source src;
		struct am1_reader *r = NULL;

		assert_int_equal(crypto_random(pt, n), 0);
		assert_int_equal(tcrypto_am1_encrypt(kdek, fid, pt, n, &m), 0);
		assert_int_equal(m.len, am1_cipher_size(n));
		src = tcrypto_mem_source(&m);
		assert_int_equal(am1_reader_open(kdek, fid, &src, n, &r), 0);
		assert_int_equal(am1_reader_size(r), n);
		assert_int_equal(am1_reader_pread(r, n, tmp, sizeof(tmp), &got), 0);
		assert_int_equal(got, 0);
		{
			const uint8_t *v = tmp;

			assert_int_equal(am1_reader_view(r, n, sizeof(tmp), &v, &got), 0);
			assert_int_equal(got, 0);
			assert_null(v);
		}
		assert_int_equal(am1_reader_range(r, 0, n, collect_emit, NULL), AM_ERR_RANGE);
		if (n == 0) {
			am1_reader_free(r);
			tcrypto_mem_free(&m);
			free(pt);
			continue;
		}
		check_range(r, pt, 0, n - 1);
		for (int k = 0; k < 40; k++) {
			uint64_t a = (uint64_t)rand_r(&seed) % n, b = (uint64_t)rand_r(&seed) % n;
			check_range(r, pt, a < b ? a : b, a < b ? b : a);
		}
		/* Suffix ranges ("bytes=-N") and ranges around segment boundaries. */
		for (uint64_t suf = 1; suf <= n; suf = suf * 3 + 1)
			check_range(r, pt, n - suf, n - 1);
		for (uint64_t bnd = S; bnd < n; bnd += S) {
			check_range(r, pt, bnd - 1, bnd);
			check_range(r, pt, bnd, n - 1);
		}
		am1_reader_free(r);
		tcrypto_mem_free(&m);
		free(pt);
	}
}

static void am1_sink_failure_is_sticky(void **state)
{
	uint8_t *pt = calloc(1, 3 * S);
	struct tcrypto_mem m = {.fail_after = 2};
	struct am1_sink sink = tcrypto_mem_sink(&m);
	struct am1_writer *w = NULL;

	assert_int_equal(am1_writer_new(kdek, kfid, &sink, 0, &w), 0);
	assert_int_equal(am1_writer_write(w, pt, 3 * S), AM_ERR_IO);
	assert_int_equal(am1_writer_write(w, pt, 1), AM_ERR_IO);
	assert_int_equal(am1_writer_finish(w, NULL, NULL), AM_ERR_IO);
	am1_writer_free(w);
	am1_writer_free(NULL);
	am1_reader_free(NULL);
	tcrypto_mem_free(&m);
	free(pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(am1_sizes),
	    cmocka_unit_test(am1_known_answers),
	    cmocka_unit_test(am1_head_mode_same_bytes),
	    cmocka_unit_test(am1_head_mode_contract),
	    cmocka_unit_test(am1_roundtrip_random_ranges),
	    cmocka_unit_test(am1_sink_failure_is_sticky),
	};
	return cmocka_run_group_tests(tests, setup_keys, NULL);
}
