/*
 * crypto: every use of key material in audiomus goes through this header
 * (DESIGN §3-§6, docs/crypto.md): SHA-256 and the RNG, tokens and base64url,
 * the keyring (master key, MACs under purpose keys, IP-key ratchet),
 * project-key and field-key handles, and the AM1 segmented AES-256-GCM
 * object format. No key byte crosses this header: callers hold opaque
 * handles (struct keyring, struct crypto_pk, struct crypto_field_key,
 * struct am1_reader/am1_writer) and ask for operations; wrapped keys (AES-GCM
 * ciphertext) are the only key-derived bytes they see. scripts/lint-keys
 * keeps it so. The raw-key functions are in crypto_int.h, for src/crypto/
 * and for tests, fuzzers and benchmarks only.
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

#define CRYPTO_ID_LEN	   16 /* random 128-bit ids: project, file, row */
#define CRYPTO_TOKEN_BYTES 24
#define CRYPTO_TOKEN_LEN   32 /* base64url characters of a token, without NUL */
/* Field ciphertext: version(1) ‖ iv(12) ‖ ciphertext(n) ‖ tag(16). */
#define CRYPTO_FIELD_VERSION  1
#define CRYPTO_FIELD_OVERHEAD 29
/* Hard maximum of one field's plaintext (fields are titles, comments, names). */
#define CRYPTO_FIELD_MAX (16u * 1024 * 1024)

/* ---- primitives -------------------------------------------------------------
 * All return 0 or AM_ERR_CRYPTO (library failure) / AM_ERR_INVAL (bad length).
 * Pointers are borrowed for the duration of the call. (HKDF and HMAC under a
 * caller's key are internal: crypto_int.h.) */

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
int crypto_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen);

/* ---- keyring (DESIGN §3) ---------------------------------------------------------
 * The master key MK lives in a key file: exactly 64 hexadecimal characters
 * (32 bytes), optionally followed by one newline; a regular file with no
 * permission bits beyond 0600. From MK the keyring derives, at open:
 *   mk_id         = SHA-256("am1-mk-id" ‖ MK)[0..8]  (16 hex characters)
 *   purpose key   = HKDF-SHA256(ikm = MK, no salt, info = purpose ‖ u32be(gen))
 * for the current generation and the one before it (signed URLs and cookies
 * verify under "current or previous"). All key material is in am_secret_alloc
 * memory and zeroed by keyring_free; purpose keys are used only through
 * crypto_mac and crypto_mac_verify. */
#define CRYPTO_MK_ID_LEN   8
#define CRYPTO_KEYFILE_ENV "AUDIOMUS_MASTER_KEY_FILE"

enum crypto_purpose {
	CRYPTO_KEY_URL_SIGN, /* "url-sign": signed media URLs */
	CRYPTO_KEY_COOKIE,   /* "cookie": project password cookies */
	CRYPTO_KEY_SESSION,  /* "session": owner session ids */
	CRYPTO_KEY_PURPOSES
};
/* Account-level data keys ("account-field", "blind-index") are NOT derived
 * from MK: data at rest must survive MK rotation by re-wrapping one key. They
 * come from an account key AK (crypto_key_new), stored wrapped exactly like a
 * project key with crypto_pk_wrap(kr, project_id = 16 zero bytes, AK), so
 * `keys rotate` re-wraps it with the project keys. See crypto_account_key(). */

struct keyring;

/* Create a new key file at path (audiomus init): 32 random bytes as hex,
 * written to a temporary name with O_EXCL, mode 0600, fsynced, then linked
 * to path, which never exists half-written. AM_ERR_EXISTS if path exists,
 * AM_ERR_IO otherwise. */
int crypto_keyfile_create(const char *path);
/* Open the keyring from the key file at path, or if path is NULL or empty
 * from $AUDIOMUS_MASTER_KEY_FILE. generation (>= 1) selects the purpose
 * keys. On failure a clear, key-free message goes to err (errlen bytes):
 * AM_ERR_NOTFOUND (no file / no path), AM_ERR_DENIED (mode wider than 0600
 * or not a regular file), AM_ERR_INVAL (bad content), AM_ERR_IO, AM_ERR_NOMEM.
 * Returns an owned keyring in *out. */
int keyring_open(const char *path, uint32_t generation, struct keyring **out, char *err,
		 size_t errlen);
/* Zero and free every key; accepts NULL. */
void keyring_free(struct keyring *kr);
/* The master key's id as 16 lowercase hex characters (borrowed). */
const char *keyring_mk_id(const struct keyring *kr);
/* The current purpose-key generation. */
uint32_t keyring_generation(const struct keyring *kr);
/* ---- MACs under purpose keys (DESIGN §6) -----------------------------------------
 * MAC = HMAC-SHA256(K, data), K = the purpose key p of generation gen, or,
 * when label is not NULL, the sub-key HKDF-SHA256(purpose key, no salt,
 * info = label) (one label per kind of mail token). gen must be the
 * keyring's current generation or the one before it. */
#define CRYPTO_MAC_LEN 32
#define CRYPTO_MAC_MIN 16 /* shortest truncated MAC crypto_mac_verify compares */

/* Compute the 32-byte MAC of n bytes of data (borrowed) into out. 0,
 * AM_ERR_DENIED (gen is neither current nor previous: an unknown key id),
 * AM_ERR_INVAL, AM_ERR_NOMEM, AM_ERR_CRYPTO; out is zeroed on failure. */
int crypto_mac(const struct keyring *kr, enum crypto_purpose p, uint32_t gen, const char *label,
	       const void *data, size_t n, uint8_t out[CRYPTO_MAC_LEN]);
/* Check mac (maclen bytes, CRYPTO_MAC_MIN..CRYPTO_MAC_LEN: a MAC truncated
 * to its first maclen bytes) against data in constant time. 0 if it
 * matches; AM_ERR_DENIED if it does not or gen is unknown; AM_ERR_INVAL on a
 * bad length; AM_ERR_NOMEM or AM_ERR_CRYPTO on a local failure. */
int crypto_mac_verify(const struct keyring *kr, enum crypto_purpose p, uint32_t gen,
		      const char *label, const void *data, size_t n, const uint8_t *mac,
		      size_t maclen);

/* ---- IP pseudonyms (DESIGN §3, §6) -----------------------------------------------
 * K_ip is a forward-only ratchet: K_ip[e+1] = HKDF(K_ip[e], "ip ratchet"),
 * epoch e = floor(unix time / 30 days); K_ip[first] is random. The keyring
 * holds the current and previous epoch keys only. Its state is persisted as
 * an opaque blob (sealed under MK; docs/crypto.md) that the caller stores,
 * e.g. in the database, and must overwrite whenever it changes: the old blob
 * is what would let someone re-test old pseudonyms. */
#define CRYPTO_IP_EPOCH_SECONDS (30 * 86400)
#define CRYPTO_IP_PSEUDONYM_LEN 16

/* Start a new ratchet at now's epoch with a random key (first start). */
int keyring_ip_init(struct keyring *kr, int64_t now);
/* Load the ratchet state from a blob made by keyring_ip_save under the same
 * MK. AM_ERR_CRYPTO if it does not open. */
int keyring_ip_load(struct keyring *kr, const uint8_t *blob, size_t n);
/* Append the sealed state to out. */
int keyring_ip_save(const struct keyring *kr, struct am_buf *out);
/* Ratchet forward to now's epoch, erasing keys older than the previous epoch.
 * *changed (may be NULL) is set when the state moved: save it then. A clock
 * that went backwards never moves the ratchet back. */
int keyring_ip_advance(struct keyring *kr, int64_t now, int *changed);
/* 128-bit pseudonym of a client address under the current epoch key:
 * HMAC-SHA256(K_ip[e], family ‖ bytes)[0..16], where family is 4 with the
 * 4 IPv4 bytes, or 6 with the first 8 bytes (the /64) of an IPv6 address;
 * IPv4-mapped IPv6 counts as IPv4. family is AF_INET (addr 4 bytes) or
 * AF_INET6 (addr 16 bytes). *epoch (may be NULL) gets e. AM_ERR_CONFLICT if
 * no ratchet state is loaded, AM_ERR_INVAL on a bad family. */
int crypto_ip_pseudonym(const struct keyring *kr, int family, const uint8_t *addr,
			uint8_t out[CRYPTO_IP_PSEUDONYM_LEN], int64_t *epoch);
/* The same under a given epoch: AM_ERR_NOTFOUND unless it is the current or
 * the previous epoch (older keys are gone by design). */
int crypto_ip_pseudonym_at(const struct keyring *kr, int64_t epoch, int family, const uint8_t *addr,
			   uint8_t out[CRYPTO_IP_PSEUDONYM_LEN]);

/* ---- project keys and data keys (DESIGN §3) --------------------------------------
 * Wrapped key = version(1)=1 ‖ iv(12, random) ‖ AES-256-GCM ciphertext(32) ‖ tag(16):
 *   PK under MK:  AAD = "am1-pk" ‖ mk_id(8 bytes) ‖ project_id(16)
 *   DEK under PK: AAD = "am1-dek" ‖ file_id(16) ‖ project_id(16)
 * Callers store and pass wrapped keys; the keys themselves stay in handles.
 * Deleting a project's wrapped PK makes its objects and fields unreadable.
 * Unwrap errors: AM_ERR_CRYPTO for anything that does not open (wrong key,
 * project, file, version, length or any tamper). */
#define CRYPTO_WRAPPED_LEN 61

struct am1_sink;
struct am1_source;
struct am1_reader;
struct am1_writer;

/* An unwrapped project key, bound to its project id. */
struct crypto_pk;

/* Create a new random project key for project_id and return only its
 * wrapping under the keyring's MK in wrapped (a new project). 0,
 * AM_ERR_INVAL, AM_ERR_NOMEM, AM_ERR_CRYPTO. */
int crypto_pk_create(const struct keyring *kr, const uint8_t project_id[CRYPTO_ID_LEN],
		     uint8_t wrapped[CRYPTO_WRAPPED_LEN]);
/* Unwrap a project's key (n bytes of wrapped, borrowed) into an owned handle
 * in *out (NULL on failure), which remembers project_id. 0, AM_ERR_CRYPTO
 * (does not open), AM_ERR_INVAL, AM_ERR_NOMEM. */
int crypto_pk_open(const struct keyring *kr, const uint8_t project_id[CRYPTO_ID_LEN],
		   const uint8_t *wrapped, size_t n, struct crypto_pk **out);
/* Zero and free a project-key handle; accepts NULL. */
void crypto_pk_free(struct crypto_pk *pk);
/* Unwrap the data key of object file_id of pk's project (wrapped_dek, n
 * bytes) and open its AM1 object from src for random access, as
 * am1_reader_open below: src must be exactly am1_cipher_size(plain_size)
 * bytes and name file_id. The DEK is zeroed before this returns; the reader
 * keeps only the payload key. pk and src are borrowed (src must outlive the
 * reader). Returns an owned reader in *out (NULL on failure): 0,
 * AM_ERR_CRYPTO (the DEK or the object does not open), AM_ERR_INVAL,
 * AM_ERR_NOMEM, or the source's error. */
int crypto_pk_reader_open(const struct crypto_pk *pk, const uint8_t file_id[CRYPTO_ID_LEN],
			  const uint8_t *wrapped_dek, size_t n, const struct am1_source *src,
			  uint64_t plain_size, struct am1_reader **out);
/* Start a new AM1 object file_id in pk's project: pick a random data key,
 * wrap it under pk into wrapped_dek (store it with the object) and start a
 * writer to sink (borrowed, must outlive the writer) with head_len as
 * described at struct am1_writer. Returns an owned writer in *out (NULL on
 * failure; wrapped_dek is then zeroed): 0, AM_ERR_INVAL, AM_ERR_NOMEM,
 * AM_ERR_CRYPTO. */
int crypto_pk_writer_new(const struct crypto_pk *pk, const uint8_t file_id[CRYPTO_ID_LEN],
			 const struct am1_sink *sink, uint64_t head_len,
			 uint8_t wrapped_dek[CRYPTO_WRAPPED_LEN], struct am1_writer **out);
/* Key rotation (audiomus keys rotate): unwrap under old_kr, wrap under new_kr
 * into out. The PK itself, and so every object and field, is unchanged.
 * 0, AM_ERR_CRYPTO (does not open under old_kr), AM_ERR_INVAL. */
int crypto_pk_rewrap(const struct keyring *old_kr, const struct keyring *new_kr,
		     const uint8_t project_id[CRYPTO_ID_LEN], const uint8_t *wrapped, size_t n,
		     uint8_t out[CRYPTO_WRAPPED_LEN]);

/* ---- field keys: field encryption and blind indexes (DESIGN §5) -----------------
 * A field key handle holds one of
 *   project field key  = HKDF-SHA256(ikm = PK, no salt, info = "field")
 *   account field key  = HKDF-SHA256(ikm = AK, no salt, info = "account-field")
 *   blind-index key    = HKDF-SHA256(ikm = AK, no salt, info = "blind-index")
 * The account key AK is random (never derived from MK: data at rest must
 * survive MK rotation by re-wrapping one key), stored wrapped exactly like
 * a project key with project_id = 16 zero bytes, so `keys rotate` re-wraps
 * it with the project keys (crypto_pk_rewrap). A field key seals and opens
 * fields; a blind-index key only computes blind indexes: each refuses the
 * other's operation with AM_ERR_INVAL.
 *
 * Field ciphertext = version(1)=1 ‖ iv(12, random) ‖ AES-256-GCM ciphertext ‖
 * tag(16), with AAD = u16be(len table) ‖ table ‖ u16be(len column) ‖ column ‖
 * row_id(16) ‖ project_id(16). A value copied to another row, column, table
 * or project does not open. project_id is all-zero for account-level
 * fields. table and column are 1..255 bytes. */
struct crypto_field_key;

/* Unwrap project project_id's key (wrapped, n bytes) and return only its
 * field key, as an owned handle in *out (NULL on failure). 0, AM_ERR_CRYPTO
 * (does not open), AM_ERR_INVAL, AM_ERR_NOMEM. */
int crypto_field_key_project(const struct keyring *kr, const uint8_t project_id[CRYPTO_ID_LEN],
			     const uint8_t *wrapped, size_t n, struct crypto_field_key **out);
/* First start: create a random account key, return its wrapping under MK in
 * wrapped (store it) and its account field key and blind-index key as owned
 * handles in *field and *index (both NULL on failure). 0, AM_ERR_NOMEM,
 * AM_ERR_CRYPTO. */
int crypto_account_keys_create(const struct keyring *kr, uint8_t wrapped[CRYPTO_WRAPPED_LEN],
			       struct crypto_field_key **field, struct crypto_field_key **index);
/* Unwrap the stored account key (wrapped, n bytes) and return its two
 * handles as crypto_account_keys_create does. AM_ERR_CRYPTO if it does not
 * open under this keyring's MK. */
int crypto_account_keys_open(const struct keyring *kr, const uint8_t *wrapped, size_t n,
			     struct crypto_field_key **field, struct crypto_field_key **index);
/* Zero and free a field-key handle; accepts NULL. With references taken
 * (crypto_field_key_ref), each free gives one back and the last zeroes. */
void crypto_field_key_free(struct crypto_field_key *k);
/* Another reference to k for one more holder (each gives it back with
 * crypto_field_key_free): k, or NULL for NULL. Not atomic: the holders are
 * in the one thread that opened k (a request lending its project's key to
 * every repository call it makes). */
struct crypto_field_key *crypto_field_key_ref(struct crypto_field_key *k);
/* Seal n bytes of pt under field key k (borrowed); appends
 * n + CRYPTO_FIELD_OVERHEAD bytes to out. AM_ERR_INVAL (not a field key,
 * names too long), AM_ERR_TOOBIG (n > CRYPTO_FIELD_MAX or out's cap),
 * AM_ERR_NOMEM, AM_ERR_CRYPTO. */
int crypto_field_seal(const struct crypto_field_key *k, const char *table, const char *column,
		      const uint8_t row_id[CRYPTO_ID_LEN], const uint8_t project_id[CRYPTO_ID_LEN],
		      const void *pt, size_t n, struct am_buf *out);
/* Open a sealed field; appends the plaintext to out. AM_ERR_CRYPTO on any
 * tamper, wrong key or wrong AAD (out is then left as it was), AM_ERR_INVAL
 * (not a field key), AM_ERR_TOOBIG. */
int crypto_field_open(const struct crypto_field_key *k, const char *table, const char *column,
		      const uint8_t row_id[CRYPTO_ID_LEN], const uint8_t project_id[CRYPTO_ID_LEN],
		      const void *ct, size_t n, struct am_buf *out);
/* The same into out, a NUL-terminated string of at most outsz - 1 bytes
 * (no allocation: the review page opens hundreds per request).
 * AM_ERR_TOOBIG when the plaintext does not fit; on any error out is "". */
int crypto_field_open_to(const struct crypto_field_key *k, const char *table, const char *column,
			 const uint8_t row_id[CRYPTO_ID_LEN],
			 const uint8_t project_id[CRYPTO_ID_LEN], const void *ct, size_t n,
			 char *out, size_t outsz);
/* Blind index for equality look-ups of an encrypted field (e.g. a normalised
 * e-mail): HMAC-SHA256(blind-index key, data) into out. AM_ERR_INVAL unless
 * k is a blind-index key; AM_ERR_CRYPTO. */
int crypto_blind_index(const struct crypto_field_key *k, const void *data, size_t n,
		       uint8_t out[32]);

/* ---- watermark keys (issue 26, docs/watermark.md) ---------------------------------
 *   watermark key WK = HKDF-SHA256(ikm = PK, no salt, info = "watermark")
 * selects the carrier pattern, the sync sequence and the payload tag of the
 * inaudible mark (src/watermark/). The mark code sees only PRF outputs:
 *   crypto_wm_prf(WK, label, data) = HMAC-SHA256(WK, label ‖ 0x00 ‖ data),
 * repeated with a 32-bit big-endian block counter appended for more than 32
 * bytes. The handle lives in am_secret_alloc memory. */
struct crypto_wm_key;

/* The watermark key of the project whose key pk holds (borrowed). Returns an
 * owned handle in *out. AM_ERR_NOMEM, AM_ERR_CRYPTO. */
int crypto_wm_key_project(const struct crypto_pk *pk, struct crypto_wm_key **out);
/* For `audiomus watermark` on files (tests, operators): WK = HKDF(FK, no
 * salt, "watermark") for the key FK in a key file of the master-key format
 * (64 hex characters, mode 0600) at path. A key-free message into err.
 * AM_ERR_NOTFOUND, AM_ERR_DENIED, AM_ERR_INVAL, AM_ERR_IO, AM_ERR_NOMEM. */
int crypto_wm_key_file(const char *path, struct crypto_wm_key **out, char *err, size_t errlen);
/* Zero and free; accepts NULL. */
void crypto_wm_key_free(struct crypto_wm_key *k);
/* n bytes (at most 8160) of keyed pseudo-random output for label (a NUL-
 * terminated domain name) and data (borrowed) into out. 0, AM_ERR_INVAL,
 * AM_ERR_CRYPTO (out zeroed). */
int crypto_wm_prf(const struct crypto_wm_key *k, const char *label, const void *data, size_t n,
		  uint8_t *out, size_t outlen);

/* ---- access log signing key (issue 26, docs/crypto.md "Access log") --------------
 *   seed = HKDF-SHA256(ikm = MK, no salt, info = "translog-ed25519"), 32 bytes
 *   key pair = Ed25519 from seed (libsodium crypto_sign_seed_keypair)
 * signs the access log's tree heads (src/translog/). It depends on MK alone
 * (not on the purpose-key generation); `audiomus keys rotate` therefore
 * starts a new signing key: tree heads kept from before stay verifiable
 * with the public key they carry. The seed and secret key exist only during
 * a call, in am_secret_alloc memory. */
#define CRYPTO_LOG_PUB_LEN 32
#define CRYPTO_LOG_SIG_LEN 64

/* The public key into pub. 0, AM_ERR_NOMEM, AM_ERR_CRYPTO. */
int crypto_log_public_key(const struct keyring *kr, uint8_t pub[CRYPTO_LOG_PUB_LEN]);
/* Sign n bytes of msg (borrowed): the detached signature into sig and the
 * public key into pub (may be NULL). 0, AM_ERR_NOMEM, AM_ERR_CRYPTO. */
int crypto_log_sign(const struct keyring *kr, const void *msg, size_t n,
		    uint8_t sig[CRYPTO_LOG_SIG_LEN], uint8_t pub[CRYPTO_LOG_PUB_LEN]);
/* 0 if sig is pub's Ed25519 signature of msg, AM_ERR_DENIED otherwise. */
int crypto_log_verify(const uint8_t pub[CRYPTO_LOG_PUB_LEN], const void *msg, size_t n,
		      const uint8_t sig[CRYPTO_LOG_SIG_LEN]);

/* ---- AM1 segmented AES-256-GCM (DESIGN §4, docs/crypto.md) ----------------------
 * header (48) = "AM1SEG\0\0" ‖ version 1 ‖ alg 1 ‖ log2 segment 16 ‖ 5 zero bytes ‖
 *               file_id(16) ‖ salt(16, random per object)
 * K           = HKDF-SHA256(ikm = DEK, salt = header.salt, info = "am1 payload")
 * segment i   = AES-256-GCM(K, nonce_i, AAD = header, 65,536 plaintext bytes
 *               (the last one 1..65,536, or 0 for an empty object)) ‖ tag(16)
 * nonce_i     = 88-bit big-endian i ‖ 0x01 if final else 0x00
 * size        = 48 + P + 16·max(1, ceil(P / 65,536)) */
#define AM1_HEADER_LEN 48
#define AM1_SEGMENT    65536
#define AM1_TAG_LEN    16
#define AM1_SEGMENT_CT (AM1_SEGMENT + AM1_TAG_LEN)

/* Ciphertext size of a P-byte plaintext. */
uint64_t am1_cipher_size(uint64_t plain);
/* Plaintext size of a C-byte object; AM_ERR_CRYPTO if no plaintext size
 * encrypts to exactly C bytes. */
int am1_plain_size(uint64_t cipher, uint64_t *plain);

/* Where ciphertext goes (the object store's streaming put). write() appends
 * at the current end, strictly in order from offset 0. write_at() overwrites
 * bytes that write() already delivered; it is used only in head mode (below)
 * and may be NULL otherwise. Both return 0 or a negative am_err, which the
 * writer passes back to its caller. */
struct am1_sink {
	int (*write)(void *ctx, const void *p, size_t n);
	int (*write_at)(void *ctx, uint64_t off, const void *p, size_t n);
	void *ctx;
};

/* An AM1 writer, created by crypto_pk_writer_new, which picks the object's
 * data key (the writer keeps only the derived payload key, in secret memory)
 * and a random salt. head_len 0: a plain streaming writer. head_len > 0
 * ("segment 0 written last", for outputs whose head is patched at the end,
 * e.g. MP4 with its moov at the end): head_len must be a multiple of
 * AM1_SEGMENT; the caller passes plaintext from offset head_len on with
 * am1_writer_write() and the first head_len bytes once, at the end, with
 * am1_writer_patch_head(). Contract seen by the sink in head mode, if any
 * body byte was written:
 *   1. write() delivers the header, then am1_head_reserved(head_len) - 48
 *      zero bytes of placeholder, then the body segments, in order;
 *   2. am1_writer_patch_head() calls write_at(48 + i·AM1_SEGMENT_CT, ct,
 *      AM1_SEGMENT_CT) for head segments i = 0 … head_len/AM1_SEGMENT - 1, in
 *      ascending order, after the last write();
 *   3. the object is complete only when am1_writer_finish() returns 0.
 * If no body byte was written the whole object is shorter than head_len:
 * patch_head may then pass fewer bytes, and everything goes through write()
 * in order (write_at is not called). Memory is constant: one segment buffer. */
struct am1_writer;

/* Bytes of ciphertext that the head segments occupy, header included: the
 * region [0, am1_head_reserved(head_len)) that the sink must keep patchable. */
uint64_t am1_head_reserved(uint64_t head_len);
/* Append plaintext (borrowed for the call). Encrypts and emits each segment
 * once the next byte arrives (one-segment look-ahead). Any error is sticky. */
int am1_writer_write(struct am1_writer *w, const void *p, size_t n);
/* Head mode only: supply the first n plaintext bytes, after the last write().
 * n must equal head_len if body bytes were written, else n <= head_len.
 * AM_ERR_CONFLICT if not in head mode or called twice. */
int am1_writer_patch_head(struct am1_writer *w, const void *p, size_t n);
/* Emit the final segment and report sizes (either pointer may be NULL).
 * After this the writer accepts nothing more. AM_ERR_CONFLICT if head mode
 * and patch_head was not called. */
int am1_writer_finish(struct am1_writer *w, uint64_t *plain_size, uint64_t *cipher_size);
/* Free the writer, zeroing its key and buffers; accepts NULL. Freeing
 * without finish abandons the object (the sink's owner aborts the put). */
void am1_writer_free(struct am1_writer *w);

/* Where ciphertext comes from (the object store's ranged get). read_at reads
 * exactly n bytes at off and returns 0, or a negative am_err (a short read is
 * an error). size is the stored object's size. */
struct am1_source {
	int (*read_at)(void *ctx, uint64_t off, void *p, size_t n);
	uint64_t size;
	void *ctx;
};

/* An AM1 reader, opened by crypto_pk_reader_open for random access
 * (memory: one segment buffer; the payload key in secret memory). */
struct am1_reader;

/* Plaintext size of the open object. */
uint64_t am1_reader_size(const struct am1_reader *r);
/* Copy up to n plaintext bytes at off into buf; *got is the count (0 at or
 * past the end). Decrypts only the segments the range covers; a segment is
 * released only after its tag verified: AM_ERR_CRYPTO otherwise (buf then
 * holds nothing from the failing segment, *got counts the good bytes before
 * it). AM_ERR_IO etc. from the source pass through. */
int am1_reader_pread(struct am1_reader *r, uint64_t off, void *buf, size_t n, size_t *got);
/* Point *p at up to n verified plaintext bytes at off, inside the reader's
 * segment buffer (no copy): *got is the count, which stops at the end of the
 * segment that holds off (0 at or past the end). *p is valid until the next
 * call on r. Errors as am1_reader_pread (nothing unverified is pointed at). */
int am1_reader_view(struct am1_reader *r, uint64_t off, size_t n, const uint8_t **p, size_t *got);
/* Stream the inclusive plaintext range [first, last] to emit (called with at
 * most one segment at a time; a non-zero return stops and is returned).
 * AM_ERR_RANGE if first > last or last >= size. AM_ERR_CRYPTO as above. */
int am1_reader_range(struct am1_reader *r, uint64_t first, uint64_t last,
		     int (*emit)(void *ctx, const void *p, size_t n), void *ctx);
/* Free the reader, zeroing its key and buffers; accepts NULL. */
void am1_reader_free(struct am1_reader *r);

#endif
