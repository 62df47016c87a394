/*
 * job_align.c: the transcode job's last step for A/B (issue 22): read the
 * new version's waveform peaks and those of the track's previous ready
 * version out of the store (AM1, decrypted with the project key), build
 * their envelopes and line them up (align.c), giving the new version its
 * offset, its place on the track's common timeline and whether it matched.
 *
 * Runs in the worker (trusted, holds the project key) after the child has
 * exited; the peaks it reads were written by that sandboxed child and are
 * parsed with bounds (align.c). Nothing here fails the job: an offset that
 * cannot be computed stays unknown (NULL) and is logged.
 */
#include "worker/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "repo/repo.h"
#include "store/store.h"
#include "util/util.h"

/* Read exactly n bytes at off (short only at the object's end: *got). */
static int read_full(struct am1_reader *rd, uint64_t off, uint8_t *buf, size_t n, size_t *got)
{
	size_t k = 0;
	int rc = 0;

	*got = 0;
	while (*got < n && (rc = am1_reader_pread(rd, off + *got, buf + *got, n - *got, &k)) == 0 &&
	       k > 0)
		*got += k;
	return rc;
}

/* The envelope of one peaks object. */
static int object_envelope(struct app *a, const struct crypto_pk *pk, const struct db_object *o,
			   struct align_env *env)
{
	struct store_reader *sr = NULL;
	struct am1_reader *rd = NULL;
	struct am1_source src;
	struct align_dat d;
	uint8_t head[24], *body = NULL;
	size_t got = 0, want;
	int rc;

	if ((rc = store_reader_open_seq(a->store, o->store_key, &sr, NULL)))
		goto out;
	store_am1_source(sr, &src);
	if ((rc = crypto_pk_reader_open(pk, o->id, o->wrapped_dek, o->wrapped_dek_len, &src,
					(uint64_t)o->plain_size, &rd)) ||
	    (rc = read_full(rd, 0, head, sizeof(head), &got)))
		goto out;
	if ((rc = align_dat_header(head, got, &d)))
		goto out;
	want = align_dat_pixels_wanted(&d) * d.channels * 4;
	if (!(body = malloc(want ? want : 1))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	if ((rc = read_full(rd, sizeof(head), body, want, &got)))
		goto out;
	rc = align_envelope(&d, body, got, env);
out:
	free(body);
	am1_reader_free(rd);
	store_reader_close(sr);
	return rc;
}

struct prev_pick {
	int64_t number;
	struct db_version best;
	int found;
};

static int pick_prev(void *ctx, const struct db_version *v)
{
	struct prev_pick *p = ctx;

	if (v->number < p->number && strcmp(v->state, "ready") == 0 &&
	    (!p->found || v->number > p->best.number)) {
		p->best = *v;
		p->found = 1;
	}
	return 0;
}

/* The previous ready version of v's track and its peaks object. */
static int find_prev(struct app *a, const uint8_t project[16], const struct db_version *me,
		     struct prev_pick *pp, struct db_object *peaks)
{
	struct db *db = NULL;
	int rc;

	memset(pp, 0, sizeof(*pp));
	pp->number = me->number;
	if ((rc = app_db_get(a, &db)))
		return rc;
	rc = db_version_list(db, a->keys, project, me->track_id, pick_prev, pp);
	if (rc == 0 && pp->found)
		rc = db_object_find(db, project, pp->best.id, "peaks", peaks);
	app_db_put(a, db);
	return rc;
}

static void log_align(const char *event, const struct db_version *v, double corr, int rc)
{
	char off[24], c[24], num[24];

	snprintf(off, sizeof(off), "%lld", (long long)v->offset_ms);
	snprintf(c, sizeof(c), "%.3f", corr);
	snprintf(num, sizeof(num), "%lld", (long long)v->number);
	am_log(rc ? AM_LOG_WARN : AM_LOG_INFO, event, "version", num, "offset_ms", off, "corr", c,
	       "error", rc ? am_strerror(rc) : NULL);
}

void worker_align_version(struct app *a, const struct crypto_pk *pk, const uint8_t project[16],
			  const struct db_object *peaks, struct db_version *v)
{
	struct align_env ea = {0}, eb = {0};
	struct align_result r = {0};
	struct prev_pick pp;
	struct db_object prev_peaks;
	int rc;

	v->offset_state = -1;
	v->offset_ms = v->sync_ms = 0;
	if ((rc = find_prev(a, project, v, &pp, &prev_peaks)))
		goto out;
	if (!pp.found) {
		v->offset_state = DB_OFFSET_FIRST;
		goto out;
	}
	if ((rc = object_envelope(a, pk, &prev_peaks, &ea)) ||
	    (rc = object_envelope(a, pk, peaks, &eb)) || (rc = align_offset(&ea, &eb, &r)))
		goto out;
	v->offset_state = r.matched ? DB_OFFSET_MATCHED : DB_OFFSET_UNMATCHED;
	v->offset_ms = r.offset_ms;
	/* An earlier version whose own place is unknown (transcoded before
	 * schema v13) counts as the timeline's start. */
	v->sync_ms = (pp.best.offset_state >= 0 ? pp.best.sync_ms : 0) + r.offset_ms;
out:
	log_align(rc ? "align_failed" : "align_done", v, r.corr, rc);
	align_env_free(&ea);
	align_env_free(&eb);
	am_memzero(&pp, sizeof(pp));
}
