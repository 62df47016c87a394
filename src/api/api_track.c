/*
 * api_track.c: tracks and their versions over the API: the JSON both the
 * owner and the guest views build on (the guest view with fresh signed
 * media URLs from src/access/), track create/rename/reorder/delete, and the
 * start of an upload (a new version plus a signed upload URL for the media
 * role, which alone touches audio bytes), and the owner's own playback URLs.
 * A browser sends the first bytes of its file ("head") with the new track and
 * the new upload: a file that is not audio is refused (415, with what it
 * is) before any track or version exists. Runs in the web process; ids are
 * client input, always looked up inside the credential's project; "head" is
 * untrusted bytes, only sniffed (the media role sniffs the upload itself
 * again).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "api/api_int.h"
#include "crypto/crypto.h"
#include "repo/repo.h"
#include "upload/upload.h"

/* The meters (db_version_meters): name = the figure, or null with
 * name_reason saying why. */
static int set_meters(json_t *j, const struct db_version *v)
{
	struct db_meter m[DB_METERS_MAX];
	size_t n = db_version_meters(v, m);
	char key[64];

	for (size_t i = 0; i < n; i++) {
		if (!m[i].reason) {
			if (api_set(j, m[i].name, json_real(m[i].value)))
				return -1;
			continue;
		}
		snprintf(key, sizeof(key), "%s_reason", m[i].name);
		if (api_set(j, m[i].name, json_null()) || api_set(j, key, json_string(m[i].reason)))
			return -1;
	}
	return 0;
}

/* The A/B alignment (schema v13), once the worker computed it. */
static int set_offset(json_t *j, const struct db_version *v)
{
	static const char *const names[] = {"first", "matched", "unmatched"};

	if (v->offset_state < 0 || v->offset_state > 2)
		return 0;
	return api_set(j, "offset_ms", json_integer(v->offset_ms)) ||
	       api_set(j, "sync_ms", json_integer(v->sync_ms)) ||
	       api_set(j, "offset_match", json_string(names[v->offset_state]));
}

/* A version's JSON; the meters only when meters is set (a guest sees them
 * while the owner shows loudness to reviewers). */
static json_t *version_json(const struct db_version *v, int meters)
{
	json_t *j =
	    json_pack("{s:o,s:o,s:I,s:s,s:I,s:I}", "id", api_id_json(v->id), "track_id",
		      api_id_json(v->track_id), "number", (json_int_t)v->number, "state", v->state,
		      "progress", (json_int_t)v->progress, "created", (json_int_t)v->created);

	/* The facts exist once a sample rate is known (a one-sample file
	 * lasts 0 ms, and still has them). */
	if (j && v->sample_rate > 0 &&
	    (api_set(j, "duration_ms", json_integer(v->duration_ms)) ||
	     api_set(j, "sample_rate", json_integer(v->sample_rate)) ||
	     api_set(j, "channels", json_integer(v->channels)) ||
	     api_set(j, "bit_depth", json_integer(v->bit_depth)) || set_offset(j, v) ||
	     (meters && set_meters(j, v)))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

json_t *api_version_json(const struct db_version *v)
{
	return version_json(v, 1);
}

/* An upload that has not moved for UPLOAD_IDLE_MS (no PATCH, no lease) was
 * abandoned: a closed tab, a reload, a lost connection. The version is shown
 * "interrupted" (docs/api.md): the dashboard offers to resume it (the same
 * file again) or remove it; upload_gc_abandoned fails it for good later. */
static int interrupted(const struct db_version *v)
{
	return strcmp(v->state, "uploading") == 0 &&
	       am_now_ms() - v->upload_active_ms > UPLOAD_IDLE_MS;
}

/* The owner also sees the file name and a failure reason. */
static json_t *owner_version_json(const struct db_version *v)
{
	json_t *j = api_version_json(v);
	int idle = interrupted(v);
	const char *error = idle ? UPLOAD_INTERRUPTED : v->error;

	if (j && ((idle && api_set(j, "state", json_string("interrupted"))) ||
		  api_set(j, "filename", json_string(v->filename)) ||
		  (error[0] && api_set(j, "error", json_string(error))))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* A version's signed media URL of a kind (one object query). */
static json_t *media_url(struct api_ctx *c, const struct access_grant *g,
			 const uint8_t pid[DB_ID_LEN], const uint8_t vid[DB_ID_LEN],
			 const char *kind, int download, int64_t expires)
{
	char path[ACCESS_URL_MAX], url[ACCESS_URL_MAX + CONF_STR_MAX];
	struct db_object o;

	if (db_object_find(c->db, pid, vid, kind, &o) != 0)
		return json_null();
	if (access_url_sign(c->api->app, g, o.id, download, expires, path, sizeof(path)) != 0)
		return json_null();
	snprintf(url, sizeof(url), "%s%s", c->api->app->conf.public_url, path);
	return json_string(url);
}

json_t *api_media_json(struct api_ctx *c, const struct access_grant *g, const struct db_project *p,
		       const uint8_t version_id[DB_ID_LEN], int64_t expires)
{
	return json_pack(
	    "{s:o,s:o,s:o,s:I}", "stream", media_url(c, g, p->id, version_id, "stream", 0, expires),
	    "peaks", media_url(c, g, p->id, version_id, "peaks", 0, expires), "download",
	    p->downloads || g->owner ? media_url(c, g, p->id, version_id, "original", 1, expires)
				     : json_null(),
	    "expires", (json_int_t)expires);
}

/* ---- the guest view, from its model (api_guest_jw.c) ---------------------------------- */

/* A version's media URL of a kind: signed now, or its view-cache slot
 * (the origin, o->slots->marker and the slot's index). */
static json_t *gmedia_url(const struct api_gtracks *m, const struct api_gtracks_out *o,
			  const uint8_t vid[DB_ID_LEN], const char *kind, int download)
{
	char path[ACCESS_URL_MAX], url[ACCESS_URL_MAX + CONF_STR_MAX + 48];
	const uint8_t *oid = api_media_index_find(&m->ix, vid, kind);

	if (!oid)
		return json_null();
	if (o->slots) {
		snprintf(url, sizeof(url), "%s%s%08zx", o->public_url, o->slots->marker,
			 o->slots->n);
		return api_url_slot_add(o->slots, oid, download, SIZE_MAX) ? NULL
									   : json_string(url);
	}
	if (access_url_sign(o->app, o->g, oid, download, o->expires, path, sizeof(path)) != 0)
		return json_null();
	snprintf(url, sizeof(url), "%s%s", o->public_url, path);
	return json_string(url);
}

static json_t *gmedia_json(const struct api_gtracks *m, const struct api_gtracks_out *o,
			   const struct db_version *v)
{
	json_t *st = gmedia_url(m, o, v->id, "stream", 0);
	json_t *pk = gmedia_url(m, o, v->id, "peaks", 0);
	json_t *dl =
	    o->p->downloads || o->g->owner ? gmedia_url(m, o, v->id, "original", 1) : json_null();

	return json_pack("{s:o,s:o,s:o,s:I}", "stream", st, "peaks", pk, "download", dl, "expires",
			 (json_int_t)o->expires);
}

/* Version v of track i: its facts (meters while the owner shows loudness,
 * else match_gain_db after the media) and media URLs. */
static json_t *gversion_json(const struct api_gtracks *m, const struct api_gtracks_out *o, size_t i,
			     const struct db_version *v)
{
	json_t *j = version_json(v, o->p->show_loudness);
	double gain;

	if (j && (api_set(j, "media", gmedia_json(m, o, v)) ||
		  (!o->p->show_loudness && api_gtracks_gain(m, i, v, &gain) &&
		   api_set(j, "match_gain_db", json_real(gain))))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

json_t *api_gtracks_json(const struct api_gtracks *m, const struct api_gtracks_out *o, int *rc)
{
	json_t *arr = json_array(), *vs, *t;
	const struct db_track *tr;

	*rc = AM_ERR_NOMEM;
	for (size_t i = 0; arr && i < m->nt; i++) {
		tr = &m->t[i];
		if (!(vs = json_array()))
			goto fail;
		for (size_t k = m->first[i]; k < m->first[i + 1]; k++)
			if (json_array_append_new(vs, gversion_json(m, o, i, &m->v[m->order[k]]))) {
				json_decref(vs);
				goto fail;
			}
		t = json_pack("{s:o,s:s,s:I,s:I,s:o}", "id", api_id_json(tr->id), "title",
			      tr->title, "position", (json_int_t)tr->position, "created",
			      (json_int_t)tr->created, "versions", vs);
		if (json_array_append_new(arr, t))
			goto fail;
	}
	if (arr)
		*rc = 0;
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

/* The owner's view: every version, with the tempo map and queue places. */
struct tracks_ctx {
	json_t *arr;   /* tracks */
	json_t *by_id; /* track hex id -> versions array */
	json_t *queue; /* version hex id -> place (api_queue.c) */
};

static int track_item(void *ctx, const struct db_track *t)
{
	struct tracks_ctx *tc = ctx;
	char hex[2 * DB_ID_LEN + 1], ts[16];
	json_t *versions = json_array();
	json_t *j = json_pack("{s:o,s:s,s:I,s:I,s:O}", "id", api_id_json(t->id), "title", t->title,
			      "position", (json_int_t)t->position, "created",
			      (json_int_t)t->created, "versions", versions);

	api_id_hex(t->id, hex);
	snprintf(ts, sizeof(ts), "%d/%d", (int)t->ts_num, (int)t->ts_den);
	/* the tempo map of the marker export */
	if (j && (api_set(j, "tempo_bpm", json_real((double)t->tempo_mbpm / 1000.0)) ||
		  api_set(j, "time_signature", json_string(ts)))) {
		json_decref(versions);
		json_decref(j);
		return AM_ERR_NOMEM;
	}
	if (!j || json_object_set_new(tc->by_id, hex, versions) ||
	    json_array_append_new(tc->arr, j)) {
		json_decref(j);
		return AM_ERR_NOMEM;
	}
	return 0;
}

static int version_item(void *ctx, const struct db_version *v)
{
	struct tracks_ctx *tc = ctx;
	char hex[2 * DB_ID_LEN + 1];
	json_t *arr, *j, *place;

	api_id_hex(v->track_id, hex);
	if (!(arr = json_object_get(tc->by_id, hex)))
		return 0;
	api_id_hex(v->id, hex);
	j = owner_version_json(v);
	place = strcmp(v->state, "queued") == 0 ? json_object_get(tc->queue, hex) : NULL;
	if (j && place && api_set(j, "queue_position", json_incref(place))) {
		json_decref(j);
		return AM_ERR_NOMEM;
	}
	return json_array_append_new(arr, j) ? AM_ERR_NOMEM : 0;
}

/* The guest view: its model read once, then jansson (api_gtracks_json). */
static int guest_tracks(struct api_ctx *c, const uint8_t pid[DB_ID_LEN],
			const struct api_guest_media *gm, json_t **out)
{
	struct api_gtracks_out o = {
	    c->api->app, c->api->app->conf.public_url, gm->g, gm->p, gm->expires, gm->slots};
	struct api_gtracks m;
	int rc;

	if ((rc = api_gtracks_load(c, c->api->app->keys, pid, &m)))
		return rc;
	*out = api_gtracks_json(&m, &o, &rc);
	api_gtracks_free(&m);
	return rc;
}

int api_tracks_json(struct api_ctx *c, const uint8_t pid[DB_ID_LEN],
		    const struct api_guest_media *gm, json_t **out)
{
	struct tracks_ctx tc = {NULL, NULL, NULL};
	const struct db_keys *k = c->api->app->keys;
	int rc = AM_ERR_NOMEM;

	*out = NULL;
	if (gm)
		return guest_tracks(c, pid, gm, out);
	if (!(tc.arr = json_array()) || !(tc.by_id = json_object()))
		goto out;
	if ((rc = api_queue_positions(c, pid, &tc.queue)) ||
	    (rc = db_track_list(c->db, k, pid, track_item, &tc)) ||
	    (rc = db_version_list(c->db, k, pid, NULL, version_item, &tc)))
		goto out;
	*out = tc.arr;
	tc.arr = NULL;
out:
	json_decref(tc.arr);
	json_decref(tc.by_id);
	json_decref(tc.queue);
	return rc;
}

/* ---- owner: tracks -------------------------------------------------------------------- */

#define API_HEAD_MAX 64 /* bytes of "head": the first bytes of the file */

/* Optional "head": base64url (no padding) of the file's first bytes, at
 * least UPLOAD_SNIFF_LEN of them (all of a shorter file). Not audio: 415 with
 * the reason (upload_refusal), before anything is created. */
static int head_check(struct api_ctx *c)
{
	uint8_t b[API_HEAD_MAX];
	const char *head = NULL, *ext, *ctype;
	size_t n = 0;
	int rc;

	if ((rc = api_str(c, "head", 1, 2 * API_HEAD_MAX, 0, &head)) || !head)
		return rc;
	if (crypto_b64url_decode(head, strlen(head), b, sizeof(b), &n) != 0)
		return api_err(
		    c, AM_ERR_INVAL,
		    "field \"head\" must be the file's first bytes (at most 64) in base64url");
	if (upload_sniff(b, n, &ext, &ctype) == 0)
		return 0;
	upload_refusal(b, n, c->msgbuf, sizeof(c->msgbuf));
	return api_err(c, n < UPLOAD_SNIFF_LEN ? AM_ERR_INVAL : AM_ERR_UNSUPPORTED, c->msgbuf);
}

static json_t *track_json(const struct db_track *t)
{
	char ts[16];

	snprintf(ts, sizeof(ts), "%d/%d", (int)t->ts_num, (int)t->ts_den);
	return json_pack("{s:o,s:s,s:I,s:I,s:f,s:s}", "id", api_id_json(t->id), "title", t->title,
			 "position", (json_int_t)t->position, "created", (json_int_t)t->created,
			 "tempo_bpm", (double)t->tempo_mbpm / 1000.0, "time_signature", ts);
}

/* "tempo_bpm" (20-999, up to three decimals) and "time_signature" ("N/D":
 * N 1-99, D a power of two up to 64) of a PATCH, for the marker export's
 * MIDI file. *given: whether either was sent. 0 or a 400 answered. */
static int tempo_fields(struct api_ctx *c, const struct db_track *t, int64_t *mbpm, int64_t *num,
			int64_t *den, int *given)
{
	json_t *bpm = json_object_get(c->body, "tempo_bpm"),
	       *sig = json_object_get(c->body, "time_signature");
	unsigned n = 0, d = 0;
	char end = 0;
	double x;

	*mbpm = t->tempo_mbpm;
	*num = t->ts_num;
	*den = t->ts_den;
	*given = bpm || sig;
	if (bpm) {
		x = json_is_number(bpm) ? json_number_value(bpm) : -1;
		if (!(x >= 20.0 && x <= 999.0))
			return api_err(c, AM_ERR_INVAL,
				       "field \"tempo_bpm\" is a number from 20 to 999");
		*mbpm = (int64_t)(x * 1000.0 + 0.5);
	}
	if (sig) {
		if (!json_is_string(sig) || strlen(json_string_value(sig)) > 5 ||
		    sscanf(json_string_value(sig), "%2u/%2u%c", &n, &d, &end) != 2 || n < 1 ||
		    d < 1 || d > 64 || (d & (d - 1)))
			return api_err(c, AM_ERR_INVAL,
				       "field \"time_signature\" is like \"4/4\" or \"7/8\"");
		*num = n;
		*den = d;
	}
	return 0;
}

int api_track_create(struct api_ctx *c)
{
	const char *title = NULL;
	struct db_project p;
	struct db_track t;
	int64_t pos = -1; /* not given: after the last track */
	uint8_t id[DB_ID_LEN];
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) ||
	    (rc = api_str(c, "title", 1, 200, 1, &title)) ||
	    (rc = api_int(c, "position", 0, 1000000, 0, &pos, NULL)) || (rc = head_check(c)) ||
	    (rc = db_track_create(c->db, c->api->app->keys, p.id, title, pos, id)) ||
	    (rc = db_track_get(c->db, c->api->app->keys, p.id, id, &t)))
		return rc;
	return api_reply(c, 201, json_pack("{s:o}", "track", track_json(&t)));
}

/* The owner's project and track of the path, or 404. */
static int owner_track(struct api_ctx *c, struct db_project *p, struct db_track *t)
{
	uint8_t tid[DB_ID_LEN];
	int rc;

	if ((rc = api_owner_project(c, "id", p)) || (rc = api_param_id(c, "tid", tid)))
		return rc;
	rc = db_track_get(c->db, c->api->app->keys, p->id, tid, t);
	return rc == AM_ERR_NOTFOUND ? api_err(c, rc, "not found") : rc;
}

int api_track_patch(struct api_ctx *c)
{
	const char *title = NULL;
	struct db_project p;
	struct db_track t;
	int64_t pos = 0, mbpm, num, den;
	int has_pos = 0, has_tempo = 0, rc;

	if ((rc = owner_track(c, &p, &t)) || (rc = api_str(c, "title", 1, 200, 0, &title)) ||
	    (rc = api_int(c, "position", 0, 1000000, 0, &pos, &has_pos)) ||
	    (rc = tempo_fields(c, &t, &mbpm, &num, &den, &has_tempo)))
		return rc;
	if (!title && !has_pos && !has_tempo)
		return api_err(
		    c, AM_ERR_INVAL,
		    "send \"title\", \"position\", \"tempo_bpm\" and/or \"time_signature\"");
	if ((has_tempo && (rc = db_track_set_tempo(c->db, p.id, t.id, mbpm, num, den))) ||
	    ((title || has_pos) && (rc = db_track_update(c->db, c->api->app->keys, p.id, t.id,
							 title, has_pos ? pos : t.position))) ||
	    (rc = db_track_get(c->db, c->api->app->keys, p.id, t.id, &t)))
		return rc;
	return api_reply(c, 200, json_pack("{s:o}", "track", track_json(&t)));
}

#define API_REORDER_MAX 1000 /* track ids in one reorder request */

/* "track_ids": an array of distinct track ids into *ids (calloc'd) and *n. */
static int reorder_ids(struct api_ctx *c, uint8_t (**ids)[DB_ID_LEN], size_t *n)
{
	json_t *arr = json_object_get(c->body, "track_ids");
	size_t len = json_array_size(arr);

	*ids = NULL;
	if (!json_is_array(arr) || len == 0 || len > API_REORDER_MAX)
		return api_err(c, AM_ERR_INVAL,
			       "field \"track_ids\" is an array of 1 to 1000 track ids");
	if (!(*ids = calloc(len, sizeof(**ids))))
		return AM_ERR_NOMEM;
	for (size_t i = 0; i < len; i++) {
		json_t *v = json_array_get(arr, i);

		if (!json_is_string(v) || api_id_parse(json_string_value(v), (*ids)[i]))
			return api_err(
			    c, AM_ERR_INVAL,
			    "field \"track_ids\" holds something that is not a track id");
		for (size_t j = 0; j < i; j++)
			if (memcmp((*ids)[j], (*ids)[i], DB_ID_LEN) == 0)
				return api_err(c, AM_ERR_INVAL,
					       "field \"track_ids\" names a track twice");
	}
	*n = len;
	return 0;
}

/* PUT /tracks/order: the whole new order, applied at once or not at all. */
int api_tracks_order(struct api_ctx *c)
{
	struct db_project p;
	uint8_t(*ids)[DB_ID_LEN] = NULL;
	json_t *tracks = NULL;
	size_t n = 0;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) || (rc = reorder_ids(c, &ids, &n)))
		goto out;
	rc = db_track_reorder(c->db, p.id, (const uint8_t(*)[DB_ID_LEN])ids, n);
	if (rc == AM_ERR_INVAL) {
		rc = api_err(
		    c, rc,
		    "field \"track_ids\" must list every track of this project once, and no other");
		goto out;
	}
	if (rc || (rc = api_tracks_json(c, p.id, NULL, &tracks)))
		goto out;
	rc = api_reply(c, 200, json_pack("{s:o}", "tracks", tracks));
out:
	free(ids);
	return rc;
}

int api_track_delete(struct api_ctx *c)
{
	struct db_project p;
	struct db_track t;
	int rc;

	if ((rc = owner_track(c, &p, &t)) || (rc = db_track_delete(c->db, p.id, t.id)))
		return rc;
	return http_respond_empty(c->req, 204);
}

/* ---- owner: uploads --------------------------------------------------------------------- */

/* A new version in state "uploading" and its upload row, in one
 * transaction, with the signed tus URL of the media role (docs/media.md). */
static int start_upload(struct api_ctx *c, const struct db_project *p, const struct db_track *t,
			const char *filename, int64_t size, char *path, size_t n,
			struct db_version *v)
{
	uint8_t vid[DB_ID_LEN], upload_id[DB_ID_LEN];
	int64_t number = 0;
	int rc;

	if ((rc = db_begin_write(c->db)))
		return rc;
	if ((rc = db_version_create(c->db, c->api->app->keys, p->id, t->id, filename, vid,
				    &number)) ||
	    (rc = upload_new(c->api->app, c->db, c->acct.id, p->id, vid, size, 0, path, n,
			     upload_id)) ||
	    (rc = db_version_get(c->db, c->api->app->keys, p->id, vid, v))) {
		db_rollback(c->db);
		if (rc == AM_ERR_TOOBIG)
			return api_err(
			    c, rc,
			    "the file is larger than this server accepts or your storage quota");
		if (rc == AM_ERR_INVAL)
			return api_err(c, rc, "field \"size\" is too small for an audio file");
		return rc;
	}
	return db_commit(c->db);
}

int api_upload_create(struct api_ctx *c)
{
	const char *filename = NULL;
	char path[ACCESS_URL_MAX], url[ACCESS_URL_MAX + CONF_STR_MAX];
	struct db_project p;
	struct db_track t;
	struct db_version v;
	int64_t size = 0;
	int rc;

	if ((rc = owner_track(c, &p, &t)) || (rc = api_str(c, "filename", 1, 255, 1, &filename)) ||
	    (rc = api_int(c, "size", 1, INT64_C(1) << 50, 1, &size, NULL)) ||
	    (rc = head_check(c)) ||
	    (rc = api_rate(c, &API_LIMIT_UPLOAD_ACCT, c->acct.id, DB_ID_LEN, NULL, 0)) ||
	    (rc = start_upload(c, &p, &t, filename, size, path, sizeof(path), &v)))
		return rc;
	snprintf(url, sizeof(url), "%s%s", c->api->app->conf.public_url, path);
	return api_reply(c, 201,
			 json_pack("{s:o,s:s,s:I,s:I}", "version", owner_version_json(&v),
				   "upload_url", url, "size", (json_int_t)size, "expires",
				   (json_int_t)(am_now() + ACCESS_UPLOAD_CAP)));
}

/* ---- owner: playback ----------------------------------------------------------------------- */

struct owner_urls {
	struct api_ctx *c;
	const struct access_grant *g;
	const struct db_project *p;
	const uint8_t *only; /* ?version=VID, or NULL for every ready version */
	int64_t expires;
	json_t *versions; /* version hex id -> media */
};

static int owner_url_item(void *ctx, const struct db_version *v)
{
	struct owner_urls *ou = ctx;
	char hex[2 * DB_ID_LEN + 1];

	if (strcmp(v->state, "ready") != 0 || (ou->only && memcmp(ou->only, v->id, DB_ID_LEN) != 0))
		return 0;
	api_id_hex(v->id, hex);
	return json_object_set_new(ou->versions, hex,
				   api_media_json(ou->c, ou->g, ou->p, v->id, ou->expires))
		   ? AM_ERR_NOMEM
		   : 0;
}

/* GET .../tracks/{tid}/urls[?version=VID]: signed media URLs for the owner's
 * own player, minted like the review page's (api_media_json) under an owner
 * grant of src/access/: bound to this session (a logout ends them), no
 * password cookie, the original always downloadable, plays not counted as
 * listener activity. */
int api_track_urls(struct api_ctx *c)
{
	const char *vq = http_req_query(c->req, "version");
	struct access_grant g;
	struct owner_urls ou = {.c = c, .g = &g, .expires = access_url_expiry(c->api->app)};
	struct db_project p;
	struct db_track t;
	uint8_t vid[DB_ID_LEN];
	int rc;

	if ((rc = owner_track(c, &p, &t)))
		return rc;
	if (vq && api_id_parse(vq, vid))
		return api_err(c, AM_ERR_NOTFOUND, "not found");
	memset(&g, 0, sizeof(g));
	g.owner = 1;
	memcpy(g.project_id, p.id, DB_ID_LEN);
	memcpy(g.account_id, c->acct.id, DB_ID_LEN);
	memcpy(g.session_id, c->sess.id, DB_ID_LEN);
	ou.p = &p;
	ou.only = vq ? vid : NULL;
	if (!(ou.versions = json_object()))
		return AM_ERR_NOMEM;
	if ((rc = db_version_list(c->db, c->api->app->keys, p.id, t.id, owner_url_item, &ou))) {
		json_decref(ou.versions);
		return rc;
	}
	if (vq && json_object_size(ou.versions) == 0) {
		json_decref(ou.versions);
		return api_err(c, AM_ERR_NOTFOUND, "not found");
	}
	return api_reply(
	    c, 200,
	    json_pack("{s:o,s:I}", "versions", ou.versions, "urls_expire", (json_int_t)ou.expires));
}
