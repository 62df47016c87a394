/*
 * crypto_ip.c: the forward-only IP-key ratchet and IP pseudonyms (DESIGN §3,
 * §6). Only the current and previous epoch keys ever exist; advancing erases
 * the older one, so pseudonyms from earlier epochs can never be re-tested
 * against candidate addresses. The state blob is sealed under a key derived
 * from MK. Runs in web (rate limits, guest records); addresses are untrusted
 * input and are never stored or logged in clear.
 */
#include "crypto/crypto_int.h"

#include <string.h>
#include <sys/socket.h>

#define IP_BLOB_VERSION 1
#define IP_STATE_PT	(8 + 1 + 2 * CRYPTO_KEY_LEN)
#define IP_BLOB_LEN	(1 + CRYPTO_GCM_IV_LEN + IP_STATE_PT + CRYPTO_GCM_TAG_LEN)
#define IP_MAX_STEPS	1200 /* 100 years of epochs; beyond that start afresh */

static int64_t epoch_of(int64_t now)
{
	return now < 0 ? 0 : now / CRYPTO_IP_EPOCH_SECONDS;
}

int keyring_ip_init(struct keyring *kr, int64_t now)
{
	struct crypto_ip_state *st = keyring_ip_state(kr);
	int rc;

	am_memzero(st, sizeof(*st));
	if ((rc = crypto_random(st->cur, CRYPTO_KEY_LEN)) != 0)
		return rc;
	st->epoch = epoch_of(now);
	st->loaded = 1;
	return 0;
}

/* K_ip[e+1] = HKDF(K_ip[e], "ip ratchet"), in place. */
static int ratchet(uint8_t k[CRYPTO_KEY_LEN])
{
	uint8_t next[CRYPTO_KEY_LEN];
	int rc = crypto_hkdf(k, CRYPTO_KEY_LEN, NULL, 0, "ip ratchet", 10, next, sizeof(next));

	if (rc == 0)
		memcpy(k, next, CRYPTO_KEY_LEN);
	am_memzero(next, sizeof(next));
	return rc;
}

int keyring_ip_advance(struct keyring *kr, int64_t now, int *changed)
{
	struct crypto_ip_state *st = keyring_ip_state(kr);
	int64_t e = epoch_of(now), gap;
	int rc;

	if (changed)
		*changed = 0;
	if (!st->loaded)
		return AM_ERR_CONFLICT;
	if (e <= st->epoch)
		return 0;
	gap = e - st->epoch;
	if (gap > IP_MAX_STEPS) {
		if ((rc = keyring_ip_init(kr, now)) != 0)
			return rc;
		if (changed)
			*changed = 1;
		return 0;
	}
	/* Step to e-1 without keeping anything, then keep e-1 as previous. */
	for (int64_t i = 0; i < gap - 1; i++)
		if ((rc = ratchet(st->cur)) != 0)
			return rc;
	memcpy(st->prev, st->cur, CRYPTO_KEY_LEN);
	if ((rc = ratchet(st->cur)) != 0)
		return rc;
	st->has_prev = 1;
	st->epoch = e;
	if (changed)
		*changed = 1;
	return 0;
}

/* The blob's key and AAD: HKDF(MK, "ip-state"), "am1-ip" ‖ mk_id. */
static int blob_key(const struct keyring *kr, uint8_t k[CRYPTO_KEY_LEN], uint8_t aad[14])
{
	memcpy(aad, "am1-ip", 6);
	memcpy(aad + 6, keyring_mk_id_bin(kr), CRYPTO_MK_ID_LEN);
	return crypto_hkdf(keyring_mk(kr), CRYPTO_KEY_LEN, NULL, 0, "ip-state", 8, k,
			   CRYPTO_KEY_LEN);
}

int keyring_ip_save(const struct keyring *kr, struct am_buf *out)
{
	const struct crypto_ip_state *st = keyring_ip_state_c(kr);
	uint8_t blob[IP_BLOB_LEN], k[CRYPTO_KEY_LEN], aad[14], *pt = blob + 1 + CRYPTO_GCM_IV_LEN;
	int rc;

	if (!st->loaded)
		return AM_ERR_CONFLICT;
	blob[0] = IP_BLOB_VERSION;
	crypto_be64(pt, (uint64_t)st->epoch);
	pt[8] = (uint8_t)st->has_prev;
	memcpy(pt + 9, st->cur, CRYPTO_KEY_LEN);
	memcpy(pt + 9 + CRYPTO_KEY_LEN, st->prev, CRYPTO_KEY_LEN);
	if ((rc = blob_key(kr, k, aad)) == 0 && (rc = crypto_random(blob + 1, 12)) == 0 &&
	    (rc = crypto_gcm_seal(k, blob + 1, aad, sizeof(aad), pt, IP_STATE_PT, pt,
				  pt + IP_STATE_PT)) == 0)
		rc = am_buf_append(out, blob, sizeof(blob));
	am_memzero(blob, sizeof(blob));
	am_memzero(k, sizeof(k));
	return rc;
}

int keyring_ip_load(struct keyring *kr, const uint8_t *blob, size_t n)
{
	struct crypto_ip_state *st = keyring_ip_state(kr);
	uint8_t pt[IP_STATE_PT], k[CRYPTO_KEY_LEN], aad[14];
	const uint8_t *ct;
	int rc;

	if (!blob || n != IP_BLOB_LEN || blob[0] != IP_BLOB_VERSION)
		return AM_ERR_CRYPTO;
	ct = blob + 1 + CRYPTO_GCM_IV_LEN;
	if ((rc = blob_key(kr, k, aad)) == 0)
		rc = crypto_gcm_open(k, blob + 1, aad, sizeof(aad), ct, IP_STATE_PT,
				     ct + IP_STATE_PT, pt);
	if (rc == 0 && (pt[8] > 1 || crypto_load_be64(pt) > INT64_MAX / 2))
		rc = AM_ERR_CRYPTO;
	if (rc == 0) {
		st->epoch = (int64_t)crypto_load_be64(pt);
		st->has_prev = pt[8];
		memcpy(st->cur, pt + 9, CRYPTO_KEY_LEN);
		memcpy(st->prev, pt + 9 + CRYPTO_KEY_LEN, CRYPTO_KEY_LEN);
		st->loaded = 1;
	}
	am_memzero(pt, sizeof(pt));
	am_memzero(k, sizeof(k));
	return rc ? AM_ERR_CRYPTO : 0;
}

/* family ‖ address (IPv4: 4 bytes; IPv6: its /64; IPv4-mapped: as IPv4). */
static size_t ip_input(int family, const uint8_t *addr, uint8_t in[9])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (!addr)
		return 0;
	if (family == AF_INET6 && memcmp(addr, mapped, sizeof(mapped)) == 0) {
		family = AF_INET;
		addr += 12;
	}
	if (family == AF_INET) {
		in[0] = 4;
		memcpy(in + 1, addr, 4);
		return 5;
	}
	if (family == AF_INET6) {
		in[0] = 6;
		memcpy(in + 1, addr, 8);
		return 9;
	}
	return 0;
}

static int pseudonym(const uint8_t key[CRYPTO_KEY_LEN], int family, const uint8_t *addr,
		     uint8_t out[CRYPTO_IP_PSEUDONYM_LEN])
{
	uint8_t in[9], mac[32];
	size_t n = ip_input(family, addr, in);
	int rc;

	if (n == 0)
		return AM_ERR_INVAL;
	if ((rc = crypto_hmac_sha256(key, CRYPTO_KEY_LEN, in, n, mac)) == 0)
		memcpy(out, mac, CRYPTO_IP_PSEUDONYM_LEN);
	am_memzero(in, sizeof(in));
	return rc;
}

int crypto_ip_pseudonym(const struct keyring *kr, int family, const uint8_t *addr,
			uint8_t out[CRYPTO_IP_PSEUDONYM_LEN], int64_t *epoch)
{
	const struct crypto_ip_state *st = keyring_ip_state_c(kr);
	int rc;

	if (!st->loaded)
		return AM_ERR_CONFLICT;
	rc = pseudonym(st->cur, family, addr, out);
	if (rc == 0 && epoch)
		*epoch = st->epoch;
	return rc;
}

int crypto_ip_pseudonym_at(const struct keyring *kr, int64_t epoch, int family, const uint8_t *addr,
			   uint8_t out[CRYPTO_IP_PSEUDONYM_LEN])
{
	const struct crypto_ip_state *st = keyring_ip_state_c(kr);

	if (!st->loaded)
		return AM_ERR_CONFLICT;
	if (epoch == st->epoch)
		return pseudonym(st->cur, family, addr, out);
	if (st->has_prev && epoch == st->epoch - 1)
		return pseudonym(st->prev, family, addr, out);
	return AM_ERR_NOTFOUND;
}
