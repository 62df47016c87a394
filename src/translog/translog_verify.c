/*
 * translog_verify.c: verification of a project's access log against a tree
 * head the owner kept (translog.h): the kept head's signature, every entry's
 * index and the root recorded when it was appended (which names the first
 * entry edited, deleted or moved), the kept head's root over its prefix,
 * the RFC 9162 consistency proof from the kept head to the whole log, and
 * the current head. Runs in `audiomus log verify`: the entries and both
 * heads are untrusted input (files the operator hands it, or a database
 * that may have been edited), bounded by TRANSLOG_VERIFY_MAX.
 */
#include "translog/translog.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(struct translog_report *rep, int64_t bad, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct translog_report *rep, int64_t bad, const char *fmt, ...)
{
	va_list ap;

	rep->bad_index = bad;
	va_start(ap, fmt);
	vsnprintf(rep->reason, sizeof(rep->reason), fmt, ap);
	va_end(ap);
	return AM_ERR_DENIED;
}

/* Every entry in order: its index, its leaf into leaves[i], the root after
 * it against the recorded one. *root gets the whole tree's root. */
static int walk(const struct translog_item *items, uint64_t n, uint8_t (*leaves)[TRANSLOG_HASH],
		uint8_t root[TRANSLOG_HASH], struct translog_report *rep)
{
	struct translog_frontier f;
	uint8_t r[TRANSLOG_HASH];

	memset(&f, 0, sizeof(f));
	for (uint64_t i = 0; i < n; i++) {
		if (items[i].index != (int64_t)i)
			return fail(rep, (int64_t)i,
				    "entry %" PRIu64 ": index %" PRId64 " where %" PRIu64
				    " was expected (an entry was deleted, inserted or moved)",
				    i, items[i].index, i);
		if (translog_leaf_hash(items[i].entry, items[i].len, leaves[i]))
			return fail(rep, (int64_t)i,
				    "entry %" PRIu64 ": longer than an entry can be", i);
		if (translog_frontier_push(&f, leaves[i]) || translog_frontier_root(&f, r))
			return AM_ERR_CRYPTO;
		if (memcmp(r, items[i].root, TRANSLOG_HASH) != 0)
			return fail(rep, (int64_t)i,
				    "entry %" PRIu64 ": the tree does not hash to the root recorded"
				    " when it was appended (the entry was edited or moved)",
				    i);
	}
	return translog_frontier_root(&f, root);
}

/* The kept head against the log: its prefix root and the consistency proof. */
static int check_kept(const uint8_t (*leaves)[TRANSLOG_HASH], uint64_t n,
		      const uint8_t root[TRANSLOG_HASH], const struct translog_sth *kept,
		      struct translog_report *rep)
{
	uint8_t proof[2 * TRANSLOG_DEPTH][TRANSLOG_HASH], r[TRANSLOG_HASH];
	int rc;

	if (kept->size > n)
		return fail(rep, (int64_t)n,
			    "the log holds %" PRIu64 " entries, the kept tree head %" PRIu64
			    ": the entries from index %" PRIu64 " on are missing",
			    n, kept->size, n);
	if (kept->size == 0)
		return 0;
	if ((rc = translog_root(leaves, kept->size, r)))
		return rc;
	if (memcmp(r, kept->root, TRANSLOG_HASH) != 0)
		return fail(rep, -1,
			    "the first %" PRIu64 " entries do not hash to the kept tree head's"
			    " root: the log was rewritten with recomputed roots (one kept head"
			    " cannot tell which entry changed)",
			    kept->size);
	if ((rc = translog_consistency_proof(leaves, kept->size, n, proof, AM_ARRAY_LEN(proof),
					     &rep->proof_len)))
		return rc;
	if (translog_consistency_verify(kept->size, n, kept->root, root,
					(const uint8_t(*)[TRANSLOG_HASH])proof, rep->proof_len))
		return fail(rep, -1, "the consistency proof from the kept tree head does not hold");
	return 0;
}

/* The current head: signed, by the kept head's key, over a prefix of the log. */
static int check_cur(const uint8_t (*leaves)[TRANSLOG_HASH], uint64_t n,
		     const struct translog_sth *kept, const struct translog_sth *cur,
		     struct translog_report *rep)
{
	uint8_t r[TRANSLOG_HASH];
	int rc;

	if (translog_sth_check(cur))
		return fail(rep, -1, "the current tree head's signature does not verify");
	if (memcmp(cur->project_id, kept->project_id, 16) != 0)
		return fail(rep, -1, "the kept tree head is another project's");
	if (memcmp(cur->key, kept->key, TRANSLOG_PUB) != 0)
		return fail(rep, -1,
			    "the current tree head is signed by another key than the kept one"
			    " (was the master key rotated?)");
	if (cur->size > n)
		return fail(rep, (int64_t)n,
			    "the current tree head counts %" PRIu64
			    " entries, the log holds %" PRIu64,
			    cur->size, n);
	if (cur->size < kept->size)
		return fail(rep, -1, "the current tree head is older than the kept one");
	if ((rc = translog_root(leaves, cur->size, r)))
		return rc;
	if (memcmp(r, cur->root, TRANSLOG_HASH) != 0)
		return fail(rep, -1, "the current tree head's root is not the log's");
	return 0;
}

int translog_verify(const struct translog_item *items, uint64_t n, const struct translog_sth *kept,
		    const struct translog_sth *cur, struct translog_report *rep)
{
	uint8_t(*leaves)[TRANSLOG_HASH] = NULL;
	uint8_t root[TRANSLOG_HASH];
	int rc;

	memset(rep, 0, sizeof(*rep));
	rep->bad_index = -1;
	rep->size = n;
	if (translog_sth_check(kept))
		return fail(rep, -1, "the kept tree head's signature does not verify");
	if (n > TRANSLOG_VERIFY_MAX)
		return fail(rep, -1, "more than %u entries", TRANSLOG_VERIFY_MAX);
	if (n && !(leaves = calloc((size_t)n, TRANSLOG_HASH)))
		return AM_ERR_NOMEM;
	if ((rc = walk(items, n, leaves, root, rep)) ||
	    (rc = check_kept((const uint8_t(*)[TRANSLOG_HASH])leaves, n, root, kept, rep)))
		goto out;
	if (cur)
		rc = check_cur((const uint8_t(*)[TRANSLOG_HASH])leaves, n, kept, cur, rep);
out:
	free(leaves);
	return rc;
}
