/*
 * cmd_check_config.c: `audiomus check-config`: parse and validate the
 * configuration, check that the files it names are usable, print the result.
 * Operator tool; reads the key file only to check its size and mode.
 */
#include <sys/stat.h>

#include <string.h>

#include "db/db.h"
#include "main/main.h"
#include "store/store.h"
#include "util/util.h"

static int check_file(const char *what, const char *path, int must_be_private)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		printf("  %-10s %s: missing (run audiomus init)\n", what, path);
		return 1;
	}
	if (must_be_private && (st.st_mode & 077)) {
		printf("  %-10s %s: mode %03o, must not be readable by group or others\n", what,
		       path, (unsigned)(st.st_mode & 0777));
		return 1;
	}
	printf("  %-10s %s: ok\n", what, path);
	return 0;
}

/* For an S3 store, prove the credentials: list, write, read back, delete a
 * small probe object (a file: store needs no such test). */
static int check_s3(const struct conf *c)
{
	struct store *st = NULL;
	struct store_err err;
	int rc;

	if (strncmp(c->storage, "s3://", 5) != 0)
		return 0;
	rc = store_open_conf(c, &st, &err);
	if (rc == 0)
		rc = store_probe(st, &err);
	printf("  %-10s %s\n", "storage",
	       !rc	  ? "s3: credentials work (probe written, read, deleted)"
	       : *err.msg ? err.msg /* the store's reason: S3 code, TLS error */
			  : am_strerror(rc));
	store_close(st);
	return rc != 0;
}

/* The database: the TLS policy's verdict on a postgres:// URL (never the
 * URL itself: it may hold a password), then a real connection without
 * migrating, which proves the CA, the host name and the credentials. */
static int check_database(const struct conf *c)
{
	enum db_tls tls = db_tls_parse(c->database_tls);
	struct db_tls_report rep;
	struct db *db = NULL;
	const char *proto;
	char err[768];

	if (db_tls_check(c->secret->database, tls, &rep, err, sizeof(err)) != 0) {
		printf("  %-10s %s\n", "database", strncmp(err, "database: ", 10) ? err : err + 10);
		return 1;
	}
	if (!rep.postgres) {
		printf("  %-10s sqlite, a file on this machine: no connection to protect\n",
		       "database");
		return 0;
	}
	if (rep.local)
		printf("  %-10s postgres at %s: on this machine, TLS not required (sslmode=%s)\n",
		       "database", rep.hosts, rep.sslmode);
	else if (rep.insecure)
		printf("  %-10s postgres at %s: TLS NOT ENFORCED (database_tls = insecure-allow, "
		       "sslmode=%s)\n",
		       "database", rep.hosts, rep.sslmode);
	else
		printf("  %-10s postgres at %s: TLS required, sslmode=verify-full, CA %s\n",
		       "database", rep.hosts,
		       *rep.sslrootcert ? rep.sslrootcert
					: "~/.postgresql/root.crt (libpq default)");
	if (db_open_tls(c->secret->database, tls, &db, err, sizeof(err)) != 0) {
		printf("  %-10s cannot connect: %s\n", "database", err);
		return 1;
	}
	proto = db_tls_protocol(db);
	printf("  %-10s connected %s%s\n", "database", proto ? "over " : "without TLS",
	       proto ? proto : "");
	db_close(db);
	return 0;
}

static int cmd_check_config(int argc, char **argv)
{
	struct conf c;
	int bad = 0;

	if (main_load_conf(&argc, argv, &c))
		return 1;
	if (argc > 1) {
		fprintf(stderr, "audiomus check-config: unexpected argument \"%s\"\n", argv[1]);
		return 2;
	}
	printf("configuration parsed: ok\n");
	bad += check_file("master key", c.key_file, 1);
	bad += check_file("tls cert", c.tls_cert, 0);
	bad += check_file("tls key", c.tls_key, 1);
	bad += check_file("data dir", c.data_dir, 1);
	bad += check_database(&c);
	bad += check_s3(&c);
	printf("%s\n", bad ? "check-config: problems found" : "check-config: ok");
	return bad ? 1 : 0;
}

const struct command cmd_check_config_def = {
    "check-config", cmd_check_config, "validate the configuration and the files it names",
    "audiomus check-config [--config FILE] [--data DIR] [--set NAME=VALUE]\n\n"
    "Reads the configuration exactly as `serve` would (defaults, config file,\n"
    "AUDIOMUS_* environment, options), reports the first error as FILE:LINE:\n"
    "message, then checks that the master key, the TLS certificate and key and\n"
    "the data directory exist with private modes; for a postgres:// database it\n"
    "reports the TLS policy's verdict (database_tls) and connects once; for an\n"
    "s3:// store it writes,\n"
    "reads back and deletes a small probe object to prove the credentials. Exit\n"
    "status 0 when all is well,\n"
    "1 when a problem was found, 2 on a usage error.\n"};
