/*
 * export_json.c: the JSON documents of the export archive (export_int.h):
 * account.json and each project's project.json (project, links without
 * tokens, tracks with versions and their originals' paths, every stored
 * object, comments with the names their authors chose, pseudonymous events),
 * and the plan of the project's originals; for the project archive
 * ("Download all") comments.json and comments.csv instead of project.json.
 * Reads through the repository
 * layer (decrypted fields of the owner's own projects); runs in the media
 * role and the admin command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "access/access.h"
#include "export/export_int.h"
#include "repo/repo.h"
#include "util/util.h"

#define TOKEN_NOTE                                                                                 \
	"share-link tokens are not in the export: only their SHA-256 is stored, so they cannot "   \
	"be "                                                                                      \
	"recovered; regenerate a link to get a new one"

static json_t *hex_json(const uint8_t id[DB_ID_LEN])
{
	char h[33];

	access_hex16(id, h);
	return json_string(h);
}

/* Set a member, taking the reference; -1 when the value is NULL. */
static int set(json_t *o, const char *k, json_t *v)
{
	return v ? json_object_set_new(o, k, v) : -1;
}

int export_account_json(const struct db_account *acct, const struct export_project *ps, size_t n,
			char **out)
{
	json_t *arr = json_array(), *doc = NULL;

	*out = NULL;
	for (size_t i = 0; arr && i < n; i++) {
		const char *d = strchr(ps[i].dir, '/');
		if (json_array_append_new(arr, json_pack("{s:o,s:s}", "id", hex_json(ps[i].id),
							 "directory", d ? d + 1 : ps[i].dir)))
			goto out;
	}
	doc = json_pack("{s:s,s:I,s:{s:o,s:s,s:I},s:O,s:s,s:s}", "format", "audiomus-export-v1",
			"exported", (json_int_t)am_now_ms(), "account", "id", hex_json(acct->id),
			"email", acct->email, "created", (json_int_t)acct->created, "projects", arr,
			"links", TOKEN_NOTE, "times", "milliseconds since 1970-01-01 UTC");
	if (doc)
		*out = json_dumps(doc, JSON_INDENT(1) | JSON_ENSURE_ASCII);
out:
	json_decref(doc);
	json_decref(arr);
	return *out ? 0 : AM_ERR_NOMEM;
}

/* ---- project.json ------------------------------------------------------------------ */

struct trk {
	uint8_t id[DB_ID_LEN];
	char title[DB_TITLE_MAX + 1];
	char slug[EXPORT_SLUG_MAX + 1];
	int64_t n; /* 1-based, in track order */
};

struct ver {
	uint8_t id[DB_ID_LEN];
	uint8_t track_id[DB_ID_LEN];
	int64_t number;
	char name[EXPORT_NAME_MAX + 1];
	char filename[DB_FILENAME_MAX + 1];
};

struct build {
	json_t *tracks, *versions_by_id, *objects, *comments, *events, *links, *verdicts;
	struct trk *t;
	size_t nt;
	struct ver *v;
	size_t nv;
	struct export_file *f;
	size_t nf, capf;
	const char *dir;
	enum export_docs_kind kind;
	struct am_buf csv; /* EXPORT_DOCS_COMMENTS*: comments.csv */
};

static void *grow(void *p, size_t n, size_t elem)
{
	/* doubling at powers of two: n is the current count */
	if (n == 0 || (n & (n - 1)) == 0)
		return realloc(p, (n ? 2 * n : 1) * elem);
	return p;
}

static int track_cb(void *ctx, const struct db_track *t)
{
	struct build *b = ctx;
	struct trk *g = grow(b->t, b->nt, sizeof(*b->t));
	json_t *j;

	if (!g)
		return AM_ERR_NOMEM;
	b->t = g;
	memcpy(g[b->nt].id, t->id, DB_ID_LEN);
	am_strlcpy(g[b->nt].title, t->title, sizeof(g[b->nt].title));
	export_slug(t->title, g[b->nt].slug);
	g[b->nt].n = (int64_t)b->nt + 1;
	b->nt++;
	j = json_pack("{s:o,s:s,s:I,s:I,s:[]}", "id", hex_json(t->id), "title", t->title,
		      "position", (json_int_t)t->position, "created", (json_int_t)t->created,
		      "versions");
	return json_array_append_new(b->tracks, j) ? AM_ERR_NOMEM : 0;
}

/* The meters as the API gives them (db_version_meters, docs/api.md): the
 * figure, or null with NAME_reason ("silent", "too short to measure"). */
static int set_meters(json_t *j, const struct db_version *v)
{
	struct db_meter m[DB_METERS_MAX];
	size_t n = db_version_meters(v, m);
	char key[64];

	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s_reason", m[i].name);
		if (set(j, m[i].name, m[i].reason ? json_null() : json_real(m[i].value)) ||
		    (m[i].reason && set(j, key, json_string(m[i].reason))))
			return -1;
	}
	return 0;
}

static json_t *version_json(const struct db_version *v)
{
	json_t *j = json_pack("{s:o,s:o,s:I,s:s,s:s,s:I,s:n}", "id", hex_json(v->id), "track_id",
			      hex_json(v->track_id), "number", (json_int_t)v->number, "filename",
			      v->filename, "state", v->state, "created", (json_int_t)v->created,
			      "original");

	if (j && v->error[0] && set(j, "error", json_string(v->error)))
		goto fail;
	/* The facts exist once a sample rate is known (a one-sample file
	 * lasts 0 ms and still has them), as in the API. */
	if (j && v->sample_rate > 0 &&
	    (set(j, "duration_ms", json_integer(v->duration_ms)) ||
	     set(j, "sample_rate", json_integer(v->sample_rate)) ||
	     set(j, "channels", json_integer(v->channels)) ||
	     set(j, "bit_depth", json_integer(v->bit_depth)) || set_meters(j, v)))
		goto fail;
	return j;
fail:
	json_decref(j);
	return NULL;
}

static int version_cb(void *ctx, const struct db_version *v)
{
	struct build *b = ctx;
	struct ver *g = grow(b->v, b->nv, sizeof(*b->v));
	char h[33];
	json_t *j = version_json(v);

	if (!g || !j) {
		json_decref(j);
		return AM_ERR_NOMEM;
	}
	b->v = g;
	memcpy(g[b->nv].id, v->id, DB_ID_LEN);
	memcpy(g[b->nv].track_id, v->track_id, DB_ID_LEN);
	g[b->nv].number = v->number;
	export_name_sanitise(v->filename, g[b->nv].name);
	am_strlcpy(g[b->nv].filename, v->filename, sizeof(g[b->nv].filename));
	b->nv++;
	access_hex16(v->id, h);
	return json_object_set_new(b->versions_by_id, h, j) ? AM_ERR_NOMEM : 0;
}

static const struct ver *find_ver(const struct build *b, const uint8_t id[DB_ID_LEN])
{
	for (size_t i = 0; i < b->nv; i++)
		if (memcmp(b->v[i].id, id, DB_ID_LEN) == 0)
			return &b->v[i];
	return NULL;
}

static const struct trk *find_trk(const struct build *b, const uint8_t id[DB_ID_LEN])
{
	for (size_t i = 0; i < b->nt; i++)
		if (memcmp(b->t[i].id, id, DB_ID_LEN) == 0)
			return &b->t[i];
	return NULL;
}

/* A path inside the archive's root directory (its first component off). */
static const char *in_root(const char *path)
{
	const char *s = strchr(path, '/');

	return s ? s + 1 : path;
}

/* A ready original of a known version: into the plan, and its path into
 * the version's JSON. 1 if planned. */
static int plan_original(struct build *b, const struct db_object *o, char *path, size_t pn)
{
	const struct ver *v;
	const struct trk *t;
	struct export_file *g;
	json_t *vj;
	char h[33];

	if (strcmp(o->kind, "original") != 0 || strcmp(o->state, "ready") != 0 || !o->has_version ||
	    !(v = find_ver(b, o->version_id)) || !(t = find_trk(b, v->track_id)))
		return 0;
	if ((size_t)snprintf(path, pn, "%s/tracks/%lld-%s/v%lld-%s", b->dir, (long long)t->n,
			     t->slug, (long long)v->number, v->name) >= pn)
		return AM_ERR_TOOBIG;
	if (b->nf == b->capf) {
		size_t cap = b->capf ? 2 * b->capf : 8;
		if (!(g = realloc(b->f, cap * sizeof(*g))))
			return AM_ERR_NOMEM;
		b->f = g;
		b->capf = cap;
	}
	b->f[b->nf].o = *o;
	memcpy(b->f[b->nf].path, path, pn);
	b->f[b->nf].mtime = o->created / 1000;
	b->nf++;
	access_hex16(v->id, h);
	vj = json_object_get(b->versions_by_id, h);
	return vj && set(vj, "original", json_string(in_root(path))) ? AM_ERR_NOMEM : 1;
}

static int object_cb(void *ctx, const struct db_object *o)
{
	struct build *b = ctx;
	char path[EXPORT_PATH_MAX];
	int planned = plan_original(b, o, path, sizeof(path));
	json_t *j;

	if (planned < 0)
		return planned;
	j = json_pack("{s:o,s:s,s:o,s:I,s:s,s:s,s:I,s:o}", "id", hex_json(o->id), "kind", o->kind,
		      "version_id", o->has_version ? hex_json(o->version_id) : json_null(), "size",
		      (json_int_t)o->plain_size, "content_type", o->content_type, "state", o->state,
		      "created", (json_int_t)o->created, "in_archive",
		      planned ? json_string(in_root(path)) : json_null());
	return json_array_append_new(b->objects, j) ? AM_ERR_NOMEM : 0;
}

static int comment_cb(void *ctx, const struct db_comment *cm)
{
	struct build *b = ctx;
	json_t *j = json_pack(
	    "{s:o,s:o,s:s,s:b,s:o,s:s,s:I,s:o,s:o,s:b,s:I,s:b}", "id", hex_json(cm->id),
	    "version_id", hex_json(cm->version_id), "author", cm->author, "by_owner",
	    !cm->has_guest, "guest_id", cm->has_guest ? hex_json(cm->guest_id) : json_null(),
	    "body", cm->body, "time_ms", (json_int_t)cm->time_ms, "end_ms",
	    cm->end_ms >= 0 ? json_integer(cm->end_ms) : json_null(), "parent_id",
	    cm->has_parent ? hex_json(cm->parent_id) : json_null(), "resolved", cm->resolved,
	    "created", (json_int_t)cm->created, "deleted", cm->deleted != 0);

	if (j && json_object_set_new(j, "edited",
				     cm->edited > 0 ? json_integer(cm->edited) : json_null())) {
		json_decref(j);
		return AM_ERR_NOMEM;
	}
	return json_array_append_new(b->comments, j) ? AM_ERR_NOMEM : 0;
}

/* A reviewer's verdict on a version (issue 22): the name and note they
 * gave; the session hash is a browser's secret's digest, not exported. */
static int verdict_cb(void *ctx, const struct db_verdict *v)
{
	struct build *b = ctx;
	json_t *j = json_pack("{s:o,s:s,s:s,s:s,s:I,s:I}", "version_id", hex_json(v->version_id),
			      "name", v->name, "verdict", v->verdict, "note", v->note, "created",
			      (json_int_t)v->created, "updated", (json_int_t)v->updated);

	return json_array_append_new(b->verdicts, j) ? AM_ERR_NOMEM : 0;
}

static int event_cb(void *ctx, const struct db_event *e)
{
	struct build *b = ctx;
	json_t *d = json_loads(e->details, JSON_REJECT_DUPLICATES, NULL);
	json_t *j =
	    json_pack("{s:o,s:s,s:o,s:o,s:I}", "id", hex_json(e->id), "kind", e->kind, "guest_id",
		      e->has_guest ? hex_json(e->guest_id) : json_null(), "details",
		      d ? d : json_string(e->details), "created", (json_int_t)e->created);

	return json_array_append_new(b->events, j) ? AM_ERR_NOMEM : 0;
}

static int link_cb(void *ctx, const struct db_link *l)
{
	struct build *b = ctx;
	json_t *j = json_pack("{s:o,s:s,s:b,s:I,s:I,s:b,s:I}", "id", hex_json(l->id), "label",
			      l->label, "is_default", l->is_default, "generation",
			      (json_int_t)l->generation, "created", (json_int_t)l->created,
			      "revoked", l->revoked, "expires", (json_int_t)l->expires);

	return json_array_append_new(b->links, j) ? AM_ERR_NOMEM : 0;
}

/* Move each version's JSON under its track. */
static int nest_versions(struct build *b)
{
	for (size_t i = 0; i < b->nv; i++) {
		const struct trk *t = find_trk(b, b->v[i].track_id);
		char h[33];
		json_t *vj;

		access_hex16(b->v[i].id, h);
		vj = json_object_get(b->versions_by_id, h);
		if (t && vj &&
		    json_array_append(
			json_object_get(json_array_get(b->tracks, (size_t)t->n - 1), "versions"),
			vj))
			return AM_ERR_NOMEM;
	}
	return 0;
}

static void build_free(struct build *b)
{
	json_decref(b->tracks);
	json_decref(b->versions_by_id);
	json_decref(b->objects);
	json_decref(b->comments);
	json_decref(b->events);
	json_decref(b->links);
	json_decref(b->verdicts);
	free(b->t);
	free(b->v);
	free(b->f);
}

/* ---- comments.json and comments.csv (the project archive) ------------------------------ */

#define CSV_HEADER                                                                                 \
	"track_number,track,version,file,time,time_ms,end_ms,author,by_owner,body,resolved,"       \
	"created,id,parent_id\r\n"

int export_csv_field(struct am_buf *b, const char *s)
{
	int rc = am_buf_puts(b, "\"");

	if (rc == 0 && s[0] && strchr("=+-@\t\r", s[0]))
		rc = am_buf_puts(b, "'");
	for (const char *q = s; rc == 0 && *q; q++)
		rc = *q == '"' ? am_buf_puts(b, "\"\"") : am_buf_append(b, q, 1);
	return rc ? rc : am_buf_puts(b, "\"");
}

/* "m:ss.mmm" of a time in milliseconds, and an ISO 8601 UTC date. */
static void fmt_time(int64_t ms, char out[32])
{
	snprintf(out, 32, "%lld:%02lld.%03lld", (long long)(ms / 60000),
		 (long long)(ms / 1000 % 60), (long long)(ms % 1000));
}

static void fmt_date(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		out[0] = 0;
}

static int comment_csv(struct build *b, const struct db_comment *cm, const struct trk *t,
		       const struct ver *v)
{
	char tm[32], date[32], id[33], parent[33] = "";
	struct am_buf *o = &b->csv;
	int rc;

	fmt_time(cm->time_ms, tm);
	fmt_date(cm->created, date);
	access_hex16(cm->id, id);
	if (cm->has_parent)
		access_hex16(cm->parent_id, parent);
	if ((rc = am_buf_printf(o, "%lld,", (long long)t->n)) ||
	    (rc = export_csv_field(o, t->title)) ||
	    (rc = am_buf_printf(o, ",%lld,", (long long)v->number)) ||
	    (rc = export_csv_field(o, v->filename)) ||
	    (rc = am_buf_printf(o, ",%s,%lld,", tm, (long long)cm->time_ms)))
		return rc;
	if (cm->end_ms >= 0 && (rc = am_buf_printf(o, "%lld", (long long)cm->end_ms)))
		return rc;
	if ((rc = am_buf_puts(o, ",")) || (rc = export_csv_field(o, cm->author)) ||
	    (rc = am_buf_printf(o, ",%s,", cm->has_guest ? "no" : "yes")) ||
	    (rc = export_csv_field(o, cm->body)))
		return rc;
	return am_buf_printf(o, ",%s,%s,%s,%s\r\n", cm->resolved ? "yes" : "no", date, id, parent);
}

/* A live comment into comments.json and comments.csv (deleted ones, whose
 * text is gone, are left out). */
static int archive_comment_cb(void *ctx, const struct db_comment *cm)
{
	struct build *b = ctx;
	const struct ver *v = find_ver(b, cm->version_id);
	const struct trk *t = v ? find_trk(b, v->track_id) : NULL;
	json_t *j;

	if (cm->deleted || !t)
		return 0;
	j = json_pack("{s:o,s:I,s:s,s:I,s:s,s:s,s:b,s:s,s:I,s:o,s:o,s:b,s:I}", "id",
		      hex_json(cm->id), "track_number", (json_int_t)t->n, "track", t->title,
		      "version", (json_int_t)v->number, "file", v->filename, "author", cm->author,
		      "by_owner", !cm->has_guest, "body", cm->body, "time_ms",
		      (json_int_t)cm->time_ms, "end_ms",
		      cm->end_ms >= 0 ? json_integer(cm->end_ms) : json_null(), "parent_id",
		      cm->has_parent ? hex_json(cm->parent_id) : json_null(), "resolved",
		      cm->resolved, "created", (json_int_t)cm->created);
	if (j && b->kind == EXPORT_DOCS_COMMENTS && cm->has_guest &&
	    set(j, "guest_id", hex_json(cm->guest_id))) {
		json_decref(j);
		return AM_ERR_NOMEM;
	}
	if (json_array_append_new(b->comments, j))
		return AM_ERR_NOMEM;
	return comment_csv(b, cm, t, v);
}

static int docs_comments(struct build *b, const struct db_project *p, struct export_docs *docs)
{
	json_t *doc = json_pack("{s:s,s:I,s:{s:o,s:s},s:s,s:O}", "format", "audiomus-comments-v1",
				"exported", (json_int_t)am_now_ms(), "project", "id",
				hex_json(p->id), "title", p->title, "times",
				"milliseconds since 1970-01-01 UTC; time_ms and end_ms from the "
				"start of the version",
				"comments", b->comments);
	int rc = AM_ERR_NOMEM;

	if (doc && (docs->comments_json = json_dumps(doc, JSON_INDENT(1) | JSON_ENSURE_ASCII)) &&
	    b->csv.p) {
		docs->comments_csv = (char *)b->csv.p; /* taken over (NUL-terminated) */
		b->csv.p = NULL;
		b->csv.len = b->csv.alloc = 0;
		rc = 0;
	}
	json_decref(doc);
	return rc;
}

static int docs_project(struct build *b, const struct db_project *p, struct export_docs *docs)
{
	json_t *doc = json_pack(
	    "{s:s,s:{s:o,s:s,s:I,s:b,s:b},s:O,s:s,s:O,s:O,s:O,s:O,s:O}", "format",
	    "audiomus-project-v1", "project", "id", hex_json(p->id), "title", p->title, "created",
	    (json_int_t)p->created, "downloads", p->downloads, "has_password", p->has_password,
	    "links", b->links, "links_note", TOKEN_NOTE, "tracks", b->tracks, "objects", b->objects,
	    "comments", b->comments, "verdicts", b->verdicts, "events", b->events);

	if (doc)
		docs->project_json = json_dumps(doc, JSON_INDENT(1) | JSON_ENSURE_ASCII);
	json_decref(doc);
	return docs->project_json ? 0 : AM_ERR_NOMEM;
}

int export_project_build(struct db *db, const struct db_keys *k, const struct db_project *p,
			 const char *dir, enum export_docs_kind kind, struct export_docs *docs,
			 struct export_file **files, size_t *nfiles)
{
	struct build b = {.tracks = json_array(),
			  .versions_by_id = json_object(),
			  .objects = json_array(),
			  .comments = json_array(),
			  .events = json_array(),
			  .links = json_array(),
			  .verdicts = json_array(),
			  .dir = dir,
			  .kind = kind};
	int project = kind == EXPORT_DOCS_PROJECT, rc = AM_ERR_NOMEM;

	memset(docs, 0, sizeof(*docs));
	am_buf_init(&b.csv, EXPORT_CSV_MAX);
	if (!b.tracks || !b.versions_by_id || !b.objects || !b.comments || !b.events || !b.links ||
	    !b.verdicts || (!project && (rc = am_buf_puts(&b.csv, CSV_HEADER)) != 0))
		goto out;
	/* One listing at a time: callbacks only collect (no nested queries). */
	if ((rc = db_track_list(db, k, p->id, track_cb, &b)) ||
	    (rc = db_version_list(db, k, p->id, NULL, version_cb, &b)) ||
	    (rc = db_object_list(db, p->id, object_cb, &b)) ||
	    (rc = db_comment_list(db, k, p->id, NULL, project ? comment_cb : archive_comment_cb,
				  &b)))
		goto out;
	if (project &&
	    ((rc = db_event_list(db, k, p->id, 0, event_cb, &b)) ||
	     (rc = db_link_list(db, k, p->id, link_cb, &b)) ||
	     (rc = db_verdict_list(db, k, p->id, verdict_cb, &b)) || (rc = nest_versions(&b))))
		goto out;
	if ((rc = project ? docs_project(&b, p, docs) : docs_comments(&b, p, docs)) != 0)
		goto out;
	*files = b.f;
	*nfiles = b.nf;
	b.f = NULL;
out:
	if (rc) {
		free(docs->project_json);
		free(docs->comments_json);
		memset(docs, 0, sizeof(*docs));
	}
	am_buf_cleanup(&b.csv);
	build_free(&b);
	return rc;
}
