/*
 * Housekeeping (docs/worker.md): after a project is crypto-shredded, one
 * run removes its ciphertext from the store and its rows from the database;
 * objects of a deleted track go too; a second run finds nothing to do; and
 * the periodic loop runs it at most once per interval.
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

	assert_int_equal(store_list(f->a->store, "", hk_count_cb, &n), 0);
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

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(shredded_project_leaves_nothing, wfx_setup, wfx_teardown),
	    cmocka_unit_test_setup_teardown(deleted_track_objects_go, wfx_setup, wfx_teardown),
	};

	WFX_CHILD_DISPATCH(argc, argv);
	am_log_set_level(AM_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
