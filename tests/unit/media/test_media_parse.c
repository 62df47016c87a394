/*
 * Unit tests for the media role's pure parsers: Range and If-Range (RFC 9110
 * cases side by side with the expected answer), tus 1.0 headers and
 * Content-Disposition encoding (the sniffing of uploads:
 * tests/unit/upload/test_upload_sniff.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "media/media_int.h"
#include "util/util.h"

struct range_case {
	const char *h;
	uint64_t size;
	int rc;
	uint64_t first, last;
};

static void range_cases(void **state)
{
	static const struct range_case cases[] = {
	    {"bytes=0-0", 10, 0, 0, 0},
	    {"bytes=0-9", 10, 0, 0, 9},
	    {"bytes=0-99", 10, 0, 0, 9},
	    {"bytes=5-", 10, 0, 5, 9},
	    {"bytes=9-", 10, 0, 9, 9},
	    {"bytes=10-", 10, AM_ERR_RANGE, 0, 0},
	    {"bytes=10-20", 10, AM_ERR_RANGE, 0, 0},
	    {"bytes=-3", 10, 0, 7, 9},
	    {"bytes=-10", 10, 0, 0, 9},
	    {"bytes=-11", 10, 0, 0, 9},
	    {"bytes=-0", 10, AM_ERR_RANGE, 0, 0},
	    {"bytes=0-", 0, AM_ERR_RANGE, 0, 0},
	    {"bytes=-5", 0, AM_ERR_RANGE, 0, 0},
	    {"BYTES=1-2", 10, 0, 1, 2},
	    {"bytes=0001-2", 10, 0, 1, 2},
	    {"bytes=3-2", 10, AM_ERR_INVAL, 0, 0},
	    {"bytes=0-1,3-4", 10, AM_ERR_INVAL, 0, 0},
	    {"bytes= 0-1", 10, AM_ERR_INVAL, 0, 0},
	    {"bytes=0-1 ", 10, AM_ERR_INVAL, 0, 0},
	    {"bytes=-", 10, AM_ERR_INVAL, 0, 0},
	    {"bytes=", 10, AM_ERR_INVAL, 0, 0},
	    {"bytes=a-b", 10, AM_ERR_INVAL, 0, 0},
	    {"bytes=+1-2", 10, AM_ERR_INVAL, 0, 0},
	    {"items=0-1", 10, AM_ERR_INVAL, 0, 0},
	    {"bytes=99999999999999999999-", 10, AM_ERR_INVAL, 0, 0},
	    {"bytes=9223372036854775807-", 10, AM_ERR_RANGE, 0, 0},
	    {"bytes=0-18446744073709551615", 10, AM_ERR_INVAL, 0, 0}, /* 20 digits */
	    {"", 10, AM_ERR_INVAL, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
		uint64_t f = 77, l = 77;
		int rc = media_range_parse(cases[i].h, cases[i].size, &f, &l);
		if (rc != cases[i].rc)
			fprintf(stderr, "case %zu: %s\n", i, cases[i].h);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_int_equal(f, cases[i].first);
			assert_int_equal(l, cases[i].last);
		}
	}
	assert_int_equal(media_range_parse(NULL, 10, NULL, NULL), AM_ERR_INVAL);
}

static void if_range(void **state)
{
	(void)state;
	assert_true(media_if_range_ok(NULL, "\"a\""));
	assert_true(media_if_range_ok("\"a\"", "\"a\""));
	assert_false(media_if_range_ok("\"b\"", "\"a\""));
	assert_false(media_if_range_ok("W/\"a\"", "\"a\""));
	assert_false(media_if_range_ok("Wed, 21 Oct 2015 07:28:00 GMT", "\"a\""));
}

static void tus_headers(void **state)
{
	int64_t v = -1;

	(void)state;
	assert_true(media_tus_resumable_ok("1.0.0"));
	assert_false(media_tus_resumable_ok("1.0"));
	assert_false(media_tus_resumable_ok(NULL));
	assert_false(media_tus_resumable_ok("1.0.0 "));
	assert_true(media_tus_content_type_ok("application/offset+octet-stream"));
	assert_false(media_tus_content_type_ok("application/offset+octet-stream; x=1"));
	assert_false(media_tus_content_type_ok("application/octet-stream"));
	assert_false(media_tus_content_type_ok(NULL));
	assert_int_equal(media_tus_offset("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(media_tus_offset("1048576", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(media_tus_offset("9007199254740991", &v), 0);
	assert_int_equal(media_tus_offset("9007199254740992", &v), AM_ERR_INVAL);
	static const char *const bad[] = {"",	"-1",  "+1",   "01",  "1 ",
					  " 1", "1.0", "0x10", "1e3", NULL};
	for (size_t i = 0; i < AM_ARRAY_LEN(bad); i++)
		assert_int_equal(media_tus_offset(bad[i], &v), AM_ERR_INVAL);
}

static void disposition(void **state)
{
	char out[2048];

	(void)state;
	assert_int_equal(media_disposition(out, sizeof(out), 1, "Song.wav"), 0);
	assert_string_equal(out, "attachment; filename=\"Song.wav\"; filename*=UTF-8''Song.wav");
	assert_int_equal(media_disposition(out, sizeof(out), 0, NULL), 0);
	assert_string_equal(out, "inline; filename=\"audio\"; filename*=UTF-8''audio");
	/* quotes, backslashes, separators, CR/LF and non-ASCII never leak raw */
	assert_int_equal(
	    media_disposition(out, sizeof(out), 1, "a\"b\\c/d;e\r\nf%g \xe2\x99\xaa.flac"), 0);
	assert_string_equal(out, "attachment; filename=\"a_b_c_d_e__f_g ___.flac\"; "
				 "filename*=UTF-8''a%22b%5Cc%2Fd%3Be%0D%0Af%25g%20%E2%99%AA.flac");
	assert_int_equal(media_disposition(out, 20, 1, "Song.wav"), AM_ERR_TOOBIG);
}

/* The mark ticket after a signed URL (media_mark.c): only a last "&mt=" of
 * the ticket's alphabet is split off; anything else is refused. */
static void mark_split(void **state)
{
	char url[64], t[ACCESS_MARK_TICKET_MAX], big[300];

	(void)state;
	assert_int_equal(media_mark_split("/m/x?o=1&s=M", url, sizeof(url), t, sizeof(t)), 0);
	assert_string_equal(url, "/m/x?o=1&s=M");
	assert_string_equal(t, "");
	assert_int_equal(
	    media_mark_split("/m/x?o=1&s=M&mt=mt1.2.a-_Z", url, sizeof(url), t, sizeof(t)), 0);
	assert_string_equal(url, "/m/x?o=1&s=M");
	assert_string_equal(t, "mt1.2.a-_Z");
	/* Only the last one: an earlier "&mt=" stays in the URL (which then
	 * fails its own check). */
	assert_int_equal(media_mark_split("/m/x?&mt=a&mt=b", url, sizeof(url), t, sizeof(t)), 0);
	assert_string_equal(url, "/m/x?&mt=a");
	assert_string_equal(t, "b");
	assert_int_equal(media_mark_split("/m/x?s=M&mt=", url, sizeof(url), t, sizeof(t)),
			 AM_ERR_DENIED);
	assert_int_equal(media_mark_split("/m/x?s=M&mt=a%2F", url, sizeof(url), t, sizeof(t)),
			 AM_ERR_DENIED);
	assert_int_equal(media_mark_split("/m/x?s=M&mt=a&b=c", url, sizeof(url), t, sizeof(t)),
			 AM_ERR_DENIED);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "/m/&mt=", 7);
	assert_int_equal(media_mark_split(big, url, sizeof(url), t, sizeof(t)), AM_ERR_DENIED);
	assert_int_equal(media_mark_split(big + 4, url, sizeof(url), t, sizeof(t)), AM_ERR_DENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(range_cases), cmocka_unit_test(if_range),
	    cmocka_unit_test(tus_headers), cmocka_unit_test(disposition),
	    cmocka_unit_test(mark_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
