/*
 * markers_smf.c: markers as a Standard MIDI File (SMF 1.0, format 1, one
 * track): track name (FF 03), time signature (FF 58), tempo (FF 51), then
 * one Marker meta-event (FF 06) per marker, a range as two markers (its
 * start, and "end of " + the label at its end), end of track (FF 2F). The
 * only marker route into Pro Tools and Logic. Text is ASCII (those DAWs
 * read meta text as 8-bit, not UTF-8). Ticks are the comment time at the
 * written tempo, rounded: within half a tick (<= 0.5 ms) of the comment.
 * Pure formatting; runs in the web role.
 */
#include <stdlib.h>
#include <string.h>

#include "markers/markers.h"
#include "markers/markers_int.h"
#include "util/util.h"

struct smf_ev {
	uint64_t tick;
	size_t item;
	int end; /* the end marker of a range */
};

static int ev_cmp(const void *x, const void *y)
{
	const struct smf_ev *a = x, *b = y;

	if (a->tick != b->tick)
		return a->tick < b->tick ? -1 : 1;
	if (a->item != b->item)
		return a->item < b->item ? -1 : 1;
	return a->end - b->end;
}

static int put_vlq(struct am_buf *b, uint64_t v)
{
	uint8_t t[10];
	int n = 0;

	t[n++] = (uint8_t)(v & 0x7F);
	while ((v >>= 7) && n < 10)
		t[n++] = (uint8_t)(0x80 | (v & 0x7F));
	for (int i = n - 1; i >= 0; i--)
		if (am_buf_append(b, &t[i], 1))
			return AM_ERR_TOOBIG;
	return 0;
}

static int put_meta(struct am_buf *b, uint64_t delta, uint8_t type, const void *p, size_t n)
{
	uint8_t h[2] = {0xFF, type};
	int rc;

	if ((rc = put_vlq(b, delta)) || (rc = am_buf_append(b, h, 2)) || (rc = put_vlq(b, n)))
		return rc;
	return n ? am_buf_append(b, p, n) : 0;
}

/* Tempo and division from the options: microseconds per quarter note and
 * ticks per quarter (960, or 3840 below 64 BPM so a tick stays under 1 ms). */
static int smf_timing(const struct markers_opts *o, uint32_t *us, uint32_t *tpq, uint8_t ts[4])
{
	uint32_t mbpm = o->tempo_mbpm ? o->tempo_mbpm : MARKERS_DEFAULT_TEMPO;
	unsigned num = o->ts_num ? o->ts_num : 4, den = o->ts_den ? o->ts_den : 4, lg = 0;

	if (mbpm < MARKERS_TEMPO_MIN || mbpm > MARKERS_TEMPO_MAX || num > 99 || den > 64 ||
	    (den & (den - 1)))
		return AM_ERR_INVAL;
	while ((1u << lg) < den)
		lg++;
	*us = (uint32_t)((UINT64_C(60000000000) + mbpm / 2) / mbpm);
	*tpq = mbpm >= 64000 ? 960 : 3840;
	ts[0] = (uint8_t)num;
	ts[1] = (uint8_t)lg;
	ts[2] = 24; /* MIDI clocks per metronome click */
	ts[3] = 8;  /* 32nd notes per quarter */
	return 0;
}

/* The track's events after the tempo map. */
static int smf_events(const struct markers_opts *o, const struct markers_item *v, size_t n,
		      uint32_t us, uint32_t tpq, struct am_buf *trk, struct am_buf *l)
{
	struct smf_ev *ev = n ? calloc(2 * n, sizeof(*ev)) : NULL;
	size_t k = 0;
	uint64_t last = 0;
	int rc = 0;

	if (n && !ev)
		return AM_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		for (int e = 0; e < 1 + (v[i].end_ms >= 0); e++) {
			uint64_t ms = (uint64_t)(e ? v[i].end_ms : v[i].start_ms);

			if (ms > (UINT64_C(1) << 40))
				ms = UINT64_C(1) << 40;
			ev[k].tick = (ms * 1000 * tpq + us / 2) / us;
			ev[k].item = i;
			ev[k++].end = e;
		}
	}
	if (k)
		qsort(ev, k, sizeof(*ev), ev_cmp);
	for (size_t i = 0; rc == 0 && i < k; i++) {
		am_buf_reset(l);
		if (ev[i].end && (rc = am_buf_puts(l, "end of ")))
			break;
		if ((rc = markers_label(v[ev[i].item].c, o->label_max, 1, l)) == 0)
			rc = put_meta(trk, ev[i].tick - last, 0x06, l->p, l->len);
		last = ev[i].tick;
	}
	free(ev);
	return rc;
}

int markers_smf(const struct markers_opts *o, const struct markers_item *v, size_t n,
		struct am_buf *out, struct am_buf *l)
{
	const char *name = o->name && *o->name ? o->name : "audiomus markers";
	uint8_t hdr[14] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1, 0, 1, 0, 0}, ts[4], tempo[3];
	uint8_t th[8] = {'M', 'T', 'r', 'k'};
	uint32_t us, tpq;
	struct am_buf trk;
	int rc;

	if ((rc = smf_timing(o, &us, &tpq, ts)) != 0)
		return rc;
	am_buf_init(&trk, out->cap);
	hdr[12] = (uint8_t)(tpq >> 8);
	hdr[13] = (uint8_t)tpq;
	tempo[0] = (uint8_t)(us >> 16);
	tempo[1] = (uint8_t)(us >> 8);
	tempo[2] = (uint8_t)us;
	/* The track name: the title in ASCII, cut like a label. */
	am_buf_reset(l);
	if ((rc = markers_text(NULL, name, 200, 1, l)) != 0)
		goto out;
	if ((rc = put_meta(&trk, 0, 0x03, l->p, l->len)) || (rc = put_meta(&trk, 0, 0x58, ts, 4)) ||
	    (rc = put_meta(&trk, 0, 0x51, tempo, 3)) ||
	    (rc = smf_events(o, v, n, us, tpq, &trk, l)) || (rc = put_meta(&trk, 0, 0x2F, NULL, 0)))
		goto out;
	for (int i = 0; i < 4; i++)
		th[4 + i] = (uint8_t)(trk.len >> (24 - 8 * i));
	if ((rc = am_buf_append(out, hdr, sizeof(hdr))) || (rc = am_buf_append(out, th, 8)) ||
	    (rc = am_buf_append(out, trk.p, trk.len)))
		goto out;
out:
	am_buf_cleanup(&trk);
	return rc;
}
