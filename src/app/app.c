/*
 * app.c: opening and closing what a role holds (see app.h). Runs at start in
 * every server process and administration command; handles the master key
 * and the account keys, which stay inside crypto/ handles (secret memory).
 */
#include "app/app.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "db/db.h"
#include "repo/repo.h"
#include "store/store.h"
#include "util/util.h"

#define KEYBLOB_ACCOUNT "account-key"
#define KEYBLOB_IP	"ip-ratchet"

/* db_keys callback: the project's field key, from its wrapped key. */
static int project_field_key(void *ctx, const uint8_t project_id[DB_ID_LEN], const uint8_t *wrapped,
			     size_t wrapped_len, const char *mk_id, struct crypto_field_key **out)
{
	struct app *a = ctx;

	*out = NULL;
	if (mk_id && *mk_id && strcmp(mk_id, keyring_mk_id(a->kr)) != 0)
		return AM_ERR_CRYPTO;
	return crypto_field_key_project(a->kr, project_id, wrapped, wrapped_len, out);
}

/* First start: create the account key and store it wrapped. AM_ERR_EXISTS
 * when another node stored one first (the new key is then dropped). */
static int create_account_key(struct app *a, struct db *db)
{
	uint8_t wrapped[CRYPTO_WRAPPED_LEN];
	int rc;

	if ((rc = crypto_account_keys_create(a->kr, wrapped, &a->account_field, &a->email_index)))
		return rc;
	rc = db_keyblob_put(db, KEYBLOB_ACCOUNT, keyring_mk_id(a->kr), wrapped, sizeof(wrapped), 1);
	if (rc) {
		crypto_field_key_free(a->account_field);
		crypto_field_key_free(a->email_index);
		a->account_field = a->email_index = NULL;
	}
	return rc;
}

/* Load the account keys, creating the account key on the very first start.
 * Two nodes starting at once: the first put wins, the loser reads the
 * winner's. */
static int load_account_key(struct app *a, struct db *db, char *err, size_t errlen)
{
	uint8_t blob[DB_KEYBLOB_MAX];
	size_t n = 0;
	int rc, created = 0;

	rc = db_keyblob_get(db, KEYBLOB_ACCOUNT, blob, sizeof(blob), &n, NULL, 0);
	if (rc == AM_ERR_NOTFOUND) {
		created = (rc = create_account_key(a, db)) == 0;
		if (rc == AM_ERR_EXISTS)
			rc = db_keyblob_get(db, KEYBLOB_ACCOUNT, blob, sizeof(blob), &n, NULL, 0);
	}
	if (rc == 0 && !created &&
	    (rc = crypto_account_keys_open(a->kr, blob, n, &a->account_field, &a->email_index)))
		snprintf(err, errlen,
			 "the account key in the database does not open with master key "
			 "%s: wrong key_file for this database?",
			 keyring_mk_id(a->kr));
	if (rc == 0) {
		a->keys->project_field_key = project_field_key;
		a->keys->ctx = a;
		a->keys->account_field_key = a->account_field;
		a->keys->email_index_key = a->email_index;
	}
	am_memzero(blob, sizeof(blob));
	if (rc && !*err)
		snprintf(err, errlen, "cannot load the account key: %s", am_strerror(rc));
	return rc;
}

/* Save the IP-ratchet state, replacing the old blob (which must not survive). */
static int save_ip_state(struct app *a, struct db *db)
{
	struct am_buf b;
	int rc;

	am_buf_init(&b, DB_KEYBLOB_MAX);
	rc = keyring_ip_save(a->kr, &b);
	if (rc == 0)
		rc = db_keyblob_put(db, KEYBLOB_IP, keyring_mk_id(a->kr), b.p, b.len, 0);
	am_buf_cleanup(&b);
	return rc;
}

static int load_ip_state(struct app *a, struct db *db, char *err, size_t errlen)
{
	uint8_t blob[DB_KEYBLOB_MAX];
	size_t n = 0;
	int changed = 0, rc;

	rc = db_keyblob_get(db, KEYBLOB_IP, blob, sizeof(blob), &n, NULL, 0);
	if (rc == AM_ERR_NOTFOUND) {
		if ((rc = keyring_ip_init(a->kr, am_now())) == 0)
			rc = save_ip_state(a, db);
	} else if (rc == 0) {
		if ((rc = keyring_ip_load(a->kr, blob, n)) == 0 &&
		    (rc = keyring_ip_advance(a->kr, am_now(), &changed)) == 0 && changed)
			rc = save_ip_state(a, db);
	}
	am_memzero(blob, sizeof(blob));
	if (rc)
		snprintf(err, errlen, "cannot load the IP-pseudonym key state: %s",
			 am_strerror(rc));
	return rc;
}

static int open_db(struct app *a, char *err, size_t errlen)
{
	struct db *db = NULL;
	int size = (int)a->conf.db_pool_size, rc;

	if (size == 0)
		size = (int)(a->conf.threads ? a->conf.threads : sysconf(_SC_NPROCESSORS_ONLN)) + 2;
	if ((rc = db_pool_new_tls(a->conf.secret->database, db_tls_parse(a->conf.database_tls),
				  size, &a->db, err, errlen)) != 0)
		return rc;
	if ((rc = db_pool_get(a->db, 5000, &db)) != 0) {
		snprintf(err, errlen, "database: no connection available");
		return rc;
	}
	if ((rc = db_migrate(db)) != 0) {
		snprintf(err, errlen, "database migration failed: %s", db_errmsg(db));
		goto out;
	}
	if ((rc = load_account_key(a, db, err, errlen)) != 0)
		goto out;
	rc = load_ip_state(a, db, err, errlen);
out:
	db_pool_put(a->db, db);
	return rc;
}

int app_open(const struct conf *c, unsigned need, struct app **out, char *err, size_t errlen)
{
	struct app *a = calloc(1, sizeof(*a));
	pthread_mutex_t *lock = calloc(1, sizeof(*lock));
	struct store_err serr;
	int rc = AM_ERR_NOMEM;

	*out = NULL;
	*err = 0;
	if (!a || !lock || !(a->keys = calloc(1, sizeof(*a->keys))))
		goto fail;
	pthread_mutex_init(lock, NULL);
	a->ip_lock = lock;
	lock = NULL;
	if ((rc = conf_copy(&a->conf, c)) != 0)
		goto fail;
	if ((rc = keyring_open(c->key_file, 1, &a->kr, err, errlen)) != 0)
		goto fail;
	if ((need & APP_DB) && (rc = open_db(a, err, errlen)) != 0)
		goto fail;
	if ((need & APP_STORE) && (rc = store_open_conf(c, &a->store, &serr)) != 0) {
		snprintf(err, errlen, "object store: %s", serr.msg);
		goto fail;
	}
	*out = a;
	return 0;
fail:
	free(lock);
	if (!*err)
		snprintf(err, errlen, "%s", am_strerror(rc));
	app_close(a);
	return rc;
}

void app_close(struct app *a)
{
	if (!a)
		return;
	store_close(a->store);
	db_pool_free(a->db);
	keyring_free(a->kr);
	crypto_field_key_free(a->account_field);
	crypto_field_key_free(a->email_index);
	free(a->keys);
	conf_cleanup(&a->conf);
	if (a->ip_lock) {
		pthread_mutex_destroy(a->ip_lock);
		free(a->ip_lock);
	}
	free(a);
}

int app_db_get(struct app *a, struct db **out)
{
	return db_pool_get(a->db, 5000, out);
}

void app_db_put(struct app *a, struct db *db)
{
	db_pool_put(a->db, db);
}

int app_ip_advance(struct app *a, int *changed)
{
	struct db *db = NULL;
	int moved = 0, rc;

	pthread_mutex_lock(a->ip_lock);
	rc = keyring_ip_advance(a->kr, am_now(), &moved);
	if (rc == 0 && moved && a->db && (rc = app_db_get(a, &db)) == 0) {
		rc = save_ip_state(a, db);
		app_db_put(a, db);
	}
	pthread_mutex_unlock(a->ip_lock);
	if (changed)
		*changed = moved;
	return rc;
}

int app_ip_pseudonym(struct app *a, const struct sockaddr *sa, uint8_t out[16], int64_t *epoch)
{
	const uint8_t *addr;
	struct db *db = NULL;
	int changed = 0, rc;

	if (sa->sa_family == AF_INET)
		addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	else
		return AM_ERR_INVAL;
	pthread_mutex_lock(a->ip_lock);
	rc = keyring_ip_advance(a->kr, am_now(), &changed);
	if (rc == 0 && changed && a->db && (rc = app_db_get(a, &db)) == 0) {
		rc = save_ip_state(a, db);
		app_db_put(a, db);
	}
	if (rc == 0)
		rc = crypto_ip_pseudonym(a->kr, sa->sa_family, addr, out, epoch);
	pthread_mutex_unlock(a->ip_lock);
	return rc;
}
