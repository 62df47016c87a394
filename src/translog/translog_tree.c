/*
 * translog_tree.c: the Merkle tree of the access log, as RFC 6962 section
 * 2.1 and RFC 9162 section 2.1 define it: leaf and node hashes, the tree
 * hash of any size, the compact right edge ("frontier") an append needs,
 * and consistency proofs (generation and the RFC 9162 2.1.4.2 check).
 * Pure functions over caller memory; no I/O. Runs wherever the log is
 * appended or verified; in `audiomus log verify` its inputs are untrusted,
 * so every size is checked before it indexes anything.
 */
#include "translog/translog.h"

#include <string.h>

#include "crypto/crypto.h"

int translog_leaf_hash(const void *entry, size_t n, uint8_t out[TRANSLOG_HASH])
{
	uint8_t buf[1 + TRANSLOG_ENTRY_MAX];

	if (n > TRANSLOG_ENTRY_MAX || (n && !entry))
		return AM_ERR_INVAL;
	buf[0] = 0x00;
	if (n)
		memcpy(buf + 1, entry, n);
	return crypto_sha256(buf, 1 + n, out);
}

int translog_node_hash(const uint8_t l[TRANSLOG_HASH], const uint8_t r[TRANSLOG_HASH],
		       uint8_t out[TRANSLOG_HASH])
{
	uint8_t buf[1 + 2 * TRANSLOG_HASH];

	buf[0] = 0x01;
	memcpy(buf + 1, l, TRANSLOG_HASH);
	memcpy(buf + 1 + TRANSLOG_HASH, r, TRANSLOG_HASH);
	return crypto_sha256(buf, sizeof(buf), out);
}

/* The largest power of two smaller than n (n >= 2): the RFC's split k. */
static uint64_t split(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

int translog_root(const uint8_t (*leaves)[TRANSLOG_HASH], uint64_t n, uint8_t out[TRANSLOG_HASH])
{
	uint8_t l[TRANSLOG_HASH], r[TRANSLOG_HASH];
	uint64_t k;
	int rc;

	if (n == 0)
		return crypto_sha256("", 0, out);
	if (n == 1) {
		memcpy(out, leaves[0], TRANSLOG_HASH);
		return 0;
	}
	k = split(n); /* depth of recursion: at most 64 */
	if ((rc = translog_root(leaves, k, l)) || (rc = translog_root(leaves + k, n - k, r)))
		return rc;
	return translog_node_hash(l, r, out);
}

int translog_frontier_push(struct translog_frontier *f, const uint8_t leaf[TRANSLOG_HASH])
{
	uint8_t h[TRANSLOG_HASH];
	uint64_t s = f->size;
	int rc;

	if (f->size == UINT64_MAX)
		return AM_ERR_TOOBIG;
	memcpy(h, leaf, TRANSLOG_HASH);
	/* Each trailing 1 bit of the old size is a full subtree that the new
	 * leaf completes into one twice as large. */
	while (s & 1) {
		if (f->n == 0)
			return AM_ERR_INVAL;
		if ((rc = translog_node_hash(f->node[f->n - 1], h, h)))
			return rc;
		f->n--;
		s >>= 1;
	}
	if (f->n >= TRANSLOG_DEPTH)
		return AM_ERR_TOOBIG;
	memcpy(f->node[f->n++], h, TRANSLOG_HASH);
	f->size++;
	return 0;
}

int translog_frontier_root(const struct translog_frontier *f, uint8_t out[TRANSLOG_HASH])
{
	uint8_t r[TRANSLOG_HASH];
	int rc;

	if (f->n == 0)
		return crypto_sha256("", 0, out);
	/* The subtrees shrink from left to right: folding from the right is
	 * the RFC's split at the largest power of two, level by level. */
	memcpy(r, f->node[f->n - 1], TRANSLOG_HASH);
	for (unsigned i = f->n - 1; i-- > 0;)
		if ((rc = translog_node_hash(f->node[i], r, r)))
			return rc;
	memcpy(out, r, TRANSLOG_HASH);
	return 0;
}

void translog_frontier_save(const struct translog_frontier *f, uint8_t *out, size_t *len)
{
	memcpy(out, f->node, (size_t)f->n * TRANSLOG_HASH);
	*len = (size_t)f->n * TRANSLOG_HASH;
}

int translog_frontier_load(struct translog_frontier *f, uint64_t size, const uint8_t *p, size_t n)
{
	unsigned bits = (unsigned)__builtin_popcountll(size);

	memset(f, 0, sizeof(*f));
	if (n != (size_t)bits * TRANSLOG_HASH || (n && !p))
		return AM_ERR_INVAL;
	if (n)
		memcpy(f->node, p, n);
	f->n = bits;
	f->size = size;
	return 0;
}

/* RFC 9162 2.1.4.1 SUBPROOF(m, D[0..n), b), appended to proof. */
static int subproof(const uint8_t (*leaves)[TRANSLOG_HASH], uint64_t m, uint64_t n, int b,
		    uint8_t (*proof)[TRANSLOG_HASH], size_t cap, size_t *len)
{
	uint64_t k;
	int rc;

	if (m == n) {
		if (b)
			return 0;
		if (*len >= cap)
			return AM_ERR_TOOBIG;
		return translog_root(leaves, n, proof[(*len)++]);
	}
	k = split(n);
	if (m <= k)
		rc = subproof(leaves, m, k, b, proof, cap, len);
	else
		rc = subproof(leaves + k, m - k, n - k, 0, proof, cap, len);
	if (rc)
		return rc;
	if (*len >= cap)
		return AM_ERR_TOOBIG;
	return m <= k ? translog_root(leaves + k, n - k, proof[(*len)++])
		      : translog_root(leaves, k, proof[(*len)++]);
}

int translog_consistency_proof(const uint8_t (*leaves)[TRANSLOG_HASH], uint64_t m, uint64_t n,
			       uint8_t (*proof)[TRANSLOG_HASH], size_t cap, size_t *len)
{
	*len = 0;
	if (m == 0 || m > n)
		return AM_ERR_INVAL;
	return subproof(leaves, m, n, 1, proof, cap, len);
}

/* Right-shift fn and sn together until fn's low bit is set or fn is 0. */
static void shift_clear(uint64_t *fn, uint64_t *sn)
{
	while (*fn && !(*fn & 1)) {
		*fn >>= 1;
		*sn >>= 1;
	}
}

int translog_consistency_verify(uint64_t m, uint64_t n, const uint8_t old_root[TRANSLOG_HASH],
				const uint8_t new_root[TRANSLOG_HASH],
				const uint8_t (*proof)[TRANSLOG_HASH], size_t len)
{
	uint8_t fr[TRANSLOG_HASH], sr[TRANSLOG_HASH];
	uint64_t fn, sn;
	size_t i = 0;

	if (m == 0 || m > n)
		return AM_ERR_INVAL;
	if (m == n)
		return len == 0 && !memcmp(old_root, new_root, TRANSLOG_HASH) ? 0 : AM_ERR_DENIED;
	/* Step 1: a power-of-two first tree is its own first proof node. */
	if ((m & (m - 1)) == 0) {
		memcpy(fr, old_root, TRANSLOG_HASH);
	} else {
		if (len == 0)
			return AM_ERR_DENIED;
		memcpy(fr, proof[i++], TRANSLOG_HASH);
	}
	memcpy(sr, fr, TRANSLOG_HASH);
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < len; i++) {
		if (sn == 0)
			return AM_ERR_DENIED;
		if ((fn & 1) || fn == sn) {
			if (translog_node_hash(proof[i], fr, fr) ||
			    translog_node_hash(proof[i], sr, sr))
				return AM_ERR_CRYPTO;
			if (!(fn & 1))
				shift_clear(&fn, &sn);
		} else if (translog_node_hash(sr, proof[i], sr)) {
			return AM_ERR_CRYPTO;
		}
		fn >>= 1;
		sn >>= 1;
	}
	return !memcmp(fr, old_root, TRANSLOG_HASH) && !memcmp(sr, new_root, TRANSLOG_HASH) &&
		       sn == 0
		   ? 0
		   : AM_ERR_DENIED;
}
