/*
 * fuzz/tus_headers.c: libFuzzer target for the tus 1.0 request-header
 * parsers and the upload sniffer of the media role (src/media/media_parse.c)
 * plus the Content-Disposition encoder. Properties: no crash; an accepted
 * offset round-trips through its decimal form; the encoded disposition never
 * contains a control character, a raw quote inside the fallback name or a
 * non-ASCII byte.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[600], again[32], disp[2048];
	const char *ext, *ct;
	int64_t off;

	if (size >= sizeof(buf))
		size = sizeof(buf) - 1;
	memcpy(buf, data, size);
	buf[size] = 0;
	if (media_tus_offset(buf, &off) == 0) {
		snprintf(again, sizeof(again), "%lld", (long long)off);
		if (off < 0 || strcmp(again, buf) != 0)
			abort();
	}
	(void)media_tus_resumable_ok(buf);
	(void)media_tus_content_type_ok(buf);
	(void)media_sniff(data, size, &ext, &ct);
	if (media_disposition(disp, sizeof(disp), size & 1, buf) == 0) {
		const char *q = strchr(disp, '"'), *q2 = q ? strchr(q + 1, '"') : NULL;
		for (const unsigned char *p = (const unsigned char *)disp; *p; p++)
			if (*p < 0x20 || *p >= 0x7f)
				abort();
		if (!q2 || strncmp(q2, "\"; filename*=UTF-8''", strlen("\"; filename*=UTF-8''")) != 0 ||
		    strchr(q2 + strlen("\"; filename*=UTF-8''"), '"'))
			abort();
	}
	return 0;
}
