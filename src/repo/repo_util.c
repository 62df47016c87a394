/*
 * repo_util.c: the small helpers of the repository layer: sealing and
 * opening encrypted columns with their AAD, project field keys through the
 * keyring callback, statement running and the one loop of every listing
 * (repo_each). Runs wherever the repository runs; ciphertext read from the
 * database is untrusted and authenticated by crypto_field_open before a
 * byte of it is used.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

const uint8_t repo_zero_id[DB_ID_LEN];

int repo_project_key(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		     struct crypto_field_key **fk)
{
	struct db_stmt *st = NULL;
	const void *w;
	size_t n = 0;
	int rc;

	*fk = NULL;
	if (!k || !k->project_field_key)
		return db_set_err(db, AM_ERR_INTERNAL, "no keyring");
	if ((*fk = repo_held_key(k, project_id)))
		return 0;
	rc = db_prepare(db,
			"SELECT wrapped_pk, mk_id FROM projects"
			" WHERE id = $1 AND deleted IS NULL AND wrapped_pk IS NOT NULL",
			&st);
	if (rc)
		return rc;
	db_bind_id(st, 1, project_id);
	rc = repo_row(st);
	if (rc == 0) {
		w = db_column_blob(st, 0, &n);
		rc = k->project_field_key(k->ctx, project_id, w, n, db_column_text(st, 1), fk);
		if (rc)
			rc = db_set_err(db, AM_ERR_CRYPTO, "project key does not open");
	}
	db_finalize(st);
	return rc;
}

struct crypto_field_key *repo_held_key(const struct db_keys *k, const uint8_t project_id[DB_ID_LEN])
{
	if (!k->held || memcmp(k->held_project, project_id, DB_ID_LEN) != 0)
		return NULL;
	return crypto_field_key_ref(k->held);
}

int db_keys_hold(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 struct db_keys *out)
{
	struct crypto_field_key *fk = NULL;
	int rc;

	*out = *k;
	out->held = NULL;
	if ((rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	out->held = fk;
	memcpy(out->held_project, project_id, DB_ID_LEN);
	return 0;
}

void db_keys_release(struct db_keys *k)
{
	crypto_field_key_free(k->held);
	k->held = NULL;
}

int repo_bind_sealed(struct db_stmt *st, int idx, const struct crypto_field_key *key,
		     const char *table, const char *column, const uint8_t row[DB_ID_LEN],
		     const uint8_t project[DB_ID_LEN], const char *text, size_t max)
{
	struct am_buf b;
	size_t n;
	int rc;

	if (!text)
		return db_bind_null(st, idx);
	n = strlen(text);
	if (n > max) {
		rc = db_set_err(db_stmt_db(st), AM_ERR_TOOBIG, "%s.%s longer than %zu bytes", table,
				column, max);
		return db_bind_fail(st, rc);
	}
	am_buf_init(&b, n + CRYPTO_FIELD_OVERHEAD);
	rc = crypto_field_seal(key, table, column, row, project, text, n, &b);
	if (rc == 0)
		rc = db_bind_blob(st, idx, b.p ? b.p : (const uint8_t *)"", b.len);
	else
		db_bind_fail(st,
			     db_set_err(db_stmt_db(st), rc, "cannot seal %s.%s", table, column));
	am_buf_cleanup(&b);
	return rc;
}

int repo_open_col(struct db_stmt *st, int col, const struct crypto_field_key *key,
		  const char *table, const char *column, const uint8_t row[DB_ID_LEN],
		  const uint8_t project[DB_ID_LEN], char *out, size_t outsz)
{
	const void *ct;
	size_t n = 0;
	int rc;

	out[0] = 0;
	ct = db_column_blob(st, col, &n);
	if (!ct)
		return 0;
	rc = crypto_field_open_to(key, table, column, row, project, ct, n, out, outsz);
	if (rc == AM_ERR_TOOBIG)
		rc = db_set_err(db_stmt_db(st), AM_ERR_DB, "%s.%s: stored value too long", table,
				column);
	else if (rc)
		rc = db_set_err(db_stmt_db(st), AM_ERR_CRYPTO, "%s.%s: ciphertext does not open",
				table, column);
	return rc;
}

void repo_text_col(struct db_stmt *st, int col, char *out, size_t outsz)
{
	const char *s = db_column_text(st, col);

	am_strlcpy(out, s ? s : "", outsz);
}

int repo_opt_id(struct db_stmt *st, int col, uint8_t out[DB_ID_LEN])
{
	if (db_column_is_null(st, col)) {
		memset(out, 0, DB_ID_LEN);
		return 0;
	}
	return db_column_id(st, col, out) == 0;
}

int repo_done(int prep_rc, struct db_stmt *st, int64_t *changes)
{
	int rc = prep_rc;

	if (changes)
		*changes = 0;
	if (rc == 0 && st) {
		while ((rc = db_step(st)) == DB_ROW)
			;
		if (rc == DB_DONE && changes)
			*changes = db_changes(st);
	}
	db_finalize(st);
	return rc;
}

int repo_done_one(int prep_rc, struct db_stmt *st)
{
	int64_t n;
	int rc = repo_done(prep_rc, st, &n);

	if (rc == 0 && n == 0)
		rc = AM_ERR_NOTFOUND;
	return rc;
}

int repo_row(struct db_stmt *st)
{
	int rc = db_step(st);

	if (rc == DB_ROW)
		return 0;
	if (rc == DB_DONE)
		return AM_ERR_NOTFOUND;
	return rc;
}

int repo_fold_email(const char *email, char *out, size_t outsz)
{
	size_t n = strlen(email);

	if (n == 0)
		return AM_ERR_INVAL;
	if (n > DB_EMAIL_MAX || n >= outsz)
		return AM_ERR_TOOBIG;
	for (size_t i = 0; i <= n; i++)
		out[i] = (email[i] >= 'A' && email[i] <= 'Z') ? (char)(email[i] + 32) : email[i];
	return 0;
}

int repo_get_in_project(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
			const uint8_t id[DB_ID_LEN], const char *sql, repo_row_fn *row, void *out)
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if ((rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	rc = db_prepare(db, sql, &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		if ((rc = repo_row(st)) == 0)
			rc = row(st, (union repo_key){.fk = fk}, out);
	}
	db_finalize(st);
	crypto_field_key_free(fk);
	return rc;
}

int repo_each(int prep_rc, struct db_stmt *st, const struct repo_each *e)
{
	struct crypto_field_key *fk = NULL;
	union repo_key key = e->key;
	int64_t n = 0;
	int rc = prep_rc;

	if (rc == 0 && e->project_id &&
	    (rc = repo_project_key(db_stmt_db(st), e->k, e->project_id, &fk)) == 0)
		key.fk = fk;
	while (rc == 0 && (e->max <= 0 || n < e->max) && (rc = db_step(st)) == DB_ROW) {
		n++;
		if ((rc = e->row(st, key, e->buf)) == 0)
			rc = e->emit(e->cb, e->ctx, e->buf);
	}
	db_finalize(st);
	crypto_field_key_free(fk);
	am_memzero(e->buf, e->size);
	return rc;
}

int repo_id_row(struct db_stmt *st, union repo_key key, void *out)
{
	return db_column_id(st, 0, out);
}

int repo_id_emit(repo_cb *cb, void *ctx, const void *row)
{
	return ((int (*)(void *, const uint8_t *))cb)(ctx, row);
}
