/*
 * Unit tests for the magic-byte sniffing of uploads (src/upload/upload_sniff.c):
 * each accepted type and near misses, bytes side by side with the expected
 * answer; and the reason a refused file gets (what it is, by
 * xcode_sniff_other), for the types issue 21 names.
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
	    {"FORM\0\0\0\x10"
	     "AIFFCOMM",
	     16, "aiff"},
	    {"FORM\0\0\0\x10"
	     "AIFCFVER",
	     16, "aiff"},
	    {"fLaC\0\0\0\x22\x10\0\x10\0", 12, "flac"},
	    {"OggS\0\x02\0\0\0\0\0\0", 12, "ogg"},
	    {"\0\0\0\x20"
	     "ftypM4A \0\0\0\0",
	     16, "m4a"},
	    {"ID3\x04\0\0\0\0\0\x10\0\0", 12, "mp3"},
	    {"\xff\xfb\x90\x64\0\0\0\0\0\0\0\0", 12, "mp3"},
	    {"\xff\xf1\x50\x80\0\0\0\0\0\0\0\0", 12, "aac"},
	    {"\xff\xff\xff\xff\0\0\0\0\0\0\0\0", 12, NULL},
	    {"<html><body>", 12, NULL},
	    {"\x7f"
	     "ELF\x02\x01\x01\0\0\0\0\0",
	     12, NULL},
	    {"PK\x03\x04\0\0\0\0\0\0\0\0", 12, NULL},
	    {"RIFF", 4, NULL},
	    /* UTF-16LE text with a BOM is a valid MPEG-1 layer I sync: not MP3 */
	    {"\xff\xfeV\0e\0r\0s\0e\0", 12, NULL},
	    {"\xff\xfe\x90\x64\0\0\0\0\0\0\0\0", 12, "mp3"},
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

static void refusal_reasons(void **state)
{
	static const struct {
		const char *bytes;
		size_t n;
		const char *why; /* the start of the reason */
	} cases[] = {
	    {"wvpk\xde\x0f\0\0\x10\x04\0\0", 12, "WavPack (.wv) is not"},
	    {"caff\0\x01\0\0desc", 12, "Core Audio Format (.caf) is not"},
	    {"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb", 12, "Sony Wave64 (.w64) is not"},
	    {"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81", 12, "WebM/Matroska"},
	    {"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\0\xaa", 12,
	     "Windows Media (.wma, .asf) is not"},
	    {"Verse 1\nI wa", 12, "a text file is not"},
	    {"\xef\xbb\xbf"
	     "Couplet \xc3\xa9",
	     13, "a text file is not"},
	    {"\xff\xfeV\0e\0r\0s\0e\0", 12, "a text file is not"},
	    {"\x89PNG\r\n\x1a\n\0\0\0\x0d", 12, "a PNG image is not"},
	    {"\xff\xd8\xff\xe0\0\x10JFIF\0\x01", 12, "a JPEG image is not"},
	    {"\x7f"
	     "ELF\x02\x01\x01\0\0\0\0\0",
	     12, "a program is not"},
	    {"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", 12, "this file type is not"},
	    {"RIFF", 4, "the first chunk must carry at least 12 bytes"},
	};
	char why[UPLOAD_WHY_MAX];
	const char *ext, *ct;

	(void)state;
	for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
		assert_int_equal(
		    upload_sniff((const uint8_t *)cases[i].bytes, cases[i].n, &ext, &ct),
		    AM_ERR_UNSUPPORTED);
		upload_refusal((const uint8_t *)cases[i].bytes, cases[i].n, why, sizeof(why));
		if (strncmp(why, cases[i].why, strlen(cases[i].why)) != 0)
			fail_msg("case %zu: \"%s\" does not start with \"%s\"", i, why,
				 cases[i].why);
		if (cases[i].n >= UPLOAD_SNIFF_LEN)
			assert_non_null(strstr(why, ": upload " UPLOAD_ACCEPTED));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sniffing),
	    cmocka_unit_test(refusal_reasons),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
