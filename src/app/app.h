/*
 * app: what a running role holds for its whole life: the configuration, the
 * keyring (master key and purpose keys), the database pool, the object store
 * (only for roles that touch audio) and the account-level keys the database
 * layer needs. Opened once at start by `serve`, `web`, `media`, `worker` and
 * the administration commands; shared read-only by every request thread.
 * Runs in every server process; holds keys (in locked, zeroed memory).
 */
#ifndef AM_APP_H
#define AM_APP_H

#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"

struct keyring;
struct crypto_field_key;
struct db;
struct db_keys;
struct db_pool;
struct store;

/* What a role needs opened. The web role never asks for APP_STORE: it runs
 * without object-store credentials (DESIGN §1). */
enum app_need {
	APP_DB = 1 << 0,
	APP_STORE = 1 << 1,
};

struct app {
	struct conf conf;
	struct keyring *kr;
	struct db_pool *db;  /* NULL unless APP_DB */
	struct store *store; /* NULL unless APP_STORE */
	struct db_keys
	    *keys; /* owned: for the repository layer (repo/repo.h; filled with APP_DB) */
	struct crypto_field_key *account_field; /* account field key (valid with APP_DB) */
	struct crypto_field_key *email_index;	/* blind-index key of e-mail (APP_DB) */
	void *ip_lock;				/* internal: guards the IP ratchet */
};

/* Open what need asks for, from the finished configuration c (copied): the
 * keyring from c->key_file, the database pool (migrated to the latest
 * schema), the account key and IP-ratchet state (created on first start and
 * shared through the database), and the store. On failure a clear, key-free
 * message goes to err and every partially opened part is closed.
 * Returns 0 and an owned app in *out, or the failing component's error. */
int app_open(const struct conf *c, unsigned need, struct app **out, char *err, size_t errlen);

/* Close everything and zero the keys; accepts NULL. */
void app_close(struct app *a);

/* Borrow a database connection (waits up to 5 s); AM_ERR_UNAVAIL when the
 * pool is exhausted. Return it with app_db_put. */
int app_db_get(struct app *a, struct db **out);
void app_db_put(struct app *a, struct db *db);

/* The 128-bit pseudonym of a client address (DESIGN §3, §6): the IP key is
 * ratcheted forward to the current epoch first (and the new state saved), so
 * a pseudonym can never be computed under an erased key. sa is AF_INET or
 * AF_INET6 (IPv6 keyed by its /64). 0, AM_ERR_INVAL (other family), or a
 * database error while saving the ratchet. */
int app_ip_pseudonym(struct app *a, const struct sockaddr *sa, uint8_t out[16], int64_t *epoch);

/* Advance the IP ratchet to the current epoch and save the new state if it
 * moved, so that an idle system too forgets the keys of past epochs (run by
 * the worker's housekeeping). *changed (may be NULL) gets 1 if it moved.
 * 0 or a keyring/database error. */
int app_ip_advance(struct app *a, int *changed);

/* Rotate the master key of configuration c (DESIGN §3): create
 * KEY_FILE.new, re-wrap every project key and the account key under it and
 * restart the IP ratchet, all in one transaction, then rename KEY_FILE to
 * KEY_FILE.retired-<old mk_id> (path written to retired, rn bytes) and
 * KEY_FILE.new to KEY_FILE. *projects gets the number re-wrapped. On a
 * failure before the commit nothing changes. Purpose keys derive from the
 * master key, so owner sessions, password cookies and signed URLs issued
 * before the rotation stop working. The retired file must then be destroyed
 * by the operator. Errors: the keyring's, the database's, AM_ERR_EXISTS (a
 * KEY_FILE.new from an unfinished rotation), AM_ERR_IO (file swap). */
int app_keys_rotate(const struct conf *c, char *retired, size_t rn, size_t *projects, char *err,
		    size_t errlen);

#endif
