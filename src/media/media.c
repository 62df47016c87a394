/*
 * media.c: lifecycle and route table of the media role (see media.h): the
 * thread that removes abandoned uploads every 5 minutes (the removal
 * itself is upload_gc_abandoned, src/upload/, which housekeeping runs too),
 * and the play/download event writer (media_events.c), started and stopped
 * here; the clock and log line of the re-checks of running transfers
 * (media_int.h). Runs in the media process.
 */
#include "media/media.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "http/http.h"
#include "media/media_export.h"
#include "media/media_int.h"
#include "trace/trace.h"
#include "upload/upload.h"

#define GC_INTERVAL_S 300

static void *gc_main(void *arg);

/* The black-box tests' hook to stop the media role while a play event is
 * still queued (tests/e2e/media_events.test.mjs): the event writer holds
 * each batch AUDIOMUS_TEST_EVENT_HOLD_MS before writing it (a stop cuts
 * the hold short). A test build only (util.h "test hooks"): 0 in release. */
static int64_t test_hold_ms(void)
{
	return am_test_hook_ms("EVENT_HOLD_MS", 0, 600000);
}

struct media *media_new(struct app *a)
{
	struct media *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->app = a;
	m->quota = UPLOAD_ACCOUNT_QUOTA;
	pthread_mutex_init(&m->gc_lock, NULL);
	pthread_cond_init(&m->gc_cond, NULL);
	if (a && a->db &&
	    (!(m->events =
		   media_events_new(MEDIA_EVENTS_MAX, test_hold_ms(), media_events_write_db, a)) ||
	     !(m->jobs = media_jobs_new(MEDIA_JOBS_THREADS, MEDIA_JOBS_MAX)))) {
		media_free(m);
		return NULL;
	}
	if (a && a->store && a->db && pthread_create(&m->gc_thread, NULL, gc_main, m) == 0)
		m->gc_running = 1;
	return m;
}

void media_free(struct media *m)
{
	if (!m)
		return;
	/* After the server stopped: nothing queues any more, and every play
	 * or download that was answered is written before the process goes. */
	media_events_free(m->events);
	/* The uploads' last commits: a PATCH cut when the server stopped
	 * keeps what arrived, as it would have before the stop. */
	media_jobs_free(m->jobs);
	if (m->gc_running) {
		pthread_mutex_lock(&m->gc_lock);
		m->gc_stop = 1;
		pthread_cond_signal(&m->gc_cond);
		pthread_mutex_unlock(&m->gc_lock);
		pthread_join(m->gc_thread, NULL);
	}
	pthread_cond_destroy(&m->gc_cond);
	pthread_mutex_destroy(&m->gc_lock);
	free(m);
}

void media_set_quota(struct media *m, int64_t bytes)
{
	m->quota = bytes > 0 ? bytes : UPLOAD_ACCOUNT_QUOTA;
}

int media_register(struct media *m, struct http_router *r)
{
	struct http_route_def up = {
	    .methods = HTTP_HEAD | HTTP_PATCH | HTTP_OPTIONS,
	    .pattern = "/u/{upload}",
	    .handler = media_upload_handler,
	    .arg = m,
	    .max_body = (size_t)m->app->conf.max_upload_size,
	    .on_headers = media_upload_on_headers,
	    .on_body = media_upload_on_body,
	    .raw_query = 1,
	};
	/* Both routes verify the signed target byte for byte (access_*_verify on
	 * http_req_target), so a duplicated or re-encoded parameter gets the
	 * same 403 as any other tampering, not a distinguishable 400. */
	struct http_route_def stream = {
	    .methods = HTTP_GET | HTTP_HEAD,
	    .pattern = "/m/{object}",
	    .handler = media_stream_handler,
	    .arg = m,
	    .raw_query = 1,
	};
	struct http_route_def exp = {
	    .methods = HTTP_GET | HTTP_HEAD,
	    .pattern = "/m/export/{account}",
	    .handler = media_export_handler,
	    .arg = m,
	    .raw_query = 1,
	};
	struct http_route_def trace = {
	    .methods = HTTP_POST,
	    .pattern = "/m/trace/{project}",
	    .handler = media_trace_handler,
	    .arg = m,
	    .max_body = TRACE_MAX_BYTES,
	    .on_headers = media_trace_on_headers,
	    .raw_query = 1,
	};
	int rc;

	if ((rc = http_router_add(r, &stream)) || (rc = http_router_add(r, &exp)) ||
	    (rc = http_router_add(r, &trace)))
		return rc;
	return http_router_add(r, &up);
}

/* ---- transfers in flight ------------------------------------------------------------ */

int media_recheck_due(int64_t *last_ms)
{
	int64_t now = am_mono_ms();

	if (now - *last_ms < MEDIA_RECHECK_MS)
		return 0;
	*last_ms = now;
	return 1;
}

void media_recheck_log(int rc, const char *what, uint64_t sent)
{
	char n[24];

	snprintf(n, sizeof(n), "%llu", (unsigned long long)sent);
	if (rc == AM_ERR_DENIED)
		am_log(AM_LOG_INFO, "media_revoked_midstream", "kind", what, "sent", n);
	else
		am_log(AM_LOG_ERROR, "media_recheck_failed", "kind", what, "sent", n, "error",
		       am_strerror(rc));
}

/* ---- abandoned uploads (upload_gc_abandoned) ------------------------------------------ */

static void *gc_main(void *arg)
{
	struct media *m = arg;
	struct timespec ts;

	pthread_mutex_lock(&m->gc_lock);
	while (!m->gc_stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += GC_INTERVAL_S;
		if (pthread_cond_timedwait(&m->gc_cond, &m->gc_lock, &ts) != ETIMEDOUT ||
		    m->gc_stop)
			continue;
		pthread_mutex_unlock(&m->gc_lock);
		if (upload_gc_abandoned(m->app, am_now(), NULL) != 0)
			am_log(AM_LOG_WARN, "upload_gc_failed");
		pthread_mutex_lock(&m->gc_lock);
	}
	pthread_mutex_unlock(&m->gc_lock);
	return NULL;
}
