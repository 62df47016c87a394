/*
 * job_transcode.c: the "transcode" job (docs/media.md payload, docs/worker.md):
 * decrypt the original out of the store, run the sandboxed transcoder
 * (src/xcode, exec'd child), encrypt the stream rendition and the waveform
 * peaks into new AM1 objects, then record them, the media facts and the
 * version's state in the one transaction that completes the job under this
 * worker's lease. Runs in the worker (trusted, holds the project and data
 * keys); the audio is parsed only by the child, which holds no key.
 *
 * Storage of the overview: the objects table accepts the kinds original,
 * stream, peaks and export, and media URLs are signed for stream and peaks,
 * so the overview (<= 2,000 points, a .dat of its own) is appended to the
 * peaks object: the detailed .dat (24-byte header + length x channels x 2
 * bytes) is followed by the overview .dat. Readers that parse the detailed
 * header ignore the trailer; the player can fetch the overview by Range.
 */
#include "worker/worker.h"
#include "worker/worker_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "metrics/metrics.h"
#include "repo/repo.h"
#include "store/store.h"
#include "util/util.h"
#include "xcode/xcode.h"

enum { OUT_STREAM, OUT_PEAKS, OUT_N };

/* The peaks sink holds its head until the overview arrives (see top). */
struct peaks_join {
	struct job_out *o;
	uint8_t *buf; /* 2 x XCODE_PEAKS_HEAD: peaks head, then overview */
	size_t head_n;
	int body, have_head;
};

struct tjob {
	struct worker_job *j;
	struct app *a;
	uint8_t project[16], version[16], orig_id[16];
	uint8_t track[16];
	int64_t number;	      /* the version's, for its alignment (job_align.c) */
	struct crypto_pk *pk; /* the project key, opened by open_original */
	struct db_object orig;
	struct store_reader *sr;
	struct am1_source src;
	struct am1_reader *rd;
	struct job_out out[OUT_N];
	struct peaks_join pj;
	int64_t pct, pct_at;
	struct store_err err; /* the latest store-level call's (open, put begin, commit) */
	int64_t queued_ms;    /* enqueued -> this attempt began (wall clock) */
	int64_t cpu0_us;      /* this thread's CPU time when the attempt began */
};

/* This thread's CPU time (user + system) in microseconds. */
static int64_t thread_cpu_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Owner-facing reasons for failures outside the transcoder. */
#define R_STORAGE  "storage error"
#define R_INTERNAL "internal error"

/* Fail the job with reason for the owner; why (NULL or "": none) is the
 * store's detail of the failure, for the operator. */
static int fail(struct worker_job *j, const char *why, int rc, const char *reason, int permanent)
{
	char id[33];

	if (why && *why) { /* the owner sees reason; the operator also needs the store's */
		for (int i = 0; i < 16; i++)
			snprintf(id + 2 * i, 3, "%02x", j->job->id[i]);
		am_log(AM_LOG_WARN, "job_store_error", "job", id, "worker", j->worker, "reason",
		       reason, "error", am_strerror(rc ? rc : AM_ERR_INTERNAL), "store_error", why);
	}
	am_strlcpy(j->reason, reason, sizeof(j->reason));
	j->permanent = permanent;
	return rc ? rc : AM_ERR_INTERNAL;
}

/* The store's detail of the job's failure, or "": the latest store-level
 * call's, else the original's reader's latest read, else a failed output
 * put's (each is "" unless it failed, and the job stops at its first
 * failure). */
static const char *store_why(const struct tjob *t)
{
	const char *why = t->err.msg;

	if (!*why)
		why = store_reader_errmsg(t->sr);
	for (int i = 0; i < OUT_N && !*why; i++)
		why = store_put_errmsg(t->out[i].ap.put);
	return why;
}

static int hex_id(const char *s, uint8_t out[16])
{
	if (!s || strlen(s) != 32)
		return AM_ERR_INVAL;
	for (int i = 0; i < 16; i++) {
		int v = 0;

		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + k];
			int d = c >= '0' && c <= '9'   ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
						       : -1;

			if (d < 0)
				return AM_ERR_INVAL;
			v = v * 16 + d;
		}
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* {"v":1,"version":"<hex>","original":"<hex>",...} and the job's project. */
static int parse_payload(const struct db_job *job, uint8_t project[16], uint8_t version[16],
			 uint8_t orig[16])
{
	json_t *root =
	    json_loadb((const char *)job->payload, job->payload_len, JSON_REJECT_DUPLICATES, NULL);
	json_t *v = root ? json_object_get(root, "v") : NULL;
	int rc = AM_ERR_INVAL;

	if (job->has_project && json_is_integer(v) && json_integer_value(v) == 1 &&
	    hex_id(json_string_value(json_object_get(root, "version")), version) == 0 &&
	    hex_id(json_string_value(json_object_get(root, "original")), orig) == 0) {
		memcpy(project, job->project_id, 16);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

/* ---- input: the original, decrypted segment by segment -------------------------------- */

static int src_read_at(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	return am1_reader_pread(ctx, off, buf, n, got);
}

static int open_original(struct tjob *t)
{
	struct worker_job *j = t->j;
	struct db_project p;
	struct db_version v;
	struct db *db = NULL;
	int rc;

	if ((rc = app_db_get(t->a, &db)))
		goto out;
	rc = db_project_get_by_id(db, t->a->keys, t->project, &p);
	if (rc == 0)
		rc = db_version_get(db, t->a->keys, t->project, t->version, &v);
	if (rc == 0) {
		memcpy(t->track, v.track_id, 16);
		t->number = v.number;
		rc = db_object_find(db, t->project, t->version, "original", &t->orig);
	}
	if (rc == AM_ERR_NOTFOUND || (rc == 0 && memcmp(t->orig.id, t->orig_id, 16) != 0)) {
		rc = fail(j, NULL, AM_ERR_NOTFOUND, "track or original no longer exists", 1);
		goto out;
	}
	if (rc)
		goto out;
	if ((rc = crypto_pk_open(t->a->kr, t->project, p.wrapped_pk, p.wrapped_pk_len, &t->pk)))
		goto out;
	rc = db_version_set_state(db, t->project, t->version, "processing", 0, NULL);
	app_db_put(t->a, db);
	db = NULL;
	if (rc || (rc = store_reader_open_seq(t->a->store, t->orig.store_key, &t->sr, &t->err)))
		goto out;
	store_am1_source(t->sr, &t->src);
	rc = crypto_pk_reader_open(t->pk, t->orig.id, t->orig.wrapped_dek, t->orig.wrapped_dek_len,
				   &t->src, (uint64_t)t->orig.plain_size, &t->rd);
out:
	if (db)
		app_db_put(t->a, db);
	am_memzero(&p, sizeof(p));
	if (rc && !j->reason[0])
		fail(j, store_why(t), rc, R_STORAGE, 0);
	return rc;
}

/* ---- outputs: new AM1 objects ---------------------------------------------------------- */

static int peaks_write(void *ctx, const void *p, size_t n)
{
	struct peaks_join *pj = ctx;

	pj->body = 1;
	return am1_writer_write(pj->o->w, p, n);
}

static int peaks_head(void *ctx, const void *p, size_t n)
{
	struct peaks_join *pj = ctx;

	if (pj->have_head || n > XCODE_PEAKS_HEAD)
		return AM_ERR_INVAL;
	memcpy(pj->buf, p, n);
	pj->head_n = n;
	pj->have_head = 1;
	return 0;
}

static int overview_write(void *ctx, const void *p, size_t n)
{
	return AM_ERR_INVAL; /* the overview always fits its head */
}

/* The overview completes the peaks object: appended after the detailed
 * .dat, then the held head goes in (the AM1 head contract: head_len bytes
 * exactly once body bytes exist, else the whole short object). */
static int overview_head(void *ctx, const void *p, size_t n)
{
	struct peaks_join *pj = ctx;
	struct am1_writer *w = pj->o->w;
	size_t all = pj->head_n + n;
	int rc;

	if (!pj->have_head || n > XCODE_OVERVIEW_HEAD)
		return AM_ERR_INVAL;
	if (pj->body) {
		if ((rc = am1_writer_write(w, p, n)))
			return rc;
		return am1_writer_patch_head(w, pj->buf, pj->head_n);
	}
	memcpy(pj->buf + pj->head_n, p, n);
	if (all <= XCODE_PEAKS_HEAD)
		return am1_writer_patch_head(w, pj->buf, all);
	if ((rc = am1_writer_write(w, pj->buf + XCODE_PEAKS_HEAD, all - XCODE_PEAKS_HEAD)))
		return rc;
	return am1_writer_patch_head(w, pj->buf, XCODE_PEAKS_HEAD);
}

/* ---- the run ----------------------------------------------------------------------------- */

static int on_progress(void *ctx, double f)
{
	struct tjob *t = ctx;
	int64_t pct = (int64_t)(f * 100.0), now = am_mono_ms();
	struct db *db = NULL;

	if (worker_job_heartbeat(t->j) != 0)
		return 1;
	if (pct != t->pct && now - t->pct_at >= 1000 && app_db_get(t->a, &db) == 0) {
		(void)db_version_set_state(db, t->project, t->version, "processing",
					   pct > 99 ? 99 : pct, NULL);
		app_db_put(t->a, db);
		t->pct = pct;
		t->pct_at = now;
	}
	return 0;
}

_Static_assert(DB_METER_SILENT == XCODE_METER_SILENT && DB_METER_SHORT_I == XCODE_METER_SHORT_I &&
		   DB_METER_SHORT_LRA == XCODE_METER_SHORT_LRA &&
		   DB_METER_GATED == XCODE_METER_GATED,
	       "meter_flags are stored as xcode reports them");

static int64_t milli(double x, int64_t floor)
{
	if (!isfinite(x) || x * 1000.0 < (double)floor)
		return floor;
	return (int64_t)llround(x * 1000.0);
}

/* A project that marks its guests' streams: queue the version's renditions
 * A and B (job_mark_ab.c) with its completion. */
static int queue_marks(struct db *db, const struct tjob *t)
{
	struct db_mark_settings ms;
	int rc = db_mark_settings_get(db, t->project, &ms);

	if (rc || !ms.on)
		return rc;
	return db_vmark_enqueue(db, t->project, t->version, t->orig.id);
}

/* Record the outputs, the facts and the state, completing the job in the
 * same transaction (nothing is recorded if the lease was lost). */
static int record(struct tjob *t, const struct xcode_result *res)
{
	struct db_version v;
	struct db *db = NULL;
	int rc;

	memset(&v, 0, sizeof(v));
	memcpy(v.id, t->version, 16);
	v.duration_ms = res->duration_ms;
	v.sample_rate = res->sample_rate;
	v.channels = res->channels;
	v.bit_depth = res->bit_depth;
	/* A figure the meter could not give (silence, too short, under the
	 * gate) is stored at its floor and shown by meter_flags' reason. */
	v.loudness_mlufs = res->has_loudness ? milli(res->loudness_lufs, -70000) : -70000;
	v.true_peak_mdbtp = milli(res->true_peak_dbtp, -200000);
	v.loudness_range_mlu = milli(res->loudness_range_lu, 0);
	v.stream_true_peak_mdbtp = milli(res->stream_true_peak_dbtp, -200000);
	v.meter_flags = res->meter_flags;
	memcpy(v.track_id, t->track, 16);
	v.number = t->number;
	worker_align_version(t->a, t->pk, t->project, &t->out[OUT_PEAKS].o, &v);
	if ((rc = app_db_get(t->a, &db)))
		return rc;
	if ((rc = db_begin_write(db)))
		goto out;
	rc = db_job_complete(db, t->j->job->id, t->j->worker);
	for (int i = 0; i < OUT_N && rc == 0; i++) {
		struct job_out *o = &t->out[i];

		if ((rc = db_object_create(db, t->project, &o->o)) == 0)
			rc = db_object_ready(db, t->project, o->o.id, o->o.plain_size,
					     o->o.cipher_size);
	}
	if (rc == 0)
		rc = db_version_set_media(db, t->project, &v);
	if (rc == 0)
		rc = db_version_set_offset(db, t->project, &v);
	if (rc == 0)
		rc = db_version_set_state(db, t->project, t->version, "ready", 100, NULL);
	if (rc == 0)
		rc = queue_marks(db, t);
	if (rc == 0)
		rc = db_commit(db);
	else
		db_rollback(db);
	if (rc == AM_ERR_CONFLICT)
		t->j->lease_lost = 1;
	else if (rc == AM_ERR_NOTFOUND)
		fail(t->j, NULL, rc, "track no longer exists", 1);
out:
	app_db_put(t->a, db);
	t->j->completed = rc == 0;
	return rc;
}

/* For the operator and `make bench` (upload_to_playable): how long the
 * sandboxed transcode took, where the time went (how long the job waited
 * in the queue, the child's CPU time, this worker thread's CPU time for
 * the source's decryption and the outputs' encryption), and the child's
 * peak memory (docs/transcoding.md "Where the time goes"). */
static void log_done(const struct tjob *t, const struct xcode_result *res, int64_t ms)
{
	char wall[24], dur[24], rss[24], ch[8], rate[16], q[24], cu[24], cs[24], wc[24];

	snprintf(wall, sizeof(wall), "%lld", (long long)ms);
	snprintf(dur, sizeof(dur), "%lld", (long long)res->duration_ms);
	snprintf(rss, sizeof(rss), "%lld", (long long)res->child_maxrss_kib);
	snprintf(ch, sizeof(ch), "%d", res->channels);
	snprintf(rate, sizeof(rate), "%d", res->sample_rate);
	snprintf(q, sizeof(q), "%lld", (long long)t->queued_ms);
	snprintf(cu, sizeof(cu), "%lld", (long long)res->child_user_ms);
	snprintf(cs, sizeof(cs), "%lld", (long long)res->child_sys_ms);
	snprintf(wc, sizeof(wc), "%lld", (long long)((thread_cpu_us() - t->cpu0_us) / 1000));
	am_log(AM_LOG_INFO, "transcode_done", "worker", t->j->worker, "wall_ms", wall,
	       "duration_ms", dur, "channels", ch, "sample_rate", rate, "child_peak_kib", rss,
	       "queued_ms", q, "child_user_ms", cu, "child_sys_ms", cs, "worker_cpu_ms", wc);
}

static int transcode(struct tjob *t, struct xcode_result *res)
{
	struct worker_job *j = t->j;
	struct xcode_params xp;
	struct xcode_source src = {src_read_at, am1_reader_size(t->rd), t->rd};
	struct xcode_sink stream = {job_out_sink_write, job_out_sink_head, &t->out[OUT_STREAM]};
	struct xcode_sink peaks = {peaks_write, peaks_head, &t->pj};
	struct xcode_sink overview = {overview_write, overview_head, &t->pj};
	int64_t t0;
	int rc;

	memset(&xp, 0, sizeof(xp));
	xp.output = XCODE_OUT_AAC_MP4;
	xp.progress = on_progress;
	xp.progress_ctx = t;
	xp.exec_path = j->exec_path;
	xp.cancel = j->cancel;
	/* docs/transcoding.md "Decode work" */
	xp.max_work = (uint64_t)t->a->conf.max_decode_samples;
	t->pj.o = &t->out[OUT_PEAKS];
	if (!(t->pj.buf = malloc(2 * XCODE_PEAKS_HEAD)))
		return fail(j, NULL, AM_ERR_NOMEM, R_INTERNAL, 0);
	if ((rc = job_out_begin(t->a, t->pk, &t->out[OUT_STREAM], "stream", XCODE_STREAM_HEAD,
				t->version, &t->err)) ||
	    (rc = job_out_begin(t->a, t->pk, &t->out[OUT_PEAKS], "peaks", XCODE_PEAKS_HEAD,
				t->version, &t->err)))
		return fail(j, store_why(t), rc, R_STORAGE, 0);
	t0 = am_mono_ms();
	rc = xcode_run(&xp, &src, &stream, &peaks, &overview, res);
	j->child_maxrss_kib = res->child_maxrss_kib > 0 ? res->child_maxrss_kib : 0;
	if (rc || res->fail != XCODE_OK) {
		am_log(AM_LOG_WARN, "transcode_failed", "worker", j->worker, "reason", res->reason,
		       "detail", res->detail, "format", res->format ? res->format : "-");
		if (j->lease_lost)
			return AM_ERR_CONFLICT;
		return fail(j, store_why(t), rc ? rc : AM_ERR_INTERNAL, res->reason,
			    !xcode_fail_retryable(res->fail));
	}
	log_done(t, res, am_mono_ms() - t0);
	am_strlcpy(t->out[OUT_STREAM].o.content_type, res->content_type, DB_CTYPE_MAX + 1);
	am_strlcpy(t->out[OUT_PEAKS].o.content_type, "application/octet-stream", DB_CTYPE_MAX + 1);
	for (int i = 0; i < OUT_N; i++)
		if ((rc = job_out_commit(&t->out[i], &t->err)))
			return fail(j, store_why(t), rc, R_STORAGE, 0);
	return 0;
}

int worker_transcode(struct worker_job *j)
{
	struct tjob *t = calloc(1, sizeof(*t));
	struct xcode_result res;
	int64_t t0 = am_mono_ms();
	int rc;

	if (!t)
		return fail(j, NULL, AM_ERR_NOMEM, R_INTERNAL, 0);
	t->j = j;
	t->a = j->app;
	t->pct = -1;
	t->queued_ms = am_now_ms() - j->job->created;
	t->cpu0_us = thread_cpu_us();
	if ((rc = parse_payload(j->job, t->project, t->version, t->orig_id))) {
		fail(j, NULL, rc, R_INTERNAL, 1);
		goto out;
	}
	if ((rc = open_original(t)) || (rc = transcode(t, &res)))
		goto out;
	if ((rc = record(t, &res)) && !j->reason[0])
		fail(j, NULL, rc, R_STORAGE, 0);
out:
	metrics_transcode(am_mono_ms() - t0, rc == 0);
	for (int i = 0; i < OUT_N; i++)
		job_out_cleanup(t->a, &t->out[i], j->completed);
	am1_reader_free(t->rd);
	store_reader_close(t->sr);
	crypto_pk_free(t->pk);
	free(t->pj.buf);
	free(t);
	return rc;
}

/* After a failed attempt: the owner sees "failed" with the reason once the
 * job will not run again, else "queued" (a retry is coming). */
void worker_transcode_failed(struct worker_job *j, int final)
{
	uint8_t project[16], version[16], orig[16];
	struct db *db = NULL;

	if (parse_payload(j->job, project, version, orig) != 0 || app_db_get(j->app, &db) != 0)
		return;
	(void)db_version_set_state(db, project, version, final ? "failed" : "queued", 0,
				   final ? j->reason : NULL);
	app_db_put(j->app, db);
}
