/*
 * access_int.h: helpers shared by the files of src/access/ (and its unit
 * tests and fuzz target): strict field parsers and the HMAC glue. Runs in the
 * web and media roles on untrusted input.
 */
#ifndef AM_ACCESS_INT_H
#define AM_ACCESS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

struct app;

/* A borrowed run of characters inside a credential. */
struct access_span {
	const char *p;
	size_t n;
};

/* Canonical decimal ("0" or no leading zero, <= 19 digits) <= max.
 * 0 or AM_ERR_INVAL. */
int access_parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out);
/* Parse PREFIX HEX32 "?" k0=v0&k1=v1&…: exactly keys[0..nkeys) in order, each
 * value non-empty (its charset is checked by the caller's field parser),
 * nothing after the last. vals[i] borrow from t. 0 or AM_ERR_INVAL. */
int access_parse_target(const char *t, const char *prefix, uint8_t id[16], const char *const *keys,
			size_t nkeys, struct access_span *vals);
/* HMAC-SHA256 of msg under purpose key generation kid: AM_ERR_DENIED when
 * kid is neither the current nor the previous generation. */
int access_mac(struct app *a, enum crypto_purpose purpose, uint32_t kid, const char *msg, size_t n,
	       uint8_t mac[32]);
/* The same, base64url-encoded into out (44 bytes). */
int access_mac_b64(struct app *a, enum crypto_purpose purpose, uint32_t kid, const char *msg,
		   size_t n, char out[44]);
/* Constant-time check of a base64url MAC (exactly 43 canonical characters).
 * 0 or AM_ERR_DENIED. */
int access_mac_check(struct app *a, enum crypto_purpose purpose, uint32_t kid, const char *msg,
		     size_t n, const char *b64, size_t b64n);

/* The path ("/m/" and the object's hex id) and the MAC'd text of a media
 * URL (access_url.c), NUL-terminated; the text's length or AM_ERR_TOOBIG.
 * Exposed for the test that holds it to its printf form. */
int access_url_msg(const uint8_t object_id[16], const struct access_grant *g, int64_t expires,
		   int download, const uint8_t nonce[ACCESS_URL_NONCE_LEN], uint32_t kid,
		   char *path, size_t pn, char *msg, size_t mn);

#endif
