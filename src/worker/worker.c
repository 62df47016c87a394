/*
 * worker.c: the worker role's loop (see worker.h, docs/worker.md): threads
 * that claim leased jobs kind by kind from the handler table, run them,
 * record the outcome, back off when idle, run housekeeping at most once per
 * interval across all nodes, and stop within a grace period. Runs in the
 * worker process (or a thread of serve); trusted, holds keys; the jobs'
 * untrusted input is parsed only in exec'd sandboxed children (src/xcode).
 */
#include "worker/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "repo/repo.h"
#include "util/util.h"

#define WORKER_ID_MAX (DB_WORKER_MAX + 1)
#define HK_KEY	      "worker/housekeeping"

const struct worker_kind worker_kinds[] = {
    {"transcode", worker_transcode, worker_transcode_failed, 1},
    {DB_VMARK_JOB, worker_mark_ab, NULL, 1}, /* renditions A and B (job_mark_ab.c) */
    {"mail", worker_mail, NULL, 0},	     /* the e-mail outbox (job_mail.c, docs/mail.md) */
};
const size_t worker_kinds_n = AM_ARRAY_LEN(worker_kinds);

struct worker_thread {
	struct worker *w;
	pthread_t tid;
	int index, started;
	char id[WORKER_ID_MAX];
};

struct worker {
	struct app *app;
	struct worker_params p;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;      /* no new claims (under lock, read atomically) */
	int cancel;    /* cancel running jobs (atomic) */
	int running;   /* threads still in their loop (under lock) */
	int heavy;     /* heavy jobs claimed or running (atomic) */
	int listening; /* the PostgreSQL listener is up (atomic) */
	int listener_started;
	pthread_t listener;
	struct worker_thread *t;
};

/* The transcoding child's image: WORKER_CHILD_NAME in the directory of
 * this binary (docs/transcoding.md "Two binaries"); "" when /proc/self/exe
 * cannot be read. */
static char child_path[4096];
static pthread_once_t child_once = PTHREAD_ONCE_INIT;

static void find_child(void)
{
	if (am_exe_sibling(WORKER_CHILD_NAME, child_path, sizeof(child_path)) != 0)
		child_path[0] = 0;
}

static void fill_defaults(struct worker_params *p)
{
	if (p->threads < 1)
		p->threads = 1;
	if (p->heavy_jobs < 1 || p->heavy_jobs > p->threads)
		p->heavy_jobs = p->threads;
	if (p->lease_ms <= 0)
		p->lease_ms = 120000;
	if (p->idle_min_ms <= 0)
		p->idle_min_ms = 200;
	if (p->idle_max_ms <= 0)
		p->idle_max_ms = 5000;
	if (p->idle_max_ms < p->idle_min_ms)
		p->idle_max_ms = p->idle_min_ms;
	if (p->retry_ms <= 0)
		p->retry_ms = 30000;
	if (p->housekeeping_ms == 0)
		p->housekeeping_ms = 5 * 60 * 1000;
	if (p->grace_ms < 0)
		p->grace_ms = 0;
	if (!p->exec_path) {
		pthread_once(&child_once, find_child);
		p->exec_path = child_path;
	}
	if (!p->kinds) {
		p->kinds = worker_kinds;
		p->nkinds = worker_kinds_n;
	}
}

/* "host:pid:thread:random", unique per thread and start, <= 64 bytes. */
static void make_id(char *out, size_t n, int index)
{
	char host[33] = "worker";
	uint8_t r[4] = {0};

	if (gethostname(host, sizeof(host) - 1) != 0)
		am_strlcpy(host, "worker", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	(void)crypto_random(r, sizeof(r));
	snprintf(out, n, "%s:%ld:%d:%02x%02x%02x%02x", host, (long)getpid(), index, r[0], r[1],
		 r[2], r[3]);
}

int worker_job_heartbeat(struct worker_job *j)
{
	int64_t now = am_now_ms();
	struct db *db = NULL;
	int rc;

	if (j->lease_lost)
		return AM_ERR_CONFLICT;
	if (j->cancel && __atomic_load_n(j->cancel, __ATOMIC_ACQUIRE))
		return AM_ERR_UNAVAIL;
	if (now - j->extended_at < j->lease_ms / 4)
		return 0;
	if ((rc = app_db_get(j->app, &db)) != 0)
		return 0; /* try again at the next beat; the lease still runs */
	rc = db_job_extend(db, j->job->id, j->worker, now, j->lease_ms);
	app_db_put(j->app, db);
	if (rc == AM_ERR_CONFLICT) {
		j->lease_lost = 1;
		am_log(AM_LOG_WARN, "job_lease_lost", "worker", j->worker);
		return rc;
	}
	if (rc == 0)
		j->extended_at = now;
	return 0;
}

/* Delay before the next attempt: retry_ms doubled per attempt, capped at 1 h. */
static int64_t retry_delay(const struct worker_params *p, int64_t attempts)
{
	int64_t d = p->retry_ms;

	for (int64_t i = 1; i < attempts && d < 3600000; i++)
		d *= 2;
	return d < 3600000 ? d : 3600000;
}

static void log_job(const char *event, const struct worker_job *j, const char *extra)
{
	char id[33], att[24];

	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", j->job->id[i]);
	snprintf(att, sizeof(att), "%lld", (long long)j->job->attempts);
	if (j->child_maxrss_kib > 0) { /* the sandboxed child's peak memory */
		char rss[24];

		snprintf(rss, sizeof(rss), "%lld", (long long)j->child_maxrss_kib);
		am_log(extra ? AM_LOG_WARN : AM_LOG_INFO, event, "job", id, "kind", j->job->kind,
		       "attempt", att, "worker", j->worker, "child_maxrss_kib", rss, "reason",
		       extra);
		return;
	}
	am_log(extra ? AM_LOG_WARN : AM_LOG_INFO, event, "job", id, "kind", j->job->kind, "attempt",
	       att, "worker", j->worker, "reason", extra);
}

/* Record the outcome of one run. */
static void settle(struct worker_job *j, const struct worker_kind *k, const struct worker_params *p,
		   int rc)
{
	struct db *db = NULL;
	int final = 0, drc;

	if (j->lease_lost) {
		log_job("job_abandoned", j, "lease lost");
		return;
	}
	if ((drc = app_db_get(j->app, &db)) != 0) {
		log_job("job_unrecorded", j, "no database connection (the lease will expire)");
		return;
	}
	if (rc == 0 && !j->completed)
		drc = db_job_complete(db, j->job->id, j->worker);
	if (rc == 0) {
		if (drc == 0)
			log_job("job_done", j, NULL);
		else
			log_job("job_unrecorded", j, am_strerror(drc));
		goto out;
	}
	if (!j->reason[0])
		am_strlcpy(j->reason, am_strerror(rc), sizeof(j->reason));
	drc = db_job_fail(db, j->job->id, j->worker, j->reason, j->permanent,
			  retry_delay(p, j->job->attempts), &final);
	app_db_put(j->app, db);
	db = NULL;
	log_job(final ? "job_failed" : "job_retry", j, j->reason);
	if (drc == 0 && k->failed)
		k->failed(j, final);
out:
	if (db)
		app_db_put(j->app, db);
}

/* Take one of max heavy-job slots (1), or none is free (0). */
static int slot_take(int *heavy, int max)
{
	int n = __atomic_load_n(heavy, __ATOMIC_ACQUIRE);

	while (n < max)
		if (__atomic_compare_exchange_n(heavy, &n, n + 1, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return 1;
	return 0;
}

static void slot_put(int *heavy)
{
	__atomic_sub_fetch(heavy, 1, __ATOMIC_ACQ_REL);
}

/* Claim one due job of the kinds in the table (round robin from *next); a
 * heavy kind only while one of the heavy slots (heavy, may be NULL: no
 * limit) is free, which the claimed job then holds. */
static int claim(struct app *a, const struct worker_params *p, const char *id, size_t *next,
		 int *heavy, struct db_job *job, const struct worker_kind **kind, int *slot)
{
	const struct worker_kind *k = NULL;
	struct db *db = NULL;
	int rc;

	*slot = 0;
	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = AM_ERR_NOTFOUND;
	for (size_t i = 0; i < p->nkinds; i++) {
		int held = 0;

		k = &p->kinds[(*next + i) % p->nkinds];
		if (k->heavy && heavy && !(held = slot_take(heavy, p->heavy_jobs)))
			continue; /* every slot busy: leave this kind to the next free one */
		rc = db_job_claim(db, id, k->kind, am_now_ms(), p->lease_ms, job);
		if (rc == 0)
			*slot = held;
		else if (held)
			slot_put(heavy);
		if (rc != AM_ERR_NOTFOUND)
			break;
	}
	app_db_put(a, db);
	*next = (*next + 1) % (p->nkinds ? p->nkinds : 1);
	*kind = k;
	return rc;
}

/* Claim a job (see claim) and run it. 0 if one ran, AM_ERR_NOTFOUND if
 * none is due, else the error. */
static int run_one(struct app *a, const struct worker_params *p, const char *id, const int *cancel,
		   size_t *next, int *heavy)
{
	struct db_job job;
	struct worker_job j;
	const struct worker_kind *k = NULL;
	int rc, slot = 0;

	if ((rc = claim(a, p, id, next, heavy, &job, &k, &slot)))
		return rc;
	memset(&j, 0, sizeof(j));
	j.app = a;
	j.job = &job;
	j.worker = id;
	j.lease_ms = p->lease_ms;
	j.cancel = cancel;
	j.exec_path = p->exec_path;
	j.extended_at = am_now_ms();
	if (job.attempts > job.max_attempts) {
		/* Its worker vanished during the last allowed attempt: fail it
		 * for good, through the kind's failed() hook, so that what the
		 * owner sees (e.g. the track version) says failed too. */
		j.permanent = 1;
		am_strlcpy(j.reason,
			   "processing stopped on the last attempt (worker lost or timed out)",
			   sizeof(j.reason));
		settle(&j, k, p, AM_ERR_UNAVAIL);
	} else {
		log_job("job_start", &j, NULL);
		settle(&j, k, p, k->run(&j));
	}
	if (slot) {
		slot_put(heavy);
		db_wake_all(); /* a heavy job waiting for this slot can run now */
	}
	am_memzero(&job, sizeof(job));
	return 0;
}

/* Housekeeping: due locally every interval, and at most once per interval
 * across all nodes (a shared GCRA slot with burst 1 acts as the lease). */
static void maybe_housekeeping(struct worker *w, int64_t *next_at)
{
	int64_t now = am_now_ms(), retry = 0;
	struct worker_hk_stats st;
	struct db *db = NULL;
	int rc;

	if (w->p.housekeeping_ms < 0 || now < *next_at)
		return;
	*next_at = now + w->p.housekeeping_ms;
	if (app_db_get(w->app, &db) != 0)
		return;
	rc = db_rate_take(db, HK_KEY, sizeof(HK_KEY) - 1, now, w->p.housekeeping_ms, 1, &retry);
	app_db_put(w->app, db);
	if (rc != 0)
		return; /* another node's turn */
	memset(&st, 0, sizeof(st));
	rc = worker_housekeeping(w->app, now, &st);
	char u[16], o[16], pr[16], acc[24], se[24], jb[24], rv[16], orph[16];
	snprintf(rv, sizeof(rv), "%d", st.recovered);
	snprintf(orph, sizeof(orph), "%d", st.orphans);
	snprintf(u, sizeof(u), "%d", st.uploads);
	snprintf(o, sizeof(o), "%d", st.objects);
	snprintf(pr, sizeof(pr), "%d", st.projects);
	snprintf(acc, sizeof(acc), "%lld", (long long)st.accounts);
	snprintf(se, sizeof(se), "%lld", (long long)st.sessions);
	snprintf(jb, sizeof(jb), "%lld", (long long)st.jobs);
	am_log(rc ? AM_LOG_WARN : AM_LOG_INFO, "housekeeping", "recovered", rv, "uploads", u,
	       "objects", o, "projects", pr, "orphans", orph, "accounts", acc, "sessions", se,
	       "jobs", jb, "ip_advanced", st.ip_advanced ? "1" : "0", "error",
	       rc ? am_strerror(rc) : NULL);
}

/* Wait up to ms for a wake-up that came after seen (db_wake_wait), unless
 * stopping; returns 1 if stopping. worker_stop wakes every waiter. */
static int idle_wait(struct worker *w, uint64_t seen, int64_t ms)
{
	(void)db_wake_wait(seen, ms);
	return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE);
}

static void *thread_main(void *arg)
{
	struct worker_thread *t = arg;
	struct worker *w = t->w;
	int64_t idle = w->p.idle_min_ms, hk_next = am_now_ms() + 5000;
	size_t next = 0;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		uint64_t seen = db_wake_seq(); /* before looking: no wake-up is lost */
		int rc;

		if (t->index == 0)
			maybe_housekeeping(w, &hk_next);
		rc = run_one(w->app, &w->p, t->id, &w->cancel, &next, &w->heavy);
		if (rc == 0) {
			idle = w->p.idle_min_ms;
			continue;
		}
		if (rc != AM_ERR_NOTFOUND)
			am_log(AM_LOG_WARN, "job_claim_failed", "worker", t->id, "error",
			       am_strerror(rc));
		/* With the listener every queued job is announced: the poll is a safety net. */
		if (__atomic_load_n(&w->listening, __ATOMIC_ACQUIRE))
			idle = w->p.idle_max_ms;
		if (idle_wait(w, seen, idle))
			break;
		idle = idle * 2 < w->p.idle_max_ms ? idle * 2 : w->p.idle_max_ms;
	}
	pthread_mutex_lock(&w->lock);
	w->running--;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* PostgreSQL: one connection outside the pool LISTENs for the NOTIFY of
 * db_job_enqueue in any process and wakes this process's threads. A lost
 * connection is reopened after a second, with a wake-up (a notification
 * may have been missed). SQLite: no such thread (db_listen refuses). */
static int listen_open(struct worker *w, struct db **db)
{
	int rc;

	if ((rc = db_pool_open_extra(w->app->db, db)) == 0 && (rc = db_listen(*db)) != 0) {
		db_close(*db);
		*db = NULL;
	}
	return rc;
}

static void *listen_main(void *arg)
{
	struct worker *w = arg;
	struct db *db = NULL;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		int rc;

		if (!db) {
			if (listen_open(w, &db) == 0) {
				__atomic_store_n(&w->listening, 1, __ATOMIC_RELEASE);
				db_wake_all();
			} else {
				(void)db_wake_wait(db_wake_seq(), 1000);
			}
			continue;
		}
		if ((rc = db_listen_wait(db, 250)) > 0) {
			db_wake_all();
		} else if (rc < 0) {
			am_log(AM_LOG_WARN, "worker_listen_lost", "error", db_errmsg(db));
			__atomic_store_n(&w->listening, 0, __ATOMIC_RELEASE);
			db_close(db);
			db = NULL;
		}
	}
	db_close(db);
	return NULL;
}

/* Start the listener if the engine has cross-process wake-ups. */
static void listen_start(struct worker *w)
{
	struct db *db = NULL;

	if (!w->app->db || app_db_get(w->app, &db) != 0)
		return;
	if (db_engine(db) == DB_PGSQL && pthread_create(&w->listener, NULL, listen_main, w) == 0)
		w->listener_started = 1;
	app_db_put(w->app, db);
}

void worker_params_from_conf(struct worker_params *p, int64_t threads, int64_t transcode_jobs)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int64_t heavy = transcode_jobs > 0 ? transcode_jobs : (cores > 0 ? cores : 1);

	if (heavy > 64)
		heavy = 64;
	p->heavy_jobs = (int)heavy;
	p->threads = (int)(threads > 0 ? threads : heavy + 1);
}

/* Black-box tests only (a test build, AUDIOMUS_TESTING=1): a fixed idle
 * poll, AUDIOMUS_TEST_WORKER_IDLE_MS, so long that only a wake-up can
 * start a queued job within a test (tests/e2e/worker_wake.test.mjs). */
static void test_overrides(struct worker_params *p)
{
	int64_t v = am_test_hook_ms("WORKER_IDLE_MS", 100, 86400000);

	if (v)
		p->idle_min_ms = p->idle_max_ms = v;
}

static void worker_free(struct worker *w)
{
	if (!w)
		return;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->t);
	free(w);
}

int worker_start(struct app *a, const struct worker_params *p, struct worker **out)
{
	struct worker *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	*out = NULL;
	if (!w)
		return AM_ERR_NOMEM;
	if (p)
		w->p = *p;
	test_overrides(&w->p);
	fill_defaults(&w->p);
	/* The standard job kinds transcode: refuse to start without the child
	 * rather than fail every upload later. */
	if (w->p.kinds == worker_kinds && access(w->p.exec_path, X_OK) != 0) {
		am_log(AM_LOG_ERROR, "worker_no_transcoder", "path", w->p.exec_path, "hint",
		       "install " WORKER_CHILD_NAME " next to the audiomus binary");
		free(w);
		return AM_ERR_NOTFOUND;
	}
	w->app = a;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!a || !a->db || !a->store || !(w->t = calloc((size_t)w->p.threads, sizeof(*w->t)))) {
		worker_free(w);
		return a && a->db && a->store ? AM_ERR_NOMEM : AM_ERR_INVAL;
	}
	for (int i = 0; i < w->p.threads; i++) {
		struct worker_thread *t = &w->t[i];

		t->w = w;
		t->index = i;
		make_id(t->id, sizeof(t->id), i);
		pthread_mutex_lock(&w->lock);
		w->running++;
		pthread_mutex_unlock(&w->lock);
		if (pthread_create(&t->tid, NULL, thread_main, t) != 0) {
			pthread_mutex_lock(&w->lock);
			w->running--;
			pthread_mutex_unlock(&w->lock);
			worker_stop(w);
			return AM_ERR_NOMEM;
		}
		t->started = 1;
	}
	listen_start(w);
	*out = w;
	return 0;
}

/* Wait until no thread runs, or the monotonic deadline passes. */
static void wait_threads(struct worker *w, int64_t deadline_ms)
{
	pthread_mutex_lock(&w->lock);
	while (w->running > 0) {
		int64_t left = deadline_ms - am_mono_ms();
		struct timespec ts;

		if (left <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
}

void worker_stop(struct worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	db_wake_all(); /* idle threads wait on the wake-up sequence */
	wait_threads(w, am_mono_ms() + w->p.grace_ms);
	if (w->running > 0)
		am_log(AM_LOG_WARN, "worker_cancel", "reason", "shutdown grace over");
	__atomic_store_n(&w->cancel, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < w->p.threads; i++)
		if (w->t[i].started)
			pthread_join(w->t[i].tid, NULL);
	if (w->listener_started)
		pthread_join(w->listener, NULL);
	worker_free(w);
}

int worker_drain(struct app *a, const struct worker_params *p, int *ran)
{
	static const int no_cancel;
	struct worker_params q;
	char id[WORKER_ID_MAX];
	size_t next = 0;
	int n = 0, rc;

	memset(&q, 0, sizeof(q));
	if (p)
		q = *p;
	fill_defaults(&q);
	make_id(id, sizeof(id), 0);
	while ((rc = run_one(a, &q, id, &no_cancel, &next, NULL)) == 0)
		n += rc == 0;
	if (ran)
		*ran = n;
	return rc == AM_ERR_NOTFOUND ? 0 : rc;
}
