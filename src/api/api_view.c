/*
 * api_view.c: a small in-memory cache of the review page's heavy part, the
 * "tracks" and "comments" members of GET /api/v1/s/{token} (every comment
 * decrypted, every media URL signed), already serialized. Runs in the web
 * process; what it holds is what the endpoint would send anyway, to a guest
 * who has just passed the link and password checks, which run on every
 * request before the cache is consulted.
 *
 * An entry is found by a digest of everything its bytes depend on: the
 * project id and its content revision (projects.rev, raised by database
 * triggers on every write to the project's tracks, versions, objects,
 * comments and guests, so no code path can forget it, on any node), the
 * link and its generation, the password generation, the downloads flag and
 * the signed URLs' expiry. Expiry is in whole seconds and signing is
 * deterministic, so this is exactly the answer the endpoint gives to every
 * load within the same second anyway: the cache changes nothing a client
 * can see, and only pays off under load (many opens of a project in one
 * second). Entries older than API_VIEW_MAX_AGE_MS are dropped on the next
 * lookup or store, and dropped bytes are zeroed: decrypted comments do not
 * linger. Bounded in entries and bytes; entries larger than
 * API_VIEW_MAX_ENTRY are not kept.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "crypto/crypto.h"

#define API_VIEW_SLOTS	    32
#define API_VIEW_MAX_ENTRY  ((size_t)1 << 20)
#define API_VIEW_MAX_AGE_MS 2000

struct view_entry {
	uint8_t key[32];
	int64_t built_ms;
	char *body;
	size_t len;
};

struct api_view_cache {
	pthread_mutex_t mu;
	struct view_entry e[API_VIEW_SLOTS];
};

int api_view_new(struct api_view_cache **out)
{
	struct api_view_cache *vc = calloc(1, sizeof(*vc));

	*out = NULL;
	if (!vc)
		return AM_ERR_NOMEM;
	pthread_mutex_init(&vc->mu, NULL);
	*out = vc;
	return 0;
}

static void entry_clear(struct view_entry *e)
{
	if (e->body) {
		am_memzero(e->body, e->len);
		free(e->body);
	}
	memset(e, 0, sizeof(*e));
}

void api_view_free(struct api_view_cache *vc)
{
	if (!vc)
		return;
	for (int i = 0; i < API_VIEW_SLOTS; i++)
		entry_clear(&vc->e[i]);
	pthread_mutex_destroy(&vc->mu);
	free(vc);
}

int api_view_key(const struct api_view_in *in, uint8_t key[32])
{
	uint8_t m[DB_ID_LEN * 2 + 8 * 5];
	size_t o = 0;

	memcpy(m + o, in->project_id, DB_ID_LEN);
	o += DB_ID_LEN;
	memcpy(m + o, in->link_id, DB_ID_LEN);
	o += DB_ID_LEN;
	const int64_t v[5] = {in->rev, in->link_gen, in->pw_gen, in->downloads, in->expires};
	for (int i = 0; i < 5; i++, o += 8)
		memcpy(m + o, &v[i], 8);
	return crypto_sha256(m, o, key);
}

static struct view_entry *slot_of(struct api_view_cache *vc, const uint8_t key[32])
{
	return &vc->e[key[0] % API_VIEW_SLOTS];
}

int api_view_get(struct api_view_cache *vc, const uint8_t key[32], struct am_buf *out)
{
	struct view_entry *e;
	int rc = AM_ERR_NOTFOUND;

	if (!vc)
		return rc;
	pthread_mutex_lock(&vc->mu);
	e = slot_of(vc, key);
	if (e->body && memcmp(e->key, key, 32) == 0) {
		int64_t age = am_now_ms() - e->built_ms;

		if (age >= 0 && age < API_VIEW_MAX_AGE_MS)
			rc = am_buf_append(out, e->body, e->len);
		else
			entry_clear(e);
	}
	pthread_mutex_unlock(&vc->mu);
	return rc;
}

void api_view_put(struct api_view_cache *vc, const uint8_t key[32], const char *body, size_t len)
{
	struct view_entry *e;
	char *copy;

	if (!vc || len == 0 || len > API_VIEW_MAX_ENTRY || !(copy = malloc(len)))
		return;
	memcpy(copy, body, len);
	pthread_mutex_lock(&vc->mu);
	for (int i = 0; i < API_VIEW_SLOTS; i++) {
		int64_t age = am_now_ms() - vc->e[i].built_ms;

		if (vc->e[i].body && (age < 0 || age >= API_VIEW_MAX_AGE_MS))
			entry_clear(&vc->e[i]);
	}
	e = slot_of(vc, key);
	entry_clear(e);
	memcpy(e->key, key, 32);
	e->built_ms = am_now_ms();
	e->body = copy;
	e->len = len;
	pthread_mutex_unlock(&vc->mu);
}

void api_view_forget(struct api_view_cache *vc, const uint8_t project_id[DB_ID_LEN])
{
	(void)project_id; /* keys are digests: drop every entry, it is cheap */
	if (!vc)
		return;
	pthread_mutex_lock(&vc->mu);
	for (int i = 0; i < API_VIEW_SLOTS; i++)
		entry_clear(&vc->e[i]);
	pthread_mutex_unlock(&vc->mu);
}
