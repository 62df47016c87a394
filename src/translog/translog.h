/*
 * translog: the tamper-evident access log of a project (issue 26,
 * docs/security.md "Access log"): an append-only Merkle tree with the
 * structure of RFC 6962 / RFC 9162 section 2.1 (leaf hash SHA-256(0x00 ‖
 * entry), node hash SHA-256(0x01 ‖ left ‖ right), the RFC's split at the
 * largest power of two for other sizes), one tree per project, and signed
 * tree heads (Ed25519 under a key derived from the master key, crypto.h
 * "access log signing key") that the owner downloads and keeps outside the
 * server. Each row also keeps the tree's root after it was appended, so a
 * verifier names the first entry that was edited, deleted or moved.
 *
 * Runs in the web role (grants), the media role (served media, from the
 * event writer's thread), the worker (exports) and in `audiomus log verify`
 * (offline: every input there is untrusted and parsed with hard bounds).
 */
#ifndef AM_TRANSLOG_H
#define AM_TRANSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define TRANSLOG_HASH	   32
#define TRANSLOG_ENTRY_MAX 512 /* one encoded entry, bytes */
#define TRANSLOG_DEPTH	   64  /* frontier nodes: enough for 2^64 entries */
#define TRANSLOG_SIG	   64  /* Ed25519 signature */
#define TRANSLOG_PUB	   32  /* Ed25519 public key */
#define TRANSLOG_STH_JSON  1024
/* At most this many entries in one verification (memory: 32 bytes each). */
#define TRANSLOG_VERIFY_MAX (16u * 1024 * 1024)

/* ---- the tree (translog_tree.c): pure functions, no I/O ---------------------- */

/* Leaf hash SHA-256(0x00 ‖ entry[0..n)). 0 or AM_ERR_CRYPTO. */
int translog_leaf_hash(const void *entry, size_t n, uint8_t out[TRANSLOG_HASH]);
/* Interior node SHA-256(0x01 ‖ l ‖ r). */
int translog_node_hash(const uint8_t l[TRANSLOG_HASH], const uint8_t r[TRANSLOG_HASH],
		       uint8_t out[TRANSLOG_HASH]);
/* MTH of the n leaf hashes leaves[0..n) (borrowed) into out; n = 0 gives
 * SHA-256 of the empty string (RFC 6962 2.1). 0 or AM_ERR_CRYPTO. */
int translog_root(const uint8_t (*leaves)[TRANSLOG_HASH], uint64_t n, uint8_t out[TRANSLOG_HASH]);

/* The right edge of a tree: the roots of its full subtrees, largest
 * first, one per set bit of size. Caller storage; zero it for size 0. */
struct translog_frontier {
	uint64_t size;
	unsigned n;
	uint8_t node[TRANSLOG_DEPTH][TRANSLOG_HASH];
};
/* Append one leaf hash. AM_ERR_TOOBIG when full. */
int translog_frontier_push(struct translog_frontier *f, const uint8_t leaf[TRANSLOG_HASH]);
/* The MTH of the f->size leaves pushed so far. */
int translog_frontier_root(const struct translog_frontier *f, uint8_t out[TRANSLOG_HASH]);
/* Serialise into out (f->n * 32 bytes, *len set) / read back for size. */
void translog_frontier_save(const struct translog_frontier *f, uint8_t *out, size_t *len);
int translog_frontier_load(struct translog_frontier *f, uint64_t size, const uint8_t *p, size_t n);

/* The RFC 9162 2.1.4.1 consistency proof between the tree of the first m
 * leaves and the tree of all n (0 < m <= n), computed from the leaf hashes
 * leaves[0..n): at most TRANSLOG_DEPTH * 2 hashes into proof, *len set.
 * AM_ERR_INVAL on bad sizes. */
int translog_consistency_proof(const uint8_t (*leaves)[TRANSLOG_HASH], uint64_t m, uint64_t n,
			       uint8_t (*proof)[TRANSLOG_HASH], size_t cap, size_t *len);
/* RFC 9162 2.1.4.2: 0 if proof[0..len) shows that the tree of size m with
 * root old_root is a prefix of the tree of size n with root new_root;
 * AM_ERR_DENIED if not, AM_ERR_INVAL on bad sizes. */
int translog_consistency_verify(uint64_t m, uint64_t n, const uint8_t old_root[TRANSLOG_HASH],
				const uint8_t new_root[TRANSLOG_HASH],
				const uint8_t (*proof)[TRANSLOG_HASH], size_t len);

/* ---- signed tree heads (translog_sth.c) ------------------------------------------
 * The signed message is the 81 bytes
 *   "audiomus-sth-v1" 0x00 ‖ project_id(16) ‖ u64be(tree_size) ‖
 *   u64be(timestamp ms) ‖ root(32)
 * and the JSON the owner keeps is
 *   {"v":1,"project":HEX32,"tree_size":N,"timestamp":MS,
 *    "root_hash":B64URL,"key":B64URL,"signature":B64URL}
 * (base64url without padding, crypto.h). */
struct translog_sth {
	uint8_t project_id[16];
	uint64_t size;
	int64_t timestamp;
	uint8_t root[TRANSLOG_HASH];
	uint8_t key[TRANSLOG_PUB];
	uint8_t sig[TRANSLOG_SIG];
};

struct keyring;
/* Fill key and sig of s (project_id, size, timestamp and root set by the
 * caller) under the keyring's log signing key. 0 or AM_ERR_CRYPTO. */
int translog_sth_sign(const struct keyring *kr, struct translog_sth *s);
/* 0 if s->sig is s->key's signature of s; AM_ERR_DENIED otherwise. */
int translog_sth_check(const struct translog_sth *s);
/* The JSON text above into out (NUL-terminated). AM_ERR_TOOBIG. */
int translog_sth_json(const struct translog_sth *s, char *out, size_t outlen);
/* Parse that JSON strictly (every field, right lengths). AM_ERR_INVAL. The
 * signature is not checked: translog_sth_check. */
int translog_sth_parse(const char *text, size_t n, struct translog_sth *out);

/* ---- appending (translog_append.c) ------------------------------------------------
 * An entry is a short JSON object of ids and a time, never a name or an
 * address: {"t":MS,"k":KIND[,"o":OBJECT_HEX][,"l":LINK_HEX]}. The kinds the
 * log takes: grants ("page_open": a share link's review page opened, first
 * time per browser session and link; "password_ok": the project password
 * accepted) and served media ("play", "download": a marked WAV too,
 * "archive", "export"). */
struct translog_rec {
	const uint8_t *project_id; /* 16 bytes */
	const char *kind;
	const uint8_t *object_id; /* 16 bytes or NULL */
	const uint8_t *link_id;	  /* 16 bytes or NULL */
	int64_t time;		  /* ms; 0: now */
};

struct db;
/* Whether kind is one the log takes (above). */
int translog_kind_logged(const char *kind);
/* Append r to its project's log in one write transaction (nested in the
 * caller's, if any): the entry, its index and the root after it. Callers on
 * a request path must not call this (queue it: media_events.c). 0,
 * AM_ERR_INVAL, AM_ERR_TOOBIG, or a database error. */
int translog_append(struct db *db, const struct translog_rec *r);
struct db_event_new;
/* The media role's and worker's hook: append the events among ev[0..n)
 * (borrowed; repo.h) whose kind the log takes, each with the "object" and
 * "link" ids of its details JSON when present (anything else in it, such
 * as the IP pseudonym, stays out of the log), in one write transaction,
 * or, when that fails (a project deleted meanwhile), each on its own.
 * Returns the number of entries that could not be appended (they are
 * logged as translog_append_failed). */
size_t translog_append_events(struct db *db, const struct db_event_new *ev, size_t n);
/* The current signed tree head of a project, computed from its entries
 * (now as timestamp). 0, AM_ERR_NOTFOUND (no project), a database error. */
int translog_head(struct db *db, const struct keyring *kr, const uint8_t project_id[16],
		  struct translog_sth *out);

/* ---- verification (translog_verify.c) --------------------------------------------
 * A log as stored: entries with their index and recorded root. */
struct translog_item {
	int64_t index;
	const uint8_t *entry; /* borrowed */
	size_t len;
	uint8_t root[TRANSLOG_HASH];
};

/* The outcome of a verification: result 0 (verified) or AM_ERR_DENIED, with
 * the first bad index (-1: none, or not known) and a one-line reason. */
struct translog_report {
	int64_t bad_index;
	uint64_t size;	  /* entries read */
	size_t proof_len; /* hashes in the consistency proof */
	char reason[256];
};

/* Verify items[0..n) (a project's whole log, in index order) against the
 * kept tree head (borrowed): its signature, every entry's index and
 * recorded root, the kept head's root over its first kept->size entries,
 * the consistency proof from it to the whole log, and, when cur is not NULL,
 * the current head (its signature, key and root). 0 or AM_ERR_DENIED (rep
 * says why), AM_ERR_NOMEM. */
int translog_verify(const struct translog_item *items, uint64_t n, const struct translog_sth *kept,
		    const struct translog_sth *cur, struct translog_report *rep);

#endif
