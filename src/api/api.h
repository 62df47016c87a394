/*
 * api: the JSON API of the web role under /api/v1 (DESIGN §6, docs/api.md):
 * owner accounts and sessions, projects, share links, passwords, downloads
 * toggle, the guest review API, comments, events and export requests. Runs in
 * the web process at the trust boundary: every input is client-controlled.
 * Never opens an audio object (the web role has no store).
 */
#ifndef AM_API_H
#define AM_API_H

#include <stddef.h>

struct app;
struct conf;
struct http_router;
struct api;

/* API state over an opened app (borrowed; must outlive the api). NULL on
 * allocation failure. */
struct api *api_new(struct app *a);
/* Free; accepts NULL. Only after the server using its routes stopped. */
void api_free(struct api *api);
/* Add the API routes to r. 0 or the http_router_add() error. */
int api_register(struct api *api, struct http_router *r);

/* ---- owner passwords, shared with `audiomus user` -------------------------- */

/* The owner-password policy: 8 to 256 bytes, not on the bundled list of
 * common passwords (compared case-insensitively). 0, or AM_ERR_INVAL with a
 * short English reason in *why (static; why may be NULL). */
int api_password_acceptable(const char *pw, const char **why);
/* 1 if e looks like an e-mail address (one '@', a dot in the domain,
 * printable ASCII without spaces, at most 254 bytes), else 0. */
int api_email_acceptable(const char *e);
/* Argon2id PHC string of pw (libsodium crypto_pwhash_str) with the
 * configuration's argon2_opslimit and argon2_memlimit, into out (outlen >=
 * 128). 0, AM_ERR_NOMEM (the hash could not get its memory), AM_ERR_TOOBIG. */
int api_password_hash(const struct conf *c, const char *pw, char *out, size_t outlen);

#endif
