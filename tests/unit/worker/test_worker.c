/*
 * The worker role end to end below HTTP (issue 7): real uploads (encrypted
 * originals in the store, rows as the media role records them) run through
 * the job queue, the exec'd sandboxed transcoder and back into encrypted
 * objects. What a user would see: the version becomes ready with its media
 * facts and playable stream and peaks; a hostile file fails with a clear
 * reason and stores nothing; several workers run each job exactly once; a
 * crashed worker's job is reclaimed; retries stop at the attempt cap; a
 * stopping worker releases its job.
 */
#include "worker_fixture.inc"

#include <libavformat/avformat.h>
#include <pthread.h>
#include <time.h>

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Probe a rendition with libavformat (as a player would). */
static void probe(struct wfx *f, const struct am_buf *b, int64_t want_ms)
{
	char path[128];
	FILE *fp;
	AVFormatContext *ic = NULL;

	snprintf(path, sizeof(path), "%s/stream.m4a", f->dir);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(b->p, 1, b->len, fp), b->len);
	fclose(fp);
	assert_int_equal(avformat_open_input(&ic, path, NULL, NULL), 0);
	assert_true(avformat_find_stream_info(ic, NULL) >= 0);
	assert_int_equal(ic->nb_streams, 1);
	assert_int_equal(ic->streams[0]->codecpar->codec_id, AV_CODEC_ID_AAC);
	assert_true(llabs(ic->duration / 1000 - want_ms) <= 1);
	avformat_close_input(&ic);
	unlink(path);
}

static int count_cb(void *arg, const char *key, const struct store_info *info)
{
	(*(int *)arg)++;
	return 0;
}

static int store_count(struct wfx *f, const char *prefix)
{
	int n = 0;

	assert_int_equal(store_list(f->a->store, prefix, count_cb, &n, NULL), 0);
	return n;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Peaks object: the detailed .dat v2 (16-bit: 4 bytes per pixel and
 * channel), then the overview .dat. */
static void check_peaks(const struct am_buf *b, int rate, int ch, int64_t frames)
{
	uint32_t len, olen;
	size_t detail;

	assert_true(b->len > 48);
	assert_int_equal(rd32(b->p), 2);
	assert_int_equal(rd32(b->p + 4), 0);
	assert_int_equal(rd32(b->p + 8), (uint32_t)rate);
	assert_int_equal(rd32(b->p + 12), XCODE_PEAKS_SPP);
	len = rd32(b->p + 16);
	assert_int_equal(len, (uint32_t)((frames + XCODE_PEAKS_SPP - 1) / XCODE_PEAKS_SPP));
	assert_int_equal(rd32(b->p + 20), (uint32_t)ch);
	detail = 24 + (size_t)len * (size_t)ch * 4;
	assert_true(b->len > detail + 24);
	assert_int_equal(rd32(b->p + detail), 2);
	olen = rd32(b->p + detail + 16);
	assert_true(olen >= 1 && olen <= XCODE_OVERVIEW_POINTS);
	assert_int_equal(b->len, detail + 24 + (size_t)olen * (size_t)ch * 4);
}

static void transcode_makes_version_ready(void **state)
{
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	struct db_version v;
	struct db_object o;
	struct db_job j;
	struct am_buf b;
	struct wup u;
	size_t n;
	uint8_t *wav = wfx_wav(44100, 2, 2.0, &n);
	int ran = 0;

	wfx_upload(f, wav, n, &u);
	assert_int_equal(worker_drain(f->a, &p, &ran), 0);
	assert_int_equal(ran, 1);
	wfx_version(f, u.version, &v);
	assert_string_equal(v.state, "ready");
	assert_int_equal(v.progress, 100);
	assert_int_equal(v.duration_ms, 2000);
	assert_int_equal(v.sample_rate, 44100);
	assert_int_equal(v.channels, 2);
	assert_int_equal(v.bit_depth, 16);
	/* A -6 dBFS sine reads about -9 LUFS (stereo) and -6 dBTP. */
	assert_true(v.loudness_mlufs < -5000 && v.loudness_mlufs > -12000);
	assert_true(v.true_peak_mdbtp < -5500 && v.true_peak_mdbtp > -6500);
	/* The new meters are stored: a steady 2 s tone is too short for a
	 * range; the rendition peaks where the original does. */
	assert_int_equal(v.meter_flags, DB_METER_SHORT_LRA);
	assert_true(v.stream_true_peak_mdbtp < -5000 && v.stream_true_peak_mdbtp > -7000);
	wfx_job(f, u.job, &j);
	assert_string_equal(j.state, "done");
	assert_int_equal(j.attempts, 1);
	assert_int_equal(wfx_objects(f, u.version, "stream"), 1);
	assert_int_equal(wfx_objects(f, u.version, "peaks"), 1);
	wfx_read(f, u.version, "stream", &b, &o);
	assert_string_equal(o.content_type, "audio/mp4");
	assert_memory_equal(b.p + 4, "ftyp", 4);
	probe(f, &b, 2000);
	am_buf_cleanup(&b);
	wfx_read(f, u.version, "peaks", &b, &o);
	check_peaks(&b, 44100, 2, 88200);
	am_buf_cleanup(&b);
	free(wav);
}

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *b = malloc(1 << 20);

	assert_non_null(fp);
	assert_non_null(b);
	*n = fread(b, 1, 1 << 20, fp);
	fclose(fp);
	return b;
}

/* Hostile inputs from the corpus (tests/fixtures/hostile) and random bytes:
 * each ends failed with the owner-facing reason, without a retry and
 * without any output object. */
static void hostile_input_fails_cleanly(void **state)
{
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	static const struct {
		const char *file, *reason;
	} cases[] = {
	    {"playlist-hls.m3u8", "unsupported format"},
	    {"truncated-wav-50pct.wav", "file is truncated"},
	    {"truncated-flac-50pct-frame.flac", "file is truncated"},
	    {"truncated-aiff-80pct.aiff", "file is truncated"},
	    {"absurd-wav-9-channels.wav", "9 channels is above the 8-channel limit"},
	    {"mutated-m4a-stsz.m4a", "file is damaged"},
	    {NULL, "unsupported format"},
	};

	for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
		struct db_version v;
		struct db_job j;
		struct wup u;
		char path[256];
		uint8_t *b;
		size_t n = 4096;

		if (cases[i].file) {
			snprintf(path, sizeof(path), "tests/fixtures/hostile/%s", cases[i].file);
			b = slurp(path, &n);
		} else {
			assert_non_null(b = malloc(n));
			for (size_t k = 0; k < n; k++)
				b[k] = (uint8_t)(k * 131 + 7);
		}
		wfx_upload(f, b, n, &u);
		free(b);
		assert_int_equal(worker_drain(f->a, &p, NULL), 0);
		wfx_version(f, u.version, &v);
		assert_string_equal(v.state, "failed");
		assert_string_equal(v.error, cases[i].reason);
		wfx_job(f, u.job, &j);
		assert_string_equal(j.state, "failed");
		assert_int_equal(j.attempts, 1); /* the file is at fault: no retry */
		assert_int_equal(wfx_objects(f, u.version, "stream"), 0);
		assert_int_equal(wfx_objects(f, u.version, "peaks"), 0);
	}
	/* Nothing but the originals was recorded, and the store holds only
	 * them: a failed job leaves no partial or temporary output. */
	assert_int_equal(wfx_objects(f, NULL, NULL), (int)AM_ARRAY_LEN(cases));
	assert_int_equal(store_count(f, "stream/"), 0);
	assert_int_equal(store_count(f, "peaks/"), 0);
}

/* A counting wrapper around the real handler. */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint8_t id[16];
	int runs;
} counts[16];
static size_t ncounts;

static int counting_transcode(struct worker_job *j)
{
	pthread_mutex_lock(&count_lock);
	size_t i = 0;
	for (; i < ncounts && memcmp(counts[i].id, j->job->id, 16) != 0; i++)
		;
	if (i == ncounts && ncounts < AM_ARRAY_LEN(counts))
		memcpy(counts[ncounts++].id, j->job->id, 16);
	if (i < AM_ARRAY_LEN(counts))
		counts[i].runs++;
	pthread_mutex_unlock(&count_lock);
	return worker_transcode(j);
}

static void two_threads_run_each_job_once(void **state)
{
	static const struct worker_kind kinds[] = {
	    {"transcode", counting_transcode, worker_transcode_failed, 1}};
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	struct worker *w = NULL;
	struct wup u[10];
	size_t n;
	uint8_t *wav = wfx_wav(22050, 1, 0.5, &n);
	int done = 0;

	for (size_t i = 0; i < AM_ARRAY_LEN(u); i++)
		wfx_upload(f, wav, n, &u[i]);
	p.threads = 2;
	p.kinds = kinds;
	p.nkinds = 1;
	assert_int_equal(worker_start(f->a, &p, &w), 0);
	for (int t = 0; t < 600 && done < 10; t++) {
		done = 0;
		for (size_t i = 0; i < AM_ARRAY_LEN(u); i++) {
			struct db_job j;

			wfx_job(f, u[i].job, &j);
			done += strcmp(j.state, "done") == 0;
		}
		sleep_ms(50);
	}
	worker_stop(w);
	assert_int_equal(done, 10);
	assert_int_equal(ncounts, 10);
	for (size_t i = 0; i < ncounts; i++)
		assert_int_equal(counts[i].runs, 1);
	for (size_t i = 0; i < AM_ARRAY_LEN(u); i++) {
		struct db_version v;

		wfx_version(f, u[i].version, &v);
		assert_string_equal(v.state, "ready");
		assert_int_equal(wfx_objects(f, u[i].version, "stream"), 1);
		assert_int_equal(wfx_objects(f, u[i].version, "peaks"), 1);
	}
	free(wav);
}

/* heavy_jobs: at most that many heavy jobs run at once, and a light job
 * runs beside them on the thread left over (never behind a transcode). */
static int heavy_now, heavy_max, light_beside_heavy;
static pthread_mutex_t heavy_lock = PTHREAD_MUTEX_INITIALIZER;

static int slow_heavy(struct worker_job *j)
{
	pthread_mutex_lock(&heavy_lock);
	heavy_now++;
	if (heavy_now > heavy_max)
		heavy_max = heavy_now;
	pthread_mutex_unlock(&heavy_lock);
	/* Hold the slot until the light job has run, or 5 s (then it failed). */
	for (int t = 0; t < 100 && !__atomic_load_n(&light_beside_heavy, __ATOMIC_ACQUIRE); t++)
		sleep_ms(50);
	sleep_ms(100);
	pthread_mutex_lock(&heavy_lock);
	heavy_now--;
	pthread_mutex_unlock(&heavy_lock);
	return 0;
}

static int quick_light(struct worker_job *j)
{
	pthread_mutex_lock(&heavy_lock);
	if (heavy_now > 0)
		__atomic_store_n(&light_beside_heavy, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&heavy_lock);
	return 0;
}

static void heavy_slots_bound_and_leave_light_jobs_a_thread(void **state)
{
	static const struct worker_kind kinds[] = {{"slow", slow_heavy, NULL, 1},
						   {"quick", quick_light, NULL, 0}};
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	struct worker *w = NULL;
	struct db *db = NULL;
	uint8_t id[16];
	int64_t left = 1;

	assert_int_equal(app_db_get(f->a, &db), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(db_job_enqueue(db, "slow", NULL, NULL, 0, 1, 0, id), 0);
	app_db_put(f->a, db);
	p.threads = 3;
	p.heavy_jobs = 1;
	p.kinds = kinds;
	p.nkinds = 2;
	assert_int_equal(worker_start(f->a, &p, &w), 0);
	for (int t = 0; t < 100 && !__atomic_load_n(&heavy_now, __ATOMIC_ACQUIRE); t++)
		sleep_ms(20); /* a heavy job holds the only slot ... */
	assert_int_equal(app_db_get(f->a, &db), 0);
	assert_int_equal(db_job_enqueue(db, "quick", NULL, NULL, 0, 1, 0, id),
			 0); /* ... then this */
	for (int t = 0; t < 600 && left > 0; t++) {
		struct db_stmt *st = NULL;

		sleep_ms(50);
		assert_int_equal(
		    db_prepare(db, "SELECT COUNT(*) FROM jobs WHERE state <> 'done'", &st), 0);
		assert_int_equal(db_step(st), DB_ROW);
		left = db_column_int64(st, 0);
		db_finalize(st);
	}
	app_db_put(f->a, db);
	worker_stop(w);
	assert_int_equal(left, 0);
	assert_int_equal(heavy_max, 1);
	assert_int_equal(light_beside_heavy, 1);
}

/* A worker that claimed the job and died: its lease expires, another
 * worker claims the job again and completes it. */
static void crashed_workers_job_is_reclaimed(void **state)
{
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	struct db_version v;
	struct db_job j;
	struct db *db = NULL;
	struct wup u;
	size_t n;
	uint8_t *wav = wfx_wav(44100, 1, 1.0, &n);
	int ran = 0;

	wfx_upload(f, wav, n, &u);
	assert_int_equal(app_db_get(f->a, &db), 0);
	assert_int_equal(db_job_claim(db, "ghost", "transcode", am_now_ms(), 60000, &j), 0);
	app_db_put(f->a, db);
	assert_int_equal(worker_drain(f->a, &p, &ran), 0);
	assert_int_equal(ran, 0); /* leased to the ghost: not due */
	assert_int_equal(app_db_get(f->a, &db), 0);
	assert_int_equal(db_job_extend(db, u.job, "ghost", am_now_ms(), 1), 0); /* it dies */
	app_db_put(f->a, db);
	sleep_ms(5);
	assert_int_equal(worker_drain(f->a, &p, &ran), 0);
	assert_int_equal(ran, 1);
	wfx_job(f, u.job, &j);
	assert_string_equal(j.state, "done");
	assert_int_equal(j.attempts, 2);
	assert_string_not_equal(j.worker, "ghost");
	wfx_version(f, u.version, &v);
	assert_string_equal(v.state, "ready");
	assert_int_equal(wfx_objects(f, u.version, "stream"), 1);
	free(wav);
}

/* Workers that die on every attempt, the last one included: the job is not
 * run again, and the owner sees the version failed with the reason instead
 * of "processing" for ever. */
static void lost_on_last_attempt_fails_the_version(void **state)
{
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	struct db_version v;
	struct db_job j;
	struct db *db = NULL;
	struct wup u;
	size_t n;
	uint8_t *wav = wfx_wav(44100, 1, 1.0, &n);
	int ran = 0;

	wfx_upload(f, wav, n, &u);
	wfx_job(f, u.job, &j);
	for (int64_t a = 0; a < j.max_attempts; a++) {
		assert_int_equal(app_db_get(f->a, &db), 0);
		assert_int_equal(db_job_claim(db, "ghost", "transcode", am_now_ms(), 60000, &j), 0);
		assert_int_equal(db_job_extend(db, u.job, "ghost", am_now_ms(), 1),
				 0); /* it dies */
		app_db_put(f->a, db);
		sleep_ms(5);
	}
	assert_int_equal(worker_drain(f->a, &p, &ran), 0);
	wfx_job(f, u.job, &j);
	assert_string_equal(j.state, "failed");
	assert_non_null(strstr(j.last_error, "last attempt"));
	wfx_version(f, u.version, &v);
	assert_string_equal(v.state, "failed");
	assert_int_equal(wfx_objects(f, u.version, "stream"), 0);
	free(wav);
}

/* A storage failure is retried (the version shows "queued" meanwhile) until
 * the attempt cap, then the owner sees the reason. */
static void retries_stop_at_the_cap(void **state)
{
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	struct db_version v;
	struct db_job j;
	struct wup u;
	int ran = 0, total = 0;

	wfx_upload(f, NULL, 100000, &u); /* the row names an object never stored */
	assert_int_equal(worker_drain(f->a, &p, &ran), 0);
	total += ran;
	wfx_version(f, u.version, &v);
	wfx_job(f, u.job, &j);
	if (strcmp(j.state, "queued") == 0)
		assert_string_equal(v.state, "queued");
	for (int t = 0; t < 100 && strcmp(j.state, "failed") != 0; t++) {
		sleep_ms(5);
		assert_int_equal(worker_drain(f->a, &p, &ran), 0);
		total += ran;
		wfx_job(f, u.job, &j);
	}
	assert_string_equal(j.state, "failed");
	assert_int_equal(j.attempts, 3);
	assert_int_equal(total, 3);
	assert_string_equal(j.last_error, "storage error");
	wfx_version(f, u.version, &v);
	assert_string_equal(v.state, "failed");
	assert_string_equal(v.error, "storage error");
}

/* SIGTERM with no grace while a job runs: the job is cancelled and
 * released (queued again, the version too), and a later worker finishes it. */
static void stop_releases_the_running_job(void **state)
{
	struct wfx *f = *state;
	struct worker_params p = wfx_params();
	struct worker *w = NULL;
	struct db_version v;
	struct db_job j;
	struct wup u;
	size_t n;
	uint8_t *wav = wfx_wav(48000, 2, 120.0, &n);
	int ran = 0;

	wfx_upload(f, wav, n, &u);
	p.grace_ms = 0;
	assert_int_equal(worker_start(f->a, &p, &w), 0);
	for (int t = 0; t < 400; t++) {
		wfx_version(f, u.version, &v);
		if (strcmp(v.state, "processing") == 0)
			break;
		sleep_ms(5);
	}
	assert_string_equal(v.state, "processing");
	worker_stop(w);
	wfx_job(f, u.job, &j);
	assert_string_equal(j.state, "queued");
	assert_string_equal(j.last_error, "storage error"); /* cancelled: retryable */
	wfx_version(f, u.version, &v);
	assert_string_equal(v.state, "queued");
	assert_int_equal(wfx_objects(f, u.version, "stream"), 0);
	sleep_ms(5);
	assert_int_equal(worker_drain(f->a, &p, &ran), 0);
	assert_int_equal(ran, 1);
	wfx_version(f, u.version, &v);
	assert_string_equal(v.state, "ready");
	assert_int_equal(v.duration_ms, 120000);
	free(wav);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(transcode_makes_version_ready, wfx_setup, wfx_teardown),
	    cmocka_unit_test_setup_teardown(hostile_input_fails_cleanly, wfx_setup, wfx_teardown),
	    cmocka_unit_test_setup_teardown(two_threads_run_each_job_once, wfx_setup, wfx_teardown),
	    cmocka_unit_test_setup_teardown(heavy_slots_bound_and_leave_light_jobs_a_thread,
					    wfx_setup, wfx_teardown),
	    cmocka_unit_test_setup_teardown(crashed_workers_job_is_reclaimed, wfx_setup,
					    wfx_teardown),
	    cmocka_unit_test_setup_teardown(lost_on_last_attempt_fails_the_version, wfx_setup,
					    wfx_teardown),
	    cmocka_unit_test_setup_teardown(retries_stop_at_the_cap, wfx_setup, wfx_teardown),
	    cmocka_unit_test_setup_teardown(stop_releases_the_running_job, wfx_setup, wfx_teardown),
	};

	WFX_CHILD_DISPATCH(argc, argv);
	am_log_set_level(AM_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
