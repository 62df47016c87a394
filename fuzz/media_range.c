/*
 * fuzz/media_range.c: libFuzzer target for the media role's Range and
 * If-Range parsers (src/media/media_parse.c), which read untrusted header
 * values. Properties: no crash or out-of-bounds read; an accepted range is
 * inside the object (first <= last < size); "unsatisfiable" only when the
 * object cannot serve any byte of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_int.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[256];
	uint64_t sizes[4] = {0, 1, 65536, 0}, first, last;

	if (size < 8)
		return 0;
	memcpy(&sizes[3], data, 8);
	data += 8;
	size -= 8;
	if (size >= sizeof(buf))
		size = sizeof(buf) - 1;
	memcpy(buf, data, size);
	buf[size] = 0;
	for (int i = 0; i < 4; i++) {
		int rc = media_range_parse(buf, sizes[i], &first, &last);
		if (rc == 0 && (first > last || last >= sizes[i]))
			abort();
		if (rc != 0 && rc != AM_ERR_RANGE && rc != AM_ERR_INVAL)
			abort();
	}
	(void)media_if_range_ok(buf, "\"0123\"");
	return 0;
}
