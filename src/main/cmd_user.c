/*
 * cmd_user.c: `audiomus user`: owner accounts from the command line, for the
 * administrator of a server whose sign-up is closed: add, reset-password,
 * list. Non-interactive when the password comes from --password-file or a
 * pipe (tests, provisioning); asks without echo on a terminal. Runs with
 * the operator's privileges; opens the database and keys like a role.
 */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "app/app.h"
#include "repo/repo.h"
#include "main/main.h"
#include "util/util.h"

#define PW_BUF 512

/* Read one line (without its newline) from f into buf. */
static int read_line(FILE *f, char *buf, size_t n)
{
	size_t len;

	if (!fgets(buf, (int)n, f))
		return AM_ERR_IO;
	len = strlen(buf);
	if (len == n - 1 && buf[len - 1] != '\n')
		return AM_ERR_TOOBIG;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = 0;
	return 0;
}

/* The new password: from FILE (first line), else stdin (no echo on a tty). */
static int get_password(const char *file, char *buf, size_t n)
{
	struct termios old, quiet;
	int tty = !file && isatty(STDIN_FILENO), rc;
	FILE *f = stdin;

	if (file && !(f = fopen(file, "r"))) {
		fprintf(stderr, "audiomus user: cannot read %s\n", file);
		return AM_ERR_IO;
	}
	if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		fprintf(stderr, "New password: ");
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	} else {
		tty = 0;
	}
	rc = read_line(f, buf, n);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (file)
		fclose(f);
	if (rc)
		fprintf(stderr, "audiomus user: no password given (or longer than 256 bytes)\n");
	return rc;
}

/* Read, check and hash the new password into hash. */
static int new_hash(const struct conf *c, const char *file, char *hash, size_t n)
{
	char pw[PW_BUF];
	const char *why = NULL;
	int rc;

	if ((rc = get_password(file, pw, sizeof(pw))) == 0 && api_password_acceptable(pw, &why)) {
		fprintf(stderr, "audiomus user: %s\n", why);
		rc = AM_ERR_INVAL;
	}
	if (rc == 0 && (rc = api_password_hash(c, pw, hash, n)))
		fprintf(stderr, "audiomus user: cannot hash the password: %s\n", am_strerror(rc));
	am_memzero(pw, sizeof(pw));
	return rc;
}

static int user_add(struct app *a, struct db *db, const char *email, const char *file)
{
	char hash[256];
	uint8_t id[DB_ID_LEN];
	int rc;

	if (!api_email_acceptable(email)) {
		fprintf(stderr, "audiomus user: \"%s\" is not an e-mail address\n", email);
		return 2;
	}
	if (new_hash(&a->conf, file, hash, sizeof(hash)))
		return 1;
	/* The administrator vouches for the address: verified from the start. */
	if ((rc = db_begin_write(db)) == 0) {
		rc = db_account_create(db, a->keys, email, hash, id);
		if (rc == 0)
			rc = db_account_set_email_verified(db, id, NULL, am_now_ms());
		if (rc)
			db_rollback(db);
		else
			rc = db_commit(db);
	}
	am_memzero(hash, sizeof(hash));
	if (rc == AM_ERR_EXISTS) {
		fprintf(stderr, "audiomus user: an account with this e-mail address exists\n");
		return 1;
	}
	if (rc) {
		fprintf(stderr, "audiomus user: cannot create the account: %s\n", am_strerror(rc));
		return 1;
	}
	printf("created account %s\n", email);
	return 0;
}

static int user_reset(struct app *a, struct db *db, const char *email, const char *file)
{
	struct db_account acct;
	char hash[256];
	int rc = db_account_find_by_email(db, a->keys, email, &acct);

	if (rc == 0 && acct.disabled)
		rc = AM_ERR_NOTFOUND;
	if (rc) {
		fprintf(stderr, "audiomus user: no such account\n");
		return 1;
	}
	if (new_hash(&a->conf, file, hash, sizeof(hash)))
		return 1;
	rc = db_account_set_password(db, a->keys, acct.id, hash);
	am_memzero(hash, sizeof(hash));
	if (rc == 0)
		rc = db_session_delete_all(db, acct.id, NULL);
	if (rc) {
		fprintf(stderr, "audiomus user: cannot set the password: %s\n", am_strerror(rc));
		return 1;
	}
	printf("password reset for %s; every session of the account ended\n", email);
	return 0;
}

/* The administrator confirms an existing account's address (for example one
 * that existed before schema v5, on a server that sends no e-mail). */
static int user_verify_email(struct app *a, struct db *db, const char *email)
{
	struct db_account acct;
	int rc = db_account_find_by_email(db, a->keys, email, &acct);

	if (rc == 0 && acct.disabled)
		rc = AM_ERR_NOTFOUND;
	if (rc == 0)
		rc = db_account_set_email_verified(db, acct.id, acct.email_index, am_now_ms());
	am_memzero(&acct, sizeof(acct));
	if (rc == AM_ERR_NOTFOUND) {
		fprintf(stderr, "audiomus user: no such account\n");
		return 1;
	}
	if (rc) {
		fprintf(stderr, "audiomus user: cannot mark the address verified: %s\n",
			am_strerror(rc));
		return 1;
	}
	printf("e-mail address of %s marked verified\n", email);
	return 0;
}

static int list_item(void *ctx, const struct db_account *acct)
{
	char day[32];
	time_t t = (time_t)(acct->created / 1000);
	struct tm tm;

	(void)ctx;
	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s\t%s%s\n", acct->email, day, acct->disabled ? "\tdisabled" : "");
	return 0;
}

/* Split "ACTION [EMAIL] [--password-file FILE]" out of argv. */
static int parse_args(int argc, char **argv, const char **action, const char **email,
		      const char **file)
{
	*action = *email = *file = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--password-file") && i + 1 < argc)
			*file = argv[++i];
		else if (!*action)
			*action = argv[i];
		else if (!*email)
			*email = argv[i];
		else
			return 2;
	}
	if (!*action || (strcmp(*action, "list") && !*email) ||
	    (!strcmp(*action, "list") && *email))
		return 2;
	return 0;
}

static int cmd_user(int argc, char **argv)
{
	const char *action, *email, *file;
	struct app *a = NULL;
	struct db *db = NULL;
	struct conf c;
	char err[1024];
	int rc = 2;

	if (main_load_conf(&argc, argv, &c))
		return 1;
	if (parse_args(argc, argv, &action, &email, &file)) {
		fprintf(stderr,
			"usage: audiomus user add|reset-password EMAIL [--password-file FILE]\n"
			"       audiomus user verify-email EMAIL\n"
			"       audiomus user list\n");
		return 2;
	}
	if (app_open(&c, APP_DB, &a, err, sizeof(err))) {
		fprintf(stderr, "audiomus user: %s\n", err);
		return 1;
	}
	if (app_db_get(a, &db)) {
		fprintf(stderr, "audiomus user: the database is busy\n");
		rc = 1;
	} else if (!strcmp(action, "add")) {
		rc = user_add(a, db, email, file);
	} else if (!strcmp(action, "reset-password")) {
		rc = user_reset(a, db, email, file);
	} else if (!strcmp(action, "verify-email")) {
		rc = user_verify_email(a, db, email);
	} else if (!strcmp(action, "list")) {
		rc = db_account_list(db, a->keys, list_item, NULL) ? 1 : 0;
	} else {
		fprintf(stderr, "audiomus user: unknown action \"%s\"\n", action);
	}
	if (db)
		app_db_put(a, db);
	app_close(a);
	return rc;
}

const struct command cmd_user_def = {
    "user", cmd_user, "manage owner accounts (add, reset-password, verify-email, list)",
    "audiomus user add EMAIL [--password-file FILE] [--data DIR] [--config FILE]\n"
    "audiomus user reset-password EMAIL [--password-file FILE]\n"
    "audiomus user verify-email EMAIL\n"
    "audiomus user list\n"
    "\n"
    "DESCRIPTION\n"
    "  Owner accounts for a server whose web sign-up is closed (signup_open =\n"
    "  false, the default).\n"
    "    add             create an account for EMAIL; its address counts as\n"
    "                    verified (the administrator vouches for it)\n"
    "    reset-password  set a new password for EMAIL and end all its sessions\n"
    "    verify-email    mark the address of EMAIL verified, so the notifications\n"
    "                    its owner turns on are sent (docs/mail.md)\n"
    "    list            print every account: e-mail, creation time (UTC)\n"
    "\n"
    "  The password is the first line of FILE with --password-file, else the\n"
    "  first line of standard input (asked for without echo on a terminal):\n"
    "    printf '%s\\n' \"$PW\" | audiomus user add me@example.org --data DIR\n"
    "  It must be 8 to 256 bytes and not on the bundled list of common\n"
    "  passwords. It is hashed with Argon2id (argon2_opslimit, argon2_memlimit).\n"
    "\n"
    "EXIT STATUS\n"
    "  0 on success, 1 on an error (message on stderr), 2 on a usage error.\n"};
