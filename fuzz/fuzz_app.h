/*
 * fuzz/fuzz_app.h: the test app the credential fuzz targets share (header
 * only: every target is one .c linked with replay_main.c or libFuzzer): a
 * keyring opened from a fixed test key written to a temporary file and
 * removed at once (never a real deployment's key), and the default signed
 * URL lifetime.
 */
#ifndef AM_FUZZ_APP_H
#define AM_FUZZ_APP_H

#include <stdlib.h>
#include <unistd.h>

#include "app/app.h"
#include "crypto/crypto.h"

/* Fill a with the test keyring, once per process; aborts on failure. */
static inline void fuzz_app_init(struct app *a)
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
	if (keyring_open(path, 1, &a->kr, err, sizeof(err)) != 0)
		abort();
	unlink(path);
	a->conf.signed_url_lifetime = 1800;
}

#endif
