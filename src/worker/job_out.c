/*
 * job_out.c: a job's output, a new AM1 object (worker_int.h): begun under
 * the project key with a random id, written by the sandboxed child's sink,
 * committed to the store, and deleted again if the job's transaction does
 * not record it. Shared by the transcode and mark_ab jobs. Runs in the
 * worker (trusted, holds the project key); the bytes come from the child
 * and are only encrypted here.
 */
#include "worker/worker_int.h"

#include <string.h>

#include "app/app.h"
#include "util/util.h"

int job_out_begin(struct app *a, const struct crypto_pk *pk, struct job_out *o, const char *kind,
		  uint64_t head, const uint8_t *version, struct store_err *err)
{
	int rc;

	if ((rc = crypto_random_id(o->o.id)) ||
	    (rc = store_key_format(o->o.store_key, sizeof(o->o.store_key), kind, o->o.id, NULL)) ||
	    (rc = store_am1_put_begin(a->store, o->o.store_key, head, &o->ap, &o->sink, err)))
		return rc;
	o->o.wrapped_dek_len = CRYPTO_WRAPPED_LEN;
	o->o.has_version = version != NULL;
	if (version)
		memcpy(o->o.version_id, version, 16);
	am_strlcpy(o->o.kind, kind, sizeof(o->o.kind));
	am_strlcpy(o->o.state, "pending", sizeof(o->o.state));
	return crypto_pk_writer_new(pk, o->o.id, &o->sink, head, o->o.wrapped_dek, &o->w);
}

int job_out_commit(struct job_out *o, struct store_err *err)
{
	uint64_t plain = 0, cipher = 0;
	int rc = am1_writer_finish(o->w, &plain, &cipher);

	if (rc == 0) {
		rc = store_put_commit(o->ap.put, NULL, err);
		o->ap.put = NULL;
	}
	o->o.plain_size = (int64_t)plain;
	o->o.cipher_size = (int64_t)cipher;
	o->committed = rc == 0;
	return rc;
}

void job_out_cleanup(struct app *a, struct job_out *o, int keep)
{
	am1_writer_free(o->w);
	o->w = NULL;
	store_put_abort(o->ap.put);
	o->ap.put = NULL;
	if (o->committed && !keep)
		(void)store_delete(a->store, o->o.store_key, NULL);
}

int job_out_sink_write(void *ctx, const void *p, size_t n)
{
	return am1_writer_write(((struct job_out *)ctx)->w, p, n);
}

int job_out_sink_head(void *ctx, const void *p, size_t n)
{
	return am1_writer_patch_head(((struct job_out *)ctx)->w, p, n);
}
