/*
 * repo_mail.c: the tables of e-mail notifications (schema v4, docs/mail.md):
 * the kinds an owner turned on (account-wide bits in accounts.mail_on,
 * per-project overrides in projects.mail_on / mail_off), guest comments
 * waiting for the next per-project digest, the devices an owner signed in
 * from (only the SHA-256 of a random cookie), the events of new guest
 * comments whose mail the worker composes (schema v7), and the "mail"
 * wake-up job that makes a worker pump the outbox. Runs in the web role
 * (settings, events, devices: inside the transaction of the event) and in
 * the worker role (events, digests, scheduling). Nothing here holds
 * plaintext of user data: events and digest items are ids and times.
 */
#include <string.h>

#include "repo/repo_int.h"

/* ---- preferences --------------------------------------------------------------------- */

int db_mail_prefs_account_get(struct db *db, const uint8_t account_id[DB_ID_LEN], int64_t *on)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "SELECT mail_on FROM accounts WHERE id = $1", &st);

	*on = 0;
	if (rc)
		return rc;
	db_bind_id(st, 1, account_id);
	if ((rc = repo_row(st)) == 0)
		*on = db_column_int64(st, 0);
	db_finalize(st);
	return rc;
}

int db_mail_prefs_account_set(struct db *db, const uint8_t account_id[DB_ID_LEN], int64_t on)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "UPDATE accounts SET mail_on = $2 WHERE id = $1", &st);

	if (rc == 0) {
		db_bind_id(st, 1, account_id);
		db_bind_int64(st, 2, on);
	}
	return repo_done_one(rc, st);
}

int db_mail_prefs_project_get(struct db *db, const uint8_t account_id[DB_ID_LEN],
			      const uint8_t project_id[DB_ID_LEN], int64_t *on, int64_t *off)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT mail_on, mail_off FROM projects"
			    " WHERE id = $1 AND account_id = $2 AND deleted IS NULL",
			    &st);

	*on = *off = 0;
	if (rc)
		return rc;
	db_bind_id(st, 1, project_id);
	db_bind_id(st, 2, account_id);
	if ((rc = repo_row(st)) == 0) {
		*on = db_column_int64(st, 0);
		*off = db_column_int64(st, 1);
	}
	db_finalize(st);
	return rc;
}

int db_mail_prefs_project_set(struct db *db, const uint8_t account_id[DB_ID_LEN],
			      const uint8_t project_id[DB_ID_LEN], int64_t on, int64_t off)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "UPDATE projects SET mail_on = $3, mail_off = $4"
			    " WHERE id = $1 AND account_id = $2 AND deleted IS NULL",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_id(st, 2, account_id);
		db_bind_int64(st, 3, on);
		db_bind_int64(st, 4, off);
	}
	return repo_done_one(rc, st);
}

/* ---- digest items ----------------------------------------------------------------------- */

int db_mail_digest_add(struct db *db, const uint8_t account_id[DB_ID_LEN],
		       const uint8_t project_id[DB_ID_LEN], const uint8_t comment_id[DB_ID_LEN],
		       int64_t now, int64_t *oldest)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "INSERT INTO mail_digest_items (comment_id, project_id, account_id, created)"
		       " VALUES ($1, $2, $3, $4)",
		       &st);

	if (rc == 0) {
		db_bind_id(st, 1, comment_id);
		db_bind_id(st, 2, project_id);
		db_bind_id(st, 3, account_id);
		db_bind_int64(st, 4, now);
	}
	if ((rc = repo_done(rc, st, NULL)))
		return rc;
	st = NULL;
	rc = db_prepare(
	    db, "SELECT CAST(MIN(created) AS BIGINT) FROM mail_digest_items WHERE project_id = $1",
	    &st);
	if (rc)
		return rc;
	db_bind_id(st, 1, project_id);
	if ((rc = repo_row(st)) == 0)
		*oldest = db_column_int64(st, 0);
	db_finalize(st);
	return rc;
}

/* A due digest: the project and its owner. */
struct digest_due {
	uint8_t project_id[DB_ID_LEN];
	uint8_t account_id[DB_ID_LEN];
};

static int digest_due_row(struct db_stmt *st, union repo_key key, void *out)
{
	struct digest_due *d = out;
	int rc = db_column_id(st, 0, d->project_id);

	return rc ? rc : db_column_id(st, 1, d->account_id);
}

static int digest_due_emit(repo_cb *cb, void *ctx, const void *row)
{
	const struct digest_due *d = row;

	return ((int (*)(void *, const uint8_t *, const uint8_t *))cb)(ctx, d->project_id,
								       d->account_id);
}

int db_mail_digest_due(struct db *db, int64_t created_before, int limit,
		       int (*cb)(void *ctx, const uint8_t project_id[DB_ID_LEN],
				 const uint8_t account_id[DB_ID_LEN]),
		       void *ctx)
{
	struct digest_due d;
	struct repo_each e = {REPO_EACH_ROWS(digest_due_row, digest_due_emit, cb, ctx, &d),
			      .max = limit > 0 ? limit : 100};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT i.project_id, p.account_id FROM mail_digest_items i JOIN "
			    "projects p ON p.id = i.project_id"
			    " GROUP BY i.project_id, p.account_id HAVING MIN(i.created) <= $1 "
			    "ORDER BY MIN(i.created)"
			    " LIMIT $2",
			    &st);

	if (rc == 0) {
		db_bind_int64(st, 1, created_before);
		db_bind_int64(st, 2, e.max);
	}
	return repo_each(rc, st, &e);
}

int db_mail_digest_items(struct db *db, const uint8_t project_id[DB_ID_LEN], int limit,
			 int (*cb)(void *ctx, const uint8_t comment_id[DB_ID_LEN]), void *ctx)
{
	uint8_t cid[DB_ID_LEN];
	struct repo_each e = {REPO_EACH_ROWS(repo_id_row, repo_id_emit, cb, ctx, &cid),
			      .max = limit > 0 ? limit : 100};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT comment_id FROM mail_digest_items WHERE project_id = $1"
			    " ORDER BY created, comment_id LIMIT $2",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_int64(st, 2, e.max);
	}
	return repo_each(rc, st, &e);
}

int db_mail_digest_remove(struct db *db, const uint8_t project_id[DB_ID_LEN],
			  const uint8_t comment_id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db, "DELETE FROM mail_digest_items WHERE comment_id = $1 AND project_id = $2", &st);

	if (rc == 0) {
		db_bind_id(st, 1, comment_id);
		db_bind_id(st, 2, project_id);
	}
	return repo_done_one(rc, st);
}

/* The one BIGINT a MIN(...) query answers; AM_ERR_NOTFOUND when it is NULL
 * (no row matched). */
static int min_of(struct db *db, const char *sql, int64_t *out)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, sql, &st);

	if (rc)
		return rc;
	if ((rc = repo_row(st)) == 0) {
		if (db_column_is_null(st, 0))
			rc = AM_ERR_NOTFOUND;
		else
			*out = db_column_int64(st, 0);
	}
	db_finalize(st);
	return rc;
}

int db_mail_digest_oldest(struct db *db, int64_t *oldest)
{
	return min_of(db, "SELECT CAST(MIN(created) AS BIGINT) FROM mail_digest_items", oldest);
}

/* ---- devices ------------------------------------------------------------------------------ */

int db_device_seen(struct db *db, const uint8_t account_id[DB_ID_LEN], const uint8_t hash[32],
		   int64_t now, int *known)
{
	struct db_stmt *st = NULL;
	int64_t n = 0;
	int rc = db_prepare(
	    db,
	    "UPDATE known_devices SET last_seen = $3 WHERE account_id = $1 AND device_hash = $2",
	    &st);

	*known = 0;
	if (rc == 0) {
		db_bind_id(st, 1, account_id);
		db_bind_blob(st, 2, hash, 32);
		db_bind_int64(st, 3, now);
	}
	if ((rc = repo_done(rc, st, &n)) || n == 1) {
		*known = rc == 0;
		return rc;
	}
	st = NULL;
	rc = db_prepare(db,
			"INSERT INTO known_devices (account_id, device_hash, created, last_seen) "
			"VALUES ($1, $2, $3, $3)"
			" ON CONFLICT (account_id, device_hash) DO NOTHING",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, account_id);
		db_bind_blob(st, 2, hash, 32);
		db_bind_int64(st, 3, now);
	}
	return repo_done(rc, st, NULL);
}

/* ---- scheduling ----------------------------------------------------------------------------- */

int db_mail_next_due(struct db *db, int64_t *at)
{
	return min_of(db,
		      "SELECT CAST(MIN(next_attempt) AS BIGINT) FROM outbox WHERE state IN "
		      "('queued', 'sending')",
		      at);
}

int db_mail_wake(struct db *db, int64_t at)
{
	struct db_stmt *st = NULL;
	uint8_t id[DB_ID_LEN];
	int64_t n = 0;
	int rc = db_prepare(
	    db,
	    "SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE kind = 'mail' AND state = 'queued'"
	    " AND run_after <= $1",
	    &st);

	if (rc)
		return rc;
	db_bind_int64(st, 1, at);
	if ((rc = repo_row(st)) == 0)
		n = db_column_int64(st, 0);
	db_finalize(st);
	if (rc)
		return rc;
	if (n > 0)
		return 0;
	return db_job_enqueue(db, "mail", NULL, NULL, 0, 3, at, id);
}

int db_mail_purge_failed(struct db *db, int64_t before, int64_t *n)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db, "DELETE FROM outbox WHERE state = 'failed' AND next_attempt < $1", &st);

	if (rc == 0)
		db_bind_int64(st, 1, before);
	return repo_done(rc, st, n);
}

/* ---- events (schema v7) ---------------------------------------------------------------------- */

int db_mail_event_add(struct db *db, const uint8_t project_id[DB_ID_LEN],
		      const uint8_t comment_id[DB_ID_LEN], int64_t now)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "INSERT INTO mail_events (comment_id, project_id, next_attempt, created)"
		       " VALUES ($1, $2, $3, $3)",
		       &st);

	if (rc == 0) {
		db_bind_id(st, 1, comment_id);
		db_bind_id(st, 2, project_id);
		db_bind_int64(st, 3, now);
	}
	if ((rc = repo_done(rc, st, NULL)))
		return rc;
	return db_mail_wake(db, now);
}

int db_mail_event_due(struct db *db, int64_t now, int limit,
		      int (*cb)(void *ctx, const uint8_t comment_id[DB_ID_LEN]), void *ctx)
{
	uint8_t cid[DB_ID_LEN];
	struct repo_each e = {REPO_EACH_ROWS(repo_id_row, repo_id_emit, cb, ctx, &cid),
			      .max = limit > 0 ? limit : 100};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT comment_id FROM mail_events WHERE next_attempt <= $1"
			    " ORDER BY next_attempt, created, comment_id LIMIT $2",
			    &st);

	if (rc == 0) {
		db_bind_int64(st, 1, now);
		db_bind_int64(st, 2, e.max);
	}
	return repo_each(rc, st, &e);
}

int db_mail_event_take(struct db *db, const uint8_t comment_id[DB_ID_LEN],
		       struct db_mail_event *out)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "DELETE FROM mail_events WHERE comment_id = $1"
			    " RETURNING comment_id, project_id, attempts, created",
			    &st);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	db_bind_id(st, 1, comment_id);
	if ((rc = repo_row(st)) == 0 && (rc = db_column_id(st, 0, out->comment_id)) == 0 &&
	    (rc = db_column_id(st, 1, out->project_id)) == 0) {
		out->attempts = db_column_int64(st, 2);
		out->created = db_column_int64(st, 3);
	}
	return repo_done(rc, st, NULL);
}

int db_mail_event_failed(struct db *db, const uint8_t comment_id[DB_ID_LEN], int64_t next_attempt,
			 int64_t max_attempts, int *dropped)
{
	struct db_stmt *st = NULL;
	int64_t n = 0;
	int rc = db_prepare(db,
			    "UPDATE mail_events SET attempts = attempts + 1, next_attempt = $2"
			    " WHERE comment_id = $1",
			    &st);

	*dropped = 0;
	if (rc == 0) {
		db_bind_id(st, 1, comment_id);
		db_bind_int64(st, 2, next_attempt);
	}
	if ((rc = repo_done_one(rc, st)))
		return rc;
	st = NULL;
	rc =
	    db_prepare(db, "DELETE FROM mail_events WHERE comment_id = $1 AND attempts >= $2", &st);
	if (rc == 0) {
		db_bind_id(st, 1, comment_id);
		db_bind_int64(st, 2, max_attempts);
	}
	rc = repo_done(rc, st, &n);
	*dropped = rc == 0 && n > 0;
	return rc;
}

int db_mail_event_next(struct db *db, int64_t *at)
{
	return min_of(db, "SELECT CAST(MIN(next_attempt) AS BIGINT) FROM mail_events", at);
}
