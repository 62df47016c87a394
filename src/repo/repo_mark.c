/*
 * repo_mark.c: the listener mark's payload map (schema v15, issue 26,
 * docs/watermark.md "Payload map"): the project's mark settings and one
 * row per listening (project, link, guest session) holding a random 64-bit
 * payload, the reviewer's name as given and the time of first access, all
 * sealed under the project's field key, with a keyed lookup column
 * (HMAC under the project's watermark key, computed by the caller) by which
 * the tracer finds the row of a payload read from a file. A database copy
 * without the master key names no one: the payloads are sealed and the
 * lookup cannot be computed. Runs in the web role; its inputs were bounded
 * by the API (src/api/api_mark.c) and the ciphertext it reads is
 * authenticated before use.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

#define PAYLOAD_HEX (2 * DB_MARK_PAYLOAD_LEN + 1)
#define FIRST_TEXT  24 /* decimal int64 and NUL */

int db_mark_settings_get(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 struct db_mark_settings *out)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT mark_on, mark_strength, mark_downloads FROM projects"
			    " WHERE id = $1 AND deleted IS NULL",
			    &st);

	memset(out, 0, sizeof(*out));
	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		if ((rc = repo_row(st)) == 0) {
			out->on = db_column_int64(st, 0) != 0;
			out->strength = (int)db_column_int64(st, 1);
			out->downloads = db_column_int64(st, 2) != 0;
		}
	}
	db_finalize(st);
	return rc;
}

int db_mark_settings_set(struct db *db, const uint8_t account_id[DB_ID_LEN],
			 const uint8_t project_id[DB_ID_LEN], const struct db_mark_settings *in)
{
	struct db_stmt *st = NULL;
	int rc;

	if (!in || in->strength < DB_MARK_STRENGTH_MIN || in->strength > DB_MARK_STRENGTH_MAX)
		return db_set_err(db, AM_ERR_INVAL, "mark strength out of range");
	rc = db_prepare(db,
			"UPDATE projects SET mark_on = $3, mark_strength = $4, mark_downloads = $5"
			" WHERE id = $1 AND account_id = $2 AND deleted IS NULL",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_id(st, 2, account_id);
		db_bind_int64(st, 3, in->on ? 1 : 0);
		db_bind_int64(st, 4, in->strength);
		db_bind_int64(st, 5, in->downloads ? 1 : 0);
	}
	return repo_done_one(rc, st);
}

/* ---- marks --------------------------------------------------------------------------- */

static const char mark_cols[] =
    "SELECT id, project_id, link_id, payload_ct, name_ct, first_ct FROM marks";

/* The payload's sealed text back into bytes (16 lowercase hex). */
static int payload_of(const char *hex, uint8_t out[DB_MARK_PAYLOAD_LEN])
{
	if (strlen(hex) != 2 * DB_MARK_PAYLOAD_LEN)
		return AM_ERR_DB;
	for (int i = 0; i < DB_MARK_PAYLOAD_LEN; i++) {
		int h = am_hexval(hex[2 * i], AM_HEX_LOWER),
		    l = am_hexval(hex[2 * i + 1], AM_HEX_LOWER);

		if (h < 0 || l < 0)
			return AM_ERR_DB;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

static int mark_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_mark *out = outp;
	char hex[PAYLOAD_HEX], first[FIRST_TEXT], *end = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->project_id)) ||
	    (rc = db_column_id(st, 2, out->link_id)))
		return rc;
	if ((rc = repo_open_col(st, 3, key.fk, "marks", "payload", out->id, out->project_id, hex,
				sizeof(hex))) ||
	    (rc = repo_open_col(st, 4, key.fk, "marks", "name", out->id, out->project_id, out->name,
				sizeof(out->name))) ||
	    (rc = repo_open_col(st, 5, key.fk, "marks", "first", out->id, out->project_id, first,
				sizeof(first))))
		goto out;
	out->first_access = strtoll(first, &end, 10);
	if (payload_of(hex, out->payload) || !first[0] || !end || *end)
		rc = db_set_err(db_stmt_db(st), AM_ERR_DB, "marks: a sealed field is malformed");
out:
	am_memzero(hex, sizeof(hex));
	return rc;
}

/* INSERT the row of in unless its listening has one (the unique key
 * yields). *inserted = 1 when this call wrote it. */
static int mark_insert(struct db *db, const struct crypto_field_key *fk,
		       const struct db_mark_new *in, int *inserted)
{
	struct db_stmt *st = NULL;
	uint8_t id[DB_ID_LEN];
	char hex[PAYLOAD_HEX], first[FIRST_TEXT];
	int64_t changes = 0;
	int rc;

	*inserted = 0;
	for (int i = 0; i < DB_MARK_PAYLOAD_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", in->payload[i]);
	snprintf(first, sizeof(first), "%" PRId64, in->now);
	if ((rc = crypto_random_id(id)))
		goto out;
	rc = db_prepare(
	    db,
	    "INSERT INTO marks (id, project_id, link_id, session_hash, lookup, payload_ct,"
	    " name_ct, first_ct) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	    " ON CONFLICT (project_id, link_id, session_hash) DO NOTHING",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, in->project_id);
		db_bind_id(st, 3, in->link_id);
		db_bind_blob(st, 4, in->session_hash, DB_SESSION_HASH_LEN);
		db_bind_blob(st, 5, in->lookup, DB_MARK_LOOKUP_LEN);
		repo_bind_sealed(st, 6, fk, "marks", "payload", id, in->project_id, hex,
				 PAYLOAD_HEX - 1);
		repo_bind_sealed(st, 7, fk, "marks", "name", id, in->project_id, in->name,
				 DB_NAME_MAX);
		repo_bind_sealed(st, 8, fk, "marks", "first", id, in->project_id, first,
				 FIRST_TEXT - 1);
	}
	rc = repo_done(rc, st, &changes);
	*inserted = rc == 0 && changes == 1;
out:
	am_memzero(hex, sizeof(hex));
	return rc;
}

/* The row of the listening (project, link, session). */
static int mark_of_listening(struct db *db, const struct crypto_field_key *fk,
			     const struct db_mark_new *in, struct db_mark *out)
{
	struct db_stmt *st = NULL;
	char sql[256];
	int rc;

	snprintf(sql, sizeof(sql),
		 "%s WHERE project_id = $1 AND link_id = $2 AND session_hash = $3", mark_cols);
	if ((rc = db_prepare(db, sql, &st)) == 0) {
		db_bind_id(st, 1, in->project_id);
		db_bind_id(st, 2, in->link_id);
		db_bind_blob(st, 3, in->session_hash, DB_SESSION_HASH_LEN);
		if ((rc = repo_row(st)) == 0)
			rc = mark_row(st, (union repo_key){.fk = fk}, out);
	}
	db_finalize(st);
	return rc;
}

int db_mark_get_or_create(struct db *db, const struct db_keys *k, const struct db_mark_new *in,
			  struct db_mark *out, int *created)
{
	struct crypto_field_key *fk = NULL;
	int inserted = 0, rc;

	*created = 0;
	memset(out, 0, sizeof(*out));
	if (!in || !in->project_id || !in->link_id || !in->session_hash || !in->payload ||
	    !in->lookup || !in->name || !*in->name || strlen(in->name) > DB_NAME_MAX)
		return db_set_err(db, AM_ERR_INVAL, "mark: missing or oversized field");
	if ((rc = repo_project_key(db, k, in->project_id, &fk)))
		return rc;
	/* No transaction: the INSERT yields to a row a concurrent first request
	 * wrote (ON CONFLICT DO NOTHING), and the read then sees that row. A
	 * lookup clash fails the INSERT with AM_ERR_EXISTS. */
	if ((rc = mark_insert(db, fk, in, &inserted)) == 0 &&
	    (rc = mark_of_listening(db, fk, in, out)) == 0)
		*created = inserted;
	crypto_field_key_free(fk);
	return rc;
}

int db_mark_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		const uint8_t id[DB_ID_LEN], struct db_mark *out)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "%s WHERE id = $1 AND project_id = $2", mark_cols);
	return repo_get_in_project(db, k, project_id, id, sql, mark_row, out);
}

int db_mark_find(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 const uint8_t lookup[DB_MARK_LOOKUP_LEN], struct db_mark *out)
{
	struct crypto_field_key *fk = NULL;
	struct db_stmt *st = NULL;
	char sql[256];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	snprintf(sql, sizeof(sql), "%s WHERE project_id = $1 AND lookup = $2", mark_cols);
	if ((rc = db_prepare(db, sql, &st)) == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_blob(st, 2, lookup, DB_MARK_LOOKUP_LEN);
		if ((rc = repo_row(st)) == 0)
			rc = mark_row(st, (union repo_key){.fk = fk}, out);
	}
	db_finalize(st);
	crypto_field_key_free(fk);
	return rc;
}

int db_mark_count(struct db *db, const uint8_t project_id[DB_ID_LEN], int64_t *n)
{
	struct db_stmt *st = NULL;
	int rc =
	    db_prepare(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM marks WHERE project_id = $1", &st);

	*n = 0;
	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		if ((rc = repo_row(st)) == 0)
			*n = db_column_int64(st, 0);
	}
	db_finalize(st);
	return rc;
}
