/*
 * crypto_envelope.c: the key hierarchy below MK (DESIGN §3): project keys
 * wrapped under MK, data keys wrapped under project keys, the derived field,
 * account and blind-index keys, and re-wrapping for MK rotation.
 * Runs in web, media, worker and `audiomus keys`; wrapped keys come from the
 * database and are untrusted: every failure is one AM_ERR_CRYPTO.
 */
#include "crypto/crypto_int.h"

#include <string.h>

#define WRAP_VERSION 1

int crypto_wrap_key(const uint8_t kek[CRYPTO_KEY_LEN], const uint8_t *aad, size_t aadlen,
		    const uint8_t key[CRYPTO_KEY_LEN], uint8_t out[CRYPTO_WRAPPED_LEN])
{
	int rc;

	out[0] = WRAP_VERSION;
	if ((rc = crypto_random(out + 1, CRYPTO_GCM_IV_LEN)) != 0)
		return rc;
	rc = crypto_gcm_seal(kek, out + 1, aad, aadlen, key, CRYPTO_KEY_LEN,
			     out + 1 + CRYPTO_GCM_IV_LEN,
			     out + 1 + CRYPTO_GCM_IV_LEN + CRYPTO_KEY_LEN);
	if (rc)
		am_memzero(out, CRYPTO_WRAPPED_LEN);
	return rc;
}

int crypto_unwrap_key(const uint8_t kek[CRYPTO_KEY_LEN], const uint8_t *aad, size_t aadlen,
		      const uint8_t *wrapped, size_t n, uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t tmp[CRYPTO_KEY_LEN];
	int rc;

	if (!wrapped || n != CRYPTO_WRAPPED_LEN || wrapped[0] != WRAP_VERSION)
		return AM_ERR_CRYPTO;
	rc = crypto_gcm_open(kek, wrapped + 1, aad, aadlen, wrapped + 1 + CRYPTO_GCM_IV_LEN,
			     CRYPTO_KEY_LEN, wrapped + 1 + CRYPTO_GCM_IV_LEN + CRYPTO_KEY_LEN, tmp);
	if (rc == 0)
		memcpy(key, tmp, CRYPTO_KEY_LEN);
	am_memzero(tmp, sizeof(tmp));
	return rc ? AM_ERR_CRYPTO : 0;
}

int crypto_key_new(uint8_t key[CRYPTO_KEY_LEN])
{
	return crypto_random(key, CRYPTO_KEY_LEN);
}

/* "am1-pk" ‖ mk_id(8) ‖ project_id(16) */
static size_t pk_aad(uint8_t aad[6 + CRYPTO_MK_ID_LEN + CRYPTO_ID_LEN], const struct keyring *kr,
		     const uint8_t project_id[CRYPTO_ID_LEN])
{
	memcpy(aad, "am1-pk", 6);
	memcpy(aad + 6, keyring_mk_id_bin(kr), CRYPTO_MK_ID_LEN);
	memcpy(aad + 6 + CRYPTO_MK_ID_LEN, project_id, CRYPTO_ID_LEN);
	return 6 + CRYPTO_MK_ID_LEN + CRYPTO_ID_LEN;
}

/* "am1-dek" ‖ file_id(16) ‖ project_id(16) */
static size_t dek_aad(uint8_t aad[7 + 2 * CRYPTO_ID_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		      const uint8_t project_id[CRYPTO_ID_LEN])
{
	memcpy(aad, "am1-dek", 7);
	memcpy(aad + 7, file_id, CRYPTO_ID_LEN);
	memcpy(aad + 7 + CRYPTO_ID_LEN, project_id, CRYPTO_ID_LEN);
	return 7 + 2 * CRYPTO_ID_LEN;
}

int crypto_pk_wrap(const struct keyring *kr, const uint8_t project_id[CRYPTO_ID_LEN],
		   const uint8_t pk[CRYPTO_KEY_LEN], uint8_t out[CRYPTO_WRAPPED_LEN])
{
	uint8_t aad[6 + CRYPTO_MK_ID_LEN + CRYPTO_ID_LEN];

	if (!kr || !project_id || !pk || !out)
		return AM_ERR_INVAL;
	return crypto_wrap_key(keyring_mk(kr), aad, pk_aad(aad, kr, project_id), pk, out);
}

int crypto_pk_unwrap(const struct keyring *kr, const uint8_t project_id[CRYPTO_ID_LEN],
		     const uint8_t *wrapped, size_t n, uint8_t pk[CRYPTO_KEY_LEN])
{
	uint8_t aad[6 + CRYPTO_MK_ID_LEN + CRYPTO_ID_LEN];

	if (!kr || !project_id || !pk)
		return AM_ERR_INVAL;
	return crypto_unwrap_key(keyring_mk(kr), aad, pk_aad(aad, kr, project_id), wrapped, n, pk);
}

int crypto_pk_rewrap(const struct keyring *old_kr, const struct keyring *new_kr,
		     const uint8_t project_id[CRYPTO_ID_LEN], const uint8_t *wrapped, size_t n,
		     uint8_t out[CRYPTO_WRAPPED_LEN])
{
	uint8_t pk[CRYPTO_KEY_LEN];
	int rc;

	if (!new_kr)
		return AM_ERR_INVAL;
	if ((rc = crypto_pk_unwrap(old_kr, project_id, wrapped, n, pk)) == 0)
		rc = crypto_pk_wrap(new_kr, project_id, pk, out);
	am_memzero(pk, sizeof(pk));
	return rc;
}

int crypto_dek_wrap(const uint8_t pk[CRYPTO_KEY_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		    const uint8_t project_id[CRYPTO_ID_LEN], const uint8_t dek[CRYPTO_KEY_LEN],
		    uint8_t out[CRYPTO_WRAPPED_LEN])
{
	uint8_t aad[7 + 2 * CRYPTO_ID_LEN];

	if (!pk || !file_id || !project_id || !dek || !out)
		return AM_ERR_INVAL;
	return crypto_wrap_key(pk, aad, dek_aad(aad, file_id, project_id), dek, out);
}

int crypto_dek_unwrap(const uint8_t pk[CRYPTO_KEY_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		      const uint8_t project_id[CRYPTO_ID_LEN], const uint8_t *wrapped, size_t n,
		      uint8_t dek[CRYPTO_KEY_LEN])
{
	uint8_t aad[7 + 2 * CRYPTO_ID_LEN];

	if (!pk || !file_id || !project_id || !dek)
		return AM_ERR_INVAL;
	return crypto_unwrap_key(pk, aad, dek_aad(aad, file_id, project_id), wrapped, n, dek);
}

int crypto_project_field_key(const uint8_t pk[CRYPTO_KEY_LEN], uint8_t out[CRYPTO_KEY_LEN])
{
	return crypto_hkdf(pk, CRYPTO_KEY_LEN, NULL, 0, "field", 5, out, CRYPTO_KEY_LEN);
}

int crypto_account_key(const uint8_t ak[CRYPTO_KEY_LEN], enum crypto_account_purpose p,
		       uint8_t out[CRYPTO_KEY_LEN])
{
	if (p == CRYPTO_ACCOUNT_FIELD)
		return crypto_hkdf(ak, CRYPTO_KEY_LEN, NULL, 0, "account-field", 13, out,
				   CRYPTO_KEY_LEN);
	if (p == CRYPTO_ACCOUNT_BLIND_INDEX)
		return crypto_hkdf(ak, CRYPTO_KEY_LEN, NULL, 0, "blind-index", 11, out,
				   CRYPTO_KEY_LEN);
	return AM_ERR_INVAL;
}

int crypto_blind_index_key(const uint8_t blind_key[CRYPTO_KEY_LEN], const void *data, size_t n,
			   uint8_t out[32])
{
	return crypto_hmac_sha256(blind_key, CRYPTO_KEY_LEN, data, n, out);
}
