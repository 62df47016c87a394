/*
 * test_pcm.c: the child's decode-to-PCM modes (child_wav.c, issue 24's
 * marked WAV of a non-WAV original): PCM_COUNT counts what PCM sends; the
 * bytes are those of `ffmpeg -f s16le|s24le` of the same file (the
 * decoder's own format); a truncated or cut original ends as a clean
 * failure of the job with its reason, never a crash or a short success.
 * Test code only.
 */
#include "xcode_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One FLAC in PCM and PCM_COUNT mode against ffmpeg's decode of it. */
static void one(const char *dir, const char *name, const char *enc, const char *fmt, int bits)
{
	struct xcode_params p = {.output = XCODE_OUT_PCM};
	char path[512], raw[512];
	struct am_buf in, want;
	struct xct_out o, c;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(raw, sizeof(raw), "%s/%s.raw", dir, name);
	assert_int_equal(xct_sh("ffmpeg -v error -y -f lavfi -i sine=f=440:d=1.3:r=44100 -ac 2 %s "
				"'%s' && ffmpeg -v error -y -i '%s' -f %s '%s'",
				enc, path, path, fmt, raw),
			 0);
	assert_int_equal(xct_read_file(path, &in, 1 << 24), 0);
	assert_int_equal(xct_read_file(raw, &want, 1 << 24), 0);
	if (xct_run_buf(&in, &p, &o) != 0)
		fail_msg("%s: %s (%s)", name, o.res.reason, o.res.detail);
	assert_string_equal(o.res.codec, fmt);
	assert_int_equal(o.res.bit_depth, bits);
	assert_int_equal(o.res.channels, 2);
	n = o.stream.buf.len - XCODE_STREAM_HEAD; /* the test sink puts the body after a head */
	assert_int_equal(n, want.len);
	assert_int_equal(n, o.res.samples * 2 * (uint64_t)(bits / 8));
	assert_memory_equal(o.stream.buf.p + XCODE_STREAM_HEAD, want.p, n);
	assert_int_equal(o.peaks.buf.len, 0);
	p.output = XCODE_OUT_PCM_COUNT;
	assert_int_equal(xct_run_buf(&in, &p, &c), 0);
	assert_true(c.res.samples == o.res.samples);
	assert_string_equal(c.res.codec, fmt);
	assert_int_equal(c.stream.buf.len, 0);
	/* Cut at 60 %: a clean refusal with the reason, in both modes. */
	in.len = in.len * 6 / 10;
	xct_out_cleanup(&c);
	assert_int_not_equal(xct_run_buf(&in, &p, &c), 0);
	assert_true(c.res.fail == XCODE_FAIL_TRUNCATED || c.res.fail == XCODE_FAIL_DAMAGED);
	assert_true(strcmp(c.res.reason, "file is truncated") == 0 ||
		    strcmp(c.res.reason, "file is damaged") == 0);
	xct_out_cleanup(&c);
	xct_out_cleanup(&o);
	p.output = XCODE_OUT_PCM;
	in.len = 100; /* only the header */
	assert_int_not_equal(xct_run_buf(&in, &p, &o), 0);
	assert_true(o.res.fail != XCODE_OK && o.res.fail != XCODE_FAIL_SANDBOX);
	xct_out_cleanup(&o);
	am_buf_cleanup(&in);
	am_buf_cleanup(&want);
}

static void test_pcm_modes(void **state)
{
	char dir[256];

	assert_int_equal(xct_tmpdir(dir, sizeof(dir)), 0);
	one(dir, "a16.flac", "-c:a flac", "s16le", 16);
	one(dir, "a24.flac", "-af aformat=sample_fmts=s32 -c:a flac -bits_per_raw_sample 24",
	    "s24le", 24);
	xct_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pcm_modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
