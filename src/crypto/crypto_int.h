/*
 * crypto_int.h: helpers shared by the files of src/crypto/ only (and by its
 * unit tests, fuzzers and benchmarks). Not part of the public API.
 * Runs wherever crypto runs; holds key material only for the duration of a call.
 */
#ifndef AM_CRYPTO_INT_H
#define AM_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

#define CRYPTO_GCM_IV_LEN 12
#define CRYPTO_GCM_TAG_LEN 16

/* One-shot AES-256-GCM seal: ct gets n bytes, tag 16. ct may equal pt. */
int crypto_gcm_seal(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t iv[CRYPTO_GCM_IV_LEN],
		    const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t n, uint8_t *ct,
		    uint8_t tag[CRYPTO_GCM_TAG_LEN]);
/* One-shot AES-256-GCM open: pt gets n bytes, which the caller must discard
 * (and zero) unless this returns 0. AM_ERR_CRYPTO on a tag mismatch. */
int crypto_gcm_open(const uint8_t key[CRYPTO_KEY_LEN], const uint8_t iv[CRYPTO_GCM_IV_LEN],
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

#endif
