/*
 * markers_wav.c: the marked WAV (docs/web-ui.md "Comments into the DAW"):
 * the scan of a WAV original's header (RIFF or RF64: fmt, ds64, bext, the
 * data chunk), the patched head, and the chunks appended after the audio:
 * "cue " (frame index in dwPosition and dwSampleOffset), "LIST"/"adtl"
 * ("note", "labl", "ltxt" with purpose "rgn " for ranges) and "bext"
 * (EBU Tech 3285 version 1). The audio bytes themselves are never touched:
 * the media role copies them from the original. markers_wav_scan parses
 * bytes of an uploaded file (untrusted): it reads only within the head it
 * is given, checks every size before using it, and is fuzzed
 * (fuzz/markers_wav.c). Pure code; runs in the media role.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "markers/markers.h"
#include "markers/markers_int.h"
#include "util/util.h"

#define RIFF_MAX UINT64_C(0xFFFFFFFF)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int scan_fmt(const uint8_t *p, uint32_t size, struct markers_wav *w)
{
	if (size < 16)
		return AM_ERR_INVAL;
	w->format_tag = le16(p);
	w->channels = le16(p + 2);
	w->sample_rate = le32(p + 4);
	w->block_align = le16(p + 12);
	if (w->format_tag != 1 && w->format_tag != 3 && w->format_tag != 0xFFFE)
		return AM_ERR_UNSUPPORTED;
	if (w->channels < 1 || w->channels > 64 || w->sample_rate < 1 || w->sample_rate > 1000000 ||
	    w->block_align == 0)
		return AM_ERR_INVAL;
	return 0;
}

int markers_wav_scan(const uint8_t *head, size_t n, uint64_t file_size, struct markers_wav *w)
{
	uint64_t pos = 12, ds64_data = 0;
	int have_fmt = 0, have_ds64 = 0, rc;

	memset(w, 0, sizeof(*w));
	if (n < 12 || file_size < n || memcmp(head + 8, "WAVE", 4) ||
	    (memcmp(head, "RIFF", 4) && memcmp(head, "RF64", 4)))
		return AM_ERR_UNSUPPORTED;
	w->rf64 = memcmp(head, "RF64", 4) == 0;
	while (pos + 8 <= n) {
		const uint8_t *c = head + pos;
		uint32_t size = le32(c + 4);

		if (memcmp(c, "data", 4) == 0) {
			uint64_t len = (w->rf64 && size == 0xFFFFFFFFu) ? ds64_data : size;

			if (!have_fmt || (w->rf64 && !have_ds64))
				return AM_ERR_INVAL;
			w->data_off = pos + 8;
			if (len > file_size - w->data_off)
				len = file_size - w->data_off;
			w->data_len = len;
			w->frames = len / w->block_align;
			w->pad_in_file = (len & 1) && w->data_off + len < file_size;
			return 0;
		}
		if (pos + 8 + (uint64_t)size > n)
			return AM_ERR_UNSUPPORTED; /* a chunk before the data ends past the head */
		if (memcmp(c, "fmt ", 4) == 0) {
			if ((rc = scan_fmt(c + 8, size, w)) != 0)
				return rc;
			have_fmt = 1;
		} else if (memcmp(c, "ds64", 4) == 0 && w->rf64 && pos == 12) {
			if (size < 24)
				return AM_ERR_INVAL;
			ds64_data = le64(c + 16);
			have_ds64 = 1;
		} else if (memcmp(c, "bext", 4) == 0) {
			w->has_bext = 1;
		}
		pos += 8 + (uint64_t)size + (size & 1);
	}
	return AM_ERR_UNSUPPORTED;
}

int markers_wav_head(const uint8_t *head, const struct markers_wav *w, uint64_t tail_len,
		     struct am_buf *out)
{
	uint64_t total = w->data_off + w->data_len + w->pad_in_file + tail_len;
	size_t start = out->len;
	int rc;

	if (!w->rf64 && total - 8 > RIFF_MAX)
		return AM_ERR_TOOBIG;
	if ((rc = am_buf_append(out, head, (size_t)w->data_off)) != 0)
		return rc;
	if (w->rf64) {
		markers_put_le64(out->p + start + 20, total - 8);   /* ds64 riffSize */
		markers_put_le64(out->p + start + 28, w->data_len); /* ds64 dataSize */
	} else {
		markers_put_le32(out->p + start + 4, (uint32_t)(total - 8));
		markers_put_le32(out->p + start + w->data_off - 4, (uint32_t)w->data_len);
	}
	return 0;
}

/* The fmt chunk's 16 bytes of fields. */
static void put_fmt(uint8_t *p, const struct markers_wav *w, uint16_t bits)
{
	markers_put_le16(p, w->format_tag);
	markers_put_le16(p + 2, w->channels);
	markers_put_le32(p + 4, w->sample_rate);
	markers_put_le32(p + 8, w->sample_rate * w->block_align); /* byte rate */
	markers_put_le16(p + 12, w->block_align);
	markers_put_le16(p + 14, bits);
}

int markers_wav_pcm_head(uint16_t format_tag, uint16_t bits, uint16_t channels,
			 uint32_t sample_rate, uint64_t data_len, uint64_t tail_len,
			 struct am_buf *out, struct markers_wav *w)
{
	uint8_t h[80] = {0};
	uint64_t total;
	size_t n;

	memset(w, 0, sizeof(*w));
	if ((format_tag != 1 && format_tag != 3) || bits < 8 || bits > 64 || bits % 8 ||
	    channels < 1 || channels > 64 || sample_rate < 1 || sample_rate > 1000000 ||
	    (format_tag == 3 && bits != 32 && bits != 64))
		return AM_ERR_INVAL;
	w->format_tag = format_tag;
	w->channels = channels;
	w->sample_rate = sample_rate;
	w->block_align = (uint16_t)(channels * (bits / 8));
	w->data_len = data_len;
	w->frames = data_len / w->block_align;
	w->rf64 = 44 + data_len + tail_len - 8 > RIFF_MAX;
	n = w->rf64 ? 80 : 44;
	w->data_off = n;
	total = n + data_len + tail_len;
	memcpy(h, w->rf64 ? "RF64" : "RIFF", 4);
	markers_put_le32(h + 4, w->rf64 ? 0xFFFFFFFFu : (uint32_t)(total - 8));
	memcpy(h + 8, "WAVE", 4);
	if (w->rf64) {
		memcpy(h + 12, "ds64", 4);
		markers_put_le32(h + 16, 28);
		markers_put_le64(h + 20, total - 8); /* riffSize */
		markers_put_le64(h + 28, data_len);  /* dataSize */
		markers_put_le64(h + 36, w->frames); /* sampleCount; table length 0 */
	}
	memcpy(h + n - 32, "fmt ", 4);
	markers_put_le32(h + n - 28, 16);
	put_fmt(h + n - 24, w, bits);
	memcpy(h + n - 8, "data", 4);
	markers_put_le32(h + n - 4, w->rf64 ? 0xFFFFFFFFu : (uint32_t)data_len);
	return am_buf_append(out, h, n);
}

/* A chunk header (id, size) into b; the caller appends size bytes and a pad. */
static int put_hdr(struct am_buf *b, const char id[4], uint32_t size)
{
	uint8_t h[8];

	memcpy(h, id, 4);
	markers_put_le32(h + 4, size);
	return am_buf_append(b, h, 8);
}

static int put_u32(struct am_buf *b, uint32_t v)
{
	uint8_t t[4];

	markers_put_le32(t, v);
	return am_buf_append(b, t, 4);
}

/* labl or note: cue id and a NUL-terminated string, padded to even. */
static int put_text_chunk(struct am_buf *b, const char id[4], uint32_t cue, const struct am_buf *s)
{
	uint32_t size = 4 + (uint32_t)s->len + 1;
	static const uint8_t zero[2] = {0, 0};
	int rc;

	if ((rc = put_hdr(b, id, size)) || (rc = put_u32(b, cue)) ||
	    (s->len && (rc = am_buf_append(b, s->p, s->len))))
		return rc;
	return am_buf_append(b, zero, 1 + (size & 1));
}

static uint64_t frame_of(const struct markers_opts *o, int64_t ms)
{
	uint64_t f = ((uint64_t)ms * o->sample_rate + 500) / 1000, max = o->frames;

	if (max > 0xFFFFFFFFu) /* cue positions are 32-bit */
		max = 0xFFFFFFFFu;
	return f > max ? max : f;
}

static int put_cue(struct am_buf *b, const struct markers_opts *o, const struct markers_item *v,
		   size_t n)
{
	int rc = put_hdr(b, "cue ", (uint32_t)(4 + 24 * n));

	if (rc == 0)
		rc = put_u32(b, (uint32_t)n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint8_t p[24];
		uint32_t f = (uint32_t)frame_of(o, v[i].start_ms);

		markers_put_le32(p, (uint32_t)(i + 1));
		markers_put_le32(p + 4, f); /* dwPosition */
		memcpy(p + 8, "data", 4);
		markers_put_le32(p + 12, 0); /* dwChunkStart */
		markers_put_le32(p + 16, 0); /* dwBlockStart */
		markers_put_le32(p + 20, f); /* dwSampleOffset */
		rc = am_buf_append(b, p, 24);
	}
	return rc;
}

/* The adtl sub-chunks of the LIST, into l: per cue "note" (the full text),
 * "labl", then "ltxt" for a range. Readers that keep the last text and the
 * last length they see for a cue id (wavefile does) then get the label and
 * the region's length. */
static int put_adtl(struct am_buf *l, const struct markers_opts *o, const struct markers_item *v,
		    size_t n, struct am_buf *t)
{
	int rc = am_buf_append(l, "adtl", 4);
	int ascii = (o->flags & MARKERS_ASCII) != 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint32_t id = (uint32_t)(i + 1);

		am_buf_reset(t);
		if ((rc = markers_label(v[i].c, MARKERS_UNCUT, ascii, t)) ||
		    (rc = put_text_chunk(l, "note", id, t)))
			break;
		am_buf_reset(t);
		if ((rc = markers_label(v[i].c, o->label_max, ascii, t)) ||
		    (rc = put_text_chunk(l, "labl", id, t)))
			break;
		if (v[i].end_ms >= 0) {
			uint8_t p[20] = {0};
			uint64_t a = frame_of(o, v[i].start_ms), e = frame_of(o, v[i].end_ms);

			markers_put_le32(p, id);
			markers_put_le32(p + 4, (uint32_t)(e - a)); /* dwSampleLength */
			memcpy(p + 8, "rgn ", 4);		    /* dwPurposeID */
			if ((rc = put_hdr(l, "ltxt", 20)) || (rc = am_buf_append(l, p, 20)))
				break;
		}
	}
	return rc;
}

/* bext version 1 (602 bytes, no coding history). */
static int put_bext(struct am_buf *b, const struct markers_opts *o, size_t n)
{
	uint8_t x[602] = {0};
	struct am_buf d;
	struct tm tm;
	time_t now = (time_t)o->now_s;
	char date[40], tod[40];
	int rc;

	am_buf_init(&d, 256);
	rc = markers_text(NULL, o->name && *o->name ? o->name : "audiomus", 120, 1, &d);
	if (rc == 0)
		rc = am_buf_printf(&d, ": %zu review comments as markers", n);
	if (rc == 0)
		memcpy(x, d.p, d.len < 255 ? d.len : 255); /* Description, NUL-padded */
	am_buf_cleanup(&d);
	if (rc)
		return rc;
	memcpy(x + 256, "audiomus", 8); /* Originator */
	if (!gmtime_r(&now, &tm))
		memset(&tm, 0, sizeof(tm));
	snprintf(date, sizeof(date), "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100);
	snprintf(tod, sizeof(tod), "%02d-%02d-%02d", tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100);
	memcpy(x + 320, date, 10);
	memcpy(x + 330, tod, 8);
	markers_put_le16(x + 346, 1); /* Version */
	if (put_hdr(b, "bext", sizeof(x)))
		return AM_ERR_TOOBIG;
	return am_buf_append(b, x, sizeof(x));
}

int markers_wav_chunks(const struct markers_wav *w, const struct markers_opts *o,
		       const struct markers_comment *c, size_t n, struct am_buf *out)
{
	struct markers_item *v = NULL;
	struct am_buf l, t;
	size_t k = 0;
	int rc;

	am_buf_init(&l, out->cap);
	am_buf_init(&t, 64 * 1024);
	if (o->sample_rate == 0) {
		rc = AM_ERR_INVAL;
		goto out;
	}
	if ((rc = markers_select(o, c, n, &v, &k)) != 0)
		goto out;
	if ((w->data_len & 1) && !w->pad_in_file && (rc = am_buf_append(out, "", 1)) != 0)
		goto out;
	if ((rc = put_cue(out, o, v, k)) || (rc = put_adtl(&l, o, v, k, &t)) ||
	    (rc = put_hdr(out, "LIST", (uint32_t)l.len)) || (rc = am_buf_append(out, l.p, l.len)))
		goto out;
	if (!w->has_bext)
		rc = put_bext(out, o, k);
out:
	free(v);
	am_buf_cleanup(&l);
	am_buf_cleanup(&t);
	return rc;
}
