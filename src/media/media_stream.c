/*
 * media_stream.c: GET/HEAD /m/{object}: signed streaming and download
 * (DESIGN §4, §6, docs/media.md). Order: the URL's MAC and expiry (no
 * database or store touched before it passes), then the database (link,
 * generations, downloads flag, object of the project), then the password
 * cookie, then the object opens through the AM1 range reader and streams
 * with backpressure, one segment in memory. While it streams, the database
 * half is repeated at most every MEDIA_RECHECK_MS (still_granted): a link
 * regenerated or revoked, a project deleted, downloads switched off or the
 * owner's session ended cut the connection. Every verification failure is
 * the same 403; a tag failure after the headers went out aborts the
 * connection. The project archive (d = ACCESS_D_ARCHIVE) is handed to
 * media_export.c once its URL verifies. Runs in the media process on
 * untrusted requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "repo/repo.h"
#include "http/http.h"
#include "media/media_int.h"
#include "store/store.h"

/* What libmicrohttpd asks for at a time (its per-response buffer): one TLS
 * record. The AM1 reader keeps the verified 64 KiB segment, so the four
 * reads of a segment decrypt it once; a 64 KiB block would hold a second
 * copy of it per connection (48 KiB more each: 47 MiB for 1,000 slow
 * downloads, docs/benchmarks.md). */
#define MEDIA_STREAM_BLOCK (16 * 1024)

void media_stream_ctx_grant(struct stream_ctx *s, struct app *a, const struct stream_req *sr)
{
	s->a = a;
	s->g = sr->g;
	memcpy(s->obj, sr->obj, sizeof(s->obj));
	s->download = sr->download;
	s->checked = am_mono_ms(); /* authorize() just checked */
}

/* The grant still holds (0), re-read at most every MEDIA_RECHECK_MS while
 * the body streams; else the error that ends the transfer, logged. A
 * database that does not answer ends it too: no grant without the check. */
int media_still_granted(struct stream_ctx *s, uint64_t pos)
{
	struct db *db = NULL;
	int rc;

	if (!media_recheck_due(&s->checked))
		return 0;
	if ((rc = app_db_get(s->a, &db)) == 0) {
		rc = access_grant_recheck(s->a, db, &s->g, s->obj, s->download);
		app_db_put(s->a, db);
	}
	if (rc)
		media_recheck_log(rc, s->download ? "download" : "stream", pos);
	return rc;
}

/* The body's next bytes at pos: copied into buf, or (buf NULL) pointed at
 * in the reader's verified segment through *view (the streaming loops). */
static ssize_t stream_read_at(struct stream_ctx *s, uint64_t pos, uint8_t *buf, size_t max,
			      const uint8_t **view)
{
	size_t got = 0;
	int rc;

	if (pos >= s->len)
		return 0;
	if ((rc = media_still_granted(s, pos)) != 0)
		return rc;
	if (max > s->len - pos)
		max = (size_t)(s->len - pos);
	rc = buf ? am1_reader_pread(s->r, s->first + pos, buf, max, &got)
		 : am1_reader_view(s->r, s->first + pos, max, view, &got);
	if (rc || got == 0) {
		/* Headers are out: the only honest answer is to cut the connection.
		 * The store's detail (the reader's, "" unless its latest read
		 * failed) is for the operator's log only. */
		const char *why = store_reader_errmsg(s->sr);

		am_log(AM_LOG_ERROR, "media_stream_aborted", "error",
		       am_strerror(rc ? rc : AM_ERR_IO), "store_error", *why ? why : NULL);
		return rc ? rc : AM_ERR_IO;
	}
	return (ssize_t)got;
}

static ssize_t stream_fill(void *arg, uint64_t pos, uint8_t *buf, size_t max)
{
	return stream_read_at(arg, pos, buf, max, NULL);
}

static ssize_t stream_view(void *arg, uint64_t pos, size_t max, const uint8_t **p)
{
	return stream_read_at(arg, pos, NULL, max, p);
}

void media_stream_ctx_free(void *arg)
{
	struct stream_ctx *s = arg;

	if (!s)
		return;
	am1_reader_free(s->r);
	store_reader_close(s->sr);
	am_memzero(s, sizeof(*s)); /* the grant names the owner's session */
	free(s);
}

/* The database half and the cookie: 0, AM_ERR_DENIED or a 5xx error. */
static int authorize(struct app *a, struct http_req *req, struct stream_req *sr)
{
	char name[ACCESS_COOKIE_NAME_MAX];
	struct db_version v;
	struct db *db = NULL;
	int rc;

	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = access_grant_load(a, db, &sr->g, sr->obj, sr->download, &sr->p, &sr->o);
	if (rc == 0 && sr->g.pw_gen != 0) {
		access_cookie_name(sr->g.link_id, name, sizeof(name));
		rc = access_cookie_check(a, &sr->g, http_req_cookie(req, name));
	}
	if (rc == 0 && sr->download && sr->o.has_version &&
	    db_version_get(db, a->keys, sr->g.project_id, sr->o.version_id, &v) == 0) {
		memcpy(sr->filename, v.filename, sizeof(sr->filename));
		am_memzero(&v, sizeof(v));
	}
	app_db_put(a, db);
	return rc;
}

/* A range that starts this close to the beginning is read as a whole-object
 * transfer (store_reader_open_seq): the AM1 header at 0 and the segments
 * from `first` on come from one store request. Further in (a seek), the
 * header and the rest are read separately. */
#define MEDIA_SEQ_OPEN ((uint64_t)1 << 20)

/* Open the object for reading: the project key, the store, then the DEK and
 * the AM1 reader (which checks the stored size against the database's). */
int media_open_object(struct app *a, const struct stream_req *sr, uint64_t first,
		      struct stream_ctx *s, struct store_err *err)
{
	struct crypto_pk *pk = NULL;
	int rc;

	err->msg[0] = 0;
	if ((rc = crypto_pk_open(a->kr, sr->g.project_id, sr->p.wrapped_pk, sr->p.wrapped_pk_len,
				 &pk)) ||
	    (rc = (first < MEDIA_SEQ_OPEN ? store_reader_open_seq : store_reader_open)(
		 a->store, sr->o.store_key, &s->sr, err)))
		goto out;
	store_am1_source(s->sr, &s->src);
	rc = crypto_pk_reader_open(pk, sr->o.id, sr->o.wrapped_dek, sr->o.wrapped_dek_len, &s->src,
				   (uint64_t)sr->o.plain_size, &s->r);
	if (rc) /* the header's read, when it failed in the store */
		store_err_keep(err, store_reader_errmsg(s->sr));
out:
	crypto_pk_free(pk);
	return rc;
}

void media_record_event(struct media *m, struct http_req *req, const struct access_grant *g,
			const uint8_t *obj, const char *kind)
{
	struct app *a = m->app;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t pseudo[16];
	int64_t epoch = 0;
	char ph[33], oh[33], lh[33], details[MEDIA_EVENT_DETAILS_MAX + 1];
	int rc;

	if (!m->events)
		return;
	if (http_req_client_addr(req, &ss, &sl) ||
	    app_ip_pseudonym(a, (const struct sockaddr *)&ss, pseudo, &epoch))
		memset(pseudo, 0, sizeof(pseudo));
	access_hex16(pseudo, ph);
	access_hex16(g->link_id, lh);
	if (obj) {
		access_hex16(obj, oh);
		snprintf(details, sizeof(details),
			 "{\"object\":\"%s\",\"link\":\"%s\",\"ip\":\"%s\",\"epoch\":%lld}", oh, lh,
			 ph, (long long)epoch);
	} else {
		snprintf(details, sizeof(details), "{\"link\":\"%s\",\"ip\":\"%s\",\"epoch\":%lld}",
			 lh, ph, (long long)epoch);
	}
	rc = media_events_add(m->events, g->project_id, kind, details);
	if (rc && rc != AM_ERR_UNAVAIL) /* a full queue logs media_events_dropped itself */
		am_log(AM_LOG_WARN, "media_event_failed", "error", am_strerror(rc));
}

static void record_event(struct media *m, struct http_req *req, const struct stream_req *sr)
{
	media_record_event(m, req, &sr->g, sr->obj, sr->download ? "download" : "play");
}

/* Headers every media answer carries, and the range decision: 200 (whole),
 * 206 (one range) or 416. */
int media_plan(struct http_req *req, const struct stream_req *sr, uint64_t size, const char *etag,
	       uint64_t *first, uint64_t *len, unsigned *status)
{
	const char *range = http_req_header(req, "Range");
	char cr[96], disp[2048];
	uint64_t a = 0, b = 0;
	int rc;

	if ((rc = media_disposition(disp, sizeof(disp), sr->download, sr->filename)) ||
	    (rc = http_add_header(req, "Accept-Ranges", "bytes")) ||
	    (rc = http_add_header(req, "ETag", etag)) ||
	    (rc = http_add_header(req, "Cache-Control", "private, no-store")) ||
	    (rc = http_add_header(req, "Content-Disposition", disp)))
		return rc;
	*status = 200;
	*first = 0;
	*len = size;
	if (!range || !media_if_range_ok(http_req_header(req, "If-Range"), etag))
		return 0;
	rc = media_range_parse(range, size, &a, &b);
	if (rc == AM_ERR_RANGE) {
		snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
		(void)http_add_header(req, "Content-Range", cr);
		return AM_ERR_RANGE;
	}
	if (rc)
		return 0; /* malformed or several ranges: ignored, the whole object */
	snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)a,
		 (unsigned long long)b, (unsigned long long)size);
	*status = 206;
	*first = a;
	*len = b - a + 1;
	return http_add_header(req, "Content-Range", cr);
}

int media_stream_handler(struct http_req *req, void *arg)
{
	struct media *m = arg;
	struct app *a = m->app;
	struct stream_req *sr = calloc(1, sizeof(*sr));
	struct stream_ctx *s = NULL;
	struct media_mark_plan mp;
	struct store_err err;
	char etag[48], oh[33];
	uint64_t first = 0, len = 0;
	unsigned status = 200;
	int rc;

	if (!sr)
		return AM_ERR_NOMEM;
	memset(&mp, 0, sizeof(mp));
	if (media_mark_split(http_req_target(req), sr->url, sizeof(sr->url), sr->ticket,
			     sizeof(sr->ticket)) ||
	    access_url_verify(a, sr->url, &sr->g, sr->obj, &sr->download, NULL)) {
		rc = AM_ERR_DENIED;
		goto out;
	}
	if (sr->download)
		http_req_set_metrics_route(req, METRICS_ROUTE_MEDIA_DOWNLOAD);
	if (sr->download == ACCESS_D_ARCHIVE) { /* "Download all": media_export.c */
		rc = media_archive_respond(m, req, &sr->g, sr->obj);
		goto out;
	}
	if (sr->download >=
	    ACCESS_D_MARKERS_PROJECT) { /* markers of a project: media_marked_zip.c */
		rc = media_markers_zip_project(m, req, sr);
		goto out;
	}
	if ((rc = authorize(a, req, sr)) != 0)
		goto out;
	if (sr->download >= ACCESS_D_MARKED) { /* media_marked.c */
		if (http_req_method(req) == HTTP_GET && !sr->g.owner)
			record_event(m, req, sr);
		rc = media_marked_respond(m, req, sr);
		goto out;
	}
	{ /* a guest's marked download (media_markdl.c, issue 26) */
		int handled = 0;

		rc = media_markdl_respond(m, req, sr, &handled);
		if (handled || rc)
			goto out;
	}
	if ((rc = media_mark_gate(a, req, sr, sr->ticket, &mp)) != 0)
		goto out;
	if (mp.active) { /* a guest of a marked project: media_ab.c */
		rc = media_ab_respond(m, req, sr, &mp);
		goto out;
	}
	access_hex16(sr->obj, oh);
	snprintf(etag, sizeof(etag), "\"%s\"", oh);
	if ((rc = media_plan(req, sr, (uint64_t)sr->o.plain_size, etag, &first, &len, &status)) !=
	    0)
		goto out;
	if (!(s = calloc(1, sizeof(*s)))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	if ((rc = media_open_object(a, sr, first, s, &err)) != 0) {
		const char *why = err.msg; /* for the log; the client gets a bare 500 */

		am_log(AM_LOG_ERROR, "media_object_unreadable", "error", am_strerror(rc),
		       "store_error", *why ? why : NULL);
		media_stream_ctx_free(s);
		rc = AM_ERR_INTERNAL;
		goto out;
	}
	s->first = first;
	s->len = len;
	media_stream_ctx_grant(s, a, sr);
	/* The owner listening to their own project is not listener activity. */
	if (http_req_method(req) == HTTP_GET && first == 0 && !sr->g.owner &&
	    (sr->download || strcmp(sr->o.kind, "stream") == 0))
		record_event(m, req, sr);
	rc = http_respond_stream(
	    req, status, sr->o.content_type[0] ? sr->o.content_type : "application/octet-stream",
	    (int64_t)len, MEDIA_STREAM_BLOCK, stream_fill, s, media_stream_ctx_free);
	if (rc == 0)
		http_respond_stream_view(req, stream_view);
out:
	media_mark_plan_cleanup(&mp);
	am_memzero(sr, sizeof(*sr));
	free(sr);
	return rc;
}
