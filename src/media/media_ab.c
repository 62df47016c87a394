/*
 * media_ab.c: a guest's marked stream (issue 26, docs/watermark.md
 * "Serving segment variants", docs/media.md "Marked streams"): the
 * version's renditions A and B (one byte layout, made by the worker's
 * mark_ab job) are spliced by the listener's fragment bits,
 * wm_fragment_bits(payload) under the project's watermark key: every byte
 * comes from A or B at the same offset, chosen per access-unit span by
 * media_splice_range. Two AM1 readers, pieces copied in order; no audio is
 * decoded or encoded per listener. Whole object, one Range, If-Range, GET
 * and HEAD as for a plain rendition; the ETag names the listening (two
 * listeners' bytes differ, so a shared cache must never mix them; the
 * answer is private, no-store anyway). Runs in the media process on
 * requests whose URL, grant and mark ticket were verified (media_mark.c);
 * the span map is our worker's, checked again here before use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "media/media_int.h"
#include "media/media_splice.h"
#include "repo/repo.h"
#include "store/store.h"
#include "watermark/watermark.h"

#define MEDIA_AB_BLOCK (16 * 1024) /* one TLS record, as media_stream.c */
#define MEDIA_SEQ_OPEN ((uint64_t)1 << 20)

_Static_assert(MEDIA_SPLICE_SLOTS == WM_CODED_BITS, "one slot per coded bit");

struct ab_ctx {
	struct stream_ctx s; /* first: A's reader, the range and the re-check */
	struct store_reader *sr_b;
	struct am1_source src_b;
	struct am1_reader *rb;
	uint64_t *cut;
	uint16_t *slot;
	struct media_splice_map map;
	uint8_t bits[MEDIA_SPLICE_SLOTS];
};

static void ab_free(void *arg)
{
	struct ab_ctx *c = arg;

	if (!c)
		return;
	am1_reader_free(c->rb);
	store_reader_close(c->sr_b);
	free(c->cut);
	free(c->slot);
	am_memzero(c->bits, sizeof(c->bits));
	media_stream_ctx_free(&c->s); /* frees c (its first member) */
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The worker's span map ({u64 cut, u16 slot} spans, then the end). */
static int decode_map(struct ab_ctx *c, const struct db_vmark *vm, uint64_t size)
{
	size_t n;

	if (vm->spans_len < 18 || (vm->spans_len - 8) % 10)
		return AM_ERR_INVAL;
	n = (vm->spans_len - 8) / 10;
	if (!(c->cut = malloc((n + 1) * sizeof(*c->cut))) ||
	    !(c->slot = malloc(n * sizeof(*c->slot))))
		return AM_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		c->cut[i] = get_le(vm->spans + 10 * i, 8);
		c->slot[i] = (uint16_t)get_le(vm->spans + 10 * i + 8, 2);
	}
	c->cut[n] = get_le(vm->spans + 10 * n, 8);
	c->map = (struct media_splice_map){.cut = c->cut, .slot = c->slot, .n = n, .size = size};
	return media_splice_check(&c->map);
}

/* The listener's fragment bits under the project's watermark key. */
static int bits_of(const struct crypto_pk *pk, const uint8_t payload[WM_PAYLOAD_BYTES],
		   uint8_t bits[MEDIA_SPLICE_SLOTS])
{
	struct crypto_wm_key *wk = NULL;
	struct wm_pattern *p = NULL;
	int rc;

	if (!(rc = crypto_wm_key_project(pk, &wk)) && !(rc = wm_pattern_new(wk, &p)))
		rc = wm_fragment_bits(p, payload, bits);
	wm_pattern_free(p);
	crypto_wm_key_free(wk);
	return rc;
}

static int open_one(struct app *a, const struct crypto_pk *pk, const struct db_object *o,
		    uint64_t first, struct store_reader **sr, struct am1_source *src,
		    struct am1_reader **r, struct store_err *err)
{
	int rc = (first < MEDIA_SEQ_OPEN ? store_reader_open_seq
					 : store_reader_open)(a->store, o->store_key, sr, err);

	if (rc)
		return rc;
	store_am1_source(*sr, src);
	rc = crypto_pk_reader_open(pk, o->id, o->wrapped_dek, o->wrapped_dek_len, src,
				   (uint64_t)o->plain_size, r);
	if (rc)
		store_err_keep(err, store_reader_errmsg(*sr));
	return rc;
}

/* The project key, the bits, both readers. */
static int ab_open(struct app *a, const struct stream_req *sr, const struct media_mark_plan *mp,
		   struct ab_ctx *c, uint64_t first)
{
	struct crypto_pk *pk = NULL;
	struct store_err err;
	int rc;

	err.msg[0] = 0;
	if (!(rc = crypto_pk_open(a->kr, sr->g.project_id, sr->p.wrapped_pk, sr->p.wrapped_pk_len,
				  &pk)) &&
	    !(rc = bits_of(pk, mp->payload, c->bits)) &&
	    !(rc = open_one(a, pk, &mp->oa, first, &c->s.sr, &c->s.src, &c->s.r, &err)))
		rc = open_one(a, pk, &mp->ob, first, &c->sr_b, &c->src_b, &c->rb, &err);
	crypto_pk_free(pk);
	if (rc)
		am_log(AM_LOG_ERROR, "media_object_unreadable", "error", am_strerror(rc),
		       "store_error", err.msg[0] ? err.msg : NULL, "what", "marked rendition");
	return rc;
}

/* The next piece of the listener's range from pos: one span lookup. */
static ssize_t ab_fill(void *arg, uint64_t pos, uint8_t *buf, size_t max)
{
	struct ab_ctx *c = arg;
	struct media_splice_piece pc;
	uint64_t at = c->s.first + pos, next = 0, end;
	size_t got = 0;
	int rc;

	if (pos >= c->s.len)
		return 0;
	if ((rc = media_still_granted(&c->s, pos)) != 0)
		return rc;
	end = c->s.first + c->s.len;
	if (end - at > max)
		end = at + max;
	if ((rc = media_splice_range(&c->map, c->bits, at, end, &pc, 1, &next)) != 1 ||
	    pc.off != at || pc.len == 0 || pc.len > max)
		return AM_ERR_INTERNAL;
	rc = am1_reader_pread(pc.src ? c->rb : c->s.r, pc.off, buf, (size_t)pc.len, &got);
	if (rc || got == 0) {
		am_log(AM_LOG_ERROR, "media_stream_aborted", "error",
		       am_strerror(rc ? rc : AM_ERR_IO), "what", "marked rendition");
		return rc ? rc : AM_ERR_IO;
	}
	return (ssize_t)got;
}

int media_ab_respond(struct media *m, struct http_req *req, const struct stream_req *sr,
		     struct media_mark_plan *mp)
{
	struct app *a = m->app;
	struct ab_ctx *c = NULL;
	uint64_t size = (uint64_t)mp->oa.plain_size, first = 0, len = 0;
	char etag[80], ah[33], mh[33];
	unsigned status = 200;
	int rc;

	/* The listening's own tag: A's object and the mark row's random id
	 * (which the listener's ticket carries anyway). */
	access_hex16(mp->oa.id, ah);
	access_hex16(mp->mark_id, mh);
	snprintf(etag, sizeof(etag), "\"%.16s-%.16s\"", ah, mh);
	if (!(c = calloc(1, sizeof(*c)))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	if ((rc = decode_map(c, &mp->vm, size)) != 0) {
		am_log(AM_LOG_ERROR, "media_splice_map_bad", "error", am_strerror(rc));
		rc = AM_ERR_INTERNAL;
		goto out;
	}
	if ((rc = media_plan(req, sr, size, etag, &first, &len, &status)) != 0)
		goto out;
	if ((rc = ab_open(a, sr, mp, c, first)) != 0) {
		rc = AM_ERR_INTERNAL;
		goto out;
	}
	c->s.first = first;
	c->s.len = len;
	media_stream_ctx_grant(&c->s, a, sr);
	if (http_req_method(req) == HTTP_GET && first == 0)
		media_record_event(m, req, &sr->g, sr->obj, "play");
	rc = http_respond_stream(req, status, "audio/mp4", (int64_t)len, MEDIA_AB_BLOCK, ab_fill, c,
				 ab_free);
	c = NULL; /* http_respond_stream owns it now, whatever it returned */
out:
	ab_free(c);
	media_mark_plan_cleanup(mp);
	return rc;
}
