/*
 * Unit tests for the watermark core (src/watermark/): the convolutional
 * code and its Viterbi decoder under bit errors and erasures, the keyed
 * pattern and tag, the decision rule on random soft bits, and embed/detect
 * on a synthesised music-like signal: clean, as an excerpt at an odd
 * offset, as stitched A/B renditions (segment variants), under another key,
 * and the false-identification set of 1,000 unmarked clips. The attacks
 * that need an encoder (MP3, AAC, resampling) are in
 * tests/e2e/watermark.test.mjs.
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

static uint32_t rs = 12345;

static uint32_t xr(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 17;
	rs ^= rs << 5;
	return rs;
}

static float uni(void)
{
	return (float)(xr() & 0xFFFFFF) / 16777216.0f;
}

static float gauss(void)
{
	float u = uni() + 1e-7f, v = uni();

	return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static struct crypto_wm_key *key_of(uint8_t b)
{
	uint8_t ikm[CRYPTO_KEY_LEN];
	struct crypto_wm_key *k = NULL;

	memset(ikm, b, sizeof(ikm));
	assert_int_equal(crypto_wm_key_derive(ikm, &k), 0);
	return k;
}

/* A music-like stereo signal: a chord of harmonic tones changing every 2 s,
 * a decaying kick every 0.5 s, noise. */
static float *music(size_t frames, unsigned rate, uint32_t seed)
{
	float *pcm = malloc(frames * 2 * sizeof(float));
	static const double semis[] = {0, 4, 7, 12, 5, 9, 12, 17, 7, 11, 14, 19};

	rs = seed;
	for (size_t i = 0; i < frames; i++) {
		double t = (double)i / rate, v = 0, tb = fmod(t, 0.5);
		int c = (int)(t / 2.0) % 3;

		for (int n = 0; n < 4; n++) {
			double f = 130.81 * pow(2.0, (semis[c * 4 + n] + (seed % 5)) / 12.0);

			for (int h = 1; h <= 5; h++)
				v += 0.04 / h * sin(2 * M_PI * f * h * t + n);
		}
		v += 0.3 * sin(2 * M_PI * (50 + 100 * exp(-30 * tb)) * tb) * exp(-10 * tb);
		v += 0.02 * gauss() * exp(-20 * fmod(t, 0.25));
		pcm[2 * i] = (float)v;
		pcm[2 * i + 1] = (float)(0.9 * v);
	}
	return pcm;
}

static void test_code_roundtrip(void **state)
{
	uint8_t info[WM_INFO_BYTES], out[WM_INFO_BYTES], coded[WM_CODED_BITS];
	float soft[WM_CODED_BITS];

	for (int trial = 0; trial < 50; trial++) {
		for (int i = 0; i < WM_INFO_BYTES; i++)
			info[i] = (uint8_t)xr();
		wm_conv_encode(info, coded);
		for (int j = 0; j < WM_CODED_BITS; j++)
			soft[j] = coded[j] ? -1.0f : 1.0f;
		/* Trial parity: 8 hard errors, one in each run of 25 coded bits
		 * (the interleaver spreads a burst so), or 50 erasures (soft 0:
		 * quiet fragments) anywhere. */
		if (trial & 1) {
			for (int e = 0; e < 8; e++)
				soft[e * 25 + (int)(xr() % 25)] *= -1.0f;
		} else {
			for (int e = 0; e < 50; e++)
				soft[xr() % WM_CODED_BITS] = 0.0f;
		}
		assert_int_equal(wm_viterbi(soft, out), 0);
		assert_memory_equal(info, out, WM_INFO_BYTES);
	}
	/* And the decoder is not a pass-through: noise alone decodes to a
	 * different word. */
	for (int j = 0; j < WM_CODED_BITS; j++)
		soft[j] = gauss();
	assert_int_equal(wm_viterbi(soft, out), 0);
	assert_memory_not_equal(info, out, WM_INFO_BYTES);
}

static void test_pattern_keyed(void **state)
{
	struct crypto_wm_key *k1 = key_of(1), *k2 = key_of(2);
	struct wm_pattern *p1, *p1b, *p2;
	uint8_t pay[WM_PAYLOAD_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8}, t1[4], t2[4];
	uint8_t b1[WM_CODED_BITS], b2[WM_CODED_BITS];

	assert_int_equal(wm_pattern_new(k1, &p1), 0);
	assert_int_equal(wm_pattern_new(k1, &p1b), 0);
	assert_int_equal(wm_pattern_new(k2, &p2), 0);
	assert_memory_equal(p1->bin, p1b->bin, sizeof(p1->bin));
	assert_memory_not_equal(p1->bin, p2->bin, sizeof(p1->bin));
	assert_memory_not_equal(p1->sync, p2->sync, sizeof(p1->sync));
	for (int i = 0; i < WM_BINS; i++)
		assert_true(p1->bin[i] >= WM_BIN_LO && p1->bin[i] < WM_BIN_HI);
	assert_int_equal(wm_tag(p1, pay, t1), 0);
	assert_int_equal(wm_tag(p2, pay, t2), 0);
	assert_memory_not_equal(t1, t2, 4);
	assert_int_equal(wm_fragment_bits(p1, pay, b1), 0);
	assert_int_equal(wm_fragment_bits(p2, pay, b2), 0);
	assert_memory_not_equal(b1, b2, sizeof(b1));
	wm_pattern_free(p1);
	wm_pattern_free(p1b);
	wm_pattern_free(p2);
	crypto_wm_key_free(k1);
	crypto_wm_key_free(k2);
}

/* The decision rule on pure noise: 5,000 random soft vectors decoded, no
 * tag matches (expected 5000 × 2^-32 = 1.2e-6). */
static void test_rule_noise(void **state)
{
	struct crypto_wm_key *k = key_of(3);
	struct wm_pattern *p;
	float soft[WM_CODED_BITS];
	uint8_t info[WM_INFO_BYTES], tag[4];
	int hits = 0;

	assert_int_equal(wm_pattern_new(k, &p), 0);
	for (int t = 0; t < 5000; t++) {
		for (int j = 0; j < WM_CODED_BITS; j++)
			soft[j] = gauss();
		assert_int_equal(wm_viterbi(soft, info), 0);
		assert_int_equal(wm_tag(p, info, tag), 0);
		hits += !memcmp(tag, info + WM_PAYLOAD_BYTES, 4);
	}
	assert_int_equal(hits, 0);
	wm_pattern_free(p);
	crypto_wm_key_free(k);
}

struct fix {
	struct crypto_wm_key *k, *other;
	struct wm_pattern *p, *po;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	f->k = key_of(7);
	f->other = key_of(8);
	if (wm_pattern_new(f->k, &f->p) || wm_pattern_new(f->other, &f->po))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	wm_pattern_free(f->p);
	wm_pattern_free(f->po);
	crypto_wm_key_free(f->k);
	crypto_wm_key_free(f->other);
	free(f);
	return 0;
}

static const uint8_t PAY[WM_PAYLOAD_BYTES] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67};

static void test_embed_detect(void **state)
{
	struct fix *f = *state;
	size_t frames = 40 * 44100, off = 7 * 44100 + 333;
	float *pcm = music(frames, 44100, 5), *orig = malloc(frames * 2 * sizeof(float));
	struct wm_embed_stats st;
	struct wm_result r;

	memcpy(orig, pcm, frames * 2 * sizeof(float));
	assert_int_equal(wm_embed(f->p, PAY, 0, WM_STRENGTH_DEFAULT, pcm, frames, 2, 44100, &st),
			 0);
	assert_true(st.msr_db < -10.0 && st.msr_db > -40.0);
	/* Whole file, then a 30 s excerpt from an odd offset. */
	assert_int_equal(wm_detect(f->p, pcm, frames, 2, 44100, &r), 0);
	assert_true(r.found);
	assert_memory_equal(r.payload, PAY, WM_PAYLOAD_BYTES);
	assert_int_equal(wm_detect(f->p, pcm + 2 * off, 30 * 44100, 2, 44100, &r), 0);
	assert_true(r.found);
	assert_memory_equal(r.payload, PAY, WM_PAYLOAD_BYTES);
	/* Not under another key, not in the original. */
	assert_int_equal(wm_detect(f->po, pcm, frames, 2, 44100, &r), 0);
	assert_false(r.found);
	assert_int_equal(r.tries, WM_DECODE_TRIES);
	assert_int_equal(wm_detect(f->p, orig, frames, 2, 44100, &r), 0);
	assert_false(r.found);
	free(pcm);
	free(orig);
}

/* Segment variants: renditions A (every bit 0) and B (every bit 1),
 * stitched per fragment by the payload's bits, carry the payload. */
static void test_variants(void **state)
{
	struct fix *f = *state;
	size_t frames = 35 * 44100;
	float *a = music(frames, 44100, 11), *b = malloc(frames * 2 * sizeof(float));
	uint8_t bits[WM_CODED_BITS];
	struct wm_result r;

	memcpy(b, a, frames * 2 * sizeof(float));
	assert_int_equal(wm_embed(f->p, NULL, 0, WM_STRENGTH_DEFAULT, a, frames, 2, 44100, NULL),
			 0);
	assert_int_equal(wm_embed(f->p, NULL, 1, WM_STRENGTH_DEFAULT, b, frames, 2, 44100, NULL),
			 0);
	assert_int_equal(wm_fragment_bits(f->p, PAY, bits), 0);
	for (size_t i = 0; i < frames; i++)
		if (bits[(i / WM_FRAGMENT) % WM_CODED_BITS])
			a[2 * i] = b[2 * i], a[2 * i + 1] = b[2 * i + 1];
	assert_int_equal(wm_detect(f->p, a, frames, 2, 44100, &r), 0);
	assert_true(r.found);
	assert_memory_equal(r.payload, PAY, WM_PAYLOAD_BYTES);
	/* Rendition B alone is not a payload (every bit 1 fails the tag). */
	assert_int_equal(wm_detect(f->p, b, frames, 2, 44100, &r), 0);
	assert_false(r.found);
	free(a);
	free(b);
}

/* The key-less pattern of the transcode child: from the seed alone it embeds
 * a listener's coded bits to exactly what the keyed pattern writes for the
 * payload, and it can neither tag nor embed by payload. */
static void test_seed(void **state)
{
	struct fix *f = *state;
	size_t frames = 3 * 44100;
	float *a = music(frames, 44100, 5), *b = malloc(frames * 2 * sizeof(float));
	uint8_t seed[WM_SEED_BYTES], bits[WM_CODED_BITS], other[WM_CODED_BITS];
	struct wm_pattern *s = NULL;

	memcpy(b, a, frames * 2 * sizeof(float));
	assert_int_equal(wm_pattern_seed(f->k, seed), 0);
	assert_int_equal(wm_pattern_from_seed(seed, &s), 0);
	assert_int_equal(wm_fragment_bits(f->p, PAY, bits), 0);
	assert_int_equal(wm_embed(f->p, PAY, 0, WM_STRENGTH_DEFAULT, a, frames, 2, 44100, NULL), 0);
	assert_int_equal(wm_embed_bits(s, bits, WM_STRENGTH_DEFAULT, b, frames, 2, 44100, NULL), 0);
	assert_memory_equal(a, b, frames * 2 * sizeof(float));
	assert_int_equal(wm_fragment_bits(s, PAY, other), AM_ERR_CRYPTO);
	assert_int_equal(wm_embed(s, PAY, 0, WM_STRENGTH_DEFAULT, b, frames, 2, 44100, NULL),
			 AM_ERR_CRYPTO);
	assert_int_equal(wm_embed_bits(s, NULL, WM_STRENGTH_DEFAULT, b, frames, 2, 44100, NULL),
			 AM_ERR_INVAL);
	wm_pattern_free(s);
	free(a);
	free(b);
}

/* The tracer's split: candidates from the key-less (seeded) pattern, as the
 * sandboxed child computes them, then the keyed decision, give exactly
 * wm_detect's verdict: on a marked excerpt, the original and another key's
 * view; a seeded pattern cannot decide; a tampered candidate is no mark. */
static int split_same(const struct wm_pattern *keyed, const struct wm_pattern *seeded,
		      const float *pcm, size_t frames)
{
	struct wm_candidates c;
	struct wm_result a, b;

	assert_int_equal(wm_detect(keyed, pcm, frames, 2, 44100, &a), 0);
	assert_int_equal(wm_detect_candidates(seeded, pcm, frames, 2, 44100, &c), 0);
	assert_int_equal(wm_decide(keyed, &c, &b), 0);
	assert_int_equal(a.found, b.found);
	assert_memory_equal(a.payload, b.payload, WM_PAYLOAD_BYTES);
	assert_true(a.confidence == b.confidence && a.sync_z == b.sync_z &&
		    a.offset_s == b.offset_s && a.tries == b.tries);
	assert_int_equal(c.n, WM_DECODE_TRIES);
	return b.found;
}

static void test_split(void **state)
{
	struct fix *f = *state;
	size_t frames = 36 * 44100, off = 3 * 44100 + 77;
	float *pcm = music(frames, 44100, 5), *orig = malloc(frames * 2 * sizeof(float));
	uint8_t seed[WM_SEED_BYTES];
	struct wm_pattern *s = NULL, *so = NULL;
	struct wm_candidates c;
	struct wm_result r;

	memcpy(orig, pcm, frames * 2 * sizeof(float));
	assert_int_equal(wm_embed(f->p, PAY, 0, WM_STRENGTH_DEFAULT, pcm, frames, 2, 44100, NULL),
			 0);
	assert_int_equal(wm_pattern_seed(f->k, seed), 0);
	assert_int_equal(wm_pattern_from_seed(seed, &s), 0);
	assert_int_equal(wm_pattern_seed(f->other, seed), 0);
	assert_int_equal(wm_pattern_from_seed(seed, &so), 0);
	assert_true(split_same(f->p, s, pcm + 2 * off, 30 * 44100));
	assert_false(split_same(f->p, s, orig, frames));
	assert_false(split_same(f->po, so, pcm, frames));
	assert_int_equal(wm_detect_candidates(s, pcm, frames, 2, 44100, &c), 0);
	assert_int_equal(wm_decide(f->p, &c, &r), 0);
	assert_true(r.found);
	assert_int_equal(wm_decide(s, &c, &r), AM_ERR_CRYPTO);
	for (int i = 0; i < c.n; i++)
		c.c[i].info[3] ^= 1; /* no tag matches (but for 2^-32 each) */
	assert_int_equal(wm_decide(f->p, &c, &r), 0);
	assert_false(r.found);
	c.n = WM_DECODE_TRIES + 1;
	assert_int_equal(wm_decide(f->p, &c, &r), AM_ERR_INVAL);
	wm_pattern_free(s);
	wm_pattern_free(so);
	free(pcm);
	free(orig);
}

/* Marking piece by piece (wm_embed_piece at 1024-sample multiples, the
 * transcode child's way, across a period boundary) writes exactly what
 * marking the whole track writes; an unaligned offset is refused. */
static void test_pieces(void **state)
{
	struct fix *f = *state;
	size_t frames = 30 * 44100, at = 0, step[] = {1024 * 37, 1024 * 1000, 1024 * 3};
	float *a = music(frames, 44100, 9), *b = malloc(frames * 2 * sizeof(float));
	uint8_t ones[WM_CODED_BITS];

	memset(ones, 1, sizeof(ones));
	memcpy(b, a, frames * 2 * sizeof(float));
	assert_int_equal(wm_embed(f->p, NULL, 1, WM_STRENGTH_DEFAULT, a, frames, 2, 44100, NULL),
			 0);
	for (int i = 0; at < frames; i++) {
		size_t n = step[i % 3] < frames - at ? step[i % 3] : frames - at;

		assert_int_equal(
		    wm_embed_piece(f->p, ones, WM_STRENGTH_DEFAULT, b + 2 * at, n, 2, at), 0);
		at += n;
	}
	assert_memory_equal(a, b, frames * 2 * sizeof(float));
	assert_int_equal(wm_embed_piece(f->p, ones, WM_STRENGTH_DEFAULT, b, 1024, 2, 512),
			 AM_ERR_INVAL);
	free(a);
	free(b);
}

/* The false-identification set: 1,000 unmarked clips of 2 s, cut at random
 * offsets from 60 s of music, at levels from -20 to 0 dB, with noise from
 * none to -20 dB under the music (every tenth clip noise alone), each fully
 * decoded (tries > 0), and none identified. */
static void test_false_ids(void **state)
{
	struct fix *f = *state;
	size_t frames = 2 * 44100, total = 60 * 44100;
	float *base = music(total, 44100, 77), *pcm = malloc(frames * 2 * sizeof(float));
	struct wm_result r;
	int found = 0, tries = 0;

	rs = 4242;
	for (int c = 0; c < 1000; c++) {
		size_t off = xr() % (total - frames);
		float gain = powf(10.0f, -(float)(xr() % 20) / 20.0f);
		float noise = (c % 10 == 9) ? 0.3f : 0.1f * (float)(xr() % 100) / 100.0f;
		float mus = (c % 10 == 9) ? 0.0f : 1.0f;

		for (size_t i = 0; i < 2 * frames; i++)
			pcm[i] = gain * (mus * base[2 * off + i] + noise * (uni() + uni() - 1.0f));
		assert_int_equal(wm_detect(f->p, pcm, frames, 2, 44100, &r), 0);
		found += r.found;
		tries += r.tries > 0;
	}
	assert_int_equal(found, 0);
	assert_int_equal(tries, 1000);
	free(base);
	free(pcm);
}

static void test_bad_args(void **state)
{
	struct fix *f = *state;
	float pcm[2048] = {0};
	struct wm_result r;

	assert_int_equal(wm_embed(f->p, PAY, 0, 0.0f, pcm, 1024, 2, 44100, NULL), AM_ERR_INVAL);
	assert_int_equal(wm_embed(f->p, NULL, 2, 0.1f, pcm, 1024, 2, 44100, NULL), AM_ERR_INVAL);
	assert_int_equal(wm_embed(f->p, PAY, 0, 0.1f, pcm, 1024, 9, 44100, NULL), AM_ERR_INVAL);
	assert_int_equal(wm_detect(f->p, pcm, 1024, 2, 1000, &r), AM_ERR_INVAL);
	/* Too short to hold a frame: no mark, no crash. */
	assert_int_equal(wm_detect(f->p, pcm, 10, 2, 44100, &r), 0);
	assert_false(r.found);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_code_roundtrip),
	    cmocka_unit_test(test_pattern_keyed),
	    cmocka_unit_test(test_rule_noise),
	    cmocka_unit_test_setup_teardown(test_embed_detect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_variants, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pieces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_false_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
