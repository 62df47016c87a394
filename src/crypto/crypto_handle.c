/*
 * crypto_handle.c: the opaque key handles that let the rest of audiomus use
 * project keys, data keys and field keys without holding a key byte
 * (DESIGN §3): a project-key handle (unwrapped here, used to open AM1
 * readers and writers whose data keys never leave this file) and field-key
 * handles (project field keys, account field and blind-index keys).
 * Runs in web, media, worker and the admin commands; wrapped keys come from
 * the database and are untrusted: every failure to open is AM_ERR_CRYPTO.
 * Every handle lives in am_secret_alloc memory and is zeroed when freed.
 */
#include "crypto/crypto_int.h"

#include <string.h>

struct crypto_pk {
	uint8_t key[CRYPTO_KEY_LEN];
	uint8_t project_id[CRYPTO_ID_LEN];
};

struct crypto_field_key {
	uint8_t key[CRYPTO_KEY_LEN];
	enum crypto_field_kind kind;
	/* Project field keys only (a handle one caller owns, never shared
	 * between threads): the key schedule for opening fields, set up once
	 * instead of per field (issue 25); NULL: per field. */
	struct crypto_gcm_dec *dec;
	/* References (crypto_field_key_ref): one per holder, all in the one
	 * thread of the request that opened it. */
	unsigned refs;
};

static const uint8_t zero_id[CRYPTO_ID_LEN];

/* ---- project keys ---------------------------------------------------------------- */

int crypto_pk_create(const struct keyring *kr, const uint8_t project_id[CRYPTO_ID_LEN],
		     uint8_t wrapped[CRYPTO_WRAPPED_LEN])
{
	uint8_t *pk = am_secret_alloc(CRYPTO_KEY_LEN);
	int rc;

	if (!pk)
		return AM_ERR_NOMEM;
	if ((rc = crypto_key_new(pk)) == 0)
		rc = crypto_pk_wrap(kr, project_id, pk, wrapped);
	am_secret_free(pk, CRYPTO_KEY_LEN);
	return rc;
}

int crypto_pk_open(const struct keyring *kr, const uint8_t project_id[CRYPTO_ID_LEN],
		   const uint8_t *wrapped, size_t n, struct crypto_pk **out)
{
	struct crypto_pk *pk;
	int rc;

	*out = NULL;
	if (!project_id)
		return AM_ERR_INVAL;
	if (!(pk = am_secret_alloc(sizeof(*pk))))
		return AM_ERR_NOMEM;
	if ((rc = crypto_pk_unwrap(kr, project_id, wrapped, n, pk->key)) != 0) {
		crypto_pk_free(pk);
		return rc;
	}
	memcpy(pk->project_id, project_id, CRYPTO_ID_LEN);
	*out = pk;
	return 0;
}

void crypto_pk_free(struct crypto_pk *pk)
{
	am_secret_free(pk, sizeof(*pk));
}

int crypto_wm_key_project(const struct crypto_pk *pk, struct crypto_wm_key **out)
{
	return crypto_wm_key_derive(pk->key, out);
}

int crypto_pk_reader_open(const struct crypto_pk *pk, const uint8_t file_id[CRYPTO_ID_LEN],
			  const uint8_t *wrapped_dek, size_t n, const struct am1_source *src,
			  uint64_t plain_size, struct am1_reader **out)
{
	uint8_t *dek;
	int rc;

	*out = NULL;
	if (!pk)
		return AM_ERR_INVAL;
	if (!(dek = am_secret_alloc(CRYPTO_KEY_LEN)))
		return AM_ERR_NOMEM;
	if ((rc = crypto_dek_unwrap(pk->key, file_id, pk->project_id, wrapped_dek, n, dek)) == 0)
		rc = am1_reader_open(dek, file_id, src, plain_size, out);
	am_secret_free(dek, CRYPTO_KEY_LEN);
	return rc;
}

int crypto_pk_writer_new(const struct crypto_pk *pk, const uint8_t file_id[CRYPTO_ID_LEN],
			 const struct am1_sink *sink, uint64_t head_len,
			 uint8_t wrapped_dek[CRYPTO_WRAPPED_LEN], struct am1_writer **out)
{
	uint8_t *dek;
	int rc;

	*out = NULL;
	if (!pk || !wrapped_dek)
		return AM_ERR_INVAL;
	if (!(dek = am_secret_alloc(CRYPTO_KEY_LEN)))
		return AM_ERR_NOMEM;
	if ((rc = crypto_key_new(dek)) == 0 &&
	    (rc = crypto_dek_wrap(pk->key, file_id, pk->project_id, dek, wrapped_dek)) == 0)
		rc = am1_writer_new(dek, file_id, sink, head_len, out);
	if (rc)
		am_memzero(wrapped_dek, CRYPTO_WRAPPED_LEN);
	am_secret_free(dek, CRYPTO_KEY_LEN);
	return rc;
}

/* ---- field keys -------------------------------------------------------------------- */

int crypto_field_key_from_raw(const uint8_t key[CRYPTO_KEY_LEN], enum crypto_field_kind kind,
			      struct crypto_field_key **out)
{
	struct crypto_field_key *k;

	*out = NULL;
	if (!key || (kind != CRYPTO_FK_FIELD && kind != CRYPTO_FK_INDEX))
		return AM_ERR_INVAL;
	if (!(k = am_secret_alloc(sizeof(*k))))
		return AM_ERR_NOMEM;
	memcpy(k->key, key, CRYPTO_KEY_LEN);
	k->kind = kind;
	k->dec = NULL;
	k->refs = 1;
	*out = k;
	return 0;
}

struct crypto_field_key *crypto_field_key_ref(struct crypto_field_key *k)
{
	if (k)
		k->refs++;
	return k;
}

void crypto_field_key_free(struct crypto_field_key *k)
{
	if (k && k->refs > 1) {
		k->refs--;
		return;
	}
	if (k)
		crypto_gcm_dec_free(k->dec); /* zeroes the key schedule */
	am_secret_free(k, sizeof(*k));
}

/* A handle of kind holding HKDF(ikm, no salt, info) (docs/crypto.md: "field",
 * "account-field", "blind-index"): the derived key exists only inside it. */
static int fk_derive(const uint8_t ikm[CRYPTO_KEY_LEN], const char *info,
		     enum crypto_field_kind kind, struct crypto_field_key **out)
{
	struct crypto_field_key *k;
	int rc;

	*out = NULL;
	if (!(k = am_secret_alloc(sizeof(*k))))
		return AM_ERR_NOMEM;
	k->kind = kind;
	k->dec = NULL;
	k->refs = 1;
	rc = crypto_hkdf(ikm, CRYPTO_KEY_LEN, NULL, 0, info, strlen(info), k->key, CRYPTO_KEY_LEN);
	if (rc) {
		crypto_field_key_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int crypto_field_key_project(const struct keyring *kr, const uint8_t project_id[CRYPTO_ID_LEN],
			     const uint8_t *wrapped, size_t n, struct crypto_field_key **out)
{
	uint8_t *pk = am_secret_alloc(CRYPTO_KEY_LEN);
	int rc;

	*out = NULL;
	if (!pk)
		return AM_ERR_NOMEM;
	if ((rc = crypto_pk_unwrap(kr, project_id, wrapped, n, pk)) == 0 &&
	    (rc = fk_derive(pk, "field", CRYPTO_FK_FIELD, out)) == 0)
		(*out)->dec = crypto_gcm_dec_new((*out)->key); /* NULL: per field */
	am_secret_free(pk, CRYPTO_KEY_LEN);
	return rc;
}

/* Derive both account handles from AK; on failure neither is returned. */
static int account_derive(const uint8_t ak[CRYPTO_KEY_LEN], struct crypto_field_key **field,
			  struct crypto_field_key **index)
{
	int rc;

	if ((rc = fk_derive(ak, "account-field", CRYPTO_FK_FIELD, field)) == 0 &&
	    (rc = fk_derive(ak, "blind-index", CRYPTO_FK_INDEX, index)) != 0) {
		crypto_field_key_free(*field);
		*field = NULL;
	}
	return rc;
}

int crypto_account_keys_create(const struct keyring *kr, uint8_t wrapped[CRYPTO_WRAPPED_LEN],
			       struct crypto_field_key **field, struct crypto_field_key **index)
{
	uint8_t *ak = am_secret_alloc(CRYPTO_KEY_LEN);
	int rc;

	*field = *index = NULL;
	if (!ak)
		return AM_ERR_NOMEM;
	if ((rc = crypto_key_new(ak)) == 0 && (rc = crypto_pk_wrap(kr, zero_id, ak, wrapped)) == 0)
		rc = account_derive(ak, field, index);
	am_secret_free(ak, CRYPTO_KEY_LEN);
	return rc;
}

int crypto_account_keys_open(const struct keyring *kr, const uint8_t *wrapped, size_t n,
			     struct crypto_field_key **field, struct crypto_field_key **index)
{
	uint8_t *ak = am_secret_alloc(CRYPTO_KEY_LEN);
	int rc;

	*field = *index = NULL;
	if (!ak)
		return AM_ERR_NOMEM;
	if ((rc = crypto_pk_unwrap(kr, zero_id, wrapped, n, ak)) == 0)
		rc = account_derive(ak, field, index);
	am_secret_free(ak, CRYPTO_KEY_LEN);
	return rc;
}

int crypto_field_seal(const struct crypto_field_key *k, const char *table, const char *column,
		      const uint8_t row_id[CRYPTO_ID_LEN], const uint8_t project_id[CRYPTO_ID_LEN],
		      const void *pt, size_t n, struct am_buf *out)
{
	if (!k || k->kind != CRYPTO_FK_FIELD)
		return AM_ERR_INVAL;
	return crypto_field_seal_key(k->key, table, column, row_id, project_id, pt, n, out);
}

int crypto_field_open(const struct crypto_field_key *k, const char *table, const char *column,
		      const uint8_t row_id[CRYPTO_ID_LEN], const uint8_t project_id[CRYPTO_ID_LEN],
		      const void *ct, size_t n, struct am_buf *out)
{
	if (!k || k->kind != CRYPTO_FK_FIELD)
		return AM_ERR_INVAL;
	if (k->dec)
		return crypto_field_open_ctx(k->dec, table, column, row_id, project_id, ct, n, out);
	return crypto_field_open_key(k->key, table, column, row_id, project_id, ct, n, out);
}

int crypto_field_open_to(const struct crypto_field_key *k, const char *table, const char *column,
			 const uint8_t row_id[CRYPTO_ID_LEN],
			 const uint8_t project_id[CRYPTO_ID_LEN], const void *ct, size_t n,
			 char *out, size_t outsz)
{
	if (!k || k->kind != CRYPTO_FK_FIELD)
		return AM_ERR_INVAL;
	return crypto_field_open_key_to(k->dec ? NULL : k->key, k->dec, table, column, row_id,
					project_id, ct, n, out, outsz);
}

int crypto_blind_index(const struct crypto_field_key *k, const void *data, size_t n,
		       uint8_t out[32])
{
	if (!k || k->kind != CRYPTO_FK_INDEX)
		return AM_ERR_INVAL;
	return crypto_hmac_sha256(k->key, CRYPTO_KEY_LEN, data, n, out);
}
