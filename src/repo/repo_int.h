/*
 * repo_int.h: helpers shared by the repository files of src/repo/ (field
 * sealing bound to a statement, project field keys, statement running,
 * listings). Not for use outside src/repo/. The repositories use the engine
 * through db/db.h only, never its internals (db/db_int.h).
 */
#ifndef AM_REPO_INT_H
#define AM_REPO_INT_H

#include "db/db.h"
#include "repo/repo.h"

/* The all-zero project id of account-level fields. */
extern const uint8_t repo_zero_id[DB_ID_LEN];

/* What a row decoder opens sealed columns with: the field key of the
 * project or account the rows belong to (most entities; NULL: leave sealed
 * columns closed), or the repository's keys (projects: each row under its
 * own project's key; NULL: titles stay closed). */
union repo_key {
	const struct crypto_field_key *fk; /* borrowed */
	const struct db_keys *k;	   /* borrowed */
};

/* Turns the current row of st into *out (the entity's struct), opening
 * sealed columns with key. 0, AM_ERR_CRYPTO or AM_ERR_DB. */
typedef int repo_row_fn(struct db_stmt *st, union repo_key key, void *out);
/* One row of project project_id selected by sql (which takes $1 = id and
 * $2 = project_id) through row, under the project's field key (zeroed after).
 * 0, AM_ERR_NOTFOUND, or the key or database error. */
int repo_get_in_project(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
			const uint8_t id[DB_ID_LEN], const char *sql, repo_row_fn *row, void *out);
/* The field key of a live project (wrapped key present, not deleted) as an
 * owned handle in *fk (NULL on failure), which the caller frees with
 * crypto_field_key_free: AM_ERR_NOTFOUND, AM_ERR_CRYPTO or a database error
 * otherwise. When k holds that project's key (db_keys_hold), a reference to
 * it, without a query. */
int repo_project_key(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		     struct crypto_field_key **fk);
/* A new reference to the key k holds for project_id (db_keys_hold), or NULL
 * when it holds none for that project. */
struct crypto_field_key *repo_held_key(const struct db_keys *k,
				       const uint8_t project_id[DB_ID_LEN]);

/* Seal text (NULL binds NULL) under key with AAD (table, column, row,
 * project) and bind it to $idx. AM_ERR_TOOBIG when strlen(text) > max. */
int repo_bind_sealed(struct db_stmt *st, int idx, const struct crypto_field_key *key,
		     const char *table, const char *column, const uint8_t row[DB_ID_LEN],
		     const uint8_t project[DB_ID_LEN], const char *text, size_t max);

/* Open the sealed column col of the current row into out (outsz bytes,
 * NUL-terminated; SQL NULL gives ""). AM_ERR_CRYPTO if it does not open,
 * AM_ERR_DB if the plaintext does not fit. */
int repo_open_col(struct db_stmt *st, int col, const struct crypto_field_key *key,
		  const char *table, const char *column, const uint8_t row[DB_ID_LEN],
		  const uint8_t project[DB_ID_LEN], char *out, size_t outsz);

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

/* ---- listings -----------------------------------------------------------------
 * Every list function of the repository is: prepare and bind a statement,
 * then repo_each, which steps it, decodes each row into the caller's struct,
 * hands it to the caller's typed callback and cleans up, in one place. */

/* The caller's list callback, stored untyped. The entity's emit function
 * converts it back to the callback's own type before calling it: a
 * function pointer may be converted to another function type and back
 * (C11 6.3.2.3), and void (*)(void) is the type compilers accept for that. */
typedef void repo_cb(void);

/* Hands one decoded row to cb, converted back to the listing's callback type. */
typedef int repo_emit_fn(repo_cb *cb, void *ctx, const void *row);

/* Defines name as the emit function of listings whose callback is
 * int (*)(void *ctx, const T *row). */
#define REPO_EMIT(name, T)                                                                         \
	static int name(repo_cb *cb, void *ctx, const void *row)                                   \
	{                                                                                          \
		return ((int (*)(void *, const T *))cb)(ctx, (const T *)row);                      \
	}

/* What repo_each needs to know about a listing. */
struct repo_each {
	repo_row_fn *row;   /* decodes the current row into buf */
	repo_emit_fn *emit; /* hands buf to cb */
	repo_cb *cb;	    /* the caller's callback: (repo_cb *)cb */
	void *ctx;	    /* passed to cb as is */
	void *buf;	    /* caller storage for one row, size bytes */
	size_t size;
	int64_t max;	    /* at most this many rows reach cb (then stop); <= 0: no bound */
	union repo_key key; /* passed to row (unless project_id is set) */
	/* With project_id (and k): open that project's field key first
	 * (AM_ERR_NOTFOUND for a deleted project; nothing is stepped), pass it
	 * to row as key.fk and free it at the end. */
	const struct db_keys *k;
	const uint8_t *project_id;
};

/* The first members of a struct repo_each: buf is the address of the
 * caller's row struct (its size is taken from its type). */
#define REPO_EACH_ROWS(row_fn, emit_fn, cb_fn, ctx_p, buf_p)                                       \
	.row = (row_fn), .emit = (emit_fn), .cb = (repo_cb *)(cb_fn), .ctx = (ctx_p),              \
	.buf = (buf_p), .size = sizeof(*(buf_p))

/* Run st (prepared and bound; prep_rc is its db_prepare result, returned
 * as is when not 0) and for each row, at most e->max: decode it into
 * e->buf with e->row and hand it to the caller with e->emit. Stops at the
 * first non-zero return of row, emit (the caller's callback) or db_step and
 * returns it; 0 when every row went through. In every case st is finalized,
 * the project key (e->project_id) freed and e->buf zeroed (rows may hold
 * plaintext). */
int repo_each(int prep_rc, struct db_stmt *st, const struct repo_each *e);

/* For listings of ids: row decodes column 0 into a uint8_t[DB_ID_LEN] buf,
 * emit calls int (*)(void *ctx, const uint8_t id[DB_ID_LEN]). */
int repo_id_row(struct db_stmt *st, union repo_key key, void *out);
int repo_id_emit(repo_cb *cb, void *ctx, const void *row);

/* Lower-case ASCII copy for the e-mail blind index. */
int repo_fold_email(const char *email, char *out, size_t outsz);

#endif
