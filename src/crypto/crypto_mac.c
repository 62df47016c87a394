/*
 * crypto_mac.c: MACs under the keyring's purpose keys (DESIGN §3, §6), so
 * that the callers that sign and verify credentials (signed URLs, password
 * cookies, CSRF tokens, mail tokens) never hold a key byte: they pass the
 * purpose, the key generation and the message, and get a MAC or a verdict.
 * Runs in the web and media roles; the MACs checked here come from clients.
 */
#include "crypto/crypto_int.h"

#include <string.h>

/* out = HMAC(K, data) with K = the purpose key (from its prepared keyed
 * states, crypto_hmac.c), or HKDF(it, label) when a label is given.
 * The sub-key, if any, lives in secret memory. */
static int mac_compute(const struct keyring *kr, enum crypto_purpose p, uint32_t gen,
		       const char *label, const void *data, size_t n, uint8_t out[CRYPTO_MAC_LEN])
{
	const uint8_t *key = keyring_key(kr, p, gen);
	const struct crypto_hmac_key *keyed = keyring_hmac(kr, p, gen);
	uint8_t *sub = NULL;
	int rc;

	if (!key || !keyed)
		return AM_ERR_DENIED;
	if (!label) /* from the keyed states (the key's two blocks already hashed) */
		return crypto_hmac_key_mac(keyed, data, n, out);
	if (!(sub = am_secret_alloc(CRYPTO_KEY_LEN)))
		return AM_ERR_NOMEM;
	rc = crypto_hkdf(key, CRYPTO_KEY_LEN, NULL, 0, label, strlen(label), sub, CRYPTO_KEY_LEN);
	if (rc == 0)
		rc = crypto_hmac_sha256(sub, CRYPTO_KEY_LEN, data, n, out);
	am_secret_free(sub, CRYPTO_KEY_LEN);
	return rc;
}

int crypto_mac(const struct keyring *kr, enum crypto_purpose p, uint32_t gen, const char *label,
	       const void *data, size_t n, uint8_t out[CRYPTO_MAC_LEN])
{
	int rc;

	if (!kr || !out || (n && !data))
		return AM_ERR_INVAL;
	if ((rc = mac_compute(kr, p, gen, label, data, n, out)) != 0)
		am_memzero(out, CRYPTO_MAC_LEN);
	return rc;
}

int crypto_mac_verify(const struct keyring *kr, enum crypto_purpose p, uint32_t gen,
		      const char *label, const void *data, size_t n, const uint8_t *mac,
		      size_t maclen)
{
	uint8_t want[CRYPTO_MAC_LEN];
	int rc;

	if (!kr || !mac || (n && !data) || maclen < CRYPTO_MAC_MIN || maclen > CRYPTO_MAC_LEN)
		return AM_ERR_INVAL;
	if ((rc = mac_compute(kr, p, gen, label, data, n, want)) == 0)
		rc = am_ct_eq(want, mac, maclen) ? 0 : AM_ERR_DENIED;
	am_memzero(want, sizeof(want));
	return rc;
}
