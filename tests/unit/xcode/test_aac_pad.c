/*
 * test_aac_pad.c: the fill-element padding of segment variants
 * (src/xcode/xcode_ab.c xc_aac_pad). Real AAC-LC blocks from FFmpeg's
 * encoder (the stream rendition's settings: 256 kbit/s, fast coder),
 * padded by 0..600 bytes (one element; several, past 270 bytes; the
 * escape count's edges), decode to exactly the samples the unpadded blocks
 * decode to, with FFmpeg's decoder under AV_EF_EXPLODE; blocks that do not
 * end in ID_END and sizes out of range are refused. Test code only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xcode/xcode_int.h"

#define FRAMES 24
#define PADS   13

static const int pads[PADS] = {0, 1, 2, 7, 14, 15, 16, 17, 100, 269, 271, 300, 600};

struct blocks {
	uint8_t data[FRAMES + 4][2048];
	int size[FRAMES + 4], n;
	uint8_t asc[64];
	int asc_n;
};

/* FRAMES frames of a stereo chord with noise, encoded; every packet kept. */
static void encode(struct blocks *b)
{
	const AVCodec *c = avcodec_find_encoder_by_name("aac");
	AVCodecContext *e = avcodec_alloc_context3(c);
	AVFrame *f = av_frame_alloc();
	AVPacket *p = av_packet_alloc();
	uint32_t seed = 7;

	av_log_set_level(AV_LOG_ERROR);
	assert_non_null(e);
	e->sample_rate = 44100;
	av_channel_layout_default(&e->ch_layout, 2);
	e->sample_fmt = AV_SAMPLE_FMT_FLTP;
	e->bit_rate = 256000;
	e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER | AV_CODEC_FLAG_BITEXACT;
	assert_true(av_opt_set(e->priv_data, "aac_coder", "fast", 0) >= 0);
	assert_int_equal(avcodec_open2(e, c, NULL), 0);
	memcpy(b->asc, e->extradata, (size_t)e->extradata_size);
	b->asc_n = e->extradata_size;
	f->nb_samples = e->frame_size;
	f->format = AV_SAMPLE_FMT_FLTP;
	f->sample_rate = 44100;
	assert_int_equal(av_channel_layout_copy(&f->ch_layout, &e->ch_layout), 0);
	assert_int_equal(av_frame_get_buffer(f, 0), 0);
	b->n = 0;
	for (int fr = 0; fr <= FRAMES; fr++) {
		for (int ch = 0; ch < 2; ch++)
			for (int i = 0; i < f->nb_samples; i++) {
				double t = (fr * 1024.0 + i) / 44100.0;

				seed = seed * 1664525u + 1013904223u;
				((float *)f->data[ch])[i] =
				    (float)(0.3 * sin(2 * M_PI * 220 * t) +
					    0.2 * sin(2 * M_PI * 277 * t + ch) +
					    0.05 * ((double)(seed >> 8) / 8388608.0 - 1.0));
			}
		f->pts = fr * 1024;
		assert_int_equal(avcodec_send_frame(e, fr < FRAMES ? f : NULL), 0);
		while (avcodec_receive_packet(e, p) == 0) {
			assert_true(b->n < FRAMES + 4 && p->size + 600 <= 2048);
			memcpy(b->data[b->n], p->data, (size_t)p->size);
			b->size[b->n++] = p->size;
			av_packet_unref(p);
		}
	}
	assert_true(b->n >= FRAMES);
	av_packet_free(&p);
	av_frame_free(&f);
	avcodec_free_context(&e);
}

/* Decode blocks padded by `pad` bytes each; the samples of channel 0. */
static int decode(const struct blocks *b, int pad, float *out, size_t cap)
{
	const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_AAC);
	AVCodecContext *d = avcodec_alloc_context3(c);
	AVPacket *p = av_packet_alloc();
	AVFrame *f = av_frame_alloc();
	size_t n = 0;

	d->extradata = av_mallocz((size_t)b->asc_n + AV_INPUT_BUFFER_PADDING_SIZE);
	memcpy(d->extradata, b->asc, (size_t)b->asc_n);
	d->extradata_size = b->asc_n;
	d->err_recognition = AV_EF_EXPLODE | AV_EF_BITSTREAM;
	assert_int_equal(avcodec_open2(d, c, NULL), 0);
	for (int i = 0; i < b->n; i++) {
		assert_int_equal(av_new_packet(p, b->size[i] + pad), 0);
		memcpy(p->data, b->data[i], (size_t)b->size[i]);
		assert_int_equal(
		    xc_aac_pad(p->data, (size_t)b->size[i], (size_t)(b->size[i] + pad)), 0);
		assert_int_equal(avcodec_send_packet(d, p), 0);
		av_packet_unref(p);
		while (avcodec_receive_frame(d, f) == 0) {
			for (int s = 0; s < f->nb_samples && n < cap; s++)
				out[n++] = ((float *)f->extended_data[0])[s];
			av_frame_unref(f);
		}
	}
	av_frame_free(&f);
	av_packet_free(&p);
	avcodec_free_context(&d);
	return (int)n;
}

static void padded_decodes_the_same(void **state)
{
	static struct blocks b;
	static float ref[(FRAMES + 4) * 1024], got[(FRAMES + 4) * 1024];
	int nref;

	(void)state;
	encode(&b);
	nref = decode(&b, 0, ref, AM_ARRAY_LEN(ref));
	assert_true(nref >= FRAMES * 1024);
	for (int k = 1; k < PADS; k++) {
		memset(got, 0, sizeof(got));
		assert_int_equal(decode(&b, pads[k], got, AM_ARRAY_LEN(got)), nref);
		assert_memory_equal(ref, got, (size_t)nref * sizeof(float));
	}
}

static void refused(void **state)
{
	uint8_t au[64] = {0x12, 0x34, 0x00, 0x00};

	(void)state;
	assert_int_equal(xc_aac_pad(au, 4, 10), AM_ERR_INVAL); /* last set bits "1 0100" */
	memset(au, 0, sizeof(au));
	assert_int_equal(xc_aac_pad(au, 4, 10), AM_ERR_INVAL); /* no set bit */
	au[0] = 0xe0;					       /* ID_END alone */
	assert_int_equal(xc_aac_pad(au, 1, 0), AM_ERR_INVAL);
	assert_int_equal(xc_aac_pad(NULL, 1, 2), AM_ERR_INVAL);
	assert_int_equal(xc_aac_pad(au, 1, 1 + XC_AAC_PAD_MAX + 1), AM_ERR_INVAL);
	for (size_t t = 1; t < sizeof(au); t++) { /* padded: ID_FIL..., ID_END, zeros */
		memset(au, 0, sizeof(au));
		au[0] = 0xe0;
		assert_int_equal(xc_aac_pad(au, 1, t), 0);
		assert_int_equal(au[0] >> 5, t == 1 ? 7 : 6);
		assert_int_not_equal(au[t - 1], 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(padded_decodes_the_same),
	    cmocka_unit_test(refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
