/*
 * test_tpeak.c: the child's true-peak meter (src/xcode/child_tpeak.c) gives
 * bit for bit the figure libebur128's EBUR128_MODE_TRUE_PEAK gives, per
 * channel the larger of its true and sample peak, at every rate class
 * (4x under 96 kHz, 2x under 192 kHz, none at 192 kHz), for 1, 2 and 8
 * channels, on noise with inter-sample overs, a float master above 0 dBFS,
 * a lone spike, a near-Nyquist tone, silence and denormals, fed in blocks
 * of odd sizes (the history carried across blocks and chunks); both
 * filters, the AVX2 one (where the CPU has it) and the portable SSE2 one.
 * Test code only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ebur128.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xcode/xcode_int.h"

static uint32_t seed = 12345;

static float noise(void)
{
	seed = seed * 1664525u + 1013904223u;
	return (float)((double)(seed >> 8) / 8388608.0 - 1.0);
}

enum sig { NOISE, OVERS, SPIKE, NYQUIST, SILENCE, DENORMAL };

static float sample(enum sig s, size_t i, unsigned c, unsigned long rate)
{
	switch (s) {
	case NOISE: return 0.7f * noise();
	case OVERS: return (float)(1.6 * sin(2 * M_PI * 11025.0 * (double)i / (double)rate + c));
	case SPIKE: return i == 5000 + c ? 1.0f : 0.0f;
	case NYQUIST: return (float)(0.99 * sin(M_PI * 0.97 * (double)i + 0.3 * c));
	case SILENCE: return 0.0f;
	default: return (i % 7) ? 1e-40f : -3e-39f;
	}
}

/* Both meters over the same frames, the samples fed in blocks of varying
 * odd sizes; the figures must be equal as doubles. */
static void compare1(enum sig s, unsigned ch, unsigned long rate, size_t frames, int portable)
{
	ebur128_state *st = ebur128_init(ch, rate, EBUR128_MODE_TRUE_PEAK);
	struct xc_tpeak *tp = NULL;
	float *x = malloc(frames * ch * sizeof(float));
	double ref = 0, v;
	size_t done = 0, step = 1;

	assert_non_null(st);
	assert_non_null(x);
	assert_int_equal(xc_tpeak_new(ch, rate, &tp), 0);
	if (portable)
		xc_tpeak_portable(tp);
	for (size_t i = 0; i < frames; i++)
		for (unsigned c = 0; c < ch; c++)
			x[i * ch + c] = sample(s, i, c, rate);
	while (done < frames) {
		size_t n = step < frames - done ? step : frames - done;

		assert_int_equal(ebur128_add_frames_float(st, x + done * ch, n), EBUR128_SUCCESS);
		xc_tpeak_add(tp, x + done * ch, n);
		done += n;
		step = step * 3 + 7; /* 1, 10, 37, 118, ... up to past a chunk */
		if (step > 5000)
			step = 13;
	}
	for (unsigned c = 0; c < ch; c++) {
		assert_int_equal(ebur128_true_peak(st, c, &v), EBUR128_SUCCESS);
		ref = fmax(ref, v);
		assert_int_equal(ebur128_sample_peak(st, c, &v), EBUR128_SUCCESS);
		ref = fmax(ref, v);
	}
	if (xc_tpeak_max(tp) != ref)
		fail_msg("signal %d, %u ch, %lu Hz, %s: %.17g, libebur128 %.17g", (int)s, ch, rate,
			 portable ? "portable" : "default", xc_tpeak_max(tp), ref);
	ebur128_destroy(&st);
	xc_tpeak_free(tp);
	free(x);
}

static void compare(enum sig s, unsigned ch, unsigned long rate, size_t frames)
{
	compare1(s, ch, rate, frames, 0);
	compare1(s, ch, rate, frames, 1);
}

static void test_same_as_libebur128(void **state)
{
	static const unsigned long rates[] = {8000, 44100, 48000, 88200, 96000, 176400, 192000};
	static const unsigned chans[] = {1, 2, 8};

	(void)state;
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++)
		for (size_t k = 0; k < sizeof(chans) / sizeof(chans[0]); k++)
			for (int s = NOISE; s <= DENORMAL; s++)
				compare((enum sig)s, chans[k], rates[r], 20011);
	/* a true peak above the samples: the oversampler, not the sample peak */
	compare(OVERS, 2, 44100, 44100);
}

/* The measurement is real: overs read above the samples, silence is 0. */
static void test_reads_overs(void **state)
{
	struct xc_tpeak *tp = NULL;
	float x[2 * 4410];

	(void)state;
	for (size_t i = 0; i < 4410; i++)
		for (unsigned c = 0; c < 2; c++)
			x[i * 2 + c] =
			    (float)sin(2 * M_PI * 11025.0 * (double)i / 44100.0 + M_PI / 4);
	assert_int_equal(xc_tpeak_new(2, 44100, &tp), 0);
	xc_tpeak_add(tp, x, 0);
	assert_true(xc_tpeak_max(tp) == 0.0);
	xc_tpeak_add(tp, x, 4410);
	/* samples at +-0.707 (a quarter-rate sine at 45 degrees), the wave at 1.0 */
	assert_true(xc_tpeak_max(tp) > 0.95 && xc_tpeak_max(tp) < 1.05);
	xc_tpeak_free(tp);
	xc_tpeak_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_as_libebur128),
	    cmocka_unit_test(test_reads_overs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
