/*
 * test_mail.c: unit tests of src/mail/ that need no server: messages are
 * parsed back (header lines, one of each required header, the boundary and
 * both base64 parts, RFC 2047 subjects decoded to the original), CR/LF and
 * other control characters in subjects, display names, titles and bodies
 * never produce a header or a part of their own, addresses are checked
 * strictly, and the retry back-off follows its documented schedule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "mail/mail.h"

/* ---- a small MIME reader for the checks ------------------------------------------- */

static int b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Decode base64 (CRLF allowed between groups) into out; returns length. */
static size_t b64dec(const char *s, size_t n, char *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int v = b64val(s[i]);

		if (s[i] == '\r' || s[i] == '\n' || s[i] == '=')
			continue;
		assert_true(v >= 0);
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = 0;
	return o;
}

struct parsed {
	char subject[2048]; /* decoded */
	char from[512];
	int n_subject, n_from, n_to, n_date, n_msgid, n_mime, n_unsub, n_unsub_post, n_other;
	char boundary[128];
	char text[8192], html[16384];
	int parts;
};

/* Decode an unfolded header value made of encoded-words or plain text. */
static void decode_value(const char *v, char *out, size_t outsz)
{
	size_t o = 0;

	while (*v) {
		if (strncmp(v, "=?UTF-8?B?", 10) == 0) {
			const char *end = strstr(v + 10, "?=");
			char tmp[512];
			size_t n;

			assert_non_null(end);
			n = b64dec(v + 10, (size_t)(end - v - 10), tmp);
			assert_true(o + n < outsz);
			memcpy(out + o, tmp, n);
			o += n;
			v = end + 2;
			while (*v == ' ' && strncmp(v + 1, "=?", 2) == 0)
				v++; /* white space between encoded-words is not shown */
		} else {
			assert_true(o + 1 < outsz);
			out[o++] = *v++;
		}
	}
	out[o] = 0;
}

static void parse(const char *msg, struct parsed *p)
{
	const char *body = strstr(msg, "\r\n\r\n"), *line = msg;
	char value[4096], name[64] = "";
	size_t vn = 0;

	memset(p, 0, sizeof(*p));
	assert_non_null(body);
	/* No bare CR or LF anywhere: every line ends with CRLF. */
	for (const char *c = msg; *c; c++) {
		if (*c == '\n')
			assert_true(c > msg && c[-1] == '\r');
		if (*c == '\r')
			assert_true(c[1] == '\n');
	}
	while (line < body + 2) {
		const char *eol = strstr(line, "\r\n");
		size_t n = (size_t)(eol - line);
		int cont = line[0] == ' ' || line[0] == '\t';

		assert_true(n <= 998);
		if (!cont) {
			const char *colon = memchr(line, ':', n);

			assert_non_null(colon);
			for (const char *c = line; c < colon; c++)
				assert_true((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
					    *c == '-');
			memcpy(name, line, (size_t)(colon - line));
			name[colon - line] = 0;
			vn = 0;
			line = colon + 1;
			while (*line == ' ')
				line++;
			n = (size_t)(eol - line);
		}
		memcpy(value + vn, line, n);
		vn += n;
		value[vn] = 0;
		/* Account for the header once its last line is read. */
		if (eol[2] != ' ' && eol[2] != '\t') {
			if (!strcmp(name, "Subject")) {
				p->n_subject++;
				decode_value(value, p->subject, sizeof(p->subject));
			} else if (!strcmp(name, "From")) {
				p->n_from++;
				decode_value(value, p->from, sizeof(p->from));
			} else if (!strcmp(name, "To")) {
				p->n_to++;
			} else if (!strcmp(name, "Date")) {
				p->n_date++;
			} else if (!strcmp(name, "Message-ID")) {
				p->n_msgid++;
			} else if (!strcmp(name, "MIME-Version")) {
				p->n_mime++;
				assert_string_equal(value, "1.0");
			} else if (!strcmp(name, "List-Unsubscribe")) {
				p->n_unsub++;
			} else if (!strcmp(name, "List-Unsubscribe-Post")) {
				p->n_unsub_post++;
				assert_string_equal(value, "List-Unsubscribe=One-Click");
			} else if (!strcmp(name, "Content-Type")) {
				const char *b = strstr(value, "boundary=\"");

				assert_non_null(b);
				memcpy(p->boundary, b + 10, strcspn(b + 10, "\""));
			} else if (strcmp(name, "Auto-Submitted")) {
				p->n_other++;
			}
		}
		line = eol + 2;
		if (line == body + 2)
			break;
	}
	/* The body: two parts and the closing delimiter, nothing else. */
	{
		char delim[160], close[160];
		const char *cur = body + 4;

		snprintf(delim, sizeof(delim), "--%s\r\n", p->boundary);
		snprintf(close, sizeof(close), "--%s--\r\n", p->boundary);
		while (strncmp(cur, delim, strlen(delim)) == 0) {
			const char *hdr_end = strstr(cur, "\r\n\r\n"), *next;
			int html;

			assert_non_null(hdr_end);
			html = strstr(cur, "text/html") && strstr(cur, "text/html") < hdr_end;
			assert_non_null(strstr(cur, "Content-Transfer-Encoding: base64"));
			next = strstr(hdr_end, "\r\n--");
			assert_non_null(next);
			if (html)
				b64dec(hdr_end + 4, (size_t)(next - hdr_end - 4), p->html);
			else
				b64dec(hdr_end + 4, (size_t)(next - hdr_end - 4), p->text);
			p->parts++;
			cur = next + 2;
		}
		assert_string_equal(cur, close);
	}
}

static const uint8_t ID[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static char *build_linked(const char *from, const char *subject, const char *text, const char *url,
			  const char *link_base)
{
	struct mail_msg m = {.from = from,
			     .to = "owner@example.org",
			     .subject = subject,
			     .text = text,
			     .unsubscribe_url = url,
			     .link_base = link_base,
			     .date = 1700000000};
	struct am_buf b;
	char *out;

	memcpy(m.msgid, ID, 16);
	am_buf_init(&b, MAIL_MSG_MAX);
	assert_int_equal(mail_build(&m, &b), 0);
	out = strdup((const char *)b.p);
	am_buf_cleanup(&b);
	return out;
}

static char *build(const char *from, const char *subject, const char *text, const char *url)
{
	return build_linked(from, subject, text, url, "https://x.example");
}

/* ---- tests ------------------------------------------------------------------------------ */

static void mime_round_trip(void **state)
{
	const char *subject = "3 new comments on \"Démo EP — 日本語のタイトル\" with a title long "
			      "enough to be folded";
	const char *text = "Ann commented at 1:23 on \"Intro\":\n  <b>louder</b> & "
			   "\"more\"\n\nhttps://x.example/p\n";
	struct parsed p;
	char *msg = build("Audiomus Review <noreply@review.example.org>", subject, text,
			  "https://review.example.org/api/v1/unsubscribe/abc");

	(void)state;
	parse(msg, &p);
	assert_int_equal(p.n_subject, 1);
	assert_int_equal(p.n_from, 1);
	assert_int_equal(p.n_to, 1);
	assert_int_equal(p.n_date, 1);
	assert_int_equal(p.n_msgid, 1);
	assert_int_equal(p.n_mime, 1);
	assert_int_equal(p.n_unsub, 1);
	assert_int_equal(p.n_unsub_post, 1);
	assert_int_equal(p.n_other, 0);
	assert_int_equal(p.parts, 2);
	assert_string_equal(p.subject, subject);
	assert_string_equal(p.from, "Audiomus Review <noreply@review.example.org>");
	assert_non_null(
	    strstr(msg, "Message-ID: <0102030405060708090a0b0c0d0e0f10@review.example.org>\r\n"));
	assert_non_null(strstr(msg, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
	assert_non_null(strstr(
	    msg, "List-Unsubscribe: <https://review.example.org/api/v1/unsubscribe/abc>\r\n"));
	assert_non_null(strstr(p.text, "  <b>louder</b> & \"more\"\r\n"));
	assert_non_null(strstr(p.html, "&lt;b&gt;louder&lt;/b&gt; &amp; &quot;more&quot;"));
	assert_non_null(strstr(p.html, "<a href=\"https://x.example/p\">"));
	assert_null(strstr(p.html, "<img"));
	free(msg);
	/* Transactional mail has no List-Unsubscribe. */
	msg = build("noreply@review.example.org", "Reset your password", "x\n", NULL);
	parse(msg, &p);
	assert_int_equal(p.n_unsub + p.n_unsub_post, 0);
	assert_string_equal(p.subject, "Reset your password");
	free(msg);
}

/* Issue 20's payload: a guest's text that imitates a signature, a notice
 * and a reset link stays a quoted block in both parts and is never a link;
 * only the server's own URL is. */
static void guest_text_is_quoted_never_linked(void **state)
{
	const char *payload =
	    "nice mix\n\n--\nSECURITY NOTICE: your audiomus password must be reset.\n"
	    "https://evil.example/reset#token=x\n\x02https://evil.example/after\x01";
	struct am_buf t;
	struct parsed p;
	char *msg;

	(void)state;
	am_buf_init(&t, MAIL_MSG_MAX);
	assert_int_equal(am_buf_puts(&t, "Reviewer \"Ann\" (the name they typed) commented:\n"), 0);
	assert_int_equal(mail_quote_append(&t, payload), 0);
	assert_int_equal(
	    am_buf_puts(
		&t,
		"\nhttps://review.example.org/p/1\nhttps://review.example.org.evil.example/x\n"),
	    0);
	assert_int_equal(am_buf_append(&t, "", 0), 0);
	msg = build_linked("noreply@review.example.org", "1 new comment", (const char *)t.p, NULL,
			   "https://review.example.org");
	parse(msg, &p);
	/* text: every line of the guest's text is quoted, the markers it sent are gone */
	assert_non_null(strstr(
	    p.text, "> nice mix\r\n>\r\n> --\r\n> SECURITY NOTICE: your audiomus password "
		    "must be reset.\r\n> https://evil.example/reset#token=x\r\n"
		    ">  https://evil.example/after \r\n\r\nhttps://review.example.org/p/1\r\n"));
	assert_null(strchr(p.text, '\x01'));
	assert_null(strchr(p.text, '\x02'));
	/* html: the guest's lines sit in one blockquote and no evil URL is a link */
	assert_non_null(strstr(p.html, "<blockquote"));
	assert_true(strstr(p.html, "<blockquote") < strstr(p.html, "SECURITY NOTICE"));
	assert_true(strstr(p.html, "</blockquote>") > strstr(p.html, "evil.example/after"));
	assert_null(strstr(p.html, "href=\"https://evil"));
	assert_null(strstr(p.html, "href=\"https://review.example.org.evil"));
	assert_non_null(strstr(p.html, "<a href=\"https://review.example.org/p/1\">"));
	free(msg);
	/* no link base: no link at all */
	msg = build_linked("noreply@review.example.org", "x", "https://review.example.org/p/1\n",
			   NULL, NULL);
	parse(msg, &p);
	assert_null(strstr(p.html, "<a "));
	free(msg);
	am_buf_cleanup(&t);
}

static void header_injection(void **state)
{
	static const char *const evil[] = {
	    "Hi\r\nBcc: victim@example.net",
	    "Hi\nBcc: victim@example.net",
	    "Hi\rBcc: victim@example.net",
	    "Caf\xc3\xa9\r\nBcc: victim@example.net\r\n\r\nbody",
	    "x\xc2\x85"
	    "Bcc: victim@example.net", /* NEL */
	    "x\xe2\x80\xa8"
	    "Bcc: victim@example.net", /* LINE SEPARATOR */
	    "=?UTF-8?B?QmNjOg==?= \r\n Bcc: a@b.c",
	    "bad \xff\xfe utf-8 \xc0\xaf\r\n",
	};
	struct parsed p;

	(void)state;
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		char *msg = build("Audiomus <noreply@review.example.org>", evil[i], evil[i], NULL);

		parse(msg, &p); /* fails on any bare CR/LF or a line that is not a header */
		assert_int_equal(p.n_other, 0);
		assert_int_equal(p.n_subject, 1);
		assert_null(strstr(msg, "\r\nBcc:"));
		assert_null(strchr(p.subject, '\r'));
		assert_null(strchr(p.subject, '\n'));
		assert_int_equal(p.parts, 2);
		free(msg);
		/* The same through the display name of From. */
		{
			char from[256];

			snprintf(from, sizeof(from), "%s <noreply@review.example.org>", evil[i]);
			if (strchr(evil[i], '<'))
				continue;
			msg = build(from, "s", "t", NULL);
			parse(msg, &p);
			assert_int_equal(p.n_other, 0);
			assert_int_equal(p.n_from, 1);
			assert_null(strstr(msg, "\r\nBcc:"));
			free(msg);
		}
	}
	/* A body line that looks like the boundary or SMTP's end of data is
	 * inside base64: the structure stays two parts. */
	{
		char *msg = build("a@b.example", "s",
				  "--=_am_0102030405060708090a0b0c0d0e0f10--\n.\n", NULL);

		parse(msg, &p);
		assert_int_equal(p.parts, 2);
		free(msg);
	}
}

static void bad_addresses(void **state)
{
	struct mail_msg m = {.from = "noreply@review.example.org",
			     .to = "owner@example.org\r\nRCPT TO:<x@y.z>",
			     .subject = "s",
			     .text = "t",
			     .date = 1};
	char name[64], addr[330];
	struct am_buf b;

	(void)state;
	am_buf_init(&b, MAIL_MSG_MAX);
	assert_int_equal(mail_build(&m, &b), AM_ERR_INVAL);
	m.to = "owner@example.org";
	m.unsubscribe_url = "https://x.example/u\r\nBcc: a@b.c";
	assert_int_equal(mail_build(&m, &b), AM_ERR_INVAL);
	m.unsubscribe_url = "http://x.example/u";
	assert_int_equal(mail_build(&m, &b), AM_ERR_INVAL);
	am_buf_cleanup(&b);
	assert_true(mail_addr_ok("owner@example.org"));
	assert_false(mail_addr_ok("owner@example"));
	assert_false(mail_addr_ok("<owner@example.org>"));
	assert_false(mail_addr_ok("a b@example.org"));
	assert_false(mail_addr_ok("a@b@example.org"));
	assert_false(mail_addr_ok("a@example.org\n"));
	assert_false(mail_addr_ok("a,b@example.org"));
	assert_int_equal(
	    mail_from_parse("Audiomus <noreply@x.example>", name, sizeof(name), addr, sizeof(addr)),
	    0);
	assert_string_equal(name, "Audiomus");
	assert_string_equal(addr, "noreply@x.example");
	assert_int_equal(
	    mail_from_parse("noreply@x.example", name, sizeof(name), addr, sizeof(addr)), 0);
	assert_string_equal(name, "");
	assert_int_equal(
	    mail_from_parse("A <b@c.example>\r\nBcc: x", name, sizeof(name), addr, sizeof(addr)),
	    AM_ERR_INVAL);
}

static void backoff_schedule(void **state)
{
	(void)state;
	assert_int_equal(mail_backoff_ms(1), 60000);
	assert_int_equal(mail_backoff_ms(2), 120000);
	assert_int_equal(mail_backoff_ms(3), 240000);
	assert_int_equal(mail_backoff_ms(8), 60000LL * 128);
	assert_int_equal(mail_backoff_ms(9), 60000LL * 256);
	assert_int_equal(mail_backoff_ms(10), 6LL * 3600 * 1000); /* 512 min: capped at 6 h */
	assert_int_equal(mail_backoff_ms(1000), 6LL * 3600 * 1000);
}

static void config_check(void **state)
{
	struct conf c;
	char err[256];

	(void)state;
	conf_defaults(&c);
	assert_int_equal(mail_config_check(&c, err, sizeof(err)), 0); /* off */
	assert_false(mail_enabled(&c));
	snprintf(c.smtp_url, sizeof(c.smtp_url), "smtp://mail.example.org:587");
	snprintf(c.mail_from, sizeof(c.mail_from), "Audiomus <noreply@example.org>");
	assert_int_equal(mail_config_check(&c, err, sizeof(err)), 0); /* STARTTLS required */
	c.smtp_insecure_plain = 1;
	assert_int_equal(mail_config_check(&c, err, sizeof(err)),
			 AM_ERR_INVAL); /* not a local relay */
	snprintf(c.smtp_url, sizeof(c.smtp_url), "smtp://127.0.0.1:25");
	assert_int_equal(mail_config_check(&c, err, sizeof(err)), 0);
	snprintf(c.smtp_url, sizeof(c.smtp_url), "smtp://[::1]:25");
	assert_int_equal(mail_config_check(&c, err, sizeof(err)), 0);
	snprintf(c.smtp_url, sizeof(c.smtp_url), "smtp://127.relay.example.org:25"); /* a name */
	assert_int_equal(mail_config_check(&c, err, sizeof(err)), AM_ERR_INVAL);
	snprintf(c.smtp_url, sizeof(c.smtp_url), "smtp://localhost.example.org");
	assert_int_equal(mail_config_check(&c, err, sizeof(err)), AM_ERR_INVAL);
	snprintf(c.smtp_url, sizeof(c.smtp_url), "http://mail.example.org");
	assert_int_equal(mail_config_check(&c, err, sizeof(err)), AM_ERR_INVAL);
	snprintf(c.smtp_url, sizeof(c.smtp_url), "smtps://user:pw@mail.example.org");
	assert_int_equal(mail_config_check(&c, err, sizeof(err)), AM_ERR_INVAL);
	snprintf(c.smtp_url, sizeof(c.smtp_url), "smtps://mail.example.org");
	snprintf(c.mail_from, sizeof(c.mail_from), "not an address");
	assert_int_equal(mail_config_check(&c, err, sizeof(err)), AM_ERR_INVAL);
}

static void kinds(void **state)
{
	(void)state;
	for (int i = 0; i < MAIL_NKINDS; i++)
		assert_int_equal(mail_kind_parse(mail_kind_name(1 << i)), 1 << i);
	assert_null(mail_kind_name(3));
	assert_int_equal(mail_kind_parse("everything"), 0);
	assert_int_equal(mail_kind_parse("comments"), MAIL_COMMENTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(guest_text_is_quoted_never_linked),
	    cmocka_unit_test(mime_round_trip),
	    cmocka_unit_test(header_injection),
	    cmocka_unit_test(bad_addresses),
	    cmocka_unit_test(backoff_schedule),
	    cmocka_unit_test(config_check),
	    cmocka_unit_test(kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
