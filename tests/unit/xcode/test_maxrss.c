/*
 * xcode_result.child_maxrss_kib is the transcoding child's own peak RSS,
 * not the worker's. The child is started with posix_spawn, whose clone
 * shares the worker's address space until exec; Linux records that
 * address space's high-water mark in the child's rusage at exec
 * (exec_mmap: setmax_mm_hiwater_rss), so wait4()'s ru_maxrss of the child
 * is at least the worker's peak RSS up to the spawn, whatever the child
 * itself used. Test code only.
 *
 * The scenario makes the two figures far apart: this process (the parent)
 * touches PARENT_MIB, and the child image (this same binary, dispatched on
 * xcode-child by main()) touches a known CHILD_MIB before it runs a short
 * real job. The figure must cover the child's CHILD_MIB and stay below the
 * parent's PARENT_MIB: once with the parent's memory still held during
 * the job, once with it released before the job (the parent's high-water
 * mark stays, its RSS does not). A memory assertion, no timing one. Under
 * ASan both figures include shadow memory (an eighth more), which leaves
 * the margin wide: ~121 MiB against 384.
 */
#include "xcode_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PARENT_MIB 384
#define CHILD_MIB  64
#define SECONDS	   2
#define RATE	   48000

/* Touch every page of n fresh bytes, so they count in RSS. */
static void *touch(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	for (size_t i = 0; i < n; i += 4096)
		((volatile uint8_t *)p)[i] = (uint8_t)(i >> 12 | 1);
	return p;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A short 48 kHz stereo 16-bit WAV of a 375 Hz tone. */
static void make_wav(struct am_buf *b)
{
	uint32_t frames = SECONDS * RATE, data = frames * 4;
	uint8_t h[44];

	memcpy(h, "RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x02\0\0\0\0\0\0\0\0\0\x04\0\x10\0data", 40);
	put32(h + 4, 36 + data);
	put32(h + 24, RATE);
	put32(h + 28, RATE * 4);
	put32(h + 40, data);
	am_buf_init(b, 44 + (size_t)data);
	assert_int_equal(am_buf_append(b, h, sizeof(h)), 0);
	for (uint32_t i = 0; i < frames; i++) {
		int16_t v = (int16_t)lrint(8000.0 * sin(2 * M_PI * (i % 128) / 128.0));
		uint8_t s[4] = {(uint8_t)v, (uint8_t)((uint16_t)v >> 8), (uint8_t)v,
				(uint8_t)((uint16_t)v >> 8)};

		assert_int_equal(am_buf_append(b, s, sizeof(s)), 0);
	}
}

static int64_t job(void)
{
	struct xcode_params p = {.exec_path = "/proc/self/exe"};
	struct xct_out o;
	struct am_buf in;
	int64_t kib;

	make_wav(&in);
	assert_int_equal(xct_run_buf(&in, &p, &o), 0);
	assert_int_equal(o.res.fail, XCODE_OK);
	assert_int_equal(o.res.duration_ms, SECONDS * 1000);
	kib = o.res.child_maxrss_kib;
	xct_out_cleanup(&o);
	am_buf_cleanup(&in);
	return kib;
}

static void check(int64_t kib, const char *what)
{
	print_message("%s: child_maxrss_kib %lld (child touched %d MiB, parent %d MiB)\n", what,
		      (long long)kib, CHILD_MIB, PARENT_MIB);
	assert_true(kib >= (int64_t)CHILD_MIB * 1024);
	assert_true(kib < (int64_t)PARENT_MIB * 1024);
}

static void test_parent_memory_held_during_the_job(void **state)
{
	void *big = touch((size_t)PARENT_MIB << 20);

	assert_non_null(big);
	check(job(), "parent holds its memory");
	munmap(big, (size_t)PARENT_MIB << 20);
}

static void test_parent_peak_released_before_the_job(void **state)
{
	void *big = touch((size_t)PARENT_MIB << 20);

	assert_non_null(big);
	munmap(big, (size_t)PARENT_MIB << 20);
	check(job(), "parent released its memory");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parent_memory_held_during_the_job),
	    cmocka_unit_test(test_parent_peak_released_before_the_job),
	};

	if (argc > 1 && strcmp(argv[1], XCODE_CHILD_ARG) == 0) {
		/* The child image: its own known allocation first (kept to the
		 * end), then the real job under the real sandbox. */
		if (!touch((size_t)CHILD_MIB << 20))
			_exit(5);
		xcode_child_exec_main();
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
