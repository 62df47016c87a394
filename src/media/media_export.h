/*
 * media_export.h: the export route of the media role (media_export.c):
 * GET/HEAD /m/export/{account} with a signed export URL (access.h). Runs in
 * the media process on untrusted requests.
 */
#ifndef AM_MEDIA_EXPORT_H
#define AM_MEDIA_EXPORT_H

struct http_req;

/* Handler (arg: struct media *); registered with raw_query by media.c. */
int media_export_handler(struct http_req *req, void *arg);

#endif
