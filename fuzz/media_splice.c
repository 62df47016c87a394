/*
 * fuzz/media_splice.c: libFuzzer target for the segment-variant splice
 * (src/media/media_splice.c), which maps a client's byte range through a
 * splice map. The input is the range, a capacity and the map itself
 * (span lengths, slots; the map is not always a checked one). Properties:
 * no crash or out-of-bounds read; an answer is pieces in order from start,
 * each non-empty, inside [start, end), neighbours of different renditions;
 * for a map media_splice_check accepts, the range is covered unless the
 * capacity ran out.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_splice.h"
#include "util/util.h"

#define SPANS 64

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t cut[SPANS + 1], start, end, off = 0, next = 0, at;
	uint16_t slot[SPANS];
	uint8_t bits[MEDIA_SPLICE_SLOTS];
	struct media_splice_piece out[8];
	struct media_splice_map m = {.cut = cut, .slot = slot};
	size_t cap, n = 0;
	int k, checked;

	if (size < 18)
		return 0;
	start = rd64(data);
	end = rd64(data + 8);
	cap = 1 + data[16] % 8;
	off = data[17] & 0x80 ? rd64(data) % 100 : 5; /* head; 0x80: cuts as given */
	for (size_t i = 0; i < MEDIA_SPLICE_SLOTS; i++)
		bits[i] = (uint8_t)((i * 37 + data[17]) >> 3 & 1);
	for (size_t i = 18; i + 2 < size && n < SPANS; i += 3, n++) {
		cut[n] = data[17] & 0x40 ? data[i] : off;
		off += data[i];
		slot[n] = (uint16_t)(data[i + 1] | data[i + 2] << 8);
		if (!(data[17] & 0x20))
			slot[n] = slot[n] % MEDIA_SPLICE_SLOTS;
	}
	cut[n] = off;
	m.n = n;
	m.size = off + (data[17] & 7);
	if (data[17] & 0x10) { /* a range inside the object */
		start %= m.size + 1;
		end = start + end % (m.size + 1 - start);
	}
	checked = media_splice_check(&m) == 0;
	k = media_splice_range(&m, bits, start, end, out, cap, &next);
	if (k < 0) {
		if (k != AM_ERR_INVAL || (checked && start <= end && end <= m.size))
			abort();
		return 0;
	}
	if ((size_t)k > cap || next > end || next < start ||
	    (checked && next < end && (size_t)k < cap))
		abort();
	at = start;
	for (int i = 0; i < k; i++) {
		if (out[i].off != at || out[i].len == 0 || out[i].len > end - at ||
		    (out[i].src != 0 && out[i].src != 1) || (i > 0 && out[i].src == out[i - 1].src))
			abort();
		at += out[i].len;
	}
	if (at != next)
		abort();
	return 0;
}
