/*
 * mail_smtp.c: SMTP delivery of one built message with libcurl: smtps://
 * (implicit TLS) or smtp:// with STARTTLS required (CURLOPT_USE_SSL =
 * CURLUSESSL_ALL), the server certificate and name always verified (system
 * CAs or smtp_ca_file), optional AUTH, bounded connect and transfer times.
 * Plain SMTP only with smtp_insecure_plain and a loopback host (a local
 * relay). Runs in the worker role; the SMTP server is an untrusted network
 * peer: only its status code is kept (as the retry reason), never echoed
 * to users; the password is never logged.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "conf/conf.h"
#include "mail/mail.h"
#include "repo/repo.h"

int mail_enabled(const struct conf *c)
{
	return c->smtp_url[0] != 0;
}

int mail_config_check(const struct conf *c, char *err, size_t errlen)
{
	char host[256], name[256], addr[DB_EMAIL_MAX + 1];
	int tls = strncmp(c->smtp_url, "smtps://", 8) == 0;

	if (!mail_enabled(c))
		return 0;
	if (!tls && strncmp(c->smtp_url, "smtp://", 7) != 0) {
		snprintf(err, errlen,
			 "smtp_url: expected smtps://HOST[:PORT] or smtp://HOST[:PORT]");
		return AM_ERR_INVAL;
	}
	if (am_url_host(c->smtp_url, host, sizeof(host))) {
		snprintf(err, errlen,
			 "smtp_url: no host (and no user:password@ in the URL: use smtp_user)");
		return AM_ERR_INVAL;
	}
	if (!tls && c->smtp_insecure_plain && !am_host_is_loopback(host)) {
		snprintf(
		    err, errlen,
		    "smtp_insecure_plain is only for a relay on this machine (127.0.0.1, ::1)");
		return AM_ERR_INVAL;
	}
	if (mail_from_parse(c->mail_from, name, sizeof(name), addr, sizeof(addr))) {
		snprintf(err, errlen, "mail_from: expected an address or \"Name <address>\"");
		return AM_ERR_INVAL;
	}
	return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct upload {
	const uint8_t *p;
	size_t n, pos;
	int64_t stall_ms; /* testing only: pause once in the middle */
};

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *u = arg;
	size_t max = size * nitems, left = u->n - u->pos;

	if (u->stall_ms > 0 && u->pos >= u->n / 2) {
		struct timespec ts = {(time_t)(u->stall_ms / 1000),
				      (long)(u->stall_ms % 1000) * 1000000L};

		u->stall_ms = 0;
		nanosleep(&ts, NULL);
	}
	if (left > max)
		left = max;
	if (u->stall_ms > 0 && u->pos < u->n / 2 && u->pos + left > u->n / 2)
		left = u->n / 2 - u->pos; /* stop at the middle before stalling */
	memcpy(buf, u->p + u->pos, left);
	u->pos += left;
	return left;
}

/* The black-box tests' hook to kill a worker in the middle of a message:
 * AUDIOMUS_TEST_MAIL_STALL_MS in a test build (util.h "test hooks"). */
static int64_t test_stall_ms(void)
{
	return am_test_hook_ms("MAIL_STALL_MS", 0, 600000);
}

static int setup(CURL *h, const struct conf *c, struct curl_slist *rcpts, struct upload *u,
		 const char *from)
{
	int plain = strncmp(c->smtp_url, "smtp://", 7) == 0 && c->smtp_insecure_plain;
	CURLcode e = CURLE_OK;

#define SET(opt, val)                                                                              \
	if (e == CURLE_OK)                                                                         \
	e = curl_easy_setopt(h, opt, val)
	SET(CURLOPT_URL, c->smtp_url);
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	SET(CURLOPT_USE_SSL, plain ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (c->smtp_ca_file[0])
		SET(CURLOPT_CAINFO, c->smtp_ca_file);
	if (c->smtp_user[0]) {
		SET(CURLOPT_USERNAME, c->smtp_user);
		SET(CURLOPT_PASSWORD, c->secret->smtp_password);
	}
	SET(CURLOPT_MAIL_FROM, from);
	SET(CURLOPT_MAIL_RCPT, rcpts);
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_READFUNCTION, read_cb);
	SET(CURLOPT_READDATA, u);
	SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)u->n);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, 20L);
	SET(CURLOPT_TIMEOUT, (long)MAIL_SEND_TIMEOUT_S + (long)(u->stall_ms / 1000));
#undef SET
	return e == CURLE_OK ? 0 : AM_ERR_INTERNAL;
}

int mail_smtp_send(const struct conf *c, const char *rcpt, const void *msg, size_t n, char *err,
		   size_t errlen)
{
	char name[256], addr[DB_EMAIL_MAX + 1], from[DB_EMAIL_MAX + 3], to[DB_EMAIL_MAX + 3];
	struct upload u = {msg, n, 0, test_stall_ms()};
	struct curl_slist *rcpts = NULL;
	long code = 0;
	CURLcode e;
	CURL *h = NULL;
	int rc;

	err[0] = 0;
	if ((rc = mail_config_check(c, err, errlen)) || !mail_enabled(c))
		return rc ? rc : AM_ERR_INVAL;
	if (mail_from_parse(c->mail_from, name, sizeof(name), addr, sizeof(addr)) ||
	    !mail_addr_ok(rcpt))
		return AM_ERR_INVAL;
	snprintf(from, sizeof(from), "<%s>", addr);
	snprintf(to, sizeof(to), "<%s>", rcpt);
	pthread_once(&curl_once, curl_init_once);
	if (!(h = curl_easy_init()) || !(rcpts = curl_slist_append(NULL, to))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	if ((rc = setup(h, c, rcpts, &u, from)))
		goto out;
	e = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (e == CURLE_OK) {
		rc = 0;
	} else {
		/* A 5xx reply is permanent (RFC 5321 §4.2.1); anything else, from
		 * DNS to TLS to 4xx, may pass: retry. */
		snprintf(err, errlen, "smtp: %s (reply %ld)", curl_easy_strerror(e), code);
		rc = code >= 500 && code < 600 && e != CURLE_LOGIN_DENIED ? AM_ERR_DENIED
									  : AM_ERR_UNAVAIL;
	}
out:
	curl_slist_free_all(rcpts);
	curl_easy_cleanup(h);
	return rc;
}
