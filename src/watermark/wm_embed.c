/*
 * wm_embed.c: writes the mark (docs/watermark.md "Embedding"): per frame of
 * the 44.1 kHz mono mix, the key-chosen bins of the Hann-windowed spectrum
 * are scaled by 1 ± strength (sync bins by the sync sequence, data bins by
 * the fragment's coded bit and the scrambler), the change is transformed
 * back, tapered by the window again, resampled to the input's rate and
 * added to every channel. Also measures the mark-to-signal ratio per
 * 1/3-octave band. Pure computation on the caller's buffer.
 */
#include "watermark/watermark_int.h"

#include <math.h>
#include <string.h>

#include <libavutil/mem.h>

#include "util/util.h"

#define NBANDS 11 /* 1/3-octave bands from 861 Hz: the last ends above 10 kHz */

struct embed_ctx {
	const struct wm_pattern *p;
	struct wm_fft f;
	float strength;
	double mark_e[NBANDS], sig_e[NBANDS];
};

static int band_of(int bin)
{
	int b = (int)floor(3.0 * log2((double)bin / WM_BIN_LO));

	return b < 0 ? 0 : b >= NBANDS ? NBANDS - 1 : b;
}

/* Add the band energies of spectrum X (unwindowed) into acc. */
static void band_energy(const AVComplexFloat *X, double acc[NBANDS])
{
	for (int k = WM_BIN_LO; k < WM_BIN_HI; k++)
		acc[band_of(k)] += (double)X[k].re * X[k].re + (double)X[k].im * X[k].im;
}

/* d (WM_N) = window · IRDFT(the bin changes of frame x for the signs). */
static void frame_delta(struct embed_ctx *e, const float *x, int data_sign, int sync_sign, float *d)
{
	AVComplexFloat *X = e->f.spec, D[WM_N / 2 + 1];
	float *tmp = e->f.buf;

	wm_fft_analyse(&e->f, x);
	memset(D, 0, sizeof(D));
	for (int i = 0; i < WM_BINS; i++) {
		int k = e->p->bin[i],
		    s = e->p->sign[i] * (i < WM_SYNC_BINS ? sync_sign : data_sign);
		float g = e->strength * (float)s;

		D[k].re = g * X[k].re;
		D[k].im = g * X[k].im;
	}
	e->f.inv_fn(e->f.inv, tmp, D, sizeof(AVComplexFloat));
	for (int i = 0; i < WM_N; i++)
		d[i] = tmp[i] * e->f.win[i];
	/* The measure: what is added against what is there, per band. */
	wm_fft_plain(&e->f, d);
	band_energy(e->f.spec, e->mark_e);
	wm_fft_plain(&e->f, x);
	band_energy(e->f.spec, e->sig_e);
}

static void embed_stats(const struct embed_ctx *e, struct wm_embed_stats *st)
{
	double m = 0, s = 0, worst = -1e9;

	for (int b = 0; b < NBANDS; b++) {
		m += e->mark_e[b];
		s += e->sig_e[b];
		if (e->sig_e[b] > 0 && e->mark_e[b] > 0) {
			double v = 10.0 * log10(e->mark_e[b] / e->sig_e[b]);

			worst = v > worst ? v : worst;
		}
	}
	st->msr_db = (s > 0 && m > 0) ? 10.0 * log10(m / s) : -1e9;
	st->msr_worst_db = worst;
}

/* The mark of the 44.1 kHz mono mix m (n samples, the track's from sample
 * j0 on) into d (n samples): every frame of the track's grid that lies
 * wholly inside. */
static void mark_44k(struct embed_ctx *e, const uint8_t bits[WM_CODED_BITS], const float *m,
		     size_t n, uint64_t j0, float *d)
{
	for (uint64_t f = (j0 + WM_N - 1) / WM_N; (f + 1) * WM_N <= j0 + n; f++) {
		size_t g = (size_t)(f % WM_PERIOD_FRAMES), at = (size_t)(f * WM_N - j0);
		int c = bits[g / WM_FRAMES_PER_BIT];
		int data_sign = e->p->scramble[g] * (c ? -1 : 1);

		frame_delta(e, m + at, data_sign, e->p->sync[g], d + at);
	}
}

static int check_args(float strength, const float *pcm, size_t frames, unsigned channels,
		      unsigned rate)
{
	if (!pcm || channels < 1 || channels > 8 || rate < 8000 || rate > 192000 ||
	    !(strength > 0.0f && strength <= WM_STRENGTH_MAX))
		return AM_ERR_INVAL;
	if (frames / rate > WM_MAX_SECONDS)
		return AM_ERR_TOOBIG;
	return 0;
}

/* Add the mono mark v (frames samples) to every channel of pcm. */
static void add_mark(float *pcm, size_t frames, unsigned channels, const float *v, size_t vn)
{
	for (size_t i = 0; i < frames; i++) {
		float x = i < vn ? v[i] : 0.0f;

		for (unsigned c = 0; c < channels; c++)
			pcm[i * channels + c] += x;
	}
}

int wm_embed_bits(const struct wm_pattern *p, const uint8_t bits[WM_CODED_BITS], float strength,
		  float *pcm, size_t frames, unsigned channels, unsigned rate,
		  struct wm_embed_stats *stats)
{
	return wm_embed_bits_at(p, bits, strength, pcm, frames, channels, rate, 0, stats);
}

int wm_embed_bits_at(const struct wm_pattern *p, const uint8_t bits[WM_CODED_BITS], float strength,
		     float *pcm, size_t frames, unsigned channels, unsigned rate, uint64_t start,
		     struct wm_embed_stats *stats)
{
	struct embed_ctx e = {.p = p, .strength = strength};
	float *m = NULL, *d = NULL, *back = NULL;
	size_t n;
	int rc;

	if (!bits || (rc = check_args(strength, pcm, frames, channels, rate)) != 0)
		return bits ? rc : AM_ERR_INVAL;
	if (start > UINT64_MAX / WM_RATE || (start * WM_RATE) % rate != 0)
		return AM_ERR_INVAL;
	if ((rc = wm_fft_init(&e.f)) != 0)
		return rc;
	if ((rc = wm_mono_44k(pcm, frames, channels, rate, SIZE_MAX / 2, &m, &n)) != 0)
		goto out;
	rc = AM_ERR_NOMEM;
	if (!(d = av_calloc(n ? n : 1, sizeof(float))))
		goto out;
	mark_44k(&e, bits, m, n, start * WM_RATE / rate, d);
	if (rate == WM_RATE)
		add_mark(pcm, frames, channels, d, n);
	else if ((rc = wm_resample(d, n, WM_RATE, rate, frames, &back)) != 0)
		goto out;
	else
		add_mark(pcm, frames, channels, back, frames);
	if (stats)
		embed_stats(&e, stats);
	rc = 0;
out:
	av_free(m);
	av_free(d);
	av_free(back);
	wm_fft_cleanup(&e.f);
	return rc;
}

int wm_embed(const struct wm_pattern *p, const uint8_t payload[WM_PAYLOAD_BYTES], int variant,
	     float strength, float *pcm, size_t frames, unsigned channels, unsigned rate,
	     struct wm_embed_stats *stats)
{
	uint8_t bits[WM_CODED_BITS];
	int rc;

	if (!payload && variant != 0 && variant != 1)
		return AM_ERR_INVAL;
	if ((rc = check_args(strength, pcm, frames, channels, rate)) != 0)
		return rc;
	if (payload && (rc = wm_fragment_bits(p, payload, bits)) != 0)
		return rc;
	if (!payload)
		memset(bits, variant, sizeof(bits));
	return wm_embed_bits(p, bits, strength, pcm, frames, channels, rate, stats);
}

int wm_embed_piece(const struct wm_pattern *p, const uint8_t bits[WM_CODED_BITS], float strength,
		   float *pcm, size_t frames, unsigned channels, uint64_t first)
{
	if (first % WM_N)
		return AM_ERR_INVAL;
	return wm_embed_bits_at(p, bits, strength, pcm, frames, channels, WM_RATE, first, NULL);
}
