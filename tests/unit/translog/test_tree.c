/*
 * Unit tests for src/translog: the tree hash and consistency proofs against
 * the RFC 6962 test vectors of certificate-transparency (the eight leaves
 * "", 00, 10, 2021, 3031, 40414243, 5051525354555657,
 * 606162636465666768696a6b6c6d6e6f, their roots and consistency proofs),
 * every proof of small trees against tampering, signed tree heads, and the
 * verifier naming the first edited, deleted or moved entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/crypto_int.h"
#include "translog/translog.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = h[2 * i + j];
			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		out[i] = (uint8_t)v;
	}
}

static const char *const ct_leaves[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const char *const ct_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static uint8_t leaves[8][TRANSLOG_HASH];

static void ct_leaf_hashes(void)
{
	for (int i = 0; i < 8; i++) {
		uint8_t d[16];
		size_t n = strlen(ct_leaves[i]) / 2;

		unhex(ct_leaves[i], d, n);
		assert_int_equal(translog_leaf_hash(d, n, leaves[i]), 0);
	}
}

static void roots_match_rfc6962_vectors(void **state)
{
	struct translog_frontier f, g;
	uint8_t want[32], got[32], buf[64 * 32];
	size_t len;

	(void)state;
	ct_leaf_hashes();
	memset(&f, 0, sizeof(f));
	for (int n = 0; n <= 8; n++) {
		unhex(ct_roots[n], want, 32);
		assert_int_equal(translog_root((const uint8_t(*)[32])leaves, (uint64_t)n, got), 0);
		assert_memory_equal(got, want, 32);
		/* The incremental right edge gives the same root, also after a
		 * save and load (what an append does). */
		assert_int_equal(translog_frontier_root(&f, got), 0);
		assert_memory_equal(got, want, 32);
		translog_frontier_save(&f, buf, &len);
		assert_int_equal(translog_frontier_load(&g, f.size, buf, len), 0);
		assert_int_equal(translog_frontier_root(&g, got), 0);
		assert_memory_equal(got, want, 32);
		if (n < 8)
			assert_int_equal(translog_frontier_push(&g, leaves[n]), 0);
		f = g;
	}
	/* A frontier of the wrong length for its size is refused. */
	assert_int_equal(translog_frontier_load(&g, 5, buf, 32), AM_ERR_INVAL);
}

struct ct_proof {
	uint64_t m, n;
	size_t len;
	const char *h[3];
};

static const struct ct_proof ct_proofs[] = {
    {1, 1, 0, {NULL}},
    {1,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static void consistency_matches_rfc6962_vectors(void **state)
{
	uint8_t proof[128][32], want[32], r1[32], r2[32];
	size_t len;

	(void)state;
	ct_leaf_hashes();
	for (size_t t = 0; t < AM_ARRAY_LEN(ct_proofs); t++) {
		const struct ct_proof *p = &ct_proofs[t];

		assert_int_equal(translog_consistency_proof((const uint8_t(*)[32])leaves, p->m,
							    p->n, proof, 128, &len),
				 0);
		assert_int_equal(len, p->len);
		for (size_t i = 0; i < len; i++) {
			unhex(p->h[i], want, 32);
			assert_memory_equal(proof[i], want, 32);
		}
		unhex(ct_roots[p->m], r1, 32);
		unhex(ct_roots[p->n], r2, 32);
		assert_int_equal(translog_consistency_verify(p->m, p->n, r1, r2,
							     (const uint8_t(*)[32])proof, len),
				 0);
	}
}

/* Every (m, n) up to 33 leaves: the proof holds, and no tampered proof or
 * wrong root does. */
static void every_small_proof_verifies_and_tamper_fails(void **state)
{
	static uint8_t many[33][32];
	uint8_t proof[128][32], r1[32], r2[32];
	size_t len;

	(void)state;
	for (int i = 0; i < 33; i++) {
		uint8_t d[2] = {(uint8_t)i, (uint8_t)(i * 7)};
		assert_int_equal(translog_leaf_hash(d, 2, many[i]), 0);
	}
	for (uint64_t n = 1; n <= 33; n++) {
		for (uint64_t m = 1; m <= n; m++) {
			const uint8_t(*cp)[32] = (const uint8_t(*)[32])proof;

			assert_int_equal(translog_root((const uint8_t(*)[32])many, m, r1), 0);
			assert_int_equal(translog_root((const uint8_t(*)[32])many, n, r2), 0);
			assert_int_equal(translog_consistency_proof((const uint8_t(*)[32])many, m,
								    n, proof, 128, &len),
					 0);
			assert_int_equal(translog_consistency_verify(m, n, r1, r2, cp, len), 0);
			r1[0] ^= 1;
			assert_int_not_equal(translog_consistency_verify(m, n, r1, r2, cp, len), 0);
			r1[0] ^= 1;
			/* (The sizes themselves are bound by the signed heads: a
			 * proof for (4, 6) also fits (4, 5) by shape.) */
			assert_int_equal(translog_consistency_verify(n + 1, n, r1, r2, cp, len),
					 AM_ERR_INVAL);
			for (size_t i = 0; i < len; i++) {
				proof[i][31] ^= 0x80;
				assert_int_not_equal(
				    translog_consistency_verify(m, n, r1, r2, cp, len), 0);
				proof[i][31] ^= 0x80;
			}
		}
	}
}

/* ---- signed tree heads and the verifier --------------------------------------- */

static struct keyring *test_keyring(uint8_t fill)
{
	uint8_t mk[CRYPTO_KEY_LEN];
	struct keyring *kr = NULL;

	memset(mk, fill, sizeof(mk));
	assert_int_equal(keyring_from_key(mk, 1, &kr), 0);
	return kr;
}

static void sth_sign_json_parse_check(void **state)
{
	struct keyring *kr = test_keyring(7), *other = test_keyring(8);
	struct translog_sth s = {.size = 5, .timestamp = 1765000000000}, p, q;
	char json[TRANSLOG_STH_JSON];

	(void)state;
	memset(s.project_id, 0xab, 16);
	memset(s.root, 0x11, 32);
	assert_int_equal(translog_sth_sign(kr, &s), 0);
	assert_int_equal(translog_sth_check(&s), 0);
	assert_int_equal(translog_sth_json(&s, json, sizeof(json)), 0);
	assert_int_equal(translog_sth_parse(json, strlen(json), &p), 0);
	assert_memory_equal(&p, &s, sizeof(s));
	assert_int_equal(translog_sth_check(&p), 0);
	/* Any field changed: the signature no longer holds. */
	q = p;
	q.size = 6;
	assert_int_equal(translog_sth_check(&q), AM_ERR_DENIED);
	q = p;
	q.root[3] ^= 1;
	assert_int_equal(translog_sth_check(&q), AM_ERR_DENIED);
	q = p;
	assert_int_equal(translog_sth_sign(other, &q), 0); /* another master key: another key */
	assert_memory_not_equal(q.key, p.key, 32);
	/* Strict parsing. */
	assert_int_equal(translog_sth_parse("{}", 2, &q), AM_ERR_INVAL);
	assert_int_equal(translog_sth_parse(json, strlen(json) - 1, &q), AM_ERR_INVAL);
	keyring_free(kr);
	keyring_free(other);
}

#define NE 9

struct fixture {
	char text[NE][64];
	struct translog_item it[NE];
	struct translog_sth kept, cur;
};

/* A log of NE entries as an append records it, a head kept at 5, the
 * current head at NE. */
static void build(struct fixture *fx, struct keyring *kr)
{
	struct translog_frontier f;
	uint8_t leaf[32];

	memset(fx, 0, sizeof(*fx));
	memset(&f, 0, sizeof(f));
	for (int i = 0; i < NE; i++) {
		snprintf(fx->text[i], sizeof(fx->text[i]), "{\"t\":%d,\"k\":\"play\"}", 1000 + i);
		fx->it[i] = (struct translog_item){
		    i, (const uint8_t *)fx->text[i], strlen(fx->text[i]), {0}};
		assert_int_equal(translog_leaf_hash(fx->it[i].entry, fx->it[i].len, leaf), 0);
		assert_int_equal(translog_frontier_push(&f, leaf), 0);
		assert_int_equal(translog_frontier_root(&f, fx->it[i].root), 0);
		if (i == 4) {
			memcpy(fx->kept.root, fx->it[i].root, 32);
			fx->kept.size = 5;
		}
	}
	memset(fx->kept.project_id, 1, 16);
	assert_int_equal(translog_sth_sign(kr, &fx->kept), 0);
	fx->cur = fx->kept;
	fx->cur.size = NE;
	memcpy(fx->cur.root, fx->it[NE - 1].root, 32);
	assert_int_equal(translog_sth_sign(kr, &fx->cur), 0);
}

static void verifier_names_first_bad_index(void **state)
{
	struct keyring *kr = test_keyring(9);
	struct translog_report rep;
	struct translog_item tmp;
	struct fixture fx;

	(void)state;
	build(&fx, kr);
	assert_int_equal(translog_verify(fx.it, NE, &fx.kept, &fx.cur, &rep), 0);
	assert_int_equal(rep.proof_len > 0, 1);
	/* An entry edited (a byte of its text). */
	fx.text[3][6] ^= 1;
	assert_int_equal(translog_verify(fx.it, NE, &fx.kept, &fx.cur, &rep), AM_ERR_DENIED);
	assert_int_equal(rep.bad_index, 3);
	fx.text[3][6] ^= 1;
	/* An entry deleted: the rows after it move up. */
	memmove(&fx.it[2], &fx.it[3], (NE - 3) * sizeof(fx.it[0]));
	assert_int_equal(translog_verify(fx.it, NE - 1, &fx.kept, NULL, &rep), AM_ERR_DENIED);
	assert_int_equal(rep.bad_index, 2);
	build(&fx, kr);
	/* Two entries swapped, each keeping its index and recorded root. */
	tmp = fx.it[6];
	fx.it[6].entry = fx.it[7].entry;
	fx.it[6].len = fx.it[7].len;
	fx.it[7].entry = tmp.entry;
	fx.it[7].len = tmp.len;
	assert_int_equal(translog_verify(fx.it, NE, &fx.kept, &fx.cur, &rep), AM_ERR_DENIED);
	assert_int_equal(rep.bad_index, 6);
	build(&fx, kr);
	/* The log cut short below the kept head. */
	assert_int_equal(translog_verify(fx.it, 4, &fx.kept, NULL, &rep), AM_ERR_DENIED);
	assert_int_equal(rep.bad_index, 4);
	/* A forged kept head. */
	fx.kept.size = 4;
	assert_int_equal(translog_verify(fx.it, NE, &fx.kept, NULL, &rep), AM_ERR_DENIED);
	keyring_free(kr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(roots_match_rfc6962_vectors),
	    cmocka_unit_test(consistency_matches_rfc6962_vectors),
	    cmocka_unit_test(every_small_proof_verifies_and_tamper_fails),
	    cmocka_unit_test(sth_sign_json_parse_check),
	    cmocka_unit_test(verifier_names_first_bad_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
