/*
 * wm_fft.c: the transforms of the mark: FFmpeg's av_tx real DFT of one
 * Hann-windowed frame, the channel average and the resampler (libswresample)
 * that brings any rate to the 44.1 kHz the mark is defined at. Pure
 * computation on caller buffers; sizes come from wm_embed / wm_detect,
 * which bound them.
 */
#include "watermark/watermark_int.h"

#include <math.h>
#include <string.h>

#include <libavutil/channel_layout.h>
#include <libavutil/mathematics.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "util/util.h"

int wm_fft_init(struct wm_fft *f)
{
	float scale = 1.0f, iscale = 1.0f / WM_N;

	memset(f, 0, sizeof(*f));
	if (av_tx_init(&f->fwd, &f->fwd_fn, AV_TX_FLOAT_RDFT, 0, WM_N, &scale, 0) < 0 ||
	    av_tx_init(&f->inv, &f->inv_fn, AV_TX_FLOAT_RDFT, 1, WM_N, &iscale, 0) < 0)
		goto fail;
	f->win = av_malloc(WM_N * sizeof(float));
	f->buf = av_malloc((WM_N + 2) * sizeof(float));
	f->spec = av_malloc((WM_N / 2 + 1) * sizeof(AVComplexFloat));
	if (!f->win || !f->buf || !f->spec)
		goto fail;
	for (int i = 0; i < WM_N; i++)
		f->win[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / WM_N));
	return 0;
fail:
	wm_fft_cleanup(f);
	return AM_ERR_NOMEM;
}

void wm_fft_cleanup(struct wm_fft *f)
{
	av_tx_uninit(&f->fwd);
	av_tx_uninit(&f->inv);
	av_freep(&f->win);
	av_freep(&f->buf);
	av_freep(&f->spec);
}

void wm_fft_analyse(struct wm_fft *f, const float *x)
{
	for (int i = 0; i < WM_N; i++)
		f->buf[i] = x[i] * f->win[i];
	f->fwd_fn(f->fwd, f->spec, f->buf, sizeof(float));
}

void wm_fft_plain(struct wm_fft *f, const float *x)
{
	memcpy(f->buf, x, WM_N * sizeof(float));
	f->fwd_fn(f->fwd, f->spec, f->buf, sizeof(float));
}

int wm_resample(const float *in, size_t n, unsigned from, unsigned to, size_t outn, float **out)
{
	AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
	SwrContext *swr = NULL;
	float *o = NULL;
	size_t cap = outn + 4096, got = 0;
	int rc = AM_ERR_NOMEM, r;

	*out = NULL;
	if (n > INT32_MAX || cap > INT32_MAX)
		return AM_ERR_TOOBIG;
	if (swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, (int)to, &mono, AV_SAMPLE_FMT_FLT,
				(int)from, 0, NULL) < 0 ||
	    av_opt_set_int(swr, "filter_size", 32, 0) < 0 || swr_init(swr) < 0)
		goto out;
	if (!(o = av_calloc(cap, sizeof(float))))
		goto out;
	/* Feed everything, then drain the filter's delay. */
	for (const uint8_t *src = (const uint8_t *)in; got < cap;) {
		uint8_t *dst = (uint8_t *)(o + got);

		r = swr_convert(swr, &dst, (int)(cap - got), src ? &src : NULL, src ? (int)n : 0);
		if (r < 0) {
			rc = AM_ERR_INTERNAL;
			goto out;
		}
		got += (size_t)r;
		if (!src && r == 0)
			break;
		src = NULL;
	}
	if (got < outn)
		memset(o + got, 0, (outn - got) * sizeof(float));
	*out = o;
	o = NULL;
	rc = 0;
out:
	av_free(o);
	swr_free(&swr);
	return rc;
}

int wm_mono_44k(const float *pcm, size_t frames, unsigned channels, unsigned rate, size_t max_out,
		float **out, size_t *outn)
{
	size_t n = frames, want;
	float *m;
	int rc;

	*out = NULL;
	*outn = 0;
	/* Only as much input as max_out samples at 44.1 kHz need. */
	if (max_out < n) {
		want = (size_t)av_rescale_rnd((int64_t)max_out, rate, WM_RATE, AV_ROUND_UP) + 64;
		n = want < n ? want : n;
	}
	if (!(m = av_malloc((n ? n : 1) * sizeof(float))))
		return AM_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		float s = 0;

		for (unsigned c = 0; c < channels; c++)
			s += pcm[i * channels + c];
		m[i] = s / (float)channels;
	}
	if (rate == WM_RATE) {
		*out = m;
		*outn = n < max_out ? n : max_out;
		return 0;
	}
	want = (size_t)av_rescale_rnd((int64_t)n, WM_RATE, rate, AV_ROUND_DOWN);
	if (want > max_out)
		want = max_out;
	rc = wm_resample(m, n, rate, WM_RATE, want, out);
	av_free(m);
	if (rc == 0)
		*outn = want;
	return rc;
}
