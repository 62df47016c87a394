/*
 * repo_translog.c: the rows of the tamper-evident access log (schema v16,
 * repo.h "the access log"): the per-project head (size and the tree's right
 * edge) and the entries. The tree is computed by src/translog/; this file
 * only stores and reads it. Runs in every role that appends (web, media,
 * worker) and in the owner's log download; nothing here is sealed because
 * an entry holds ids and a time only (translog.h).
 */
#include <string.h>

#include "repo/repo_int.h"

static int head_create(struct db *db, const uint8_t project_id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "INSERT INTO translog_heads (project_id, size, frontier) VALUES ($1, 0,"
			    " NULL) ON CONFLICT (project_id) DO NOTHING",
			    &st);

	if (rc == 0)
		db_bind_id(st, 1, project_id);
	if ((rc = repo_done(rc, st, NULL)))
		return rc;
	/* A no-op write: it takes the row lock (PostgreSQL) for the rest of
	 * the caller's transaction. */
	rc = db_prepare(db, "UPDATE translog_heads SET size = size WHERE project_id = $1", &st);
	if (rc == 0)
		db_bind_id(st, 1, project_id);
	return repo_done_one(rc, st);
}

int db_translog_head(struct db *db, const uint8_t project_id[DB_ID_LEN], int lock, int64_t *size,
		     uint8_t *frontier, size_t cap, size_t *len)
{
	struct db_stmt *st = NULL;
	const void *p;
	size_t n = 0;
	int rc;

	*size = 0;
	*len = 0;
	if (lock && (rc = head_create(db, project_id)))
		return rc;
	rc = db_prepare(db, "SELECT size, frontier FROM translog_heads WHERE project_id = $1", &st);
	if (rc)
		return rc;
	db_bind_id(st, 1, project_id);
	if ((rc = repo_row(st)) == AM_ERR_NOTFOUND) {
		rc = 0; /* no entry yet */
		goto out;
	}
	if (rc)
		goto out;
	*size = db_column_int64(st, 0);
	p = db_column_blob(st, 1, &n);
	if (n > cap) {
		rc = db_set_err(db, AM_ERR_DB, "translog_heads: frontier too long");
		goto out;
	}
	if (n)
		memcpy(frontier, p, n);
	*len = n;
out:
	db_finalize(st);
	return rc;
}

int db_translog_put(struct db *db, const uint8_t project_id[DB_ID_LEN],
		    const struct db_translog_entry *e, const uint8_t *frontier, size_t flen)
{
	struct db_stmt *st = NULL;
	int rc;

	if (e->len > DB_TRANSLOG_ENTRY_MAX || flen > DB_TRANSLOG_FRONTIER)
		return AM_ERR_TOOBIG;
	rc = db_prepare(db,
			"INSERT INTO translog_entries (project_id, idx, entry, root, created)"
			" VALUES ($1, $2, $3, $4, $5)",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_int64(st, 2, e->index);
		db_bind_blob(st, 3, e->entry, e->len);
		db_bind_blob(st, 4, e->root, sizeof(e->root));
		db_bind_int64(st, 5, e->created);
	}
	if ((rc = repo_done(rc, st, NULL)))
		return rc;
	rc = db_prepare(
	    db, "UPDATE translog_heads SET size = $2, frontier = $3 WHERE project_id = $1", &st);
	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_int64(st, 2, e->index + 1);
		db_bind_blob(st, 3, flen ? frontier : NULL, flen);
	}
	return repo_done_one(rc, st);
}

static int entry_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_translog_entry *out = outp;
	const void *p;
	size_t n = 0;

	(void)key;
	memset(out, 0, sizeof(*out));
	out->index = db_column_int64(st, 0);
	p = db_column_blob(st, 1, &n);
	if (n > sizeof(out->entry))
		return AM_ERR_DB;
	if (n)
		memcpy(out->entry, p, n);
	out->len = n;
	/* A root of the wrong length is kept as zeros: the verifier then
	 * names this entry, which is what a tampered row should get. */
	p = db_column_blob(st, 2, &n);
	if (n == sizeof(out->root))
		memcpy(out->root, p, n);
	out->created = db_column_int64(st, 3);
	return 0;
}

REPO_EMIT(entry_emit, struct db_translog_entry)

int db_translog_list(struct db *db, const uint8_t project_id[DB_ID_LEN], int64_t from,
		     int64_t limit, int (*cb)(void *ctx, const struct db_translog_entry *e),
		     void *ctx)
{
	struct db_translog_entry row;
	struct repo_each e = {REPO_EACH_ROWS(entry_row, entry_emit, cb, ctx, &row), .max = limit};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT idx, entry, root, created FROM translog_entries"
			    " WHERE project_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_int64(st, 2, from);
		db_bind_int64(st, 3, limit > 0 ? limit : INT64_MAX);
	}
	return repo_each(rc, st, &e);
}
