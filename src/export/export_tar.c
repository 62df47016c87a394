/*
 * export_tar.c: the step-driven archive writer of export.h. libarchive
 * (pax interchange format, restricted: plain ustar headers unless a name or
 * size needs a pax record; bytes_per_block 0 so every byte goes straight to
 * our write callback, no 10 KiB blocking) pushes synchronously into the
 * caller's emit callback; we pull work in bounded steps so that an HTTP
 * producer with backpressure can drive it without a thread. Originals are
 * decrypted segment by segment through the AM1 reader (tags verified before
 * any byte leaves it). Names are UTF-8: libarchive converts them through
 * the C library's locale, so every libarchive call runs under a
 * thread-local C.UTF-8 locale (uselocale: the process locale is untouched);
 * without one, non-ASCII bytes of entry names become '_' (the JSON keeps
 * the real names). The project archive (export_open_project) is the same
 * machine with libarchive's ZIP writer (every entry stored) and the
 * comments' two documents in place of account.json and project.json.
 * Runs in the media role and the admin command; holds a
 * project key and one data key at a time, in secret memory.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "access/access.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "export/export_int.h"
#include "translog/translog.h"
#include "repo/repo.h"
#include "store/store.h"
#include "util/util.h"

enum body_src { BODY_NONE, BODY_MEM, BODY_AM1 };

struct export
{
	struct app *a;
	uint8_t account_id[DB_ID_LEN];
	char via[16];
	export_emit_fn *emit;
	void *ctx;
	struct archive *ar;
	locale_t loc; /* C.UTF-8 for libarchive's name conversions, or 0 */
	int err, done, opened, aborting, closing;
	int zip;   /* the project archive: ZIP, comments instead of project.json */
	int guest; /* the project archive of a share-link visitor */
	/* JSON and CSV documents to write before the next file, in order */
	char *pending[2];
	char pending_path[2][EXPORT_PATH_MAX + 16];
	size_t npending;
	/* plan */
	struct export_project *projects;
	size_t nprojects, next_project;
	struct export_file *files;
	size_t nfiles, next_file;
	struct crypto_pk *pk; /* the current project's key, or NULL */
	/* the entry being written */
	enum body_src src;
	uint64_t remaining, pos;
	char *mem; /* BODY_MEM: account.json / project.json */
	struct store_reader *sr;
	struct am1_source am1src;
	struct am1_reader *rd;
	uint8_t *chunk; /* EXPORT_CHUNK bytes */
};

static la_ssize_t write_cb(struct archive *ar, void *ctx, const void *p, size_t n)
{
	struct export *x = ctx;
	int rc;

	(void)ar;
	if (x->aborting)
		return -1; /* abandoned: nothing more leaves, not even the end */
	if (n > EXPORT_STEP_MAX && !x->closing) {
		x->err = AM_ERR_TOOBIG;
		return -1;
	}
	if ((rc = x->emit(x->ctx, p, n)) != 0) {
		x->err = rc;
		return -1;
	}
	return (la_ssize_t)n;
}

/* An archive error: ours (the emit callback's) when we set one. */
static int ar_fail(struct export *x, const char *what)
{
	if (!x->err) {
		am_log(AM_LOG_ERROR, "export_archive_error", "step", what, "error",
		       archive_error_string(x->ar) ? archive_error_string(x->ar) : "");
		x->err = AM_ERR_IO;
	}
	return x->err;
}

static int collect_project(void *ctx, const struct db_project *p)
{
	struct export *x = ctx;
	char slug[EXPORT_SLUG_MAX + 1], hex[33];

	if ((x->nprojects & (x->nprojects - 1)) == 0) {
		void *g = realloc(x->projects,
				  (x->nprojects ? 2 * x->nprojects : 1) * sizeof(*x->projects));
		if (!g)
			return AM_ERR_NOMEM;
		x->projects = g;
	}
	export_slug(p->title, slug);
	access_hex16(p->id, hex);
	memcpy(x->projects[x->nprojects].id, p->id, DB_ID_LEN);
	snprintf(x->projects[x->nprojects].dir, EXPORT_PATH_MAX, EXPORT_ROOT "/projects/%s-%s",
		 slug, hex);
	x->nprojects++;
	return 0;
}

/* Start an entry: its header now, its body in later steps. */
static int begin_entry(struct export *x, const char *path, uint64_t size, int64_t mtime)
{
	struct archive_entry *e = archive_entry_new();
	char ascii[EXPORT_PATH_MAX + 16];
	int r;

	if (!e)
		return AM_ERR_NOMEM;
	if (!x->loc) {
		size_t i = 0;
		for (; path[i] && i + 1 < sizeof(ascii); i++)
			ascii[i] = (unsigned char)path[i] < 0x80 ? path[i] : '_';
		ascii[i] = 0;
		path = ascii;
	}
	archive_entry_copy_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, (time_t)mtime, 0);
	r = archive_write_header(x->ar, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return ar_fail(x, "header");
	x->remaining = size;
	x->pos = 0;
	return 0;
}

/* A document to write as an entry before the next file (taken over). */
static int queue_doc(struct export *x, const char *path, char *doc)
{
	if (x->npending == sizeof(x->pending) / sizeof(x->pending[0])) {
		free(doc);
		return AM_ERR_INTERNAL;
	}
	x->pending[x->npending] = doc;
	am_strlcpy(x->pending_path[x->npending], path, sizeof(x->pending_path[0]));
	x->npending++;
	return 0;
}

/* The first queued document as an entry: its header now, its body in the
 * following steps. */
static int begin_doc(struct export *x)
{
	char path[EXPORT_PATH_MAX + 16];

	x->mem = x->pending[0];
	am_strlcpy(path, x->pending_path[0], sizeof(path));
	x->npending--;
	memmove(x->pending, x->pending + 1, x->npending * sizeof(x->pending[0]));
	memmove(x->pending_path, x->pending_path + 1, x->npending * sizeof(x->pending_path[0]));
	x->src = BODY_MEM;
	return begin_entry(x, path, strlen(x->mem), am_now());
}

static void close_body(struct export *x)
{
	am1_reader_free(x->rd);
	x->rd = NULL;
	store_reader_close(x->sr);
	x->sr = NULL;
	free(x->mem);
	x->mem = NULL;
	x->src = BODY_NONE;
}

static void drop_project(struct export *x)
{
	crypto_pk_free(x->pk);
	x->pk = NULL;
	if (x->files)
		am_memzero(x->files, x->nfiles * sizeof(*x->files));
	free(x->files);
	x->files = NULL;
	x->nfiles = x->next_file = 0;
}

/* The format: pax (restricted), or a ZIP whose entries are stored (audio
 * does not compress) with UTF-8 names flagged as such. libarchive adds the
 * ZIP64 records where a size or an offset passes 4 GiB. */
static int set_format(struct export *x)
{
	if (!x->zip)
		return archive_write_set_format_pax_restricted(x->ar);
	if (archive_write_set_format_zip(x->ar) != ARCHIVE_OK)
		return ARCHIVE_FATAL;
	if (archive_write_set_options(x->ar, "zip:compression=store") != ARCHIVE_OK)
		return ARCHIVE_FATAL;
	return x->loc ? archive_write_set_options(x->ar, "zip:hdrcharset=UTF-8") : ARCHIVE_OK;
}

/* The libarchive writer: set_format, unblocked, into write_cb. */
static int archive_new(struct export *x)
{
	locale_t old = x->loc ? uselocale(x->loc) : (locale_t)0;
	int rc = AM_ERR_NOMEM;

	if ((x->ar = archive_write_new()) && set_format(x) == ARCHIVE_OK &&
	    archive_write_set_bytes_per_block(x->ar, 0) == ARCHIVE_OK &&
	    archive_write_open2(x->ar, x, NULL, write_cb, NULL, NULL) == ARCHIVE_OK) {
		x->opened = 1;
		rc = 0;
	}
	if (x->loc)
		uselocale(old);
	return rc;
}

/* The builder's common part: its chunk, driver and locale. NULL: no memory. */
static struct export *export_new(struct app *a, export_emit_fn *emit, void *ctx)
{
	struct export *x = calloc(1, sizeof(*x));

	if (!x || !(x->chunk = malloc(EXPORT_CHUNK))) {
		free(x);
		return NULL;
	}
	x->a = a;
	x->emit = emit;
	x->ctx = ctx;
	x->loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	return x;
}

int export_open(struct app *a, const uint8_t account_id[16], const char *via, export_emit_fn *emit,
		void *ctx, struct export **out)
{
	struct export *x = export_new(a, emit, ctx);
	struct db_account acct;
	struct db *db = NULL;
	char *json = NULL;
	int rc = AM_ERR_NOMEM;

	*out = NULL;
	if (!x)
		goto fail;
	memcpy(x->account_id, account_id, DB_ID_LEN);
	am_strlcpy(x->via, via ? via : "", sizeof(x->via));
	if ((rc = app_db_get(a, &db)) != 0)
		goto fail;
	rc = db_account_get(db, a->keys, account_id, &acct);
	if (rc == 0 && acct.disabled)
		rc = AM_ERR_NOTFOUND;
	if (rc == 0)
		rc = db_project_list(db, a->keys, account_id, collect_project, x);
	app_db_put(a, db);
	if (rc == 0)
		rc = export_account_json(&acct, x->projects, x->nprojects, &json);
	am_memzero(&acct, sizeof(acct));
	if (rc)
		goto fail;
	if ((rc = archive_new(x)) != 0)
		goto fail;
	rc = queue_doc(x, EXPORT_ROOT "/account.json", json); /* the first entry */
	json = NULL;
	if (rc)
		goto fail;
	*out = x;
	return 0;
fail:
	free(json);
	export_free(x);
	return rc;
}

int export_open_project(struct app *a, const uint8_t project_id[16], int guest,
			export_emit_fn *emit, void *ctx, struct export **out)
{
	struct export *x = export_new(a, emit, ctx);
	struct db_project p;
	struct db *db = NULL;
	int rc = AM_ERR_NOMEM;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	if (!x)
		goto fail;
	x->zip = 1;
	x->guest = guest;
	if ((rc = app_db_get(a, &db)) != 0)
		goto fail;
	rc = db_project_get_by_id(db, a->keys, project_id, &p);
	app_db_put(a, db);
	if (rc)
		goto fail;
	memcpy(x->account_id, p.account_id, DB_ID_LEN);
	if ((rc = collect_project(x, &p)) != 0)
		goto fail;
	/* The archive's root directory is the project's slug alone. */
	export_slug(p.title, x->projects[0].dir);
	rc = archive_new(x);
	if (rc == 0) {
		*out = x;
		x = NULL;
	}
fail:
	am_memzero(&p, sizeof(p));
	export_free(x);
	return rc;
}

/* The documents of a project, queued: project.json (the account export)
 * or comments.json and comments.csv (the project archive). */
static int queue_docs(struct export *x, struct db *db, const struct db_project *p, const char *dir)
{
	enum export_docs_kind kind = !x->zip	? EXPORT_DOCS_PROJECT
				     : x->guest ? EXPORT_DOCS_COMMENTS_GUEST
						: EXPORT_DOCS_COMMENTS;
	struct export_docs d;
	char path[EXPORT_PATH_MAX + 16];
	int rc;

	if ((rc = export_project_build(db, x->a->keys, p, dir, kind, &d, &x->files, &x->nfiles)))
		return rc;
	if (!x->zip) {
		snprintf(path, sizeof(path), "%s/project.json", dir);
		return queue_doc(x, path, d.project_json);
	}
	snprintf(path, sizeof(path), "%s/comments.json", dir);
	if ((rc = queue_doc(x, path, d.comments_json)) != 0) {
		free(d.comments_csv);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/comments.csv", dir);
	return queue_doc(x, path, d.comments_csv);
}

/* Enter the next project: its documents queued, and the plan of its files
 * with the project key unwrapped. A project deleted since the listing is
 * skipped (the project archive fails instead). 1 if documents were
 * queued, 0 if skipped. */
static int enter_project(struct export *x)
{
	const struct export_project *ep = &x->projects[x->next_project++];
	struct db_project p;
	struct db *db = NULL;
	char details[64];
	int rc;

	drop_project(x);
	if ((rc = app_db_get(x->a, &db)) != 0)
		return rc;
	rc = db_project_get(db, x->a->keys, x->account_id, ep->id, &p);
	if (rc == AM_ERR_NOTFOUND && !x->zip) {
		app_db_put(x->a, db);
		return 0;
	}
	if (rc == 0)
		rc = queue_docs(x, db, &p, ep->dir);
	snprintf(details, sizeof(details), "{\"via\":\"%s\"}", x->via);
	if (rc == 0 && !x->zip && db_event_add(db, x->a->keys, p.id, "export", NULL, details))
		am_log(AM_LOG_WARN, "export_event_failed");
	if (rc == 0 && !x->zip &&
	    translog_append(db, &(struct translog_rec){p.id, "export", NULL, NULL, 0}))
		am_log(AM_LOG_WARN, "translog_append_failed", "kind", "export");
	app_db_put(x->a, db);
	if (rc == 0)
		rc = crypto_pk_open(x->a->kr, p.id, p.wrapped_pk, p.wrapped_pk_len, &x->pk);
	am_memzero(&p, sizeof(p));
	return rc ? rc : 1;
}

/* Open the next original (the store, then its DEK and the AM1 reader, which
 * checks the stored size against the database's) and write its header. */
static int enter_file(struct export *x)
{
	const struct export_file *f = &x->files[x->next_file++];
	struct store_err err;
	int rc;

	if ((rc = store_reader_open_seq(x->a->store, f->o.store_key, &x->sr, &err)) == 0) {
		store_am1_source(x->sr, &x->am1src);
		rc = crypto_pk_reader_open(x->pk, f->o.id, f->o.wrapped_dek, f->o.wrapped_dek_len,
					   &x->am1src, (uint64_t)f->o.plain_size, &x->rd);
		if (rc) /* the header's read, when it failed in the store */
			store_err_keep(&err, store_reader_errmsg(x->sr));
	}
	if (rc) {
		const char *why = err.msg;

		am_log(AM_LOG_ERROR, "export_object_unreadable", "error", am_strerror(rc),
		       "store_error", *why ? why : NULL);
		return rc;
	}
	x->src = BODY_AM1;
	return begin_entry(x, f->path, (uint64_t)f->o.plain_size, f->mtime);
}

/* At most EXPORT_CHUNK bytes of the current entry's body. */
static int body_chunk(struct export *x)
{
	size_t n = x->remaining < EXPORT_CHUNK ? (size_t)x->remaining : EXPORT_CHUNK, got = 0;
	const void *p = x->chunk;
	int rc;

	if (x->src == BODY_MEM) {
		p = x->mem + x->pos;
		got = n;
	} else if ((rc = am1_reader_pread(x->rd, x->pos, x->chunk, n, &got)) != 0 || got == 0) {
		/* A failed tag: nothing of that segment was released; the
		 * archive is abandoned by the caller (never a padded entry). The
		 * store's detail is the reader's: "" unless its latest read
		 * failed. */
		const char *why = store_reader_errmsg(x->sr);

		am_log(AM_LOG_ERROR, "export_aborted", "error", am_strerror(rc ? rc : AM_ERR_IO),
		       "store_error", *why ? why : NULL);
		return rc ? rc : AM_ERR_IO;
	}
	if (archive_write_data(x->ar, p, got) != (la_ssize_t)got)
		return ar_fail(x, "data");
	x->pos += got;
	x->remaining -= got;
	return 0;
}

static int step(struct export *x)
{
	if (x->src != BODY_NONE) {
		if (x->remaining > 0)
			return body_chunk(x);
		close_body(x);
		return archive_write_finish_entry(x->ar) == ARCHIVE_OK ? 0 : ar_fail(x, "finish");
	}
	if (x->npending > 0)
		return begin_doc(x);
	if (x->next_file < x->nfiles)
		return enter_file(x);
	while (x->next_project < x->nprojects) {
		int rc = enter_project(x);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	drop_project(x);
	x->closing = 1; /* a ZIP's central directory comes in one step */
	if (archive_write_close(x->ar) != ARCHIVE_OK)
		return ar_fail(x, "close");
	x->done = 1;
	return 0;
}

int export_step(struct export *x)
{
	int rc;

	if (x->err)
		return x->err;
	if (x->done)
		return 0;
	if (x->loc) {
		locale_t old = uselocale(x->loc);
		rc = step(x);
		uselocale(old);
	} else {
		rc = step(x);
	}
	if (rc != 0) {
		x->err = rc;
		return rc;
	}
	return x->done ? 0 : 1;
}

void export_free(struct export *x)
{
	if (!x)
		return;
	if (x->ar) {
		/* An unfinished archive must not get its end written on free:
		 * the write callback refuses everything from now on, and the
		 * close (which libarchive's free skips after archive_write_fail,
		 * leaking its output filter) releases the writer's state. */
		if (!x->done) {
			x->aborting = 1;
			(void)archive_write_close(x->ar);
		}
		archive_write_free(x->ar);
	}
	close_body(x);
	drop_project(x);
	for (size_t i = 0; i < x->npending; i++)
		free(x->pending[i]);
	free(x->projects);
	free(x->chunk);
	if (x->loc)
		freelocale(x->loc);
	free(x);
}
