/*
 * api_media_index.c: the ready media objects of one project, read once per
 * guest view (one query instead of one per version and kind: issue 25's
 * profile had 30 object queries in every uncached review-page answer, 14 %
 * of its instructions), and of each only the id, version, kind and
 * creation time (db_object_ready_refs: issue 25's fourth pass).
 * api_media_index_find picks what db_object_find would: among the ready
 * objects of a version and kind, the newest (created), then the smallest
 * id. Runs in the web process; the rows come from our database and hold no
 * secret.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "repo/repo.h"

/* A project holds a few objects per version; this bounds a corrupt table. */
#define MEDIA_INDEX_MAX 100000

static int newer(const struct api_media_obj *a, int64_t created, const uint8_t id[DB_ID_LEN])
{
	return created > a->created || (created == a->created && memcmp(id, a->id, DB_ID_LEN) < 0);
}

static int index_item(void *ctx, const struct db_object_ref *o)
{
	struct api_media_index *ix = ctx;
	struct api_media_obj *e;

	for (size_t i = 0; i < ix->n; i++) {
		e = &ix->v[i];
		if (memcmp(e->version_id, o->version_id, DB_ID_LEN) == 0 &&
		    strcmp(e->kind, o->kind) == 0) {
			if (newer(e, o->created, o->id)) {
				memcpy(e->id, o->id, DB_ID_LEN);
				e->created = o->created;
			}
			return 0;
		}
	}
	if (ix->n == ix->cap) {
		size_t cap = ix->cap ? 2 * ix->cap : 32;

		if (cap > MEDIA_INDEX_MAX || !(e = realloc(ix->v, cap * sizeof(*e))))
			return AM_ERR_NOMEM;
		ix->v = e;
		ix->cap = cap;
	}
	e = &ix->v[ix->n++];
	memcpy(e->version_id, o->version_id, DB_ID_LEN);
	memcpy(e->id, o->id, DB_ID_LEN);
	memcpy(e->kind, o->kind, sizeof(e->kind));
	e->created = o->created;
	return 0;
}

int api_media_index_load(struct api_ctx *c, const uint8_t pid[DB_ID_LEN],
			 struct api_media_index *ix)
{
	int rc;

	memset(ix, 0, sizeof(*ix));
	if ((rc = db_object_ready_refs(c->db, pid, index_item, ix)))
		api_media_index_free(ix);
	return rc;
}

const uint8_t *api_media_index_find(const struct api_media_index *ix,
				    const uint8_t version_id[DB_ID_LEN], const char *kind)
{
	for (size_t i = 0; i < ix->n; i++)
		if (memcmp(ix->v[i].version_id, version_id, DB_ID_LEN) == 0 &&
		    strcmp(ix->v[i].kind, kind) == 0)
			return ix->v[i].id;
	return NULL;
}

void api_media_index_free(struct api_media_index *ix)
{
	free(ix->v);
	memset(ix, 0, sizeof(*ix));
}
