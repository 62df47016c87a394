/*
 * markers.c: what every marker format shares: the selection of comments
 * (open only, resolved, replies), their time order, the label text
 * ("author: text", control characters as spaces, cut on a character
 * boundary, ASCII folding), and the format names. Pure code, no I/O; runs
 * in the web role (text formats) and the media role (the marked WAV) on
 * comment text that guests wrote (untrusted, but already stored as UTF-8).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markers/markers.h"
#include "markers/markers_int.h"
#include "util/util.h"

#define TIME_MAX ((int64_t)1 << 40) /* ms: the API's bound on comment times */

static const char *const fmt_names[] = {"smf", "reaper", "audacity", "audition", "wav"};
static const char *const file_names[] = {"markers.mid", "markers-reaper.csv",
					 "markers-audacity.txt", "markers-audition.csv",
					 "marked.wav"};
static const char *const types[] = {"audio/midi", "text/csv; charset=utf-8",
				    "text/plain; charset=utf-8", "text/csv; charset=utf-8",
				    "audio/wav"};

const char *markers_format_name(enum markers_format f)
{
	return (unsigned)f < AM_ARRAY_LEN(fmt_names) ? fmt_names[f] : "";
}

const char *markers_file_name(enum markers_format f)
{
	return (unsigned)f < AM_ARRAY_LEN(file_names) ? file_names[f] : "markers";
}

const char *markers_content_type(enum markers_format f)
{
	return (unsigned)f < AM_ARRAY_LEN(types) ? types[f] : "application/octet-stream";
}

int markers_format_parse(const char *s)
{
	for (size_t i = 0; s && i < AM_ARRAY_LEN(fmt_names); i++)
		if (strcmp(s, fmt_names[i]) == 0)
			return (int)i;
	return AM_ERR_INVAL;
}

void markers_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void markers_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void markers_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int item_cmp(const void *x, const void *y)
{
	const struct markers_item *a = x, *b = y;

	if (a->start_ms != b->start_ms)
		return a->start_ms < b->start_ms ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

int markers_select(const struct markers_opts *o, const struct markers_comment *c, size_t n,
		   struct markers_item **out, size_t *count)
{
	struct markers_item *v = NULL;
	size_t k = 0;

	*out = NULL;
	*count = 0;
	if (n && !(v = calloc(n, sizeof(*v))))
		return AM_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((c[i].resolved && !(o->flags & MARKERS_RESOLVED)) ||
		    (c[i].is_reply && !(o->flags & MARKERS_REPLIES)))
			continue;
		if (k == MARKERS_MAX) {
			free(v);
			return AM_ERR_TOOBIG;
		}
		v[k].start_ms = c[i].time_ms < 0	  ? 0
				: c[i].time_ms > TIME_MAX ? TIME_MAX
							  : c[i].time_ms;
		v[k].end_ms = c[i].end_ms > v[k].start_ms ? c[i].end_ms : -1;
		if (v[k].end_ms > TIME_MAX)
			v[k].end_ms = TIME_MAX;
		v[k].c = &c[i];
		v[k].order = i;
		k++;
	}
	if (k)
		qsort(v, k, sizeof(*v), item_cmp);
	*out = v;
	*count = k;
	return 0;
}

/* One code point of s at *i (advancing), or -1 for an invalid byte. */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
	unsigned char b = s[*i];
	size_t len = b < 0x80		  ? 1
		     : (b & 0xE0) == 0xC0 ? 2
		     : (b & 0xF0) == 0xE0 ? 3
		     : (b & 0xF8) == 0xF0 ? 4
					  : 0;
	int32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
	static const int32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};

	if (len == 0 || *i + len > n) {
		(*i)++;
		return -1;
	}
	for (size_t k = 1; k < len; k++) {
		if ((s[*i + k] & 0xC0) != 0x80) {
			(*i)++;
			return -1;
		}
		cp = (cp << 6) | (s[*i + k] & 0x3F);
	}
	if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		(*i)++;
		return -1;
	}
	*i += len;
	return cp;
}

/* ASCII for a code point >= 0x80 into out[4]: the base letter of a
 * Latin-1 letter with a canonical decomposition ("é" -> "e", as NFD without
 * the marks), a few typographic marks, else "?". */
static void ascii_fold(int32_t cp, char out[4])
{
	static const char latin1[] = "AAAAAA?CEEEEIIII?NOOOOO??UUUUY??"
				     "aaaaaa?ceeeeiiii?nooooo??uuuuy?y";
	const char *s = "?";

	if (cp >= 0xC0 && cp <= 0xFF) {
		out[0] = latin1[cp - 0xC0];
		out[1] = 0;
		return;
	}
	if (cp == 0x2018 || cp == 0x2019)
		s = "'";
	else if (cp == 0x201C || cp == 0x201D)
		s = "\"";
	else if (cp == 0x2013 || cp == 0x2014)
		s = "-";
	else if (cp == 0x2026)
		s = "...";
	am_strlcpy(out, s, 4);
}

/* Append one code point of a label: control characters (C0, DEL, C1) and
 * invalid bytes (-1) as a space or "?", non-ASCII folded when ascii. */
static int put_cp(struct am_buf *b, int32_t cp, int ascii, size_t *chars)
{
	char u[5];
	size_t n = 0;

	if (cp < 0)
		u[n++] = '?';
	else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
		u[n++] = ' ';
	else if (cp < 0x80)
		u[n++] = (char)cp;
	else if (ascii) {
		ascii_fold(cp, u);
		n = strlen(u);
	} else if (cp < 0x800) {
		u[n++] = (char)(0xC0 | (cp >> 6));
		u[n++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		u[n++] = (char)(0xE0 | (cp >> 12));
		u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[n++] = (char)(0x80 | (cp & 0x3F));
	} else {
		u[n++] = (char)(0xF0 | (cp >> 18));
		u[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[n++] = (char)(0x80 | (cp & 0x3F));
	}
	*chars += n; /* ASCII output: one character per byte */
	return am_buf_append(b, u, n);
}

/* Characters of prefix + text (before any cut), as written. */
static int clean_text(const char *prefix, const char *text, int ascii, struct am_buf *t,
		      size_t *chars)
{
	const char *parts[2] = {prefix ? prefix : "", text ? text : ""};
	int rc = 0;

	for (int p = 0; p < 2 && rc == 0; p++) {
		const unsigned char *s = (const unsigned char *)parts[p];
		size_t n = strlen(parts[p]), i = 0, before;

		while (i < n && rc == 0) {
			int32_t cp = utf8_next(s, n, &i);

			before = *chars;
			rc = put_cp(t, cp, ascii, chars);
			if (!ascii) /* UTF-8 output: one character per code point */
				*chars = before + 1;
		}
	}
	return rc;
}

int markers_text(const char *prefix, const char *text, unsigned max, int ascii, struct am_buf *out)
{
	struct am_buf t;
	size_t chars = 0, keep, i = 0, k = 0;
	const char *ell = ascii ? "..." : "\xE2\x80\xA6";
	size_t ell_chars = ascii ? 3 : 1;
	int rc;

	if (max < 4)
		max = 4;
	am_buf_init(&t, out->cap);
	if ((rc = clean_text(prefix, text, ascii, &t, &chars)) != 0)
		goto out;
	if (chars <= max) {
		rc = t.len ? am_buf_append(out, t.p, t.len) : 0;
		goto out;
	}
	keep = max - ell_chars;
	while (k < keep && i < t.len) { /* t is valid UTF-8 (or ASCII) now */
		(void)utf8_next(t.p, t.len, &i);
		k++;
	}
	if ((rc = am_buf_append(out, t.p, i)) == 0)
		rc = am_buf_puts(out, ell);
out:
	am_buf_cleanup(&t);
	return rc;
}

int markers_label(const struct markers_comment *c, unsigned label_max, int ascii,
		  struct am_buf *out)
{
	char prefix[MARKERS_AUTHOR_MAX + 3];

	if (snprintf(prefix, sizeof(prefix),
		     "%s: ", c->author && *c->author ? c->author : "owner") >= (int)sizeof(prefix))
		return AM_ERR_TOOBIG;
	return markers_text(prefix, c->text, label_max ? label_max : MARKERS_LABEL_MAX, ascii, out);
}
