/*
 * db_pgsql.c: the PostgreSQL (libpq) engine behind db.h, for scale-out.
 * Runs in every role of a multi-node install; one PGconn per struct db (a
 * libpq connection must not be shared between threads: the pool hands each
 * to one thread at a time). The server is trusted for availability, not
 * with plaintext: sensitive columns arrive already encrypted. TLS and
 * authentication come from the URL (sslmode=verify-full, sslrootcert, ...),
 * under the policy of db_pgsql_tls.c: checked before libpq connects, and
 * the TLS of a connection that needed it checked again once it is made.
 * Parameters and results travel in binary, so blobs and integers need no
 * escaping or parsing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

/* Type OIDs of pg_type.h (stable since PostgreSQL 7). */
#define OID_BOOL  16
#define OID_BYTEA 17
#define OID_INT8  20
#define OID_INT2  21
#define OID_INT4  23
#define OID_TEXT  25
#define OID_OID	  26

#define STATEMENT_TIMEOUT_MS 30000
#define IDLE_TX_TIMEOUT_MS   60000

struct pg_db {
	struct db base;
	PGconn *c;
};

struct pg_stmt {
	struct db_stmt base;
	char *sql;
	int nparams;
	int maxparam; /* highest $N the SQL uses */
	Oid types[DB_MAX_PARAMS];
	char *values[DB_MAX_PARAMS];
	int lengths[DB_MAX_PARAMS];
	int formats[DB_MAX_PARAMS];
	PGresult *res;
	int row; /* index of the current row, -1 before the first */
	int executed;
	int64_t changes;
};

static PGconn *C(struct db *db)
{
	return ((struct pg_db *)db)->c;
}

/* Map a failed result (or connection failure when res is NULL). */
static int pg_err(struct db *db, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(C(db));
	int e = AM_ERR_DB;
	size_t n;

	if (state) {
		if (strcmp(state, "23505") == 0)
			e = AM_ERR_EXISTS;
		else if (strcmp(state, "23503") == 0)
			e = AM_ERR_NOTFOUND;
		else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
			 strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0 ||
			 strncmp(state, "08", 2) == 0)
			e = AM_ERR_UNAVAIL;
		else if (strcmp(state, "53100") == 0) /* disk_full */
			e = AM_ERR_NOSPACE;
		else if (strcmp(state, "25006") == 0) /* read_only_sql_transaction */
			e = AM_ERR_READONLY;
	} else if (PQstatus(C(db)) == CONNECTION_BAD) {
		e = AM_ERR_UNAVAIL;
	}
	n = msg ? strlen(msg) : 0;
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	return db_set_err(db, e, "postgres: %.*s%s%s%s", (int)n, msg ? msg : "", state ? " (" : "",
			  state ? state : "", state ? ")" : "");
}

/* The highest $N outside quoted strings: binding beyond it is refused at
 * bind time, as SQLite does, instead of failing later on the server. */
static int max_param(const char *sql)
{
	int max = 0, quoted = 0;

	for (const char *p = sql; *p; p++) {
		if (*p == '\'' || *p == '"')
			quoted = quoted == *p ? 0 : quoted ? quoted : *p;
		if (quoted || *p != '$' || p[1] < '0' || p[1] > '9')
			continue;
		int v = 0;

		while (p[1] >= '0' && p[1] <= '9' && v <= DB_MAX_PARAMS)
			v = v * 10 + (*++p - '0');
		if (v > max)
			max = v;
	}
	return max;
}

static int pg_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
	struct pg_stmt *st = calloc(1, sizeof(*st));

	if (!st || !(st->sql = strdup(sql))) {
		free(st);
		return AM_ERR_NOMEM;
	}
	st->base.db = db;
	st->row = -1;
	st->maxparam = max_param(sql);
	*out = &st->base;
	return 0;
}

static int pg_bind(struct db_stmt *bst, int idx, int type, const void *p, size_t n, int64_t v)
{
	struct pg_stmt *st = (struct pg_stmt *)bst;
	int i = idx - 1;
	char *copy = NULL;

	if (idx > st->maxparam)
		return db_set_err(bst->db, AM_ERR_INVAL, "statement has no parameter $%d", idx);
	if (n > (size_t)INT32_MAX - 1)
		return db_set_err(bst->db, AM_ERR_TOOBIG, "value of $%d too large", idx);
	if (type == DB_T_INT) {
		uint64_t u = (uint64_t)v;
		uint32_t hi = htonl((uint32_t)(u >> 32)), lo = htonl((uint32_t)u);

		if (!(copy = malloc(8)))
			return AM_ERR_NOMEM;
		memcpy(copy, &hi, 4);
		memcpy(copy + 4, &lo, 4);
		n = 8;
	} else if (type != DB_T_NULL) {
		if (!(copy = malloc(n + 1)))
			return AM_ERR_NOMEM;
		if (n)
			memcpy(copy, p, n);
		copy[n] = 0;
	}
	free(st->values[i]);
	st->values[i] = copy;
	st->lengths[i] = (int)n;
	st->formats[i] = type == DB_T_TEXT ? 0 : 1;
	st->types[i] = type == DB_T_INT	   ? OID_INT8
		       : type == DB_T_TEXT ? OID_TEXT
		       : type == DB_T_BLOB ? OID_BYTEA
					   : 0;
	if (idx > st->nparams)
		st->nparams = idx;
	return 0;
}

static int pg_run(struct pg_stmt *st)
{
	struct db *db = st->base.db;
	ExecStatusType s;
	const char *ct;

	st->executed = 1;
	st->res = PQexecParams(C(db), st->sql, st->nparams, st->types,
			       (const char *const *)st->values, st->lengths, st->formats, 1);
	if (!st->res)
		return pg_err(db, NULL);
	s = PQresultStatus(st->res);
	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
		int rc = pg_err(db, st->res);

		PQclear(st->res);
		st->res = NULL;
		st->executed = 0;
		return rc;
	}
	ct = PQcmdTuples(st->res);
	st->changes = (ct && *ct) ? strtoll(ct, NULL, 10) : 0;
	return 0;
}

static int pg_step(struct db_stmt *bst)
{
	struct pg_stmt *st = (struct pg_stmt *)bst;
	int rc;

	if (!st->executed && (rc = pg_run(st)) != 0)
		return rc;
	if (!st->res || st->row + 1 >= PQntuples(st->res)) {
		st->row = PQntuples(st->res);
		return DB_DONE;
	}
	st->row++;
	return DB_ROW;
}

static int pg_reset(struct db_stmt *bst)
{
	struct pg_stmt *st = (struct pg_stmt *)bst;

	PQclear(st->res);
	st->res = NULL;
	st->row = -1;
	st->executed = 0;
	st->changes = 0;
	return 0;
}

static int64_t pg_changes(struct db_stmt *bst)
{
	return ((struct pg_stmt *)bst)->changes;
}

static int pg_column_count(struct db_stmt *bst)
{
	struct pg_stmt *st = (struct pg_stmt *)bst;

	return st->res ? PQnfields(st->res) : 0;
}

static int valid(struct pg_stmt *st, int col)
{
	return st->res && st->row >= 0 && st->row < PQntuples(st->res) && col >= 0 &&
	       col < PQnfields(st->res);
}

static int pg_column_is_null(struct db_stmt *bst, int col)
{
	struct pg_stmt *st = (struct pg_stmt *)bst;

	return !valid(st, col) || PQgetisnull(st->res, st->row, col);
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static int64_t pg_column_int64(struct db_stmt *bst, int col)
{
	struct pg_stmt *st = (struct pg_stmt *)bst;
	const unsigned char *p;
	int len;

	if (pg_column_is_null(bst, col))
		return 0;
	p = (const unsigned char *)PQgetvalue(st->res, st->row, col);
	len = PQgetlength(st->res, st->row, col);
	switch (PQftype(st->res, col)) {
	case OID_INT8: return len == 8 ? (int64_t)be(p, 8) : 0;
	case OID_INT4:
	case OID_OID: return len == 4 ? (int64_t)(int32_t)(uint32_t)be(p, 4) : 0;
	case OID_INT2: return len == 2 ? (int64_t)(int16_t)(uint16_t)be(p, 2) : 0;
	case OID_BOOL: return len == 1 ? p[0] != 0 : 0;
	default:
		db_set_err(bst->db, AM_ERR_DB, "column %d is not an integer (cast it to BIGINT)",
			   col);
		return 0;
	}
}

static const void *pg_column_blob(struct db_stmt *bst, int col, size_t *n)
{
	struct pg_stmt *st = (struct pg_stmt *)bst;

	*n = 0;
	if (pg_column_is_null(bst, col))
		return NULL;
	/* libpq NUL-terminates every value, binary ones too. */
	*n = (size_t)PQgetlength(st->res, st->row, col);
	return PQgetvalue(st->res, st->row, col);
}

static void pg_finalize(struct db_stmt *bst)
{
	struct pg_stmt *st = (struct pg_stmt *)bst;

	PQclear(st->res);
	for (int i = 0; i < DB_MAX_PARAMS; i++)
		free(st->values[i]);
	free(st->sql);
	free(st);
}

static int pg_exec(struct db *db, const char *sql)
{
	PGresult *res = PQexec(C(db), sql);
	ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int rc = 0;

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		rc = pg_err(db, res);
	PQclear(res);
	return rc;
}

static int pg_begin(struct db *db, int write)
{
	return pg_exec(db, "BEGIN");
}

static void pg_close(struct db *db)
{
	PQfinish(C(db));
	free(db);
}

static int pg_check(struct db *db)
{
	if (PQstatus(C(db)) != CONNECTION_BAD)
		return 0;
	PQreset(C(db));
	return PQstatus(C(db)) == CONNECTION_BAD;
}

static int pg_listen(struct db *db)
{
	return pg_exec(db, "LISTEN " DB_WAKE_CHANNEL);
}

/* 1 if any notification was pending (all are drained: one wake-up covers
 * them), 0 if none; AM_ERR_UNAVAIL when the connection is broken. */
static int pg_drain(struct db *db)
{
	PGnotify *n;
	int got = 0;

	if (!PQconsumeInput(C(db))) {
		(void)pg_err(db, NULL); /* the message, for db_errmsg */
		return AM_ERR_UNAVAIL;
	}
	while ((n = PQnotifies(C(db)))) {
		got = 1;
		PQfreemem(n);
	}
	return got;
}

static int pg_listen_wait(struct db *db, int timeout_ms)
{
	struct pollfd pfd = {PQsocket(C(db)), POLLIN, 0};
	int rc;

	if ((rc = pg_drain(db)) != 0)
		return rc;
	if (pfd.fd < 0)
		return db_set_err(db, AM_ERR_UNAVAIL, "listening connection lost");
	rc = poll(&pfd, 1, timeout_ms);
	if (rc < 0 && errno != EINTR)
		return db_set_err(db, AM_ERR_UNAVAIL, "poll on the listening connection failed");
	return rc > 0 ? pg_drain(db) : 0;
}

static const struct db_ops pg_ops = {
    pg_prepare,	       pg_bind,		pg_step,	pg_reset,	pg_changes, pg_column_count,
    pg_column_is_null, pg_column_int64, pg_column_blob, pg_finalize,	pg_exec,    pg_begin,
    pg_close,	       pg_check,	pg_listen,	pg_listen_wait,
};

/* Notices (e.g. "relation already exists, skipping") are not errors and must
 * not reach stderr outside the JSON log. */
static void quiet(void *arg, const char *msg)
{
}

const char *db_pgsql_tls_protocol(struct db *db)
{
	return PQsslInUse(C(db)) ? PQsslAttribute(C(db), "protocol") : NULL;
}

/* The policy before connecting; the warning when only the opt-out passed. */
static int tls_precheck(const char *url, enum db_tls tls, int warn, struct db_tls_report *rep,
			char *err, size_t errlen)
{
	int rc = db_tls_check(url, tls, rep, err, errlen);

	if (rc == 0 && rep->insecure && warn)
		am_log(AM_LOG_WARN, "db_tls_insecure", "hosts", rep->hosts, "sslmode", rep->sslmode,
		       "setting", "database_tls = insecure-allow", "hint",
		       "the database connection is not required to use verified TLS");
	return rc;
}

/* A connection the policy required TLS for must have it (sslmode=verify-full
 * guarantees it, unless e.g. GSSAPI encryption was negotiated instead). */
static int tls_postcheck(struct pg_db *d, const struct db_tls_report *rep, char *err, size_t errlen)
{
	const char *proto = db_pgsql_tls_protocol(&d->base);

	if (rep->local || rep->insecure || db_tls_protocol_ok(proto))
		return 0;
	snprintf(err, errlen,
		 "database: connected to \"%.100s\" without TLS 1.2 or later (%s); add "
		 "gssencmode=disable to the URL if GSSAPI encryption was chosen",
		 rep->remote, proto ? proto : "no TLS");
	return AM_ERR_DB;
}

int db_pgsql_open(const char *url, enum db_tls tls, int warn, struct db **out, char *err,
		  size_t errlen)
{
	struct db_tls_report rep;
	struct pg_db *d = NULL;
	char set[160];
	int rc;

	if ((rc = tls_precheck(url, tls, warn, &rep, err, errlen)) != 0)
		return rc;
	if (!(d = calloc(1, sizeof(*d))))
		return AM_ERR_NOMEM;
	d->base.ops = &pg_ops;
	d->base.engine = DB_PGSQL;
	d->c = PQconnectdb(url);
	if (!d->c || PQstatus(d->c) != CONNECTION_OK) {
		const char *m = d->c ? PQerrorMessage(d->c) : "out of memory";
		size_t n = strlen(m);

		while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
			n--;
		rc = d->c ? AM_ERR_DB : AM_ERR_NOMEM;
		snprintf(err, errlen, "postgres: %.*s", (int)n, m);
		PQfinish(d->c);
		free(d);
		return rc;
	}
	if ((rc = tls_postcheck(d, &rep, err, errlen)) != 0) {
		pg_close(&d->base);
		return rc;
	}
	PQsetNoticeProcessor(d->c, quiet, NULL);
	/* An operator's own statement_timeout in the URL's options wins. */
	snprintf(set, sizeof(set),
		 "SET client_min_messages = warning; SET idle_in_transaction_session_timeout = %d;",
		 IDLE_TX_TIMEOUT_MS);
	if (!strstr(url, "statement_timeout"))
		snprintf(set + strlen(set), sizeof(set) - strlen(set),
			 " SET statement_timeout = %d;", STATEMENT_TIMEOUT_MS);
	if (pg_exec(&d->base, set)) {
		snprintf(err, errlen, "%s", d->base.err);
		pg_close(&d->base);
		return AM_ERR_DB;
	}
	*out = &d->base;
	return 0;
}
