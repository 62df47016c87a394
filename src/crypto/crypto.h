/*
 * crypto: every use of key material in audiomus goes through this header
 * (DESIGN §3-§6, docs/crypto.md): primitives (HKDF, HMAC, SHA-256, RNG),
 * tokens and base64url, field encryption, the keyring (master key, purpose
 * keys, IP-key ratchet), envelope keys (project key under MK, data key under
 * project key) and the AM1 segmented AES-256-GCM object format.
 * Runs in every role that holds keys (web, media, worker, admin commands);
 * the inputs it parses (wrapped keys, ciphertext, tokens) are untrusted.
 * OpenSSL 3 libcrypto provides every primitive; nothing here is hand-rolled
 * except encodings and byte layouts.
 */
#ifndef AM_CRYPTO_H
#define AM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define CRYPTO_KEY_LEN 32 /* every symmetric key */
#define CRYPTO_ID_LEN 16  /* random 128-bit ids: project, file, row */
#define CRYPTO_TOKEN_BYTES 24
#define CRYPTO_TOKEN_LEN 32 /* base64url characters of a token, without NUL */
/* Field ciphertext: version(1) ‖ iv(12) ‖ ciphertext(n) ‖ tag(16). */
#define CRYPTO_FIELD_VERSION 1
#define CRYPTO_FIELD_OVERHEAD 29
/* Hard maximum of one field's plaintext (fields are titles, comments, names). */
#define CRYPTO_FIELD_MAX (16u * 1024 * 1024)

/* ---- primitives -------------------------------------------------------------
 * All return 0 or AM_ERR_CRYPTO (library failure) / AM_ERR_INVAL (bad length).
 * Pointers are borrowed for the duration of the call. */

/* HKDF-SHA256 (RFC 5869) extract-and-expand. salt may be NULL (saltlen 0:
 * the RFC's all-zero salt); info may be NULL when infolen is 0. outlen is at
 * most 255·32. */
int crypto_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
		const char *info, size_t infolen, uint8_t *out, size_t outlen);
/* HMAC-SHA256 of data under key. */
int crypto_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t n,
		       uint8_t out[32]);
/* SHA-256 of data. */
int crypto_sha256(const void *data, size_t n, uint8_t out[32]);
/* n bytes from the OpenSSL CSPRNG (RAND_bytes). */
int crypto_random(void *out, size_t n);
/* A random 128-bit id (projects, files, rows: never sequential). */
int crypto_random_id(uint8_t out[CRYPTO_ID_LEN]);

/* ---- tokens and base64url (RFC 4648 §5, no padding) --------------------------- */

/* A new 192-bit random token, base64url without padding: exactly
 * CRYPTO_TOKEN_LEN characters plus NUL into out. AM_ERR_TOOBIG if outlen is
 * less than CRYPTO_TOKEN_LEN + 1. Store only crypto_sha256() of it. */
int crypto_token_new(char *out, size_t outlen);
/* Characters needed to encode n bytes (without NUL). */
size_t crypto_b64url_len(size_t n);
/* Encode n bytes of in into out (NUL-terminated). AM_ERR_TOOBIG if outlen <
 * crypto_b64url_len(n) + 1. */
int crypto_b64url_encode(const void *in, size_t n, char *out, size_t outlen);
/* Strict decode of exactly inlen characters: rejects padding, characters
 * outside [A-Za-z0-9_-], a length of 1 mod 4 and non-zero trailing bits
 * (so every byte string has exactly one accepted encoding). Writes at most
 * outcap bytes and sets *outlen. AM_ERR_INVAL on any malformed input,
 * AM_ERR_TOOBIG if the decoded bytes do not fit. */
int crypto_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap,
			 size_t *outlen);

/* ---- field encryption (DESIGN §5) ---------------------------------------------
 * out = version(1)=1 ‖ iv(12, random) ‖ AES-256-GCM ciphertext ‖ tag(16), with
 * AAD = u16be(len table) ‖ table ‖ u16be(len column) ‖ column ‖ row_id(16) ‖
 * project_id(16). A value copied to another row, column, table or project
 * does not open. project_id is all-zero for account-level fields. key is the
 * project's field key (crypto_project_field_key) or the keyring's
 * account-field key. table and column are at most 255 bytes. */

/* Seal n bytes of pt; appends n + CRYPTO_FIELD_OVERHEAD bytes to out.
 * AM_ERR_INVAL (names too long), AM_ERR_TOOBIG (n > CRYPTO_FIELD_MAX or out's
 * cap), AM_ERR_NOMEM, AM_ERR_CRYPTO. */
int crypto_field_seal(const uint8_t key[CRYPTO_KEY_LEN], const char *table, const char *column,
		      const uint8_t row_id[CRYPTO_ID_LEN], const uint8_t project_id[CRYPTO_ID_LEN],
		      const void *pt, size_t n, struct am_buf *out);
/* Open a sealed field; appends the plaintext to out. AM_ERR_CRYPTO on any
 * tamper, wrong key or wrong AAD (out is then left as it was). */
int crypto_field_open(const uint8_t key[CRYPTO_KEY_LEN], const char *table, const char *column,
		      const uint8_t row_id[CRYPTO_ID_LEN], const uint8_t project_id[CRYPTO_ID_LEN],
		      const void *ct, size_t n, struct am_buf *out);

#endif
