/*
 * media_int.h: internals shared by the files of src/media/ (and its unit
 * tests and fuzz targets): the role's state, the pure header parsers (Range,
 * If-Range, tus headers, magic-byte sniffing, Content-Disposition), the
 * streaming and upload handlers. Runs in the media process; the parsers take
 * untrusted header values and never allocate.
 */
#ifndef AM_MEDIA_INT_H
#define AM_MEDIA_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "media/media.h"

struct app;
struct http_req;

struct media {
	struct app *app;
	int64_t quota; /* bytes per account */
	pthread_t gc_thread;
	pthread_mutex_t gc_lock;
	pthread_cond_t gc_cond;
	int gc_running, gc_stop;
};

/* ---- parsers (media_parse.c) ------------------------------------------------ */

/* Parse a Range header value against an object of size bytes (RFC 9110
 * §14.2): exactly one range of unit "bytes" (case-insensitive): "a-b", "a-"
 * or "-n", decimal, no whitespace. Returns 0 with the inclusive [*first,
 * *last] clamped to the object; AM_ERR_RANGE when well-formed but
 * unsatisfiable (416: first >= size, "-0", or an empty object);
 * AM_ERR_INVAL when malformed, with another unit or several ranges (the
 * header is then ignored: 200 with the whole object). */
int media_range_parse(const char *h, uint64_t size, uint64_t *first, uint64_t *last);
/* Whether a Range may be honoured given If-Range (NULL: yes): only an exact
 * match of our strong ETag counts (a date or a weak tag never matches). */
int media_if_range_ok(const char *if_range, const char *etag);

/* tus 1.0 core headers. Tus-Resumable must be exactly "1.0.0"; Content-Type
 * exactly "application/offset+octet-stream" (parameters refused); an offset
 * is canonical decimal in [0, 2^53). 1/0 and 0/AM_ERR_INVAL. */
#define MEDIA_TUS_VERSION "1.0.0"
int media_tus_resumable_ok(const char *h);
int media_tus_content_type_ok(const char *h);
int media_tus_offset(const char *h, int64_t *out);

/* Magic bytes of the accepted audio types. MEDIA_SNIFF_LEN bytes are needed
 * (fewer only for a shorter file). 0 with *ext ("wav", "aiff", "flac", "mp3",
 * "m4a", "aac", "ogg") and *ctype, or AM_ERR_UNSUPPORTED. */
#define MEDIA_SNIFF_LEN 12
int media_sniff(const uint8_t *p, size_t n, const char **ext, const char **ctype);
/* Content-Disposition for a download (attachment) or inline stream: an
 * ASCII fallback filename plus RFC 6266/8187 filename*=UTF-8''… of name
 * (NULL or "" gives "audio"). 0 or AM_ERR_TOOBIG. */
int media_disposition(char *out, size_t n, int attachment, const char *name);

/* ---- handlers ----------------------------------------------------------------- */

/* GET/HEAD /m/{object} (media_stream.c). */
int media_stream_handler(struct http_req *req, void *arg);
/* /u/{upload}: OPTIONS, HEAD, PATCH (media_upload.c). */
int media_upload_on_headers(struct http_req *req, void *arg);
int media_upload_on_body(struct http_req *req, const uint8_t *data, size_t n, void *arg);
int media_upload_handler(struct http_req *req, void *arg);
/* Completion of a fully received upload (media_complete.c): make the
 * original object out of the parts and record it with its transcode job. */
struct db_upload;
int media_upload_finish(struct media *m, const struct db_upload *u, const uint8_t token[16]);

#endif
