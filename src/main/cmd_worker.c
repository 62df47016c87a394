/*
 * cmd_worker.c: `audiomus worker`, the worker role (DESIGN §1,
 * docs/worker.md): N threads claiming jobs from the shared queue
 * (transcodes now, e-mail later) and the periodic housekeeping, until
 * SIGTERM/SIGINT. Runs as the service user; holds the master key, the
 * database and the object store, and starts one sandboxed child per
 * transcode (`audiomus-xcode xcode-child`, a fresh image).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "http/http.h"
#include "main/main.h"
#include "util/util.h"
#include "worker/worker.h"

/* Block the signals before any thread starts, so that only sigwait() sees
 * them; wait for SIGTERM/SIGINT (SIGHUP is accepted and ignored). */
static int wait_stop(void)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		if (sigwait(&set, &sig) != 0 || sig == SIGHUP)
			continue;
		return sig;
	}
}

/* Black-box tests only (a test build, AUDIOMUS_TESTING=1): a short lease,
 * AUDIOMUS_TEST_WORKER_LEASE_MS, so that a killed worker's job is reclaimed
 * in seconds rather than minutes. */
static void test_overrides(struct worker_params *p)
{
	int64_t v = am_test_hook_ms("WORKER_LEASE_MS", 500, 3600000);

	if (v)
		p->lease_ms = v;
}

static int cmd_worker(int argc, char **argv)
{
	struct worker_params p = {0};
	struct worker *w = NULL;
	struct app *a = NULL;
	struct http_scrape *ms = NULL;
	struct conf c;
	sigset_t set;
	char err[1024], n[16], h[16];
	int sig;

	if (main_load_conf(&argc, argv, &c))
		return 1;
	if (argc > 1) {
		fprintf(stderr, "audiomus worker: unexpected argument \"%s\"\n", argv[1]);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	worker_params_from_conf(&p, c.worker_threads, c.transcode_jobs);
	if (c.db_pool_size == 0)
		c.db_pool_size = p.threads + 2; /* one per thread, housekeeping, spare */
	if (app_open(&c, APP_DB | APP_STORE, &a, err, sizeof(err))) {
		fprintf(stderr, "audiomus worker: %s\n", err);
		am_log(AM_LOG_ERROR, "start_failed", "error", err);
		return 1;
	}
	p.grace_ms = c.shutdown_grace * 1000;
	test_overrides(&p);
	if (main_metrics_start(&c, a, "worker", &ms)) {
		app_close(a);
		return 1;
	}
	if (worker_start(a, &p, &w)) {
		fprintf(stderr, "audiomus worker: cannot start the worker threads\n");
		http_scrape_free(ms);
		app_close(a);
		return 1;
	}
	snprintf(n, sizeof(n), "%d", p.threads);
	snprintf(h, sizeof(h), "%d", p.heavy_jobs);
	am_log(AM_LOG_INFO, "worker_started", "threads", n, "transcode_jobs", h);
	sig = wait_stop();
	am_log(AM_LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
	worker_stop(w);
	http_scrape_free(ms);
	app_close(a);
	am_log(AM_LOG_INFO, "stopped");
	return 0;
}

const struct command cmd_worker_def = {
    "worker", cmd_worker, "run the worker role (transcoding jobs, housekeeping)",
    "audiomus worker [--config FILE] [--data DIR] [--set NAME=VALUE]\n"
    "\n"
    "DESCRIPTION\n"
    "  Runs background jobs from the queue in the shared database: transcoding\n"
    "  of uploaded originals into the stream rendition, waveform peaks and media\n"
    "  facts, and every 5 minutes the housekeeping (abandoned uploads, stale\n"
    "  store temporaries, objects of deleted tracks and crypto-shredded\n"
    "  projects, closed accounts, expired sessions, rate limits, old jobs, the\n"
    "  IP-pseudonym ratchet). It serves no HTTP but, with metrics_listen, the\n"
    "  Prometheus endpoint of its own counters (docs/deploy.md). Run any number\n"
    "  of workers on one\n"
    "  or many machines against the same database and object store: each job is\n"
    "  leased to one worker at a time and its result is recorded only under that\n"
    "  lease. `audiomus serve` runs the same worker threads itself. A queued job\n"
    "  wakes the workers at once: in this process, and through PostgreSQL's\n"
    "  LISTEN/NOTIFY in the others (SQLite: other processes poll every 5 s).\n"
    "\n"
    "SANDBOX\n"
    "  Each transcode runs in a child process started from a fresh image of\n"
    "  `audiomus-xcode`, which must sit next to this binary (empty environment,\n"
    "  no inherited memory); the child holds no key, no file and no socket but\n"
    "  its pipe to the worker, and\n"
    "  confines itself with rlimits, no_new_privs and a seccomp allow-list before\n"
    "  it reads the first byte of the file. See docs/transcoding.md.\n"
    "\n"
    "RETRIES\n"
    "  A failed attempt caused by storage or an internal error is retried after\n"
    "  30 s, then 60 s, ...; a file that is damaged, unsupported, too long or\n"
    "  hostile fails at once and the owner sees the reason. A worker that dies\n"
    "  mid-job loses its lease (2 min) and another worker retries the job. After\n"
    "  the last attempt (3) the track shows the failure.\n"
    "\n"
    "SETTINGS\n"
    "  transcode_jobs   transcodes run at once (default 0: one per online core)\n"
    "  worker_threads   job threads (default 0: transcode_jobs + 1, one left\n"
    "                   for e-mail)\n"
    "  max_decode_samples  decode work allowed per upload (duration x rate x\n"
    "                   channels; default 4 h of 48 kHz stereo)\n"
    "  shutdown_grace   how long SIGTERM lets running jobs finish\n"
    "  database, storage, key_file, data_dir as for `audiomus serve --help`.\n"
    "\n"
    "SIGNALS\n"
    "  SIGTERM, SIGINT  stop claiming; running jobs get shutdown_grace seconds to\n"
    "                   finish, then are cancelled and released to other workers\n"
    "                   (the attempt counts); exit 0.\n"
    "\n"
    "LOGS\n"
    "  JSON lines on stderr: worker_started, job_start, job_done, job_retry,\n"
    "  job_failed (with the reason), transcode_failed (with a sanitized detail),\n"
    "  housekeeping (counts). Never audio, titles, file names or keys.\n"
    "\n"
    "EXAMPLES\n"
    "  audiomus worker --data ./var/data\n"
    "  audiomus worker --config /etc/audiomus.conf --set worker_threads=4\n"
    "\n"
    "EXIT STATUS\n"
    "  0 after a clean stop, 1 on a start-up error, 2 on a usage error.\n"};
