/* Unit tests for src/util: bounded buffers, strings, numbers, secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>
#include <stdio.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/util.h"

static void buf_respects_cap(void **state)
{
	struct am_buf b;

	am_buf_init(&b, 8);
	assert_int_equal(am_buf_puts(&b, "12345678"), 0);
	assert_int_equal(am_buf_puts(&b, "9"), AM_ERR_TOOBIG);
	assert_int_equal(b.len, 8);
	assert_string_equal((char *)b.p, "12345678");
	am_buf_reset(&b);
	assert_int_equal(am_buf_printf(&b, "%d-%s", 42, "abcdefgh"), AM_ERR_TOOBIG);
	assert_int_equal(am_buf_printf(&b, "%d", 42), 0);
	assert_string_equal((char *)b.p, "42");
	am_buf_cleanup(&b);
}

static void json_escape_controls(void **state)
{
	struct am_buf b;

	am_buf_init(&b, 256);
	assert_int_equal(am_buf_json_escape(&b, "a\"b\\c\n\x01", 7), 0);
	assert_string_equal((char *)b.p, "a\\\"b\\\\c\\u000a\\u0001");
	am_buf_cleanup(&b);
}

static void strlcpy_truncates(void **state)
{
	char d[4];

	assert_int_equal(am_strlcpy(d, "abc", sizeof(d)), 0);
	assert_int_equal(am_strlcpy(d, "abcd", sizeof(d)), AM_ERR_TOOBIG);
	assert_string_equal(d, "abc");
}

static void parse_i64_strict(void **state)
{
	int64_t v;

	assert_int_equal(am_parse_i64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(am_parse_i64("42x", 0, 100, &v), AM_ERR_INVAL);
	assert_int_equal(am_parse_i64(" 42", 0, 100, &v), AM_ERR_INVAL);
	assert_int_equal(am_parse_i64("101", 0, 100, &v), AM_ERR_INVAL);
	assert_int_equal(am_parse_i64("", 0, 100, &v), AM_ERR_INVAL);
	assert_int_equal(am_parse_i64("99999999999999999999", 0, INT64_MAX, &v), AM_ERR_INVAL);
}

/* Hex digits: lowercase only unless any case is asked for; nothing else. */
static void hexval_cases(void **state)
{
	(void)state;
	assert_int_equal(am_hexval('0', AM_HEX_LOWER), 0);
	assert_int_equal(am_hexval('9', AM_HEX_LOWER), 9);
	assert_int_equal(am_hexval('a', AM_HEX_LOWER), 10);
	assert_int_equal(am_hexval('f', AM_HEX_LOWER), 15);
	assert_int_equal(am_hexval('F', AM_HEX_LOWER), -1);
	assert_int_equal(am_hexval('F', AM_HEX_ANY_CASE), 15);
	assert_int_equal(am_hexval('A', AM_HEX_ANY_CASE), 10);
	assert_int_equal(am_hexval('g', AM_HEX_ANY_CASE), -1);
	assert_int_equal(am_hexval('G', AM_HEX_ANY_CASE), -1);
	assert_int_equal(am_hexval((char)0xe1, AM_HEX_ANY_CASE), -1);
	assert_int_equal(am_hexval(0, AM_HEX_ANY_CASE), -1);
}

/* ASCII folding only, truncated to the buffer, length returned. */
static void ascii_fold_cases(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {{"Ann@EXAMPLE.org", "ann@exa"}, {"\xc3\x89Z", "\xc3\x89z"}, {"", ""}};
	char out[8];

	(void)state;
	for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
		assert_int_equal(am_ascii_fold(cases[i].in, out, sizeof(out)),
				 strlen(cases[i].out));
		assert_string_equal(out, cases[i].out);
	}
}

/* Loopback means this machine, not a name that starts like it. */
static void url_host_and_loopback(void **state)
{
	const char *local[] = {"localhost", "LocalHost",       "127.0.0.1",	  "127.9.8.7",
			       "::1",	    "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"};
	const char *remote[] = {"localhost.example.org",
				"127.0.0.1.nip.io",
				"127.evil.com",
				"0.0.0.0",
				"::",
				"::ffff:10.0.0.1",
				"10.0.0.1",
				"",
				"::1%lo",
				"localhost:80"};
	char h[64];

	for (size_t i = 0; i < AM_ARRAY_LEN(local); i++)
		assert_true(am_host_is_loopback(local[i]));
	for (size_t i = 0; i < AM_ARRAY_LEN(remote); i++)
		assert_false(am_host_is_loopback(remote[i]));
	assert_int_equal(am_url_host("http://127.0.0.1:18080", h, sizeof(h)), 0);
	assert_string_equal(h, "127.0.0.1");
	assert_int_equal(am_url_host("https://[::1]:9000/x", h, sizeof(h)), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(am_url_host("smtp://mail.example.org", h, sizeof(h)), 0);
	assert_string_equal(h, "mail.example.org");
	assert_int_equal(am_url_host("smtps://u:p@mail.example.org", h, sizeof(h)), AM_ERR_INVAL);
	assert_int_equal(am_url_host("mail.example.org", h, sizeof(h)), AM_ERR_INVAL);
	assert_int_equal(am_url_host("http://:80", h, sizeof(h)), AM_ERR_INVAL);
	assert_int_equal(am_url_host("http://[::1", h, sizeof(h)), AM_ERR_INVAL);
	assert_int_equal(am_url_host("http://a-very-long-host-name.example.org", h, 8),
			 AM_ERR_INVAL);
}

static void ct_eq_and_secrets(void **state)
{
	unsigned char *s = am_secret_alloc(32);

	assert_non_null(s);
	memset(s, 0xaa, 32);
	assert_true(am_ct_eq(s, s, 32));
	assert_false(am_ct_eq(s, "\xaa\xaa\xab", 3));
	am_secret_free(s, 32);
	am_secret_free(NULL, 0);
}

static void strerror_total(void **state)
{
	for (int e = 0; e >= -20; e--)
		assert_non_null(am_strerror(e));
	assert_string_equal(am_strerror(AM_ERR_DENIED), "access denied");
}

/* Small secrets come from a slab: distinct, zeroed, reusable; large ones
 * from their own pages. */
static void secret_slab_reuse(void **state)
{
	unsigned char *k[200];

	for (int i = 0; i < 200; i++) {
		k[i] = am_secret_alloc(32);
		assert_non_null(k[i]);
		for (int j = 0; j < 32; j++)
			assert_int_equal(k[i][j], 0);
		memset(k[i], i + 1, 32);
	}
	for (int i = 0; i < 200; i++)
		for (int j = 0; j < 32; j++)
			assert_int_equal(k[i][j], (unsigned char)(i + 1)); /* no overlap */
	for (int i = 0; i < 200; i += 2)
		am_secret_free(k[i], 32);
	for (int i = 0; i < 200; i += 2) {
		k[i] = am_secret_alloc(32);
		for (int j = 0; j < 32; j++)
			assert_int_equal(k[i][j], 0); /* freed chunks come back zeroed */
	}
	for (int i = 0; i < 200; i++)
		am_secret_free(k[i], 32);
	k[0] = am_secret_alloc(100000);
	assert_non_null(k[0]);
	memset(k[0], 1, 100000);
	am_secret_free(k[0], 100000);
	/* Large ones are cached when freed: more than the cache holds at once,
	 * each zeroed when it comes back, of the size asked for. */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 12; i++) {
			k[i] = am_secret_alloc(65536 + (size_t)(i % 2) * 4096);
			assert_non_null(k[i]);
			for (size_t j = 0; j < 65536 + (size_t)(i % 2) * 4096; j++)
				assert_int_equal(k[i][j], 0);
			memset(k[i], round + 1, 65536 + (size_t)(i % 2) * 4096);
		}
		for (int i = 0; i < 12; i++)
			am_secret_free(k[i], 65536 + (size_t)(i % 2) * 4096);
	}
}

/* 1 if a fork()ed child finds all n bytes at s zero. */
static int zero_in_child(const unsigned char *s, size_t n)
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		for (size_t i = 0; i < n; i++)
			if (s[i] != 0)
				_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A large secret that was freed and handed out again is still wiped in a
 * fork()ed child (the cached mapping keeps MADV_WIPEONFORK). */
static void cached_secret_wiped_in_fork(void **state)
{
	unsigned char *s = am_secret_alloc(65536);

	am_secret_free(s, 65536);
	s = am_secret_alloc(65536);
	assert_non_null(s);
	memset(s, 0x5a, 65536);
	assert_true(zero_in_child(s, 65536));
	am_secret_free(s, 65536);
}

/* A fork()ed child sees zeros where the parent keeps secrets. */
static void secrets_wiped_in_fork(void **state)
{
	unsigned char *s = am_secret_alloc(32);

	assert_non_null(s);
	memset(s, 0x5a, 32);
	assert_true(zero_in_child(s, 32));
	assert_int_equal(s[0], 0x5a);
	am_secret_free(s, 32);
}

/* am_exe_sibling: the name in this binary's directory; a buffer too small
 * is an error, never a truncated path. */
static void exe_sibling(void **state)
{
	char self[4096], want[4200], got[4200];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);

	assert_true(k > 0);
	self[k] = 0;
	*strrchr(self, '/') = 0;
	snprintf(want, sizeof(want), "%s/audiomus-xcode", self);
	assert_int_equal(am_exe_sibling("audiomus-xcode", got, sizeof(got)), 0);
	assert_string_equal(got, want);
	assert_int_equal(am_exe_sibling("audiomus-xcode", got, strlen(want)), AM_ERR_INTERNAL);
	assert_int_equal(am_exe_sibling("audiomus-xcode", got, strlen(want) + 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(buf_respects_cap),	     cmocka_unit_test(json_escape_controls),
	    cmocka_unit_test(strlcpy_truncates),     cmocka_unit_test(parse_i64_strict),
	    cmocka_unit_test(ct_eq_and_secrets),     cmocka_unit_test(strerror_total),
	    cmocka_unit_test(url_host_and_loopback), cmocka_unit_test(hexval_cases),
	    cmocka_unit_test(ascii_fold_cases),	     cmocka_unit_test(secrets_wiped_in_fork),
	    cmocka_unit_test(secret_slab_reuse),     cmocka_unit_test(cached_secret_wiped_in_fork),
	    cmocka_unit_test(exe_sibling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
