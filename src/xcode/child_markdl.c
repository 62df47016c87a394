/*
 * child_markdl.c: the child's marked-original modes (issue 26, marked
 * downloads; docs/watermark.md "Marked downloads", docs/transcoding.md).
 * The decoded samples go to float, through the listener's mark
 * (wm_stream: constant memory, the same mark as marking the whole track)
 * and back: XCODE_OUT_MARKED_PCM writes them in the decoder's own sample
 * format (as the PCM mode, child_wav.c: the parent wraps them in the
 * original's WAV header), XCODE_OUT_MARKED_FLAC encodes them as FLAC (the
 * decoder's 16 or 24 bits; float decoders, i.e. lossy originals, as 16-bit)
 * and writes the FLAC stream itself: "fLaC", a STREAMINFO with the sample
 * count the parent counted (MD5 left unset: it would need the end of the
 * stream before its start), then the frames. The child holds no key: the
 * parent sends the pattern's seed and the listener's coded bits
 * (wm_pattern_from_seed, wm_embed_bits). Runs in the UNTRUSTED sandboxed
 * child.
 */
#include "xcode/xcode_int.h"

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "watermark/watermark.h"

_Static_assert(XCODE_MARK_SEED == WM_SEED_BYTES, "seed size");
_Static_assert(XCODE_MARK_BITS == WM_CODED_BITS, "coded bits");

struct xc_markdl {
	int fmt, planar, in_bytes, bits, flac;
	const char *name; /* the PCM format written ("s16le", ...) or "flac" */
	struct wm_pattern *p;
	struct wm_stream *ws;
	float *f; /* one decoded frame as float */
	size_t fcap;
	uint8_t *out; /* XCODE_IO_CHUNK */
	size_t n;
	/* FLAC */
	AVCodecContext *enc;
	AVFrame *ef;
	AVPacket *pkt;
	int efill;
	struct xc_job *j;
};

int xc_markdl_mode(const struct xc_job *j)
{
	return j->a->output == XCODE_OUT_MARKED_PCM || j->a->output == XCODE_OUT_MARKED_FLAC;
}

static int flush(struct xc_markdl *m)
{
	int rc = m->n ? xcode_send(XF_STREAM_BODY, m->out, m->n) : 0;

	m->n = 0;
	return rc;
}

static int put(struct xc_markdl *m, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		size_t k = XCODE_IO_CHUNK - m->n < n ? XCODE_IO_CHUNK - m->n : n;

		memcpy(m->out + m->n, b, k);
		m->n += k;
		b += k;
		n -= k;
		if (m->n == XCODE_IO_CHUNK && flush(m))
			return AM_ERR_IO;
	}
	return 0;
}

static int32_t to_int(float v, int bits)
{
	double s = (double)v * (double)(1u << (bits - 1)), hi = (double)(1u << (bits - 1)) - 1;

	s = nearbyint(s);
	return (int32_t)(s > hi ? hi : s < -hi - 1 ? -hi - 1 : s);
}

/* One marked sample in the decoder's format, little-endian (PCM mode). */
static int put_pcm(struct xc_markdl *m, float v)
{
	uint8_t b[8];
	int32_t i;

	switch (av_get_packed_sample_fmt(m->fmt)) {
	case AV_SAMPLE_FMT_U8: b[0] = (uint8_t)(to_int(v, 8) + 128); return put(m, b, 1);
	case AV_SAMPLE_FMT_S16: i = to_int(v, 16); return put(m, &i, 2);
	case AV_SAMPLE_FMT_S32:
		if (m->bits == 24) {
			i = to_int(v, 24);
			return put(m, &i, 3);
		}
		i = (int32_t)fmax(-2147483648.0, fmin(2147483647.0, nearbyint(v * 2147483648.0)));
		return put(m, &i, 4);
	case AV_SAMPLE_FMT_FLT: return put(m, &v, 4);
	default: {
		double d = v;

		return put(m, &d, 8);
	}
	}
}

/* FLAC: one sample into the encoder's frame, sent when full. */
static int send_flac(struct xc_markdl *m, int last)
{
	int r;

	if (m->efill > 0) {
		m->ef->nb_samples = m->efill;
		if (avcodec_send_frame(m->enc, m->ef) < 0)
			return AM_ERR_INTERNAL;
		m->efill = 0;
	}
	if (last && avcodec_send_frame(m->enc, NULL) < 0)
		return AM_ERR_INTERNAL;
	while ((r = avcodec_receive_packet(m->enc, m->pkt)) == 0) {
		int rc = put(m, m->pkt->data, (size_t)m->pkt->size);

		av_packet_unref(m->pkt);
		if (rc)
			return rc;
	}
	return r == AVERROR(EAGAIN) || r == AVERROR_EOF ? 0 : AM_ERR_INTERNAL;
}

static int marked_out(void *ctx, const float *pcm, size_t frames)
{
	struct xc_markdl *m = ctx;
	int ch = m->j->ch, rc = 0;

	for (size_t i = 0; i < frames && rc == 0; i++) {
		if (!m->flac) {
			for (int c = 0; c < ch && rc == 0; c++)
				rc = put_pcm(m, pcm[i * (size_t)ch + (size_t)c]);
			continue;
		}
		if (m->efill == 0 && av_frame_make_writable(m->ef) < 0)
			return AM_ERR_NOMEM;
		for (int c = 0; c < ch; c++) {
			int32_t v = to_int(pcm[i * (size_t)ch + (size_t)c], m->bits);

			if (m->enc->sample_fmt == AV_SAMPLE_FMT_S16)
				((int16_t *)m->ef->data[0])[m->efill * ch + c] = (int16_t)v;
			else
				((int32_t *)m->ef->data[0])[m->efill * ch + c] =
				    v * 256; /* not v << 8: UB for v < 0 */
		}
		if (++m->efill == m->enc->frame_size)
			rc = send_flac(m, 0);
	}
	return rc;
}

/* "fLaC" and the encoder's STREAMINFO as the last metadata block, with the
 * sample count the parent counted (36 bits at byte 13 of the block). */
static int flac_head(struct xc_markdl *m, uint64_t samples)
{
	uint8_t h[8 + 34];

	if (!m->enc->extradata || m->enc->extradata_size < 34)
		return AM_ERR_INTERNAL;
	memcpy(h, "fLaC", 4);
	h[4] = 0x80; /* last block, type 0 */
	h[5] = 0;
	h[6] = 0;
	h[7] = 34;
	memcpy(h + 8, m->enc->extradata, 34);
	h[8 + 13] = (uint8_t)((h[8 + 13] & 0xF0) | ((samples >> 32) & 0x0F));
	for (int i = 0; i < 4; i++)
		h[8 + 14 + i] = (uint8_t)(samples >> (24 - 8 * i));
	memset(h + 8 + 18, 0, 16); /* MD5 unknown */
	return put(m, h, sizeof(h));
}

static int flac_open(struct xc_markdl *m, const AVFrame *f)
{
	const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_FLAC);

	if (!c || !(m->enc = avcodec_alloc_context3(c)) || !(m->ef = av_frame_alloc()) ||
	    !(m->pkt = av_packet_alloc()))
		return AM_ERR_NOMEM;
	m->bits = m->bits == 24 ? 24 : 16; /* float and 32-bit decoders: 16-bit FLAC */
	m->enc->sample_fmt = m->bits == 24 ? AV_SAMPLE_FMT_S32 : AV_SAMPLE_FMT_S16;
	m->enc->bits_per_raw_sample = m->bits;
	m->enc->sample_rate = f->sample_rate;
	if (av_channel_layout_copy(&m->enc->ch_layout, &f->ch_layout) < 0 ||
	    avcodec_open2(m->enc, c, NULL) < 0 || m->enc->frame_size <= 0)
		return AM_ERR_INTERNAL;
	m->ef->format = m->enc->sample_fmt;
	m->ef->nb_samples = m->enc->frame_size;
	m->ef->sample_rate = f->sample_rate;
	if (av_channel_layout_copy(&m->ef->ch_layout, &f->ch_layout) < 0 ||
	    av_frame_get_buffer(m->ef, 0) < 0)
		return AM_ERR_NOMEM;
	m->name = "flac";
	return flac_head(m, m->j->a->mark->samples);
}

/* The decoder's format: the float conversion and what is written back. */
static int pick(struct xc_markdl *m, const struct xc_job *j, int fmt)
{
	m->fmt = fmt;
	m->planar = av_sample_fmt_is_planar(fmt);
	m->in_bytes = av_get_bytes_per_sample(fmt);
	switch (av_get_packed_sample_fmt(fmt)) {
	case AV_SAMPLE_FMT_U8: m->name = "u8", m->bits = 8; break;
	case AV_SAMPLE_FMT_S16: m->name = "s16le", m->bits = 16; break;
	case AV_SAMPLE_FMT_S32:
		if (j->dec->bits_per_raw_sample > 16 && j->dec->bits_per_raw_sample <= 24)
			m->name = "s24le", m->bits = 24;
		else
			m->name = "s32le", m->bits = 32;
		break;
	case AV_SAMPLE_FMT_FLT: m->name = "f32le", m->bits = 32; break;
	case AV_SAMPLE_FMT_DBL: m->name = "f64le", m->bits = 64; break;
	default: return -1;
	}
	return 0;
}

int xc_markdl_open(struct xc_job *j, const AVFrame *f)
{
	struct xc_markdl *m = calloc(1, sizeof(*m));
	const struct xcode_mark *k = j->a->mark;
	int rc;

	if (!m || !(m->out = malloc(XCODE_IO_CHUNK))) {
		free(m);
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	}
	j->mdl = m;
	m->j = j;
	m->flac = j->a->output == XCODE_OUT_MARKED_FLAC;
	j->rate = f->sample_rate;
	j->ch = f->ch_layout.nb_channels;
	j->in_fmt = f->format;
	if (j->ch < 1 || j->ch > XCODE_MAX_CHANNELS || j->rate < 8000 || j->rate > XCODE_MAX_RATE)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "decoded format out of range");
	if (pick(m, j, f->format) != 0)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "decoded sample format not supported");
	if (!k || wm_pattern_from_seed(k->seed, &m->p) != 0 ||
	    wm_stream_new(m->p, k->bits, k->strength, (unsigned)j->ch, (unsigned)j->rate, 0,
			  marked_out, m, &m->ws) != 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "mark setup");
	if (m->flac && (rc = flac_open(m, f)) != 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "flac encoder");
	j->max_samples = (uint64_t)j->a->max_duration_s * (uint64_t)j->rate;
	return 0;
}

static float sample_of(const struct xc_markdl *m, const AVFrame *f, int i, int c, int ch)
{
	const uint8_t *s = m->planar ? f->extended_data[c] + (size_t)i * m->in_bytes
				     : f->extended_data[0] + ((size_t)i * ch + c) * m->in_bytes;

	int16_t i16;
	int32_t i32;
	float f32;
	double f64;

	switch (av_get_packed_sample_fmt(m->fmt)) {
	case AV_SAMPLE_FMT_U8: return (float)(*s - 128) / 128.0f;
	case AV_SAMPLE_FMT_S16: memcpy(&i16, s, sizeof(i16)); return (float)i16 / 32768.0f;
	case AV_SAMPLE_FMT_S32:
		memcpy(&i32, s, sizeof(i32));
		return (float)((double)i32 / 2147483648.0);
	case AV_SAMPLE_FMT_FLT: memcpy(&f32, s, sizeof(f32)); return f32;
	default: memcpy(&f64, s, sizeof(f64)); return (float)f64;
	}
}

int xc_markdl_frame(struct xc_job *j, const AVFrame *f)
{
	struct xc_markdl *m = j->mdl;
	size_t need = (size_t)f->nb_samples * (size_t)j->ch;

	if (f->sample_rate != j->rate || f->ch_layout.nb_channels != j->ch || f->format != m->fmt)
		return xc_fail(j, XCODE_FAIL_DAMAGED, "audio format changes mid-stream");
	j->samples += (uint64_t)f->nb_samples;
	if (j->samples > j->max_samples)
		return xc_fail(j, XCODE_FAIL_TOOLONG, "decoded duration over the cap");
	if (need > m->fcap) {
		free(m->f);
		if (!(m->f = malloc(need * sizeof(float))))
			return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
		m->fcap = need;
	}
	for (int i = 0; i < f->nb_samples; i++)
		for (int c = 0; c < j->ch; c++)
			m->f[(size_t)i * (size_t)j->ch + (size_t)c] = sample_of(m, f, i, c, j->ch);
	if (wm_stream_write(m->ws, m->f, (size_t)f->nb_samples) != 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "marking");
	return 0;
}

int xc_markdl_finish(struct xc_job *j)
{
	struct xc_markdl *m = j->mdl;
	struct xf_info in;

	if (m->flac && j->samples != j->a->mark->samples)
		return xc_fail(j, XCODE_FAIL_DAMAGED, "decoded length differs from the count");
	if (wm_stream_finish(m->ws) != 0 || (m->flac && send_flac(m, 1) != 0) || flush(m))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "output");
	memset(&in, 0, sizeof(in));
	in.samples = j->samples;
	in.sample_rate = j->rate;
	in.channels = j->ch;
	in.bit_depth = m->bits;
	in.meter_flags = XCODE_METER_SILENT;
	in.true_peak_dbtp = in.stream_true_peak_dbtp = in.loudness_lufs = -HUGE_VAL;
	am_strlcpy(in.codec, m->name, sizeof(in.codec));
	return xcode_send(XF_INFO, &in, sizeof(in));
}

void xc_markdl_close(struct xc_job *j)
{
	struct xc_markdl *m = j->mdl;

	if (!m)
		return;
	wm_stream_free(m->ws);
	wm_pattern_free(m->p);
	avcodec_free_context(&m->enc);
	av_frame_free(&m->ef);
	av_packet_free(&m->pkt);
	free(m->f);
	free(m->out);
	free(m);
	j->mdl = NULL;
}
