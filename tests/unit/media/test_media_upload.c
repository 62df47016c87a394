/*
 * Integration tests of the tus uploads on /u/{upload} against a real HTTPS
 * server in this process: resume after the connection is cut at random
 * offsets (the stored original's SHA-256 equals the file's), a concurrent
 * PATCH refused with 409, wrong type / oversize / quota refused with a clear
 * 4xx and nothing stored, the transcode job, the clean-up of abandoned
 * uploads, and a scan of the data directory for plaintext audio.
 */
#include "media/media_http.inc"

#include <fcntl.h>
#include <ftw.h>
#include <semaphore.h>
#include <stdatomic.h>

static int setup(void **state)
{
	struct srv *sv = calloc(1, sizeof(*sv));

	if (!sv || srv_open(sv)) {
		if (sv)
			srv_close(sv);
		free(sv);
		return -1;
	}
	*state = sv;
	return 0;
}

static int teardown(void **state)
{
	srv_close(*state);
	free(*state);
	return 0;
}

static const uint8_t canary[16] = {0xc4, 0x7a, 0x11, 0x3e, 0x90, 0x5b, 0xd2, 0x08,
				   0x6f, 0xe1, 0x2c, 0xa4, 0x33, 0x9d, 0x71, 0xbe};

/* A WAV-looking test file with the canary repeated through it. */
static uint8_t *test_file(size_t n)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	assert_int_equal(crypto_random(p, n), 0);
	memcpy(p, "RIFF\x24\x00\x10\x00WAVEfmt ", 16);
	for (size_t o = 64; o + 16 <= n; o += 50000)
		memcpy(p + o, canary, 16);
	return p;
}

static void new_upload(struct srv *sv, int64_t len, char *url, uint8_t version[16])
{
	uint8_t id[16];
	int64_t num;

	assert_int_equal(db_version_create(sv->f.db, sv->f.a->keys, sv->f.p.id, sv->f.p.track,
					   "take.wav", version, &num),
			 0);
	assert_int_equal(upload_new(sv->f.a, sv->f.db, sv->f.account, sv->f.p.id, version, len, 0,
				    url, ACCESS_URL_MAX, id),
			 0);
}

struct body_src {
	const uint8_t *p;
	size_t n, pos, cut;
	volatile int *hold; /* block after 64 KiB while *hold */
	volatile int *held; /* set once blocked there (the server holds the lease) */
};

static size_t body_read(char *buf, size_t sz, size_t nmemb, void *ctx)
{
	struct body_src *b = ctx;
	size_t want = sz * nmemb;

	if (b->pos >= b->cut)
		return CURL_READFUNC_ABORT; /* cut the connection here */
	if (b->hold && b->pos >= 65536) {
		if (b->held)
			*b->held = 1;
		for (int i = 0; i < 500 && *b->hold; i++)
			usleep(10000);
	}
	if (want > b->cut - b->pos)
		want = b->cut - b->pos;
	memcpy(buf, b->p + b->pos, want);
	b->pos += want;
	return want;
}

/* PATCH the body b describes at offset with handle c. */
static long patch_src(struct srv *sv, CURL *c, const char *url, int64_t offset, struct body_src *bp,
		      struct resp *r)
{
	struct body_src b = *bp;
	size_t n = b.n;
	struct curl_slist *h = NULL;
	char off[64];
	long status = 0;

	snprintf(off, sizeof(off), "Upload-Offset: %lld", (long long)offset);
	h = curl_slist_append(h, "Tus-Resumable: 1.0.0");
	h = curl_slist_append(h, "Content-Type: application/offset+octet-stream");
	h = curl_slist_append(h, "Expect:");
	h = curl_slist_append(h, off);
	resp_init(r);
	curl_common(sv, c, url, h, r);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
	curl_easy_setopt(c, CURLOPT_READFUNCTION, body_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &b);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)n);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	bp->pos = b.pos; /* what the client sent */
	curl_slist_free_all(h);
	return status;
}

/* PATCH n bytes with a raw Upload-Offset and a Content-Length that need not
 * be the body's (a lying client). */
static long patch_lying(struct srv *sv, const char *url, const char *offset, const char *clen,
			const uint8_t *p, size_t n, struct resp *r)
{
	struct body_src b = {p, n, 0, n, NULL, NULL};
	struct curl_slist *h = NULL;
	char off[96], cl[96];
	long status = 0;

	snprintf(off, sizeof(off), "Upload-Offset: %s", offset);
	snprintf(cl, sizeof(cl), "Content-Length: %s", clen);
	h = curl_slist_append(h, "Tus-Resumable: 1.0.0");
	h = curl_slist_append(h, "Content-Type: application/offset+octet-stream");
	h = curl_slist_append(h, "Expect:");
	h = curl_slist_append(h, off);
	h = curl_slist_append(h, cl);
	resp_init(r);
	curl_common(sv, sv->curl, url, h, r);
	curl_easy_setopt(sv->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(sv->curl, CURLOPT_CUSTOMREQUEST, "PATCH");
	curl_easy_setopt(sv->curl, CURLOPT_READFUNCTION, body_read);
	curl_easy_setopt(sv->curl, CURLOPT_READDATA, &b);
	curl_easy_setopt(sv->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)n);
	if (curl_easy_perform(sv->curl) == CURLE_OK)
		curl_easy_getinfo(sv->curl, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	curl_slist_free_all(h);
	return status;
}

/* PATCH n bytes at offset (cut after `cut` bytes) with handle c. */
static long patch(struct srv *sv, CURL *c, const char *url, int64_t offset, const uint8_t *p,
		  size_t n, size_t cut, volatile int *hold, struct resp *r)
{
	struct body_src b = {p, n, 0, cut, hold, NULL};

	return patch_src(sv, c, url, offset, &b, r);
}

/* PATCH a whole file at 0 that blocks after 64 KiB while *hold, setting *held. */
static long patch_held(struct srv *sv, CURL *c, const char *url, const uint8_t *p, size_t n,
		       volatile int *hold, volatile int *held, struct resp *r)
{
	struct body_src b = {p, n, 0, n, hold, held};

	return patch_src(sv, c, url, 0, &b, r);
}

static int64_t head_offset(struct srv *sv, const char *url)
{
	const char *h[] = {"Tus-Resumable: 1.0.0", NULL};
	struct resp r;
	char v[64];
	int64_t off = -1;

	assert_int_equal(http_get(sv, "HEAD", url, &r, h), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_true(resp_header(&r, "Upload-Offset", v, sizeof(v)));
	assert_int_equal(am_parse_i64(v, 0, INT64_MAX, &off), 0);
	assert_true(resp_header(&r, "Tus-Resumable", v, sizeof(v)));
	resp_cleanup(&r);
	return off;
}

static void version_failed_with(struct srv *sv, const uint8_t version[16], const char *why)
{
	struct db_version v;

	assert_int_equal(db_version_get(sv->f.db, sv->f.a->keys, sv->f.p.id, version, &v), 0);
	assert_string_equal(v.state, "failed");
	assert_non_null(strstr(v.error, why));
}

static int count_key(void *arg, const char *key, const struct store_info *info)
{
	(void)key;
	(void)info;
	++*(int *)arg;
	return 0;
}

static int store_count(struct srv *sv)
{
	int n = 0;

	assert_int_equal(store_list(sv->f.a->store, "orig/", count_key, &n, NULL), 0);
	assert_int_equal(store_list(sv->f.a->store, "upart/", count_key, &n, NULL), 0);
	return n;
}

static void check_stored(struct srv *sv, const uint8_t version[16], const uint8_t *file, size_t n)
{
	struct am_buf got;
	struct db_object o;
	struct db_version v;
	struct db_job job;
	uint8_t h1[32], h2[32];
	char oh[33];

	am_buf_init(&got, n + 1);
	assert_int_equal(fx_read_original(&sv->f, sv->f.p.id, version, &got, &o), 0);
	assert_int_equal(got.len, n);
	crypto_sha256(got.p, got.len, h1);
	crypto_sha256(file, n, h2);
	assert_memory_equal(h1, h2, 32);
	assert_string_equal(o.content_type, "audio/wav");
	assert_int_equal(db_version_get(sv->f.db, sv->f.a->keys, sv->f.p.id, version, &v), 0);
	assert_string_equal(v.state, "queued");
	assert_int_equal(db_job_claim(sv->f.db, "test", "transcode", am_now_ms(), 1000, &job), 0);
	access_hex16(o.id, oh);
	job.payload[job.payload_len < sizeof(job.payload) ? job.payload_len : 0] = 0;
	assert_non_null(strstr((char *)job.payload, oh));
	assert_non_null(strstr((char *)job.payload, "\"v\":1"));
	assert_memory_equal(job.project_id, sv->f.p.id, 16);
	assert_int_equal(db_job_complete(sv->f.db, job.id, "test"), 0);
	am_buf_cleanup(&got);
}

/* PATCH file[0..n) at offset 0, again while the answer is 409 (a refused
 * request has not given the upload's lease back yet), until it is 204. */
static void patch_once_lease_free(struct srv *sv, const char *url, const uint8_t *file, size_t n)
{
	struct resp r;

	for (int i = 0;; i++) {
		long st = patch(sv, sv->curl, url, 0, file, n, n, NULL, &r);

		resp_cleanup(&r);
		if (st == 204)
			break;
		assert_int_equal(st, 409);
		assert_true(i < 100);
		usleep(20000);
	}
}

static void upload_whole(void **state)
{
	struct srv *sv = *state;
	size_t n = 300000;
	uint8_t *file = test_file(n), version[16];
	char url[ACCESS_URL_MAX], v[64];
	struct resp r;

	int before = store_count(sv);

	new_upload(sv, (int64_t)n, url, version);
	assert_int_equal(head_offset(sv, url), 0);
	assert_int_equal(patch(sv, sv->curl, url, 0, file, n, n, NULL, &r), 204);
	assert_true(resp_header(&r, "Upload-Offset", v, sizeof(v)));
	assert_string_equal(v, "300000");
	resp_cleanup(&r);
	assert_int_equal(head_offset(sv, url), (int64_t)n);
	check_stored(sv, version, file, n);
	assert_int_equal(store_count(sv), before + 1); /* the single part became the original */
	/* single use: no more bytes, no second completion */
	assert_int_equal(patch(sv, sv->curl, url, (int64_t)n, file, 1, 1, NULL, &r), 404);
	resp_cleanup(&r);
	free(file);
}

/* The job threads' queue full (issue 25): a PATCH is refused with 503 and
 * Retry-After before anything of it is stored, the offset stays; once the
 * queue drains the same PATCH succeeds. A one-thread queue of one slot,
 * its thread held by a job that waits for the test. */
static sem_t jobs_gate;
static int jobs_gate_live;

static void gate_job(void *arg)
{
	(void)arg;
	sem_wait(&jobs_gate);
}

static void gate_open(void)
{
	assert_int_equal(sem_init(&jobs_gate, 0, 0), 0);
	jobs_gate_live = 1;
}

/* Whatever failed: let every gated job go and the jobs behind them run (a
 * request they resume must not be suspended when the server stops: that
 * aborts), then stop the server. */
static int teardown_gated(void **state)
{
	struct srv *sv = *state;

	if (jobs_gate_live) {
		for (int i = 0; i < 16; i++)
			sem_post(&jobs_gate);
		for (int i = 0; i < 5000 && media_jobs_queued(sv->m->jobs) > 0; i++)
			usleep(1000);
		usleep(200000);
	}
	teardown(state);
	if (jobs_gate_live)
		sem_destroy(&jobs_gate);
	jobs_gate_live = 0;
	return 0;
}

static void upload_jobs_full(void **state)
{
	struct srv *sv = *state;
	size_t n = 200000;
	uint8_t *file = test_file(n), version[16];
	char url[ACCESS_URL_MAX], v[64];
	struct resp r;
	int before = store_count(sv);

	gate_open();
	media_jobs_free(sv->m->jobs);
	assert_non_null(sv->m->jobs = media_jobs_new(1, 1));
	assert_int_equal(media_jobs_add(sv->m->jobs, gate_job, NULL, NULL), 0);
	while (media_jobs_queued(sv->m->jobs) > 0) /* the thread took it */
		usleep(1000);
	assert_int_equal(media_jobs_add(sv->m->jobs, gate_job, NULL, NULL), 0);
	assert_int_equal(media_jobs_add(sv->m->jobs, gate_job, NULL, NULL), AM_ERR_UNAVAIL);

	new_upload(sv, (int64_t)n, url, version);
	assert_int_equal(patch(sv, sv->curl, url, 0, file, n, n, NULL, &r), 503);
	assert_true(resp_header(&r, "Retry-After", v, sizeof(v)));
	assert_string_equal(v, MEDIA_JOBS_RETRY_AFTER);
	resp_cleanup(&r);
	assert_int_equal(store_count(sv), before); /* nothing of it stored */

	sem_post(&jobs_gate);
	sem_post(&jobs_gate);
	while (media_jobs_queued(sv->m->jobs) > 0)
		usleep(1000);
	assert_int_equal(head_offset(sv, url), 0);
	patch_once_lease_free(sv, url, file, n);
	check_stored(sv, version, file, n);
	assert_int_equal(store_count(sv), before + 1);
	free(file);
}

/* While an upload's disk work waits for a job thread, its request is
 * suspended and the HTTP threads serve other connections; the PATCH is
 * answered (204, everything stored) once its jobs ran. The one job thread
 * is held by a gated job meanwhile. */
struct bg_patch {
	struct srv *sv;
	const char *url;
	const uint8_t *file;
	size_t n;
	long status;
	atomic_int done;
};

static void *bg_patch_main(void *arg)
{
	struct bg_patch *bp = arg;
	CURL *c = curl_easy_init();
	struct resp r;

	bp->status = patch(bp->sv, c, bp->url, 0, bp->file, bp->n, bp->n, NULL, &r);
	resp_cleanup(&r);
	curl_easy_cleanup(c);
	atomic_store(&bp->done, 1);
	return NULL;
}

static void upload_waits_for_job(void **state)
{
	struct srv *sv = *state;
	size_t n = 200000;
	uint8_t *file = test_file(n), version[16];
	char url[ACCESS_URL_MAX];
	struct bg_patch bp;
	pthread_t t;
	struct resp r;
	const char *tus[] = {"Tus-Resumable: 1.0.0", NULL};
	int i, other_bad = 0, waiting;

	gate_open();
	media_jobs_free(sv->m->jobs);
	assert_non_null(sv->m->jobs = media_jobs_new(1, 16));
	assert_int_equal(media_jobs_add(sv->m->jobs, gate_job, NULL, NULL), 0);
	while (media_jobs_queued(sv->m->jobs) > 0)
		usleep(1000);
	new_upload(sv, (int64_t)n, url, version);
	memset(&bp, 0, sizeof(bp));
	bp.sv = sv, bp.url = url, bp.file = file, bp.n = n;
	atomic_init(&bp.done, 0);
	assert_int_equal(pthread_create(&t, NULL, bg_patch_main, &bp), 0);
	for (i = 0; media_jobs_queued(sv->m->jobs) == 0; i++) { /* its first chunk's job */
		assert_true(i < 10000);
		usleep(1000);
	}
	/* Other requests, each on a new connection (both HTTP threads), are
	 * answered while the PATCH waits. The checks come after the gate
	 * opens: a server stopped with a suspended request aborts. */
	for (i = 0; i < 4; i++) {
		CURL *keep = sv->curl;

		sv->curl = curl_easy_init();
		if (http_get(sv, "HEAD", url, &r, tus) != CURLE_OK || r.status != 200)
			other_bad++;
		resp_cleanup(&r);
		curl_easy_cleanup(sv->curl);
		sv->curl = keep;
	}
	waiting = !atomic_load(&bp.done) && media_jobs_queued(sv->m->jobs) == 1;
	sem_post(&jobs_gate);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(other_bad, 0);
	assert_true(waiting);
	assert_int_equal(bp.status, 204);
	check_stored(sv, version, file, n);
	free(file);
}

/* A store that refuses the part's object (here its namespace directory is
 * a file: a generic store failure, as an S3 outage is) refuses a PATCH
 * announcing 8 MiB (the fixture's max_upload_size; more than the 1 MiB the
 * server reads after a failure mid-body), which curl sends at once as the
 * web uploader does,
 * with a 503 the client reads (not a reset): Upload-Error and the tus
 * headers, a JSON body; nothing is stored, the offset stays 0 and the
 * lease is given back: once the store works, the next PATCH is taken.
 * (That the answer comes before the body: tests/e2e/disk_full.test.mjs,
 * which sends no body byte.) */
static void upload_store_refuses(void **state)
{
	struct srv *sv = *state;
	size_t n = 8u << 20, first = 300000;
	uint8_t *file = test_file(n), version[16];
	char url[ACCESS_URL_MAX], ns[128], away[128], v[256];
	struct body_src b = {file, n, 0, n, NULL, NULL};
	struct resp r;
	int fd, moved, before = store_count(sv);

	new_upload(sv, (int64_t)n, url, version);
	snprintf(ns, sizeof(ns), "%s/objects/orig", sv->f.dir);
	snprintf(away, sizeof(away), "%s/objects/orig.away", sv->f.dir);
	moved = rename(ns, away) == 0;
	assert_true((fd = open(ns, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600)) >= 0);
	close(fd);
	assert_int_equal(patch_src(sv, sv->curl, url, 0, &b, &r), 503);
	assert_true(resp_header(&r, "Upload-Error", v, sizeof(v)));
	assert_string_equal(v, "the server cannot store the upload now");
	assert_true(resp_header(&r, "Tus-Resumable", v, sizeof(v)));
	assert_non_null(memmem(r.body.p, r.body.len, "\"status\":503", 12));
	resp_cleanup(&r);
	assert_int_equal(unlink(ns), 0);
	assert_true(!moved || rename(away, ns) == 0);
	assert_int_equal(head_offset(sv, url), 0);
	assert_int_equal(store_count(sv), before);
	patch_once_lease_free(sv, url, file, first);
	assert_int_equal(head_offset(sv, url), (int64_t)first);
	free(file);
}

static void upload_resumed(void **state)
{
	struct srv *sv = *state;
	size_t n = 1500000;
	uint8_t *file = test_file(n), version[16];
	char url[ACCESS_URL_MAX];
	struct resp r;
	uint32_t seed = 777;
	int cuts = 0, tries = 0, before = store_count(sv);

	new_upload(sv, (int64_t)n, url, version);
	for (;;) {
		int64_t off = head_offset(sv, url);
		size_t left = n - (size_t)off, cut = left;
		long st;

		if (left == 0)
			break;
		assert_true(++tries < 400);
		seed = seed * 1103515245 + 12345;
		if (cuts < 6 && left > 2)
			cut = 1 + (seed >> 8) % (left - 1);
		st = patch(sv, sv->curl, url, off, file + off, left, cut, NULL, &r);
		resp_cleanup(&r);
		if (st == 409 || (st == 0 && cut == left)) {
			/* The server still finishes the cut request: 409, which may
			 * reach us only as a reset while we were still sending. */
			usleep(20000);
		} else if (cut < left) {
			cuts++;
			assert_int_equal(st, 0); /* no answer: we hung up */
		} else {
			assert_int_equal(st, 204);
		}
	}
	assert_int_equal(cuts, 6);
	check_stored(sv, version, file, n);
	assert_int_equal(store_count(sv), before + 1); /* parts gone, one original */
	free(file);
}

struct slow_patch {
	struct srv *sv;
	const char *url;
	const uint8_t *file;
	size_t n;
	volatile int hold, held;
	long status;
};

static void *slow_main(void *arg)
{
	struct slow_patch *sp = arg;
	CURL *c = curl_easy_init();
	struct resp r;

	sp->status = patch_held(sp->sv, c, sp->url, sp->file, sp->n, &sp->hold, &sp->held, &r);
	resp_cleanup(&r);
	curl_easy_cleanup(c);
	return NULL;
}

/* Whether the upload named by url ("/u/<32 hex>?...") has a live lease. */
static int upload_leased(struct srv *sv, const char *url)
{
	const char *h = strstr(url, "/u/");
	struct db_upload u;
	uint8_t id[16];

	if (!h)
		return 0;
	for (int i = 0; i < 16; i++)
		if (sscanf(h + 3 + 2 * i, "%2hhx", &id[i]) != 1)
			return 0;
	return db_upload_get(sv->f.db, sv->f.p.id, id, &u) == 0 && u.lock_until > am_now_ms();
}

static void upload_concurrent(void **state)
{
	struct srv *sv = *state;
	size_t n = 400000;
	uint8_t *file = test_file(n), version[16];
	char url[ACCESS_URL_MAX], why[256];
	struct slow_patch sp = {sv, url, file, n, 1, 0, 0};
	struct resp r;
	pthread_t t;

	new_upload(sv, (int64_t)n, url, version);
	assert_int_equal(pthread_create(&t, NULL, slow_main, &sp), 0);
	/* Wait until the server holds the first PATCH's lease (the database row
	 * says so): neither a fixed sleep nor the bytes the client has sent (they
	 * may still sit in socket buffers) tell that on a loaded CI machine. */
	for (int i = 0; i < 1000 && !upload_leased(sv, url); i++)
		usleep(10000);
	assert_true(sp.held);
	assert_true(upload_leased(sv, url));
	/* a small body, so that the early 409 is read, not lost in a reset */
	assert_int_equal(patch(sv, sv->curl, url, 0, file, 16, 16, NULL, &r), 409);
	assert_true(resp_header(&r, "Upload-Error", why, sizeof(why)));
	resp_cleanup(&r);
	sp.hold = 0;
	pthread_join(t, NULL);
	assert_int_equal(sp.status, 204);
	check_stored(sv, version, file, n);
	free(file);
}

static void upload_refusals(void **state)
{
	struct srv *sv = *state;
	size_t n = 100000;
	uint8_t *file = test_file(n), version[16], id[16];
	char url[ACCESS_URL_MAX], why[256];
	struct resp r;
	int before = store_count(sv);

	/* wrong type: a clear 415, nothing stored, the offset unchanged */
	memcpy(file, "<html><body>", 12);
	new_upload(sv, (int64_t)n, url, version);
	assert_int_equal(patch(sv, sv->curl, url, 0, file, n, n, NULL, &r), 415);
	assert_non_null(
	    memmem(r.body.p, r.body.len, "a text file is not a supported audio format", 43));
	assert_true(resp_header(&r, "Upload-Error", why, sizeof(why)));
	assert_non_null(strstr(why, "a text file"));
	resp_cleanup(&r);
	/* the upload is gone and its version failed with the reason: never
	 * left 'uploading' (issue 21); a HEAD says why */
	version_failed_with(sv, version, "a text file is not a supported audio format");
	{
		const char *h[] = {"Tus-Resumable: 1.0.0", NULL};
		assert_int_equal(http_get(sv, "HEAD", url, &r, h), CURLE_OK);
		assert_int_equal(r.status, 404);
		assert_true(resp_header(&r, "Upload-Error", why, sizeof(why)));
		assert_non_null(strstr(why, "a text file"));
		resp_cleanup(&r);
	}
	/* more than declared: 413 before a byte is read */
	memcpy(file, "RIFF\x24\x00\x10\x00WAVE", 12);
	new_upload(sv, 1000, url, version);
	assert_int_equal(patch(sv, sv->curl, url, 0, file, 2000, 2000, NULL, &r), 413);
	assert_true(resp_header(&r, "Upload-Error", why, sizeof(why)));
	resp_cleanup(&r);
	/* wrong offset: 409 */
	assert_int_equal(patch(sv, sv->curl, url, 5, file, 10, 10, NULL, &r), 409);
	resp_cleanup(&r);
	/* the largest offset and Content-Length a client may send (offset +
	 * Content-Length overflows int64): 413. The HTTP layer already refuses
	 * a Content-Length above the route's max_body (max_upload_size, at most
	 * 2^40) before media_upload.c sees it; the check there compares by
	 * subtraction all the same (patch_fits below, fuzz/tus_headers.c) */
	assert_int_equal(
	    patch_lying(sv, url, "9007199254740991", "9223372036854775807", file, 16, &r), 413);
	resp_cleanup(&r);
	/* an offset past the upload's length with a Content-Length that passes
	 * the HTTP layer: media_upload.c refuses it, 413 with its reason */
	assert_int_equal(patch_lying(sv, url, "9007199254740991", "16", file, 16, &r), 413);
	assert_true(resp_header(&r, "Upload-Error", why, sizeof(why)));
	assert_non_null(strstr(why, "Upload-Length"));
	resp_cleanup(&r);
	assert_int_equal(head_offset(sv, url), 0);
	/* larger than max_upload_size: refused when the upload is created */
	assert_int_equal(db_version_create(sv->f.db, sv->f.a->keys, sv->f.p.id, sv->f.p.track,
					   "big.wav", version, &(int64_t){0}),
			 0);
	assert_int_equal(upload_new(sv->f.a, sv->f.db, sv->f.account, sv->f.p.id, version,
				    sv->f.a->conf.max_upload_size + 1, 0, url, sizeof(url), id),
			 AM_ERR_TOOBIG);
	assert_int_equal(upload_new(sv->f.a, sv->f.db, sv->f.account, sv->f.p.id, version, 100, 50,
				    url, sizeof(url), id),
			 AM_ERR_TOOBIG);
	/* quota: checked again when the first byte comes */
	new_upload(sv, (int64_t)n, url, version);
	media_set_quota(sv->m, (int64_t)n + 500); /* + the open 1,000-byte upload above */
	/* (a small body: the refusal may close the connection unread) */
	assert_int_equal(patch(sv, sv->curl, url, 0, file, 16, 16, NULL, &r), 413);
	assert_true(resp_header(&r, "Upload-Error", why, sizeof(why)));
	assert_non_null(strstr(why, "quota"));
	resp_cleanup(&r);
	media_set_quota(sv->m, 0);
	assert_int_equal(store_count(sv), before);
	/* a forged upload URL: 403. The refusal comes before the body is read and
	 * the connection is closed, so a large body could meet a reset before
	 * its 403 is read: a small one keeps the answer observable. */
	url[strlen(url) - 2] ^= 1;
	assert_int_equal(patch(sv, sv->curl, url, 0, file, 16, 16, NULL, &r), 403);
	resp_cleanup(&r);
	free(file);
}

/* The PATCH bounds check never adds what the client sent: every extreme
 * of offset (< 2^53, media_tus_offset) and Content-Length (<= INT64_MAX). */
static void patch_fits(void **state)
{
	const int64_t big = (INT64_C(1) << 53) - 1;

	(void)state;
	assert_true(media_tus_patch_fits(0, 1000, 1000));
	assert_true(media_tus_patch_fits(400, 600, 1000));
	assert_true(media_tus_patch_fits(1000, 0, 1000));
	assert_false(media_tus_patch_fits(400, 601, 1000));
	assert_false(media_tus_patch_fits(1001, 0, 1000));
	assert_false(media_tus_patch_fits(big, INT64_MAX, 1000));
	assert_false(media_tus_patch_fits(1, INT64_MAX, 1000));
	assert_false(media_tus_patch_fits(INT64_MAX, INT64_MAX, INT64_MAX - 1));
	assert_true(media_tus_patch_fits(big, INT64_MAX - big, INT64_MAX));
	assert_false(media_tus_patch_fits(big, INT64_MAX - big + 1, INT64_MAX));
	assert_false(media_tus_patch_fits(-1, 0, 1000));
	assert_false(media_tus_patch_fits(0, -1, 1000));
	assert_false(media_tus_patch_fits(0, 0, -1));
}

static void upload_gc(void **state)
{
	struct srv *sv = *state;
	size_t n = 200000;
	uint8_t *file = test_file(n), version[16];
	char url[ACCESS_URL_MAX];
	struct resp r;
	int removed = -1, before = store_count(sv);

	new_upload(sv, (int64_t)n, url, version);
	patch(sv, sv->curl, url, 0, file, n, 100000, NULL, &r);
	resp_cleanup(&r);
	for (int i = 0; i < 100 && head_offset(sv, url) == 0; i++)
		usleep(10000);
	assert_true(head_offset(sv, url) > 0);
	assert_int_equal(store_count(sv), before + 1);
	assert_int_equal(upload_gc_abandoned(sv->f.a, am_now(), &removed), 0);
	assert_int_equal(removed, 0); /* not abandoned yet */
	assert_int_equal(upload_gc_abandoned(sv->f.a, am_now() + 2 * 86400, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(store_count(sv), before);
	/* removed, and its version failed for good, not left 'uploading' */
	version_failed_with(sv, version, UPLOAD_EXPIRED);
	free(file);
}

/* ---- the data directory holds no plaintext audio --------------------------------- */

static int plaintext_found;

static int scan_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	static const struct {
		const char *m;
		size_t n;
	} magic[] = {{"RIFF", 4}, {"fLaC", 4}, {"ID3\x03\x00", 5}, {"ID3\x04\x00", 5},
		     {"OggS", 4}, {"ftyp", 4}, {"WAVEfmt", 7}};
	FILE *fp;
	uint8_t *buf;
	size_t n;

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode) || !(fp = fopen(path, "rb")))
		return 0;
	buf = malloc((size_t)st->st_size + 1);
	n = buf ? fread(buf, 1, (size_t)st->st_size, fp) : 0;
	fclose(fp);
	/* A 4-byte magic turns up by chance in megabytes of ciphertext now and
	 * then, so short ones are looked for where a plaintext file or an
	 * unencrypted AM1 payload would put them; longer ones (and the canary)
	 * anywhere. */
	static const size_t at[] = {0, 4, 48, 52};
	for (size_t i = 0; buf && i < AM_ARRAY_LEN(magic); i++) {
		int hit = 0;
		if (magic[i].n > 4)
			hit = memmem(buf, n, magic[i].m, magic[i].n) != NULL;
		for (size_t k = 0; magic[i].n <= 4 && k < AM_ARRAY_LEN(at); k++)
			hit |= n >= at[k] + magic[i].n &&
			       memcmp(buf + at[k], magic[i].m, magic[i].n) == 0;
		if (hit) {
			fprintf(stderr, "plaintext %s in %s\n", magic[i].m, path);
			plaintext_found++;
		}
	}
	if (buf && memmem(buf, n, canary, sizeof(canary))) {
		fprintf(stderr, "canary in %s\n", path);
		plaintext_found++;
	}
	free(buf);
	return 0;
}

static void data_dir_has_no_plaintext(void **state)
{
	struct srv *sv = *state;

	upload_whole(state);
	upload_resumed(state);
	upload_gc(state);
	plaintext_found = 0;
	assert_int_equal(nftw(sv->f.dir, scan_file, 16, FTW_PHYS), 0);
	assert_int_equal(plaintext_found, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(patch_fits),
	    cmocka_unit_test_setup_teardown(upload_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(upload_resumed, setup, teardown),
	    cmocka_unit_test_setup_teardown(upload_jobs_full, setup, teardown_gated),
	    cmocka_unit_test_setup_teardown(upload_waits_for_job, setup, teardown_gated),
	    cmocka_unit_test_setup_teardown(upload_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(upload_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(upload_store_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(upload_gc, setup, teardown),
	    cmocka_unit_test_setup_teardown(data_dir_has_no_plaintext, setup, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
