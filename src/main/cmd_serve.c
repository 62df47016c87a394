/*
 * cmd_serve.c: `audiomus serve`, `web` and `media`: the embedded default that runs every role in
 * one process (DESIGN §1), and `audiomus web` / `audiomus media`, which run
 * one role each for scale-out. Runs as the
 * service user; signals: SIGHUP reloads the certificate, SIGTERM/SIGINT drain
 * and stop.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "app/app.h"
#include "http/http.h"
#include "media/media.h"
#include "main/main.h"
#include "util/util.h"
#include "web/web.h"
#include "worker/worker.h"

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
	snprintf(c->public_url, sizeof(c->public_url),
		 strchr(host, ':') ? "https://[%s]:%u" : "https://%s:%u", host,
		 (unsigned)http_server_port(s));
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
	       "public_url", c->public_url);
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
				am_log(AM_LOG_INFO, "tls_reloaded");
			else
				am_log(AM_LOG_ERROR, "tls_reload_failed", "error", err);
			continue;
		}
		am_log(AM_LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
		return;
	}
}

/* Which roles a process runs (DESIGN §1). */
enum role { ROLE_WEB = 1 << 0, ROLE_MEDIA = 1 << 1, ROLE_WORKER = 1 << 2 };

struct roles {
	struct app *app;
	struct web *web;
	struct api *api;
	struct media *media;
	struct worker *worker; /* serve: the worker threads in-process */
};

/* serve's worker threads: as `audiomus worker`'s by default (transcode_jobs
 * transcodes at once, one more thread for light jobs); the database pool
 * gains a connection per worker thread unless db_pool_size is set. */
static void log_worker(const struct worker_params *p)
{
	char n[16], h[16];

	snprintf(n, sizeof(n), "%d", p->threads);
	snprintf(h, sizeof(h), "%d", p->heavy_jobs);
	am_log(AM_LOG_INFO, "worker_started", "threads", n, "transcode_jobs", h);
}

static void worker_conf(struct conf *c, struct worker_params *p)
{
	memset(p, 0, sizeof(*p));
	worker_params_from_conf(p, 0, c->transcode_jobs);
	p->grace_ms = c->shutdown_grace * 1000;
	if (c->db_pool_size == 0)
		c->db_pool_size =
		    (c->threads ? c->threads : sysconf(_SC_NPROCESSORS_ONLN)) + 2 + p->threads;
}

/* Open what the roles need and add their routes. The web role alone opens no
 * object store: it runs without storage credentials and never reads audio. */
static int roles_open(const struct conf *c, unsigned roles, struct roles *rs, struct http_router *r,
		      const char *name)
{
	unsigned need = APP_DB | ((roles & ROLE_MEDIA) ? APP_STORE : 0);
	char err[1024];

	if (app_open(c, need, &rs->app, err, sizeof(err))) {
		fprintf(stderr, "audiomus %s: %s\n", name, err);
		am_log(AM_LOG_ERROR, "start_failed", "error", err);
		return 1;
	}
	if (!(rs->web = web_new(c)) ||
	    ((roles & ROLE_WEB) && (!(rs->api = api_new(rs->app)) || web_register(rs->web, r) ||
				    api_register(rs->api, r))) ||
	    ((roles & ROLE_MEDIA) &&
	     (!(rs->media = media_new(rs->app)) || media_register(rs->media, r))) ||
	    (!(roles & ROLE_WEB) && web_register_health(rs->web, r))) {
		fprintf(stderr, "audiomus %s: cannot set up routes\n", name);
		return 1;
	}
	return 0;
}

static void roles_close(struct roles *rs)
{
	worker_stop(rs->worker);
	media_free(rs->media);
	api_free(rs->api);
	web_free(rs->web);
	app_close(rs->app);
}

/* The common life of an HTTPS role process: configuration, certificate,
 * bind, routes, serve until SIGTERM/SIGINT, drain. */
static int run_roles(int argc, char **argv, unsigned roles)
{
	const char *name = argv[0];
	struct conf c;
	struct http_router *r = NULL;
	struct http_server *s = NULL;
	struct http_scrape *ms = NULL;
	struct roles rs = {0};
	struct worker_params wp = {0};
	sigset_t set;
	char err[1024], left[16];
	int rc = 1, unfinished;

	if (main_load_conf(&argc, argv, &c))
		return 1;
	if (argc > 1) {
		fprintf(stderr, "audiomus %s: unexpected argument \"%s\"\n", name, argv[1]);
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
		fprintf(stderr, "audiomus %s: %s\n", name, err);
		am_log(AM_LOG_ERROR, "start_failed", "error", err);
		goto out;
	}
	fix_public_url(&c, s);
	if (roles & ROLE_WORKER)
		worker_conf(&c, &wp);
	if (!(r = http_router_new()) || roles_open(&c, roles, &rs, r, name))
		goto out;
	if (http_server_start(s, r, err, sizeof(err))) {
		fprintf(stderr, "audiomus %s: %s\n", name, err);
		am_log(AM_LOG_ERROR, "start_failed", "error", err);
		goto out;
	}
	log_listening(&c, s);
	if (main_metrics_start(&c, rs.app, name, &ms))
		goto out;
	if ((roles & ROLE_WORKER) && worker_start(rs.app, &wp, &rs.worker))
		am_log(AM_LOG_ERROR, "worker_start_failed");
	else if (roles & ROLE_WORKER)
		log_worker(&wp);
	signal_loop(s, &set);
	worker_stop(rs.worker); /* running job: finish or release within shutdown_grace */
	rs.worker = NULL;
	unfinished = http_server_shutdown(s, c.shutdown_grace * 1000);
	snprintf(left, sizeof(left), "%d", unfinished);
	am_log(AM_LOG_INFO, "stopped", "unfinished_requests", left);
	rc = 0;
out:
	http_scrape_free(ms);
	http_server_free(s);
	roles_close(&rs);
	http_router_free(r);
	return rc;
}

static int cmd_serve(int argc, char **argv)
{
	return run_roles(argc, argv, ROLE_WEB | ROLE_MEDIA | ROLE_WORKER);
}

static int cmd_web(int argc, char **argv)
{
	return run_roles(argc, argv, ROLE_WEB);
}

static int cmd_media(int argc, char **argv)
{
	return run_roles(argc, argv, ROLE_MEDIA);
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
    "  header_timeout (absolute deadline for request headers), body_min_rate and\n"
    "  body_rate_window (slower request bodies are cut off),\n"
    "  connection_memory (also bounds request header size), shutdown_grace.\n"
    "  Requests: target up to 8 KiB (414), headers up to 16 KiB (431).\n"
    "\n"
    "METRICS\n"
    "  metrics_listen (off by default; e.g. 127.0.0.1:9464) starts a plain-HTTP\n"
    "  listener, apart from the HTTPS one, answering GET /metrics in Prometheus\n"
    "  text format: requests, latency, bytes, connections, TLS handshakes of this\n"
    "  process, transcodes of its worker, and the queue and outbox depth. Off\n"
    "  loopback it requires metrics_token (Authorization: Bearer). docs/deploy.md.\n"
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

const struct command cmd_web_def = {
    "web", cmd_web, "run the web role only (pages, JSON API; no audio, no store)",
    "audiomus web [--config FILE] [--data DIR] [--listen HOST:PORT] [--set NAME=VALUE]\n"
    "\n"
    "  The web role of a scale-out deployment: HTML pages, the JSON API, owner\n"
    "  sessions and guest review; it issues signed media URLs but never reads or\n"
    "  writes audio, and it does not open the object store, so it can run\n"
    "  without storage credentials. TLS, signals, limits and logs as for\n"
    "  `audiomus serve --help`.\n"};

const struct command cmd_media_def = {
    "media", cmd_media, "run the media role only (signed streaming and uploads)",
    "audiomus media [--config FILE] [--data DIR] [--listen HOST:PORT] [--set NAME=VALUE]\n"
    "\n"
    "  The media role of a scale-out deployment: /m/... signed streaming and\n"
    "  downloads with Range, /u/... signed resumable uploads, and /healthz. It\n"
    "  needs the database, the master key and the object store. TLS, signals,\n"
    "  limits and logs as for `audiomus serve --help`.\n"};
