/*
 * am1_read.c: the random-access AM1 reader (DESIGN §4). Checks the stored
 * size against the database's plaintext size and the header against the
 * expected file id before reading anything, decrypts only the segments a range
 * covers, and releases a segment's plaintext only after its tag verified.
 * Runs in media (Range requests) and worker; every byte it reads from the
 * store is untrusted. Memory: one segment buffer, decrypted in place.
 */
#include "crypto/crypto_int.h"

#include <stdlib.h>
#include <string.h>

struct am1_reader {
	EVP_CIPHER_CTX *ctx;
	const struct am1_source *src;
	uint8_t header[AM1_HEADER_LEN];
	uint64_t plain;
	uint64_t nseg;
	uint8_t *seg;	 /* AM1_SEGMENT_CT: ciphertext, decrypted in place */
	uint64_t cached; /* index of the verified plaintext in seg, or UINT64_MAX */
};

static int load(struct am1_reader *r, uint64_t i);

static int src_read(const struct am1_source *src, uint64_t off, void *p, size_t n)
{
	int rc = src->read_at(src->ctx, off, p, n);

	return rc < 0 ? rc : (rc > 0 ? AM_ERR_IO : 0);
}

int am1_reader_open(const uint8_t dek[CRYPTO_KEY_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		    const struct am1_source *src, uint64_t plain_size, struct am1_reader **out)
{
	struct am1_reader *r = NULL;
	int rc = AM_ERR_INVAL;

	*out = NULL;
	if (!dek || !file_id || !src || !src->read_at)
		goto out;
	rc = AM_ERR_CRYPTO;
	if (plain_size > UINT64_MAX / 2 || src->size != am1_cipher_size(plain_size))
		goto out;
	rc = AM_ERR_NOMEM;
	if (!(r = calloc(1, sizeof(*r))) || !(r->seg = malloc(AM1_SEGMENT_CT)))
		goto out;
	r->src = src;
	r->plain = plain_size;
	r->nseg = am1_segments(plain_size);
	r->cached = UINT64_MAX;
	if ((rc = src_read(src, 0, r->header, AM1_HEADER_LEN)) != 0)
		goto out;
	if ((rc = am1_header_check(r->header, file_id)) != 0)
		goto out;
	rc = AM_ERR_CRYPTO;
	if (!(r->ctx = am1_ctx_new(dek, r->header + 32, 0)))
		goto out;
	/* An empty object is one empty final segment: authenticate it now, as no
	 * range read ever will (a truncated object with a forged size of 0). */
	if (plain_size == 0 && (rc = load(r, 0)) != 0)
		goto out;
	*out = r;
	r = NULL;
	rc = 0;
out:
	am1_reader_free(r);
	return rc;
}

uint64_t am1_reader_size(const struct am1_reader *r)
{
	return r ? r->plain : 0;
}

void am1_reader_free(struct am1_reader *r)
{
	if (!r)
		return;
	EVP_CIPHER_CTX_free(r->ctx);
	if (r->seg) {
		am_memzero(r->seg, AM1_SEGMENT_CT);
		free(r->seg);
	}
	free(r);
}

/* Plaintext length of segment i. */
static size_t seg_len(const struct am1_reader *r, uint64_t i)
{
	if (i + 1 < r->nseg)
		return AM1_SEGMENT;
	return (size_t)(r->plain - i * AM1_SEGMENT);
}

/* Make segment i the verified plaintext in r->seg. */
static int load(struct am1_reader *r, uint64_t i)
{
	size_t n = seg_len(r, i);
	int rc;

	if (r->cached == i)
		return 0;
	r->cached = UINT64_MAX;
	rc = src_read(r->src, AM1_HEADER_LEN + i * AM1_SEGMENT_CT, r->seg, n + AM1_TAG_LEN);
	if (rc)
		return rc;
	rc =
	    am1_open_segment(r->ctx, r->header, i, i + 1 == r->nseg, r->seg, n, r->seg + n, r->seg);
	if (rc) {
		am_memzero(r->seg, AM1_SEGMENT_CT); /* nothing unverified survives */
		return AM_ERR_CRYPTO;
	}
	r->cached = i;
	return 0;
}

int am1_reader_pread(struct am1_reader *r, uint64_t off, void *buf, size_t n, size_t *got)
{
	uint8_t *dst = buf;
	int rc = 0;

	if (!r || !got || (n && !buf))
		return AM_ERR_INVAL;
	*got = 0;
	if (off >= r->plain)
		return 0;
	if (n > r->plain - off)
		n = (size_t)(r->plain - off);
	while (n > 0) {
		uint64_t i = off / AM1_SEGMENT;
		size_t in = (size_t)(off % AM1_SEGMENT), k = seg_len(r, i) - in;

		if ((rc = load(r, i)) != 0)
			break;
		if (k > n)
			k = n;
		memcpy(dst, r->seg + in, k);
		dst += k;
		off += k;
		n -= k;
		*got += k;
	}
	return rc;
}

int am1_reader_view(struct am1_reader *r, uint64_t off, size_t n, const uint8_t **p, size_t *got)
{
	uint64_t i;
	size_t in;
	int rc;

	if (!r || !p || !got)
		return AM_ERR_INVAL;
	*p = NULL;
	*got = 0;
	if (off >= r->plain || n == 0)
		return 0;
	i = off / AM1_SEGMENT;
	in = (size_t)(off % AM1_SEGMENT);
	if ((rc = load(r, i)) != 0)
		return rc;
	*p = r->seg + in;
	*got = seg_len(r, i) - in < n ? seg_len(r, i) - in : n;
	return 0;
}

int am1_reader_range(struct am1_reader *r, uint64_t first, uint64_t last,
		     int (*emit)(void *ctx, const void *p, size_t n), void *ctx)
{
	int rc;

	if (!r || !emit)
		return AM_ERR_INVAL;
	if (first > last || last >= r->plain)
		return AM_ERR_RANGE;
	for (uint64_t off = first; off <= last;) {
		uint64_t i = off / AM1_SEGMENT;
		size_t in = (size_t)(off % AM1_SEGMENT), k = seg_len(r, i) - in;

		if (k > last - off + 1)
			k = (size_t)(last - off + 1);
		if ((rc = load(r, i)) != 0)
			return rc;
		if ((rc = emit(ctx, r->seg + in, k)) != 0)
			return rc;
		off += k;
	}
	return 0;
}
