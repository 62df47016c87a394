/*
 * parse.c: the strict parsers for what a client puts in a request target and
 * its Cookie header (path, query string, cookies, method). Pure functions
 * with bounded output and no allocation, so that the fuzz target
 * (fuzz/http_parse.c) reaches all of them. Runs on server threads on
 * untrusted input: anything ambiguous is refused rather than guessed.
 */
#include <string.h>

#include "http/http_int.h"

/* RFC 3986 pchar minus '%' (handled separately): unreserved, sub-delims, ':'
 * and '@'; '/' is the separator. */
static int path_char_ok(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

/* Decode %XX at s (with at least 3 bytes); -1 if malformed. */
static int pct_decode(const char *s, size_t left)
{
	int hi, lo;

	if (left < 3 || (hi = am_hexval((unsigned char)s[1], AM_HEX_ANY_CASE)) < 0 ||
	    (lo = am_hexval((unsigned char)s[2], AM_HEX_ANY_CASE)) < 0)
		return -1;
	return hi * 16 + lo;
}

/* Reject an empty, "." or ".." segment of the decoded path [b, e). */
static int segment_ok(const char *b, const char *e)
{
	size_t n = (size_t)(e - b);

	if (n == 0)
		return 0;
	if ((n == 1 && b[0] == '.') || (n == 2 && b[0] == '.' && b[1] == '.'))
		return 0;
	return 1;
}

int http_parse_path(const char *raw, size_t n, char *out, size_t outlen)
{
	size_t i = 0, o = 0, seg = 1;

	if (n == 0 || raw[0] != '/' || outlen == 0)
		return AM_ERR_INVAL;
	out[o++] = '/';
	for (i = 1; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];

		if (o + 1 >= outlen)
			return AM_ERR_TOOBIG;
		if (c == '/') {
			if (!segment_ok(out + seg, out + o))
				return AM_ERR_INVAL;
			out[o++] = '/';
			seg = o;
			continue;
		}
		if (c == '%') {
			int d = pct_decode(raw + i, n - i);
			/* Encoded separators and controls are refused: they are how
			 * "/s/a%2F..%2Fb" reaches a file it should not. */
			if (d < 0x20 || d == 0x7f || d == '/' || d == '\\')
				return AM_ERR_INVAL;
			out[o++] = (char)d;
			i += 2;
			continue;
		}
		if (!path_char_ok(c))
			return AM_ERR_INVAL;
		out[o++] = (char)c;
	}
	/* The last segment may be empty only for the root. */
	if (o > 1 && !segment_ok(out + seg, out + o))
		return AM_ERR_INVAL;
	out[o] = 0;
	return 0;
}

static int query_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/* Decode one query component [s, s+n) into store at *o. */
static int decode_component(const char *s, size_t n, int is_name, char *store, size_t storelen,
			    size_t *o)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int d = c;

		if (*o + 1 >= storelen)
			return AM_ERR_TOOBIG;
		if (c == '%') {
			if ((d = pct_decode(s + i, n - i)) < 0)
				return AM_ERR_INVAL;
			i += 2;
		} else if (c == '+') {
			d = ' ';
		} else if (c <= 0x20 || c >= 0x7f || c == '#') {
			return AM_ERR_INVAL;
		}
		if (d < 0x20 || d == 0x7f)
			return AM_ERR_INVAL;
		if (is_name && !query_name_char((unsigned char)d))
			return AM_ERR_INVAL;
		store[(*o)++] = (char)d;
	}
	store[(*o)++] = 0;
	return 0;
}

int http_parse_query(const char *raw, size_t n, struct http_kv *kv, size_t max, char *store,
		     size_t storelen)
{
	size_t count = 0, o = 0, i = 0;
	int rc;

	if (n == 0)
		return 0;
	while (i <= n) {
		const char *p = raw + i, *amp = memchr(p, '&', n - i), *eq;
		size_t len = amp ? (size_t)(amp - p) : n - i;
		size_t nlen;

		if (len == 0)
			return AM_ERR_INVAL; /* "a=1&&b=2", "a=1&", "&a" */
		if (count >= max)
			return AM_ERR_TOOBIG;
		eq = memchr(p, '=', len);
		nlen = eq ? (size_t)(eq - p) : len;
		if (nlen == 0)
			return AM_ERR_INVAL;
		kv[count].name = store + o;
		if ((rc = decode_component(p, nlen, 1, store, storelen, &o)) != 0)
			return rc;
		kv[count].value = store + o;
		rc = eq ? decode_component(eq + 1, len - nlen - 1, 0, store, storelen, &o)
			: decode_component("", 0, 0, store, storelen, &o);
		if (rc)
			return rc;
		for (size_t k = 0; k < count; k++)
			if (strcmp(kv[k].name, kv[count].name) == 0)
				return AM_ERR_INVAL; /* duplicates are ambiguous */
		count++;
		i += len + 1;
	}
	return (int)count;
}

/* RFC 7230 tchar. */
static int tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 6265 cookie-octet. */
static int cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
	       (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static int span_ok(const char *s, size_t n, int (*ok)(unsigned char))
{
	for (size_t i = 0; i < n; i++)
		if (!ok((unsigned char)s[i]))
			return 0;
	return 1;
}

int http_cookie_name_ok(const char *s)
{
	return *s && span_ok(s, strlen(s), tchar);
}

int http_cookie_value_ok(const char *s)
{
	return span_ok(s, strlen(s), cookie_octet);
}

/* Store one cookie pair [p, p+len) unless invalid or a repeat. */
static int cookie_pair(const char *p, size_t len, struct http_kv *kv, int count, char *store,
		       size_t *o)
{
	const char *eq = memchr(p, '=', len);
	size_t nlen, vlen;
	const char *v;

	if (!eq)
		return 0;
	nlen = (size_t)(eq - p);
	v = eq + 1;
	vlen = len - nlen - 1;
	if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
		v++;
		vlen -= 2;
	}
	if (nlen == 0 || !span_ok(p, nlen, tchar) || !span_ok(v, vlen, cookie_octet))
		return 0;
	for (int k = 0; k < count; k++)
		if (strlen(kv[k].name) == nlen && memcmp(kv[k].name, p, nlen) == 0)
			return 0;
	kv[count].name = store + *o;
	memcpy(store + *o, p, nlen);
	*o += nlen;
	store[(*o)++] = 0;
	kv[count].value = store + *o;
	memcpy(store + *o, v, vlen);
	*o += vlen;
	store[(*o)++] = 0;
	return 1;
}

int http_parse_cookies(const char *raw, size_t n, struct http_kv *kv, size_t max, char *store,
		       size_t storelen)
{
	size_t i = 0, o = 0;
	int count = 0;

	/* Every stored byte comes from the input, plus one NUL per string that
	 * replaces the '=' or the ';' after it: n + 1 always suffices. */
	if (storelen < n + 1)
		return AM_ERR_TOOBIG;
	while (i < n && (size_t)count < max) {
		const char *p, *semi;
		size_t len;

		while (i < n && (raw[i] == ' ' || raw[i] == '\t'))
			i++;
		p = raw + i;
		semi = memchr(p, ';', n - i);
		len = semi ? (size_t)(semi - p) : n - i;
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		count += cookie_pair(p, len, kv, count, store, &o);
		if (!semi)
			break;
		i = (size_t)(semi - raw) + 1;
	}
	return count;
}

enum http_method http_method_of(const char *s)
{
	static const struct {
		const char *name;
		enum http_method m;
	} map[] = {{"GET", HTTP_GET},	     {"HEAD", HTTP_HEAD},   {"POST", HTTP_POST},
		   {"PUT", HTTP_PUT},	     {"PATCH", HTTP_PATCH}, {"DELETE", HTTP_DELETE},
		   {"OPTIONS", HTTP_OPTIONS}};

	for (size_t i = 0; i < AM_ARRAY_LEN(map); i++)
		if (strcmp(s, map[i].name) == 0)
			return map[i].m;
	return 0;
}
