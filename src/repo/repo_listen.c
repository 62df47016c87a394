/*
 * repo_listen.c: listen coverage (schema v11) and the comment listing of
 * the activity log. A report of the review page's player is merged into one
 * row per (project, version, listener): the heard seconds as a bitmap,
 * sealed (base64url text) under the project's field key like the listener's
 * name, so a database copy without the master key shows neither who
 * listened nor what they heard, only how often and when. Runs in the web
 * role; what it is given was bounded by the API (api_listen.c) and the
 * ciphertext it reads is authenticated before use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

/* base64url of DB_LISTEN_BYTES, with its NUL */
#define HEARD_TEXT_MAX (((DB_LISTEN_BYTES + 2) / 3) * 4 + 1)

/* The stored bitmap of the current row's column col into out. */
static int open_heard(struct db_stmt *st, int col, const struct crypto_field_key *fk,
		      const uint8_t id[DB_ID_LEN], const uint8_t pid[DB_ID_LEN],
		      uint8_t out[DB_LISTEN_BYTES], size_t *len)
{
	char text[HEARD_TEXT_MAX];
	int rc;

	*len = 0;
	rc = repo_open_col(st, col, fk, "listens", "heard", id, pid, text, sizeof(text));
	if (rc == 0 && text[0] &&
	    crypto_b64url_decode(text, strlen(text), out, DB_LISTEN_BYTES, len))
		rc = db_set_err(db_stmt_db(st), AM_ERR_DB, "listens.heard: not a bitmap");
	am_memzero(text, sizeof(text));
	return rc;
}

/* The existing row of in (its id, bitmap; *found = 1) or *found = 0. */
static int listen_find(struct db *db, const struct crypto_field_key *fk,
		       const struct db_listen_add *in, uint8_t id[DB_ID_LEN],
		       uint8_t heard[DB_LISTEN_BYTES], size_t *len, int *found)
{
	struct db_stmt *st = NULL;
	/* PostgreSQL: lock the row, so two reports of one listener merged at
	 * once both count (read committed would let the second overwrite the
	 * first's OR). SQLite's write transaction already holds the database. */
	int rc = db_prepare(db,
			    db_engine(db) == DB_PGSQL
				? "SELECT id, heard_ct FROM listens WHERE project_id = $1"
				  " AND version_id = $2 AND listener = $3 FOR UPDATE"
				: "SELECT id, heard_ct FROM listens WHERE project_id = $1"
				  " AND version_id = $2 AND listener = $3",
			    &st);

	*found = 0;
	*len = 0;
	if (rc == 0) {
		db_bind_id(st, 1, in->project_id);
		db_bind_id(st, 2, in->version_id);
		db_bind_blob(st, 3, in->listener, DB_LISTENER_LEN);
		rc = repo_row(st);
		if (rc == 0 && (rc = db_column_id(st, 0, id)) == 0) {
			*found = 1;
			rc = open_heard(st, 1, fk, id, in->project_id, heard, len);
		} else if (rc == AM_ERR_NOTFOUND) {
			rc = 0;
		}
	}
	db_finalize(st);
	return rc;
}

/* Write the merged row: an UPDATE of the row found, else an INSERT. */
static int listen_write(struct db *db, const struct crypto_field_key *fk,
			const struct db_listen_add *in, const uint8_t id[DB_ID_LEN], int found,
			const char *heard_text)
{
	struct db_stmt *st = NULL;
	const char *name = in->name && *in->name ? in->name : NULL;
	int rc = db_prepare(
	    db,
	    found ? "UPDATE listens SET link_id = COALESCE($4, link_id),"
		    " name_ct = COALESCE($5, name_ct), heard_ct = $6, plays = plays + $7,"
		    " last_seen = $8 WHERE id = $1 AND project_id = $2 AND version_id = $3"
		  : "INSERT INTO listens (id, project_id, version_id, link_id, name_ct, heard_ct,"
		    " plays, created, last_seen, listener) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
		    " $8, $9)",
	    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, in->project_id);
		db_bind_id(st, 3, in->version_id);
		db_bind_id(st, 4, in->link_id);
		repo_bind_sealed(st, 5, fk, "listens", "name", id, in->project_id, name,
				 DB_NAME_MAX);
		repo_bind_sealed(st, 6, fk, "listens", "heard", id, in->project_id, heard_text,
				 HEARD_TEXT_MAX - 1);
		db_bind_int64(st, 7, in->play ? 1 : 0);
		db_bind_int64(st, 8, in->now);
		if (!found)
			db_bind_blob(st, 9, in->listener, DB_LISTENER_LEN);
	}
	return found ? repo_done_one(rc, st) : repo_done(rc, st, NULL);
}

/* Find, OR in, write: inside the caller's write transaction. */
static int listen_merge_in(struct db *db, const struct crypto_field_key *fk,
			   const struct db_listen_add *in)
{
	uint8_t id[DB_ID_LEN], heard[DB_LISTEN_BYTES];
	char text[HEARD_TEXT_MAX];
	size_t len = 0;
	int found = 0, rc;

	memset(heard, 0, sizeof(heard));
	if ((rc = listen_find(db, fk, in, id, heard, &len, &found)))
		goto out;
	if (!found && (rc = crypto_random_id(id)))
		goto out;
	for (size_t i = 0; i < in->heard_len; i++)
		heard[i] |= in->heard[i];
	if (in->heard_len > len)
		len = in->heard_len;
	if ((rc = crypto_b64url_encode(heard, len, text, sizeof(text))))
		goto out;
	rc = listen_write(db, fk, in, id, found, text);
out:
	am_memzero(heard, sizeof(heard));
	am_memzero(text, sizeof(text));
	return rc;
}

int db_listen_merge(struct db *db, const struct db_keys *k, const struct db_listen_add *in)
{
	struct crypto_field_key *fk = NULL;
	int rc;

	if (!in || in->heard_len > DB_LISTEN_BYTES || (in->heard_len && !in->heard))
		return db_set_err(db, AM_ERR_INVAL, "listen report out of bounds");
	if ((rc = db_begin_write(db)))
		return rc;
	if ((rc = repo_project_key(db, k, in->project_id, &fk)) == 0)
		rc = listen_merge_in(db, fk, in);
	crypto_field_key_free(fk);
	if (rc) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

static int listen_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_listen *out = outp;
	const void *p;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->project_id)) ||
	    (rc = db_column_id(st, 2, out->version_id)))
		return rc;
	if ((p = db_column_blob(st, 3, &n)) && n == DB_LISTENER_LEN)
		memcpy(out->listener, p, DB_LISTENER_LEN);
	out->has_link = repo_opt_id(st, 4, out->link_id);
	out->plays = db_column_int64(st, 7);
	out->created = db_column_int64(st, 8);
	out->last_seen = db_column_int64(st, 9);
	if ((rc = repo_open_col(st, 5, key.fk, "listens", "name", out->id, out->project_id,
				out->name, sizeof(out->name))))
		return rc;
	return open_heard(st, 6, key.fk, out->id, out->project_id, out->heard, &out->heard_len);
}

REPO_EMIT(listen_emit, struct db_listen)

int db_listen_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		   int (*cb)(void *ctx, const struct db_listen *l), void *ctx)
{
	/* A row holds its 2.7 KB bitmap: on the heap, not the stack. */
	struct db_listen *buf = calloc(1, sizeof(*buf));
	struct repo_each e = {REPO_EACH_ROWS(listen_row, listen_emit, cb, ctx, buf),
			      .max = DB_LISTENS_MAX, .k = k, .project_id = project_id};
	struct db_stmt *st = NULL;
	int rc;

	if (!buf)
		return AM_ERR_NOMEM;
	rc = db_prepare(db,
			"SELECT id, project_id, version_id, listener, link_id, name_ct, heard_ct,"
			" plays, created, last_seen FROM listens WHERE project_id = $1"
			" ORDER BY version_id, created, id",
			&st);
	if (rc == 0)
		db_bind_id(st, 1, project_id);
	rc = repo_each(rc, st, &e);
	free(buf);
	return rc;
}

/* ---- comments, as the activity log shows them ------------------------------------ */

static int who_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_comment_who *out = outp;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->project_id)) ||
	    (rc = db_column_id(st, 2, out->version_id)))
		return rc;
	out->has_guest = repo_opt_id(st, 3, out->guest_id);
	out->has_link = repo_opt_id(st, 5, out->link_id);
	out->is_reply = !db_column_is_null(st, 6);
	out->created = db_column_int64(st, 7);
	if (!out->has_guest)
		return 0;
	return repo_open_col(st, 4, key.fk, "guests", "name", out->guest_id, out->project_id,
			     out->author, sizeof(out->author));
}

REPO_EMIT(who_emit, struct db_comment_who)

int db_comment_who_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
			int limit, int (*cb)(void *ctx, const struct db_comment_who *c), void *ctx)
{
	struct db_comment_who c;
	struct repo_each e = {REPO_EACH_ROWS(who_row, who_emit, cb, ctx, &c), .max = limit, .k = k,
			      .project_id = project_id};
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db,
	    "SELECT c.id, c.project_id, c.version_id, c.guest_id, g.name_ct, g.link_id,"
	    " c.parent_id, c.created FROM comments c"
	    " LEFT JOIN guests g ON g.id = c.guest_id AND g.project_id = c.project_id"
	    " WHERE c.project_id = $1 AND c.deleted IS NULL ORDER BY c.created DESC, c.id LIMIT $2",
	    &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_int64(st, 2, limit > 0 ? limit : INT64_MAX);
	}
	return repo_each(rc, st, &e);
}
