/*
 * tls_reneg.c: refuse a client-initiated TLS 1.2 renegotiation with a fatal
 * alert. GnuTLS hands a renegotiation ClientHello to the application as
 * GNUTLS_E_REHANDSHAKE from gnutls_record_recv; libmicrohttpd 0.9.75 treats
 * that as a TLS error and closes with gnutls_bye, i.e. a *warning*
 * close_notify, which OpenSSL's s_client (and so testssl's probe) reads as
 * an orderly end rather than a refusal. libmicrohttpd gives the application
 * no call between the two, so the guard sits one layer down: a transport
 * pull function around recv() that follows the record headers of what the
 * client sends. The first handshake record after the client's
 * ChangeCipherSpec is its Finished; another one, on a TLS 1.2 session, is a
 * renegotiation: the guard drops any queued output, sends a fatal
 * no_renegotiation alert (GnuTLS allows a send while a receive is in
 * progress: "one sending, the other receiving", its manual's thread-safety
 * section), shuts the socket for writing and fails the read, so
 * libmicrohttpd closes without reading the ClientHello.
 *
 * Runs in the web/media processes on connection threads; every byte it
 * looks at is untrusted and it looks only at the 5-byte record headers.
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http/http_int.h"
#include "util/util.h"

/* TLS record content types (RFC 5246 6.2.1; 24: heartbeat). */
enum { REC_CCS = 20, REC_ALERT = 21, REC_HANDSHAKE = 22, REC_APPDATA = 23, REC_HEARTBEAT = 24 };

/* One record header complete: 1 if it starts a renegotiation. */
static int guard_header(struct http_tls_guard *g, int tls12)
{
	uint8_t type = g->hdr[0];

	g->body_left = (uint32_t)g->hdr[3] << 8 | g->hdr[4];
	if (type < REC_CCS || type > REC_HEARTBEAT || g->hdr[1] != 3) {
		g->off = 1; /* not TLS records (an SSLv2-style hello, noise): GnuTLS decides */
		return 0;
	}
	if (type == REC_CCS)
		g->ccs = 1;
	else if (type == REC_HANDSHAKE && g->ccs && g->hs_after++ >= 1 && tls12)
		return 1;
	return 0;
}

int http_tls_guard_scan(struct http_tls_guard *g, const uint8_t *p, size_t n, int tls12)
{
	while (n > 0 && !g->off) {
		if (g->body_left) {
			size_t k = n < g->body_left ? n : g->body_left;
			p += k, n -= k;
			g->body_left -= (uint32_t)k;
			continue;
		}
		g->hdr[g->hdr_have++] = *p++, n--;
		if (g->hdr_have < sizeof(g->hdr))
			continue;
		g->hdr_have = 0;
		if (guard_header(g, tls12))
			return 1;
	}
	return 0;
}

/* Refuse on the session's connection: queued output is dropped (the
 * connection ends here), the alert goes out under the current keys, and
 * when it went out whole the socket is shut for writing, so the close_notify
 * of libmicrohttpd's gnutls_bye never follows it. */
static void guard_refuse(struct http_tls_guard *g)
{
	gnutls_session_t s = g->session;

	(void)gnutls_record_discard_queued(s);
	if (gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_NO_RENEGOTIATION) == 0)
		(void)shutdown(g->fd, SHUT_WR);
	am_log(AM_LOG_INFO, "tls_renegotiation_refused");
}

static ssize_t guard_pull(gnutls_transport_ptr_t ptr, void *buf, size_t n)
{
	struct http_tls_guard *g = ptr;
	ssize_t r = recv(g->fd, buf, n, 0);
	int tls12;

	if (r <= 0 || g->off)
		return r;
	tls12 = gnutls_protocol_get_version(g->session) == GNUTLS_TLS1_2;
	if (!http_tls_guard_scan(g, buf, (size_t)r, tls12))
		return r;
	guard_refuse(g);
	g->off = 1;
	errno = ECONNRESET;
	return -1;
}

/* GnuTLS calls this only with a timeout set (libmicrohttpd sets none); kept
 * so that the default, which would take our pointer for a descriptor, is
 * never used. */
static int guard_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct http_tls_guard *g = ptr;
	struct pollfd pfd = {.fd = g->fd, .events = POLLIN};

	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

void http_tls_guard_install(struct http_tls_guard *g, void *session)
{
	gnutls_session_t s = session;
	gnutls_transport_ptr_t recv_ptr = NULL, send_ptr = NULL;

	if (g->session) /* installed already (a second certificate request) */
		return;
	gnutls_transport_get_ptr2(s, &recv_ptr, &send_ptr);
	g->fd = (int)(intptr_t)recv_ptr; /* libmicrohttpd: gnutls_transport_set_int */
	g->session = s;
	/* the send side keeps the descriptor and GnuTLS's own push */
	gnutls_transport_set_ptr2(s, g, send_ptr);
	gnutls_transport_set_pull_function(s, guard_pull);
	gnutls_transport_set_pull_timeout_function(s, guard_pull_timeout);
}
