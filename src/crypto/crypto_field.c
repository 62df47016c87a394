/*
 * crypto_field.c: field-level AES-256-GCM for sensitive database columns
 * (DESIGN §5). The AAD binds a value to its table, column, row and project so
 * that a ciphertext copied elsewhere in the database does not open.
 * Runs in web and worker; the ciphertext read back from the database is
 * untrusted (an attacker with database write access must not forge values).
 */
#include "crypto/crypto_int.h"

#include <string.h>

#define FIELD_NAME_MAX 255
#define FIELD_AAD_MAX  (2 + FIELD_NAME_MAX + 2 + FIELD_NAME_MAX + 2 * CRYPTO_ID_LEN)

/* AAD = u16be(len table) ‖ table ‖ u16be(len column) ‖ column ‖ row_id ‖
 * project_id. Returns its length, or 0 if a name is missing or too long. */
static size_t field_aad(uint8_t aad[FIELD_AAD_MAX], const char *table, const char *column,
			const uint8_t row_id[CRYPTO_ID_LEN],
			const uint8_t project_id[CRYPTO_ID_LEN])
{
	size_t tl, cl, o = 0;

	if (!table || !column || !row_id || !project_id)
		return 0;
	tl = strlen(table);
	cl = strlen(column);
	if (tl == 0 || cl == 0 || tl > FIELD_NAME_MAX || cl > FIELD_NAME_MAX)
		return 0;
	crypto_be16(aad + o, (uint16_t)tl);
	memcpy(aad + o + 2, table, tl);
	o += 2 + tl;
	crypto_be16(aad + o, (uint16_t)cl);
	memcpy(aad + o + 2, column, cl);
	o += 2 + cl;
	memcpy(aad + o, row_id, CRYPTO_ID_LEN);
	memcpy(aad + o + CRYPTO_ID_LEN, project_id, CRYPTO_ID_LEN);
	return o + 2 * CRYPTO_ID_LEN;
}

int crypto_field_seal_key(const uint8_t key[CRYPTO_KEY_LEN], const char *table, const char *column,
			  const uint8_t row_id[CRYPTO_ID_LEN],
			  const uint8_t project_id[CRYPTO_ID_LEN], const void *pt, size_t n,
			  struct am_buf *out)
{
	uint8_t aad[FIELD_AAD_MAX], hdr[1 + CRYPTO_GCM_IV_LEN], tag[CRYPTO_GCM_TAG_LEN];
	size_t aadlen, start;
	int rc;

	if (!key || !out || (n && !pt))
		return AM_ERR_INVAL;
	if (n > CRYPTO_FIELD_MAX)
		return AM_ERR_TOOBIG;
	if (!(aadlen = field_aad(aad, table, column, row_id, project_id)))
		return AM_ERR_INVAL;
	start = out->len;
	hdr[0] = CRYPTO_FIELD_VERSION;
	if ((rc = crypto_random(hdr + 1, CRYPTO_GCM_IV_LEN)) != 0)
		return rc;
	/* Reserve the whole output first, then encrypt in place. */
	if ((rc = am_buf_append(out, hdr, sizeof(hdr))) != 0 ||
	    (rc = am_buf_append(out, pt, n)) != 0)
		goto out;
	rc = crypto_gcm_seal(key, hdr + 1, aad, aadlen, out->p + start + sizeof(hdr), n,
			     out->p + start + sizeof(hdr), tag);
	if (rc == 0)
		rc = am_buf_append(out, tag, sizeof(tag));
out:
	if (rc) {
		am_memzero(out->p ? out->p + start : NULL, out->len - start);
		out->len = start;
		if (out->p)
			out->p[start] = 0;
	}
	return rc;
}

/* Open under key, or under ctx when it is set (key schedule kept), into
 * dst (room for cap bytes and a NUL): *len gets the plaintext's length.
 * Under a raw key the ciphertext is copied into place and decrypted in
 * place; under ctx it is decrypted from where it is (never overlapping
 * dst). On failure those bytes are zeroed, so nothing unverified leaks. */
static int field_open_into(const uint8_t *key, struct crypto_gcm_dec *ctx, const char *table,
			   const char *column, const uint8_t row_id[CRYPTO_ID_LEN],
			   const uint8_t project_id[CRYPTO_ID_LEN], const void *ct, size_t n,
			   uint8_t *dst, size_t cap, size_t *len)
{
	const uint8_t *c = ct;
	uint8_t aad[FIELD_AAD_MAX];
	size_t aadlen, m;
	int rc;

	if ((!key && !ctx) || !dst || (n && !ct))
		return AM_ERR_INVAL;
	if (!(aadlen = field_aad(aad, table, column, row_id, project_id)))
		return AM_ERR_INVAL;
	if (n < CRYPTO_FIELD_OVERHEAD || c[0] != CRYPTO_FIELD_VERSION)
		return AM_ERR_CRYPTO;
	m = n - CRYPTO_FIELD_OVERHEAD;
	if (m > CRYPTO_FIELD_MAX || m > cap)
		return AM_ERR_TOOBIG;
	if (ctx) {
		rc = crypto_gcm_dec_open(ctx, c + 1, aad, aadlen, c + 1 + CRYPTO_GCM_IV_LEN, m,
					 c + n - CRYPTO_GCM_TAG_LEN, dst);
	} else {
		memcpy(dst, c + 1 + CRYPTO_GCM_IV_LEN, m);
		rc = crypto_gcm_open(key, c + 1, aad, aadlen, dst, m, c + n - CRYPTO_GCM_TAG_LEN,
				     dst);
	}
	if (rc) {
		am_memzero(dst, m);
		dst[0] = 0;
		return AM_ERR_CRYPTO;
	}
	dst[m] = 0;
	*len = m;
	return 0;
}

/* field_open_into appending to out. */
static int field_open(const uint8_t *key, struct crypto_gcm_dec *ctx, const char *table,
		      const char *column, const uint8_t row_id[CRYPTO_ID_LEN],
		      const uint8_t project_id[CRYPTO_ID_LEN], const void *ct, size_t n,
		      struct am_buf *out)
{
	size_t m = 0;
	int rc;

	if (!out)
		return AM_ERR_INVAL;
	if (ct && n >= CRYPTO_FIELD_OVERHEAD && n - CRYPTO_FIELD_OVERHEAD <= CRYPTO_FIELD_MAX &&
	    ((const uint8_t *)ct)[0] == CRYPTO_FIELD_VERSION &&
	    (rc = am_buf_reserve(out, n - CRYPTO_FIELD_OVERHEAD)))
		return rc;
	if (!out->p) /* nothing reserved: an error below, out stays as it was */
		return field_open_into(key, ctx, table, column, row_id, project_id, ct, n,
				       (uint8_t[1]){0}, 0, &m);
	rc = field_open_into(key, ctx, table, column, row_id, project_id, ct, n, out->p + out->len,
			     out->alloc - out->len - 1, &m);
	if (rc == 0)
		out->len += m;
	out->p[out->len] = 0;
	return rc;
}

int crypto_field_open_key(const uint8_t key[CRYPTO_KEY_LEN], const char *table, const char *column,
			  const uint8_t row_id[CRYPTO_ID_LEN],
			  const uint8_t project_id[CRYPTO_ID_LEN], const void *ct, size_t n,
			  struct am_buf *out)
{
	return key ? field_open(key, NULL, table, column, row_id, project_id, ct, n, out)
		   : AM_ERR_INVAL;
}

int crypto_field_open_ctx(struct crypto_gcm_dec *ctx, const char *table, const char *column,
			  const uint8_t row_id[CRYPTO_ID_LEN],
			  const uint8_t project_id[CRYPTO_ID_LEN], const void *ct, size_t n,
			  struct am_buf *out)
{
	return ctx ? field_open(NULL, ctx, table, column, row_id, project_id, ct, n, out)
		   : AM_ERR_INVAL;
}

int crypto_field_open_key_to(const uint8_t key[CRYPTO_KEY_LEN], struct crypto_gcm_dec *ctx,
			     const char *table, const char *column,
			     const uint8_t row_id[CRYPTO_ID_LEN],
			     const uint8_t project_id[CRYPTO_ID_LEN], const void *ct, size_t n,
			     char *out, size_t outsz)
{
	size_t m = 0;

	if (!out || outsz == 0 || (!key && !ctx))
		return AM_ERR_INVAL;
	out[0] = 0;
	return field_open_into(key, ctx, table, column, row_id, project_id, ct, n, (uint8_t *)out,
			       outsz - 1, &m);
}
