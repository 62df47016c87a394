/*
 * housekeeping.c: the worker's periodic clean-up (docs/worker.md): what the
 * other roles leave behind on purpose so that their requests stay short, and
 * what a crashed node left half done: fully received uploads never completed
 * (completed now, once: upload_recover claims each with its lease),
 * abandoned uploads and stale store temporaries, objects of deleted tracks,
 * the ciphertext and rows of crypto-shredded projects, orphaned objects (once
 * a day: committed by a process that died before the row naming them),
 * closed accounts, expired sessions, drained rate limits, old finished jobs,
 * and the IP-pseudonym ratchet. Runs in the worker (trusted); the clean-up reads no
 * plaintext: it deletes ciphertext by store key and rows by id (only the
 * completion of a received upload decrypts, to verify and assemble it, as
 * the media role does). Store objects go before the rows that name them,
 * so a crash in between leaves rows whose objects are gone, and the next run
 * deletes them again (idempotent).
 */
#include "worker/worker.h"

#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "repo/repo.h"
#include "store/store.h"
#include "upload/upload.h"
#include "util/util.h"

#define HK_BATCH       100
#define HK_UPLOAD_SCAN 1000
#define HK_JOB_KEEP_MS (INT64_C(7) * 24 * 3600 * 1000) /* finished jobs kept a week */
/* Orphans: an object no row names, committed at least a day ago (every
 * writer records its object within seconds of the commit, so a day is far
 * past any live put-then-record), looked for once a day cluster-wide, at
 * most HK_ORPHAN_MAX deleted per sweep. */
#define HK_ORPHAN_AGE_S	   (24 * 3600)
#define HK_ORPHAN_EVERY_MS (INT64_C(24) * 3600 * 1000)
#define HK_ORPHAN_MAX	   1000
#define HK_ORPHAN_KEY	   "housekeeping-orphans"

/* A batch of (project, id, store key) collected before acting, so that no
 * statement is open while rows are deleted. */
struct hk_item {
	uint8_t project[16], id[16];
	char key[DB_STOREKEY_MAX + 1];
};

struct hk_list {
	struct hk_item *v;
	size_t n, cap, max;
	const uint8_t *only_project; /* filter (uploads) */
};

static int hk_add(struct hk_list *l, const uint8_t project[16], const uint8_t id[16],
		  const char *key)
{
	if (l->n >= l->max)
		return 1; /* stop: the rest waits for the next run */
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct hk_item *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return AM_ERR_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	memcpy(l->v[l->n].project, project, 16);
	memcpy(l->v[l->n].id, id, 16);
	am_strlcpy(l->v[l->n].key, key ? key : "", sizeof(l->v[l->n].key));
	l->n++;
	return 0;
}

static int hk_object(void *ctx, const struct db_object *o)
{
	return hk_add(ctx, o->project_id, o->id, o->store_key);
}

static int hk_project(void *ctx, const uint8_t id[DB_ID_LEN])
{
	return hk_add(ctx, id, id, NULL);
}

static int hk_upload(void *ctx, const struct db_upload *u)
{
	struct hk_list *l = ctx;

	if (l->only_project && memcmp(l->only_project, u->project_id, 16) != 0)
		return 0;
	return hk_add(l, u->project_id, u->id, NULL);
}

/* A task's store and the detail of its store calls. */
struct hk_store {
	struct store *s;
	struct store_err *err;
};

static int hk_part(void *ctx, const struct db_upload_part *p)
{
	const struct hk_store *hs = ctx;

	return store_delete(hs->s, p->store_key, hs->err);
}

static int listed(int rc)
{
	return rc == 1 ? 0 : rc; /* a full batch is not an error */
}

/* Objects of deleted tracks (state 'deleting'): ciphertext, then the row. */
static int hk_deleting(struct app *a, struct db *db, int *n, struct store_err *err)
{
	struct hk_list l = {.max = HK_BATCH};
	int rc = listed(db_object_list_deleting(db, HK_BATCH, hk_object, &l));

	for (size_t i = 0; rc == 0 && i < l.n; i++)
		if ((rc = store_delete(a->store, l.v[i].key, err)) == 0 &&
		    (rc = db_object_delete(db, l.v[i].project, l.v[i].id)) == 0)
			(*n)++;
	free(l.v);
	return rc;
}

/* Every stored byte of one shredded project: its objects and the parts of
 * its still-open uploads (which would otherwise lose their rows with the
 * project). Its key is already gone; this frees the space. */
static int hk_project_store(struct app *a, struct db *db, const uint8_t project[16],
			    struct store_err *err)
{
	struct hk_list objs = {.max = SIZE_MAX}, ups = {.max = HK_UPLOAD_SCAN};
	struct hk_store hs = {a->store, err};
	int rc = db_object_list(db, project, hk_object, &objs);

	ups.only_project = project;
	for (size_t i = 0; rc == 0 && i < objs.n; i++)
		rc = store_delete(a->store, objs.v[i].key, err);
	if (rc == 0)
		rc = listed(db_upload_list_expired(db, INT64_MAX, HK_UPLOAD_SCAN, hk_upload, &ups));
	for (size_t i = 0; rc == 0 && i < ups.n; i++)
		rc = db_upload_parts(db, ups.v[i].id, hk_part, &hs);
	free(objs.v);
	free(ups.v);
	return rc;
}

static int hk_projects(struct app *a, struct db *db, int *n, struct store_err *err)
{
	struct hk_list l = {.max = HK_BATCH};
	int rc = listed(db_project_list_deleted(db, hk_project, &l));

	for (size_t i = 0; rc == 0 && i < l.n; i++)
		if ((rc = hk_project_store(a, db, l.v[i].id, err)) == 0 &&
		    (rc = db_project_purge(db, l.v[i].id)) == 0)
			(*n)++;
	free(l.v);
	return rc;
}

/* The namespaces whose objects rows name (media_upload.c, upload_complete.c,
 * job_transcode.c). "probe/" is the storage check's own, and anything else
 * is left alone. */
static const char *const hk_orphan_ns[] = {"orig/", "upart/", "stream/", "peaks/"};

struct hk_orphans {
	struct db *db;
	int64_t before; /* seconds: only objects committed earlier */
	char (*keys)[STORE_KEY_MAX];
	size_t n;
};

/* store_list callback: collect old objects that no row names. A failed
 * query keeps the object. */
static int hk_orphan_cb(void *arg, const char *key, const struct store_info *info)
{
	struct hk_orphans *o = arg;
	int named = 1;

	if (info->mtime >= o->before || db_store_key_named(o->db, key, &named) != 0 || named)
		return 0;
	if (o->n == HK_ORPHAN_MAX)
		return 1; /* the rest waits for the next sweep */
	am_strlcpy(o->keys[o->n++], key, STORE_KEY_MAX);
	return 0;
}

/* Delete orphaned objects, once a day across the cluster. Each is looked up
 * again right before its delete. */
static int hk_orphans(struct app *a, struct db *db, int64_t now_ms, int *n, struct store_err *err)
{
	struct hk_orphans o = {.db = db, .before = now_ms / 1000 - HK_ORPHAN_AGE_S};
	int64_t retry = 0;
	int rc, named;

	if (db_rate_take(db, HK_ORPHAN_KEY, sizeof(HK_ORPHAN_KEY) - 1, now_ms, HK_ORPHAN_EVERY_MS,
			 1, &retry) != 0)
		return 0; /* swept within the last day */
	if (!(o.keys = calloc(HK_ORPHAN_MAX, sizeof(*o.keys))))
		return AM_ERR_NOMEM;
	rc = 0;
	for (size_t i = 0; rc == 0 && o.n < HK_ORPHAN_MAX && i < AM_ARRAY_LEN(hk_orphan_ns); i++)
		rc = listed(store_list(a->store, hk_orphan_ns[i], hk_orphan_cb, &o, err));
	for (size_t i = 0; rc == 0 && i < o.n; i++)
		if ((rc = db_store_key_named(db, o.keys[i], &named)) == 0 && !named &&
		    (rc = store_delete(a->store, o.keys[i], err)) == 0) {
			am_log(AM_LOG_INFO, "housekeeping_orphan_deleted", "key", o.keys[i]);
			(*n)++;
		}
	free(o.keys);
	return rc;
}

/* Note a task's failure, with the store's reason when its latest store call
 * failed (err: the detail of the task's store calls, "" unless the latest
 * failed; NULL for a task that logs its own), and start the next task's
 * detail empty. */
static void first(int *rc, int r, const char *task, struct store_err *err)
{
	const char *why = err ? err->msg : "";

	if (r != 0) {
		am_log(AM_LOG_WARN, "housekeeping_task_failed", "task", task, "error",
		       am_strerror(r), "store_error", *why ? why : NULL);
		if (*rc == 0)
			*rc = r;
	}
	if (err)
		err->msg[0] = 0;
}

int worker_housekeeping(struct app *a, int64_t now_ms, struct worker_hk_stats *st)
{
	struct worker_hk_stats dummy = {0};
	struct store_err err = {""};
	struct db *db = NULL;
	int rc = 0, r;

	st = st ? st : &dummy;
	memset(st, 0, sizeof(*st));
	/* Before the clean-up: a received upload is completed, not removed. */
	first(&rc, upload_recover(a, now_ms, &st->recovered, &err), "received uploads", &err);
	first(&rc, upload_gc_abandoned(a, now_ms / 1000, &st->uploads), "uploads", NULL);
	if ((r = app_db_get(a, &db)) != 0) {
		first(&rc, r, "database", NULL);
		return rc;
	}
	first(&rc, hk_deleting(a, db, &st->objects, &err), "deleted objects", &err);
	first(&rc, hk_projects(a, db, &st->projects, &err), "shredded projects", &err);
	first(&rc, hk_orphans(a, db, now_ms, &st->orphans, &err), "orphaned objects", &err);
	first(&rc, db_account_purge_closed(db, &st->accounts), "closed accounts", NULL);
	first(&rc, db_session_purge(db, now_ms, &st->sessions), "sessions", NULL);
	first(&rc, db_rate_purge(db, now_ms), "rate limits", NULL);
	first(&rc, db_job_purge(db, now_ms - HK_JOB_KEEP_MS, &st->jobs), "jobs", NULL);
	app_db_put(a, db);
	first(&rc, app_ip_advance(a, &st->ip_advanced), "ip ratchet", NULL);
	return rc;
}
