/*
 * media_parse.c: the pure parsers of the media role: Range and If-Range
 * (RFC 9110 §13.1.5, §14), the tus 1.0 core request headers and
 * Content-Disposition (RFC 6266, RFC 8187); the magic-byte sniffing of
 * uploads is src/upload/upload_sniff.c. Runs in the media process on
 * untrusted header values; bounded, no allocation, every input either
 * parsed exactly or refused.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "media/media_int.h"
#include "util/util.h"

/* Canonical-enough decimal for ranges: 1..19 digits (leading zeros allowed
 * by the grammar). Returns the characters consumed, 0 on none/overflow. */
static size_t dec(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (s[i] >= '0' && s[i] <= '9') {
		if (i == 19)
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
		i++;
	}
	*out = v;
	return i;
}

int media_range_parse(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	uint64_t a = 0, b = 0;
	size_t n;

	if (!h || strncasecmp(h, "bytes=", 6) != 0)
		return AM_ERR_INVAL;
	h += 6;
	if (*h == '-') { /* suffix: the last n bytes */
		if ((n = dec(h + 1, &b)) == 0 || h[1 + n] != 0)
			return AM_ERR_INVAL;
		if (b == 0 || size == 0)
			return AM_ERR_RANGE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 0;
	}
	if ((n = dec(h, &a)) == 0 || h[n] != '-')
		return AM_ERR_INVAL;
	h += n + 1;
	if (*h == 0) {
		b = UINT64_MAX;
	} else if ((n = dec(h, &b)) == 0 || h[n] != 0 || b < a) {
		return AM_ERR_INVAL;
	}
	if (a >= size)
		return AM_ERR_RANGE;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 0;
}

int media_if_range_ok(const char *if_range, const char *etag)
{
	if (!if_range)
		return 1;
	return etag && strcmp(if_range, etag) == 0 && if_range[0] == '"';
}

int media_tus_resumable_ok(const char *h)
{
	return h && strcmp(h, MEDIA_TUS_VERSION) == 0;
}

int media_tus_content_type_ok(const char *h)
{
	return h && strcasecmp(h, "application/offset+octet-stream") == 0;
}

int media_tus_offset(const char *h, int64_t *out)
{
	uint64_t v = 0;
	size_t n;

	if (!h || (n = dec(h, &v)) == 0 || h[n] != 0 || (n > 1 && h[0] == '0') ||
	    v >= (UINT64_C(1) << 53))
		return AM_ERR_INVAL;
	*out = (int64_t)v;
	return 0;
}

/* RFC 8187 attr-char. */
static int attr_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$&+-.^_`|~", c));
}

int media_disposition(char *out, size_t n, int attachment, const char *name)
{
	static const char hx[] = "0123456789ABCDEF";
	char ascii[128], enc[3 * 512 + 1];
	size_t a = 0, e = 0;
	int w;

	if (!name || !*name)
		name = "audio";
	for (const unsigned char *s = (const unsigned char *)name; *s && e + 4 < sizeof(enc); s++) {
		if (attr_char(*s)) {
			enc[e++] = (char)*s;
		} else {
			enc[e++] = '%';
			enc[e++] = hx[*s >> 4];
			enc[e++] = hx[*s & 15];
		}
		if (a + 1 < sizeof(ascii))
			ascii[a++] = (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\' &&
				      *s != '/' && *s != '%' && *s != ';')
					 ? (char)*s
					 : '_';
	}
	enc[e] = 0;
	ascii[a] = 0;
	w = snprintf(out, n, "%s; filename=\"%s\"; filename*=UTF-8''%s",
		     attachment ? "attachment" : "inline", ascii, enc);
	return w > 0 && (size_t)w < n ? 0 : AM_ERR_TOOBIG;
}
