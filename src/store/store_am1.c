/*
 * store_am1.c: adapters between the AM1 writer/reader callbacks of
 * src/crypto (struct am1_sink, struct am1_source) and the object store's put
 * and reader handles. The store only ever sees the ciphertext these carry.
 * In AM1 head mode the writer emits the header and a zero placeholder for
 * the head segments through write(), then patches the head segments in place
 * with write_at(); everything the sink receives below the reserved length is
 * routed to store_put_write_at, the rest is appended. Runs in the media and
 * worker roles.
 */
#include "store/store.h"

#include "crypto/crypto.h"
#include "util/util.h"

static int am1_sink_write(void *ctx, const void *p, size_t n)
{
	struct store_am1_put *ap = ctx;
	const uint8_t *b = p;
	int rc;

	if (ap->pos < ap->reserved && n > 0) {
		uint64_t room = ap->reserved - ap->pos;
		size_t k = room < n ? (size_t)room : n;

		if ((rc = store_put_write_at(ap->put, ap->pos, b, k)))
			return rc;
		ap->pos += k;
		b += k;
		n -= k;
	}
	if (n == 0)
		return 0;
	if ((rc = store_put_write(ap->put, b, n)))
		return rc;
	ap->pos += n;
	return 0;
}

static int am1_sink_write_at(void *ctx, uint64_t off, const void *p, size_t n)
{
	struct store_am1_put *ap = ctx;

	return store_put_write_at(ap->put, off, p, n);
}

int store_am1_put_begin(struct store *s, const char *key, uint64_t head_len,
			struct store_am1_put *ap, struct am1_sink *sink, struct store_err *err)
{
	uint64_t reserved;
	int rc;

	if (err)
		err->msg[0] = 0;
	if (!ap || !sink)
		return AM_ERR_INVAL;
	ap->put = NULL;
	ap->pos = 0;
	ap->reserved = 0;
	if (head_len % AM1_SEGMENT != 0)
		return AM_ERR_INVAL;
	reserved = head_len ? am1_head_reserved(head_len) : 0;
	if (head_len > STORE_PUT_HEAD_MAX || reserved > STORE_PUT_HEAD_MAX)
		return AM_ERR_TOOBIG;
	if ((rc = store_put_begin_reserved(s, key, reserved, &ap->put, err)))
		return rc;
	ap->reserved = reserved;
	sink->write = am1_sink_write;
	sink->write_at = reserved ? am1_sink_write_at : NULL;
	sink->ctx = ap;
	return 0;
}

static int am1_source_read_at(void *ctx, uint64_t off, void *p, size_t n)
{
	size_t got = 0;
	int rc = store_reader_read_at(ctx, off, p, n, &got);

	if (rc)
		return rc;
	return got == n ? 0 : AM_ERR_IO;
}

void store_am1_source(struct store_reader *r, struct am1_source *src)
{
	src->read_at = am1_source_read_at;
	src->size = store_reader_size(r);
	src->ctx = r;
}
