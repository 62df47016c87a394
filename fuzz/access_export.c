/*
 * fuzz/access_export.c: libFuzzer target for the signed export URL parser
 * of the media role (access_export_verify, src/access/access_export.c):
 * /m/export/ACCOUNT?x=SESSION&e=EXPIRY&k=KID&s=MAC from the request target.
 * Properties: no crash or out-of-bounds read; anything that verifies
 * re-signs to exactly the same string (one accepted encoding); a URL minted
 * from fuzzer-chosen ids verifies back to them; no media URL verifies as an
 * export URL. The key is a fixed test key in a temporary file.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct app app;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[ACCESS_URL_MAX + 64], again[ACCESS_URL_MAX];
	struct access_export x, y;
	struct access_grant g;
	uint8_t obj[16];
	int d;
	int64_t e;

	fuzz_app_init(&app);
	if (size >= sizeof(buf))
		size = sizeof(buf) - 1;
	memcpy(buf, data, size);
	buf[size] = 0;
	if (access_export_verify(&app, buf, &x) == 0) {
		if (access_export_sign(&app, &x, again, sizeof(again)) || strcmp(again, buf))
			abort();
		if (access_url_verify(&app, buf, &g, obj, &d, &e) == 0)
			abort();
	}
	if (size >= 33) {
		/* at least a minute ahead, so a second boundary cannot expire it */
		memset(&x, 0, sizeof(x));
		memcpy(x.account_id, data, 16);
		memcpy(x.session_id, data + 16, 16);
		x.expires = am_now() + 60 + data[32] % 120 * 10;
		if (access_export_sign(&app, &x, again, sizeof(again)) ||
		    access_export_verify(&app, again, &y) || memcmp(&x, &y, sizeof(x)))
			abort();
	}
	return 0;
}
