/*
 * tls.c: the server's TLS policy (DESIGN §7) and certificate handling.
 * The certificate chain and key are loaded here, not handed to
 * libmicrohttpd as memory, and served through a GnuTLS certificate callback
 * (MHD_OPTION_HTTPS_CERT_CALLBACK -> gnutls_certificate_set_retrieve_function2),
 * so that SIGHUP can swap the pair without restarting the daemon: every new
 * handshake asks the callback, established connections keep their session.
 * Runs in the web/media processes; holds the TLS private key.
 *
 * The callback has no user pointer, so the current pair is process-global:
 * one TLS server per process. Replaced pairs are kept (not freed) until
 * http_tls_cleanup(): a handshake on another thread may still be signing
 * with the previous key, and reloads are rare, so the cost is a few KiB.
 */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

/* TLS 1.3 and 1.2 only; 1.2 with ECDHE and AEAD only (Mozilla intermediate
 * minus DHE); no SHA-1 signatures; compression is not offered (COMP-NULL
 * only). Server order, AES-GCM first, then ChaCha20-Poly1305. DESIGN §7
 * asked for ChaCha20 first; `make bench` showed that forcing ChaCha20 on
 * clients that prefer AES-GCM cost 42 % of server CPU on uploads and roughly
 * halved streaming throughput on AES-NI servers (docs/benchmarks.md). Letting
 * the client choose (Mozilla's intermediate profile) would serve phones
 * without AES instructions best, but testssl rates "no server cipher order"
 * HIGH, so the server keeps an order, fastest for the server first; every
 * suite offered is forward secret and AEAD, and ChaCha20 stays available.
 * Renegotiation never happens: libmicrohttpd never re-runs the handshake,
 * and a client's attempt is refused with a fatal no_renegotiation alert
 * (tls_reneg.c; sslscan: "not supported"). We keep GnuTLS's
 * default %PARTIAL_RENEGOTIATION rather than %SAFE_RENEGOTIATION: the latter
 * rejects every ClientHello without the RFC 5746 extension ("handshake
 * message out of context"), which broke sslscan and testssl's TLS 1.3 probe
 * without adding protection, since no renegotiation is ever accepted. */
const char http_tls_priorities[] = "NONE:+VERS-TLS1.3:+VERS-TLS1.2:"
				   "+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AEAD:"
				   "+ECDHE-ECDSA:+ECDHE-RSA:"
				   "+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
				   "+SIGN-ALL:-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:-SIGN-DSA-SHA1:"
				   "+COMP-NULL:+CTYPE-X509:%SERVER_PRECEDENCE";

#define TLS_MAX_CHAIN 16
#define TLS_MAX_FILE  (1 << 20)

struct tls_pair {
	gnutls_pcert_st pcerts[TLS_MAX_CHAIN];
	unsigned npcerts;
	gnutls_privkey_t key;
	struct tls_pair *older;
};

static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tls_pair *tls_current;

static void pair_free(struct tls_pair *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->npcerts; i++)
		gnutls_pcert_deinit(&p->pcerts[i]);
	if (p->key)
		gnutls_privkey_deinit(p->key);
	free(p);
}

/* Read a whole (small) file; the caller zeroes and frees d->data. */
static int read_file(const char *path, gnutls_datum_t *d, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n;
	int rc = AM_ERR_IO;

	d->data = NULL;
	d->size = 0;
	if (!f) {
		snprintf(err, errlen,
			 "%s: cannot read (run audiomus init, or set tls_cert/tls_key)", path);
		return AM_ERR_IO;
	}
	if (!(buf = malloc(TLS_MAX_FILE + 1))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	n = fread(buf, 1, TLS_MAX_FILE + 1, f);
	if (ferror(f) || n == 0 || n > TLS_MAX_FILE) {
		snprintf(err, errlen, "%s: empty, unreadable or larger than 1 MiB", path);
		goto out;
	}
	buf[n] = 0;
	d->data = buf;
	d->size = (unsigned)n;
	buf = NULL;
	rc = 0;
out:
	if (buf) {
		am_memzero(buf, TLS_MAX_FILE + 1);
		free(buf);
	}
	fclose(f);
	return rc;
}

/* Check that the key belongs to the first certificate of the chain. */
static int key_matches(struct tls_pair *p)
{
	gnutls_pubkey_t pub = NULL;
	unsigned char a[64], b[64];
	size_t an = sizeof(a), bn = sizeof(b);
	int ok = 0;

	if (gnutls_pubkey_init(&pub) < 0)
		return 0;
	if (gnutls_pubkey_import_privkey(pub, p->key, 0, 0) >= 0 &&
	    gnutls_pubkey_get_key_id(pub, 0, a, &an) >= 0 &&
	    gnutls_pubkey_get_key_id(p->pcerts[0].pubkey, 0, b, &bn) >= 0)
		ok = an == bn && memcmp(a, b, an) == 0;
	gnutls_pubkey_deinit(pub);
	return ok;
}

static int pair_load(const char *cert_path, const char *key_path, struct tls_pair **out, char *err,
		     size_t errlen)
{
	gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
	struct tls_pair *p = calloc(1, sizeof(*p));
	int rc, g;

	if (!p)
		return AM_ERR_NOMEM;
	if ((rc = read_file(cert_path, &cert, err, errlen)) ||
	    (rc = read_file(key_path, &key, err, errlen)))
		goto out;
	rc = AM_ERR_CRYPTO;
	p->npcerts = TLS_MAX_CHAIN;
	if ((g = gnutls_pcert_list_import_x509_raw(p->pcerts, &p->npcerts, &cert,
						   GNUTLS_X509_FMT_PEM, 0)) < 0 ||
	    p->npcerts == 0) {
		p->npcerts = 0;
		snprintf(err, errlen, "%s: not a PEM certificate chain: %s", cert_path,
			 gnutls_strerror(g));
		goto out;
	}
	if (gnutls_privkey_init(&p->key) < 0 ||
	    (g = gnutls_privkey_import_x509_raw(p->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		snprintf(err, errlen, "%s: not a usable PEM private key", key_path);
		goto out;
	}
	if (!key_matches(p)) {
		snprintf(err, errlen, "%s does not belong to the certificate in %s", key_path,
			 cert_path);
		goto out;
	}
	*out = p;
	p = NULL;
	rc = 0;
out:
	if (key.data) {
		am_memzero(key.data, key.size);
		free(key.data);
	}
	free(cert.data);
	pair_free(p);
	return rc;
}

int http_tls_load(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	struct tls_pair *p = NULL;
	int rc = pair_load(cert_path, key_path, &p, err, errlen);

	if (rc)
		return rc;
	pthread_mutex_lock(&tls_mu);
	p->older = tls_current;
	tls_current = p;
	pthread_mutex_unlock(&tls_mu);
	return 0;
}

/* Put the connection's renegotiation guard (tls_reneg.c) on session. The
 * certificate callback is the one call into us during a handshake, and has
 * only the session: libmicrohttpd 0.9.75 (daemon.c, new_connection_prepare_)
 * sets the session's user pointer to its connection, whose socket context
 * is ours (server.c). Checked against the version we read that in. */
#if MHD_VERSION < 0x00097500 || MHD_VERSION >= 0x00097800
#error "check that libmicrohttpd still sets gnutls_session_set_ptr(session, connection)"
#endif
static void guard_session(gnutls_session_t session)
{
	struct MHD_Connection *conn = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *ci;
	struct http_tls_guard *g;

	if (!conn || !(ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)) ||
	    ci->tls_session != session)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci && (g = http_conn_tls_guard(ci->socket_context)))
		http_tls_guard_install(g, session);
}

/* The client's Finished message arrived: the handshake is complete. */
static int finished_hook(gnutls_session_t session, unsigned htype, unsigned when, unsigned incoming,
			 const gnutls_datum_t *msg)
{
	gnutls_protocol_t v = gnutls_protocol_get_version(session);

	(void)htype;
	(void)when;
	(void)msg;
	if (incoming)
		metrics_tls_completed(v == GNUTLS_TLS1_3 ? 3 : v == GNUTLS_TLS1_2 ? 2 : 0);
	return 0;
}

static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
			 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			 gnutls_pcert_st **pcert, unsigned int *pcert_length,
			 gnutls_privkey_t *pkey)
{
	struct tls_pair *p;

	guard_session(session);
	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	pthread_mutex_lock(&tls_mu);
	p = tls_current;
	pthread_mutex_unlock(&tls_mu);
	if (!p)
		return -1;
	/* Every handshake asks for the certificate (libmicrohttpd resumes no
	 * session), so this counts handshakes, and the hook their completion. */
	metrics_tls_started();
	gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST,
					   finished_hook);
	*pcert = p->pcerts;
	*pcert_length = p->npcerts;
	*pkey = p->key;
	return 0;
}

void *http_tls_cert_callback(void)
{
	return (void *)(gnutls_certificate_retrieve_function2 *)cert_callback;
}

void http_tls_cleanup(void)
{
	struct tls_pair *p;

	pthread_mutex_lock(&tls_mu);
	p = tls_current;
	tls_current = NULL;
	pthread_mutex_unlock(&tls_mu);
	while (p) {
		struct tls_pair *next = p->older;
		pair_free(p);
		p = next;
	}
}
