/*
 * media_complete.c: completion of a fully received upload. A file sent in one
 * PATCH already is the original (its one part was written under orig/); a
 * resumed upload's parts are decrypted in order and re-encrypted into one
 * new AM1 object under a fresh data key (segment by segment: constant
 * memory, nothing plaintext on disk). Then, in one transaction, the original
 * object, the version's state and the transcode job (payload: docs/media.md).
 * Runs in the media process, under the upload's lease.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "db/repo.h"
#include "media/media_int.h"
#include "store/store.h"

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

static int part_open(struct app *a, const uint8_t pk[32], const uint8_t project[16],
		     const struct db_upload_part *p, struct part_reader *pr)
{
	uint8_t *dek = am_secret_alloc(CRYPTO_KEY_LEN);
	int rc;

	memset(pr, 0, sizeof(*pr));
	if (!dek)
		return AM_ERR_NOMEM;
	if (!(rc = crypto_dek_unwrap(pk, p->part_id, project, p->wrapped_dek, p->wrapped_dek_len, dek)) &&
	    !(rc = store_reader_open(a->store, p->store_key, &pr->sr))) {
		store_am1_source(pr->sr, &pr->src);
		rc = am1_reader_open(dek, p->part_id, &pr->src, (uint64_t)p->plain_size, &pr->r);
	}
	am_secret_free(dek, CRYPTO_KEY_LEN);
	return rc;
}

static void part_close(struct part_reader *pr)
{
	am1_reader_free(pr->r);
	store_reader_close(pr->sr);
	memset(pr, 0, sizeof(*pr));
}

static int emit(void *ctx, const void *p, size_t n)
{
	return am1_writer_write(ctx, p, n);
}

/* Copy the parts, in order, into a new object o (id, key, DEK chosen here). */
static int assemble(struct app *a, const uint8_t pk[32], const struct db_upload *u,
		    const struct parts *ps, struct db_object *o)
{
	struct store_am1_put ap = {0};
	struct am1_sink sink;
	struct am1_writer *w = NULL;
	struct part_reader pr = {0};
	uint8_t *dek = am_secret_alloc(CRYPTO_KEY_LEN);
	uint64_t plain = 0, cipher = 0;
	int rc;

	if (!dek)
		return AM_ERR_NOMEM;
	if ((rc = crypto_random_id(o->id)) || (rc = crypto_key_new(dek)) ||
	    (rc = crypto_dek_wrap(pk, o->id, u->project_id, dek, o->wrapped_dek)) ||
	    (rc = store_key_format(o->store_key, sizeof(o->store_key), "orig", o->id, NULL)) ||
	    (rc = store_am1_put_begin(a->store, o->store_key, 0, &ap, &sink)))
		goto out;
	o->wrapped_dek_len = CRYPTO_WRAPPED_LEN;
	if ((rc = am1_writer_new(dek, o->id, &sink, 0, &w)))
		goto out;
	for (size_t i = 0; i < ps->n && rc == 0; i++) {
		if (ps->p[i].plain_size == 0)
			continue;
		if ((rc = part_open(a, pk, u->project_id, &ps->p[i], &pr)) == 0)
			rc = am1_reader_range(pr.r, 0, (uint64_t)ps->p[i].plain_size - 1, emit, w);
		part_close(&pr);
	}
	if (rc == 0 && (rc = am1_writer_finish(w, &plain, &cipher)) == 0)
		rc = store_put_commit(ap.put, NULL), ap.put = NULL;
	o->plain_size = (int64_t)plain;
	o->cipher_size = (int64_t)cipher;
out:
	am1_writer_free(w);
	store_put_abort(ap.put);
	am_secret_free(dek, CRYPTO_KEY_LEN);
	return rc;
}

/* The first bytes of the finished original, to name its type. */
static int head_type(struct app *a, const uint8_t pk[32], const struct db_upload *u,
		     const struct db_object *o, const char **ext, const char **ctype)
{
	struct db_upload_part p;
	struct part_reader pr;
	uint8_t head[MEDIA_SNIFF_LEN];
	size_t got = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	memcpy(p.part_id, o->id, 16);
	memcpy(p.wrapped_dek, o->wrapped_dek, o->wrapped_dek_len);
	p.wrapped_dek_len = o->wrapped_dek_len;
	p.plain_size = o->plain_size;
	snprintf(p.store_key, sizeof(p.store_key), "%s", o->store_key);
	if ((rc = part_open(a, pk, u->project_id, &p, &pr)) == 0 &&
	    (rc = am1_reader_pread(pr.r, 0, head, sizeof(head), &got)) == 0)
		rc = media_sniff(head, got, ext, ctype);
	part_close(&pr);
	am_memzero(head, sizeof(head));
	return rc;
}

/* Build the original (reusing a single whole part) and its job payload. */
static int make_original(struct app *a, const uint8_t pk[32], const struct db_upload *u,
			 const struct parts *ps, struct db_object *o, int *assembled)
{
	const struct db_upload_part *p0 = ps->n ? &ps->p[0] : NULL;
	const char *ext = NULL, *ctype = NULL;
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
		if ((rc = assemble(a, pk, u, ps, o)))
			return rc;
		*assembled = 1;
	}
	if (o->plain_size != u->length)
		return AM_ERR_INTERNAL;
	if ((rc = head_type(a, pk, u, o, &ext, &ctype)))
		return rc;
	memcpy(o->version_id, u->version_id, 16);
	o->has_version = 1;
	snprintf(o->kind, sizeof(o->kind), "original");
	snprintf(o->content_type, sizeof(o->content_type), "%s", ctype);
	snprintf(o->state, sizeof(o->state), "pending");
	return 0;
}

int media_upload_finish(struct media *m, const struct db_upload *u, const uint8_t token[16])
{
	struct app *a = m->app;
	struct parts ps = {0};
	struct db_project p;
	struct db_object o;
	struct db *db = NULL;
	uint8_t *pk = am_secret_alloc(CRYPTO_KEY_LEN);
	char payload[512], vh[33], oh[33];
	int rc, assembled = 0, pn;

	if (!pk)
		return AM_ERR_NOMEM;
	if ((rc = app_db_get(a, &db)))
		goto out;
	if ((rc = db_upload_parts(db, u->id, collect, &ps)) ||
	    (rc = db_project_get_by_id(db, &a->keys, u->project_id, &p)) ||
	    (rc = crypto_pk_unwrap(a->kr, u->project_id, p.wrapped_pk, p.wrapped_pk_len, pk)))
		goto out;
	app_db_put(a, db); /* not held across a long copy */
	db = NULL;
	if ((rc = make_original(a, pk, u, &ps, &o, &assembled)))
		goto out;
	access_hex16(u->version_id, vh);
	access_hex16(o.id, oh);
	pn = snprintf(payload, sizeof(payload),
		      "{\"v\":1,\"version\":\"%s\",\"original\":\"%s\",\"size\":%lld,\"type\":\"%s\"}", vh, oh,
		      (long long)o.plain_size, o.content_type);
	if ((rc = app_db_get(a, &db)) ||
	    (rc = db_upload_complete(db, u, token, &o, payload, (size_t)pn))) {
		if (assembled)
			(void)store_delete(a->store, o.store_key);
		goto out;
	}
	for (size_t i = 0; i < ps.n; i++) /* the parts now live on in the original */
		if (assembled || strcmp(ps.p[i].store_key, o.store_key) != 0)
			(void)store_delete(a->store, ps.p[i].store_key);
out:
	if (db)
		app_db_put(a, db);
	free(ps.p);
	am_memzero(&p, sizeof(p));
	am_secret_free(pk, CRYPTO_KEY_LEN);
	return rc;
}
