/*
 * repo_track.c: tracks, their versions and the stored objects (encrypted
 * blobs in the object store) that belong to them. Runs in the web role
 * (owner and guest pages), the media role (uploads, streaming) and the
 * worker (transcoding). Track titles and original file names are sealed
 * under the project's field key; object rows hold the DEK wrapped under the
 * project key, sizes and the store key in clear (DESIGN §5).
 */
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

int db_track_create(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const char *title, int64_t position, uint8_t id_out[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if ((rc = crypto_random_id(id_out)) || (rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	/* A negative position appends: one past the project's last track. */
	rc = db_prepare(
	    db,
	    position < 0
		? "INSERT INTO tracks (id, project_id, title_ct, position, created) VALUES "
		  "($1, $2, $3, (SELECT COALESCE(MAX(position), -1) + 1 FROM tracks "
		  "WHERE project_id = $2), $4)"
		: "INSERT INTO tracks (id, project_id, title_ct, position, created) VALUES "
		  "($1, $2, $3, $5, $4)",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id_out);
		db_bind_id(st, 2, project_id);
		repo_bind_sealed(st, 3, fk, "tracks", "title", id_out, project_id,
				 title ? title : "", DB_TITLE_MAX);
		db_bind_int64(st, 4, am_now_ms());
		if (position >= 0)
			db_bind_int64(st, 5, position);
	}
	crypto_field_key_free(fk);
	return repo_done(rc, st, NULL);
}

#define TRACK_COLS                                                                                 \
	"SELECT id, project_id, title_ct, position, created, tempo_mbpm, ts_num, ts_den FROM "     \
	"tracks "

static int track_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_track *out = outp;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->project_id)))
		return rc;
	out->position = db_column_int64(st, 3);
	out->created = db_column_int64(st, 4);
	out->tempo_mbpm = db_column_int64(st, 5);
	out->ts_num = db_column_int64(st, 6);
	out->ts_den = db_column_int64(st, 7);
	return repo_open_col(st, 2, key.fk, "tracks", "title", out->id, out->project_id, out->title,
			     sizeof(out->title));
}

REPO_EMIT(track_emit, struct db_track)

int db_track_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 const uint8_t id[DB_ID_LEN], struct db_track *out)
{
	return repo_get_in_project(db, k, project_id, id,
				   TRACK_COLS "WHERE id = $1 AND project_id = $2", track_row, out);
}

int db_track_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		  int (*cb)(void *ctx, const struct db_track *t), void *ctx)
{
	struct db_track t;
	struct repo_each e = {REPO_EACH_ROWS(track_row, track_emit, cb, ctx, &t), .k = k,
			      .project_id = project_id};
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db, TRACK_COLS "WHERE project_id = $1 ORDER BY position, created, id", &st);

	if (rc == 0)
		db_bind_id(st, 1, project_id);
	return repo_each(rc, st, &e);
}

int db_track_update(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t id[DB_ID_LEN], const char *title, int64_t position)
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if ((rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	rc = db_prepare(
	    db,
	    title
		? "UPDATE tracks SET position = $3, title_ct = $4 WHERE id = $1 AND project_id = $2"
		: "UPDATE tracks SET position = $3 WHERE id = $1 AND project_id = $2",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_int64(st, 3, position);
		if (title)
			repo_bind_sealed(st, 4, fk, "tracks", "title", id, project_id, title,
					 DB_TITLE_MAX);
	}
	crypto_field_key_free(fk);
	return repo_done_one(rc, st);
}

/* Number the tracks 0..n-1 in the order of ids, in one write transaction:
 * AM_ERR_INVAL unless ids are exactly the project's tracks (the caller
 * refuses duplicates), so a partial or foreign list changes nothing. */
int db_track_reorder(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const uint8_t (*ids)[DB_ID_LEN], size_t n)
{
	struct db_stmt *st = NULL;
	int64_t count = -1;
	int rc;

	if ((rc = db_begin_write(db)))
		return rc;
	if ((rc =
		 db_prepare(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM tracks WHERE project_id = $1",
			    &st)) == 0) {
		db_bind_id(st, 1, project_id);
		if ((rc = repo_row(st)) == 0)
			count = db_column_int64(st, 0);
	}
	db_finalize(st);
	if (rc == 0 && count != (int64_t)n)
		rc = AM_ERR_INVAL;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		st = NULL;
		rc = db_prepare(
		    db, "UPDATE tracks SET position = $3 WHERE id = $1 AND project_id = $2", &st);
		if (rc == 0) {
			db_bind_id(st, 1, ids[i]);
			db_bind_id(st, 2, project_id);
			db_bind_int64(st, 3, (int64_t)i);
		}
		rc = repo_done_one(rc, st);
		if (rc == AM_ERR_NOTFOUND)
			rc = AM_ERR_INVAL;
	}
	if (rc) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

int db_track_set_tempo(struct db *db, const uint8_t project_id[DB_ID_LEN],
		       const uint8_t id[DB_ID_LEN], int64_t tempo_mbpm, int64_t ts_num,
		       int64_t ts_den)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "UPDATE tracks SET tempo_mbpm = $3, ts_num = $4, ts_den = $5"
			    " WHERE id = $1 AND project_id = $2",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_int64(st, 3, tempo_mbpm);
		db_bind_int64(st, 4, ts_num);
		db_bind_int64(st, 5, ts_den);
	}
	return repo_done_one(rc, st);
}

int db_track_delete(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc;

	if ((rc = db_begin_write(db)))
		return rc;
	if ((rc = db_vmark_forget_track(db, project_id, id))) {
		db_rollback(db);
		return rc;
	}
	rc = db_prepare(
	    db,
	    "UPDATE objects SET state = 'deleting', version_id = NULL WHERE project_id = $1"
	    " AND version_id IN (SELECT id FROM track_versions WHERE track_id = $2 AND project_id "
	    "= $1)",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_id(st, 2, id);
	}
	rc = repo_done(rc, st, NULL);
	if (rc == 0) {
		st = NULL;
		rc = db_prepare(db, "DELETE FROM tracks WHERE id = $1 AND project_id = $2", &st);
		if (rc == 0) {
			db_bind_id(st, 1, id);
			db_bind_id(st, 2, project_id);
		}
		rc = repo_done_one(rc, st);
	}
	if (rc) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

/* ---- versions ----------------------------------------------------------------------- */

static int version_insert(struct db *db, const struct crypto_field_key *fk,
			  const uint8_t project_id[DB_ID_LEN], const uint8_t track_id[DB_ID_LEN],
			  const char *filename, const uint8_t id[DB_ID_LEN], int64_t *number)
{
	struct db_stmt *st = NULL;
	int rc;

	rc = db_prepare(db,
			"SELECT CAST(COALESCE(MAX(v.number), 0) + 1 AS BIGINT) FROM tracks t"
			" LEFT JOIN track_versions v ON v.track_id = t.id"
			" WHERE t.id = $1 AND t.project_id = $2 GROUP BY t.id",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, track_id);
		db_bind_id(st, 2, project_id);
		if ((rc = repo_row(st)) == 0)
			*number = db_column_int64(st, 0);
	}
	db_finalize(st);
	if (rc)
		return rc;
	st = NULL;
	rc = db_prepare(
	    db,
	    "INSERT INTO track_versions (id, project_id, track_id, number, filename_ct, created)"
	    " VALUES ($1, $2, $3, $4, $5, $6)",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_id(st, 3, track_id);
		db_bind_int64(st, 4, *number);
		repo_bind_sealed(st, 5, fk, "track_versions", "filename", id, project_id, filename,
				 DB_FILENAME_MAX);
		db_bind_int64(st, 6, am_now_ms());
	}
	return repo_done(rc, st, NULL);
}

int db_version_create(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		      const uint8_t track_id[DB_ID_LEN], const char *filename,
		      uint8_t id_out[DB_ID_LEN], int64_t *number)
{
	struct crypto_field_key *fk = NULL;
	int rc;

	*number = 0;
	if ((rc = crypto_random_id(id_out)) || (rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	if ((rc = db_begin_write(db)) == 0) {
		rc = version_insert(db, fk, project_id, track_id, filename, id_out, number);
		rc = rc ? (db_rollback(db), rc) : db_commit(db);
	}
	crypto_field_key_free(fk);
	return rc;
}

#define VERSION_COLS                                                                               \
	"SELECT id, project_id, track_id, number, filename_ct, state, progress, error, created,"   \
	" duration_ms, sample_rate, channels, bit_depth, loudness_mlufs, true_peak_mdbtp,"         \
	" loudness_range_mlu, stream_true_peak_mdbtp, meter_flags,"                                \
	" offset_ms, sync_ms, offset_state,"                                                       \
	" CASE WHEN state = 'uploading' THEN COALESCE((SELECT MAX(CASE WHEN u.lock_until > "       \
	"u.updated"                                                                                \
	" THEN u.lock_until ELSE u.updated END) FROM uploads u WHERE u.version_id = "              \
	"track_versions.id"                                                                        \
	" AND u.project_id = track_versions.project_id AND u.state = 'open'), 0) ELSE 0 END"       \
	" FROM track_versions "

static int version_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_version *out = outp;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->project_id)) ||
	    (rc = db_column_id(st, 2, out->track_id)))
		return rc;
	out->number = db_column_int64(st, 3);
	repo_text_col(st, 5, out->state, sizeof(out->state));
	out->progress = db_column_int64(st, 6);
	repo_text_col(st, 7, out->error, sizeof(out->error));
	out->created = db_column_int64(st, 8);
	out->duration_ms = db_column_int64(st, 9);
	out->sample_rate = db_column_int64(st, 10);
	out->channels = db_column_int64(st, 11);
	out->bit_depth = db_column_int64(st, 12);
	out->loudness_mlufs = db_column_int64(st, 13);
	out->true_peak_mdbtp = db_column_int64(st, 14);
	out->loudness_range_mlu = db_column_int64(st, 15);
	out->stream_true_peak_mdbtp = db_column_int64(st, 16);
	out->meter_flags = db_column_is_null(st, 17) ? -1 : db_column_int64(st, 17);
	out->offset_state = db_column_is_null(st, 20) ? -1 : db_column_int64(st, 20);
	if (out->offset_state >= 0) {
		out->offset_ms = db_column_int64(st, 18);
		out->sync_ms = db_column_int64(st, 19);
	}
	out->upload_active_ms = db_column_int64(st, 21);
	return repo_open_col(st, 4, key.fk, "track_versions", "filename", out->id, out->project_id,
			     out->filename, sizeof(out->filename));
}

REPO_EMIT(version_emit, struct db_version)

int db_version_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		   const uint8_t id[DB_ID_LEN], struct db_version *out)
{
	return repo_get_in_project(db, k, project_id, id,
				   VERSION_COLS "WHERE id = $1 AND project_id = $2", version_row,
				   out);
}

int db_version_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t *track_id, int (*cb)(void *ctx, const struct db_version *v),
		    void *ctx)
{
	struct db_version v;
	struct repo_each e = {REPO_EACH_ROWS(version_row, version_emit, cb, ctx, &v), .k = k,
			      .project_id = project_id};
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db,
	    track_id ? VERSION_COLS "WHERE project_id = $1 AND track_id = $2 ORDER BY number"
		     : VERSION_COLS "WHERE project_id = $1 ORDER BY track_id, number",
	    &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		if (track_id)
			db_bind_id(st, 2, track_id);
	}
	return repo_each(rc, st, &e);
}

int db_version_set_state(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 const uint8_t id[DB_ID_LEN], const char *state, int64_t progress,
			 const char *error)
{
	struct db_stmt *st = NULL;
	int rc;

	if (!state || strlen(state) > DB_STATE_MAX || (error && strlen(error) > DB_ERROR_MAX))
		return db_set_err(db, AM_ERR_INVAL, "state or error too long");
	rc = db_prepare(db,
			"UPDATE track_versions SET state = $3, progress = $4, error = $5"
			" WHERE id = $1 AND project_id = $2",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_text(st, 3, state);
		db_bind_int64(st, 4, progress);
		db_bind_text(st, 5, error);
	}
	return repo_done_one(rc, st);
}

int db_version_set_offset(struct db *db, const uint8_t project_id[DB_ID_LEN],
			  const struct db_version *v)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "UPDATE track_versions SET offset_ms = $3, sync_ms = $4, offset_state = $5"
		       " WHERE id = $1 AND project_id = $2",
		       &st);

	if (rc == 0) {
		db_bind_id(st, 1, v->id);
		db_bind_id(st, 2, project_id);
		for (int i = 3; i <= 5; i++)
			if (v->offset_state < 0)
				db_bind_null(st, i);
		if (v->offset_state >= 0) {
			db_bind_int64(st, 3, v->offset_ms);
			db_bind_int64(st, 4, v->sync_ms);
			db_bind_int64(st, 5, v->offset_state);
		}
	}
	return repo_done_one(rc, st);
}

int db_version_set_media(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 const struct db_version *v)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db,
	    "UPDATE track_versions SET duration_ms = $3, sample_rate = $4, channels = $5,"
	    " bit_depth = $6, loudness_mlufs = $7, true_peak_mdbtp = $8,"
	    " loudness_range_mlu = $9, stream_true_peak_mdbtp = $10, meter_flags = $11"
	    " WHERE id = $1 AND project_id = $2",
	    &st);

	if (rc == 0) {
		db_bind_id(st, 1, v->id);
		db_bind_id(st, 2, project_id);
		db_bind_int64(st, 3, v->duration_ms);
		db_bind_int64(st, 4, v->sample_rate);
		db_bind_int64(st, 5, v->channels);
		db_bind_int64(st, 6, v->bit_depth);
		db_bind_int64(st, 7, v->loudness_mlufs);
		db_bind_int64(st, 8, v->true_peak_mdbtp);
		db_bind_int64(st, 9, v->loudness_range_mlu);
		db_bind_int64(st, 10, v->stream_true_peak_mdbtp);
		if (v->meter_flags < 0)
			db_bind_null(st, 11);
		else
			db_bind_int64(st, 11, v->meter_flags);
	}
	return repo_done_one(rc, st);
}

/* Why a measurement has no number (DB_METER_* bits in flags, for the
 * measurement's own bits), or NULL when it has one. */
static const char *meter_reason(int64_t flags, int64_t mine)
{
	if (flags < 0)
		return NULL;
	if (flags & DB_METER_SILENT)
		return "silent";
	if (flags & mine & (DB_METER_SHORT_I | DB_METER_SHORT_LRA))
		return "too short to measure";
	if (flags & mine & DB_METER_GATED)
		return "below the -70 LUFS gate";
	return NULL;
}

size_t db_version_meters(const struct db_version *v, struct db_meter out[DB_METERS_MAX])
{
	const int64_t f = v->meter_flags, lufs = DB_METER_SHORT_I | DB_METER_GATED,
		      lra = DB_METER_SHORT_LRA | DB_METER_GATED;
	const struct db_meter all[DB_METERS_MAX] = {
	    {"loudness_lufs", (double)v->loudness_mlufs / 1000.0, meter_reason(f, lufs)},
	    {"true_peak_dbtp", (double)v->true_peak_mdbtp / 1000.0, meter_reason(f, 0)},
	    {"loudness_range_lu", (double)v->loudness_range_mlu / 1000.0, meter_reason(f, lra)},
	    {"stream_true_peak_dbtp", (double)v->stream_true_peak_mdbtp / 1000.0,
	     meter_reason(f, 0)},
	};
	size_t n = v->sample_rate <= 0 ? 0 : f < 0 ? 2 : DB_METERS_MAX;

	memcpy(out, all, n * sizeof(*out));
	return n;
}

/* ---- stored objects ------------------------------------------------------------------- */

int db_object_create(struct db *db, const uint8_t project_id[DB_ID_LEN], const struct db_object *in)
{
	struct db_stmt *st = NULL;
	int rc;

	if (in->wrapped_dek_len == 0 || in->wrapped_dek_len > DB_WRAPPED_MAX || !in->store_key[0])
		return db_set_err(db, AM_ERR_INVAL, "object without key or store key");
	rc = db_prepare(
	    db,
	    "INSERT INTO objects (id, project_id, version_id, kind, wrapped_dek, plain_size,"
	    " cipher_size, store_key, content_type, state, created)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, in->id);
		db_bind_id(st, 2, project_id);
		db_bind_id(st, 3, in->has_version ? in->version_id : NULL);
		db_bind_text(st, 4, in->kind);
		db_bind_blob(st, 5, in->wrapped_dek, in->wrapped_dek_len);
		db_bind_int64(st, 6, in->plain_size);
		db_bind_int64(st, 7, in->cipher_size);
		db_bind_text(st, 8, in->store_key);
		db_bind_text(st, 9, in->content_type[0] ? in->content_type : NULL);
		db_bind_text(st, 10, in->state[0] ? in->state : "pending");
		db_bind_int64(st, 11, am_now_ms());
	}
	return repo_done(rc, st, NULL);
}

#define OBJECT_COLS                                                                                \
	"SELECT id, project_id, version_id, kind, wrapped_dek, plain_size, cipher_size, "          \
	"store_key,"                                                                               \
	" content_type, state, created FROM objects "

static int object_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_object *out = outp;
	const void *w;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->project_id)))
		return rc;
	out->has_version = repo_opt_id(st, 2, out->version_id);
	repo_text_col(st, 3, out->kind, sizeof(out->kind));
	w = db_column_blob(st, 4, &n);
	if (!w || n > DB_WRAPPED_MAX)
		return db_set_err(db_stmt_db(st), AM_ERR_DB, "object key missing or too long");
	memcpy(out->wrapped_dek, w, n);
	out->wrapped_dek_len = n;
	out->plain_size = db_column_int64(st, 5);
	out->cipher_size = db_column_int64(st, 6);
	repo_text_col(st, 7, out->store_key, sizeof(out->store_key));
	repo_text_col(st, 8, out->content_type, sizeof(out->content_type));
	repo_text_col(st, 9, out->state, sizeof(out->state));
	out->created = db_column_int64(st, 10);
	return 0;
}

REPO_EMIT(object_emit, struct db_object)

static int object_one(struct db *db, const char *where, const uint8_t a[DB_ID_LEN],
		      const uint8_t b[DB_ID_LEN], const char *c, struct db_object *out)
{
	struct db_stmt *st = NULL;
	char sql[512];
	int rc;

	snprintf(sql, sizeof(sql), OBJECT_COLS "%s", where);
	if ((rc = db_prepare(db, sql, &st)))
		return rc;
	db_bind_id(st, 1, a);
	db_bind_id(st, 2, b);
	if (c)
		db_bind_text(st, 3, c);
	if ((rc = repo_row(st)) == 0)
		rc = object_row(st, (union repo_key){0}, out);
	db_finalize(st);
	return rc;
}

int db_object_get(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		  struct db_object *out)
{
	return object_one(db, "WHERE project_id = $1 AND id = $2", project_id, id, NULL, out);
}

int db_object_find(struct db *db, const uint8_t project_id[DB_ID_LEN],
		   const uint8_t version_id[DB_ID_LEN], const char *kind, struct db_object *out)
{
	return object_one(
	    db,
	    "WHERE project_id = $1 AND version_id = $2 AND kind = $3 AND state = 'ready'"
	    " ORDER BY created DESC, id LIMIT 1",
	    project_id, version_id, kind, out);
}

int db_object_ready(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		    int64_t plain_size, int64_t cipher_size)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "UPDATE objects SET state = 'ready', plain_size = $3, cipher_size = $4"
			    " WHERE project_id = $1 AND id = $2 AND state = 'pending'",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_id(st, 2, id);
		db_bind_int64(st, 3, plain_size);
		db_bind_int64(st, 4, cipher_size);
	}
	return repo_done_one(rc, st);
}

int db_object_set_state(struct db *db, const uint8_t project_id[DB_ID_LEN],
			const uint8_t id[DB_ID_LEN], const char *state)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db, "UPDATE objects SET state = $3 WHERE project_id = $1 AND id = $2", &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_id(st, 2, id);
		db_bind_text(st, 3, state);
	}
	return repo_done_one(rc, st);
}

static int object_list(struct db *db, const char *sql, const uint8_t *project_id, int64_t limit,
		       int (*cb)(void *ctx, const struct db_object *o), void *ctx)
{
	struct db_object o;
	struct repo_each e = {REPO_EACH_ROWS(object_row, object_emit, cb, ctx, &o), .max = limit};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, sql, &st);

	if (rc == 0 && project_id)
		db_bind_id(st, 1, project_id);
	else if (rc == 0)
		db_bind_int64(st, 1, limit);
	return repo_each(rc, st, &e);
}

int db_object_list(struct db *db, const uint8_t project_id[DB_ID_LEN],
		   int (*cb)(void *ctx, const struct db_object *o), void *ctx)
{
	return object_list(db, OBJECT_COLS "WHERE project_id = $1 ORDER BY created, id", project_id,
			   0, cb, ctx);
}

/* What the guest view's media URLs need of an object (issue 25): four
 * columns of the ready objects of the kinds it links, not the whole row. */
static int object_ref_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_object_ref *out = outp;
	int rc;

	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->version_id)))
		return rc;
	repo_text_col(st, 2, out->kind, sizeof(out->kind));
	out->created = db_column_int64(st, 3);
	return 0;
}

REPO_EMIT(object_ref_emit, struct db_object_ref)

int db_object_ready_refs(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 int (*cb)(void *ctx, const struct db_object_ref *r), void *ctx)
{
	struct db_object_ref r;
	struct repo_each e = {REPO_EACH_ROWS(object_ref_row, object_ref_emit, cb, ctx, &r)};
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "SELECT id, version_id, kind, created FROM objects WHERE project_id = $1"
		       " AND state = 'ready' AND version_id IS NOT NULL"
		       " AND kind IN ('original', 'stream', 'peaks') ORDER BY created, id",
		       &st);

	if (rc == 0)
		db_bind_id(st, 1, project_id);
	return repo_each(rc, st, &e);
}

int db_object_list_deleting(struct db *db, int limit,
			    int (*cb)(void *ctx, const struct db_object *o), void *ctx)
{
	return object_list(db, OBJECT_COLS "WHERE state = 'deleting' ORDER BY created, id LIMIT $1",
			   NULL, limit > 0 ? limit : 100, cb, ctx);
}

int db_object_delete(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "DELETE FROM objects WHERE project_id = $1 AND id = $2", &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_id(st, 2, id);
	}
	return repo_done_one(rc, st);
}

int db_store_key_named(struct db *db, const char *key, int *named)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "SELECT CAST((SELECT COUNT(*) FROM objects WHERE store_key = $1)"
		       " + (SELECT COUNT(*) FROM upload_parts WHERE store_key = $1) AS BIGINT)",
		       &st);

	*named = 1;
	if (rc == 0 && (rc = db_bind_text(st, 1, key)) == 0 && (rc = repo_row(st)) == 0)
		*named = db_column_int64(st, 0) != 0;
	db_finalize(st);
	return rc;
}
