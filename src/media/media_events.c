/*
 * media_events.c: the media role's background event writer. A stream or
 * download records a play/download event (media_stream.c); writing it on
 * the HTTP thread made that thread wait for the database's write lock
 * (SQLite) or a round trip (PostgreSQL) before the first byte went out. The
 * HTTP threads now only copy the event into a bounded ring under a mutex;
 * one writer thread takes what has accumulated (up to MEDIA_EVENTS_BATCH,
 * contiguous in the ring) and records it in one write transaction. When the
 * ring is full the event is dropped and counted: listener statistics are
 * worth less than a stream that starts. The events carry what
 * db_event_add took before (project, kind, the details JSON with the IP
 * pseudonym, never the address); the details are sealed by the repository
 * as before. Runs in the media process; nothing here comes from a client
 * but the already verified request's ids.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "repo/repo.h"
#include "media/media_int.h"
#include "translog/translog.h"
#include "util/util.h"

struct media_events {
	pthread_mutex_t mu;
	pthread_cond_t more; /* events queued, or stop */
	pthread_cond_t idle; /* a batch was written */
	struct media_event *ring;
	size_t cap, head, count; /* [head, head + count) mod cap: queued or being written */
	int writing;		 /* the writer holds [head, head + n) outside the lock */
	int stop, running;
	int64_t hold_ms;
	media_events_write_fn *write;
	void *ctx;
	pthread_t thread;
	uint64_t dropped, dropped_logged;
	int64_t drop_log_ms; /* am_mono_ms() of the last media_events_dropped line; 0: none */
};

/* CLOCK_MONOTONIC deadline ms from now (the condition variables use it). */
static struct timespec deadline_in(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static void log_dropped(uint64_t since, uint64_t total)
{
	char a[24], b[24];

	snprintf(a, sizeof(a), "%" PRIu64, since);
	snprintf(b, sizeof(b), "%" PRIu64, total);
	am_log(AM_LOG_WARN, "media_events_dropped", "dropped", a, "total", b);
}

/* Called with the lock held: wait out the test hold (cut short by stop). */
static void hold(struct media_events *q)
{
	struct timespec dl = deadline_in(q->hold_ms);

	while (!q->stop && pthread_cond_timedwait(&q->more, &q->mu, &dl) != ETIMEDOUT)
		;
}

static void *writer_main(void *arg)
{
	struct media_events *q = arg;
	size_t n;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->count == 0 && !q->stop)
			pthread_cond_wait(&q->more, &q->mu);
		if (q->count == 0)
			break; /* stopping, and everything is written */
		if (q->hold_ms > 0 && !q->stop)
			hold(q);
		n = q->count < MEDIA_EVENTS_BATCH ? q->count : MEDIA_EVENTS_BATCH;
		if (n > q->cap - q->head)
			n = q->cap - q->head; /* contiguous: the rest is the next batch */
		/* Producers only write outside [head, head + count): the batch
		 * is read without the lock, and its slots stay taken (they count
		 * against the bound) until it is written. */
		q->writing = 1;
		pthread_mutex_unlock(&q->mu);
		(void)q->write(q->ctx, &q->ring[q->head], n); /* it logs what it could not record */
		pthread_mutex_lock(&q->mu);
		q->head = (q->head + n) % q->cap;
		q->count -= n;
		q->writing = 0;
		pthread_cond_broadcast(&q->idle);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

struct media_events *media_events_new(size_t cap, int64_t hold_ms, media_events_write_fn *write,
				      void *ctx)
{
	struct media_events *q = NULL;
	pthread_condattr_t ca;

	if (cap == 0)
		cap = MEDIA_EVENTS_MAX;
	if (cap > MEDIA_EVENTS_MAX || !write || !(q = calloc(1, sizeof(*q))))
		return NULL;
	if (!(q->ring = calloc(cap, sizeof(*q->ring)))) {
		free(q);
		return NULL;
	}
	q->cap = cap;
	q->hold_ms = hold_ms > 0 ? hold_ms : 0;
	q->write = write;
	q->ctx = ctx;
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->more, &ca);
	pthread_cond_init(&q->idle, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&q->thread, NULL, writer_main, q) != 0) {
		media_events_free(q);
		return NULL;
	}
	q->running = 1;
	return q;
}

int media_events_add(struct media_events *q, const uint8_t project_id[16], const char *kind,
		     const char *details)
{
	struct media_event *e;
	uint64_t since = 0, total = 0;
	size_t kl, dl;
	int64_t now;

	if (!q || !project_id || !kind)
		return AM_ERR_INVAL;
	kl = strlen(kind);
	dl = details ? strlen(details) : 0;
	if (kl == 0 || kl > MEDIA_EVENT_KIND_MAX || dl > MEDIA_EVENT_DETAILS_MAX)
		return AM_ERR_TOOBIG;
	now = am_now_ms();
	pthread_mutex_lock(&q->mu);
	if (q->count == q->cap || q->stop) {
		int64_t t = am_mono_ms();

		q->dropped++;
		if (q->drop_log_ms == 0 || t - q->drop_log_ms >= MEDIA_EVENTS_DROP_LOG_S * 1000) {
			q->drop_log_ms = t ? t : 1;
			since = q->dropped - q->dropped_logged;
			total = q->dropped;
			q->dropped_logged = q->dropped;
		}
		pthread_mutex_unlock(&q->mu);
		if (since)
			log_dropped(since, total);
		return AM_ERR_UNAVAIL;
	}
	e = &q->ring[(q->head + q->count) % q->cap];
	memcpy(e->project_id, project_id, sizeof(e->project_id));
	memcpy(e->kind, kind, kl + 1);
	memcpy(e->details, details ? details : "", dl + 1);
	e->created = now;
	q->count++;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

void media_events_flush(struct media_events *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	while (q->count > 0 || q->writing)
		pthread_cond_wait(&q->idle, &q->mu);
	pthread_mutex_unlock(&q->mu);
}

uint64_t media_events_dropped(struct media_events *q)
{
	uint64_t n;

	pthread_mutex_lock(&q->mu);
	n = q->dropped;
	pthread_mutex_unlock(&q->mu);
	return n;
}

void media_events_free(struct media_events *q)
{
	if (!q)
		return;
	if (q->running) {
		pthread_mutex_lock(&q->mu);
		q->stop = 1;
		pthread_cond_signal(&q->more);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->thread, NULL);
	}
	if (q->dropped > q->dropped_logged)
		log_dropped(q->dropped - q->dropped_logged, q->dropped);
	pthread_cond_destroy(&q->idle);
	pthread_cond_destroy(&q->more);
	pthread_mutex_destroy(&q->mu);
	am_memzero(q->ring, q->cap * sizeof(*q->ring));
	free(q->ring);
	free(q);
}

/* ---- the database side ------------------------------------------------------- */

static void log_failed(size_t n, int rc)
{
	char c[24];

	snprintf(c, sizeof(c), "%zu", n);
	am_log(AM_LOG_WARN, "media_event_failed", "events", c, "error", am_strerror(rc));
}

int media_events_write_db(void *ctx, const struct media_event *ev, size_t n)
{
	struct app *a = ctx;
	struct db_event_new b[MEDIA_EVENTS_BATCH];
	struct db *db = NULL;
	size_t failed = 0;
	int rc, one, first = 0;

	if (n > MEDIA_EVENTS_BATCH)
		return AM_ERR_INVAL;
	for (size_t i = 0; i < n; i++)
		b[i] = (struct db_event_new){ev[i].project_id, ev[i].kind, NULL, ev[i].details,
					     ev[i].created};
	if ((rc = app_db_get(a, &db)) != 0) {
		log_failed(n, rc);
		return rc;
	}
	rc = db_event_add_batch(db, a->keys, b, n);
	/* One event that cannot be written (its project was deleted after
	 * the stream was authorized) fails the whole transaction: write
	 * each on its own then, and give up only on those that fail. */
	for (size_t i = 0; rc && i < n; i++) {
		if ((one = db_event_add_batch(db, a->keys, &b[i], 1)) != 0 && failed++ == 0)
			first = one;
	}
	(void)translog_append_events(db, b, n); /* the access log; it logs its failures */
	app_db_put(a, db);
	if (failed)
		log_failed(failed, first);
	return failed ? first : 0;
}
