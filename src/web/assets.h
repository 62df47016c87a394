/*
 * assets.h: the table of static files embedded at build time by tools/embed.c
 * (web/ in the source tree). Read-only data; served by the web role.
 */
#ifndef AM_WEB_ASSETS_H
#define AM_WEB_ASSETS_H

struct web_asset {
	const char *path;	  /* URL path, e.g. "/static/app.js" */
	const char *content_type; /* with charset for text */
	const unsigned char *data;
	unsigned long len;
	const char *etag; /* quoted, e.g. "\"0123abcd…\"" */
};

/* Terminated by an entry whose path is NULL. */
extern const struct web_asset web_assets[];
extern const unsigned long web_assets_count;

#endif
