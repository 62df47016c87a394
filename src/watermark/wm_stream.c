/*
 * wm_stream.c: the listener mark on a stream of samples in constant memory
 * (issue 26, marked downloads; docs/watermark.md "Marked downloads"). The
 * track is cut into pieces ("cores") of about 10 s; each is marked by
 * wm_embed_bits_at over a window that adds a margin of the unmarked
 * neighbours on both sides (at least two 44.1 kHz frames and the
 * resampler's filter, rounded up to the rate's quantum so that every window
 * starts on a sample of both grids), and only the core is emitted. The
 * windows are marked in a copy: the margins stay the original samples that
 * the next window analyses. Pure computation on caller buffers; runs where
 * wm_embed runs (the sandboxed transcode child).
 */
#include "watermark/watermark_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define CORE_SECONDS 10
#define MARGIN_44K   (4 * WM_N) /* 44.1 kHz samples of margin before the filter's share */

struct wm_stream {
	const struct wm_pattern *p;
	uint8_t bits[WM_CODED_BITS];
	float strength;
	unsigned ch, rate;
	uint64_t core, margin; /* frames, multiples of the quantum */
	float *buf, *scratch;  /* cap frames each */
	size_t cap, have;      /* buf holds the track's [start, start + have) */
	uint64_t start, done;  /* done: emitted up to this sample */
	wm_stream_out_fn *out;
	void *ctx;
};

uint64_t wm_stream_quantum(unsigned rate)
{
	unsigned a = rate, b = WM_RATE;

	if (rate == 0)
		return 0;
	while (b) {
		unsigned t = a % b;

		a = b;
		b = t;
	}
	return rate / a;
}

static uint64_t round_up(uint64_t v, uint64_t q)
{
	return (v + q - 1) / q * q;
}

int wm_stream_new(const struct wm_pattern *p, const uint8_t bits[WM_CODED_BITS], float strength,
		  unsigned channels, unsigned rate, size_t core_frames, wm_stream_out_fn *out,
		  void *ctx, struct wm_stream **sp)
{
	struct wm_stream *s;
	uint64_t q = wm_stream_quantum(rate);

	*sp = NULL;
	if (!p || !bits || !out || channels < 1 || channels > 8 || rate < 8000 || rate > 192000 ||
	    !(strength > 0.0f && strength <= WM_STRENGTH_MAX))
		return AM_ERR_INVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return AM_ERR_NOMEM;
	s->p = p;
	memcpy(s->bits, bits, sizeof(s->bits));
	s->strength = strength;
	s->ch = channels;
	s->rate = rate;
	s->core = round_up(core_frames ? core_frames : (uint64_t)CORE_SECONDS * rate, q);
	/* Two frames for the partial frames at the ends, two more and 256
	 * samples for the resampler's filter (32 taps) in both directions. */
	s->margin = round_up((uint64_t)MARGIN_44K * rate / WM_RATE + 256, q);
	s->cap = (size_t)(s->core + 2 * s->margin);
	s->out = out;
	s->ctx = ctx;
	s->buf = malloc(s->cap * channels * sizeof(float));
	s->scratch = malloc(s->cap * channels * sizeof(float));
	if (!s->buf || !s->scratch) {
		wm_stream_free(s);
		return AM_ERR_NOMEM;
	}
	*sp = s;
	return 0;
}

/* Mark the window buf[0, upto) in the copy and emit [done, emit_to). */
static int piece(struct wm_stream *s, size_t upto, uint64_t emit_to)
{
	size_t skip = (size_t)(s->done - s->start), n = (size_t)(emit_to - s->done);
	int rc;

	memcpy(s->scratch, s->buf, upto * s->ch * sizeof(float));
	rc = wm_embed_bits_at(s->p, s->bits, s->strength, s->scratch, upto, s->ch, s->rate,
			      s->start, NULL);
	if (rc == 0 && n > 0)
		rc = s->out(s->ctx, s->scratch + skip * s->ch, n);
	s->done = emit_to;
	return rc;
}

/* Drop what no later window needs: keep [done - margin, ...). */
static void slide(struct wm_stream *s)
{
	uint64_t keep_from = s->done > s->margin ? s->done - s->margin : 0;
	size_t drop = (size_t)(keep_from - s->start);

	if (drop == 0)
		return;
	memmove(s->buf, s->buf + drop * s->ch, (s->have - drop) * s->ch * sizeof(float));
	s->have -= drop;
	s->start = keep_from;
}

int wm_stream_write(struct wm_stream *s, const float *pcm, size_t frames)
{
	int rc;

	while (frames > 0) {
		size_t room = s->cap - s->have, k = frames < room ? frames : room;

		memcpy(s->buf + s->have * s->ch, pcm, k * s->ch * sizeof(float));
		s->have += k;
		pcm += k * s->ch;
		frames -= k;
		/* A window is complete when it reaches a margin past its core. */
		if (s->start + s->have >= s->done + s->core + s->margin) {
			uint64_t end = s->done + s->core + s->margin;

			if ((rc = piece(s, (size_t)(end - s->start), s->done + s->core)) != 0)
				return rc;
			slide(s);
		}
	}
	return 0;
}

int wm_stream_finish(struct wm_stream *s)
{
	if (s->have == 0 || s->start + s->have <= s->done)
		return 0;
	return piece(s, s->have, s->start + s->have);
}

void wm_stream_free(struct wm_stream *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s->scratch);
	free(s);
}
