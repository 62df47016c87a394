/*
 * media_export.c: GET /m/export/{account}: the owner's full data export
 * archive (docs/media.md "Export"), streamed with backpressure and constant
 * memory. Order: the URL's MAC and expiry (access_export_verify; no
 * database or store touched before it passes), then the database (the
 * account is live and the session that asked for the URL still is; the
 * account's download limit, 429 with Retry-After), then the archive: the export builder
 * (src/export/) is driven step by step from the response producer into a bounded buffer of two
 * steps, so libarchive's push-style writer never runs ahead of the client and no thread or
 * temporary file is needed. While it streams, the session is re-checked at
 * most every MEDIA_RECHECK_MS: a logout cuts the archive. A failure after
 * the headers went out (a tag that does not verify, the store, the
 * session) cuts the connection: the client never sees a well-formed end of
 * archive. Runs in the media process on untrusted
 * requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "app/app.h"
#include "repo/repo.h"
#include "export/export.h"
#include "http/http.h"
#include "media/media_export.h"
#include "media/media_int.h"

#define XBUF_CAP (2 * EXPORT_STEP_MAX)

/* Archives started per account (docs/api.md "Export"): 10 at once, then one
 * per 10 minutes. Each is a pass over all the account's audio; the URLs are
 * reusable until they expire, so minting them is not the only cost. */
#define XDL_LIMIT_NAME	      "export-download-acct"
#define XDL_LIMIT_INTERVAL_MS (10 * 60 * 1000)
#define XDL_LIMIT_BURST	      10

struct xstream {
	struct export *x;
	uint8_t *buf;	  /* XBUF_CAP bytes */
	size_t head, len; /* unread bytes are buf[head, len) */
	int done;
	/* The re-check while it streams (media_int.h "transfers in flight"). */
	struct app *a;
	struct access_export xe;
	int64_t checked; /* am_mono_ms of the latest check */
	uint64_t sent;
};

/* The session that asked for the URL is still live (0), re-read at most
 * every MEDIA_RECHECK_MS; else the error that cuts the archive, logged. */
static int xs_still_granted(struct xstream *s)
{
	struct db *db = NULL;
	int rc;

	if (!media_recheck_due(&s->checked))
		return 0;
	if ((rc = app_db_get(s->a, &db)) == 0) {
		rc = access_session_check(s->a, db, s->xe.account_id, s->xe.session_id);
		app_db_put(s->a, db);
	}
	if (rc)
		media_recheck_log(rc, "export", s->sent);
	return rc;
}

static int xs_emit(void *ctx, const void *p, size_t n)
{
	struct xstream *s = ctx;

	if (n > XBUF_CAP - s->len)
		return AM_ERR_TOOBIG; /* a step larger than promised: a bug, not data loss */
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

static ssize_t xs_fill(void *arg, uint64_t pos, uint8_t *out, size_t max)
{
	struct xstream *s = arg;
	size_t n;
	int rc;

	(void)pos;
	if ((rc = xs_still_granted(s)) != 0)
		return rc;
	if (s->head == s->len)
		s->head = s->len = 0;
	/* Produce only while a whole step fits: the producer never blocks and
	 * never gets ahead of the client by more than two steps. */
	while (!s->done && s->len - s->head < max && XBUF_CAP - s->len >= EXPORT_STEP_MAX) {
		rc = export_step(s->x);
		if (rc < 0) {
			am_log(AM_LOG_ERROR, "media_export_aborted", "error", am_strerror(rc));
			return rc;
		}
		s->done = rc == 0;
	}
	n = s->len - s->head < max ? s->len - s->head : max;
	memcpy(out, s->buf + s->head, n);
	s->head += n;
	s->sent += n;
	return (ssize_t)n;
}

static void xs_free(void *arg)
{
	struct xstream *s = arg;

	if (!s)
		return;
	export_free(s->x);
	if (s->buf)
		am_memzero(s->buf, XBUF_CAP); /* decrypted audio */
	free(s->buf);
	am_memzero(s, sizeof(*s)); /* the session id */
	free(s);
}

/* One archive from the account's download limit: 0, or AM_ERR_RATE with
 * the Retry-After header set. */
static int download_rate(struct http_req *req, struct db *db, const uint8_t account_id[DB_ID_LEN])
{
	uint8_t key[sizeof(XDL_LIMIT_NAME) + DB_ID_LEN];
	char retry[24];
	int64_t wait = 0;
	int rc;

	memcpy(key, XDL_LIMIT_NAME, sizeof(XDL_LIMIT_NAME));
	memcpy(key + sizeof(XDL_LIMIT_NAME), account_id, DB_ID_LEN);
	rc = db_rate_take(db, key, sizeof(key), am_now_ms(), XDL_LIMIT_INTERVAL_MS, XDL_LIMIT_BURST,
			  &wait);
	if (rc == AM_ERR_RATE) {
		snprintf(retry, sizeof(retry), "%lld", (long long)((wait + 999) / 1000));
		if (http_add_header(req, "Retry-After", retry))
			return AM_ERR_NOMEM;
	}
	return rc;
}

/* The database half: a live, enabled account whose session that asked for
 * the URL is still live (else AM_ERR_DENIED), and the account's download
 * limit (AM_ERR_RATE). 0, or those, or a 5xx error. */
static int authorize(struct http_req *req, struct app *a, const struct access_export *xe)
{
	struct db *db = NULL;
	int rc;

	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = access_session_check(a, db, xe->account_id, xe->session_id);
	if (rc == 0)
		rc = download_rate(req, db, xe->account_id);
	app_db_put(a, db);
	return rc;
}

int media_export_handler(struct http_req *req, void *arg)
{
	struct media *m = arg;
	struct app *a = m->app;
	struct access_export xe;
	struct xstream *s = NULL;
	char disp[96];
	int rc;

	if (access_export_verify(a, http_req_target(req), &xe))
		return AM_ERR_DENIED;
	if ((rc = authorize(req, a, &xe)) != 0)
		return rc;
	if (!(s = calloc(1, sizeof(*s))) || !(s->buf = malloc(XBUF_CAP))) {
		xs_free(s);
		return AM_ERR_NOMEM;
	}
	s->a = a;
	s->xe = xe;
	s->checked = am_mono_ms(); /* authorize() just checked */
	if ((rc = export_open(a, xe.account_id, "media", xs_emit, s, &s->x)) != 0) {
		xs_free(s);
		return rc == AM_ERR_NOTFOUND ? AM_ERR_DENIED : rc;
	}
	snprintf(disp, sizeof(disp), "attachment; filename=\"audiomus-export-%lld.tar\"",
		 (long long)am_now());
	if ((rc = http_add_header(req, "Cache-Control", "private, no-store")) ||
	    (rc = http_add_header(req, "Content-Disposition", disp))) {
		xs_free(s);
		return rc;
	}
	am_log(AM_LOG_INFO, "media_export_start");
	return http_respond_stream(req, 200, "application/x-tar", -1, EXPORT_CHUNK, xs_fill, s,
				   xs_free);
}
