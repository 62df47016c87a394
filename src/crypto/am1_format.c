/*
 * am1_format.c: the byte layout of AM1 objects (DESIGN §4): sizes, the
 * 48-byte header, the payload-key derivation and the per-segment AES-256-GCM
 * with the STREAM nonce (88-bit counter ‖ last flag). Shared by the writer and
 * the reader. Runs in media and worker; headers it checks are untrusted.
 */
#include "crypto/crypto_int.h"

#include <string.h>

#define AM1_VERSION	  1
#define AM1_ALG_AES256GCM 1
#define AM1_LOG2_SEGMENT  16

uint64_t am1_segments(uint64_t plain)
{
	return plain == 0 ? 1 : (plain - 1) / AM1_SEGMENT + 1;
}

uint64_t am1_cipher_size(uint64_t plain)
{
	return AM1_HEADER_LEN + plain + AM1_TAG_LEN * am1_segments(plain);
}

int am1_plain_size(uint64_t cipher, uint64_t *plain)
{
	uint64_t rest, n, r;

	if (cipher < AM1_HEADER_LEN + AM1_TAG_LEN)
		return AM_ERR_CRYPTO;
	rest = cipher - AM1_HEADER_LEN;
	n = rest / AM1_SEGMENT_CT;
	r = rest % AM1_SEGMENT_CT;
	if (r == 0)
		*plain = n * AM1_SEGMENT; /* n >= 1 here since rest >= 16 */
	else if (r > AM1_TAG_LEN)
		*plain = n * AM1_SEGMENT + (r - AM1_TAG_LEN);
	else if (r == AM1_TAG_LEN && n == 0)
		*plain = 0; /* the empty object: one empty final segment */
	else
		return AM_ERR_CRYPTO; /* a final segment of 0 bytes after others */
	return 0;
}

uint64_t am1_head_reserved(uint64_t head_len)
{
	return AM1_HEADER_LEN + head_len / AM1_SEGMENT * AM1_SEGMENT_CT;
}

void am1_header_build(uint8_t h[AM1_HEADER_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		      const uint8_t salt[AM1_SALT_LEN])
{
	memset(h, 0, AM1_HEADER_LEN);
	memcpy(h, AM1_MAGIC, 8);
	h[8] = AM1_VERSION;
	h[9] = AM1_ALG_AES256GCM;
	h[10] = AM1_LOG2_SEGMENT;
	/* h[11..15] reserved, zero */
	memcpy(h + 16, file_id, CRYPTO_ID_LEN);
	memcpy(h + 32, salt, AM1_SALT_LEN);
}

int am1_header_check(const uint8_t h[AM1_HEADER_LEN], const uint8_t file_id[CRYPTO_ID_LEN])
{
	static const uint8_t zero[5];

	if (memcmp(h, AM1_MAGIC, 8) != 0 || h[8] != AM1_VERSION || h[9] != AM1_ALG_AES256GCM ||
	    h[10] != AM1_LOG2_SEGMENT || memcmp(h + 11, zero, 5) != 0)
		return AM_ERR_CRYPTO;
	/* Not secret, but a mismatch means the object was moved or swapped. */
	if (memcmp(h + 16, file_id, CRYPTO_ID_LEN) != 0)
		return AM_ERR_CRYPTO;
	return 0;
}

EVP_CIPHER_CTX *am1_ctx_new(const uint8_t dek[CRYPTO_KEY_LEN], const uint8_t salt[AM1_SALT_LEN],
			    int enc)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t k[CRYPTO_KEY_LEN];

	if (crypto_hkdf(dek, CRYPTO_KEY_LEN, salt, AM1_SALT_LEN, "am1 payload", 11, k, sizeof(k)))
		goto out;
	if (!(ctx = EVP_CIPHER_CTX_new()))
		goto out;
	if (EVP_CipherInit_ex(ctx, crypto_aes_gcm(), NULL, k, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
out:
	am_memzero(k, sizeof(k));
	return ctx;
}

/* nonce_i = 88-bit big-endian i ‖ last flag byte. */
static void am1_nonce(uint8_t nonce[CRYPTO_GCM_IV_LEN], uint64_t i, int last)
{
	memset(nonce, 0, 3);
	crypto_be64(nonce + 3, i);
	nonce[11] = last ? 1 : 0;
}

int am1_seal_segment(EVP_CIPHER_CTX *ctx, const uint8_t h[AM1_HEADER_LEN], uint64_t i, int last,
		     const uint8_t *in, size_t n, uint8_t *out)
{
	uint8_t nonce[CRYPTO_GCM_IV_LEN], fin[16];
	int len = 0;

	am1_nonce(nonce, i, last);
	if (n > AM1_SEGMENT || EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &len, h, AM1_HEADER_LEN) != 1 ||
	    (n && EVP_EncryptUpdate(ctx, out, &len, in, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(ctx, fin, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AM1_TAG_LEN, out + n) != 1)
		return AM_ERR_CRYPTO;
	return 0;
}

int am1_open_segment(EVP_CIPHER_CTX *ctx, const uint8_t h[AM1_HEADER_LEN], uint64_t i, int last,
		     const uint8_t *ct, size_t n, const uint8_t tag[AM1_TAG_LEN], uint8_t *pt)
{
	uint8_t nonce[CRYPTO_GCM_IV_LEN], t[AM1_TAG_LEN], fin[16];
	int len = 0;

	am1_nonce(nonce, i, last);
	memcpy(t, tag, sizeof(t));
	if (n > AM1_SEGMENT || EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &len, h, AM1_HEADER_LEN) != 1 ||
	    (n && EVP_DecryptUpdate(ctx, pt, &len, ct, (int)n) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AM1_TAG_LEN, t) != 1 ||
	    EVP_DecryptFinal_ex(ctx, fin, &len) != 1)
		return AM_ERR_CRYPTO;
	return 0;
}
