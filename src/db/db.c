/*
 * db.c: the engine-neutral half of src/db/: URL dispatch, the statement
 * wrappers over the engine vtable, nested transactions, and the connection
 * pool. Runs in every role that uses the database; the URL is operator
 * configuration, trusted but checked.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db_int.h"
#include "util/util.h"

int db_set_err(struct db *db, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->err, sizeof(db->err), fmt, ap);
	va_end(ap);
	return err;
}

/* warn: log db_tls_insecure (a start, not a pool's reconnect). */
static int open_url(const char *url, enum db_tls tls, int warn, struct db **out, char *err,
		    size_t errlen)
{
	char dummy[1];

	*out = NULL;
	if (!err) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	if (errlen)
		err[0] = 0;
	if (!url) {
		snprintf(err, errlen, "database: no URL");
		return AM_ERR_INVAL;
	}
	if (strncmp(url, "sqlite:", 7) == 0)
		return db_sqlite_open(url + 7, out, err, errlen);
	if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
		return db_pgsql_open(url, tls, warn, out, err, errlen);
	snprintf(err, errlen, "database: expected sqlite:PATH or postgres://...");
	return AM_ERR_INVAL;
}

int db_open(const char *url, struct db **out, char *err, size_t errlen)
{
	return open_url(url, DB_TLS_VERIFY_FULL, 1, out, err, errlen);
}

int db_open_tls(const char *url, enum db_tls tls, struct db **out, char *err, size_t errlen)
{
	return open_url(url, tls, 1, out, err, errlen);
}

const char *db_tls_protocol(struct db *db)
{
	return db && db->engine == DB_PGSQL ? db_pgsql_tls_protocol(db) : NULL;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	if (db->tx_depth > 0) {
		db->tx_depth = 1;
		db_rollback(db);
	}
	db->ops->close(db);
}

enum db_engine db_engine(const struct db *db)
{
	return db->engine;
}

const char *db_errmsg(const struct db *db)
{
	return db ? db->err : "no database handle";
}

int db_exec(struct db *db, const char *sql)
{
	return db->ops->exec(db, sql);
}

int db_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
	*out = NULL;
	return db->ops->prepare(db, sql, out);
}

static int bind(struct db_stmt *st, int idx, int type, const void *p, size_t n, int64_t v)
{
	int rc;

	if (idx < 1 || idx > DB_MAX_PARAMS)
		rc = db_set_err(st->db, AM_ERR_INVAL, "parameter $%d out of range", idx);
	else
		rc = st->db->ops->bind(st, idx, type, p, n, v);
	if (rc && !st->bind_err)
		st->bind_err = rc;
	return rc;
}

int db_bind_fail(struct db_stmt *st, int err)
{
	if (err && !st->bind_err)
		st->bind_err = err;
	return err;
}

struct db *db_stmt_db(struct db_stmt *st)
{
	return st->db;
}

int db_bind_text(struct db_stmt *st, int idx, const char *s)
{
	return s ? bind(st, idx, DB_T_TEXT, s, strlen(s), 0) : bind(st, idx, DB_T_NULL, NULL, 0, 0);
}

int db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t n)
{
	return p ? bind(st, idx, DB_T_BLOB, p, n, 0) : bind(st, idx, DB_T_NULL, NULL, 0, 0);
}

int db_bind_int64(struct db_stmt *st, int idx, int64_t v)
{
	return bind(st, idx, DB_T_INT, NULL, 0, v);
}

int db_bind_null(struct db_stmt *st, int idx)
{
	return bind(st, idx, DB_T_NULL, NULL, 0, 0);
}

int db_bind_id(struct db_stmt *st, int idx, const uint8_t *id)
{
	return db_bind_blob(st, idx, id, DB_ID_LEN);
}

int db_step(struct db_stmt *st)
{
	if (st->bind_err)
		return st->bind_err;
	return st->db->ops->step(st);
}

int db_reset(struct db_stmt *st)
{
	return st->db->ops->reset(st);
}

int64_t db_changes(struct db_stmt *st)
{
	return st->db->ops->changes(st);
}

int db_column_count(struct db_stmt *st)
{
	return st->db->ops->column_count(st);
}

int db_column_is_null(struct db_stmt *st, int col)
{
	return st->db->ops->column_is_null(st, col);
}

int64_t db_column_int64(struct db_stmt *st, int col)
{
	return st->db->ops->column_int64(st, col);
}

const char *db_column_text(struct db_stmt *st, int col)
{
	size_t n;

	if (db_column_is_null(st, col))
		return NULL;
	/* The backend's pointer, borrowed until the next step; n is only its
	 * length (cppcheck takes it for the pointer's lifetime). */
	// cppcheck-suppress returnDanglingLifetime
	return st->db->ops->column_blob(st, col, &n);
}

const void *db_column_blob(struct db_stmt *st, int col, size_t *n)
{
	return st->db->ops->column_blob(st, col, n);
}

int db_column_id(struct db_stmt *st, int col, uint8_t out[DB_ID_LEN])
{
	size_t n = 0;
	const void *p = db_column_blob(st, col, &n);

	if (!p || n != DB_ID_LEN)
		return db_set_err(st->db, AM_ERR_DB, "column %d is not a 16-byte id", col);
	memcpy(out, p, DB_ID_LEN);
	return 0;
}

void db_finalize(struct db_stmt *st)
{
	if (st)
		st->db->ops->finalize(st);
}

/* ---- transactions --------------------------------------------------------- */

static int begin(struct db *db, int write)
{
	int rc;

	if (db->tx_depth > 0) {
		db->tx_depth++;
		return 0;
	}
	rc = db->ops->begin(db, write);
	if (rc)
		return rc;
	db->tx_depth = 1;
	db->tx_failed = 0;
	return 0;
}

int db_begin(struct db *db)
{
	return begin(db, 0);
}

int db_begin_write(struct db *db)
{
	return begin(db, 1);
}

int db_commit(struct db *db)
{
	int rc;

	if (db->tx_depth <= 0)
		return db_set_err(db, AM_ERR_INTERNAL, "commit without a transaction");
	if (--db->tx_depth > 0)
		return 0;
	if (db->tx_failed) {
		db->ops->exec(db, "ROLLBACK");
		db->tx_failed = 0;
		db->notify_pending = 0;
		return db_set_err(db, AM_ERR_CONFLICT,
				  "transaction rolled back by an inner failure");
	}
	rc = db->ops->exec(db, "COMMIT");
	if (rc == 0 && db->notify_pending)
		db_wake_all();
	db->notify_pending = 0;
	if (rc) {
		/* A failed COMMIT leaves PostgreSQL's transaction aborted and
		 * SQLite's possibly open: make sure nothing stays open. */
		char keep[sizeof(db->err)];

		memcpy(keep, db->err, sizeof(keep));
		db->ops->exec(db, "ROLLBACK");
		memcpy(db->err, keep, sizeof(keep));
	}
	return rc;
}

int db_rollback(struct db *db)
{
	if (db->tx_depth <= 0)
		return 0;
	if (--db->tx_depth > 0) {
		db->tx_failed = 1;
		return 0;
	}
	db->tx_failed = 0;
	db->notify_pending = 0;
	return db->ops->exec(db, "ROLLBACK");
}

int db_in_tx(const struct db *db)
{
	return db->tx_depth;
}

int db_lazy_commit(struct db *db, int on)
{
	static const char *const sql[2][2] = {
	    {"PRAGMA synchronous=FULL", "PRAGMA synchronous=NORMAL"},
	    {"RESET synchronous_commit", "SET synchronous_commit TO off"}};
	int rc;

	if (db->tx_depth > 0)
		return AM_ERR_INVAL;
	rc = db->ops->exec(db, sql[db->engine == DB_PGSQL][on != 0]);
	if (rc == 0)
		db->lazy = on != 0;
	return rc;
}

/* ---- wake-ups ------------------------------------------------------------- */

static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv;
static pthread_once_t wake_once = PTHREAD_ONCE_INIT;
static uint64_t wake_seq;

static void wake_init(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wake_cv, &ca);
	pthread_condattr_destroy(&ca);
}

void db_wake_all(void)
{
	pthread_once(&wake_once, wake_init);
	pthread_mutex_lock(&wake_mu);
	wake_seq++;
	pthread_cond_broadcast(&wake_cv);
	pthread_mutex_unlock(&wake_mu);
}

uint64_t db_wake_seq(void)
{
	uint64_t v;

	pthread_mutex_lock(&wake_mu);
	v = wake_seq;
	pthread_mutex_unlock(&wake_mu);
	return v;
}

int db_wake_wait(uint64_t seen, int64_t timeout_ms)
{
	struct timespec ts;
	int woken;

	pthread_once(&wake_once, wake_init);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(timeout_ms / 1000);
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&wake_mu);
	while (wake_seq == seen && pthread_cond_timedwait(&wake_cv, &wake_mu, &ts) != ETIMEDOUT)
		;
	woken = wake_seq != seen;
	pthread_mutex_unlock(&wake_mu);
	return woken;
}

int db_notify(struct db *db)
{
	int rc;

	if (db->engine == DB_PGSQL && (rc = db_exec(db, "NOTIFY " DB_WAKE_CHANNEL)))
		return rc;
	if (db->tx_depth > 0)
		db->notify_pending = 1;
	else
		db_wake_all();
	return 0;
}

int db_listen(struct db *db)
{
	if (!db->ops->listen)
		return db_set_err(db, AM_ERR_UNSUPPORTED, "no cross-process wake-up (engine)");
	return db->ops->listen(db);
}

int db_listen_wait(struct db *db, int timeout_ms)
{
	if (!db->ops->listen_wait)
		return db_set_err(db, AM_ERR_UNSUPPORTED, "no cross-process wake-up (engine)");
	return db->ops->listen_wait(db, timeout_ms);
}

/* ---- pool ------------------------------------------------------------------ */

struct db_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *url;
	enum db_tls tls;
	int size;
	int opened; /* connections that exist (free or borrowed) */
	struct db *free;
};

int db_pool_new(const char *url, int size, struct db_pool **out, char *err, size_t errlen)
{
	return db_pool_new_tls(url, DB_TLS_VERIFY_FULL, size, out, err, errlen);
}

int db_pool_new_tls(const char *url, enum db_tls tls, int size, struct db_pool **out, char *err,
		    size_t errlen)
{
	struct db_pool *p = NULL;
	struct db *first = NULL;
	int rc;

	*out = NULL;
	if (size < 1 || size > 1024) {
		if (err && errlen)
			snprintf(err, errlen, "database pool size must be 1..1024");
		return AM_ERR_INVAL;
	}
	rc = open_url(url, tls, 1, &first, err, errlen);
	if (rc)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->url = strdup(url))) {
		free(p);
		db_close(first);
		return AM_ERR_NOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->tls = tls;
	p->size = size;
	p->opened = 1;
	p->free = first;
	*out = p;
	return 0;
}

/* Called with the lock held: take a free connection, or the right to open
 * one (*db stays NULL, 1 returned), or 0 when all are borrowed. */
static int pool_take(struct db_pool *p, struct db **db)
{
	if (p->free) {
		*db = p->free;
		p->free = (*db)->pool_next;
		(*db)->pool_next = NULL;
		return 1;
	}
	if (p->opened < p->size) {
		p->opened++;
		*db = NULL;
		return 1;
	}
	return 0;
}

int db_pool_get(struct db_pool *p, int timeout_ms, struct db **out)
{
	struct timespec deadline;
	struct db *db = NULL;
	int got = 0, rc;

	*out = NULL;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->mu);
	while (!(got = pool_take(p, &db)))
		if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&p->mu);
	if (!got)
		return AM_ERR_UNAVAIL;
	if (db && db->ops->check(db)) {
		db_close(db);
		db = NULL;
	}
	if (!db) {
		char err[256];

		rc = open_url(p->url, p->tls, 0, &db, err, sizeof(err));
		if (rc) {
			am_log(AM_LOG_ERROR, "db_connect_failed", "detail", err);
			pthread_mutex_lock(&p->mu);
			p->opened--;
			pthread_cond_signal(&p->cv);
			pthread_mutex_unlock(&p->mu);
			return rc == AM_ERR_NOMEM ? rc : AM_ERR_UNAVAIL;
		}
	}
	db->err[0] = 0;
	*out = db;
	return 0;
}

int db_pool_open_extra(struct db_pool *p, struct db **out)
{
	char err[256];
	int rc = open_url(p->url, p->tls, 0, out, err, sizeof(err));

	if (rc)
		am_log(AM_LOG_ERROR, "db_connect_failed", "detail", err);
	return rc;
}

void db_pool_put(struct db_pool *p, struct db *db)
{
	int lost;

	if (!db)
		return;
	if (db->tx_depth > 0) {
		am_log(AM_LOG_WARN, "db_tx_leaked");
		db->tx_depth = 1;
		db_rollback(db);
	}
	/* A connection left lazy would make its next user's commits lazy too. */
	lost = db->lazy && db_lazy_commit(db, 0) != 0;
	if (lost) {
		am_log(AM_LOG_WARN, "db_lazy_not_restored", "detail", db->err);
		db_close(db);
	}
	pthread_mutex_lock(&p->mu);
	if (lost) {
		p->opened--;
	} else {
		db->pool_next = p->free;
		p->free = db;
	}
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void db_pool_free(struct db_pool *p)
{
	if (!p)
		return;
	while (p->free) {
		struct db *db = p->free;

		p->free = db->pool_next;
		db_close(db);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->url);
	free(p);
}
