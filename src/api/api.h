/*
 * api: the JSON API of the web role under /api/v1 (DESIGN §6, docs/api.md):
 * owner accounts and sessions, projects, share links, passwords, downloads
 * toggle, the guest review API, comments, events and export requests. Runs in
 * the web process at the trust boundary: every input is client-controlled.
 * Never opens an audio object (the web role has no store).
 */
#ifndef AM_API_H
#define AM_API_H

struct app;
struct http_router;
struct api;

/* API state over an opened app (borrowed; must outlive the api). NULL on
 * allocation failure. */
struct api *api_new(struct app *a);
/* Free; accepts NULL. Only after the server using its routes stopped. */
void api_free(struct api *api);
/* Add the API routes to r. 0 or the http_router_add() error. */
int api_register(struct api *api, struct http_router *r);

#endif
