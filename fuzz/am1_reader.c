/*
 * am1_reader.c: libFuzzer target for the AM1 reader (header, size arithmetic,
 * segment authentication, range reads). Input: u32be first ‖ u32be length ‖
 * an AM1 object, opened under the fixed DEK and file id that the seeds in
 * fuzz/corpus/am1_reader/ were made with (tests/unit/crypto/gen_fuzz_seeds.py).
 * The reader faces untrusted store bytes: it must never crash, leak or
 * return plaintext from a segment whose tag failed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_int.h"

struct fsrc {
	const uint8_t *p;
	size_t n;
};

static int fread_at(void *ctx, uint64_t off, void *p, size_t n)
{
	struct fsrc *s = ctx;

	if (off > s->n || n > s->n - off)
		return AM_ERR_IO;
	memcpy(p, s->p + off, n);
	return 0;
}

static int emit_count(void *ctx, const void *p, size_t n)
{
	*(size_t *)ctx += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t fid[16] = {0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
					0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f};
	uint8_t dek[32], *buf = NULL;
	struct fsrc fs;
	struct am1_source src;
	struct am1_reader *r = NULL;
	uint64_t plain, first, len;
	size_t got = 0, emitted = 0;

	if (size < 8)
		return 0;
	for (int i = 0; i < 32; i++)
		dek[i] = (uint8_t)i;
	first =
	    (uint64_t)data[0] << 24 | (uint64_t)data[1] << 16 | (uint64_t)data[2] << 8 | data[3];
	len = (uint64_t)data[4] << 24 | (uint64_t)data[5] << 16 | (uint64_t)data[6] << 8 | data[7];
	fs.p = data + 8;
	fs.n = size - 8;
	src.read_at = fread_at;
	src.size = fs.n;
	src.ctx = &fs;
	if (am1_plain_size(fs.n, &plain) != 0)
		return 0;
	/* A wrong plaintext size must be refused at open. */
	if (am1_reader_open(dek, fid, &src, plain + 1, &r) == 0)
		abort();
	if (am1_reader_open(dek, fid, &src, plain, &r) != 0)
		return 0;
	if (len > 3 * AM1_SEGMENT)
		len = 3 * AM1_SEGMENT;
	if (plain > 0) {
		first %= plain;
		buf = malloc(len + 1);
		if (buf && am1_reader_pread(r, first, buf, len, &got) == 0 &&
		    got != (len < plain - first ? len : plain - first))
			abort();
		if (len > 0) {
			uint64_t last = first + len - 1 < plain ? first + len - 1 : plain - 1;
			int rc = am1_reader_range(r, first, last, emit_count, &emitted);
			if (rc == 0 && emitted != last - first + 1)
				abort();
			if (rc != 0 && rc != AM_ERR_CRYPTO)
				abort();
		}
	}
	free(buf);
	am1_reader_free(r);
	return 0;
}
