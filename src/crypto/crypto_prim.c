/*
 * crypto_prim.c: thin wrappers over OpenSSL 3 libcrypto (HKDF via EVP_KDF,
 * HMAC via EVP_MAC, SHA-256, RAND_bytes, AES-256-GCM one-shots), random ids,
 * tokens and the strict base64url codec.
 * Runs in every role; the base64url decoder parses untrusted input (tokens and
 * MACs from URLs and cookies), so it is strict and bounded by its caller.
 */
#include "crypto/crypto_int.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* Algorithms fetched once per process (fetching is the slow part). */
static EVP_KDF *g_hkdf;
static EVP_MAC *g_hmac;
static EVP_CIPHER *g_gcm;
static EVP_MD *g_sha256;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void fetch_algs(void)
{
	g_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	g_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* AES-256-GCM and SHA-256, fetched once: the implicit fetch behind
 * EVP_aes_256_gcm() / EVP_sha256() takes a global lock on every use. */
const EVP_CIPHER *crypto_aes_gcm(void)
{
	pthread_once(&g_once, fetch_algs);
	return g_gcm ? g_gcm : EVP_aes_256_gcm();
}

static const EVP_MD *sha256_md(void)
{
	pthread_once(&g_once, fetch_algs);
	return g_sha256 ? g_sha256 : EVP_sha256();
}

int crypto_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
		const char *info, size_t infolen, uint8_t *out, size_t outlen)
{
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5], *p = params;
	static const char empty[1];
	int rc = AM_ERR_CRYPTO;

	if (!ikm || !out || outlen == 0 || outlen > 255 * 32 || (infolen && !info) ||
	    (saltlen && !salt))
		return AM_ERR_INVAL;
	pthread_once(&g_once, fetch_algs);
	if (!g_hkdf || !(kctx = EVP_KDF_CTX_new(g_hkdf)))
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	if (saltlen)
		*p++ =
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						 (void *)(infolen ? info : empty), infolen);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, params) == 1)
		rc = 0;
out:
	EVP_KDF_CTX_free(kctx);
	return rc;
}

int crypto_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t n,
		       uint8_t out[32])
{
	EVP_MAC_CTX *mctx = NULL;
	OSSL_PARAM params[2];
	size_t outl = 0;
	int rc = AM_ERR_CRYPTO;

	if (!key || keylen == 0 || (n && !data))
		return AM_ERR_INVAL;
	pthread_once(&g_once, fetch_algs);
	if (!g_hmac || !(mctx = EVP_MAC_CTX_new(g_hmac)))
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(mctx, key, keylen, params) != 1 ||
	    (n && EVP_MAC_update(mctx, data, n) != 1) || EVP_MAC_final(mctx, out, &outl, 32) != 1 ||
	    outl != 32)
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(mctx);
	return rc;
}

int crypto_sha256(const void *data, size_t n, uint8_t out[32])
{
	unsigned int outl = 0;

	if (n && !data)
		return AM_ERR_INVAL;
	if (EVP_Digest(n ? data : "", n, out, &outl, sha256_md(), NULL) != 1 || outl != 32)
		return AM_ERR_CRYPTO;
	return 0;
}

int crypto_random(void *out, size_t n)
{
	uint8_t *p = out;

	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;

		if (RAND_bytes(p, chunk) != 1)
			return AM_ERR_CRYPTO;
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

int crypto_random_id(uint8_t out[CRYPTO_ID_LEN])
{
	return crypto_random(out, CRYPTO_ID_LEN);
}

/* AES-256-GCM with a 96-bit IV, one shot; enc selects direction. */
static int gcm_run(int enc, const uint8_t *key, const uint8_t *iv, const uint8_t *aad,
		   size_t aadlen, const uint8_t *in, size_t n, uint8_t *outp, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t fin[16]; /* GCM's final step writes no bytes */
	int len = 0, rc = AM_ERR_CRYPTO;

	if (n > INT_MAX || aadlen > INT_MAX)
		return AM_ERR_TOOBIG;
	if (!(ctx = EVP_CIPHER_CTX_new()) ||
	    EVP_CipherInit_ex(ctx, crypto_aes_gcm(), NULL, key, iv, enc) != 1)
		goto out;
	if (aadlen && EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1)
		goto out;
	if (n && EVP_CipherUpdate(ctx, outp, &len, in, (int)n) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_GCM_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, fin, &len) != 1)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_GCM_TAG_LEN, tag) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int crypto_gcm_seal(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t iv[CRYPTO_GCM_IV_LEN],
		    const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t n, uint8_t *ct,
		    uint8_t tag[CRYPTO_GCM_TAG_LEN])
{
	return gcm_run(1, key, iv, aad, aadlen, pt, n, ct, tag);
}

EVP_CIPHER_CTX *crypto_gcm_open_ctx_new(const uint8_t key[CRYPTO_KEY_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (ctx && EVP_CipherInit_ex(ctx, crypto_aes_gcm(), NULL, key, NULL, 0) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

int crypto_gcm_open_ctx(EVP_CIPHER_CTX *ctx, const uint8_t iv[CRYPTO_GCM_IV_LEN],
			const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t n,
			const uint8_t tag[CRYPTO_GCM_TAG_LEN], uint8_t *pt)
{
	uint8_t t[CRYPTO_GCM_TAG_LEN], fin[16];
	int len = 0;

	if (n > INT_MAX || aadlen > INT_MAX)
		return AM_ERR_TOOBIG;
	memcpy(t, tag, sizeof(t));
	/* A new IV under the key schedule set at creation (the documented reuse). */
	if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, 0) != 1 ||
	    (aadlen && EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1) ||
	    (n && EVP_CipherUpdate(ctx, pt, &len, ct, (int)n) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_GCM_TAG_LEN, t) != 1 ||
	    EVP_CipherFinal_ex(ctx, fin, &len) != 1)
		return AM_ERR_CRYPTO;
	return 0;
}

/* A key set up once for many opens: libsodium's AES-256-GCM (AES-NI and
 * PCLMUL; its precomputed state) when the CPU has it, else OpenSSL's
 * context with the key schedule. In secret memory (the state holds the
 * round keys), zeroed when freed. */
struct crypto_gcm_dec {
	crypto_aead_aes256gcm_state st;
	EVP_CIPHER_CTX *ctx; /* NULL: st */
};

struct crypto_gcm_dec *crypto_gcm_dec_new(const uint8_t key[CRYPTO_KEY_LEN])
{
	struct crypto_gcm_dec *d = am_secret_alloc(sizeof(*d));

	if (!d)
		return NULL;
	d->ctx = NULL;
	if (sodium_init() >= 0 && crypto_aead_aes256gcm_is_available() &&
	    crypto_aead_aes256gcm_beforenm(&d->st, key) == 0)
		return d;
	if (!(d->ctx = crypto_gcm_open_ctx_new(key))) {
		am_secret_free(d, sizeof(*d));
		return NULL;
	}
	return d;
}

void crypto_gcm_dec_free(struct crypto_gcm_dec *d)
{
	if (d)
		EVP_CIPHER_CTX_free(d->ctx); /* cleanses its key schedule */
	am_secret_free(d, sizeof(*d));
}

int crypto_gcm_dec_open(struct crypto_gcm_dec *d, const uint8_t iv[CRYPTO_GCM_IV_LEN],
			const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t n,
			const uint8_t tag[CRYPTO_GCM_TAG_LEN], uint8_t *pt)
{
	if (d->ctx)
		return crypto_gcm_open_ctx(d->ctx, iv, aad, aadlen, ct, n, tag, pt);
	/* libsodium checks the tag before it returns and zeroes pt on failure */
	return crypto_aead_aes256gcm_decrypt_detached_afternm(pt, NULL, ct, n, tag, aad, aadlen, iv,
							      &d->st) == 0
		   ? 0
		   : AM_ERR_CRYPTO;
}

int crypto_gcm_open(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t iv[CRYPTO_GCM_IV_LEN],
		    const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t n,
		    const uint8_t tag[CRYPTO_GCM_TAG_LEN], uint8_t *pt)
{
	uint8_t t[CRYPTO_GCM_TAG_LEN];

	memcpy(t, tag, sizeof(t));
	return gcm_run(0, key, iv, aad, aadlen, ct, n, pt, t);
}

/* ---- base64url ------------------------------------------------------------ */

/* 1 if v >= k, else 0, for v, k < 2^31: no branch on secret data. */
static unsigned ge_mask(unsigned v, unsigned k)
{
	return (unsigned)(((uint32_t)(k - 1) - (uint32_t)v) >> 31);
}

/* 6-bit value to its character without branches or table lookups, since
 * tokens are secrets: 0-25 'A'.., 26-51 'a'.., 52-61 '0'.., 62 '-', 63 '_'. */
static char b64_char(unsigned v)
{
	int c = (int)v + 'A';

	c += (int)ge_mask(v, 26) * 6;
	c -= (int)ge_mask(v, 52) * 75;
	c -= (int)ge_mask(v, 62) * 13;
	c += (int)ge_mask(v, 63) * 49;
	return (char)c;
}

/* Character to its 6-bit value, or -1. */
static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t crypto_b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

int crypto_b64url_encode(const void *in, size_t n, char *out, size_t outlen)
{
	const uint8_t *p = in;
	size_t o = 0, i;

	if (n > (SIZE_MAX / 4) * 3 - 3 || outlen < crypto_b64url_len(n) + 1)
		return AM_ERR_TOOBIG;
	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = b64_char(v >> 18);
		out[o++] = b64_char((v >> 12) & 63);
		out[o++] = b64_char((v >> 6) & 63);
		out[o++] = b64_char(v & 63);
	}
	if (n - i == 1) {
		out[o++] = b64_char(p[i] >> 2);
		out[o++] = b64_char((p[i] & 3) << 4);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];

		out[o++] = b64_char(v >> 10);
		out[o++] = b64_char((v >> 4) & 63);
		out[o++] = b64_char((v & 15) << 2);
	}
	out[o] = 0;
	return 0;
}

int crypto_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t need = inlen / 4 * 3 + (inlen % 4 ? inlen % 4 - 1 : 0), o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (inlen % 4 == 1)
		return AM_ERR_INVAL;
	for (size_t i = 0; i < inlen; i++)
		if (b64_val((unsigned char)in[i]) < 0)
			return AM_ERR_INVAL;
	if (need > outcap)
		return AM_ERR_TOOBIG;
	for (size_t i = 0; i < inlen; i++) {
		acc = (acc << 6) | (uint32_t)b64_val((unsigned char)in[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits (2 or 4) must be zero: one canonical encoding only. */
	if (acc != 0) {
		am_memzero(out, o);
		return AM_ERR_INVAL;
	}
	*outlen = o;
	return 0;
}

int crypto_token_new(char *out, size_t outlen)
{
	uint8_t raw[CRYPTO_TOKEN_BYTES];
	int rc;

	if (!out || outlen < CRYPTO_TOKEN_LEN + 1)
		return AM_ERR_TOOBIG;
	rc = crypto_random(raw, sizeof(raw));
	if (rc == 0)
		rc = crypto_b64url_encode(raw, sizeof(raw), out, outlen);
	am_memzero(raw, sizeof(raw));
	return rc;
}
