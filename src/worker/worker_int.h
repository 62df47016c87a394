/*
 * worker_int.h: what the worker's job files share (not for other
 * components): an output of a job, a new AM1 object written to the store
 * under the project key while the job runs and recorded by the transaction
 * that completes it (job_out.c). Runs in the worker (trusted, holds the
 * project key).
 */
#ifndef AM_WORKER_INT_H
#define AM_WORKER_INT_H

#include <stdint.h>

#include "crypto/crypto.h"
#include "repo/repo.h"
#include "store/store.h"

struct app;

struct job_out {
	struct db_object o; /* the row to record: id, store key, kind, sizes, wrapped DEK */
	struct store_am1_put ap;
	struct am1_sink sink;
	struct am1_writer *w;
	int committed; /* in the store (deleted again by job_out_cleanup unless kept) */
};

/* Begin o: a random id, its store key under kind, the store put and an AM1
 * writer under pk with head bytes reserved; o->o is a "pending" object of
 * that kind, of version (16 bytes) or of none (NULL: A/B renditions are
 * found through version_marks). 0 or an error; *err says the store's. */
int job_out_begin(struct app *a, const struct crypto_pk *pk, struct job_out *o, const char *kind,
		  uint64_t head, const uint8_t *version, struct store_err *err);
/* Finish the writer and commit the put (not yet recorded in the database);
 * the sizes go into o->o. */
int job_out_commit(struct job_out *o, struct store_err *err);
/* Free the writer, abort an open put, and delete the committed object
 * unless keep (the job's transaction recorded it). */
void job_out_cleanup(struct app *a, struct job_out *o, int keep);
/* An xcode_sink's functions over a job_out (ctx). */
int job_out_sink_write(void *ctx, const void *p, size_t n);
int job_out_sink_head(void *ctx, const void *p, size_t n);

#endif
