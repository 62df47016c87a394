/* Unit tests for src/http/parse.c: the strict path, query and cookie parsers,
 * with the hostile inputs a client can send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "http/http_int.h"

static int path(const char *raw, char *out, size_t outlen)
{
	return http_parse_path(raw, strlen(raw), out, outlen);
}

static void path_accepts_normal_paths(void **state)
{
	char out[256];

	assert_int_equal(path("/", out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(path("/s/AbC-_x9", out, sizeof(out)), 0);
	assert_string_equal(out, "/s/AbC-_x9");
	assert_int_equal(path("/a%20b/c", out, sizeof(out)), 0);
	assert_string_equal(out, "/a b/c");
	assert_int_equal(path("/%C3%A9t%C3%A9", out, sizeof(out)), 0);
	assert_string_equal(out, "/\xc3\xa9t\xc3\xa9");
	assert_int_equal(path("/.well-known/security.txt", out, sizeof(out)), 0);
}

static void path_refuses_traversal_and_tricks(void **state)
{
	static const char *const bad[] = {
	    "",	       "a",	 "//",		 "/a//b",    "/a/",    "/.",	 "/..",
	    "/a/../b", "/a/./b", "/%2e%2e/x",	 "/%2E/x",   "/a%2Fb", "/a%2fb", "/a%5Cb",
	    "/a\\b",   "/a%00b", "/a%0d%0aX: y", "/a%",	     "/a%4",   "/a%zz",	 "/a b",
	    "/a\x01",  "/a\x7f", "/a\xff",	 "/a#b",     "/a\"b",  "/a<b>",	 "/a%7F",
	    "/a%1f",   "*",	 "http://x/",	 "/a/..%2f",
	};
	char out[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = path(bad[i], out, sizeof(out));
		if (rc != AM_ERR_INVAL)
			fail_msg("path \"%s\" gave %d, want AM_ERR_INVAL", bad[i], rc);
	}
}

static void path_respects_output_size(void **state)
{
	char out[8];

	assert_int_equal(path("/abcdef", out, sizeof(out)), 0);
	assert_int_equal(path("/abcdefg", out, sizeof(out)), AM_ERR_TOOBIG);
	assert_int_equal(http_parse_path("/", 1, out, 0), AM_ERR_INVAL);
}

static int query(const char *raw, struct http_kv *kv, size_t max)
{
	static char store[1024];
	return http_parse_query(raw, strlen(raw), kv, max, store, sizeof(store));
}

static void query_parses_pairs(void **state)
{
	struct http_kv kv[8];

	assert_int_equal(query("", kv, 8), 0);
	assert_int_equal(query("e=123&g=4&s=ab-_c", kv, 8), 3);
	assert_string_equal(kv[0].name, "e");
	assert_string_equal(kv[0].value, "123");
	assert_string_equal(kv[2].value, "ab-_c");
	assert_int_equal(query("q=a+b%2Bc&flag", kv, 8), 2);
	assert_string_equal(kv[0].value, "a b+c");
	assert_string_equal(kv[1].name, "flag");
	assert_string_equal(kv[1].value, "");
	assert_int_equal(query("x=", kv, 8), 1);
	assert_string_equal(kv[0].value, "");
}

static void query_refuses_ambiguity(void **state)
{
	static const char *const bad[] = {
	    "a=1&a=2", "a=1&&b=2", "a=1&",    "&a=1",	    "=1",	 "a=%",
	    "a=%g0",   "a=%00",	   "a=b\x01", "a=%0a",	    "a b=1",	 "a%3D=1",
	    "a=b c",   "a=#",	   "a[]=1",   "a=\xc3\xa9", "%61=1&a=2",
	};
	struct http_kv kv[8];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = query(bad[i], kv, 8);
		if (rc >= 0)
			fail_msg("query \"%s\" gave %d pairs, want an error", bad[i], rc);
	}
}

static void query_caps_pairs_and_store(void **state)
{
	struct http_kv kv[2];
	char store[8];

	assert_int_equal(query("a=1&b=2&c=3", kv, 2), AM_ERR_TOOBIG);
	assert_int_equal(http_parse_query("abcdef=12345", 12, kv, 2, store, sizeof(store)),
			 AM_ERR_TOOBIG);
}

static int cookies(const char *raw, struct http_kv *kv, size_t max)
{
	static char store[1024];
	return http_parse_cookies(raw, strlen(raw), kv, max, store, sizeof(store));
}

static void cookies_parse_and_skip_junk(void **state)
{
	struct http_kv kv[8];

	assert_int_equal(cookies("", kv, 8), 0);
	assert_int_equal(cookies("a=1; __Host-s=xyz", kv, 8), 2);
	assert_string_equal(kv[1].name, "__Host-s");
	assert_string_equal(kv[1].value, "xyz");
	/* junk pairs are skipped, the rest survive */
	assert_int_equal(cookies("bad name=1; ok=2; x=a b; =3; noeq; q=\"quoted\"", kv, 8), 2);
	assert_string_equal(kv[0].name, "ok");
	assert_string_equal(kv[1].name, "q");
	assert_string_equal(kv[1].value, "quoted");
	/* the first of a repeated name wins */
	assert_int_equal(cookies("s=first; s=second", kv, 8), 1);
	assert_string_equal(kv[0].value, "first");
	assert_int_equal(cookies(";;; ;", kv, 8), 0);
	assert_int_equal(cookies("a=1;b=2", kv, 1), 1);
}

static void cookies_need_room(void **state)
{
	struct http_kv kv[2];
	char store[4];

	assert_int_equal(http_parse_cookies("a=12345", 7, kv, 2, store, sizeof(store)),
			 AM_ERR_TOOBIG);
}

static void cookie_validators(void **state)
{
	assert_true(http_cookie_name_ok("__Host-am_s"));
	assert_false(http_cookie_name_ok(""));
	assert_false(http_cookie_name_ok("a=b"));
	assert_false(http_cookie_name_ok("a;b"));
	assert_true(http_cookie_value_ok("v1.k2.123.mac-_"));
	assert_false(http_cookie_value_ok("a;b"));
	assert_false(http_cookie_value_ok("a b"));
	assert_false(http_cookie_value_ok("a\r\nSet-Cookie: x"));
}

static void methods(void **state)
{
	assert_int_equal(http_method_of("GET"), HTTP_GET);
	assert_int_equal(http_method_of("DELETE"), HTTP_DELETE);
	assert_int_equal(http_method_of("get"), 0);
	assert_int_equal(http_method_of("FOO"), 0);
	assert_int_equal(http_method_of(""), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(path_accepts_normal_paths),
	    cmocka_unit_test(path_refuses_traversal_and_tricks),
	    cmocka_unit_test(path_respects_output_size),
	    cmocka_unit_test(query_parses_pairs),
	    cmocka_unit_test(query_refuses_ambiguity),
	    cmocka_unit_test(query_caps_pairs_and_store),
	    cmocka_unit_test(cookies_parse_and_skip_junk),
	    cmocka_unit_test(cookies_need_room),
	    cmocka_unit_test(cookie_validators),
	    cmocka_unit_test(methods),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
