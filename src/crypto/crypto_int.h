/*
 * crypto_int.h: helpers shared by the files of src/crypto/ only (and by the
 * unit tests, fuzzers and benchmarks). Not part of the public API: it holds
 * every function that takes or returns raw key bytes.
 * Runs wherever crypto runs; holds key material only for the duration of a call.
 */
#ifndef AM_CRYPTO_INT_H
#define AM_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/crypto.h"

struct crypto_gcm_dec; /* crypto_gcm_dec_new (crypto_prim.c) */

#define CRYPTO_KEY_LEN 32 /* every symmetric key: never outside src/crypto/ */

/* ==== raw-key functions ==========================================================
 * Everything below takes or returns key bytes. Production code outside
 * src/crypto/ uses the handles of crypto.h instead (scripts/lint-keys fails
 * on any use there); unit tests, fuzzers and benchmarks use these to build
 * and check data independently of the handles. Key buffers passed in or
 * out should be am_secret_alloc memory, zeroed after use. */

/* HKDF-SHA256 (RFC 5869) extract-and-expand. salt may be NULL (saltlen 0:
 * the RFC's all-zero salt); info may be NULL when infolen is 0. outlen is at
 * most 255·32. 0, AM_ERR_INVAL, AM_ERR_CRYPTO. */
int crypto_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
		const char *info, size_t infolen, uint8_t *out, size_t outlen);
/* HMAC-SHA256 of data under key. 0 or AM_ERR_CRYPTO. */
int crypto_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t n,
		       uint8_t out[32]);
/* An HMAC-SHA256 key prepared once (crypto_hmac.c): the SHA-256 states
 * after the padded key's inner and outer blocks (OpenSSL's SHA256_CTX, kept
 * as bytes so that only crypto_hmac.c uses the deprecated type). As secret
 * as the key: keep it in am_secret_alloc memory and zero it when done. */
#define CRYPTO_HMAC_CTX_MAX 128
struct crypto_hmac_key {
	uint8_t in[CRYPTO_HMAC_CTX_MAX];
	uint8_t out[CRYPTO_HMAC_CTX_MAX];
};
/* Prepare hk from key (any length; longer than 64 bytes is hashed first).
 * 0, AM_ERR_INVAL, AM_ERR_CRYPTO (hk zeroed). */
int crypto_hmac_key_init(struct crypto_hmac_key *hk, const uint8_t *key, size_t keylen);
/* out = HMAC-SHA256(hk's key, data): the states copied to the stack, updated
 * and zeroed; hk is not changed, so threads may share it. 0, AM_ERR_INVAL,
 * AM_ERR_CRYPTO (out zeroed). */
int crypto_hmac_key_mac(const struct crypto_hmac_key *hk, const void *data, size_t n,
			uint8_t out[32]);
/* Read a key file (regular, mode <= 0600, exactly 64 hex characters and an
 * optional newline) into key; a key-free message into err. 0,
 * AM_ERR_NOTFOUND, AM_ERR_DENIED, AM_ERR_INVAL, AM_ERR_IO. */
int crypto_keyfile_read(const char *path, uint8_t key[CRYPTO_KEY_LEN], char *err, size_t errlen);
/* A watermark-key handle WK = HKDF(ikm, no salt, "watermark") (crypto_wm.c). */
int crypto_wm_key_derive(const uint8_t ikm[CRYPTO_KEY_LEN], struct crypto_wm_key **out);
/* The purpose key of generation gen, borrowed from the keyring (valid until
 * keyring_free), or NULL unless gen is the current or the previous one. */
const uint8_t *keyring_key(const struct keyring *kr, enum crypto_purpose p, uint32_t gen);
/* The HMAC-SHA256 key prepared from that key (the same generations), to be
 * used with crypto_hmac_key_mac, never changed; borrowed like the key. */
const struct crypto_hmac_key *keyring_hmac(const struct keyring *kr, enum crypto_purpose p,
					   uint32_t gen);

/* The master key itself, borrowed from the keyring (valid until
 * keyring_free): for the keys derived from it outside this file (the
 * access log's signing key, crypto_log.c). */
const uint8_t *keyring_master(const struct keyring *kr);

/* Field encryption under a raw key (layout: crypto.h, crypto_field_seal). */
int crypto_field_seal_key(const uint8_t key[CRYPTO_KEY_LEN], const char *table, const char *column,
			  const uint8_t row_id[CRYPTO_ID_LEN],
			  const uint8_t project_id[CRYPTO_ID_LEN], const void *pt, size_t n,
			  struct am_buf *out);
int crypto_field_open_key(const uint8_t key[CRYPTO_KEY_LEN], const char *table, const char *column,
			  const uint8_t row_id[CRYPTO_ID_LEN],
			  const uint8_t project_id[CRYPTO_ID_LEN], const void *ct, size_t n,
			  struct am_buf *out);
/* The same under a key of crypto_gcm_dec_new (set up once). */
int crypto_field_open_ctx(struct crypto_gcm_dec *ctx, const char *table, const char *column,
			  const uint8_t row_id[CRYPTO_ID_LEN],
			  const uint8_t project_id[CRYPTO_ID_LEN], const void *ct, size_t n,
			  struct am_buf *out);
/* Open into out (outsz bytes: the plaintext and a NUL; AM_ERR_TOOBIG when
 * it does not fit) under ctx when set, else key. */
int crypto_field_open_key_to(const uint8_t key[CRYPTO_KEY_LEN], struct crypto_gcm_dec *ctx,
			     const char *table, const char *column,
			     const uint8_t row_id[CRYPTO_ID_LEN],
			     const uint8_t project_id[CRYPTO_ID_LEN], const void *ct, size_t n,
			     char *out, size_t outsz);
/* HMAC-SHA256(blind_key, data). */
int crypto_blind_index_key(const uint8_t blind_key[CRYPTO_KEY_LEN], const void *data, size_t n,
			   uint8_t out[32]);
/* What a field-key handle may do: seal/open fields, or blind indexes. */
enum crypto_field_kind { CRYPTO_FK_FIELD = 1, CRYPTO_FK_INDEX = 2 };
/* A field-key handle holding a copy of key (tests that fake the keyring). */
int crypto_field_key_from_raw(const uint8_t key[CRYPTO_KEY_LEN], enum crypto_field_kind kind,
			      struct crypto_field_key **out);

/* Envelope keys (layouts: crypto.h, project keys and data keys). Unwrap
 * errors: AM_ERR_CRYPTO for anything that does not open. */
/* A new random project key or data key. */
int crypto_key_new(uint8_t key[CRYPTO_KEY_LEN]);
int crypto_pk_wrap(const struct keyring *kr, const uint8_t project_id[CRYPTO_ID_LEN],
		   const uint8_t pk[CRYPTO_KEY_LEN], uint8_t out[CRYPTO_WRAPPED_LEN]);
int crypto_pk_unwrap(const struct keyring *kr, const uint8_t project_id[CRYPTO_ID_LEN],
		     const uint8_t *wrapped, size_t n, uint8_t pk[CRYPTO_KEY_LEN]);
int crypto_dek_wrap(const uint8_t pk[CRYPTO_KEY_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		    const uint8_t project_id[CRYPTO_ID_LEN], const uint8_t dek[CRYPTO_KEY_LEN],
		    uint8_t out[CRYPTO_WRAPPED_LEN]);
int crypto_dek_unwrap(const uint8_t pk[CRYPTO_KEY_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		      const uint8_t project_id[CRYPTO_ID_LEN], const uint8_t *wrapped, size_t n,
		      uint8_t dek[CRYPTO_KEY_LEN]);
/* The project's field key: HKDF(PK, "field"). */
int crypto_project_field_key(const uint8_t pk[CRYPTO_KEY_LEN], uint8_t out[CRYPTO_KEY_LEN]);
/* Account-level keys from the account key AK: HKDF(AK, "account-field") and
 * HKDF(AK, "blind-index"). */
enum crypto_account_purpose { CRYPTO_ACCOUNT_FIELD, CRYPTO_ACCOUNT_BLIND_INDEX };
int crypto_account_key(const uint8_t ak[CRYPTO_KEY_LEN], enum crypto_account_purpose p,
		       uint8_t out[CRYPTO_KEY_LEN]);

/* AM1 under a raw data key (what crypto_pk_writer_new and
 * crypto_pk_reader_open call after unwrapping). am1_writer_new: dek and sink
 * borrowed, head_len as at struct am1_writer in crypto.h; 0, AM_ERR_INVAL,
 * AM_ERR_NOMEM or AM_ERR_CRYPTO. am1_reader_open: plain_size is the size
 * recorded in the database: the source's size must be exactly
 * am1_cipher_size(plain_size) and the header must name file_id, else
 * AM_ERR_CRYPTO (truncated, extended or moved objects are refused before any
 * byte is read); dek and src borrowed (src must outlive the reader). */
int am1_writer_new(const uint8_t dek[CRYPTO_KEY_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		   const struct am1_sink *sink, uint64_t head_len, struct am1_writer **out);
int am1_reader_open(const uint8_t dek[CRYPTO_KEY_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		    const struct am1_source *src, uint64_t plain_size, struct am1_reader **out);

#define CRYPTO_GCM_IV_LEN  12
#define CRYPTO_GCM_TAG_LEN 16

/* The AES-256-GCM cipher, fetched once per process (borrowed, never freed). */
const EVP_CIPHER *crypto_aes_gcm(void);
/* One-shot AES-256-GCM seal: ct gets n bytes, tag 16. ct may equal pt. */

int crypto_gcm_seal(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t iv[CRYPTO_GCM_IV_LEN],
		    const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t n, uint8_t *ct,
		    uint8_t tag[CRYPTO_GCM_TAG_LEN]);
/* One-shot AES-256-GCM open: pt gets n bytes, which the caller must discard
 * (and zero) unless this returns 0. AM_ERR_CRYPTO on a tag mismatch. */
int crypto_gcm_open(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t iv[CRYPTO_GCM_IV_LEN],
		    const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t n,
		    const uint8_t tag[CRYPTO_GCM_TAG_LEN], uint8_t *pt);
/* A decryption context holding key's AES-256-GCM key schedule (OpenSSL
 * memory, cleansed by EVP_CIPHER_CTX_free), NULL on failure; and an open
 * under it with a new IV, as crypto_gcm_open. One thread at a time. */
EVP_CIPHER_CTX *crypto_gcm_open_ctx_new(const uint8_t key[CRYPTO_KEY_LEN]);
int crypto_gcm_open_ctx(EVP_CIPHER_CTX *ctx, const uint8_t iv[CRYPTO_GCM_IV_LEN],
			const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t n,
			const uint8_t tag[CRYPTO_GCM_TAG_LEN], uint8_t *pt);
/* A decryption key set up once (crypto_prim.c: libsodium's AES-NI
 * AES-256-GCM state when the CPU has it, else crypto_gcm_open_ctx_new),
 * in secret memory; NULL on failure. ct and pt must not overlap. */
struct crypto_gcm_dec;
struct crypto_gcm_dec *crypto_gcm_dec_new(const uint8_t key[CRYPTO_KEY_LEN]);
void crypto_gcm_dec_free(struct crypto_gcm_dec *d);
int crypto_gcm_dec_open(struct crypto_gcm_dec *d, const uint8_t iv[CRYPTO_GCM_IV_LEN],
			const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t n,
			const uint8_t tag[CRYPTO_GCM_TAG_LEN], uint8_t *pt);

/* Big-endian stores and loads. */
static inline void crypto_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void crypto_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static inline void crypto_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t crypto_load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* ---- keyring internals ---- */
/* A keyring from raw master-key bytes (tests, key rotation in memory). */
int keyring_from_key(const uint8_t mk[CRYPTO_KEY_LEN], uint32_t generation, struct keyring **out);
/* The raw MK and its binary id (envelope wrapping only). */
const uint8_t *keyring_mk(const struct keyring *kr);
const uint8_t *keyring_mk_id_bin(const struct keyring *kr);
/* Seal / open a 32-byte key: version ‖ iv ‖ ct ‖ tag (CRYPTO_WRAPPED_LEN). */
int crypto_wrap_key(const uint8_t kek[CRYPTO_KEY_LEN], const uint8_t *aad, size_t aadlen,
		    const uint8_t key[CRYPTO_KEY_LEN], uint8_t out[CRYPTO_WRAPPED_LEN]);
int crypto_unwrap_key(const uint8_t kek[CRYPTO_KEY_LEN], const uint8_t *aad, size_t aadlen,
		      const uint8_t *wrapped, size_t n, uint8_t key[CRYPTO_KEY_LEN]);
/* IP ratchet state, owned by the keyring (crypto_ip.c). */
struct crypto_ip_state {
	int64_t epoch;
	int loaded;
	int has_prev;
	uint8_t cur[CRYPTO_KEY_LEN];
	uint8_t prev[CRYPTO_KEY_LEN];
};
struct crypto_ip_state *keyring_ip_state(struct keyring *kr);
const struct crypto_ip_state *keyring_ip_state_c(const struct keyring *kr);

/* ---- AM1 internals (am1_format.c) ---- */
#define AM1_SALT_LEN 16
#define AM1_MAGIC    "AM1SEG\0\0"

/* Number of segments of a P-byte object: max(1, ceil(P / S)). */
uint64_t am1_segments(uint64_t plain);
/* Build the 48-byte header. */
void am1_header_build(uint8_t h[AM1_HEADER_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		      const uint8_t salt[AM1_SALT_LEN]);
/* Check magic, version, algorithm, segment size, reserved bytes and file id.
 * 0 or AM_ERR_CRYPTO. */
int am1_header_check(const uint8_t h[AM1_HEADER_LEN], const uint8_t file_id[CRYPTO_ID_LEN]);
/* A cipher context keyed with K = HKDF(DEK, salt, "am1 payload"); enc selects
 * direction. NULL on failure. Free with EVP_CIPHER_CTX_free (it cleanses). */
EVP_CIPHER_CTX *am1_ctx_new(const uint8_t dek[CRYPTO_KEY_LEN], const uint8_t salt[AM1_SALT_LEN],
			    int enc);
/* Encrypt segment i: n bytes of in to out, tag appended at out + n (in may
 * equal out). Decrypt-and-verify segment i: ct to pt (may be equal), tag read
 * from tag; pt must be discarded unless 0. 0 or AM_ERR_CRYPTO. */
int am1_seal_segment(EVP_CIPHER_CTX *ctx, const uint8_t h[AM1_HEADER_LEN], uint64_t i, int last,
		     const uint8_t *in, size_t n, uint8_t *out);
int am1_open_segment(EVP_CIPHER_CTX *ctx, const uint8_t h[AM1_HEADER_LEN], uint64_t i, int last,
		     const uint8_t *ct, size_t n, const uint8_t tag[AM1_TAG_LEN], uint8_t *pt);
/* am1_writer_new with a caller-chosen salt: known-answer tests only. */
int am1_writer_new_salt(const uint8_t dek[CRYPTO_KEY_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
			const uint8_t salt[AM1_SALT_LEN], const struct am1_sink *sink,
			uint64_t head_len, struct am1_writer **out);

#endif
