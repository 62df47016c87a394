/*
 * api_guest_jw.c: the review page's tracks and head written straight into
 * the answer (issue 25, third pass: building the tracks as jansson objects,
 * dumping and freeing them cost about 1.1 M of an uncached answer's 5.5 M
 * instructions). The model (struct api_gtracks) is read once per build and
 * also feeds the jansson writer of api_track.c, whose text this file's
 * writer gives byte for byte (tests/unit/api/test_api.c
 * test_gtracks_write). Each URL is written as its origin and its view-cache
 * slot records where the signed path goes: no marker to find afterwards.
 * Runs in the web process on rows of our database (titles are user text:
 * escaped, never trusted to be UTF-8).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "api/api_int.h"
#include "repo/repo.h"

/* Bounds a corrupt table, as api_media_index.c's. */
#define GTRACKS_MAX 100000
/* A version's JSON but its strings: keys, ids, numbers, media keys. */
#define VERSION_FIXED_MAX 1024
/* A track's JSON but its title. */
#define TRACK_FIXED_MAX 256

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? 2 * *cap : 16;
	void *p;

	if (n < *cap)
		return 0;
	if (c > GTRACKS_MAX || !(p = realloc(*v, c * size)))
		return AM_ERR_NOMEM;
	*v = p;
	*cap = c;
	return 0;
}

static int track_in(void *ctx, const struct db_track *t)
{
	struct api_gtracks *m = ctx;
	int rc = grow((void **)&m->t, &m->tcap, m->nt, sizeof(*m->t));

	if (rc == 0)
		m->t[m->nt++] = *t;
	return rc;
}

static int version_in(void *ctx, const struct db_version *v)
{
	struct api_gtracks *m = ctx;
	int rc;

	if (strcmp(v->state, "ready") != 0)
		return 0;
	if ((rc = grow((void **)&m->v, &m->vcap, m->nv, sizeof(*m->v))) == 0)
		m->v[m->nv++] = *v;
	return rc;
}

int api_gtracks_load(struct api_ctx *c, const struct db_keys *k, const uint8_t pid[DB_ID_LEN],
		     struct api_gtracks *m)
{
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = api_media_index_load(c, pid, &m->ix)) ||
	    (rc = db_track_list(c->db, k, pid, track_in, m)) ||
	    (rc = db_version_list(c->db, k, pid, NULL, version_in, m)) ||
	    (rc = api_gtracks_group(m)))
		api_gtracks_free(m);
	return rc;
}

struct tkey {
	uint8_t id[DB_ID_LEN];
	size_t i;
};

static int tkey_cmp(const void *a, const void *b)
{
	return memcmp(((const struct tkey *)a)->id, ((const struct tkey *)b)->id, DB_ID_LEN);
}

/* Track index of each version (SIZE_MAX: not a listed track), then a
 * stable counting sort: a track's versions keep the listing's order. */
int api_gtracks_group(struct api_gtracks *m)
{
	struct tkey *keys = calloc(m->nt ? m->nt : 1, sizeof(*keys)), *hit, probe;
	size_t *ti = calloc(m->nv ? m->nv : 1, sizeof(*ti)),
	       *fill = calloc(m->nt + 1, sizeof(*fill));
	int rc = AM_ERR_NOMEM;

	free(m->order);
	free(m->first);
	m->order = calloc(m->nv ? m->nv : 1, sizeof(*m->order));
	m->first = calloc(m->nt + 1, sizeof(*m->first));
	if (!keys || !ti || !fill || !m->order || !m->first)
		goto out;
	for (size_t i = 0; i < m->nt; i++) {
		memcpy(keys[i].id, m->t[i].id, DB_ID_LEN);
		keys[i].i = i;
	}
	qsort(keys, m->nt, sizeof(*keys), tkey_cmp);
	for (size_t j = 0; j < m->nv; j++) {
		memcpy(probe.id, m->v[j].track_id, DB_ID_LEN);
		hit = m->nt ? bsearch(&probe, keys, m->nt, sizeof(*keys), tkey_cmp) : NULL;
		ti[j] = hit ? hit->i : SIZE_MAX;
		if (hit)
			m->first[hit->i + 1]++;
	}
	for (size_t i = 0; i < m->nt; i++)
		m->first[i + 1] += m->first[i];
	for (size_t j = 0; j < m->nv; j++)
		if (ti[j] != SIZE_MAX)
			m->order[m->first[ti[j]] + fill[ti[j]]++] = j;
	rc = 0;
out:
	free(keys);
	free(ti);
	free(fill);
	return rc;
}

void api_gtracks_free(struct api_gtracks *m)
{
	free(m->t);
	free(m->v);
	free(m->order);
	free(m->first);
	api_media_index_free(&m->ix);
	memset(m, 0, sizeof(*m));
}

/* The integrated loudness, when measured. */
static int lufs_of(const struct db_version *v, double *l)
{
	struct db_meter mt[DB_METERS_MAX];
	size_t n = db_version_meters(v, mt);

	if (n == 0 || mt[0].reason)
		return 0;
	*l = mt[0].value;
	return 1;
}

int api_gtracks_gain(const struct api_gtracks *m, size_t i, const struct db_version *v,
		     double *gain)
{
	double min = 1e9, l, own;

	if (!lufs_of(v, &own))
		return 0;
	for (size_t k = m->first[i]; k < m->first[i + 1]; k++)
		if (lufs_of(&m->v[m->order[k]], &l) && l < min)
			min = l;
	*gain = round((min - own) * 10.0) / 10.0;
	return 1;
}

int api_url_slot_add(struct api_url_slots *us, const uint8_t oid[DB_ID_LEN], int download,
		     size_t off)
{
	struct api_view_slot *v;
	size_t cap;

	if (us->n == us->cap) {
		cap = us->cap ? 2 * us->cap : 16;
		if (cap > UINT32_MAX || !(v = realloc(us->v, cap * sizeof(*v))))
			return AM_ERR_NOMEM;
		us->v = v;
		us->cap = cap;
	}
	v = &us->v[us->n++];
	v->off = off;
	memcpy(v->object_id, oid, DB_ID_LEN);
	v->download = download;
	return 0;
}

/* ---- the direct writer ---------------------------------------------------------------- */

/* Room for one meter: its key twice (with "_reason"), its reason, a real. */
static size_t meter_max(const struct db_meter *mt)
{
	return 16 + 2 * API_JW_STR_MAX(strlen(mt->name)) + API_JW_REAL_MAX +
	       (mt->reason ? API_JW_STR_MAX(strlen(mt->reason)) : 0);
}

/* ,"name":real or ,"name":null,"name_reason":"why" (set_meters'). */
static char *meter_raw(char *p, const struct db_meter *mt)
{
	size_t n = strlen(mt->name);

	*p++ = ',';
	p = api_jw_raw_str(p, mt->name, n);
	*p++ = ':';
	if (!mt->reason)
		return api_jw_raw_real(p, mt->value);
	p = API_JW_LIT(p, "null,\"");
	memcpy(p, mt->name, n);
	p = API_JW_LIT(p + n, "_reason\":");
	return api_jw_raw_str(p, mt->reason, strlen(mt->reason));
}

/* A URL: null without the object, else its origin as a string and its
 * slot at the closing quote. NULL with *rc on failure. */
static char *url_raw(char *p, const char *base, const struct api_gtracks *m,
		     const struct api_gtracks_out *o, const uint8_t vid[DB_ID_LEN],
		     const char *kind, int download, int *rc)
{
	const uint8_t *oid = api_media_index_find(&m->ix, vid, kind);

	if (!oid)
		return API_JW_LIT(p, "null");
	if (!(p = api_jw_raw_str(p, o->public_url, strlen(o->public_url)))) {
		*rc = AM_ERR_INTERNAL;
		return NULL;
	}
	*rc = api_url_slot_add(o->slots, oid, download, (size_t)(p - 1 - base));
	return *rc ? NULL : p;
}

/* ,"media":{...} of version v (media_json's fields). */
static char *media_raw(char *p, const char *base, const struct api_gtracks *m,
		       const struct api_gtracks_out *o, const struct db_version *v, int *rc)
{
	p = API_JW_LIT(p, ",\"media\":{\"stream\":");
	if (!(p = url_raw(p, base, m, o, v->id, "stream", 0, rc)))
		return NULL;
	p = API_JW_LIT(p, ",\"peaks\":");
	if (!(p = url_raw(p, base, m, o, v->id, "peaks", 0, rc)))
		return NULL;
	p = API_JW_LIT(p, ",\"download\":");
	if (!(o->p->downloads || o->g->owner))
		p = API_JW_LIT(p, "null");
	else if (!(p = url_raw(p, base, m, o, v->id, "original", 1, rc)))
		return NULL;
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"expires\":"), o->expires);
	*p++ = '}';
	return p;
}

/* The facts, alignment and meters (version_json's optional fields). */
static char *facts_raw(char *p, const struct db_version *v, const struct db_meter *mt, size_t nm)
{
	static const char *const names[] = {"first", "matched", "unmatched"};

	if (v->sample_rate <= 0)
		return p;
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"duration_ms\":"), v->duration_ms);
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"sample_rate\":"), v->sample_rate);
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"channels\":"), v->channels);
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"bit_depth\":"), v->bit_depth);
	if (v->offset_state >= 0 && v->offset_state <= 2) {
		p = api_jw_raw_i64(API_JW_LIT(p, ",\"offset_ms\":"), v->offset_ms);
		p = api_jw_raw_i64(API_JW_LIT(p, ",\"sync_ms\":"), v->sync_ms);
		p = API_JW_LIT(p, ",\"offset_match\":");
		p = api_jw_raw_str(p, names[v->offset_state], strlen(names[v->offset_state]));
	}
	for (size_t i = 0; p && i < nm; i++)
		p = meter_raw(p, &mt[i]);
	return p;
}

/* Version v of track ti, in one reservation. */
static int version_write(struct am_buf *b, const struct api_gtracks *m,
			 const struct api_gtracks_out *o, size_t ti, const struct db_version *v)
{
	struct db_meter mt[DB_METERS_MAX];
	size_t nm = o->p->show_loudness ? db_version_meters(v, mt) : 0, ns = strlen(v->state);
	size_t need =
	    VERSION_FIXED_MAX + API_JW_STR_MAX(ns) + 3 * API_JW_STR_MAX(strlen(o->public_url));
	double gain = 0;
	int has_gain = !o->p->show_loudness && api_gtracks_gain(m, ti, v, &gain);
	int rc = AM_ERR_INTERNAL;
	char *p, *base;

	for (size_t i = 0; i < nm; i++)
		need += meter_max(&mt[i]);
	if ((rc = am_buf_reserve(b, need)))
		return rc;
	base = (char *)b->p;
	p = api_jw_raw_id(API_JW_LIT(base + b->len, "{\"id\":"), v->id);
	p = api_jw_raw_id(API_JW_LIT(p, ",\"track_id\":"), v->track_id);
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"number\":"), v->number);
	rc = AM_ERR_INTERNAL;
	if (!(p = api_jw_raw_str(API_JW_LIT(p, ",\"state\":"), v->state, ns)))
		return rc;
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"progress\":"), v->progress);
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"created\":"), v->created);
	if (!(p = facts_raw(p, v, mt, nm)) || !(p = media_raw(p, base, m, o, v, &rc)))
		return rc;
	if (has_gain && !(p = api_jw_raw_real(API_JW_LIT(p, ",\"match_gain_db\":"), gain)))
		return AM_ERR_INTERNAL;
	*p++ = '}';
	b->len = (size_t)(p - base);
	b->p[b->len] = 0;
	return 0;
}

/* {"id":...,"title":...,"position":...,"created":...,"versions":[ */
static int track_open(struct am_buf *b, const struct db_track *t)
{
	size_t nt = strlen(t->title);
	char *p;
	int rc;

	if ((rc = am_buf_reserve(b, TRACK_FIXED_MAX + API_JW_STR_MAX(nt))))
		return rc;
	p = api_jw_raw_id(API_JW_LIT((char *)b->p + b->len, "{\"id\":"), t->id);
	if (!(p = api_jw_raw_str(API_JW_LIT(p, ",\"title\":"), t->title, nt)))
		return AM_ERR_INTERNAL;
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"position\":"), t->position);
	p = api_jw_raw_i64(API_JW_LIT(p, ",\"created\":"), t->created);
	p = API_JW_LIT(p, ",\"versions\":[");
	b->len = (size_t)(p - (char *)b->p);
	b->p[b->len] = 0;
	return 0;
}

int api_gtracks_write(const struct api_gtracks *m, const struct api_gtracks_out *o,
		      struct am_buf *b)
{
	size_t start = b->len, nslots = o->slots->n, k;
	int rc = am_buf_append(b, "[", 1);

	for (size_t i = 0; rc == 0 && i < m->nt; i++) {
		if ((i && (rc = am_buf_append(b, ",", 1))) || (rc = track_open(b, &m->t[i])))
			break;
		for (k = m->first[i]; rc == 0 && k < m->first[i + 1]; k++)
			if (k == m->first[i] || (rc = am_buf_append(b, ",", 1)) == 0)
				rc = version_write(b, m, o, i, &m->v[m->order[k]]);
		if (rc == 0)
			rc = am_buf_append(b, "]}", 2);
	}
	if (rc == 0 && (rc = am_buf_append(b, "]", 1)) == 0)
		return 0;
	if (b->p) { /* nothing appended: the partial text wiped (titles are user text) */
		am_memzero(b->p + start, b->alloc - start);
		b->len = start;
	}
	o->slots->n = nslots;
	return rc;
}

int api_view_head_write(struct am_buf *b, const struct db_project *p)
{
	size_t nt = strlen(p->title);
	char *w;
	int rc;

	if ((rc = am_buf_reserve(b, 160 + API_JW_STR_MAX(nt))))
		return rc;
	w = API_JW_LIT((char *)b->p + b->len, "{\"project\":{\"title\":");
	if (!(w = api_jw_raw_str(w, p->title, nt))) {
		b->p[b->len] = 0;
		return AM_ERR_INTERNAL;
	}
	w = api_jw_raw_bool(API_JW_LIT(w, ",\"downloads\":"), p->downloads);
	w = api_jw_raw_bool(API_JW_LIT(w, ",\"show_loudness\":"), p->show_loudness);
	w = api_jw_raw_bool(API_JW_LIT(w, ",\"has_password\":"), p->has_password);
	w = api_jw_raw_bool(API_JW_LIT(w, ",\"marked\":"), p->mark_on);
	w = API_JW_LIT(w, "},");
	b->len = (size_t)(w - (char *)b->p);
	b->p[b->len] = 0;
	return 0;
}
