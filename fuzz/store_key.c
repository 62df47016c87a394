/*
 * fuzz/store_key.c: libFuzzer target for the object-store key grammar
 * (store_key_valid, store_prefix validation through store_list's rules, and
 * store_key_format). Keys are server-generated, so this guards the last line
 * of defence: whatever the validator accepts must be a path that stays inside
 * its fan-out directory. Aborts on any accepted key that could escape.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static void check_accepted(const char *k)
{
	size_t n = strlen(k), slashes = 0;

	if (n < 34 || n > STORE_KEY_LEN_MAX || k[0] == '/' || k[0] == '.' || strstr(k, ".."))
		abort();
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];
		if (c == '/')
			slashes++;
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'))
			abort();
	}
	if (slashes != 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[128], out[STORE_KEY_MAX];
	uint8_t id[16] = {0};

	if (size >= sizeof(buf))
		size = sizeof(buf) - 1;
	memcpy(buf, data, size);
	buf[size] = 0;
	if (store_key_valid(buf))
		check_accepted(buf);
	/* a namespace and an extension taken from the input must never format
	 * into something invalid */
	memcpy(id, data, size < sizeof(id) ? size : sizeof(id));
	if (store_key_format(out, sizeof(out), buf, id, size > 4 ? buf + size - 4 : NULL) == 0 &&
	    !store_key_valid(out))
		abort();
	return 0;
}
