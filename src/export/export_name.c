/*
 * export_name.c: the names inside the export archive (export.h): sanitised
 * original file names and ASCII slugs of titles. Pure functions over
 * untrusted text (file names and titles are the owner's, but whoever opens
 * the archive may extract it with any tool, on any system): no path
 * separator, no "." or "..", no control or bidirectional-override
 * character, valid UTF-8 only, bounded length. Runs in the media role and
 * the admin command.
 */
#include <string.h>

#include "export/export.h"

#define TMP_MAX 1024
#define EXT_MAX 16

/* Decode one strict UTF-8 sequence at p (n bytes left): its length, and the
 * code point in *cp; 0 when invalid (bad lead, missing continuation,
 * overlong, surrogate, beyond U+10FFFF). */
static size_t utf8_next(const unsigned char *p, size_t n, unsigned long *cp)
{
	static const unsigned long min[5] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len;
	unsigned long c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2, c = p[0] & 0x1F;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3, c = p[0] & 0x0F;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4, c = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3F);
	}
	if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

/* Characters replaced by '_' although valid. */
static int unsafe_cp(unsigned long c)
{
	if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F))
		return 1; /* C0, DEL, C1 controls */
	if (c < 0x80 && strchr("/\\<>:\"|?*", (int)c))
		return 1;
	/* bidirectional marks, embeddings, overrides and isolates; BOM */
	return c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
	       (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF;
}

/* Drop trailing dots and spaces of s[0..*n). */
static void trim_tail(char *s, size_t *n)
{
	while (*n > 0 && (s[*n - 1] == '.' || s[*n - 1] == ' '))
		(*n)--;
	s[*n] = 0;
}

/* The extension (".wav") of s if short and plain ASCII, else "". */
static size_t ext_len(const char *s, size_t n)
{
	const char *dot = memrchr(s, '.', n);
	size_t el;

	if (!dot || dot == s)
		return 0;
	el = n - (size_t)(dot - s);
	if (el < 2 || el > EXT_MAX)
		return 0;
	for (size_t i = 1; i < el; i++) {
		char c = dot[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return 0;
	}
	return el;
}

void export_name_sanitise(const char *in, char out[EXPORT_NAME_MAX + 1])
{
	char tmp[TMP_MAX];
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	size_t n = strlen((const char *)p), o = 0, start = 0, el, keep;

	for (size_t i = 0; i < n && o + 4 < TMP_MAX;) {
		unsigned long cp = 0;
		size_t l = utf8_next(p + i, n - i, &cp);

		if (l == 0 || unsafe_cp(cp)) {
			tmp[o++] = '_';
			i += l ? l : 1;
			continue;
		}
		memcpy(tmp + o, p + i, l);
		o += l;
		i += l;
	}
	while (start < o && (tmp[start] == '.' || tmp[start] == ' '))
		start++;
	memmove(tmp, tmp + start, o - start);
	o -= start;
	trim_tail(tmp, &o);
	if (o > EXPORT_NAME_MAX) {
		char ext[EXT_MAX + 1];

		el = ext_len(tmp, o);
		memcpy(ext, tmp + o - el, el);
		keep = EXPORT_NAME_MAX - el;
		while (keep > 0 && ((unsigned char)tmp[keep] & 0xC0) == 0x80)
			keep--; /* never cut a UTF-8 sequence */
		trim_tail(tmp, &keep);
		memcpy(tmp + keep, ext, el);
		o = keep + el;
	}
	/* only a bare extension can still start with a dot */
	if (o == 0 || tmp[0] == '.') {
		memcpy(out, "file", 4);
		memcpy(out + 4, tmp, o);
		out[4 + o] = 0;
		return;
	}
	memcpy(out, tmp, o);
	out[o] = 0;
}

void export_slug(const char *in, char out[EXPORT_SLUG_MAX + 1])
{
	size_t o = 0;
	int dash = 0;

	for (const char *p = in ? in : ""; *p && o < EXPORT_SLUG_MAX; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			if (dash && o > 0 && o + 1 < EXPORT_SLUG_MAX)
				out[o++] = '-';
			dash = 0;
			out[o++] = c;
		} else {
			dash = 1;
		}
	}
	while (o > 0 && out[o - 1] == '-')
		o--;
	if (o == 0) {
		memcpy(out, "untitled", 9);
		return;
	}
	out[o] = 0;
}
