/*
 * key_unwrap.c: libFuzzer target for every path that opens a stored key or
 * sealed value from the database: project-key and data-key unwrap, the IP
 * ratchet state blob, field decryption and the strict base64url decoder.
 * Input: selector byte ‖ payload. Keys are fixed (the seeds in
 * fuzz/corpus/key_unwrap/ are valid under them; made by
 * tests/unit/crypto/gen_fuzz_seeds.py). All inputs are untrusted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_int.h"

static struct keyring *kr;

static void setup(void)
{
	uint8_t mk[32];

	for (int i = 0; i < 32; i++)
		mk[i] = (uint8_t)(0x20 + i);
	if (!kr && keyring_from_key(mk, 1, &kr) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t proj[16] = {0x11}, file[16] = {0x22}, row[16] = {0x33};
	uint8_t key[32], pk[32], dec[256];
	struct am_buf out;
	size_t n;

	if (size < 1)
		return 0;
	setup();
	for (int i = 0; i < 32; i++)
		pk[i] = (uint8_t)(0x40 + i);
	am_buf_init(&out, 1 << 16);
	switch (data[0] % 5) {
	case 0: (void)crypto_pk_unwrap(kr, proj, data + 1, size - 1, key); break;
	case 1: (void)crypto_dek_unwrap(pk, file, proj, data + 1, size - 1, key); break;
	case 2: (void)keyring_ip_load(kr, data + 1, size - 1); break;
	case 3:
		if (crypto_field_open_key(pk, "t", "c", row, proj, data + 1, size - 1, &out) == 0 &&
		    out.len + CRYPTO_FIELD_OVERHEAD != size - 1)
			abort();
		break;
	case 4:
		if (crypto_b64url_decode((const char *)data + 1, size - 1, dec, sizeof(dec), &n) ==
		    0) {
			char enc[400];
			/* Canonical: re-encoding gives the input back. */
			if (crypto_b64url_encode(dec, n, enc, sizeof(enc)) != 0 ||
			    strlen(enc) != size - 1 || memcmp(enc, data + 1, size - 1) != 0)
				abort();
		}
		break;
	}
	am_buf_cleanup(&out);
	return 0;
}
