/*
 * export: the owner's full data export archive ("Full data export available
 * on request", docs/media.md "Export"): a pax (POSIX tar) stream built with
 * libarchive's streaming writer, holding audiomus-export/account.json, per
 * project projects/<slug>-<id>/project.json (tracks, versions, every object,
 * comments, events, links without tokens) and every ready ORIGINAL decrypted
 * under …/tracks/<n>-<slug>/v<k>-<file name>. One builder, two drivers: the
 * media role's GET /m/export/{account} (src/media/media_export.c) and
 * `audiomus export` (src/main/cmd_export.c). The same builder writes the
 * project archive ("Download all", export_open_project): one project's
 * ready originals under <slug>/tracks/<n>-<slug>/v<k>-<file name> with its
 * comments as <slug>/comments.json and <slug>/comments.csv, as a ZIP (every
 * entry stored, not deflated: audio does not compress; ZIP64 records where
 * a size or offset needs them), for the media role's
 * /m/{project}?…&d=10 (src/media/media_archive.c).
 *
 * Pull model, no threads, no temporary files: export_step() does one bounded
 * piece of work (an entry header, at most EXPORT_CHUNK bytes of one entry's
 * body, an entry's padding, or the end of the archive) and hands the bytes
 * it produced to the caller's emit callback synchronously, at most
 * EXPORT_STEP_MAX of them per step. Memory is one AM1 segment plus one
 * chunk plus the metadata of the project being written, whatever the size
 * of the audio. An authentication-tag failure is an error of the step: the
 * caller must abandon the archive (cut the connection, delete the file);
 * unauthenticated plaintext is never emitted.
 *
 * Runs in the media role and the admin command; holds project and data keys
 * (secret memory) only while it writes that project's files. The caller
 * authorised the account before export_open.
 */
#ifndef AM_EXPORT_H
#define AM_EXPORT_H

#include <stddef.h>
#include <stdint.h>

struct app;
struct export;

/* Largest body piece of one step, and the most bytes one step can emit
 * (a chunk, or a pax header pair with the longest path, or the 1 KiB end).
 * One exception: the last step of a ZIP emits its central directory, about
 * 100 bytes per file (it is in memory anyway: libarchive keeps it until the
 * end), in pieces of at most EXPORT_STEP_MAX. */
#define EXPORT_CHUNK	(64 * 1024)
#define EXPORT_STEP_MAX (EXPORT_CHUNK + 8 * 1024)
/* Longest sanitised file-name component, in bytes (UTF-8 kept whole). */
#define EXPORT_NAME_MAX 120
/* Longest slug (ASCII) of a title. */
#define EXPORT_SLUG_MAX 48

/* Receives the archive's bytes in order. 0, or a negative enum am_err that
 * fails the step (and so the export). */
typedef int export_emit_fn(void *ctx, const void *p, size_t n);

/* Begin the export of account_id (its live projects as of now): reads the
 * account and the project list (one database connection, returned before
 * this returns) and prepares the writer. via names the driver in the
 * per-project "export" events ("media" or "cli"). Nothing is emitted yet.
 * AM_ERR_NOTFOUND (no such live account), AM_ERR_NOMEM, database errors. */
int export_open(struct app *a, const uint8_t account_id[16], const char *via, export_emit_fn *emit,
		void *ctx, struct export **out);
/* Begin the project archive of project_id (a live project; the caller
 * authorised the owner, or a share link while downloads are on): its
 * comments as JSON and CSV, then every ready original, as a ZIP. guest: 1
 * for a share-link visitor (the comments leave out which guest wrote them,
 * as the review page does). No event is recorded here (the media role
 * queues its own). Nothing is emitted yet. AM_ERR_NOTFOUND (no such live
 * project), AM_ERR_NOMEM, database and key errors. */
int export_open_project(struct app *a, const uint8_t project_id[16], int guest,
			export_emit_fn *emit, void *ctx, struct export **out);
/* One step: 1 (call again), 0 (the archive is complete: its end was
 * emitted), or a negative enum am_err (AM_ERR_CRYPTO: an object failed
 * authentication; AM_ERR_IO, database errors, the emit callback's error).
 * After an error every further call returns the same error. */
int export_step(struct export *x);
/* Free (accepts NULL); an unfinished archive is abandoned without its end
 * being emitted. Zeroes the keys it held. */
void export_free(struct export *x);

/* ---- names (pure; export_name.c) ----------------------------------------------- */

/* A file name component that is safe in any extractor: valid UTF-8 kept (a
 * sequence is never cut), every control character (C0, DEL, C1),
 * bidirectional override/isolate mark, invalid or overlong byte, '/', '\\'
 * and the characters Windows refuses (<>:"|?*) becomes '_'; leading dots and
 * spaces and trailing dots and spaces are dropped (so never "." or ".."); at
 * most EXPORT_NAME_MAX bytes, keeping a short extension when shortened;
 * empty becomes "file". out must hold EXPORT_NAME_MAX + 1 bytes. */
void export_name_sanitise(const char *in, char out[EXPORT_NAME_MAX + 1]);
/* An ASCII slug: letters and digits lowercased, every other run becomes one
 * '-', trimmed, at most EXPORT_SLUG_MAX bytes; empty becomes "untitled". */
void export_slug(const char *in, char out[EXPORT_SLUG_MAX + 1]);

#endif
