/*
 * wm_detect.c: finds the mark (docs/watermark.md "Detection" and "Decision
 * rule"): the 44.1 kHz mono mix is cut into frames at WM_N / WM_SEARCH_STEP
 * sample offsets; per frame the sync and data bins give a log-magnitude
 * score; the sync scores are correlated with the key's sync sequence at
 * every phase of the period; the best candidates are decoded (soft
 * Viterbi): wm_detect_candidates, key-less. wm_detect adds wm_decide
 * (wm_decide.c): a candidate is accepted only if its keyed tag matches.
 * The audio is untrusted (a suspect file): sizes are bounded by
 * WM_DETECT_PERIODS and WM_MAX_SECONDS.
 */
#include "watermark/watermark_int.h"

#include <math.h>
#include <string.h>

#include <libavutil/mem.h>

#include "util/util.h"

_Static_assert(WM_CAND_INFO_BYTES == WM_INFO_BYTES, "candidate info size");

#define NOFF (WM_N / WM_SEARCH_STEP)

struct cand {
	int off, phase;
	double z;
};

struct detect_ctx {
	const struct wm_pattern *p;
	struct wm_fft f;
	size_t nframes[NOFF];
	float *ss[NOFF], *sd[NOFF]; /* per offset, per frame: sync and data scores */
};

static float logmag(const AVComplexFloat *c)
{
	return 0.5f * logf(c->re * c->re + c->im * c->im + 1e-12f);
}

/* Subtract the mean, divide by the standard deviation (0 stays 0). */
static void normalise(float *v, size_t n)
{
	double sum = 0, sq = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	for (size_t i = 0; i < n; i++) {
		v[i] -= (float)(sum / (double)n);
		sq += (double)v[i] * v[i];
	}
	for (size_t i = 0; sq > 0 && i < n; i++)
		v[i] /= (float)sqrt(sq / (double)n);
}

/* Per frame of one offset: the log magnitude of every marked bin, then
 * each minus the mean of its neighbours in time (a sustained tone cancels;
 * the mark, whose sign is independent from frame to frame, stays), summed
 * with the bins' signs into the sync and data scores. */
static void offset_scores(struct detect_ctx *c, const float *m, size_t nf, float *lm, float *ss,
			  float *sd)
{
	for (size_t f = 0; f < nf; f++) {
		wm_fft_analyse(&c->f, m + f * WM_N);
		for (int i = 0; i < WM_BINS; i++)
			lm[f * WM_BINS + (size_t)i] = logmag(&c->f.spec[c->p->bin[i]]);
	}
	for (size_t f = 0; f < nf; f++) {
		const float *prev = lm + (f ? f - 1 : f + (nf > 1)) * WM_BINS;
		const float *next = lm + (f + 1 < nf ? f + 1 : f - (f > 0)) * WM_BINS;
		const float *cur = lm + f * WM_BINS;
		float s = 0, d = 0;

		for (int i = 0; i < WM_BINS; i++) {
			float v = c->p->sign[i] * (cur[i] - 0.5f * (prev[i] + next[i]));

			if (i < WM_SYNC_BINS)
				s += v;
			else
				d += v;
		}
		ss[f] = s;
		sd[f] = d;
	}
}

static int scores(struct detect_ctx *c, const float *m, size_t n)
{
	size_t most = n / WM_N;
	float *lm = av_malloc((most ? most : 1) * WM_BINS * sizeof(float));

	if (!lm)
		return AM_ERR_NOMEM;
	for (int o = 0; o < NOFF; o++) {
		size_t start = (size_t)o * WM_SEARCH_STEP, nf = n > start ? (n - start) / WM_N : 0;

		c->nframes[o] = nf;
		c->ss[o] = av_calloc(nf ? nf : 1, sizeof(float));
		c->sd[o] = av_calloc(nf ? nf : 1, sizeof(float));
		if (!c->ss[o] || !c->sd[o]) {
			av_free(lm);
			return AM_ERR_NOMEM;
		}
		offset_scores(c, m + start, nf, lm, c->ss[o], c->sd[o]);
		normalise(c->ss[o], nf);
		normalise(c->sd[o], nf);
	}
	av_free(lm);
	return 0;
}

/* The best phase of offset o: z = correlation / sqrt(frames). */
static struct cand best_phase(const struct detect_ctx *c, int o)
{
	struct cand best = {o, 0, -1e9};
	size_t nf = c->nframes[o];

	for (int ph = 0; nf && ph < WM_PERIOD_FRAMES; ph++) {
		double acc = 0;
		size_t g = (size_t)ph;

		for (size_t f = 0; f < nf; f++) {
			acc += c->ss[o][f] * c->p->sync[g];
			if (++g == WM_PERIOD_FRAMES)
				g = 0;
		}
		acc /= sqrt((double)nf);
		if (acc > best.z)
			best = (struct cand){o, ph, acc};
	}
	return best;
}

/* Up to WM_DECODE_TRIES candidates, best first, with distinct phases. */
static int pick(const struct detect_ctx *c, struct cand out[WM_DECODE_TRIES])
{
	struct cand all[NOFF];
	int n = 0;

	for (int o = 0; o < NOFF; o++)
		all[o] = best_phase(c, o);
	for (int t = 0; t < WM_DECODE_TRIES; t++) {
		int bi = -1;

		for (int o = 0; o < NOFF; o++) {
			int dup = 0;

			for (int k = 0; k < n; k++)
				dup |= all[o].phase == out[k].phase;
			if (!dup && all[o].z > -1e8 && (bi < 0 || all[o].z > all[bi].z))
				bi = o;
		}
		if (bi < 0)
			break;
		out[n++] = all[bi];
	}
	return n;
}

/* Decode candidate k into its info word and the agreement of the soft bits
 * with that word re-encoded. Key-less: the tag is wm_decide's. */
static int decode(const struct detect_ctx *c, struct cand k, struct wm_candidate *out)
{
	float frag[WM_CODED_BITS] = {0}, soft[WM_CODED_BITS];
	uint8_t coded[WM_CODED_BITS];
	double agree = 0, total = 0;
	size_t g = (size_t)k.phase;
	int rc;

	for (size_t f = 0; f < c->nframes[k.off]; f++) {
		frag[g / WM_FRAMES_PER_BIT] += c->sd[k.off][f] * c->p->scramble[g];
		if (++g == WM_PERIOD_FRAMES)
			g = 0;
	}
	for (int j = 0; j < WM_CODED_BITS; j++)
		soft[j] = frag[c->p->perm[j]];
	if ((rc = wm_viterbi(soft, out->info)) != 0)
		return rc;
	wm_conv_encode(out->info, coded);
	for (int j = 0; j < WM_CODED_BITS; j++) {
		agree += coded[j] ? -soft[j] : soft[j];
		total += fabsf(soft[j]);
	}
	out->agreement = total > 0 ? agree / total : 0;
	out->sync_z = k.z;
	out->offset_s = (double)((size_t)k.off * WM_SEARCH_STEP +
				 (size_t)((WM_PERIOD_FRAMES - k.phase) % WM_PERIOD_FRAMES) * WM_N) /
			WM_RATE;
	return 0;
}

static void detect_cleanup(struct detect_ctx *c)
{
	for (int o = 0; o < NOFF; o++) {
		av_free(c->ss[o]);
		av_free(c->sd[o]);
	}
	wm_fft_cleanup(&c->f);
}

int wm_detect_candidates(const struct wm_pattern *p, const float *pcm, size_t frames,
			 unsigned channels, unsigned rate, struct wm_candidates *out)
{
	struct detect_ctx c = {.p = p};
	struct cand cands[WM_DECODE_TRIES];
	float *m = NULL;
	size_t n;
	int rc, nc;

	memset(out, 0, sizeof(*out));
	if (!p || !pcm || channels < 1 || channels > 8 || rate < 8000 || rate > 192000)
		return AM_ERR_INVAL;
	if (frames / rate > WM_MAX_SECONDS)
		return AM_ERR_TOOBIG;
	if ((rc = wm_fft_init(&c.f)) != 0)
		return rc;
	rc =
	    wm_mono_44k(pcm, frames, channels, rate, (size_t)WM_DETECT_PERIODS * WM_PERIOD, &m, &n);
	if (rc || (rc = scores(&c, m, n)) != 0)
		goto out;
	nc = pick(&c, cands);
	for (int i = 0; i < nc && rc == 0; i++)
		if ((rc = decode(&c, cands[i], &out->c[i])) == 0)
			out->n = i + 1;
out:
	av_free(m);
	detect_cleanup(&c);
	return rc;
}

int wm_detect(const struct wm_pattern *p, const float *pcm, size_t frames, unsigned channels,
	      unsigned rate, struct wm_result *res)
{
	struct wm_candidates cands;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = wm_detect_candidates(p, pcm, frames, channels, rate, &cands)) != 0)
		return rc;
	return wm_decide(p, &cands, res);
}
