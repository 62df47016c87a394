/*
 * Housekeeping (docs/worker.md): after a project is crypto-shredded, one
 * run removes its ciphertext from the store and its rows from the database;
 * objects of a deleted track go too; objects no row names go once they are
 * a day old, and only in the namespaces rows name; a second run finds
 * nothing to do; and the periodic loop runs it at most once per interval.
 */
#include "worker_fixture.inc"

static int hk_count_cb(void *arg, const char *key, const struct store_info *info)
{
	(*(int *)arg)++;
	return 0;
}

static int hk_store_count(struct wfx *f)
{
	int n = 0;

	assert_int_equal(store_list(f->a->store, "", hk_count_cb, &n, NULL), 0);
	return n;
}

static int hk_deleted_cb(void *ctx, const uint8_t id[DB_ID_LEN])
{
	(*(int *)ctx)++;
	return 0;
}

static void shredded_project_leaves_nothing(void **state)
{
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	struct worker_hk_stats st;
	struct db *db = NULL;
	struct wup u[2];
	size_t n;
	uint8_t *wav = wfx_wav(22050, 1, 0.5, &n);
	int deleted = 0;

	wfx_upload(f, wav, n, &u[0]);
	wfx_upload(f, wav, n, &u[1]);
	assert_int_equal(worker_drain(f->a, &p, NULL), 0);
	assert_int_equal(hk_store_count(f), 6); /* 2 x (original, stream, peaks) */
	assert_int_equal(worker_housekeeping(f->a, am_now_ms(), &st), 0);
	assert_int_equal(st.projects, 0);
	assert_int_equal(hk_store_count(f), 6); /* live data is untouched */

	assert_int_equal(app_db_get(f->a, &db), 0);
	assert_int_equal(db_project_shred(db, f->account, f->project), 0);
	app_db_put(f->a, db);
	assert_int_equal(worker_housekeeping(f->a, am_now_ms(), &st), 0);
	assert_int_equal(st.projects, 1);
	assert_int_equal(hk_store_count(f), 0);
	assert_int_equal(app_db_get(f->a, &db), 0);
	assert_int_equal(db_project_list_deleted(db, hk_deleted_cb, &deleted), 0);
	app_db_put(f->a, db);
	assert_int_equal(deleted, 0);
	assert_int_equal(worker_housekeeping(f->a, am_now_ms(), &st), 0);
	assert_int_equal(st.projects, 0);
	free(wav);
}

static void deleted_track_objects_go(void **state)
{
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	struct worker_hk_stats st;
	struct db *db = NULL;
	struct wup u;
	size_t n;
	uint8_t *wav = wfx_wav(22050, 1, 0.5, &n);

	wfx_upload(f, wav, n, &u);
	assert_int_equal(worker_drain(f->a, &p, NULL), 0);
	assert_int_equal(hk_store_count(f), 3);
	assert_int_equal(app_db_get(f->a, &db), 0);
	assert_int_equal(db_track_delete(db, f->project, f->track), 0);
	app_db_put(f->a, db);
	assert_int_equal(worker_housekeeping(f->a, am_now_ms(), &st), 0);
	assert_int_equal(st.objects, 3);
	assert_int_equal(hk_store_count(f), 0);
	assert_int_equal(wfx_objects(f, NULL, NULL), 0);
	free(wav);
}

/* A committed object under key that no row names. */
static void hk_put_orphan(struct wfx *f, const char *ns, char key[STORE_KEY_MAX])
{
	struct store_put *put = NULL;
	uint8_t id[16];

	assert_int_equal(crypto_random_id(id), 0);
	assert_int_equal(store_key_format(key, STORE_KEY_MAX, ns, id, NULL), 0);
	assert_int_equal(store_put_begin(f->a->store, key, &put, NULL), 0);
	assert_int_equal(store_put_write(put, "x", 1), 0);
	assert_int_equal(store_put_commit(put, NULL, NULL), 0);
}

static void orphans_go_after_a_day(void **state)
{
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	struct worker_hk_stats st;
	struct store_info info;
	char stream[STORE_KEY_MAX], part[STORE_KEY_MAX], probe[STORE_KEY_MAX];
	struct wup u;
	size_t n;
	uint8_t *wav = wfx_wav(22050, 1, 0.5, &n);
	int64_t now = am_now_ms(), day = INT64_C(24) * 3600 * 1000;

	wfx_upload(f, wav, n, &u);
	assert_int_equal(worker_drain(f->a, &p, NULL), 0);
	hk_put_orphan(f, "stream", stream); /* a transcode that died before its rows */
	hk_put_orphan(f, "upart", part);    /* an upload part whose row never came */
	hk_put_orphan(f, "probe", probe);   /* not a namespace rows name */
	assert_int_equal(hk_store_count(f), 6);
	assert_int_equal(worker_housekeeping(f->a, now, &st), 0);
	assert_int_equal(st.orphans, 0); /* younger than a day: may be a live put */
	assert_int_equal(hk_store_count(f), 6);
	assert_int_equal(worker_housekeeping(f->a, now + day + 3600 * 1000, &st), 0);
	assert_int_equal(st.orphans, 2);
	assert_int_equal(hk_store_count(f), 4); /* original, stream, peaks, probe */
	assert_int_equal(store_stat(f->a->store, stream, &info, NULL), AM_ERR_NOTFOUND);
	assert_int_equal(store_stat(f->a->store, part, &info, NULL), AM_ERR_NOTFOUND);
	assert_int_equal(store_stat(f->a->store, probe, &info, NULL), 0);
	assert_int_equal(wfx_objects(f, NULL, NULL), 3); /* every named object stays */
	hk_put_orphan(f, "peaks", stream);
	assert_int_equal(worker_housekeeping(f->a, now + 2 * day, &st), 0);
	assert_int_equal(st.orphans, 0); /* once a day */
	free(wav);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(shredded_project_leaves_nothing, wfx_setup,
					    wfx_teardown),
	    cmocka_unit_test_setup_teardown(deleted_track_objects_go, wfx_setup, wfx_teardown),
	    cmocka_unit_test_setup_teardown(orphans_go_after_a_day, wfx_setup, wfx_teardown),
	};

	WFX_CHILD_DISPATCH(argc, argv);
	am_log_set_level(AM_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
