/*
 * media: the media role (DESIGN §1, §6, docs/media.md): /m/{object} signed
 * streaming and download with Range, /u/{upload} signed, resumable (tus 1.0
 * core), encrypted upload ingest. The only role that reads or writes audio
 * bytes over HTTP: encrypts on the way in, decrypts on the way out. Runs at
 * the trust boundary; every URL is verified before any database or store
 * access, and every verification failure is the same 403.
 */
#ifndef AM_MEDIA_H
#define AM_MEDIA_H

#include <stddef.h>
#include <stdint.h>

struct app;
struct db;
struct http_router;
struct media;

/* Per-account storage quota (originals plus open uploads) until the
 * configuration grows a setting for it. */
#define MEDIA_ACCOUNT_QUOTA (INT64_C(50) << 30)

/* Media state over an opened app with a store and database (borrowed).
 * Starts the clean-up thread for abandoned uploads and the writer of
 * play/download events. NULL on failure. */
struct media *media_new(struct app *a);
/* Stop the clean-up thread and the event writer (which first records every
 * queued event) and free; accepts NULL. Only after the server using its
 * routes stopped, and before the app's database pool is closed. */
void media_free(struct media *m);
/* Add the media routes (GET/HEAD /m/{object}; OPTIONS/HEAD/PATCH
 * /u/{upload}) to r. 0 or the http_router_add() error. */
int media_register(struct media *m, struct http_router *r);
/* Override the per-account quota (bytes; <= 0 restores the default). */
void media_set_quota(struct media *m, int64_t bytes);

/* Web role, owner API: start an upload of length bytes for a version in
 * state 'uploading' of a live project the account owns: checks
 * max_upload_size and the account quota (quota <= 0: MEDIA_ACCOUNT_QUOTA),
 * creates the upload row and signs its URL (path + query, ACCESS_URL_MAX
 * bytes) valid for ACCESS_UPLOAD_CAP. Opens no audio and needs no store.
 * Errors: AM_ERR_TOOBIG (size or quota), AM_ERR_NOTFOUND (no such version in
 * an uploadable state), AM_ERR_INVAL, database errors. */
int media_upload_new(struct app *a, struct db *db, const uint8_t account_id[16],
		     const uint8_t project_id[16], const uint8_t version_id[16], int64_t length,
		     int64_t quota, char *url, size_t n, uint8_t upload_id[16]);

/* Remove open uploads abandoned before now (seconds): their stored parts,
 * then their rows; and store temporaries older than a day. *removed (may be
 * NULL) gets the number of uploads removed. Run by the media role every 5
 * minutes; callable by housekeeping. */
int media_gc(struct app *a, int64_t now, int *removed);

/* Complete the uploads a media node left behind when it died between
 * recording their last bytes and completing them (docs/media.md,
 * "Recovery"): open uploads with every byte recorded whose lease expired
 * (no live node is working on them), each claimed with its lease so that
 * it completes exactly once across nodes, verified as the final PATCH does.
 * A broken one is not completed (it expires as any abandoned upload).
 * now_ms: the current time. *completed (may be NULL) gets the count. 0, or
 * a database error or AM_ERR_UNAVAIL (the rest waits for the next run), with
 * the store's detail in err (may be NULL; "" when the store did not fail).
 * Run by housekeeping. */
struct store_err;
int media_upload_recover(struct app *a, int64_t now_ms, int *completed, struct store_err *err);

#endif
