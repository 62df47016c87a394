/*
 * job_mark_ab.c: the "mark_ab" job (issue 26, docs/watermark.md "Serving
 * segment variants", docs/worker.md): make a version's renditions A and B
 * for a project that marks its guests' streams. Decrypts the original,
 * derives the project's watermark key and from it the key-less pattern
 * seed (wm_pattern_seed), and runs the sandboxed child in XCODE_OUT_AB
 * mode with the seed and the strength (never the key); A and B come back
 * as two new AM1 objects, their layout as u32 unit sizes, from which the
 * span map (media_splice's cuts and slots) is built here and recorded with
 * both objects in the transaction that completes the job. Queued by the
 * transcode job when the project marks, and for every ready version when
 * the owner turns marking on (api_mark.c). Runs in the worker (trusted,
 * holds the project key); the child's layout is untrusted and checked.
 */
#include "worker/worker.h"
#include "worker/worker_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "repo/repo.h"
#include "store/store.h"
#include "util/util.h"
#include "watermark/watermark.h"
#include "xcode/xcode.h"

#define R_STORAGE  "storage error"
#define R_INTERNAL "internal error"
/* the layout of at most 4 hours at 44.1 kHz, in u32 unit sizes */
#define LAYOUT_MAX	   ((size_t)4 * 3600 * 44100 / XCODE_AB_UNIT * 4 + 4096)
#define UNITS_PER_FRAGMENT (WM_FRAGMENT / XCODE_AB_UNIT)

struct mjob {
	struct worker_job *j;
	struct app *a;
	uint8_t project[16], version[16], orig_id[16];
	struct crypto_pk *pk;
	struct db_object orig;
	int64_t strength; /* thousandths */
	struct store_reader *sr;
	struct am1_source src;
	struct am1_reader *rd;
	struct job_out out[2]; /* A, B */
	uint8_t *layout;       /* the child's u32 sizes: body, then head */
	size_t layout_n, layout_head;
	struct store_err err;
};

static int fail(struct worker_job *j, int rc, const char *reason, int permanent)
{
	am_strlcpy(j->reason, reason, sizeof(j->reason));
	j->permanent = permanent;
	return rc ? rc : AM_ERR_INTERNAL;
}

static int hex_id(const char *s, uint8_t out[16])
{
	unsigned v;

	if (!s || strlen(s) != 32)
		return AM_ERR_INVAL;
	for (int i = 0; i < 16; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
		    !strchr("0123456789abcdef", s[2 * i + 1]))
			return AM_ERR_INVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int parse_payload(struct mjob *m)
{
	const struct db_job *job = m->j->job;
	json_t *root =
	    json_loadb((const char *)job->payload, job->payload_len, JSON_REJECT_DUPLICATES, NULL);
	json_t *v = root ? json_object_get(root, "v") : NULL;
	int rc = AM_ERR_INVAL;

	if (job->has_project && json_is_integer(v) && json_integer_value(v) == 1 &&
	    hex_id(json_string_value(json_object_get(root, "version")), m->version) == 0 &&
	    hex_id(json_string_value(json_object_get(root, "original")), m->orig_id) == 0) {
		memcpy(m->project, job->project_id, 16);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

/* 1: nothing to do (marking off, or A and B at this strength exist). */
static int look_up(struct mjob *m, struct db *db, struct db_project *p)
{
	struct db_mark_settings ms;
	struct db_vmark vm;
	int rc;

	if ((rc = db_project_get_by_id(db, m->a->keys, m->project, p)) ||
	    (rc = db_mark_settings_get(db, m->project, &ms)))
		return rc;
	if (!ms.on)
		return 1;
	m->strength = ms.strength;
	if (db_vmark_get(db, m->project, m->version, &vm) == 0) {
		int same = vm.strength == ms.strength;

		db_vmark_cleanup(&vm);
		if (same)
			return 1;
	}
	rc = db_object_find(db, m->project, m->version, "original", &m->orig);
	if (rc == 0 && memcmp(m->orig.id, m->orig_id, 16) != 0)
		rc = AM_ERR_NOTFOUND;
	return rc;
}

/* Open the project key and the original. 1: nothing to do. */
static int open_input(struct mjob *m)
{
	struct db_project p;
	struct db *db = NULL;
	int rc;

	memset(&p, 0, sizeof(p));
	if ((rc = app_db_get(m->a, &db)))
		goto out;
	rc = look_up(m, db, &p);
	app_db_put(m->a, db);
	if (rc == 1 || rc == AM_ERR_NOTFOUND) { /* gone, or nothing to do: done */
		rc = 1;
		goto out;
	}
	if (rc ||
	    (rc = crypto_pk_open(m->a->kr, m->project, p.wrapped_pk, p.wrapped_pk_len, &m->pk)))
		goto out;
	if ((rc = store_reader_open_seq(m->a->store, m->orig.store_key, &m->sr, &m->err)))
		goto out;
	store_am1_source(m->sr, &m->src);
	rc = crypto_pk_reader_open(m->pk, m->orig.id, m->orig.wrapped_dek, m->orig.wrapped_dek_len,
				   &m->src, (uint64_t)m->orig.plain_size, &m->rd);
out:
	am_memzero(&p, sizeof(p));
	if (rc < 0)
		fail(m->j, rc, R_STORAGE, 0);
	return rc;
}

/* A or B: a stream rendition of no version (found through version_marks). */
static int mark_out_begin(struct mjob *m, struct job_out *o)
{
	int rc = job_out_begin(m->a, m->pk, o, "stream", XCODE_STREAM_HEAD, NULL, &m->err);

	if (rc == 0)
		am_strlcpy(o->o.content_type, "audio/mp4", sizeof(o->o.content_type));
	return rc;
}

static int src_read_at(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	return am1_reader_pread(ctx, off, buf, n, got);
}

/* The layout: body bytes from XCODE_OVERVIEW_HEAD on, then the head. */
static int layout_write(void *ctx, const void *p, size_t n)
{
	struct mjob *m = ctx;

	if (m->layout_n + n > LAYOUT_MAX - XCODE_OVERVIEW_HEAD)
		return AM_ERR_TOOBIG;
	memcpy(m->layout + XCODE_OVERVIEW_HEAD + m->layout_n, p, n);
	m->layout_n += n;
	return 0;
}

static int layout_head(void *ctx, const void *p, size_t n)
{
	struct mjob *m = ctx;

	if (n > XCODE_OVERVIEW_HEAD || (m->layout_n > 0 && n != XCODE_OVERVIEW_HEAD))
		return AM_ERR_INVAL;
	memcpy(m->layout, p, n);
	if (m->layout_n == 0)
		m->layout_head = n;
	else
		m->layout_head = XCODE_OVERVIEW_HEAD;
	return 0;
}

static int on_progress(void *ctx, double f)
{
	return worker_job_heartbeat(((struct mjob *)ctx)->j) != 0;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The span map from the child's unit sizes (untrusted: checked against
 * the renditions' size): at 44.1 kHz with the encoder's priming of one
 * unit, unit i is centred on sample 1024 i, so units 6g .. 6g + 5 are
 * fragment g, slot g mod 204 (docs/watermark.md "Which access units are
 * which fragment"). Encoded as spans of { u64 cut, u16 slot } little
 * endian, then the u64 end of the last unit. */
static int build_spans(const struct mjob *m, uint8_t **out, size_t *out_n)
{
	size_t len = m->layout_n ? XCODE_OVERVIEW_HEAD + m->layout_n : m->layout_head;
	size_t units = len / 4, spans = (units + UNITS_PER_FRAGMENT - 1) / UNITS_PER_FRAGMENT;
	uint64_t off = XCODE_AB_DATA_AT;
	uint8_t *b, *p;

	*out = NULL;
	if (len % 4 || units == 0 || m->out[0].o.plain_size != m->out[1].o.plain_size ||
	    spans * 10 + 8 > DB_VMARK_SPANS_MAX || !(b = p = malloc(spans * 10 + 8)))
		return AM_ERR_INVAL;
	for (size_t i = 0; i < units; i++) {
		uint32_t s;

		memcpy(&s, m->layout + 4 * i, 4);
		if (i % UNITS_PER_FRAGMENT == 0) {
			put_le(p, off, 8);
			put_le(p + 8, (i / UNITS_PER_FRAGMENT) % WM_CODED_BITS, 2);
			p += 10;
		}
		if (s == 0 || s > 65536)
			break;
		off += s;
	}
	put_le(p, off, 8);
	if (p + 8 != b + spans * 10 + 8 || off > (uint64_t)m->out[0].o.plain_size) {
		free(b);
		return AM_ERR_INVAL;
	}
	*out = b;
	*out_n = spans * 10 + 8;
	return 0;
}

/* Objects, span map and the job's completion in one transaction. */
static int record(struct mjob *m)
{
	struct db_vmark vm;
	struct db *db = NULL;
	int rc;

	memset(&vm, 0, sizeof(vm));
	if ((rc = build_spans(m, &vm.spans, &vm.spans_len)))
		return fail(m->j, rc, "the marked renditions' layout is inconsistent", 0);
	memcpy(vm.version_id, m->version, 16);
	memcpy(vm.a_id, m->out[0].o.id, 16);
	memcpy(vm.b_id, m->out[1].o.id, 16);
	vm.strength = m->strength;
	if ((rc = app_db_get(m->a, &db)))
		goto out;
	if ((rc = db_begin_write(db)))
		goto out;
	rc = db_job_complete(db, m->j->job->id, m->j->worker);
	for (int i = 0; i < 2 && rc == 0; i++)
		if ((rc = db_object_create(db, m->project, &m->out[i].o)) == 0)
			rc = db_object_ready(db, m->project, m->out[i].o.id, m->out[i].o.plain_size,
					     m->out[i].o.cipher_size);
	if (rc == 0)
		rc = db_vmark_put(db, m->project, &vm);
	if (rc == 0)
		rc = db_commit(db);
	else
		db_rollback(db);
	if (rc == AM_ERR_CONFLICT)
		m->j->lease_lost = 1;
out:
	if (db)
		app_db_put(m->a, db);
	db_vmark_cleanup(&vm);
	m->j->completed = rc == 0;
	return rc;
}

/* The key-less pattern seed of the project's watermark key (zero it). */
static int seed_of(struct mjob *m, uint8_t seed[WM_SEED_BYTES])
{
	struct crypto_wm_key *wk = NULL;
	int rc = crypto_wm_key_project(m->pk, &wk);

	if (rc == 0)
		rc = wm_pattern_seed(wk, seed);
	crypto_wm_key_free(wk);
	return rc;
}

/* For the operator and docs/transcoding.md "Marked renditions": the
 * child's peak memory and CPU time. */
static void log_done(const struct worker_job *j, const struct xcode_result *res)
{
	char rss[24], cu[24], cs[24], dur[24];

	snprintf(rss, sizeof(rss), "%lld", (long long)res->child_maxrss_kib);
	snprintf(cu, sizeof(cu), "%lld", (long long)res->child_user_ms);
	snprintf(cs, sizeof(cs), "%lld", (long long)res->child_sys_ms);
	snprintf(dur, sizeof(dur), "%lld", (long long)res->duration_ms);
	am_log(AM_LOG_INFO, "mark_ab_done", "worker", j->worker, "duration_ms", dur,
	       "child_peak_kib", rss, "child_user_ms", cu, "child_sys_ms", cs);
}

static int run(struct mjob *m, uint8_t seed[WM_SEED_BYTES])
{
	struct worker_job *j = m->j;
	struct xcode_params xp;
	struct xcode_source src = {src_read_at, am1_reader_size(m->rd), m->rd};
	struct xcode_sink sa = {job_out_sink_write, job_out_sink_head, &m->out[0]};
	struct xcode_sink sb = {job_out_sink_write, job_out_sink_head, &m->out[1]};
	struct xcode_sink sl = {layout_write, layout_head, m};
	struct xcode_result res;
	int rc;

	if ((rc = seed_of(m, seed)))
		return fail(j, rc, R_INTERNAL, 0);
	if (!(m->layout = malloc(LAYOUT_MAX)))
		return fail(j, AM_ERR_NOMEM, R_INTERNAL, 0);
	if ((rc = mark_out_begin(m, &m->out[0])) || (rc = mark_out_begin(m, &m->out[1])))
		return fail(j, rc, R_STORAGE, 0);
	memset(&xp, 0, sizeof(xp));
	xp.output = XCODE_OUT_AB;
	xp.progress = on_progress;
	xp.progress_ctx = m;
	xp.exec_path = j->exec_path;
	xp.cancel = j->cancel;
	xp.max_work = (uint64_t)m->a->conf.max_decode_samples;
	xp.wm_seed = seed;
	xp.wm_strength = (float)m->strength / 1000.0f;
	rc = xcode_run(&xp, &src, &sa, &sb, &sl, &res);
	j->child_maxrss_kib = res.child_maxrss_kib > 0 ? res.child_maxrss_kib : 0;
	if (rc || res.fail != XCODE_OK) {
		am_log(AM_LOG_WARN, "mark_ab_failed", "worker", j->worker, "reason", res.reason,
		       "detail", res.detail);
		if (j->lease_lost)
			return AM_ERR_CONFLICT;
		return fail(j, rc ? rc : AM_ERR_INTERNAL, res.reason,
			    !xcode_fail_retryable(res.fail));
	}
	for (int i = 0; i < 2; i++)
		if ((rc = job_out_commit(&m->out[i], &m->err)))
			return fail(j, rc, R_STORAGE, 0);
	log_done(j, &res);
	return 0;
}

int worker_mark_ab(struct worker_job *j)
{
	struct mjob *m = calloc(1, sizeof(*m));
	uint8_t *seed = am_secret_alloc(WM_SEED_BYTES);
	int rc;

	if (!m || !seed) {
		rc = fail(j, AM_ERR_NOMEM, R_INTERNAL, 0);
		goto out;
	}
	m->j = j;
	m->a = j->app;
	if ((rc = parse_payload(m))) {
		fail(j, rc, R_INTERNAL, 1);
		goto out;
	}
	if ((rc = open_input(m)) == 1) {
		rc = 0; /* nothing to do: the loop completes the job */
		goto out;
	}
	if (rc == 0 && (rc = run(m, seed)) == 0 && (rc = record(m)) && !j->reason[0])
		fail(j, rc, R_STORAGE, 0);
out:
	if (m) {
		for (int i = 0; i < 2; i++)
			job_out_cleanup(m->a, &m->out[i], j->completed);
		am1_reader_free(m->rd);
		store_reader_close(m->sr);
		crypto_pk_free(m->pk);
		free(m->layout);
	}
	am_secret_free(seed, WM_SEED_BYTES);
	free(m);
	return rc;
}
