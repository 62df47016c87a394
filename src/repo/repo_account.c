/*
 * repo_account.c: owner accounts and their sessions. Runs in the web role
 * and the admin commands. E-mail addresses and password hashes are sealed
 * under the account field key (AAD: table, column, account id, zero project);
 * look-up by e-mail goes through an HMAC-SHA256 blind index of the folded
 * address. Sessions store only the SHA-256 of the cookie's session id.
 */
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

static int email_index(struct db *db, const struct db_keys *k, const char *email, uint8_t out[32])
{
	char folded[DB_EMAIL_MAX + 1];
	int rc;

	if (!k || !k->email_index_key || !k->account_field_key)
		return db_set_err(db, AM_ERR_INTERNAL, "no account keys");
	rc = repo_fold_email(email, folded, sizeof(folded));
	if (rc)
		return db_set_err(db, rc, "e-mail address empty or too long");
	rc = crypto_blind_index(k->email_index_key, folded, strlen(folded), out);
	am_memzero(folded, sizeof(folded));
	return rc;
}

int db_account_create(struct db *db, const struct db_keys *k, const char *email,
		      const char *password_hash, uint8_t id_out[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	uint8_t idx[32];
	int rc;

	if ((rc = email_index(db, k, email, idx)) || (rc = crypto_random_id(id_out)))
		return rc;
	rc = db_prepare(db,
			"INSERT INTO accounts (id, email_ct, email_index, password_ct, created)"
			" VALUES ($1, $2, $3, $4, $5)",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id_out);
		repo_bind_sealed(st, 2, k->account_field_key, "accounts", "email", id_out,
				 repo_zero_id, email, DB_EMAIL_MAX);
		db_bind_blob(st, 3, idx, sizeof(idx));
		repo_bind_sealed(st, 4, k->account_field_key, "accounts", "password", id_out,
				 repo_zero_id, password_hash, DB_PWHASH_MAX);
		db_bind_int64(st, 5, am_now_ms());
	}
	return repo_done(rc, st, NULL);
}

#define ACCOUNT_COLS                                                                               \
	"SELECT id, email_ct, password_ct, created, disabled, email_index, email_verified FROM "   \
	"accounts "

/* A 32-byte digest column (the e-mail blind index). */
static int index_col(struct db_stmt *st, int col, uint8_t out[32])
{
	size_t n = 0;
	const void *p = db_column_blob(st, col, &n);

	if (!p || n != 32)
		return AM_ERR_DB;
	memcpy(out, p, 32);
	return 0;
}

static int account_row(struct db_stmt *st, const struct db_keys *k, struct db_account *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)))
		return rc;
	rc = repo_open_col(st, 1, k->account_field_key, "accounts", "email", out->id, repo_zero_id,
			   out->email, sizeof(out->email));
	if (rc == 0)
		rc = repo_open_col(st, 2, k->account_field_key, "accounts", "password", out->id,
				   repo_zero_id, out->password_hash, sizeof(out->password_hash));
	out->created = db_column_int64(st, 3);
	out->disabled = (int)db_column_int64(st, 4);
	if (rc == 0)
		rc = index_col(st, 5, out->email_index);
	out->email_verified = db_column_is_null(st, 6) ? 0 : db_column_int64(st, 6);
	return rc;
}

static int account_one(struct db *db, const struct db_keys *k, const char *where, const void *key,
		       size_t keylen, struct db_account *out)
{
	struct db_stmt *st = NULL;
	char sql[256];
	int rc;

	if (!k || !k->account_field_key)
		return db_set_err(db, AM_ERR_INTERNAL, "no account keys");
	snprintf(sql, sizeof(sql), ACCOUNT_COLS "%s", where);
	if ((rc = db_prepare(db, sql, &st)))
		return rc;
	db_bind_blob(st, 1, key, keylen);
	rc = repo_row(st);
	if (rc == 0)
		rc = account_row(st, k, out);
	db_finalize(st);
	return rc;
}

int db_account_get(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN],
		   struct db_account *out)
{
	return account_one(db, k, "WHERE id = $1", id, DB_ID_LEN, out);
}

int db_account_find_by_email(struct db *db, const struct db_keys *k, const char *email,
			     struct db_account *out)
{
	uint8_t idx[32];
	int rc = email_index(db, k, email, idx);

	return rc ? rc : account_one(db, k, "WHERE email_index = $1", idx, sizeof(idx), out);
}

int db_account_set_password(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN],
			    const char *password_hash)
{
	struct db_stmt *st = NULL;
	int rc;

	if (!k || !k->account_field_key || !password_hash)
		return db_set_err(db, AM_ERR_INVAL, "no key or hash");
	rc = db_prepare(db, "UPDATE accounts SET password_ct = $2 WHERE id = $1", &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		repo_bind_sealed(st, 2, k->account_field_key, "accounts", "password", id,
				 repo_zero_id, password_hash, DB_PWHASH_MAX);
	}
	return repo_done_one(rc, st);
}

int db_account_set_disabled(struct db *db, const uint8_t id[DB_ID_LEN], int disabled)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "UPDATE accounts SET disabled = $2 WHERE id = $1", &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_int64(st, 2, disabled ? 1 : 0);
	}
	return repo_done_one(rc, st);
}

int db_account_set_email_verified(struct db *db, const uint8_t id[DB_ID_LEN],
				  const uint8_t *email_index, int64_t at)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "UPDATE accounts SET email_verified = CASE WHEN $2 > 0 THEN "
			    "COALESCE(email_verified, $2) END"
			    " WHERE id = $1 AND disabled = 0 AND ($3 = 0 OR email_index = $4)",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_int64(st, 2, at);
		db_bind_int64(st, 3, email_index ? 1 : 0);
		db_bind_blob(st, 4, email_index ? email_index : id, email_index ? 32 : DB_ID_LEN);
	}
	return repo_done_one(rc, st);
}

int db_account_email_verified(struct db *db, const uint8_t id[DB_ID_LEN], int64_t *at)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "SELECT email_verified FROM accounts WHERE id = $1", &st);

	*at = 0;
	if (rc)
		return rc;
	db_bind_id(st, 1, id);
	if ((rc = repo_row(st)) == 0 && !db_column_is_null(st, 0))
		*at = db_column_int64(st, 0);
	db_finalize(st);
	return rc;
}

int db_account_delete(struct db *db, const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc;

	if ((rc = db_begin_write(db)))
		return rc;
	rc = db_prepare(db, "SELECT 1 FROM projects WHERE account_id = $1", &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		rc = repo_row(st);
		rc = rc == 0 ? db_set_err(db, AM_ERR_CONFLICT, "account still has projects")
		     : rc == AM_ERR_NOTFOUND ? 0
					     : rc;
	}
	db_finalize(st);
	st = NULL;
	if (rc == 0) {
		rc = db_prepare(db, "DELETE FROM accounts WHERE id = $1", &st);
		if (rc == 0)
			db_bind_id(st, 1, id);
		rc = repo_done_one(rc, st);
	}
	if (rc) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

int db_account_count(struct db *db, int64_t *n)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM accounts", &st);

	*n = 0;
	if (rc == 0 && (rc = repo_row(st)) == 0)
		*n = db_column_int64(st, 0);
	db_finalize(st);
	return rc;
}

/* ---- sessions ------------------------------------------------------------------ */

int db_session_create(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		      const uint8_t token_hash[32], int64_t expires, const char *agent,
		      uint8_t id_out[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int64_t now = am_now_ms();
	int rc;

	if (!k || !k->account_field_key)
		return db_set_err(db, AM_ERR_INTERNAL, "no account keys");
	if ((rc = crypto_random_id(id_out)))
		return rc;
	rc = db_prepare(db,
			"INSERT INTO sessions (id, account_id, token_hash, created, last_seen, "
			"expires, agent_ct)"
			" VALUES ($1, $2, $3, $4, $4, $5, $6)",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id_out);
		db_bind_id(st, 2, account_id);
		db_bind_blob(st, 3, token_hash, 32);
		db_bind_int64(st, 4, now);
		db_bind_int64(st, 5, expires);
		repo_bind_sealed(st, 6, k->account_field_key, "sessions", "agent", id_out,
				 repo_zero_id, agent, DB_AGENT_MAX);
	}
	return repo_done(rc, st, NULL);
}

/* The agent is opened when key.fk (the account field key) is given. */
static int session_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_session *out = outp;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->account_id)))
		return rc;
	out->created = db_column_int64(st, 2);
	out->last_seen = db_column_int64(st, 3);
	out->expires = db_column_int64(st, 4);
	if (key.fk)
		rc = repo_open_col(st, 5, key.fk, "sessions", "agent", out->id, repo_zero_id,
				   out->agent, sizeof(out->agent));
	return rc;
}

REPO_EMIT(session_emit, struct db_session)

#define SESSION_COLS "SELECT id, account_id, created, last_seen, expires, agent_ct FROM sessions "

int db_session_get(struct db *db, const uint8_t token_hash[32], int64_t now, struct db_session *out)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, SESSION_COLS "WHERE token_hash = $1 AND expires > $2", &st);

	if (rc)
		return rc;
	db_bind_blob(st, 1, token_hash, 32);
	db_bind_int64(st, 2, now);
	if ((rc = repo_row(st)) == 0)
		rc = session_row(st, (union repo_key){0}, out);
	db_finalize(st);
	return rc;
}

int db_session_touch(struct db *db, const uint8_t token_hash[32], int64_t now)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "UPDATE sessions SET last_seen = $2 WHERE token_hash = $1", &st);

	if (rc == 0) {
		db_bind_blob(st, 1, token_hash, 32);
		db_bind_int64(st, 2, now);
	}
	return repo_done_one(rc, st);
}

int db_session_live(struct db *db, const uint8_t account_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		    int64_t now)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db,
	    "SELECT 1 FROM sessions s JOIN accounts a ON a.id = s.account_id"
	    " WHERE s.id = $1 AND s.account_id = $2 AND s.expires > $3 AND a.disabled = 0",
	    &st);

	if (rc)
		return rc;
	db_bind_id(st, 1, id);
	db_bind_id(st, 2, account_id);
	db_bind_int64(st, 3, now);
	rc = repo_row(st);
	db_finalize(st);
	return rc;
}

int db_session_list(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		    int (*cb)(void *ctx, const struct db_session *s), void *ctx)
{
	struct db_session s;
	struct repo_each e = {REPO_EACH_ROWS(session_row, session_emit, cb, ctx, &s)};
	struct db_stmt *st = NULL;
	int rc;

	if (!k || !k->account_field_key)
		return db_set_err(db, AM_ERR_INTERNAL, "no account keys");
	e.key.fk = k->account_field_key;
	if ((rc = db_prepare(db, SESSION_COLS "WHERE account_id = $1 ORDER BY last_seen DESC",
			     &st)) == 0)
		db_bind_id(st, 1, account_id);
	return repo_each(rc, st, &e);
}

int db_session_delete(struct db *db, const uint8_t account_id[DB_ID_LEN],
		      const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "DELETE FROM sessions WHERE id = $1 AND account_id = $2", &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, account_id);
	}
	return repo_done_one(rc, st);
}

int db_session_delete_hash(struct db *db, const uint8_t token_hash[32])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "DELETE FROM sessions WHERE token_hash = $1", &st);

	if (rc == 0)
		db_bind_blob(st, 1, token_hash, 32);
	return repo_done_one(rc, st);
}

int db_session_delete_all(struct db *db, const uint8_t account_id[DB_ID_LEN],
			  const uint8_t *keep_id)
{
	static const uint8_t none[DB_ID_LEN];
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "DELETE FROM sessions WHERE account_id = $1 AND id <> $2", &st);

	if (rc == 0) {
		db_bind_id(st, 1, account_id);
		db_bind_id(st, 2, keep_id ? keep_id : none);
	}
	return repo_done(rc, st, NULL);
}

int db_session_purge(struct db *db, int64_t now, int64_t *deleted)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db, "DELETE FROM sessions WHERE expires <= $1", &st);

	if (rc == 0)
		db_bind_int64(st, 1, now);
	return repo_done(rc, st, deleted);
}

/* ---- wrapped key blobs ------------------------------------------------------------------ */

int db_keyblob_put(struct db *db, const char *name, const char *mk_id, const uint8_t *blob,
		   size_t n, int only_if_absent)
{
	struct db_stmt *st = NULL;
	int64_t changed = 0;
	int rc;

	if (!name || !*name || !blob || n == 0 || n > DB_KEYBLOB_MAX ||
	    (mk_id && strlen(mk_id) > DB_MKID_MAX))
		return db_set_err(db, AM_ERR_INVAL, "key blob name or size out of range");
	rc = db_prepare(
	    db,
	    only_if_absent
		? "INSERT INTO key_blobs (name, mk_id, blob, updated) VALUES ($1, $2, $3, $4)"
		  " ON CONFLICT (name) DO NOTHING"
		: "INSERT INTO key_blobs (name, mk_id, blob, updated) VALUES ($1, $2, $3, $4)"
		  " ON CONFLICT (name) DO UPDATE SET mk_id = excluded.mk_id, blob = excluded.blob,"
		  " updated = excluded.updated",
	    &st);
	if (rc == 0) {
		db_bind_text(st, 1, name);
		db_bind_text(st, 2, mk_id);
		db_bind_blob(st, 3, blob, n);
		db_bind_int64(st, 4, am_now_ms());
	}
	rc = repo_done(rc, st, &changed);
	if (rc == 0 && changed == 0)
		rc = AM_ERR_EXISTS;
	return rc;
}

int db_keyblob_get(struct db *db, const char *name, uint8_t *out, size_t cap, size_t *n,
		   char *mk_id, size_t mk_id_len)
{
	struct db_stmt *st = NULL;
	const void *p;
	size_t len = 0;
	int rc = db_prepare(db, "SELECT blob, mk_id FROM key_blobs WHERE name = $1", &st);

	*n = 0;
	if (rc)
		return rc;
	db_bind_text(st, 1, name);
	if ((rc = repo_row(st)) == 0) {
		p = db_column_blob(st, 0, &len);
		if (!p || len > cap) {
			rc = db_set_err(db, AM_ERR_TOOBIG, "key blob larger than the buffer");
		} else {
			memcpy(out, p, len);
			*n = len;
			if (mk_id && mk_id_len)
				repo_text_col(st, 1, mk_id, mk_id_len);
		}
	}
	db_finalize(st);
	return rc;
}
