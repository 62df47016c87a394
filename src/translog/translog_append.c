/*
 * translog_append.c: appending to a project's access log and computing its
 * current signed tree head (translog.h). An append reads the head row
 * (locked), pushes the entry's leaf hash onto the stored right edge and
 * writes the entry with the new root: O(log n) hashes, no read of older
 * entries. Runs on the media role's event writer thread (never on an HTTP
 * thread: media_events.c queues), in the web role's grant paths, and in
 * the worker's export; every input is the server's own (ids of a verified
 * request), the entry holds no name and no address.
 */
#include "translog/translog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "crypto/crypto.h"
#include "db/db.h"
#include "repo/repo.h"
#include "translog/translog_int.h"

static const char *const logged_kinds[] = {
    "page_open", "password_ok", "play", "download", "archive", "export",
};

int translog_kind_logged(const char *kind)
{
	for (size_t i = 0; kind && i < AM_ARRAY_LEN(logged_kinds); i++)
		if (!strcmp(kind, logged_kinds[i]))
			return 1;
	return 0;
}

static void hex16(const uint8_t *id, char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* {"t":MS,"k":KIND[,"o":HEX][,"l":HEX]} into e->entry. */
static int encode(const struct translog_rec *r, int64_t t, struct db_translog_entry *e)
{
	char o[64] = "", l[64] = "", h[33];
	int n;

	for (const char *k = r->kind; *k; k++) /* kinds are the server's: [a-z_] */
		if (!((*k >= 'a' && *k <= 'z') || *k == '_'))
			return AM_ERR_INVAL;
	if (r->object_id) {
		hex16(r->object_id, h);
		snprintf(o, sizeof(o), ",\"o\":\"%s\"", h);
	}
	if (r->link_id) {
		hex16(r->link_id, h);
		snprintf(l, sizeof(l), ",\"l\":\"%s\"", h);
	}
	n = snprintf((char *)e->entry, sizeof(e->entry), "{\"t\":%" PRId64 ",\"k\":\"%s\"%s%s}", t,
		     r->kind, o, l);
	if (n < 0 || (size_t)n >= sizeof(e->entry) || n > TRANSLOG_ENTRY_MAX)
		return AM_ERR_TOOBIG;
	e->len = (size_t)n;
	return 0;
}

/* Inside the write transaction: the locked head, the new entry, the new head. */
static int append_locked(struct db *db, const struct translog_rec *r, struct db_translog_entry *e)
{
	struct translog_frontier f;
	uint8_t fb[DB_TRANSLOG_FRONTIER], leaf[TRANSLOG_HASH];
	int64_t size = 0;
	size_t flen = 0;
	int rc;

	if ((rc = db_translog_head(db, r->project_id, 1, &size, fb, sizeof(fb), &flen)))
		return rc;
	if (size < 0 || (rc = translog_frontier_load(&f, (uint64_t)size, fb, flen)))
		return db_set_err(db, AM_ERR_DB, "translog_heads: a damaged head");
	if ((rc = translog_leaf_hash(e->entry, e->len, leaf)) ||
	    (rc = translog_frontier_push(&f, leaf)) || (rc = translog_frontier_root(&f, e->root)))
		return rc;
	e->index = size;
	translog_frontier_save(&f, fb, &flen);
	return db_translog_put(db, r->project_id, e, fb, flen);
}

int translog_append(struct db *db, const struct translog_rec *r)
{
	struct db_translog_entry e;
	int rc;

	if (!db || !r || !r->project_id || !r->kind || !translog_kind_logged(r->kind))
		return AM_ERR_INVAL;
	memset(&e, 0, sizeof(e));
	e.created = r->time > 0 ? r->time : am_now_ms();
	if ((rc = encode(r, e.created, &e)))
		return rc;
	if ((rc = db_begin_write(db)))
		return rc;
	if ((rc = append_locked(db, r, &e))) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

int translog_head(struct db *db, const struct keyring *kr, const uint8_t project_id[16],
		  struct translog_sth *out)
{
	struct translog_frontier f;
	uint8_t fb[DB_TRANSLOG_FRONTIER];
	int64_t size = 0;
	size_t flen = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_translog_head(db, project_id, 0, &size, fb, sizeof(fb), &flen)))
		return rc;
	if (size < 0 || translog_frontier_load(&f, (uint64_t)size, fb, flen))
		return db_set_err(db, AM_ERR_DB, "translog_heads: a damaged head");
	memcpy(out->project_id, project_id, 16);
	out->size = (uint64_t)size;
	out->timestamp = am_now_ms();
	if ((rc = translog_frontier_root(&f, out->root)))
		return rc;
	return translog_sth_sign(kr, out);
}

/* A 32-hex-character id under name in the details JSON, into out. */
static int detail_id(json_t *o, const char *name, uint8_t out[16])
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) && json_string_length(v) == 32 &&
	       translog_hex16(json_string_value(v), out) == 0;
}

/* quiet: the batch's first try, whose failures the retry logs. */
static int append_event(struct db *db, const struct db_event_new *e, int quiet)
{
	uint8_t obj[16], link[16];
	json_t *o = e->details ? json_loads(e->details, 0, NULL) : NULL;
	struct translog_rec r = {e->project_id, e->kind, NULL, NULL, e->created};
	int rc;

	if (o && detail_id(o, "object", obj))
		r.object_id = obj;
	if (o && detail_id(o, "link", link))
		r.link_id = link;
	json_decref(o);
	rc = translog_append(db, &r);
	if (rc && !quiet)
		am_log(AM_LOG_WARN, "translog_append_failed", "kind", e->kind, "error",
		       am_strerror(rc));
	return rc;
}

size_t translog_append_events(struct db *db, const struct db_event_new *ev, size_t n)
{
	size_t failed = 0;
	int rc = 0;

	if (db_begin_write(db))
		rc = AM_ERR_DB;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (translog_kind_logged(ev[i].kind))
			rc = append_event(db, &ev[i], 1);
	if (rc == 0 && (rc = db_commit(db)) == 0)
		return 0;
	db_rollback(db);
	/* One entry that cannot be appended fails the whole transaction:
	 * append each on its own then. */
	for (size_t i = 0; i < n; i++)
		if (translog_kind_logged(ev[i].kind) && append_event(db, &ev[i], 0))
			failed++;
	return failed;
}
