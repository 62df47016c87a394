/*
 * crypto_hmac.c: HMAC-SHA256 (RFC 2104) from a key prepared once, over
 * OpenSSL's low-level SHA-256 (issue 25). OpenSSL's SHA-256 uses the CPU's
 * SHA extensions (SHA-NI) where it has them, where libsodium's is portable C.
 * The prepared key is the inner and outer hash states after the padded key:
 * as secret as the key, it lives in the caller's secret memory (the keyring's
 * am_secret_alloc block), and each MAC finishes from stack copies that are
 * zeroed before returning. SHA256_Init/Update/Final are deprecated in OpenSSL
 * 3 (still exported, as in Debian's libssl3); this is the only file that
 * uses them. Runs wherever the keyring does (web and media roles, admin
 * commands); the messages MACed may come from clients.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "crypto/crypto_int.h"

#include <string.h>

#include <openssl/sha.h>

_Static_assert(sizeof(SHA256_CTX) <= CRYPTO_HMAC_CTX_MAX, "crypto_hmac_key: SHA256_CTX too big");

#define HMAC_BLOCK 64

/* ctx = SHA-256 state after one block of key ^ pad. */
static int pad_block(const uint8_t k[HMAC_BLOCK], uint8_t pad, uint8_t *ctx)
{
	uint8_t b[HMAC_BLOCK];
	SHA256_CTX c;
	int ok;

	for (int i = 0; i < HMAC_BLOCK; i++)
		b[i] = k[i] ^ pad;
	ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, b, sizeof(b)) == 1;
	memcpy(ctx, &c, sizeof(c));
	am_memzero(&c, sizeof(c));
	am_memzero(b, sizeof(b));
	return ok ? 0 : AM_ERR_CRYPTO;
}

int crypto_hmac_key_init(struct crypto_hmac_key *hk, const uint8_t *key, size_t keylen)
{
	uint8_t k[HMAC_BLOCK] = {0};
	int rc = AM_ERR_CRYPTO;

	if (!hk || (keylen && !key))
		return AM_ERR_INVAL;
	if (keylen > HMAC_BLOCK) {
		if (!SHA256(key, keylen, k))
			goto out;
	} else if (keylen) {
		memcpy(k, key, keylen);
	}
	if ((rc = pad_block(k, 0x36, hk->in)) == 0)
		rc = pad_block(k, 0x5c, hk->out);
out:
	am_memzero(k, sizeof(k));
	if (rc)
		am_memzero(hk, sizeof(*hk));
	return rc;
}

int crypto_hmac_key_mac(const struct crypto_hmac_key *hk, const void *data, size_t n,
			uint8_t out[32])
{
	uint8_t ih[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;
	int ok;

	if (!hk || (n && !data) || !out)
		return AM_ERR_INVAL;
	memcpy(&c, hk->in, sizeof(c));
	ok = SHA256_Update(&c, n ? data : "", n) == 1 && SHA256_Final(ih, &c) == 1;
	memcpy(&c, hk->out, sizeof(c));
	ok = ok && SHA256_Update(&c, ih, sizeof(ih)) == 1 && SHA256_Final(out, &c) == 1;
	am_memzero(&c, sizeof(c));
	am_memzero(ih, sizeof(ih));
	if (!ok)
		am_memzero(out, 32);
	return ok ? 0 : AM_ERR_CRYPTO;
}
