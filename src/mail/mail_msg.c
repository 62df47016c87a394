/*
 * mail_msg.c: builds one e-mail as RFC 5322 + MIME: Date, From, To, an
 * RFC 2047-encoded Subject, Message-ID, MIME-Version, Auto-Submitted, the
 * one-click List-Unsubscribe pair (RFC 2369, RFC 8058) for notifications,
 * and a multipart/alternative body with a plain-text and a simple HTML part
 * (no images, no remote content, no tracking), both base64. Runs in the web
 * and worker roles. Trust boundary: subject and text carry user text (titles,
 * guest names, comments); header values lose every control character and
 * are encoded, bodies are base64, the boundary cannot occur in base64, so
 * no input can start a header or a part. Guest text comes quoted
 * (MAIL_QUOTE_BEGIN/END): shown as a quoted block and never a link, so it
 * cannot pass for the server's own lines or links; only lines that start
 * with the server's own URL (link_base) become links.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mail/mail.h"
#include "repo/repo.h"

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 of n bytes; wrap > 0 breaks lines with CRLF every wrap chars. */
static int b64_append(struct am_buf *out, const uint8_t *p, size_t n, size_t wrap)
{
	char q[4];
	size_t col = 0;
	int rc;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = b64chars[(v >> 18) & 63];
		q[1] = b64chars[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64chars[v & 63] : '=';
		if (wrap && col + 4 > wrap) {
			if ((rc = am_buf_append(out, "\r\n", 2)))
				return rc;
			col = 0;
		}
		if ((rc = am_buf_append(out, q, 4)))
			return rc;
		col += 4;
	}
	return wrap ? am_buf_append(out, "\r\n", 2) : 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid. */
static size_t utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f))
			return 0; /* overlong, surrogate */
		return 3;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* Copy s into out without control characters (CR, LF, TAB, DEL and the C1
 * range count as one space) and with invalid UTF-8 as '?'. */
static int clean_text(const char *s, struct am_buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	int rc = 0;

	while (*p && rc == 0) {
		size_t n = utf8_len(p);

		if (n == 0) {
			rc = am_buf_append(out, "?", 1);
			p++;
		} else if (n == 1 && (*p < 0x20 || *p == 0x7f)) {
			rc = am_buf_append(out, " ", 1);
			p++;
		} else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
			rc = am_buf_append(out, " ", 1); /* C1 controls incl. NEL */
			p += 2;
		} else if (n == 3 && p[0] == 0xe2 && p[1] == 0x80 &&
			   (p[2] == 0xa8 || p[2] == 0xa9)) {
			rc = am_buf_append(out, " ", 1); /* LINE / PARAGRAPH SEPARATOR */
			p += 3;
		} else {
			rc = am_buf_append(out, p, n);
			p += n;
		}
	}
	return rc;
}

static int plain_ascii(const char *s)
{
	if (strstr(s, "=?"))
		return 0; /* would read as an encoded-word */
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* Encoded-words of at most 45 bytes of UTF-8 each (75 characters), never
 * splitting a character, separated by folding white space. */
static int encode_words(struct am_buf *out, const char *v)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t len = strlen(v), i = 0;
	int rc = 0;

	while (i < len && rc == 0) {
		size_t take = 0;

		while (i + take < len && take + utf8_len(p + i + take) <= 45)
			take += utf8_len(p + i + take);
		if (take == 0)
			take = 1;
		if (i > 0)
			rc = am_buf_append(out, "\r\n ", 3);
		if (rc == 0)
			rc = am_buf_append(out, "=?UTF-8?B?", 10);
		if (rc == 0)
			rc = b64_append(out, p + i, take, 0);
		if (rc == 0)
			rc = am_buf_append(out, "?=", 2);
		i += take;
	}
	return rc;
}

int mail_header(struct am_buf *out, const char *name, const char *value)
{
	struct am_buf clean;
	int rc;

	am_buf_init(&clean, 4 * DB_SUBJECT_MAX);
	if ((rc = clean_text(value ? value : "", &clean)))
		goto out;
	if ((rc = am_buf_printf(out, "%s: ", name)))
		goto out;
	if (clean.len == 0)
		rc = 0;
	else if (plain_ascii((const char *)clean.p) && strlen(name) + 2 + clean.len <= 78)
		rc = am_buf_append(out, clean.p, clean.len);
	else
		rc = encode_words(out, (const char *)clean.p);
	if (rc == 0)
		rc = am_buf_append(out, "\r\n", 2);
out:
	am_buf_cleanup(&clean);
	return rc;
}

int mail_addr_ok(const char *a)
{
	const char *at = a ? strchr(a, '@') : NULL;
	size_t n = a ? strlen(a) : 0;

	if (!at || n > 254 || at == a || strchr(at + 1, '@') || !strchr(at + 1, '.') ||
	    at[1] == '.' || a[n - 1] == '.' || at - a > 64)
		return 0;
	for (; *a; a++)
		if ((unsigned char)*a <= 0x20 || (unsigned char)*a >= 0x7f ||
		    strchr("<>()[]\\,;:\"", *a))
			return 0;
	return 1;
}

int mail_from_parse(const char *from, char *name, size_t namelen, char *addr, size_t addrlen)
{
	const char *lt = strchr(from, '<');
	size_t n;

	name[0] = addr[0] = 0;
	if (!lt)
		return mail_addr_ok(from) && am_strlcpy(addr, from, addrlen) == 0 ? 0
										  : AM_ERR_INVAL;
	n = (size_t)(lt - from);
	while (n > 0 && from[n - 1] == ' ')
		n--;
	if (n >= namelen || strlen(lt) < 3 || lt[strlen(lt) - 1] != '>' ||
	    strlen(lt) - 2 >= addrlen)
		return AM_ERR_INVAL;
	memcpy(name, from, n);
	name[n] = 0;
	memcpy(addr, lt + 1, strlen(lt) - 2);
	addr[strlen(lt) - 2] = 0;
	return mail_addr_ok(addr) ? 0 : AM_ERR_INVAL;
}

static int date_header(struct am_buf *out, int64_t t)
{
	static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm))
		return AM_ERR_INVAL;
	return am_buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
			     days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
			     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int url_ok(const char *u)
{
	if (!u || strncmp(u, "https://", 8) != 0 || strlen(u) > 1000)
		return 0;
	for (; *u; u++)
		if ((unsigned char)*u <= 0x20 || (unsigned char)*u >= 0x7f || *u == '<' ||
		    *u == '>' || *u == '"')
			return 0;
	return 1;
}

static void hex16(const uint8_t id[16], char out[33])
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = hx[id[i] >> 4];
		out[2 * i + 1] = hx[id[i] & 15];
	}
	out[32] = 0;
}

static int headers(const struct mail_msg *m, struct am_buf *out, const char *boundary)
{
	char name[256], addr[DB_EMAIL_MAX + 1], hex[33];
	const char *dom;
	int rc;

	if (mail_from_parse(m->from, name, sizeof(name), addr, sizeof(addr)) ||
	    !mail_addr_ok(m->to) || (m->unsubscribe_url && !url_ok(m->unsubscribe_url)))
		return AM_ERR_INVAL;
	dom = strchr(addr, '@') + 1;
	hex16(m->msgid, hex);
	if ((rc = date_header(out, m->date)))
		return rc;
	if (name[0]) {
		/* The display name goes through the same cleaning and encoding. */
		if ((rc = mail_header(out, "From", name)))
			return rc;
		out->len -= 2; /* reopen the line for the address */
		if ((rc = am_buf_printf(out, " <%s>\r\n", addr)))
			return rc;
	} else if ((rc = am_buf_printf(out, "From: <%s>\r\n", addr))) {
		return rc;
	}
	if ((rc = am_buf_printf(out, "To: <%s>\r\n", m->to)) ||
	    (rc = mail_header(out, "Subject", m->subject)) ||
	    (rc = am_buf_printf(out, "Message-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n", hex, dom)) ||
	    (rc = am_buf_puts(out, "Auto-Submitted: auto-generated\r\n")))
		return rc;
	if (m->unsubscribe_url &&
	    (rc = am_buf_printf(
		 out,
		 "List-Unsubscribe: <%s>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
		 m->unsubscribe_url)))
		return rc;
	return am_buf_printf(
	    out, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n", boundary);
}

/* The text with CRLF line ends (the canonical form of text/plain). */
int mail_quote_append(struct am_buf *t, const char *s)
{
	char ch = MAIL_QUOTE_BEGIN;
	int rc = am_buf_append(t, &ch, 1);

	for (; *s && rc == 0; s++) {
		ch = *s == '\n' || ((unsigned char)*s >= 0x20 && *s != 0x7f) ? *s : ' ';
		rc = am_buf_append(t, &ch, 1);
	}
	if (rc == 0 && (t->len == 0 || t->p[t->len - 1] != '\n'))
		rc = am_buf_append(t, "\n", 1);
	ch = MAIL_QUOTE_END;
	return rc ? rc : am_buf_append(t, &ch, 1);
}

/* The markers at the start of a line: update *quoted, return past them. */
static const char *quote_marks(const char *t, int *quoted)
{
	for (; *t == MAIL_QUOTE_BEGIN || *t == MAIL_QUOTE_END; t++)
		*quoted = *t == MAIL_QUOTE_BEGIN;
	return t;
}

/* The text part: CRLF line ends, "> " before every quoted line. */
static int text_plain(const char *t, struct am_buf *out)
{
	int quoted = 0, rc = 0;

	while (*t && rc == 0) {
		const char *nl;
		size_t n;

		if (!*(t = quote_marks(t, &quoted)))
			break;
		nl = strchr(t, '\n');
		n = nl ? (size_t)(nl - t) : strlen(t);
		if (quoted)
			rc = am_buf_puts(out, n ? "> " : ">");
		for (size_t i = 0; i < n && rc == 0; i++)
			if (t[i] != '\r' && t[i] != MAIL_QUOTE_BEGIN && t[i] != MAIL_QUOTE_END)
				rc = am_buf_append(out, t + i, 1);
		if (rc == 0 && nl)
			rc = am_buf_append(out, "\r\n", 2);
		t += n + (nl ? 1 : 0);
	}
	return rc;
}

static int html_escape(struct am_buf *out, const char *s, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		switch (s[i]) {
		case '&': rc = am_buf_puts(out, "&amp;"); break;
		case '<': rc = am_buf_puts(out, "&lt;"); break;
		case '>': rc = am_buf_puts(out, "&gt;"); break;
		case '"': rc = am_buf_puts(out, "&quot;"); break;
		case '\'': rc = am_buf_puts(out, "&#39;"); break;
		case '\r':
		case MAIL_QUOTE_BEGIN:
		case MAIL_QUOTE_END: break;
		default: rc = am_buf_append(out, s + i, 1);
		}
	}
	return rc;
}

/* 1 when the line t[0..n) is one URL of the server's own (link_base). */
static int own_link(const char *t, size_t n, const char *link_base)
{
	size_t bl = link_base ? strlen(link_base) : 0;

	return bl > 8 && n >= bl && strncmp(link_base, "https://", 8) == 0 &&
	       strncmp(t, link_base, bl) == 0 && (n == bl || t[bl] == '/') && !memchr(t, ' ', n) &&
	       !memchr(t, '"', n);
}

/* A quote opens or closes: </p><blockquote> or </blockquote><p>. */
static int quote_edge(struct am_buf *out, int was, int now)
{
	if (was == now)
		return 0;
	return am_buf_puts(out,
			   now ? "</p>\r\n<blockquote style=\"margin:0 0 0 .8em;padding-left:.8em;"
				 "border-left:3px solid #ccc;color:#444\">"
			       : "</blockquote>\r\n<p>");
}

/* A simple HTML rendering of the text: paragraphs at blank lines, line
 * breaks kept, quoted guest text in a blockquote, and only lines that are
 * one URL of the server's own (link_base) become links. */
static int text_html(const char *t, const char *link_base, struct am_buf *out)
{
	int quoted = 0, was = 0;
	int rc = am_buf_puts(out, "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"></head>"
				  "<body style=\"font-family:sans-serif;line-height:1.4\"><p>");

	while (rc == 0 && *t) {
		const char *nl;
		size_t n;

		t = quote_marks(t, &quoted);
		if ((rc = quote_edge(out, was, quoted)) || !*t)
			break;
		was = quoted;
		nl = strchr(t, '\n');
		n = nl ? (size_t)(nl - t) : strlen(t);
		if (n == 0)
			rc = am_buf_puts(out, quoted ? "<br>\r\n" : "</p>\r\n<p>");
		else if (!quoted && own_link(t, n, link_base)) {
			if ((rc = am_buf_puts(out, "<a href=\"")) == 0 &&
			    (rc = html_escape(out, t, n)) == 0 &&
			    (rc = am_buf_puts(out, "\">")) == 0 &&
			    (rc = html_escape(out, t, n)) == 0)
				rc = am_buf_puts(out, "</a><br>\r\n");
		} else if ((rc = html_escape(out, t, n)) == 0) {
			rc = am_buf_puts(out, "<br>\r\n");
		}
		t += n + (nl ? 1 : 0);
	}
	if (rc == 0)
		rc = quote_edge(out, was, 0);
	return rc ? rc : am_buf_puts(out, "</p></body></html>\r\n");
}

static int part(struct am_buf *out, const char *boundary, const char *type,
		const struct am_buf *body)
{
	int rc = am_buf_printf(
	    out,
	    "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
	    boundary, type);

	return rc ? rc : b64_append(out, body->p ? body->p : (const uint8_t *)"", body->len, 76);
}

int mail_build(const struct mail_msg *m, struct am_buf *out)
{
	struct am_buf clean, text, html;
	char boundary[48], hex[33];
	int rc;

	am_buf_init(&clean, MAIL_MSG_MAX);
	am_buf_init(&text, MAIL_MSG_MAX);
	am_buf_init(&html, MAIL_MSG_MAX);
	hex16(m->msgid, hex);
	snprintf(boundary, sizeof(boundary), "=_am_%s", hex);
	/* Body text: control characters other than line ends and the quote
	 * markers go too. */
	for (const char *t = m->text ? m->text : ""; *t; t++) {
		char ch = (*t == '\n' || *t == MAIL_QUOTE_BEGIN || *t == MAIL_QUOTE_END ||
			   (unsigned char)*t >= 0x20) &&
				  *t != 0x7f
			      ? *t
			      : ' ';

		if ((rc = am_buf_append(&clean, &ch, 1)))
			goto out;
	}
	if ((rc = am_buf_append(&clean, "", 0)) ||
	    (rc = text_plain(clean.p ? (const char *)clean.p : "", &text)) ||
	    (rc = text_html(clean.p ? (const char *)clean.p : "", m->link_base, &html)) ||
	    (rc = headers(m, out, boundary)) || (rc = part(out, boundary, "text/plain", &text)) ||
	    (rc = part(out, boundary, "text/html", &html)))
		goto out;
	rc = am_buf_printf(out, "--%s--\r\n", boundary);
out:
	am_buf_cleanup(&clean);
	am_buf_cleanup(&text);
	am_buf_cleanup(&html);
	return rc;
}
