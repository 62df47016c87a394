/*
 * test_event.c: unit tests of the worker's half of a guest comment's mail
 * (src/mail/mail_event.c, docs/mail.md "Events") over a real app (keyring,
 * SQLite database) in a temporary directory: a comment and its event are
 * committed as api_comment_post does, then mail_events_run composes them.
 * A reply becomes one outbox message and its event goes, and a second run
 * composes nothing more; a top-level comment becomes a digest item dated
 * when it was posted, not when the worker came to it; a deleted comment and
 * the owner's own comment mail nothing; a composition that fails is rolled
 * back (no outbox row), retried after the back-off and dropped at the cap.
 * Nothing is sent: these tests stop before delivery. Test code only.
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
#include "crypto/crypto_int.h"
#include "db/db.h"
#include "mail/mail.h"
#include "util/util.h"

struct efx {
	char dir[64];
	struct conf c;
	struct app *a;
	struct db *db;
	uint8_t account[DB_ID_LEN], project[DB_ID_LEN], track[DB_ID_LEN], version[DB_ID_LEN],
	    guest[DB_ID_LEN];
};

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static void set(struct efx *f, const char *k, const char *v)
{
	char err[256];

	if (conf_set(&f->c, k, v, err, sizeof(err)))
		fail_msg("conf %s: %s", k, err);
}

/* An app with mail configured and a verified owner with a project, a track,
 * a version and a guest; mail_from may be made invalid (a failing build). */
static struct efx *fixture(const char *mail_from)
{
	struct efx *f = calloc(1, sizeof(*f));
	uint8_t pk[32], wrapped[CRYPTO_WRAPPED_LEN];
	char err[256], path[128];
	int64_t num = 0;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/am-mailev-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	conf_defaults(&f->c);
	snprintf(path, sizeof(path), "%s/data", f->dir);
	set(f, "data_dir", path);
	set(f, "public_url", "https://review.example.org");
	set(f, "smtp_url", "smtps://127.0.0.1:1");
	set(f, "mail_from", mail_from);
	set(f, "mail_max_attempts", "2");
	assert_int_equal(conf_finish(&f->c, err, sizeof(err)), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(crypto_keyfile_create(f->c.key_file), 0);
	assert_int_equal(app_open(&f->c, APP_DB, &f->a, err, sizeof(err)), 0);
	assert_int_equal(app_db_get(f->a, &f->db), 0);
	assert_int_equal(db_account_create(f->db, f->a->keys, "owner@example.org",
					   "$argon2id$v=19$x", f->account),
			 0);
	assert_int_equal(db_account_set_email_verified(f->db, f->account, NULL, am_now_ms()), 0);
	assert_int_equal(crypto_random_id(f->project), 0);
	assert_int_equal(crypto_key_new(pk), 0);
	assert_int_equal(crypto_pk_wrap(f->a->kr, f->project, pk, wrapped), 0);
	assert_int_equal(db_project_create(f->db, f->a->keys, f->account, f->project, wrapped,
					   sizeof(wrapped), keyring_mk_id(f->a->kr), "Event EP"),
			 0);
	assert_int_equal(db_track_create(f->db, f->a->keys, f->project, "Intro", 1, f->track), 0);
	assert_int_equal(
	    db_version_create(f->db, f->a->keys, f->project, f->track, "a.wav", f->version, &num),
	    0);
	assert_int_equal(db_guest_create(f->db, f->a->keys, f->project, NULL, "Di",
					 (const uint8_t *)"0123456789abcdef", 1, f->guest),
			 0);
	am_memzero(pk, sizeof(pk));
	return f;
}

static int setup(void **state)
{
	*state = fixture("Audiomus <noreply@review.example.org>");
	return 0;
}

static int setup_bad_from(void **state)
{
	*state = fixture("not an address");
	return 0;
}

static int teardown(void **state)
{
	struct efx *f = *state;

	app_db_put(f->a, f->db);
	app_close(f->a);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static int64_t count(struct efx *f, const char *sql)
{
	struct db_stmt *st = NULL;
	int64_t v = -1;

	if (db_prepare(f->db, sql, &st) == 0 && db_step(st) == DB_ROW)
		v = db_column_int64(st, 0);
	db_finalize(st);
	return v;
}

#define OUTBOX "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox"
#define EVENTS "SELECT CAST(COUNT(*) AS BIGINT) FROM mail_events"
#define DIGEST "SELECT CAST(COUNT(*) AS BIGINT) FROM mail_digest_items"

/* A comment (guest: by the fixture's guest; parent may be NULL) and, for a
 * guest's, its event, in one transaction posted at `at`: what
 * api_comment_post and api_mail_comment write. */
static void post(struct efx *f, int guest, const uint8_t *parent, int64_t at,
		 uint8_t cid[DB_ID_LEN])
{
	assert_int_equal(db_begin_write(f->db), 0);
	assert_int_equal(db_comment_create(f->db, f->a->keys, f->project, f->version,
					   guest ? f->guest : NULL, "a take", 0, -1, parent, cid),
			 0);
	if (guest)
		assert_int_equal(db_mail_event_add(f->db, f->project, cid, at), 0);
	assert_int_equal(db_commit(f->db), 0);
}

static void run(struct efx *f, int64_t now)
{
	int more = -1;

	assert_int_equal(mail_events_run(f->a, f->db, now, 0, &more), 0);
	assert_int_equal(more, 0);
}

/* A reply: one outbox message, the event gone; a second run adds nothing. */
static void reply_composed_once(void **state)
{
	struct efx *f = *state;
	uint8_t top[DB_ID_LEN], rep[DB_ID_LEN], own[DB_ID_LEN];
	int64_t now = am_now_ms();

	assert_int_equal(db_mail_prefs_account_set(f->db, f->account, MAIL_REPLIES), 0);
	post(f, 1, NULL, now, top);
	post(f, 1, top, now, rep);
	post(f, 0, top, now, own); /* the owner's reply: no event */
	assert_int_equal(count(f, EVENTS), 2);
	assert_int_equal(count(f, OUTBOX), 0);
	run(f, now);
	assert_int_equal(count(f, EVENTS), 0);
	assert_int_equal(count(f, OUTBOX), 1); /* the reply; the top-level one: comments are off */
	assert_int_equal(count(f, DIGEST), 0);
	run(f, now);
	assert_int_equal(count(f, OUTBOX), 1);
}

/* A top-level comment: a digest item dated at the post, whenever the worker
 * composed it; a deleted comment: nothing, its event taken all the same. */
static void digest_item_dated_at_post(void **state)
{
	struct efx *f = *state;
	uint8_t a[DB_ID_LEN], b[DB_ID_LEN];
	int64_t now = am_now_ms(), posted = now - 7 * 60000, oldest = 0;

	assert_int_equal(db_mail_prefs_account_set(f->db, f->account, MAIL_COMMENTS), 0);
	post(f, 1, NULL, posted, a);
	post(f, 1, NULL, posted, b);
	assert_int_equal(db_comment_delete(f->db, f->project, b), 0);
	run(f, now);
	assert_int_equal(count(f, EVENTS), 0);
	assert_int_equal(count(f, DIGEST), 1);
	assert_int_equal(db_mail_digest_oldest(f->db, &oldest), 0);
	assert_true(oldest == posted);
	assert_int_equal(count(f, OUTBOX), 0);
}

/* The message cannot be built (mail_from invalid): rolled back, nothing in
 * the outbox, retried after the back-off (1 min), dropped at the cap (2). */
static void failure_retried_then_dropped(void **state)
{
	struct efx *f = *state;
	uint8_t top[DB_ID_LEN], rep[DB_ID_LEN];
	int64_t now = am_now_ms(), at = 0;

	assert_int_equal(db_mail_prefs_account_set(f->db, f->account, MAIL_REPLIES), 0);
	post(f, 1, NULL, now, top);
	assert_int_equal(db_mail_prefs_account_set(f->db, f->account, 0), 0);
	run(f, now); /* the top-level comment: nothing wanted, taken */
	assert_int_equal(db_mail_prefs_account_set(f->db, f->account, MAIL_REPLIES), 0);
	post(f, 1, top, now, rep);
	run(f, now);
	assert_int_equal(count(f, OUTBOX), 0);
	assert_int_equal(count(f, EVENTS), 1);
	assert_int_equal(count(f, "SELECT CAST(MAX(attempts) AS BIGINT) FROM mail_events"), 1);
	assert_int_equal(db_mail_event_next(f->db, &at), 0);
	assert_true(at == now + mail_backoff_ms(1));
	run(f, now + 1000); /* not due yet */
	assert_int_equal(count(f, "SELECT CAST(MAX(attempts) AS BIGINT) FROM mail_events"), 1);
	run(f, at);
	assert_int_equal(count(f, EVENTS), 0);
	assert_int_equal(count(f, OUTBOX), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(reply_composed_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(digest_item_dated_at_post, setup, teardown),
	    cmocka_unit_test_setup_teardown(failure_retried_then_dropped, setup_bad_from, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
