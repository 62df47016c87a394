/*
 * Key rotation and crypto-shredding through the real keyring, database and
 * object store (DESIGN §3): after `keys rotate` every project and object is
 * readable under the new master key and the retired key opens nothing; after
 * a project is deleted its key is gone from the database file, so a copy of
 * the store and database taken afterwards cannot decrypt its audio.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "app/app.h"
#include "crypto/crypto_int.h"
#include "db/db.h"
#include "repo/repo.h"
#include "store/store.h"
#include "util/util.h"

struct fx {
	char dir[64];
	struct conf c;
	uint8_t account[16], project[16], file_id[16];
	uint8_t wrapped_dek[CRYPTO_WRAPPED_LEN];
	char key[80];
	uint8_t plain[200000];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256], path[128];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/am-keys-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	conf_defaults(&f->c);
	snprintf(path, sizeof(path), "%s/data", f->dir);
	assert_int_equal(conf_set(&f->c, "data_dir", path, err, sizeof(err)), 0);
	assert_int_equal(conf_finish(&f->c, err, sizeof(err)), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(crypto_keyfile_create(f->c.key_file), 0);
	for (size_t i = 0; i < sizeof(f->plain); i++)
		f->plain[i] = (uint8_t)(i * 7 + i / 251);
	*state = f;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Create an account, a project with a title and one encrypted object. */
static void make_project(struct fx *f, struct app *a, const char *title)
{
	struct db *db = NULL;
	uint8_t pk[32], dek[32], wrapped_pk[CRYPTO_WRAPPED_LEN];
	struct store_am1_put ap;
	struct am1_sink sink;
	struct am1_writer *w = NULL;
	uint64_t size;

	assert_int_equal(app_db_get(a, &db), 0);
	assert_int_equal(db_account_create(db, a->keys, "owner@example.org", "x", f->account), 0);
	assert_int_equal(crypto_random_id(f->project), 0);
	assert_int_equal(crypto_key_new(pk), 0);
	assert_int_equal(crypto_pk_wrap(a->kr, f->project, pk, wrapped_pk), 0);
	assert_int_equal(db_project_create(db, a->keys, f->account, f->project, wrapped_pk,
					   sizeof(wrapped_pk), keyring_mk_id(a->kr), title),
			 0);
	app_db_put(a, db);
	assert_int_equal(crypto_random_id(f->file_id), 0);
	assert_int_equal(crypto_key_new(dek), 0);
	assert_int_equal(crypto_dek_wrap(pk, f->file_id, f->project, dek, f->wrapped_dek), 0);
	assert_int_equal(store_key_format(f->key, sizeof(f->key), "orig", f->file_id, NULL), 0);
	assert_int_equal(store_am1_put_begin(a->store, f->key, 0, &ap, &sink, NULL), 0);
	assert_int_equal(am1_writer_new(dek, f->file_id, &sink, 0, &w), 0);
	assert_int_equal(am1_writer_write(w, f->plain, sizeof(f->plain)), 0);
	assert_int_equal(am1_writer_finish(w, NULL, NULL), 0);
	am1_writer_free(w);
	assert_int_equal(store_put_commit(ap.put, &size, NULL), 0);
}

/* Read the object back through project key -> DEK -> AM1 reader. */
static int read_back(struct fx *f, struct app *a, const struct keyring *kr)
{
	struct db *db = NULL;
	struct db_project p;
	struct store_reader *r = NULL;
	struct am1_source src;
	struct am1_reader *rd = NULL;
	uint8_t pk[32], dek[32], *buf = malloc(sizeof(f->plain));
	size_t got = 0;
	int rc;

	assert_int_equal(app_db_get(a, &db), 0);
	rc = db_project_get(db, a->keys, f->account, f->project, &p);
	app_db_put(a, db);
	if (rc)
		goto out;
	if ((rc = crypto_pk_unwrap(kr, f->project, p.wrapped_pk, p.wrapped_pk_len, pk)) ||
	    (rc = crypto_dek_unwrap(pk, f->file_id, f->project, f->wrapped_dek, CRYPTO_WRAPPED_LEN,
				    dek)) ||
	    (rc = store_reader_open(a->store, f->key, &r, NULL)))
		goto out;
	store_am1_source(r, &src);
	if ((rc = am1_reader_open(dek, f->file_id, &src, sizeof(f->plain), &rd)) ||
	    (rc = am1_reader_pread(rd, 0, buf, sizeof(f->plain), &got)))
		goto out;
	rc = got == sizeof(f->plain) && memcmp(buf, f->plain, got) == 0 ? 0 : AM_ERR_CRYPTO;
	if (rc == 0 && strcmp(p.title, "Unreleased album") != 0)
		rc = AM_ERR_CRYPTO;
out:
	am1_reader_free(rd);
	store_reader_close(r);
	free(buf);
	return rc;
}

static void rotate_keeps_data_and_retires_old_key(void **state)
{
	struct fx *f = *state;
	struct app *a = NULL;
	struct keyring *old_kr = NULL;
	char err[1024], retired[1200];
	size_t n = 0;

	assert_int_equal(app_open(&f->c, APP_DB | APP_STORE, &a, err, sizeof(err)), 0);
	make_project(f, a, "Unreleased album");
	assert_int_equal(read_back(f, a, a->kr), 0);
	app_close(a);

	assert_int_equal(app_keys_rotate(&f->c, retired, sizeof(retired), &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(keyring_open(retired, 1, &old_kr, err, sizeof(err)), 0);

	assert_int_equal(app_open(&f->c, APP_DB | APP_STORE, &a, err, sizeof(err)), 0);
	assert_string_not_equal(keyring_mk_id(a->kr), keyring_mk_id(old_kr));
	assert_int_equal(read_back(f, a, a->kr), 0);
	/* The retired master key no longer unwraps the project key. */
	assert_int_equal(read_back(f, a, old_kr), AM_ERR_CRYPTO);
	app_close(a);
	keyring_free(old_kr);

	/* A database re-wrapped under the new key does not open with the old
	 * key file put back in place. */
	assert_int_equal(rename(retired, f->c.key_file), 0);
	assert_int_not_equal(app_open(&f->c, APP_DB, &a, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "account key"));
}

/* Does the file at path contain needle? */
static int file_contains(const char *path, const uint8_t *needle, size_t n)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long len;
	int found = 0;

	if (!fp)
		return 0;
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	if (buf && fread(buf, 1, (size_t)len, fp) == (size_t)len)
		found = memmem(buf, (size_t)len, needle, n) != NULL;
	free(buf);
	fclose(fp);
	return found;
}

static void shredded_project_stays_unreadable(void **state)
{
	struct fx *f = *state;
	struct app *a = NULL;
	struct db *db = NULL;
	struct db_project p;
	char err[1024], path[1200];
	uint8_t wrapped[DB_WRAPPED_MAX];
	size_t wn;

	assert_int_equal(app_open(&f->c, APP_DB | APP_STORE, &a, err, sizeof(err)), 0);
	make_project(f, a, "Unreleased album");
	assert_int_equal(app_db_get(a, &db), 0);
	assert_int_equal(db_project_get(db, a->keys, f->account, f->project, &p), 0);
	wn = p.wrapped_pk_len;
	memcpy(wrapped, p.wrapped_pk, wn);
	assert_int_equal(db_project_shred(db, f->account, f->project), 0);
	app_db_put(a, db);
	/* The ciphertext is still in the store (the worker removes it later),
	 * but neither the API nor a copy of the files can open it any more. */
	assert_int_equal(read_back(f, a, a->kr), AM_ERR_NOTFOUND);
	app_close(a);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", f->c.secret->database + strlen("sqlite:"),
			 (const char *[]){"", "-wal", "-shm"}[i]);
		assert_false(file_contains(path, wrapped, wn));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(rotate_keeps_data_and_retires_old_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(shredded_project_stays_unreadable, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
