/*
 * media_splice.h: segment variants (issue 26, docs/watermark.md "Serving
 * segment variants"): a listener's marked stream is a byte splice of two
 * renditions A and B that share one byte layout (same header and index,
 * every AAC access unit the same size in both; src/xcode/xcode_ab.c makes
 * them). This maps a byte range of the listener's stream to pieces of A
 * and B: pure computation on caller memory, no allocation, no I/O. Runs in
 * the media role; the range comes from a client's Range header, the map
 * from our own transcode (checked by media_splice_check before use).
 */
#ifndef AM_MEDIA_SPLICE_H
#define AM_MEDIA_SPLICE_H

#include <stddef.h>
#include <stdint.h>

#define MEDIA_SPLICE_SLOTS    204    /* fragment bits per payload period (WM_CODED_BITS) */
#define MEDIA_SPLICE_ALWAYS_A 0xffff /* a span every listener gets from A */

/* The shared layout: spans n, span i is the bytes [cut[i], cut[i+1]) of
 * either rendition (whole access units of one watermark fragment) and
 * carries fragment bit slot[i] (0..MEDIA_SPLICE_SLOTS-1) or
 * MEDIA_SPLICE_ALWAYS_A. Bytes below cut[0] and from cut[n] to size (the
 * MP4 boxes) are the same in A and B and come from A. Borrowed arrays. */
struct media_splice_map {
	const uint64_t *cut; /* n + 1 offsets, non-decreasing */
	const uint16_t *slot;
	size_t n;
	uint64_t size; /* bytes of either rendition */
};

/* One piece of a listener's range: len bytes at off of rendition src. */
struct media_splice_piece {
	uint64_t off, len;
	int src; /* 0: A, 1: B */
};

/* 0 if m is usable (cut non-decreasing, within size; slots in range), else
 * AM_ERR_INVAL. */
int media_splice_check(const struct media_splice_map *m);

/* The pieces of bytes [start, end) of the stream of a listener whose
 * fragment bits are bits[MEDIA_SPLICE_SLOTS] (0 = A, 1 = B; any non-zero
 * is B): into out[0..cap), adjacent pieces of one rendition merged, in
 * order. Returns the count (>= 0) and sets *next to where it stopped: end
 * when the whole range fit, less when out was full (call again from
 * *next). One binary search, then O(pieces). AM_ERR_INVAL for a map that
 * fails media_splice_check's bounds, start > end, end > size or cap 0. */
int media_splice_range(const struct media_splice_map *m, const uint8_t bits[MEDIA_SPLICE_SLOTS],
		       uint64_t start, uint64_t end, struct media_splice_piece *out, size_t cap,
		       uint64_t *next);

#endif
