/*
 * Unit tests for src/markers/: labels (cut, control characters, ASCII
 * folding, invalid UTF-8), the comment selection, each text format byte for
 * byte on a small case, the SMF's structure and tick arithmetic, and the
 * marked WAV's header scan, patched head and chunks. The independent
 * readers (mido/midi-file, wavefile, strict CSV parsers) are in
 * tests/e2e/markers.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "markers/markers.h"
#include "util/util.h"

static const struct markers_comment demo[] = {
    {.time_ms = 61500, .end_ms = 64000, .author = "Alice", .text = "kick, \"too\" loud"},
    {.time_ms = 1000, .end_ms = -1, .author = "", .text = "intro\tok\nthanks"},
    {.time_ms = 2000, .end_ms = -1, .author = "Bob", .text = "done", .resolved = 1},
    {.time_ms = 1000, .end_ms = -1, .author = "Carol", .text = "agree", .is_reply = 1},
};

static char *write_fmt(enum markers_format f, const struct markers_opts *o,
		       const struct markers_comment *c, size_t n, size_t *len)
{
	struct am_buf b;
	char *s;

	am_buf_init(&b, 1 << 20);
	assert_int_equal(markers_write(f, o, c, n, &b), 0);
	s = calloc(1, b.len + 1);
	assert_non_null(s);
	if (b.len)
		memcpy(s, b.p, b.len);
	*len = b.len;
	am_buf_cleanup(&b);
	return s;
}

static void label(const struct markers_comment *c, unsigned max, int ascii, const char *want)
{
	struct am_buf b;

	am_buf_init(&b, 4096);
	assert_int_equal(markers_label(c, max, ascii, &b), 0);
	assert_string_equal(b.len ? (const char *)b.p : "", want);
	am_buf_cleanup(&b);
}

static void labels(void **state)
{
	struct markers_comment c = {
	    .author = "Zoë",
	    .text = "caf\xC3\xA9 \xE2\x80\x9Cgood\xE2\x80\x9D \xF0\x9F\x8E\xB5\r\n"};

	(void)state;
	label(&c, 0, 0, "Zoë: café “good” 🎵  ");
	label(&c, 0, 1, "Zoe: cafe \"good\" ?  ");
	label(&c, 8, 0, "Zoë: ca…");
	label(&c, 8, 1, "Zoe: ...");
	c.author = NULL;
	c.text = "bad \xFF\xC0\x80 utf8";
	label(&c, 0, 0, "owner: bad ??? utf8");
	c.text = "\xE2\x82"; /* truncated sequence */
	label(&c, 0, 0, "owner: ??");
}

static void selection_and_text_formats(void **state)
{
	struct markers_opts o = {0};
	size_t n;
	char *s;

	(void)state;
	s = write_fmt(MARKERS_AUDACITY, &o, demo, 4, &n);
	assert_string_equal(s, "1.000000\t1.000000\towner: intro ok thanks\n"
			       "61.500000\t64.000000\tAlice: kick, \"too\" loud\n");
	free(s);
	o.flags = MARKERS_RESOLVED | MARKERS_REPLIES;
	s = write_fmt(MARKERS_REAPER, &o, demo, 4, &n);
	assert_string_equal(s,
			    "#,Name,Start,End,Length,Color\r\n"
			    "M1,owner: intro ok thanks,0:01.000,,,\r\n"
			    "M2,Carol: agree,0:01.000,,,\r\n"
			    "M3,Bob: done,0:02.000,,,\r\n"
			    "R1,\"Alice: kick, \"\"too\"\" loud\",1:01.500,1:04.000,0:02.500,\r\n");
	free(s);
	o.flags = 0;
	o.label_max = 10;
	s = write_fmt(MARKERS_AUDITION, &o, demo, 4, &n);
	assert_string_equal(
	    s, "Name\tStart\tDuration\tTime Format\tType\tDescription\r\n"
	       "owner: in…\t0:01.000\t0:00.000\tdecimal\tCue\towner: intro ok thanks\r\n"
	       "Alice: ki…\t1:01.500\t0:02.500\tdecimal\tCue\tAlice: kick, \"too\" loud\r\n");
	free(s);
}

static void hours(void **state)
{
	struct markers_comment c = {.time_ms = 3723004, .end_ms = -1, .text = "x"};
	struct markers_opts o = {0};
	size_t n;
	char *s;

	(void)state;
	s = write_fmt(MARKERS_AUDITION, &o, &c, 1, &n);
	assert_non_null(strstr(s, "\t1:02:03.004\t0:00.000\t"));
	free(s);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t vlq(const uint8_t *p, size_t *i)
{
	uint64_t v = 0;

	do
		v = (v << 7) | (p[*i] & 0x7F);
	while (p[(*i)++] & 0x80);
	return v;
}

/* Walk the track: every marker's tick back to ms at the written tempo. */
static void smf(void **state)
{
	struct markers_opts o = {.tempo_mbpm = 97500, .ts_num = 7, .ts_den = 8, .name = "Intro"};
	const uint8_t *p;
	uint64_t tick = 0, us = 0;
	double ms[8];
	int k = 0;
	size_t n, i = 22;
	char *s;

	(void)state;
	s = write_fmt(MARKERS_SMF, &o, demo, 4, &n);
	p = (const uint8_t *)s;
	assert_memory_equal(p, "MThd\0\0\0\6\0\1\0\1\x03\xC0", 14); /* format 1, 1 track, 960 */
	assert_memory_equal(p + 14, "MTrk", 4);
	assert_int_equal(be32(p + 18), n - 22);
	while (i < n) {
		uint8_t type, len;

		tick += vlq(p, &i);
		assert_int_equal(p[i++], 0xFF);
		type = p[i++];
		len = p[i++];
		if (type == 0x03)
			assert_memory_equal(p + i, "Intro", 5);
		if (type == 0x58)
			assert_memory_equal(p + i, "\x07\x03\x18\x08", 4);
		if (type == 0x51)
			us = (uint64_t)p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		if (type == 0x06 && k < 8)
			ms[k++] = (double)tick * (double)us / 960.0 / 1000.0;
		i += len;
	}
	assert_int_equal(us, 615385); /* 60e6 / 97.5 */
	assert_int_equal(k, 3);	      /* 1000, 61500 and the end of the range at 64000 */
	assert_true(ms[0] > 999.5 && ms[0] < 1000.5);
	assert_true(ms[1] > 61499.5 && ms[1] < 61500.5);
	assert_true(ms[2] > 63999.5 && ms[2] < 64000.5);
	free(s);
	o.tempo_mbpm = 1000;
	{
		struct am_buf b;

		am_buf_init(&b, 1024);
		assert_int_equal(markers_write(MARKERS_SMF, &o, demo, 4, &b), AM_ERR_INVAL);
		o.tempo_mbpm = 120000;
		o.ts_den = 6;
		assert_int_equal(markers_write(MARKERS_SMF, &o, demo, 4, &b), AM_ERR_INVAL);
		am_buf_cleanup(&b);
	}
}

/* A 16-bit stereo 48 kHz WAV head: RIFF, fmt, data of len bytes. */
static size_t wav_head(uint8_t *h, uint32_t len)
{
	memcpy(h, "RIFF", 4);
	h[4] = h[5] = h[6] = h[7] = 0;
	memcpy(h + 8, "WAVEfmt \x10\0\0\0\x01\0\x02\0\x80\xBB\0\0\0\xEE\x02\0\x04\0\x10\0data", 32);
	h[40] = (uint8_t)len;
	h[41] = (uint8_t)(len >> 8);
	h[42] = (uint8_t)(len >> 16);
	h[43] = (uint8_t)(len >> 24);
	return 44;
}

static void wav_scan(void **state)
{
	uint8_t h[64];
	struct markers_wav w;

	(void)state;
	wav_head(h, 4800 * 4);
	assert_int_equal(markers_wav_scan(h, 44, 44 + 4800 * 4, &w), 0);
	assert_int_equal(w.data_off, 44);
	assert_int_equal(w.frames, 4800);
	assert_int_equal(w.sample_rate, 48000);
	/* a data size past the end of the file is clamped to it */
	assert_int_equal(markers_wav_scan(h, 44, 44 + 400, &w), 0);
	assert_int_equal(w.data_len, 400);
	/* no data chunk in the head, not WAVE, a codec we do not place */
	assert_int_equal(markers_wav_scan(h, 36, 1000, &w), AM_ERR_UNSUPPORTED);
	h[8] = 'X';
	assert_int_equal(markers_wav_scan(h, 44, 1000, &w), AM_ERR_UNSUPPORTED);
	h[8] = 'W';
	h[20] = 0x55; /* MP3 in WAV */
	assert_int_equal(markers_wav_scan(h, 44, 1000, &w), AM_ERR_UNSUPPORTED);
	h[20] = 1;
	h[32] = 0; /* block align 0 */
	assert_int_equal(markers_wav_scan(h, 44, 1000, &w), AM_ERR_INVAL);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wav_chunks(void **state)
{
	uint8_t h[64];
	struct markers_wav w;
	struct markers_opts o = {.now_s = 1795917192};
	struct am_buf tail, head;
	const uint8_t *t;
	size_t lst;

	(void)state;
	wav_head(h, 48000 * 4 * 70);
	assert_int_equal(markers_wav_scan(h, 44, 44 + 48000 * 4 * 70, &w), 0);
	o.sample_rate = w.sample_rate;
	o.frames = w.frames;
	am_buf_init(&tail, 1 << 20);
	am_buf_init(&head, 1 << 20);
	assert_int_equal(markers_wav_chunks(&w, &o, demo, 4, &tail), 0);
	t = tail.p;
	assert_memory_equal(t, "cue ", 4);
	assert_int_equal(le32(t + 4), 4 + 2 * 24);
	assert_int_equal(le32(t + 8), 2);
	assert_int_equal(le32(t + 12 + 4), 48000);	/* 1.000 s: dwPosition */
	assert_int_equal(le32(t + 12 + 20), 48000);	/* dwSampleOffset */
	assert_int_equal(le32(t + 36 + 4), 61500 * 48); /* 61.5 s */
	lst = 12 + 48;
	assert_memory_equal(t + lst, "LIST", 4);
	assert_memory_equal(t + lst + 8, "adtl", 4);
	assert_non_null(
	    memmem(t, tail.len, "ltxt\x14\0\0\0\x02\0\0\0\xC0\xD4\x01\0rgn ", 20)); /* 2.5 s */
	assert_non_null(memmem(t, tail.len, "Alice: kick, \"too\" loud", 23));
	assert_memory_equal(t + lst + 8 + le32(t + lst + 4), "bext", 4);
	assert_int_equal(le32(t + lst + 8 + le32(t + lst + 4) + 4), 602);
	assert_int_equal(markers_wav_head(h, &w, tail.len, &head), 0);
	assert_int_equal(head.len, 44);
	assert_int_equal(le32(head.p + 4), 44 + 48000 * 4 * 70 + tail.len - 8);
	assert_int_equal(tail.len % 2, 0);
	am_buf_cleanup(&tail);
	am_buf_cleanup(&head);
}

static void wav_too_big_riff(void **state)
{
	uint8_t h[64];
	struct markers_wav w;
	struct am_buf head;

	(void)state;
	wav_head(h, 0xFFFFFF00u);
	assert_int_equal(markers_wav_scan(h, 44, 44 + (uint64_t)0xFFFFFF00u, &w), 0);
	am_buf_init(&head, 1024);
	assert_int_equal(markers_wav_head(h, &w, 4096, &head), AM_ERR_TOOBIG);
	am_buf_cleanup(&head);
}

/* A strict reader of the decoded-audio header (EBU Tech 3306 for RF64,
 * the RIFF WAVE layout otherwise), written from the specifications, not
 * from markers_wav.c: every field at its place, sizes that add up. */
static uint64_t strict_pcm_head(const uint8_t *h, size_t n, uint64_t total, int *rf64)
{
	size_t f;

	assert_true(n >= 44);
	*rf64 = memcmp(h, "RF64", 4) == 0;
	assert_memory_equal(h + 8, "WAVE", 4);
	if (*rf64) {
		uint64_t riff = le32(h + 20) | (uint64_t)le32(h + 24) << 32;
		uint64_t data = le32(h + 28) | (uint64_t)le32(h + 32) << 32;

		assert_int_equal(n, 80);
		assert_int_equal(le32(h + 4), 0xFFFFFFFFu);
		assert_memory_equal(h + 12, "ds64", 4);
		assert_int_equal(le32(h + 16), 28);
		assert_true(riff == total - 8);
		assert_true((le32(h + 36) | (uint64_t)le32(h + 40) << 32) == data / 4);
		assert_int_equal(le32(h + 44), 0); /* table length */
		assert_int_equal(le32(h + 76), 0xFFFFFFFFu);
		f = 48;
		assert_true(riff > 0xFFFFFFFFu);
	} else {
		assert_memory_equal(h, "RIFF", 4);
		assert_int_equal(n, 44);
		assert_true(le32(h + 4) == total - 8);
		f = 12;
	}
	assert_memory_equal(h + f, "fmt ", 4);
	assert_int_equal(le32(h + f + 4), 16);
	assert_int_equal(h[f + 8] | h[f + 9] << 8, 1);	  /* PCM */
	assert_int_equal(h[f + 10] | h[f + 11] << 8, 2);  /* channels */
	assert_int_equal(le32(h + f + 12), 44100);	  /* rate */
	assert_int_equal(le32(h + f + 16), 44100 * 4);	  /* byte rate */
	assert_int_equal(h[f + 20] | h[f + 21] << 8, 4);  /* block align */
	assert_int_equal(h[f + 22] | h[f + 23] << 8, 16); /* bits */
	assert_memory_equal(h + f + 24, "data", 4);
	return *rf64 ? (le32(h + 28) | (uint64_t)le32(h + 32) << 32) : le32(h + f + 28);
}

/* The decoded-audio header switches to RF64 exactly when the RIFF size
 * passes 32 bits: data sizes past 4 GiB without writing them. */
static void wav_pcm_head_rf64(void **state)
{
	/* {data bytes, tail bytes, RF64?}: the last RIFF, the first RF64, 5 GiB */
	static const struct {
		uint64_t data, tail;
		int rf64;
	} cases[] = {
	    {1000, 700, 0},
	    {UINT64_C(0xFFFFFFFF) - 36 - 700, 700, 0},
	    {UINT64_C(0xFFFFFFFF) - 36 - 700 + 4, 700, 1},
	    {UINT64_C(5) << 30, 700, 1},
	};
	struct markers_wav w, s;
	struct am_buf head;
	int rf64;

	(void)state;
	am_buf_init(&head, 1024);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t total;

		am_buf_reset(&head);
		assert_int_equal(
		    markers_wav_pcm_head(1, 16, 2, 44100, cases[i].data, cases[i].tail, &head, &w),
		    0);
		total = head.len + cases[i].data + cases[i].tail;
		assert_true(strict_pcm_head(head.p, head.len, total, &rf64) == cases[i].data);
		assert_int_equal(rf64, cases[i].rf64);
		assert_int_equal(w.rf64, cases[i].rf64);
		assert_true(w.data_off == head.len && w.frames == cases[i].data / 4);
		/* the project's own scan agrees with the strict reader */
		assert_int_equal(markers_wav_scan(head.p, head.len, total, &s), 0);
		assert_true(s.data_len == cases[i].data && s.data_off == head.len &&
			    s.rf64 == rf64);
	}
	assert_int_equal(markers_wav_pcm_head(3, 24, 2, 44100, 6, 0, &head, &w), AM_ERR_INVAL);
	assert_int_equal(markers_wav_pcm_head(1, 16, 0, 44100, 6, 0, &head, &w), AM_ERR_INVAL);
	am_buf_cleanup(&head);
}

static void format_names(void **state)
{
	(void)state;
	assert_int_equal(markers_format_parse("smf"), MARKERS_SMF);
	assert_int_equal(markers_format_parse("wav"), MARKERS_WAV);
	assert_int_equal(markers_format_parse("zip"), AM_ERR_INVAL);
	assert_string_equal(markers_file_name(MARKERS_AUDACITY), "markers-audacity.txt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(labels),
	    cmocka_unit_test(selection_and_text_formats),
	    cmocka_unit_test(hours),
	    cmocka_unit_test(smf),
	    cmocka_unit_test(wav_scan),
	    cmocka_unit_test(wav_chunks),
	    cmocka_unit_test(wav_too_big_riff),
	    cmocka_unit_test(wav_pcm_head_rf64),
	    cmocka_unit_test(format_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
