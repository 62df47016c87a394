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
 * archive.
 *
 * The project archive ("Download all", export_open_project: a ZIP of one
 * project's originals and comments) streams through the same producer from
 * a signed media URL with d = ACCESS_D_ARCHIVE (media_stream.c hands it
 * over): the grant is the owner's (their session) or a share link's (live,
 * same generations, the password cookie, and downloads on), re-checked
 * like any download while it streams, so switching downloads off cuts a
 * guest's archive. Runs in the media process on untrusted requests.
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
/* Project archives ("Download all") under the same numbers, per project. */
#define XAR_LIMIT_NAME "archive-download-proj"

struct xstream {
	struct export *x;
	uint8_t *buf;	  /* XBUF_CAP bytes */
	size_t head, len; /* unread bytes are buf[head, len) */
	int done;
	/* The re-check while it streams (media_int.h "transfers in flight"). */
	struct app *a;
	int project; /* 1: the project archive under g; 0: the export under xe */
	struct access_export xe;
	struct access_grant g;
	size_t cap;	 /* of buf: XBUF_CAP, more only for a ZIP's central directory */
	int64_t checked; /* am_mono_ms of the latest check */
	uint64_t sent;
};

/* A project-archive grant holds: the owner's session, or a live share
 * link of the same generations while downloads are on (0); else
 * AM_ERR_DENIED, or a 5xx error. The project row into p unless NULL. */
static int archive_grant(struct app *a, struct db *db, const struct access_grant *g,
			 struct db_project *p)
{
	struct db_project row;
	int rc = access_grant_load(a, db, g, NULL, 1, &row, NULL);

	if (rc == 0 && !g->owner && !row.downloads)
		rc = AM_ERR_DENIED;
	if (rc == 0 && p)
		*p = row;
	am_memzero(&row, sizeof(row));
	return rc;
}

/* The session that asked for the URL is still live (0), re-read at most
 * every MEDIA_RECHECK_MS; else the error that cuts the archive, logged. */
static int xs_still_granted(struct xstream *s)
{
	struct db *db = NULL;
	int rc;

	if (!media_recheck_due(&s->checked))
		return 0;
	if ((rc = app_db_get(s->a, &db)) == 0) {
		rc = s->project
			 ? archive_grant(s->a, db, &s->g, NULL)
			 : access_session_check(s->a, db, s->xe.account_id, s->xe.session_id);
		app_db_put(s->a, db);
	}
	if (rc)
		media_recheck_log(rc, s->project ? "archive" : "export", s->sent);
	return rc;
}

/* The last step of a ZIP writes its central directory at once (about 100
 * bytes per file, already in libarchive's memory): the buffer grows for
 * it, up to XBUF_GROW_MAX. Any other step fits XBUF_CAP. */
#define XBUF_GROW_MAX ((size_t)64 << 20)

static int xs_emit(void *ctx, const void *p, size_t n)
{
	struct xstream *s = ctx;

	if (n > s->cap - s->len) {
		size_t want = s->len + n;
		uint8_t *g;

		if (want > XBUF_GROW_MAX)
			return AM_ERR_TOOBIG;
		if (!(g = malloc(want)))
			return AM_ERR_NOMEM;
		/* Not realloc: the old block may hold decrypted audio, zeroed here. */
		memcpy(g, s->buf, s->len);
		am_memzero(s->buf, s->cap);
		free(s->buf);
		s->buf = g;
		s->cap = want;
	}
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
	while (!s->done && s->len - s->head < max && s->cap - s->len >= EXPORT_STEP_MAX) {
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

static struct xstream *xs_new(struct app *a)
{
	struct xstream *s = calloc(1, sizeof(*s));

	if (!s || !(s->buf = malloc(XBUF_CAP))) {
		free(s);
		return NULL;
	}
	s->a = a;
	s->cap = XBUF_CAP;
	s->checked = am_mono_ms(); /* the caller just checked */
	return s;
}

static void xs_free(void *arg)
{
	struct xstream *s = arg;

	if (!s)
		return;
	export_free(s->x);
	if (s->buf)
		am_memzero(s->buf, s->cap); /* decrypted audio */
	free(s->buf);
	am_memzero(s, sizeof(*s)); /* the session id */
	free(s);
}

/* One archive from the limit name + id (an account's exports, a
 * project's archives): 0, or AM_ERR_RATE with the Retry-After header set. */
static int download_rate(struct http_req *req, struct db *db, const char *name,
			 const uint8_t id[DB_ID_LEN])
{
	uint8_t key[32 + DB_ID_LEN];
	size_t n = strlen(name) + 1;
	char retry[24];
	int64_t wait = 0;
	int rc;

	if (n > 32)
		return AM_ERR_INTERNAL;
	memcpy(key, name, n);
	memcpy(key + n, id, DB_ID_LEN);
	rc = db_rate_take(db, key, n + DB_ID_LEN, am_now_ms(), XDL_LIMIT_INTERVAL_MS,
			  XDL_LIMIT_BURST, &wait);
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
		rc = download_rate(req, db, XDL_LIMIT_NAME, xe->account_id);
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
	if (!(s = xs_new(a)))
		return AM_ERR_NOMEM;
	s->xe = xe;
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

/* ---- the project archive ---------------------------------------------------------------- */

int media_archive_authorize(struct http_req *req, struct app *a, const struct access_grant *g,
			    struct db_project *p, const char *limit)
{
	char name[ACCESS_COOKIE_NAME_MAX];
	struct db *db = NULL;
	int rc;

	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = archive_grant(a, db, g, p);
	if (rc == 0 && !g->owner && g->pw_gen != 0) {
		access_cookie_name(g->link_id, name, sizeof(name));
		rc = access_cookie_check(a, g, http_req_cookie(req, name));
	}
	if (rc == 0)
		rc = download_rate(req, db, limit, g->project_id);
	app_db_put(a, db);
	return rc;
}

int media_archive_respond(struct media *m, struct http_req *req, const struct access_grant *g,
			  const uint8_t obj[16])
{
	struct app *a = m->app;
	struct xstream *s = NULL;
	struct db_project p;
	char slug[EXPORT_SLUG_MAX + 1], disp[EXPORT_SLUG_MAX + 64];
	int rc;

	memset(&p, 0, sizeof(p));
	if (memcmp(obj, g->project_id, sizeof(g->project_id)) != 0)
		return AM_ERR_DENIED; /* never signed by us: the URL names its project twice */
	if ((rc = media_archive_authorize(req, a, g, &p, XAR_LIMIT_NAME)) != 0)
		goto out;
	export_slug(p.title, slug);
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s.zip\"", slug);
	if (!(s = xs_new(a))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	s->project = 1;
	s->g = *g;
	if ((rc = export_open_project(a, g->project_id, !g->owner, xs_emit, s, &s->x)) != 0) {
		rc = rc == AM_ERR_NOTFOUND ? AM_ERR_DENIED : rc;
		goto out;
	}
	if ((rc = http_add_header(req, "Cache-Control", "private, no-store")) ||
	    (rc = http_add_header(req, "Content-Disposition", disp)))
		goto out;
	if (!g->owner && http_req_method(req) == HTTP_GET)
		media_record_event(m, req, g, NULL, "archive");
	am_log(AM_LOG_INFO, "media_archive_start", "owner", g->owner ? "1" : "0");
	rc =
	    http_respond_stream(req, 200, "application/zip", -1, EXPORT_CHUNK, xs_fill, s, xs_free);
	s = NULL; /* the response owns it */
out:
	xs_free(s);
	am_memzero(&p, sizeof(p));
	return rc;
}
