/* The database suite (db_suite.inc) against a real PostgreSQL 15, whose URL
 * comes from AUDIOMUS_TEST_PG_URL (scripts/pg-test start prints one). Each
 * test gets its own database, created and dropped here. Without the
 * variable the binary exits 77 (a skip, counted by scripts/run-unit and a
 * failure under CI unless tests/skips.allow lists it). */
#include "db/db_suite.inc"

static const char *admin_url;
static int seq;

/* admin_url with its database name replaced by name. */
static int url_with_db(const char *name, char *out, size_t n)
{
	const char *p = strstr(admin_url, "://"), *path, *q;

	if (!p)
		return -1;
	path = strchr(p + 3, '/');
	if (!path)
		path = admin_url + strlen(admin_url);
	q = strchr(path, '?');
	if (!q)
		q = path + strlen(path);
	return snprintf(out, n, "%.*s/%s%s", (int)(path - admin_url), admin_url, name, q) >= (int)n
		   ? -1
		   : 0;
}

static int admin_exec(const char *sql)
{
	struct db *db = NULL;
	char err[512];
	int rc = db_open(admin_url, &db, err, sizeof(err));

	if (rc) {
		print_error("admin connection: %s\n", err);
		return rc;
	}
	rc = db_exec(db, sql);
	if (rc)
		print_error("%s: %s\n", sql, db_errmsg(db));
	db_close(db);
	return rc;
}

static int suite_engine_url(char *url, size_t n)
{
	char name[64], sql[128];

	snprintf(name, sizeof(name), "am_t_%d_%d", (int)getpid(), ++seq);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	if (admin_exec(sql))
		return -1;
	return url_with_db(name, url, n);
}

static void suite_engine_drop(const char *url)
{
	char sql[160];
	const char *name = strstr(url, "am_t_");
	size_t len = name ? strcspn(name, "?") : 0;

	if (!name || len > 60)
		return;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %.*s WITH (FORCE)", (int)len, name);
	admin_exec(sql);
}

/* pg_dump the test database into a temporary file and scan it. */
static int suite_engine_canary(struct db *db, const char *url, const char *const *canaries,
			       size_t n)
{
	const char *bin = getenv("AUDIOMUS_TEST_PG_DUMP");
	char path[] = "/tmp/am-pgdump-XXXXXX";
	int fd = mkstemp(path), status = 0;
	pid_t pid;
	FILE *fp;
	char *buf = NULL;
	size_t len = 0;

	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd, 1);
		if (bin)
			execl(bin, "pg_dump", "--no-owner", url, (char *)NULL);
		execl("/usr/lib/postgresql/15/bin/pg_dump", "pg_dump", "--no-owner", url,
		      (char *)NULL);
		execlp("pg_dump", "pg_dump", "--no-owner", url, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fd);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	buf = malloc(64 << 20);
	assert_non_null(buf);
	len = fread(buf, 1, (64 << 20) - 1, fp);
	fclose(fp);
	unlink(path);
	buf[len] = 0;
	/* The dump is real: it has the schema and the rows (as hex bytea). */
	assert_non_null(strstr(buf, "CREATE TABLE public.comments"));
	assert_non_null(strstr(buf, "COPY public.comments"));
	for (size_t i = 0; i < n; i++)
		if (memmem(buf, len, canaries[i], strlen(canaries[i])))
			fail_msg("pg_dump contains %s in clear", canaries[i]);
	assert_null(memmem(buf, len, "CANARY", 6));
	free(buf);
	return 0;
}

int main(void)
{
	admin_url = getenv("AUDIOMUS_TEST_PG_URL");
	if (!admin_url || !*admin_url) {
		printf(
		    "SKIP db (postgresql): AUDIOMUS_TEST_PG_URL is not set; start a server with\n"
		    "  export AUDIOMUS_TEST_PG_URL=$(scripts/pg-test start)\n");
		return 77; /* skipped: scripts/run-unit counts it, and CI fails on it */
	}
	am_log_set_level(AM_LOG_ERROR);
	SUITE_TESTS();
	return cmocka_run_group_tests_name("db (postgresql)", tests, NULL, NULL);
}
