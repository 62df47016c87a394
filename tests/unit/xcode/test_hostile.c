/*
 * test_hostile.c: the transcoder against hostile input and a misbehaving
 * child. Every file of tests/fixtures/hostile/ (made by make-hostile.sh)
 * must end with exactly the outcome listed in its EXPECTED file, as a clean
 * failure of the job, never a crash or hang of this (parent) process (what
 * the loaded seccomp filter allows and kills, call by call, is
 * test_seccomp.c); a child that calls open() after sandboxing is killed
 * (SIGSYS, "sandbox violation"); a hung child is killed at the deadline; a
 * child that floods output hits the cap; sniffing picks one demuxer.
 * Test code only.
 */
#include "xcode_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS "tests/fixtures/hostile"

static void test_corpus(void **state)
{
	FILE *f = fopen(CORPUS "/EXPECTED", "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t'), path[600], *want;
		struct xct_out o;
		int rc;

		assert_non_null(tab);
		*tab = '\0';
		want = tab + 1;
		want[strcspn(want, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s/%s", CORPUS, line);
		rc = xct_run_file(path, NULL, &o);
		assert_true(rc != -100);
		if (!strcmp(want, "ok")) {
			/* Repaired by FFmpeg: no more than the 1 s of audio the seed holds. */
			if (rc != 0 || o.res.duration_ms > 1100)
				fail_msg("%s: %s, %lld ms", line, o.res.reason,
					 (long long)o.res.duration_ms);
		} else if (rc == 0 || strcmp(o.res.reason, want) != 0) {
			fail_msg("%s: want \"%s\", got \"%s\" (%s)", line, want,
				 rc ? o.res.reason : "ok", o.res.detail);
		}
		xct_out_cleanup(&o);
		n++;
	}
	fclose(f);
	assert_true(n >= 30);
}

static void make_wav(struct am_buf *b)
{
	char dir[256], path[300];

	assert_int_equal(xct_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/in.wav", dir);
	assert_int_equal(xct_sh("ffmpeg -v error -y -f lavfi -i sine=f=440:d=1:r=8000 '%s'", path),
			 0);
	assert_int_equal(xct_read_file(path, b, 1 << 20), 0);
	xct_rmdir(dir);
}

static void test_hook_open_killed(void **state)
{
	struct xcode_params p = {.hook = XCODE_HOOK_OPEN};
	struct am_buf in;
	struct xct_out o;

	xct_require_hooks();
	make_wav(&in);
	assert_int_not_equal(xct_run_buf(&in, &p, &o), 0);
	assert_int_equal(o.res.fail, XCODE_FAIL_SANDBOX);
	assert_string_equal(o.res.reason, "sandbox violation");
	assert_int_equal(o.stream.patched, 0);
	xct_out_cleanup(&o);
	am_buf_cleanup(&in);
}

static void test_hook_hang_times_out(void **state)
{
	struct xcode_params p = {.hook = XCODE_HOOK_HANG, .timeout_ms = 400};
	struct am_buf in;
	struct xct_out o;
	int64_t t0 = am_mono_ms();

	xct_require_hooks();
	make_wav(&in);
	assert_int_not_equal(xct_run_buf(&in, &p, &o), 0);
	assert_int_equal(o.res.fail, XCODE_FAIL_TIMEOUT);
	assert_string_equal(o.res.reason, "took too long");
	assert_true(am_mono_ms() - t0 < 5000);
	xct_out_cleanup(&o);
	am_buf_cleanup(&in);
}

static void test_hook_spew_capped(void **state)
{
	struct xcode_params p = {.hook = XCODE_HOOK_SPEW, .max_output = 1 << 20};
	struct am_buf in;
	struct xct_out o;

	xct_require_hooks();
	make_wav(&in);
	assert_int_not_equal(xct_run_buf(&in, &p, &o), 0);
	assert_int_equal(o.res.fail, XCODE_FAIL_TOOBIG);
	assert_true(o.stream.buf.len <= (1 << 20) + XCODE_STREAM_HEAD);
	xct_out_cleanup(&o);
	am_buf_cleanup(&in);
}

/* The duration cap applies to decoded samples, whatever the header says. */
static void test_duration_cap(void **state)
{
	struct xcode_params p = {.max_duration_s = 1};
	char dir[256], path[300];
	struct am_buf in;
	struct xct_out o;

	assert_int_equal(xct_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/long.mp3", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i sine=f=440:d=3:r=8000 -c:a libmp3lame "
		   "-write_xing 0 '%s'",
		   path),
	    0);
	assert_int_equal(xct_read_file(path, &in, 1 << 20), 0);
	assert_int_not_equal(xct_run_buf(&in, &p, &o), 0);
	assert_string_equal(o.res.reason, "audio is too long");
	xct_out_cleanup(&o);
	am_buf_cleanup(&in);
	xct_rmdir(dir);
}

static void test_sniff(void **state)
{
	static const struct {
		const char *bytes;
		size_t n;
		const char *want;
	} c[] = {
	    {"RIFF\0\0\0\0WAVEfmt ", 16, "wav"},
	    {"RF64\0\0\0\0WAVEds64", 16, "wav"},
	    {"RIFF\0\0\0\0AVI LIST", 16, NULL},
	    {"FORM\0\0\0\0AIFFCOMM", 16, "aiff"},
	    {"FORM\0\0\0\0AIFCFVER", 16, "aiff"},
	    {"fLaC\0\0\0\x22", 8, "flac"},
	    {"OggS\0\x02\0\0", 8, "ogg"},
	    {"\0\0\0\x20"
	     "ftypM4A ",
	     12, "mov,mp4,m4a,3gp,3g2,mj2"},
	    {"\xff\xfb\x90\x64\0\0\0\0", 8, "mp3"},
	    {"\xff\xf1\x50\x80\0\0\0\0", 8, "aac"},
	    {"ID3\x04\0\0\0\0\0\0\xff\xfb\x90\x64", 14, "mp3"},
	    {"ID3\x04\0\0\0\0\0\0fLaC", 14, "flac"},
	    {"#EXTM3U\n#EXTINF", 15, NULL},
	    {"ffconcat version", 16, NULL},
	    {"\xff\xff\xff\xff\xff\xff", 6, NULL},
	    {"RIFF", 4, NULL},
	};

	for (size_t i = 0; i < AM_ARRAY_LEN(c); i++) {
		const char *got = xcode_sniff((const uint8_t *)c[i].bytes, c[i].n, NULL);

		if (c[i].want ? !got || strcmp(got, c[i].want) : got != NULL)
			fail_msg("case %zu: %s", i, got ? got : "(null)");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sniff),
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_hook_open_killed),
	    cmocka_unit_test(test_hook_hang_times_out),
	    cmocka_unit_test(test_hook_spew_capped),
	    cmocka_unit_test(test_duration_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
