/*
 * media: the media role (DESIGN §1, §6, docs/media.md): /m/{object} signed
 * streaming and download with Range, /u/{upload} signed, resumable (tus 1.0
 * core), encrypted upload ingest. The only role that reads or writes audio
 * bytes over HTTP: encrypts on the way in, decrypts on the way out. Runs at
 * the trust boundary; every URL is verified before any database or store
 * access, and every verification failure is the same 403. What the other
 * roles do with an upload (create it; complete one a dead node left; remove
 * abandoned ones) is in src/upload/; only main/, which starts the role,
 * includes this header.
 */
#ifndef AM_MEDIA_H
#define AM_MEDIA_H

#include <stdint.h>

struct app;
struct http_router;
struct media;

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
/* Override the per-account quota the first PATCH of an upload checks
 * (bytes; <= 0 restores UPLOAD_ACCOUNT_QUOTA, src/upload/upload.h). */
void media_set_quota(struct media *m, int64_t bytes);

#endif
