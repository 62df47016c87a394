/*
 * media_upload.c: /u/{upload}: resumable, encrypted upload ingest on the tus
 * 1.0 core protocol (OPTIONS, HEAD, PATCH; docs/media.md). Each PATCH takes
 * the upload's lease in the database (a concurrent PATCH gets 409), streams
 * its body straight into an AM1 writer over a store put (one segment of
 * plaintext in memory, nothing plaintext on disk), and on its end - complete
 * or cut - commits what arrived as one "part" and advances the durable
 * offset. The first bytes are sniffed before any is stored; a file that is
 * not audio is refused at once (docs/media.md "Refusals"): its upload is
 * deleted and its version fails with the reason, and the rest of its body is
 * not read (a short rest is, so that the 415 with the reason gets through).
 * What waits for the disk runs on the role's job threads (media_jobs.c)
 * while the request is suspended: the part's object is begun before the
 * body is read (a store that refuses it is answered with 503 before the
 * body, src/http/server.c "headers_done"), and the part committed with its
 * last announced byte (before the handler answers: the acknowledged offset
 * is on disk); a PATCH cut mid-body hands its commit to them as well. The
 * upload's completion still runs in the handler. A HEAD on an upload whose
 * every byte is recorded but that was never completed (its node died in
 * between) completes it, so that a client that trusts Upload-Offset ==
 * Upload-Length is right. The sniffing, the completion and
 * the recovery are src/upload/'s (housekeeping runs them too). Runs in the
 * media process on untrusted requests; the URL is verified first.
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
#include "upload/upload.h"

#define MAX_PARTS 4096

struct upload_ctx {
	struct media *m;
	struct access_upload url;
	struct db_upload u;
	uint8_t token[16];
	int locked;
	int64_t offset;	   /* the upload's offset when this PATCH began */
	uint64_t received; /* body bytes of this PATCH */
	struct db_upload_part part;
	struct store_am1_put ap;
	struct am1_writer *w;
	int64_t clen; /* Content-Length of this PATCH, -1 if not announced */
	uint8_t sniff[UPLOAD_SNIFF_LEN];
	size_t sniffed;
	char why[UPLOAD_WHY_MAX]; /* a refusal's reason */
	int need_sniff, bad_type, failed, done;
	int64_t lease_ms, last_extend;
	/* Work on a job thread (media_jobs.c): the request it resumes, and
	 * what came of it. */
	struct http_req *req;
	int begin_rc;  /* part_begin's error (it runs before the body) */
	int committed; /* the part was committed (commit_step) */
	int commit_rc; /* with this result */
};

static const char *const tus_headers[][2] = {
    {"Tus-Resumable", MEDIA_TUS_VERSION},
    {"Cache-Control", "no-store"},
};

static int tus_common(struct http_req *req)
{
	int rc = 0;

	for (size_t i = 0; i < AM_ARRAY_LEN(tus_headers) && !rc; i++)
		rc = http_add_header(req, tus_headers[i][0], tus_headers[i][1]);
	return rc;
}

/* A refusal with a short reason for the owner's client (no internals). */
static int refuse(struct http_req *req, int err, const char *why)
{
	(void)tus_common(req);
	(void)http_add_header(req, "Upload-Error", why);
	return err;
}

/* After a step that may have failed in the store, with why the detail of the
 * handle or call it used ("" when the store did not fail): the store's
 * reason (an S3 error code, a TLS or network error; never bytes or
 * credentials) goes to the log, and the client gets 503, to try again later,
 * never the store's 403 or 404, which a tus client would take for its upload
 * refused or gone. A full or read-only disk keeps its code: 503 as well,
 * with Retry-After and a message that says so (http_respond_error). Any
 * other failure passes through. */
static int store_failed(const char *step, int rc, const char *why)
{
	if (rc == 0 || !*why)
		return rc;
	am_log(AM_LOG_ERROR, "media_upload_store_failed", "step", step, "error", am_strerror(rc),
	       "store_error", why);
	if (rc == AM_ERR_NOMEM || rc == AM_ERR_NOSPACE || rc == AM_ERR_READONLY)
		return rc;
	return AM_ERR_UNAVAIL;
}

static void part_abort(struct upload_ctx *c)
{
	am1_writer_free(c->w);
	c->w = NULL;
	store_put_abort(c->ap.put);
	c->ap.put = NULL;
}

/* Commit what this PATCH stored as one part and advance the offset. */
static int part_commit(struct upload_ctx *c)
{
	struct app *a = c->m->app;
	struct store_err err = {""};
	uint64_t ps = 0, cs = 0;
	struct db *db = NULL;
	int rc;

	if (c->received == 0) {
		part_abort(c);
		return 0;
	}
	rc = am1_writer_finish(c->w, &ps, &cs);
	am1_writer_free(c->w);
	c->w = NULL;
	if (rc) {
		store_err_keep(&err, store_put_errmsg(c->ap.put));
		store_put_abort(c->ap.put);
		c->ap.put = NULL;
		return store_failed("commit", rc, err.msg);
	}
	rc = store_put_commit(c->ap.put, NULL, &err); /* consumes the put, even on failure */
	c->ap.put = NULL;
	if (rc)
		return store_failed("commit", rc, err.msg);
	c->part.plain_size = (int64_t)ps;
	c->part.cipher_size = (int64_t)cs;
	if ((rc = app_db_get(a, &db)) == 0) {
		rc = db_upload_add_part(db, c->u.id, c->token, &c->part);
		app_db_put(a, db);
	}
	if (rc)
		(void)store_delete(a->store, c->part.store_key, NULL);
	else
		c->u.received += (int64_t)ps, c->u.parts++;
	return rc;
}

static void unlock(struct upload_ctx *c)
{
	struct db *db = NULL;

	if (!c->locked || app_db_get(c->m->app, &db))
		return;
	(void)db_upload_unlock(db, c->u.id, c->token);
	app_db_put(c->m->app, db);
	c->locked = 0;
}

/* Commit (or drop) what a request left, give the lease back, free. */
static void ctx_finish(void *p)
{
	struct upload_ctx *c = p;

	if (c->w && !c->done) {
		if (!c->failed && !c->bad_type && !c->need_sniff)
			(void)part_commit(c);
		else
			part_abort(c);
	}
	unlock(c);
	am_memzero(c, sizeof(*c));
	free(c);
}

/* End of the request, whatever happened. A PATCH cut mid-body (the handler
 * never ran) keeps what arrived: that is what makes it resumable. Its
 * commit goes to a job thread (the request is gone: nothing to suspend),
 * or runs here when the queue is full or stopping. */
static void upload_ctx_free(void *p)
{
	struct upload_ctx *c = p;

	c->req = NULL;
	if (c->w && !c->done && !c->failed && !c->bad_type && !c->need_sniff &&
	    media_jobs_add(c->m->jobs, ctx_finish, c, NULL) == 0)
		return;
	ctx_finish(c);
}

/* The job's request waits (media_jobs_add's admitted: before the job can
 * run, so its resume always comes after). */
static void suspend_req(void *p)
{
	http_req_suspend(((struct upload_ctx *)p)->req);
}

/* The job's last act: after it the request may end and free c. */
static void resume_req(struct upload_ctx *c)
{
	struct http_req *req = c->req;

	c->req = NULL;
	http_req_resume(req);
}

/* Run fn(c) on a job thread with req suspended until it resumes it: 0, and
 * the caller must not touch c any more (the request may go on at once on
 * another thread). 1 when it ran here (the role has no job threads).
 * AM_ERR_UNAVAIL with Retry-After when the queue is full: nothing done.
 * Only from on_headers or on_body: a handler that returns while its request
 * is already resumed is taken for one that forgot to answer
 * (src/http/server.c). */
static int run_job(struct http_req *req, struct upload_ctx *c, media_job_fn *fn)
{
	if (!c->m->jobs) {
		fn(c);
		return 1;
	}
	c->req = req;
	if (media_jobs_add(c->m->jobs, fn, c, suspend_req) == 0)
		return 0;
	c->req = NULL;
	am_log(AM_LOG_WARN, "media_upload_jobs_full");
	(void)http_add_header(req, "Retry-After", MEDIA_JOBS_RETRY_AFTER);
	return AM_ERR_UNAVAIL;
}

/* Pick the part's id and key, wrap a fresh DEK under the project key and
 * open the writer over a store put. A database connection is held for the
 * project's row only: the role's pool is sized for its threads, and the
 * store's fsyncs need none. */
static int part_begin(struct upload_ctx *c)
{
	struct app *a = c->m->app;
	struct db_project p;
	struct am1_sink sink;
	struct store_err err;
	struct crypto_pk *pk = NULL;
	struct db *db = NULL;
	int rc;

	memset(&c->part, 0, sizeof(c->part));
	memset(&p, 0, sizeof(p));
	c->part.seq = c->u.parts;
	c->part.start = c->offset;
	if ((rc = app_db_get(a, &db)) == 0) {
		rc = db_project_get_by_id(db, a->keys, c->u.project_id, &p);
		app_db_put(a, db);
	}
	if (rc ||
	    (rc = crypto_pk_open(a->kr, c->u.project_id, p.wrapped_pk, p.wrapped_pk_len, &pk)) ||
	    (rc = crypto_random_id(c->part.part_id)))
		goto out;
	c->part.wrapped_dek_len = CRYPTO_WRAPPED_LEN;
	/* The first part usually is the whole file: it lives where the
	 * original will, so completion need not copy it. */
	if ((rc = store_key_format(c->part.store_key, sizeof(c->part.store_key),
				   c->offset == 0 ? "orig" : "upart", c->part.part_id, NULL)) ||
	    (rc = store_failed(
		 "begin", store_am1_put_begin(a->store, c->part.store_key, 0, &c->ap, &sink, &err),
		 err.msg)))
		goto out;
	/* S3: a body of more than one part starts its upload now, so that
	 * an S3 that is down refuses it before the body */
	if (c->clen > 0)
		rc = store_failed("begin", store_put_expect(c->ap.put, (uint64_t)c->clen),
				  store_put_errmsg(c->ap.put));
	if (rc || (rc = crypto_pk_writer_new(pk, c->part.part_id, &sink, 0, c->part.wrapped_dek,
					     &c->w))) {
		store_put_abort(c->ap.put);
		c->ap.put = NULL;
	}
out:
	am_memzero(&p, sizeof(p));
	crypto_pk_free(pk);
	return rc;
}

/* Offset, Content-Length and length are compared by subtraction against
 * what remains, never by adding: the client picks the offset (< 2^53) and
 * the Content-Length (up to INT64_MAX), whose sum can overflow int64. */
int media_tus_patch_fits(int64_t offset, int64_t clen, int64_t length)
{
	return offset >= 0 && clen >= 0 && offset <= length && clen <= length - offset;
}

/* Checks against the upload row, the limits and the quota; then the lease. */
static int patch_admit(struct http_req *req, struct upload_ctx *c, struct db *db)
{
	struct app *a = c->m->app;
	const char *cl = http_req_header(req, "Content-Length");
	int64_t clen = -1, used = 0;
	int rc;

	rc = db_upload_get(db, c->url.project_id, c->url.upload_id, &c->u);
	if (rc == AM_ERR_NOTFOUND || (rc == 0 && (memcmp(c->u.account_id, c->url.account_id, 16) ||
						  memcmp(c->u.version_id, c->url.version_id, 16) ||
						  strcmp(c->u.state, "open") != 0)))
		return refuse(req, AM_ERR_NOTFOUND, "no such open upload");
	if (rc)
		return rc;
	if (c->u.length > c->url.max_size || c->u.length > a->conf.max_upload_size)
		return refuse(req, AM_ERR_TOOBIG, "file larger than the maximum upload size");
	if (!cl || am_parse_i64(cl, 0, INT64_MAX, &clen) != 0)
		clen = -1;
	c->clen = clen;
	if (clen >= 0 && !media_tus_patch_fits(c->offset, clen, c->u.length))
		return refuse(req, AM_ERR_TOOBIG, "more bytes than the declared Upload-Length");
	if (c->offset != c->u.received)
		return refuse(req, AM_ERR_CONFLICT,
			      "Upload-Offset does not match the stored offset");
	if (c->u.parts >= MAX_PARTS)
		return refuse(req, AM_ERR_TOOBIG,
			      "too many interrupted chunks; start a new upload");
	if (c->offset == 0) {
		if ((rc = db_account_usage(db, c->u.account_id, c->u.id, &used)))
			return rc;
		if (used < 0 || used > c->m->quota || c->u.length > c->m->quota - used)
			return refuse(req, AM_ERR_TOOBIG, "storage quota of the account exceeded");
	}
	if ((rc = crypto_random_id(c->token)))
		return rc;
	c->lease_ms = upload_lease_ms();
	rc = db_upload_lock(db, c->u.project_id, c->u.id, c->offset, c->token, am_now_ms(),
			    c->lease_ms);
	if (rc == AM_ERR_CONFLICT)
		return refuse(req, rc,
			      "another request is writing this upload, or the offset moved");
	if (rc)
		return rc;
	c->locked = 1;
	c->last_extend = am_mono_ms();
	return 0;
}

/* Job: begin the part's object before the body is read (new store
 * directories are made durable there), then resume the request, whose
 * on_headers answers a refusal before the body (begun). */
static void begin_job(void *p)
{
	struct upload_ctx *c = p;

	c->begin_rc = part_begin(c);
	if (c->req)
		resume_req(c);
}

/* on_headers once the part was begun: go on with the body, or refuse it
 * unread with the store's answer (503; a full or read-only disk with its
 * Retry-After and message), which libmicrohttpd still takes now. */
static int begun(struct http_req *req, struct upload_ctx *c)
{
	const char *why;

	if (!c->begin_rc)
		return 0;
	c->failed = 1;
	why = http_message_of(c->begin_rc);
	return refuse(req, c->begin_rc, why ? why : "the server cannot store the upload now");
}

int media_upload_on_headers(struct http_req *req, void *arg)
{
	struct media *m = arg;
	struct upload_ctx *c = http_req_data(req);
	struct db *db = NULL;
	int rc;

	if (http_req_method(req) != HTTP_PATCH)
		return 0;
	if (c) /* called again: the job that began the part resumed us */
		return begun(req, c);
	if (!media_tus_resumable_ok(http_req_header(req, "Tus-Resumable"))) {
		(void)http_add_header(req, "Tus-Version", MEDIA_TUS_VERSION);
		return refuse(req, AM_ERR_INVAL, "Tus-Resumable: 1.0.0 required");
	}
	if (!media_tus_content_type_ok(http_req_header(req, "Content-Type")))
		return refuse(req, AM_ERR_UNSUPPORTED,
			      "Content-Type must be application/offset+octet-stream");
	if (!(c = calloc(1, sizeof(*c))))
		return AM_ERR_NOMEM;
	c->m = m;
	http_req_set_data(req, c, upload_ctx_free);
	if (media_tus_offset(http_req_header(req, "Upload-Offset"), &c->offset))
		return refuse(req, AM_ERR_INVAL, "missing or malformed Upload-Offset");
	if (access_upload_verify(m->app, http_req_target(req), &c->url))
		return AM_ERR_DENIED;
	if ((rc = app_db_get(m->app, &db)))
		return rc;
	rc = patch_admit(req, c, db);
	app_db_put(m->app, db);
	c->need_sniff = c->offset == 0;
	if (rc || (c->clen <= 0 && !http_req_header(req, "Transfer-Encoding")))
		return rc; /* no body: nothing to store (do_patch) */
	if ((rc = run_job(req, c, begin_job)) == 1)
		return begun(req, c); /* ran here */
	return rc;		      /* 0: suspended, begun() answers when resumed */
}

/* Keep the lease while a long PATCH streams in. */
static int keep_lease(struct upload_ctx *c)
{
	struct db *db = NULL;
	int rc;

	if (am_mono_ms() - c->last_extend < c->lease_ms / 4)
		return 0;
	if ((rc = app_db_get(c->m->app, &db)))
		return rc;
	rc = db_upload_extend(db, c->u.id, c->token, am_now_ms(), c->lease_ms);
	app_db_put(c->m->app, db);
	c->last_extend = am_mono_ms();
	return rc;
}

/* A refused first chunk: the upload goes and its version fails with the
 * reason, now, whether or not the answer reaches the client. The rest of
 * the body is read and dropped when it is short (UPLOAD_REFUSE_DRAIN: the
 * 415 then carries the reason); otherwise the request fails here and the
 * server hangs up without reading it (the reason is the version's, and a
 * HEAD's Upload-Error). */
#define UPLOAD_REFUSE_DRAIN (1024 * 1024)
static int refuse_type(struct upload_ctx *c)
{
	int rc;

	upload_refusal(c->sniff, c->sniffed, c->why, sizeof(c->why));
	c->bad_type = 1;
	part_abort(c);
	if ((rc = upload_refuse(c->m->app, &c->u, c->token, c->why)) == 0)
		c->locked = 0; /* the row is gone, and the lease with it */
	am_log(AM_LOG_INFO, "upload_refused", "reason", c->why, "error", rc ? am_strerror(rc) : "");
	if (c->clen < 0 || (uint64_t)c->clen - c->received > UPLOAD_REFUSE_DRAIN)
		return AM_ERR_UNSUPPORTED;
	return 0;
}

/* Buffer the first UPLOAD_SNIFF_LEN bytes, decide, then let them through. */
static int sniff_step(struct upload_ctx *c, const uint8_t **data, size_t *n)
{
	const char *ext, *ctype;
	size_t take = UPLOAD_SNIFF_LEN - c->sniffed;

	if (take > *n)
		take = *n;
	memcpy(c->sniff + c->sniffed, *data, take);
	c->sniffed += take;
	*data += take;
	*n -= take;
	if (c->sniffed < UPLOAD_SNIFF_LEN)
		return 0;
	c->need_sniff = 0;
	if (upload_sniff(c->sniff, c->sniffed, &ext, &ctype))
		return refuse_type(c);
	return am1_writer_write(c->w, c->sniff, c->sniffed);
}

/* One chunk of the body into the part (sniffed first), the lease kept. */
static int body_step(struct upload_ctx *c, const uint8_t *data, size_t n)
{
	int rc = 0;

	if (!c->w) {
		if (c->bad_type)
			return 0; /* read and dropped; the handler explains */
		return AM_ERR_INTERNAL;
	}
	/* admitted: 0 <= offset <= length, and received <= length - offset */
	if (n > (uint64_t)(c->u.length - c->offset) - c->received) {
		c->failed = 1;
		return AM_ERR_TOOBIG;
	}
	c->received += n;
	if (c->need_sniff && (rc = sniff_step(c, &data, &n)) == 0 && !c->w)
		return 0; /* still sniffing, or refused and dropped */
	if (c->bad_type)
		return rc; /* refused, too much left to read: the server hangs up */
	if (rc == 0 && n)
		rc = am1_writer_write(c->w, data, n);
	rc = store_failed("write", rc, store_put_errmsg(c->ap.put));
	if (rc == 0)
		rc = keep_lease(c);
	if (rc)
		c->failed = 1;
	return rc;
}

/* The whole announced body is in (an unannounced one ends at the handler). */
static int body_complete(const struct upload_ctx *c)
{
	return c->clen >= 0 && c->received == (uint64_t)c->clen && !c->failed && !c->bad_type &&
	       !c->need_sniff;
}

/* The part's commit once the last byte is in, on a job thread. */
static void commit_step(struct upload_ctx *c)
{
	c->done = 1;
	c->commit_rc = part_commit(c);
	c->committed = 1;
}

/* Job: commit the part, then resume the request; its handler answers. */
static void commit_job(void *p)
{
	struct upload_ctx *c = p;

	commit_step(c);
	if (c->req)
		resume_req(c);
}

int media_upload_on_body(struct http_req *req, const uint8_t *data, size_t n, void *arg)
{
	struct upload_ctx *c = http_req_data(req);
	int rc;

	(void)arg;
	if (!c)
		return AM_ERR_INTERNAL;
	if ((rc = body_step(c, data, n)) != 0 || !body_complete(c))
		return rc;
	if ((rc = run_job(req, c, commit_job)) == 1) /* ran here */
		return 0;
	if (rc < 0)
		c->failed = 1; /* the queue is full: nothing of this PATCH is kept */
	return rc;
}

static int respond_offset(struct http_req *req, unsigned status, const struct db_upload *u,
			  int with_length)
{
	char num[24];
	int rc;

	snprintf(num, sizeof(num), "%lld", (long long)u->received);
	if ((rc = tus_common(req)) || (rc = http_add_header(req, "Upload-Offset", num)))
		return rc;
	if (with_length) {
		snprintf(num, sizeof(num), "%lld", (long long)u->length);
		if ((rc = http_add_header(req, "Upload-Length", num)))
			return rc;
	}
	return http_respond_empty(req, status);
}

/* Why an upload is gone: its version's failure (a refused type, an expired
 * upload) when there is one, so that a client whose PATCH was cut off by a
 * refusal learns the reason from its HEAD. */
static const char *gone_why(struct media *m, const struct access_upload *url, char *why, size_t cap)
{
	struct db_version v;
	struct db *db = NULL;
	int rc;

	if (app_db_get(m->app, &db))
		return "no such upload";
	rc = db_version_get(db, m->app->keys, url->project_id, url->version_id, &v);
	app_db_put(m->app, db);
	if (rc || strcmp(v.state, "failed") != 0 || !v.error[0])
		return "no such upload";
	am_strlcpy(why, v.error, cap);
	am_memzero(&v, sizeof(v)); /* the file name */
	return why;
}

static int do_head(struct http_req *req, struct media *m)
{
	struct access_upload url;
	struct db_upload u;
	struct db *db = NULL;
	char why[DB_ERROR_MAX + 1];
	int rc;

	if (access_upload_verify(m->app, http_req_target(req), &url))
		return AM_ERR_DENIED;
	if ((rc = app_db_get(m->app, &db)))
		return rc;
	rc = db_upload_get(db, url.project_id, url.upload_id, &u);
	app_db_put(m->app, db);
	if (rc == 0 &&
	    (memcmp(u.account_id, url.account_id, 16) || memcmp(u.version_id, url.version_id, 16)))
		rc = AM_ERR_NOTFOUND;
	if (rc == AM_ERR_NOTFOUND)
		return refuse(req, rc, gone_why(m, &url, why, sizeof(why)));
	if (rc)
		return rc;
	/* Every byte recorded, never completed, nobody on it: complete it now.
	 * Whatever comes of it, the offset stays what was durably stored; an
	 * upload this does not complete is left to housekeeping (or, broken,
	 * to its expiry). */
	if (strcmp(u.state, "open") == 0 && u.received == u.length)
		(void)upload_recover_one(m->app, &u, am_now_ms(), "head", NULL);
	return respond_offset(req, 200, &u, 1);
}

/* The first chunk was not audio (AM_ERR_UNSUPPORTED) or too short to tell
 * (AM_ERR_INVAL): the error answer, with a message the uploader can act on
 * (in the JSON and in Upload-Error). */
static int refuse_sniff(struct http_req *req, struct upload_ctx *c)
{
	unsigned status = http_status_of(c->bad_type ? AM_ERR_UNSUPPORTED : AM_ERR_INVAL);
	json_t *j;
	int rc;

	if (!c->bad_type)
		upload_refusal(c->sniff, c->sniffed, c->why, sizeof(c->why));
	if (!(j = json_pack("{s:s,s:i}", "error", c->why, "status", (int)status)))
		return AM_ERR_NOMEM;
	(void)tus_common(req);
	(void)http_add_header(req, "Upload-Error", c->why);
	rc = http_respond_json(req, status, j);
	json_decref(j);
	return rc;
}

/* The body is in; the part was committed by a job (its last chunk was
 * announced), or is committed here (a chunked or an empty body). */
static int do_patch(struct http_req *req, struct media *m)
{
	struct upload_ctx *c = http_req_data(req);
	struct store_err err;
	int rc;

	if (!c)
		return AM_ERR_INTERNAL;
	if (!c->committed) {
		c->done = 1;
		if (c->bad_type || c->need_sniff) {
			part_abort(c);
			return refuse_sniff(req, c);
		}
		c->commit_rc = part_commit(c);
	}
	if ((rc = c->commit_rc))
		return rc;
	if (c->u.received == c->u.length) {
		/* An empty final PATCH completes bytes an earlier request stored
		 * (its node died before completing): check them all. */
		if ((rc = upload_finish(m->app, &c->u, c->token, c->received == 0, &err)) != 0)
			return store_failed("complete", rc, err.msg);
		c->locked = 0; /* completion released the lease */
	}
	return respond_offset(req, 204, &c->u, 0);
}

int media_upload_handler(struct http_req *req, void *arg)
{
	struct media *m = arg;
	char max[24];
	int rc;

	switch (http_req_method(req)) {
	case HTTP_OPTIONS:
		snprintf(max, sizeof(max), "%lld", (long long)m->app->conf.max_upload_size);
		if ((rc = tus_common(req)) ||
		    (rc = http_add_header(req, "Tus-Version", MEDIA_TUS_VERSION)) ||
		    (rc = http_add_header(req, "Tus-Max-Size", max)))
			return rc;
		return http_respond_empty(req, 204);
	case HTTP_HEAD: return do_head(req, m);
	case HTTP_PATCH: return do_patch(req, m);
	default: return AM_ERR_INVAL;
	}
}
