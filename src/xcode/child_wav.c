/*
 * child_wav.c: the child's decode-to-PCM modes (XCODE_OUT_PCM and
 * XCODE_OUT_PCM_COUNT, issue 24's marked WAV of a non-WAV original,
 * docs/transcoding.md "Decode to PCM"): every decoded sample, interleaved
 * little-endian, in the decoder's own sample format (no conversion but the
 * layout: s16 -> s16le, s32 holding 24 bits -> s24le, s32 -> s32le,
 * float -> f32le, double -> f64le, u8 -> u8), exactly what `ffmpeg -i
 * ORIG -f FMT` writes for that decoder. PCM sends it as XF_STREAM_BODY
 * frames, PCM_COUNT nothing; both end with XF_INFO naming the format
 * (codec, bit_depth) and the sample count. Also the dispatch between these
 * modes and the encoding outputs (child_enc.c) for child.c's decode loop.
 * Runs in the UNTRUSTED sandboxed child.
 */
#include "xcode/xcode_int.h"

#include <libavcodec/avcodec.h>
#include <libavutil/samplefmt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct xc_wav {
	int fmt;       /* the decoder's AVSampleFormat, fixed by the first frame */
	int in_bytes;  /* bytes per sample in the frame */
	int out_bytes; /* bytes per sample written */
	int skip;      /* low bytes of each sample left out (s32 holding 24 bits) */
	int bits, count_only;
	const char *name; /* "s16le", ... */
	uint8_t *buf;	  /* XCODE_IO_CHUNK */
	size_t n;
};

static int pcm_mode(const struct xc_job *j)
{
	return j->a->output == XCODE_OUT_PCM || j->a->output == XCODE_OUT_PCM_COUNT;
}

/* The written format for the decoder's sample format; 0 or -1 (none). */
static int pick(struct xc_wav *w, int fmt, int raw_bits)
{
	switch (av_get_packed_sample_fmt(fmt)) {
	case AV_SAMPLE_FMT_U8: w->name = "u8", w->bits = 8; break;
	case AV_SAMPLE_FMT_S16: w->name = "s16le", w->bits = 16; break;
	case AV_SAMPLE_FMT_S32:
		if (raw_bits > 16 && raw_bits <= 24)
			w->name = "s24le", w->bits = 24, w->skip = 1;
		else
			w->name = "s32le", w->bits = 32;
		break;
	case AV_SAMPLE_FMT_FLT: w->name = "f32le", w->bits = 32; break;
	case AV_SAMPLE_FMT_DBL: w->name = "f64le", w->bits = 64; break;
	default: return -1;
	}
	w->fmt = fmt;
	w->in_bytes = av_get_bytes_per_sample(fmt);
	w->out_bytes = w->bits / 8;
	return 0;
}

static int wav_open(struct xc_job *j, const AVFrame *f)
{
	struct xc_wav *w = calloc(1, sizeof(*w));

	if (!w || !(w->buf = malloc(XCODE_IO_CHUNK))) {
		free(w);
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	}
	j->wav = w;
	w->count_only = j->a->output == XCODE_OUT_PCM_COUNT;
	j->rate = f->sample_rate;
	j->ch = f->ch_layout.nb_channels;
	j->in_fmt = f->format;
	if (j->ch < 1 || j->ch > XCODE_MAX_CHANNELS || j->rate < 1 || j->rate > XCODE_MAX_RATE)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "decoded format out of range");
	if (pick(w, f->format, j->dec->bits_per_raw_sample) != 0)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "decoded sample format not supported");
	j->max_samples = (uint64_t)j->a->max_duration_s * (uint64_t)j->rate;
	return 0;
}

static int flush(struct xc_wav *w)
{
	int rc = w->n ? xcode_send(XF_STREAM_BODY, w->buf, w->n) : 0;

	w->n = 0;
	return rc;
}

/* Interleave the frame's samples into 64 KiB frames to the parent. */
static int wav_frame(struct xc_job *j, const AVFrame *f)
{
	struct xc_wav *w = j->wav;
	int planar = av_sample_fmt_is_planar(w->fmt);

	if (f->sample_rate != j->rate || f->ch_layout.nb_channels != j->ch || f->format != w->fmt)
		return xc_fail(j, XCODE_FAIL_DAMAGED, "audio format changes mid-stream");
	j->samples += (uint64_t)f->nb_samples;
	if (j->samples > j->max_samples)
		return xc_fail(j, XCODE_FAIL_TOOLONG, "decoded duration over the cap");
	if (w->count_only)
		return 0;
	for (int i = 0; i < f->nb_samples; i++) {
		for (int c = 0; c < j->ch; c++) {
			const uint8_t *s =
			    planar ? f->extended_data[c] + (size_t)i * w->in_bytes
				   : f->extended_data[0] + ((size_t)i * j->ch + c) * w->in_bytes;

			if (w->n + (size_t)w->out_bytes > XCODE_IO_CHUNK && flush(w))
				return xc_fail(j, XCODE_FAIL_INTERNAL, "output");
			memcpy(w->buf + w->n, s + w->skip, (size_t)w->out_bytes);
			w->n += (size_t)w->out_bytes;
		}
	}
	return 0;
}

/* The rest of the PCM, then XF_INFO: the format in codec and bit_depth;
 * no loudness (flagged silent: the parent asks for no meter here). */
static int wav_finish(struct xc_job *j)
{
	struct xf_info in;

	if (flush(j->wav))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "output");
	memset(&in, 0, sizeof(in));
	in.samples = j->samples;
	in.sample_rate = j->rate;
	in.channels = j->ch;
	in.bit_depth = j->wav->bits;
	in.meter_flags = XCODE_METER_SILENT;
	in.true_peak_dbtp = in.stream_true_peak_dbtp = in.loudness_lufs = -HUGE_VAL;
	am_strlcpy(in.codec, j->wav->name, sizeof(in.codec));
	return xcode_send(XF_INFO, &in, sizeof(in));
}

/* ---- dispatch for child.c -------------------------------------------------------------- */

int xc_opened(const struct xc_job *j)
{
	return j->enc != NULL || j->wav != NULL || j->wmdet != NULL || j->mdl != NULL ||
	       j->ab != NULL;
}

int xc_open(struct xc_job *j, const AVFrame *f)
{
	if (xc_wmdet_mode(j))
		return xc_wmdet_open(j, f);
	if (xc_markdl_mode(j))
		return xc_markdl_open(j, f);
	if (j->a->output == XCODE_OUT_AB)
		return xc_ab_open(j, f);
	return pcm_mode(j) ? wav_open(j, f) : xc_outputs_open(j, f);
}

int xc_frame(struct xc_job *j, const AVFrame *f)
{
	if (xc_wmdet_mode(j))
		return xc_wmdet_frame(j, f);
	if (xc_markdl_mode(j))
		return xc_markdl_frame(j, f);
	if (j->a->output == XCODE_OUT_AB)
		return xc_ab_frame(j, f);
	return pcm_mode(j) ? wav_frame(j, f) : xc_outputs_frame(j, f);
}

int xc_finish(struct xc_job *j)
{
	if (xc_wmdet_mode(j))
		return xc_wmdet_finish(j);
	if (xc_markdl_mode(j))
		return xc_markdl_finish(j);
	if (j->a->output == XCODE_OUT_AB)
		return xc_ab_done(j);
	return pcm_mode(j) ? wav_finish(j) : xc_outputs_finish(j);
}

void xc_close(struct xc_job *j)
{
	if (j->wav) {
		free(j->wav->buf);
		free(j->wav);
		j->wav = NULL;
	}
	xc_wmdet_close(j);
	xc_markdl_close(j);
	xc_ab_close(j);
	xc_outputs_close(j);
}
