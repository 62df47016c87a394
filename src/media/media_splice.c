/*
 * media_splice.c: a listener's marked stream as pieces of renditions A and
 * B (media_splice.h, docs/watermark.md "Serving segment variants"). Pure:
 * no allocation, no I/O, every index bounded by the map. Runs in the media
 * role on a client's Range; the map is our own transcode's.
 */
#include "media/media_splice.h"

#include "util/util.h"

int media_splice_check(const struct media_splice_map *m)
{
	if (!m || (m->n > 0 && (!m->cut || !m->slot)))
		return AM_ERR_INVAL;
	if (m->n == 0)
		return 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->cut[i] > m->cut[i + 1] ||
		    (m->slot[i] >= MEDIA_SPLICE_SLOTS && m->slot[i] != MEDIA_SPLICE_ALWAYS_A))
			return AM_ERR_INVAL;
	return m->cut[m->n] <= m->size ? 0 : AM_ERR_INVAL;
}

/* The span holding byte off (cut[0] <= off < cut[n]): the last i with
 * cut[i] <= off, so empty spans are stepped over. */
static size_t find_span(const struct media_splice_map *m, uint64_t off)
{
	size_t lo = 0, hi = m->n; /* cut[lo] <= off < cut[hi] */

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->cut[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Which rendition and how far (exclusive) byte off comes from it alone. */
static int source_at(const struct media_splice_map *m, const uint8_t *bits, uint64_t off,
		     size_t *span, uint64_t *until)
{
	uint16_t s;

	if (m->n == 0 || off < m->cut[0]) {
		*until = m->n ? m->cut[0] : m->size;
		return 0;
	}
	if (off >= m->cut[m->n]) {
		*until = m->size;
		return 0;
	}
	if (*span >= m->n || off < m->cut[*span])
		*span = find_span(m, off);
	while (m->cut[*span + 1] <= off) /* the next span, or over empty ones; */
		(*span)++;		 /* stops by n - 1, as off < cut[n] */
	s = m->slot[*span];
	*until = m->cut[*span + 1];
	return s < MEDIA_SPLICE_SLOTS && bits[s] ? 1 : 0;
}

int media_splice_range(const struct media_splice_map *m, const uint8_t bits[MEDIA_SPLICE_SLOTS],
		       uint64_t start, uint64_t end, struct media_splice_piece *out, size_t cap,
		       uint64_t *next)
{
	size_t k = 0, span = (size_t)-1;
	uint64_t off = start;

	if (!m || !bits || !out || !next || cap == 0 || start > end || end > m->size ||
	    (m->n > 0 && (!m->cut || !m->slot || m->cut[m->n] > m->size)))
		return AM_ERR_INVAL;
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	while (off < end) {
		uint64_t until;
		int src = source_at(m, bits, off, &span, &until);

		if (until <= off) /* a map whose cuts go backwards */
			return AM_ERR_INVAL;
		if (until > end)
			until = end;
		if (k > 0 && out[k - 1].src == src && out[k - 1].off + out[k - 1].len == off) {
			out[k - 1].len += until - off;
		} else {
			if (k == cap)
				break;
			out[k++] =
			    (struct media_splice_piece){.off = off, .len = until - off, .src = src};
		}
		off = until;
	}
	*next = off;
	return (int)k;
}
