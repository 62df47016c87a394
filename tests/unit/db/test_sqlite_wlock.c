/*
 * test_sqlite_wlock.c: the SQLite engine's in-process write lock
 * (src/db/db_sqlite.c). Writers of one process queue on it instead of
 * SQLite's sleeping busy handler, so it must be released on every path that
 * ends a write: COMMIT, ROLLBACK, a failed BEGIN or statement, an
 * autocommit statement that finishes, is reset or is finalized before its
 * end, db_exec, and db_close with a transaction open. Each path below is
 * followed by a write on a second connection to the same file: a leaked
 * lock makes that write fail with AM_ERR_UNAVAIL after the 5 s wait, so the
 * tests fail without asserting any time. One test waits those 5 s on
 * purpose, to show that a writer really waits on this lock (its message)
 * and that the lock is per file.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "db/db.h"
#include "util/util.h"

#include "db/sqlite_helpers.inc"

static char base[64];

struct two {
	char url[128], url2[128];
	struct db *a, *b;
};

static int setup(void **state)
{
	static int seq;
	struct two *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	seq++;
	snprintf(t->url, sizeof(t->url), "sqlite:%s/w%d.db", base, seq);
	snprintf(t->url2, sizeof(t->url2), "sqlite:%s/w%d-other.db", base, seq);
	open_one(t->url, &t->a);
	open_one(t->url, &t->b);
	assert_int_equal(
	    db_exec(t->a, "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)"), 0);
	assert_int_equal(db_exec(t->a, "INSERT INTO t (k, v) VALUES (1, 0)"), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct two *t = *state;
	char p[160];
	static const char *const sfx[] = {"", "-wal", "-shm"};

	db_close(t->a);
	db_close(t->b);
	for (size_t i = 0; i < AM_ARRAY_LEN(sfx); i++) {
		snprintf(p, sizeof(p), "%s%s", t->url + 7, sfx[i]);
		unlink(p);
		snprintf(p, sizeof(p), "%s%s", t->url2 + 7, sfx[i]);
		unlink(p);
	}
	free(t);
	return 0;
}

/* The other connection can write right now (else AM_ERR_UNAVAIL in 5 s). */
static void other_writes(struct db *db)
{
	int rc = db_begin_write(db);

	if (rc)
		fail_msg("begin_write: %d %s", rc, db_errmsg(db));
	assert_int_equal(run(db, "UPDATE t SET v = v + 1 WHERE k = 1"), DB_DONE);
	assert_int_equal(db_commit(db), 0);
}

static void released_on_every_path(void **state)
{
	struct two *t = *state;
	struct db_stmt *st = NULL;

	/* write transaction: commit, rollback */
	assert_int_equal(db_begin_write(t->a), 0);
	assert_int_equal(run(t->a, "INSERT INTO t (k, v) VALUES (2, 0)"), DB_DONE);
	assert_int_equal(db_commit(t->a), 0);
	other_writes(t->b);
	assert_int_equal(db_begin_write(t->a), 0);
	assert_int_equal(db_rollback(t->a), 0);
	other_writes(t->b);
	/* nested: only the outer commit ends it; an inner failure rolls back */
	assert_int_equal(db_begin_write(t->a), 0);
	assert_int_equal(db_begin_write(t->a), 0);
	assert_int_equal(db_rollback(t->a), 0);
	assert_int_equal(db_commit(t->a), AM_ERR_CONFLICT);
	other_writes(t->b);
	/* autocommit statements: done, failed, finalized or reset mid-way */
	assert_int_equal(run(t->a, "UPDATE t SET v = 7 WHERE k = 2"), DB_DONE);
	other_writes(t->b);
	assert_int_equal(run(t->a, "INSERT INTO t (k, v) VALUES (2, 0)"), AM_ERR_EXISTS);
	other_writes(t->b);
	assert_int_equal(
	    db_prepare(t->a, "INSERT INTO t (k, v) VALUES (3, 3), (4, 4) RETURNING k", &st), 0);
	assert_int_equal(db_step(st), DB_ROW);
	db_finalize(st);
	other_writes(t->b);
	assert_int_equal(db_prepare(t->a, "UPDATE t SET v = v + 1 RETURNING k", &st), 0);
	assert_int_equal(db_step(st), DB_ROW);
	db_reset(st);
	other_writes(t->b);
	assert_int_equal(db_step(st), DB_ROW); /* again after the reset: takes it again */
	db_finalize(st);
	other_writes(t->b);
	/* a deferred transaction that writes holds it from its first write */
	assert_int_equal(db_begin(t->a), 0);
	assert_int_equal(run(t->a, "SELECT v FROM t WHERE k = 1"), DB_ROW);
	assert_int_equal(run(t->a, "UPDATE t SET v = 0 WHERE k = 3"), DB_DONE);
	assert_int_equal(db_commit(t->a), 0);
	other_writes(t->b);
	/* db_exec, also when it fails */
	assert_int_equal(db_exec(t->a, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
	other_writes(t->b);
	assert_int_not_equal(db_exec(t->a, "INSERT INTO nope VALUES (1)"), 0);
	other_writes(t->b);
	/* closed with a transaction open */
	assert_int_equal(db_begin_write(t->a), 0);
	assert_int_equal(run(t->a, "UPDATE t SET v = 99 WHERE k = 1"), DB_DONE);
	db_close(t->a);
	t->a = NULL;
	other_writes(t->b);
	open_one(t->url, &t->a);
	/* and reads never take it: a reader inside b's write transaction */
	assert_int_equal(db_begin_write(t->b), 0);
	assert_int_equal(run(t->a, "SELECT v FROM t WHERE k = 1"), DB_ROW);
	assert_int_equal(db_begin(t->a), 0);
	assert_int_equal(run(t->a, "SELECT v FROM t WHERE k = 1"), DB_ROW);
	assert_int_equal(db_commit(t->a), 0);
	assert_int_equal(db_commit(t->b), 0);
}

/* A second writer of this process waits on the in-process lock (and says
 * so when it gives up); another database file has its own lock. */
static void waits_per_file(void **state)
{
	struct two *t = *state;
	struct db *other = NULL;

	assert_int_equal(db_begin_write(t->a), 0);
	open_one(t->url2, &other);
	assert_int_equal(db_begin_write(other), 0); /* not blocked by a's lock */
	assert_int_equal(db_exec(other, "CREATE TABLE u (k INTEGER)"), 0);
	assert_int_equal(db_commit(other), 0);
	db_close(other);
	assert_int_equal(db_begin_write(t->b), AM_ERR_UNAVAIL); /* after BUSY_TIMEOUT_MS */
	assert_non_null(strstr(db_errmsg(t->b), "this process"));
	assert_int_equal(db_in_tx(t->b), 0);
	assert_int_equal(run(t->b, "UPDATE t SET v = 5 WHERE k = 1"), AM_ERR_UNAVAIL);
	assert_int_equal(db_commit(t->a), 0);
	other_writes(t->b);
}

/* Many threads, each with its own connection, incrementing one counter
 * in write transactions and autocommit statements: every write lands,
 * none fails with busy. */
#define THREADS 4
#define ROUNDS	50

struct worker {
	const char *url;
	int errors;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct db *db = NULL;
	char err[256];

	if (db_open(w->url, &db, err, sizeof(err))) {
		w->errors++;
		return NULL;
	}
	for (int i = 0; i < ROUNDS; i++) {
		if (i % 2) {
			if (db_begin_write(db) ||
			    run(db, "UPDATE t SET v = v + 1 WHERE k = 1") != DB_DONE ||
			    db_commit(db))
				w->errors++;
			db_rollback(db);
		} else if (run(db, "UPDATE t SET v = v + 1 WHERE k = 1") != DB_DONE) {
			w->errors++;
		}
	}
	db_close(db);
	return NULL;
}

static void concurrent_writers(void **state)
{
	struct two *t = *state;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	struct db_stmt *st = NULL;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){t->url, 0};
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
	assert_int_equal(db_prepare(t->a, "SELECT v FROM t WHERE k = 1", &st), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), THREADS * ROUNDS);
	db_finalize(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(released_on_every_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(concurrent_writers, setup, teardown),
	    cmocka_unit_test_setup_teardown(waits_per_file, setup, teardown),
	};
	int rc;

	snprintf(base, sizeof(base), "/tmp/am-wlock-XXXXXX");
	if (!mkdtemp(base))
		return 1;
	am_log_set_level(AM_LOG_ERROR);
	rc = cmocka_run_group_tests_name("db (sqlite write lock)", tests, NULL, NULL);
	rmdir(base);
	return rc;
}
