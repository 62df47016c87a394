/*
 * markers_int.h: internals shared by the files of src/markers/: the
 * selected, time-ordered marker list every format is written from. Pure
 * code in whichever role formats markers.
 */
#ifndef AM_MARKERS_INT_H
#define AM_MARKERS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "markers/markers.h"

struct am_buf;

/* One selected comment, in time order. */
struct markers_item {
	int64_t start_ms;
	int64_t end_ms; /* -1: a point */
	const struct markers_comment *c;
	size_t order; /* input index: ties keep input order */
};

/* The comments o selects (open only / resolved / replies), sorted by time,
 * in a new array *out (free() it) of *count items. 0, AM_ERR_TOOBIG (more
 * than MARKERS_MAX), AM_ERR_NOMEM. */
int markers_select(const struct markers_opts *o, const struct markers_comment *c, size_t n,
		   struct markers_item **out, size_t *count);

/* Full, uncut text ("author: text", control characters as spaces). */
#define MARKERS_UNCUT 0xFFFFFFFFu

/* The Standard MIDI File of the selected markers v[0..n) (markers_smf.c);
 * l is scratch space for labels. */
int markers_smf(const struct markers_opts *o, const struct markers_item *v, size_t n,
		struct am_buf *out, struct am_buf *l);

void markers_put_le16(uint8_t *p, uint16_t v);
void markers_put_le32(uint8_t *p, uint32_t v);
void markers_put_le64(uint8_t *p, uint64_t v);

#endif
