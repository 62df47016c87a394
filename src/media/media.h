/*
 * media: the media role (DESIGN §1, §6): /m/{object} signed streaming and
 * download with Range, /u/{upload} signed, resumable, encrypted upload ingest.
 * The only role that reads or writes audio bytes over HTTP: encrypts on the
 * way in, decrypts on the way out. Runs at the trust boundary; every URL is
 * verified before any database or store access.
 */
#ifndef AM_MEDIA_H
#define AM_MEDIA_H

struct app;
struct http_router;
struct media;

/* Media state over an opened app with a store (borrowed). NULL on failure. */
struct media *media_new(struct app *a);
/* Free; accepts NULL. Only after the server using its routes stopped. */
void media_free(struct media *m);
/* Add the media routes (/m/..., /u/...) to r. 0 or the http_router_add() error. */
int media_register(struct media *m, struct http_router *r);

#endif
