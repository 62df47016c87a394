/*
 * app_keys.c: master-key rotation (`audiomus keys rotate`, DESIGN §3): a new
 * master key is created, every project key and the account key are re-wrapped
 * under it in one database transaction, the IP-pseudonym ratchet restarts
 * under it, and only then does the new key file take the old one's place.
 * Objects and encrypted fields are untouched: they sit under the project and
 * account keys, which do not change. Runs as the operator's command, with
 * the service stopped or running (running nodes must be restarted after).
 */
#include "app/app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "db/db.h"
#include "repo/repo.h"
#include "util/util.h"

#define ROTATE_MAX_PROJECTS 1000000

struct rewrap_list {
	struct rewrap_item {
		uint8_t id[DB_ID_LEN];
		uint8_t wrapped[DB_WRAPPED_MAX];
		size_t len;
	} * items;
	size_t n, cap;
};

static int collect(void *ctx, const struct db_project *p)
{
	struct rewrap_list *l = ctx;
	struct rewrap_item *ni;

	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		if (nc > ROTATE_MAX_PROJECTS || !(ni = realloc(l->items, nc * sizeof(*ni))))
			return AM_ERR_NOMEM;
		l->items = ni;
		l->cap = nc;
	}
	memcpy(l->items[l->n].id, p->id, DB_ID_LEN);
	memcpy(l->items[l->n].wrapped, p->wrapped_pk, p->wrapped_pk_len);
	l->items[l->n++].len = p->wrapped_pk_len;
	return 0;
}

/* Re-wrap every project key still under the old master key. */
static int rewrap_projects(struct db *db, const struct keyring *old_kr,
			   const struct keyring *new_kr, size_t *count)
{
	struct rewrap_list l = {0};
	uint8_t out[CRYPTO_WRAPPED_LEN];
	int rc;

	if ((rc = db_project_list_by_mk(db, keyring_mk_id(old_kr), collect, &l)) != 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		if ((rc = crypto_pk_rewrap(old_kr, new_kr, l.items[i].id, l.items[i].wrapped,
					   l.items[i].len, out)) != 0 ||
		    (rc = db_project_rewrap(db, l.items[i].id, keyring_mk_id(old_kr), out,
					    sizeof(out), keyring_mk_id(new_kr))) != 0)
			goto out;
	}
	*count = l.n;
out:
	free(l.items);
	return rc;
}

/* Re-wrap the account key, and start a fresh IP ratchet under the new key
 * (the ratchet state cannot move between master keys; a restart only means
 * pseudonyms from before the rotation no longer match, which rate limits
 * and abuse detection tolerate). */
static int rewrap_account(struct db *db, const struct keyring *old_kr, struct keyring *new_kr)
{
	static const uint8_t zero_id[CRYPTO_ID_LEN];
	uint8_t blob[DB_KEYBLOB_MAX], out[CRYPTO_WRAPPED_LEN];
	struct am_buf ip;
	size_t n = 0;
	int rc;

	am_buf_init(&ip, DB_KEYBLOB_MAX);
	rc = db_keyblob_get(db, "account-key", blob, sizeof(blob), &n, NULL, 0);
	if (rc == 0 && (rc = crypto_pk_rewrap(old_kr, new_kr, zero_id, blob, n, out)) == 0)
		rc = db_keyblob_put(db, "account-key", keyring_mk_id(new_kr), out, sizeof(out), 0);
	if (rc == 0 && (rc = keyring_ip_init(new_kr, am_now())) == 0 &&
	    (rc = keyring_ip_save(new_kr, &ip)) == 0)
		rc = db_keyblob_put(db, "ip-ratchet", keyring_mk_id(new_kr), ip.p, ip.len, 0);
	am_memzero(blob, sizeof(blob));
	am_buf_cleanup(&ip);
	return rc;
}

/* Swap the files: KEY -> KEY.retired-<old id>, KEY.new -> KEY. */
static int swap_files(const char *key, const char *newp, const char *old_id, char *retired,
		      size_t rn, char *err, size_t errlen)
{
	if (snprintf(retired, rn, "%s.retired-%s", key, old_id) >= (int)rn)
		return AM_ERR_TOOBIG;
	if (link(key, retired) != 0 || rename(newp, key) != 0) {
		snprintf(
		    err, errlen,
		    "the database now uses the new key in %s, but moving it to %s failed (%s): "
		    "move it by hand before starting the service",
		    newp, key, strerror(errno));
		return AM_ERR_IO;
	}
	return 0;
}

int app_keys_rotate(const struct conf *c, char *retired, size_t rn, size_t *projects, char *err,
		    size_t errlen)
{
	struct keyring *old_kr = NULL, *new_kr = NULL;
	struct db *db = NULL;
	char newp[CONF_PATH_MAX + 8], old_id[CRYPTO_MK_ID_LEN * 2 + 1];
	int rc, created = 0, committed = 0;

	*err = 0;
	if (snprintf(newp, sizeof(newp), "%s.new", c->key_file) >= (int)sizeof(newp))
		return AM_ERR_TOOBIG;
	if ((rc = keyring_open(c->key_file, 1, &old_kr, err, errlen)) != 0)
		goto out;
	if ((rc = crypto_keyfile_create(newp)) != 0) {
		snprintf(
		    err, errlen,
		    rc == AM_ERR_EXISTS
			? "%s exists: an earlier rotation did not finish; inspect and remove it"
			: "cannot create %s",
		    newp);
		goto out;
	}
	created = 1;
	if ((rc = keyring_open(newp, 1, &new_kr, err, errlen)) != 0 ||
	    (rc = db_open_tls(c->secret->database, db_tls_parse(c->database_tls), &db, err,
			      errlen)) != 0)
		goto out;
	if ((rc = db_migrate(db)) != 0 || (rc = db_begin_write(db)) != 0 ||
	    (rc = rewrap_projects(db, old_kr, new_kr, projects)) != 0 ||
	    (rc = rewrap_account(db, old_kr, new_kr)) != 0 || (rc = db_commit(db)) != 0) {
		snprintf(err, errlen, "re-wrapping failed, nothing changed: %s (%s)",
			 am_strerror(rc), db ? db_errmsg(db) : "");
		if (db)
			db_rollback(db);
		goto out;
	}
	committed = 1;
	am_strlcpy(old_id, keyring_mk_id(old_kr), sizeof(old_id));
	rc = swap_files(c->key_file, newp, old_id, retired, rn, err, errlen);
out:
	if (created && !committed)
		unlink(newp);
	db_close(db);
	keyring_free(old_kr);
	keyring_free(new_kr);
	return rc;
}
