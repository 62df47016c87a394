/*
 * align.c: where one version of a track sits against another in time (the
 * review page's A/B, issue 22): a low-rate loudness envelope built from a
 * version's waveform peaks (.dat, docs/transcoding.md "Outputs"), and the
 * lag that best lines up two envelopes, found by cross-correlation (an FFT
 * of our own: the worker does not link FFmpeg, docs/transcoding.md "Two
 * binaries") and judged by the Pearson correlation over the overlap.
 *
 * Runs in the worker (trusted). Its input, the peaks, was written by the
 * sandboxed child from untrusted audio: every header field is range-checked
 * and the envelope is bounded (ALIGN_MAX_S seconds), so a crafted file can
 * at worst give its own version a wrong offset.
 */
#include "worker/worker.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define DAT_HEAD     24
#define LOG_FLOOR_DB (-80.0)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int align_dat_header(const uint8_t *p, size_t n, struct align_dat *out)
{
	if (n < DAT_HEAD || le32(p) != 2 || le32(p + 4) != 0)
		return AM_ERR_INVAL;
	out->rate = le32(p + 8);
	out->spp = le32(p + 12);
	out->pixels = le32(p + 16);
	out->channels = le32(p + 20);
	if (out->rate < 1 || out->rate > 192000 || out->spp < 1 || out->spp > 1u << 20 ||
	    out->channels < 1 || out->channels > 8)
		return AM_ERR_INVAL;
	return 0;
}

size_t align_dat_pixels_wanted(const struct align_dat *d)
{
	double px = (double)ALIGN_MAX_S * d->rate / d->spp + 2.0;

	return d->pixels < px ? d->pixels : (size_t)px;
}

/* Pixel i's level in dB: the largest |min| or |max| over the channels. */
static double pixel_db(const uint8_t *body, uint32_t ch, size_t i)
{
	int m = 0;

	for (uint32_t c = 0; c < ch; c++) {
		const uint8_t *q = body + (i * ch + c) * 4;
		int lo = (int16_t)(uint16_t)(q[0] | q[1] << 8),
		    hi = (int16_t)(uint16_t)(q[2] | q[3] << 8);

		lo = lo < 0 ? -lo : lo;
		hi = hi < 0 ? -hi : hi;
		m = lo > m ? lo : m;
		m = hi > m ? hi : m;
	}
	return m > 0 ? fmax(20.0 * log10(m / 32768.0), LOG_FLOOR_DB) : LOG_FLOOR_DB;
}

int align_envelope(const struct align_dat *d, const uint8_t *body, size_t body_len,
		   struct align_env *out)
{
	size_t px = body_len / ((size_t)d->channels * 4), n;
	double px_per_bin = (double)d->rate / d->spp / ALIGN_HZ;

	memset(out, 0, sizeof(*out));
	if (px > align_dat_pixels_wanted(d))
		px = align_dat_pixels_wanted(d);
	n = (size_t)floor(px / px_per_bin);
	if (n < 1)
		return AM_ERR_INVAL;
	if (!(out->v = malloc(n * sizeof(*out->v))))
		return AM_ERR_NOMEM;
	/* Each bin: the pixel series linearly interpolated at the bin's centre
	 * (pixel centres are at (i + 0.5) pixels). */
	for (size_t k = 0; k < n; k++) {
		double x = (k + 0.5) * px_per_bin - 0.5, f;
		size_t i;

		x = x < 0 ? 0 : x;
		i = (size_t)x;
		f = x - (double)i;
		if (i + 1 >= px)
			out->v[k] = (float)pixel_db(body, d->channels, px - 1);
		else
			out->v[k] = (float)((1 - f) * pixel_db(body, d->channels, i) +
					    f * pixel_db(body, d->channels, i + 1));
	}
	out->n = n;
	return 0;
}

void align_env_free(struct align_env *e)
{
	if (e) {
		free(e->v);
		e->v = NULL;
		e->n = 0;
	}
}

/* In-place iterative radix-2 FFT of n (a power of two) complex values
 * (re, im); inverse when inv (unscaled). */
static void fft(double *re, double *im, size_t n, int inv)
{
	for (size_t i = 1, j = 0; i < n; i++) {
		size_t bit = n >> 1;

		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			double t = re[i];

			re[i] = re[j];
			re[j] = t;
			t = im[i];
			im[i] = im[j];
			im[j] = t;
		}
	}
	for (size_t len = 2; len <= n; len <<= 1) {
		double a = (inv ? 2 : -2) * M_PI / (double)len, wr = cos(a), wi = sin(a);

		for (size_t i = 0; i < n; i += len) {
			double cr = 1, ci = 0;

			for (size_t k = 0; k < len / 2; k++) {
				size_t p = i + k, q = p + len / 2;
				double xr = re[q] * cr - im[q] * ci, xi = re[q] * ci + im[q] * cr,
				       t;

				re[q] = re[p] - xr;
				im[q] = im[p] - xi;
				re[p] += xr;
				im[p] += xi;
				t = cr * wr - ci * wi;
				ci = cr * wi + ci * wr;
				cr = t;
			}
		}
	}
}

/* xy[L + nb - 1] = sum_i a[i] * b[i + L] for L in (-na, nb): the raw
 * cross-correlation, by FFT. Returns an owned array of na + nb - 1. */
static double *xcorr(const float *a, size_t na, const float *b, size_t nb)
{
	size_t n = 1, m = na + nb - 1;
	double *re = NULL, *im = NULL, *out = NULL;

	while (n < m)
		n <<= 1;
	re = calloc(2 * n, sizeof(double));
	im = calloc(2 * n, sizeof(double));
	out = malloc(m * sizeof(double));
	if (!re || !im || !out) {
		free(out);
		out = NULL;
		goto out;
	}
	/* FFT(a) in re/im[0..n), FFT(b) in re/im[n..2n). */
	for (size_t i = 0; i < na; i++)
		re[i] = a[i];
	for (size_t i = 0; i < nb; i++)
		re[n + i] = b[i];
	fft(re, im, n, 0);
	fft(re + n, im + n, n, 0);
	for (size_t k = 0; k < n; k++) { /* conj(A) * B */
		double ar = re[k], ai = -im[k], br = re[n + k], bi = im[n + k];

		re[k] = ar * br - ai * bi;
		im[k] = ar * bi + ai * br;
	}
	fft(re, im, n, 1);
	/* Circular index of lag L is L mod n. */
	for (size_t t = 0; t < m; t++) {
		long long lag = (long long)t - (long long)(na - 1);
		size_t idx = lag >= 0 ? (size_t)lag : n - (size_t)(-lag);

		out[t] = re[idx] / (double)n;
	}
out:
	free(re);
	free(im);
	return out;
}

/* Prefix sums of x and x^2 (n + 1 entries each). */
static int prefix(const float *x, size_t n, double **s, double **s2)
{
	*s = malloc((n + 1) * sizeof(double));
	*s2 = malloc((n + 1) * sizeof(double));
	if (!*s || !*s2)
		return AM_ERR_NOMEM;
	(*s)[0] = (*s2)[0] = 0;
	for (size_t i = 0; i < n; i++) {
		(*s)[i + 1] = (*s)[i] + x[i];
		(*s2)[i + 1] = (*s2)[i] + (double)x[i] * x[i];
	}
	return 0;
}

struct sums {
	const double *sa, *sa2, *sb, *sb2, *xy;
	size_t na, nb;
};

/* Pearson correlation of a[i] and b[i + lag] over their overlap; 0 when
 * the overlap is shorter than min_n or one side is flat. */
static double pearson(const struct sums *s, long long lag, size_t min_n)
{
	long long a0 = lag < 0 ? -lag : 0, a1 = (long long)s->na;
	double n, sx, sx2, sy, sy2, sxy, vx, vy;

	if (a1 > (long long)s->nb - lag)
		a1 = (long long)s->nb - lag;
	if (a1 - a0 < (long long)min_n || a1 - a0 < 2)
		return 0;
	n = (double)(a1 - a0);
	sx = s->sa[a1] - s->sa[a0];
	sx2 = s->sa2[a1] - s->sa2[a0];
	sy = s->sb[a1 + lag] - s->sb[a0 + lag];
	sy2 = s->sb2[a1 + lag] - s->sb2[a0 + lag];
	sxy = s->xy[lag + (long long)s->na - 1];
	vx = sx2 - sx * sx / n;
	vy = sy2 - sy * sy / n;
	if (vx <= 1e-9 * n || vy <= 1e-9 * n)
		return 0;
	return (sxy - sx * sy / n) / sqrt(vx * vy);
}

int align_offset(const struct align_env *a, const struct align_env *b, struct align_result *out)
{
	struct sums s = {.na = a->n, .nb = b->n};
	double *sa = NULL, *sa2 = NULL, *sb = NULL, *sb2 = NULL, *xy = NULL, best = -2, frac = 0;
	size_t min_n = (a->n < b->n ? a->n : b->n) / 2;
	long long best_lag = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (min_n < ALIGN_MIN_OVERLAP_S * ALIGN_HZ)
		min_n = ALIGN_MIN_OVERLAP_S * ALIGN_HZ;
	if ((rc = prefix(a->v, a->n, &sa, &sa2)) || (rc = prefix(b->v, b->n, &sb, &sb2)))
		goto out;
	if (!(xy = xcorr(a->v, a->n, b->v, b->n))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	s = (struct sums){sa, sa2, sb, sb2, xy, a->n, b->n};
	for (long long lag = -(long long)a->n + 1; lag < (long long)b->n; lag++) {
		double r = pearson(&s, lag, min_n);

		if (r > best) {
			best = r;
			best_lag = lag;
		}
	}
	/* Sub-bin: the vertex of the parabola through the peak's neighbours. */
	if (best > 0) {
		double l = pearson(&s, best_lag - 1, min_n), r = pearson(&s, best_lag + 1, min_n);
		double den = l - 2 * best + r;

		if (l > 0 && r > 0 && den < 0)
			frac = 0.5 * (l - r) / den;
	}
	out->corr = best;
	out->matched = best >= ALIGN_MIN_CORR;
	out->offset_ms = out->matched ? llround((best_lag + frac) * 1000.0 / ALIGN_HZ) : 0;
out:
	free(sa);
	free(sa2);
	free(sb);
	free(sb2);
	free(xy);
	return rc;
}
