/*
 * child_r128.c: EBU R128 integrated loudness, loudness range (EBU Tech 3342;
 * libebur128) and true peak (child_tpeak.c: libebur128's figures for a
 * fifth of its CPU) on a second thread of the child, so that the meter runs
 * beside the AAC encoder instead of after it; a second
 * instance, peak only, meters the rendition as a player decodes it
 * (child_rmeter.c). Runs in the UNTRUSTED sandboxed child: the thread is
 * created before the seccomp filter is loaded (clone is forbidden after) and
 * the filter is synchronised onto it (TSYNC); from then on both threads can
 * only compute, use futexes and map memory. The main thread hands over
 * copies of the decoded samples as interleaved float, before any conversion
 * to integers (a float master above 0 dBFS keeps its overs: an s16 copy
 * clipped them and under-read the true peak), in a small ring of fixed
 * blocks (constant memory),
 * each block filled to BLK_FRAMES before it is handed over: decoders deliver
 * ~1,024 frames at a time, and one hand-over (lock, wake-up) per decoded
 * frame made the encoder thread wait on the meter's wake-ups.
 * The peak-only instance is handed the rendition's encoded packets instead
 * and decodes them itself (child_rmeter.c's decoder, run here): that decode
 * was ~7 % of the main thread, which is the job's critical path (issue 25,
 * docs/transcoding.md "Where the time goes").
 */
#include "xcode/xcode_int.h"

#include <ebur128.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NBLK	   4
#define BLK_FRAMES 8192 /* 4 x 8192 x 8 ch x 4 bytes: 1 MiB at most */

struct xc_r128 {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int alive, started, running, stop, err, peak_only;
	unsigned ch, max_ch;
	unsigned long rate;
	int map[XCODE_MAX_CHANNELS];
	ebur128_state *st;   /* loudness and range; NULL for peak_only */
	struct xc_tpeak *tp; /* true and sample peak */
	xc_r128_dec_fn dec;  /* blocks hold encoded records, not samples */
	void *dec_ctx;
	float *blk[NBLK];
	size_t n[NBLK];	     /* frames, or bytes with dec */
	uint64_t head, tail; /* blocks consumed / produced */
	size_t fill;	     /* frames (bytes) in blk[tail % NBLK], not yet handed over */
};

#define BLK_BYTES(r) ((size_t)BLK_FRAMES * (r)->max_ch * sizeof(float))

/* libebur128 for loudness and range (not for the peak-only meter); the
 * true peak, sample peak included, from child_tpeak.c (the same figures as
 * EBUR128_MODE_TRUE_PEAK, for a fifth of the CPU). */
static int meter_init(struct xc_r128 *r)
{
	if (xc_tpeak_new(r->ch, r->rate, &r->tp))
		return -1;
	if (r->peak_only)
		return 0;
	r->st = ebur128_init(r->ch, r->rate,
			     EBUR128_MODE_I | EBUR128_MODE_LRA | EBUR128_MODE_HISTOGRAM);
	if (!r->st)
		return -1;
	for (unsigned c = 0; c < r->ch; c++)
		if (r->map[c] >= 0)
			ebur128_set_channel(r->st, c, r->map[c]);
	return 0;
}

/* One block: samples to libebur128 and the true-peak meter, or encoded
 * records to the decoder (which meters what it decodes). 0 or -1. */
static int meter_block(struct xc_r128 *r, const float *b, size_t n)
{
	if (r->err)
		return 0;
	if (r->dec)
		return r->dec(r->dec_ctx, (const uint8_t *)b, n, r->tp) ? -1 : 0;
	if (r->st && ebur128_add_frames_float(r->st, b, n) != EBUR128_SUCCESS)
		return -1;
	if (r->tp)
		xc_tpeak_add(r->tp, b, n);
	return 0;
}

static void *meter_main(void *arg)
{
	struct xc_r128 *r = arg;
	int done;

	pthread_mutex_lock(&r->mu);
	r->alive = 1; /* thread start-up syscalls (rseq, robust list) are done */
	pthread_cond_broadcast(&r->cv);
	while (!r->started && !r->stop)
		pthread_cond_wait(&r->cv, &r->mu);
	if (r->started && meter_init(r))
		r->err = 1;
	for (;;) {
		uint64_t i;
		int bad;

		while (r->head == r->tail && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->head == r->tail)
			break;
		i = r->head % NBLK;
		pthread_mutex_unlock(&r->mu);
		bad = meter_block(r, r->blk[i], r->n[i]);
		pthread_mutex_lock(&r->mu);
		if (bad)
			r->err = 1;
		r->head++;
		pthread_cond_broadcast(&r->cv);
	}
	done = r->dec && r->started && !r->err;
	pthread_mutex_unlock(&r->mu);
	/* the decoder's last frames (a started meter only: it holds tp) */
	if (done && r->dec(r->dec_ctx, NULL, 0, r->tp)) {
		pthread_mutex_lock(&r->mu);
		r->err = 1;
		pthread_mutex_unlock(&r->mu);
	}
	return NULL;
}

int xc_r128_spawn(struct xc_r128 **out, int max_ch, int peak_only)
{
	struct xc_r128 *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return AM_ERR_NOMEM;
	r->max_ch = (unsigned)max_ch;
	r->peak_only = peak_only;
	for (int i = 0; i < NBLK; i++)
		if (!(r->blk[i] = malloc((size_t)BLK_FRAMES * r->max_ch * sizeof(float))))
			goto fail;
	if (pthread_mutex_init(&r->mu, NULL) || pthread_cond_init(&r->cv, NULL))
		goto fail;
	if (pthread_create(&r->th, NULL, meter_main, r) != 0)
		goto fail;
	r->running = 1;
	/* The filter must not be loaded before the thread finished starting. */
	pthread_mutex_lock(&r->mu);
	while (!r->alive)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	*out = r;
	return 0;
fail:
	for (int i = 0; i < NBLK; i++)
		free(r->blk[i]);
	free(r);
	return AM_ERR_INTERNAL;
}

int xc_r128_set_decoder(struct xc_r128 *r, xc_r128_dec_fn dec, void *ctx)
{
	if (!r->peak_only || !dec)
		return AM_ERR_INVAL;
	pthread_mutex_lock(&r->mu);
	if (r->started) {
		pthread_mutex_unlock(&r->mu);
		return AM_ERR_INVAL;
	}
	r->dec = dec;
	r->dec_ctx = ctx;
	pthread_mutex_unlock(&r->mu);
	return 0;
}

int xc_r128_start(struct xc_r128 *r, int ch, int rate, const int map[XCODE_MAX_CHANNELS])
{
	if (ch < 1 || (unsigned)ch > r->max_ch)
		return AM_ERR_INVAL;
	pthread_mutex_lock(&r->mu);
	r->ch = (unsigned)ch;
	r->rate = (unsigned long)rate;
	if (map)
		memcpy(r->map, map, sizeof(r->map));
	else
		for (int c = 0; c < XCODE_MAX_CHANNELS; c++)
			r->map[c] = -1;
	r->started = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

/* Hand the block being filled to the meter thread (if it holds frames). */
static void publish(struct xc_r128 *r)
{
	if (r->fill == 0)
		return;
	pthread_mutex_lock(&r->mu);
	r->n[r->tail % NBLK] = r->fill;
	r->tail++;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	r->fill = 0;
}

/* Before filling a new block: wait until one is free. */
static int wait_free(struct xc_r128 *r)
{
	int err;

	pthread_mutex_lock(&r->mu);
	while (r->tail - r->head == NBLK && !r->err)
		pthread_cond_wait(&r->cv, &r->mu);
	err = r->err;
	pthread_mutex_unlock(&r->mu);
	return err ? AM_ERR_INTERNAL : 0;
}

int xc_r128_add(struct xc_r128 *r, const float *s, size_t frames)
{
	if (r->dec)
		return AM_ERR_INVAL;
	while (frames > 0) {
		size_t k = BLK_FRAMES - r->fill;

		if (r->fill == 0 && wait_free(r))
			return AM_ERR_INTERNAL;
		if (k > frames)
			k = frames;
		memcpy(r->blk[r->tail % NBLK] + r->fill * r->ch, s, k * r->ch * sizeof(float));
		r->fill += k;
		s += k * r->ch;
		frames -= k;
		if (r->fill == BLK_FRAMES)
			publish(r);
	}
	return 0;
}

int xc_r128_add_bytes(struct xc_r128 *r, const void *p, size_t n)
{
	if (!r->dec || n > BLK_BYTES(r))
		return AM_ERR_INVAL;
	if (r->fill + n > BLK_BYTES(r))
		publish(r);
	if (r->fill == 0 && wait_free(r))
		return AM_ERR_INTERNAL;
	memcpy((uint8_t *)r->blk[r->tail % NBLK] + r->fill, p, n);
	r->fill += n;
	return 0;
}

void xc_r128_join(struct xc_r128 *r)
{
	if (!r->running)
		return;
	publish(r); /* the last, partly filled block */
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->th, NULL);
	r->running = 0;
}

int xc_r128_peak(struct xc_r128 *r, double *dbtp)
{
	double tp;

	xc_r128_join(r);
	if (r->err || !r->tp)
		return AM_ERR_INTERNAL;
	tp = xc_tpeak_max(r->tp); /* linear, at least the highest sample */
	*dbtp = tp > 0 ? 20 * log10(tp) : -HUGE_VAL;
	return 0;
}

/* Which measurements have no number, and why (enum xcode_meter): digital
 * silence; shorter than one 400 ms gating block (integrated) or one 3 s
 * short-term block (range); every block under the -70 LUFS gate. */
static int meter_flags(double tp, double lufs, uint64_t frames, unsigned long rate)
{
	int f = 0;

	if (!(tp > 0))
		return XCODE_METER_SILENT;
	if (frames * 10 < (uint64_t)rate * 4)
		f |= XCODE_METER_SHORT_I | XCODE_METER_SHORT_LRA;
	else if (frames < (uint64_t)rate * 3)
		f |= XCODE_METER_SHORT_LRA;
	if (!(f & XCODE_METER_SHORT_I) && !isfinite(lufs))
		f |= XCODE_METER_GATED;
	return f;
}

int xc_r128_finish(struct xc_r128 *r, uint64_t frames, struct xf_info *in)
{
	double lufs = -HUGE_VAL, lra = 0, tp;

	xc_r128_join(r);
	if (r->err || !r->st || !r->tp)
		return AM_ERR_INTERNAL;
	if (ebur128_loudness_global(r->st, &lufs) != EBUR128_SUCCESS)
		lufs = -HUGE_VAL;
	if (ebur128_loudness_range(r->st, &lra) != EBUR128_SUCCESS || !isfinite(lra))
		lra = 0;
	tp = xc_tpeak_max(r->tp);
	in->meter_flags = meter_flags(tp, lufs, frames, r->rate);
	in->has_loudness = isfinite(lufs) && tp > 0;
	in->loudness_lufs = in->has_loudness ? lufs : 0;
	in->loudness_range_lu =
	    in->meter_flags & (XCODE_METER_SILENT | XCODE_METER_SHORT_LRA | XCODE_METER_GATED)
		? 0
		: lra;
	in->true_peak_dbtp = tp > 0 ? 20 * log10(tp) : -HUGE_VAL;
	return 0;
}

void xc_r128_free(struct xc_r128 *r)
{
	if (!r)
		return;
	xc_r128_join(r);
	if (r->st)
		ebur128_destroy(&r->st);
	xc_tpeak_free(r->tp);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	for (int i = 0; i < NBLK; i++)
		free(r->blk[i]);
	free(r);
}
