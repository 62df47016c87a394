/*
 * Version alignment (src/worker/align.c, issue 22 A/B): waveform peaks
 * (.dat v2) of a pulsing signal and of the same signal with an intro
 * prepended or cut, at the same and at different sample rates, give the
 * known offset; an unrelated signal and a flat one are unmatched with
 * offset 0; malformed headers are refused. Test code only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "util/util.h"
#include "worker/worker.h"

/* A level (0..1) for each 100 ms step, from a seeded generator: the
 * "music" whose envelope the versions share. */
static double level(uint32_t seed, double t)
{
	uint32_t x = seed ^ (uint32_t)(long)floor(t * 10.0) * 2654435761u;

	if (t < 0)
		return 0;
	x ^= x >> 15;
	x *= 2246822519u;
	x ^= x >> 13;
	return 0.05 + 0.9 * (double)(x % 1000) / 1000.0;
}

struct sig {
	uint32_t seed;
	double shift_s; /* the music starts this late (negative: cut) */
	double intro;	/* the level before it starts (0: silence, else noise) */
	double len_s;
	int flat;
};

static double sig_at(const struct sig *s, double t)
{
	double u = t - s->shift_s;

	if (s->flat)
		return 0.5;
	return u < 0 ? s->intro : level(s->seed, u);
}

/* The .dat of s at rate, spp 512, stereo (the right channel at 90 %). */
static uint8_t *make_dat(const struct sig *s, uint32_t rate, size_t *n)
{
	const uint32_t spp = 512, ch = 2;
	uint32_t px = (uint32_t)(s->len_s * rate / spp);
	uint8_t *b = calloc(1, 24 + (size_t)px * ch * 4);
	uint32_t head[6] = {2, 0, rate, spp, px, ch};

	assert_non_null(b);
	for (int i = 0; i < 6; i++)
		for (int k = 0; k < 4; k++)
			b[i * 4 + k] = (uint8_t)(head[i] >> (8 * k));
	for (uint32_t i = 0; i < px; i++) {
		double a = sig_at(s, (i + 0.5) * spp / (double)rate) * 32767.0;

		for (uint32_t c = 0; c < ch; c++) {
			int16_t hi = (int16_t)lround(c ? a * 0.9 : a), lo = (int16_t)-hi;
			uint8_t *q = b + 24 + ((size_t)i * ch + c) * 4;

			q[0] = (uint8_t)lo;
			q[1] = (uint8_t)((uint16_t)lo >> 8);
			q[2] = (uint8_t)hi;
			q[3] = (uint8_t)((uint16_t)hi >> 8);
		}
	}
	*n = 24 + (size_t)px * ch * 4;
	return b;
}

static void envelope_of(const struct sig *s, uint32_t rate, struct align_env *e)
{
	struct align_dat d;
	size_t n;
	uint8_t *b = make_dat(s, rate, &n);

	assert_int_equal(align_dat_header(b, n, &d), 0);
	assert_int_equal(align_envelope(&d, b + 24, n - 24, e), 0);
	free(b);
}

static void offset_of(const struct sig *a, uint32_t ra, const struct sig *b, uint32_t rb,
		      struct align_result *r)
{
	struct align_env ea, eb;

	envelope_of(a, ra, &ea);
	envelope_of(b, rb, &eb);
	assert_int_equal(align_offset(&ea, &eb, r), 0);
	align_env_free(&ea);
	align_env_free(&eb);
}

static void known_offsets_are_found(void **state)
{
	const struct sig v1 = {.seed = 7, .len_s = 20};
	const struct {
		struct sig b;
		uint32_t rate;
		int64_t want;
	} cases[] = {
	    {{.seed = 7, .shift_s = 3.0, .len_s = 23}, 44100, 3000}, /* silence prepended */
	    {{.seed = 7, .shift_s = 2.5, .intro = 0.3, .len_s = 22},
	     48000,
	     2500},						       /* noise, 48 kHz */
	    {{.seed = 7, .shift_s = -1.5, .len_s = 18}, 44100, -1500}, /* intro cut */
	    {{.seed = 7, .shift_s = 0.37, .len_s = 20}, 96000, 370},   /* a short shift */
	};

	for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
		struct align_result r;

		offset_of(&v1, 44100, &cases[i].b, cases[i].rate, &r);
		print_message("case %zu: offset %lld ms (want %lld), corr %.3f\n", i,
			      (long long)r.offset_ms, (long long)cases[i].want, r.corr);
		assert_true(r.matched);
		assert_true(r.corr > 0.9);
		assert_true(llabs(r.offset_ms - cases[i].want) <= 15);
	}
}

static void unrelated_versions_are_unmatched(void **state)
{
	const struct sig v1 = {.seed = 7, .len_s = 20}, other = {.seed = 99, .len_s = 20},
			 flat = {.flat = 1, .len_s = 20};
	struct align_result r;

	offset_of(&v1, 44100, &other, 44100, &r);
	print_message("unrelated: corr %.3f\n", r.corr);
	assert_false(r.matched);
	assert_int_equal(r.offset_ms, 0);
	offset_of(&flat, 44100, &v1, 44100, &r);
	assert_false(r.matched);
	assert_int_equal(r.offset_ms, 0);
}

static void bad_headers_are_refused(void **state)
{
	const struct sig v1 = {.seed = 7, .len_s = 2};
	struct align_dat d;
	size_t n;
	uint8_t *b = make_dat(&v1, 44100, &n);
	struct align_env e;

	assert_int_equal(align_dat_header(b, 23, &d), AM_ERR_INVAL);
	b[0] = 1; /* version 1 */
	assert_int_equal(align_dat_header(b, n, &d), AM_ERR_INVAL);
	b[0] = 2;
	b[20] = 9; /* 9 channels */
	assert_int_equal(align_dat_header(b, n, &d), AM_ERR_INVAL);
	b[20] = 2;
	b[12] = 0; /* samples per pixel 0 */
	b[13] = 0;
	assert_int_equal(align_dat_header(b, n, &d), AM_ERR_INVAL);
	b[13] = 2;
	assert_int_equal(align_dat_header(b, n, &d), 0);
	/* less than one bin of pixels */
	assert_int_equal(align_envelope(&d, b + 24, 4, &e), AM_ERR_INVAL);
	/* a header claiming more pixels than the body holds: only whole
	 * pixels present are used */
	assert_int_equal(align_envelope(&d, b + 24, n - 24 - 3, &e), 0);
	assert_true(e.n >= 90 && e.n <= 100);
	align_env_free(&e);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(known_offsets_are_found),
	    cmocka_unit_test(unrelated_versions_are_unmatched),
	    cmocka_unit_test(bad_headers_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
