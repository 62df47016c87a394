/*
 * test_formats.c: every supported input format (WAV 16/24-bit at 44.1, 48
 * and 96 kHz, AIFF, FLAC, MP3, M4A/AAC, M4A/ALAC, Ogg Vorbis, Ogg Opus, mono
 * and stereo), generated at test time with the ffmpeg CLI, goes through the
 * sandboxed job and must give: a rendition that re-probes (libavformat) as
 * non-fragmented AAC-in-MP4 with its moov after the mdat and the input's
 * duration within 1 ms; the decoded duration of the ffmpeg CLI within 1 ms;
 * 16-bit .dat peaks identical to an independent computation from the CLI's
 * s16le decode; a consistent overview; the EBU Tech 3341 reference tone at
 * -23.0 LUFS within 0.1 LU; an MP3 fallback with an Info/Xing header.
 * Test code only.
 */
#include "xcode_test.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fmt_case {
	const char *name, *codec, *ext;
	int rate, ch, bits; /* bits: expected bit depth (0: lossy) */
};

static const struct fmt_case cases[] = {
    {"wav16-44k-mono", "pcm_s16le", "wav", 44100, 1, 16},
    {"wav16-48k-stereo", "pcm_s16le", "wav", 48000, 2, 16},
    {"wav24-48k-stereo", "pcm_s24le", "wav", 48000, 2, 24},
    {"wav24-96k-stereo", "pcm_s24le", "wav", 96000, 2, 24},
    {"wav24-44k-mono", "pcm_s24le", "wav", 44100, 1, 24},
    {"aiff16-44k-stereo", "pcm_s16be", "aiff", 44100, 2, 16},
    {"aiff24-48k-mono", "pcm_s24be", "aiff", 48000, 1, 24},
    {"flac16-44k-stereo", "flac -sample_fmt s16", "flac", 44100, 2, 16},
    {"flac24-96k-stereo", "flac -sample_fmt s32", "flac", 96000, 2, 24},
    {"mp3-44k-stereo", "libmp3lame -b:a 192k", "mp3", 44100, 2, 0},
    {"mp3-48k-mono", "libmp3lame -b:a 128k", "mp3", 48000, 1, 0},
    {"m4a-aac-48k-stereo", "aac -b:a 192k", "m4a", 48000, 2, 0},
    {"m4a-aac-44k-mono", "aac -b:a 128k", "m4a", 44100, 1, 0},
    {"m4a-alac-44k-stereo", "alac -sample_fmt s16p", "m4a", 44100, 2, 16},
    {"ogg-vorbis-44k-stereo", "libvorbis", "ogg", 44100, 2, 0},
    {"ogg-opus-48k-stereo", "libopus -b:a 128k", "opus", 48000, 2, 0},
    {"ogg-opus-48k-mono", "libopus -b:a 96k", "opus", 48000, 1, 0},
};

static char dir[256];

static int setup(void **state)
{
	return xct_tmpdir(dir, sizeof(dir));
}

static int teardown(void **state)
{
	xct_rmdir(dir);
	return 0;
}

/* Top-level MP4 boxes: ftyp first, mdat before moov, no moof (not fragmented). */
static void check_mp4_layout(const struct am_buf *b)
{
	size_t off = 0, mdat = 0, moov = 0;
	int n = 0;

	while (off + 8 <= b->len) {
		const uint8_t *p = b->p + off;
		uint64_t sz =
		    (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];

		if (n++ == 0)
			assert_memory_equal(p + 4, "ftyp", 4);
		assert_true(memcmp(p + 4, "moof", 4) != 0);
		if (!memcmp(p + 4, "mdat", 4))
			mdat = off;
		if (!memcmp(p + 4, "moov", 4))
			moov = off;
		assert_true(sz >= 8);
		off += sz;
	}
	assert_int_equal(off, b->len);
	assert_true(mdat > 0 && moov > mdat);
}

/* Decode a whole file with libavcodec: samples per channel after the
 * decoder applied the container's gapless information. */
static int64_t decoded_samples(const char *path, int *rate)
{
	AVFormatContext *ic = NULL;
	AVCodecContext *dc = NULL;
	const AVCodec *codec = NULL;
	AVPacket *pkt = av_packet_alloc();
	AVFrame *f = av_frame_alloc();
	int64_t n = 0;
	int idx;

	assert_int_equal(avformat_open_input(&ic, path, NULL, NULL), 0);
	assert_true(avformat_find_stream_info(ic, NULL) >= 0);
	idx = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
	assert_true(idx >= 0 && codec);
	dc = avcodec_alloc_context3(codec);
	assert_true(avcodec_parameters_to_context(dc, ic->streams[idx]->codecpar) >= 0);
	dc->pkt_timebase = ic->streams[idx]->time_base;
	assert_int_equal(avcodec_open2(dc, codec, NULL), 0);
	while (av_read_frame(ic, pkt) >= 0) {
		if (pkt->stream_index == idx && avcodec_send_packet(dc, pkt) >= 0)
			while (avcodec_receive_frame(dc, f) >= 0)
				n += f->nb_samples;
		av_packet_unref(pkt);
	}
	avcodec_send_packet(dc, NULL);
	while (avcodec_receive_frame(dc, f) >= 0)
		n += f->nb_samples;
	*rate = dc->sample_rate;
	av_frame_free(&f);
	av_packet_free(&pkt);
	avcodec_free_context(&dc);
	avformat_close_input(&ic);
	return n;
}

/* Re-probe the rendition with libavformat: AAC, rate, channels, duration. */
static void check_reprobe(const char *path, const struct xcode_result *r, int want_ch)
{
	AVFormatContext *ic = NULL;
	AVStream *st;
	double dur_ms, want_ms = (double)r->samples * 1000.0 / r->sample_rate;

	assert_int_equal(avformat_open_input(&ic, path, NULL, NULL), 0);
	assert_true(avformat_find_stream_info(ic, NULL) >= 0);
	assert_int_equal(ic->nb_streams, 1);
	st = ic->streams[0];
	assert_int_equal(st->codecpar->codec_id, AV_CODEC_ID_AAC);
	assert_int_equal(st->codecpar->ch_layout.nb_channels, want_ch);
	assert_true(st->codecpar->sample_rate == 44100 || st->codecpar->sample_rate == 48000);
	dur_ms = (double)st->duration * av_q2d(st->time_base) * 1000.0;
	if (fabs(dur_ms - want_ms) > 1.0)
		fail_msg("rendition %.3f ms, input %.3f ms", dur_ms, want_ms);
	avformat_close_input(&ic);
	{
		int rate = 0;
		int64_t n = decoded_samples(path, &rate);

		/* FFmpeg 5.1's mov demuxer trims the priming through the edit list
		 * but not the last frame's padding: at most one AAC frame more. */
		dur_ms = (double)n * 1000.0 / rate;
		if (dur_ms < want_ms - 1.0 || dur_ms > want_ms + 1024.0 * 1000.0 / rate + 1.0)
			fail_msg("rendition decodes to %.3f ms, input %.3f ms", dur_ms, want_ms);
	}
}

static int le16s(const uint8_t *p)
{
	return (int16_t)(p[0] | p[1] << 8);
}

/* The expected .dat from the CLI's s16le decode (audiowaveform's rules,
 * 16-bit: each pixel's s16 extremes). */
static void check_peaks(const struct am_buf *raw, const struct am_buf *dat, int ch, int rate)
{
	size_t frames = raw->len / (2 * (size_t)ch), px = (frames + 511) / 512;
	const int16_t *s = (const int16_t *)raw->p;

	assert_true(dat->len == 24 + px * 4 * (size_t)ch);
	assert_int_equal(xct_le32(dat->p), 2);
	assert_int_equal(xct_le32(dat->p + 4), 0);
	assert_int_equal(xct_le32(dat->p + 8), rate);
	assert_int_equal(xct_le32(dat->p + 12), 512);
	assert_int_equal(xct_le32(dat->p + 16), px);
	assert_int_equal(xct_le32(dat->p + 20), ch);
	for (size_t i = 0; i < px; i++)
		for (int c = 0; c < ch; c++) {
			const uint8_t *p = dat->p + 24 + (i * (size_t)ch + (size_t)c) * 4;
			int mn = 32767, mx = -32768;

			for (size_t k = i * 512; k < frames && k < (i + 1) * 512; k++) {
				int v = s[k * (size_t)ch + (size_t)c];
				mn = v < mn ? v : mn;
				mx = v > mx ? v : mx;
			}
			if (le16s(p) != mn || le16s(p + 2) != mx)
				fail_msg("peaks differ at pixel %zu channel %d", i, c);
		}
}

/* Every overview point is the min/max of the detailed pixels it covers. */
static void check_overview(const struct am_buf *ov, const struct am_buf *dat, int ch)
{
	uint32_t spp = xct_le32(ov->p + 12), n = xct_le32(ov->p + 16), px = xct_le32(dat->p + 16);
	uint32_t f = spp / 512;

	assert_int_equal(xct_le32(ov->p), 2);
	assert_int_equal(xct_le32(ov->p + 4), 0);
	assert_true(spp % 512 == 0 && f >= 1);
	assert_true(n <= XCODE_OVERVIEW_POINTS && n == (px + f - 1) / f);
	assert_int_equal(ov->len, 24 + (size_t)n * 4 * (size_t)ch);
	for (uint32_t i = 0; i < n; i++)
		for (int c = 0; c < ch; c++) {
			int mn = 32767, mx = -32768;

			for (uint32_t k = i * f; k < px && k < (i + 1) * f; k++) {
				const uint8_t *p = dat->p + 24 + (k * (size_t)ch + (size_t)c) * 4;

				mn = le16s(p) < mn ? le16s(p) : mn;
				mx = le16s(p + 2) > mx ? le16s(p + 2) : mx;
			}
			assert_int_equal(le16s(ov->p + 24 + (i * (size_t)ch + (size_t)c) * 4), mn);
			assert_int_equal(le16s(ov->p + 26 + (i * (size_t)ch + (size_t)c) * 4), mx);
		}
}

static void run_case(const struct fmt_case *c)
{
	char in[512], raw[512], out[512];
	struct am_buf rawb;
	struct xct_out o;
	double ref_ms, got_ms;

	snprintf(in, sizeof(in), "%s/%s.%s", dir, c->name, c->ext);
	snprintf(raw, sizeof(raw), "%s/%s.raw", dir, c->name);
	snprintf(out, sizeof(out), "%s/%s.out.mp4", dir, c->name);
	/* A chirp with a level ramp: peaks and loudness have something to see. */
	assert_int_equal(xct_sh("ffmpeg -v error -y -f lavfi -i "
				"\"aevalsrc='(0.2+0.7*t/2.5)*sin(2*PI*(200+800*t)*t)':"
				"s=%d:d=2.5\" -ac %d -c:a %s '%s'",
				c->rate, c->ch, c->codec, in),
			 0);
	assert_int_equal(xct_sh("ffmpeg -v error -y -i '%s' -f s16le -c:a pcm_s16le '%s'", in, raw),
			 0);
	assert_int_equal(xct_read_file(raw, &rawb, 64 << 20), 0);
	if (xct_run_file(in, NULL, &o) != 0)
		fail_msg("%s: %s (%s)", c->name, o.res.reason, o.res.detail);
	assert_int_equal(o.res.sample_rate, c->rate);
	assert_int_equal(o.res.channels, c->ch);
	if (o.res.bit_depth != c->bits)
		fail_msg("%s: bit depth %d", c->name, o.res.bit_depth);
	ref_ms = (double)(rawb.len / (2 * (size_t)c->ch)) * 1000.0 / c->rate;
	got_ms = (double)o.res.samples * 1000.0 / c->rate;
	if (fabs(ref_ms - got_ms) > 1.0)
		fail_msg("%s: decoded %.3f ms, ffmpeg CLI %.3f ms", c->name, got_ms, ref_ms);
	assert_true(llabs(o.res.duration_ms - (int64_t)llround(ref_ms)) <= 1);
	assert_string_equal(o.res.content_type, "audio/mp4");
	check_mp4_layout(&o.stream.buf);
	assert_int_equal(xct_write_file(out, o.stream.buf.p, o.stream.buf.len), 0);
	check_reprobe(out, &o.res, c->ch == 1 ? 1 : 2);
	check_peaks(&rawb, &o.peaks.buf, c->ch, c->rate);
	check_overview(&o.overview.buf, &o.peaks.buf, c->ch);
	assert_true(o.res.has_loudness && o.res.loudness_lufs < 0 && o.res.loudness_lufs > -40);
	am_buf_cleanup(&rawb);
	xct_out_cleanup(&o);
}

static void test_formats(void **state)
{
	for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++)
		run_case(&cases[i]);
}

/* EBU Tech 3341 case 1: stereo 1 kHz sine at -23.0 dBFS (peak, i.e. AES17
 * full-scale sine = 0 dB) for 20 s reads -23.0 LUFS +-0.1; its true peak
 * is -23.0 dBTP. */
static void test_loudness_ebu(void **state)
{
	char in[512];
	struct xct_out o;

	snprintf(in, sizeof(in), "%s/ebu-3341-1.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i \"aevalsrc='0.0707946*sin(2*PI*1000*t)|"
		   "0.0707946*sin(2*PI*1000*t)':s=48000:d=20\" -c:a pcm_s24le '%s'",
		   in),
	    0);
	assert_int_equal(xct_run_file(in, NULL, &o), 0);
	assert_true(o.res.has_loudness);
	if (fabs(o.res.loudness_lufs + 23.0) > 0.1 || fabs(o.res.true_peak_dbtp + 23.0) > 0.1)
		fail_msg("%.3f LUFS, %.3f dBTP", o.res.loudness_lufs, o.res.true_peak_dbtp);
	xct_out_cleanup(&o);
}

/* Digital silence: no loudness value, no crash. */
static void test_silence(void **state)
{
	char in[512];
	struct xct_out o;

	snprintf(in, sizeof(in), "%s/silence.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i anullsrc=r=44100:cl=stereo -t 1 '%s'", in), 0);
	assert_int_equal(xct_run_file(in, NULL, &o), 0);
	assert_false(o.res.has_loudness);
	assert_int_equal(o.res.samples, 44100);
	xct_out_cleanup(&o);
}

/* The MP3 CBR 320 fallback: re-probes as MP3 and starts with an Info/Xing
 * frame (exact duration and seeking in browsers). */
static void test_mp3_fallback(void **state)
{
	char in[512], out[512];
	struct xcode_params p = {.output = XCODE_OUT_MP3};
	struct xct_out o;
	AVFormatContext *ic = NULL;

	snprintf(in, sizeof(in), "%s/fallback.wav", dir);
	snprintf(out, sizeof(out), "%s/fallback.mp3", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i sine=f=440:d=2:r=44100 -ac 2 '%s'", in), 0);
	assert_int_equal(xct_run_file(in, &p, &o), 0);
	assert_string_equal(o.res.content_type, "audio/mpeg");
	assert_true(
	    memmem(o.stream.buf.p, o.stream.buf.len < 4096 ? o.stream.buf.len : 4096, "Info", 4) ||
	    memmem(o.stream.buf.p, o.stream.buf.len < 4096 ? o.stream.buf.len : 4096, "Xing", 4));
	assert_int_equal(xct_write_file(out, o.stream.buf.p, o.stream.buf.len), 0);
	assert_int_equal(avformat_open_input(&ic, out, NULL, NULL), 0);
	assert_true(avformat_find_stream_info(ic, NULL) >= 0);
	assert_int_equal(ic->streams[0]->codecpar->codec_id, AV_CODEC_ID_MP3);
	assert_int_equal(ic->streams[0]->codecpar->bit_rate, 320000);
	avformat_close_input(&ic);
	{
		int rate = 0;
		int64_t n = decoded_samples(out, &rate);

		if (llabs(n - 88200) > 44)
			fail_msg("mp3 rendition decodes to %lld samples", (long long)n);
	}
	xct_out_cleanup(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_formats),
	    cmocka_unit_test(test_loudness_ebu),
	    cmocka_unit_test(test_silence),
	    cmocka_unit_test(test_mp3_fallback),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
