/*
 * test_store_durable.c: "no acknowledged write is lost" (docs/security.md
 * row 5.3), checked on the system calls themselves. The other store tests
 * read back through the page cache, and a crash test that _exits a child
 * keeps the page cache too, so they would all pass with every fsync removed.
 * Here each scenario runs in a child of this binary under
 * `strace -f -y`, which writes a marker to /dev/null just before and just
 * after the call under test; the parent reads the trace and asserts, in
 * order, what the kernel was asked before the call returned:
 *   - filesystem store commit: every write of the temporary, then
 *     fsync/fdatasync of the temporary, then renameat over the final name,
 *     then fsync of the directory; directories created by a put are
 *     fsynced in their parent;
 *   - SQLite: the connection is WAL with synchronous=FULL (not NORMAL, which
 *     in WAL mode acknowledges commits it has not synced), and a committed
 *     transaction's -wal writes are followed by an fsync/fdatasync of the
 *     -wal before db_commit returns.
 * A control scenario renames without any fsync and must be caught by the
 * same checks. strace is required (scripts/dev installs it); without it the
 * tests fail, they never skip. Test code only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db.h"
#include "store/store.h"
#include "util/util.h"

#define MARK_TAG "AM-DURABLE-MARK:"
#define MAX_EV	 8192
#define PATH_LEN 512

static char self_exe[PATH_MAX];

/* ---- the traced child ------------------------------------------------------ */

static int mark_fd = -1;

/* A write strace records in order with everything else: the test's clock. */
static void mark(const char *tag)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), MARK_TAG "%s\n", tag);

	if (write(mark_fd, buf, (size_t)n) != n)
		_exit(90);
}

static int child_fail(const char *what, const char *detail)
{
	fprintf(stderr, "traced child: %s: %s\n", what, detail ? detail : "");
	return 1;
}

/* One put of n bytes of key, marked put-begin/commit-begin/commit-end + tag. */
static int child_put(struct store *s, const char *key, size_t n, const char *tag)
{
	static char chunk[64 * 1024];
	struct store_put *p = NULL;
	struct store_err err;
	char m[64];

	memset(chunk, 'a', sizeof(chunk));
	snprintf(m, sizeof(m), "put-begin-%s", tag);
	mark(m);
	if (store_put_begin(s, key, &p, &err))
		return child_fail("put_begin", err.msg);
	for (size_t done = 0; done < n;) {
		size_t k = n - done < sizeof(chunk) ? n - done : sizeof(chunk);

		if (store_put_write(p, chunk, k))
			return child_fail("put_write", store_put_errmsg(p));
		done += k;
	}
	snprintf(m, sizeof(m), "commit-begin-%s", tag);
	mark(m);
	if (store_put_commit(p, NULL, &err))
		return child_fail("put_commit", err.msg);
	snprintf(m, sizeof(m), "commit-end-%s", tag);
	mark(m);
	return 0;
}

/* A fresh namespace (three new directories), then an overwrite of the same
 * key large enough for the write-behind path (sync_file_range is no fsync). */
static int child_fs(const char *dir)
{
	char url[PATH_LEN], key[STORE_KEY_MAX];
	uint8_t id[16];
	struct store *s = NULL;
	int rc;

	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(0x11 * (i + 1));
	snprintf(url, sizeof(url), "file:%s/objects", dir);
	if (store_open(url, &s, NULL))
		return child_fail("store_open", url);
	if (store_key_format(key, sizeof(key), "durable", id, "am1"))
		return child_fail("key", "");
	rc = child_put(s, key, 100000, "new") || child_put(s, key, 20u << 20, "overwrite");
	store_close(s);
	return rc;
}

/* The control: what a store without fsync would do. */
static int child_nosync(const char *dir)
{
	char tmp[PATH_LEN], fin[PATH_LEN];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.tmp-control", dir);
	snprintf(fin, sizeof(fin), "%s/control", dir);
	mark("commit-begin-control");
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, "data", 4) != 4 || close(fd) || rename(tmp, fin))
		return child_fail("control", strerror(errno));
	mark("commit-end-control");
	return 0;
}

static int child_sqlite(const char *dir)
{
	char url[PATH_LEN], err[256] = "";
	struct db *db = NULL;
	int rc = 1;

	snprintf(url, sizeof(url), "sqlite:%s/db/audiomus.db", dir);
	mark("open");
	if (db_open(url, &db, err, sizeof(err)))
		return child_fail("db_open", err);
	if (db_exec(db, "CREATE TABLE t (v TEXT)")) {
		child_fail("create", db_errmsg(db));
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		char m[64];

		snprintf(m, sizeof(m), "tx-begin-%d", i);
		mark(m);
		/* the third commit is lazy (db_lazy_commit: the upload lease's) */
		if ((i == 2 && db_lazy_commit(db, 1)) || db_begin_write(db) ||
		    db_exec(db, "INSERT INTO t VALUES ('acknowledged')")) {
			child_fail("insert", db_errmsg(db));
			goto out;
		}
		snprintf(m, sizeof(m), "commit-begin-%d", i);
		mark(m);
		if (db_commit(db)) {
			child_fail("commit", db_errmsg(db));
			goto out;
		}
		snprintf(m, sizeof(m), "commit-end-%d", i);
		mark(m);
	}
	rc = db_lazy_commit(db, 0) ? child_fail("restore", db_errmsg(db)) : 0;
out:
	db_close(db);
	return rc;
}

static int child_main(const char *scenario, const char *dir)
{
	if ((mark_fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
		return 2;
	if (!strcmp(scenario, "fs"))
		return child_fs(dir);
	if (!strcmp(scenario, "sqlite"))
		return child_sqlite(dir);
	if (!strcmp(scenario, "nosync"))
		return child_nosync(dir);
	return 2;
}

/* ---- the trace ------------------------------------------------------------- */

enum ev_kind { EV_MARK, EV_SYNC, EV_RENAME, EV_MKDIR, EV_WRITE };

struct ev {
	enum ev_kind kind;
	char a[PATH_LEN]; /* mark tag; synced, written or created path; rename source */
	char b[PATH_LEN]; /* rename target */
};

struct trace {
	struct ev ev[MAX_EV];
	int n;
	char log[PATH_LEN];
};

/* Split "a, b, c" at top-level commas (outside quotes and <...>), in place. */
static int split_args(char *s, char **out, int max)
{
	int n = 0, depth = 0, quoted = 0;

	out[n++] = s;
	for (char *p = s; *p; p++) {
		if (quoted) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				quoted = 0;
		} else if (*p == '"') {
			quoted = 1;
		} else if (*p == '<') {
			depth++;
		} else if (*p == '>' && depth > 0) {
			depth--;
		} else if (*p == ',' && depth == 0 && n < max) {
			*p = 0;
			out[n++] = p[1] == ' ' ? p + 2 : p + 1;
		}
	}
	return n;
}

/* "5</a/b>" -> "/a/b"; "\"name\"" -> "name"; AT_FDCWD -> "". */
static void arg_text(const char *arg, char *out, size_t outsz)
{
	const char *lt = strchr(arg, '<'), *gt = strrchr(arg, '>');
	size_t n = 0;

	if (arg[0] == '"') {
		lt = arg;
		gt = strrchr(arg + 1, '"');
	}
	if (lt && gt && gt > lt)
		n = (size_t)(gt - lt - 1);
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, lt && n ? lt + 1 : "", n);
	out[n] = 0;
}

/* dirfd argument + name argument -> absolute path. */
static void at_path(const char *dirarg, const char *namearg, char *out, size_t outsz)
{
	char d[PATH_LEN], nm[PATH_LEN];
	size_t dl, nl;

	arg_text(dirarg, d, sizeof(d));
	arg_text(namearg, nm, sizeof(nm));
	if (nm[0] == '/')
		d[0] = 0;
	dl = strlen(d);
	nl = strlen(nm);
	if (dl + 1 + nl >= outsz)
		fail_msg("traced path too long: %s/%s", d, nm);
	memcpy(out, d, dl);
	if (dl)
		out[dl++] = '/';
	memcpy(out + dl, nm, nl + 1);
}

/* One completed system call "name(args) = ret" into t (pending halves of
 * "<unfinished ...>" / "<... resumed>" are joined by the caller). */
static void parse_call(struct trace *t, const char *line)
{
	char buf[16 * PATH_LEN], *args[8], *open, *close, *eq = NULL;
	struct ev *e = &t->ev[t->n];
	int na;

	if (t->n >= MAX_EV)
		fail_msg("more than %d traced calls", MAX_EV);
	snprintf(buf, sizeof(buf), "%s", line);
	if (!(open = strchr(buf, '(')))
		return;
	/* the result follows the last ") = " (a printed string may hold one) */
	for (char *q = open; (q = strstr(q, ") = ")); q++)
		eq = q;
	if (!eq)
		return;
	if (strtol(eq + 4, NULL, 10) < 0)
		return; /* a failed call did nothing to rely on */
	*open = 0;
	close = eq;
	*close = 0;
	na = split_args(open + 1, args, 8);
	memset(e, 0, sizeof(*e));
	if (!strcmp(buf, "fsync") || !strcmp(buf, "fdatasync")) {
		e->kind = EV_SYNC;
		arg_text(args[0], e->a, sizeof(e->a));
	} else if (!strcmp(buf, "rename") && na >= 2) {
		e->kind = EV_RENAME;
		at_path("", args[0], e->a, sizeof(e->a));
		at_path("", args[1], e->b, sizeof(e->b));
	} else if ((!strcmp(buf, "renameat") || !strcmp(buf, "renameat2")) && na >= 4) {
		e->kind = EV_RENAME;
		at_path(args[0], args[1], e->a, sizeof(e->a));
		at_path(args[2], args[3], e->b, sizeof(e->b));
	} else if (!strcmp(buf, "mkdir")) {
		e->kind = EV_MKDIR;
		at_path("", args[0], e->a, sizeof(e->a));
	} else if (!strcmp(buf, "mkdirat") && na >= 2) {
		e->kind = EV_MKDIR;
		at_path(args[0], args[1], e->a, sizeof(e->a));
	} else if (!strncmp(buf, "write", 5) || !strncmp(buf, "pwrite", 6)) {
		const char *m = na >= 2 ? strstr(args[1], MARK_TAG) : NULL;

		if (m) {
			e->kind = EV_MARK;
			snprintf(e->a, sizeof(e->a), "%.*s",
				 (int)strcspn(m + strlen(MARK_TAG), "\\\""), m + strlen(MARK_TAG));
		} else {
			e->kind = EV_WRITE;
			arg_text(args[0], e->a, sizeof(e->a));
		}
	} else {
		return;
	}
	t->n++;
}

/* Read strace's -o log: "PID name(args) = ret", or split in two halves,
 * "<unfinished ...>" then "<... name resumed>", when another thread's call
 * came in between: joined per PID and counted when the call completed. */
static void trace_load(struct trace *t)
{
	static struct {
		long pid;
		char text[8 * PATH_LEN];
	} pend[16];
	static char line[8 * PATH_LEN], joined[16 * PATH_LEN + 8];
	FILE *fp = fopen(t->log, "r");

	assert_non_null(fp);
	t->n = 0;
	memset(pend, 0, sizeof(pend));
	while (fgets(line, sizeof(line), fp)) {
		char *p = line, *u, *r;
		long pid = strtol(line, &p, 10);
		int k = 0;

		line[strcspn(line, "\n")] = 0;
		while (*p == ' ')
			p++;
		while (k < 15 && pend[k].pid && pend[k].pid != pid)
			k++;
		if ((u = strstr(p, " <unfinished ...>"))) {
			*u = 0;
			pend[k].pid = pid;
			snprintf(pend[k].text, sizeof(pend[k].text), "%s", p);
		} else if (!strncmp(p, "<... ", 5) && (r = strstr(p, " resumed>"))) {
			snprintf(joined, sizeof(joined), "%s%s",
				 pend[k].pid == pid ? pend[k].text : "", r + 9);
			pend[k].text[0] = 0;
			parse_call(t, joined);
		} else {
			parse_call(t, p);
		}
	}
	fclose(fp);
}

static int find_mark(const struct trace *t, const char *tag)
{
	for (int i = 0; i < t->n; i++)
		if (t->ev[i].kind == EV_MARK && !strcmp(t->ev[i].a, tag))
			return i;
	fail_msg("marker %s not in the trace %s", tag, t->log);
	return -1;
}

/* First event of kind on path in (from, to), or -1. */
static int find_ev(const struct trace *t, enum ev_kind kind, const char *path, int from, int to)
{
	for (int i = from + 1; i < to; i++)
		if (t->ev[i].kind == kind && !strcmp(t->ev[i].a, path))
			return i;
	return -1;
}

static void dir_of(const char *path, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s", path);
	if (strrchr(out, '/'))
		*strrchr(out, '/') = 0;
}

/* The order a durable commit needs inside [commit-begin-tag, commit-end-tag]:
 * the temporary's last write, its fsync, the rename, the directory's fsync.
 * Returns NULL when it holds, else what is missing. */
static const char *check_commit(const struct trace *t, const char *tag, int put_begin)
{
	static char why[2 * PATH_LEN];
	char m[64], dir[PATH_LEN];
	int b, e, r = -1, s = -1, last_write = -1;

	snprintf(m, sizeof(m), "commit-begin-%s", tag);
	b = find_mark(t, m);
	snprintf(m, sizeof(m), "commit-end-%s", tag);
	e = find_mark(t, m);
	for (int i = b + 1; i < e; i++)
		if (t->ev[i].kind == EV_RENAME) {
			if (r >= 0)
				return "more than one rename in the commit";
			r = i;
		}
	if (r < 0)
		return "no rename inside the commit call";
	if (!strstr(t->ev[r].a, "/.tmp-"))
		return "the rename's source is not a temporary";
	for (int i = put_begin + 1; i < r; i++)
		if (t->ev[i].kind == EV_WRITE && !strcmp(t->ev[i].a, t->ev[r].a))
			last_write = i;
	if (last_write < 0)
		return "no write of the temporary was traced (vacuous)";
	for (int i = last_write + 1; i < r; i++)
		if (t->ev[i].kind == EV_SYNC && !strcmp(t->ev[i].a, t->ev[r].a))
			s = i;
	if (s < 0) {
		snprintf(why, sizeof(why), "no fsync of %s between its last write and the rename",
			 t->ev[r].a);
		return why;
	}
	dir_of(t->ev[r].b, dir, sizeof(dir));
	if (find_ev(t, EV_SYNC, dir, r, e) < 0) {
		snprintf(why, sizeof(why),
			 "no fsync of the directory %s after the rename, before commit returned",
			 dir);
		return why;
	}
	return NULL;
}

/* ---- running a scenario ---------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* 1 if an executable strace is on PATH. */
static int strace_found(void)
{
	const char *path = getenv("PATH");
	char dir[PATH_LEN], exe[PATH_LEN + 8];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		snprintf(dir, sizeof(dir), "%.*s", (int)n, p);
		snprintf(exe, sizeof(exe), "%s/strace", dir[0] ? dir : ".");
		if (access(exe, X_OK) == 0)
			return 1;
		p += n + (p[n] == ':');
	}
	return 0;
}

/* Run scenario under strace in a fresh directory; *dir receives it. */
static void run_traced(const char *scenario, char *dir, size_t dirsz, struct trace *t)
{
	const char *tmp = getenv("TMPDIR");
	char errlog[PATH_LEN], asan[512];
	const char *old_asan = getenv("ASAN_OPTIONS");
	pid_t pid;
	int status, n;

	if (!strace_found())
		fail_msg(
		    "strace is not installed: it is required to check the fsync order of row 5.3 "
		    "(./scripts/dev deps installs it; apt-get install strace)");
	n = snprintf(dir, dirsz, "%s/am-durable-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_true(n > 0 && (size_t)n < dirsz && mkdtemp(dir));
	snprintf(t->log, sizeof(t->log), "%s/trace.log", dir);
	snprintf(errlog, sizeof(errlog), "%s/stderr.log", dir);
	/* LeakSanitizer cannot run under ptrace; the ASan build's child skips it. */
	snprintf(asan, sizeof(asan), "%s%sdetect_leaks=0", old_asan ? old_asan : "",
		 old_asan && *old_asan ? ":" : "");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 2) < 0 || dup2(fd, 1) < 0)
			_exit(127);
		setenv("ASAN_OPTIONS", asan, 1);
		execlp(
		    "strace", "strace", "-f", "-qq", "-y", "-s", "64", "-e", "signal=none", "-e",
		    "trace=fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat,write,pwrite64,"
		    "writev,pwritev,pwritev2",
		    "-o", t->log, "--", self_exe, "--traced", scenario, dir, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char line[512];
		FILE *fp = fopen(errlog, "r");

		while (fp && fgets(line, sizeof(line), fp))
			fprintf(stderr, "    %s", line);
		if (fp)
			fclose(fp);
		fail_msg("strace of scenario %s failed (status %d%s)", scenario, status,
			 WIFEXITED(status) && WEXITSTATUS(status) == 127
			     ? ": strace could not be run; it is required (./scripts/dev deps)"
			     : "");
	}
	trace_load(t);
}

static void cleanup(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Every directory created between marker from and to is fsynced in its
 * parent before to. Returns how many were created. */
static int check_mkdirs(const struct trace *t, int from, int to)
{
	char parent[PATH_LEN];
	int n = 0;

	for (int i = from + 1; i < to; i++) {
		if (t->ev[i].kind != EV_MKDIR)
			continue;
		dir_of(t->ev[i].a, parent, sizeof(parent));
		if (find_ev(t, EV_SYNC, parent, i, to) < 0)
			fail_msg("directory %s created but %s not fsynced before commit returned",
				 t->ev[i].a, parent);
		n++;
	}
	return n;
}

/* ---- tests ----------------------------------------------------------------- */

/* store_put_commit of the filesystem store: a new object in a new namespace
 * (three new directories) and a 20 MiB overwrite through write-behind. */
static void fs_commit_durable_before_return(void **state)
{
	static struct trace t;
	char dir[PATH_LEN], path[PATH_LEN + 64];
	const char *why;
	struct stat st;

	run_traced("fs", dir, sizeof(dir), &t);
	why = check_commit(&t, "new", find_mark(&t, "put-begin-new"));
	if (why)
		fail_msg("new object: %s (trace: %s)", why, t.log);
	why = check_commit(&t, "overwrite", find_mark(&t, "put-begin-overwrite"));
	if (why)
		fail_msg("overwrite: %s (trace: %s)", why, t.log);
	assert_int_equal(
	    check_mkdirs(&t, find_mark(&t, "put-begin-new"), find_mark(&t, "commit-end-new")), 3);
	assert_int_equal(check_mkdirs(&t, find_mark(&t, "put-begin-overwrite"),
				      find_mark(&t, "commit-end-overwrite")),
			 0);
	/* the key of child_fs: id 11 22 33 … ff 10 */
	snprintf(path, sizeof(path),
		 "%s/objects/durable/11/22/112233445566778899aabbccddeeff10.am1", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 20 << 20);
	cleanup(dir);
}

/* The control: a rename with no fsync at all is caught by the same check,
 * and so is one whose directory is never synced. */
static void control_missing_fsync_is_caught(void **state)
{
	static struct trace t;
	char dir[PATH_LEN];
	const char *why;
	int b, r = -1;

	run_traced("nosync", dir, sizeof(dir), &t);
	b = find_mark(&t, "commit-begin-control");
	why = check_commit(&t, "control", b);
	assert_non_null(why);
	assert_non_null(strstr(why, "no fsync of"));
	/* add the file's fsync by hand: now only the directory's is missing */
	for (int i = 0; i < t.n; i++)
		if (t.ev[i].kind == EV_RENAME)
			r = i;
	assert_true(r > b && t.n < MAX_EV);
	memmove(&t.ev[r + 1], &t.ev[r], sizeof(t.ev[0]) * (size_t)(t.n - r));
	t.n++;
	t.ev[r].kind = EV_SYNC;
	memcpy(t.ev[r].a, t.ev[r + 1].a, sizeof(t.ev[r].a));
	why = check_commit(&t, "control", b);
	assert_non_null(why);
	assert_non_null(strstr(why, "directory"));
	cleanup(dir);
}

/* Every connection db_open and the pool give out is WAL + synchronous=FULL:
 * in WAL mode NORMAL acknowledges commits that a power cut can still lose. */
static void check_pragmas(struct db *db)
{
	struct db_stmt *st = NULL;

	assert_int_equal(db_prepare(db, "PRAGMA journal_mode", &st), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_string_equal(db_column_text(st, 0), "wal");
	db_finalize(st);
	assert_int_equal(db_prepare(db, "PRAGMA synchronous", &st), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), 2); /* FULL */
	db_finalize(st);
}

static void sqlite_connections_wal_full(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_LEN], url[PATH_LEN + 32], err[256] = "";
	struct db *db = NULL, *a = NULL, *b = NULL;
	struct db_pool *pool = NULL;

	snprintf(dir, sizeof(dir), "%s/am-durable-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(url, sizeof(url), "sqlite:%s/audiomus.db", dir);
	assert_int_equal(db_open(url, &db, err, sizeof(err)), 0);
	check_pragmas(db);
	assert_int_equal(db_pool_new(url, 2, &pool, err, sizeof(err)), 0);
	assert_int_equal(db_pool_get(pool, 1000, &a), 0);
	assert_int_equal(db_pool_get(pool, 1000, &b), 0);
	assert_ptr_not_equal(a, b);
	check_pragmas(a);
	check_pragmas(b);
	db_pool_put(pool, a);
	db_pool_put(pool, b);
	db_pool_free(pool);
	db_close(db);
	cleanup(dir);
}

/* A committed transaction: its -wal writes, then an fsync/fdatasync of the
 * -wal, all before db_commit returns (twice: the first commit after the
 * schema and a later one); a third, lazy commit syncs nothing. The -wal file's creation is made
 * durable too: its directory is synced after the first write to it, before any commit after it
 * returns. */
static void sqlite_commit_syncs_wal(void **state)
{
	static struct trace t;
	char dir[PATH_LEN], wal[PATH_LEN + 32], dbdir[PATH_LEN + 8], m[32];
	int first, b, e;

	run_traced("sqlite", dir, sizeof(dir), &t);
	snprintf(wal, sizeof(wal), "%s/db/audiomus.db-wal", dir);
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	first = find_ev(&t, EV_WRITE, wal, find_mark(&t, "open"), t.n);
	assert_true(first > 0);
	if (find_ev(&t, EV_SYNC, dbdir, first, find_mark(&t, "tx-begin-0")) < 0)
		fail_msg("%s created but %s not synced (trace: %s)", wal, dbdir, t.log);
	for (int i = 0; i < 2; i++) {
		int last = -1;

		snprintf(m, sizeof(m), "commit-begin-%d", i);
		b = find_mark(&t, m);
		snprintf(m, sizeof(m), "commit-end-%d", i);
		e = find_mark(&t, m);
		for (int k = b + 1; k < e; k++)
			if (t.ev[k].kind == EV_WRITE && !strcmp(t.ev[k].a, wal))
				last = k;
		if (last < 0)
			fail_msg("commit %d wrote nothing to %s (trace: %s)", i, wal, t.log);
		if (find_ev(&t, EV_SYNC, wal, last, e) < 0)
			fail_msg("commit %d returned without an fsync of %s after its last write "
				 "(trace: %s)",
				 i, wal, t.log);
	}
	/* A lazy commit (db_lazy_commit, the upload lease's) writes the -wal
	 * and returns without syncing it: the wait it exists to avoid. */
	b = find_mark(&t, "commit-begin-2");
	e = find_mark(&t, "commit-end-2");
	if (find_ev(&t, EV_WRITE, wal, b, e) < 0)
		fail_msg("the lazy commit wrote nothing to %s (trace: %s)", wal, t.log);
	if (find_ev(&t, EV_SYNC, wal, b, e) >= 0)
		fail_msg("the lazy commit synced %s (trace: %s)", wal, t.log);
	cleanup(dir);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(fs_commit_durable_before_return),
	    cmocka_unit_test(control_missing_fsync_is_caught),
	    cmocka_unit_test(sqlite_connections_wal_full),
	    cmocka_unit_test(sqlite_commit_syncs_wal),
	};
	ssize_t n;

	if (argc == 4 && !strcmp(argv[1], "--traced"))
		return child_main(argv[2], argv[3]);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return 1;
	self_exe[n] = 0;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
