/* Unit tests for src/conf: defaults, units, file errors with file:line, env. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf/conf.h"
#include "util/util.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void defaults_derive_paths(void **state)
{
	struct conf c;
	char err[256];

	conf_defaults(&c);
	assert_int_equal(conf_set(&c, "data_dir", "/srv/am/", err, sizeof(err)), 0);
	assert_int_equal(conf_finish(&c, err, sizeof(err)), 0);
	assert_string_equal(c.key_file, "/srv/am.key");
	assert_string_equal(c.tls_cert, "/srv/am/tls/cert.pem");
	assert_string_equal(c.secret->database, "sqlite:/srv/am/audiomus.db");
	assert_string_equal(c.storage, "file:/srv/am/objects");
	assert_string_equal(c.public_url, "https://127.0.0.1:8443");
	assert_int_equal(c.max_upload_size, INT64_C(2) << 30);
	assert_int_equal(c.signed_url_lifetime, 1800);
}

static void units_and_bounds(void **state)
{
	struct conf c;
	char err[256];

	conf_defaults(&c);
	assert_int_equal(conf_set(&c, "connection_timeout", "2m", err, sizeof(err)), 0);
	assert_int_equal(c.connection_timeout, 120);
	assert_int_equal(conf_set(&c, "max_upload_size", "100M", err, sizeof(err)), 0);
	assert_int_equal(c.max_upload_size, 100 << 20);
	assert_int_equal(conf_set(&c, "signed_url_lifetime", "7h", err, sizeof(err)), AM_ERR_INVAL);
	assert_non_null(strstr(err, "signed_url_lifetime"));
	assert_int_equal(conf_set(&c, "signup_open", "maybe", err, sizeof(err)), AM_ERR_INVAL);
	assert_int_equal(conf_set(&c, "no_such_thing", "1", err, sizeof(err)), AM_ERR_INVAL);
	assert_non_null(strstr(err, "unknown setting"));
}

static void file_errors_name_line(void **state)
{
	struct conf c;
	char err[512], path[] = "/tmp/am-conf-test-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	write_file(path, "# comment\n\nlisten = \"127.0.0.1:9443\"\nthreads = lots\n");
	conf_defaults(&c);
	assert_int_equal(conf_load_file(&c, path, err, sizeof(err)), AM_ERR_INVAL);
	assert_non_null(strstr(err, ":4: threads"));
	assert_string_equal(c.listen, "127.0.0.1:9443");
	write_file(path, "listen 127.0.0.1:1\n");
	assert_int_equal(conf_load_file(&c, path, err, sizeof(err)), AM_ERR_INVAL);
	assert_non_null(strstr(err, ":1: expected"));
	unlink(path);
	assert_int_equal(conf_load_file(&c, path, err, sizeof(err)), AM_ERR_IO);
}

static void env_overrides(void **state)
{
	struct conf c;
	char err[256];

	conf_defaults(&c);
	setenv("AUDIOMUS_LOG_LEVEL", "debug", 1);
	assert_int_equal(conf_apply_env(&c, err, sizeof(err)), 0);
	assert_string_equal(c.log_level, "debug");
	setenv("AUDIOMUS_THREADS", "-1", 1);
	assert_int_equal(conf_apply_env(&c, err, sizeof(err)), AM_ERR_INVAL);
	assert_non_null(strstr(err, "AUDIOMUS_THREADS"));
	unsetenv("AUDIOMUS_THREADS");
	unsetenv("AUDIOMUS_LOG_LEVEL");
}

static void listen_forms(void **state)
{
	char host[64];
	uint16_t port;

	assert_int_equal(conf_split_listen("[::1]:8443", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8443);
	assert_int_equal(conf_split_listen("localhost:0", host, sizeof(host), &port), 0);
	assert_int_equal(conf_split_listen("localhost", host, sizeof(host), &port), AM_ERR_INVAL);
	assert_int_equal(conf_split_listen(":80", host, sizeof(host), &port), AM_ERR_INVAL);
	assert_int_equal(conf_split_listen("h:65536", host, sizeof(host), &port), AM_ERR_INVAL);
}

/* database_tls takes its two values only; the default enforces TLS. */
static void database_tls_values(void **state)
{
	static const char *const bad[] = {"verify-ca", "require", "insecure", "", "VERIFY-FULL"};
	struct conf c;
	char err[256];

	conf_defaults(&c);
	assert_int_equal(conf_finish(&c, err, sizeof(err)), 0);
	assert_string_equal(c.database_tls, "verify-full");
	assert_int_equal(conf_set(&c, "database_tls", "insecure-allow", err, sizeof(err)), 0);
	assert_int_equal(conf_finish(&c, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		conf_defaults(&c);
		assert_int_equal(conf_set(&c, "database_tls", bad[i], err, sizeof(err)), 0);
		assert_int_equal(conf_finish(&c, err, sizeof(err)), AM_ERR_INVAL);
		assert_non_null(strstr(err, "database_tls"));
	}
}

/* Credentials live in secret memory of their own: printed by nothing, copied
 * deeply by conf_copy, wiped and dropped by conf_cleanup. */
static void secrets_apart_and_never_printed(void **state)
{
	struct conf c, d;
	char err[256], *dump = NULL;
	size_t dn = 0;
	FILE *m;

	assert_int_equal(conf_defaults(&c), 0);
	assert_non_null(c.secret);
	assert_int_equal(conf_set(&c, "s3_secret_key", "S3-SECRET-1", err, sizeof(err)), 0);
	assert_int_equal(conf_set(&c, "smtp_password", "SMTP-SECRET-2", err, sizeof(err)), 0);
	assert_int_equal(conf_set(&c, "database",
				  "postgres://am:DB-SECRET-3@db.example.org/am?sslmode=verify-full"
				  "&password=DB-SECRET-4",
				  err, sizeof(err)),
			 0);
	assert_string_equal(c.secret->s3_secret_key, "S3-SECRET-1");
	assert_null(memmem(&c, sizeof(c), "SECRET", 6)); /* nothing in the plain struct */
	assert_int_equal(conf_finish(&c, err, sizeof(err)), 0);
	m = open_memstream(&dump, &dn);
	conf_print(&c, m);
	fclose(m);
	assert_null(strstr(dump, "SECRET"));
	assert_non_null(strstr(dump, "s3_secret_key = (set, not shown)"));
	assert_non_null(strstr(dump, "smtp_password = (set, not shown)"));
	assert_non_null(strstr(dump, "database = \"postgres://am:(not shown)@db.example.org/am?"
				     "sslmode=verify-full&password=(not shown)\""));
	free(dump);
	assert_int_equal(conf_copy(&d, &c), 0);
	assert_ptr_not_equal(d.secret, c.secret);
	assert_string_equal(d.secret->smtp_password, "SMTP-SECRET-2");
	conf_cleanup(&c);
	assert_null(c.secret);
	assert_int_equal(conf_set(&c, "smtp_password", "x", err, sizeof(err)), AM_ERR_NOMEM);
	conf_cleanup(&c); /* twice is fine */
	assert_string_equal(d.secret->s3_secret_key, "S3-SECRET-1");
	conf_cleanup(&d);
}

/* metrics_listen: plain HTTP, so off loopback only with a token (of 16
 * characters or more), which is a credential like the others. */
static void metrics_listen_and_token(void **state)
{
	static const struct {
		const char *listen, *token;
		int ok;
	} cases[] = {
	    {"127.0.0.1:9464", "", 1},
	    {"[::1]:9464", "", 1},
	    {"localhost:9464", "", 1},
	    {"0.0.0.0:9464", "", 0},
	    {"10.0.0.5:9464", "", 0},
	    {"[::]:9464", "", 0},
	    {"0.0.0.0:9464", "METRICS-SECRET-0123", 1},
	    {"127.0.0.1:9464", "short", 0},
	    {"nonsense", "", 0},
	};
	char err[256], *dump = NULL;
	size_t dn = 0;
	FILE *m;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf c;

		assert_int_equal(conf_defaults(&c), 0);
		assert_int_equal(conf_set(&c, "metrics_listen", cases[i].listen, err, sizeof(err)),
				 0);
		assert_int_equal(conf_set(&c, "metrics_token", cases[i].token, err, sizeof(err)),
				 0);
		if ((conf_finish(&c, err, sizeof(err)) == 0) != cases[i].ok)
			fail_msg("%s with token \"%s\": %s", cases[i].listen, cases[i].token, err);
		if (i == 6) {
			assert_null(memmem(&c, sizeof(c), "METRICS-SECRET", 14));
			m = open_memstream(&dump, &dn);
			conf_print(&c, m);
			fclose(m);
			assert_null(strstr(dump, "METRICS-SECRET"));
			assert_non_null(strstr(dump, "metrics_token = (set, not shown)"));
			free(dump);
		}
		conf_cleanup(&c);
	}
}

/* The documented example parses and mentions every setting (docs stay true). */
static void example_is_complete(void **state)
{
	struct conf c;
	char err[512], *dump = NULL, *ex = NULL, line[256];
	size_t dn = 0, en = 0;
	FILE *m = open_memstream(&dump, &dn), *e = open_memstream(&ex, &en);
	FILE *f = fopen("conf/audiomus.conf.example", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		fputs(line, e);
	fclose(f);
	fclose(e);
	conf_defaults(&c);
	assert_int_equal(conf_load_file(&c, "conf/audiomus.conf.example", err, sizeof(err)), 0);
	conf_print(&c, m);
	fclose(m);
	for (char *p = dump; p && *p;) {
		char name[64];
		size_t k = strcspn(p, " ");
		assert_true(k < sizeof(name));
		memcpy(name, p, k);
		name[k] = 0;
		if (!strstr(ex, name))
			fail_msg("setting %s is not documented in conf/audiomus.conf.example",
				 name);
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	free(dump);
	free(ex);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(defaults_derive_paths),
	    cmocka_unit_test(units_and_bounds),
	    cmocka_unit_test(file_errors_name_line),
	    cmocka_unit_test(env_overrides),
	    cmocka_unit_test(listen_forms),
	    cmocka_unit_test(example_is_complete),
	    cmocka_unit_test(secrets_apart_and_never_printed),
	    cmocka_unit_test(metrics_listen_and_token),
	    cmocka_unit_test(database_tls_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
