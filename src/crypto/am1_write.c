/*
 * am1_write.c: the streaming AM1 writer (DESIGN §4): one-segment look-ahead
 * so the final segment gets the last flag, constant memory (one segment
 * buffer), and "head mode", in which the first head_len plaintext bytes
 * arrive last and their segments are written in place with write_at.
 * Runs in media (uploads) and worker (transcoder outputs); the plaintext is
 * the user's audio and never leaves this file unencrypted.
 */
#include "crypto/crypto_int.h"

#include <stdlib.h>
#include <string.h>

struct am1_writer {
	EVP_CIPHER_CTX *ctx;
	struct am1_sink sink;
	uint8_t header[AM1_HEADER_LEN];
	uint8_t *seg;	   /* AM1_SEGMENT_CT bytes: plaintext, then ciphertext ‖ tag */
	size_t fill;	   /* plaintext bytes held in seg */
	uint64_t index;	   /* index of the segment held in seg */
	uint64_t head_len; /* head mode: bytes that patch_head supplies */
	uint64_t body;	   /* plaintext bytes passed to am1_writer_write */
	uint64_t plain;	   /* total plaintext, known after patch_head / finish */
	uint64_t emitted;  /* bytes passed to sink.write */
	int started;	   /* header (and placeholder) emitted */
	int head_done;
	int finished;
	int err; /* sticky */
};

int am1_writer_new_salt(const uint8_t dek[CRYPTO_KEY_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
			const uint8_t salt[AM1_SALT_LEN], const struct am1_sink *sink,
			uint64_t head_len, struct am1_writer **out)
{
	struct am1_writer *w = NULL;
	int rc = AM_ERR_NOMEM;

	*out = NULL;
	if (!dek || !file_id || !salt || !sink || !sink->write || head_len % AM1_SEGMENT != 0 ||
	    (head_len && !sink->write_at))
		return AM_ERR_INVAL;
	if (!(w = calloc(1, sizeof(*w))) || !(w->seg = am_secret_alloc(AM1_SEGMENT_CT)))
		goto out;
	rc = AM_ERR_CRYPTO;
	if (!(w->ctx = am1_ctx_new(dek, salt, 1)))
		goto out;
	w->sink = *sink;
	w->head_len = head_len;
	w->index = head_len / AM1_SEGMENT; /* body segments follow the head */
	am1_header_build(w->header, file_id, salt);
	*out = w;
	w = NULL;
	rc = 0;
out:
	am1_writer_free(w);
	return rc;
}

int am1_writer_new(const uint8_t dek[CRYPTO_KEY_LEN], const uint8_t file_id[CRYPTO_ID_LEN],
		   const struct am1_sink *sink, uint64_t head_len, struct am1_writer **out)
{
	uint8_t salt[AM1_SALT_LEN];
	int rc;

	*out = NULL;
	if ((rc = crypto_random(salt, sizeof(salt))) != 0)
		return rc;
	return am1_writer_new_salt(dek, file_id, salt, sink, head_len, out);
}

void am1_writer_free(struct am1_writer *w)
{
	if (!w)
		return;
	EVP_CIPHER_CTX_free(w->ctx);
	am_secret_free(w->seg, AM1_SEGMENT_CT);
	am_memzero(w, sizeof(*w));
	free(w);
}

static int sink_write(struct am1_writer *w, const void *p, size_t n)
{
	int rc = w->sink.write(w->sink.ctx, p, n);

	if (rc == 0)
		w->emitted += n;
	return rc < 0 ? rc : (rc > 0 ? AM_ERR_IO : 0);
}

/* The header, and in head mode the zero placeholder for the head segments. */
static int start(struct am1_writer *w)
{
	static const uint8_t zeros[4096];
	uint64_t left;
	int rc;

	if (w->started)
		return 0;
	w->started = 1;
	if ((rc = sink_write(w, w->header, AM1_HEADER_LEN)) != 0)
		return rc;
	left = am1_head_reserved(w->head_len) - AM1_HEADER_LEN;
	while (left > 0) {
		size_t k = left > sizeof(zeros) ? sizeof(zeros) : (size_t)left;

		if ((rc = sink_write(w, zeros, k)) != 0)
			return rc;
		left -= k;
	}
	return 0;
}

/* Encrypt n bytes of in (the held segment, or a caller's full segment) as
 * the next segment and emit it with write(). */
static int emit_segment(struct am1_writer *w, const uint8_t *in, size_t n, int last)
{
	int rc;

	if ((rc = start(w)) != 0)
		return rc;
	if ((rc = am1_seal_segment(w->ctx, w->header, w->index, last, in, n, w->seg)) != 0)
		return rc;
	if ((rc = sink_write(w, w->seg, n + AM1_TAG_LEN)) != 0)
		return rc;
	w->index++;
	return 0;
}

/* Encrypt and emit the held segment. */
static int flush(struct am1_writer *w, int last)
{
	int rc = emit_segment(w, w->seg, w->fill, last);

	if (rc == 0)
		w->fill = 0;
	return rc;
}

/* Buffer plaintext; a full segment is flushed only when more data follows.
 * A full segment of the caller's with more bytes after it in the same call
 * is known not to be final: it is encrypted straight from the caller's
 * buffer, without a copy (large writes cost no memcpy). */
static int feed(struct am1_writer *w, const uint8_t *p, size_t n)
{
	int rc;

	while (n > 0) {
		size_t k;

		if (w->fill == AM1_SEGMENT && (rc = flush(w, 0)) != 0)
			return rc;
		if (w->fill == 0 && n > AM1_SEGMENT) {
			if ((rc = emit_segment(w, p, AM1_SEGMENT, 0)) != 0)
				return rc;
			p += AM1_SEGMENT;
			n -= AM1_SEGMENT;
			continue;
		}
		k = AM1_SEGMENT - w->fill;
		if (k > n)
			k = n;
		memcpy(w->seg + w->fill, p, k);
		w->fill += k;
		p += k;
		n -= k;
	}
	return 0;
}

int am1_writer_write(struct am1_writer *w, const void *p, size_t n)
{
	if (!w || (n && !p))
		return AM_ERR_INVAL;
	if (w->err)
		return w->err;
	if (w->finished || w->head_done)
		return AM_ERR_CONFLICT;
	if (n == 0)
		return 0;
	w->body += n;
	return w->err = feed(w, p, n);
}

/* Head mode with a body: encrypt head segments and write them in place. */
static int patch_in_place(struct am1_writer *w, const uint8_t *p)
{
	uint64_t nseg = w->head_len / AM1_SEGMENT;
	int rc;

	if ((rc = flush(w, 1)) != 0) /* the body's held segment is the final one */
		return rc;
	for (uint64_t i = 0; i < nseg; i++) {
		rc = am1_seal_segment(w->ctx, w->header, i, 0, p + i * AM1_SEGMENT, AM1_SEGMENT,
				      w->seg);
		if (rc)
			return rc;
		rc = w->sink.write_at(w->sink.ctx, AM1_HEADER_LEN + i * AM1_SEGMENT_CT, w->seg,
				      AM1_SEGMENT_CT);
		if (rc)
			return rc < 0 ? rc : AM_ERR_IO;
	}
	w->plain = w->head_len + w->body;
	w->finished = 1;
	return 0;
}

int am1_writer_patch_head(struct am1_writer *w, const void *p, size_t n)
{
	if (!w || (n && !p))
		return AM_ERR_INVAL;
	if (w->err)
		return w->err;
	if (!w->head_len || w->head_done || w->finished)
		return AM_ERR_CONFLICT;
	if (w->body > 0) {
		if (n != w->head_len)
			return AM_ERR_INVAL;
		w->head_done = 1;
		return w->err = patch_in_place(w, p);
	}
	/* No body: the object is just these bytes, written in order. */
	if (n > w->head_len)
		return AM_ERR_INVAL;
	w->head_len = 0;
	w->index = 0;
	w->body = n;
	w->head_done = 1;
	return w->err = feed(w, p, n);
}

int am1_writer_finish(struct am1_writer *w, uint64_t *plain_size, uint64_t *cipher_size)
{
	if (!w)
		return AM_ERR_INVAL;
	if (w->err)
		return w->err;
	if (w->head_len && !w->head_done)
		return AM_ERR_CONFLICT;
	if (!w->finished) {
		/* The held segment is the final one (empty for an empty object). */
		if ((w->err = flush(w, 1)) != 0)
			return w->err;
		w->plain = w->body;
		w->finished = 1;
	}
	if (w->emitted != am1_cipher_size(w->plain))
		return w->err = AM_ERR_INTERNAL;
	if (plain_size)
		*plain_size = w->plain;
	if (cipher_size)
		*cipher_size = w->emitted;
	return 0;
}
