/*
 * media_trace.c: the tracer's upload (issue 26, docs/api.md "Trace a leak",
 * docs/watermark.md "Tracer"): POST /m/trace/{project}?… with a signed
 * tracer URL (access_trace.c, minted by the web role for the project's
 * owner) and the suspect file as the body, at most TRACE_MAX_BYTES, held in
 * memory for the request and never stored or logged. The URL is verified
 * before the body is read (on_headers); then the session must be live and
 * the account must own the project; a per-account limit (in the database,
 * shared by every media process) and TRACE_AT_ONCE traces per process bound
 * the CPU one owner can spend. src/trace/ does the rest: the file is
 * decoded and searched only in the exec'd, sandboxed transcode child. The
 * answer is the JSON of trace_answer_json. Runs in the media role; the body
 * is anyone's file.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "access/access.h"
#include "app/app.h"
#include "http/http.h"
#include "media/media_int.h"
#include "repo/repo.h"
#include "trace/trace.h"
#include "util/util.h"

#define TRACE_AT_ONCE	     1	     /* traces at once per media process */
#define TRACE_LIMIT_NAME     "trace" /* per account: a burst of 20, then one per 6 s */
#define TRACE_LIMIT_INTERVAL 6000
#define TRACE_LIMIT_BURST    20

static int running;

struct mem_src {
	const uint8_t *p;
	size_t n;
};

static int mem_read_at(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	const struct mem_src *m = ctx;

	*got = 0;
	if (off < m->n) {
		*got = m->n - (size_t)off < n ? m->n - (size_t)off : n;
		memcpy(buf, m->p + off, *got);
	}
	return 0;
}

/* Before the body: only a valid tracer URL gets its body read. */
int media_trace_on_headers(struct http_req *req, void *arg)
{
	struct media *m = arg;
	struct access_trace t;

	if (access_trace_verify(m->app, http_req_target(req), &t))
		return AM_ERR_DENIED;
	return 0;
}

/* The database half: the session, the project's owner, the limit. */
static int authorize(struct http_req *req, struct app *a, struct db *db,
		     const struct access_trace *t, struct db_project *p)
{
	uint8_t key[sizeof(TRACE_LIMIT_NAME) + DB_ID_LEN];
	char retry[24];
	int64_t wait = 0;
	int rc;

	if ((rc = access_session_check(a, db, t->account_id, t->session_id)) != 0)
		return rc;
	if ((rc = db_project_get(db, a->keys, t->account_id, t->project_id, p)) != 0)
		return rc == AM_ERR_NOTFOUND ? AM_ERR_DENIED : rc;
	memcpy(key, TRACE_LIMIT_NAME, sizeof(TRACE_LIMIT_NAME));
	memcpy(key + sizeof(TRACE_LIMIT_NAME), t->account_id, DB_ID_LEN);
	rc = db_rate_take(db, key, sizeof(key), am_now_ms(), TRACE_LIMIT_INTERVAL,
			  TRACE_LIMIT_BURST, &wait);
	if (rc == AM_ERR_RATE) {
		snprintf(retry, sizeof(retry), "%lld", (long long)((wait + 999) / 1000));
		if (http_add_header(req, "Retry-After", retry))
			return AM_ERR_NOMEM;
	}
	return rc;
}

static int answer(struct http_req *req, int rc, const struct trace_answer *t,
		  const struct xcode_result *xr)
{
	json_t *o = NULL;
	char *text;

	if (rc == AM_ERR_UNSUPPORTED || rc == AM_ERR_INVAL || rc == AM_ERR_TOOBIG) {
		o = json_pack("{s:s}", "error", xr->fail != XCODE_OK ? xr->reason : "not audio");
		rc = o ? http_respond_json(req, 422, o) : AM_ERR_NOMEM;
		json_decref(o);
		return rc;
	}
	if (rc != 0)
		return rc;
	if (!(text = trace_answer_json(t)) || !(o = json_loads(text, 0, NULL)))
		rc = AM_ERR_NOMEM;
	else
		rc = http_respond_json(req, 200, o);
	free(text);
	json_decref(o);
	return rc;
}

int media_trace_handler(struct http_req *req, void *arg)
{
	struct media *m = arg;
	struct app *a = m->app;
	struct am_slice body = http_req_body(req);
	struct mem_src ms = {body.p, body.n};
	struct xcode_source src = {.read_at = mem_read_at, .size = body.n, .ctx = &ms};
	struct trace_params tp = {0};
	struct trace_answer t;
	struct xcode_result xr;
	struct access_trace at;
	struct db_project p;
	struct db *db = NULL;
	char exe[PATH_MAX + 32];
	int rc, trc;

	memset(&t, 0, sizeof(t));
	memset(&xr, 0, sizeof(xr));
	if (access_trace_verify(a, http_req_target(req), &at))
		return AM_ERR_DENIED;
	if (body.n == 0)
		return AM_ERR_INVAL;
	if ((rc = am_exe_sibling("audiomus-xcode", exe, sizeof(exe))) || (rc = app_db_get(a, &db)))
		return rc;
	if ((rc = authorize(req, a, db, &at, &p)) != 0)
		goto out;
	if (__atomic_add_fetch(&running, 1, __ATOMIC_ACQ_REL) > TRACE_AT_ONCE) {
		__atomic_sub_fetch(&running, 1, __ATOMIC_ACQ_REL);
		rc = http_add_header(req, "Retry-After", "5") ? AM_ERR_NOMEM : AM_ERR_UNAVAIL;
		goto out;
	}
	tp.exec_path = exe;
	trc = trace_run(a, db, &p, &src, &tp, &t, &xr);
	__atomic_sub_fetch(&running, 1, __ATOMIC_ACQ_REL);
	am_log(AM_LOG_INFO, "media_trace", "result",
	       trc	 ? "error"
	       : t.found ? "listener named"
			 : "no mark found");
	if ((rc = http_add_header(req, "Cache-Control", "private, no-store")) == 0)
		rc = answer(req, trc, &t, &xr);
out:
	am_memzero(&t, sizeof(t));
	am_memzero(&p, sizeof(p));
	app_db_put(a, db);
	return rc;
}
