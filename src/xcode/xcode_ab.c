/*
 * xcode_ab.c: segment variants (issue 26, docs/watermark.md "Serving
 * segment variants"): renditions A and B of one decode, marked with every
 * fragment bit 0 and 1, encoded in lockstep by two AAC-LC encoders with the
 * stream rendition's settings, and written by child_mp4.c with ONE byte
 * layout: each access unit of A and of B is padded to the larger of the
 * two with AAC fill elements (xc_aac_pad), so the MP4 boxes (stsz, stco,
 * esds) are byte-identical and only mdat payload bytes differ. A
 * listener's stream is then a byte splice of A and B at access-unit
 * boundaries (src/media/media_splice.c), with no CPU per listener.
 * Runs wherever the caller runs it: today the operator's `audiomus
 * watermark variants` (unsandboxed, the operator's own files); its input
 * is PCM we decoded, its output our own encoders'.
 */
#include "xcode/xcode_int.h"

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <stdlib.h>
#include <string.h>

/* ---- AAC fill elements ------------------------------------------------------ */

#define ID_FIL	      6u
#define ID_END	      7u
#define EXT_FILL_DATA 1u
#define FIL_UNITS_MAX 270u /* one FIL element: 7 + 8 * units bits, units 0..270 */
#define FIL_ELEMS_MAX 24u

struct bitw {
	uint8_t *b;
	size_t pos, cap_bits;
};

static void putb(struct bitw *w, uint32_t v, unsigned n)
{
	while (n-- > 0) {
		if (w->pos < w->cap_bits && (v >> n & 1u))
			w->b[w->pos / 8] |= (uint8_t)(0x80u >> (w->pos % 8));
		w->pos++;
	}
}

/* One FIL element of 7 + 8 * u bits: count u (u <= 14), or count 15 and
 * esc_count u - 15 for u - 1 payload bytes; the payload is EXT_FILL_DATA
 * (type, a zero nibble, then fill bytes 10100101). */
static void fil_element(struct bitw *w, unsigned u)
{
	unsigned c = u <= 14 ? u : u - 1;

	putb(w, ID_FIL, 3);
	if (u <= 14) {
		putb(w, u, 4);
	} else {
		putb(w, 15, 4);
		putb(w, u - 15, 8);
	}
	if (c == 0)
		return;
	putb(w, EXT_FILL_DATA, 4);
	putb(w, 0, 4);
	for (unsigned i = 1; i < c; i++)
		putb(w, 0xa5, 8);
}

int xc_aac_pad(uint8_t *au, size_t n, size_t target)
{
	size_t i = n, p, end_at, hi, f = 0, units, k = 0;
	struct bitw w;

	if (!au || n == 0 || target < n || target - n > XC_AAC_PAD_MAX)
		return AM_ERR_INVAL;
	if (target == n)
		return 0;
	while (i > 0 && au[i - 1] == 0)
		i--;
	if (i == 0)
		return AM_ERR_INVAL;
	p = (i - 1) * 8 + 7 - (size_t)__builtin_ctz(au[i - 1]); /* the last set bit */
	if (p < 2 || !(au[(p - 1) / 8] & (0x80u >> ((p - 1) % 8))) ||
	    !(au[(p - 2) / 8] & (0x80u >> ((p - 2) % 8))))
		return AM_ERR_INVAL; /* not "111" then zero alignment: no ID_END */
	end_at = p - 2;
	/* end_at + fill + 3 bits must round up to target bytes: fill in
	 * [hi - 7, hi]; k elements give 7k + 8 * units bits. */
	hi = 8 * target - 3 - end_at;
	for (k = 1; k <= FIL_ELEMS_MAX; k++) {
		f = hi - ((hi - (7 * k) % 8 + 8) % 8);
		if (f >= 7 * k && (f - 7 * k) / 8 <= FIL_UNITS_MAX * k)
			break;
	}
	if (k > FIL_ELEMS_MAX)
		return AM_ERR_INVAL;
	units = (f - 7 * k) / 8;
	au[end_at / 8] &= (uint8_t)(0xff00u >> (end_at % 8));
	memset(au + end_at / 8 + 1, 0, target - end_at / 8 - 1);
	w = (struct bitw){.b = au, .pos = end_at, .cap_bits = 8 * target};
	for (size_t e = 0; e < k; e++) {
		unsigned u = units > FIL_UNITS_MAX ? FIL_UNITS_MAX : (unsigned)units;

		fil_element(&w, u);
		units -= u;
	}
	putb(&w, ID_END, 3);
	return (w.pos + 7) / 8 == target ? 0 : AM_ERR_INTERNAL;
}

/* ---- two renditions in lockstep ------------------------------------------------ */

#define AB_QUEUE 8 /* packets an encoder may run ahead of the other */

struct ab_side {
	AVCodecContext *enc;
	AVFrame *fr;
	struct xc_out out;
	struct xc_mp4 *mp4;
	AVPacket *q[AB_QUEUE];
	int qn;
	uint64_t raw; /* bytes before padding */
};

struct xc_ab {
	struct ab_side a, b;
	int has_b;
	unsigned ch;
	uint64_t frames;      /* fed so far */
	struct xc_out *sizes; /* NULL: keep them in the layout */
	struct xcode_ab_layout l;
};

/* The stream rendition's encoder settings (child_enc.c open_encoder). */
static int side_open(struct ab_side *s, unsigned ch, unsigned rate, const struct xc_ab_out *o)
{
	const AVCodec *c = avcodec_find_encoder_by_name("aac");

	if (xc_out_init(&s->out, o->body_type, o->head_type, o->head_cap, XCODE_IO_CHUNK))
		return AM_ERR_NOMEM;
	s->out.fd = o->fd;
	if (!c || !(s->enc = avcodec_alloc_context3(c)) || !(s->fr = av_frame_alloc()))
		return AM_ERR_NOMEM;
	s->enc->sample_rate = (int)rate;
	av_channel_layout_default(&s->enc->ch_layout, (int)ch);
	s->enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
	s->enc->bit_rate = 256000;
	s->enc->time_base = (AVRational){1, (int)rate};
	s->enc->thread_count = 1;
	s->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER | AV_CODEC_FLAG_BITEXACT;
	if (av_opt_set(s->enc->priv_data, "aac_coder", "fast", 0) < 0 ||
	    avcodec_open2(s->enc, c, NULL) < 0)
		return AM_ERR_INTERNAL;
	s->fr->nb_samples = s->enc->frame_size;
	s->fr->format = AV_SAMPLE_FMT_FLTP;
	s->fr->sample_rate = (int)rate;
	if (av_channel_layout_copy(&s->fr->ch_layout, &s->enc->ch_layout) < 0 ||
	    av_frame_get_buffer(s->fr, 0) < 0)
		return AM_ERR_NOMEM;
	return xc_mp4_new(&s->out, s->enc, &s->mp4);
}

static void side_close(struct ab_side *s)
{
	for (int i = 0; i < s->qn; i++)
		av_packet_free(&s->q[i]);
	xc_mp4_free(s->mp4);
	av_frame_free(&s->fr);
	avcodec_free_context(&s->enc);
	xc_out_cleanup(&s->out);
}

/* Send n frames of pcm (NULL: flush) with timestamp pts and queue the packets. */
static int side_feed(struct ab_side *s, const float *pcm, uint64_t pts, size_t n, unsigned ch)
{
	int rc;

	if (pcm) {
		if (av_frame_make_writable(s->fr) < 0)
			return AM_ERR_NOMEM;
		s->fr->nb_samples = (int)n;
		s->fr->pts = (int64_t)pts;
		for (unsigned c = 0; c < ch; c++) {
			float *d = (float *)s->fr->extended_data[c];

			for (size_t i = 0; i < n; i++)
				d[i] = pcm[i * ch + c];
		}
	}
	if (avcodec_send_frame(s->enc, pcm ? s->fr : NULL) < 0)
		return AM_ERR_INTERNAL;
	for (;;) {
		if (s->qn == AB_QUEUE)
			return AM_ERR_INTERNAL; /* the encoders are not in lockstep */
		if (!(s->q[s->qn] = av_packet_alloc()))
			return AM_ERR_NOMEM;
		rc = avcodec_receive_packet(s->enc, s->q[s->qn]);
		if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
			av_packet_free(&s->q[s->qn]);
			return 0;
		}
		if (rc < 0)
			return AM_ERR_INTERNAL;
		s->raw += (uint64_t)s->q[s->qn]->size;
		s->qn++;
	}
}

static AVPacket *side_pop(struct ab_side *s)
{
	AVPacket *p = s->q[0];

	memmove(s->q, s->q + 1, (size_t)(s->qn - 1) * sizeof(s->q[0]));
	s->q[--s->qn] = NULL;
	return p;
}

/* Pad a packet to target bytes with fill elements. */
static int pad_packet(AVPacket *p, int target)
{
	int n = p->size;

	if (target == n)
		return 0;
	if (av_grow_packet(p, target - n) < 0)
		return AM_ERR_NOMEM;
	return xc_aac_pad(p->data, (size_t)n, (size_t)target);
}

/* One unit's padded size: into the sizes stream, or the layout's array. */
static int note_size(struct xc_ab *w, uint32_t size)
{
	struct xcode_ab_layout *l = &w->l;

	if (w->sizes) {
		l->n++;
		return xc_out_write(w->sizes, &size, sizeof(size));
	}
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 4096;
		uint32_t *t = realloc(l->sizes, nc * sizeof(*t));

		if (!t)
			return AM_ERR_NOMEM;
		l->sizes = t;
		l->cap = nc;
	}
	l->sizes[l->n++] = size;
	return 0;
}

/* Write every pair of queued packets, each padded to the larger size. */
static int write_pairs(struct xc_ab *w)
{
	struct ab_side *a = &w->a, *b = w->has_b ? &w->b : NULL;
	int rc = 0;

	while (rc == 0 && a->qn > 0 && (!b || b->qn > 0)) {
		AVPacket *pa = side_pop(a), *pb = b ? side_pop(b) : NULL;
		int size = pb && pb->size > pa->size ? pb->size : pa->size;

		if (pb && pb->duration != pa->duration)
			rc = AM_ERR_INTERNAL;
		if (rc == 0 && !(rc = pad_packet(pa, size)) &&
		    (!pb || !(rc = pad_packet(pb, size))))
			rc = xc_mp4_packet(a->mp4, pa, a->enc->frame_size);
		if (rc == 0 && pb)
			rc = xc_mp4_packet(b->mp4, pb, b->enc->frame_size);
		if (rc == 0)
			rc = note_size(w, (uint32_t)size);
		av_packet_free(&pa);
		av_packet_free(&pb);
	}
	return rc;
}

int xc_ab_new(unsigned ch, unsigned rate, const struct xc_ab_out *oa, const struct xc_ab_out *ob,
	      struct xc_out *sizes, struct xc_ab **out)
{
	struct xc_ab *w = NULL;
	int rc = AM_ERR_INVAL;

	*out = NULL;
	if ((ch != 1 && ch != 2) || rate < 8000 || rate > 48000 || !oa)
		goto out;
	rc = AM_ERR_NOMEM;
	if (!(w = calloc(1, sizeof(*w))))
		goto out;
	w->ch = ch;
	w->has_b = ob != NULL;
	w->sizes = sizes;
	if ((rc = side_open(&w->a, ch, rate, oa)) || (ob && (rc = side_open(&w->b, ch, rate, ob))))
		goto out;
	w->l.priming = w->a.enc->initial_padding;
	w->l.frame_size = w->a.enc->frame_size;
	w->l.data_at = XC_MP4_DATA_AT;
	*out = w;
	w = NULL;
out:
	xc_ab_free(w);
	return rc;
}

int xc_ab_feed(struct xc_ab *w, const float *pa, const float *pb, size_t frames)
{
	size_t fs = (size_t)w->a.enc->frame_size, at = 0;
	int rc = 0;

	if (!pa || (w->has_b && !pb) || w->frames % fs)
		return AM_ERR_INVAL; /* only the last feed may end inside a frame */
	for (; rc == 0 && at < frames; at += fs) {
		size_t n = frames - at < fs ? frames - at : fs;

		if (!(rc = side_feed(&w->a, pa + at * w->ch, w->frames + at, n, w->ch)) &&
		    (!w->has_b ||
		     !(rc = side_feed(&w->b, pb + at * w->ch, w->frames + at, n, w->ch))))
			rc = write_pairs(w);
	}
	w->frames += frames;
	return rc;
}

int xc_ab_finish(struct xc_ab *w, struct xcode_ab_layout *l)
{
	struct ab_side *b = w->has_b ? &w->b : NULL;
	int rc;

	if (w->frames == 0)
		return AM_ERR_INVAL;
	if (!(rc = side_feed(&w->a, NULL, 0, 0, w->ch)) &&
	    (!b || !(rc = side_feed(b, NULL, 0, 0, w->ch))))
		rc = write_pairs(w);
	if (rc == 0 && (w->a.qn || (b && b->qn)))
		rc = AM_ERR_INTERNAL; /* one encoder wrote more packets than the other */
	if (rc == 0 && !(rc = xc_mp4_finish(w->a.mp4, w->frames)) && b)
		rc = xc_mp4_finish(b->mp4, w->frames);
	if (rc == 0 && !(rc = xc_out_finish(&w->a.out)) && b)
		rc = xc_out_finish(&b->out);
	if (rc == 0 && w->sizes)
		rc = xc_out_finish(w->sizes);
	w->l.raw_a = w->a.raw;
	w->l.raw_b = w->b.raw;
	w->l.file_size = w->a.out.size;
	if (rc == 0 && l) {
		*l = w->l;
		memset(&w->l, 0, sizeof(w->l));
	}
	return rc;
}

void xc_ab_free(struct xc_ab *w)
{
	if (!w)
		return;
	side_close(&w->a);
	side_close(&w->b);
	xcode_ab_layout_cleanup(&w->l);
	free(w);
}

int xcode_ab_write(const float *pcm_a, const float *pcm_b, size_t frames, unsigned ch,
		   unsigned rate, int fd_a, int fd_b, struct xcode_ab_layout *l)
{
	struct xc_ab_out oa = {XF_STREAM_BODY, XF_STREAM_HEAD, XCODE_STREAM_HEAD, fd_a};
	struct xc_ab_out ob = {XF_STREAM_BODY, XF_STREAM_HEAD, XCODE_STREAM_HEAD, fd_b};
	struct xc_ab *w = NULL;
	int rc;

	memset(l, 0, sizeof(*l));
	if (!pcm_a || frames == 0 || fd_a <= 0 || (pcm_b && fd_b <= 0))
		return AM_ERR_INVAL;
	if (!(rc = xc_ab_new(ch, rate, &oa, pcm_b ? &ob : NULL, NULL, &w)) &&
	    !(rc = xc_ab_feed(w, pcm_a, pcm_b, frames)))
		rc = xc_ab_finish(w, l);
	xc_ab_free(w);
	return rc;
}

void xcode_ab_layout_cleanup(struct xcode_ab_layout *l)
{
	free(l->sizes);
	memset(l, 0, sizeof(*l));
}
