/*
 * api_jw.c: a JSON writer straight into an am_buf, for the large arrays of
 * the review page's answer (every comment), where building jansson objects
 * and dumping them cost most of an uncached answer (issue 25: 58 % of its
 * instructions). The text is what json_dumps(JSON_COMPACT) writes for the
 * same values (tests/unit/api/test_api.c compares them): strings must be
 * valid UTF-8 (as json_string requires; AM_ERR_INVAL otherwise, nothing
 * appended), '"', '\\' and control characters escaped as jansson does, no
 * other byte escaped. Runs in the web process on text from our database
 * (decrypted user text: never trusted to be valid UTF-8 or free of quotes).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "access/access.h"
#include "api/api_int.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0: no
 * overlong form, no surrogate, nothing above U+10FFFF (jansson's rules). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0], cp;
	size_t l;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	l = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (l > n)
		return 0;
	cp = c & (0xff >> (l + 1));
	for (size_t i = 1; i < l; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((l == 3 && cp < 0x800) || (l == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return l;
}

/* The escape of byte c, or NULL when it is written as is. */
static const char *escape_of(unsigned char c, char tmp[7])
{
	static const char hex[] = "0123456789ABCDEF";

	switch (c) {
	case '"': return "\\\"";
	case '\\': return "\\\\";
	case '\b': return "\\b";
	case '\f': return "\\f";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\t': return "\\t";
	default: break;
	}
	if (c >= 0x20)
		return NULL;
	memcpy(tmp, "\\u00", 4);
	tmp[4] = hex[c >> 4];
	tmp[5] = hex[c & 15];
	tmp[6] = 0;
	return tmp;
}

/* Append s (n bytes) escaped, without quotes; runs of plain bytes at once. */
static int escaped(struct am_buf *b, const unsigned char *s, size_t n)
{
	size_t i = 0, run = 0, l;
	const char *e;
	char tmp[7];
	int rc;

	while (i < n) {
		/* The common case first: printable ASCII that needs no escape. */
		while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
			i++;
		if (i == n)
			break;
		if (!(l = utf8_len(s + i, n - i)))
			return AM_ERR_INVAL;
		if (l > 1 || !(e = escape_of(s[i], tmp))) {
			i += l;
			continue;
		}
		if ((rc = am_buf_append(b, s + run, i - run)) || (rc = am_buf_puts(b, e)))
			return rc;
		run = ++i;
	}
	return am_buf_append(b, s + run, n - run);
}

int api_jw_str(struct am_buf *b, const char *s)
{
	size_t start = b->len;
	int rc;

	if ((rc = am_buf_append(b, "\"", 1)) ||
	    (rc = escaped(b, (const unsigned char *)s, strlen(s))) ||
	    (rc = am_buf_append(b, "\"", 1))) {
		b->len = start;
		if (b->p)
			b->p[start] = 0;
	}
	return rc;
}

int api_jw_key(struct am_buf *b, const char *key)
{
	size_t n = strlen(key);
	int rc;

	/* Keys are our own ASCII literals: nothing to escape. */
	if ((rc = am_buf_append(b, "\"", 1)) || (rc = am_buf_append(b, key, n)))
		return rc;
	return am_buf_append(b, "\":", 2);
}

int api_jw_id(struct am_buf *b, const uint8_t id[DB_ID_LEN])
{
	char q[2 * DB_ID_LEN + 3];

	q[0] = '"';
	api_id_hex(id, q + 1);
	q[2 * DB_ID_LEN + 1] = '"';
	return am_buf_append(b, q, 2 * DB_ID_LEN + 2);
}

int api_jw_i64(struct am_buf *b, int64_t v)
{
	char d[24], *p = d + sizeof(d);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return am_buf_append(b, p, (size_t)(d + sizeof(d) - p));
}

int api_jw_bool(struct am_buf *b, int v)
{
	return v ? am_buf_append(b, "true", 4) : am_buf_append(b, "false", 5);
}

/* ---- raw writers: into room already reserved, no bound check per call ---- */

/* Whether any of the 8 bytes of w (read from text in any byte order) must
 * stop the copy: a control character (< 0x20), a quote, a backslash or a
 * byte of a multi-byte UTF-8 sequence (>= 0x80): the usual "has a byte
 * less than k" subtraction for k = 0x20 and k = 1 (after XOR with the
 * quote and the backslash), OR the high bits themselves. Exact: a byte in
 * 0x20..0x7f that is neither character sets no high bit, and a borrow
 * starts only at a byte that stops. */
static int word_stops(uint64_t w)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return ((w - ones * 0x20) | (q - ones) | (b - ones) | w) & high ? 1 : 0;
}

/* The index of the first byte at or after i that must stop the copy (as
 * word_stops), or n: 8 bytes a step, then byte by byte from the word that
 * stops (issue 25, fourth pass: comment bodies are mostly plain ASCII). */
static size_t plain_run(const unsigned char *s, size_t i, size_t n)
{
	uint64_t w;

	while (n - i >= 8) {
		memcpy(&w, s + i, 8);
		if (word_stops(w))
			break;
		i += 8;
	}
	while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
		i++;
	return i;
}

char *api_jw_raw_str(char *p, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0, l;
	const char *e;
	char tmp[7];

	*p++ = '"';
	while (i < n) {
		i = plain_run(s, i, n);
		if (i == n)
			break;
		if (!(l = utf8_len(s + i, n - i)))
			return NULL;
		if (l > 1 || !(e = escape_of(s[i], tmp))) {
			i += l;
			continue;
		}
		memcpy(p, s + run, i - run);
		p += i - run;
		l = strlen(e);
		memcpy(p, e, l);
		p += l;
		run = ++i;
	}
	memcpy(p, s + run, n - run);
	p += n - run;
	*p++ = '"';
	return p;
}

/* "00" "01" ... "99": two decimal digits a step. */
static const char dec_pairs[201] = "00010203040506070809101112131415161718192021222324"
				   "25262728293031323334353637383940414243444546474849"
				   "50515253545556575859606162636465666768697071727374"
				   "75767778798081828384858687888990919293949596979899";

char *api_jw_raw_id(char *p, const uint8_t id[DB_ID_LEN])
{
	_Static_assert(DB_ID_LEN == 16, "access_hex16 writes 16-byte ids");
	*p++ = '"';
	access_hex16(id, p); /* its NUL lands where the closing quote goes */
	p += 2 * DB_ID_LEN;
	*p++ = '"';
	return p;
}

char *api_jw_raw_i64(char *p, int64_t v)
{
	char d[24], *q = d + sizeof(d);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	while (u >= 100) {
		unsigned r = (unsigned)(u % 100);

		u /= 100;
		*--q = dec_pairs[2 * r + 1];
		*--q = dec_pairs[2 * r];
	}
	if (u >= 10) {
		*--q = dec_pairs[2 * u + 1];
		*--q = dec_pairs[2 * u];
	} else {
		*--q = (char)('0' + u);
	}
	if (v < 0)
		*--q = '-';
	memcpy(p, q, (size_t)(d + sizeof(d) - q));
	return p + (d + sizeof(d) - q);
}

char *api_jw_raw_bool(char *p, int v)
{
	if (v) {
		memcpy(p, "true", 4);
		return p + 4;
	}
	memcpy(p, "false", 5);
	return p + 5;
}

char *api_jw_raw_real(char *p, double v)
{
	char d[API_JW_REAL_MAX], *e, *from;
	int n;

	if (!isfinite(v))
		return NULL;
	n = snprintf(d, sizeof(d) - 2, "%.17g", v);
	if (n < 0 || (size_t)n >= sizeof(d) - 2)
		return NULL;
	if (!memchr(d, '.', (size_t)n) && !memchr(d, 'e', (size_t)n)) {
		memcpy(d + n, ".0", 3);
		n += 2;
	}
	if ((e = memchr(d, 'e', (size_t)n))) { /* e+05 -> e5, e-05 -> e-5 */
		from = ++e;
		if (*e == '-')
			e++, from++;
		else if (*from == '+')
			from++;
		while (*from == '0' && from[1])
			from++;
		memmove(e, from, (size_t)(d + n + 1 - from));
		n = (int)strlen(d);
	}
	memcpy(p, d, (size_t)n);
	return p + n;
}
