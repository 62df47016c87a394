/*
 * Unit tests of the transcode child's detect mode (XCODE_OUT_WM_DETECT,
 * src/xcode/child_wmdet.c; docs/transcoding.md "Detect mode"), fork mode:
 * a 31 s stereo WAV marked under key 1, decoded and searched in the
 * sandboxed child with key 1's seed, gives candidates that key 1's
 * decision names (the payload) and that key 2's does not; key 2's seed
 * finds nothing key 2 accepts; no sink gets a byte; a detect job without a
 * seed is refused before any child runs.
 */
#include "xcode/xcode_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/crypto_int.h"
#include "watermark/watermark.h"

static const uint8_t PAY[WM_PAYLOAD_BYTES] = {1, 2, 3, 4, 0xa5, 0x5a, 0x42, 0x99};

static struct crypto_wm_key *key_of(uint8_t b)
{
	uint8_t ikm[CRYPTO_KEY_LEN];
	struct crypto_wm_key *k = NULL;

	memset(ikm, b, sizeof(ikm));
	assert_int_equal(crypto_wm_key_derive(ikm, &k), 0);
	return k;
}

/* Chords changing every 2 s, a kick every 0.5 s, a little noise. */
static struct wm_audio music(size_t frames)
{
	struct wm_audio a = {malloc(frames * 2 * sizeof(float)), frames, 2, 44100, 16};
	uint32_t r = 7;

	for (size_t i = 0; i < frames; i++) {
		double t = (double)i / 44100, tb = fmod(t, 0.5), v = 0;
		int c = (int)(t / 2.0) % 3;

		for (int n = 0; n < 3; n++)
			for (int h = 1; h <= 4; h++)
				v += 0.05 / h *
				     sin(2 * M_PI * 196.0 * (1 + 0.25 * n + 0.1 * c) * h * t);
		v += 0.3 * sin(2 * M_PI * (50 + 100 * exp(-30 * tb)) * tb) * exp(-10 * tb);
		r = r * 1664525u + 1013904223u;
		v += 0.01 * ((double)(r >> 8) / (1 << 24) - 0.5);
		a.pcm[2 * i] = (float)v;
		a.pcm[2 * i + 1] = (float)(0.8 * v);
	}
	return a;
}

static void detect_mode(void **state)
{
	struct crypto_wm_key *k1 = key_of(1), *k2 = key_of(2);
	struct wm_pattern *p1 = NULL, *p2 = NULL;
	struct wm_audio a = music(31 * 44100);
	uint8_t seed[WM_SEED_BYTES];
	struct xcode_params xp;
	struct wm_result r;
	struct xct_out o;
	char dir[256], path[300];

	assert_int_equal(wm_pattern_new(k1, &p1), 0);
	assert_int_equal(wm_pattern_new(k2, &p2), 0);
	assert_int_equal(wm_embed(p1, PAY, 0, WM_STRENGTH_DEFAULT, a.pcm, a.frames, 2, 44100, NULL),
			 0);
	assert_int_equal(xct_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/marked.wav", dir);
	assert_int_equal(wm_wav_write(path, &a), 0);

	memset(&xp, 0, sizeof(xp));
	xp.output = XCODE_OUT_WM_DETECT;
	xct_out_init(&o);
	assert_int_not_equal(xct_run_file(path, &xp, &o), 0); /* no seed */
	assert_int_equal(o.res.fail, XCODE_FAIL_INTERNAL);
	xct_out_cleanup(&o);

	assert_int_equal(wm_pattern_seed(k1, seed), 0);
	xp.wm_seed = seed;
	xct_out_init(&o);
	assert_int_equal(xct_run_file(path, &xp, &o), 0);
	assert_int_equal(o.res.fail, XCODE_OK);
	assert_int_equal(o.res.wm.n, WM_DECODE_TRIES);
	assert_int_equal(o.stream.buf.len + o.peaks.buf.len + o.overview.buf.len, 0);
	assert_int_equal(wm_decide(p1, &o.res.wm, &r), 0);
	assert_true(r.found);
	assert_memory_equal(r.payload, PAY, WM_PAYLOAD_BYTES);
	assert_int_equal(wm_decide(p2, &o.res.wm, &r), 0);
	assert_false(r.found);
	xct_out_cleanup(&o);

	assert_int_equal(wm_pattern_seed(k2, seed), 0);
	xct_out_init(&o);
	assert_int_equal(xct_run_file(path, &xp, &o), 0);
	assert_int_equal(wm_decide(p2, &o.res.wm, &r), 0);
	assert_false(r.found);
	xct_out_cleanup(&o);

	xct_rmdir(dir);
	wm_audio_cleanup(&a);
	wm_pattern_free(p1);
	wm_pattern_free(p2);
	crypto_wm_key_free(k1);
	crypto_wm_key_free(k2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(detect_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
