/*
 * Unit tests for media_splice.c: a listener's stream as pieces of
 * renditions A and B. Random maps (empty spans, spans every listener gets
 * from A), random listeners and random ranges, answered in pieces of a
 * random capacity, against a byte-by-byte model; maps that would fail
 * media_splice_check and ranges out of bounds are refused or answered
 * within bounds, never read past the map (the ASan run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "media/media_splice.h"
#include "util/util.h"

#define SPANS 300

static uint64_t rnd_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(uint64_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return n ? rnd_state % n : 0;
}

struct fixture {
	uint64_t cut[SPANS + 1];
	uint16_t slot[SPANS];
	uint8_t bits[MEDIA_SPLICE_SLOTS];
	struct media_splice_map m;
};

static void make_map(struct fixture *f, size_t n)
{
	uint64_t off = 1 + rnd(500); /* the MP4 head */

	for (size_t i = 0; i < n; i++) {
		f->cut[i] = off;
		off += rnd(8) == 0 ? 0 : 1 + rnd(40);
		f->slot[i] = rnd(20) == 0 ? MEDIA_SPLICE_ALWAYS_A : (uint16_t)(i / 6 % 204);
	}
	f->cut[n] = off;
	for (size_t i = 0; i < MEDIA_SPLICE_SLOTS; i++)
		f->bits[i] = (uint8_t)rnd(2);
	f->m = (struct media_splice_map){
	    .cut = f->cut, .slot = f->slot, .n = n, .size = off + rnd(300)};
}

/* The model: which rendition byte off of the listener's stream is from. */
static int model_src(const struct fixture *f, uint64_t off)
{
	for (size_t i = 0; i < f->m.n; i++)
		if (f->cut[i] <= off && off < f->cut[i + 1])
			return f->slot[i] != MEDIA_SPLICE_ALWAYS_A && f->bits[f->slot[i]];
	return 0;
}

/* Ask for [start, end) with capacity cap, continuing from *next until done;
 * every byte must be covered once, in order, from the model's rendition. */
static void check_range(const struct fixture *f, uint64_t start, uint64_t end, size_t cap)
{
	struct media_splice_piece out[64];
	uint64_t at = start, calls = 0;

	do {
		uint64_t next = 0;
		int n = media_splice_range(&f->m, f->bits, at, end, out, cap, &next);

		assert_true(n >= 0 && (size_t)n <= cap);
		assert_true(n > 0 || start == end);
		for (int i = 0; i < n; i++) {
			assert_int_equal(out[i].off, at);
			assert_true(out[i].len > 0);
			for (uint64_t b = out[i].off; b < out[i].off + out[i].len; b++)
				assert_int_equal(out[i].src, model_src(f, b));
			if (i > 0) /* merged: neighbours differ in rendition */
				assert_int_not_equal(out[i].src, out[i - 1].src);
			at += out[i].len;
		}
		assert_int_equal(next, at);
		assert_true(++calls < 100000);
	} while (at < end);
	assert_int_equal(at, end);
}

static void random_ranges(void **state)
{
	static struct fixture f;

	(void)state;
	for (int round = 0; round < 40; round++) {
		make_map(&f, round == 0 ? 0 : 1 + rnd(SPANS));
		assert_int_equal(media_splice_check(&f.m), 0);
		check_range(&f, 0, f.m.size, 64); /* the whole stream */
		for (int r = 0; r < 50; r++) {
			uint64_t a = rnd(f.m.size + 1), b = rnd(f.m.size + 1);

			check_range(&f, a < b ? a : b, a < b ? b : a, 1 + rnd(5));
		}
	}
}

static void refused(void **state)
{
	static struct fixture f;
	struct media_splice_piece out[4];
	uint64_t next = 77;

	(void)state;
	make_map(&f, 50);
	assert_int_equal(media_splice_range(&f.m, f.bits, 5, 4, out, 4, &next), AM_ERR_INVAL);
	assert_int_equal(media_splice_range(&f.m, f.bits, 0, f.m.size + 1, out, 4, &next),
			 AM_ERR_INVAL);
	assert_int_equal(media_splice_range(&f.m, f.bits, 0, 1, out, 0, &next), AM_ERR_INVAL);
	assert_int_equal(media_splice_range(&f.m, f.bits, 0, UINT64_MAX, out, 4, &next),
			 AM_ERR_INVAL);
	assert_int_equal(media_splice_range(NULL, f.bits, 0, 1, out, 4, &next), AM_ERR_INVAL);
	assert_int_equal(next, 77);
	assert_int_equal(media_splice_range(&f.m, f.bits, f.m.size, f.m.size, out, 4, &next), 0);
	assert_int_equal(next, f.m.size);
	/* what media_splice_check refuses */
	f.slot[3] = MEDIA_SPLICE_SLOTS;
	assert_int_equal(media_splice_check(&f.m), AM_ERR_INVAL);
	f.slot[3] = 0;
	f.cut[7] = f.cut[8] + 1;
	assert_int_equal(media_splice_check(&f.m), AM_ERR_INVAL);
	f.cut[7] = f.cut[6];
	f.m.size = f.cut[50] - 1;
	assert_int_equal(media_splice_check(&f.m), AM_ERR_INVAL);
	assert_int_equal(media_splice_range(&f.m, f.bits, 0, 1, out, 4, &next), AM_ERR_INVAL);
}

/* A map that was never checked (cuts out of order, slots out of range):
 * whatever it answers stays inside the range and the arrays (ASan). */
static void unchecked_maps(void **state)
{
	static struct fixture f;
	struct media_splice_piece out[8];

	(void)state;
	for (int round = 0; round < 200; round++) {
		make_map(&f, 1 + rnd(SPANS));
		for (int k = 0; k < 10; k++) {
			f.cut[rnd(f.m.n)] = rnd(f.m.size);
			f.slot[rnd(f.m.n)] = (uint16_t)rnd(0x10000);
		}
		for (int r = 0; r < 20; r++) {
			uint64_t a = rnd(f.m.size + 1), b = a + rnd(f.m.size + 1 - a), next = 0;
			int n = media_splice_range(&f.m, f.bits, a, b, out, 8, &next);

			assert_true(n == AM_ERR_INVAL || (n >= 0 && n <= 8 && next <= b));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(random_ranges),
	    cmocka_unit_test(refused),
	    cmocka_unit_test(unchecked_maps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
