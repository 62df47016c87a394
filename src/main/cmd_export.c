/*
 * cmd_export.c: `audiomus export --account EMAIL --output FILE|-`: the
 * owner's full data export archive written by the administrator, the same
 * archive as the media role's GET /m/export/{account} (one builder:
 * src/export/). FILE must not exist: the archive is written to
 * FILE.partial-XXXXXX (mode 0600), fsynced, and renamed to FILE only when
 * complete (never over an existing file), so a killed export never leaves a
 * cut archive under the final name; a failed one removes its partial file;
 * "-" writes to standard output (refused on a terminal). Runs with the
 * operator's privileges; opens the database, keys and store like the media
 * role; the archive holds decrypted audio, so where it goes is the
 * operator's responsibility.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "repo/repo.h"
#include "export/export.h"
#include "main/main.h"
#include "util/util.h"

struct out {
	int fd;
	uint64_t bytes;
};

static int write_all(void *ctx, const void *p, size_t n)
{
	struct out *o = ctx;
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(o->fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return AM_ERR_IO;
		b += w;
		n -= (size_t)w;
		o->bytes += (uint64_t)w;
	}
	return 0;
}

static int parse_args(int argc, char **argv, const char **email, const char **output)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--account") && i + 1 < argc)
			*email = argv[++i];
		else if (!strcmp(argv[i], "--output") && i + 1 < argc)
			*output = argv[++i];
		else
			return AM_ERR_INVAL;
	}
	return *email && *output ? 0 : AM_ERR_INVAL;
}

/* The account id of email (live accounts only). */
static int find_account(struct app *a, const char *email, uint8_t id[DB_ID_LEN])
{
	struct db_account acct;
	struct db *db = NULL;
	int rc;

	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = db_account_find_by_email(db, a->keys, email, &acct);
	app_db_put(a, db);
	if (rc == 0 && acct.disabled)
		rc = AM_ERR_NOTFOUND;
	if (rc == 0)
		memcpy(id, acct.id, DB_ID_LEN);
	am_memzero(&acct, sizeof(acct));
	return rc;
}

static int run_export(struct app *a, const uint8_t id[DB_ID_LEN], struct out *o)
{
	struct export *x = NULL;
	int64_t stall = am_test_hook_ms("EXPORT_STALL_MS", 1, 60000);
	int rc;

	if ((rc = export_open(a, id, "cli", write_all, o, &x)) != 0)
		return rc;
	while ((rc = export_step(x)) == 1) {
		if (stall > 0 && o->bytes > 0) { /* test build only: a window to kill it in */
			struct timespec ts = {stall / 1000, (long)(stall % 1000) * 1000000L};
			nanosleep(&ts, NULL);
			stall = 0;
		}
	}
	export_free(x);
	return rc;
}

/* Create output's partial file (its name into tmp), refusing when output
 * already exists: the final name is only ever taken by publish(). */
static int open_partial(const char *output, char *tmp, size_t tmpsz)
{
	struct stat st;
	int n;

	if (lstat(output, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	n = snprintf(tmp, tmpsz, "%s.partial-XXXXXX", output);
	if (n < 0 || (size_t)n >= tmpsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkostemp(tmp, O_CLOEXEC); /* O_EXCL, mode 0600 */
}

/* Give the complete, fsynced partial file its final name, never replacing
 * a file that appeared meanwhile, and make the rename durable. */
static int publish(const char *tmp, const char *output)
{
	char dir[4096];
	int dfd, rc = 0;

	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, output, RENAME_NOREPLACE) != 0) {
		/* a filesystem without RENAME_NOREPLACE: link() refuses to replace too */
		if (errno != EINVAL || link(tmp, output) != 0 || unlink(tmp) != 0)
			return AM_ERR_IO;
	}
	if (am_strlcpy(dir, output, sizeof(dir)) != 0)
		return AM_ERR_IO;
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return AM_ERR_IO;
	if (fsync(dfd) != 0)
		rc = AM_ERR_IO;
	close(dfd);
	return rc;
}

static int cmd_export(int argc, char **argv)
{
	const char *email = NULL, *output = NULL;
	struct out o = {.fd = -1};
	struct app *a = NULL;
	struct conf c;
	uint8_t id[DB_ID_LEN];
	char err[512], tmp[4096] = "";
	int rc, to_stdout;

	if (main_load_conf(&argc, argv, &c))
		return 1;
	if (parse_args(argc, argv, &email, &output)) {
		fprintf(stderr, "usage: audiomus export --account EMAIL --output FILE|-\n");
		return 2;
	}
	to_stdout = !strcmp(output, "-");
	if (to_stdout && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "audiomus export: refusing to write an archive to a terminal\n");
		return 2;
	}
	if (app_open(&c, APP_DB | APP_STORE, &a, err, sizeof(err))) {
		fprintf(stderr, "audiomus export: %s\n", err);
		return 1;
	}
	if ((rc = find_account(a, email, id)) != 0) {
		fprintf(stderr, "audiomus export: %s\n",
			rc == AM_ERR_NOTFOUND ? "no such account" : am_strerror(rc));
		app_close(a);
		return 1;
	}
	o.fd = to_stdout ? STDOUT_FILENO : open_partial(output, tmp, sizeof(tmp));
	if (o.fd < 0) {
		fprintf(stderr, "audiomus export: cannot create %s: %s\n", output, strerror(errno));
		app_close(a);
		return 1;
	}
	rc = run_export(a, id, &o);
	if (rc == 0 && !to_stdout && fsync(o.fd) != 0)
		rc = AM_ERR_IO;
	if (!to_stdout && close(o.fd) != 0 && rc == 0)
		rc = AM_ERR_IO;
	if (rc == 0 && !to_stdout)
		rc = publish(tmp, output);
	if (rc && !to_stdout)
		unlink(tmp); /* never leave half an archive behind */
	app_close(a);
	if (rc) {
		fprintf(stderr, "audiomus export: failed: %s\n", am_strerror(rc));
		return 1;
	}
	fprintf(stderr, "audiomus export: %llu bytes written to %s\n", (unsigned long long)o.bytes,
		to_stdout ? "standard output" : output);
	return 0;
}

const struct command cmd_export_def = {
    "export", cmd_export, "write an owner's full data export archive (tar)",
    "audiomus export --account EMAIL --output FILE|- [--data DIR] [--config FILE]\n"
    "\n"
    "DESCRIPTION\n"
    "  Writes the full data export of the owner account EMAIL as a tar (pax)\n"
    "  archive: audiomus-export/account.json, and per project project.json\n"
    "  (tracks, versions, stored objects, comments, events, links without their\n"
    "  tokens) and every original audio file, decrypted. The same archive the\n"
    "  owner downloads from the dashboard (docs/media.md \"Export\").\n"
    "\n"
    "  FILE must not exist. The archive is written to FILE.partial-XXXXXX\n"
    "  (mode 0600) and renamed to FILE only when complete, so FILE is never\n"
    "  a cut archive; on failure the partial file is removed (after a kill\n"
    "  it stays: delete it). \"-\" writes to standard output (not to a\n"
    "  terminal). The archive holds decrypted audio: store and move it\n"
    "  accordingly.\n"
    "\n"
    "EXIT STATUS\n"
    "  0 written, 1 failure (no such account, I/O, an object failed\n"
    "  authentication), 2 usage.\n"};
