/*
 * access_export.c: signed export URLs /m/export/{account}?… of access.h, the
 * credential for the owner's full data export archive. Minting runs in the
 * web role (POST /api/v1/export, owner session and CSRF token checked);
 * verification in the media role, before any database or store access, on
 * the raw request target exactly as the client sent it. The database half
 * (the account is live, the session that asked is still live) is the media
 * handler's (src/media/media_export.c). Untrusted input.
 */
#include <stdio.h>
#include <string.h>

#include "access/access.h"
#include "access/access_int.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "util/util.h"

#define EXPORT_PREFIX "/m/export/"

static const char *const export_keys[] = {"x", "e", "k", "s"};

int64_t access_export_expiry(const struct app *a)
{
	int64_t life = a->conf.signed_url_lifetime;

	if (life <= 0 || life > ACCESS_EXPORT_CAP)
		life = ACCESS_EXPORT_CAP;
	return am_now() + life;
}

/* Path and MAC'd text of an export URL. */
static int export_msg(const struct access_export *x, uint32_t kid, char *path, size_t pn, char *msg,
		      size_t mn)
{
	char acc[33], ses[33];
	int w;

	access_hex16(x->account_id, acc);
	access_hex16(x->session_id, ses);
	snprintf(path, pn, EXPORT_PREFIX "%s", acc);
	w = snprintf(msg, mn, "am-export-v1\nGET\n%s\n%s\n%lld\n%u", path, ses,
		     (long long)x->expires, (unsigned)kid);
	return w > 0 && (size_t)w < mn ? w : AM_ERR_TOOBIG;
}

int access_export_sign(struct app *a, const struct access_export *x, char *out, size_t n)
{
	uint32_t kid = keyring_generation(a->kr);
	char path[64], msg[256], mac[44], ses[33];
	int64_t now = am_now();
	int ml, rc, w;

	if (n < ACCESS_URL_MAX)
		return AM_ERR_TOOBIG;
	if (x->expires <= now || x->expires > now + ACCESS_EXPORT_CAP)
		return AM_ERR_INVAL;
	if ((ml = export_msg(x, kid, path, sizeof(path), msg, sizeof(msg))) < 0)
		return ml;
	if ((rc = access_mac_b64(a, CRYPTO_KEY_URL_SIGN, kid, msg, (size_t)ml, mac)) != 0)
		return rc;
	access_hex16(x->session_id, ses);
	w = snprintf(out, n, "%s?x=%s&e=%lld&k=%u&s=%s", path, ses, (long long)x->expires,
		     (unsigned)kid, mac);
	return w > 0 && (size_t)w < n ? 0 : AM_ERR_TOOBIG;
}

int access_export_verify(struct app *a, const char *target, struct access_export *out)
{
	struct access_export x;
	struct access_span v[4];
	uint64_t exp, kid;
	char path[64], msg[256];
	int64_t now = am_now();
	int ml;

	if (!target || strnlen(target, ACCESS_URL_MAX) >= ACCESS_URL_MAX ||
	    access_parse_target(target, EXPORT_PREFIX, x.account_id, export_keys, 4, v) ||
	    access_unhex16(v[0].p, v[0].n, x.session_id) ||
	    access_parse_dec(v[1].p, v[1].n, INT64_MAX, &exp) ||
	    access_parse_dec(v[2].p, v[2].n, UINT32_MAX, &kid))
		return AM_ERR_DENIED;
	x.expires = (int64_t)exp;
	ml = export_msg(&x, (uint32_t)kid, path, sizeof(path), msg, sizeof(msg));
	if (ml < 0 || access_mac_check(a, CRYPTO_KEY_URL_SIGN, (uint32_t)kid, msg, (size_t)ml,
				       v[3].p, v[3].n))
		return AM_ERR_DENIED;
	if (x.expires < now || x.expires > now + ACCESS_EXPORT_CAP)
		return AM_ERR_DENIED;
	*out = x;
	return 0;
}
