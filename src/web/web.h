/*
 * web: the routes the web role serves (DESIGN §1, §9): health check,
 * security.txt, and the static pages and assets embedded in the binary.
 * Runs in the web process; never touches audio or keys.
 */
#ifndef AM_WEB_H
#define AM_WEB_H

struct conf;
struct http_router;
struct web;

/* Routing state for the web role, copied from conf c (security_contact,
 * public_url). NULL on allocation failure. Free with web_free. */
struct web *web_new(const struct conf *c);
/* Free (accepts NULL); only after the server using its routes stopped. */
void web_free(struct web *w);
/* Add the web role's routes to r: GET /healthz, GET /.well-known/security.txt,
 * GET / (index.html), GET /s/{token} (review.html), GET /reset-password and
 * GET /verify-email (their .html files) and every embedded asset. w must
 * outlive r's server. 0 or the http_router_add() error. */
int web_register(struct web *w, struct http_router *r);

/* Add only GET /healthz (roles without pages, e.g. `audiomus media`). */
int web_register_health(struct web *w, struct http_router *r);

#endif
