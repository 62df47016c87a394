/*
 * media_marked_zip.c: the marker zip of a version or a project (issue 24,
 * docs/api.md "Markers", docs/media.md "Marked WAV"): per version the four
 * marker files (src/markers/: markers.mid, markers-reaper.csv,
 * markers-audacity.txt, markers-audition.csv) and markers.wav, the marked
 * WAV (media_marked.c, media_marked_pcm.c); per project one folder per
 * track with its newest ready version's five. It carries audio, so the
 * media role makes it, from a signed URL the web role issued where the
 * originals may be downloaded (d = ACCESS_D_MARKERS_ZIP + flags, checked
 * by media_stream.c as a download of the version's original; d =
 * ACCESS_D_MARKERS_PROJECT + flags, obj the project, checked here like the
 * project archive). A ZIP of stored entries (ZIP64 where needed) written by
 * libarchive into a bounded buffer, pulled by the response: the marked WAV
 * is read a block at a time from its source, which re-checks the grant as
 * a download does, so memory is the marker files of one version plus a
 * block, whatever the audio's size. Runs in the media process on
 * untrusted requests.
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "export/export.h"
#include "http/http.h"
#include "markers/markers.h"
#include "media/media_int.h"
#include "util/util.h"

#define MZ_BLOCK      (64 * 1024)	 /* audio bytes per step */
#define MZ_BUF_MAX    ((size_t)64 << 20) /* the output buffer, at most */
#define MZ_FILE_MAX   (16 * 1024 * 1024) /* one marker file, at most */
#define MZ_TRACKS_MAX 1000
#define MZ_LIMIT_NAME "markers-zip-proj"

struct mzip {
	struct media *m;
	struct archive *ar;
	uint8_t *buf; /* libarchive's output not yet sent: [head, len) of cap */
	size_t head, len, cap;
	uint8_t *chunk; /* MZ_BLOCK: audio on its way into the archive */
	int done, opened;
	unsigned flags;
	struct stream_req *sr; /* the version being written (heap) */
	struct marked_src src; /* its marked WAV, while its body is written */
	uint64_t pos;
	/* The project: the newest ready version of each track. */
	int project;
	size_t ti, tn;
	uint8_t (*tid)[DB_ID_LEN], (*vid)[DB_ID_LEN];
	int64_t *num;
	char (*dir)[EXPORT_SLUG_MAX + 8]; /* "NN-slug/" */
	char title[DB_TITLE_MAX + 1];	  /* of the version's track (the file name) */
	int64_t number;
};

static void mz_free(void *arg)
{
	struct mzip *z = arg;

	if (!z)
		return;
	if (z->src.free)
		z->src.free(z->src.arg);
	if (z->ar)
		archive_write_free(z->ar);
	if (z->buf)
		am_memzero(z->buf, z->cap); /* decrypted audio */
	if (z->chunk)
		am_memzero(z->chunk, MZ_BLOCK);
	free(z->buf);
	free(z->chunk);
	if (z->sr)
		am_memzero(z->sr, sizeof(*z->sr));
	free(z->sr);
	free(z->tid);
	free(z->vid);
	free(z->num);
	free(z->dir);
	am_memzero(z, sizeof(*z));
	free(z);
}

static la_ssize_t mz_write(struct archive *ar, void *ctx, const void *p, size_t n)
{
	struct mzip *z = ctx;
	uint8_t *g;

	(void)ar;
	if (n > z->cap - z->len) {
		size_t want = z->len + n > 2 * z->cap ? z->len + n : 2 * z->cap;

		if (want > MZ_BUF_MAX || !(g = malloc(want)))
			return -1;
		memcpy(g, z->buf, z->len);
		am_memzero(z->buf, z->cap); /* not realloc: the old block may hold audio */
		free(z->buf);
		z->buf = g;
		z->cap = want;
	}
	memcpy(z->buf + z->len, p, n);
	z->len += n;
	return (la_ssize_t)n;
}

static struct mzip *mz_new(struct media *m, unsigned flags)
{
	struct mzip *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->m = m;
	z->flags = flags;
	z->cap = 2 * MZ_BLOCK;
	if (!(z->buf = malloc(z->cap)) || !(z->chunk = malloc(MZ_BLOCK)) ||
	    !(z->sr = calloc(1, sizeof(*z->sr))) || !(z->ar = archive_write_new()) ||
	    archive_write_set_format_zip(z->ar) != ARCHIVE_OK ||
	    archive_write_set_options(z->ar, "zip:compression=store") != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(z->ar, 1) != ARCHIVE_OK ||
	    archive_write_open2(z->ar, z, NULL, mz_write, NULL, NULL) != ARCHIVE_OK) {
		mz_free(z);
		return NULL;
	}
	return z;
}

/* An entry's header; its body follows with archive_write_data. */
static int mz_entry(struct mzip *z, const char *name, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	if (!e)
		return AM_ERR_NOMEM;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, am_now(), 0);
	if (archive_write_header(z->ar, e) != ARCHIVE_OK)
		rc = AM_ERR_TOOBIG;
	archive_entry_free(e);
	return rc;
}

static int mz_add(struct mzip *z, const char *name, const void *p, size_t n)
{
	int rc = mz_entry(z, name, n);

	if (rc == 0 && n && archive_write_data(z->ar, p, n) != (la_ssize_t)n)
		rc = AM_ERR_TOOBIG;
	return rc;
}

/* The four marker files of the version z->sr names, under dir. */
static int mz_texts(struct mzip *z, const char *dir)
{
	static const enum markers_format fs[] = {MARKERS_SMF, MARKERS_REAPER, MARKERS_AUDACITY,
						 MARKERS_AUDITION};
	struct app *a = z->m->app;
	struct mk_comments l = {0};
	struct markers_opts o = {.flags = z->flags};
	struct db_version v;
	struct db_track t;
	struct db *db = NULL;
	struct am_buf b;
	char name[EXPORT_SLUG_MAX + 64];
	int rc;

	memset(&t, 0, sizeof(t));
	am_buf_init(&b, MZ_FILE_MAX);
	if ((rc = app_db_get(a, &db)) != 0)
		goto out;
	if ((rc = db_version_get(db, a->keys, z->sr->g.project_id, z->sr->o.version_id, &v)) == 0)
		rc = db_track_get(db, a->keys, z->sr->g.project_id, v.track_id, &t);
	app_db_put(a, db);
	if (rc || (rc = media_marked_comments(a, z->sr->g.project_id, z->sr->o.version_id, &l)))
		goto out;
	o.tempo_mbpm = (uint32_t)t.tempo_mbpm;
	o.ts_num = (unsigned)t.ts_num;
	o.ts_den = (unsigned)t.ts_den;
	o.name = t.title;
	am_strlcpy(z->title, t.title, sizeof(z->title));
	z->number = v.number;
	for (size_t i = 0; rc == 0 && i < AM_ARRAY_LEN(fs); i++) {
		am_buf_reset(&b);
		snprintf(name, sizeof(name), "%s%s", dir, markers_file_name(fs[i]));
		if ((rc = markers_write(fs[i], &o, l.v, l.n, &b)) == 0)
			rc = mz_add(z, name, b.p, b.len);
	}
out:
	media_marked_comments_free(&l);
	am_buf_cleanup(&b);
	am_memzero(&t, sizeof(t));
	return rc;
}

/* A version's files under dir: the texts, then the marked WAV's header
 * when z->src is open (its body follows step by step), or a note saying
 * why there is none (unsupported: an original that does not decode). */
static int mz_version(struct mzip *z, const char *dir, int unsupported)
{
	static const char note[] = "No marked WAV for this version: its original could not be "
				   "decoded. The other marker files are complete.\n";
	char name[EXPORT_SLUG_MAX + 64];
	int rc;

	if ((rc = mz_texts(z, dir)) != 0)
		return rc;
	if (unsupported) {
		snprintf(name, sizeof(name), "%smarkers-wav-missing.txt", dir);
		return mz_add(z, name, note, sizeof(note) - 1);
	}
	snprintf(name, sizeof(name), "%smarkers.wav", dir);
	z->pos = 0;
	return mz_entry(z, name, z->src.len);
}

/* The project's next track with a ready version: its request (the grant
 * re-checked for that original, as a download of it), its marked WAV
 * opened, its files begun. 1 when one was begun, 0 when none is left. */
static int mz_next_track(struct mzip *z)
{
	struct app *a = z->m->app;
	struct stream_req *sr = z->sr;
	struct db *db = NULL;
	int rc;

	while (z->ti < z->tn && z->num[z->ti] == 0)
		z->ti++;
	if (z->ti == z->tn)
		return 0;
	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = db_object_find(db, sr->g.project_id, z->vid[z->ti], "original", &sr->o);
	if (rc == 0) {
		memcpy(sr->obj, sr->o.id, sizeof(sr->obj));
		rc = access_grant_load(a, db, &sr->g, sr->obj, sr->download, &sr->p, &sr->o);
	}
	app_db_put(a, db);
	if (rc)
		return rc; /* downloads switched off, the project gone: the zip is cut */
	rc = media_marked_open(z->m, NULL, sr, &z->src);
	if (rc != 0 && rc != AM_ERR_UNSUPPORTED)
		return rc;
	rc = mz_version(z, z->dir[z->ti], rc == AM_ERR_UNSUPPORTED);
	z->ti++;
	return rc ? rc : 1;
}

/* One step: a block of the marked WAV, the end of its entry, the next
 * track's files, or the end of the archive. 1 (call again), 0 (done), or
 * an error. */
static int mz_step(struct mzip *z)
{
	ssize_t k;
	int rc;

	if (z->src.fill) {
		if (z->pos < z->src.len) {
			size_t want = z->src.len - z->pos < MZ_BLOCK ? (size_t)(z->src.len - z->pos)
								     : MZ_BLOCK;

			if ((k = z->src.fill(z->src.arg, z->pos, z->chunk, want)) <= 0)
				return k < 0 ? (int)k : AM_ERR_IO;
			if (archive_write_data(z->ar, z->chunk, (size_t)k) != k)
				return AM_ERR_TOOBIG;
			z->pos += (uint64_t)k;
			return 1;
		}
		z->src.free(z->src.arg);
		memset(&z->src, 0, sizeof(z->src));
		return archive_write_finish_entry(z->ar) == ARCHIVE_OK ? 1 : AM_ERR_TOOBIG;
	}
	if (z->project && (rc = mz_next_track(z)) != 0)
		return rc;
	if (archive_write_close(z->ar) != ARCHIVE_OK)
		return AM_ERR_TOOBIG;
	z->done = 1;
	return 0;
}

static ssize_t mz_fill(void *arg, uint64_t pos, uint8_t *out, size_t max)
{
	struct mzip *z = arg;
	size_t n;
	int rc;

	(void)pos;
	if (z->head > 0) { /* the unread rest to the front: the buffer never grows with the audio */
		memmove(z->buf, z->buf + z->head, z->len - z->head);
		z->len -= z->head;
		z->head = 0;
	}
	while (!z->done && z->len < max) {
		if ((rc = mz_step(z)) < 0) { /* the client never sees an end of archive */
			am_log(AM_LOG_ERROR, "media_markers_zip_aborted", "error", am_strerror(rc));
			return rc;
		}
	}
	n = z->len - z->head < max ? z->len - z->head : max;
	memcpy(out, z->buf + z->head, n);
	z->head += n;
	return (ssize_t)n;
}

static int mz_respond(struct http_req *req, struct mzip *z, const char *file)
{
	char disp[EXPORT_SLUG_MAX + 96];
	int rc;

	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", file); /* a slug: ASCII */
	if ((rc = http_add_header(req, "Cache-Control", "private, no-store")) ||
	    (rc = http_add_header(req, "Content-Disposition", disp))) {
		mz_free(z);
		return rc;
	}
	/* http_respond_stream owns z now, also when it fails */
	return http_respond_stream(req, 200, "application/zip", -1, MZ_BLOCK, mz_fill, z, mz_free);
}

int media_markers_zip_version(struct media *m, struct http_req *req, const struct stream_req *sr)
{
	struct mzip *z = mz_new(m, (unsigned)(sr->download - ACCESS_D_MARKERS_ZIP) & 7u);
	char s[EXPORT_SLUG_MAX + 1], file[EXPORT_SLUG_MAX + 48];
	int rc;

	if (!z)
		return AM_ERR_NOMEM;
	*z->sr = *sr;
	z->sr->download = ACCESS_D_MARKED + (int)z->flags; /* the WAV's own d: its tail's flags */
	if ((rc = media_marked_open(m, req, z->sr, &z->src)) != 0) {
		mz_free(z);
		return rc == 1 ? 0 : rc; /* 1: a damaged original, answered 422 */
	}
	if ((rc = mz_version(z, "", 0)) != 0) {
		mz_free(z);
		return rc;
	}
	export_slug(z->title, s);
	snprintf(file, sizeof(file), "%s-v%lld-markers.zip", s, (long long)z->number);
	return mz_respond(req, z, file); /* media_stream.c queued a guest's download event */
}

/* ---- the project ------------------------------------------------------------------ */

static int take_track(void *ctx, const struct db_track *t)
{
	struct mzip *z = ctx;
	char s[EXPORT_SLUG_MAX + 1];

	if (z->tn == MZ_TRACKS_MAX)
		return AM_ERR_TOOBIG;
	memcpy(z->tid[z->tn], t->id, DB_ID_LEN);
	export_slug(t->title, s);
	snprintf(z->dir[z->tn], sizeof(z->dir[0]), "%02zu-%s/", (z->tn + 1) % 1000, s);
	z->num[z->tn++] = 0;
	return 0;
}

/* The newest ready version of each track (num 0: none). */
static int take_version(void *ctx, const struct db_version *v)
{
	struct mzip *z = ctx;

	for (size_t i = 0; i < z->tn; i++)
		if (memcmp(z->tid[i], v->track_id, DB_ID_LEN) == 0 &&
		    strcmp(v->state, "ready") == 0 && v->number > z->num[i]) {
			z->num[i] = v->number;
			memcpy(z->vid[i], v->id, DB_ID_LEN);
		}
	return 0;
}

static int list_tracks(struct app *a, struct mzip *z)
{
	const uint8_t *pid = z->sr->g.project_id;
	struct db *db = NULL;
	int rc;

	z->tid = calloc(MZ_TRACKS_MAX, sizeof(*z->tid));
	z->vid = calloc(MZ_TRACKS_MAX, sizeof(*z->vid));
	z->num = calloc(MZ_TRACKS_MAX, sizeof(*z->num));
	z->dir = calloc(MZ_TRACKS_MAX, sizeof(*z->dir));
	if (!z->tid || !z->vid || !z->num || !z->dir)
		return AM_ERR_NOMEM;
	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	if ((rc = db_track_list(db, a->keys, pid, take_track, z)) == 0)
		rc = db_version_list(db, a->keys, pid, NULL, take_version, z);
	app_db_put(a, db);
	return rc;
}

int media_markers_zip_project(struct media *m, struct http_req *req, struct stream_req *sr)
{
	unsigned flags = (unsigned)(sr->download - ACCESS_D_MARKERS_PROJECT) & 7u;
	char s[EXPORT_SLUG_MAX + 1], file[EXPORT_SLUG_MAX + 32];
	struct mzip *z = NULL;
	struct db_project p;
	int rc;

	memset(&p, 0, sizeof(p));
	if (memcmp(sr->obj, sr->g.project_id, sizeof(sr->obj)) != 0)
		return AM_ERR_DENIED; /* never signed by us: the URL names its project twice */
	if ((rc = media_archive_authorize(req, m->app, &sr->g, &p, MZ_LIMIT_NAME)) != 0)
		goto out;
	if (!(z = mz_new(m, flags))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	z->project = 1;
	*z->sr = *sr;
	z->sr->download = ACCESS_D_MARKED + (int)flags;
	if ((rc = list_tracks(m->app, z)) != 0)
		goto out;
	export_slug(p.title, s);
	snprintf(file, sizeof(file), "%s-markers.zip", s);
	if (!sr->g.owner && http_req_method(req) == HTTP_GET)
		media_record_event(m, req, &sr->g, NULL, "archive");
	rc = mz_respond(req, z, file);
	z = NULL; /* mz_respond owns it */
out:
	mz_free(z);
	am_memzero(&p, sizeof(p));
	return rc;
}
