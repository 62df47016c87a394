/*
 * repo_project.c: projects (wrapped project key, title, downloads and
 * show-loudness flags, password) and their share links. Runs in the web
 * role (owner and guest side), the media role (look-ups) and the admin
 * commands (key rotation).
 * Titles, link labels and the project password hash are sealed under the
 * project's field key; share links store SHA-256 of their token for the
 * guest look-up and the token itself only sealed under that key (token_ct,
 * opened for the owner's reads).
 * Also the one-read state of a media grant (db_grant_state_*: link or
 * owner session, project, object) for the media role's re-checks.
 */
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

int db_project_create(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		      const uint8_t id[DB_ID_LEN], const uint8_t *wrapped_pk, size_t wrapped_len,
		      const char *mk_id, const char *title)
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if (!k || !k->project_field_key || !wrapped_pk || wrapped_len > DB_WRAPPED_MAX || !mk_id ||
	    strlen(mk_id) > DB_MKID_MAX)
		return db_set_err(db, AM_ERR_INVAL, "project key missing or malformed");
	rc = k->project_field_key(k->ctx, id, wrapped_pk, wrapped_len, mk_id, &fk);
	if (rc)
		return db_set_err(db, AM_ERR_CRYPTO, "project key does not open");
	rc =
	    db_prepare(db,
		       "INSERT INTO projects (id, account_id, wrapped_pk, mk_id, title_ct, created)"
		       " VALUES ($1, $2, $3, $4, $5, $6)",
		       &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, account_id);
		db_bind_blob(st, 3, wrapped_pk, wrapped_len);
		db_bind_text(st, 4, mk_id);
		repo_bind_sealed(st, 5, fk, "projects", "title", id, id, title ? title : "",
				 DB_TITLE_MAX);
		db_bind_int64(st, 6, am_now_ms());
	}
	crypto_field_key_free(fk);
	return repo_done(rc, st, NULL);
}

#define PROJECT_COLS                                                                               \
	"SELECT id, account_id, wrapped_pk, mk_id, title_ct, downloads, password_ct IS NOT NULL, " \
	"pw_gen,"                                                                                  \
	" pw_failures, created, rev, show_loudness, mark_on FROM projects "

/* Fill out from the current row; the title is opened when key.k is given,
 * under the row's own project key. */
static int project_row(struct db_stmt *st, union repo_key key, void *outp)
{
	const struct db_keys *k = key.k;
	struct db *db = db_stmt_db(st);
	struct db_project *out = outp;
	struct crypto_field_key *fk = NULL;
	const void *w;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->account_id)))
		return rc;
	w = db_column_blob(st, 2, &n);
	if (!w || n > DB_WRAPPED_MAX)
		return db_set_err(db, AM_ERR_DB, "project key missing or too long");
	memcpy(out->wrapped_pk, w, n);
	out->wrapped_pk_len = n;
	repo_text_col(st, 3, out->mk_id, sizeof(out->mk_id));
	out->downloads = (int)db_column_int64(st, 5);
	out->has_password = (int)db_column_int64(st, 6);
	out->pw_gen = db_column_int64(st, 7);
	out->pw_failures = db_column_int64(st, 8);
	out->created = db_column_int64(st, 9);
	out->rev = db_column_int64(st, 10);
	out->show_loudness = (int)db_column_int64(st, 11);
	out->mark_on = (int)db_column_int64(st, 12);
	if (!k)
		return 0;
	if (!(fk = repo_held_key(k, out->id)) && /* the request's (db_keys_hold) */
	    k->project_field_key(k->ctx, out->id, out->wrapped_pk, n, out->mk_id, &fk))
		return db_set_err(db, AM_ERR_CRYPTO, "project key does not open");
	rc = repo_open_col(st, 4, fk, "projects", "title", out->id, out->id, out->title,
			   sizeof(out->title));
	crypto_field_key_free(fk);
	return rc;
}

REPO_EMIT(project_emit, struct db_project)

static int project_one(struct db *db, const struct db_keys *k, const uint8_t *account_id,
		       const uint8_t id[DB_ID_LEN], struct db_project *out)
{
	struct db_stmt *st = NULL;
	int rc;

	rc = db_prepare(db,
			account_id ? PROJECT_COLS
			    "WHERE id = $1 AND account_id = $2 AND deleted IS NULL"
				   : PROJECT_COLS "WHERE id = $1 AND deleted IS NULL",
			&st);
	if (rc)
		return rc;
	db_bind_id(st, 1, id);
	if (account_id)
		db_bind_id(st, 2, account_id);
	if ((rc = repo_row(st)) == 0)
		rc = project_row(st, (union repo_key){.k = k}, out);
	db_finalize(st);
	return rc;
}

int db_project_get(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		   const uint8_t id[DB_ID_LEN], struct db_project *out)
{
	return project_one(db, k, account_id, id, out);
}

int db_project_get_by_id(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN],
			 struct db_project *out)
{
	return project_one(db, k, NULL, id, out);
}

int db_project_list(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		    int (*cb)(void *ctx, const struct db_project *p), void *ctx)
{
	struct db_project p;
	struct repo_each e = {REPO_EACH_ROWS(project_row, project_emit, cb, ctx, &p), .key.k = k};
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db, PROJECT_COLS "WHERE account_id = $1 AND deleted IS NULL ORDER BY created DESC, id",
	    &st);

	if (rc == 0)
		db_bind_id(st, 1, account_id);
	return repo_each(rc, st, &e);
}

int db_project_list_by_mk(struct db *db, const char *mk_id,
			  int (*cb)(void *ctx, const struct db_project *p), void *ctx)
{
	struct db_project p;
	struct repo_each e = {REPO_EACH_ROWS(project_row, project_emit, cb, ctx, &p)};
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db, PROJECT_COLS "WHERE mk_id = $1 AND deleted IS NULL ORDER BY id", &st);

	if (rc == 0)
		db_bind_text(st, 1, mk_id);
	return repo_each(rc, st, &e);
}

int db_project_rename(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		      const uint8_t id[DB_ID_LEN], const char *title)
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if ((rc = repo_project_key(db, k, id, &fk)))
		return rc;
	rc = db_prepare(db,
			"UPDATE projects SET title_ct = $3 WHERE id = $1 AND account_id = $2 AND "
			"deleted IS NULL",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, account_id);
		repo_bind_sealed(st, 3, fk, "projects", "title", id, id, title ? title : "",
				 DB_TITLE_MAX);
	}
	crypto_field_key_free(fk);
	return repo_done_one(rc, st);
}

int db_project_set_downloads(struct db *db, const uint8_t account_id[DB_ID_LEN],
			     const uint8_t id[DB_ID_LEN], int on)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "UPDATE projects SET downloads = $3 WHERE id = $1 AND account_id = $2 "
			    "AND deleted IS NULL",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, account_id);
		db_bind_int64(st, 3, on ? 1 : 0);
	}
	return repo_done_one(rc, st);
}

int db_project_set_show_loudness(struct db *db, const uint8_t account_id[DB_ID_LEN],
				 const uint8_t id[DB_ID_LEN], int on)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "UPDATE projects SET show_loudness = $3 WHERE id = $1 AND account_id = $2 "
		       "AND deleted IS NULL",
		       &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, account_id);
		db_bind_int64(st, 3, on ? 1 : 0);
	}
	return repo_done_one(rc, st);
}

int db_project_set_password(struct db *db, const struct db_keys *k,
			    const uint8_t account_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
			    const char *password_hash)
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if ((rc = repo_project_key(db, k, id, &fk)))
		return rc;
	rc = db_prepare(db,
			"UPDATE projects SET password_ct = $3, pw_gen = pw_gen + 1, pw_failures = 0"
			" WHERE id = $1 AND account_id = $2 AND deleted IS NULL",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, account_id);
		repo_bind_sealed(st, 3, fk, "projects", "password", id, id, password_hash,
				 DB_PWHASH_MAX);
	}
	crypto_field_key_free(fk);
	return repo_done_one(rc, st);
}

int db_project_password(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN],
			char *hash, size_t hashlen, int64_t *pw_gen, int64_t *failures)
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	hash[0] = 0;
	if ((rc = repo_project_key(db, k, id, &fk)))
		return rc;
	rc = db_prepare(db,
			"SELECT password_ct, pw_gen, pw_failures FROM projects"
			" WHERE id = $1 AND deleted IS NULL AND password_ct IS NOT NULL",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		if ((rc = repo_row(st)) == 0) {
			rc =
			    repo_open_col(st, 0, fk, "projects", "password", id, id, hash, hashlen);
			*pw_gen = db_column_int64(st, 1);
			*failures = db_column_int64(st, 2);
		}
	}
	db_finalize(st);
	crypto_field_key_free(fk);
	return rc;
}

int db_project_password_failed(struct db *db, const uint8_t id[DB_ID_LEN], int64_t *failures)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db,
	    "UPDATE projects SET pw_failures = pw_failures + 1 WHERE id = $1 AND deleted IS NULL"
	    " RETURNING pw_failures",
	    &st);

	*failures = 0;
	if (rc == 0) {
		db_bind_id(st, 1, id);
		if ((rc = repo_row(st)) == 0)
			*failures = db_column_int64(st, 0);
	}
	return repo_done(rc, st, NULL);
}

int db_project_password_ok(struct db *db, const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db, "UPDATE projects SET pw_failures = 0 WHERE id = $1 AND deleted IS NULL", &st);

	if (rc == 0)
		db_bind_id(st, 1, id);
	return repo_done_one(rc, st);
}

int db_project_shred(struct db *db, const uint8_t account_id[DB_ID_LEN],
		     const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "UPDATE projects SET wrapped_pk = NULL, title_ct = NULL, password_ct = NULL,"
		       " deleted = $3 WHERE id = $1 AND account_id = $2 AND deleted IS NULL",
		       &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, account_id);
		db_bind_int64(st, 3, am_now_ms());
	}
	rc = repo_done_one(rc, st);
	/* Outside a transaction the old page images can leave the WAL now. */
	if (rc == 0 && db_engine(db) == DB_SQLITE && !db_in_tx(db))
		db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	return rc;
}

int db_project_list_deleted(struct db *db, int (*cb)(void *ctx, const uint8_t id[DB_ID_LEN]),
			    void *ctx)
{
	uint8_t id[DB_ID_LEN];
	struct repo_each e = {REPO_EACH_ROWS(repo_id_row, repo_id_emit, cb, ctx, &id), .max = 100};
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db, "SELECT id FROM projects WHERE deleted IS NOT NULL ORDER BY deleted LIMIT 100",
	    &st);

	return repo_each(rc, st, &e);
}

int db_project_purge(struct db *db, const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "DELETE FROM projects WHERE id = $1 AND deleted IS NOT NULL", &st);

	if (rc == 0)
		db_bind_id(st, 1, id);
	return repo_done_one(rc, st);
}

int db_project_rewrap(struct db *db, const uint8_t id[DB_ID_LEN], const char *old_mk_id,
		      const uint8_t *wrapped_pk, size_t wrapped_len, const char *mk_id)
{
	struct db_stmt *st = NULL;
	int rc;

	if (!wrapped_pk || wrapped_len > DB_WRAPPED_MAX || strlen(mk_id) > DB_MKID_MAX)
		return db_set_err(db, AM_ERR_INVAL, "wrapped key malformed");
	rc = db_prepare(db,
			"UPDATE projects SET wrapped_pk = $3, mk_id = $4"
			" WHERE id = $1 AND mk_id = $2 AND deleted IS NULL",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_text(st, 2, old_mk_id);
		db_bind_blob(st, 3, wrapped_pk, wrapped_len);
		db_bind_text(st, 4, mk_id);
	}
	return repo_done_one(rc, st);
}

/* ---- share links --------------------------------------------------------------- */

int db_link_create(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		   const uint8_t token_hash[32], const char *label, int64_t expires, int is_default,
		   uint8_t id_out[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if ((rc = crypto_random_id(id_out)) || (rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	rc = db_prepare(db,
			"INSERT INTO share_links (id, project_id, token_hash, label_ct, expires, "
			"is_default, created)"
			" VALUES ($1, $2, $3, $4, $5, $6, $7)",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id_out);
		db_bind_id(st, 2, project_id);
		db_bind_blob(st, 3, token_hash, 32);
		repo_bind_sealed(st, 4, fk, "share_links", "label", id_out, project_id, label,
				 DB_LABEL_MAX);
		if (expires > 0)
			db_bind_int64(st, 5, expires);
		else
			db_bind_null(st, 5);
		db_bind_int64(st, 6, is_default ? 1 : 0);
		db_bind_int64(st, 7, am_now_ms());
	}
	crypto_field_key_free(fk);
	return repo_done(rc, st, NULL);
}

#define LINK_COLS                                                                                  \
	"SELECT l.id, l.project_id, l.generation, l.label_ct, l.expires, l.revoked, l.is_default," \
	" l.created, l.token_ct, l.token_hash FROM share_links l "

/* Open the sealed token of the current row into out->token, kept only if
 * its SHA-256 is the row's token_hash: a token_ct left from an older
 * generation or copied from elsewhere is never shown. */
static int link_token(struct db_stmt *st, const struct crypto_field_key *fk, struct db_link *out)
{
	const void *stored;
	uint8_t h[32];
	size_t n = 0;
	int rc;

	if ((rc = repo_open_col(st, 8, fk, "share_links", "token", out->id, out->project_id,
				out->token, sizeof(out->token))) ||
	    !out->token[0])
		return rc;
	stored = db_column_blob(st, 9, &n);
	if ((rc = crypto_sha256(out->token, strlen(out->token), h)) == 0 &&
	    (!stored || n != sizeof(h) || memcmp(stored, h, sizeof(h)) != 0))
		am_memzero(out->token, sizeof(out->token));
	return rc;
}

static int link_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_link *out = outp;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->project_id)))
		return rc;
	out->generation = db_column_int64(st, 2);
	out->expires = db_column_int64(st, 4);
	out->revoked = (int)db_column_int64(st, 5);
	out->is_default = (int)db_column_int64(st, 6);
	out->created = db_column_int64(st, 7);
	if (!key.fk)
		return 0;
	if ((rc = repo_open_col(st, 3, key.fk, "share_links", "label", out->id, out->project_id,
				out->label, sizeof(out->label))))
		return rc;
	return link_token(st, key.fk, out);
}

REPO_EMIT(link_emit, struct db_link)

int db_link_resolve(struct db *db, const uint8_t token_hash[32], int64_t now, struct db_link *out)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    LINK_COLS "JOIN projects p ON p.id = l.project_id"
				      " WHERE l.token_hash = $1 AND l.revoked = 0"
				      " AND (l.expires IS NULL OR l.expires > $2)"
				      " AND p.deleted IS NULL AND p.wrapped_pk IS NOT NULL",
			    &st);

	if (rc)
		return rc;
	db_bind_blob(st, 1, token_hash, 32);
	db_bind_int64(st, 2, now);
	if ((rc = repo_row(st)) == 0)
		rc = link_row(st, (union repo_key){0}, out);
	db_finalize(st);
	return rc;
}

int db_link_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		const uint8_t id[DB_ID_LEN], struct db_link *out)
{
	return repo_get_in_project(db, k, project_id, id,
				   LINK_COLS "WHERE l.id = $1 AND l.project_id = $2", link_row,
				   out);
}

int db_link_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 int (*cb)(void *ctx, const struct db_link *l), void *ctx)
{
	struct db_link l;
	struct repo_each e = {REPO_EACH_ROWS(link_row, link_emit, cb, ctx, &l), .k = k,
			      .project_id = project_id};
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db, LINK_COLS "WHERE l.project_id = $1 ORDER BY l.is_default DESC, l.created, l.id",
	    &st);

	if (rc == 0)
		db_bind_id(st, 1, project_id);
	return repo_each(rc, st, &e);
}

int db_link_regenerate(struct db *db, const uint8_t project_id[DB_ID_LEN],
		       const uint8_t id[DB_ID_LEN], const uint8_t new_token_hash[32],
		       int64_t *generation)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "UPDATE share_links SET token_hash = $3, token_ct = NULL,"
		       " generation = generation + 1"
		       " WHERE id = $1 AND project_id = $2 AND revoked = 0 RETURNING generation",
		       &st);

	*generation = 0;
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_blob(st, 3, new_token_hash, 32);
		if ((rc = repo_row(st)) == 0)
			*generation = db_column_int64(st, 0);
	}
	return repo_done(rc, st, NULL);
}

int db_link_revoke(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db,
	    "UPDATE share_links SET revoked = 1, token_ct = NULL, generation = generation + 1"
	    " WHERE id = $1 AND project_id = $2",
	    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
	}
	return repo_done_one(rc, st);
}

int db_link_seal_token(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		       const uint8_t id[DB_ID_LEN], const char *token)
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if ((rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	rc = db_prepare(db,
			"UPDATE share_links SET token_ct = $3 WHERE id = $1 AND project_id = $2 "
			"AND revoked = 0",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		repo_bind_sealed(st, 3, fk, "share_links", "token", id, project_id, token,
				 DB_TOKEN_MAX);
	}
	crypto_field_key_free(fk);
	return repo_done_one(rc, st);
}

/* ---- the re-check of a running media transfer ------------------------------------ */

#define GRANT_STATE_COLS                                                                           \
	"p.account_id, p.downloads, p.password_ct IS NOT NULL, p.pw_gen, o.kind, o.state"

/* Step st (bound) to its one row into out, and finalize it. */
static int grant_state_row(int rc, struct db_stmt *st, struct db_grant_state *out)
{
	memset(out, 0, sizeof(*out));
	if (rc == 0 && (rc = repo_row(st)) == 0) {
		out->link_generation = db_column_int64(st, 0);
		out->link_expires = db_column_int64(st, 1);
		out->link_revoked = (int)db_column_int64(st, 2);
		if ((rc = db_column_id(st, 3, out->account_id)) == 0) {
			out->downloads = (int)db_column_int64(st, 4);
			out->has_password = (int)db_column_int64(st, 5);
			out->pw_gen = db_column_int64(st, 6);
			repo_text_col(st, 7, out->object_kind, sizeof(out->object_kind));
			repo_text_col(st, 8, out->object_state, sizeof(out->object_state));
		}
	}
	db_finalize(st);
	return rc;
}

int db_grant_state_link(struct db *db, const uint8_t project_id[DB_ID_LEN],
			const uint8_t link_id[DB_ID_LEN], const uint8_t object_id[DB_ID_LEN],
			struct db_grant_state *out)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db,
		       "SELECT l.generation, l.expires, l.revoked, " GRANT_STATE_COLS
		       " FROM share_links l JOIN projects p ON p.id = l.project_id"
		       " JOIN objects o ON o.project_id = p.id"
		       " WHERE l.id = $1 AND l.project_id = $2 AND p.deleted IS NULL AND o.id = $3",
		       &st);

	if (rc == 0) {
		db_bind_id(st, 1, link_id);
		db_bind_id(st, 2, project_id);
		db_bind_id(st, 3, object_id);
	}
	return grant_state_row(rc, st, out);
}

int db_grant_state_owner(struct db *db, const uint8_t account_id[DB_ID_LEN],
			 const uint8_t session_id[DB_ID_LEN], const uint8_t project_id[DB_ID_LEN],
			 const uint8_t object_id[DB_ID_LEN], int64_t now,
			 struct db_grant_state *out)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db,
	    "SELECT 0, 0, 0, " GRANT_STATE_COLS
	    " FROM sessions s JOIN accounts a ON a.id = s.account_id"
	    " JOIN projects p ON p.account_id = s.account_id"
	    " JOIN objects o ON o.project_id = p.id"
	    " WHERE s.id = $1 AND s.account_id = $2 AND s.expires > $3 AND a.disabled = 0"
	    " AND p.id = $4 AND p.deleted IS NULL AND o.id = $5",
	    &st);

	if (rc == 0) {
		db_bind_id(st, 1, session_id);
		db_bind_id(st, 2, account_id);
		db_bind_int64(st, 3, now);
		db_bind_id(st, 4, project_id);
		db_bind_id(st, 5, object_id);
	}
	return grant_state_row(rc, st, out);
}
