/*
 * store_s3_xml.c: the little XML the S3 backend reads (ListObjectsV2,
 * ListMultipartUploads, CreateMultipartUpload, CompleteMultipartUpload and
 * error bodies), parsed by bounded search rather than a general parser: we
 * look only for a handful of leaf elements whose names never nest, decode the
 * five predefined entities and numeric references to ASCII, and refuse
 * anything else (markup inside text, unknown entities, oversized values).
 * Runs in the media and worker roles; the input is an untrusted server's
 * answer, already capped in size (S3_XML_MAX) by the HTTP layer.
 */
#include "store/store_s3_int.h"

#include <string.h>
#include <time.h>

static const char *find(const char *hay, size_t n, const char *needle, size_t k)
{
	return k <= n ? memmem(hay, n, needle, k) : NULL;
}

int s3_xml_next(struct s3_str in, size_t *pos, const char *name, struct s3_str *inner)
{
	char open[80], close[84];
	size_t on, cn, at = *pos;
	int k1 = snprintf(open, sizeof(open), "<%s", name);
	int k2 = snprintf(close, sizeof(close), "</%s>", name);

	if (k1 < 0 || (size_t)k1 >= sizeof(open) || k2 < 0 || (size_t)k2 >= sizeof(close))
		return 0;
	on = (size_t)k1;
	cn = (size_t)k2;
	while (at < in.n) {
		const char *o = find(in.p + at, in.n - at, open, on);
		const char *gt, *c, *end = in.p + in.n;
		char next;
		if (!o || o + on >= end)
			return 0;
		next = o[on];
		if (next != '>' && next != '/' && next != ' ') { /* <KeyCount> is not <Key> */
			at = (size_t)(o - in.p) + on;
			continue;
		}
		if (!(gt = memchr(o + on, '>', (size_t)(end - (o + on)))))
			return 0;
		if (gt[-1] == '/') { /* <name/> */
			inner->p = gt + 1;
			inner->n = 0;
			*pos = (size_t)(gt + 1 - in.p);
			return 1;
		}
		c = find(gt + 1, (size_t)(end - (gt + 1)), close, cn);
		if (!c)
			return 0;
		inner->p = gt + 1;
		inner->n = (size_t)(c - (gt + 1));
		*pos = (size_t)(c + cn - in.p);
		return 1;
	}
	return 0;
}

/* Decode one entity at p (after '&', n bytes left); *adv = bytes consumed
 * including ';'. Returns the ASCII character or -1. */
static int entity(const char *p, size_t n, size_t *adv)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	const char *semi = memchr(p, ';', n < 12 ? n : 12);
	unsigned long v = 0;
	size_t i;

	if (!semi)
		return -1;
	*adv = (size_t)(semi - p) + 1;
	for (i = 0; i < AM_ARRAY_LEN(named); i++)
		if (strlen(named[i].name) == *adv && !memcmp(p, named[i].name, *adv))
			return named[i].c;
	if (*adv < 3 || p[0] != '#')
		return -1;
	if (p[1] == 'x') {
		for (i = 2; p + i < semi; i++) {
			char c = p[i];
			int d = c >= '0' && c <= '9'   ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
				: c >= 'A' && c <= 'F' ? c - 'A' + 10
						       : -1;
			if (d < 0)
				return -1;
			v = v * 16 + (unsigned long)d;
		}
		if (*adv == 3)
			return -1;
	} else {
		for (i = 1; p + i < semi; i++) {
			if (p[i] < '0' || p[i] > '9')
				return -1;
			v = v * 10 + (unsigned long)(p[i] - '0');
		}
	}
	return v >= 0x20 && v < 0x7f ? (int)v : -1;
}

int s3_xml_text(struct s3_str in, const char *name, char *out, size_t outsz)
{
	struct s3_str t;
	size_t pos = 0, o = 0;

	if (outsz == 0)
		return AM_ERR_TOOBIG;
	out[0] = 0;
	if (!s3_xml_next(in, &pos, name, &t))
		return AM_ERR_NOTFOUND;
	for (size_t i = 0; i < t.n;) {
		int c = (unsigned char)t.p[i];
		size_t adv = 1;
		if (c == '<')
			return AM_ERR_INVAL;
		if (c == '&' && (c = entity(t.p + i + 1, t.n - i - 1, &adv)) < 0)
			return AM_ERR_INVAL;
		if (t.p[i] == '&')
			adv++;
		if (c == 0 || o + 1 >= outsz) {
			out[0] = 0;
			return c == 0 ? AM_ERR_INVAL : AM_ERR_TOOBIG;
		}
		out[o++] = (char)c;
		i += adv;
	}
	out[o] = 0;
	return 0;
}

/* n decimal digits at s into *v. */
static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int s3_parse_iso8601(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) || s[10] != 'T' || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
		return AM_ERR_INVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return AM_ERR_INVAL;
	s += 19;
	if (*s == '.') /* fractional seconds */
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	if (strcmp(s, "Z") && strcmp(s, "+00:00"))
		return AM_ERR_INVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return AM_ERR_INVAL;
	*out = (int64_t)t;
	return 0;
}
