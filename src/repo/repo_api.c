/*
 * repo_api.c: repository functions the JSON API needed beyond the core set
 * (declared at the end of repo.h): forgetting a rate-limit state, listing
 * accounts for `audiomus user list`, and closing an account whose projects
 * still wait for the worker to remove their objects. Runs in the web role
 * and the admin commands; same trust rules as the rest of src/repo/.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

int db_rate_forget(struct db *db, const void *key, size_t keylen)
{
	struct db_stmt *st = NULL;
	uint8_t h[32];
	int rc;

	if ((rc = crypto_sha256(key, keylen, h)))
		return rc;
	rc = db_prepare(db, "DELETE FROM rate_limits WHERE key_hash = $1", &st);
	if (rc == 0)
		db_bind_blob(st, 1, h, sizeof(h));
	return repo_done(rc, st, NULL);
}

/* One row of db_account_list: the e-mail opened under key.fk (the account
 * field key); the password hash is not read. */
static int account_row(struct db_stmt *st, union repo_key key, void *out)
{
	struct db_account *a = out;
	int rc;

	memset(a, 0, sizeof(*a));
	if ((rc = db_column_id(st, 0, a->id)) ||
	    (rc = repo_open_col(st, 1, key.fk, "accounts", "email", a->id, repo_zero_id, a->email,
				sizeof(a->email))))
		return rc;
	a->created = db_column_int64(st, 2);
	a->disabled = (int)db_column_int64(st, 3);
	a->email_verified = db_column_is_null(st, 4) ? 0 : db_column_int64(st, 4);
	return 0;
}

REPO_EMIT(account_emit, struct db_account)

int db_account_list(struct db *db, const struct db_keys *k,
		    int (*cb)(void *ctx, const struct db_account *a), void *ctx)
{
	struct db_account a;
	struct repo_each e = {REPO_EACH_ROWS(account_row, account_emit, cb, ctx, &a)};
	struct db_stmt *st = NULL;
	int rc;

	if (!k || !k->account_field_key)
		return db_set_err(db, AM_ERR_INTERNAL, "no account keys");
	e.key.fk = k->account_field_key;
	rc = db_prepare(db,
			"SELECT id, email_ct, created, disabled, email_verified FROM accounts"
			" WHERE disabled <> 2 ORDER BY created, id",
			&st);
	return repo_each(rc, st, &e);
}

/* Overwrite the e-mail (and its index: the address can sign up again) and
 * the password hash, mark the account closed (disabled = 2). */
static int account_scrub(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	uint8_t idx[32];
	int rc;

	if ((rc = crypto_random(idx, sizeof(idx))))
		return rc;
	rc = db_prepare(db,
			"UPDATE accounts SET disabled = 2, email_index = $2, email_ct = $3,"
			" password_ct = $4 WHERE id = $1",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_blob(st, 2, idx, sizeof(idx));
		repo_bind_sealed(st, 3, k->account_field_key, "accounts", "email", id, repo_zero_id,
				 "", DB_EMAIL_MAX);
		repo_bind_sealed(st, 4, k->account_field_key, "accounts", "password", id,
				 repo_zero_id, "!", DB_PWHASH_MAX);
	}
	return repo_done_one(rc, st);
}

int db_account_close(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN])
{
	int rc;

	if (!k || !k->account_field_key)
		return db_set_err(db, AM_ERR_INTERNAL, "no account keys");
	if ((rc = db_begin_write(db)))
		return rc;
	if ((rc = account_scrub(db, k, id)) == 0)
		rc = db_session_delete_all(db, id, NULL);
	if (rc) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

int db_account_purge_closed(struct db *db, int64_t *n)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "DELETE FROM accounts WHERE disabled = 2 AND NOT EXISTS"
			    " (SELECT 1 FROM projects WHERE projects.account_id = accounts.id)",
			    &st);

	return repo_done(rc, st, n);
}
