/*
 * cmd_init.c: `audiomus init`: create a data directory for the embedded
 * default: the directory (0700), its tls/ directory (0700), a self-signed
 * certificate for localhost and its key (0600), and the master key file.
 * Operator tool, non-interactive; never overwrites anything.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "http/http.h"
#include "main/main.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "util/util.h"

#define CERT_DAYS 365

/* Create the missing parents of path (mode 0755, like mkdir -p). */
static void make_parents(const char *path)
{
	char buf[CONF_PATH_MAX];

	if (am_strlcpy(buf, path, sizeof(buf)))
		return;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		(void)mkdir(buf, 0755);
		*p = '/';
	}
}

/* mkdir 0700, or accept an existing private directory. */
static int make_private_dir(const char *path)
{
	struct stat st;

	make_parents(path);
	if (mkdir(path, 0700) == 0) {
		printf("created   %s/ (mode 0700)\n", path);
		return 0;
	}
	if (errno != EEXIST || stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "audiomus init: cannot create directory %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	if (st.st_mode & 077) {
		fprintf(stderr,
			"audiomus init: %s exists with mode %03o; it must be private "
			"(chmod 700 %s)\n",
			path, (unsigned)(st.st_mode & 0777), path);
		return 1;
	}
	printf("exists    %s/\n", path);
	return 0;
}

static int make_tls(const struct conf *c)
{
	struct stat st;
	char err[1024];
	int have_cert = stat(c->tls_cert, &st) == 0, have_key = stat(c->tls_key, &st) == 0;

	if (have_cert && have_key) {
		printf("exists    %s\nexists    %s\n", c->tls_cert, c->tls_key);
		return 0;
	}
	if (have_cert || have_key) {
		fprintf(stderr,
			"audiomus init: only one of %s and %s exists; not touching either\n",
			c->tls_cert, c->tls_key);
		return 1;
	}
	if (http_tls_selfsigned_write(c->tls_cert, c->tls_key, CERT_DAYS, err, sizeof(err))) {
		fprintf(stderr, "audiomus init: %s\n", err);
		return 1;
	}
	printf("created   %s (self-signed ECDSA P-256 for localhost, %d days)\n"
	       "created   %s (mode 0600)\n",
	       c->tls_cert, CERT_DAYS, c->tls_key);
	return 0;
}

/* The master key file, beside the data directory by default (never in it). */
static int make_master_key(const struct conf *c)
{
	int rc = crypto_keyfile_create(c->key_file);

	if (rc == AM_ERR_EXISTS) {
		printf("exists    %s\n", c->key_file);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "audiomus init: cannot create the master key %s: %s\n", c->key_file,
			am_strerror(rc));
		return 1;
	}
	printf("created   %s (master key, mode 0600: back it up apart from the data)\n",
	       c->key_file);
	return 0;
}

/* Create and migrate the database, with the account key and IP-key state. */
static int make_database(const struct conf *c)
{
	struct app *a = NULL;
	char err[1024];

	if (app_open(c, APP_DB, &a, err, sizeof(err))) {
		fprintf(stderr, "audiomus init: %s\n", err);
		return 1;
	}
	printf("ready     ");
	conf_print_url(stdout, c->secret->database);
	printf(" (schema %d)\n", db_schema_latest());
	app_close(a);
	return 0;
}

static int cmd_init(int argc, char **argv)
{
	struct conf c;
	char tls_dir[CONF_PATH_MAX + 8];

	if (main_load_conf(&argc, argv, &c))
		return 1;
	if (argc > 1) {
		fprintf(stderr, "audiomus init: unexpected argument \"%s\"\n", argv[1]);
		return 2;
	}
	if (snprintf(tls_dir, sizeof(tls_dir), "%s/tls", c.data_dir) >= (int)sizeof(tls_dir)) {
		fprintf(stderr, "audiomus init: data_dir path too long\n");
		return 1;
	}
	if (make_private_dir(c.data_dir) || make_private_dir(tls_dir) || make_tls(&c))
		return 1;

	if (make_master_key(&c) || make_database(&c))
		return 1;
	printf("\nNext: audiomus serve --data %s\n", c.data_dir);
	return 0;
}

const struct command cmd_init_def = {
    "init", cmd_init, "create a data directory, TLS certificate and master key",
    "audiomus init --data DIR [--config FILE] [--set NAME=VALUE]\n"
    "\n"
    "DESCRIPTION\n"
    "  Prepares DIR for `audiomus serve`, non-interactively:\n"
    "    DIR/              created with mode 0700\n"
    "    DIR/tls/          created with mode 0700\n"
    "    tls_cert          a self-signed ECDSA P-256 certificate for localhost\n"
    "                      (SANs DNS:localhost, IP:127.0.0.1, IP:::1), valid 1 year\n"
    "                      (default DIR/tls/cert.pem)\n"
    "    tls_key           its private key, mode 0600 (default DIR/tls/key.pem)\n"
    "    key_file          the master key, mode 0600 (default DIR.key, beside DIR)\n"
    "\n"
    "  init never overwrites: what exists is reported as \"exists\" and kept, so\n"
    "  running it twice is harmless. An existing DIR readable by others is refused.\n"
    "  For a real host name, put a CA-issued certificate and key in tls_cert and\n"
    "  tls_key instead and send serve a SIGHUP after each renewal.\n"
    "\n"
    "EXIT STATUS\n"
    "  0 when everything exists afterwards, 1 on an error, 2 on a usage error.\n"};
