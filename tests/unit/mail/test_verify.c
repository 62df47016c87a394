/*
 * test_verify.c: unit tests of the owner address-verification token and its
 * effect on opt-in mail (src/mail/mail_token.c, mail_notify.c; docs/mail.md
 * "Verification"), over a real app (keyring, SQLite database) in a
 * temporary directory: a token verifies its own account only, any changed
 * byte or length is refused, it expires after its lifetime (reported as
 * expired only when authentic), it dies when the account's address (blind
 * index) changes or the account closes, it is not spent by use, reset and
 * verification tokens are not interchangeable, and an unverified owner who
 * turned every notification on is still wanted for none. Test code only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "mail/mail.h"
#include "util/util.h"

struct vfx {
	char dir[64];
	struct conf c;
	struct app *a;
	struct db *db;
	struct db_account owner, other;
};

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static void mkaccount(struct vfx *f, const char *email, struct db_account *out)
{
	uint8_t id[DB_ID_LEN];

	assert_int_equal(db_account_create(f->db, f->a->keys, email, "$argon2id$v=19$test", id), 0);
	assert_int_equal(db_account_get(f->db, f->a->keys, id, out), 0);
}

static int setup(void **state)
{
	struct vfx *f = calloc(1, sizeof(*f));
	char err[256], path[128];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/am-verify-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	conf_defaults(&f->c);
	snprintf(path, sizeof(path), "%s/data", f->dir);
	assert_int_equal(conf_set(&f->c, "data_dir", path, err, sizeof(err)), 0);
	assert_int_equal(conf_finish(&f->c, err, sizeof(err)), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(crypto_keyfile_create(f->c.key_file), 0);
	assert_int_equal(app_open(&f->c, APP_DB, &f->a, err, sizeof(err)), 0);
	assert_int_equal(app_db_get(f->a, &f->db), 0);
	mkaccount(f, "owner@example.org", &f->owner);
	mkaccount(f, "other@example.org", &f->other);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct vfx *f = *state;

	app_db_put(f->a, f->db);
	app_close(f->a);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static int check(struct vfx *f, const char *token, int64_t now, int *expired)
{
	struct db_account got;
	int rc = mail_verify_check(f->a, f->db, token, now, &got, expired);

	if (rc == 0)
		assert_memory_equal(got.id, f->owner.id, DB_ID_LEN);
	return rc;
}

static void round_trip_and_expiry(void **state)
{
	struct vfx *f = *state;
	char t[MAIL_TOKEN_MAX], t2[MAIL_TOKEN_MAX];
	int64_t now = am_now_ms(), exp = now + MAIL_VERIFY_LIFETIME_MS;
	int expired = -1;

	assert_int_equal(mail_verify_token(f->a, &f->owner, exp, t, sizeof(t)), 0);
	assert_int_equal(mail_verify_token(f->a, &f->owner, exp, t2, sizeof(t2)), 0);
	assert_string_not_equal(t, t2); /* a fresh nonce each time */
	assert_int_equal(check(f, t, now, &expired), 0);
	assert_int_equal(expired, 0);
	/* Not spent by use: the second check (and a second marking) still pass. */
	assert_int_equal(
	    db_account_set_email_verified(f->db, f->owner.id, f->owner.email_index, now), 0);
	assert_int_equal(check(f, t, now, &expired), 0);
	assert_int_equal(check(f, t, exp - 1, &expired), 0);
	assert_int_equal(check(f, t, exp, &expired), AM_ERR_DENIED);
	assert_int_equal(expired, 1);
}

static void tampered_refused(void **state)
{
	struct vfx *f = *state;
	char t[MAIL_TOKEN_MAX], bad[MAIL_TOKEN_MAX + 2];
	int64_t now = am_now_ms();
	size_t n;
	int expired = -1;

	assert_int_equal(mail_verify_token(f->a, &f->owner, now + 60000, t, sizeof(t)), 0);
	n = strlen(t);
	for (size_t i = 0; i < n; i++) {
		memcpy(bad, t, n + 1);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		assert_int_equal(check(f, bad, now, &expired), AM_ERR_DENIED);
		assert_int_equal(expired, 0);
	}
	memcpy(bad, t, n + 1);
	bad[n - 1] = 0;
	assert_int_equal(check(f, bad, now, &expired), AM_ERR_DENIED);
	memcpy(bad, t, n);
	memcpy(bad + n, "A", 2);
	assert_int_equal(check(f, bad, now, &expired), AM_ERR_DENIED);
	assert_int_equal(check(f, "", now, &expired), AM_ERR_DENIED);
	assert_int_equal(check(f, NULL, now, &expired), AM_ERR_DENIED);
	memcpy(bad, t, n + 1);
	bad[n / 2] = '\n';
	assert_int_equal(check(f, bad, now, &expired), AM_ERR_DENIED);
}

/* The other account's id spliced into a valid token does not verify it. */
static void other_account_refused(void **state)
{
	struct vfx *f = *state;
	char t[MAIL_TOKEN_MAX], spliced[MAIL_TOKEN_MAX];
	uint8_t raw[128];
	struct db_account got;
	size_t n = 0;
	int expired = -1;

	assert_int_equal(mail_verify_token(f->a, &f->owner, am_now_ms() + 60000, t, sizeof(t)), 0);
	assert_int_equal(crypto_b64url_decode(t, strlen(t), raw, sizeof(raw), &n), 0);
	memcpy(raw + 1, f->other.id, DB_ID_LEN);
	assert_int_equal(crypto_b64url_encode(raw, n, spliced, sizeof(spliced)), 0);
	assert_int_equal(mail_verify_check(f->a, f->db, spliced, am_now_ms(), &got, &expired),
			 AM_ERR_DENIED);
	assert_int_equal(expired, 0);
}

/* A new address (blind index) or a closed account kills the token. */
static void address_change_and_close_refused(void **state)
{
	struct vfx *f = *state;
	char t[MAIL_TOKEN_MAX];
	uint8_t idx[32];
	struct db_stmt *st = NULL;
	int expired = -1;

	assert_int_equal(mail_verify_token(f->a, &f->owner, am_now_ms() + 60000, t, sizeof(t)), 0);
	crypto_random(idx, sizeof(idx));
	assert_int_equal(
	    db_prepare(f->db, "UPDATE accounts SET email_index = $2 WHERE id = $1", &st), 0);
	db_bind_blob(st, 1, f->owner.id, DB_ID_LEN);
	db_bind_blob(st, 2, idx, sizeof(idx));
	assert_int_equal(db_step(st), DB_DONE);
	db_finalize(st);
	assert_int_equal(check(f, t, am_now_ms(), &expired), AM_ERR_DENIED);
	assert_int_equal(expired, 0);
	/* And the old address's proof cannot mark the new one. */
	assert_int_equal(
	    db_account_set_email_verified(f->db, f->owner.id, f->owner.email_index, am_now_ms()),
	    AM_ERR_NOTFOUND);

	assert_int_equal(db_account_get(f->db, f->a->keys, f->owner.id, &f->owner), 0);
	assert_int_equal(mail_verify_token(f->a, &f->owner, am_now_ms() + 60000, t, sizeof(t)), 0);
	assert_int_equal(check(f, t, am_now_ms(), &expired), 0);
	assert_int_equal(db_account_set_disabled(f->db, f->owner.id, 1), 0);
	assert_int_equal(check(f, t, am_now_ms(), &expired), AM_ERR_DENIED);
}

/* Reset and verification tokens have the same shape: neither passes as the other. */
static void token_kinds_not_interchangeable(void **state)
{
	struct vfx *f = *state;
	char reset[MAIL_TOKEN_MAX], verify[MAIL_TOKEN_MAX];
	struct db_account got;
	int64_t now = am_now_ms();
	int expired = -1;

	assert_int_equal(mail_reset_token(f->a, &f->owner, now + 60000, reset, sizeof(reset)), 0);
	assert_int_equal(mail_verify_token(f->a, &f->owner, now + 60000, verify, sizeof(verify)),
			 0);
	assert_int_equal(strlen(reset), strlen(verify));
	assert_int_equal(mail_reset_verify(f->a, f->db, reset, now, &got), 0);
	assert_int_equal(mail_verify_check(f->a, f->db, reset, now, &got, &expired), AM_ERR_DENIED);
	assert_int_equal(mail_reset_verify(f->a, f->db, verify, now, &got), AM_ERR_DENIED);
}

/* The reset token is bound to the address too (a reset proves it). */
static void reset_token_bound_to_address(void **state)
{
	struct vfx *f = *state;
	char reset[MAIL_TOKEN_MAX];
	struct db_account got, moved = f->owner;
	struct db_stmt *st = NULL;

	assert_int_equal(
	    mail_reset_token(f->a, &f->owner, am_now_ms() + 60000, reset, sizeof(reset)), 0);
	moved.email_index[31] ^= 0x80;
	assert_int_equal(
	    db_prepare(f->db, "UPDATE accounts SET email_index = $2 WHERE id = $1", &st), 0);
	db_bind_blob(st, 1, f->owner.id, DB_ID_LEN);
	db_bind_blob(st, 2, moved.email_index, 32);
	assert_int_equal(db_step(st), DB_DONE);
	db_finalize(st);
	assert_int_equal(mail_reset_verify(f->a, f->db, reset, am_now_ms(), &got), AM_ERR_DENIED);
}

/* Opt-in mail needs a verified address, whatever the settings say. */
static void unverified_owner_wants_nothing(void **state)
{
	struct vfx *f = *state;
	int on = -1;

	assert_int_equal(db_mail_prefs_account_set(f->db, f->owner.id, MAIL_KINDS_ALL), 0);
	for (int k = 1; k <= MAIL_NEW_LOGIN; k <<= 1) {
		assert_int_equal(mail_wanted(f->db, f->owner.id, NULL, k, &on), 0);
		assert_int_equal(on, 0);
	}
	assert_int_equal(
	    db_account_set_email_verified(f->db, f->owner.id, f->owner.email_index, am_now_ms()),
	    0);
	for (int k = 1; k <= MAIL_NEW_LOGIN; k <<= 1) {
		assert_int_equal(mail_wanted(f->db, f->owner.id, NULL, k, &on), 0);
		assert_int_equal(on, 1);
	}
	/* Verified but opted out: still nothing. */
	assert_int_equal(db_account_set_email_verified(f->db, f->other.id, NULL, am_now_ms()), 0);
	assert_int_equal(mail_wanted(f->db, f->other.id, NULL, MAIL_PW_CHANGED, &on), 0);
	assert_int_equal(on, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(round_trip_and_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(tampered_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(other_account_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(address_change_and_close_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(token_kinds_not_interchangeable, setup, teardown),
	    cmocka_unit_test_setup_teardown(reset_token_bound_to_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(unverified_owner_wants_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
