/*
 * test_meters.c: the meters and the downmix of issue 21, each against an
 * independent reference, FFmpeg's ebur128 filter (`ffmpeg -af
 * ebur128=peak=true`), on inputs generated here with the ffmpeg CLI:
 *   - true peak of a 32-bit float master above 0 dBFS (+4 dBFS): the meter
 *     sees the float samples, not the clipped s16 copy;
 *   - loudness range on the four EBU Tech 3342 cases (1 kHz sine, stepped
 *     levels: 10, 5, 20 and 15 LU), within 1 LU of both;
 *   - 5.1 and 7.1 masters at -1 dBTP downmix to a stereo rendition that
 *     stays at or under 0 dBTP (measured by the CLI on the rendition), and
 *     the job's own reading of the rendition's true peak agrees;
 *   - short and silent inputs: flags instead of numbers;
 *   - the peaks of a quiet master (-38 dBFS) keep many levels (16-bit);
 *   - refusals over the rate and channel limits say which limit.
 * Test code only.
 */
#include "xcode_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[256];

static int setup(void **state)
{
	return xct_tmpdir(dir, sizeof(dir));
}

static int teardown(void **state)
{
	xct_rmdir(dir);
	return 0;
}

/* FFmpeg's ebur128 summary for path: what = "LRA" (LU), "Peak" (dBTP) or
 * "I" (LUFS); the last such line of its log is the summary's. */
static double ref_r128(const char *path, const char *what)
{
	char out[512];
	double v = NAN;
	FILE *f;

	snprintf(out, sizeof(out), "%s/ref.txt", dir);
	if (xct_sh("ffmpeg -hide_banner -nostats -i '%s' -af ebur128=peak=true -f null - 2>&1 |"
		   " awk '$1 == \"%s:\" {v = $2} END {print v}' > '%s'",
		   path, what, out) != 0)
		fail_msg("ffmpeg ebur128 on %s", path);
	if (!(f = fopen(out, "r")) || fscanf(f, "%lf", &v) != 1)
		fail_msg("no %s in ffmpeg's summary for %s", what, path);
	fclose(f);
	return v;
}

/* A 32-bit float master whose sine peaks at +4 dBFS (1.585): the true
 * peak reads about +4 dBTP, as FFmpeg's meter says, not the ~0 dBTP of a
 * copy clipped to 16 bits. */
static void test_true_peak_float_overs(void **state)
{
	char in[512];
	struct xct_out o;
	double ref;

	snprintf(in, sizeof(in), "%s/float-plus4.wav", dir);
	assert_int_equal(xct_sh("ffmpeg -v error -y -f lavfi -i \"aevalsrc='1.5849*sin(2*PI*997*t)|"
				"1.5849*sin(2*PI*997*t+1)':s=48000:d=5\" -c:a pcm_f32le '%s'",
				in),
			 0);
	ref = ref_r128(in, "Peak");
	assert_int_equal(xct_run_file(in, NULL, &o), 0);
	print_message("float +4 dBFS: %.2f dBTP, ffmpeg %.2f\n", o.res.true_peak_dbtp, ref);
	assert_true(ref > 3.5);
	if (fabs(o.res.true_peak_dbtp - ref) > 0.3)
		fail_msg("true peak %.2f dBTP, reference %.2f", o.res.true_peak_dbtp, ref);
	xct_out_cleanup(&o);
}

/* EBU Tech 3342 (2016) test signals 1-4: stereo 1 kHz sine, levels in dBFS
 * for 20 s each, and the loudness range they must give. */
static const struct lra_case {
	const char *name;
	int n;
	double dbfs[5], lra;
} lra_cases[] = {
    {"3342-1", 2, {-20, -30}, 10},
    {"3342-2", 2, {-20, -15}, 5},
    {"3342-3", 2, {-40, -20}, 20},
    {"3342-4", 5, {-50, -35, -20, -35, -50}, 15},
};

/* aevalsrc's amplitude: a step function of t, 20 s per level. */
static void amp_expr(const struct lra_case *c, char *e, size_t n)
{
	size_t k = 0;

	for (int i = 0; i < c->n - 1; i++)
		k += (size_t)snprintf(e + k, n - k, "if(lt(t,%d),%.7f,", 20 * (i + 1),
				      pow(10, c->dbfs[i] / 20));
	k += (size_t)snprintf(e + k, n - k, "%.7f", pow(10, c->dbfs[c->n - 1] / 20));
	for (int i = 0; i < c->n - 1; i++)
		k += (size_t)snprintf(e + k, n - k, ")");
}

static void test_lra_tech3342(void **state)
{
	for (size_t i = 0; i < AM_ARRAY_LEN(lra_cases); i++) {
		const struct lra_case *c = &lra_cases[i];
		char in[512], a[256];
		struct xct_out o;
		double ref;

		amp_expr(c, a, sizeof(a));
		snprintf(in, sizeof(in), "%s/%s.wav", dir, c->name);
		assert_int_equal(
		    xct_sh("ffmpeg -v error -y -f lavfi -i \"aevalsrc='%s*sin(2*PI*1000*t)|"
			   "%s*sin(2*PI*1000*t)':s=48000:d=%d\" -c:a pcm_s24le '%s'",
			   a, a, 20 * c->n, in),
		    0);
		ref = ref_r128(in, "LRA");
		assert_int_equal(xct_run_file(in, NULL, &o), 0);
		print_message("%s: LRA %.2f LU, ffmpeg %.1f, Tech 3342 %.0f\n", c->name,
			      o.res.loudness_range_lu, ref, c->lra);
		assert_int_equal(o.res.meter_flags, 0);
		if (fabs(o.res.loudness_range_lu - ref) > 1 ||
		    fabs(o.res.loudness_range_lu - c->lra) > 1)
			fail_msg("%s: LRA %.2f LU, ffmpeg %.1f, expected %.0f", c->name,
				 o.res.loudness_range_lu, ref, c->lra);
		xct_out_cleanup(&o);
	}
}

/* Every channel the same 1 kHz sine at -1 dBFS, in phase: the worst case
 * for a downmix (an unnormalised matrix adds centre and surrounds at
 * -3 dB onto each side: +6.6 dB over). The stereo rendition, measured by
 * FFmpeg, stays at or under 0 dBTP, and the job's own reading agrees. */
static void run_downmix(const char *layout, int ch)
{
	char in[512], out[512], expr[512];
	size_t k = 0;
	struct xct_out o;
	double ref;

	for (int c = 0; c < ch; c++)
		k += (size_t)snprintf(expr + k, sizeof(expr) - k, "%s0.8913*sin(2*PI*1000*t)",
				      c ? "|" : "");
	snprintf(in, sizeof(in), "%s/%s.wav", dir, layout);
	snprintf(out, sizeof(out), "%s/%s.out.m4a", dir, layout);
	assert_int_equal(xct_sh("ffmpeg -v error -y -f lavfi -i \"aevalsrc='%s':c=%s:s=48000:d=4\""
				" -c:a pcm_s24le '%s'",
				expr, layout, in),
			 0);
	assert_int_equal(xct_run_file(in, NULL, &o), 0);
	assert_int_equal(o.res.channels, ch);
	assert_true(fabs(o.res.true_peak_dbtp + 1.0) < 0.2);
	assert_int_equal(xct_write_file(out, o.stream.buf.p, o.stream.buf.len), 0);
	ref = ref_r128(out, "Peak");
	print_message("%s at -1 dBTP: rendition %.2f dBTP (ffmpeg), %.2f (ours)\n", layout, ref,
		      o.res.stream_true_peak_dbtp);
	if (ref > 0.0)
		fail_msg("%s: rendition at %.2f dBTP", layout, ref);
	if (fabs(o.res.stream_true_peak_dbtp - ref) > 0.3)
		fail_msg("%s: rendition true peak %.2f, ffmpeg %.2f", layout,
			 o.res.stream_true_peak_dbtp, ref);
	xct_out_cleanup(&o);
}

static void test_downmix(void **state)
{
	run_downmix("5.1", 6);
	run_downmix("7.1", 8);
}

/* The rendition's own true peak, AAC and MP3: what FFmpeg's meter reads on
 * the rendition file, within 0.3 dB (FFmpeg's AAC encoder alone puts a pure
 * tone ~0.9 dB over its source: the original's figure would not show it). */
static void test_stream_peak(void **state)
{
	static const struct {
		enum xcode_output out;
		const char *ext;
	} outs[] = {{XCODE_OUT_AAC_MP4, "m4a"}, {XCODE_OUT_MP3, "mp3"}};
	char in[512], out[512];

	snprintf(in, sizeof(in), "%s/stereo.wav", dir);
	assert_int_equal(xct_sh("ffmpeg -v error -y -f lavfi -i \"aevalsrc='0.5*sin(2*PI*440*t)|"
				"0.3*sin(2*PI*660*t)':s=44100:d=3\" '%s'",
				in),
			 0);
	for (size_t i = 0; i < AM_ARRAY_LEN(outs); i++) {
		struct xcode_params p = {.output = outs[i].out};
		struct xct_out o;
		double ref;

		snprintf(out, sizeof(out), "%s/stereo.out.%s", dir, outs[i].ext);
		assert_int_equal(xct_run_file(in, &p, &o), 0);
		assert_int_equal(xct_write_file(out, o.stream.buf.p, o.stream.buf.len), 0);
		ref = ref_r128(out, "Peak");
		print_message("%s rendition: %.2f dBTP, ffmpeg %.2f; original %.2f\n", outs[i].ext,
			      o.res.stream_true_peak_dbtp, ref, o.res.true_peak_dbtp);
		if (fabs(o.res.stream_true_peak_dbtp - ref) > 0.3)
			fail_msg("%s: rendition %.2f dBTP, ffmpeg %.2f", outs[i].ext,
				 o.res.stream_true_peak_dbtp, ref);
		xct_out_cleanup(&o);
	}
}

/* A one-sample mono s16 WAV, written here. */
static void write_one_sample(const char *path)
{
	uint8_t w[46] = "RIFF\0\0\0\0WAVEfmt ";

	w[4] = 38;
	w[16] = 16;
	w[20] = 1;				  /* PCM */
	w[22] = 1;				  /* mono */
	w[24] = 0x80, w[25] = 0xbb;		  /* 48000 */
	w[28] = 0x00, w[29] = 0x77, w[30] = 0x01; /* 96000 bytes/s */
	w[32] = 2;
	w[34] = 16;
	memcpy(w + 36, "data", 4);
	w[40] = 2;
	w[44] = 0x00, w[45] = 0x40; /* 16384: -6 dBFS */
	assert_int_equal(xct_write_file(path, w, sizeof(w)), 0);
}

static void test_short_and_silent(void **state)
{
	char in[512];
	struct xct_out o;

	/* 0.2 s of tone: a true peak, no integrated loudness, no range. */
	snprintf(in, sizeof(in), "%s/short.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i sine=f=1000:d=0.2:r=48000 '%s'", in), 0);
	assert_int_equal(xct_run_file(in, NULL, &o), 0);
	assert_false(o.res.has_loudness);
	assert_int_equal(o.res.meter_flags, XCODE_METER_SHORT_I | XCODE_METER_SHORT_LRA);
	assert_true(isfinite(o.res.true_peak_dbtp) && o.res.true_peak_dbtp > -20);
	xct_out_cleanup(&o);

	/* 1.5 s: loudness yes, range no. */
	snprintf(in, sizeof(in), "%s/short2.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i sine=f=1000:d=1.5:r=48000 '%s'", in), 0);
	assert_int_equal(xct_run_file(in, NULL, &o), 0);
	assert_true(o.res.has_loudness);
	assert_int_equal(o.res.meter_flags, XCODE_METER_SHORT_LRA);
	xct_out_cleanup(&o);

	/* Digital silence: nothing to measure, not -200 dBTP. */
	snprintf(in, sizeof(in), "%s/silence.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i anullsrc=r=48000:cl=stereo -t 5 '%s'", in), 0);
	assert_int_equal(xct_run_file(in, NULL, &o), 0);
	assert_int_equal(o.res.meter_flags, XCODE_METER_SILENT);
	assert_false(o.res.has_loudness);
	assert_true(isinf(o.res.true_peak_dbtp) && isinf(o.res.stream_true_peak_dbtp));
	xct_out_cleanup(&o);

	/* One sample: a file with facts (rate, channels, a peak), too short. */
	snprintf(in, sizeof(in), "%s/one.wav", dir);
	write_one_sample(in);
	assert_int_equal(xct_run_file(in, NULL, &o), 0);
	assert_int_equal(o.res.samples, 1);
	assert_int_equal(o.res.sample_rate, 48000);
	assert_int_equal(o.res.meter_flags, XCODE_METER_SHORT_I | XCODE_METER_SHORT_LRA);
	if (fabs(o.res.true_peak_dbtp + 6.02) > 0.1)
		fail_msg("one sample at -6 dBFS: %.2f dBTP", o.res.true_peak_dbtp);
	xct_out_cleanup(&o);
}

/* A master peaking at -38 dBFS: its detailed peaks hold many distinct
 * levels (16-bit .dat), not the 0 / +-1 of 8 bits. */
static void test_quiet_peaks(void **state)
{
	char in[512];
	struct xct_out o;
	uint8_t seen[32768 / 8];
	int levels = 0;

	memset(seen, 0, sizeof(seen));
	snprintf(in, sizeof(in), "%s/quiet.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i \"aevalsrc='0.0126*(0.5+0.5*sin(2*PI*0.5*t))"
		   "*sin(2*PI*220*t)':s=48000:d=4\" -c:a pcm_s24le '%s'",
		   in),
	    0);
	assert_int_equal(xct_run_file(in, NULL, &o), 0);
	assert_int_equal(xct_le32(o.peaks.buf.p + 4), 0); /* flags: 16-bit */
	for (size_t p = 24; p + 4 <= o.peaks.buf.len; p += 4) {
		int mx = (int16_t)(o.peaks.buf.p[p + 2] | o.peaks.buf.p[p + 3] << 8);

		if (mx >= 0 && !(seen[mx / 8] & (1 << (mx % 8)))) {
			seen[mx / 8] |= (uint8_t)(1 << (mx % 8));
			levels++;
		}
	}
	print_message("quiet master: %d distinct peak levels\n", levels);
	assert_true(levels > 100);
	xct_out_cleanup(&o);
}

/* Over a limit: refused, and the owner is told which limit. */
static void test_refusal_reasons(void **state)
{
	char in[512], expr[512];
	size_t k = 0;
	struct xct_out o;

	snprintf(in, sizeof(in), "%s/352k.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i sine=f=1000:d=0.5:r=352800 '%s'", in), 0);
	assert_int_not_equal(xct_run_file(in, NULL, &o), 0);
	assert_int_equal(o.res.fail, XCODE_FAIL_UNSUPPORTED);
	assert_string_equal(o.res.reason, "sample rate 352.8 kHz is above the 192 kHz limit");
	xct_out_cleanup(&o);

	for (int c = 0; c < 10; c++)
		k += (size_t)snprintf(expr + k, sizeof(expr) - k, "%s0.5*sin(2*PI*%d*t)",
				      c ? "|" : "", 200 + 100 * c);
	snprintf(in, sizeof(in), "%s/10ch.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i \"aevalsrc='%s':s=48000:d=0.5\" '%s'", expr, in),
	    0);
	assert_int_not_equal(xct_run_file(in, NULL, &o), 0);
	assert_int_equal(o.res.fail, XCODE_FAIL_UNSUPPORTED);
	assert_string_equal(o.res.reason, "10 channels is above the 8-channel limit");
	xct_out_cleanup(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_true_peak_float_overs),
	    cmocka_unit_test(test_lra_tech3342),
	    cmocka_unit_test(test_downmix),
	    cmocka_unit_test(test_stream_peak),
	    cmocka_unit_test(test_short_and_silent),
	    cmocka_unit_test(test_quiet_peaks),
	    cmocka_unit_test(test_refusal_reasons),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
