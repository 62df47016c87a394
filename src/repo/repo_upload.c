/*
 * repo_upload.c: the repository of resumable uploads (schema v3, docs/media.md):
 * the upload row an owner's request creates, the lease that lets exactly one
 * PATCH write at a time, the parts (AM1 objects) each PATCH stored, the
 * atomic completion (original object + version state + transcode job), the
 * per-account usage for quotas, the fully received uploads a crashed media
 * node never completed, and the clean-up of abandoned uploads. Runs in the
 * web role (create), the media role and the worker's housekeeping (the
 * recovery and clean-up).
 */
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

int db_upload_create(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const uint8_t account_id[DB_ID_LEN], const uint8_t version_id[DB_ID_LEN],
		     int64_t length, int64_t expires_ms, uint8_t id_out[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int64_t now = am_now_ms();
	int rc;

	if (length < 0)
		return db_set_err(db, AM_ERR_INVAL, "negative upload length");
	if ((rc = crypto_random_id(id_out)))
		return rc;
	rc = db_prepare(
	    db,
	    "INSERT INTO uploads (id, project_id, account_id, version_id, length, created, updated,"
	    " expires) SELECT $1, $2, $3, $4, $5, $6, $6, $7 FROM track_versions v"
	    " JOIN projects p ON p.id = v.project_id"
	    " WHERE v.id = $4 AND v.project_id = $2 AND p.account_id = $3 AND p.deleted IS NULL"
	    " AND v.state = 'uploading'",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id_out);
		db_bind_id(st, 2, project_id);
		db_bind_id(st, 3, account_id);
		db_bind_id(st, 4, version_id);
		db_bind_int64(st, 5, length);
		db_bind_int64(st, 6, now);
		db_bind_int64(st, 7, expires_ms);
	}
	return repo_done_one(rc, st);
}

#define UPLOAD_COLS                                                                                \
	"SELECT id, project_id, account_id, version_id, length, received, parts, state, "          \
	"lock_until,"                                                                              \
	" expires, created FROM uploads "

static int upload_row(struct db_stmt *st, union repo_key key, void *out)
{
	struct db_upload *u = out;

	memset(u, 0, sizeof(*u));
	db_column_id(st, 0, u->id);
	db_column_id(st, 1, u->project_id);
	db_column_id(st, 2, u->account_id);
	db_column_id(st, 3, u->version_id);
	u->length = db_column_int64(st, 4);
	u->received = db_column_int64(st, 5);
	u->parts = db_column_int64(st, 6);
	repo_text_col(st, 7, u->state, sizeof(u->state));
	u->lock_until = db_column_int64(st, 8);
	u->expires = db_column_int64(st, 9);
	u->created = db_column_int64(st, 10);
	return 0;
}

REPO_EMIT(upload_emit, struct db_upload)

int db_upload_get(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		  struct db_upload *out)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, UPLOAD_COLS "WHERE id = $1 AND project_id = $2", &st);

	if (rc)
		return rc;
	db_bind_id(st, 1, id);
	db_bind_id(st, 2, project_id);
	if ((rc = repo_row(st)) == 0)
		upload_row(st, (union repo_key){0}, out);
	db_finalize(st);
	return rc;
}

/* The lease's writes (take, extend, give back) run on the media role's HTTP
 * threads and commit lazily (db_lazy_commit): a durable commit waits for the
 * disk (an fsync of 5-100 ms on a VM), and every other connection of that
 * thread, a new TLS handshake included, waited with it. Losing one of them in
 * a crash is harmless: the PATCH that held the lease ended with the process,
 * a lost take or extension is a lease not held (the part commit, durable,
 * checks the token), a lost give-back is a lease that expires by itself. */
static int lease_write(struct db *db, int prep_rc, struct db_stmt *st)
{
	int lazy = prep_rc == 0 && !db_in_tx(db) && db_lazy_commit(db, 1) == 0;
	int rc = repo_done_one(prep_rc, st);

	if (lazy && db_lazy_commit(db, 0) != 0 && rc == 0)
		rc = AM_ERR_DB;
	return rc == AM_ERR_NOTFOUND ? AM_ERR_CONFLICT : rc;
}

int db_upload_lock(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		   int64_t offset, const uint8_t token[DB_ID_LEN], int64_t now, int64_t lease_ms)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "UPDATE uploads SET lock_token = $3, lock_until = $5, updated = $4"
		       " WHERE id = $1 AND project_id = $2 AND state = 'open' AND lock_until <= $4"
		       " AND received = $6",
		       &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_id(st, 3, token);
		db_bind_int64(st, 4, now);
		db_bind_int64(st, 5, now + lease_ms);
		db_bind_int64(st, 6, offset);
	}
	return lease_write(db, rc, st);
}

int db_upload_extend(struct db *db, const uint8_t id[DB_ID_LEN], const uint8_t token[DB_ID_LEN],
		     int64_t now, int64_t lease_ms)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db, "UPDATE uploads SET lock_until = $3 WHERE id = $1 AND lock_token = $2", &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, token);
		db_bind_int64(st, 3, now + lease_ms);
	}
	return lease_write(db, rc, st);
}

int db_upload_unlock(struct db *db, const uint8_t id[DB_ID_LEN], const uint8_t token[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "UPDATE uploads SET lock_until = 0, lock_token = NULL WHERE id = $1 "
			    "AND lock_token = $2",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, token);
	}
	return repo_done(rc, st, NULL);
}

int db_upload_add_part(struct db *db, const uint8_t id[DB_ID_LEN], const uint8_t token[DB_ID_LEN],
		       const struct db_upload_part *p)
{
	struct db_stmt *st = NULL;
	int rc, own = !db_in_tx(db);

	if (own && (rc = db_begin_write(db)))
		return rc;
	rc = db_prepare(
	    db,
	    "UPDATE uploads SET received = received + $3, parts = parts + 1, updated = $4"
	    " WHERE id = $1 AND lock_token = $2 AND state = 'open' AND received = $5 AND parts = "
	    "$6",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, token);
		db_bind_int64(st, 3, p->plain_size);
		db_bind_int64(st, 4, am_now_ms());
		db_bind_int64(st, 5, p->start);
		db_bind_int64(st, 6, p->seq);
	}
	if ((rc = repo_done_one(rc, st)) != 0) {
		rc = rc == AM_ERR_NOTFOUND ? AM_ERR_CONFLICT : rc;
		goto out;
	}
	rc = db_prepare(
	    db,
	    "INSERT INTO upload_parts (upload_id, seq, part_id, wrapped_dek, start, plain_size,"
	    " cipher_size, store_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_int64(st, 2, p->seq);
		db_bind_id(st, 3, p->part_id);
		db_bind_blob(st, 4, p->wrapped_dek, p->wrapped_dek_len);
		db_bind_int64(st, 5, p->start);
		db_bind_int64(st, 6, p->plain_size);
		db_bind_int64(st, 7, p->cipher_size);
		db_bind_text(st, 8, p->store_key);
	}
	rc = repo_done(rc, st, NULL);
out:
	if (own)
		rc = rc ? (db_rollback(db), rc) : db_commit(db);
	return rc;
}

static int part_row(struct db_stmt *st, union repo_key key, void *out)
{
	struct db_upload_part *p = out;
	const void *w;

	memset(p, 0, sizeof(*p));
	p->seq = db_column_int64(st, 0);
	db_column_id(st, 1, p->part_id);
	w = db_column_blob(st, 2, &p->wrapped_dek_len);
	if (!w || p->wrapped_dek_len > sizeof(p->wrapped_dek))
		return db_set_err(db_stmt_db(st), AM_ERR_DB, "upload part: bad wrapped key");
	memcpy(p->wrapped_dek, w, p->wrapped_dek_len);
	p->start = db_column_int64(st, 3);
	p->plain_size = db_column_int64(st, 4);
	p->cipher_size = db_column_int64(st, 5);
	repo_text_col(st, 6, p->store_key, sizeof(p->store_key));
	return 0;
}

REPO_EMIT(part_emit, struct db_upload_part)

int db_upload_parts(struct db *db, const uint8_t id[DB_ID_LEN],
		    int (*cb)(void *ctx, const struct db_upload_part *p), void *ctx)
{
	struct db_upload_part p;
	struct repo_each e = {REPO_EACH_ROWS(part_row, part_emit, cb, ctx, &p)};
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "SELECT seq, part_id, wrapped_dek, start, plain_size, cipher_size, store_key"
		       " FROM upload_parts WHERE upload_id = $1 ORDER BY seq",
		       &st);

	if (rc == 0)
		db_bind_id(st, 1, id);
	return repo_each(rc, st, &e);
}

int db_upload_complete(struct db *db, const struct db_upload *u, const uint8_t token[DB_ID_LEN],
		       const struct db_object *orig, const void *payload, size_t payload_len)
{
	struct db_stmt *st = NULL;
	uint8_t job[DB_ID_LEN];
	int rc;

	if ((rc = db_begin_write(db)))
		return rc;
	rc = db_prepare(db,
			"UPDATE uploads SET state = 'complete', object_id = $3, lock_until = 0, "
			"lock_token = NULL,"
			" updated = $4 WHERE id = $1 AND lock_token = $2 AND state = 'open' AND "
			"received = length",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, u->id);
		db_bind_id(st, 2, token);
		db_bind_id(st, 3, orig->id);
		db_bind_int64(st, 4, am_now_ms());
	}
	if ((rc = repo_done_one(rc, st)) != 0) {
		rc = rc == AM_ERR_NOTFOUND ? AM_ERR_CONFLICT : rc;
		goto out;
	}
	if ((rc = db_object_create(db, u->project_id, orig)) ||
	    (rc = db_object_ready(db, u->project_id, orig->id, orig->plain_size,
				  orig->cipher_size)) ||
	    (rc = db_version_set_state(db, u->project_id, u->version_id, "queued", 0, NULL)) ||
	    (rc = db_job_enqueue(db, "transcode", u->project_id, payload, payload_len, 3, 0, job)))
		goto out;
	/* The parts that became the original (or were copied into it) are gone
	 * from the upload's books; their store objects are deleted by the caller. */
	rc = db_prepare(db, "DELETE FROM upload_parts WHERE upload_id = $1", &st);
	if (rc == 0)
		db_bind_id(st, 1, u->id);
	rc = repo_done(rc, st, NULL);
out:
	if (rc) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

int db_account_usage(struct db *db, const uint8_t account_id[DB_ID_LEN],
		     const uint8_t *except_upload, int64_t *bytes)
{
	static const uint8_t none[DB_ID_LEN];
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db,
	    "SELECT CAST(COALESCE((SELECT SUM(o.plain_size) FROM objects o JOIN projects p"
	    " ON p.id = o.project_id WHERE p.account_id = $1 AND p.deleted IS NULL"
	    " AND o.kind = 'original' AND o.state <> 'deleting'), 0) +"
	    " COALESCE((SELECT SUM(length) FROM uploads WHERE account_id = $1 AND state = 'open'"
	    " AND id <> $2), 0) AS BIGINT)",
	    &st);

	if (rc)
		return rc;
	db_bind_id(st, 1, account_id);
	db_bind_id(st, 2, except_upload ? except_upload : none);
	if ((rc = repo_row(st)) == 0)
		*bytes = db_column_int64(st, 0);
	db_finalize(st);
	return rc;
}

int db_upload_list_expired(struct db *db, int64_t now, int limit,
			   int (*cb)(void *ctx, const struct db_upload *u), void *ctx)
{
	struct db_upload u;
	struct repo_each e = {REPO_EACH_ROWS(upload_row, upload_emit, cb, ctx, &u), .max = limit};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    UPLOAD_COLS "WHERE state = 'open' AND expires < $1 AND lock_until <= $1"
					" ORDER BY expires LIMIT $2",
			    &st);

	if (rc == 0) {
		db_bind_int64(st, 1, now);
		db_bind_int64(st, 2, limit);
	}
	return repo_each(rc, st, &e);
}

int db_upload_list_received(struct db *db, int64_t now, int64_t expires_after, int limit,
			    int (*cb)(void *ctx, const struct db_upload *u), void *ctx)
{
	struct db_upload u;
	struct repo_each e = {REPO_EACH_ROWS(upload_row, upload_emit, cb, ctx, &u), .max = limit};
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       UPLOAD_COLS "WHERE state = 'open' AND received = length AND lock_until <= $1"
				   " AND expires > $2 ORDER BY expires LIMIT $3",
		       &st);

	if (rc == 0) {
		db_bind_int64(st, 1, now);
		db_bind_int64(st, 2, expires_after);
		db_bind_int64(st, 3, limit);
	}
	return repo_each(rc, st, &e);
}

int db_upload_delete(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "DELETE FROM uploads WHERE id = $1 AND project_id = $2", &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
	}
	return repo_done_one(rc, st);
}
