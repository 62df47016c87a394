/*
 * access_trace.c: signed tracer URLs /m/trace/{project}?… of access.h, the
 * credential for one suspect-file upload to the media role's tracer
 * (issue 26, docs/watermark.md "Tracer", docs/api.md "Trace a leak").
 * Minting runs in the web role (POST /api/v1/projects/{id}/trace: the
 * owner's session, CSRF token and rate limit checked); verification in the
 * media role, before any database access, on the raw request target. The
 * database half (the session is live, the account owns the project) is
 * the media handler's (src/media/media_trace.c). Untrusted input.
 */
#include <stdio.h>
#include <string.h>

#include "access/access.h"
#include "access/access_int.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "util/util.h"

#define TRACE_PREFIX "/m/trace/"

static const char *const trace_keys[] = {"a", "x", "e", "k", "s"};

int64_t access_trace_expiry(const struct app *a)
{
	int64_t life = a->conf.signed_url_lifetime;

	if (life <= 0 || life > ACCESS_TRACE_CAP)
		life = ACCESS_TRACE_CAP;
	return am_now() + life;
}

/* Path and MAC'd text of a tracer URL. */
static int trace_msg(const struct access_trace *x, uint32_t kid, char *path, size_t pn, char *msg,
		     size_t mn)
{
	char pid[33], acc[33], ses[33];
	int w;

	access_hex16(x->project_id, pid);
	access_hex16(x->account_id, acc);
	access_hex16(x->session_id, ses);
	snprintf(path, pn, TRACE_PREFIX "%s", pid);
	w = snprintf(msg, mn, "am-trace-v1\nPOST\n%s\n%s\n%s\n%lld\n%u", path, acc, ses,
		     (long long)x->expires, (unsigned)kid);
	return w > 0 && (size_t)w < mn ? w : AM_ERR_TOOBIG;
}

int access_trace_sign(struct app *a, const struct access_trace *x, char *out, size_t n)
{
	uint32_t kid = keyring_generation(a->kr);
	char path[64], msg[256], mac[44], acc[33], ses[33];
	int64_t now = am_now();
	int ml, rc, w;

	if (n < ACCESS_URL_MAX)
		return AM_ERR_TOOBIG;
	if (x->expires <= now || x->expires > now + ACCESS_TRACE_CAP)
		return AM_ERR_INVAL;
	if ((ml = trace_msg(x, kid, path, sizeof(path), msg, sizeof(msg))) < 0)
		return ml;
	if ((rc = access_mac_b64(a, CRYPTO_KEY_URL_SIGN, kid, msg, (size_t)ml, mac)) != 0)
		return rc;
	access_hex16(x->account_id, acc);
	access_hex16(x->session_id, ses);
	w = snprintf(out, n, "%s?a=%s&x=%s&e=%lld&k=%u&s=%s", path, acc, ses, (long long)x->expires,
		     (unsigned)kid, mac);
	return w > 0 && (size_t)w < n ? 0 : AM_ERR_TOOBIG;
}

int access_trace_verify(struct app *a, const char *target, struct access_trace *out)
{
	struct access_trace x;
	struct access_span v[5];
	uint64_t exp, kid;
	char path[64], msg[256];
	int64_t now = am_now();
	int ml;

	if (!target || strnlen(target, ACCESS_URL_MAX) >= ACCESS_URL_MAX ||
	    access_parse_target(target, TRACE_PREFIX, x.project_id, trace_keys, 5, v) ||
	    access_unhex16(v[0].p, v[0].n, x.account_id) ||
	    access_unhex16(v[1].p, v[1].n, x.session_id) ||
	    access_parse_dec(v[2].p, v[2].n, INT64_MAX, &exp) ||
	    access_parse_dec(v[3].p, v[3].n, UINT32_MAX, &kid))
		return AM_ERR_DENIED;
	x.expires = (int64_t)exp;
	ml = trace_msg(&x, (uint32_t)kid, path, sizeof(path), msg, sizeof(msg));
	if (ml < 0 || access_mac_check(a, CRYPTO_KEY_URL_SIGN, (uint32_t)kid, msg, (size_t)ml,
				       v[4].p, v[4].n))
		return AM_ERR_DENIED;
	if (x.expires < now || x.expires > now + ACCESS_TRACE_CAP)
		return AM_ERR_DENIED;
	*out = x;
	return 0;
}
