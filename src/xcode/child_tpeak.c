/*
 * child_tpeak.c: the true-peak meter of the loudness thread (child_r128.c),
 * computing exactly what libebur128 1.2's EBUR128_MODE_TRUE_PEAK computes
 * (ITU-R BS.1770-4 annex 2: a 49-tap Hann-windowed sinc, 4x oversampling
 * under 96 kHz, 2x under 192 kHz, none above; per channel the largest of
 * the oversampled and the plain sample magnitudes), in about a fifth of its
 * CPU time. libebur128 runs the filter one output at a time through a
 * circular buffer with an index wrap per tap; here one phase's taps run over
 * a whole chunk, so the inner loop is a plain multiply-add over contiguous
 * doubles that the compiler vectorises. The arithmetic is the same, operation
 * for operation: the same coefficients (the same formula in double), each
 * output summed in double from 0.0 in the same tap order, rounded to float
 * before its magnitude is taken; so the peaks are bit-identical
 * (tests/unit/xcode/test_tpeak.c compares them with libebur128's on noise,
 * overs and every supported rate). Issue 21: the meter of the original and
 * the rendition's ran ~2 CPU-s per 5-minute stereo file on their own
 * (docs/transcoding.md "Where the time goes"). Runs in the UNTRUSTED
 * sandboxed child, on samples the child decoded; only computes.
 */
#include "xcode/xcode_int.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TP_TAPS	 49
#define TP_CHUNK 1024	       /* frames per pass: the work arrays stay in L1/L2 */
#define TP_HIST	 (TP_TAPS - 1) /* history kept per channel, at most (factor 1 of 49) */

struct xc_tpeak;
typedef void (*phase_fn)(const struct xc_tpeak *t, unsigned f, double *restrict acc,
			 const double *restrict x, size_t n);

struct xc_tpeak {
	phase_fn phase; /* run_phase, or run_phase_avx2 where the CPU has it */
	unsigned ch, factor, delay;
	unsigned count[4];
	unsigned index[4][TP_TAPS];
	double coeff[4][TP_TAPS];
	double *hist; /* ch x (delay - 1) last samples, oldest first */
	double *peak; /* ch: the largest magnitude so far (true and sample) */
	double x[TP_HIST + TP_CHUNK];
	double acc[TP_CHUNK];
};

/* The polyphase filter, as libebur128 builds it: tap j goes to phase
 * j % factor at delay j / factor; taps that are (almost) zero are dropped. */
static void make_filter(struct xc_tpeak *t)
{
	const unsigned taps = TP_TAPS, factor = t->factor;

	for (unsigned j = 0; j < taps; j++) {
		double m = (double)j - (double)(taps - 1) / 2.0;
		double c = 1.0;

		if (fabs(m) > 0.000001)
			c = sin(m * M_PI / factor) / (m * M_PI / factor);
		c *= 0.5 * (1 - cos(2 * M_PI * j / (taps - 1)));
		if (fabs(c) > 0.000001) {
			unsigned f = j % factor, k = t->count[f]++;

			t->coeff[f][k] = c;
			t->index[f][k] = j / factor;
		}
	}
}

static phase_fn pick_phase(void);

int xc_tpeak_new(unsigned ch, unsigned long rate, struct xc_tpeak **out)
{
	struct xc_tpeak *t;

	*out = NULL;
	if (ch < 1 || ch > XCODE_MAX_CHANNELS || !(t = calloc(1, sizeof(*t))))
		return AM_ERR_NOMEM;
	t->ch = ch;
	t->factor = rate < 96000 ? 4 : rate < 192000 ? 2 : 0;
	if (t->factor) {
		t->delay = (TP_TAPS + t->factor - 1) / t->factor;
		make_filter(t);
	}
	t->phase = pick_phase();
	t->hist = calloc((size_t)ch * (t->delay ? t->delay - 1 : 1), sizeof(double));
	t->peak = calloc(ch, sizeof(double));
	if (!t->hist || !t->peak) {
		xc_tpeak_free(t);
		return AM_ERR_NOMEM;
	}
	*out = t;
	return 0;
}

/* Two doubles (GCC/clang vector extension: per-lane IEEE multiply and
 * add, the same operations as two scalar ones; one SSE2 register). */
typedef double v2d __attribute__((vector_size(16)));

/* One phase over n outputs: acc[k] = sum over its taps, in their order, of
 * x[k - index] * coeff, from 0.0 (x holds delay - 1 samples of history
 * first). Four outputs at a time, each with its own sum in a register. */
static void run_phase(const struct xc_tpeak *t, unsigned f, double *restrict acc,
		      const double *restrict x, size_t n)
{
	const double *xb = x + t->delay - 1;
	const unsigned cnt = t->count[f], *idx = t->index[f];
	const double *co = t->coeff[f];
	size_t k = 0;

	for (; k + 4 <= n; k += 4) {
		v2d a0 = {0.0, 0.0}, a1 = {0.0, 0.0}, v0, v1;

		for (unsigned i = 0; i < cnt; i++) {
			const v2d c = {co[i], co[i]};
			const double *p = xb + k - idx[i];

			memcpy(&v0, p, sizeof(v0));
			memcpy(&v1, p + 2, sizeof(v1));
			a0 += v0 * c;
			a1 += v1 * c;
		}
		memcpy(acc + k, &a0, sizeof(a0));
		memcpy(acc + k + 2, &a1, sizeof(a1));
	}
	for (; k < n; k++) {
		double a = 0.0;

		for (unsigned i = 0; i < cnt; i++)
			a += xb[k - idx[i]] * co[i];
		acc[k] = a;
	}
}

/* The same as run_phase, eight outputs per step in two 4-double AVX
 * vectors (issue 25: the meter threads' largest cost on the EPYC VM): each
 * lane is still one output's multiply, then add, in tap order, so the sums
 * are the same bits (no FMA: the target is avx2 alone, and ISO C mode does
 * not contract a * b + c). Chosen at run time (xc_tpeak_new). */
typedef double v4d __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static void run_phase_avx2(const struct xc_tpeak *t, unsigned f,
							   double *restrict acc,
							   const double *restrict x, size_t n)
{
	const double *xb = x + t->delay - 1;
	const unsigned cnt = t->count[f], *idx = t->index[f];
	const double *co = t->coeff[f];
	size_t k = 0;

	for (; k + 8 <= n; k += 8) {
		v4d a0 = {0.0, 0.0, 0.0, 0.0}, a1 = {0.0, 0.0, 0.0, 0.0}, v0, v1;

		for (unsigned i = 0; i < cnt; i++) {
			const v4d c = {co[i], co[i], co[i], co[i]};
			const double *p = xb + k - idx[i];

			memcpy(&v0, p, sizeof(v0));
			memcpy(&v1, p + 4, sizeof(v1));
			a0 += v0 * c;
			a1 += v1 * c;
		}
		memcpy(acc + k, &a0, sizeof(a0));
		memcpy(acc + k + 4, &a1, sizeof(a1));
	}
	if (k < n)
		run_phase(t, f, acc + k, x + k, n - k);
}

static phase_fn pick_phase(void)
{
	return __builtin_cpu_supports("avx2") ? run_phase_avx2 : run_phase;
}

void xc_tpeak_portable(struct xc_tpeak *t)
{
	t->phase = run_phase;
}

/* v rounded to float as libebur128's filter rounds it: with the SSE
 * flush-to-zero mode on, so a result below the smallest normal float is 0
 * (it feeds the oversampler so, and rounds its outputs so). */
static double ftz(double v)
{
	float f = (float)v;

	return fabsf(f) < FLT_MIN ? 0.0 : (double)f;
}

/* The largest magnitude of n outputs, each rounded to float as ftz()
 * rounds it: four running maxima (no chain of dependent compares), and the
 * flush applied once: a maximum below the smallest normal float means every
 * output was flushed to 0; otherwise that maximum was not flushed. */
static double out_peak(const double *acc, size_t n)
{
	double m[4] = {0, 0, 0, 0}, a;
	size_t k = 0;

	for (; k + 4 <= n; k += 4)
		for (int j = 0; j < 4; j++)
			if ((a = fabs((double)(float)acc[k + j])) > m[j])
				m[j] = a;
	for (; k < n; k++)
		if ((a = fabs((double)(float)acc[k])) > m[0])
			m[0] = a;
	for (int j = 1; j < 4; j++)
		if (m[j] > m[0])
			m[0] = m[j];
	return m[0] < FLT_MIN ? 0.0 : m[0];
}

/* Channel c of n interleaved frames at s (n <= TP_CHUNK). */
static void chunk(struct xc_tpeak *t, unsigned c, const float *s, size_t n)
{
	const size_t h = t->delay ? t->delay - 1 : 0;
	double *hist = t->hist + (size_t)c * (h ? h : 1), pk = t->peak[c];

	memcpy(t->x, hist, h * sizeof(double));
	/* "a > pk" as libebur128 compares: a NaN never raises the peak */
	for (size_t k = 0; k < n; k++) {
		double v = (double)s[k * t->ch + c], a = fabs(v);

		if (a > pk) /* the sample peak */
			pk = a;
		t->x[h + k] = ftz(v);
	}
	for (unsigned f = 0; f < t->factor; f++) {
		double a;

		t->phase(t, f, t->acc, t->x, n);
		if ((a = out_peak(t->acc, n)) > pk)
			pk = a;
	}
	t->peak[c] = pk;
	memcpy(hist, t->x + n, h * sizeof(double)); /* the last h samples */
}

void xc_tpeak_add(struct xc_tpeak *t, const float *s, size_t frames)
{
	while (frames > 0) {
		size_t n = frames < TP_CHUNK ? frames : TP_CHUNK;

		for (unsigned c = 0; c < t->ch; c++)
			chunk(t, c, s, n);
		s += n * t->ch;
		frames -= n;
	}
}

double xc_tpeak_max(const struct xc_tpeak *t)
{
	double m = 0;

	for (unsigned c = 0; c < t->ch; c++)
		if (t->peak[c] > m)
			m = t->peak[c];
	return m;
}

void xc_tpeak_free(struct xc_tpeak *t)
{
	if (!t)
		return;
	free(t->hist);
	free(t->peak);
	free(t);
}
