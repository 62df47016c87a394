/*
 * cmd_serve.c: `audiomus serve`: the embedded default that runs every role in
 * one process (DESIGN §1). Today it serves the web role's public routes over
 * HTTPS; the API, media and worker roles join as they land. Runs as the
 * service user; signals: SIGHUP reloads the certificate, SIGTERM/SIGINT drain
 * and stop.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "http/http.h"
#include "main/main.h"
#include "util/util.h"
#include "web/web.h"

static int have_file(const char *what, const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return 1;
	fprintf(stderr,
		"audiomus serve: no TLS %s at %s\n"
		"  audiomus serves HTTPS only. Run `audiomus init --data DIR` to create a\n"
		"  self-signed certificate for localhost, or set tls_cert and tls_key.\n",
		what, path);
	return 0;
}

/* With "--listen HOST:0" and no public_url of its own, the derived default
 * "https://HOST:0" names the port the kernel picked instead. */
static void fix_public_url(struct conf *c, struct http_server *s)
{
	char derived[CONF_STR_MAX + 16], host[256];
	uint16_t p;

	snprintf(derived, sizeof(derived), "https://%s", c->listen);
	if (strcmp(derived, c->public_url) != 0 ||
	    conf_split_listen(c->listen, host, sizeof(host), &p) || p != 0)
		return;
	snprintf(c->public_url, sizeof(c->public_url), strchr(host, ':') ? "https://[%s]:%u" :
		 "https://%s:%u", host, (unsigned)http_server_port(s));
	http_server_set_public_url(s, c->public_url);
}

/* Log the listening URL (tests and scripts read the "listening" line). */
static void log_listening(const struct conf *c, const struct http_server *s)
{
	char host[256], url[320], port[8], rport[8];
	uint16_t p;

	if (conf_split_listen(c->listen, host, sizeof(host), &p))
		am_strlcpy(host, "localhost", sizeof(host));
	snprintf(port, sizeof(port), "%u", (unsigned)http_server_port(s));
	snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%s/" : "https://%s:%s/", host,
		 port);
	snprintf(rport, sizeof(rport), "%u", (unsigned)http_server_redirect_port(s));
	am_log(AM_LOG_INFO, "listening", "url", url, "port", port, "redirect_port", rport,
	       "public_url", c->public_url, NULL);
	printf("audiomus: serving %s (public URL %s)\n", url, c->public_url);
	fflush(stdout);
}

/* Wait for signals until asked to stop. */
static void signal_loop(struct http_server *s, const sigset_t *set)
{
	char err[512];
	int sig = 0;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			if (http_server_reload_tls(s, err, sizeof(err)) == 0)
				am_log(AM_LOG_INFO, "tls_reloaded", NULL);
			else
				am_log(AM_LOG_ERROR, "tls_reload_failed", "error", err, NULL);
			continue;
		}
		am_log(AM_LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
		return;
	}
}

static int cmd_serve(int argc, char **argv)
{
	struct conf c;
	struct http_router *r = NULL;
	struct http_server *s = NULL;
	struct web *w = NULL;
	sigset_t set;
	char err[1024], left[16];
	int rc = 1, unfinished;

	if (main_load_conf(&argc, argv, &c))
		return 1;
	if (argc > 1) {
		fprintf(stderr, "audiomus serve: unexpected argument \"%s\"\n", argv[1]);
		return 2;
	}
	if (!have_file("certificate", c.tls_cert) || !have_file("private key", c.tls_key))
		return 1;
	/* Block the signals before any thread starts, so that only sigwait()
	 * sees them; SIGPIPE is handled by the server (MSG_NOSIGNAL). */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGPIPE);
	if (http_server_new(&c, &s, err, sizeof(err))) {
		fprintf(stderr, "audiomus serve: %s\n", err);
		am_log(AM_LOG_ERROR, "start_failed", "error", err, NULL);
		goto out;
	}
	fix_public_url(&c, s);
	if (!(r = http_router_new()) || !(w = web_new(&c)) || web_register(w, r)) {
		fprintf(stderr, "audiomus serve: out of memory\n");
		goto out;
	}
	if (http_server_start(s, r, err, sizeof(err))) {
		fprintf(stderr, "audiomus serve: %s\n", err);
		am_log(AM_LOG_ERROR, "start_failed", "error", err, NULL);
		goto out;
	}
	log_listening(&c, s);
	signal_loop(s, &set);
	unfinished = http_server_shutdown(s, c.shutdown_grace * 1000);
	snprintf(left, sizeof(left), "%d", unfinished);
	am_log(AM_LOG_INFO, "stopped", "unfinished_requests", left, NULL);
	rc = 0;
out:
	http_server_free(s);
	web_free(w);
	http_router_free(r);
	return rc;
}

const struct command cmd_serve_def = {
    "serve", cmd_serve, "run the HTTPS service (all roles in one process)",
    "audiomus serve [--config FILE] [--data DIR] [--listen HOST:PORT] [--set NAME=VALUE]\n"
    "\n"
    "DESCRIPTION\n"
    "  Serves audiomus over HTTPS on the listen address (default 127.0.0.1:8443).\n"
    "  There is no plaintext listener unless redirect_listen is set, and that one\n"
    "  only answers 301 to public_url. The process runs in the foreground and\n"
    "  logs JSON lines to stderr; the first line of note has \"event\":\"listening\"\n"
    "  with the real port (useful with --listen 127.0.0.1:0).\n"
    "\n"
    "TLS\n"
    "  TLS 1.3 and 1.2 only; TLS 1.2 with ECDHE and AEAD ciphers only (AES-GCM,\n"
    "  ChaCha20-Poly1305); no renegotiation, no compression. The certificate chain\n"
    "  (tls_cert) and private key (tls_key) default to DATA_DIR/tls/cert.pem and\n"
    "  DATA_DIR/tls/key.pem, which `audiomus init` creates for localhost. serve\n"
    "  refuses to start without them.\n"
    "\n"
    "SIGNALS\n"
    "  SIGHUP           re-read tls_cert and tls_key; new connections use the new\n"
    "                   pair, open connections are not dropped. On error the old\n"
    "                   pair stays and an error is logged.\n"
    "  SIGTERM, SIGINT  stop accepting, let in-flight requests finish for up to\n"
    "                   shutdown_grace seconds, then exit 0.\n"
    "\n"
    "LIMITS (settings)\n"
    "  threads, max_connections, per_ip_connections, connection_timeout,\n"
    "  connection_memory (also bounds request header size), shutdown_grace.\n"
    "  Requests: target up to 8 KiB (414), headers up to 16 KiB (431).\n"
    "\n"
    "LOGS\n"
    "  One access line per request: method, path (route pattern for /s/, /m/,\n"
    "  /u/; never a query string or token), status, bytes, ms. Client addresses\n"
    "  are never logged.\n"
    "\n"
    "EXAMPLES\n"
    "  audiomus init --data ./var/data\n"
    "  audiomus serve --data ./var/data\n"
    "  audiomus serve --data ./var/data --listen '[::1]:8443'\n"
    "  kill -HUP $(pidof audiomus)     # after renewing the certificate\n"
    "\n"
    "EXIT STATUS\n"
    "  0 after a clean stop, 1 on a start-up error, 2 on a usage error.\n"};
