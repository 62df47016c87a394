/*
 * Unit tests for src/access: password cookies, signed media URLs and signed
 * upload URLs. The property under test is "exactly one accepted encoding":
 * every credential the server minted verifies, and every string that differs
 * from it (any character changed, truncated, padded, re-encoded, parameters
 * added, duplicated or reordered) is denied with the same AM_ERR_DENIED;
 * expiry, caps and key generations; then the database half (grant checks).
 */
#include "access/access_fixture.inc"

#include "access/access_int.h"

static const char mutants[] = "0129afAF%&=.?-_/ gksdlpwe";

static int v_url(struct fx *f, const char *s)
{
	struct access_grant g;
	uint8_t obj[16];
	int d;
	int64_t e;

	return access_url_verify(f->a, s, &g, obj, &d, &e);
}

static int v_upload(struct fx *f, const char *s)
{
	struct access_upload u;

	return access_upload_verify(f->a, s, &u);
}

static int v_cookie(struct fx *f, const char *s)
{
	struct access_grant g;

	return access_cookie_verify(f->a, f->p.link, s, &g);
}

#include "access/access_mutation.inc"

static void url_roundtrip(void **state)
{
	struct fx *f = *state;
	struct access_grant g = f->p.g, out;
	uint8_t obj[16], got[16];
	char url[ACCESS_URL_MAX];
	int64_t exp = access_url_expiry(f->a), e;
	int d = -1;

	g.link_gen = 7;
	g.pw_gen = 3;
	crypto_random_id(obj);
	assert_int_equal(access_url_sign(f->a, &g, obj, 1, exp, url, sizeof(url)), 0);
	assert_int_equal(strncmp(url, "/m/", 3), 0);
	assert_true(strlen(url) < ACCESS_URL_MAX);
	assert_int_equal(access_url_verify(f->a, url, &out, got, &d, &e), 0);
	assert_memory_equal(got, obj, 16);
	assert_memory_equal(&out, &g, sizeof(g));
	assert_int_equal(d, 1);
	assert_int_equal(e, exp);
	assert_true(exp - am_now() >= f->c.signed_url_lifetime - 1 &&
		    exp - am_now() <= f->c.signed_url_lifetime);
	/* download is bound: the same URL with another d is another URL; the
	 * marked WAV (d = 2 + flags, up to ACCESS_D_MAX) round-trips, beyond
	 * it nothing is signed or accepted */
	{
		char *dp = strstr(url, "&d=1&");

		assert_non_null(dp);
		dp[3] = '5';
		assert_int_equal(access_url_verify(f->a, url, &out, got, &d, &e), AM_ERR_DENIED);
	}
	assert_int_equal(access_url_sign(f->a, &g, obj, ACCESS_D_MARKED + 3, exp, url, sizeof(url)),
			 0);
	assert_int_equal(access_url_verify(f->a, url, &out, got, &d, &e), 0);
	assert_int_equal(d, ACCESS_D_MARKED + 3);
	/* the marker zips (11 + flags, 19 + flags) up to ACCESS_D_MAX */
	assert_int_equal(ACCESS_D_MAX, ACCESS_D_MARKERS_PROJECT + 7);
	assert_int_equal(access_url_sign(f->a, &g, obj, ACCESS_D_MAX, exp, url, sizeof(url)), 0);
	assert_int_equal(access_url_verify(f->a, url, &out, got, &d, &e), 0);
	assert_int_equal(d, ACCESS_D_MAX);
	{
		char *dp = strstr(url, "&d=26&");

		assert_non_null(dp);
		dp[4] = '7'; /* d=27: beyond ACCESS_D_MAX, refused before the MAC */
		assert_int_equal(access_url_verify(f->a, url, &out, got, &d, &e), AM_ERR_DENIED);
	}
	assert_int_equal(access_url_sign(f->a, &g, obj, ACCESS_D_MAX + 1, exp, url, sizeof(url)),
			 AM_ERR_INVAL);
	assert_int_equal(access_url_sign(f->a, &g, obj, -1, exp, url, sizeof(url)), AM_ERR_INVAL);
	assert_int_equal(access_url_sign(f->a, &g, obj, 0, exp, url, 100), AM_ERR_TOOBIG);
	assert_int_equal(access_url_verify(f->a, NULL, &out, got, NULL, NULL), AM_ERR_DENIED);
	assert_int_equal(access_url_verify(f->a, "", &out, got, NULL, NULL), AM_ERR_DENIED);
}

static void url_mutations(void **state)
{
	struct fx *f = *state;
	uint8_t obj[16];
	char url[ACCESS_URL_MAX];

	crypto_random_id(obj);
	assert_int_equal(
	    access_url_sign(f->a, &f->p.g, obj, 0, access_url_expiry(f->a), url, sizeof(url)), 0);
	mutation_matrix(f, url, v_url);
	param_matrix(f, url, v_url);
}

static void url_expiry_and_cap(void **state)
{
	struct fx *f = *state;
	uint8_t obj[16];
	char url[ACCESS_URL_MAX], path[64], msg[512], mac[44], link[33], proj[33], hex[33];
	const char *r = "0123456789abcdef0123456789abcdef"; /* a nonce */
	int64_t now = am_now();
	int ml;

	crypto_random_id(obj);
	assert_int_equal(access_url_sign(f->a, &f->p.g, obj, 0, now + 100, url, sizeof(url)), 0);
	/* exactly at expiry: still valid (the offset is taken against the clock
	 * now, not when the URL was signed, so a second ticking in between on a
	 * slow ASan run does not turn this into "expired") */
	am_time_set_offset(0);
	am_time_set_offset(now + 100 - am_now());
	assert_int_equal(v_url(f, url), 0);
	am_time_set_offset(0);
	am_time_set_offset(now + 101 - am_now()); /* expired by 1 s */
	assert_int_equal(v_url(f, url), AM_ERR_DENIED);
	am_time_set_offset(0);
	/* minting refuses past and beyond-cap expiries */
	assert_int_equal(access_url_sign(f->a, &f->p.g, obj, 0, now, url, sizeof(url)),
			 AM_ERR_INVAL);
	assert_int_equal(
	    access_url_sign(f->a, &f->p.g, obj, 0, now + ACCESS_URL_CAP + 1, url, sizeof(url)),
	    AM_ERR_INVAL);
	assert_int_equal(
	    access_url_sign(f->a, &f->p.g, obj, 0, now + ACCESS_URL_CAP, url, sizeof(url)), 0);
	/* a correctly MAC'd URL beyond the cap (as if minted by a buggy or
	 * misconfigured node) is still refused */
	access_hex16(obj, hex);
	access_hex16(f->p.link, link);
	access_hex16(f->p.id, proj);
	snprintf(path, sizeof(path), "/m/%s", hex);
	ml = snprintf(msg, sizeof(msg), "am-url-v2\nGET\n%s\n%s\n%s\n1\n0\n%lld\n0\n%s\n1", path,
		      link, proj, (long long)(now + ACCESS_URL_CAP + 60), r);
	assert_int_equal(access_mac_b64(f->a, CRYPTO_KEY_URL_SIGN, 1, msg, (size_t)ml, mac), 0);
	snprintf(url, sizeof(url), "%s?l=%s&p=%s&g=1&w=0&e=%lld&d=0&r=%s&k=1&s=%s", path, link,
		 proj, (long long)(now + ACCESS_URL_CAP + 60), r, mac);
	assert_int_equal(v_url(f, url), AM_ERR_DENIED);
	/* the same construction within the cap verifies (the crafted form is right) */
	ml = snprintf(msg, sizeof(msg), "am-url-v2\nGET\n%s\n%s\n%s\n1\n0\n%lld\n0\n%s\n1", path,
		      link, proj, (long long)(now + 600), r);
	assert_int_equal(access_mac_b64(f->a, CRYPTO_KEY_URL_SIGN, 1, msg, (size_t)ml, mac), 0);
	snprintf(url, sizeof(url), "%s?l=%s&p=%s&g=1&w=0&e=%lld&d=0&r=%s&k=1&s=%s", path, link,
		 proj, (long long)(now + 600), r, mac);
	assert_int_equal(v_url(f, url), 0);
}

/* docs/security.md 2.4: every signing gives a new URL, even for the same
 * object, grant and expiry second; each verifies, and the nonce is MAC'd
 * (another nonce in the same URL is refused). With a given nonce signing is
 * deterministic (what the fuzz target's re-sign property relies on). */
static void url_nonce(void **state)
{
	struct fx *f = *state;
	uint8_t obj[16], n1[ACCESS_URL_NONCE_LEN] = {1}, n2[ACCESS_URL_NONCE_LEN] = {2};
	char u1[ACCESS_URL_MAX], u2[ACCESS_URL_MAX], u3[ACCESS_URL_MAX], *r;
	struct access_grant og = f->p.g;
	int64_t exp = access_url_expiry(f->a);
	int w;

	crypto_random_id(obj);
	assert_int_equal(access_url_sign(f->a, &f->p.g, obj, 0, exp, u1, sizeof(u1)), 0);
	assert_int_equal(access_url_sign(f->a, &f->p.g, obj, 0, exp, u2, sizeof(u2)), 0);
	assert_string_not_equal(u1, u2);
	assert_int_equal(v_url(f, u1), 0);
	assert_int_equal(v_url(f, u2), 0);
	/* the owner form too */
	og.owner = 1;
	memset(og.link_id, 0, sizeof(og.link_id));
	og.link_gen = og.pw_gen = 0;
	assert_int_equal(access_url_sign(f->a, &og, obj, 1, exp, u1, sizeof(u1)), 0);
	assert_int_equal(access_url_sign(f->a, &og, obj, 1, exp, u2, sizeof(u2)), 0);
	assert_string_not_equal(u1, u2);
	assert_int_equal(v_url(f, u1), 0);
	assert_int_equal(v_url(f, u2), 0);
	/* a given nonce: the same URL, its length returned */
	w = access_url_sign_nonce(f->a, &f->p.g, obj, 0, exp, n1, u1, sizeof(u1));
	assert_int_equal(w, (int)strlen(u1));
	w = access_url_sign_nonce(f->a, &f->p.g, obj, 0, exp, n1, u3, sizeof(u3));
	assert_int_equal(w, (int)strlen(u3));
	assert_string_equal(u1, u3);
	w = access_url_sign_nonce(f->a, &f->p.g, obj, 0, exp, n2, u2, sizeof(u2));
	assert_int_equal(w, (int)strlen(u2));
	assert_string_not_equal(u1, u2);
	assert_int_equal(v_url(f, u1), 0);
	assert_int_equal(v_url(f, u2), 0);
	/* u1 with u2's nonce (only r= differs): refused */
	assert_non_null(r = strstr(u1, "&r="));
	memcpy(r, strstr(u2, "&r="), 3 + 32);
	assert_int_equal(v_url(f, u1), AM_ERR_DENIED);
	assert_int_equal(access_url_sign_nonce(f->a, &f->p.g, obj, 0, am_now(), n1, u1, sizeof(u1)),
			 AM_ERR_INVAL);
}

/* The MAC'd text and the URL are byte for byte what the printf formats
 * gave before issue 25 replaced them (a changed byte would be a URL other
 * nodes do not verify), for both forms and extreme values. */
static void url_text_is_the_printf_form(void **state)
{
	struct fx *f = *state;
	uint8_t obj[16], nonce[ACCESS_URL_NONCE_LEN];
	char path[40], msg[400], want[400], url[ACCESS_URL_MAX], q[ACCESS_URL_MAX], h[5][33];
	struct access_grant g = f->p.g;
	int64_t exp = access_url_expiry(f->a);

	memset(obj, 0xa7, sizeof(obj));
	memset(nonce, 0x0f, sizeof(nonce));
	for (int form = 0; form < 4; form++) {
		uint32_t kid = form == 3 ? UINT32_MAX : (uint32_t)form;
		int d = form == 2 ? ACCESS_D_MAX : form, w;

		g = f->p.g;
		g.owner = form == 1;
		g.link_gen = form == 2 ? UINT32_MAX : 7;
		g.pw_gen = form == 3 ? UINT32_MAX : 0;
		memset(g.account_id, 0x11, 16);
		memset(g.session_id, 0xee, 16);
		access_hex16(obj, h[0]);
		access_hex16(g.owner ? g.account_id : g.link_id, h[1]);
		access_hex16(g.session_id, h[2]);
		access_hex16(g.project_id, h[3]);
		access_hex16(nonce, h[4]);
		if (g.owner)
			snprintf(want, sizeof(want),
				 "am-owner-url-v2\nGET\n/m/%s\n%s\n%s\n%s\n%lld\n%d\n%s\n%u", h[0],
				 h[1], h[2], h[3], (long long)exp, d, h[4], (unsigned)kid);
		else
			snprintf(want, sizeof(want),
				 "am-url-v2\nGET\n/m/%s\n%s\n%s\n%u\n%u\n%lld\n%d\n%s\n%u", h[0],
				 h[1], h[3], (unsigned)g.link_gen, (unsigned)g.pw_gen,
				 (long long)exp, d, h[4], (unsigned)kid);
		w = access_url_msg(obj, &g, exp, d, nonce, kid, path, sizeof(path), msg,
				   sizeof(msg));
		assert_int_equal(w, (int)strlen(want));
		assert_string_equal(msg, want);
		assert_int_equal(access_url_msg(obj, &g, exp, d, nonce, kid, path, sizeof(path),
						msg, strlen(want)),
				 AM_ERR_TOOBIG);
		if (form > 1)
			continue; /* signing uses the keyring's generation */
		assert_true(access_url_sign_nonce(f->a, &g, obj, d, exp, nonce, url, sizeof(url)) >
			    0);
		if (g.owner)
			snprintf(q, sizeof(q), "/m/%s?o=%s&x=%s&p=%s&e=%lld&d=%d&r=%s&k=%u&s=%s",
				 h[0], h[1], h[2], h[3], (long long)exp, d, h[4],
				 (unsigned)keyring_generation(f->a->kr), strstr(url, "&s=") + 3);
		else
			snprintf(q, sizeof(q),
				 "/m/%s?l=%s&p=%s&g=%u&w=%u&e=%lld&d=%d&r=%s&k=%u&s=%s", h[0], h[1],
				 h[3], (unsigned)g.link_gen, (unsigned)g.pw_gen, (long long)exp, d,
				 h[4], (unsigned)keyring_generation(f->a->kr),
				 strstr(url, "&s=") + 3);
		assert_string_equal(url, q);
		assert_int_equal(v_url(f, url), 0);
	}
}

static void url_key_generations(void **state)
{
	struct fx *f = *state;
	uint8_t obj[16];
	char url1[ACCESS_URL_MAX], url2[ACCESS_URL_MAX];
	int64_t exp = access_url_expiry(f->a);

	crypto_random_id(obj);
	assert_int_equal(access_url_sign(f->a, &f->p.g, obj, 0, exp, url1, sizeof(url1)), 0);
	assert_non_null(strstr(url1, "&k=1&"));
	assert_int_equal(fx_set_generation(f, 2), 0);
	assert_int_equal(v_url(f, url1), 0); /* previous kid accepted */
	assert_int_equal(access_url_sign(f->a, &f->p.g, obj, 0, exp, url2, sizeof(url2)), 0);
	assert_non_null(strstr(url2, "&k=2&"));
	assert_int_equal(fx_set_generation(f, 3), 0);
	assert_int_equal(v_url(f, url1), AM_ERR_DENIED); /* the one before: rejected */
	assert_int_equal(v_url(f, url2), 0);
	assert_int_equal(fx_set_generation(f, 1), 0);
	assert_int_equal(v_url(f, url2), AM_ERR_DENIED); /* a future kid is unknown */
	fx_restore_generation(f);
}

static void cookie_roundtrip_and_mutations(void **state)
{
	struct fx *f = *state;
	struct access_grant g = f->p.g, out;
	char name[ACCESS_COOKIE_NAME_MAX], val[ACCESS_COOKIE_MAX], hex[33];
	int64_t now = am_now();

	g.link_gen = 4;
	g.pw_gen = 9;
	assert_int_equal(access_cookie_name(f->p.link, name, sizeof(name)), 0);
	access_hex16(f->p.link, hex);
	assert_int_equal(strncmp(name, "__Host-am-pw-", 13), 0);
	assert_string_equal(name + 13, hex);
	assert_int_equal(access_cookie_name(f->p.link, name, 10), AM_ERR_TOOBIG);
	assert_int_equal(
	    access_cookie_mint(f->a, &g, now + ACCESS_COOKIE_LIFETIME, val, sizeof(val)), 0);
	assert_int_equal(strncmp(val, "v1.1.", 5), 0);
	assert_int_equal(access_cookie_verify(f->a, f->p.link, val, &out), 0);
	assert_memory_equal(out.link_id, f->p.link, 16);
	assert_int_equal(out.link_gen, 4);
	assert_int_equal(out.pw_gen, 9);
	assert_int_equal(access_cookie_check(f->a, &g, val), 0);
	g.pw_gen = 10;
	assert_int_equal(access_cookie_check(f->a, &g, val), AM_ERR_DENIED);
	g.pw_gen = 9;
	g.link_gen = 5;
	assert_int_equal(access_cookie_check(f->a, &g, val), AM_ERR_DENIED);
	assert_int_equal(access_cookie_check(f->a, &g, NULL), AM_ERR_DENIED);
	/* the cookie of one link does not open another */
	uint8_t other[16];
	crypto_random_id(other);
	assert_int_equal(access_cookie_verify(f->a, other, val, &out), AM_ERR_DENIED);
	mutation_matrix(f, val, v_cookie);
	/* minting limits (now again: the matrix above can take seconds under ASan) */
	now = am_now();
	assert_int_equal(access_cookie_mint(f->a, &g, now, val, sizeof(val)), AM_ERR_INVAL);
	assert_int_equal(
	    access_cookie_mint(f->a, &g, now + ACCESS_COOKIE_LIFETIME + 1, val, sizeof(val)),
	    AM_ERR_INVAL);
	assert_int_equal(access_cookie_mint(f->a, &g, now + 60, val, 100), AM_ERR_TOOBIG);
}

static void cookie_expiry_cap_generations(void **state)
{
	struct fx *f = *state;
	char val[ACCESS_COOKIE_MAX], v2[ACCESS_COOKIE_MAX], msg[256], mac[44];
	int64_t now = am_now();
	int ml;

	assert_int_equal(access_cookie_mint(f->a, &f->p.g, now + 50, val, sizeof(val)), 0);
	am_time_set_offset(51);
	assert_int_equal(v_cookie(f, val), AM_ERR_DENIED);
	am_time_set_offset(48); /* not 50: the wall clock may tick once meanwhile */
	assert_int_equal(v_cookie(f, val), 0);
	am_time_set_offset(0);
	/* a MAC'd cookie beyond the 12 h cap */
	char name[ACCESS_COOKIE_NAME_MAX];
	access_cookie_name(f->p.link, name, sizeof(name));
	ml = snprintf(msg, sizeof(msg), "am-pw-cookie-v1\n%s\n1\n%lld\n1\n0", name,
		      (long long)(now + ACCESS_COOKIE_LIFETIME + 100));
	assert_int_equal(access_mac_b64(f->a, CRYPTO_KEY_COOKIE, 1, msg, (size_t)ml, mac), 0);
	snprintf(v2, sizeof(v2), "v1.1.%lld.1.0.%s",
		 (long long)(now + ACCESS_COOKIE_LIFETIME + 100), mac);
	assert_int_equal(v_cookie(f, v2), AM_ERR_DENIED);
	/* a cookie MAC is not a URL MAC (purpose keys differ) */
	assert_int_equal(access_mac_b64(f->a, CRYPTO_KEY_URL_SIGN, 1, msg, (size_t)ml, mac), 0);
	snprintf(v2, sizeof(v2), "v1.1.%lld.1.0.%s", (long long)(now + 100), mac);
	assert_int_equal(v_cookie(f, v2), AM_ERR_DENIED);
	/* generations */
	assert_int_equal(fx_set_generation(f, 2), 0);
	assert_int_equal(v_cookie(f, val), 0);
	assert_int_equal(fx_set_generation(f, 3), 0);
	assert_int_equal(v_cookie(f, val), AM_ERR_DENIED);
	fx_restore_generation(f);
	/* version */
	snprintf(v2, sizeof(v2), "v2%s", val + 2);
	assert_int_equal(v_cookie(f, v2), AM_ERR_DENIED);
}

static void upload_urls(void **state)
{
	struct fx *f = *state;
	struct access_upload u, out;
	char url[ACCESS_URL_MAX];

	memset(&u, 0, sizeof(u));
	crypto_random_id(u.upload_id);
	memcpy(u.account_id, f->account, 16);
	memcpy(u.project_id, f->p.id, 16);
	memcpy(u.version_id, f->p.version, 16);
	u.max_size = 2147483648;
	u.expires = am_now() + 3600;
	assert_int_equal(access_upload_sign(f->a, &u, url, sizeof(url)), 0);
	assert_int_equal(strncmp(url, "/u/", 3), 0);
	assert_int_equal(access_upload_verify(f->a, url, &out), 0);
	assert_memory_equal(&out, &u, sizeof(u));
	mutation_matrix(f, url, v_upload);
	param_matrix(f, url, v_upload);
	/* an upload URL is not a media URL and vice versa */
	assert_int_equal(v_url(f, url), AM_ERR_DENIED);
	url[1] = 'm';
	assert_int_equal(v_url(f, url), AM_ERR_DENIED);
	assert_int_equal(v_upload(f, url), AM_ERR_DENIED);
	/* expiry and cap */
	u.expires = am_now() + 10;
	assert_int_equal(access_upload_sign(f->a, &u, url, sizeof(url)), 0);
	am_time_set_offset(11);
	assert_int_equal(v_upload(f, url), AM_ERR_DENIED);
	am_time_set_offset(0);
	u.expires = am_now() + ACCESS_UPLOAD_CAP + 1;
	assert_int_equal(access_upload_sign(f->a, &u, url, sizeof(url)), AM_ERR_INVAL);
	u.expires = am_now() + 10;
	u.max_size = -1;
	assert_int_equal(access_upload_sign(f->a, &u, url, sizeof(url)), AM_ERR_INVAL);
}

/* access_grant_check and, with an object, the one-read re-check of a
 * running transfer (access_grant_recheck) give the same answer. */
static void grant_both(struct fx *f, const struct access_grant *g, const uint8_t *obj, int d,
		       int want)
{
	assert_int_equal(access_grant_check(f->a, f->db, g, obj, d), want);
	if (obj)
		assert_int_equal(access_grant_recheck(f->a, f->db, g, obj, d), want);
}

static void grant_checks(void **state)
{
	struct fx *f = *state;
	struct fx_project other;
	uint8_t stream[16], orig[16], peaks[16], foreign[16], th[32];
	struct access_grant g = f->p.g;
	int64_t gen;

	assert_int_equal(fx_add_object(f, &f->p, "stream", "abc", 3, "audio/mp4", stream), 0);
	assert_int_equal(fx_add_object(f, &f->p, "original", "RIFFxxxxWAVE", 12, "audio/wav", orig),
			 0);
	assert_int_equal(
	    fx_add_object(f, &f->p, "peaks", "p", 1, "application/octet-stream", peaks), 0);
	assert_int_equal(fx_add_project(f, &other, "Other"), 0);
	assert_int_equal(fx_add_object(f, &other, "stream", "xyz", 3, "audio/mp4", foreign), 0);

	grant_both(f, &g, stream, 0, 0);
	grant_both(f, &g, peaks, 0, 0);
	grant_both(f, &g, orig, 1, 0);
	grant_both(f, &g, NULL, 0, 0);
	/* the original is reachable only as a download, a rendition never as one */
	grant_both(f, &g, orig, 0, AM_ERR_DENIED);
	grant_both(f, &g, stream, 1, AM_ERR_DENIED);
	/* object of another project, and another project's link */
	grant_both(f, &g, foreign, 0, AM_ERR_DENIED);
	struct access_grant mix = g;
	memcpy(mix.link_id, other.link, 16);
	grant_both(f, &mix, stream, 0, AM_ERR_DENIED);
	mix = other.g;
	grant_both(f, &mix, stream, 0, AM_ERR_DENIED);
	/* downloads switched off after issue */
	assert_int_equal(db_project_set_downloads(f->db, f->account, f->p.id, 0), 0);
	grant_both(f, &g, orig, 1, AM_ERR_DENIED);
	grant_both(f, &g, stream, 0, 0);
	assert_int_equal(db_project_set_downloads(f->db, f->account, f->p.id, 1), 0);
	/* password set after issue: pw_gen 0 no longer matches */
	assert_int_equal(
	    db_project_set_password(f->db, f->a->keys, f->account, f->p.id, "$argon2id$p"), 0);
	grant_both(f, &g, stream, 0, AM_ERR_DENIED);
	struct db_project pr;
	assert_int_equal(db_project_get_by_id(f->db, f->a->keys, f->p.id, &pr), 0);
	g.pw_gen = (uint32_t)pr.pw_gen;
	grant_both(f, &g, stream, 0, 0);
	/* regenerated link */
	crypto_random(th, sizeof(th));
	assert_int_equal(db_link_regenerate(f->db, f->p.id, f->p.link, th, &gen), 0);
	grant_both(f, &g, stream, 0, AM_ERR_DENIED);
	g.link_gen = (uint32_t)gen;
	grant_both(f, &g, stream, 0, 0);
	/* revoked link, deleted project */
	assert_int_equal(db_link_revoke(f->db, f->p.id, f->p.link), 0);
	grant_both(f, &g, stream, 0, AM_ERR_DENIED);
	/* owner grants: the session that asked, live, of an open account */
	struct access_grant og;
	uint8_t sh[32], sid[16];
	memset(&og, 0, sizeof(og));
	og.owner = 1;
	memcpy(og.project_id, f->p.id, 16);
	memcpy(og.account_id, f->account, 16);
	crypto_random(sh, sizeof(sh));
	assert_int_equal(
	    db_session_create(f->db, f->a->keys, f->account, sh, am_now_ms() + 60000, NULL, sid),
	    0);
	memcpy(og.session_id, sid, 16);
	grant_both(f, &og, stream, 0, 0);
	assert_int_equal(db_project_set_downloads(f->db, f->account, f->p.id, 0), 0);
	grant_both(f, &og, orig, 1, 0); /* the owner, whatever the flag */
	assert_int_equal(db_project_set_downloads(f->db, f->account, f->p.id, 1), 0);
	grant_both(f, &og, foreign, 0, AM_ERR_DENIED);
	struct access_grant og2 = og; /* another account's live session */
	assert_int_equal(
	    db_account_create(f->db, f->a->keys, "other@example.org", "h", og2.account_id), 0);
	crypto_random(sh, sizeof(sh));
	assert_int_equal(db_session_create(f->db, f->a->keys, og2.account_id, sh,
					   am_now_ms() + 60000, NULL, og2.session_id),
			 0);
	grant_both(f, &og2, stream, 0, AM_ERR_DENIED);
	memcpy(og2.session_id, sid, 16); /* this account's session, another account named */
	grant_both(f, &og2, stream, 0, AM_ERR_DENIED);
	assert_int_equal(db_account_set_disabled(f->db, f->account, 1), 0);
	grant_both(f, &og, stream, 0, AM_ERR_DENIED);
	assert_int_equal(db_account_set_disabled(f->db, f->account, 0), 0);
	grant_both(f, &og, stream, 0, 0);
	assert_int_equal(db_session_delete(f->db, f->account, sid), 0); /* logout */
	grant_both(f, &og, stream, 0, AM_ERR_DENIED);
	assert_int_equal(db_project_shred(f->db, f->account, other.id), 0);
	grant_both(f, &other.g, foreign, 0, AM_ERR_DENIED);
}

/* access_hex16 (issue 25: SSE2 since the fifth pass): every byte value in
 * every position as printf writes it, and back through access_unhex16. */
static void hex16_every_byte(void **state)
{
	uint8_t id[16], back[16];
	char out[33], want[33];

	(void)state;
	for (int b = 0; b < 256; b++) {
		for (int i = 0; i < 16; i++)
			id[i] = (uint8_t)(b + 31 * i);
		for (int i = 0; i < 16; i++)
			snprintf(want + 2 * i, 3, "%02x", id[i]);
		memset(out, 'x', sizeof(out));
		access_hex16(id, out);
		assert_string_equal(out, want);
		assert_int_equal(access_unhex16(out, 32, back), 0);
		assert_memory_equal(back, id, 16);
	}
}

static void parsers(void **state)
{
	uint64_t v;
	uint8_t id[16];

	(void)state;
	assert_int_equal(access_parse_dec("0", 1, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(access_parse_dec("10", 2, 10, &v), 0);
	assert_int_equal(access_parse_dec("11", 2, 10, &v), AM_ERR_INVAL);
	assert_int_equal(access_parse_dec("01", 2, 10, &v), AM_ERR_INVAL);
	assert_int_equal(access_parse_dec("+1", 2, 10, &v), AM_ERR_INVAL);
	assert_int_equal(access_parse_dec("", 0, 10, &v), AM_ERR_INVAL);
	assert_int_equal(access_parse_dec("99999999999999999999", 20, UINT64_MAX, &v),
			 AM_ERR_INVAL);
	assert_int_equal(access_parse_dec("4294967296", 10, UINT32_MAX, &v), AM_ERR_INVAL);
	assert_int_equal(access_unhex16("000102030405060708090a0b0c0d0e0f", 32, id), 0);
	assert_int_equal(id[15], 15);
	assert_int_equal(access_unhex16("000102030405060708090A0b0c0d0e0f", 32, id), AM_ERR_INVAL);
	assert_int_equal(access_unhex16("000102030405060708090a0b0c0d0e0", 31, id), AM_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parsers),
	    cmocka_unit_test(hex16_every_byte),
	    cmocka_unit_test_setup_teardown(url_roundtrip, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(url_mutations, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(url_expiry_and_cap, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(url_nonce, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(url_text_is_the_printf_form, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(url_key_generations, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(cookie_roundtrip_and_mutations, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(cookie_expiry_cap_generations, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(upload_urls, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(grant_checks, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
