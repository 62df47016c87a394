/*
 * child_ab.c: the transcoding child's segment-variant mode (XCODE_OUT_AB,
 * docs/watermark.md "Serving segment variants", docs/transcoding.md
 * "Marked renditions"): the decoded audio, resampled to 44.1 kHz float
 * (mono or stereo, as the stream rendition folds it), is gathered one piece
 * (AB_PIECE samples, an eighth of a mark period: 3.55 s) at a time; each
 * piece is copied, marked with every fragment bit 0 (A) and 1 (B) at its
 * place in the track (wm_embed_piece), and fed to the lockstep encoders of
 * xcode_ab.c, which send A as the stream output, B as the peaks output and
 * the shared layout (u32 unit sizes) as the overview. At 44.1 kHz the
 * mark's frames are independent, so marking piece by piece at multiples of
 * its frame is exact (test_pieces), and memory is constant with the
 * track's length: two pieces of float samples.
 * Runs in the UNTRUSTED, sandboxed child; it holds the pattern's key-less
 * seed (wm_pattern_from_seed: it cannot tag a payload), never the key.
 */
#include "xcode/xcode_int.h"

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "watermark/watermark.h"

_Static_assert(XCODE_WM_SEED_BYTES == WM_SEED_BYTES, "the seed the parent sends");
_Static_assert(XCODE_AB_RATE == WM_RATE, "marked renditions are at the mark's rate");
_Static_assert(XCODE_AB_DATA_AT == XC_MP4_DATA_AT, "unit 0 of A and B");
#define AB_PIECE (WM_PERIOD / 8) /* 156,672 samples: 153 mark frames, 153 access units */
_Static_assert(AB_PIECE % XCODE_AB_UNIT == 0 && AB_PIECE % 1024 == 0,
	       "a piece is whole access units and whole mark frames");

struct xc_abjob {
	struct SwrContext *swr;
	struct wm_pattern *pat;
	struct xc_ab *w;
	struct xc_out sizes;
	unsigned ch; /* 1 or 2 */
	float *pa, *pb, *tmp;
	size_t n, tmp_cap; /* frames in pa; tmp's capacity in frames */
	uint64_t at;	   /* the track's sample of pa[0] */
	uint8_t zeros[WM_CODED_BITS], ones[WM_CODED_BITS];
};

static int open_swr(struct xc_job *j, struct xc_abjob *ab, const AVFrame *f)
{
	AVChannelLayout in, out;
	int rc;

	if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
		av_channel_layout_default(&in, f->ch_layout.nb_channels);
	else if (av_channel_layout_copy(&in, &f->ch_layout) < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "layout");
	av_channel_layout_default(&out, (int)ab->ch);
	rc = swr_alloc_set_opts2(&ab->swr, &out, AV_SAMPLE_FMT_FLT, XCODE_AB_RATE, &in, f->format,
				 f->sample_rate, 0, NULL);
	/* the stream rendition's downmix (child_enc.c open_swr) */
	if (rc >= 0 && j->ch > 2)
		rc = av_opt_set_double(ab->swr, "rematrix_maxval", 1.0, 0);
	if (rc >= 0)
		rc = swr_init(ab->swr);
	av_channel_layout_uninit(&in);
	av_channel_layout_uninit(&out);
	return rc < 0 ? xc_fail(j, XCODE_FAIL_INTERNAL, "resampler") : 0;
}

int xc_ab_open(struct xc_job *j, const AVFrame *f)
{
	const struct xc_ab_out oa = {XF_STREAM_BODY, XF_STREAM_HEAD, XCODE_STREAM_HEAD, 0};
	const struct xc_ab_out ob = {XF_PEAKS_BODY, XF_PEAKS_HEAD, XCODE_STREAM_HEAD, 0};
	struct xc_abjob *ab;
	int rc;

	j->rate = f->sample_rate;
	j->ch = f->ch_layout.nb_channels;
	j->in_fmt = f->format;
	if (j->ch > XCODE_MAX_CHANNELS)
		return xc_fail_limit(j, XF_LIMIT_CHANNELS, j->ch, "decoded channels out of range");
	if (j->rate > XCODE_MAX_RATE)
		return xc_fail_limit(j, XF_LIMIT_RATE, j->rate, "decoded rate out of range");
	if (j->ch < 1 || j->rate < 1 || !j->a->wm_seed)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "decoded format out of range");
	j->max_samples = (uint64_t)j->a->max_duration_s * (uint64_t)j->rate;
	if (!(ab = j->ab = calloc(1, sizeof(*ab))))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	ab->ch = j->ch == 1 ? 1 : 2;
	memset(ab->ones, 1, sizeof(ab->ones));
	if (xc_out_init(&ab->sizes, XF_OVERVIEW_BODY, XF_OVERVIEW_HEAD, XCODE_OVERVIEW_HEAD,
			XCODE_IO_CHUNK) ||
	    !(ab->pa = malloc((size_t)AB_PIECE * ab->ch * sizeof(float))) ||
	    !(ab->pb = malloc((size_t)AB_PIECE * ab->ch * sizeof(float))) ||
	    wm_pattern_from_seed(j->a->wm_seed, &ab->pat))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	if ((rc = open_swr(j, ab, f)))
		return rc;
	if (xc_ab_new(ab->ch, XCODE_AB_RATE, &oa, &ob, &ab->sizes, &ab->w))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "encoder");
	return 0;
}

/* Mark the gathered piece twice and encode it. */
static int piece(struct xc_job *j, struct xc_abjob *ab)
{
	float s = j->a->wm_strength;

	if (ab->n == 0)
		return 0;
	memcpy(ab->pb, ab->pa, ab->n * ab->ch * sizeof(float));
	if (wm_embed_piece(ab->pat, ab->zeros, s, ab->pa, ab->n, ab->ch, ab->at) ||
	    wm_embed_piece(ab->pat, ab->ones, s, ab->pb, ab->n, ab->ch, ab->at))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "mark");
	if (xc_ab_feed(ab->w, ab->pa, ab->pb, ab->n))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "encoder");
	ab->at += ab->n;
	ab->n = 0;
	return 0;
}

/* Resample (f NULL: drain) into tmp, then gather into the piece. */
static int gather(struct xc_job *j, struct xc_abjob *ab, const AVFrame *f)
{
	int want = swr_get_out_samples(ab->swr, f ? f->nb_samples : 0) + 16, n;
	size_t at = 0;

	if (want < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "resampler");
	if ((size_t)want > ab->tmp_cap) {
		float *t = realloc(ab->tmp, (size_t)want * ab->ch * sizeof(float));

		if (!t)
			return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
		ab->tmp = t;
		ab->tmp_cap = (size_t)want;
	}
	n = swr_convert(ab->swr, (uint8_t **)&ab->tmp, want,
			f ? (const uint8_t **)f->extended_data : NULL, f ? f->nb_samples : 0);
	if (n < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "resampler");
	while (at < (size_t)n) {
		size_t k = (size_t)n - at, room = AB_PIECE - ab->n;
		int rc;

		if (k > room)
			k = room;
		memcpy(ab->pa + ab->n * ab->ch, ab->tmp + at * ab->ch, k * ab->ch * sizeof(float));
		ab->n += k;
		at += k;
		if (ab->n == AB_PIECE && (rc = piece(j, ab)))
			return rc;
	}
	return 0;
}

int xc_ab_frame(struct xc_job *j, const AVFrame *f)
{
	if (f->sample_rate != j->rate || f->ch_layout.nb_channels != j->ch ||
	    f->format != j->in_fmt)
		return xc_fail(j, XCODE_FAIL_DAMAGED, "audio format changes mid-stream");
	j->samples += (uint64_t)f->nb_samples;
	if (j->samples > j->max_samples)
		return xc_fail(j, XCODE_FAIL_TOOLONG, "decoded duration over the cap");
	return gather(j, j->ab, f);
}

int xc_ab_done(struct xc_job *j)
{
	struct xc_abjob *ab = j->ab;
	struct xf_info in;
	int rc;

	if ((rc = gather(j, ab, NULL)) || (rc = piece(j, ab)))
		return rc;
	if (xc_ab_finish(ab->w, NULL))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "encoder");
	memset(&in, 0, sizeof(in));
	in.samples = j->samples;
	in.sample_rate = j->rate;
	in.channels = j->ch;
	in.meter_flags = XCODE_METER_SILENT; /* not measured here */
	in.true_peak_dbtp = in.stream_true_peak_dbtp = in.loudness_lufs = -HUGE_VAL;
	am_strlcpy(in.codec, j->dec->codec->name, sizeof(in.codec));
	return xcode_send(XF_INFO, &in, sizeof(in));
}

void xc_ab_close(struct xc_job *j)
{
	struct xc_abjob *ab = j->ab;

	if (!ab)
		return;
	xc_ab_free(ab->w);
	wm_pattern_free(ab->pat);
	swr_free(&ab->swr);
	xc_out_cleanup(&ab->sizes);
	free(ab->pa);
	free(ab->pb);
	free(ab->tmp);
	free(ab);
	j->ab = NULL;
}
