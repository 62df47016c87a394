/* The database suite (db_suite.inc) against SQLite, plus the file-level
 * checks only SQLite has: modes of the database, -wal and -shm files, and
 * their raw bytes scanned for plaintext. */
#include "db/db_suite.inc"

#include <dirent.h>

static char base[64];
static int seq;

static int suite_engine_url(char *url, size_t n)
{
	snprintf(url, n, "sqlite:%s/d%d/audiomus.db", base, ++seq);
	return 0;
}

static void suite_engine_drop(const char *url)
{
	char p[1100];
	const char *path = url + 7;
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};

	for (size_t i = 0; i < AM_ARRAY_LEN(sfx); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s", path);
	*strrchr(p, '/') = 0;
	rmdir(p);
}

/* 1 if the file contains needle; -1 if it cannot be read. */
static int file_has(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "rb");
	size_t cap = 1 << 20, n = 0, r;
	char *buf;
	int found;

	if (!fp)
		return -1;
	buf = malloc(cap);
	while (buf && (r = fread(buf + n, 1, cap - n, fp)) > 0) {
		n += r;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(fp);
	found = buf && memmem(buf, n, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

static int suite_engine_canary(struct db *db, const char *url, const char *const *canaries,
			       size_t n)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char p[1100];

	for (int round = 0; round < 2; round++) {
		for (size_t s = 0; s < AM_ARRAY_LEN(sfx); s++) {
			snprintf(p, sizeof(p), "%s%s", url + 7, sfx[s]);
			for (size_t i = 0; i < n; i++) {
				int r = file_has(p, canaries[i]);

				if (r == 1)
					fail_msg("%s contains %s in clear", p, canaries[i]);
			}
		}
		snprintf(p, sizeof(p), "%s-wal", url + 7);
		if (round == 0) {
			struct stat sb;

			assert_int_equal(stat(p, &sb), 0);
			assert_true(sb.st_size > 0);
			/* The fresh rows are in the WAL, and not even the prefix leaks. */
			assert_int_equal(file_has(p, "CANARY"), 0);
		}
		assert_int_equal(db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
	}
	snprintf(p, sizeof(p), "%s", url + 7);
	assert_int_equal(file_has(p, "SQLite format 3"), 1);
	assert_int_equal(file_has(p, "email_index"), 1); /* the scan sees clear schema text */
	return 0;
}

static void sqlite_file_modes(void **state)
{
	struct fx *f = *state;
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char p[1100];
	struct stat sb;

	for (size_t s = 0; s < AM_ARRAY_LEN(sfx); s++) {
		snprintf(p, sizeof(p), "%s%s", f->url + 7, sfx[s]);
		assert_int_equal(stat(p, &sb), 0);
		if ((sb.st_mode & 0777) != 0600)
			fail_msg("%s has mode %o", p, sb.st_mode & 0777);
	}
	snprintf(p, sizeof(p), "%s", f->url + 7);
	*strrchr(p, '/') = 0;
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	/* journal_mode and secure_delete are what the open promised. */
	struct db_stmt *st = NULL;
	assert_int_equal(db_prepare(f->db, "PRAGMA journal_mode", &st), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_string_equal(db_column_text(st, 0), "wal");
	db_finalize(st);
	assert_int_equal(db_prepare(f->db, "PRAGMA secure_delete", &st), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), 1);
	db_finalize(st);
	assert_int_equal(db_prepare(f->db, "PRAGMA foreign_keys", &st), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), 1);
	db_finalize(st);
	/* Not a URL we accept. */
	struct db *db = NULL;
	char err[128];
	assert_int_equal(db_open("sqlite:", &db, err, sizeof(err)), AM_ERR_INVAL);
	assert_int_equal(db_open("file:/tmp/x", &db, err, sizeof(err)), AM_ERR_INVAL);
	assert_null(db);
}

int main(void)
{
	int rc;

	snprintf(base, sizeof(base), "/tmp/am-dbt-XXXXXX");
	if (!mkdtemp(base))
		return 1;
	am_log_set_level(AM_LOG_ERROR);
	SUITE_TESTS(cmocka_unit_test_setup_teardown(sqlite_file_modes, fx_setup, fx_teardown));
	rc = cmocka_run_group_tests_name("db (sqlite)", tests, NULL, NULL);
	rmdir(base);
	return rc;
}
