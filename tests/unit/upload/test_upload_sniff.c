/*
 * Unit tests for the magic-byte sniffing of uploads (src/upload/upload_sniff.c):
 * each accepted type and near misses, bytes side by side with the expected
 * answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "upload/upload.h"
#include "util/util.h"

static void sniffing(void **state)
{
	static const struct {
		const char *bytes;
		size_t n;
		const char *ext;
	} cases[] = {
	    {"RIFF\x24\0\0\0WAVEfmt ", 16, "wav"},
	    {"RF64\xff\xff\xff\xffWAVEds64", 16, "wav"},
	    {"RIFF\x24\0\0\0AVI LIST", 16, NULL},
	    {"FORM\0\0\0\x10" "AIFFCOMM", 16, "aiff"},
	    {"FORM\0\0\0\x10" "AIFCFVER", 16, "aiff"},
	    {"fLaC\0\0\0\x22\x10\0\x10\0", 12, "flac"},
	    {"OggS\0\x02\0\0\0\0\0\0", 12, "ogg"},
	    {"\0\0\0\x20" "ftypM4A \0\0\0\0", 16, "m4a"},
	    {"ID3\x04\0\0\0\0\0\x10\0\0", 12, "mp3"},
	    {"\xff\xfb\x90\x64\0\0\0\0\0\0\0\0", 12, "mp3"},
	    {"\xff\xf1\x50\x80\0\0\0\0\0\0\0\0", 12, "aac"},
	    {"\xff\xff\xff\xff\0\0\0\0\0\0\0\0", 12, NULL},
	    {"<html><body>", 12, NULL},
	    {"\x7f" "ELF\x02\x01\x01\0\0\0\0\0", 12, NULL},
	    {"PK\x03\x04\0\0\0\0\0\0\0\0", 12, NULL},
	    {"RIFF", 4, NULL},
	};
	const char *ext, *ct;

	(void)state;
	for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
		int rc = upload_sniff((const uint8_t *)cases[i].bytes, cases[i].n, &ext, &ct);
		if (cases[i].ext) {
			assert_int_equal(rc, 0);
			assert_string_equal(ext, cases[i].ext);
			assert_non_null(strstr(ct, "audio/"));
		} else {
			assert_int_equal(rc, AM_ERR_UNSUPPORTED);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sniffing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
