/*
 * child_out.c: the child's side of the output protocol: framed writes to
 * fd 1, head-patched output streams (struct xc_out) and the waveform peaks
 * (audiowaveform .dat v2, 8-bit) with the overview. Runs in the UNTRUSTED
 * sandboxed child; it only ever writes to the pipe, and the parent checks
 * every frame.
 */
#include "xcode/xcode_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(XCODE_CHILD_OUT, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return AM_ERR_IO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int xcode_send(uint32_t type, const void *p, size_t n)
{
	struct xf_hdr h = {.type = type, .len = (uint32_t)n};
	int rc;

	if (n > XCODE_FRAME_MAX)
		return AM_ERR_INTERNAL;
	if ((rc = write_all(&h, sizeof(h))))
		return rc;
	return n ? write_all(p, n) : 0;
}

void xcode_send_fail(enum xcode_fail f, const char *msg)
{
	xcode_send_fail_limit(f, XF_LIMIT_NONE, 0, msg);
}

void xcode_send_fail_limit(enum xcode_fail f, enum xf_limit what, int64_t value, const char *msg)
{
	struct xf_fail m;

	memset(&m, 0, sizeof(m));
	m.fail = (int32_t)f;
	m.limit = (int32_t)what;
	m.value = value;
	if (msg)
		am_strlcpy(m.msg, msg, sizeof(m.msg));
	(void)xcode_send(XF_FAIL, &m, sizeof(m));
}

/* ---- head-patched output streams ------------------------------------------ */

/* An output stream into a file (o->fd > 0) instead of the parent: the
 * operator's `audiomus watermark variants`, which runs unsandboxed. */
static int file_write(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return AM_ERR_IO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int xc_out_init(struct xc_out *o, uint32_t body_type, uint32_t head_type, size_t head_cap,
		size_t tail_cap)
{
	memset(o, 0, sizeof(*o));
	o->body_type = body_type;
	o->head_type = head_type;
	o->head_cap = head_cap;
	o->tail_cap = tail_cap;
	o->tail_off = head_cap;
	o->head = calloc(1, head_cap);
	o->tail = malloc(tail_cap);
	o->tail_alloc = tail_cap;
	return o->head && o->tail ? 0 : AM_ERR_NOMEM;
}

void xc_out_cleanup(struct xc_out *o)
{
	free(o->head);
	free(o->tail);
	o->head = o->tail = NULL;
}

static int flush_tail(struct xc_out *o)
{
	size_t off = 0;

	while (off < o->tail_n) {
		size_t k = o->tail_n - off < XCODE_IO_CHUNK ? o->tail_n - off : XCODE_IO_CHUNK;
		int rc = o->fd > 0 ? file_write(o->fd, o->tail + off, k, o->tail_off + off)
				   : xcode_send(o->body_type, o->tail + off, k);

		if (rc)
			return rc;
		off += k;
	}
	o->tail_off += o->tail_n;
	o->tail_n = 0;
	return 0;
}

/* Write into [tail_off, ...): overwrite inside the window or append at its end. */
static int write_tail(struct xc_out *o, const uint8_t *b, size_t n)
{
	while (n > 0) {
		uint64_t rel;
		size_t room, k;
		int rc;

		if (o->pos < o->tail_off || o->pos > o->tail_off + o->tail_n)
			return AM_ERR_CONFLICT; /* outside the patchable window: fail loudly */
		rel = o->pos - o->tail_off;
		if (rel == o->tail_alloc && o->tail_alloc < o->tail_cap) {
			size_t na =
			    o->tail_alloc * 2 < o->tail_cap ? o->tail_alloc * 2 : o->tail_cap;
			uint8_t *t = realloc(o->tail, na);

			if (!t)
				return AM_ERR_NOMEM;
			o->tail = t;
			o->tail_alloc = na;
		}
		if (rel == o->tail_alloc) {
			if (o->holding)
				return AM_ERR_TOOBIG; /* trailer larger than XCODE_TRAILER_MAX */
			if ((rc = flush_tail(o)))
				return rc;
			rel = 0;
		}
		room = o->tail_alloc - (size_t)rel;
		k = n < room ? n : room;
		memcpy(o->tail + rel, b, k);
		if (rel + k > o->tail_n)
			o->tail_n = (size_t)rel + k;
		o->pos += k;
		b += k;
		n -= k;
	}
	return 0;
}

int xc_out_write(struct xc_out *o, const void *p, size_t n)
{
	const uint8_t *b = p;
	int rc;

	if (o->failed)
		return AM_ERR_CONFLICT;
	if (o->pos < o->head_cap && n > 0) {
		size_t k = o->head_cap - (size_t)o->pos;

		k = k < n ? k : n;
		memcpy(o->head + o->pos, b, k);
		o->pos += k;
		b += k;
		n -= k;
	}
	if (n > 0 && (rc = write_tail(o, b, n))) {
		o->failed = 1;
		return rc;
	}
	if (o->pos > o->size)
		o->size = o->pos;
	return 0;
}

/* A seek itself is harmless (the MP4 muxer ends with a seek back to the
 * start of its moov, which may have left already); a WRITE into bytes that
 * have left fails the job loudly (write_tail). */
int xc_out_seek(struct xc_out *o, uint64_t pos)
{
	if (o->failed || pos > o->size)
		return AM_ERR_CONFLICT;
	o->pos = pos;
	return 0;
}

int xc_out_hold(struct xc_out *o, size_t max)
{
	int rc;

	if (o->failed)
		return AM_ERR_CONFLICT;
	if (o->size > o->head_cap) {
		if ((rc = flush_tail(o)))
			return rc;
		if (o->pos != o->tail_off)
			return AM_ERR_CONFLICT;
	}
	o->holding = 1;
	o->tail_cap = max > o->tail_alloc ? max : o->tail_alloc;
	return 0;
}

int xc_out_finish(struct xc_out *o)
{
	size_t head_n = o->size < o->head_cap ? (size_t)o->size : o->head_cap;
	size_t off = 0;
	int rc;

	if (o->failed)
		return AM_ERR_CONFLICT;
	if ((rc = flush_tail(o)))
		return rc;
	while (off < head_n) {
		size_t k = head_n - off < XCODE_IO_CHUNK ? head_n - off : XCODE_IO_CHUNK;

		if ((rc = o->fd > 0 ? file_write(o->fd, o->head + off, k, off)
				    : xcode_send(o->head_type, o->head + off, k)))
			return rc;
		off += k;
	}
	return 0;
}
