/*
 * db_int.h: what the files of src/db/ share: the engine vtable that
 * db_sqlite.c and db_pgsql.c implement, and the common head of the
 * connection and statement structs. Not for use outside src/db/.
 */
#ifndef AM_DB_INT_H
#define AM_DB_INT_H

#include <stdarg.h>

#include "db/db.h"

struct db_ops {
	int (*prepare)(struct db *db, const char *sql, struct db_stmt **out);
	int (*bind)(struct db_stmt *st, int idx, int type, const void *p, size_t n, int64_t v);
	int (*step)(struct db_stmt *st);
	int (*reset)(struct db_stmt *st);
	int64_t (*changes)(struct db_stmt *st);
	int (*column_count)(struct db_stmt *st);
	int (*column_is_null)(struct db_stmt *st, int col);
	int64_t (*column_int64)(struct db_stmt *st, int col);
	const void *(*column_blob)(struct db_stmt *st, int col, size_t *n);
	void (*finalize)(struct db_stmt *st);
	int (*exec)(struct db *db, const char *sql);
	/* begin: write=1 for a writer. */
	int (*begin)(struct db *db, int write);
	void (*close)(struct db *db);
	/* 1 if the connection is known to be broken, and try to repair it. */
	int (*check)(struct db *db);
	/* Cross-process wake-ups (PostgreSQL LISTEN; NULL: the engine has none):
	 * listen subscribes this connection, listen_wait waits up to timeout_ms
	 * for a notification (1), none (0) or a broken connection (error). */
	int (*listen)(struct db *db);
	int (*listen_wait)(struct db *db, int timeout_ms);
};

/* Bind types for db_ops.bind. */
enum { DB_T_NULL, DB_T_INT, DB_T_TEXT, DB_T_BLOB };

struct db {
	const struct db_ops *ops;
	enum db_engine engine;
	int tx_depth;
	int tx_failed;
	int notify_pending; /* db_notify inside a transaction: wake at its commit */
	int lazy;	    /* db_lazy_commit(db, 1) in effect */
	char err[512];
	struct db *pool_next; /* free list of the pool */
};

struct db_stmt {
	struct db *db;
	int bind_err; /* first bind error, reported by step */
};

/* Engine constructors: url without scheme handling done by db_open. */
int db_sqlite_open(const char *path, struct db **out, char *err, size_t errlen);
/* warn: log db_tls_insecure when only DB_TLS_INSECURE_ALLOW lets url through. */
int db_pgsql_open(const char *url, enum db_tls tls, int warn, struct db **out, char *err,
		  size_t errlen);
const char *db_pgsql_tls_protocol(struct db *db);

/* db_pgsql_tls.c, exposed for the unit tests: 1 for a Unix socket path, a
 * loopback address or "localhost"; 1 for "TLSv1.2" and "TLSv1.3". */
int db_tls_host_is_local(const char *host);
int db_tls_protocol_ok(const char *protocol);

#endif
