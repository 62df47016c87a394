/*
 * repo_queue.c: the background-work tables: the leased job queue, the
 * e-mail outbox and the GCRA rate-limit state shared between nodes. Runs in
 * the worker role (claims) and the web/media roles (enqueue, rate limits).
 * Claims are atomic on both engines: PostgreSQL locks the chosen row with
 * FOR UPDATE SKIP LOCKED so concurrent workers pass over each other's rows;
 * SQLite runs the claim inside a BEGIN IMMEDIATE transaction, which admits
 * one writer at a time. Outbox mail is sealed under the account field key.
 * Enqueueing a due job wakes the workers when its transaction commits
 * (db_notify: in this process, and PostgreSQL's NOTIFY for the others).
 */
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

/* Copy an error text for storage: printable ASCII only (any engine accepts
 * it, nothing can be smuggled into a log line), truncated to the limit. */
static void clean_text(const char *in, char *out, size_t outsz)
{
	size_t o = 0;

	for (; in && *in && o + 1 < outsz; in++)
		out[o++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
	out[o] = 0;
}

int db_job_enqueue(struct db *db, const char *kind, const uint8_t *project_id, const void *payload,
		   size_t payload_len, int64_t max_attempts, int64_t run_after,
		   uint8_t id_out[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int64_t now = am_now_ms();
	int rc;

	if (!kind || !*kind || strlen(kind) > DB_KIND_MAX || payload_len > DB_PAYLOAD_MAX ||
	    max_attempts < 1)
		return db_set_err(db, AM_ERR_INVAL, "job kind, payload or attempts out of range");
	if ((rc = crypto_random_id(id_out)))
		return rc;
	rc = db_prepare(db,
			"INSERT INTO jobs (id, kind, project_id, payload, max_attempts, run_after, "
			"created, updated)"
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id_out);
		db_bind_text(st, 2, kind);
		db_bind_id(st, 3, project_id);
		db_bind_blob(st, 4, payload ? payload : "", payload ? payload_len : 0);
		db_bind_int64(st, 5, max_attempts);
		db_bind_int64(st, 6, run_after > 0 ? run_after : now);
		db_bind_int64(st, 7, now);
	}
	rc = repo_done(rc, st, NULL);
	/* Due now: wake the workers at commit (docs/worker.md "Wake-ups"); a
	 * later job is found by their poll. */
	if (rc == 0 && run_after <= now)
		rc = db_notify(db);
	return rc;
}

#define JOB_COLS                                                                                   \
	"id, kind, project_id, payload, state, attempts, max_attempts, run_after, lease_until, "   \
	"worker,"                                                                                  \
	" last_error, created, updated"

static int job_row(struct db_stmt *st, struct db_job *out)
{
	const void *p;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)))
		return rc;
	repo_text_col(st, 1, out->kind, sizeof(out->kind));
	out->has_project = repo_opt_id(st, 2, out->project_id);
	p = db_column_blob(st, 3, &n);
	if (n > DB_PAYLOAD_MAX)
		return db_set_err(db_stmt_db(st), AM_ERR_DB, "job payload too long");
	if (p && n)
		memcpy(out->payload, p, n);
	out->payload_len = n;
	repo_text_col(st, 4, out->state, sizeof(out->state));
	out->attempts = db_column_int64(st, 5);
	out->max_attempts = db_column_int64(st, 6);
	out->run_after = db_column_int64(st, 7);
	out->lease_until = db_column_int64(st, 8);
	repo_text_col(st, 9, out->worker, sizeof(out->worker));
	repo_text_col(st, 10, out->last_error, sizeof(out->last_error));
	out->created = db_column_int64(st, 11);
	out->updated = db_column_int64(st, 12);
	return 0;
}

static int job_take(struct db *db, const char *worker, const char *kind, int64_t now,
		    int64_t lease_ms, struct db_job *out)
{
	struct db_stmt *st = NULL;
	char sql[1024];
	int rc;

	snprintf(sql, sizeof(sql),
		 "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = $2, "
		 "worker = $3,"
		 " updated = $1 WHERE id = (SELECT id FROM jobs WHERE"
		 " ((state = 'queued' AND run_after <= $1) OR (state = 'running' AND lease_until "
		 "<= $1))%s"
		 " ORDER BY run_after, created, id LIMIT 1%s) RETURNING " JOB_COLS,
		 kind ? " AND kind = $4" : "",
		 db_engine(db) == DB_PGSQL ? " FOR UPDATE SKIP LOCKED" : "");
	if ((rc = db_prepare(db, sql, &st)))
		return rc;
	db_bind_int64(st, 1, now);
	db_bind_int64(st, 2, now + lease_ms);
	db_bind_text(st, 3, worker);
	if (kind)
		db_bind_text(st, 4, kind);
	if ((rc = repo_row(st)) == 0)
		rc = job_row(st, out);
	return repo_done(rc, st, NULL);
}

int db_job_claim(struct db *db, const char *worker, const char *kind, int64_t now, int64_t lease_ms,
		 struct db_job *out)
{
	int rc;

	if (!worker || !*worker || strlen(worker) > DB_WORKER_MAX || lease_ms <= 0)
		return db_set_err(db, AM_ERR_INVAL, "worker name or lease out of range");
	if ((rc = db_begin_write(db)))
		return rc;
	rc = job_take(db, worker, kind, now, lease_ms, out);
	if (rc == 0 || rc == AM_ERR_NOTFOUND) {
		int crc = db_commit(db);

		return crc ? crc : rc;
	}
	db_rollback(db);
	return rc;
}

static int count_row(struct db_stmt *st, union repo_key key, void *out)
{
	struct db_queue_count *c = out;

	(void)key;
	repo_text_col(st, 0, c->queue, sizeof(c->queue));
	repo_text_col(st, 1, c->kind, sizeof(c->kind));
	repo_text_col(st, 2, c->state, sizeof(c->state));
	c->n = db_column_int64(st, 3);
	c->oldest = db_column_int64(st, 4);
	return 0;
}

REPO_EMIT(count_emit, struct db_queue_count)

int db_queue_counts(struct db *db, int64_t now,
		    int (*cb)(void *ctx, const struct db_queue_count *c), void *ctx)
{
	struct db_queue_count buf;
	struct repo_each e = {REPO_EACH_ROWS(count_row, count_emit, cb, ctx, &buf)};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT 'job', kind, CASE WHEN state = 'queued' AND run_after > $1"
			    " THEN 'delayed' ELSE state END, COUNT(*), MIN(run_after) FROM jobs"
			    " WHERE state IN ('queued', 'running') GROUP BY 2, 3"
			    " UNION ALL SELECT 'outbox', '', state, COUNT(*), MIN(next_attempt)"
			    " FROM outbox GROUP BY 3",
			    &st);

	if (rc == 0)
		db_bind_int64(st, 1, now);
	return repo_each(rc, st, &e);
}

int db_job_extend(struct db *db, const uint8_t id[DB_ID_LEN], const char *worker, int64_t now,
		  int64_t lease_ms)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "UPDATE jobs SET lease_until = $3, updated = $4"
			    " WHERE id = $1 AND worker = $2 AND state = 'running'",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_text(st, 2, worker);
		db_bind_int64(st, 3, now + lease_ms);
		db_bind_int64(st, 4, now);
	}
	rc = repo_done_one(rc, st);
	return rc == AM_ERR_NOTFOUND ? db_set_err(db, AM_ERR_CONFLICT, "job lease lost") : rc;
}

int db_job_complete(struct db *db, const uint8_t id[DB_ID_LEN], const char *worker)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "UPDATE jobs SET state = 'done', lease_until = NULL, updated = $3"
			    " WHERE id = $1 AND worker = $2 AND state = 'running'",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_text(st, 2, worker);
		db_bind_int64(st, 3, am_now_ms());
	}
	rc = repo_done_one(rc, st);
	return rc == AM_ERR_NOTFOUND ? db_set_err(db, AM_ERR_CONFLICT, "job lease lost") : rc;
}

int db_job_fail(struct db *db, const uint8_t id[DB_ID_LEN], const char *worker, const char *error,
		int permanent, int64_t retry_ms, int *final)
{
	struct db_stmt *st = NULL;
	char err[DB_ERROR_MAX + 1];
	int64_t now = am_now_ms();
	int rc;

	if (final)
		*final = 0;
	clean_text(error ? error : "failed", err, sizeof(err));
	rc = db_prepare(
	    db,
	    "UPDATE jobs SET state = CASE WHEN $4 = 1 OR attempts >= max_attempts THEN 'failed'"
	    " ELSE 'queued' END, run_after = $5, last_error = $3, lease_until = NULL, updated = $6"
	    " WHERE id = $1 AND worker = $2 AND state = 'running' RETURNING state",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_text(st, 2, worker);
		db_bind_text(st, 3, err);
		db_bind_int64(st, 4, permanent ? 1 : 0);
		db_bind_int64(st, 5, now + (retry_ms > 0 ? retry_ms : 0));
		db_bind_int64(st, 6, now);
		rc = repo_row(st);
		if (rc == 0 && final) {
			const char *s = db_column_text(st, 0);

			*final = s && strcmp(s, "failed") == 0;
		}
	}
	rc = repo_done(rc, st, NULL);
	return rc == AM_ERR_NOTFOUND ? db_set_err(db, AM_ERR_CONFLICT, "job lease lost") : rc;
}

int db_job_get(struct db *db, const uint8_t id[DB_ID_LEN], struct db_job *out)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "SELECT " JOB_COLS " FROM jobs WHERE id = $1", &st);

	if (rc)
		return rc;
	db_bind_id(st, 1, id);
	if ((rc = repo_row(st)) == 0)
		rc = job_row(st, out);
	db_finalize(st);
	return rc;
}

/* job_row as a listing's row function (no field key: jobs hold none). */
static int job_list_row(struct db_stmt *st, union repo_key key, void *out)
{
	(void)key;
	return job_row(st, out);
}

REPO_EMIT(job_emit, struct db_job)

int db_job_queued_list(struct db *db, const char *kind, int64_t max,
		       int (*cb)(void *ctx, const struct db_job *j), void *ctx)
{
	struct db_job j;
	struct repo_each e = {REPO_EACH_ROWS(job_list_row, job_emit, cb, ctx, &j), .max = max};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT " JOB_COLS " FROM jobs WHERE kind = $1 AND state = 'queued'"
			    " ORDER BY run_after, created, id",
			    &st);

	if (rc == 0)
		db_bind_text(st, 1, kind);
	return repo_each(rc, st, &e);
}

int db_job_purge(struct db *db, int64_t before, int64_t *n)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "DELETE FROM jobs WHERE state = 'done' AND updated < $1", &st);

	if (rc == 0)
		db_bind_int64(st, 1, before);
	return repo_done(rc, st, n);
}

/* ---- outbox ------------------------------------------------------------------------------ */

int db_mail_enqueue(struct db *db, const struct db_keys *k, const uint8_t *account_id,
		    const char *recipient, const char *subject, const char *body, int64_t now,
		    uint8_t id_out[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	const struct crypto_field_key *key = k ? k->account_field_key : NULL;
	int rc;

	if (!key || !recipient || !subject || !body)
		return db_set_err(db, AM_ERR_INVAL, "mail without key, recipient, subject or body");
	if ((rc = crypto_random_id(id_out)))
		return rc;
	rc = db_prepare(db,
			"INSERT INTO outbox (id, account_id, recipient_ct, subject_ct, body_ct, "
			"next_attempt, created)"
			" VALUES ($1, $2, $3, $4, $5, $6, $6)",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id_out);
		db_bind_id(st, 2, account_id);
		repo_bind_sealed(st, 3, key, "outbox", "recipient", id_out, repo_zero_id, recipient,
				 DB_EMAIL_MAX);
		repo_bind_sealed(st, 4, key, "outbox", "subject", id_out, repo_zero_id, subject,
				 DB_SUBJECT_MAX);
		repo_bind_sealed(st, 5, key, "outbox", "body", id_out, repo_zero_id, body,
				 DB_MAILBODY_MAX);
		db_bind_int64(st, 6, now);
	}
	return repo_done(rc, st, NULL);
}

static int mail_row(struct db_stmt *st, const struct crypto_field_key *key, struct db_mail *out)
{
	const void *ct;
	size_t n = 0;
	int rc;

	if ((rc = db_column_id(st, 0, out->id)))
		return rc;
	out->has_account = repo_opt_id(st, 1, out->account_id);
	out->attempts = db_column_int64(st, 5);
	if ((rc = repo_open_col(st, 2, key, "outbox", "recipient", out->id, repo_zero_id,
				out->recipient, sizeof(out->recipient))) ||
	    (rc = repo_open_col(st, 3, key, "outbox", "subject", out->id, repo_zero_id,
				out->subject, sizeof(out->subject))))
		return rc;
	ct = db_column_blob(st, 4, &n);
	rc = crypto_field_open(key, "outbox", "body", out->id, repo_zero_id, ct ? ct : "", n,
			       &out->body);
	return rc ? db_set_err(db_stmt_db(st), AM_ERR_CRYPTO,
			       "outbox.body: ciphertext does not open")
		  : 0;
}

int db_mail_claim(struct db *db, const struct db_keys *k, int64_t now, int64_t lease_ms,
		  struct db_mail *out)
{
	struct db_stmt *st = NULL;
	char sql[640];
	int rc;

	memset(out, 0, sizeof(*out));
	am_buf_init(&out->body, DB_MAILBODY_MAX);
	if (!k || !k->account_field_key)
		return db_set_err(db, AM_ERR_INTERNAL, "no account keys");
	snprintf(sql, sizeof(sql),
		 "UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt = $2"
		 " WHERE id = (SELECT id FROM outbox WHERE state IN ('queued', 'sending') AND "
		 "next_attempt <= $1"
		 " ORDER BY next_attempt, id LIMIT 1%s)"
		 " RETURNING id, account_id, recipient_ct, subject_ct, body_ct, attempts",
		 db_engine(db) == DB_PGSQL ? " FOR UPDATE SKIP LOCKED" : "");
	if ((rc = db_begin_write(db)))
		return rc;
	rc = db_prepare(db, sql, &st);
	if (rc == 0) {
		db_bind_int64(st, 1, now);
		db_bind_int64(st, 2, now + lease_ms);
		if ((rc = repo_row(st)) == 0)
			rc = mail_row(st, k->account_field_key, out);
	}
	rc = repo_done(rc, st, NULL);
	if (rc == 0 || rc == AM_ERR_NOTFOUND) {
		int crc = db_commit(db);

		return crc ? crc : rc;
	}
	db_rollback(db);
	return rc;
}

int db_mail_sent(struct db *db, const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "DELETE FROM outbox WHERE id = $1", &st);

	if (rc == 0)
		db_bind_id(st, 1, id);
	return repo_done_one(rc, st);
}

int db_mail_failed(struct db *db, const uint8_t id[DB_ID_LEN], const char *error,
		   int64_t next_attempt, int64_t max_attempts)
{
	struct db_stmt *st = NULL;
	char err[DB_ERROR_MAX + 1];
	int rc;

	clean_text(error ? error : "failed", err, sizeof(err));
	rc = db_prepare(
	    db,
	    "UPDATE outbox SET state = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'queued' END,"
	    " next_attempt = $3, last_error = $2 WHERE id = $1",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_text(st, 2, err);
		db_bind_int64(st, 3, next_attempt);
		db_bind_int64(st, 4, max_attempts);
	}
	return repo_done_one(rc, st);
}

/* ---- rate limits (GCRA) ----------------------------------------------------------------- */

static int rate_read(struct db *db, const uint8_t h[32], int64_t now, int64_t *tat)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "INSERT INTO rate_limits (key_hash, tat, expires) VALUES ($1, $2, $2)"
			    " ON CONFLICT (key_hash) DO NOTHING",
			    &st);

	if (rc == 0) {
		db_bind_blob(st, 1, h, 32);
		db_bind_int64(st, 2, now);
	}
	if ((rc = repo_done(rc, st, NULL)))
		return rc;
	st = NULL;
	rc = db_prepare(db,
			db_engine(db) == DB_PGSQL
			    ? "SELECT tat FROM rate_limits WHERE key_hash = $1 FOR UPDATE"
			    : "SELECT tat FROM rate_limits WHERE key_hash = $1",
			&st);
	if (rc == 0) {
		db_bind_blob(st, 1, h, 32);
		if ((rc = repo_row(st)) == 0)
			*tat = db_column_int64(st, 0);
	}
	db_finalize(st);
	return rc;
}

int db_rate_take(struct db *db, const void *key, size_t keylen, int64_t now, int64_t interval_ms,
		 int64_t burst, int64_t *retry_after_ms)
{
	struct db_stmt *st = NULL;
	int64_t tat = 0, tau;
	uint8_t h[32];
	int rc;

	*retry_after_ms = 0;
	if (interval_ms <= 0 || burst < 1 || burst > INT64_MAX / interval_ms)
		return db_set_err(db, AM_ERR_INVAL, "rate limit out of range");
	tau = interval_ms * (burst - 1);
	if ((rc = crypto_sha256(key, keylen, h)) || (rc = db_begin_write(db)))
		return rc;
	if ((rc = rate_read(db, h, now, &tat)))
		goto out;
	if (tat < now)
		tat = now;
	if (tat - now > tau) {
		*retry_after_ms = tat - now - tau;
		rc = db_commit(db);
		return rc ? rc : AM_ERR_RATE;
	}
	rc = db_prepare(db, "UPDATE rate_limits SET tat = $2, expires = $2 WHERE key_hash = $1",
			&st);
	if (rc == 0) {
		db_bind_blob(st, 1, h, 32);
		db_bind_int64(st, 2, tat + interval_ms);
	}
	if ((rc = repo_done_one(rc, st)))
		goto out;
	return db_commit(db);
out:
	db_rollback(db);
	return rc;
}

int db_rate_purge(struct db *db, int64_t now)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "DELETE FROM rate_limits WHERE expires <= $1", &st);

	if (rc == 0)
		db_bind_int64(st, 1, now);
	return repo_done(rc, st, NULL);
}
