/*
 * The TLS policy for PostgreSQL URLs (src/db/db_pgsql_tls.c): which URLs
 * audiomus refuses before libpq connects, which it lets through, and what
 * the opt-out (database_tls = insecure-allow) changes. Table-driven, no
 * server needed: the connecting half is tests/e2e/db_tls.test.mjs. libpq's
 * environment defaults take part in the policy, so every PG* variable that
 * matters is cleared before each test and set only where a test says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "db/db.h"
#include "db/db_int.h"
#include "util/util.h"

static const char *const pg_env[] = {
    "PGHOST",
    "PGHOSTADDR",
    "PGSSLMODE",
    "PGREQUIRESSL",
    "PGSERVICE",
    "PGSSLROOTCERT",
    "PGSSLMINPROTOCOLVERSION",
    "PGGSSENCMODE",
    "PGSERVICEFILE",
};

static int clear_env(void **state)
{
	for (size_t i = 0; i < sizeof(pg_env) / sizeof(pg_env[0]); i++)
		unsetenv(pg_env[i]);
	return 0;
}

static const char *const sslmodes[] = {
    "disable",	 "allow",	"prefer", "require",
    "verify-ca", "verify-full", NULL /* absent: libpq's prefer */};
#define NMODES (sizeof(sslmodes) / sizeof(sslmodes[0]))

/* base + "?sslmode=M" (or "&" when base has a query already). */
static void with_mode(char *out, size_t n, const char *base, const char *mode)
{
	if (!mode)
		snprintf(out, n, "%s", base);
	else
		snprintf(out, n, "%s%csslmode=%s", base, strchr(base, '?') ? '&' : '?', mode);
}

static int check(const char *url, enum db_tls tls, struct db_tls_report *rep, char *err, size_t n)
{
	err[0] = 0;
	return db_tls_check(url, tls, rep, err, n);
}

/* Refused, with a message that names the host, what is missing (says;
 * NULL: sslmode=verify-full) and the opt-out. */
static void assert_refused_says(const char *url, const char *host, const char *says)
{
	struct db_tls_report rep;
	char err[768];
	int rc = check(url, DB_TLS_VERIFY_FULL, &rep, err, sizeof(err));

	if (rc != AM_ERR_INVAL)
		fail_msg("%s: expected refusal, got %d (%s)", url, rc, err);
	assert_non_null(strstr(err, "database_tls = insecure-allow"));
	if (!strstr(err, says ? says : "sslmode=verify-full"))
		fail_msg("%s: message does not say %s: %s", url, says ? says : "sslmode", err);
	if (host && !strstr(err, host))
		fail_msg("%s: message does not name %s: %s", url, host, err);
	assert_int_equal(rep.postgres, 1);
	assert_int_equal(rep.insecure, 0);
}

static void assert_refused(const char *url, const char *host)
{
	assert_refused_says(url, host, NULL);
}

static void assert_allowed(const char *url, int local)
{
	struct db_tls_report rep;
	char err[768];
	int rc = check(url, DB_TLS_VERIFY_FULL, &rep, err, sizeof(err));

	if (rc != 0)
		fail_msg("%s: expected it allowed, got %d: %s", url, rc, err);
	if (rep.local != local)
		fail_msg("%s: local is %d, expected %d (hosts %s)", url, rep.local, local,
			 rep.hosts);
	assert_int_equal(rep.postgres, 1);
	assert_int_equal(rep.insecure, 0);
}

/* Loopback and Unix sockets: any sslmode (libpq still applies it). */
static void local_hosts_take_any_sslmode(void **state)
{
	static const char *const bases[] = {
	    "postgres://u@127.0.0.1:5432/db",
	    "postgresql://u@127.255.0.9/db",
	    "postgres://u@localhost/db",
	    "postgres://u@LocalHost:5433/db",
	    "postgres://u@[::1]:5432/db",
	    "postgres://u@[::ffff:127.0.0.1]/db",
	    "postgres:///db?host=/run/postgresql",
	    "postgres://%2Frun%2Fpostgresql/db",
	    "postgres:///db?host=@abstract",
	    "postgres:///db", /* no host at all: libpq's default socket */
	    "postgres://%6cocalhost/db",
	    "postgres://%31%32%37.0.0.1/db",
	    "postgres://db.example.org/db?hostaddr=127.0.0.1", /* connects to loopback */
	    "postgres://127.0.0.1,localhost:5433,[::1]:5434/db",
	    "postgres:///db?host=,127.0.0.1", /* an empty entry is the default socket */
	};
	char url[512];

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
		for (size_t m = 0; m < NMODES; m++) {
			with_mode(url, sizeof(url), bases[i], sslmodes[m]);
			assert_allowed(url, 1);
		}
}

/* Anything else needs verify-full: every weaker sslmode, and none. Names
 * that only look local are remote. */
static void remote_hosts_need_verify_full(void **state)
{
	static const struct {
		const char *base, *host;
	} remote[] = {
	    {"postgres://u@db.example.org/db", "db.example.org"},
	    {"postgresql://u:pw@10.0.0.1:5432/db", "10.0.0.1"},
	    {"postgres://u@[fd00::2]:5432/db", "fd00::2"},
	    {"postgres://u@[::2]/db", "::2"},
	    {"postgres://u@[::ffff:10.0.0.1]/db", "::ffff:10.0.0.1"},
	    {"postgres://u@128.0.0.1/db", "128.0.0.1"},
	    {"postgres://u@localhost.example.org/db", "localhost.example.org"},
	    {"postgres://u@localhost./db", "localhost."},
	    {"postgres://u@127.0.0.1.nip.io/db", "127.0.0.1.nip.io"},
	    {"postgres://u@127.1/db", "127.1"}, /* not a dotted quad: a name to us */
	    {"postgres://u@%64b.example.org/db", "db.example.org"},
	};
	char url[512];

	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
		for (size_t m = 0; m < NMODES; m++) {
			with_mode(url, sizeof(url), remote[i].base, sslmodes[m]);
			if (sslmodes[m] && !strcmp(sslmodes[m], "verify-full"))
				assert_allowed(url, 0);
			else
				assert_refused(url, remote[i].host);
		}
}

/* Every host of a list must qualify; hostaddr decides where libpq goes. */
static void host_lists_every_host_counts(void **state)
{
	assert_refused("postgres://127.0.0.1,db.example.org/db", "db.example.org");
	assert_refused("postgres://db.example.org,127.0.0.1/db", "db.example.org");
	assert_refused("postgres://localhost:5432,[fd00::2]:5433/db", "fd00::2");
	assert_refused("postgres:///db?host=/tmp,db.example.org", "db.example.org");
	assert_refused("postgres:///db?host=a.example,b.example&hostaddr=127.0.0.1,10.0.0.1",
		       "10.0.0.1");
	assert_refused("postgres://localhost/db?hostaddr=10.0.0.1", "10.0.0.1");
	assert_refused("postgres://127.0.0.1%2Cdb.example.org/db", "db.example.org");
	assert_allowed("postgres://a.example,b.example:5433/db?sslmode=verify-full", 0);
	assert_allowed("postgres:///db?host=a.example,b.example&hostaddr=127.0.0.1,127.0.0.2", 1);

	/* libpq refuses lists of different lengths; so does the policy. */
	struct db_tls_report rep;
	char err[512];

	assert_int_equal(check("postgres:///db?host=a,b&hostaddr=127.0.0.1", DB_TLS_INSECURE_ALLOW,
			       &rep, err, sizeof(err)),
			 AM_ERR_INVAL);
	assert_non_null(strstr(err, "hostaddr"));
}

/* The opt-out lets every remote URL through and says so. */
static void insecure_allow_opts_out(void **state)
{
	static const char *const urls[] = {
	    "postgres://u@db.example.org/db",
	    "postgres://u@db.example.org/db?sslmode=disable",
	    "postgres://u@db.example.org/db?sslmode=verify-ca",
	    "postgres://127.0.0.1,10.0.0.1/db",
	    "postgres://u@db.example.org/db?service=prod",
	};
	struct db_tls_report rep;
	char err[512];

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		assert_int_equal(check(urls[i], DB_TLS_INSECURE_ALLOW, &rep, err, sizeof(err)), 0);
		assert_int_equal(rep.insecure, 1);
		assert_int_equal(rep.local, 0);
	}
	/* Nothing to opt out of: not flagged. */
	assert_int_equal(check("postgres://db.example.org/db?sslmode=verify-full",
			       DB_TLS_INSECURE_ALLOW, &rep, err, sizeof(err)),
			 0);
	assert_int_equal(rep.insecure, 0);
	assert_int_equal(check("postgres://127.0.0.1/db?sslmode=disable", DB_TLS_INSECURE_ALLOW,
			       &rep, err, sizeof(err)),
			 0);
	assert_int_equal(rep.insecure, 0);
	assert_int_equal(rep.local, 1);
	assert_int_equal(db_tls_parse("insecure-allow"), DB_TLS_INSECURE_ALLOW);
	assert_int_equal(db_tls_parse("verify-full"), DB_TLS_VERIFY_FULL);
	assert_int_equal(db_tls_parse("Insecure-Allow"), DB_TLS_VERIFY_FULL);
	assert_int_equal(db_tls_parse(""), DB_TLS_VERIFY_FULL);
	assert_int_equal(db_tls_parse(NULL), DB_TLS_VERIFY_FULL);
}

/* verify-full with something that weakens it is still refused. */
static void weakened_verify_full_is_refused(void **state)
{
	static const struct {
		const char *url, *says;
	} bad[] = {
	    {"postgres://db.example.org/db?sslmode=verify-full&ssl_min_protocol_version=TLSv1",
	     "ssl_min_protocol_version to \"TLSv1\""},
	    {"postgres://db.example.org/db?sslmode=verify-full&ssl_min_protocol_version=TLSv1.1",
	     "ssl_min_protocol_version to \"TLSv1.1\""},
	    {"postgres://db.example.org/db?sslmode=verify-full&gssencmode=require", "gssencmode"},
	    /* a service file could supply another host and sslmode: not taken */
	    {"postgres://db.example.org/db?sslmode=verify-full&service=prod", "service=prod"},
	    {"postgres:///db?service=prod", "service=prod"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused_says(bad[i].url, NULL, bad[i].says);
	assert_allowed(
	    "postgres://db.example.org/db?sslmode=verify-full&ssl_min_protocol_version=TLSv1.2", 0);
	assert_allowed(
	    "postgres://db.example.org/db?sslmode=verify-full&ssl_min_protocol_version=TLSv1.3", 0);
	assert_allowed("postgres://db.example.org/db?sslmode=verify-full&gssencmode=disable", 0);
}

/* libpq's environment defaults are what libpq will use: they count. */
static void environment_defaults_count(void **state)
{
	setenv("PGHOST", "db.example.org", 1);
	assert_refused("postgres:///db", "db.example.org");
	assert_allowed("postgres://127.0.0.1/db", 1); /* the URL's host wins */
	setenv("PGSSLMODE", "verify-full", 1);
	assert_allowed("postgres:///db", 0);
	assert_refused("postgres:///db?sslmode=require", "db.example.org"); /* the URL's wins */
	setenv("PGSSLMINPROTOCOLVERSION", "TLSv1", 1);
	assert_refused_says("postgres:///db", "db.example.org", "ssl_min_protocol_version");
	clear_env(NULL);

	setenv("PGHOSTADDR", "10.0.0.1", 1);
	assert_refused("postgres://localhost/db", "10.0.0.1");
	clear_env(NULL);

	setenv("PGREQUIRESSL", "1", 1);
	assert_refused("postgres://db.example.org/db", "db.example.org");
	clear_env(NULL);

	setenv("PGSSLMODE", "verify-full", 1);
	setenv("PGSSLROOTCERT", "/etc/audiomus/pg-ca.pem", 1);
	struct db_tls_report rep;
	char err[512];

	assert_int_equal(
	    check("postgres://db.example.org/db", DB_TLS_VERIFY_FULL, &rep, err, sizeof(err)), 0);
	assert_string_equal(rep.sslmode, "verify-full");
	assert_string_equal(rep.sslrootcert, "/etc/audiomus/pg-ca.pem");
}

/* What the report says, and what it and the messages never say. */
static void report_and_secrets(void **state)
{
	struct db_tls_report rep;
	char err[768];

	assert_int_equal(check("postgres://u:hunter2@db.example.org:5433,[fd00::2]/db?sslmode="
			       "verify-full&sslrootcert=/etc/am/ca%20x.pem",
			       DB_TLS_VERIFY_FULL, &rep, err, sizeof(err)),
			 0);
	assert_string_equal(rep.hosts, "db.example.org,fd00::2");
	assert_string_equal(rep.remote, "db.example.org");
	assert_string_equal(rep.sslrootcert, "/etc/am/ca x.pem");
	assert_string_equal(rep.sslmode, "verify-full");
	assert_null(strstr(rep.hosts, "hunter2"));

	assert_int_equal(check("postgres://u:hunter2@db.example.org/db", DB_TLS_VERIFY_FULL, &rep,
			       err, sizeof(err)),
			 AM_ERR_INVAL);
	assert_null(strstr(err, "hunter2"));
	assert_string_equal(rep.sslmode, "prefer");

	/* A parse error quotes the bad part: withheld when a password is there. */
	assert_int_equal(check("postgres://u:hunter2%zz@db.example.org/db", DB_TLS_VERIFY_FULL,
			       &rep, err, sizeof(err)),
			 AM_ERR_INVAL);
	assert_null(strstr(err, "hunter2"));
	assert_non_null(strstr(err, "does not parse"));
	assert_int_equal(check("postgres://u@db.example.org/db?password=hunter2&bogus=%zz",
			       DB_TLS_VERIFY_FULL, &rep, err, sizeof(err)),
			 AM_ERR_INVAL);
	assert_null(strstr(err, "hunter2"));
	assert_int_equal(check("postgres://u@db.example.org/db?bogus=1", DB_TLS_VERIFY_FULL, &rep,
			       err, sizeof(err)),
			 AM_ERR_INVAL);
	assert_non_null(strstr(err, "bogus"));

	/* Not PostgreSQL: nothing to check. */
	assert_int_equal(check("sqlite:/tmp/x.db", DB_TLS_VERIFY_FULL, &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.postgres, 0);
	assert_int_equal(check(NULL, DB_TLS_VERIFY_FULL, &rep, err, sizeof(err)), 0);
}

static void host_and_protocol_predicates(void **state)
{
	assert_true(db_tls_host_is_local(""));
	assert_true(db_tls_host_is_local("/var/run/postgresql"));
	assert_true(db_tls_host_is_local("127.0.0.53"));
	assert_true(db_tls_host_is_local("::1"));
	assert_true(db_tls_host_is_local("0:0:0:0:0:0:0:1"));
	assert_false(db_tls_host_is_local("::"));
	assert_false(db_tls_host_is_local("0.0.0.0"));
	assert_false(db_tls_host_is_local("::1%lo"));
	assert_false(db_tls_host_is_local("relative/path"));
	assert_false(db_tls_host_is_local("localhost:5432"));
	assert_true(db_tls_protocol_ok("TLSv1.2"));
	assert_true(db_tls_protocol_ok("TLSv1.3"));
	assert_false(db_tls_protocol_ok(NULL));
	assert_false(db_tls_protocol_ok(""));
	assert_false(db_tls_protocol_ok("TLSv1"));
	assert_false(db_tls_protocol_ok("TLSv1.1"));
	assert_false(db_tls_protocol_ok("SSLv3"));
	assert_false(db_tls_protocol_ok("TLSv1.2 "));
}

/* stderr into a temporary file while fn runs; its text into out. */
static void capture_stderr(void (*fn)(void *), void *arg, char *out, size_t n)
{
	char path[] = "/tmp/am-pgtls-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	ssize_t k;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	assert_int_equal(dup2(fd, 2), 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	k = pread(fd, out, n - 1, 0);
	out[k > 0 ? k : 0] = 0;
	close(fd);
	unlink(path);
}

struct open_case {
	const char *url;
	enum db_tls tls;
	int rc;
	char err[768];
};

static void open_pool(void *arg)
{
	struct open_case *c = arg;
	struct db_pool *pool = NULL;

	c->rc = db_pool_new_tls(c->url, c->tls, 2, &pool, c->err, sizeof(c->err));
	db_pool_free(pool);
}

/* The connecting functions apply the policy before any connection: a
 * refused URL fails with AM_ERR_INVAL at once (a connection attempt would
 * be AM_ERR_DB); the opt-out reaches libpq and logs db_tls_insecure. The
 * address is TEST-NET-3 (RFC 5737), which nothing answers. */
static void open_applies_policy_first(void **state)
{
	const char *url = "postgres://u:hunter2@203.0.113.1/db?connect_timeout=1";
	struct open_case c = {.url = url, .tls = DB_TLS_VERIFY_FULL};
	struct db *db = NULL;
	char err[768], log[4096];

	assert_int_equal(db_open(url, &db, err, sizeof(err)), AM_ERR_INVAL);
	assert_null(db);
	assert_non_null(strstr(err, "sslmode=verify-full"));
	assert_null(strstr(err, "hunter2"));
	assert_int_equal(db_open_tls(url, DB_TLS_VERIFY_FULL, &db, err, sizeof(err)), AM_ERR_INVAL);

	capture_stderr(open_pool, &c, log, sizeof(log));
	assert_int_equal(c.rc, AM_ERR_INVAL);
	assert_null(strstr(log, "db_tls_insecure"));

	c.tls = DB_TLS_INSECURE_ALLOW;
	capture_stderr(open_pool, &c, log, sizeof(log));
	assert_int_equal(c.rc, AM_ERR_DB); /* libpq tried, nothing answered */
	assert_non_null(strstr(log, "\"event\":\"db_tls_insecure\""));
	assert_non_null(strstr(log, "203.0.113.1"));
	assert_null(strstr(log, "hunter2"));
	assert_null(strstr(c.err, "hunter2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(local_hosts_take_any_sslmode, clear_env),
	    cmocka_unit_test_setup(remote_hosts_need_verify_full, clear_env),
	    cmocka_unit_test_setup(host_lists_every_host_counts, clear_env),
	    cmocka_unit_test_setup(insecure_allow_opts_out, clear_env),
	    cmocka_unit_test_setup(weakened_verify_full_is_refused, clear_env),
	    cmocka_unit_test_setup_teardown(environment_defaults_count, clear_env, clear_env),
	    cmocka_unit_test_setup(report_and_secrets, clear_env),
	    cmocka_unit_test(host_and_protocol_predicates),
	    cmocka_unit_test_setup(open_applies_policy_first, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
