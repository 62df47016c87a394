/*
 * access_url.c: signed media URLs (/m/…, share-link and owner forms) and
 * signed upload URLs (/u/…) of access.h. Every media URL carries a nonce
 * (r=, MAC'd), so two loads never get the same URL, even within the second
 * that fixes the expiry. Minting runs in the web role; verification in the media role,
 * before any database or store access, on the raw request target exactly as
 * the client sent it (so a re-encoded or reordered URL never verifies).
 */
#include <stdio.h>
#include <string.h>

#include "access/access.h"
#include "access/access_int.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "util/util.h"

#define MAX_SIZE_LIMIT (UINT64_C(1) << 50)

static const char *const url_keys[] = {"l", "p", "g", "w", "e", "d", "r", "k", "s"};
static const char *const owner_keys[] = {"o", "x", "p", "e", "d", "r", "k", "s"};
static const char *const upload_keys[] = {"a", "p", "v", "n", "e", "k", "s"};

int64_t access_url_expiry(const struct app *a)
{
	int64_t life = a->conf.signed_url_lifetime;

	if (life <= 0 || life > ACCESS_URL_CAP)
		life = life <= 0 ? 1800 : ACCESS_URL_CAP;
	return am_now() + life;
}

/* A bounded text writer for the URL texts (issue 25: snprintf was a third
 * of signing a URL): once anything does not fit, ok is 0 and nothing more
 * is written. */
struct tw {
	char *p, *end; /* end: the last byte, kept for the NUL */
	int ok;
};

static void tw_mem(struct tw *t, const char *s, size_t n)
{
	if (!t->ok || n > (size_t)(t->end - t->p)) {
		t->ok = 0;
		return;
	}
	memcpy(t->p, s, n);
	t->p += n;
}

static void tw_str(struct tw *t, const char *s)
{
	tw_mem(t, s, strlen(s));
}

/* A number as %lld / %u / %d print it. */
static void tw_i64(struct tw *t, int64_t v)
{
	char d[24], *q = d + sizeof(d);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--q = '-';
	tw_mem(t, q, (size_t)(d + sizeof(d) - q));
}

static void tw_hex16(struct tw *t, const uint8_t v[16])
{
	char h[33];

	access_hex16(v, h);
	tw_mem(t, h, 32);
}

/* The length written (NUL-terminated), or AM_ERR_TOOBIG. */
static int tw_end(struct tw *t, char *start)
{
	if (!t->ok)
		return AM_ERR_TOOBIG;
	*t->p = 0;
	return (int)(t->p - start);
}

/* Path and MAC'd text of a media URL (either form: see access.h). The nonce
 * is MAC'd last, after every field it does not change. */
static int url_msg(const uint8_t object_id[16], const struct access_grant *g, int64_t expires,
		   int download, const uint8_t nonce[ACCESS_URL_NONCE_LEN], uint32_t kid,
		   char *path, size_t pn, char *msg, size_t mn)
{
	struct tw tp = {path, path + pn - 1, pn > 0}, t = {msg, msg + mn - 1, mn > 0};

	tw_str(&tp, "/m/");
	tw_hex16(&tp, object_id);
	if (tw_end(&tp, path) < 0)
		return AM_ERR_TOOBIG;
	tw_str(&t, g->owner ? "am-owner-url-v2\nGET\n" : "am-url-v2\nGET\n");
	tw_str(&t, path);
	tw_str(&t, "\n");
	if (g->owner) {
		tw_hex16(&t, g->account_id);
		tw_str(&t, "\n");
		tw_hex16(&t, g->session_id);
		tw_str(&t, "\n");
		tw_hex16(&t, g->project_id);
		tw_str(&t, "\n");
	} else {
		tw_hex16(&t, g->link_id);
		tw_str(&t, "\n");
		tw_hex16(&t, g->project_id);
		tw_str(&t, "\n");
		tw_i64(&t, g->link_gen);
		tw_str(&t, "\n");
		tw_i64(&t, g->pw_gen);
		tw_str(&t, "\n");
	}
	tw_i64(&t, expires);
	tw_str(&t, "\n");
	tw_i64(&t, download);
	tw_str(&t, "\n");
	tw_hex16(&t, nonce);
	tw_str(&t, "\n");
	tw_i64(&t, kid);
	return tw_end(&t, msg);
}

int access_url_msg(const uint8_t object_id[16], const struct access_grant *g, int64_t expires,
		   int download, const uint8_t nonce[ACCESS_URL_NONCE_LEN], uint32_t kid,
		   char *path, size_t pn, char *msg, size_t mn)
{
	return url_msg(object_id, g, expires, download, nonce, kid, path, pn, msg, mn);
}

/* The query of a signed media URL, in the one accepted order. */
static int url_query(const struct access_grant *g, int64_t expires, int download,
		     const uint8_t nonce[ACCESS_URL_NONCE_LEN], uint32_t kid, const char *mac,
		     char *out, size_t n, const char *path)
{
	struct tw t = {out, out + n - 1, n > 0};

	tw_str(&t, path);
	if (g->owner) {
		tw_str(&t, "?o=");
		tw_hex16(&t, g->account_id);
		tw_str(&t, "&x=");
		tw_hex16(&t, g->session_id);
		tw_str(&t, "&p=");
		tw_hex16(&t, g->project_id);
	} else {
		tw_str(&t, "?l=");
		tw_hex16(&t, g->link_id);
		tw_str(&t, "&p=");
		tw_hex16(&t, g->project_id);
		tw_str(&t, "&g=");
		tw_i64(&t, g->link_gen);
		tw_str(&t, "&w=");
		tw_i64(&t, g->pw_gen);
	}
	tw_str(&t, "&e=");
	tw_i64(&t, expires);
	tw_str(&t, "&d=");
	tw_i64(&t, download);
	tw_str(&t, "&r=");
	tw_hex16(&t, nonce);
	tw_str(&t, "&k=");
	tw_i64(&t, kid);
	tw_str(&t, "&s=");
	tw_str(&t, mac);
	return tw_end(&t, out);
}

int access_url_sign_nonce(struct app *a, const struct access_grant *g, const uint8_t object_id[16],
			  int download, int64_t expires, const uint8_t nonce[ACCESS_URL_NONCE_LEN],
			  char *out, size_t n)
{
	uint32_t kid = keyring_generation(a->kr);
	char path[40], msg[400], mac[44];
	int64_t now = am_now();
	int ml, rc;

	if (n < ACCESS_URL_MAX)
		return AM_ERR_TOOBIG;
	if (expires <= now || expires > now + ACCESS_URL_CAP || download < 0 ||
	    download > ACCESS_D_MAX)
		return AM_ERR_INVAL;
	if ((ml = url_msg(object_id, g, expires, download, nonce, kid, path, sizeof(path), msg,
			  sizeof(msg))) < 0)
		return ml;
	if ((rc = access_mac_b64(a, CRYPTO_KEY_URL_SIGN, kid, msg, (size_t)ml, mac)) != 0)
		return rc;
	return url_query(g, expires, download, nonce, kid, mac, out, n, path);
}

int access_url_sign(struct app *a, const struct access_grant *g, const uint8_t object_id[16],
		    int download, int64_t expires, char *out, size_t n)
{
	uint8_t nonce[ACCESS_URL_NONCE_LEN];
	int rc;

	if ((rc = crypto_random(nonce, sizeof(nonce))) != 0)
		return rc;
	rc = access_url_sign_nonce(a, g, object_id, download, expires, nonce, out, n);
	return rc > 0 ? 0 : rc;
}

/* Strict parse of a share-link media URL's fields (no key use). */
static int url_parse_link(const char *target, struct access_grant *g, uint8_t obj[16],
			  uint64_t *exp, uint64_t *d, uint8_t r[ACCESS_URL_NONCE_LEN],
			  uint64_t *kid, struct access_span *mac)
{
	struct access_span v[9];
	uint64_t lg, pg;

	if (access_parse_target(target, "/m/", obj, url_keys, 9, v) ||
	    access_unhex16(v[0].p, v[0].n, g->link_id) ||
	    access_unhex16(v[1].p, v[1].n, g->project_id) ||
	    access_parse_dec(v[2].p, v[2].n, UINT32_MAX, &lg) ||
	    access_parse_dec(v[3].p, v[3].n, UINT32_MAX, &pg) ||
	    access_parse_dec(v[4].p, v[4].n, INT64_MAX, exp) ||
	    access_parse_dec(v[5].p, v[5].n, ACCESS_D_MAX, d) ||
	    access_unhex16(v[6].p, v[6].n, r) || access_parse_dec(v[7].p, v[7].n, UINT32_MAX, kid))
		return AM_ERR_INVAL;
	g->link_gen = (uint32_t)lg;
	g->pw_gen = (uint32_t)pg;
	*mac = v[8];
	return 0;
}

/* The same for the owner form. */
static int url_parse_owner(const char *target, struct access_grant *g, uint8_t obj[16],
			   uint64_t *exp, uint64_t *d, uint8_t r[ACCESS_URL_NONCE_LEN],
			   uint64_t *kid, struct access_span *mac)
{
	struct access_span v[8];

	if (access_parse_target(target, "/m/", obj, owner_keys, 8, v) ||
	    access_unhex16(v[0].p, v[0].n, g->account_id) ||
	    access_unhex16(v[1].p, v[1].n, g->session_id) ||
	    access_unhex16(v[2].p, v[2].n, g->project_id) ||
	    access_parse_dec(v[3].p, v[3].n, INT64_MAX, exp) ||
	    access_parse_dec(v[4].p, v[4].n, ACCESS_D_MAX, d) ||
	    access_unhex16(v[5].p, v[5].n, r) || access_parse_dec(v[6].p, v[6].n, UINT32_MAX, kid))
		return AM_ERR_INVAL;
	g->owner = 1;
	*mac = v[7];
	return 0;
}

int access_url_verify(struct app *a, const char *target, struct access_grant *g,
		      uint8_t object_id[16], int *download, int64_t *expires)
{
	struct access_grant tg;
	struct access_span mac;
	uint8_t obj[16], r[ACCESS_URL_NONCE_LEN];
	uint64_t exp, d, kid;
	char path[40], msg[400];
	int64_t now = am_now();
	int ml;

	memset(&tg, 0, sizeof(tg));
	if (!target || strnlen(target, ACCESS_URL_MAX) >= ACCESS_URL_MAX)
		return AM_ERR_DENIED;
	if (url_parse_link(target, &tg, obj, &exp, &d, r, &kid, &mac)) {
		memset(&tg, 0, sizeof(tg));
		if (url_parse_owner(target, &tg, obj, &exp, &d, r, &kid, &mac))
			return AM_ERR_DENIED;
	}
	ml = url_msg(obj, &tg, (int64_t)exp, (int)d, r, (uint32_t)kid, path, sizeof(path), msg,
		     sizeof(msg));
	if (ml < 0 ||
	    access_mac_check(a, CRYPTO_KEY_URL_SIGN, (uint32_t)kid, msg, (size_t)ml, mac.p, mac.n))
		return AM_ERR_DENIED;
	if ((int64_t)exp < now || (int64_t)exp > now + ACCESS_URL_CAP)
		return AM_ERR_DENIED;
	*g = tg;
	memcpy(object_id, obj, 16);
	if (download)
		*download = (int)d;
	if (expires)
		*expires = (int64_t)exp;
	return 0;
}

/* ---- upload URLs ----------------------------------------------------------------- */

static int upload_msg(const struct access_upload *u, uint32_t kid, char *path, size_t pn, char *msg,
		      size_t mn)
{
	char up[33], acc[33], proj[33], ver[33];
	int w;

	access_hex16(u->upload_id, up);
	access_hex16(u->account_id, acc);
	access_hex16(u->project_id, proj);
	access_hex16(u->version_id, ver);
	snprintf(path, pn, "/u/%s", up);
	w = snprintf(msg, mn, "am-upload-v1\n%s\n%s\n%s\n%s\n%lld\n%lld\n%u", path, acc, proj, ver,
		     (long long)u->max_size, (long long)u->expires, (unsigned)kid);
	return w > 0 && (size_t)w < mn ? w : AM_ERR_TOOBIG;
}

int access_upload_sign(struct app *a, const struct access_upload *u, char *out, size_t n)
{
	uint32_t kid = keyring_generation(a->kr);
	char path[40], msg[400], mac[44], acc[33], proj[33], ver[33];
	int64_t now = am_now();
	int ml, rc, w;

	if (n < ACCESS_URL_MAX)
		return AM_ERR_TOOBIG;
	if (u->expires <= now || u->expires > now + ACCESS_UPLOAD_CAP || u->max_size < 0 ||
	    (uint64_t)u->max_size > MAX_SIZE_LIMIT)
		return AM_ERR_INVAL;
	if ((ml = upload_msg(u, kid, path, sizeof(path), msg, sizeof(msg))) < 0)
		return ml;
	if ((rc = access_mac_b64(a, CRYPTO_KEY_URL_SIGN, kid, msg, (size_t)ml, mac)) != 0)
		return rc;
	access_hex16(u->account_id, acc);
	access_hex16(u->project_id, proj);
	access_hex16(u->version_id, ver);
	w = snprintf(out, n, "%s?a=%s&p=%s&v=%s&n=%lld&e=%lld&k=%u&s=%s", path, acc, proj, ver,
		     (long long)u->max_size, (long long)u->expires, (unsigned)kid, mac);
	return w > 0 && (size_t)w < n ? 0 : AM_ERR_TOOBIG;
}

int access_upload_verify(struct app *a, const char *target, struct access_upload *out)
{
	struct access_upload u;
	struct access_span v[7];
	uint64_t size, exp, kid;
	char path[40], msg[400];
	int64_t now = am_now();
	int ml;

	if (!target || strnlen(target, ACCESS_URL_MAX) >= ACCESS_URL_MAX ||
	    access_parse_target(target, "/u/", u.upload_id, upload_keys, 7, v) ||
	    access_unhex16(v[0].p, v[0].n, u.account_id) ||
	    access_unhex16(v[1].p, v[1].n, u.project_id) ||
	    access_unhex16(v[2].p, v[2].n, u.version_id) ||
	    access_parse_dec(v[3].p, v[3].n, MAX_SIZE_LIMIT, &size) ||
	    access_parse_dec(v[4].p, v[4].n, INT64_MAX, &exp) ||
	    access_parse_dec(v[5].p, v[5].n, UINT32_MAX, &kid))
		return AM_ERR_DENIED;
	u.max_size = (int64_t)size;
	u.expires = (int64_t)exp;
	ml = upload_msg(&u, (uint32_t)kid, path, sizeof(path), msg, sizeof(msg));
	if (ml < 0 || access_mac_check(a, CRYPTO_KEY_URL_SIGN, (uint32_t)kid, msg, (size_t)ml,
				       v[6].p, v[6].n))
		return AM_ERR_DENIED;
	if (u.expires < now || u.expires > now + ACCESS_UPLOAD_CAP)
		return AM_ERR_DENIED;
	*out = u;
	return 0;
}
