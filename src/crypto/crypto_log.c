/*
 * crypto_log.c: the access log's Ed25519 signing key, derived from the
 * master key (crypto.h "access log signing key", docs/crypto.md), and the
 * signature check `audiomus log verify` uses. libsodium provides Ed25519.
 * Runs in every role that appends to or reads the log's head, and in the
 * verify command (which needs no key: a tree head carries its public key).
 */
#include "crypto/crypto_int.h"

#include <string.h>

#include <sodium.h>

static const char seed_info[] = "translog-ed25519";

struct log_keys {
	uint8_t seed[crypto_sign_SEEDBYTES];
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

/* The key pair of kr's MK into k (secret memory) and pub. */
static int derive(const struct keyring *kr, struct log_keys *k, uint8_t pub[CRYPTO_LOG_PUB_LEN])
{
	const uint8_t *mk = keyring_master(kr);
	int rc;

	if (!mk || sodium_init() < 0)
		return AM_ERR_CRYPTO;
	if ((rc = crypto_hkdf(mk, CRYPTO_KEY_LEN, NULL, 0, seed_info, sizeof(seed_info) - 1,
			      k->seed, sizeof(k->seed))))
		return rc;
	return crypto_sign_seed_keypair(pub, k->sk, k->seed) == 0 ? 0 : AM_ERR_CRYPTO;
}

int crypto_log_sign(const struct keyring *kr, const void *msg, size_t n,
		    uint8_t sig[CRYPTO_LOG_SIG_LEN], uint8_t pub[CRYPTO_LOG_PUB_LEN])
{
	struct log_keys *k = am_secret_alloc(sizeof(*k));
	uint8_t p[CRYPTO_LOG_PUB_LEN];
	int rc = AM_ERR_NOMEM;

	if (!k)
		goto out;
	if ((rc = derive(kr, k, p)))
		goto out;
	rc = crypto_sign_detached(sig, NULL, msg, n, k->sk) == 0 ? 0 : AM_ERR_CRYPTO;
	if (rc == 0 && pub)
		memcpy(pub, p, sizeof(p));
out:
	if (rc)
		memset(sig, 0, CRYPTO_LOG_SIG_LEN);
	am_secret_free(k, sizeof(*k));
	return rc;
}

int crypto_log_public_key(const struct keyring *kr, uint8_t pub[CRYPTO_LOG_PUB_LEN])
{
	struct log_keys *k = am_secret_alloc(sizeof(*k));
	int rc = k ? derive(kr, k, pub) : AM_ERR_NOMEM;

	am_secret_free(k, sizeof(*k));
	return rc;
}

int crypto_log_verify(const uint8_t pub[CRYPTO_LOG_PUB_LEN], const void *msg, size_t n,
		      const uint8_t sig[CRYPTO_LOG_SIG_LEN])
{
	if (sodium_init() < 0)
		return AM_ERR_CRYPTO;
	return crypto_sign_verify_detached(sig, msg, n, pub) == 0 ? 0 : AM_ERR_DENIED;
}
