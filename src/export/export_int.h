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
/* project.json of p (a live project read by the caller) and the plan of
 * its ready originals, each at dir/tracks/<n>-<slug>/v<k>-<name>: *json
 * (malloc'd string) and *files (*nfiles entries, malloc'd; may be NULL when
 * there are none). Database errors, AM_ERR_NOMEM. */
int export_project_build(struct db *db, const struct db_keys *k, const struct db_project *p,
			 const char *dir, char **json, struct export_file **files, size_t *nfiles);

#endif
