/*
 * test_hooks.c: the hooks the black-box tests use to shift the clock and
 * stretch leases and stalls (util.h "test hooks"). Compiled twice: as is
 * into libaudiomus.a, where every function is a constant and no hook name
 * exists, and with -DAM_TEST_HOOKS for the unit tests and the test binary
 * $(BUILD)/hooks/audiomus (Makefile "Test hooks"; `make lint` checks that
 * the release binaries hold no AUDIOMUS_TEST string). Runs in every role;
 * what it reads comes from the environment of the process that started it.
 * This is the only file that tests AM_TEST_HOOKS besides xcode_hooks.c.
 */
#include "util/util.h"

#ifdef AM_TEST_HOOKS
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char clock_file[PATH_MAX];

static int testing(void)
{
	const char *t = getenv("AUDIOMUS_TESTING");

	return t && strcmp(t, "1") == 0;
}

const char *am_test_hooks(void)
{
	return "test build: AUDIOMUS_TEST_* hooks honoured with AUDIOMUS_TESTING=1 (AM_TEST_HOOKS)";
}

int64_t am_test_hook_ms(const char *name, int64_t min, int64_t max)
{
	char env[96];
	const char *s;
	int64_t v = 0;
	int n = snprintf(env, sizeof(env), "AUDIOMUS_TEST_%s", name);

	if (n < 0 || (size_t)n >= sizeof(env) || !testing() || !(s = getenv(env)) ||
	    am_parse_i64(s, min, max, &v))
		return 0;
	return v;
}

void am_test_clock_setup(void)
{
	const char *file = getenv("AUDIOMUS_TEST_CLOCK_FILE");

	clock_file[0] = 0;
	if (!file || !*file)
		return;
	if (!testing()) {
		am_log(AM_LOG_WARN, "test_clock_refused", "reason",
		       "AUDIOMUS_TEST_CLOCK_FILE ignored without AUDIOMUS_TESTING=1");
		return;
	}
	am_strlcpy(clock_file, file, sizeof(clock_file));
	am_log(AM_LOG_WARN, "test_clock_enabled", "note", "testing mode: the clock can be shifted");
}

/* The file holds either an offset in seconds ("90": real time + 90 s) or
 * "=T", a frozen clock: the request's thread reads epoch second T exactly
 * throughout the request, so a test of a rate limit does not depend on how
 * fast a loaded machine runs (docs/api.md "Testing mode"). Other threads (the
 * in-process worker) keep real time + the last offset. */
void am_test_clock_apply(void)
{
	char buf[32] = {0};
	int64_t v = 0;
	FILE *f;
	size_t n;
	int frozen;

	if (!clock_file[0] || !(f = fopen(clock_file, "r")))
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	frozen = buf[0] == '=';
	if (am_parse_i64(buf + frozen, -(INT64_C(1) << 40), INT64_C(1) << 40, &v))
		return;
	am_time_freeze_ms(frozen ? v * 1000 : -1);
	if (!frozen)
		am_time_set_offset(v);
}

#else /* a release build: no hook, no hook name */

const char *am_test_hooks(void)
{
	return NULL;
}

int64_t am_test_hook_ms(const char *name, int64_t min, int64_t max)
{
	return 0;
}

void am_test_clock_setup(void)
{
}

void am_test_clock_apply(void)
{
}

#endif
