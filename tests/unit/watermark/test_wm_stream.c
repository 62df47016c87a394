/*
 * Unit tests for the streaming marker (src/watermark/wm_stream.c, issue
 * 26's marked downloads): a track marked piece by piece, fed in pieces of
 * random sizes, equals the track marked whole by wm_embed_bits within a
 * stated tolerance, at 44.1 kHz (the frames are independent: exact), at
 * 48 kHz and 22.05 kHz (the resampler's filter runs over each window:
 * float rounding only); the quantum, wm_embed_bits_at off the quantum, and
 * bad arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "crypto/crypto_int.h"
#include "watermark/watermark_int.h"

/* The tolerance: the largest difference between a sample marked in pieces
 * and marked whole, for a signal of peak about 0.6 (-104 dBFS; the mark
 * itself is about -24 dB under the signal). */
#define TOLERANCE 6e-6f

static uint32_t rs = 777;

static uint32_t xr(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 17;
	rs ^= rs << 5;
	return rs;
}

static float *signal_of(size_t frames, unsigned rate)
{
	float *pcm = malloc(frames * 2 * sizeof(float));

	for (size_t i = 0; i < frames; i++) {
		double t = (double)i / rate, v = 0;

		for (int h = 1; h <= 6; h++)
			v += 0.05 / h * sin(2 * M_PI * 220.0 * (1 + (int)(t / 1.5) % 3) * h * t);
		v += 0.2 * sin(2 * M_PI * 60 * t) * exp(-8 * fmod(t, 0.5));
		v += 0.01 * ((double)(xr() & 0xFFFF) / 65536.0 - 0.5);
		pcm[2 * i] = (float)v;
		pcm[2 * i + 1] = (float)(0.8 * v);
	}
	return pcm;
}

struct sink {
	float *out;
	size_t n, cap;
};

static int collect(void *ctx, const float *pcm, size_t frames)
{
	struct sink *s = ctx;

	assert_true(s->n + frames <= s->cap);
	memcpy(s->out + s->n * 2, pcm, frames * 2 * sizeof(float));
	s->n += frames;
	return 0;
}

/* Mark seconds of audio at rate whole and in pieces of core frames; returns
 * the largest difference, and checks that the mark is there at all. */
static float chunked_vs_whole(const struct wm_pattern *p, unsigned rate, double seconds,
			      size_t core)
{
	size_t frames = (size_t)(seconds * rate), fed = 0;
	float *orig = signal_of(frames, rate), *whole = malloc(frames * 2 * sizeof(float));
	uint8_t bits[WM_CODED_BITS];
	struct sink k = {.out = calloc(frames * 2, sizeof(float)), .cap = frames};
	struct wm_stream *s = NULL;
	float worst = 0, markmax = 0;

	for (size_t i = 0; i < WM_CODED_BITS; i++)
		bits[i] = (uint8_t)(xr() & 1);
	memcpy(whole, orig, frames * 2 * sizeof(float));
	assert_int_equal(wm_embed_bits(p, bits, WM_STRENGTH_DEFAULT, whole, frames, 2, rate, NULL),
			 0);
	assert_int_equal(
	    wm_stream_new(p, bits, WM_STRENGTH_DEFAULT, 2, rate, core, collect, &k, &s), 0);
	while (fed < frames) { /* pieces of 1 to 20,000 frames, as a decoder gives them */
		size_t n = 1 + xr() % 20000;

		n = n < frames - fed ? n : frames - fed;
		assert_int_equal(wm_stream_write(s, orig + fed * 2, n), 0);
		fed += n;
	}
	assert_int_equal(wm_stream_finish(s), 0);
	assert_int_equal(k.n, frames);
	for (size_t i = 0; i < frames * 2; i++) {
		float d = fabsf(k.out[i] - whole[i]), m = fabsf(whole[i] - orig[i]);

		worst = d > worst ? d : worst;
		markmax = m > markmax ? m : markmax;
	}
	print_message("rate %u: %zu frames in pieces of %zu: max |chunked - whole| = %.3g (mark "
		      "peak %.3g)\n",
		      rate, frames, core, (double)worst, (double)markmax);
	assert_true(markmax > 1e-3f);
	wm_stream_free(s);
	free(orig);
	free(whole);
	free(k.out);
	return worst;
}

static struct crypto_wm_key *key;
static struct wm_pattern *pat;

static int setup(void **state)
{
	uint8_t ikm[CRYPTO_KEY_LEN];

	memset(ikm, 7, sizeof(ikm));
	assert_int_equal(crypto_wm_key_derive(ikm, &key), 0);
	assert_int_equal(wm_pattern_new(key, &pat), 0);
	return 0;
}

static int teardown(void **state)
{
	wm_pattern_free(pat);
	crypto_wm_key_free(key);
	return 0;
}

/* 44.1 kHz: every piece starts on a frame of its own, no resampling: the
 * pieces write exactly what the whole does (the pieces cross a period). */
static void test_exact_44k(void **state)
{
	assert_true(chunked_vs_whole(pat, 44100, 31.0, 3 * 44100 + 17) == 0.0f);
}

static void test_48k(void **state)
{
	assert_true(chunked_vs_whole(pat, 48000, 12.0, 2 * 48000) <= TOLERANCE);
}

static void test_22k(void **state)
{
	assert_true(chunked_vs_whole(pat, 22050, 12.0, 22050) <= TOLERANCE);
}

static void test_quantum_args(void **state)
{
	float pcm[2 * 4800] = {0};
	uint8_t bits[WM_CODED_BITS] = {0};
	struct wm_stream *s = NULL;

	assert_int_equal(wm_stream_quantum(44100), 1);
	assert_int_equal(wm_stream_quantum(22050), 1);
	assert_int_equal(wm_stream_quantum(48000), 160);
	assert_int_equal(wm_stream_quantum(96000), 320);
	assert_int_equal(wm_stream_quantum(0), 0);
	assert_int_equal(wm_embed_bits_at(pat, bits, 0.2f, pcm, 4800, 2, 48000, 160, NULL), 0);
	assert_int_equal(wm_embed_bits_at(pat, bits, 0.2f, pcm, 4800, 2, 48000, 161, NULL),
			 AM_ERR_INVAL);
	assert_int_equal(wm_stream_new(pat, bits, 0.2f, 0, 48000, 0, collect, NULL, &s),
			 AM_ERR_INVAL);
	assert_int_equal(wm_stream_new(pat, bits, 0.7f, 2, 48000, 0, collect, NULL, &s),
			 AM_ERR_INVAL);
	assert_int_equal(wm_stream_new(pat, bits, 0.2f, 2, 7999, 0, collect, NULL, &s),
			 AM_ERR_INVAL);
	assert_null(s);
	wm_stream_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exact_44k, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_48k, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_22k, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quantum_args, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
