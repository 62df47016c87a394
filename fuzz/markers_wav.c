/*
 * fuzz/markers_wav.c: libFuzzer target for the marked WAV's header scan
 * (src/markers/markers_wav.c), which reads the head of an uploaded original
 * (untrusted). Properties: no crash or out-of-bounds read; an accepted head
 * places the audio inside the file and the head (data_off <= n, data_off +
 * data_len <= file size, frames * block align <= data_len); the patched
 * head and the chunks are then written without error or are refused as
 * too big.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "markers/markers.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct markers_comment c[2] = {
	    {.time_ms = 0, .end_ms = 5000, .author = "A", .text = "x"},
	    {.time_ms = 1 << 30, .end_ms = -1, .text = "\xFF\xFE"},
	};
	struct markers_wav w;
	struct markers_opts o = {.flags = MARKERS_RESOLVED};
	struct am_buf head, tail;
	uint64_t file_size = size + (size ? data[0] : 0) * 1000003ull;
	int rc;

	if (markers_wav_scan(data, size, file_size, &w) != 0)
		return 0;
	if (w.data_off > size || w.data_off + w.data_len > file_size ||
	    w.frames * w.block_align > w.data_len || w.sample_rate == 0)
		abort();
	o.sample_rate = w.sample_rate;
	o.frames = w.frames;
	am_buf_init(&head, 1 << 24);
	am_buf_init(&tail, 1 << 20);
	if (markers_wav_chunks(&w, &o, c, 2, &tail) != 0)
		abort();
	rc = markers_wav_head(data, &w, tail.len, &head);
	if (rc != 0 && rc != AM_ERR_TOOBIG)
		abort();
	if (rc == 0 && head.len != w.data_off)
		abort();
	am_buf_cleanup(&head);
	am_buf_cleanup(&tail);
	return 0;
}
