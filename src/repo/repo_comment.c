/*
 * repo_comment.c: reviewers (guests), their timestamped comments and the
 * project's access log (events). Runs in the web role: the guest side posts
 * through it, the owner side reads and moderates. Guest names, comment
 * bodies and event details are sealed under the project's field key; guests'
 * addresses exist only as keyed pseudonyms (DESIGN §6), never raw.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "repo/repo_int.h"

int db_guest_create(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t *link_id, const char *name, const uint8_t ip_pseudo[16],
		    int64_t ip_epoch, uint8_t id_out[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if (!name)
		return db_set_err(db, AM_ERR_INVAL, "guest without a name");
	if ((rc = crypto_random_id(id_out)) || (rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	rc = db_prepare(
	    db,
	    "INSERT INTO guests (id, project_id, link_id, name_ct, ip_pseudo, ip_epoch, created,"
	    " last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id_out);
		db_bind_id(st, 2, project_id);
		db_bind_id(st, 3, link_id);
		repo_bind_sealed(st, 4, fk, "guests", "name", id_out, project_id, name,
				 DB_NAME_MAX);
		db_bind_blob(st, 5, ip_pseudo, ip_pseudo ? 16 : 0);
		db_bind_int64(st, 6, ip_epoch);
		db_bind_int64(st, 7, am_now_ms());
	}
	crypto_field_key_free(fk);
	return repo_done(rc, st, NULL);
}

int db_guest_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 const uint8_t id[DB_ID_LEN], struct db_guest *out)
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	const void *p;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	rc = db_prepare(
	    db,
	    "SELECT link_id, name_ct, ip_pseudo, ip_epoch, created, last_seen FROM guests"
	    " WHERE id = $1 AND project_id = $2",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		if ((rc = repo_row(st)) == 0) {
			memcpy(out->id, id, DB_ID_LEN);
			memcpy(out->project_id, project_id, DB_ID_LEN);
			out->has_link = repo_opt_id(st, 0, out->link_id);
			if ((p = db_column_blob(st, 2, &n)) && n == 16)
				memcpy(out->ip_pseudo, p, 16);
			out->ip_epoch = db_column_int64(st, 3);
			out->created = db_column_int64(st, 4);
			out->last_seen = db_column_int64(st, 5);
			rc = repo_open_col(st, 1, fk, "guests", "name", id, project_id, out->name,
					   sizeof(out->name));
		}
	}
	db_finalize(st);
	crypto_field_key_free(fk);
	return rc;
}

int db_guest_touch(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		   int64_t now)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db, "UPDATE guests SET last_seen = $3 WHERE id = $1 AND project_id = $2", &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_int64(st, 3, now);
	}
	return repo_done_one(rc, st);
}

/* ---- comments ---------------------------------------------------------------------- */

int db_comment_create(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		      const uint8_t version_id[DB_ID_LEN], const uint8_t *guest_id,
		      const char *body, int64_t time_ms, int64_t end_ms, const uint8_t *parent_id,
		      uint8_t id_out[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	struct crypto_field_key *fk = NULL;
	int rc;

	if (!body || time_ms < 0 || (end_ms >= 0 && end_ms < time_ms))
		return db_set_err(db, AM_ERR_INVAL,
				  "comment without body or with a bad time range");
	if ((rc = crypto_random_id(id_out)) || (rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	rc = db_prepare(
	    db,
	    "INSERT INTO comments (id, project_id, version_id, guest_id, by_owner, parent_id, "
	    "body_ct,"
	    " time_ms, end_ms, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
	    &st);
	if (rc == 0) {
		db_bind_id(st, 1, id_out);
		db_bind_id(st, 2, project_id);
		db_bind_id(st, 3, version_id);
		db_bind_id(st, 4, guest_id);
		db_bind_int64(st, 5, guest_id ? 0 : 1);
		db_bind_id(st, 6, parent_id);
		repo_bind_sealed(st, 7, fk, "comments", "body", id_out, project_id, body,
				 DB_BODY_MAX);
		db_bind_int64(st, 8, time_ms);
		if (end_ms >= 0)
			db_bind_int64(st, 9, end_ms);
		else
			db_bind_null(st, 9);
		db_bind_int64(st, 10, am_now_ms());
	}
	crypto_field_key_free(fk);
	return repo_done(rc, st, NULL);
}

#define COMMENT_COLS                                                                               \
	"SELECT c.id, c.project_id, c.version_id, c.guest_id, g.name_ct, c.parent_id, c.body_ct,"  \
	" c.time_ms, c.end_ms, c.resolved, c.created, c.deleted, c.edited FROM comments c"         \
	" LEFT JOIN guests g ON g.id = c.guest_id AND g.project_id = c.project_id "

static int comment_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_comment *out = outp;
	int rc;

	/* Every field is set below, so the row's 4 KiB is not cleared first
	 * (issue 25: a memset per row); the text a previous row left in body
	 * after the new NUL stays in the listing's buffer, which repo_each
	 * zeroes when the listing ends. */
	out->author[0] = 0;
	out->body[0] = 0;
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->project_id)) ||
	    (rc = db_column_id(st, 2, out->version_id)))
		return rc;
	if (!(out->has_guest = repo_opt_id(st, 3, out->guest_id)))
		memset(out->guest_id, 0, DB_ID_LEN);
	if (!(out->has_parent = repo_opt_id(st, 5, out->parent_id)))
		memset(out->parent_id, 0, DB_ID_LEN);
	out->time_ms = db_column_int64(st, 7);
	out->end_ms = db_column_is_null(st, 8) ? -1 : db_column_int64(st, 8);
	out->resolved = (int)db_column_int64(st, 9);
	out->created = db_column_int64(st, 10);
	out->deleted = db_column_int64(st, 11);
	out->edited = db_column_is_null(st, 12) ? 0 : db_column_int64(st, 12);
	if (out->has_guest &&
	    (rc = repo_open_col(st, 4, key.fk, "guests", "name", out->guest_id, out->project_id,
				out->author, sizeof(out->author))))
		return rc;
	return repo_open_col(st, 6, key.fk, "comments", "body", out->id, out->project_id, out->body,
			     sizeof(out->body));
}

REPO_EMIT(comment_emit, struct db_comment)

int db_comment_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		   const uint8_t id[DB_ID_LEN], struct db_comment *out)
{
	return repo_get_in_project(db, k, project_id, id,
				   COMMENT_COLS "WHERE c.id = $1 AND c.project_id = $2",
				   comment_row, out);
}

int db_comment_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t *version_id, int (*cb)(void *ctx, const struct db_comment *c),
		    void *ctx)
{
	struct db_comment c;
	struct repo_each e = {REPO_EACH_ROWS(comment_row, comment_emit, cb, ctx, &c), .k = k,
			      .project_id = project_id};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    version_id
				? COMMENT_COLS "WHERE c.project_id = $1 AND c.version_id = $2"
					       " ORDER BY c.time_ms, c.created, c.id"
				: COMMENT_COLS "WHERE c.project_id = $1"
					       " ORDER BY c.version_id, c.time_ms, c.created, c.id",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		if (version_id)
			db_bind_id(st, 2, version_id);
	}
	return repo_each(rc, st, &e);
}

int db_comment_set_resolved(struct db *db, const uint8_t project_id[DB_ID_LEN],
			    const uint8_t id[DB_ID_LEN], int resolved)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(
	    db, "UPDATE comments SET resolved = $3 WHERE id = $1 AND project_id = $2", &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_int64(st, 3, resolved ? 1 : 0);
	}
	return repo_done_one(rc, st);
}

int db_comment_delete(struct db *db, const uint8_t project_id[DB_ID_LEN],
		      const uint8_t id[DB_ID_LEN])
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "UPDATE comments SET body_ct = NULL, deleted = $3"
			    " WHERE id = $1 AND project_id = $2 AND deleted IS NULL",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_int64(st, 3, am_now_ms());
	}
	return repo_done_one(rc, st);
}

/* ---- events ------------------------------------------------------------------------------ */

/* Insert one event sealed under the project's field key fk. */
static int event_insert(struct db *db, const struct crypto_field_key *fk,
			const uint8_t project_id[DB_ID_LEN], const char *kind,
			const uint8_t *guest_id, const char *details, int64_t created)
{
	struct db_stmt *st = NULL;
	uint8_t id[DB_ID_LEN];
	int rc;

	if ((rc = crypto_random_id(id)))
		return rc;
	rc = db_prepare(db,
			"INSERT INTO events (id, project_id, kind, guest_id, details_ct, created)"
			" VALUES ($1, $2, $3, $4, $5, $6)",
			&st);
	if (rc == 0) {
		db_bind_id(st, 1, id);
		db_bind_id(st, 2, project_id);
		db_bind_text(st, 3, kind);
		db_bind_id(st, 4, guest_id);
		repo_bind_sealed(st, 5, fk, "events", "details", id, project_id, details,
				 DB_DETAILS_MAX);
		db_bind_int64(st, 6, created);
	}
	return repo_done(rc, st, NULL);
}

static int event_kind_ok(struct db *db, const char *kind)
{
	if (!kind || !*kind || strlen(kind) > DB_KIND_MAX)
		return db_set_err(db, AM_ERR_INVAL, "event kind empty or too long");
	return 0;
}

int db_event_add(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 const char *kind, const uint8_t *guest_id, const char *details)
{
	struct crypto_field_key *fk = NULL;
	int rc;

	if ((rc = event_kind_ok(db, kind)) || (rc = repo_project_key(db, k, project_id, &fk)))
		return rc;
	rc = event_insert(db, fk, project_id, kind, guest_id, details, am_now_ms());
	crypto_field_key_free(fk);
	return rc;
}

int db_event_add_batch(struct db *db, const struct db_keys *k, const struct db_event_new *ev,
		       size_t n)
{
	struct crypto_field_key *fk = NULL;
	const uint8_t *keyed = NULL; /* the project fk belongs to */
	int rc;

	if (n == 0)
		return 0;
	if ((rc = db_begin_write(db)))
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* Runs of one project (the usual batch) unwrap its key once. */
		if (!keyed || memcmp(keyed, ev[i].project_id, DB_ID_LEN) != 0) {
			keyed = NULL;
			crypto_field_key_free(fk);
			if ((rc = repo_project_key(db, k, ev[i].project_id, &fk)))
				break;
			keyed = ev[i].project_id;
		}
		if ((rc = event_kind_ok(db, ev[i].kind)) == 0)
			rc = event_insert(db, fk, ev[i].project_id, ev[i].kind, ev[i].guest_id,
					  ev[i].details,
					  ev[i].created > 0 ? ev[i].created : am_now_ms());
	}
	crypto_field_key_free(fk);
	if (rc) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

static int event_row(struct db_stmt *st, union repo_key key, void *outp)
{
	struct db_event *out = outp;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_column_id(st, 0, out->id)) || (rc = db_column_id(st, 1, out->project_id)))
		return rc;
	repo_text_col(st, 2, out->kind, sizeof(out->kind));
	out->has_guest = repo_opt_id(st, 3, out->guest_id);
	out->created = db_column_int64(st, 5);
	return repo_open_col(st, 4, key.fk, "events", "details", out->id, out->project_id,
			     out->details, sizeof(out->details));
}

REPO_EMIT(event_emit, struct db_event)

int db_event_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		  int limit, int (*cb)(void *ctx, const struct db_event *e), void *ctx)
{
	struct db_event ev;
	struct repo_each e = {REPO_EACH_ROWS(event_row, event_emit, cb, ctx, &ev), .max = limit,
			      .k = k, .project_id = project_id};
	struct db_stmt *st = NULL;
	int rc = db_prepare(db,
			    "SELECT id, project_id, kind, guest_id, details_ct, created FROM events"
			    " WHERE project_id = $1 ORDER BY created DESC, id LIMIT $2",
			    &st);

	if (rc == 0) {
		db_bind_id(st, 1, project_id);
		db_bind_int64(st, 2, limit > 0 ? limit : INT64_MAX);
	}
	return repo_each(rc, st, &e);
}
