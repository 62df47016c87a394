/*
 * media.c: lifecycle and route table of the media role (see media.h), the
 * clean-up of abandoned uploads, and the one upload-creation call the web
 * role makes for an owner (a database row and a signed URL; no audio byte).
 * It starts and stops the play/download event writer (media_events.c).
 * Runs in the media process (and, for media_upload_new, the web process).
 */
#include "media/media.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/access.h"
#include "app/app.h"
#include "repo/repo.h"
#include "http/http.h"
#include "media/media_export.h"
#include "media/media_int.h"
#include "store/store.h"

#define GC_INTERVAL_S 300
#define GC_BATCH 32

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
	m->quota = MEDIA_ACCOUNT_QUOTA;
	pthread_mutex_init(&m->gc_lock, NULL);
	pthread_cond_init(&m->gc_cond, NULL);
	if (a && a->db &&
	    !(m->events = media_events_new(MEDIA_EVENTS_MAX, test_hold_ms(), media_events_write_db, a))) {
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
	m->quota = bytes > 0 ? bytes : MEDIA_ACCOUNT_QUOTA;
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
	int rc;

	if ((rc = http_router_add(r, &stream)) || (rc = http_router_add(r, &exp)))
		return rc;
	return http_router_add(r, &up);
}

/* ---- abandoned uploads ------------------------------------------------------------ */

struct gc_batch {
	struct db_upload u[GC_BATCH];
	int n;
};

static int gc_collect(void *ctx, const struct db_upload *u)
{
	struct gc_batch *b = ctx;

	if (b->n < GC_BATCH)
		b->u[b->n++] = *u;
	return 0;
}

static int gc_delete_part(void *ctx, const struct db_upload_part *p)
{
	struct store *s = ctx;
	struct store_err err;
	int rc = store_delete(s, p->store_key, &err);

	if (rc) /* the upload stays for the next run */
		am_log(AM_LOG_WARN, "upload_gc_store_failed", "error", am_strerror(rc),
		       "store_error", err.msg, NULL);
	return rc;
}

int media_gc(struct app *a, int64_t now, int *removed)
{
	struct gc_batch *b = calloc(1, sizeof(*b));
	struct store_err err;
	struct db *db = NULL;
	int rc, n = 0;

	if (!b)
		return AM_ERR_NOMEM;
	if ((rc = app_db_get(a, &db)) != 0)
		goto out;
	if ((rc = db_upload_list_expired(db, now * 1000, GC_BATCH, gc_collect, b)) != 0)
		goto out;
	for (int i = 0; i < b->n; i++) {
		/* Objects first, then the rows: a crash in between leaves rows
		 * whose objects are gone (deleting them again is idempotent). */
		if (db_upload_parts(db, b->u[i].id, gc_delete_part, a->store) == 0 &&
		    db_upload_delete(db, b->u[i].project_id, b->u[i].id) == 0)
			n++;
	}
	if (store_gc_temp(a->store, now - 86400, NULL, &err) != 0)
		am_log(AM_LOG_WARN, "upload_gc_store_failed", "step", "temporaries", "store_error",
		       err.msg, NULL);
out:
	if (db)
		app_db_put(a, db);
	free(b);
	if (removed)
		*removed = n;
	return rc;
}

static void *gc_main(void *arg)
{
	struct media *m = arg;
	struct timespec ts;

	pthread_mutex_lock(&m->gc_lock);
	while (!m->gc_stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += GC_INTERVAL_S;
		if (pthread_cond_timedwait(&m->gc_cond, &m->gc_lock, &ts) != ETIMEDOUT || m->gc_stop)
			continue;
		pthread_mutex_unlock(&m->gc_lock);
		if (media_gc(m->app, am_now(), NULL) != 0)
			am_log(AM_LOG_WARN, "upload_gc_failed", NULL);
		pthread_mutex_lock(&m->gc_lock);
	}
	pthread_mutex_unlock(&m->gc_lock);
	return NULL;
}

/* ---- upload creation (web role) ------------------------------------------------------ */

int media_upload_new(struct app *a, struct db *db, const uint8_t account_id[16],
		     const uint8_t project_id[16], const uint8_t version_id[16], int64_t length,
		     int64_t quota, char *url, size_t n, uint8_t upload_id[16])
{
	struct access_upload u;
	int64_t used = 0, now = am_now();
	int rc;

	if (length < MEDIA_SNIFF_LEN)
		return AM_ERR_INVAL; /* too short to be audio of any accepted type */
	if (length > a->conf.max_upload_size)
		return AM_ERR_TOOBIG;
	if ((rc = db_account_usage(db, account_id, NULL, &used)) != 0)
		return rc;
	if (used + length > (quota > 0 ? quota : MEDIA_ACCOUNT_QUOTA))
		return AM_ERR_TOOBIG;
	if ((rc = db_upload_create(db, project_id, account_id, version_id, length,
				   (now + ACCESS_UPLOAD_CAP + 3600) * 1000, upload_id)) != 0)
		return rc;
	memset(&u, 0, sizeof(u));
	memcpy(u.upload_id, upload_id, 16);
	memcpy(u.account_id, account_id, 16);
	memcpy(u.project_id, project_id, 16);
	memcpy(u.version_id, version_id, 16);
	u.max_size = length;
	u.expires = now + ACCESS_UPLOAD_CAP;
	return access_upload_sign(a, &u, url, n);
}
