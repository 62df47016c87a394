/*
 * repo_review.c: reviewer actions (issue 22): the guest-session hash on
 * guest rows, a guest's own comments (listing, editing), and the reviewers'
 * verdicts per version. Runs in the web role; every query is confined to
 * one project, and ownership is proven by the session hash and the link a
 * guest row was written through, both compared in SQL. Names, bodies and
 * notes are sealed under the project's field key.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

int db_guest_set_session(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 const uint8_t id[DB_ID_LEN], const uint8_t hash[DB_SESSION_HASH_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db, "UPDATE guests SET session_hash = $3 WHERE id = $1 AND project_id = $2", &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_blob(st, 3, hash, DB_SESSION_HASH_LEN);
	}
	return repo_done_one(rc, st);
}

int db_guest_session_check(struct db *db, const uint8_t project_id[DB_ID_LEN],
			   const uint8_t id[DB_ID_LEN], const uint8_t link_id[DB_ID_LEN],
			   const uint8_t hash[DB_SESSION_HASH_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT CAST(CASE WHEN link_id = $3 AND session_hash = $4 THEN 1 ELSE 0"
			    " END AS BIGINT) FROM guests WHERE id = $1 AND project_id = $2",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_id(st, 3, link_id);
		db_bind_blob(st, 4, hash, DB_SESSION_HASH_LEN);
		if ((rc = repo_row(st)) == 0 && db_column_int64(st, 0) != 1)
			rc = AM_ERR_DENIED;
	}
	db_finalize(st);
	return rc;
}

static int mine_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_comment_mine *out = outp;

	out->created = db_column_int64(st, 1);
	return db_column_id(st, 0, out->id);
}

REPO_EMIT(mine_emit, struct db_comment_mine)

int db_comment_list_mine(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 const uint8_t link_id[DB_ID_LEN], const uint8_t hash[DB_SESSION_HASH_LEN],
			 int64_t since, int (*cb)(void *ctx, const struct db_comment_mine *m),
			 void *ctx)
{
	struct db_comment_mine m;
	struct repo_each e = {REPO_EACH_ROWS(mine_row, mine_emit, cb, ctx, &m)};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT c.id, c.created FROM comments c JOIN guests g"
			    " ON g.id = c.guest_id AND g.project_id = c.project_id"
			    " WHERE c.project_id = $1 AND g.link_id = $2 AND g.session_hash = $3"
			    " AND c.deleted IS NULL AND c.created > $4 ORDER BY c.created, c.id",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_id(st, 2, link_id);
		db_bind_blob(st, 3, hash, DB_SESSION_HASH_LEN);
		db_bind_int64(st, 4, since);
	}
	return repo_each(rc, st, &e);
}

int db_comment_edit(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t id[DB_ID_LEN], const char *body)
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if (!body)
		return db_set_err(db, AM_ERR_INVAL, "comment edit without a body");
	if ((rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	rc = db_prepare(db,
			"UPDATE comments SET body_ct = $3, edited = $4"
			" WHERE id = $1 AND project_id = $2 AND deleted IS NULL",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		repo_bind_sealed(st, 3, fk, "comments", "body", id, project_id, body, DB_BODY_MAX);
		db_bind_int64(st, 4, am_now_ms());
	}
	crypto_field_key_free(fk);
	return repo_done_one(rc, st);
}

/* ---- verdicts ------------------------------------------------------------------------ */

static int verdict_ok(const char *v)
{
	return v && (strcmp(v, "approved") == 0 || strcmp(v, "changes_requested") == 0);
}

/* The id of the verdict of (version, session), if any: 0 or AM_ERR_NOTFOUND. */
static int verdict_find(struct db *db, const uint8_t project_id[DB_ID_LEN],
			const uint8_t version_id[DB_ID_LEN],
			const uint8_t hash[DB_SESSION_HASH_LEN], uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT id FROM verdicts WHERE project_id = $1 AND version_id = $2"
			    " AND session_hash = $3",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_id(st, 2, version_id);
		db_bind_blob(st, 3, hash, DB_SESSION_HASH_LEN);
		if ((rc = repo_row(st)) == 0)
			rc = db_column_id(st, 0, id);
	}
	db_finalize(st);
	return rc;
}

/* Insert (fresh) or update the verdict row id; sealed fields under fk. */
static int verdict_write(struct db *db, const struct crypto_field_key *fk, int fresh,
			 const uint8_t id[DB_ID_LEN], const uint8_t project_id[DB_ID_LEN],
			 const uint8_t version_id[DB_ID_LEN], const uint8_t *link_id,
			 const uint8_t hash[DB_SESSION_HASH_LEN], const char *name,
			 const char *verdict, const char *note)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db,
	    fresh ? "INSERT INTO verdicts (id, project_id, name_ct, verdict, note_ct, updated,"
		    " version_id, link_id, session_hash, created)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $6)"
		  : "UPDATE verdicts SET name_ct = $3, verdict = $4, note_ct = $5, updated = $6"
		    " WHERE id = $1 AND project_id = $2",
	    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		repo_bind_sealed(st, 3, fk, "verdicts", "name", id, project_id, name, DB_NAME_MAX);
		db_bind_text(st, 4, verdict);
		repo_bind_sealed(st, 5, fk, "verdicts", "note", id, project_id, note, DB_NOTE_MAX);
		db_bind_int64(st, 6, am_now_ms());
		if (fresh) {
			db_bind_id(st, 7, version_id);
			db_bind_id(st, 8, link_id);
			db_bind_blob(st, 9, hash, DB_SESSION_HASH_LEN);
		}
	}
	return fresh ? repo_done(rc, st, NULL) : repo_done_one(rc, st);
}

int db_verdict_set(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		   const uint8_t version_id[DB_ID_LEN], const uint8_t *link_id,
		   const uint8_t hash[DB_SESSION_HASH_LEN], const char *name, const char *verdict,
		   const char *note)
{
	struct crypto_field_key *fk = NULL;
	uint8_t id[DB_ID_LEN];
	int fresh = 0, rc;

	if (!name || !*name || !verdict_ok(verdict))
		return db_set_err(db, AM_ERR_INVAL, "verdict without a name or of an unknown kind");
	if ((rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	if ((rc = db_begin_write(db)))
		goto out;
	rc = verdict_find(db, project_id, version_id, hash, id);
	if (rc == AM_ERR_NOTFOUND) {
		fresh = 1;
		rc = crypto_random_id(id);
	}
	if (rc == 0)
		rc = verdict_write(db, fk, fresh, id, project_id, version_id, link_id, hash, name,
				   verdict, note);
	if (rc)
		db_rollback(db);
	else
		rc = db_commit(db);
out:
	crypto_field_key_free(fk);
	return rc;
}

static int verdict_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_verdict *out = outp;
	const void *p;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->project_id)) ||
	    (rc = db_column_id(st, 2, out->version_id)))
		return rc;
	if ((p = db_column_blob(st, 3, &n)) && n == DB_SESSION_HASH_LEN)
		memcpy(out->session_hash, p, n);
	repo_text_col(st, 5, out->verdict, sizeof(out->verdict));
	out->created = db_column_int64(st, 7);
	out->updated = db_column_int64(st, 8);
	if ((rc = repo_open_col(st, 4, key.fk, "verdicts", "name", out->id, out->project_id,
				out->name, sizeof(out->name))))
		return rc;
	return repo_open_col(st, 6, key.fk, "verdicts", "note", out->id, out->project_id, out->note,
			     sizeof(out->note));
}

REPO_EMIT(verdict_emit, struct db_verdict)

int db_verdict_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    int (*cb)(void *ctx, const struct db_verdict *v), void *ctx)
{
	struct db_verdict v;
	struct repo_each e = {REPO_EACH_ROWS(verdict_row, verdict_emit, cb, ctx, &v), .k = k,
			      .project_id = project_id};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT id, project_id, version_id, session_hash, name_ct, verdict,"
			    " note_ct, created, updated FROM verdicts WHERE project_id = $1"
			    " ORDER BY version_id, created, id",
			    &st);

	if (rc == 0)
		db_bind_id(st, 1, project_id);
	return repo_each(rc, st, &e);
}
