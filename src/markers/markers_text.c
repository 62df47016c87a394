/*
 * markers_text.c: the marker files that are not audio: a Standard MIDI File
 * (format 1, one track: name, time signature, tempo, one Marker meta-event
 * per marker), a Reaper region/marker CSV, an Audacity label track and an
 * Adobe Audition marker file (docs/web-ui.md "Comments into the DAW"). Pure
 * formatting into a bounded buffer; runs in the web role.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markers/markers.h"
#include "markers/markers_int.h"
#include "util/util.h"

/* "m:ss.mmm", or "h:mm:ss.mmm" from an hour on. */
static int put_clock(struct am_buf *b, int64_t ms)
{
	int64_t s = ms / 1000, h = s / 3600, m = (s / 60) % 60;

	if (h)
		return am_buf_printf(b, "%lld:%02lld:%02lld.%03lld", (long long)h, (long long)m,
				     (long long)(s % 60), (long long)(ms % 1000));
	return am_buf_printf(b, "%lld:%02lld.%03lld", (long long)(s / 60), (long long)(s % 60),
			     (long long)(ms % 1000));
}

static int label_of(const struct markers_opts *o, const struct markers_item *it, unsigned max,
		    int ascii, struct am_buf *b)
{
	am_buf_reset(b);
	return markers_label(it->c, max ? max : o->label_max, ascii || (o->flags & MARKERS_ASCII),
			     b);
}

/* A CSV field (RFC 4180): quoted when it holds a comma, a quote or a space
 * at either end; quotes doubled. Labels hold no line breaks. */
static int put_csv(struct am_buf *b, const struct am_buf *f)
{
	const char *s = f->len ? (const char *)f->p : "";
	int q = strpbrk(s, ",\"") || (f->len && (s[0] == ' ' || s[f->len - 1] == ' '));
	int rc = q ? am_buf_puts(b, "\"") : 0;

	for (size_t i = 0; rc == 0 && i < f->len; i++)
		rc = s[i] == '"' ? am_buf_puts(b, "\"\"") : am_buf_append(b, &s[i], 1);
	return rc == 0 && q ? am_buf_puts(b, "\"") : rc;
}

/* Reaper: "#,Name,Start,End,Length,Color", markers M1.., regions R1.. */
static int write_reaper(const struct markers_opts *o, const struct markers_item *v, size_t n,
			struct am_buf *out, struct am_buf *l)
{
	unsigned nm = 0, nr = 0;
	int rc = am_buf_puts(out, "#,Name,Start,End,Length,Color\r\n");

	for (size_t i = 0; rc == 0 && i < n; i++) {
		int region = v[i].end_ms >= 0;

		if ((rc = label_of(o, &v[i], 0, 0, l)) ||
		    (rc = am_buf_printf(out, "%c%u,", region ? 'R' : 'M', region ? ++nr : ++nm)) ||
		    (rc = put_csv(out, l)) || (rc = am_buf_puts(out, ",")) ||
		    (rc = put_clock(out, v[i].start_ms)) || (rc = am_buf_puts(out, ",")))
			break;
		if (region && ((rc = put_clock(out, v[i].end_ms)) || (rc = am_buf_puts(out, ",")) ||
			       (rc = put_clock(out, v[i].end_ms - v[i].start_ms))))
			break;
		rc = am_buf_puts(out, region ? ",\r\n" : ",,\r\n");
	}
	return rc;
}

/* Audacity: "start<TAB>end<TAB>label", seconds with six decimals. */
static int write_audacity(const struct markers_opts *o, const struct markers_item *v, size_t n,
			  struct am_buf *out, struct am_buf *l)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		int64_t e = v[i].end_ms >= 0 ? v[i].end_ms : v[i].start_ms;

		if ((rc = label_of(o, &v[i], 0, 0, l)) == 0)
			rc = am_buf_printf(out, "%lld.%03lld000\t%lld.%03lld000\t%s\n",
					   (long long)(v[i].start_ms / 1000),
					   (long long)(v[i].start_ms % 1000), (long long)(e / 1000),
					   (long long)(e % 1000), l->len ? (const char *)l->p : "");
	}
	return rc;
}

/* Audition: tab-separated, "decimal" time format, type Cue; the full text
 * (control characters as spaces) in Description. */
static int write_audition(const struct markers_opts *o, const struct markers_item *v, size_t n,
			  struct am_buf *out, struct am_buf *l)
{
	int rc = am_buf_puts(out, "Name\tStart\tDuration\tTime Format\tType\tDescription\r\n");

	for (size_t i = 0; rc == 0 && i < n; i++) {
		int64_t d = v[i].end_ms >= 0 ? v[i].end_ms - v[i].start_ms : 0;

		if ((rc = label_of(o, &v[i], 0, 0, l)) || (rc = am_buf_append(out, l->p, l->len)) ||
		    (rc = am_buf_puts(out, "\t")) || (rc = put_clock(out, v[i].start_ms)) ||
		    (rc = am_buf_puts(out, "\t")) || (rc = put_clock(out, d)) ||
		    (rc = am_buf_puts(out, "\tdecimal\tCue\t")) ||
		    (rc = label_of(o, &v[i], MARKERS_UNCUT, 0, l)) ||
		    (rc = am_buf_append(out, l->p, l->len)))
			break;
		rc = am_buf_puts(out, "\r\n");
	}
	return rc;
}

int markers_write(enum markers_format f, const struct markers_opts *o,
		  const struct markers_comment *c, size_t n, struct am_buf *out)
{
	struct markers_item *v = NULL;
	struct am_buf l;
	size_t k = 0;
	int rc;

	am_buf_init(&l, 64 * 1024);
	if ((rc = markers_select(o, c, n, &v, &k)) != 0)
		goto out;
	switch (f) {
	case MARKERS_SMF: rc = markers_smf(o, v, k, out, &l); break;
	case MARKERS_REAPER: rc = write_reaper(o, v, k, out, &l); break;
	case MARKERS_AUDACITY: rc = write_audacity(o, v, k, out, &l); break;
	case MARKERS_AUDITION: rc = write_audition(o, v, k, out, &l); break;
	default: rc = AM_ERR_INVAL; break;
	}
out:
	free(v);
	am_buf_cleanup(&l);
	return rc;
}
