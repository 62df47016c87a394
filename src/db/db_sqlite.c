/*
 * db_sqlite.c: the SQLite 3.40 engine behind db.h, the embedded default.
 * Runs in every role of a single-node install; the database file lives in
 * the data directory (0700) and is created 0600 before SQLite opens it, so
 * the -wal and -shm files SQLite derives from it are 0600 too. Hardening:
 * WAL, secure_delete (freed pages are zeroed), foreign keys, defensive mode
 * (no writes to the schema by SQL), untrusted schema, temp data in memory.
 * Speed: each connection keeps its prepared statements (SQL text is a
 * small fixed set of literals, so a cache of SQ_CACHE statements per
 * connection turns nearly every prepare into a lookup); a connection is
 * used by one thread at a time (the pool), so it is opened NOMUTEX and
 * SQLite's global allocation statistics (a process-wide mutex on every
 * malloc) are turned off.
 * Writers of one process queue on an in-process write lock per database
 * file (struct sq_wlock) before they ask SQLite for its write lock: SQLite's
 * busy handler would make them poll with sleeps of 1-100 ms, so a writer
 * waited up to a sleep longer than the transaction ahead of it. The lock is
 * taken at BEGIN IMMEDIATE, or at the first step of a statement that writes
 * (also inside a deferred transaction, and for db_exec), and released when
 * the connection is back in autocommit mode with no writing statement
 * running: after COMMIT or ROLLBACK, or when an autocommit write finishes.
 * Waiting for it is bounded like the busy timeout (AM_ERR_UNAVAIL after
 * BUSY_TIMEOUT_MS). Other processes on the same file still meet SQLite's
 * busy handler.
 * A deleted or replaced -wal/-shm (an operator "cleaning up" while audiomus
 * runs) is refused, never written through; see "-wal and -shm" below.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "db/db_int.h"
#include "util/util.h"

#define BUSY_TIMEOUT_MS 5000
#define SQ_CACHE	64 /* prepared statements kept per connection */
#define PEER_TRIES	10 /* looks at /proc/locks before a stranger counts */
#define PEER_WAIT_MS	20
#define PEER_MAX	64 /* processes followed in /proc/locks */

#define WAL_GONE_MSG                                                                               \
	"the database's -wal or -shm file was deleted or replaced while audiomus was "             \
	"running; stop every audiomus process and restart (never delete -wal/-shm files)"

/* The -wal and -shm files a connection works with, by device and inode. */
struct sq_files {
	dev_t wal_dev, shm_dev;
	ino_t wal_ino, shm_ino;
};

/* One cached statement: the SQL it was prepared from (owned copy), its
 * hash, and whether a db_stmt currently holds it. */
struct sq_cached {
	char *sql;
	uint64_t hash;
	sqlite3_stmt *s;
	int busy;
};

/* The in-process write lock of one database file (device and inode), shared
 * by every connection of the process to it; refs counts those connections.
 * Not a pthread mutex: a pool connection may in principle be released by
 * another thread than the one that took it, so this is a flag under
 * wl_mu with a condition variable to wait on. */
struct sq_wlock {
	dev_t dev;
	ino_t ino;
	int refs;
	int held;
	int files_known;       /* files: what the first connection found */
	struct sq_files files; /* under wl_mu */
	pthread_cond_t cv;     /* CLOCK_MONOTONIC */
	struct sq_wlock *next;
};

static pthread_mutex_t wl_mu = PTHREAD_MUTEX_INITIALIZER; /* the list and every held flag */
static struct sq_wlock *wl_list;

struct sq_db {
	struct db base;
	sqlite3 *h;
	struct sq_cached cache[SQ_CACHE];
	unsigned clock;	     /* next slot to consider for eviction */
	struct sq_wlock *wl; /* NULL: the file could not be identified; busy handler only */
	int wl_held;	     /* this connection holds wl */
	int wl_writers;	     /* statements (or a db_exec) that write and are still running */
	char *wal_path;	     /* PATH-wal, PATH-shm (owned) */
	char *shm_path;
	struct sq_files files; /* as found at open */
	int files_on;	       /* in WAL mode: files is checked */
	int files_logged;      /* db_wal_replaced logged for this connection */
};

struct sq_stmt {
	struct db_stmt base;
	sqlite3_stmt *s;
	struct sq_cached *slot; /* NULL: not cached, finalized on db_finalize */
	int64_t changes;
	int done;
	int started; /* stepped since prepare or reset */
	int writer;  /* counted in wl_writers */
};

static sqlite3 *H(struct db *db)
{
	return ((struct sq_db *)db)->h;
}

/* ---- in-process write lock ------------------------------------------------ */

/* The lock of the file at path, created on first use; NULL if the file
 * cannot be identified or memory is short (the connection then relies on
 * the busy handler alone). */
static struct sq_wlock *wl_ref(const char *path)
{
	struct sq_wlock *l;
	pthread_condattr_t ca;
	struct stat sb;

	if (stat(path, &sb) != 0)
		return NULL;
	pthread_mutex_lock(&wl_mu);
	for (l = wl_list; l; l = l->next)
		if (l->dev == sb.st_dev && l->ino == sb.st_ino)
			break;
	if (!l && (l = calloc(1, sizeof(*l)))) {
		l->dev = sb.st_dev;
		l->ino = sb.st_ino;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&l->cv, &ca);
		pthread_condattr_destroy(&ca);
		l->next = wl_list;
		wl_list = l;
	}
	if (l)
		l->refs++;
	pthread_mutex_unlock(&wl_mu);
	return l;
}

static void wl_unref(struct sq_wlock *l)
{
	struct sq_wlock **pp;

	if (!l)
		return;
	pthread_mutex_lock(&wl_mu);
	if (--l->refs == 0) {
		for (pp = &wl_list; *pp != l; pp = &(*pp)->next)
			;
		*pp = l->next;
		pthread_cond_destroy(&l->cv);
		free(l);
	}
	pthread_mutex_unlock(&wl_mu);
}

/* Take the connection's write lock unless it holds it already, waiting at
 * most BUSY_TIMEOUT_MS: 0 or AM_ERR_UNAVAIL. */
static int wl_take(struct sq_db *d)
{
	struct timespec dl;
	int timed_out = 0;

	if (!d->wl || d->wl_held)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += BUSY_TIMEOUT_MS / 1000;
	dl.tv_nsec += (long)(BUSY_TIMEOUT_MS % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&wl_mu);
	while (d->wl->held && !timed_out)
		timed_out = pthread_cond_timedwait(&d->wl->cv, &wl_mu, &dl) == ETIMEDOUT;
	if (!d->wl->held)
		d->wl_held = d->wl->held = 1;
	pthread_mutex_unlock(&wl_mu);
	if (!d->wl_held)
		return db_set_err(
		    &d->base, AM_ERR_UNAVAIL,
		    "sqlite: another writer of this process held the write lock for %d ms",
		    BUSY_TIMEOUT_MS);
	return 0;
}

/* Release the write lock once the connection is out of any transaction and
 * no writing statement runs (SQLite released its own lock then too). */
static void wl_settle(struct sq_db *d)
{
	if (!d->wl_held || d->wl_writers > 0 || !sqlite3_get_autocommit(d->h))
		return;
	pthread_mutex_lock(&wl_mu);
	d->wl->held = 0;
	pthread_cond_signal(&d->wl->cv);
	pthread_mutex_unlock(&wl_mu);
	d->wl_held = 0;
}

/* A statement is done, failed, reset or finalized: it no longer counts as
 * a writer, and the lock goes if that ended the write (also after a COMMIT
 * or ROLLBACK run as a prepared statement). */
static void writer_end(struct sq_stmt *st)
{
	struct sq_db *d = (struct sq_db *)st->base.db;

	if (st->writer) {
		st->writer = 0;
		d->wl_writers--;
	}
	wl_settle(d);
}

static int files_check(struct sq_db *d);

/* A write begins: take the write lock and, when this starts the
 * connection's write (not a later statement of the same transaction), check
 * the -wal and -shm. 0, or AM_ERR_UNAVAIL with nothing held. */
static int write_start(struct sq_db *d)
{
	int first = !d->wl_held, rc;

	if ((rc = wl_take(d)) == 0 && first && (rc = files_check(d)) != 0)
		wl_settle(d);
	return rc;
}

/* ---- -wal and -shm ---------------------------------------------------------
 * SQLite finds a WAL database's -wal and -shm by name, and every process
 * keeps the ones it opened: the -shm mapped, the -wal open, the database
 * file under a shared lock as long as a connection is open. Deleted while a
 * process runs ("How To Corrupt An SQLite Database File": deleting a hot
 * journal, unlinking a file in use), that process goes on committing into a
 * -wal no other process can find, and a process started afterwards creates
 * new ones, believes it is alone, and commits into those: each acknowledges
 * writes the other never sees (an account "created" and lost), a crash loses
 * the unlinked -wal's commits, and checkpoints from both overwrite one
 * database. So:
 *  - every process remembers the files its first connection found (struct
 *    sq_wlock, shared by the process's connections to the file; a
 *    connection opened later must find the same ones, since the process's
 *    -shm mapping is shared by all of them);
 *  - the first connection of a process also refuses when another process
 *    holds a lock on the database file but none on the -shm just found
 *    (/proc/locks): in WAL mode every process with the file open holds a
 *    lock on both, so that process works with deleted files;
 *  - every write (BEGIN IMMEDIATE, an autocommit writing statement, db_exec)
 *    and every COMMIT first stats both names: gone or another inode and it
 *    fails with AM_ERR_UNAVAIL (503 to a client) and WAL_GONE_MSG, logged
 *    once per connection as db_wal_replaced. Two stat()s, about a
 *    microsecond each, against a commit's fdatasync of a millisecond or more.
 * Reads go on: the process's own view is consistent. Stopping every process
 * heals: the last one to close checkpoints its -wal (still open, so still
 * readable) into the database. A deletion between the check at COMMIT and
 * the write is not caught for that one commit; the next write is. */

static char *path_with(const char *path, const char *sfx)
{
	size_t n = strlen(path), m = strlen(sfx);
	char *p = malloc(n + m + 1);

	if (p) {
		memcpy(p, path, n);
		memcpy(p + n, sfx, m + 1);
	}
	return p;
}

/* The files now at the connection's -wal and -shm names: 0, or -1 when
 * either is missing. */
static int files_stat(const struct sq_db *d, struct sq_files *f)
{
	struct stat w, s;

	if (stat(d->wal_path, &w) != 0 || stat(d->shm_path, &s) != 0)
		return -1;
	*f = (struct sq_files){w.st_dev, s.st_dev, w.st_ino, s.st_ino};
	return 0;
}

static int files_same(const struct sq_files *a, const struct sq_files *b)
{
	return a->wal_dev == b->wal_dev && a->wal_ino == b->wal_ino && a->shm_dev == b->shm_dev &&
	       a->shm_ino == b->shm_ino;
}

/* Log db_wal_replaced (once per connection) and set the error: returns
 * AM_ERR_UNAVAIL. */
static int files_refuse(struct sq_db *d)
{
	if (!d->files_logged) {
		d->files_logged = 1;
		am_log(AM_LOG_ERROR, "db_wal_replaced", "detail", WAL_GONE_MSG);
	}
	return db_set_err(&d->base, AM_ERR_UNAVAIL, "sqlite: %s", WAL_GONE_MSG);
}

/* Before every write and COMMIT: the -wal and -shm are still the ones
 * opened. 0 or AM_ERR_UNAVAIL. */
static int files_check(struct sq_db *d)
{
	struct sq_files now;

	if (!d->files_on || (files_stat(d, &now) == 0 && files_same(&now, &d->files)))
		return 0;
	return files_refuse(d);
}

/* One pass over /proc/locks: 1 when a process other than this one holds a
 * lock on the database file (dev, ino) and none on the -shm (sdev, sino).
 * 0 when there is none, or no /proc/locks to read: only evidence refuses. */
static int peer_elsewhere_once(dev_t dev, ino_t ino, dev_t sdev, ino_t sino)
{
	long on_db[PEER_MAX], on_shm[PEER_MAX], pid;
	int ndb = 0, nshm = 0, found = 0;
	unsigned maj, mnr;
	unsigned long i;
	char line[256], kind[16];
	FILE *f = fopen("/proc/locks", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "->")) /* waiting, not holding */
			continue;
		if (sscanf(line, "%*[^:]: %15s %*s %*s %ld %x:%x:%lu", kind, &pid, &maj, &mnr,
			   &i) != 5 ||
		    pid <= 0 || pid == (long)getpid())
			continue;
		if (maj == major(dev) && mnr == minor(dev) && i == (unsigned long)ino &&
		    ndb < PEER_MAX)
			on_db[ndb++] = pid;
		else if (maj == major(sdev) && mnr == minor(sdev) && i == (unsigned long)sino &&
			 nshm < PEER_MAX)
			on_shm[nshm++] = pid;
	}
	fclose(f);
	for (int a = 0; a < ndb && !found; a++) {
		found = 1;
		for (int b = 0; b < nshm && found; b++)
			found = on_db[a] != on_shm[b];
	}
	return found;
}

/* As peer_elsewhere_once, but a process in the middle of opening the file
 * (locked the database, not yet the -shm) gets PEER_TRIES looks. */
static int peer_elsewhere(dev_t dev, ino_t ino, const struct sq_files *f)
{
	struct timespec ts = {0, PEER_WAIT_MS * 1000000L};

	for (int t = 0; t < PEER_TRIES; t++) {
		if (!peer_elsewhere_once(dev, ino, f->shm_dev, f->shm_ino))
			return 0;
		nanosleep(&ts, NULL);
	}
	return 1;
}

/* 1 when the connection's journal mode is WAL. */
static int wal_mode(sqlite3 *h)
{
	sqlite3_stmt *s = NULL;
	int wal = 0;

	if (sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		wal = sqlite3_column_text(s, 0) &&
		      strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
	sqlite3_finalize(s);
	return wal;
}

/* Whether the files at the names are those the process's connections work
 * with: 1 yes, 0 no, -1 the process has no connection that knows them.
 * Under wl_mu, so that a close that removes them (sq_close) is seen whole. */
static int files_known_same(struct sq_db *d, const struct sq_files *now)
{
	struct sq_files cur;
	int r = -1;

	if (!d->wl)
		return -1;
	pthread_mutex_lock(&wl_mu);
	if (d->wl->files_known)
		r = now ? files_same(now, &d->wl->files)
			: files_stat(d, &cur) == 0 && files_same(&cur, &d->wl->files);
	pthread_mutex_unlock(&wl_mu);
	return r;
}

/* Before SQLite opens the file: a process whose connections work with a
 * -wal and -shm no longer at their names must not open another one (it
 * would read the process's shared -shm against a new -wal). 0 or
 * AM_ERR_UNAVAIL. */
static int files_preopen(struct sq_db *d, const char *path)
{
	if (!(d->wal_path = path_with(path, "-wal")) || !(d->shm_path = path_with(path, "-shm")))
		return db_set_err(&d->base, AM_ERR_NOMEM, "out of memory");
	return files_known_same(d, NULL) == 0 ? files_refuse(d) : 0;
}

/* At open, after the WAL pragmas: take the files found as the connection's
 * own if they are the process's (or, for its first connection, no other
 * process works with other ones). 0 or AM_ERR_UNAVAIL. */
static int files_adopt(struct sq_db *d, const char *path)
{
	struct sq_files now;
	struct stat db;
	int known = 0, same = 0;

	if (!wal_mode(d->h))
		return 0; /* SQLite could not use WAL here: nothing to check */
	if (files_stat(d, &now) != 0 || stat(path, &db) != 0)
		return files_refuse(d);
	same = files_known_same(d, &now);
	known = same >= 0;
	if (known && !same)
		return files_refuse(d);
	if (!known && peer_elsewhere(db.st_dev, db.st_ino, &now))
		return files_refuse(d);
	if (d->wl && !known) {
		pthread_mutex_lock(&wl_mu);
		if (!d->wl->files_known) {
			d->wl->files = now;
			d->wl->files_known = 1;
		}
		pthread_mutex_unlock(&wl_mu);
	}
	d->files = now;
	d->files_on = 1;
	return 0;
}

/* A full or read-only disk, whatever SQLite calls it: SQLITE_FULL,
 * SQLITE_READONLY (any extended code), or an I/O error or failed open whose
 * errno says so (a failed write or fsync is SQLITE_IOERR_* with ENOSPC).
 * The errno is asked only for those two codes: it is not reset by a later
 * success, so it could be an older failure's. Else AM_ERR_DB. */
static int sq_storage_err(sqlite3 *h, int rc)
{
	int sys = 0;

	if ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN)
		sys = sqlite3_system_errno(h);
	if ((rc & 0xff) == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT)
		return AM_ERR_NOSPACE;
	if ((rc & 0xff) == SQLITE_READONLY || sys == EROFS)
		return AM_ERR_READONLY;
	return AM_ERR_DB;
}

/* Map a SQLite result code to enum am_err, keeping the detail on db. */
static int sq_err(struct db *db, int rc)
{
	int e = AM_ERR_DB;

	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY: e = AM_ERR_EXISTS; break;
	case SQLITE_CONSTRAINT_FOREIGNKEY: e = AM_ERR_NOTFOUND; break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_BUSY_SNAPSHOT: e = AM_ERR_UNAVAIL; break;
	case SQLITE_NOMEM: e = AM_ERR_NOMEM; break;
	default: e = sq_storage_err(H(db), rc); break;
	}
	return db_set_err(db, e, "sqlite: %s (%d)", sqlite3_errmsg(H(db)), rc);
}

/* FNV-1a over the SQL text: the cache key (the text is compared too). */
static uint64_t sql_hash(const char *sql)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *sql; sql++)
		h = (h ^ (unsigned char)*sql) * 1099511628211ULL;
	return h;
}

/* A free cached statement for sql, marked busy; NULL when there is none. */
static struct sq_cached *cache_find(struct sq_db *d, const char *sql, uint64_t h)
{
	for (int i = 0; i < SQ_CACHE; i++) {
		struct sq_cached *c = &d->cache[i];

		if (c->s && !c->busy && c->hash == h && strcmp(c->sql, sql) == 0) {
			c->busy = 1;
			return c;
		}
	}
	return NULL;
}

/* A slot for a new statement: an empty one, else the next idle one in
 * clock order (its statement finalized). NULL when every slot is busy. */
static struct sq_cached *cache_slot(struct sq_db *d)
{
	for (int i = 0; i < SQ_CACHE; i++) {
		struct sq_cached *c = &d->cache[(d->clock + (unsigned)i) % SQ_CACHE];

		if (c->s && c->busy)
			continue;
		d->clock = (unsigned)(c - d->cache + 1) % SQ_CACHE;
		if (c->s) {
			sqlite3_finalize(c->s);
			free(c->sql);
			memset(c, 0, sizeof(*c));
		}
		return c;
	}
	return NULL;
}

static int sq_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
	struct sq_db *d = (struct sq_db *)db;
	struct sq_stmt *st = calloc(1, sizeof(*st));
	uint64_t h = sql_hash(sql);
	struct sq_cached *c;
	char *copy;
	int rc;

	if (!st)
		return AM_ERR_NOMEM;
	st->base.db = db;
	if ((c = cache_find(d, sql, h))) {
		st->s = c->s;
		st->slot = c;
		*out = &st->base;
		return 0;
	}
	c = cache_slot(d);
	copy = c ? strdup(sql) : NULL;
	rc = sqlite3_prepare_v3(H(db), sql, -1, copy ? SQLITE_PREPARE_PERSISTENT : 0, &st->s, NULL);
	if (rc != SQLITE_OK || !st->s) {
		free(copy);
		free(st);
		return rc == SQLITE_OK ? db_set_err(db, AM_ERR_INVAL, "empty statement")
				       : sq_err(db, rc);
	}
	if (copy) {
		*c = (struct sq_cached){copy, h, st->s, 1};
		st->slot = c;
	}
	*out = &st->base;
	return 0;
}

static int sq_bind(struct db_stmt *bst, int idx, int type, const void *p, size_t n, int64_t v)
{
	struct sq_stmt *st = (struct sq_stmt *)bst;
	char name[16];
	int i, rc;

	snprintf(name, sizeof(name), "$%d", idx);
	i = sqlite3_bind_parameter_index(st->s, name);
	if (i == 0)
		return db_set_err(bst->db, AM_ERR_INVAL, "statement has no parameter %s", name);
	if (n > INT_MAX)
		return db_set_err(bst->db, AM_ERR_TOOBIG, "value of %s too large", name);
	switch (type) {
	case DB_T_INT: rc = sqlite3_bind_int64(st->s, i, v); break;
	case DB_T_TEXT: rc = sqlite3_bind_text(st->s, i, p, (int)n, SQLITE_TRANSIENT); break;
	case DB_T_BLOB:
		/* A zero-length blob must stay a blob, not NULL. */
		rc = n ? sqlite3_bind_blob(st->s, i, p, (int)n, SQLITE_TRANSIENT)
		       : sqlite3_bind_zeroblob(st->s, i, 0);
		break;
	default: rc = sqlite3_bind_null(st->s, i); break;
	}
	return rc == SQLITE_OK ? 0 : sq_err(bst->db, rc);
}

static int sq_step(struct db_stmt *bst)
{
	struct sq_stmt *st = (struct sq_stmt *)bst;
	struct sq_db *d = (struct sq_db *)bst->db;
	int rc;

	if (st->done)
		return DB_DONE;
	if (!st->started) {
		/* A statement that writes holds the write lock until it is done
		 * (autocommit) or the transaction ends. */
		if (!sqlite3_stmt_readonly(st->s)) {
			if ((rc = write_start(d)) != 0)
				return rc;
			st->writer = 1;
			d->wl_writers++;
		}
		st->started = 1;
	}
	rc = sqlite3_step(st->s);
	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE) {
		st->done = 1;
		st->changes = sqlite3_changes64(H(bst->db));
		writer_end(st);
		return DB_DONE;
	}
	rc = sq_err(bst->db, sqlite3_extended_errcode(H(bst->db)));
	sqlite3_reset(st->s);
	writer_end(st);
	return rc;
}

static int sq_reset(struct db_stmt *bst)
{
	struct sq_stmt *st = (struct sq_stmt *)bst;

	st->done = 0;
	st->changes = 0;
	st->started = 0;
	sqlite3_reset(st->s);
	writer_end(st);
	return 0;
}

static int64_t sq_changes(struct db_stmt *bst)
{
	return ((struct sq_stmt *)bst)->changes;
}

static int sq_column_count(struct db_stmt *bst)
{
	return sqlite3_data_count(((struct sq_stmt *)bst)->s);
}

/* The column's value in the current row, or NULL when col is out of range.
 * Read through sqlite3_value_* rather than sqlite3_column_*: each of those
 * looks the column up again and passes the connection's error state on
 * (issue 25: a blob id cost four such calls, about 270 instructions). The
 * value is the statement's own ("unprotected"): sound here because the
 * connection is NOMUTEX and used by one thread at a time (the pool), the
 * case in which sqlite3_column_* take no lock either. */
static sqlite3_value *col_value(struct db_stmt *bst, int col)
{
	sqlite3_stmt *s = ((struct sq_stmt *)bst)->s;

	if (col < 0 || col >= sqlite3_data_count(s))
		return NULL;
	return sqlite3_column_value(s, col);
}

static int sq_column_is_null(struct db_stmt *bst, int col)
{
	sqlite3_value *v = col_value(bst, col);

	return !v || sqlite3_value_type(v) == SQLITE_NULL;
}

static int64_t sq_column_int64(struct db_stmt *bst, int col)
{
	sqlite3_value *v = col_value(bst, col);

	return v ? sqlite3_value_int64(v) : 0;
}

static const void *sq_column_blob(struct db_stmt *bst, int col, size_t *n)
{
	sqlite3_value *v = col_value(bst, col);
	const void *p;
	int type;

	*n = 0;
	if (!v || (type = sqlite3_value_type(v)) == SQLITE_NULL)
		return NULL;
	if (type == SQLITE_BLOB) {
		p = sqlite3_value_blob(v);
		*n = (size_t)sqlite3_value_bytes(v);
		return p ? p : "";
	}
	/* Text (and numbers read as text) are NUL-terminated by SQLite. */
	p = sqlite3_value_text(v);
	*n = (size_t)sqlite3_value_bytes(v);
	return p;
}

/* A cached statement goes back to its slot reset (so it holds no read
 * snapshot) with its bindings cleared (no value outlives the query). */
static void sq_finalize(struct db_stmt *bst)
{
	struct sq_stmt *st = (struct sq_stmt *)bst;

	if (st->slot) {
		sqlite3_reset(st->s);
		sqlite3_clear_bindings(st->s);
		st->slot->busy = 0;
	} else {
		sqlite3_finalize(st->s);
	}
	writer_end(st);
	free(st);
}

static int raw_exec(struct db *db, const char *sql)
{
	int rc = sqlite3_exec(H(db), sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sq_err(db, sqlite3_extended_errcode(H(db)));
}

/* db_exec, and db.c's COMMIT and ROLLBACK. Anything but those two may write
 * (migrations, checkpoints), so it runs under the write lock. */
static int sq_exec(struct db *db, const char *sql)
{
	struct sq_db *d = (struct sq_db *)db;
	int end = strcmp(sql, "COMMIT") == 0 || strcmp(sql, "ROLLBACK") == 0, rc;

	if (!end) {
		if ((rc = write_start(d)) != 0)
			return rc;
		d->wl_writers++;
	}
	/* A COMMIT that would write checks the files first (db_commit then
	 * rolls back); a read transaction's ends as ever. */
	if (end && sql[0] == 'C' && sqlite3_txn_state(d->h, NULL) == SQLITE_TXN_WRITE &&
	    (rc = files_check(d)) != 0)
		return rc;
	rc = raw_exec(db, sql);
	if (!end)
		d->wl_writers--;
	wl_settle(d);
	return rc;
}

static int sq_begin(struct db *db, int write)
{
	struct sq_db *d = (struct sq_db *)db;
	int rc;

	if (write && (rc = write_start(d)) != 0)
		return rc;
	rc = raw_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN");
	wl_settle(d); /* a failed BEGIN leaves autocommit: release */
	return rc;
}

/* Close the SQLite handle. The last connection to the file anywhere
 * checkpoints and removes the -wal and -shm as it closes: if this one did,
 * the process forgets them, so that a connection it opens next adopts the
 * new ones (under wl_mu, so that no open compares in between). */
static void close_handle(struct sq_db *d)
{
	struct sq_files now;
	int had;

	if (!d->files_on || !d->wl) {
		sqlite3_close_v2(d->h);
		return;
	}
	pthread_mutex_lock(&wl_mu);
	had = files_stat(d, &now) == 0 && files_same(&now, &d->files);
	sqlite3_close_v2(d->h);
	if (had && files_stat(d, &now) != 0)
		d->wl->files_known = 0;
	pthread_mutex_unlock(&wl_mu);
}

static void sq_close(struct db *db)
{
	struct sq_db *d = (struct sq_db *)db;

	for (int i = 0; i < SQ_CACHE; i++) {
		sqlite3_finalize(d->cache[i].s);
		free(d->cache[i].sql);
	}
	close_handle(d);
	/* Closed: SQLite holds nothing for it any more. */
	d->wl_writers = 0;
	if (d->wl_held) {
		pthread_mutex_lock(&wl_mu);
		d->wl->held = 0;
		pthread_cond_signal(&d->wl->cv);
		pthread_mutex_unlock(&wl_mu);
	}
	wl_unref(d->wl);
	free(d->wal_path);
	free(d->shm_path);
	free(d);
}

static int sq_check(struct db *db)
{
	return 0;
}

static const struct db_ops sq_ops = {
    sq_prepare,	       sq_bind,		sq_step,	sq_reset,    sq_changes, sq_column_count,
    sq_column_is_null, sq_column_int64, sq_column_blob, sq_finalize, sq_exec,	 sq_begin,
    sq_close,	       sq_check,	NULL,		NULL, /* no cross-process wake-ups:
								 in-process only (db.c) */
};

/* Make the directory of path exist with mode 0700 (when we create it), warn
 * when an existing one is open to others, and create the file 0600 (or
 * tighten an existing one) so that -wal and -shm inherit 0600. */
static int prepare_files(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat sb;
	int fd;

	if (slash) {
		size_t n = (size_t)(slash - path);

		if (n == 0)
			n = 1;
		if (n >= sizeof(dir)) {
			snprintf(err, errlen, "database path too long");
			return AM_ERR_INVAL;
		}
		memcpy(dir, path, n);
		dir[n] = 0;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "database directory %s: %s", dir, strerror(errno));
			return AM_ERR_IO;
		}
		if (stat(dir, &sb) == 0 && (sb.st_mode & 0077))
			am_log(
			    AM_LOG_WARN, "db_dir_mode", "detail",
			    "the database directory is accessible by other users; use mode 0700");
	}
	/* An existing file is never open()ed here: closing any descriptor of
	 * it drops every POSIX lock this process holds on it, including those
	 * of the pool's open SQLite connections, and another connection may
	 * then checkpoint and delete the live WAL (lost commits). */
	if (lstat(path, &sb) == 0) {
		if (!S_ISREG(sb.st_mode)) {
			snprintf(err, errlen, "database %s: not a regular file", path);
			return AM_ERR_IO;
		}
		if (sb.st_mode & 0077)
			(void)chmod(path, 0600);
		return 0;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "database %s: %s", path, strerror(errno));
		return AM_ERR_IO;
	}
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 0077))
		(void)fchmod(fd, 0600);
	close(fd);
	return 0;
}

static const char *const pragmas =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "PRAGMA secure_delete=ON;"
    "PRAGMA foreign_keys=ON;"
    "PRAGMA temp_store=MEMORY;"
    "PRAGMA trusted_schema=OFF;"
    "PRAGMA cell_size_check=ON;"
    "SELECT count(*) FROM sqlite_master;"; /* a read: now the -wal and -shm exist */

/* Before SQLite initializes: no process-wide memory statistics (they take
 * a global mutex on every allocation). Harmless if SQLite was already
 * initialized by someone else (the call then fails and changes nothing). */
static pthread_once_t sq_once = PTHREAD_ONCE_INIT;
static void sq_global_config(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int db_sqlite_open(const char *path, struct db **out, char *err, size_t errlen)
{
	struct sq_db *d = NULL;
	int rc;

	if (!*path) {
		snprintf(err, errlen, "database: sqlite: needs a path");
		return AM_ERR_INVAL;
	}
	rc = prepare_files(path, err, errlen);
	if (rc)
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d)
		return AM_ERR_NOMEM;
	d->base.ops = &sq_ops;
	d->base.engine = DB_SQLITE;
	pthread_once(&sq_once, sq_global_config);
	d->wl = wl_ref(path);
	if ((rc = files_preopen(d, path)) != 0) {
		snprintf(err, errlen, "database %s: %s", path, d->base.err);
		sq_close(&d->base);
		return rc;
	}
	if (sqlite3_open_v2(path, &d->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_extended_result_codes(d->h, 1);
	sqlite3_busy_timeout(d->h, BUSY_TIMEOUT_MS);
	sqlite3_db_config(d->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(d->h, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	if (sqlite3_exec(d->h, pragmas, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if ((rc = files_adopt(d, path)) != 0) {
		snprintf(err, errlen, "database %s: %s", path, d->base.err);
		sq_close(&d->base);
		return rc;
	}
	*out = &d->base;
	return 0;
fail:
	snprintf(err, errlen, "database %s: %s", path, d->h ? sqlite3_errmsg(d->h) : "cannot open");
	sq_close(&d->base);
	return AM_ERR_DB;
}
