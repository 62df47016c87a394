/*
 * api_password.c: owner and project passwords: the policy (length, the
 * bundled common-password list), Argon2id hashing and verification with
 * libsodium (crypto_pwhash_str*, parameters from the configuration), and the
 * gate that lets at most one hash run per core with a short wait queue, so
 * a flood of logins costs 503s instead of all the memory (DESIGN §6).
 * Runs in the web process and in `audiomus user`; passwords are secrets:
 * never logged, copies zeroed.
 */
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"

extern const char *const api_pwlist[];
extern const size_t api_pwlist_len;

/* ---- the gate ------------------------------------------------------------------- */

void api_gate_init(struct api_gate *g, int max_active, int max_waiting, int64_t wait_ms)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->active = g->waiting = 0;
	g->max_active = max_active > 0 ? max_active : 1;
	g->max_waiting = max_waiting >= 0 ? max_waiting : 0;
	g->wait_ms = wait_ms;
}

void api_gate_cleanup(struct api_gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

int api_gate_enter(struct api_gate *g)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += g->wait_ms / 1000;
	until.tv_nsec += (long)(g->wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g->mu);
	if (g->active >= g->max_active) {
		if (g->waiting >= g->max_waiting) {
			rc = AM_ERR_UNAVAIL;
			goto out;
		}
		g->waiting++;
		while (g->active >= g->max_active && rc == 0)
			if (pthread_cond_timedwait(&g->cv, &g->mu, &until) == ETIMEDOUT)
				rc = AM_ERR_UNAVAIL;
		if (rc == AM_ERR_UNAVAIL && g->active < g->max_active)
			rc = 0; /* the slot freed up just as the wait timed out */
		g->waiting--;
	}
	if (rc == 0)
		g->active++;
out:
	pthread_mutex_unlock(&g->mu);
	return rc;
}

void api_gate_leave(struct api_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->active--;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* ---- policy ----------------------------------------------------------------------- */

static int cmp_entry(const void *key, const void *elem)
{
	return strcmp((const char *)key, *(const char *const *)elem);
}

static int listed(const char *folded)
{
	return bsearch(folded, api_pwlist, api_pwlist_len, sizeof(api_pwlist[0]), cmp_entry) !=
	       NULL;
}

int api_pw_common(const char *pw)
{
	char folded[API_PW_MAX + 1];
	size_t n = strlen(pw), base;
	int hit;

	if (n > API_PW_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		folded[i] = (char)tolower((unsigned char)pw[i]);
	folded[n] = 0;
	hit = listed(folded);
	/* A listed word with up to four digits or symbols appended
	 * ("monkey123", "dragon!!") is as guessable as the word. */
	base = n;
	while (!hit && base > 4 && n - base < 4 && !isalpha((unsigned char)folded[base - 1])) {
		folded[--base] = 0;
		hit = listed(folded);
	}
	am_memzero(folded, sizeof(folded));
	return hit;
}

int api_password_acceptable(const char *pw, const char **why)
{
	const char *w = NULL;
	size_t n = strlen(pw);

	if (n < API_PW_MIN)
		w = "the password must be at least 8 bytes long";
	else if (n > API_PW_MAX)
		w = "the password must be at most 256 bytes long";
	else if (api_pw_common(pw))
		w = "this password is on the list of common passwords: choose another";
	if (why)
		*why = w;
	return w ? AM_ERR_INVAL : 0;
}

int api_pw_policy(struct api_ctx *c, const char *pw)
{
	const char *why = NULL;

	if (api_password_acceptable(pw, &why))
		return api_err(c, AM_ERR_INVAL, why);
	return 0;
}

/* ---- hashing ------------------------------------------------------------------------ */

#define DUMMY_B64    sodium_base64_VARIANT_ORIGINAL_NO_PADDING /* as Argon2's PHC strings */
#define DUMMY_DIGEST 32 /* crypto_pwhash_str's digest (libsodium's STR_HASHBYTES, not exported) */

int api_password_hash(const struct conf *c, const char *pw, char *out, size_t outlen)
{
	char tmp[crypto_pwhash_STRBYTES];

	if (outlen < sizeof(tmp))
		return AM_ERR_TOOBIG;
	if (sodium_init() < 0)
		return AM_ERR_CRYPTO;
	if (crypto_pwhash_str(tmp, pw, strlen(pw), (unsigned long long)c->argon2_opslimit,
			      (size_t)c->argon2_memlimit) != 0)
		return AM_ERR_NOMEM;
	memcpy(out, tmp, sizeof(tmp));
	return 0;
}

int api_password_dummy(const struct conf *c, char *out, size_t outlen)
{
	uint8_t salt[crypto_pwhash_argon2id_SALTBYTES], digest[DUMMY_DIGEST];
	char salt64[sodium_base64_ENCODED_LEN(sizeof(salt), DUMMY_B64)];
	char digest64[sodium_base64_ENCODED_LEN(sizeof(digest), DUMMY_B64)];
	int n;

	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(digest, sizeof(digest));
	sodium_bin2base64(salt64, sizeof(salt64), salt, sizeof(salt), DUMMY_B64);
	sodium_bin2base64(digest64, sizeof(digest64), digest, sizeof(digest), DUMMY_B64);
	/* libsodium's own encoding (crypto_pwhash_argon2id_str): m in KiB, one lane */
	n = snprintf(out, outlen, "%sv=19$m=%llu,t=%llu,p=1$%s$%s",
		     crypto_pwhash_argon2id_STRPREFIX,
		     (unsigned long long)c->argon2_memlimit / 1024U,
		     (unsigned long long)c->argon2_opslimit, salt64, digest64);
	return n > 0 && (size_t)n < outlen ? 0 : AM_ERR_TOOBIG;
}

int api_pw_hash(struct api_ctx *c, const char *pw, char out[API_PHC_MAX])
{
	int rc;

	if ((rc = api_gate_enter(&c->api->gate))) {
		c->retry_ms = 1000;
		return api_err(c, rc, "the server is busy checking passwords: try again shortly");
	}
	rc = api_password_hash(&c->api->app->conf, pw, out, API_PHC_MAX);
	api_gate_leave(&c->api->gate);
	return rc;
}

int api_pw_verify(struct api_ctx *c, const char *hash, const char *pw, int *needs_rehash)
{
	const struct conf *cf = &c->api->app->conf;
	int rc;

	if (needs_rehash)
		*needs_rehash = 0;
	if ((rc = api_gate_enter(&c->api->gate))) {
		c->retry_ms = 1000;
		return api_err(c, rc, "the server is busy checking passwords: try again shortly");
	}
	if (crypto_pwhash_str_verify(hash, pw, strlen(pw)) != 0)
		rc = AM_ERR_DENIED;
	api_gate_leave(&c->api->gate);
	if (rc == 0 && needs_rehash)
		*needs_rehash =
		    crypto_pwhash_str_needs_rehash(hash, (unsigned long long)cf->argon2_opslimit,
						   (size_t)cf->argon2_memlimit) != 0;
	return rc;
}
