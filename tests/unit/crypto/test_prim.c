/*
 * Unit tests for src/crypto primitives: HKDF, HMAC and SHA-256 against the
 * RFC vectors, random ids, tokens and the strict base64url codec, and field
 * encryption (moved values and tampered bytes must not open).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/crypto_int.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = h[2 * i + j];
			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		out[i] = (uint8_t)v;
	}
}

static void hkdf_rfc5869_case1(void **state)
{
	uint8_t ikm[22], salt[13], okm[42], want[42];
	char info[10];

	memset(ikm, 0x0b, sizeof(ikm));
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (int i = 0; i < 10; i++)
		info[i] = (char)(0xf0 + i);
	unhex(
	    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
	    want, sizeof(want));
	assert_int_equal(
	    crypto_hkdf(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info), okm, sizeof(okm)),
	    0);
	assert_memory_equal(okm, want, sizeof(want));
	/* RFC 5869 case 3: no salt, no info. */
	unhex(
	    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
	    want, sizeof(want));
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), NULL, 0, NULL, 0, okm, sizeof(okm)), 0);
	assert_memory_equal(okm, want, sizeof(want));
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), NULL, 0, NULL, 0, okm, 0), AM_ERR_INVAL);
}

/* The prepared HMAC key (crypto_hmac.c, OpenSSL's low-level SHA-256, issue
 * 25): RFC 4231's HMAC-SHA-256 vectors (cases 1-4, 6, 7 and case 5's
 * truncated MAC), then random keys of 0-200 bytes and messages of 0-300
 * bytes against libsodium's HMAC-SHA256 (the MACs' earlier implementation)
 * and OpenSSL's EVP_MAC; a prepared key gives the same MAC twice (it is not
 * changed by use). */
static void hmac_key_rfc4231_and_libsodium(void **state)
{
	static const struct {
		uint8_t kb;
		size_t kn;
		const char *msg; /* NULL: db x 50 (case 3), cd x 50 (case 4) */
		const char *mac;
	} v[] = {
	    {0x0b, 20, "Hi There",
	     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
	    {0, 4, "what do ya want for nothing?",
	     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	    {0xaa, 20, NULL, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
	    {1, 25, NULL, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
	    {0x0c, 20, "Test With Truncation", "a3b6167473100ee06e0c796c2955552b"},
	    {0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
	     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	    {0xaa, 131,
	     "This is a test using a larger than block-size key and a larger than block-size "
	     "data. The key needs to be hashed before being used by the HMAC algorithm.",
	     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
	};
	struct crypto_hmac_key hk;
	uint8_t key[200], msg[300], out[32], want[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t mn = v[i].msg ? strlen(v[i].msg) : 50;

		if (i == 1)
			memcpy(key, "Jefe", 4);
		else
			for (size_t j = 0; j < v[i].kn; j++)
				key[j] = i == 3 ? (uint8_t)(j + 1) : v[i].kb;
		if (v[i].msg)
			memcpy(msg, v[i].msg, mn);
		else
			memset(msg, i == 2 ? 0xdd : 0xcd, mn);
		unhex(v[i].mac, want, strlen(v[i].mac) / 2);
		assert_int_equal(crypto_hmac_key_init(&hk, key, v[i].kn), 0);
		assert_int_equal(crypto_hmac_key_mac(&hk, msg, mn, out), 0);
		assert_memory_equal(out, want, strlen(v[i].mac) / 2);
	}
	for (int r = 0; r < 400; r++) {
		crypto_auth_hmacsha256_state st;
		size_t kn = randombytes_uniform(sizeof(key) + 1), mn = randombytes_uniform(301);

		randombytes_buf(key, sizeof(key));
		randombytes_buf(msg, sizeof(msg));
		crypto_auth_hmacsha256_init(&st, key, kn);
		crypto_auth_hmacsha256_update(&st, msg, mn);
		crypto_auth_hmacsha256_final(&st, want);
		assert_int_equal(crypto_hmac_key_init(&hk, kn ? key : NULL, kn), 0);
		for (int twice = 0; twice < 2; twice++) {
			assert_int_equal(crypto_hmac_key_mac(&hk, mn ? msg : NULL, mn, out), 0);
			assert_memory_equal(out, want, 32);
		}
		if (kn) { /* crypto_hmac_sha256 refuses an empty key */
			assert_int_equal(crypto_hmac_sha256(key, kn, msg, mn, out), 0);
			assert_memory_equal(out, want, 32);
		}
	}
	assert_int_equal(crypto_hmac_key_mac(&hk, NULL, 1, out), AM_ERR_INVAL);
	assert_int_equal(crypto_hmac_key_init(&hk, NULL, 1), AM_ERR_INVAL);
}

static void hmac_and_sha256_vectors(void **state)
{
	uint8_t out[32], want[32];

	unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want, 32);
	assert_int_equal(
	    crypto_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, out),
	    0);
	assert_memory_equal(out, want, 32);
	unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
	assert_int_equal(crypto_sha256("abc", 3, out), 0);
	assert_memory_equal(out, want, 32);
	unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
	assert_int_equal(crypto_sha256(NULL, 0, out), 0);
	assert_memory_equal(out, want, 32);
}

static void random_ids_differ(void **state)
{
	uint8_t a[CRYPTO_ID_LEN], b[CRYPTO_ID_LEN];

	assert_int_equal(crypto_random_id(a), 0);
	assert_int_equal(crypto_random_id(b), 0);
	assert_memory_not_equal(a, b, CRYPTO_ID_LEN);
}

static void b64url_rfc4648_vectors(void **state)
{
	static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *want[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	char enc[16];
	uint8_t dec[16];
	size_t n;

	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(crypto_b64url_encode(in[i], strlen(in[i]), enc, sizeof(enc)), 0);
		assert_string_equal(enc, want[i]);
		assert_int_equal(crypto_b64url_len(strlen(in[i])), strlen(want[i]));
		assert_int_equal(crypto_b64url_decode(enc, strlen(enc), dec, sizeof(dec), &n), 0);
		assert_int_equal(n, strlen(in[i]));
		assert_memory_equal(dec, in[i], n);
	}
	assert_int_equal(crypto_b64url_encode("\xfb\xff", 2, enc, sizeof(enc)), 0);
	assert_string_equal(enc, "-_8");
	assert_int_equal(crypto_b64url_encode("foo", 3, enc, 4), AM_ERR_TOOBIG);
}

static void b64url_decoder_is_strict(void **state)
{
	static const char *bad[] = {"Zg==",  "Zg=",  "Z",     "Zh",    "Zm9",	"Zm9v+",
				    "Zm9v/", "Zm 9", "Zm9vY", "Zm9\n", "Zm8A=", "_-_-_"};
	uint8_t dec[16];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(crypto_b64url_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), &n),
				 AM_ERR_INVAL);
	/* An embedded NUL is a bad character, not the end. */
	assert_int_equal(crypto_b64url_decode("Zm\0v", 4, dec, sizeof(dec), &n), AM_ERR_INVAL);
	assert_int_equal(crypto_b64url_decode("Zm9vYmFy", 8, dec, 5, &n), AM_ERR_TOOBIG);
}

static void b64url_roundtrips_every_byte(void **state)
{
	uint8_t raw[64], dec[64];
	char enc[100];
	size_t n;

	for (int v = 0; v < 256; v++) {
		for (size_t len = 1; len <= 4; len++) {
			memset(raw, v, len);
			raw[0] = (uint8_t)(255 - v);
			assert_int_equal(crypto_b64url_encode(raw, len, enc, sizeof(enc)), 0);
			assert_int_equal(
			    crypto_b64url_decode(enc, strlen(enc), dec, sizeof(dec), &n), 0);
			assert_int_equal(n, len);
			assert_memory_equal(dec, raw, len);
		}
	}
}

static void tokens_are_192_bit_base64url(void **state)
{
	char a[CRYPTO_TOKEN_LEN + 1], b[CRYPTO_TOKEN_LEN + 1];
	uint8_t raw[32];
	size_t n;

	assert_int_equal(crypto_token_new(a, sizeof(a)), 0);
	assert_int_equal(crypto_token_new(b, sizeof(b)), 0);
	assert_int_equal(strlen(a), CRYPTO_TOKEN_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(crypto_b64url_decode(a, strlen(a), raw, sizeof(raw), &n), 0);
	assert_int_equal(n, 24);
	assert_int_equal(crypto_token_new(a, CRYPTO_TOKEN_LEN), AM_ERR_TOOBIG);
}

/* ---- field encryption ------------------------------------------------------ */

static const uint8_t fkey[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t row1[16] = {0xa1}, row2[16] = {0xa2};
static const uint8_t proj1[16] = {0xb1}, proj2[16] = {0xb2}, noproj[16];

static void field_roundtrip(void **state)
{
	struct am_buf ct, pt;

	am_buf_init(&ct, 1 << 20);
	am_buf_init(&pt, 1 << 20);
	assert_int_equal(
	    crypto_field_seal_key(fkey, "comments", "body", row1, proj1, "hello", 5, &ct), 0);
	assert_int_equal(ct.len, 5 + CRYPTO_FIELD_OVERHEAD);
	assert_int_equal(ct.p[0], 1);
	assert_int_equal(
	    crypto_field_open_key(fkey, "comments", "body", row1, proj1, ct.p, ct.len, &pt), 0);
	assert_int_equal(pt.len, 5);
	assert_memory_equal(pt.p, "hello", 5);
	/* Empty values and account-level fields (all-zero project). */
	am_buf_reset(&ct);
	am_buf_reset(&pt);
	assert_int_equal(
	    crypto_field_seal_key(fkey, "accounts", "email", row1, noproj, NULL, 0, &ct), 0);
	assert_int_equal(ct.len, CRYPTO_FIELD_OVERHEAD);
	assert_int_equal(
	    crypto_field_open_key(fkey, "accounts", "email", row1, noproj, ct.p, ct.len, &pt), 0);
	assert_int_equal(pt.len, 0);
	am_buf_cleanup(&ct);
	am_buf_cleanup(&pt);
}

static void field_moved_or_tampered_fails(void **state)
{
	uint8_t other_key[32] = {9};
	struct am_buf ct, pt;
	const char *msg = "a comment";

	am_buf_init(&ct, 1 << 20);
	am_buf_init(&pt, 1 << 20);
	assert_int_equal(am_buf_puts(&pt, "prefix"), 0);
	assert_int_equal(crypto_field_seal_key(fkey, "comments", "body", row1, proj1, msg, 9, &ct),
			 0);
	assert_int_equal(
	    crypto_field_open_key(fkey, "comments", "body", row2, proj1, ct.p, ct.len, &pt),
	    AM_ERR_CRYPTO);
	assert_int_equal(
	    crypto_field_open_key(fkey, "comments", "body", row1, proj2, ct.p, ct.len, &pt),
	    AM_ERR_CRYPTO);
	assert_int_equal(
	    crypto_field_open_key(fkey, "comments", "name", row1, proj1, ct.p, ct.len, &pt),
	    AM_ERR_CRYPTO);
	assert_int_equal(
	    crypto_field_open_key(fkey, "guests", "body", row1, proj1, ct.p, ct.len, &pt),
	    AM_ERR_CRYPTO);
	/* Length prefixes: "comment"+"sbody" is not "comments"+"body". */
	assert_int_equal(
	    crypto_field_open_key(fkey, "comment", "sbody", row1, proj1, ct.p, ct.len, &pt),
	    AM_ERR_CRYPTO);
	assert_int_equal(
	    crypto_field_open_key(other_key, "comments", "body", row1, proj1, ct.p, ct.len, &pt),
	    AM_ERR_CRYPTO);
	for (size_t i = 0; i < ct.len; i++) {
		ct.p[i] ^= 0x01;
		assert_int_equal(
		    crypto_field_open_key(fkey, "comments", "body", row1, proj1, ct.p, ct.len, &pt),
		    AM_ERR_CRYPTO);
		ct.p[i] ^= 0x01;
	}
	for (size_t n = 0; n < ct.len; n++)
		assert_int_equal(
		    crypto_field_open_key(fkey, "comments", "body", row1, proj1, ct.p, n, &pt),
		    AM_ERR_CRYPTO);
	/* Nothing was appended by the failures. */
	assert_int_equal(pt.len, 6);
	assert_string_equal((char *)pt.p, "prefix");
	assert_int_equal(
	    crypto_field_open_key(fkey, "comments", "body", row1, proj1, ct.p, ct.len, &pt), 0);
	assert_memory_equal(pt.p, "prefixa comment", 15);
	am_buf_cleanup(&ct);
	am_buf_cleanup(&pt);
}

static void field_same_value_differs(void **state)
{
	struct am_buf a, b;

	am_buf_init(&a, 256);
	am_buf_init(&b, 256);
	assert_int_equal(crypto_field_seal_key(fkey, "t", "c", row1, proj1, "x", 1, &a), 0);
	assert_int_equal(crypto_field_seal_key(fkey, "t", "c", row1, proj1, "x", 1, &b), 0);
	assert_memory_not_equal(a.p, b.p, a.len);
	/* Bad names and caps are refused, leaving out unchanged. */
	assert_int_equal(crypto_field_seal_key(fkey, "", "c", row1, proj1, "x", 1, &a),
			 AM_ERR_INVAL);
	assert_int_equal(crypto_field_seal_key(fkey, "t", NULL, row1, proj1, "x", 1, &a),
			 AM_ERR_INVAL);
	am_buf_cleanup(&a);
	am_buf_init(&a, 10);
	assert_int_equal(crypto_field_seal_key(fkey, "t", "c", row1, proj1, "x", 1, &a),
			 AM_ERR_TOOBIG);
	assert_int_equal(a.len, 0);
	am_buf_cleanup(&a);
	am_buf_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(hkdf_rfc5869_case1),
	    cmocka_unit_test(hmac_and_sha256_vectors),
	    cmocka_unit_test(hmac_key_rfc4231_and_libsodium),
	    cmocka_unit_test(random_ids_differ),
	    cmocka_unit_test(b64url_rfc4648_vectors),
	    cmocka_unit_test(b64url_decoder_is_strict),
	    cmocka_unit_test(b64url_roundtrips_every_byte),
	    cmocka_unit_test(tokens_are_192_bit_base64url),
	    cmocka_unit_test(field_roundtrip),
	    cmocka_unit_test(field_moved_or_tampered_fails),
	    cmocka_unit_test(field_same_value_differs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
