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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct app app;

static void init_once(void)
{
	static int done;
	char path[] = "/tmp/am-fuzz-key-XXXXXX", err[256];
	int fd;

	if (done)
		return;
	done = 1;
	fd = mkstemp(path);
	if (fd < 0 || write(fd, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 65) != 65)
		abort();
	close(fd);
	if (keyring_open(path, 1, &app.kr, err, sizeof(err)) != 0)
		abort();
	unlink(path);
	app.conf.signed_url_lifetime = 1800;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[ACCESS_URL_MAX + 64], again[ACCESS_URL_MAX];
	struct access_export x, y;
	struct access_grant g;
	uint8_t obj[16];
	int d;
	int64_t e;

	init_once();
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
