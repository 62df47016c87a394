/*
 * repo_int.h: helpers shared by the repository files of src/db/ (field
 * sealing bound to a statement, project field keys, statement running).
 * Not for use outside src/db/.
 */
#ifndef AM_DB_REPO_INT_H
#define AM_DB_REPO_INT_H

#include "db/db_int.h"
#include "repo/repo.h"

/* The all-zero project id of account-level fields. */
extern const uint8_t repo_zero_id[DB_ID_LEN];

/* Turns the current row of st into *out, decrypting with the field key fk. */
typedef int repo_row_fn(struct db_stmt *st, const struct crypto_field_key *fk, void *out);
/* One row of project project_id selected by sql (which takes $1 = id and
 * $2 = project_id) through row, under the project's field key (zeroed after).
 * 0, AM_ERR_NOTFOUND, or the key or database error. */
int repo_get_in_project(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
			const uint8_t id[DB_ID_LEN], const char *sql, repo_row_fn *row, void *out);
/* The field key of a live project (wrapped key present, not deleted) as an
 * owned handle in *fk (NULL on failure), which the caller frees with
 * crypto_field_key_free: AM_ERR_NOTFOUND, AM_ERR_CRYPTO or a database error
 * otherwise. */
int repo_project_key(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		     struct crypto_field_key **fk);

/* Seal text (NULL binds NULL) under key with AAD (table, column, row,
 * project) and bind it to $idx. AM_ERR_TOOBIG when strlen(text) > max. */
int repo_bind_sealed(struct db_stmt *st, int idx, const struct crypto_field_key *key, const char *table, const char *column,
		     const uint8_t row[DB_ID_LEN], const uint8_t project[DB_ID_LEN], const char *text,
		     size_t max);

/* Open the sealed column col of the current row into out (outsz bytes,
 * NUL-terminated; SQL NULL gives ""). AM_ERR_CRYPTO if it does not open,
 * AM_ERR_DB if the plaintext does not fit. */
int repo_open_col(struct db_stmt *st, int col, const struct crypto_field_key *key, const char *table, const char *column,
		  const uint8_t row[DB_ID_LEN], const uint8_t project[DB_ID_LEN], char *out, size_t outsz);

/* Copy a text column into out (NULL gives ""). */
void repo_text_col(struct db_stmt *st, int col, char *out, size_t outsz);
/* Copy an optional id column; returns 1 if present. */
int repo_opt_id(struct db_stmt *st, int col, uint8_t out[DB_ID_LEN]);

/* Step a bound statement to the end and finalize it (st may be NULL: then
 * prep_rc is returned). *changes (may be NULL) gets the rows changed. */
int repo_done(int prep_rc, struct db_stmt *st, int64_t *changes);
/* The same, AM_ERR_NOTFOUND if it changed no row. */
int repo_done_one(int prep_rc, struct db_stmt *st);
/* Step st once for a single row: 0 with the row current, AM_ERR_NOTFOUND, or
 * an error. */
int repo_row(struct db_stmt *st);

/* Lower-case ASCII copy for the e-mail blind index. */
int repo_fold_email(const char *email, char *out, size_t outsz);

#endif
