/*
 * child_wmdet.c: the child's detect mode (XCODE_OUT_WM_DETECT, issue 26's
 * tracer, docs/watermark.md "Tracer"): decode any input the transcoder
 * takes, mix it to mono (the average of the channels, as wm_detect does),
 * keep at most WM_DETECT_PERIODS periods of it, and run the key-less half of
 * detection (wm_detect_candidates) with the pattern rebuilt from the seed
 * the parent sent in the job message (wm_pattern_from_seed: this process
 * never holds the watermark key and cannot check a tag). The candidates go
 * back in one XF_WM frame, then XF_INFO; the keyed parent decides
 * (wm_decide). Runs in the UNTRUSTED sandboxed child: the audio is a
 * suspect file from anyone.
 */
#include "xcode/xcode_int.h"

#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
#include <libswresample/swresample.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "watermark/watermark.h"

struct xc_wmdet {
	struct SwrContext *swr; /* the decoder's format -> interleaved float */
	float *flt;		/* one frame of it */
	int flt_cap;		/* samples per channel */
	float *mono;		/* the mix, at the input rate */
	size_t n, cap;
};

int xc_wmdet_mode(const struct xc_job *j)
{
	return j->a->output == XCODE_OUT_WM_DETECT;
}

int xc_wmdet_open(struct xc_job *j, const AVFrame *f)
{
	struct xc_wmdet *w = calloc(1, sizeof(*w));
	AVChannelLayout in;

	if (!w)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	j->wmdet = w;
	j->rate = f->sample_rate;
	j->ch = f->ch_layout.nb_channels;
	if (j->ch < 1 || j->ch > XCODE_MAX_CHANNELS || j->rate < 8000 || j->rate > XCODE_MAX_RATE)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "decoded format out of range");
	if (!j->a->wm_seed)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "no pattern seed");
	j->max_samples = (uint64_t)j->a->max_duration_s * (uint64_t)j->rate;
	/* The periods wm_detect_candidates reads, at this rate, and a second. */
	w->cap = (size_t)((uint64_t)WM_DETECT_PERIODS * WM_PERIOD * (uint64_t)j->rate / WM_RATE) +
		 (size_t)j->rate;
	if (!(w->mono = malloc(w->cap * sizeof(float))))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
		av_channel_layout_default(&in, j->ch);
	else if (av_channel_layout_copy(&in, &f->ch_layout) < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "layout");
	if (swr_alloc_set_opts2(&w->swr, &in, AV_SAMPLE_FMT_FLT, j->rate, &in, f->format, j->rate,
				0, NULL) < 0 ||
	    swr_init(w->swr) < 0) {
		av_channel_layout_uninit(&in);
		return xc_fail(j, XCODE_FAIL_INTERNAL, "resampler");
	}
	av_channel_layout_uninit(&in);
	return 0;
}

/* Convert, average the channels, keep the first w->cap samples. */
int xc_wmdet_frame(struct xc_job *j, const AVFrame *f)
{
	struct xc_wmdet *w = j->wmdet;
	int got;

	if (f->sample_rate != j->rate || f->ch_layout.nb_channels != j->ch)
		return xc_fail(j, XCODE_FAIL_DAMAGED, "audio format changes mid-stream");
	j->samples += (uint64_t)f->nb_samples;
	if (j->samples > j->max_samples)
		return xc_fail(j, XCODE_FAIL_TOOLONG, "decoded duration over the cap");
	if (w->n >= w->cap)
		return 0;
	if (f->nb_samples > w->flt_cap) {
		float *p = realloc(w->flt, (size_t)f->nb_samples * (size_t)j->ch * sizeof(float));

		if (!p)
			return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
		w->flt = p;
		w->flt_cap = f->nb_samples;
	}
	got = swr_convert(w->swr, (uint8_t **)&w->flt, w->flt_cap,
			  (const uint8_t **)f->extended_data, f->nb_samples);
	if (got < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "resampler");
	for (int i = 0; i < got && w->n < w->cap; i++) {
		float s = 0;

		for (int c = 0; c < j->ch; c++)
			s += w->flt[(size_t)i * (size_t)j->ch + (size_t)c];
		w->mono[w->n++] = s / (float)j->ch;
	}
	return 0;
}

/* Detect (key-less), then XF_WM with the candidates and XF_INFO. */
int xc_wmdet_finish(struct xc_job *j)
{
	struct xc_wmdet *w = j->wmdet;
	struct wm_pattern *p = NULL;
	struct wm_candidates c;
	struct xf_info in;
	int rc;

	memset(&c, 0, sizeof(c));
	if (wm_pattern_from_seed(j->a->wm_seed, &p) != 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	rc = wm_detect_candidates(p, w->mono, w->n, 1, (unsigned)j->rate, &c);
	wm_pattern_free(p);
	if (rc != 0)
		return xc_fail(j, rc == AM_ERR_TOOBIG ? XCODE_FAIL_TOOLONG : XCODE_FAIL_INTERNAL,
			       "detection");
	if (xcode_send(XF_WM, &c, sizeof(c)) != 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "output");
	memset(&in, 0, sizeof(in));
	in.samples = j->samples;
	in.sample_rate = j->rate;
	in.channels = j->ch;
	in.meter_flags = XCODE_METER_SILENT; /* nothing is metered in this mode */
	in.true_peak_dbtp = in.stream_true_peak_dbtp = in.loudness_lufs = -HUGE_VAL;
	am_strlcpy(in.codec, "wm_detect", sizeof(in.codec));
	return xcode_send(XF_INFO, &in, sizeof(in));
}

void xc_wmdet_close(struct xc_job *j)
{
	if (!j->wmdet)
		return;
	swr_free(&j->wmdet->swr);
	free(j->wmdet->flt);
	free(j->wmdet->mono);
	free(j->wmdet);
	j->wmdet = NULL;
}
