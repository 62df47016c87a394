/*
 * upload_complete.c: completion of a fully received upload. A file sent in one
 * PATCH already is the original (its one part was written under orig/); a
 * resumed upload's parts are decrypted in order and re-encrypted into one
 * new AM1 object under a fresh data key (segment by segment: constant
 * memory, nothing plaintext on disk). Then, in one transaction, the original
 * object, the version's state and the transcode job (payload: docs/media.md).
 * Completion runs under the upload's lease (extended while a long copy runs)
 * and the final transaction only succeeds for its holder, so it happens once.
 * The recovery of uploads whose every byte was recorded but that were never
 * completed (a media node died in between: docs/media.md "Recovery") claims
 * that same lease and runs the same completion. Runs in the media process
 * (the final PATCH, a HEAD: src/media/media_upload.c) and in the worker's
 * housekeeping, which is why it lives here and not in src/media/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/access.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "repo/repo.h"
#include "store/store.h"
#include "upload/upload.h"

#define RECOVER_BATCH 32
/* Recovery leaves alone an upload whose row expires within this margin: the
 * clean-up (upload_gc_abandoned) takes those without a lease, and must not delete the
 * parts of an upload while it is being completed. */
#define RECOVER_MARGIN_MS (INT64_C(15) * 60 * 1000)

int64_t upload_lease_ms(void)
{
	/* AUDIOMUS_TEST_UPLOAD_LEASE_MS, in a test build only */
	int64_t v = am_test_hook_ms("UPLOAD_LEASE_MS", 500, 3600000);

	return v ? v : UPLOAD_LEASE_MS;
}

/* The lease of the completion in progress, extended every quarter lease so
 * that a long copy does not look like a dead node to the recovery. */
struct keeper {
	struct app *a;
	const uint8_t *id, *token;
	int64_t lease_ms, last;
};

/* Extend when due; now = 1 forces it. AM_ERR_CONFLICT once the lease is lost
 * (another node took it over): the completion stops. */
static int keep(struct keeper *k, int now)
{
	struct db *db = NULL;
	int rc;

	if (!now && am_mono_ms() - k->last < k->lease_ms / 4)
		return 0;
	if ((rc = app_db_get(k->a, &db)))
		return rc;
	rc = db_upload_extend(db, k->id, k->token, am_now_ms(), k->lease_ms);
	app_db_put(k->a, db);
	k->last = am_mono_ms();
	return rc;
}

/* Test hook (docs/media.md "Test hooks"; a test build only): with
 * AUDIOMUS_TESTING=1, AUDIOMUS_TEST_UPLOAD_STALL_MS holds every completion
 * that long after the last part was recorded, still extending its lease, so
 * that a black-box test can kill -9 the media process inside that window. */
static int test_stall(struct keeper *k)
{
	struct timespec ts = {0, 50 * 1000000L};
	int64_t ms = am_test_hook_ms("UPLOAD_STALL_MS", 1, 600000), end;
	char s[24];
	int rc = 0;

	if (ms == 0)
		return 0;
	snprintf(s, sizeof(s), "%lld", (long long)ms);
	am_log(AM_LOG_WARN, "upload_test_stall", "ms", s);
	for (end = am_mono_ms() + ms; rc == 0 && am_mono_ms() < end;) {
		nanosleep(&ts, NULL);
		rc = keep(k, 0);
	}
	return rc;
}

struct parts {
	struct db_upload_part *p;
	size_t n, cap;
};

static int collect(void *ctx, const struct db_upload_part *p)
{
	struct parts *ps = ctx;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 8;
		struct db_upload_part *np = realloc(ps->p, cap * sizeof(*np));
		if (!np)
			return AM_ERR_NOMEM;
		ps->p = np;
		ps->cap = cap;
	}
	ps->p[ps->n++] = *p;
	return 0;
}

/* An open AM1 reader over a stored part. */
struct part_reader {
	struct store_reader *sr;
	struct am1_source src;
	struct am1_reader *r;
};

/* A part that is missing, cut short or fails authentication (or an original
 * that is not audio) fails the same way on every attempt: the stored upload
 * is broken, not the node. Sets *broken for those and passes rc through. */
static int fault(int rc, int *broken)
{
	if (rc == AM_ERR_CRYPTO || rc == AM_ERR_NOTFOUND || rc == AM_ERR_UNSUPPORTED)
		*broken = 1;
	return rc;
}

/* Open a part (or the original) for AM1 reads; seq: it is read whole, in
 * order (store_reader_open_seq: one store request for all of it). A failure
 * in the store leaves its detail in err. */
static int part_open(struct app *a, const struct crypto_pk *pk, const struct db_upload_part *p,
		     int seq, struct part_reader *pr, struct store_err *err)
{
	int rc;

	memset(pr, 0, sizeof(*pr));
	if (!(rc = (seq ? store_reader_open_seq : store_reader_open)(a->store, p->store_key,
								     &pr->sr, err))) {
		store_am1_source(pr->sr, &pr->src);
		rc = crypto_pk_reader_open(pk, p->part_id, p->wrapped_dek, p->wrapped_dek_len,
					   &pr->src, (uint64_t)p->plain_size, &pr->r);
	}
	return rc;
}

/* Close the part; a read of it that failed in the store leaves its detail
 * in err first ("" from a reader whose latest read succeeded). */
static void part_close(struct part_reader *pr, struct store_err *err)
{
	store_err_keep(err, store_reader_errmsg(pr->sr));
	am1_reader_free(pr->r);
	store_reader_close(pr->sr);
	memset(pr, 0, sizeof(*pr));
}

struct copy {
	struct am1_writer *w;
	struct keeper *k;
	int failed; /* the writing side failed (not the part being read) */
};

static int emit(void *ctx, const void *p, size_t n)
{
	struct copy *c = ctx;
	int rc = am1_writer_write(c->w, p, n);

	if (rc == 0)
		rc = keep(c->k, 0);
	c->failed = rc != 0;
	return rc;
}

/* Copy the parts, in order, into a new object o (id, key, DEK chosen here). */
static int assemble(struct app *a, const struct crypto_pk *pk, const struct db_upload *u,
		    const struct parts *ps, struct keeper *k, struct db_object *o, int *broken,
		    struct store_err *err)
{
	struct store_am1_put ap = {0};
	struct am1_sink sink;
	struct am1_writer *w = NULL;
	struct part_reader pr = {0};
	struct copy c = {NULL, k, 0};
	uint64_t plain = 0, cipher = 0;
	int rc;

	if ((rc = crypto_random_id(o->id)) ||
	    (rc = store_key_format(o->store_key, sizeof(o->store_key), "orig", o->id, NULL)) ||
	    (rc = store_am1_put_begin(a->store, o->store_key, 0, &ap, &sink, err)))
		goto out;
	o->wrapped_dek_len = CRYPTO_WRAPPED_LEN;
	if ((rc = crypto_pk_writer_new(pk, o->id, &sink, 0, o->wrapped_dek, &w)))
		goto out;
	c.w = w;
	for (size_t i = 0; i < ps->n && rc == 0; i++) {
		if (ps->p[i].plain_size == 0)
			continue;
		if ((rc = fault(part_open(a, pk, &ps->p[i], 1, &pr, err), broken)) == 0) {
			rc = am1_reader_range(pr.r, 0, (uint64_t)ps->p[i].plain_size - 1, emit, &c);
			if (rc && !c.failed)
				(void)fault(rc, broken);
		}
		part_close(&pr, rc ? err : NULL);
	}
	if (rc == 0 && (rc = am1_writer_finish(w, &plain, &cipher)) == 0)
		rc = store_put_commit(ap.put, NULL, err), ap.put = NULL;
	o->plain_size = (int64_t)plain;
	o->cipher_size = (int64_t)cipher;
out:
	if (rc) /* the writing side's failure in the store, if it was one */
		store_err_keep(err, store_put_errmsg(ap.put));
	am1_writer_free(w);
	store_put_abort(ap.put);
	return rc;
}

static int tick(void *ctx, const void *p, size_t n)
{
	(void)p;
	(void)n;
	return keep(ctx, 0);
}

/* Open the finished original (its stored size must match), authenticate
 * every segment of it when whole, and name its type by its first bytes. */
static int check_original(struct app *a, const struct crypto_pk *pk, const struct db_upload *u,
			  const struct db_object *o, struct keeper *k, int whole,
			  const char **ctype, int *broken, struct store_err *err)
{
	const char *ext = NULL;
	struct db_upload_part p;
	struct part_reader pr;
	uint8_t head[UPLOAD_SNIFF_LEN];
	size_t got = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	memcpy(p.part_id, o->id, 16);
	memcpy(p.wrapped_dek, o->wrapped_dek, o->wrapped_dek_len);
	p.wrapped_dek_len = o->wrapped_dek_len;
	p.plain_size = o->plain_size;
	snprintf(p.store_key, sizeof(p.store_key), "%s", o->store_key);
	if ((rc = part_open(a, pk, &p, whole, &pr, err)) == 0 && whole)
		rc = am1_reader_range(pr.r, 0, (uint64_t)o->plain_size - 1, tick, k);
	if (rc == 0 && (rc = am1_reader_pread(pr.r, 0, head, sizeof(head), &got)) == 0)
		rc = upload_sniff(head, got, &ext, ctype);
	part_close(&pr, rc ? err : NULL);
	(void)fault(rc, broken);
	am_memzero(head, sizeof(head));
	return rc;
}

/* Build the original (reusing a single whole part) and check it: its size is
 * the declared length, every part it was copied from authenticates (a reused
 * part: its stored size and first segment; every segment when whole), its
 * first bytes are audio. */
static int make_original(struct app *a, const struct crypto_pk *pk, const struct db_upload *u,
			 const struct parts *ps, struct keeper *k, int whole, struct db_object *o,
			 int *assembled, int *broken, struct store_err *err)
{
	const struct db_upload_part *p0 = ps->n ? &ps->p[0] : NULL;
	const char *ctype = NULL;
	int rc;

	memset(o, 0, sizeof(*o));
	*assembled = 0;
	if (ps->n == 1 && p0->start == 0 && p0->plain_size == u->length &&
	    strncmp(p0->store_key, "orig/", 5) == 0) {
		memcpy(o->id, p0->part_id, 16);
		memcpy(o->wrapped_dek, p0->wrapped_dek, p0->wrapped_dek_len);
		o->wrapped_dek_len = p0->wrapped_dek_len;
		o->plain_size = p0->plain_size;
		o->cipher_size = p0->cipher_size;
		snprintf(o->store_key, sizeof(o->store_key), "%s", p0->store_key);
	} else {
		if ((rc = assemble(a, pk, u, ps, k, o, broken, err)))
			return rc;
		*assembled = 1;
	}
	if (o->plain_size != u->length) {
		*broken = 1; /* the parts do not add up to the declared length */
		return AM_ERR_INTERNAL;
	}
	if ((rc = check_original(a, pk, u, o, k, whole && !*assembled, &ctype, broken, err)))
		return rc;
	memcpy(o->version_id, u->version_id, 16);
	o->has_version = 1;
	snprintf(o->kind, sizeof(o->kind), "original");
	snprintf(o->content_type, sizeof(o->content_type), "%s", ctype);
	snprintf(o->state, sizeof(o->state), "pending");
	return 0;
}

/* Complete u, leased with token: the original, then one transaction. whole:
 * the bytes were not written by this request (a recovery), authenticate all
 * of a reused part. *broken is set when the stored upload itself is at fault
 * (see fault()). err receives the store's detail when the failure was the
 * store's, else "". */
static int finish(struct app *a, const struct db_upload *u, const uint8_t token[16], int whole,
		  int *broken, struct store_err *err)
{
	struct keeper k = {a, u->id, token, upload_lease_ms(), 0};
	struct parts ps = {0};
	struct db_project p;
	struct db_object o;
	struct db *db = NULL;
	struct crypto_pk *pk = NULL;
	char payload[512], vh[33], oh[33];
	int rc, assembled = 0, pn;

	memset(&p, 0, sizeof(p));
	err->msg[0] = 0;
	if ((rc = keep(&k, 1)) || (rc = app_db_get(a, &db)))
		goto out;
	if ((rc = db_upload_parts(db, u->id, collect, &ps)) ||
	    (rc = db_project_get_by_id(db, a->keys, u->project_id, &p)) ||
	    (rc = crypto_pk_open(a->kr, u->project_id, p.wrapped_pk, p.wrapped_pk_len, &pk)))
		goto out;
	app_db_put(a, db); /* not held across a long copy */
	db = NULL;
	if ((rc = test_stall(&k)) ||
	    (rc = make_original(a, pk, u, &ps, &k, whole, &o, &assembled, broken, err)))
		goto out;
	access_hex16(u->version_id, vh);
	access_hex16(o.id, oh);
	pn = snprintf(
	    payload, sizeof(payload),
	    "{\"v\":1,\"version\":\"%s\",\"original\":\"%s\",\"size\":%lld,\"type\":\"%s\"}", vh,
	    oh, (long long)o.plain_size, o.content_type);
	if ((rc = app_db_get(a, &db)) ||
	    (rc = db_upload_complete(db, u, token, &o, payload, (size_t)pn))) {
		if (assembled)
			(void)store_delete(a->store, o.store_key, NULL);
		goto out;
	}
	for (size_t i = 0; i < ps.n; i++) /* the parts now live on in the original */
		if (assembled || strcmp(ps.p[i].store_key, o.store_key) != 0)
			(void)store_delete(a->store, ps.p[i].store_key, NULL);
out:
	if (db)
		app_db_put(a, db);
	free(ps.p);
	am_memzero(&p, sizeof(p));
	crypto_pk_free(pk);
	return rc;
}

int upload_finish(struct app *a, const struct db_upload *u, const uint8_t token[16], int whole,
		  struct store_err *err)
{
	struct store_err scratch;
	int broken = 0;

	return finish(a, u, token, whole, &broken, err ? err : &scratch);
}

/* After a failed recovery: a broken upload keeps the lease until it expires
 * (nobody retries it; upload_gc_abandoned removes it then, as any abandoned upload);
 * otherwise the lease is released for the next try. */
static void recover_failed(struct app *a, const struct db_upload *u, const uint8_t token[16],
			   int rc, int broken, const char *by, const char *uh, const char *why)
{
	struct db *db = NULL;
	int64_t now = am_now_ms();

	am_log(AM_LOG_WARN, broken ? "upload_unrecoverable" : "upload_recover_failed", "upload", uh,
	       "by", by, "error", am_strerror(rc), "store_error", *why ? why : NULL);
	if (app_db_get(a, &db))
		return;
	if (broken && u->expires > now)
		(void)db_upload_extend(db, u->id, token, now, u->expires - now);
	else
		(void)db_upload_unlock(db, u->id, token);
	app_db_put(a, db);
}

int upload_recover_one(struct app *a, const struct db_upload *u, int64_t now_ms, const char *by,
		       struct store_err *err)
{
	struct db *db = NULL;
	struct store_err scratch;
	uint8_t token[16];
	char uh[33];
	int rc, broken = 0;

	if (strcmp(u->state, "open") != 0 || u->received != u->length || u->lock_until > now_ms ||
	    u->expires <= now_ms + RECOVER_MARGIN_MS)
		return AM_ERR_CONFLICT;
	if ((rc = crypto_random_id(token)) || (rc = app_db_get(a, &db)))
		return rc;
	rc = db_upload_lock(db, u->project_id, u->id, u->length, token, now_ms, upload_lease_ms());
	app_db_put(a, db);
	if (rc)
		return rc; /* AM_ERR_CONFLICT: another node (or request) has it, or it moved */
	access_hex16(u->id, uh);
	if (!err)
		err = &scratch;
	err->msg[0] = 0;
	if ((rc = finish(a, u, token, 1, &broken, err)) != 0) {
		recover_failed(a, u, token, rc, broken, by, uh, err->msg);
		return rc;
	}
	am_log(AM_LOG_INFO, "upload_recovered", "upload", uh, "by", by);
	return 0;
}

struct batch {
	struct db_upload u[RECOVER_BATCH];
	int n;
};

static int batch_add(void *ctx, const struct db_upload *u)
{
	struct batch *b = ctx;

	if (b->n < RECOVER_BATCH)
		b->u[b->n++] = *u;
	return 0;
}

int upload_recover(struct app *a, int64_t now_ms, int *completed, struct store_err *err)
{
	struct batch *b = calloc(1, sizeof(*b));
	struct db *db = NULL;
	int rc, r, n = 0;

	if (err)
		err->msg[0] = 0;
	if (!b)
		return AM_ERR_NOMEM;
	if ((rc = app_db_get(a, &db)) == 0) {
		rc = db_upload_list_received(db, now_ms, now_ms + RECOVER_MARGIN_MS, RECOVER_BATCH,
					     batch_add, b);
		app_db_put(a, db);
	}
	for (int i = 0; rc == 0 && i < b->n; i++) {
		if ((r = upload_recover_one(a, &b->u[i], now_ms, "housekeeping", err)) == 0)
			n++;
		else if (r == AM_ERR_DB || r == AM_ERR_NOMEM || r == AM_ERR_UNAVAIL ||
			 r == AM_ERR_NOSPACE || r == AM_ERR_READONLY)
			rc = r; /* the rest waits for the next run */
	}
	free(b);
	if (completed)
		*completed = n;
	return rc;
}
