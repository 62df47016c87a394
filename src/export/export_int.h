/*
 * export_int.h: internals shared by the files of src/export/ (and its unit
 * tests): the JSON documents of the archive and the plan of one project's
 * files. Runs in the media role and the admin command.
 */
#ifndef AM_EXPORT_INT_H
#define AM_EXPORT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"
#include "export/export.h"
#include "util/util.h"

#define EXPORT_ROOT	"audiomus-export"
#define EXPORT_PATH_MAX 512

/* A project as listed at export_open: its id and archive directory
 * ("audiomus-export/projects/<slug>-<id>"). */
struct export_project {
	uint8_t id[DB_ID_LEN];
	char dir[EXPORT_PATH_MAX];
};

/* One original to write: its object row and its path in the archive. */
struct export_file {
	struct db_object o;
	char path[EXPORT_PATH_MAX];
	int64_t mtime; /* seconds since the epoch */
};

/* account.json (a NUL-terminated string, malloc'd) for acct and its
 * projects. AM_ERR_NOMEM. */
int export_account_json(const struct db_account *acct, const struct export_project *ps, size_t n,
			char **out);
/* What export_project_build writes besides the plan: the account export's
 * project.json, or the project archive's comments.json and comments.csv
 * (guest: without the guests' ids). Each a malloc'd NUL-terminated string. */
enum export_docs_kind { EXPORT_DOCS_PROJECT, EXPORT_DOCS_COMMENTS, EXPORT_DOCS_COMMENTS_GUEST };
struct export_docs {
	char *project_json;
	char *comments_json;
	char *comments_csv;
};
/* The most bytes of comments.csv (the comments are bounded by the
 * project's; a larger CSV is AM_ERR_TOOBIG). */
#define EXPORT_CSV_MAX ((size_t)256 << 20)

/* The documents of kind of p (a live project read by the caller) and the
 * plan of its ready originals, each at dir/tracks/<n>-<slug>/v<k>-<name>:
 * docs (strings as above, the caller frees them) and *files (*nfiles
 * entries, malloc'd; may be NULL when there are none). Database errors,
 * AM_ERR_NOMEM, AM_ERR_TOOBIG. */
int export_project_build(struct db *db, const struct db_keys *k, const struct db_project *p,
			 const char *dir, enum export_docs_kind kind, struct export_docs *docs,
			 struct export_file **files, size_t *nfiles);
/* A CSV field for a spreadsheet: always quoted, '"' doubled, and a text
 * that a spreadsheet would run as a formula (first character = + - @ tab
 * or CR) prefixed with an apostrophe. Appended to b. AM_ERR_TOOBIG. */
int export_csv_field(struct am_buf *b, const char *s);

#endif
