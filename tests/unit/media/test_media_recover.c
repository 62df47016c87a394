/*
 * Uploads whose every byte was recorded but that were never completed: the
 * media node died between recording its last part and the completion
 * (docs/media.md "Recovery"). The crash state is built through the
 * repository layer the way a dying node leaves it (parts committed to the
 * store and recorded, the last lease never released). Then: a plain HEAD
 * completes it; housekeeping completes it with nobody asking; several
 * nodes at once complete it exactly once; a live lease is respected, also
 * through a slow (stalled) completion; a partial, broken (cut short,
 * tampered, missing, not audio) or nearly expired upload is not completed
 * and is removed at its expiry as before; a store failure releases the
 * lease for the next try.
 */
#include "media/media_http.inc"

#include "worker/worker.h"

#define MAX_PARTS 8

struct crashed {
	char url[ACCESS_URL_MAX];
	uint8_t id[16], version[16];
	char key[MAX_PARTS][DB_STOREKEY_MAX + 1]; /* the parts' store keys */
	int nparts;
};

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

/* The test hooks are read with getenv on server threads: set them before the
 * server starts, clear them after it stopped. They exist only in a test build
 * (AM_TEST_HOOKS: the unit tests link $(BUILD)/hooks/libaudiomus.a). */
static int setup_stall(void **state)
{
	if (!am_test_hooks())
		fail_msg(
		    "needs the upload test hooks, but the binary was linked without AM_TEST_HOOKS");
	setenv("AUDIOMUS_TESTING", "1", 1);
	setenv("AUDIOMUS_TEST_UPLOAD_STALL_MS", "2000", 1);
	setenv("AUDIOMUS_TEST_UPLOAD_LEASE_MS", "500", 1);
	return setup(state);
}

static int teardown_stall(void **state)
{
	int rc = teardown(state);

	unsetenv("AUDIOMUS_TEST_UPLOAD_STALL_MS");
	unsetenv("AUDIOMUS_TEST_UPLOAD_LEASE_MS");
	unsetenv("AUDIOMUS_TESTING");
	return rc;
}

/* A WAV-looking test file. */
static uint8_t *test_file(size_t n)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	assert_int_equal(crypto_random(p, n), 0);
	memcpy(p, "RIFF\x24\x00\x10\x00WAVEfmt ", 16);
	return p;
}

/* Store p[0..n) as part seq at start of upload id the way a PATCH does:
 * take the lease (lease_ms from now; negative: already expired), write an
 * AM1 part, record it. Every part but the last releases its lease as the
 * PATCH's end does; after the last one the node "dies" holding it. */
static void put_part(struct srv *sv, const uint8_t id[16], int64_t seq, int64_t start,
		     const uint8_t *p, size_t n, int last, int64_t lease_ms, char *key)
{
	struct db_upload_part part;
	struct db_project pr;
	struct store_am1_put ap = {0};
	struct am1_sink sink;
	struct am1_writer *w = NULL;
	uint8_t pk[32], dek[32], token[16];
	uint64_t ps = 0, cs = 0;

	memset(&part, 0, sizeof(part));
	assert_int_equal(crypto_random_id(token), 0);
	assert_int_equal(
	    db_upload_lock(sv->f.db, sv->f.p.id, id, start, token, am_now_ms(), lease_ms), 0);
	assert_int_equal(db_project_get_by_id(sv->f.db, sv->f.a->keys, sv->f.p.id, &pr), 0);
	assert_int_equal(
	    crypto_pk_unwrap(sv->f.a->kr, sv->f.p.id, pr.wrapped_pk, pr.wrapped_pk_len, pk), 0);
	assert_int_equal(crypto_random_id(part.part_id), 0);
	assert_int_equal(crypto_key_new(dek), 0);
	assert_int_equal(crypto_dek_wrap(pk, part.part_id, sv->f.p.id, dek, part.wrapped_dek), 0);
	part.wrapped_dek_len = CRYPTO_WRAPPED_LEN;
	part.seq = seq;
	part.start = start;
	assert_int_equal(store_key_format(part.store_key, sizeof(part.store_key),
					  start == 0 ? "orig" : "upart", part.part_id, NULL),
			 0);
	assert_int_equal(store_am1_put_begin(sv->f.a->store, part.store_key, 0, &ap, &sink, NULL),
			 0);
	assert_int_equal(am1_writer_new(dek, part.part_id, &sink, 0, &w), 0);
	assert_int_equal(am1_writer_write(w, p, n), 0);
	assert_int_equal(am1_writer_finish(w, &ps, &cs), 0);
	am1_writer_free(w);
	assert_int_equal(store_put_commit(ap.put, NULL, NULL), 0);
	part.plain_size = (int64_t)ps;
	part.cipher_size = (int64_t)cs;
	assert_int_equal(db_upload_add_part(sv->f.db, id, token, &part), 0);
	if (!last)
		assert_int_equal(db_upload_unlock(sv->f.db, id, token), 0);
	snprintf(key, DB_STOREKEY_MAX + 1, "%s", part.store_key);
}

/* An upload of n bytes of which the first `have` were stored in nparts
 * parts by a node that then died holding the lease (lease_ms from now). */
static void crashed_upload(struct srv *sv, const uint8_t *file, size_t n, size_t have, int nparts,
			   int64_t lease_ms, struct crashed *c)
{
	size_t at = 0;
	int64_t num;

	assert_true(nparts >= 1 && nparts <= MAX_PARTS);
	memset(c, 0, sizeof(*c));
	assert_int_equal(db_version_create(sv->f.db, sv->f.a->keys, sv->f.p.id, sv->f.p.track,
					   "take.wav", c->version, &num),
			 0);
	assert_int_equal(upload_new(sv->f.a, sv->f.db, sv->f.account, sv->f.p.id, c->version,
				    (int64_t)n, 0, c->url, sizeof(c->url), c->id),
			 0);
	for (int i = 0; i < nparts; i++) {
		size_t len = i + 1 == nparts ? have - at : have / (size_t)nparts;

		put_part(sv, c->id, i, (int64_t)at, file + at, len, i + 1 == nparts, lease_ms,
			 c->key[i]);
		at += len;
	}
	c->nparts = nparts;
}

static void upload_row(struct srv *sv, const struct crashed *c, struct db_upload *u)
{
	assert_int_equal(db_upload_get(sv->f.db, sv->f.p.id, c->id, u), 0);
}

static int64_t count(struct srv *sv, const char *sql, const uint8_t *id)
{
	struct db_stmt *st = NULL;
	int64_t n;

	assert_int_equal(db_prepare(sv->f.db, sql, &st), 0);
	if (id)
		db_bind_id(st, 1, id);
	assert_int_equal(db_step(st), DB_ROW);
	n = db_column_int64(st, 0);
	db_finalize(st);
	return n;
}

static int64_t originals(struct srv *sv, const uint8_t version[16])
{
	return count(sv, "SELECT COUNT(*) FROM objects WHERE version_id = $1 AND kind = 'original'",
		     version);
}

static int64_t jobs(struct srv *sv)
{
	return count(sv, "SELECT COUNT(*) FROM jobs WHERE kind = 'transcode'", NULL);
}

static void version_state(struct srv *sv, const uint8_t version[16], const char *want)
{
	struct db_version v;

	assert_int_equal(db_version_get(sv->f.db, sv->f.a->keys, sv->f.p.id, version, &v), 0);
	assert_string_equal(v.state, want);
}

/* Completed once: the version queued with one original whose plaintext is
 * the file, the upload complete, its parts gone from the books. */
static void check_completed(struct srv *sv, const struct crashed *c, const uint8_t *file, size_t n)
{
	struct am_buf got;
	struct db_object o;
	struct db_upload u;
	uint8_t h1[32], h2[32];

	am_buf_init(&got, n + 1);
	assert_int_equal(fx_read_original(&sv->f, sv->f.p.id, c->version, &got, &o), 0);
	assert_int_equal(got.len, n);
	crypto_sha256(got.p, got.len, h1);
	crypto_sha256(file, n, h2);
	assert_memory_equal(h1, h2, 32);
	assert_string_equal(o.content_type, "audio/wav");
	am_buf_cleanup(&got);
	version_state(sv, c->version, "queued");
	assert_int_equal(originals(sv, c->version), 1);
	upload_row(sv, c, &u);
	assert_string_equal(u.state, "complete");
	assert_int_equal(count(sv, "SELECT COUNT(*) FROM upload_parts WHERE upload_id = $1", c->id),
			 0);
}

/* Not completed, and nothing of a completion left behind. */
static void check_open(struct srv *sv, const struct crashed *c, int64_t received)
{
	struct db_upload u;

	upload_row(sv, c, &u);
	assert_string_equal(u.state, "open");
	assert_int_equal(u.received, received);
	version_state(sv, c->version, "uploading");
	assert_int_equal(originals(sv, c->version), 0);
}

static int64_t head(struct srv *sv, const char *url)
{
	const char *h[] = {"Tus-Resumable: 1.0.0", NULL};
	struct resp r;
	char v[64];
	int64_t off = -1, len = -1;

	assert_int_equal(http_get(sv, "HEAD", url, &r, h), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_true(resp_header(&r, "Upload-Offset", v, sizeof(v)));
	assert_int_equal(am_parse_i64(v, 0, INT64_MAX, &off), 0);
	assert_true(resp_header(&r, "Upload-Length", v, sizeof(v)));
	assert_int_equal(am_parse_i64(v, 0, INT64_MAX, &len), 0);
	assert_true(off <= len);
	resp_cleanup(&r);
	return off;
}

/* PATCH p[0..n) at offset with handle c (the whole body at once). */
static long patch(struct srv *sv, CURL *c, const char *url, int64_t offset, const uint8_t *p,
		  size_t n, struct resp *r)
{
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
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)p);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	curl_slist_free_all(h);
	return status;
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

/* The file behind a store key (file store: objects/NS/AB/CD/ID). */
static void key_path(struct srv *sv, const char *key, char *out, size_t n)
{
	const char *id = strchr(key, '/') + 1;

	snprintf(out, n, "%s/objects/%.*s/%.2s/%.2s/%s", sv->f.dir, (int)(id - key - 1), key, id,
		 id + 2, id);
}

/* ---- completion by HEAD, by housekeeping ------------------------------------------- */

static void head_completes(void **state)
{
	struct srv *sv = *state;
	size_t n = 300000;
	uint8_t *file = test_file(n);
	struct crashed one, three;
	int before = store_count(sv);
	int64_t j0 = jobs(sv);

	/* one PATCH (its part is the original) and a resumed upload of three */
	crashed_upload(sv, file, n, n, 1, -1, &one);
	crashed_upload(sv, file, n, n, 3, -1, &three);
	assert_int_equal(store_count(sv), before + 4);
	assert_int_equal(head(sv, one.url), (int64_t)n);
	check_completed(sv, &one, file, n);
	assert_int_equal(head(sv, three.url), (int64_t)n);
	check_completed(sv, &three, file, n);
	assert_int_equal(jobs(sv), j0 + 2);
	/* the single part became the original; three parts became one */
	assert_int_equal(store_count(sv), before + 2);
	/* once: more HEADs, an empty PATCH, housekeeping change nothing */
	assert_int_equal(head(sv, one.url), (int64_t)n);
	assert_int_equal(head(sv, three.url), (int64_t)n);
	struct resp r;
	assert_int_equal(patch(sv, sv->curl, one.url, (int64_t)n, file, 1, &r), 404);
	resp_cleanup(&r);
	int done = -1;
	assert_int_equal(upload_recover(sv->f.a, am_now_ms(), &done, NULL), 0);
	assert_int_equal(done, 0);
	assert_int_equal(jobs(sv), j0 + 2);
	assert_int_equal(originals(sv, one.version), 1);
	free(file);
}

static void housekeeping_completes(void **state)
{
	struct srv *sv = *state;
	size_t n = 200000;
	uint8_t *file = test_file(n);
	struct crashed a, b;
	struct worker_hk_stats st;
	int64_t j0 = jobs(sv);

	crashed_upload(sv, file, n, n, 1, -1, &a);
	crashed_upload(sv, file, n, n, 2, -1, &b);
	assert_int_equal(worker_housekeeping(sv->f.a, am_now_ms(), &st), 0);
	assert_int_equal(st.recovered, 2);
	assert_int_equal(st.uploads, 0); /* completed, not cleaned up */
	check_completed(sv, &a, file, n);
	check_completed(sv, &b, file, n);
	assert_int_equal(jobs(sv), j0 + 2);
	assert_int_equal(worker_housekeeping(sv->f.a, am_now_ms(), &st), 0);
	assert_int_equal(st.recovered, 0);
	assert_int_equal(jobs(sv), j0 + 2);
	free(file);
}

/* ---- exactly once across nodes ------------------------------------------------------- */

struct racer {
	struct srv *sv;
	const char *url; /* NULL: housekeeping */
	volatile int *go;
	int done;
};

static void *race_main(void *arg)
{
	struct racer *r = arg;

	while (!*r->go)
		;
	if (r->url) {
		/* a HEAD of its own (the shared handle is not thread-safe) */
		CURL *c = curl_easy_init();
		char url[2048];

		snprintf(url, sizeof(url), "%s%s", r->sv->base, r->url);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		r->done = curl_easy_perform(c) == CURLE_OK ? 0 : -1;
		curl_easy_cleanup(c);
	} else {
		(void)upload_recover(r->sv->f.a, am_now_ms(), &r->done, NULL);
	}
	return NULL;
}

static void several_nodes_complete_once(void **state)
{
	struct srv *sv = *state;
	size_t n = 150000;
	uint8_t *file = test_file(n);
	struct crashed c[4];
	struct racer r[6];
	pthread_t t[6];
	volatile int go = 0;
	int64_t j0 = jobs(sv), by_hk = 0;

	for (int i = 0; i < 4; i++)
		crashed_upload(sv, file, n, n, 1 + i % 2, -1, &c[i]);
	/* three housekeepers (three worker nodes) and three HEADs at once */
	for (int i = 0; i < 6; i++) {
		r[i] = (struct racer){sv, i < 3 ? NULL : c[i - 3].url, &go, 0};
		assert_int_equal(pthread_create(&t[i], NULL, race_main, &r[i]), 0);
	}
	go = 1;
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 3; i++)
		by_hk += r[i].done;
	for (int i = 0; i < 4; i++)
		check_completed(sv, &c[i], file, n);
	assert_int_equal(jobs(sv), j0 + 4); /* one transcode job per upload */
	assert_true(by_hk >= 1 && by_hk <= 4);
	free(file);
}

/* ---- a live node is left alone -------------------------------------------------------- */

static void live_lease_respected(void **state)
{
	struct srv *sv = *state;
	size_t n = 120000;
	uint8_t *file = test_file(n);
	struct crashed c;
	int done = -1;

	crashed_upload(sv, file, n, n, 2, 60000, &c); /* still held for a minute */
	assert_int_equal(head(sv, c.url), (int64_t)n);
	check_open(sv, &c, (int64_t)n);
	assert_int_equal(upload_recover(sv->f.a, am_now_ms(), &done, NULL), 0);
	assert_int_equal(done, 0);
	check_open(sv, &c, (int64_t)n);
	/* once the lease has run out, the node is taken for dead */
	assert_int_equal(upload_recover(sv->f.a, am_now_ms() + 61000, &done, NULL), 0);
	assert_int_equal(done, 1);
	check_completed(sv, &c, file, n);
	free(file);
}

struct slow_patch {
	struct srv *sv;
	const char *url;
	const uint8_t *file;
	size_t n;
	long status;
};

static void *slow_main(void *arg)
{
	struct slow_patch *sp = arg;
	CURL *c = curl_easy_init();
	struct resp r;

	sp->status = patch(sp->sv, c, sp->url, 0, sp->file, sp->n, &r);
	resp_cleanup(&r);
	curl_easy_cleanup(c);
	return NULL;
}

/* A completion that takes longer than its lease (the stall hook: 2 s with a
 * 500 ms lease) keeps extending it: neither a HEAD nor housekeeping takes
 * it over, and it completes once. */
static void slow_completion_keeps_its_lease(void **state)
{
	struct srv *sv = *state;
	size_t n = 100000;
	uint8_t *file = test_file(n), id[16];
	struct crashed c;
	struct slow_patch sp = {sv, c.url, file, n, 0};
	struct db_upload u;
	pthread_t t;
	int64_t num, j0 = jobs(sv);
	int done = -1;

	memset(&c, 0, sizeof(c));
	assert_int_equal(db_version_create(sv->f.db, sv->f.a->keys, sv->f.p.id, sv->f.p.track,
					   "slow.wav", c.version, &num),
			 0);
	assert_int_equal(upload_new(sv->f.a, sv->f.db, sv->f.account, sv->f.p.id, c.version,
				    (int64_t)n, 0, c.url, sizeof(c.url), id),
			 0);
	memcpy(c.id, id, 16);
	assert_int_equal(pthread_create(&t, NULL, slow_main, &sp), 0);
	/* every byte recorded: the completion is stalled behind it */
	for (int i = 0; i < 1000; i++) {
		upload_row(sv, &c, &u);
		if (u.received == (int64_t)n)
			break;
		usleep(10000);
	}
	assert_int_equal(u.received, (int64_t)n);
	for (int i = 0; i < 3; i++) { /* well past one lease of 500 ms */
		usleep(400000);
		assert_int_equal(head(sv, c.url), (int64_t)n);
		assert_int_equal(upload_recover(sv->f.a, am_now_ms(), &done, NULL), 0);
		assert_int_equal(done, 0);
		upload_row(sv, &c, &u);
		if (strcmp(u.state, "open") != 0)
			break; /* a slow machine: the stall already ended */
		assert_true(u.lock_until > am_now_ms());
	}
	pthread_join(t, NULL);
	assert_int_equal(sp.status, 204);
	check_completed(sv, &c, file, n);
	assert_int_equal(jobs(sv), j0 + 1);
	free(file);
}

/* ---- not completed: partial, broken, about to expire ------------------------------------ */

static void partial_not_completed(void **state)
{
	struct srv *sv = *state;
	size_t n = 200000;
	uint8_t *file = test_file(n);
	struct crashed c;
	struct db_upload u;
	int done = -1, removed = -1, before = store_count(sv);

	crashed_upload(sv, file, n, n / 2, 2, -1, &c);
	assert_int_equal(head(sv, c.url), (int64_t)n / 2);
	assert_int_equal(upload_recover(sv->f.a, am_now_ms(), &done, NULL), 0);
	assert_int_equal(done, 0);
	check_open(sv, &c, (int64_t)n / 2);
	upload_row(sv, &c, &u);
	assert_true(u.lock_until <= am_now_ms()); /* untouched: resumable at once */
	/* the client resumes where HEAD said: the rest completes it */
	struct resp r;
	assert_int_equal(patch(sv, sv->curl, c.url, (int64_t)n / 2, file + n / 2, n - n / 2, &r),
			 204);
	resp_cleanup(&r);
	check_completed(sv, &c, file, n);
	/* and one left half done is removed at its expiry as before */
	crashed_upload(sv, file, n, n / 3, 1, -1, &c);
	assert_int_equal(upload_gc_abandoned(sv->f.a, am_now() + 2 * 86400, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(store_count(sv), before + 1);
	free(file);
}

enum damage { CUT_SHORT, TAMPERED, MISSING, NOT_AUDIO, LATER_PART_TAMPERED };

static void damage(struct srv *sv, const char *key, enum damage d)
{
	char path[512];
	struct stat sb;
	FILE *fp;
	int ch;

	key_path(sv, key, path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	switch (d) {
	case CUT_SHORT: assert_int_equal(truncate(path, sb.st_size - 1000), 0); break;
	case MISSING: assert_int_equal(unlink(path), 0); break;
	case TAMPERED:
	case LATER_PART_TAMPERED:
		fp = fopen(path, "r+b");
		assert_non_null(fp);
		assert_int_equal(fseek(fp, sb.st_size / 2, SEEK_SET), 0);
		ch = fgetc(fp);
		assert_int_equal(fseek(fp, sb.st_size / 2, SEEK_SET), 0);
		fputc(ch ^ 0x20, fp);
		fclose(fp);
		break;
	case NOT_AUDIO: break;
	}
}

static void broken_not_completed(void **state)
{
	struct srv *sv = *state;
	size_t n = 200000;
	uint8_t *file = test_file(n), *html = test_file(n);
	struct crashed c;
	struct db_upload u;
	int done = -1, removed = -1, before = store_count(sv);
	int64_t j0 = jobs(sv);

	memcpy(html, "<html><body>", 12);
	for (int d = CUT_SHORT; d <= LATER_PART_TAMPERED; d++) {
		int multi = d == LATER_PART_TAMPERED;

		crashed_upload(sv, d == NOT_AUDIO ? html : file, n, n, multi ? 3 : 1, -1, &c);
		damage(sv, c.key[multi ? 2 : 0], (enum damage)d);
		/* HEAD says what is stored; nothing is completed */
		assert_int_equal(head(sv, c.url), (int64_t)n);
		check_open(sv, &c, (int64_t)n);
		assert_int_equal(jobs(sv), j0);
		/* found broken: held until it expires, so nobody tries again */
		upload_row(sv, &c, &u);
		assert_int_equal(u.lock_until, u.expires);
		assert_int_equal(upload_recover(sv->f.a, am_now_ms(), &done, NULL), 0);
		assert_int_equal(done, 0);
		assert_int_equal(head(sv, c.url), (int64_t)n);
		check_open(sv, &c, (int64_t)n);
	}
	/* no copy of a broken upload was left in the store: parts only */
	assert_int_equal(store_count(sv), before + 1 + 1 + 0 + 1 + 3);
	/* the clean-up removes them at their expiry, as any abandoned upload */
	assert_int_equal(upload_gc_abandoned(sv->f.a, am_now() + 2 * 86400, &removed), 0);
	assert_int_equal(removed, 5);
	assert_int_equal(store_count(sv), before);
	free(file);
	free(html);
}

/* The dashboard's empty final PATCH after a crash completes bytes another
 * request stored: it checks all of them too. */
static void empty_patch_checks_the_stored_bytes(void **state)
{
	struct srv *sv = *state;
	size_t n = 200000;
	uint8_t *file = test_file(n);
	struct crashed bad, good;
	struct resp r;

	crashed_upload(sv, file, n, n, 1, -1, &bad);
	damage(sv, bad.key[0], TAMPERED); /* in the second of four segments */
	assert_int_not_equal(patch(sv, sv->curl, bad.url, (int64_t)n, file, 0, &r), 204);
	resp_cleanup(&r);
	check_open(sv, &bad, (int64_t)n);
	crashed_upload(sv, file, n, n, 1, -1, &good);
	assert_int_equal(patch(sv, sv->curl, good.url, (int64_t)n, file, 0, &r), 204);
	resp_cleanup(&r);
	check_completed(sv, &good, file, n);
	free(file);
}

/* Found by housekeeping rather than a HEAD: the same verdict. */
static void broken_not_completed_by_housekeeping(void **state)
{
	struct srv *sv = *state;
	size_t n = 100000;
	uint8_t *file = test_file(n);
	struct crashed c;
	struct db_upload u;
	int done = -1;

	crashed_upload(sv, file, n, n, 2, -1, &c);
	damage(sv, c.key[0], TAMPERED);
	assert_int_equal(upload_recover(sv->f.a, am_now_ms(), &done, NULL), 0);
	assert_int_equal(done, 0);
	check_open(sv, &c, (int64_t)n);
	upload_row(sv, &c, &u);
	assert_int_equal(u.lock_until, u.expires);
	free(file);
}

static void near_expiry_left_to_cleanup(void **state)
{
	struct srv *sv = *state;
	size_t n = 100000;
	uint8_t *file = test_file(n);
	struct crashed c;
	struct db_stmt *st = NULL;
	int done = -1;

	crashed_upload(sv, file, n, n, 1, -1, &c);
	/* 10 minutes before its row expires (its URL died 50 minutes ago) */
	assert_int_equal(db_prepare(sv->f.db, "UPDATE uploads SET expires = $2 WHERE id = $1", &st),
			 0);
	db_bind_id(st, 1, c.id);
	db_bind_int64(st, 2, am_now_ms() + 10 * 60 * 1000);
	assert_int_equal(db_step(st), DB_DONE);
	db_finalize(st);
	assert_int_equal(upload_recover(sv->f.a, am_now_ms(), &done, NULL), 0);
	assert_int_equal(done, 0);
	check_open(sv, &c, (int64_t)n);
	free(file);
}

/* A failure of the store (not of the upload) releases the lease: the next
 * try completes it. The store is made to fail by a non-directory where the
 * part's directory was (refused as IO, not "not found"). */
static void store_failure_releases_the_lease(void **state)
{
	struct srv *sv = *state;
	size_t n = 100000;
	uint8_t *file = test_file(n);
	struct crashed c;
	struct db_upload u;
	char path[512], dir[512], aside[600];
	int done = -1;
	FILE *fp;

	crashed_upload(sv, file, n, n, 1, -1, &c);
	key_path(sv, c.key[0], path, sizeof(path));
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = 0;
	snprintf(aside, sizeof(aside), "%s.aside", dir);
	assert_int_equal(rename(dir, aside), 0);
	assert_non_null(fp = fopen(dir, "w"));
	fclose(fp);
	assert_int_equal(upload_recover(sv->f.a, am_now_ms(), &done, NULL), 0);
	assert_int_equal(done, 0);
	check_open(sv, &c, (int64_t)n);
	upload_row(sv, &c, &u);
	assert_true(u.lock_until <= am_now_ms()); /* released, not held */
	assert_int_equal(unlink(dir), 0);
	assert_int_equal(rename(aside, dir), 0);
	assert_int_equal(head(sv, c.url), (int64_t)n);
	check_completed(sv, &c, file, n);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(head_completes, setup, teardown),
	    cmocka_unit_test_setup_teardown(housekeeping_completes, setup, teardown),
	    cmocka_unit_test_setup_teardown(several_nodes_complete_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(live_lease_respected, setup, teardown),
	    cmocka_unit_test_setup_teardown(slow_completion_keeps_its_lease, setup_stall,
					    teardown_stall),
	    cmocka_unit_test_setup_teardown(partial_not_completed, setup, teardown),
	    cmocka_unit_test_setup_teardown(broken_not_completed, setup, teardown),
	    cmocka_unit_test_setup_teardown(empty_patch_checks_the_stored_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(broken_not_completed_by_housekeeping, setup, teardown),
	    cmocka_unit_test_setup_teardown(near_expiry_left_to_cleanup, setup, teardown),
	    cmocka_unit_test_setup_teardown(store_failure_releases_the_lease, setup, teardown),
	};

	am_log_set_level(AM_LOG_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests_name("media (upload recovery)", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
