/*
 * repo_vmark.c: the marked renditions of a version (schema v18, issue 26,
 * docs/watermark.md "Serving segment variants", docs/data-model.md): one
 * row per version with the ids of its renditions A and B (objects of kind
 * 'stream' without a version_id, so the version's plain stream is still
 * the one db_object_find returns), the strength they were marked at and
 * their shared span map (media_splice's cuts and slots, encoded by the
 * worker). Also queues the "mark_ab" job that makes them. Runs in the
 * worker (writes) and the media role (reads); the span map comes from our
 * own transcode and is checked again by its reader (media_splice_check).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_int.h"

/* A's and B's objects of a row that is replaced or whose track goes:
 * to the housekeeping's deletion (db_object_list_deleting). where is the
 * condition on version_marks m, binding $1 = project and maybe $2. */
static int forget_objects(struct db *db, const uint8_t project_id[DB_ID_LEN], const char *where,
			  const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	char sql[640];
	int rc;

	snprintf(sql, sizeof(sql),
		 "UPDATE objects SET state = 'deleting' WHERE project_id = $1 AND id IN"
		 " (SELECT m.a_id FROM version_marks m WHERE m.project_id = $1 AND %s"
		 " UNION SELECT m.b_id FROM version_marks m WHERE m.project_id = $1 AND %s)",
		 where, where);
	rc = db_prepare(db, sql, &st);
	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_id(st, 2, id);
	}
	return repo_done(rc, st, NULL);
}

int db_vmark_forget_track(struct db *db, const uint8_t project_id[DB_ID_LEN],
			  const uint8_t track_id[DB_ID_LEN])
{
	return forget_objects(db, project_id,
			      "m.version_id IN (SELECT id FROM track_versions WHERE track_id = $2"
			      " AND project_id = $1)",
			      track_id);
}

int db_vmark_put(struct db *db, const uint8_t project_id[DB_ID_LEN], const struct db_vmark *in)
{
	struct db_stmt *st = NULL;
	int rc;

	if (!in || !in->spans || in->spans_len == 0 || in->spans_len > DB_VMARK_SPANS_MAX)
		return db_set_err(db, AM_ERR_INVAL, "version_marks: bad span map");
	if ((rc = forget_objects(db, project_id, "m.version_id = $2", in->version_id)))
		return rc;
	rc = db_prepare(db, "DELETE FROM version_marks WHERE version_id = $1 AND project_id = $2",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, in->version_id);
		db_bind_id(st, 2, project_id);
	}
	if ((rc = repo_done(rc, st, NULL)))
		return rc;
	st = NULL;
	rc = db_prepare(db,
			"INSERT INTO version_marks (version_id, project_id, a_id, b_id, strength,"
			" spans, created) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, in->version_id);
		db_bind_id(st, 2, project_id);
		db_bind_id(st, 3, in->a_id);
		db_bind_id(st, 4, in->b_id);
		db_bind_int64(st, 5, in->strength);
		db_bind_blob(st, 6, in->spans, in->spans_len);
		db_bind_int64(st, 7, am_now_ms());
	}
	return repo_done(rc, st, NULL);
}

int db_vmark_get(struct db *db, const uint8_t project_id[DB_ID_LEN],
		 const uint8_t version_id[DB_ID_LEN], struct db_vmark *out)
{
	struct db_stmt *st = NULL;
	const void *b;
	size_t n = 0;
	int rc = db_prepare(db,
			    "SELECT a_id, b_id, strength, spans, created FROM version_marks"
			    " WHERE version_id = $1 AND project_id = $2",
			    &st);

	memset(out, 0, sizeof(*out));
	if (rc == 0) {
		db_bind_id(st, 1, version_id);
		db_bind_id(st, 2, project_id);
		rc = repo_row(st);
	}
	if (rc == 0 && !(rc = db_column_id(st, 0, out->a_id)) &&
	    !(rc = db_column_id(st, 1, out->b_id))) {
		memcpy(out->version_id, version_id, DB_ID_LEN);
		out->strength = db_column_int64(st, 2);
		out->created = db_column_int64(st, 4);
		b = db_column_blob(st, 3, &n);
		if (!b || n == 0 || n > DB_VMARK_SPANS_MAX)
			rc = db_set_err(db, AM_ERR_DB, "version_marks: bad span map");
		else if (!(out->spans = malloc(n)))
			rc = AM_ERR_NOMEM;
		else
			memcpy(out->spans, b, out->spans_len = n);
	}
	db_finalize(st);
	if (rc)
		db_vmark_cleanup(out);
	return rc;
}

void db_vmark_cleanup(struct db_vmark *v)
{
	free(v->spans);
	memset(v, 0, sizeof(*v));
}

/* The payload of a "mark_ab" job (the transcode job's form). */
static void job_payload(const uint8_t version[DB_ID_LEN], const uint8_t orig[DB_ID_LEN], char *out,
			size_t cap)
{
	char v[2 * DB_ID_LEN + 1], o[2 * DB_ID_LEN + 1];

	for (int i = 0; i < DB_ID_LEN; i++) {
		snprintf(v + 2 * i, 3, "%02x", version[i]);
		snprintf(o + 2 * i, 3, "%02x", orig[i]);
	}
	snprintf(out, cap, "{\"v\":1,\"version\":\"%s\",\"original\":\"%s\"}", v, o);
}

int db_vmark_enqueue(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const uint8_t version_id[DB_ID_LEN], const uint8_t orig_id[DB_ID_LEN])
{
	char p[160];
	uint8_t job[DB_ID_LEN];

	job_payload(version_id, orig_id, p, sizeof(p));
	return db_job_enqueue(db, DB_VMARK_JOB, project_id, p, strlen(p), 3, 0, job);
}

#define ENQUEUE_MAX 1000 /* versions queued per call (a project has fewer) */

int db_vmark_enqueue_project(struct db *db, const uint8_t project_id[DB_ID_LEN], int *queued)
{
	struct db_stmt *st = NULL;
	uint8_t(*ids)[2][DB_ID_LEN] = NULL;
	size_t n = 0;
	int rc;

	*queued = 0;
	if (!(ids = calloc(ENQUEUE_MAX, sizeof(*ids))))
		return AM_ERR_NOMEM;
	rc = db_prepare(
	    db,
	    "SELECT v.id, o.id FROM track_versions v JOIN objects o ON o.version_id = v.id"
	    " AND o.project_id = v.project_id AND o.kind = 'original' AND o.state = 'ready'"
	    " JOIN projects p ON p.id = v.project_id"
	    " WHERE v.project_id = $1 AND v.state = 'ready' AND NOT EXISTS (SELECT 1 FROM"
	    " version_marks m WHERE m.version_id = v.id AND m.strength = p.mark_strength)"
	    " ORDER BY v.created, v.id",
	    &st);
	if (rc == 0)
		db_bind_id(st, 1, project_id);
	while (rc == 0 && n < ENQUEUE_MAX && (rc = db_step(st)) == DB_ROW) {
		rc = db_column_id(st, 0, ids[n][0]);
		if (rc == 0)
			rc = db_column_id(st, 1, ids[n++][1]);
	}
	if (rc == DB_DONE || rc == DB_ROW)
		rc = 0;
	db_finalize(st);
	for (size_t i = 0; i < n && rc == 0; i++)
		if ((rc = db_vmark_enqueue(db, project_id, ids[i][0], ids[i][1])) == 0)
			(*queued)++;
	free(ids);
	return rc;
}
