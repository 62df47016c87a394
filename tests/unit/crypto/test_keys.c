/*
 * Unit tests for the keyring, key files, envelope keys and IP pseudonyms:
 * key-file mode refusal, purpose-key separation and generations, wrap/unwrap
 * with the wrong key, project, file or mk, rotation (the old MK no longer
 * unwraps), crypto-shredding, the forward-only IP ratchet, and the handles
 * of crypto.h (MACs, project keys, field keys) against the raw functions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/crypto_int.h"
#include "crypto/helper_crypto.h"

static char dir[64];

static int setup(void **state)
{
	am_strlcpy(dir, "/tmp/am-crypto-XXXXXX", sizeof(dir));
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "%s/mk", dir);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/bad", dir);
	unlink(cmd);
	rmdir(dir);
	return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void keyfile_create_and_open(void **state)
{
	char path[128], err[256];
	struct keyring *a = NULL, *b = NULL;
	struct stat st;

	snprintf(path, sizeof(path), "%s/mk", dir);
	unlink(path);
	assert_int_equal(crypto_keyfile_create(path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 65);
	assert_int_equal(crypto_keyfile_create(path), AM_ERR_EXISTS);
	assert_int_equal(keyring_open(path, 1, &a, err, sizeof(err)), 0);
	assert_int_equal(strlen(keyring_mk_id(a)), 16);
	/* Same file, same id and keys; from the environment too. */
	setenv(CRYPTO_KEYFILE_ENV, path, 1);
	assert_int_equal(keyring_open(NULL, 1, &b, err, sizeof(err)), 0);
	unsetenv(CRYPTO_KEYFILE_ENV);
	assert_string_equal(keyring_mk_id(a), keyring_mk_id(b));
	assert_memory_equal(keyring_key(a, CRYPTO_KEY_COOKIE, 1),
			    keyring_key(b, CRYPTO_KEY_COOKIE, 1), 32);
	keyring_free(a);
	keyring_free(b);
	keyring_free(NULL);
	assert_int_equal(keyring_open(NULL, 1, &a, err, sizeof(err)), AM_ERR_NOTFOUND);
	assert_null(a);
}

static void keyfile_mode_and_content_refused(void **state)
{
	static const mode_t bad_modes[] = {0644, 0640, 0604, 0660, 0700, 0606, 01600};
	static const char *bad_text[] = {
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeef",	 /* 63 */
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0", /* 65 */
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",	 /* non-hex */
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n\n",
	    " 0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	    ""};
	char path[128], err[256];
	struct keyring *kr = NULL;

	snprintf(path, sizeof(path), "%s/bad", dir);
	for (size_t i = 0; i < AM_ARRAY_LEN(bad_modes); i++) {
		write_file(path,
			   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
			   bad_modes[i]);
		err[0] = 0;
		assert_int_equal(keyring_open(path, 1, &kr, err, sizeof(err)), AM_ERR_DENIED);
		assert_null(kr);
		assert_non_null(strstr(err, "chmod 600"));
		/* The message names the file, never the key. */
		assert_null(strstr(err, "0011223344"));
	}
	write_file(path, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
		   0400);
	assert_int_equal(keyring_open(path, 1, &kr, err, sizeof(err)), 0);
	keyring_free(kr);
	for (size_t i = 0; i < AM_ARRAY_LEN(bad_text); i++) {
		write_file(path, bad_text[i], 0600);
		assert_int_equal(keyring_open(path, 1, &kr, err, sizeof(err)), AM_ERR_INVAL);
		assert_null(kr);
	}
	assert_int_equal(keyring_open(dir, 1, &kr, err, sizeof(err)), AM_ERR_DENIED);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(keyring_open(path, 1, &kr, err, sizeof(err)), AM_ERR_NOTFOUND);
	assert_non_null(strstr(err, "does not exist"));
}

static void purpose_keys_and_generations(void **state)
{
	uint8_t mk[32] = {7}, expect[32];
	struct keyring *g1 = NULL, *g2 = NULL, *g0 = NULL;
	char info[16] = "cookie";

	assert_int_equal(keyring_from_key(mk, 1, &g1), 0);
	assert_int_equal(keyring_from_key(mk, 0, &g0), AM_ERR_INVAL);
	assert_null(g0);
	assert_int_equal(keyring_from_key(mk, 2, &g2), 0);
	/* info = purpose ‖ u32be(gen), independently recomputed. */
	info[6] = 0, info[7] = 0, info[8] = 0, info[9] = 2;
	assert_int_equal(crypto_hkdf(mk, 32, NULL, 0, info, 10, expect, 32), 0);
	assert_memory_equal(keyring_key(g2, CRYPTO_KEY_COOKIE, 2), expect, 32);
	/* Current and previous only. */
	assert_memory_equal(keyring_key(g2, CRYPTO_KEY_COOKIE, 1),
			    keyring_key(g1, CRYPTO_KEY_COOKIE, 1), 32);
	assert_null(keyring_key(g2, CRYPTO_KEY_COOKIE, 3));
	assert_null(keyring_key(g1, CRYPTO_KEY_COOKIE, 0));
	assert_null(keyring_key(g1, CRYPTO_KEY_PURPOSES, 1));
	/* Never one key for two purposes. */
	for (int p = 0; p < CRYPTO_KEY_PURPOSES; p++)
		for (int q = p + 1; q < CRYPTO_KEY_PURPOSES; q++)
			assert_memory_not_equal(keyring_key(g1, p, 1), keyring_key(g1, q, 1), 32);
	assert_int_equal(keyring_generation(g2), 2);
	keyring_free(g1);
	keyring_free(g2);
}

static void envelope_wrong_aad_fails(void **state)
{
	uint8_t mk1[32] = {1}, mk2[32] = {2}, pk[32], pk2[32], dek[32], dek2[32];
	uint8_t proj[16] = {0xaa}, proj2[16] = {0xab}, file[16] = {0xf1}, file2[16] = {0xf2};
	uint8_t w[CRYPTO_WRAPPED_LEN], wd[CRYPTO_WRAPPED_LEN];
	struct keyring *k1 = NULL, *k2 = NULL;

	assert_int_equal(keyring_from_key(mk1, 1, &k1), 0);
	assert_int_equal(keyring_from_key(mk2, 1, &k2), 0);
	assert_int_equal(crypto_key_new(pk), 0);
	assert_int_equal(crypto_key_new(dek), 0);
	assert_int_equal(crypto_pk_wrap(k1, proj, pk, w), 0);
	assert_int_equal(w[0], 1);
	assert_int_equal(crypto_pk_unwrap(k1, proj, w, sizeof(w), pk2), 0);
	assert_memory_equal(pk, pk2, 32);
	assert_int_equal(crypto_pk_unwrap(k1, proj2, w, sizeof(w), pk2), AM_ERR_CRYPTO);
	assert_int_equal(crypto_pk_unwrap(k2, proj, w, sizeof(w), pk2), AM_ERR_CRYPTO);
	assert_int_equal(crypto_pk_unwrap(k1, proj, w, sizeof(w) - 1, pk2), AM_ERR_CRYPTO);
	for (size_t i = 0; i < sizeof(w); i++) {
		w[i] ^= 0x10;
		assert_int_equal(crypto_pk_unwrap(k1, proj, w, sizeof(w), pk2), AM_ERR_CRYPTO);
		w[i] ^= 0x10;
	}
	assert_int_equal(crypto_dek_wrap(pk, file, proj, dek, wd), 0);
	assert_int_equal(crypto_dek_unwrap(pk, file, proj, wd, sizeof(wd), dek2), 0);
	assert_memory_equal(dek, dek2, 32);
	assert_int_equal(crypto_dek_unwrap(pk, file2, proj, wd, sizeof(wd), dek2), AM_ERR_CRYPTO);
	assert_int_equal(crypto_dek_unwrap(pk, file, proj2, wd, sizeof(wd), dek2), AM_ERR_CRYPTO);
	assert_int_equal(crypto_dek_unwrap(mk1, file, proj, wd, sizeof(wd), dek2), AM_ERR_CRYPTO);
	/* A wrapped PK is not a wrapped DEK (different AAD domain). */
	assert_int_equal(crypto_dek_unwrap(mk1, file, proj, w, sizeof(w), dek2), AM_ERR_CRYPTO);
	keyring_free(k1);
	keyring_free(k2);
}

/* Rotation: objects stay readable through the re-wrapped PK, the old MK no
 * longer unwraps the new blob, and a shredded project stays unreadable. */
static void rotation_and_shredding(void **state)
{
	uint8_t mk_old[32] = {3}, mk_new[32] = {4}, pk[32], pk2[32], dek[32], dek2[32], fk[32];
	uint8_t proj[16] = {0x11}, file[16] = {0x22};
	uint8_t wpk[CRYPTO_WRAPPED_LEN], wpk2[CRYPTO_WRAPPED_LEN], wdek[CRYPTO_WRAPPED_LEN];
	struct keyring *old = NULL, *nw = NULL;
	struct tcrypto_mem obj = {0};
	struct am1_source src;
	struct am1_reader *r = NULL;
	uint8_t pt[1000], back[1000];
	size_t got;

	assert_int_equal(keyring_from_key(mk_old, 1, &old), 0);
	assert_int_equal(keyring_from_key(mk_new, 1, &nw), 0);
	assert_string_not_equal(keyring_mk_id(old), keyring_mk_id(nw));
	assert_int_equal(crypto_key_new(pk), 0);
	assert_int_equal(crypto_key_new(dek), 0);
	assert_int_equal(crypto_pk_wrap(old, proj, pk, wpk), 0);
	assert_int_equal(crypto_dek_wrap(pk, file, proj, dek, wdek), 0);
	tcrypto_pattern(pt, sizeof(pt), 0);
	assert_int_equal(tcrypto_am1_encrypt(dek, file, pt, sizeof(pt), &obj), 0);

	assert_int_equal(crypto_pk_rewrap(old, nw, proj, wpk, sizeof(wpk), wpk2), 0);
	assert_int_equal(crypto_pk_unwrap(old, proj, wpk2, sizeof(wpk2), pk2), AM_ERR_CRYPTO);
	assert_int_equal(crypto_pk_rewrap(old, nw, proj, wpk2, sizeof(wpk2), wpk), AM_ERR_CRYPTO);
	/* The new chain opens the untouched object. */
	assert_int_equal(crypto_pk_unwrap(nw, proj, wpk2, sizeof(wpk2), pk2), 0);
	assert_int_equal(crypto_dek_unwrap(pk2, file, proj, wdek, sizeof(wdek), dek2), 0);
	src = tcrypto_mem_source(&obj);
	assert_int_equal(am1_reader_open(dek2, file, &src, sizeof(pt), &r), 0);
	assert_int_equal(am1_reader_pread(r, 0, back, sizeof(back), &got), 0);
	assert_memory_equal(back, pt, sizeof(pt));
	am1_reader_free(r);
	assert_int_equal(crypto_project_field_key(pk2, fk), 0);
	/* Shredding: with the wrapped PK deleted, the remaining copy of the
	 * database (wrapped DEK) and store (object) open under no key we hold. */
	am_memzero(wpk2, sizeof(wpk2));
	assert_int_equal(crypto_pk_unwrap(nw, proj, wpk2, sizeof(wpk2), pk2), AM_ERR_CRYPTO);
	assert_int_equal(crypto_dek_unwrap(keyring_mk(nw), file, proj, wdek, sizeof(wdek), dek2),
			 AM_ERR_CRYPTO);
	tcrypto_mem_free(&obj);
	keyring_free(old);
	keyring_free(nw);
}

static void account_keys_and_blind_index(void **state)
{
	uint8_t ak[32] = {5}, f[32], b[32], i1[32], i2[32], zero[16] = {0}, w[CRYPTO_WRAPPED_LEN];
	uint8_t ak2[32], mk[32] = {6};
	struct keyring *kr = NULL;

	assert_int_equal(crypto_account_key(ak, CRYPTO_ACCOUNT_FIELD, f), 0);
	assert_int_equal(crypto_account_key(ak, CRYPTO_ACCOUNT_BLIND_INDEX, b), 0);
	assert_memory_not_equal(f, b, 32);
	assert_int_equal(crypto_account_key(ak, 7, b), AM_ERR_INVAL);
	assert_int_equal(crypto_account_key(ak, CRYPTO_ACCOUNT_BLIND_INDEX, b), 0);
	assert_int_equal(crypto_blind_index_key(b, "a@example.org", 13, i1), 0);
	assert_int_equal(crypto_blind_index_key(b, "a@example.org", 13, i2), 0);
	assert_memory_equal(i1, i2, 32);
	assert_int_equal(crypto_blind_index_key(b, "b@example.org", 13, i2), 0);
	assert_memory_not_equal(i1, i2, 32);
	/* AK is wrapped like a PK with the all-zero project id. */
	assert_int_equal(keyring_from_key(mk, 1, &kr), 0);
	assert_int_equal(crypto_pk_wrap(kr, zero, ak, w), 0);
	assert_int_equal(crypto_pk_unwrap(kr, zero, w, sizeof(w), ak2), 0);
	assert_memory_equal(ak, ak2, 32);
	keyring_free(kr);
}

/* crypto_mac / crypto_mac_verify compute exactly HMAC under the purpose key
 * (or its labelled HKDF sub-key) that callers used to compute themselves. */
static void mac_operations_match_purpose_keys(void **state)
{
	static const char msg[] = "GET\n/m/x\ne=1";
	uint8_t mk[32] = {9}, want[32], sub[32], got[32];
	struct keyring *kr = NULL;
	const uint8_t *k;

	assert_int_equal(keyring_from_key(mk, 2, &kr), 0);
	k = keyring_key(kr, CRYPTO_KEY_COOKIE, 1);
	assert_int_equal(crypto_hmac_sha256(k, 32, msg, sizeof(msg) - 1, want), 0);
	assert_int_equal(crypto_mac(kr, CRYPTO_KEY_COOKIE, 1, NULL, msg, sizeof(msg) - 1, got), 0);
	assert_memory_equal(got, want, 32);
	assert_int_equal(
	    crypto_mac_verify(kr, CRYPTO_KEY_COOKIE, 1, NULL, msg, sizeof(msg) - 1, want, 32), 0);
	assert_int_equal(
	    crypto_mac_verify(kr, CRYPTO_KEY_COOKIE, 1, NULL, msg, sizeof(msg) - 1, want, 16), 0);
	assert_int_equal(
	    crypto_mac_verify(kr, CRYPTO_KEY_COOKIE, 1, NULL, msg, sizeof(msg) - 1, want, 15),
	    AM_ERR_INVAL);
	assert_int_equal(
	    crypto_mac_verify(kr, CRYPTO_KEY_URL_SIGN, 1, NULL, msg, sizeof(msg) - 1, want, 32),
	    AM_ERR_DENIED);
	want[31] ^= 1;
	assert_int_equal(
	    crypto_mac_verify(kr, CRYPTO_KEY_COOKIE, 1, NULL, msg, sizeof(msg) - 1, want, 32),
	    AM_ERR_DENIED);
	/* The current generation too, and a message of several blocks: the
	 * precomputed keyed states (issue 25) give the same MAC as OpenSSL. */
	{
		char big[300];

		memset(big, 'm', sizeof(big));
		for (int p = 0; p < CRYPTO_KEY_PURPOSES; p++) {
			for (uint32_t gen = 1; gen <= 2; gen++) {
				k = keyring_key(kr, p, gen);
				assert_int_equal(crypto_hmac_sha256(k, 32, big, sizeof(big), want),
						 0);
				assert_int_equal(
				    crypto_mac(kr, p, gen, NULL, big, sizeof(big), got), 0);
				assert_memory_equal(got, want, 32);
				assert_int_equal(crypto_hmac_sha256(k, 32, big, 0, want), 0);
				assert_int_equal(crypto_mac(kr, p, gen, NULL, NULL, 0, got), 0);
				assert_memory_equal(got, want, 32);
			}
		}
	}
	/* Only the current (2) and previous (1) generations exist. */
	assert_int_equal(crypto_mac(kr, CRYPTO_KEY_COOKIE, 3, NULL, msg, 3, got), AM_ERR_DENIED);
	assert_int_equal(crypto_mac(kr, CRYPTO_KEY_COOKIE, 0, NULL, msg, 3, got), AM_ERR_DENIED);
	/* Labelled: HMAC(HKDF(session key, label), data). */
	k = keyring_key(kr, CRYPTO_KEY_SESSION, 2);
	assert_int_equal(crypto_hkdf(k, 32, NULL, 0, "am-mail-x", 9, sub, 32), 0);
	assert_int_equal(crypto_hmac_sha256(sub, 32, msg, 4, want), 0);
	assert_int_equal(crypto_mac(kr, CRYPTO_KEY_SESSION, 2, "am-mail-x", msg, 4, got), 0);
	assert_memory_equal(got, want, 32);
	keyring_free(kr);
}

/* A project-key handle writes and reads AM1 objects whose DEK wrapping and
 * ciphertext the raw functions open, and the other way round. */
static void project_key_handle_round_trip(void **state)
{
	uint8_t mk[32] = {3}, pid[16] = {1}, other[16] = {2}, fid[16] = {4}, w[CRYPTO_WRAPPED_LEN];
	uint8_t wd[CRYPTO_WRAPPED_LEN], pk[32], dek[32], pt[70000], back[70000];
	struct tcrypto_mem m = {0};
	struct am1_sink sink = tcrypto_mem_sink(&m);
	struct am1_source src;
	struct keyring *kr = NULL;
	struct crypto_pk *h = NULL;
	struct am1_writer *wr = NULL;
	struct am1_reader *rd = NULL;
	size_t got = 0;

	tcrypto_pattern(pt, sizeof(pt), 0);
	assert_int_equal(keyring_from_key(mk, 1, &kr), 0);
	assert_int_equal(crypto_pk_create(kr, pid, w), 0);
	assert_int_equal(crypto_pk_open(kr, other, w, sizeof(w), &h), AM_ERR_CRYPTO);
	assert_null(h);
	assert_int_equal(crypto_pk_open(kr, pid, w, sizeof(w), &h), 0);
	assert_int_equal(crypto_pk_writer_new(h, fid, &sink, 0, wd, &wr), 0);
	assert_int_equal(am1_writer_write(wr, pt, sizeof(pt)), 0);
	assert_int_equal(am1_writer_finish(wr, NULL, NULL), 0);
	am1_writer_free(wr);
	/* Raw path: PK under MK, DEK under PK (this project), AM1 under DEK. */
	assert_int_equal(crypto_pk_unwrap(kr, pid, w, sizeof(w), pk), 0);
	assert_int_equal(crypto_dek_unwrap(pk, fid, pid, wd, sizeof(wd), dek), 0);
	src = tcrypto_mem_source(&m);
	assert_int_equal(am1_reader_open(dek, fid, &src, sizeof(pt), &rd), 0);
	assert_int_equal(am1_reader_pread(rd, 0, back, sizeof(back), &got), 0);
	assert_int_equal(got, sizeof(pt));
	assert_memory_equal(back, pt, sizeof(pt));
	am1_reader_free(rd);
	/* Handle path, and a wrapped DEK presented for another file. */
	assert_int_equal(crypto_pk_reader_open(h, fid, wd, sizeof(wd), &src, sizeof(pt), &rd), 0);
	assert_int_equal(am1_reader_pread(rd, 65530, back, 100, &got), 0);
	assert_memory_equal(back, pt + 65530, 100);
	am1_reader_free(rd);
	assert_int_equal(crypto_pk_reader_open(h, other, wd, sizeof(wd), &src, sizeof(pt), &rd),
			 AM_ERR_CRYPTO);
	assert_null(rd);
	crypto_pk_free(h);
	tcrypto_mem_free(&m);
	keyring_free(kr);
}

/* Field-key handles: the same ciphertext as the raw keys, and a field key
 * never computes a blind index (nor the other way round). */
static void field_key_handles(void **state)
{
	uint8_t mk[32] = {7}, pid[16] = {1}, zero[16] = {0}, row[16] = {5}, w[CRYPTO_WRAPPED_LEN];
	uint8_t pk[32], raw[32], i1[32], i2[32];
	struct crypto_field_key *fk = NULL, *af = NULL, *bi = NULL, *af2 = NULL, *bi2 = NULL;
	struct keyring *kr = NULL;
	struct am_buf ct, pt;

	am_buf_init(&ct, 1024);
	am_buf_init(&pt, 1024);
	assert_int_equal(keyring_from_key(mk, 1, &kr), 0);
	assert_int_equal(crypto_pk_create(kr, pid, w), 0);
	assert_int_equal(crypto_field_key_project(kr, zero, w, sizeof(w), &fk), AM_ERR_CRYPTO);
	assert_int_equal(crypto_field_key_project(kr, pid, w, sizeof(w), &fk), 0);
	assert_int_equal(crypto_field_seal(fk, "tracks", "title", row, pid, "Demo", 4, &ct), 0);
	assert_int_equal(crypto_pk_unwrap(kr, pid, w, sizeof(w), pk), 0);
	assert_int_equal(crypto_project_field_key(pk, raw), 0);
	assert_int_equal(crypto_field_open_key(raw, "tracks", "title", row, pid, ct.p, ct.len, &pt),
			 0);
	assert_memory_equal(pt.p, "Demo", 4);
	assert_int_equal(crypto_blind_index(fk, "x", 1, i1), AM_ERR_INVAL);
	/* Account keys: created, stored wrapped, reopened to the same keys. */
	assert_int_equal(crypto_account_keys_create(kr, w, &af, &bi), 0);
	assert_int_equal(crypto_account_keys_open(kr, w, sizeof(w), &af2, &bi2), 0);
	assert_int_equal(crypto_blind_index(bi, "a@example.org", 13, i1), 0);
	assert_int_equal(crypto_blind_index(bi2, "a@example.org", 13, i2), 0);
	assert_memory_equal(i1, i2, 32);
	assert_int_equal(crypto_pk_unwrap(kr, zero, w, sizeof(w), pk), 0);
	assert_int_equal(crypto_account_key(pk, CRYPTO_ACCOUNT_BLIND_INDEX, raw), 0);
	assert_int_equal(crypto_blind_index_key(raw, "a@example.org", 13, i2), 0);
	assert_memory_equal(i1, i2, 32);
	ct.len = 0;
	assert_int_equal(crypto_field_seal(bi, "accounts", "email", row, zero, "a", 1, &ct),
			 AM_ERR_INVAL);
	assert_int_equal(crypto_field_seal(af, "accounts", "email", row, zero, "a", 1, &ct), 0);
	pt.len = 0;
	assert_int_equal(crypto_field_open(af2, "accounts", "email", row, zero, ct.p, ct.len, &pt),
			 0);
	assert_int_equal(crypto_field_open(fk, "accounts", "email", row, zero, ct.p, ct.len, &pt),
			 AM_ERR_CRYPTO);
	crypto_field_key_free(fk);
	crypto_field_key_free(af);
	crypto_field_key_free(bi);
	crypto_field_key_free(af2);
	crypto_field_key_free(bi2);
	am_buf_cleanup(&ct);
	am_buf_cleanup(&pt);
	keyring_free(kr);
}

/* A project field-key handle opens field after field under one key
 * schedule (issue 25): a tampered value, a wrong AAD and a truncated one
 * fail in the middle of a run without affecting the opens after them, and
 * every plaintext equals what the raw key opens. */
/* crypto_field_open_to: the plaintext and a NUL into a caller's buffer;
 * exactly fitting works, one byte less is AM_ERR_TOOBIG, a tampered tag
 * AM_ERR_CRYPTO, and after any error the buffer holds "". */
static void into_fixed_buffer(const struct crypto_field_key *fk, const uint8_t pid[16],
			      const uint8_t row[16], struct am_buf *ct, const char *text)
{
	char out[128];
	size_t n = strlen(text);

	memset(out, 'z', sizeof(out));
	assert_int_equal(
	    crypto_field_open_to(fk, "comments", "body", row, pid, ct->p, ct->len, out, n + 1), 0);
	assert_string_equal(out, text);
	memset(out, 'z', sizeof(out));
	assert_int_equal(
	    crypto_field_open_to(fk, "comments", "body", row, pid, ct->p, ct->len, out, n),
	    AM_ERR_TOOBIG);
	assert_string_equal(out, "");
	ct->p[ct->len - 1] ^= 1;
	memset(out, 'z', sizeof(out));
	assert_int_equal(crypto_field_open_to(fk, "comments", "body", row, pid, ct->p, ct->len, out,
					      sizeof(out)),
			 AM_ERR_CRYPTO);
	ct->p[ct->len - 1] ^= 1;
	for (size_t i = 0; i < sizeof(out); i++) /* nothing unverified left */
		assert_true(out[i] == 0 || out[i] == 'z');
	assert_int_equal(crypto_field_open_to(fk, "comments", "author", row, pid, ct->p, ct->len,
					      out, sizeof(out)),
			 AM_ERR_CRYPTO);
	assert_string_equal(out, "");
}

static void project_field_key_opens_in_a_row(void **state)
{
	static const char *const texts[] = {"Demo", "", "a much longer comment body, 60 bytes ..",
					    "x"};
	uint8_t mk[32] = {3}, pid[16] = {4}, row[16] = {6}, w[CRYPTO_WRAPPED_LEN], pk[32], raw[32];
	struct crypto_field_key *fk = NULL;
	struct keyring *kr = NULL;
	struct am_buf ct[4], pt, pt2;

	(void)state;
	am_buf_init(&pt, 1024);
	am_buf_init(&pt2, 1024);
	assert_int_equal(keyring_from_key(mk, 1, &kr), 0);
	assert_int_equal(crypto_pk_create(kr, pid, w), 0);
	assert_int_equal(crypto_field_key_project(kr, pid, w, sizeof(w), &fk), 0);
	assert_int_equal(crypto_pk_unwrap(kr, pid, w, sizeof(w), pk), 0);
	assert_int_equal(crypto_project_field_key(pk, raw), 0);
	for (int i = 0; i < 4; i++) {
		am_buf_init(&ct[i], 1024);
		assert_int_equal(crypto_field_seal(fk, "comments", "body", row, pid, texts[i],
						   strlen(texts[i]), &ct[i]),
				 0);
	}
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 4; i++) {
			pt.len = pt2.len = 0;
			assert_int_equal(crypto_field_open(fk, "comments", "body", row, pid,
							   ct[i].p, ct[i].len, &pt),
					 0);
			assert_int_equal(crypto_field_open_key(raw, "comments", "body", row, pid,
							       ct[i].p, ct[i].len, &pt2),
					 0);
			assert_int_equal(pt.len, strlen(texts[i]));
			assert_memory_equal(pt.p, texts[i], pt.len);
			assert_memory_equal(pt2.p, texts[i], pt.len);
		}
		pt.len = 0;
		ct[2].p[ct[2].len - 1] ^= 1; /* the tag */
		assert_int_equal(
		    crypto_field_open(fk, "comments", "body", row, pid, ct[2].p, ct[2].len, &pt),
		    AM_ERR_CRYPTO);
		assert_int_equal(pt.len, 0);
		ct[2].p[ct[2].len - 1] ^= 1;
		ct[2].p[20] ^= 0x40; /* the ciphertext */
		assert_int_equal(
		    crypto_field_open(fk, "comments", "body", row, pid, ct[2].p, ct[2].len, &pt),
		    AM_ERR_CRYPTO);
		ct[2].p[20] ^= 0x40;
		assert_int_equal(
		    crypto_field_open(fk, "comments", "author", row, pid, ct[0].p, ct[0].len, &pt),
		    AM_ERR_CRYPTO);
		assert_int_equal(crypto_field_open(fk, "comments", "body", row, pid, ct[0].p,
						   ct[0].len - 1, &pt),
				 AM_ERR_CRYPTO);
		into_fixed_buffer(fk, pid, row, &ct[2], texts[2]);
	}
	for (int i = 0; i < 4; i++)
		am_buf_cleanup(&ct[i]);
	crypto_field_key_free(fk);
	am_buf_cleanup(&pt);
	am_buf_cleanup(&pt2);
	keyring_free(kr);
}

static void ip_ratchet_forward_only(void **state)
{
	uint8_t mk[32] = {8}, v4[4] = {192, 0, 2, 1}, v6[16] = {0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4};
	uint8_t v6b[16], mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
	uint8_t p0[16], p1[16], q[16], prev_key[32];
	int64_t t0 = 1700000000, e0, e1, e;
	struct keyring *kr = NULL, *kr2 = NULL;
	struct am_buf blob, blob_old;
	int changed = -1;

	am_buf_init(&blob, 1024);
	am_buf_init(&blob_old, 1024);
	assert_int_equal(keyring_from_key(mk, 1, &kr), 0);
	assert_int_equal(crypto_ip_pseudonym(kr, AF_INET, v4, p0, &e0), AM_ERR_CONFLICT);
	assert_int_equal(keyring_ip_init(kr, t0), 0);
	assert_int_equal(crypto_ip_pseudonym(kr, AF_INET, v4, p0, &e0), 0);
	assert_int_equal(e0, t0 / CRYPTO_IP_EPOCH_SECONDS);
	assert_int_equal(crypto_ip_pseudonym(kr, AF_INET6, mapped, q, NULL), 0);
	assert_memory_equal(p0, q, 16); /* IPv4-mapped is IPv4 */
	assert_int_equal(crypto_ip_pseudonym(kr, AF_INET6, v6, p1, NULL), 0);
	memcpy(v6b, v6, 16);
	v6b[15] = 0x99; /* same /64 */
	assert_int_equal(crypto_ip_pseudonym(kr, AF_INET6, v6b, q, NULL), 0);
	assert_memory_equal(p1, q, 16);
	v6b[7] ^= 1; /* another /64 */
	assert_int_equal(crypto_ip_pseudonym(kr, AF_INET6, v6b, q, NULL), 0);
	assert_memory_not_equal(p1, q, 16);
	assert_int_equal(crypto_ip_pseudonym(kr, 99, v4, q, NULL), AM_ERR_INVAL);
	assert_int_equal(keyring_ip_save(kr, &blob_old), 0);

	/* Same epoch: nothing moves. */
	assert_int_equal(keyring_ip_advance(kr, t0 + 1, &changed), 0);
	assert_int_equal(changed, 0);
	/* Next epoch: the old epoch is now "previous" and still testable. */
	assert_int_equal(keyring_ip_advance(kr, t0 + CRYPTO_IP_EPOCH_SECONDS, &changed), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(crypto_ip_pseudonym(kr, AF_INET, v4, q, &e1), 0);
	assert_int_equal(e1, e0 + 1);
	assert_memory_not_equal(p0, q, 16);
	assert_int_equal(crypto_ip_pseudonym_at(kr, e0, AF_INET, v4, q), 0);
	assert_memory_equal(p0, q, 16);
	/* K_ip[e+1] = HKDF(K_ip[e], "ip ratchet"). */
	memcpy(prev_key, keyring_ip_state(kr)->prev, 32);
	{
		uint8_t next[32];
		assert_int_equal(crypto_hkdf(prev_key, 32, NULL, 0, "ip ratchet", 10, next, 32), 0);
		assert_memory_equal(next, keyring_ip_state(kr)->cur, 32);
	}
	/* A clock going back does not move it back. */
	assert_int_equal(keyring_ip_advance(kr, t0, &changed), 0);
	assert_int_equal(changed, 0);
	/* Two epochs on: e0's key is gone from the keyring and its saved state. */
	assert_int_equal(keyring_ip_advance(kr, t0 + 2 * CRYPTO_IP_EPOCH_SECONDS, &changed), 0);
	assert_int_equal(crypto_ip_pseudonym_at(kr, e0, AF_INET, v4, q), AM_ERR_NOTFOUND);
	assert_int_equal(keyring_ip_save(kr, &blob), 0);
	assert_int_equal(keyring_from_key(mk, 1, &kr2), 0);
	assert_int_equal(keyring_ip_load(kr2, blob.p, blob.len), 0);
	assert_int_equal(crypto_ip_pseudonym(kr2, AF_INET, v4, q, &e), 0);
	assert_int_equal(e, e0 + 2);
	assert_int_equal(crypto_ip_pseudonym_at(kr2, e0, AF_INET, v4, q), AM_ERR_NOTFOUND);
	assert_memory_equal(keyring_ip_state(kr2)->cur, keyring_ip_state(kr)->cur, 32);
	/* Tampered blob or another MK: refused. */
	blob.p[20] ^= 1;
	assert_int_equal(keyring_ip_load(kr2, blob.p, blob.len), AM_ERR_CRYPTO);
	keyring_free(kr2);
	mk[0] ^= 1;
	assert_int_equal(keyring_from_key(mk, 1, &kr2), 0);
	assert_int_equal(keyring_ip_load(kr2, blob_old.p, blob_old.len), AM_ERR_CRYPTO);
	/* A very long gap starts afresh. */
	assert_int_equal(keyring_ip_advance(kr, t0 + 2000LL * CRYPTO_IP_EPOCH_SECONDS, &changed),
			 0);
	assert_int_equal(changed, 1);
	keyring_free(kr2);
	keyring_free(kr);
	am_buf_cleanup(&blob);
	am_buf_cleanup(&blob_old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(keyfile_create_and_open),
	    cmocka_unit_test(keyfile_mode_and_content_refused),
	    cmocka_unit_test(purpose_keys_and_generations),
	    cmocka_unit_test(envelope_wrong_aad_fails),
	    cmocka_unit_test(rotation_and_shredding),
	    cmocka_unit_test(account_keys_and_blind_index),
	    cmocka_unit_test(ip_ratchet_forward_only),
	    cmocka_unit_test(mac_operations_match_purpose_keys),
	    cmocka_unit_test(project_key_handle_round_trip),
	    cmocka_unit_test(field_key_handles),
	    cmocka_unit_test(project_field_key_opens_in_a_row),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
