/*
 * media_marked_pcm.c: the marked WAV of a version whose original is not a
 * WAV (FLAC, MP3, AAC/M4A, AIFF, Ogg…; issue 24, docs/media.md "Marked
 * WAV"). The media process never parses audio: the sandboxed transcoding
 * child (`audiomus-xcode`, src/xcode/, PCM mode) decodes the original,
 * read through the AM1 reader as for a download. It runs twice: once to
 * count the samples (the header and Content-Length need the size before
 * the first byte), then streaming the interleaved PCM through a socket
 * pair from a thread to the response (media_pipe.c; backpressure: the
 * child waits on the socket, the socket on the client), followed by the markers' chunks
 * (media_marked.c, src/markers/). The PCM is the decoder's own sample
 * format (child_wav.c): byte-identical to `ffmpeg -i ORIG -f FMT`. Runs in
 * the media process after media_stream.c verified and authorized the
 * signed URL; everything the child sends is untrusted and checked by
 * xcode_run, and the second pass must send exactly the bytes the first
 * counted or the connection is cut.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/app.h"
#include "http/http.h"
#include "markers/markers.h"
#include "media/media_int.h"
#include "store/store.h"
#include "util/util.h"
#include "xcode/xcode.h"

#define PCM_MAX	     (UINT64_C(16) << 30) /* decoded bytes of one marked WAV, at most */
#define PCM_AT_ONCE  2			  /* decodes at once per media process */
#define PCM_TAIL_MAX (32 * 1024 * 1024)

static int pcm_running;

struct pcm {
	struct media_pipe mp; /* the child; mp.limit: the PCM bytes counted */
	struct am_buf head, tail;
};

static void pcm_free(void *arg)
{
	struct pcm *p = arg;

	media_pipe_close(&p->mp);
	am_buf_cleanup(&p->head);
	am_buf_cleanup(&p->tail);
	free(p);
	__atomic_sub_fetch(&pcm_running, 1, __ATOMIC_ACQ_REL);
}

static ssize_t pcm_fill(void *arg, uint64_t pos, uint8_t *buf, size_t max)
{
	struct pcm *p = arg;
	uint64_t hl = p->head.len, dl = p->mp.limit, tl = p->tail.len;
	size_t n;
	int rc;

	if ((rc = media_still_granted(p->mp.s, pos)) != 0)
		return rc;
	if (pos < hl) {
		n = (size_t)(hl - pos) < max ? (size_t)(hl - pos) : max;
		memcpy(buf, p->head.p + pos, n);
		return (ssize_t)n;
	}
	if (pos < hl + dl)
		return media_pipe_recv(&p->mp, buf,
				       (dl - (pos - hl)) < max ? (size_t)(dl - (pos - hl)) : max);
	if (pos >= hl + dl + tl)
		return 0;
	n = (size_t)(hl + dl + tl - pos) < max ? (size_t)(hl + dl + tl - pos) : max;
	memcpy(buf, p->tail.p + (pos - hl - dl), n);
	return (ssize_t)n;
}

/* Count, build the header and the markers, start the streaming pass. A
 * file at fault gets 422 and the reason (rc 1), or AM_ERR_UNSUPPORTED
 * without req. */
static int prepare(struct media *m, struct http_req *req, const struct stream_req *sr,
		   struct pcm *p)
{
	struct markers_wav w, w2;
	struct am_buf scratch;
	uint16_t tag = 0, bits = 0;
	int64_t cut;
	int rc;

	p->mp.kind = "marked_wav";
	p->mp.out = XCODE_OUT_PCM;
	p->mp.max = PCM_MAX;
	if ((rc = media_pipe_open(&p->mp, m, sr)) != 0)
		return rc;
	/* A test build only (0 in a release build): the child reads the original
	 * cut to this percentage, as a stored original that no longer decodes
	 * (a damaged upload never becomes ready: the worker decodes as strictly);
	 * tests/e2e/markers.test.mjs answers it 422. */
	if ((cut = am_test_hook_ms("MARKED_TRUNCATE_PCT", 1, 99)) > 0)
		p->mp.size = p->mp.size * (uint64_t)cut / 100;
	if ((rc = media_pipe_count(&p->mp, req, &tag, &bits)) != 0)
		return rc;
	p->mp.limit = p->mp.res.samples * (uint64_t)p->mp.res.channels * (bits / 8);
	if (p->mp.limit > PCM_MAX)
		return AM_ERR_TOOBIG;
	am_buf_init(&scratch, 128);
	rc = markers_wav_pcm_head(tag, bits, (uint16_t)p->mp.res.channels,
				  (uint32_t)p->mp.res.sample_rate, p->mp.limit, 0, &scratch, &w);
	am_buf_cleanup(&scratch);
	if (rc || (rc = media_marked_tail(m->app, sr, &w, &p->tail)) ||
	    (rc = markers_wav_pcm_head(w.format_tag, (uint16_t)(w.block_align / w.channels * 8),
				       w.channels, w.sample_rate, p->mp.limit, p->tail.len,
				       &p->head, &w2)))
		return rc;
	return media_pipe_start(&p->mp);
}

int media_marked_pcm_open(struct media *m, struct http_req *req, const struct stream_req *sr,
			  struct marked_src *out)
{
	struct pcm *p = NULL;
	int rc;

	if (media_marked_pcm_slot(1) != 0)
		return AM_ERR_UNAVAIL;
	if (!(p = calloc(1, sizeof(*p))) || !(p->mp.s = calloc(1, sizeof(*p->mp.s)))) {
		free(p);
		media_marked_pcm_slot(-1);
		return AM_ERR_NOMEM;
	}
	p->mp.sv[0] = p->mp.sv[1] = -1;
	am_buf_init(&p->head, 128);
	am_buf_init(&p->tail, PCM_TAIL_MAX);
	if ((rc = prepare(m, req, sr, p)) != 0) {
		pcm_free(p);
		return rc;
	}
	out->fill = pcm_fill;
	out->arg = p;
	out->free = pcm_free;
	out->len = p->head.len + p->mp.limit + p->tail.len;
	return 0;
}

/* Shared with the marked download (media_markdl.c, issue 26). */
int media_marked_pcm_slot(int delta)
{
	if (delta < 0) {
		__atomic_sub_fetch(&pcm_running, 1, __ATOMIC_ACQ_REL);
		return 0;
	}
	if (__atomic_add_fetch(&pcm_running, 1, __ATOMIC_ACQ_REL) > PCM_AT_ONCE) {
		__atomic_sub_fetch(&pcm_running, 1, __ATOMIC_ACQ_REL);
		return AM_ERR_UNAVAIL;
	}
	return 0;
}
