/*
 * export_bench.c: fixture maker for bench/export.sh. In an initialised data
 * directory, creates an owner (EMAIL), a live session row for it, a project
 * with one track whose original is SIZE_MIB MiB of generated audio-like
 * bytes written straight through the store and the AM1 writer (no HTTP, so
 * a 2 GiB original takes seconds), and prints the signed export URL path
 * (/m/export/…, valid 30 min) on stdout. Benchmark tooling only: runs with
 * the operator's privileges on a throw-away data directory.
 *
 *   export_bench DATA_DIR EMAIL SIZE_MIB
 *
 * The AUDIOMUS_* environment variables apply as for audiomus itself (for
 * instance AUDIOMUS_DATABASE for a PostgreSQL database).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "app/app.h"
#include "conf/conf.h"
#include "crypto/crypto_int.h"
#include "repo/repo.h"
#include "store/store.h"
#include "util/util.h"

#define CHUNK (1u << 20)

/* Stream size bytes into a new ready original of version v. */
static int write_original(struct app *a, struct db *db, const uint8_t pid[16], const uint8_t pk[32],
			  const uint8_t vid[16], uint64_t size)
{
	struct db_object o;
	struct store_am1_put ap = {0};
	struct am1_sink sink;
	struct am1_writer *w = NULL;
	uint8_t dek[32], *buf = malloc(CHUNK);
	uint64_t ps = 0, cs = 0, left = size;
	uint32_t seed = 1;
	int rc;

	memset(&o, 0, sizeof(o));
	if (!buf)
		return AM_ERR_NOMEM;
	if ((rc = crypto_random_id(o.id)) || (rc = crypto_key_new(dek)) ||
	    (rc = crypto_dek_wrap(pk, o.id, pid, dek, o.wrapped_dek)) ||
	    (rc = store_key_format(o.store_key, sizeof(o.store_key), "orig", o.id, NULL)) ||
	    (rc = store_am1_put_begin(a->store, o.store_key, 0, &ap, &sink, NULL)) ||
	    (rc = am1_writer_new(dek, o.id, &sink, 0, &w)))
		goto out;
	for (size_t i = 0; i < CHUNK; i++) {
		seed = seed * 1664525 + 1013904223;
		buf[i] = (uint8_t)(seed >> 24);
	}
	memcpy(buf, "RIFF", 4);
	while (left > 0 && rc == 0) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		rc = am1_writer_write(w, buf, n);
		buf[4] ^= 1; /* chunks differ a little */
		left -= n;
	}
	if (rc || (rc = am1_writer_finish(w, &ps, &cs)) ||
	    (rc = store_put_commit(ap.put, NULL, NULL))) {
		if (ap.put)
			store_put_abort(ap.put);
		goto out;
	}
	o.wrapped_dek_len = CRYPTO_WRAPPED_LEN;
	memcpy(o.version_id, vid, 16);
	o.has_version = 1;
	snprintf(o.kind, sizeof(o.kind), "original");
	snprintf(o.content_type, sizeof(o.content_type), "audio/wav");
	snprintf(o.state, sizeof(o.state), "pending");
	o.plain_size = (int64_t)ps;
	o.cipher_size = (int64_t)cs;
	if ((rc = db_object_create(db, pid, &o)) == 0)
		rc = db_object_ready(db, pid, o.id, (int64_t)ps, (int64_t)cs);
out:
	am1_writer_free(w);
	am_memzero(dek, sizeof(dek));
	free(buf);
	return rc;
}

static int make(struct app *a, struct db *db, const char *email, uint64_t size, char *url)
{
	uint8_t acct[16], sid[16], th[32], pid[16], pk[32], wrapped[CRYPTO_WRAPPED_LEN], tid[16],
	    vid[16];
	struct access_export x;
	int64_t num;
	int rc;

	if ((rc = db_account_create(db, a->keys, email, "$argon2id$bench", acct)) ||
	    (rc = crypto_random(th, sizeof(th))) ||
	    (rc = db_session_create(db, a->keys, acct, th, am_now_ms() + 86400000, "bench", sid)) ||
	    (rc = crypto_random_id(pid)) || (rc = crypto_key_new(pk)) ||
	    (rc = crypto_pk_wrap(a->kr, pid, pk, wrapped)) ||
	    (rc = db_project_create(db, a->keys, acct, pid, wrapped, sizeof(wrapped),
				    keyring_mk_id(a->kr), "Bench EP")) ||
	    (rc = db_track_create(db, a->keys, pid, "Long take", 0, tid)) ||
	    (rc = db_version_create(db, a->keys, pid, tid, "long-take.wav", vid, &num)) ||
	    (rc = write_original(a, db, pid, pk, vid, size)))
		goto out;
	memset(&x, 0, sizeof(x));
	memcpy(x.account_id, acct, 16);
	memcpy(x.session_id, sid, 16);
	x.expires = am_now() + ACCESS_EXPORT_CAP;
	rc = access_export_sign(a, &x, url, ACCESS_URL_MAX);
out:
	am_memzero(pk, sizeof(pk));
	return rc;
}

int main(int argc, char **argv)
{
	struct conf c;
	struct app *a = NULL;
	struct db *db = NULL;
	char err[512], url[ACCESS_URL_MAX];
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: export_bench DATA_DIR EMAIL SIZE_MIB\n");
		return 2;
	}
	conf_defaults(&c);
	snprintf(c.data_dir, sizeof(c.data_dir), "%s", argv[1]);
	/* AUDIOMUS_DATABASE etc. (tests/e2e/export_memory.test.mjs on PostgreSQL) */
	if (conf_apply_env(&c, err, sizeof(err)) || conf_finish(&c, err, sizeof(err)) ||
	    app_open(&c, APP_DB | APP_STORE, &a, err, sizeof(err))) {
		fprintf(stderr, "export_bench: %s\n", err);
		return 1;
	}
	if ((rc = app_db_get(a, &db)) == 0) {
		rc = make(a, db, argv[2], (uint64_t)strtoull(argv[3], NULL, 10) << 20, url);
		app_db_put(a, db);
	}
	app_close(a);
	if (rc) {
		fprintf(stderr, "export_bench: %s\n", am_strerror(rc));
		return 1;
	}
	printf("%s\n", url);
	return 0;
}
