/*
 * fuzz/tus_headers.c: libFuzzer target for the tus 1.0 request-header
 * parsers of the media role (src/media/media_parse.c), the upload sniffer
 * (src/upload/upload_sniff.c, with xcode_sniff and the refusal reasons of
 * xcode_sniff_other) and the Content-Disposition encoder.
 * Properties: no crash; an accepted offset round-trips through its decimal
 * form; the encoded disposition never contains a control character, a raw
 * quote inside the fallback name or a non-ASCII byte. "OFFSET CLEN
 * [LENGTH]" (an Upload-Offset, a Content-Length and an upload's length, as
 * media_upload.c gets them) goes through the PATCH bounds check, which must
 * agree with exact arithmetic and never overflow (the ASan+UBSan replay
 * traps a signed overflow).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_int.h"
#include "upload/upload.h"
#include "util/util.h"

/* "OFFSET CLEN [LENGTH]": parsed as the media role parses them. */
static void patch_bounds(const char *buf)
{
	char f[3][32] = {{0}};
	int64_t off, clen, len = 1000;
	size_t i = 0;

	for (const char *p = buf; *p && i < 3; i++) {
		size_t n = strcspn(p, " ");
		if (n >= sizeof(f[i]))
			return;
		memcpy(f[i], p, n);
		p += n;
		p += *p == ' ';
	}
	if (i < 2 || media_tus_offset(f[0], &off) || am_parse_i64(f[1], 0, INT64_MAX, &clen) ||
	    (i == 3 && am_parse_i64(f[2], 0, INT64_MAX, &len)))
		return;
	if (media_tus_patch_fits(off, clen, len) != ((__int128)off + clen <= (__int128)len))
		abort();
}

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
	patch_bounds(buf);
	(void)media_tus_resumable_ok(buf);
	(void)media_tus_content_type_ok(buf);
	if (upload_sniff(data, size, &ext, &ct) != 0) {
		/* the refusal's reason goes into a header and the database:
		 * always NUL-terminated printable ASCII, whatever the bytes */
		char why[UPLOAD_WHY_MAX];
		upload_refusal(data, size, why, sizeof(why));
		for (const unsigned char *p = (const unsigned char *)why; *p; p++)
			if (*p < 0x20 || *p >= 0x7f)
				abort();
	}
	if (media_disposition(disp, sizeof(disp), size & 1, buf) == 0) {
		const char *q = strchr(disp, '"'), *q2 = q ? strchr(q + 1, '"') : NULL;
		for (const unsigned char *p = (const unsigned char *)disp; *p; p++)
			if (*p < 0x20 || *p >= 0x7f)
				abort();
		if (!q2 ||
		    strncmp(q2, "\"; filename*=UTF-8''", strlen("\"; filename*=UTF-8''")) != 0 ||
		    strchr(q2 + strlen("\"; filename*=UTF-8''"), '"'))
			abort();
	}
	return 0;
}
