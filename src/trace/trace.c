/*
 * trace.c: the tracer's keyed side (trace.h, docs/watermark.md "Tracer"):
 * the project's watermark key, the seed to the sandboxed child, the tag
 * check on the candidates it returns, the payload map. Runs in the trusted
 * process that holds the master key (the operator's command or the media
 * role); the suspect file is parsed only by the exec'd child.
 */
#include "trace/trace.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "util/util.h"
#include "watermark/watermark.h"

static int null_write(void *ctx, const void *p, size_t n)
{
	return n ? AM_ERR_INVAL : 0; /* the detect mode writes no output */
}

/* The child's half: decode, detect (key-less), candidates back. */
static int run_child(const struct crypto_wm_key *wk, const struct xcode_source *src,
		     const struct trace_params *tp, struct xcode_result *xr)
{
	struct xcode_sink none = {.write = null_write, .patch_head = null_write};
	uint8_t *seed = am_secret_alloc(WM_SEED_BYTES);
	struct xcode_params xp;
	int rc;

	if (!seed)
		return AM_ERR_NOMEM;
	memset(&xp, 0, sizeof(xp));
	xp.output = XCODE_OUT_WM_DETECT;
	xp.exec_path = tp->exec_path;
	xp.timeout_ms = tp->timeout_ms > 0 ? tp->timeout_ms : 120000;
	xp.max_duration_s = tp->max_duration_s > 0 ? tp->max_duration_s : 3600;
	xp.max_output = 1;
	xp.cancel = tp->cancel;
	xp.wm_seed = seed;
	if ((rc = wm_pattern_seed(wk, seed)) == 0)
		rc = xcode_run(&xp, src, &none, &none, &none, xr);
	am_secret_free(seed, WM_SEED_BYTES);
	return rc;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

/* The mark row of payload, only if its opened payload is the decoded one. */
static int name_of(struct app *a, struct db *db, const struct db_project *p,
		   const struct crypto_wm_key *wk, const uint8_t payload[WM_PAYLOAD_BYTES],
		   struct trace_answer *out)
{
	uint8_t lookup[DB_MARK_LOOKUP_LEN];
	struct db_link l;
	struct db_mark m;
	int rc;

	/* crypto.md "Mark lookup": the label of api_mark_lookup (src/api/). */
	if ((rc = crypto_wm_prf(wk, "am-wm-lookup-v1", payload, WM_PAYLOAD_BYTES, lookup,
				sizeof(lookup))) != 0)
		return rc;
	rc = db_mark_find(db, a->keys, p->id, lookup, &m);
	if (rc == AM_ERR_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (!am_ct_eq(m.payload, payload, WM_PAYLOAD_BYTES) ||
	    memcmp(m.project_id, p->id, DB_ID_LEN) != 0)
		goto out;
	hex(m.link_id, DB_ID_LEN, out->link_id);
	am_strlcpy(out->reviewer, m.name, sizeof(out->reviewer));
	out->first_access = m.first_access;
	rc = db_link_get(db, a->keys, p->id, m.link_id, &l);
	if (rc == 0)
		am_strlcpy(out->link_label, l.label, sizeof(out->link_label));
	else if (rc != AM_ERR_NOTFOUND)
		goto out;
	am_memzero(&l, sizeof(l)); /* its token */
	rc = 0;
	out->found = 1;
out:
	am_memzero(&m, sizeof(m));
	return rc;
}

int trace_run(struct app *a, struct db *db, const struct db_project *p,
	      const struct xcode_source *src, const struct trace_params *tp,
	      struct trace_answer *out, struct xcode_result *xr)
{
	struct xcode_result own;
	struct crypto_pk *pk = NULL;
	struct crypto_wm_key *wk = NULL;
	struct wm_pattern *pat = NULL;
	struct wm_result res;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&own, 0, sizeof(own));
	if (!xr)
		xr = &own;
	memset(xr, 0, sizeof(*xr));
	if (!tp || !tp->exec_path)
		return AM_ERR_INVAL;
	if ((rc = crypto_pk_open(a->kr, p->id, p->wrapped_pk, p->wrapped_pk_len, &pk)) ||
	    (rc = crypto_wm_key_project(pk, &wk)) || (rc = wm_pattern_new(wk, &pat)))
		goto out;
	if ((rc = run_child(wk, src, tp, xr)) != 0)
		goto out;
	out->duration_ms = xr->duration_ms;
	if ((rc = wm_decide(pat, &xr->wm, &res)) != 0)
		goto out;
	out->sync_z = res.sync_z;
	if (!res.found)
		goto out;
	out->confidence = res.confidence;
	out->offset_s = res.offset_s;
	rc = name_of(a, db, p, wk, res.payload, out);
	am_memzero(&res, sizeof(res));
out:
	if (rc != 0)
		out->found = 0;
	wm_pattern_free(pat);
	crypto_wm_key_free(wk);
	crypto_pk_free(pk);
	return rc;
}

char *trace_answer_json(const struct trace_answer *t)
{
	char when[32] = "";
	struct tm tm;
	time_t s = (time_t)(t->first_access / 1000);
	json_t *o;
	char *text;

	if (!t->found)
		o = json_pack("{s:b,s:f}", "found", 0, "sync_z", t->sync_z);
	else {
		if (gmtime_r(&s, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		o = json_pack("{s:b,s:{s:s,s:s},s:s,s:s,s:I,s:f,s:f}", "found", 1, "link", "id",
			      t->link_id, "label", t->link_label, "reviewer", t->reviewer,
			      "first_access", when, "first_access_ms", (json_int_t)t->first_access,
			      "confidence", t->confidence, "sync_z", t->sync_z);
	}
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}
