/*
 * child_mp4.c: the rendition's MP4 writer, in constant memory. Runs in the
 * UNTRUSTED sandboxed child; its input is the child's own AAC encoder
 * output, its output a head-patched stream (child_out.c).
 *
 * Why not FFmpeg's mp4 muxer: in one pass it keeps a 64-byte index entry
 * per AAC packet until the trailer (~11 MB per hour at 48 kHz) and then
 * builds its whole moov in memory, so a job's peak memory grew with the
 * duration. The file written here is the same non-fragmented layout
 * (ftyp, free, mdat, then moov: what browsers seek in with Range requests)
 * but it keeps only 2 bytes per packet (its size; stsz needs them all) and
 * a run-length table of durations, and streams the moov out in order: every
 * box size is known before it is written, so nothing is patched but the
 * mdat size in the head.
 *
 * Layout: ftyp isom (isom iso2 mp41) | free 8 | mdat | moov { mvhd, trak {
 * tkhd, edts/elst (the encoder's priming cut, exact length), mdia { mdhd,
 * hdlr soun, minf { smhd, dinf/dref/url, stbl { stsd mp4a+esds+btrt, stts,
 * stsc, stsz, stco|co64, sgpd+sbgp roll -1 }}}}}. The movie timescale is the
 * sample rate, so the edit list states the length to the sample.
 */
#include "xcode/xcode_int.h"

#include <libavcodec/avcodec.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_PACKETS 1024u /* samples per chunk (stsc/stco): ~0.7 MB of AAC */
#define STTS_MAX      16    /* distinct duration runs (all 1024 but the last) */
#define MDAT_AT	      36    /* ftyp 28 + free 8 */
#define DATA_AT	      (MDAT_AT + 8)
#define PRE_MAX	      1024 /* the moov up to the stsz box */
_Static_assert(DATA_AT == XC_MP4_DATA_AT, "segment variants splice from XC_MP4_DATA_AT on");

struct xc_mp4 {
	struct xc_out *o;
	int rate, channels, bit_rate;
	uint32_t priming;
	uint8_t asc[64]; /* AudioSpecificConfig */
	size_t asc_n;
	uint16_t *sizes; /* per packet */
	size_t n, cap;
	struct {
		uint32_t count, delta;
	} stts[STTS_MAX];
	size_t nstts;
	uint64_t bytes, dur;
	uint32_t max_size;
};

/* A small bounded big-endian writer for the fixed part of the moov. */
struct bw {
	uint8_t b[PRE_MAX];
	size_t n;
	int over;
};

static void put(struct bw *w, const void *p, size_t n)
{
	if (w->over || n > sizeof(w->b) - w->n) {
		w->over = 1;
		return;
	}
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void u8(struct bw *w, uint32_t v)
{
	uint8_t b = (uint8_t)v;

	put(w, &b, 1);
}

static void u16(struct bw *w, uint32_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(w, b, 2);
}

static void u32(struct bw *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	put(w, b, 4);
}

static void u64(struct bw *w, uint64_t v)
{
	u32(w, (uint32_t)(v >> 32));
	u32(w, (uint32_t)v);
}

static void zeros(struct bw *w, size_t n)
{
	static const uint8_t z[64];

	while (n > 0) {
		size_t k = n < sizeof(z) ? n : sizeof(z);

		put(w, z, k);
		n -= k;
	}
}

/* Open a box; returns its offset for close_box (size patched there). */
static size_t open_box(struct bw *w, const char *type)
{
	size_t at = w->n;

	u32(w, 0);
	put(w, type, 4);
	return at;
}

static void close_box(struct bw *w, size_t at)
{
	uint32_t n = (uint32_t)(w->n - at);

	if (!w->over) {
		w->b[at] = (uint8_t)(n >> 24);
		w->b[at + 1] = (uint8_t)(n >> 16);
		w->b[at + 2] = (uint8_t)(n >> 8);
		w->b[at + 3] = (uint8_t)n;
	}
}

static void full_box(struct bw *w, uint32_t version, uint32_t flags)
{
	u32(w, version << 24 | flags);
}

static void matrix(struct bw *w)
{
	static const uint32_t m[9] = {0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000};

	for (int i = 0; i < 9; i++)
		u32(w, m[i]);
}

static int emit(struct xc_mp4 *m, const void *p, size_t n)
{
	return xc_out_write(m->o, p, n);
}

int xc_mp4_new(struct xc_out *o, const AVCodecContext *enc, struct xc_mp4 **out)
{
	static const uint8_t head[DATA_AT] = {
	    0, 0,   0,	 28,  'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0,   0,  2,
	    0, 'i', 's', 'o', 'm', 'i', 's', 'o', '2', 'm', 'p', '4', '1', 0,  0,
	    0, 8,   'f', 'r', 'e', 'e', 0,   0,	  0,   8,   'm', 'd', 'a', 't'};
	struct xc_mp4 *m;

	*out = NULL;
	if (enc->extradata_size <= 0 || (size_t)enc->extradata_size > sizeof(m->asc) ||
	    enc->sample_rate <= 0 || enc->sample_rate > 65535)
		return AM_ERR_INVAL;
	if (!(m = calloc(1, sizeof(*m))))
		return AM_ERR_NOMEM;
	m->o = o;
	m->rate = enc->sample_rate;
	m->channels = enc->ch_layout.nb_channels;
	m->bit_rate = (int)enc->bit_rate;
	m->priming = enc->initial_padding > 0 ? (uint32_t)enc->initial_padding : 0;
	memcpy(m->asc, enc->extradata, (size_t)enc->extradata_size);
	m->asc_n = (size_t)enc->extradata_size;
	*out = m;
	return emit(m, head, sizeof(head));
}

void xc_mp4_free(struct xc_mp4 *m)
{
	if (!m)
		return;
	free(m->sizes);
	free(m);
}

int xc_mp4_packet(struct xc_mp4 *m, const AVPacket *pkt, int frame_size)
{
	uint32_t d = pkt->duration > 0 && pkt->duration <= 65536 ? (uint32_t)pkt->duration
								 : (uint32_t)frame_size;

	if (pkt->size <= 0 || pkt->size > UINT16_MAX || m->n >= UINT32_MAX / 2)
		return AM_ERR_INVAL;
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 4096;
		uint16_t *s = realloc(m->sizes, nc * sizeof(*s));

		if (!s)
			return AM_ERR_NOMEM;
		m->sizes = s;
		m->cap = nc;
	}
	if (m->nstts > 0 && m->stts[m->nstts - 1].delta == d) {
		m->stts[m->nstts - 1].count++;
	} else {
		if (m->nstts == STTS_MAX)
			return AM_ERR_INVAL;
		m->stts[m->nstts].count = 1;
		m->stts[m->nstts++].delta = d;
	}
	m->sizes[m->n++] = (uint16_t)pkt->size;
	m->bytes += (uint64_t)pkt->size;
	m->dur += d;
	if ((uint32_t)pkt->size > m->max_size)
		m->max_size = (uint32_t)pkt->size;
	return emit(m, pkt->data, (size_t)pkt->size);
}

/* ES descriptor lengths in the 4-byte form FFmpeg writes. */
static void desc(struct bw *w, uint32_t tag, uint32_t len)
{
	u8(w, tag);
	u8(w, 0x80 | ((len >> 21) & 0x7f));
	u8(w, 0x80 | ((len >> 14) & 0x7f));
	u8(w, 0x80 | ((len >> 7) & 0x7f));
	u8(w, len & 0x7f);
}

static void stsd(const struct xc_mp4 *m, struct bw *w)
{
	uint64_t avg = m->dur ? m->bytes * 8 * (uint64_t)m->rate / m->dur : 0;
	uint32_t avg32 = avg > UINT32_MAX ? UINT32_MAX : (uint32_t)avg;
	uint32_t max =
	    m->bit_rate > 0 && (uint32_t)m->bit_rate > avg32 ? (uint32_t)m->bit_rate : avg32;
	uint32_t dcd = 13 + 5 + (uint32_t)m->asc_n;
	size_t box = open_box(w, "stsd"), e, es;

	full_box(w, 0, 0);
	u32(w, 1);
	e = open_box(w, "mp4a");
	zeros(w, 6);
	u16(w, 1);   /* data reference index */
	zeros(w, 8); /* version, revision, vendor */
	u16(w, (uint32_t)m->channels);
	u16(w, 16);  /* sample size */
	zeros(w, 4); /* compression id, packet size */
	u32(w, (uint32_t)m->rate << 16);
	es = open_box(w, "esds");
	full_box(w, 0, 0);
	desc(w, 3, 3 + 5 + dcd + 5 + 1);
	u16(w, 1); /* ES_ID */
	u8(w, 0);
	desc(w, 4, dcd);
	u8(w, 0x40); /* MPEG-4 audio */
	u8(w, 0x15); /* audio stream */
	u8(w, m->max_size >> 16);
	u16(w, m->max_size & 0xffff);
	u32(w, max);
	u32(w, avg32);
	desc(w, 5, (uint32_t)m->asc_n);
	put(w, m->asc, m->asc_n);
	desc(w, 6, 1);
	u8(w, 2);
	close_box(w, es);
	es = open_box(w, "btrt");
	u32(w, m->max_size);
	u32(w, max);
	u32(w, avg32);
	close_box(w, es);
	close_box(w, e);
	close_box(w, box);
}

static void stts_stsc(const struct xc_mp4 *m, struct bw *w)
{
	size_t chunks = (m->n + CHUNK_PACKETS - 1) / CHUNK_PACKETS, last = m->n % CHUNK_PACKETS;
	size_t box = open_box(w, "stts");

	full_box(w, 0, 0);
	u32(w, (uint32_t)m->nstts);
	for (size_t i = 0; i < m->nstts; i++) {
		u32(w, m->stts[i].count);
		u32(w, m->stts[i].delta);
	}
	close_box(w, box);
	box = open_box(w, "stsc");
	full_box(w, 0, 0);
	u32(w, last && chunks > 1 ? 2 : 1);
	u32(w, 1);
	u32(w, chunks == 1 ? (uint32_t)m->n : CHUNK_PACKETS);
	u32(w, 1);
	if (last && chunks > 1) {
		u32(w, (uint32_t)chunks);
		u32(w, (uint32_t)last);
		u32(w, 1);
	}
	close_box(w, box);
}

/* moov up to (not including) stsz; the five open containers all end where
 * the moov ends, so their sizes are patched from its total. */
static int moov_pre(const struct xc_mp4 *m, struct bw *w, uint64_t len, uint64_t tail)
{
	size_t c[5], b;
	int v1 = len > UINT32_MAX || m->dur > UINT32_MAX;

	c[0] = open_box(w, "moov");
	b = open_box(w, "mvhd");
	full_box(w, (uint32_t)v1, 0);
	v1 ? zeros(w, 16) : zeros(w, 8);
	u32(w, (uint32_t)m->rate);
	v1 ? u64(w, len) : u32(w, (uint32_t)len);
	u32(w, 0x10000);
	u16(w, 0x100);
	zeros(w, 10);
	matrix(w);
	zeros(w, 24);
	u32(w, 2);
	close_box(w, b);
	c[1] = open_box(w, "trak");
	b = open_box(w, "tkhd");
	full_box(w, (uint32_t)v1, 3);
	v1 ? zeros(w, 16) : zeros(w, 8);
	u32(w, 1);
	zeros(w, 4);
	v1 ? u64(w, len) : u32(w, (uint32_t)len);
	zeros(w, 8);
	u16(w, 0);
	u16(w, 1); /* alternate group */
	u16(w, 0x100);
	zeros(w, 2);
	matrix(w);
	zeros(w, 8);
	close_box(w, b);
	b = open_box(w, "edts");
	{
		size_t e = open_box(w, "elst");

		full_box(w, (uint32_t)v1, 0);
		u32(w, 1);
		v1 ? u64(w, len) : u32(w, (uint32_t)len);
		v1 ? u64(w, m->priming) : u32(w, m->priming);
		u32(w, 0x10000);
		close_box(w, e);
	}
	close_box(w, b);
	c[2] = open_box(w, "mdia");
	b = open_box(w, "mdhd");
	full_box(w, (uint32_t)v1, 0);
	v1 ? zeros(w, 16) : zeros(w, 8);
	u32(w, (uint32_t)m->rate);
	v1 ? u64(w, m->dur) : u32(w, (uint32_t)m->dur);
	u16(w, 0x55c4); /* "und" */
	u16(w, 0);
	close_box(w, b);
	b = open_box(w, "hdlr");
	full_box(w, 0, 0);
	u32(w, 0);
	put(w, "soun", 4);
	zeros(w, 12);
	put(w, "SoundHandler", 13);
	close_box(w, b);
	c[3] = open_box(w, "minf");
	b = open_box(w, "smhd");
	full_box(w, 0, 0);
	u32(w, 0);
	close_box(w, b);
	b = open_box(w, "dinf");
	{
		size_t d = open_box(w, "dref"), u;

		full_box(w, 0, 0);
		u32(w, 1);
		u = open_box(w, "url ");
		full_box(w, 0, 1); /* media in this file */
		close_box(w, u);
		close_box(w, d);
	}
	close_box(w, b);
	c[4] = open_box(w, "stbl");
	stsd(m, w);
	stts_stsc(m, w);
	if (w->over)
		return AM_ERR_TOOBIG;
	for (int i = 0; i < 5; i++) {
		uint64_t sz = w->n + tail - c[i];

		if (sz > UINT32_MAX)
			return AM_ERR_TOOBIG;
		w->b[c[i]] = (uint8_t)(sz >> 24);
		w->b[c[i] + 1] = (uint8_t)(sz >> 16);
		w->b[c[i] + 2] = (uint8_t)(sz >> 8);
		w->b[c[i] + 3] = (uint8_t)sz;
	}
	return 0;
}

/* Flush w to the output when fewer than 16 bytes are left in it. */
static int spill(struct xc_mp4 *m, struct bw *w)
{
	int rc = 0;

	if (w->n + 16 > sizeof(w->b)) {
		rc = emit(m, w->b, w->n);
		w->n = 0;
	}
	return rc;
}

/* stsz and stco/co64, streamed through a 1 KiB buffer. */
static int stream_tables(struct xc_mp4 *m, int co64, size_t chunks)
{
	struct bw w = {.n = 0};
	uint64_t off = DATA_AT;
	size_t i;
	int rc = 0;

	u32(&w, (uint32_t)(20 + 4 * m->n));
	put(&w, "stsz", 4);
	full_box(&w, 0, 0);
	u32(&w, 0); /* sizes vary */
	u32(&w, (uint32_t)m->n);
	for (i = 0; i < m->n && rc == 0; i++) {
		u32(&w, m->sizes[i]);
		rc = spill(m, &w);
	}
	u32(&w, (uint32_t)(16 + (co64 ? 8 : 4) * chunks));
	put(&w, co64 ? "co64" : "stco", 4);
	full_box(&w, 0, 0);
	u32(&w, (uint32_t)chunks);
	for (i = 0; i < m->n && rc == 0; i++) {
		if (i % CHUNK_PACKETS == 0)
			co64 ? u64(&w, off) : u32(&w, (uint32_t)off);
		off += m->sizes[i];
		rc = spill(m, &w);
	}
	if (rc == 0 && w.over)
		rc = AM_ERR_INTERNAL;
	if (rc == 0 && w.n)
		rc = emit(m, w.b, w.n);
	return rc;
}

static void roll(const struct xc_mp4 *m, struct bw *w)
{
	size_t b = open_box(w, "sgpd");

	full_box(w, 1, 0);
	put(w, "roll", 4);
	u32(w, 2); /* default length */
	u32(w, 1);
	u16(w, 0xffff); /* roll distance -1: decode one packet before a seek point */
	close_box(w, b);
	b = open_box(w, "sbgp");
	full_box(w, 0, 0);
	put(w, "roll", 4);
	u32(w, 1);
	u32(w, (uint32_t)m->n);
	u32(w, 1);
	close_box(w, b);
}

/* After the last packet: the moov, then the mdat size in the head. samples
 * is what was fed to the encoder (the edit list's exact length). */
int xc_mp4_finish(struct xc_mp4 *m, uint64_t samples)
{
	struct bw pre, post;
	size_t chunks = (m->n + CHUNK_PACKETS - 1) / CHUNK_PACKETS;
	uint64_t mdat = 8 + m->bytes, len = samples;
	int co64 = DATA_AT + m->bytes > UINT32_MAX, rc;
	uint64_t tables = 20 + 4 * (uint64_t)m->n + 16 + (co64 ? 8 : 4) * (uint64_t)chunks;
	uint8_t h[16];

	if (m->n == 0 || m->dur < m->priming)
		return AM_ERR_INVAL;
	if (len > m->dur - m->priming)
		len = m->dur - m->priming;
	memset(&pre, 0, sizeof(pre));
	memset(&post, 0, sizeof(post));
	roll(m, &post);
	if ((rc = moov_pre(m, &pre, len, tables + post.n)) || (rc = emit(m, pre.b, pre.n)) ||
	    (rc = stream_tables(m, co64, chunks)) || (rc = emit(m, post.b, post.n)))
		return rc;
	/* The mdat size; past 4 GiB, free + mdat become one 64-bit mdat header. */
	if (mdat <= UINT32_MAX) {
		for (int i = 0; i < 4; i++)
			h[i] = (uint8_t)(mdat >> (24 - 8 * i));
		if ((rc = xc_out_seek(m->o, MDAT_AT)) || (rc = xc_out_write(m->o, h, 4)))
			return rc;
	} else {
		mdat += 8;
		memcpy(h, "\0\0\0\1mdat", 8);
		for (int i = 0; i < 8; i++)
			h[8 + i] = (uint8_t)(mdat >> (56 - 8 * i));
		if ((rc = xc_out_seek(m->o, MDAT_AT - 8)) || (rc = xc_out_write(m->o, h, 16)))
			return rc;
	}
	return 0;
}
