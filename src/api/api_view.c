/*
 * api_view.c: a small in-memory cache of the review page's answer, the whole
 * body of GET /api/v1/s/{token} (every comment decrypted), already
 * serialized, but without signatures: a template with a slot per media URL
 * (the object and the download flag), which api_guest.c signs on every
 * request with a fresh nonce (access_url_sign_nonce), so every load gets
 * URLs no other load got (docs/security.md 2.4). Runs in the web process;
 * what it holds is what the endpoint would send anyway, less the
 * signatures, to a guest who has just passed the link and password checks,
 * which run on every request before the cache is consulted.
 *
 * An entry is found by a digest of everything its bytes depend on: the
 * project id and its content revision (projects.rev, raised by database
 * triggers on every write to the project's tracks, versions, objects,
 * comments and guests, so no code path can forget it, on any node), the
 * link and its generation, the password generation, the downloads flag, the
 * signed URLs' expiry (whole seconds: it is in the bytes, as "expires" and
 * "urls_expire") and the answer's head (title and flags, built fresh from
 * the project row on every request). The cache only pays off under load
 * (many opens of a project in one second).
 *
 * The bulk of an entry (the comments, after the last URL) is not copied on a
 * hit: the entry's bytes are reference-counted and handed to the HTTP
 * response (http_respond_pieces), which gives its reference back when the
 * last byte is sent; only the tracks, with the URLs spliced in, are copied.
 * Copying 77 KiB per request (200 comments) into fresh heap pages was a
 * third of the server's CPU in `make bench`. A miss's answer is not copied
 * into its entry either: the entry adopts the buffer it was written in
 * (api_view_adopt). Entries older than
 * API_VIEW_MAX_AGE_MS are dropped on the next lookup or store; the last
 * reference zeroes the bytes, so decrypted comments do not linger. Bounded
 * in entries and bytes; entries larger than API_VIEW_MAX_ENTRY are not kept.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "crypto/crypto.h"

#define API_VIEW_SLOTS	    32
#define API_VIEW_MAX_ENTRY  ((size_t)1 << 20)
#define API_VIEW_MAX_AGE_MS 2000

struct api_view {
	atomic_int refs;
	size_t len, split, nslots;
	struct api_view_slot *slots; /* in the same allocation, after the struct */
	char *bytes;		     /* after the slots, or the adopted buffer */
	size_t adopted;		     /* bytes is an adopted buffer of this size, or 0 */
};

struct view_entry {
	uint8_t key[32];
	int64_t built_ms;
	struct api_view *v; /* the cache's reference */
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

void api_view_release(void *arg)
{
	struct api_view *v = arg;

	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	if (v->adopted) {
		am_memzero(v->bytes, v->adopted); /* all of it, as am_buf_cleanup would */
		free(v->bytes);
	} else {
		am_memzero(v->bytes, v->len);
	}
	free(v);
}

/* The struct and its slots, checked, with bytes left for the caller; extra
 * bytes more allocated after the slots. */
static int view_alloc(size_t len, size_t split, const struct api_view_slot *slots, size_t nslots,
		      size_t extra, struct api_view **out)
{
	struct api_view *v;

	*out = NULL;
	if (split > len || nslots > (SIZE_MAX - sizeof(*v) - extra) / sizeof(*slots))
		return AM_ERR_INVAL;
	for (size_t i = 0; i < nslots; i++)
		if (slots[i].off > split || (i > 0 && slots[i].off < slots[i - 1].off))
			return AM_ERR_INVAL;
	if (!(v = malloc(sizeof(*v) + nslots * sizeof(*slots) + extra)))
		return AM_ERR_NOMEM;
	atomic_init(&v->refs, 1);
	v->len = len;
	v->split = split;
	v->nslots = nslots;
	v->slots = (struct api_view_slot *)(v + 1);
	v->bytes = (char *)(v->slots + nslots);
	v->adopted = 0;
	if (nslots)
		memcpy(v->slots, slots, nslots * sizeof(*slots));
	*out = v;
	return 0;
}

int api_view_make(const char *body, size_t len, size_t split, const struct api_view_slot *slots,
		  size_t nslots, struct api_view **out)
{
	int rc = view_alloc(len, split, slots, nslots, len, out);

	if (rc == 0)
		memcpy((*out)->bytes, body, len);
	return rc;
}

int api_view_adopt(struct am_buf *b, size_t split, const struct api_view_slot *slots, size_t nslots,
		   struct api_view **out)
{
	int rc = b->p ? view_alloc(b->len, split, slots, nslots, 0, out) : AM_ERR_INVAL;

	if (rc == 0) {
		(*out)->bytes = (char *)b->p;
		(*out)->adopted = b->alloc;
		b->p = NULL;
		b->len = b->alloc = 0;
	}
	return rc;
}

const struct api_view_slot *api_view_slots(const struct api_view *v, size_t *n, size_t *split)
{
	*n = v->nslots;
	*split = v->split;
	return v->slots;
}

const char *api_view_bytes(const struct api_view *v, size_t *len)
{
	*len = v->len;
	return v->bytes;
}

static void entry_clear(struct view_entry *e)
{
	api_view_release(e->v);
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

/* The head is hashed after the fixed-size fields, so no two inputs share
 * a message. */
int api_view_key(const struct api_view_in *in, uint8_t key[32])
{
	uint8_t m[DB_ID_LEN * 2 + 8 * 5], h[32];
	size_t o = 0;
	int rc;

	memcpy(m + o, in->project_id, DB_ID_LEN);
	o += DB_ID_LEN;
	memcpy(m + o, in->link_id, DB_ID_LEN);
	o += DB_ID_LEN;
	const int64_t v[5] = {in->rev, in->link_gen, in->pw_gen, in->downloads, in->expires};
	for (int i = 0; i < 5; i++, o += 8)
		memcpy(m + o, &v[i], 8);
	if ((rc = crypto_sha256(m, o, h)) == 0 &&
	    (rc = crypto_sha256(in->head, in->head_len, key)) == 0) {
		memcpy(m, h, 32);
		memcpy(m + 32, key, 32);
		rc = crypto_sha256(m, 64, key);
	}
	return rc;
}

static struct view_entry *slot_of(struct api_view_cache *vc, const uint8_t key[32])
{
	return &vc->e[key[0] % API_VIEW_SLOTS];
}

/* An entry past its age is dropped; vc->mu held. */
static int entry_fresh(struct view_entry *e, int64_t now)
{
	int64_t age = now - e->built_ms;

	if (e->v && (age < 0 || age >= API_VIEW_MAX_AGE_MS))
		entry_clear(e);
	return e->v != NULL;
}

int api_view_get(struct api_view_cache *vc, const uint8_t key[32], struct api_view **out)
{
	struct view_entry *e;
	int rc = AM_ERR_NOTFOUND;

	*out = NULL;
	if (!vc)
		return rc;
	pthread_mutex_lock(&vc->mu);
	e = slot_of(vc, key);
	if (entry_fresh(e, am_now_ms()) && memcmp(e->key, key, 32) == 0) {
		atomic_fetch_add(&e->v->refs, 1);
		*out = e->v;
		rc = 0;
	}
	pthread_mutex_unlock(&vc->mu);
	return rc;
}

int api_view_put(struct api_view_cache *vc, const uint8_t key[32], struct api_view *v)
{
	struct view_entry *e;
	int64_t now = am_now_ms();

	if (!vc || !v || v->len == 0 || v->len > API_VIEW_MAX_ENTRY)
		return AM_ERR_TOOBIG;
	atomic_fetch_add(&v->refs, 1); /* the cache's */
	pthread_mutex_lock(&vc->mu);
	for (int i = 0; i < API_VIEW_SLOTS; i++)
		entry_fresh(&vc->e[i], now);
	e = slot_of(vc, key);
	entry_clear(e);
	memcpy(e->key, key, 32);
	e->built_ms = now;
	e->v = v;
	pthread_mutex_unlock(&vc->mu);
	return 0;
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
