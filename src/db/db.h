/*
 * db: the backend-neutral database engine: connections from a URL (SQLite for
 * the embedded default, PostgreSQL for scale-out), prepared statements with
 * $1 placeholders, typed columns, transactions, a connection pool and the
 * schema migrations. Runs in every role that touches the database (web,
 * media, worker, admin commands). The database server and its files are
 * trusted for availability only: everything sensitive in them is ciphertext
 * (see repo/repo.h and docs/data-model.md).
 *
 * SQL is written once for both engines: the common subset of PostgreSQL and
 * SQLite 3.40, placeholders $1..$N (PostgreSQL's native form; SQLite reads
 * "$1" as a named parameter, and db_bind_* looks the name up, so a number
 * may appear several times and in any order). Only src/db/ (migrations) and
 * src/repo/ write SQL: the rest of the program uses the repository functions
 * of repo/repo.h.
 *
 * Lifecycle: db_open -> db_prepare, db_bind_..., db_step, db_column_..., db_finalize
 * -> db_close. One struct db is one connection, used by one thread at a time
 * (libpq connections are not thread-safe); struct db_pool hands them out.
 */
#ifndef AM_DB_H
#define AM_DB_H

#include <stddef.h>
#include <stdint.h>

#define DB_ID_LEN     16 /* ids are random 128-bit values, stored as 16-byte blobs */
#define DB_MAX_PARAMS 32 /* highest $N a statement may use */

enum db_engine { DB_SQLITE = 1, DB_PGSQL = 2 };

/* db_step results besides errors. */
enum { DB_DONE = 0, DB_ROW = 1 };

struct db;
struct db_stmt;
struct db_pool;

/* Open one connection. url: "sqlite:PATH" (the file is created 0600, its
 * directory 0700 when missing; WAL, secure_delete, foreign keys, busy
 * timeout) or "postgres://..."/"postgresql://..." (libpq URL under the TLS
 * policy below, DB_TLS_VERIFY_FULL; sslmode, sslrootcert and the other libpq
 * options pass through; statement_timeout is set on the session). On success *out is an owned
 * handle for db_close. On failure *out is NULL and a message (never the password) is written to err
 * (errlen bytes; err may be NULL). Returns 0, AM_ERR_INVAL (bad URL),
 * AM_ERR_IO (file or directory), AM_ERR_DB (connect failed), AM_ERR_NOMEM. */
int db_open(const char *url, struct db **out, char *err, size_t errlen);

/* ---- TLS policy for PostgreSQL ---------------------------------------------
 * A postgres:// URL whose hosts are not all on this machine (Unix sockets,
 * 127.0.0.0/8, ::1, "localhost") must say sslmode=verify-full: TLS 1.2 or
 * later, the server's certificate checked against the CA of sslrootcert= and
 * its name against the host. verify-ca is not enough: it accepts any
 * certificate of that CA, whoever it was issued to. The check reads the URL
 * with libpq's own parser and environment defaults, and runs before libpq
 * connects; a connection it required TLS for is checked again once made
 * (TLS in use, TLSv1.2 or TLSv1.3). DB_TLS_INSECURE_ALLOW (database_tls =
 * insecure-allow) lets any URL through; db_open_tls and db_pool_new_tls then
 * log "db_tls_insecure" (warning) on each start it matters for. */
enum db_tls { DB_TLS_VERIFY_FULL = 0, DB_TLS_INSECURE_ALLOW = 1 };

struct db_tls_report {
	int postgres;	       /* 0: not a postgres:// URL, nothing checked */
	int local;	       /* every host is on this machine: TLS not required */
	int insecure;	       /* passed only because of DB_TLS_INSECURE_ALLOW */
	char sslmode[16];      /* what libpq will use (URL, PGSSLMODE, or "prefer") */
	char sslrootcert[512]; /* "" = libpq's default ~/.postgresql/root.crt */
	char hosts[512];       /* where libpq connects, comma-separated (no user, no password) */
	char remote[256];      /* the first of them not on this machine, "" if none */
};

/* The policy for the database_tls setting's text: DB_TLS_INSECURE_ALLOW for
 * exactly "insecure-allow", else DB_TLS_VERIFY_FULL. */
enum db_tls db_tls_parse(const char *setting);

/* Check url against the policy without connecting; *rep says what was found
 * (filled on every return). 0: allowed (also for a non-postgres URL);
 * AM_ERR_INVAL: refused or unparsable, with a message naming the URL's
 * sslmode and the database_tls setting in err (never the password);
 * AM_ERR_NOMEM. */
int db_tls_check(const char *url, enum db_tls tls, struct db_tls_report *rep, char *err,
		 size_t errlen);

/* db_open and db_pool_new under a TLS policy (the plain ones use
 * DB_TLS_VERIFY_FULL); same ownership and errors, plus AM_ERR_INVAL when the
 * policy refuses the URL, AM_ERR_DB when a required TLS is not in use. */
int db_open_tls(const char *url, enum db_tls tls, struct db **out, char *err, size_t errlen);

/* The TLS protocol of an open connection ("TLSv1.3"), or NULL without TLS
 * (SQLite included). Borrowed from the connection. */
const char *db_tls_protocol(struct db *db);

/* Close a connection (rolls back an open transaction); accepts NULL. */
void db_close(struct db *db);

/* Which engine a connection talks to. */
enum db_engine db_engine(const struct db *db);

/* The last error on this connection, in English; never NULL, "" if none. The
 * message may name tables and SQL, never bound values. */
const char *db_errmsg(const struct db *db);

/* Record an error and its message (printf style, never a bound value) on
 * the connection, for db_errmsg; returns err. For the layers above the
 * engine (repo/) that refuse a value before it reaches SQL. */
int db_set_err(struct db *db, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Run SQL without parameters; it may hold several statements separated by
 * ';' (migrations). Returns 0 or an error (see db_step). */
int db_exec(struct db *db, const char *sql);

/* ---- prepared statements --------------------------------------------------
 * Parameters are numbered from 1 ($1), columns from 0. Bound values are
 * copied. Errors of db_bind_* are reported again by db_step, so a sequence of
 * binds may be checked once. */

/* Compile sql. *out is owned: db_finalize it. 0, AM_ERR_DB (syntax, unknown
 * table), AM_ERR_NOMEM. */
int db_prepare(struct db *db, const char *sql, struct db_stmt **out);
int db_bind_text(struct db_stmt *st, int idx, const char *s);		/* NULL binds NULL */
int db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t n); /* NULL binds NULL */
int db_bind_int64(struct db_stmt *st, int idx, int64_t v);
int db_bind_null(struct db_stmt *st, int idx);
/* Bind a 16-byte id; NULL binds NULL. */
int db_bind_id(struct db_stmt *st, int idx, const uint8_t *id);

/* Record err as a failed binding of st (a value refused before it could be
 * bound, e.g. a field that does not seal): db_step then returns the first
 * such error instead of running. Returns err. */
int db_bind_fail(struct db_stmt *st, int err);
/* The connection st was prepared on (borrowed). */
struct db *db_stmt_db(struct db_stmt *st);

/* Execute (first call) or advance. Returns DB_ROW with a row available,
 * DB_DONE when finished, or AM_ERR_EXISTS (unique constraint),
 * AM_ERR_NOTFOUND (foreign key: the referenced row is missing),
 * AM_ERR_UNAVAIL (busy, lock timeout, serialization failure, statement
 * timeout: retry later), AM_ERR_INVAL (bad parameter number), AM_ERR_DB
 * (anything else; detail in db_errmsg). */
int db_step(struct db_stmt *st);
/* Make the statement ready to run again; bindings are kept. */
int db_reset(struct db_stmt *st);
/* Rows changed by the last completed INSERT/UPDATE/DELETE of st. */
int64_t db_changes(struct db_stmt *st);

/* Column access of the current row. Out-of-range columns read as NULL.
 * Text and blob pointers are borrowed until the next db_step/db_reset/
 * db_finalize. Text is NUL-terminated. */
int db_column_count(struct db_stmt *st);
int db_column_is_null(struct db_stmt *st, int col);
int64_t db_column_int64(struct db_stmt *st, int col);
const char *db_column_text(struct db_stmt *st, int col); /* NULL for SQL NULL */
const void *db_column_blob(struct db_stmt *st, int col, size_t *n);
/* Copy a 16-byte id column into out. 0, or AM_ERR_DB if it is not 16 bytes. */
int db_column_id(struct db_stmt *st, int col, uint8_t out[DB_ID_LEN]);

/* Release a statement; accepts NULL. */
void db_finalize(struct db_stmt *st);

/* ---- transactions ---------------------------------------------------------
 * db_begin opens a read transaction (SQLite: BEGIN DEFERRED), db_begin_write
 * a transaction that will write (SQLite: BEGIN IMMEDIATE, which takes the
 * write lock at once and so cannot deadlock on upgrade; PostgreSQL: BEGIN).
 * They nest: an inner begin/commit pair only counts, an inner rollback
 * marks the whole transaction failed and the outer commit then rolls back
 * and returns AM_ERR_CONFLICT. So repository functions that need atomicity
 * open their own transaction and still compose inside a caller's. */
int db_begin(struct db *db);
int db_begin_write(struct db *db);
int db_commit(struct db *db);
/* Roll back (or mark the outer transaction failed); always safe to call
 * on an error path, returns 0 when there was nothing to roll back. */
int db_rollback(struct db *db);
/* Nesting depth of the open transaction, 0 when none. */
int db_in_tx(const struct db *db);

/* Lazy commits for writes whose loss in a crash is harmless (an upload's
 * lease: a lost lease write only means the lease was not taken, extended or
 * given back, and a crash ends the PATCH that held it anyway). on = 1: the
 * next commits on this connection return before they are on disk (SQLite:
 * PRAGMA synchronous=NORMAL, which in WAL mode skips the WAL sync of each
 * commit; PostgreSQL: SET synchronous_commit TO off). A crash may then lose
 * the last of them, never corrupt the database or reorder them: the next
 * durable commit (on any connection) syncs them too. on = 0 restores the
 * durable default. Only between transactions (AM_ERR_INVAL inside one).
 * db_pool_put restores a connection left lazy, or closes it if it cannot. */
int db_lazy_commit(struct db *db, int on);

/* ---- wake-ups -------------------------------------------------------------
 * New queued work wakes the threads waiting for it (the worker, docs/
 * worker.md) instead of letting them find it at their next poll. Within one
 * process: a sequence number that db_notify advances once the transaction
 * that queued the work commits, and db_wake_wait waits on. Across processes
 * (PostgreSQL only): NOTIFY on DB_WAKE_CHANNEL, which PostgreSQL delivers at
 * commit to every connection that LISTENs (db_listen, db_listen_wait);
 * the waiting process then calls db_wake_all. SQLite has no cross-process
 * wake-up: a worker in another process finds the work at its next poll. */
#define DB_WAKE_CHANNEL "audiomus_jobs"

/* Announce new work: at the commit of the open transaction (at once outside
 * one); a rolled-back transaction announces nothing in this process
 * (PostgreSQL drops its NOTIFY too). 0 or a db_step error (PostgreSQL). */
int db_notify(struct db *db);
/* The current wake-up sequence number of this process. */
uint64_t db_wake_seq(void);
/* Wait until the sequence number differs from seen (1) or timeout_ms passes
 * (0). Take seen before looking for work, so that work announced between
 * the look and the wait is not missed. */
int db_wake_wait(uint64_t seen, int64_t timeout_ms);
/* Advance the sequence number and wake every waiter of this process. */
void db_wake_all(void);
/* Subscribe this connection (not a pooled one: it must stay idle between
 * waits, e.g. from db_pool_open_extra) to DB_WAKE_CHANNEL. 0,
 * AM_ERR_UNSUPPORTED (SQLite), or a db_step error. */
int db_listen(struct db *db);
/* On a listening connection: wait up to timeout_ms for a notification. 1 if
 * one or more arrived (all consumed), 0 if none, AM_ERR_UNAVAIL when the
 * connection is broken (close it and listen on a new one). */
int db_listen_wait(struct db *db, int timeout_ms);

/* ---- migrations -----------------------------------------------------------
 * One history for both engines, applied in one transaction each at start-up
 * and recorded in schema_version. */

/* The schema version this binary knows. */
int db_schema_latest(void);
/* The version of the connected database (0: empty). */
int db_schema_version(struct db *db, int *version);
/* Bring the schema to db_schema_latest(). Returns 0, AM_ERR_UNSUPPORTED when
 * the database is newer than this binary (it is left untouched; message in
 * db_errmsg), or a db_step error. */
int db_migrate(struct db *db);
/* The same up to a given version (tests: upgrade from every older one). */
int db_migrate_to(struct db *db, int target);

/* ---- pool -----------------------------------------------------------------
 * A fixed number of connections, opened lazily, shared by the threads of
 * one process. */

/* Create a pool of size connections (1..1024) to url. The first connection
 * is opened at once, so a bad URL fails here (message in err). */
int db_pool_new(const char *url, int size, struct db_pool **out, char *err, size_t errlen);
int db_pool_new_tls(const char *url, enum db_tls tls, int size, struct db_pool **out, char *err,
		    size_t errlen);
/* Borrow a connection, waiting at most timeout_ms for one to be free.
 * 0, AM_ERR_UNAVAIL (none free in time, or cannot reconnect), AM_ERR_NOMEM. */
int db_pool_get(struct db_pool *pool, int timeout_ms, struct db **out);
/* Open one more connection to the pool's database under its TLS policy,
 * outside the pool (a listening connection): owned, db_close it. 0 or the
 * errors of db_open. */
int db_pool_open_extra(struct db_pool *pool, struct db **out);
/* Return a borrowed connection; an open transaction is rolled back. */
void db_pool_put(struct db_pool *pool, struct db *db);
/* Close every connection; all must have been returned. Accepts NULL. */
void db_pool_free(struct db_pool *pool);

#endif
