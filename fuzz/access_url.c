/*
 * fuzz/access_url.c: libFuzzer target for the credential parsers of
 * src/access (signed media URLs, upload URLs, password cookies). Properties:
 * no input crashes or reads out of bounds; anything that verifies re-signs
 * (with the nonce it carries) to exactly the same string (one accepted
 * encoding); a credential minted from
 * fuzzer-chosen fields always verifies back to those fields. The key is a
 * fixed test key in a temporary file (never a real deployment's key).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/access.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "fuzz_app.h"

static struct app app;

static void parse_untrusted(const char *s, const uint8_t link[16])
{
	struct access_grant g, g2;
	struct access_upload u;
	uint8_t obj[16];
	char again[ACCESS_URL_MAX];
	int d = 0;
	int64_t e = 0;

	if (access_url_verify(&app, s, &g, obj, &d, &e) == 0) {
		/* re-signed with the nonce it carries, it is the same string */
		const char *r = strstr(s, "&r=");
		uint8_t nonce[ACCESS_URL_NONCE_LEN];

		if (!r || access_unhex16(r + 3, 32, nonce) ||
		    access_url_sign_nonce(&app, &g, obj, d, e, nonce, again, sizeof(again)) <= 0 ||
		    strcmp(again, s))
			abort();
	}
	if (access_upload_verify(&app, s, &u) == 0) {
		if (access_upload_sign(&app, &u, again, sizeof(again)) || strcmp(again, s))
			abort();
	}
	if (access_cookie_verify(&app, link, s, &g2) == 0 && access_cookie_check(&app, &g2, s) != 0)
		abort();
}

static void roundtrip(const uint8_t *data)
{
	struct access_grant g, out;
	struct access_upload u, uo;
	uint8_t obj[16], got[16];
	char url[ACCESS_URL_MAX], ck[ACCESS_COOKIE_MAX];
	/* at least a minute ahead: with now + 1 a second boundary between sign and
	 * verify made the valid credential "expired" (a false crash on a slow box) */
	int64_t now = am_now(), exp = now + 60 + data[40] * 80, e;
	int d;

	memset(&g, 0, sizeof(g));
	memcpy(g.project_id, data, 16);
	if (data[41] & 2) { /* the owner form */
		g.owner = 1;
		memcpy(g.account_id, data + 16, 16);
		memcpy(g.session_id, data + 24, 16);
	} else {
		memcpy(g.link_id, data + 16, 16);
		memcpy(&g.link_gen, data + 32, 4);
		memcpy(&g.pw_gen, data + 36, 4);
	}
	memcpy(obj, data + 8, 16);
	if (access_url_sign(&app, &g, obj, data[41] & 1, exp, url, sizeof(url)) ||
	    access_url_verify(&app, url, &out, got, &d, &e) || memcmp(&out, &g, sizeof(g)) ||
	    memcmp(got, obj, 16) || d != (data[41] & 1) || e != exp)
		abort();
	if (access_cookie_mint(&app, &g, exp, ck, sizeof(ck)) || access_cookie_check(&app, &g, ck))
		abort();
	memset(&u, 0, sizeof(u));
	memcpy(u.upload_id, data + 4, 16);
	memcpy(u.account_id, data + 12, 16);
	memcpy(u.project_id, data, 16);
	memcpy(u.version_id, data + 20, 16);
	u.max_size = data[42] * 1000003;
	u.expires = exp;
	if (access_upload_sign(&app, &u, url, sizeof(url)) ||
	    access_upload_verify(&app, url, &uo) || memcmp(&u, &uo, sizeof(u)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[ACCESS_URL_MAX + 64];
	uint8_t link[16] = {0};

	fuzz_app_init(&app);
	if (size >= sizeof(buf))
		size = sizeof(buf) - 1;
	memcpy(buf, data, size);
	buf[size] = 0;
	parse_untrusted(buf, link);
	if (size >= 43)
		roundtrip(data);
	return 0;
}
