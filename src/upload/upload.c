/*
 * upload.c: the two ends of an upload's life that need no audio byte: its
 * creation for an owner (a database row and a signed tus URL for the media
 * role), and its end without completion: a refused first chunk
 * (upload_refuse) and the removal of uploads abandoned before completion
 * (their stored parts, then their rows); either way the version is left
 * 'failed' with a reason, never 'uploading'. Creation runs in the web process, inside
 * the owner's API request and its transaction, and opens no store; the
 * clean-up runs in the media process (its clean-up thread) and in the
 * worker's housekeeping, and deletes ciphertext by store key and rows by id.
 */
#include "upload/upload.h"

#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "app/app.h"
#include "repo/repo.h"
#include "store/store.h"
#include "util/util.h"

#define GC_BATCH 32

/* ---- upload creation (web role) ------------------------------------------------------ */

int upload_new(struct app *a, struct db *db, const uint8_t account_id[16],
	       const uint8_t project_id[16], const uint8_t version_id[16], int64_t length,
	       int64_t quota, char *url, size_t n, uint8_t upload_id[16])
{
	struct access_upload u;
	int64_t used = 0, now = am_now();
	int rc;

	if (length < UPLOAD_SNIFF_LEN)
		return AM_ERR_INVAL; /* too short to be audio of any accepted type */
	if (length > a->conf.max_upload_size)
		return AM_ERR_TOOBIG;
	if ((rc = db_account_usage(db, account_id, NULL, &used)) != 0)
		return rc;
	if (used + length > (quota > 0 ? quota : UPLOAD_ACCOUNT_QUOTA))
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

/* ---- refusal (media role) ---------------------------------------------------------------- */

/* The row goes and the version fails in one transaction, so that no reader
 * ever sees a refused file's version 'uploading' without an upload. */
static int end_upload(struct db *db, const struct db_upload *u, const char *why)
{
	int rc;

	if ((rc = db_begin_write(db)))
		return rc;
	if ((rc = db_upload_delete(db, u->project_id, u->id)) ||
	    (rc = db_version_set_state(db, u->project_id, u->version_id, "failed", 0, why))) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

int upload_refuse(struct app *a, const struct db_upload *u, const uint8_t token[16],
		  const char *why)
{
	struct db *db = NULL;
	int rc;

	(void)token; /* the caller holds the lease: nobody else writes this row */
	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = end_upload(db, u, why);
	app_db_put(a, db);
	return rc;
}

/* ---- abandoned uploads (media role, housekeeping) --------------------------------------- */

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
		       "store_error", err.msg);
	return rc;
}

int upload_gc_abandoned(struct app *a, int64_t now, int *removed)
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
		    end_upload(db, &b->u[i], UPLOAD_EXPIRED) == 0)
			n++;
	}
	if (store_gc_temp(a->store, now - 86400, NULL, &err) != 0)
		am_log(AM_LOG_WARN, "upload_gc_store_failed", "step", "temporaries", "store_error",
		       err.msg);
out:
	if (db)
		app_db_put(a, db);
	free(b);
	if (removed)
		*removed = n;
	return rc;
}
