/*
 * crypto_wm.c: the watermark key WK = HKDF(PK, "watermark") behind an opaque
 * handle, and the keyed PRF the mark code (src/watermark/) draws its carrier
 * pattern, sync sequence and payload tag from (docs/crypto.md, docs/watermark.md).
 * Runs in whichever process marks or traces audio, and in `audiomus
 * watermark`; the key file path is the operator's input. No key byte leaves
 * this file: callers see PRF outputs only.
 */
#include "crypto/crypto_int.h"

#include <string.h>

struct crypto_wm_key {
	uint8_t key[CRYPTO_KEY_LEN];
};

#define WM_PRF_MAX	 8160 /* 255 blocks of 32 bytes */
#define WM_PRF_LABEL_MAX 64
#define WM_PRF_DATA_MAX	 256

int crypto_wm_key_derive(const uint8_t ikm[CRYPTO_KEY_LEN], struct crypto_wm_key **out)
{
	struct crypto_wm_key *k;
	int rc;

	*out = NULL;
	if (!(k = am_secret_alloc(sizeof(*k))))
		return AM_ERR_NOMEM;
	rc = crypto_hkdf(ikm, CRYPTO_KEY_LEN, NULL, 0, "watermark", strlen("watermark"), k->key,
			 CRYPTO_KEY_LEN);
	if (rc) {
		crypto_wm_key_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int crypto_wm_key_file(const char *path, struct crypto_wm_key **out, char *err, size_t errlen)
{
	uint8_t *fk = am_secret_alloc(CRYPTO_KEY_LEN);
	int rc;

	*out = NULL;
	if (!fk)
		return AM_ERR_NOMEM;
	if ((rc = crypto_keyfile_read(path, fk, err, errlen)) == 0)
		rc = crypto_wm_key_derive(fk, out);
	am_secret_free(fk, CRYPTO_KEY_LEN);
	return rc;
}

void crypto_wm_key_free(struct crypto_wm_key *k)
{
	am_secret_free(k, sizeof(*k));
}

int crypto_wm_prf(const struct crypto_wm_key *k, const char *label, const void *data, size_t n,
		  uint8_t *out, size_t outlen)
{
	uint8_t msg[WM_PRF_LABEL_MAX + 1 + WM_PRF_DATA_MAX + 4], block[32];
	size_t ll = label ? strlen(label) : 0, pos = 0;
	int rc = AM_ERR_INVAL;

	if (!label || ll > WM_PRF_LABEL_MAX || n > WM_PRF_DATA_MAX || outlen > WM_PRF_MAX ||
	    (n && !data))
		goto out;
	memcpy(msg, label, ll);
	msg[ll] = 0;
	if (n)
		memcpy(msg + ll + 1, data, n);
	for (uint32_t ctr = 0; pos < outlen; ctr++) {
		size_t m = ll + 1 + n, take = outlen - pos < 32 ? outlen - pos : 32;

		/* A single block is HMAC(WK, label ‖ 0 ‖ data); longer outputs
		 * append the block counter. */
		if (outlen > 32) {
			msg[m++] = (uint8_t)(ctr >> 24);
			msg[m++] = (uint8_t)(ctr >> 16);
			msg[m++] = (uint8_t)(ctr >> 8);
			msg[m++] = (uint8_t)ctr;
		}
		if ((rc = crypto_hmac_sha256(k->key, CRYPTO_KEY_LEN, msg, m, block)) != 0)
			goto out;
		memcpy(out + pos, block, take);
		pos += take;
	}
	rc = 0;
out:
	if (rc && out)
		memset(out, 0, outlen);
	am_memzero(block, sizeof(block));
	return rc;
}
