/*
 * api_activity.c: GET /api/v1/projects/{id}/activity, what the owner of a
 * project learns about its listeners (docs/api.md "Activity"): each event
 * with the reviewer's name as given, the link, track and version (plays
 * from the review page's listen reports, downloads from the media role's
 * record, comments), plays and unique listeners per track, and per
 * reviewer and version the seconds they heard; filtered by link and
 * reviewer; as JSON or as CSV (?format=csv: every text cell quoted, a cell
 * starting with = + - @ tab or CR prefixed with ' so a spreadsheet does not
 * run it). Nothing here carries an address: the events' IP pseudonyms are
 * not copied out. Runs in the web process for the signed-in owner; the
 * project is looked up with the session's account (another owner's: 404).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "repo/repo.h"

#define ACT_LIMIT_DEFAULT 500
#define ACT_LIMIT_MAX	  5000
#define ACT_CSV_MAX	  ((size_t)16 << 20)

struct act {
	struct api_ctx *c;
	const uint8_t *pid;
	json_t *tracks;	  /* track hex -> {id, title}, and "order": [...] of them */
	json_t *versions; /* version hex -> {id, number, track (hex), duration_ms} */
	json_t *links;	  /* link hex -> {id, label} */
	json_t *objects;  /* object hex -> version hex */
	json_t *events, *comments, *coverage, *stats, *names;
	const char *f_link, *f_reviewer; /* filters: link hex, reviewer name (NULL: any) */
};

static int put_hex(json_t *map, const uint8_t id[DB_ID_LEN], json_t *v)
{
	char h[2 * DB_ID_LEN + 1];

	if (!v)
		return AM_ERR_NOMEM;
	api_id_hex(id, h);
	return json_object_set_new(map, h, v) ? AM_ERR_NOMEM : 0;
}

static int track_cb(void *ctx, const struct db_track *t)
{
	struct act *a = ctx;
	json_t *j = json_pack("{s:o,s:s,s:I,s:I}", "id", api_id_json(t->id), "title", t->title,
			      "plays", (json_int_t)0, "listeners", (json_int_t)0);

	if (!j || json_array_append(json_object_get(a->tracks, "order"), j)) {
		json_decref(j);
		return AM_ERR_NOMEM;
	}
	return put_hex(a->tracks, t->id, j);
}

static int version_cb(void *ctx, const struct db_version *v)
{
	struct act *a = ctx;
	char th[2 * DB_ID_LEN + 1];

	api_id_hex(v->track_id, th);
	return put_hex(a->versions, v->id,
		       json_pack("{s:o,s:I,s:s,s:I}", "id", api_id_json(v->id), "number",
				 (json_int_t)v->number, "track", th, "duration_ms",
				 (json_int_t)v->duration_ms));
}

static int link_cb(void *ctx, const struct db_link *l)
{
	struct act *a = ctx;

	return put_hex(a->links, l->id,
		       json_pack("{s:o,s:s}", "id", api_id_json(l->id), "label",
				 l->label[0]	 ? l->label
				 : l->is_default ? "Default link"
						 : "Link"));
}

static int object_cb(void *ctx, const struct db_object *o)
{
	struct act *a = ctx;
	char vh[2 * DB_ID_LEN + 1];

	if (!o->has_version)
		return 0;
	api_id_hex(o->version_id, vh);
	return put_hex(a->objects, o->id, json_string(vh));
}

/* What the project is made of, by id: tracks, versions, links, objects. */
static int act_load(struct act *a)
{
	struct db *db = a->c->db;
	const struct db_keys *k = a->c->api->app->keys;

	if (!(a->tracks = json_object()) || !(a->versions = json_object()) ||
	    !(a->links = json_object()) || !(a->objects = json_object()) ||
	    !(a->events = json_array()) || !(a->comments = json_array()) ||
	    !(a->coverage = json_array()) || !(a->names = json_object()) ||
	    json_object_set_new(a->tracks, "order", json_array()))
		return AM_ERR_NOMEM;
	int rc = db_track_list(db, k, a->pid, track_cb, a);

	if (rc == 0)
		rc = db_version_list(db, k, a->pid, NULL, version_cb, a);
	if (rc == 0)
		rc = db_link_list(db, k, a->pid, link_cb, a);
	if (rc == 0)
		rc = db_object_list(db, a->pid, object_cb, a);
	return rc;
}

/* Whether a row of this link and reviewer passes the filters. */
static int act_keep(const struct act *a, const char *link, const char *reviewer)
{
	if (a->f_link && (!link || strcmp(link, a->f_link) != 0))
		return 0;
	return !a->f_reviewer || (reviewer && strcmp(reviewer, a->f_reviewer) == 0);
}

/* One row: kind, when, who, link, track and version (each null when not
 * known), appended to arr when it passes the filters. */
static int act_row(struct act *a, json_t *arr, const char *kind, int64_t created,
		   const char *reviewer, const char *link, const char *version)
{
	json_t *v = version ? json_object_get(a->versions, version) : NULL;
	json_t *l = link ? json_object_get(a->links, link) : NULL;
	json_t *t =
	    v ? json_object_get(a->tracks, json_string_value(json_object_get(v, "track"))) : NULL;
	json_t *j;

	if (reviewer && !*reviewer)
		reviewer = NULL;
	if (!act_keep(a, link, reviewer))
		return 0;
	j = json_pack("{s:s,s:I,s:s?,s:O?,s:O?,s:O?}", "kind", kind, "created", (json_int_t)created,
		      "reviewer", reviewer, "link", l, "track", t, "version", v);
	if (j && t) /* the row's own copy of the track, without the totals */
		json_object_set_new(j, "track",
				    json_pack("{s:O,s:O}", "id", json_object_get(t, "id"), "title",
					      json_object_get(t, "title")));
	if (j && v)
		json_object_set_new(j, "version",
				    json_pack("{s:O,s:O}", "id", json_object_get(v, "id"), "number",
					      json_object_get(v, "number")));
	return !j || json_array_append_new(arr, j) ? AM_ERR_NOMEM : 0;
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* An event as a row: "listen" (the player's start: name, link, version),
 * "download" (the media role: object -> version, link), the media role's
 * "play" left out (the player's "listen" is the same start with a name),
 * everything else as it is. The details' "ip" is never read. */
static int event_cb(void *ctx, const struct db_event *e)
{
	struct act *a = ctx;
	json_t *d = NULL;
	const char *ver = NULL, *name = NULL, *link = NULL;
	int rc;

	if (strcmp(e->kind, "play") == 0)
		return 0;
	if (strcmp(e->kind, "listen") == 0 || strcmp(e->kind, "download") == 0)
		d = json_loads(e->details, 0, NULL);
	if (d) {
		link = jstr(d, "link");
		name = jstr(d, "name");
		ver = jstr(d, "version");
		if (!ver && jstr(d, "object"))
			ver = json_string_value(json_object_get(a->objects, jstr(d, "object")));
	}
	rc = act_row(a, a->events, e->kind, e->created, name, link, ver);
	json_decref(d);
	return rc;
}

static int comment_cb(void *ctx, const struct db_comment_who *cw)
{
	struct act *a = ctx;
	char lh[2 * DB_ID_LEN + 1], vh[2 * DB_ID_LEN + 1];

	if (!cw->has_guest)
		return 0; /* the owner's own comments are not listener activity */
	if (cw->author[0] && json_object_set_new(a->names, cw->author, json_true()))
		return AM_ERR_NOMEM;
	api_id_hex(cw->link_id, lh);
	api_id_hex(cw->version_id, vh);
	return act_row(a, a->comments, cw->is_reply ? "reply" : "comment", cw->created, cw->author,
		       cw->has_link ? lh : NULL, vh);
}

/* heard as [[start_s, end_s], ...] runs of whole seconds, and their sum. */
static json_t *heard_spans(const struct db_listen *l, int64_t nsec, int64_t *total)
{
	json_t *arr = json_array();
	int64_t start = -1;

	*total = 0;
	for (int64_t i = 0; arr && i <= nsec; i++) {
		int on =
		    i < nsec && (size_t)(i / 8) < l->heard_len && (l->heard[i / 8] >> (i % 8)) & 1;

		if (on && start < 0)
			start = i;
		if (!on && start >= 0) {
			*total += i - start;
			if (json_array_append_new(
				arr, json_pack("[I,I]", (json_int_t)start, (json_int_t)i))) {
				json_decref(arr);
				return NULL;
			}
			start = -1;
		}
	}
	return arr;
}

/* Per-track totals: plays, and listeners counted once each. */
static int act_stat(struct act *a, json_t *t, const struct db_listen *l, const char *who)
{
	json_t *seen = json_object_get(t, "seen");

	if (!seen &&
	    (json_object_set_new(t, "seen", json_object()) || !(seen = json_object_get(t, "seen"))))
		return AM_ERR_NOMEM;
	json_object_set_new(
	    t, "plays", json_integer(json_integer_value(json_object_get(t, "plays")) + l->plays));
	if (l->plays > 0 && json_object_set_new(seen, who, json_true()))
		return AM_ERR_NOMEM;
	return json_object_set_new(t, "listeners", json_integer((json_int_t)json_object_size(seen)))
		   ? AM_ERR_NOMEM
		   : 0;
}

static int listen_cb(void *ctx, const struct db_listen *l)
{
	struct act *a = ctx;
	char vh[2 * DB_ID_LEN + 1], lh[2 * DB_ID_LEN + 1], who[17];
	json_t *row = json_array(), *v, *t, *cov, *spans;
	int64_t total = 0, dur;
	int rc;

	api_id_hex(l->version_id, vh);
	api_id_hex(l->link_id, lh);
	for (int i = 0; i < 8; i++)
		snprintf(who + 2 * i, 3, "%02x", l->listener[i]);
	if (l->name[0] && json_object_set_new(a->names, l->name, json_true()))
		rc = AM_ERR_NOMEM;
	else if ((rc = act_row(a, row, "coverage", l->last_seen, l->name, l->has_link ? lh : NULL,
			       vh)) == 0 &&
		 (cov = json_array_get(row, 0)) && (v = json_object_get(a->versions, vh))) {
		t = json_object_get(a->tracks, jstr(v, "track"));
		dur = json_integer_value(json_object_get(v, "duration_ms"));
		spans = heard_spans(l, (dur + 999) / 1000, &total);
		rc = !spans || json_object_set_new(cov, "heard", spans) ||
			     json_object_set_new(cov, "heard_s", json_integer(total)) ||
			     json_object_set_new(cov, "duration_ms", json_integer(dur)) ||
			     json_object_set_new(cov, "listener", json_string(who)) ||
			     json_object_set_new(cov, "plays", json_integer(l->plays)) ||
			     json_array_append(a->coverage, cov)
			 ? AM_ERR_NOMEM
			 : 0;
		if (rc == 0 && t)
			rc = act_stat(a, t, l, who);
	}
	json_decref(row);
	return rc;
}

/* events and comments, each newest first, merged: at most limit rows. */
static json_t *act_merge(const struct act *a, size_t limit)
{
	json_t *out = json_array();
	size_t i = 0, j = 0, ne = json_array_size(a->events), nc = json_array_size(a->comments);

	while (out && json_array_size(out) < limit && (i < ne || j < nc)) {
		json_t *e = i < ne ? json_array_get(a->events, i) : NULL;
		json_t *c = j < nc ? json_array_get(a->comments, j) : NULL;
		int take_e = e && (!c || json_integer_value(json_object_get(e, "created")) >=
					     json_integer_value(json_object_get(c, "created")));

		if (json_array_append(out, take_e ? e : c)) {
			json_decref(out);
			return NULL;
		}
		take_e ? i++ : j++;
	}
	return out;
}

/* One CSV cell: always quoted ("" inside), and a leading = + - @ tab or CR
 * prefixed with ' so a spreadsheet shows the text instead of running it. */
static int csv_cell(struct am_buf *b, const char *s, int last)
{
	int rc = am_buf_puts(b, "\"");

	if (rc == 0 && s && strchr("=+-@\t\r", s[0]) && s[0])
		rc = am_buf_puts(b, "'");
	for (; rc == 0 && s && *s; s++)
		rc = *s == '"' ? am_buf_puts(b, "\"\"") : am_buf_append(b, s, 1);
	if (rc == 0)
		rc = am_buf_puts(b, last ? "\"\r\n" : "\",");
	return rc;
}

static int csv_row(struct am_buf *b, json_t *r)
{
	char when[32], num[24];
	time_t t = (time_t)(json_integer_value(json_object_get(r, "created")) / 1000);
	struct tm tm;
	json_t *v = json_object_get(r, "version");
	int rc;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	num[0] = 0;
	if (v)
		snprintf(num, sizeof(num), "%lld",
			 (long long)json_integer_value(json_object_get(v, "number")));
	if ((rc = csv_cell(b, when, 0)) || (rc = csv_cell(b, jstr(r, "kind"), 0)) ||
	    (rc = csv_cell(b, jstr(r, "reviewer"), 0)) ||
	    (rc = csv_cell(b, jstr(json_object_get(r, "link"), "label"), 0)) ||
	    (rc = csv_cell(b, jstr(json_object_get(r, "track"), "title"), 0)))
		return rc;
	return csv_cell(b, num, 1);
}

static int act_csv(struct api_ctx *c, json_t *rows)
{
	struct am_buf b;
	size_t i;
	json_t *r;
	int rc;

	am_buf_init(&b, ACT_CSV_MAX);
	rc = am_buf_puts(&b, "time,event,reviewer,link,track,version\r\n");
	json_array_foreach(rows, i, r)
	{
		if (rc)
			break;
		rc = csv_row(&b, r);
	}
	if (rc == 0)
		rc = http_add_header(c->req, "Content-Disposition",
				     "attachment; filename=\"activity.csv\"");
	if (rc == 0)
		rc = http_respond_bytes(c->req, 200, "text/csv; charset=utf-8",
					b.p ? b.p : (void *)"", b.len, 1);
	am_buf_cleanup(&b);
	return rc;
}

/* The JSON answer: rows, tracks with their totals, coverage, and what the
 * filters can choose from. */
static json_t *act_json(struct act *a, json_t *rows)
{
	json_t *tracks = json_object_get(a->tracks, "order"), *links = json_array(), *names, *t, *l;
	const char *k;
	size_t i;

	json_array_foreach(tracks, i, t)
	{
		json_object_del(t, "seen");
	}
	json_object_foreach(a->links, k, l)
	{
		json_array_append(links, l);
	}
	names = json_array();
	json_object_foreach(a->names, k, t)
	{
		json_array_append_new(names, json_string(k));
	}
	return json_pack("{s:o,s:O,s:O,s:o,s:o}", "events", rows, "tracks", tracks, "coverage",
			 a->coverage, "links", links, "reviewers", names);
}

static void act_free(struct act *a)
{
	json_decref(a->tracks);
	json_decref(a->versions);
	json_decref(a->links);
	json_decref(a->objects);
	json_decref(a->events);
	json_decref(a->comments);
	json_decref(a->coverage);
	json_decref(a->names);
}

/* ?link= (a link id) and ?reviewer= (a name as given), ?limit=, ?format=. */
static int act_params(struct api_ctx *c, struct act *a, int64_t *limit, int *csv)
{
	const char *lim = http_req_query(c->req, "limit"), *fmt = http_req_query(c->req, "format");
	uint8_t id[DB_ID_LEN];

	a->f_link = http_req_query(c->req, "link");
	a->f_reviewer = http_req_query(c->req, "reviewer");
	if (a->f_link && !*a->f_link)
		a->f_link = NULL;
	if (a->f_reviewer && !*a->f_reviewer)
		a->f_reviewer = NULL;
	if (lim && am_parse_i64(lim, 1, ACT_LIMIT_MAX, limit))
		return api_err(c, AM_ERR_INVAL, "limit must be 1 to 5000");
	if (a->f_link && api_id_parse(a->f_link, id))
		return api_err(c, AM_ERR_INVAL, "link must be a link id");
	if (a->f_reviewer && strlen(a->f_reviewer) > API_GUEST_NAME_MAX)
		return api_err(c, AM_ERR_INVAL, "reviewer is too long");
	*csv = fmt && strcmp(fmt, "csv") == 0;
	if (fmt && !*csv && strcmp(fmt, "json") != 0)
		return api_err(c, AM_ERR_INVAL, "format must be json or csv");
	return 0;
}

int api_activity(struct api_ctx *c)
{
	struct db_project p;
	struct act a = {.c = c};
	int64_t limit = ACT_LIMIT_DEFAULT;
	json_t *rows = NULL;
	int csv = 0, rc;

	if ((rc = act_params(c, &a, &limit, &csv)) || (rc = api_owner_project(c, "id", &p)))
		return rc;
	a.pid = p.id;
	if ((rc = act_load(&a)) ||
	    (rc = db_event_list(c->db, c->api->app->keys, p.id, (int)limit, event_cb, &a)) ||
	    (rc =
		 db_comment_who_list(c->db, c->api->app->keys, p.id, (int)limit, comment_cb, &a)) ||
	    (rc = db_listen_list(c->db, c->api->app->keys, p.id, listen_cb, &a)))
		goto out;
	if (!(rows = act_merge(&a, (size_t)limit))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	if (csv) {
		rc = act_csv(c, rows);
		json_decref(rows);
	} else {
		rc = api_reply(c, 200, act_json(&a, rows));
	}
out:
	act_free(&a);
	return rc;
}
