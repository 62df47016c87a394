/*
 * access.c: mint and verify the signed credentials of access.h: password
 * cookies, media URLs and upload URLs. Runs in the web role (minting, cookie
 * checks) and the media role (verification), on untrusted input: every
 * parser here accepts exactly one encoding of a credential and every
 * verification failure is the same AM_ERR_DENIED. Keys stay in the keyring;
 * this file only borrows them for one HMAC.
 */
#include "access/access.h"

#include <stdio.h>
#include <string.h>

#include "access/access_int.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "util/util.h"

#define MAC_B64_LEN 43 /* base64url of 32 bytes, no padding */

#if defined(__SSE2__)
#include <emmintrin.h>

/* Sixteen bytes to 32 lowercase hex digits with SSE2 (every x86-64 CPU has
 * it): the high and low nibbles interleaved, then '0' + n, plus 39 where
 * n > 9. No table, no branch; about 20 instructions where the byte-pair
 * table took 180 (issue 25, fifth pass: about 640 ids per review answer). */
void access_hex16(const uint8_t id[16], char out[33])
{
	const __m128i lo4 = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9);
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)id);
	__m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), lo4), lo = _mm_and_si128(v, lo4);
	__m128i a = _mm_unpacklo_epi8(hi, lo), b = _mm_unpackhi_epi8(hi, lo);

	a = _mm_add_epi8(_mm_add_epi8(a, _mm_set1_epi8('0')),
			 _mm_and_si128(_mm_cmpgt_epi8(a, nine), _mm_set1_epi8(39)));
	b = _mm_add_epi8(_mm_add_epi8(b, _mm_set1_epi8('0')),
			 _mm_and_si128(_mm_cmpgt_epi8(b, nine), _mm_set1_epi8(39)));
	_mm_storeu_si128((__m128i *)(void *)out, a);
	_mm_storeu_si128((__m128i *)(void *)(out + 16), b);
	out[32] = 0;
}
#else
/* A nibble's lowercase hex digit without a branch or a table. */
static char hex_digit(unsigned n)
{
	return (char)('0' + n + (((9u - n) >> 8) & 39u));
}

void access_hex16(const uint8_t id[16], char out[33])
{
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex_digit(id[i] >> 4);
		out[2 * i + 1] = hex_digit(id[i] & 15u);
	}
	out[32] = 0;
}
#endif

int access_unhex16(const char *s, size_t n, uint8_t out[16])
{
	if (n != 32)
		return AM_ERR_INVAL;
	for (int i = 0; i < 16; i++) {
		int h = am_hexval(s[2 * i], AM_HEX_LOWER),
		    l = am_hexval(s[2 * i + 1], AM_HEX_LOWER);
		if (h < 0 || l < 0)
			return AM_ERR_INVAL;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

int access_parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	/* Canonical only: "0" or no leading zero; at most 19 digits. */
	if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
		return AM_ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return AM_ERR_INVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return AM_ERR_INVAL;
	*out = v;
	return 0;
}

int access_parse_target(const char *t, const char *prefix, uint8_t id[16], const char *const *keys,
			size_t nkeys, struct access_span *vals)
{
	size_t pl = strlen(prefix);
	const char *p;

	if (!t || strncmp(t, prefix, pl) != 0)
		return AM_ERR_INVAL;
	p = t + pl;
	if (strnlen(p, 33) < 33 || access_unhex16(p, 32, id) || p[32] != '?')
		return AM_ERR_INVAL;
	p += 33;
	for (size_t i = 0; i < nkeys; i++) {
		size_t kl = strlen(keys[i]), vl;

		if (strncmp(p, keys[i], kl) != 0 || p[kl] != '=')
			return AM_ERR_INVAL;
		p += kl + 1;
		vl = strcspn(p, "&");
		if (vl == 0)
			return AM_ERR_INVAL;
		vals[i].p = p;
		vals[i].n = vl;
		p += vl;
		if (i + 1 < nkeys) {
			if (*p != '&')
				return AM_ERR_INVAL;
			p++;
		}
	}
	return *p == 0 ? 0 : AM_ERR_INVAL;
}

int access_mac(struct app *a, enum crypto_purpose purpose, uint32_t kid, const char *msg, size_t n,
	       uint8_t mac[32])
{
	int rc = crypto_mac(a->kr, purpose, kid, NULL, msg, n, mac);

	return rc == 0 || rc == AM_ERR_DENIED ? rc : AM_ERR_CRYPTO;
}

int access_mac_check(struct app *a, enum crypto_purpose purpose, uint32_t kid, const char *msg,
		     size_t n, const char *b64, size_t b64n)
{
	uint8_t got[32];
	size_t gl = 0;
	int rc = AM_ERR_DENIED;

	if (b64n != MAC_B64_LEN || crypto_b64url_decode(b64, b64n, got, sizeof(got), &gl) ||
	    gl != sizeof(got))
		goto out;
	if (crypto_mac_verify(a->kr, purpose, kid, NULL, msg, n, got, sizeof(got)) == 0)
		rc = 0;
out:
	am_memzero(got, sizeof(got));
	return rc;
}

int access_mac_b64(struct app *a, enum crypto_purpose purpose, uint32_t kid, const char *msg,
		   size_t n, char out[MAC_B64_LEN + 1])
{
	uint8_t mac[32];
	int rc = access_mac(a, purpose, kid, msg, n, mac);

	if (rc == 0)
		rc = crypto_b64url_encode(mac, sizeof(mac), out, MAC_B64_LEN + 1);
	am_memzero(mac, sizeof(mac));
	return rc;
}

/* ---- password cookie --------------------------------------------------------- */

int access_cookie_name(const uint8_t link_id[16], char *out, size_t n)
{
	char hex[33];

	if (n < ACCESS_COOKIE_NAME_MAX)
		return AM_ERR_TOOBIG;
	access_hex16(link_id, hex);
	snprintf(out, n, "%s%s", ACCESS_COOKIE_PREFIX, hex);
	return 0;
}

/* The MAC'd text of a cookie: domain label, name and every field. */
static int cookie_msg(const uint8_t link_id[16], uint32_t kid, int64_t expires, uint32_t link_gen,
		      uint32_t pw_gen, char *msg, size_t n)
{
	char name[ACCESS_COOKIE_NAME_MAX];
	int w;

	access_cookie_name(link_id, name, sizeof(name));
	w = snprintf(msg, n, "am-pw-cookie-v1\n%s\n%u\n%lld\n%u\n%u", name, (unsigned)kid,
		     (long long)expires, (unsigned)link_gen, (unsigned)pw_gen);
	return w > 0 && (size_t)w < n ? w : AM_ERR_TOOBIG;
}

int access_cookie_mint(struct app *a, const struct access_grant *g, int64_t expires, char *out,
		       size_t n)
{
	uint32_t kid = keyring_generation(a->kr);
	char msg[256], mac[MAC_B64_LEN + 1];
	int64_t now = am_now();
	int ml, rc;

	if (n < ACCESS_COOKIE_MAX)
		return AM_ERR_TOOBIG;
	if (expires <= now || expires > now + ACCESS_COOKIE_LIFETIME)
		return AM_ERR_INVAL;
	if ((ml = cookie_msg(g->link_id, kid, expires, g->link_gen, g->pw_gen, msg, sizeof(msg))) <
	    0)
		return ml;
	if ((rc = access_mac_b64(a, CRYPTO_KEY_COOKIE, kid, msg, (size_t)ml, mac)) != 0)
		return rc;
	snprintf(out, n, "v1.%u.%lld.%u.%u.%s", (unsigned)kid, (long long)expires,
		 (unsigned)g->link_gen, (unsigned)g->pw_gen, mac);
	return 0;
}

/* Split "v1.KID.EXP.LG.PG.MAC" into its six dot-separated fields. */
static int cookie_split(const char *v, struct access_span f[6])
{
	const char *p = v;

	for (int i = 0; i < 6; i++) {
		size_t l = strcspn(p, ".");
		if (l == 0 || (i < 5 && p[l] != '.') || (i == 5 && p[l] != 0))
			return AM_ERR_INVAL;
		f[i].p = p;
		f[i].n = l;
		p += l + (i < 5);
	}
	return 0;
}

int access_cookie_verify(struct app *a, const uint8_t link_id[16], const char *value,
			 struct access_grant *out)
{
	struct access_span f[6];
	uint64_t kid, exp, lg, pg;
	int64_t now = am_now();
	char msg[256];
	int ml;

	if (!value || strnlen(value, ACCESS_COOKIE_MAX) >= ACCESS_COOKIE_MAX ||
	    cookie_split(value, f) || f[0].n != 2 || memcmp(f[0].p, "v1", 2) != 0 ||
	    access_parse_dec(f[1].p, f[1].n, UINT32_MAX, &kid) ||
	    access_parse_dec(f[2].p, f[2].n, INT64_MAX, &exp) ||
	    access_parse_dec(f[3].p, f[3].n, UINT32_MAX, &lg) ||
	    access_parse_dec(f[4].p, f[4].n, UINT32_MAX, &pg))
		return AM_ERR_DENIED;
	ml = cookie_msg(link_id, (uint32_t)kid, (int64_t)exp, (uint32_t)lg, (uint32_t)pg, msg,
			sizeof(msg));
	if (ml < 0 ||
	    access_mac_check(a, CRYPTO_KEY_COOKIE, (uint32_t)kid, msg, (size_t)ml, f[5].p, f[5].n))
		return AM_ERR_DENIED;
	if ((int64_t)exp < now || (int64_t)exp > now + ACCESS_COOKIE_LIFETIME)
		return AM_ERR_DENIED;
	memset(out->project_id, 0, sizeof(out->project_id));
	memcpy(out->link_id, link_id, sizeof(out->link_id));
	out->link_gen = (uint32_t)lg;
	out->pw_gen = (uint32_t)pg;
	return 0;
}

int access_cookie_check(struct app *a, const struct access_grant *g, const char *cookie_value)
{
	struct access_grant c;

	if (!cookie_value || access_cookie_verify(a, g->link_id, cookie_value, &c) ||
	    c.link_gen != g->link_gen || c.pw_gen != g->pw_gen)
		return AM_ERR_DENIED;
	return 0;
}
