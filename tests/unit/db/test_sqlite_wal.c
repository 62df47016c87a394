/*
 * test_sqlite_wal.c: a -wal or -shm deleted or replaced while audiomus runs
 * (src/db/db_sqlite.c, "-wal and -shm"). An operator who deletes them under
 * a running server and then runs `audiomus user add` got "created" and a
 * lost account: each process committed into its own -wal. Now every write
 * and COMMIT of a running process fails with AM_ERR_UNAVAIL and the
 * documented message, a new connection of that process is refused, a new
 * process is refused at open, reads go on, and once every process has
 * stopped, what was committed before the deletion is in the database.
 * The second process is a forked child that opens its own connection after
 * the fork (the parent holds none then).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "db/db.h"
#include "util/util.h"

#include "db/sqlite_helpers.inc"

#define GONE "deleted or replaced while audiomus was running"

static char base[64];

struct one {
	char path[128], url[136];
};

static void suffixed(const struct one *o, const char *sfx, char *p, size_t n)
{
	snprintf(p, n, "%s%s", o->path, sfx);
}

static void unlink_side(const struct one *o)
{
	char p[160];

	suffixed(o, "-wal", p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	suffixed(o, "-shm", p, sizeof(p));
	assert_int_equal(unlink(p), 0);
}

static int setup(void **state)
{
	static int seq;
	struct one *o = calloc(1, sizeof(*o));
	struct db *db = NULL;

	assert_non_null(o);
	snprintf(o->path, sizeof(o->path), "%s/w%d.db", base, ++seq);
	snprintf(o->url, sizeof(o->url), "sqlite:%s", o->path);
	open_one(o->url, &db);
	assert_int_equal(db_exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)"),
			 0);
	db_close(db);
	*state = o;
	return 0;
}

static int teardown(void **state)
{
	struct one *o = *state;
	char p[160];
	static const char *const sfx[] = {"", "-wal", "-shm", "-shm.copy"};

	for (size_t i = 0; i < AM_ARRAY_LEN(sfx); i++) {
		suffixed(o, sfx[i], p, sizeof(p));
		unlink(p);
	}
	free(o);
	return 0;
}

/* The number of rows of t, or -1. */
static int64_t rows(struct db *db)
{
	struct db_stmt *st = NULL;
	int64_t n = -1;

	if (db_prepare(db, "SELECT count(*) FROM t", &st) == 0 && db_step(st) == DB_ROW)
		n = db_column_int64(st, 0);
	db_finalize(st);
	return n;
}

static void refused(struct db *db, int rc)
{
	assert_int_equal(rc, AM_ERR_UNAVAIL);
	if (!strstr(db_errmsg(db), GONE))
		fail_msg("message: %s", db_errmsg(db));
}

/* One process, two connections (a pool): every way to write fails, reads
 * go on, a third connection is refused; after the last close the commits
 * made before the deletion are in the database, the refused ones are not. */
static void deleted_in_one_process(void **state)
{
	struct one *o = *state;
	struct db *a = NULL, *b = NULL, *c = NULL;
	char err[512];

	open_one(o->url, &a);
	open_one(o->url, &b);
	assert_int_equal(run(a, "INSERT INTO t (k, v) VALUES (1, 1)"), DB_DONE);
	assert_int_equal(db_begin_write(b), 0);
	assert_int_equal(run(b, "INSERT INTO t (k, v) VALUES (2, 2)"), DB_DONE);

	unlink_side(o);

	refused(b, db_commit(b));				  /* a transaction under way */
	refused(a, db_begin_write(a));				  /* a new write transaction */
	refused(a, run(a, "INSERT INTO t (k, v) VALUES (3, 3)")); /* autocommit */
	refused(b, db_exec(b, "INSERT INTO t (k, v) VALUES (4, 4)"));
	assert_int_equal(db_begin(a), 0); /* reads go on, and a read's COMMIT */
	assert_int_equal(rows(a), 1);
	assert_int_equal(db_commit(a), 0);
	assert_int_not_equal(db_open(o->url, &c, err, sizeof(err)), 0);
	if (!strstr(err, GONE))
		fail_msg("open: %s", err);
	assert_null(c);

	db_close(a);
	db_close(b);
	open_one(o->url, &c); /* all stopped, then restarted */
	assert_int_equal(rows(c), 1);
	assert_int_equal(run(c, "INSERT INTO t (k, v) VALUES (5, 5)"), DB_DONE);
	assert_int_equal(rows(c), 2);
	db_close(c);
}

/* A new file at to: another inode. (The -shm itself is never opened here:
 * closing a descriptor of it would drop this process's SQLite locks.) */
static void new_file(const char *to)
{
	static const char zeros[32768];
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(out >= 0);
	assert_int_equal(write(out, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	close(out);
}

/* A -shm replaced by another file (another inode) is refused as well. */
static void replaced_shm(void **state)
{
	struct one *o = *state;
	struct db *a = NULL;
	char shm[160], copy[170];

	open_one(o->url, &a);
	assert_int_equal(run(a, "INSERT INTO t (k, v) VALUES (1, 1)"), DB_DONE);
	suffixed(o, "-shm", shm, sizeof(shm));
	suffixed(o, "-shm.copy", copy, sizeof(copy));
	new_file(copy);
	assert_int_equal(rename(copy, shm), 0);
	refused(a, run(a, "INSERT INTO t (k, v) VALUES (2, 2)"));
	db_close(a);
}

/* The child: the running server. Opens, commits a row, says so, waits for
 * the parent, then must be refused a write. Exit 0 when it was. */
static void server_child(const struct one *o, int ready, int go)
{
	struct db *db = NULL;
	char err[512], c = 0;
	int rc, ok;

	if (db_open(o->url, &db, err, sizeof(err)) != 0 ||
	    run(db, "INSERT INTO t (k, v) VALUES (1, 1)") != DB_DONE)
		_exit(10);
	if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 1)
		_exit(11);
	rc = db_begin_write(db);
	ok = rc == AM_ERR_UNAVAIL && strstr(db_errmsg(db), GONE);
	if (rc == 0)
		db_rollback(db);
	db_close(db); /* the last connection: its -wal goes into the database */
	_exit(ok ? 0 : 12);
}

/* Two processes: while the "server" runs, a second process opens fine;
 * after the -wal and -shm are deleted, a second process (`audiomus user
 * add`) is refused at open with the message, and the server's next write
 * is refused too. Once both stopped, the server's commit is there. */
static void deleted_under_another_process(void **state)
{
	struct one *o = *state;
	struct db *db = NULL;
	char err[512], c;
	int ready[2], go[2], st = -1;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		server_child(o, ready[1], go[0]);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);

	open_one(o->url, &db); /* no false alarm while all is well */
	assert_int_equal(rows(db), 1);
	db_close(db);
	db = NULL;

	unlink_side(o);
	assert_int_not_equal(db_open(o->url, &db, err, sizeof(err)), 0);
	if (!strstr(err, GONE))
		fail_msg("open: %s", err);
	assert_null(db);

	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(ready[0]);
	close(go[1]);

	open_one(o->url, &db);
	assert_int_equal(rows(db), 1);
	db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(deleted_in_one_process, setup, teardown),
	    cmocka_unit_test_setup_teardown(replaced_shm, setup, teardown),
	    cmocka_unit_test_setup_teardown(deleted_under_another_process, setup, teardown),
	};
	int rc;

	snprintf(base, sizeof(base), "/tmp/am-wal-XXXXXX");
	if (!mkdtemp(base))
		return 1;
	am_log_set_level(AM_LOG_ERROR);
	rc = cmocka_run_group_tests_name("db (sqlite -wal and -shm)", tests, NULL, NULL);
	rmdir(base);
	return rc;
}
