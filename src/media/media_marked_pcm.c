/*
 * media_marked_pcm.c: the marked WAV of a version whose original is not a
 * WAV (FLAC, MP3, AAC/M4A, AIFF, Ogg…; issue 24, docs/media.md "Marked
 * WAV"). The media process never parses audio: the sandboxed transcoding
 * child (`audiomus-xcode`, src/xcode/, PCM mode) decodes the original,
 * read through the AM1 reader as for a download. It runs twice: once to
 * count the samples (the header and Content-Length need the size before
 * the first byte), then streaming the interleaved PCM through a socket
 * pair from a thread to the response (backpressure: the child waits on
 * the socket, the socket on the client), followed by the markers' chunks
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

#define PCM_CHILD_NAME "audiomus-xcode"
#define PCM_MAX	       (UINT64_C(16) << 30) /* decoded bytes of one marked WAV, at most */
#define PCM_AT_ONCE    2		    /* decodes at once per media process */
#define PCM_TAIL_MAX   (32 * 1024 * 1024)

static int pcm_running;

struct pcm {
	struct stream_ctx *s;
	struct am_buf head, tail;
	uint64_t size;	   /* of the original */
	uint64_t data_len; /* PCM bytes counted by the first pass */
	uint64_t got;	   /* PCM bytes the second pass sent (thread) */
	int sv[2];	   /* [0]: the response reads; [1]: the thread writes */
	int cancel, started;
	pthread_t th;
	char exec_path[PATH_MAX];
	struct xcode_result res;
};

/* audiomus-xcode beside this binary, as the worker finds it. */
static int child_path(char *out, size_t n)
{
	char self[PATH_MAX];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (k <= 0)
		return AM_ERR_INTERNAL;
	self[k] = 0;
	if (!(slash = strrchr(self, '/')))
		return AM_ERR_INTERNAL;
	slash[1] = 0;
	if ((size_t)snprintf(out, n, "%s%s", self, PCM_CHILD_NAME) >= n)
		return AM_ERR_INTERNAL;
	return 0;
}

static int src_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	struct pcm *p = ctx;

	return am1_reader_pread(p->s->r, off, buf, n, got);
}

static int null_write(void *ctx, const void *b, size_t n)
{
	return 0;
}

/* Second pass: the PCM into the socket, never more than the first pass
 * counted. A closed reader (the client went) fails the job, which kills
 * the child. */
static int sock_write(void *ctx, const void *b, size_t n)
{
	struct pcm *p = ctx;
	const uint8_t *c = b;

	if (n > p->data_len - p->got)
		return AM_ERR_INVAL;
	while (n > 0) {
		ssize_t k = send(p->sv[1], c, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return AM_ERR_IO;
		c += k;
		n -= (size_t)k;
		p->got += (uint64_t)k;
	}
	return 0;
}

static void params(struct pcm *p, struct xcode_params *xp, enum xcode_output out)
{
	memset(xp, 0, sizeof(*xp));
	xp->output = out;
	xp->exec_path = p->exec_path;
	xp->max_output = out == XCODE_OUT_PCM ? p->data_len : 1;
	xp->cancel = &p->cancel;
}

static void *pass2(void *arg)
{
	struct pcm *p = arg;
	struct xcode_source src = {.read_at = src_read, .size = p->size, .ctx = p};
	struct xcode_sink pcm = {.write = sock_write, .patch_head = null_write, .ctx = p};
	struct xcode_sink none = {.write = null_write, .patch_head = null_write, .ctx = p};
	struct xcode_params xp;
	struct xcode_result res;

	params(p, &xp, XCODE_OUT_PCM);
	if (xcode_run(&xp, &src, &pcm, &none, &none, &res) != 0 &&
	    !__atomic_load_n(&p->cancel, __ATOMIC_ACQUIRE))
		am_log(AM_LOG_ERROR, "media_marked_decode_failed", "pass", "stream", "reason",
		       res.reason, "detail", res.detail);
	shutdown(p->sv[1], SHUT_WR); /* the response sees the end */
	return NULL;
}

static void pcm_free(void *arg)
{
	struct pcm *p = arg;

	__atomic_store_n(&p->cancel, 1, __ATOMIC_RELEASE);
	if (p->sv[0] >= 0)
		shutdown(p->sv[0], SHUT_RDWR); /* a thread blocked in send() returns */
	if (p->started)
		pthread_join(p->th, NULL);
	for (int i = 0; i < 2; i++)
		if (p->sv[i] >= 0)
			close(p->sv[i]);
	media_stream_ctx_free(p->s);
	am_buf_cleanup(&p->head);
	am_buf_cleanup(&p->tail);
	free(p);
	__atomic_sub_fetch(&pcm_running, 1, __ATOMIC_ACQ_REL);
}

static ssize_t pcm_fill(void *arg, uint64_t pos, uint8_t *buf, size_t max)
{
	struct pcm *p = arg;
	uint64_t hl = p->head.len, dl = p->data_len, tl = p->tail.len;
	size_t n;
	ssize_t k;
	int rc;

	if ((rc = media_still_granted(p->s, pos)) != 0)
		return rc;
	if (pos < hl) {
		n = (size_t)(hl - pos) < max ? (size_t)(hl - pos) : max;
		memcpy(buf, p->head.p + pos, n);
		return (ssize_t)n;
	}
	if (pos < hl + dl) {
		n = (dl - (pos - hl)) < max ? (size_t)(dl - (pos - hl)) : max;
		do
			k = recv(p->sv[0], buf, n, 0);
		while (k < 0 && errno == EINTR);
		if (k <= 0) { /* the child failed or sent less than it counted */
			am_log(AM_LOG_ERROR, "media_marked_aborted", "error", "decode ended early");
			return AM_ERR_IO;
		}
		return k;
	}
	if (pos >= hl + dl + tl)
		return 0;
	n = (size_t)(hl + dl + tl - pos) < max ? (size_t)(hl + dl + tl - pos) : max;
	memcpy(buf, p->tail.p + (pos - hl - dl), n);
	return (ssize_t)n;
}

/* The PCM format the child named: WAV format tag and bits; 0 or -1. */
static int pcm_format(const struct xcode_result *r, uint16_t *tag, uint16_t *bits)
{
	static const struct {
		const char *name;
		uint16_t tag, bits;
	} f[] = {{"u8", 1, 8},	   {"s16le", 1, 16}, {"s24le", 1, 24},
		 {"s32le", 1, 32}, {"f32le", 3, 32}, {"f64le", 3, 64}};

	for (size_t i = 0; i < AM_ARRAY_LEN(f); i++)
		if (strcmp(r->codec, f[i].name) == 0 && r->bit_depth == f[i].bits) {
			*tag = f[i].tag;
			*bits = f[i].bits;
			return 0;
		}
	return -1;
}

/* First pass: count. A file at fault gets 422 and the reason (rc 1), or
 * AM_ERR_UNSUPPORTED without req. */
static int pass1(struct pcm *p, struct http_req *req, struct markers_wav *w)
{
	struct xcode_source src = {.read_at = src_read, .size = p->size, .ctx = p};
	struct xcode_sink none = {.write = null_write, .patch_head = null_write, .ctx = p};
	struct xcode_params xp;
	struct am_buf scratch;
	uint16_t tag = 0, bits = 0;
	char msg[200];
	json_t *j;
	int rc;

	params(p, &xp, XCODE_OUT_PCM_COUNT);
	rc = xcode_run(&xp, &src, &none, &none, &none, &p->res);
	if (rc != 0 && !xcode_fail_retryable(p->res.fail)) {
		snprintf(msg, sizeof(msg), "the original could not be decoded: %s", p->res.reason);
		am_log(AM_LOG_WARN, "media_marked_undecodable", "reason", p->res.reason, "detail",
		       p->res.detail);
		if (!req)
			return AM_ERR_UNSUPPORTED; /* inside a zip that already started */
		j = json_pack("{s:s}", "error", msg);
		rc = j ? http_respond_json(req, 422, j) : AM_ERR_NOMEM;
		json_decref(j);
		return rc ? rc : 1;
	}
	if (rc != 0 || pcm_format(&p->res, &tag, &bits) != 0) {
		am_log(AM_LOG_ERROR, "media_marked_decode_failed", "pass", "count", "reason",
		       p->res.reason, "detail", p->res.detail);
		return AM_ERR_INTERNAL;
	}
	p->data_len = p->res.samples * (uint64_t)p->res.channels * (bits / 8);
	if (p->data_len > PCM_MAX)
		return AM_ERR_TOOBIG;
	am_buf_init(&scratch, 128);
	rc = markers_wav_pcm_head(tag, bits, (uint16_t)p->res.channels,
				  (uint32_t)p->res.sample_rate, p->data_len, 0, &scratch, w);
	am_buf_cleanup(&scratch);
	return rc;
}

/* Count, build the header and the markers, start the streaming pass. */
static int prepare(struct media *m, struct http_req *req, const struct stream_req *sr,
		   struct pcm *p)
{
	struct markers_wav w, w2;
	struct store_err err;
	int64_t cut;
	int rc;

	if ((rc = child_path(p->exec_path, sizeof(p->exec_path))) != 0)
		return rc;
	if ((rc = media_open_object(m->app, sr, 0, p->s, &err)) != 0) {
		am_log(AM_LOG_ERROR, "media_object_unreadable", "error", am_strerror(rc),
		       "store_error", err.msg[0] ? err.msg : NULL);
		return AM_ERR_INTERNAL;
	}
	p->size = (uint64_t)sr->o.plain_size;
	/* A test build only (0 in a release build): the child reads the original
	 * cut to this percentage, as a stored original that no longer decodes
	 * (a damaged upload never becomes ready: the worker decodes as strictly);
	 * tests/e2e/markers.test.mjs answers it 422. */
	if ((cut = am_test_hook_ms("MARKED_TRUNCATE_PCT", 1, 99)) > 0)
		p->size = p->size * (uint64_t)cut / 100;
	media_stream_ctx_grant(p->s, m->app, sr);
	if ((rc = pass1(p, req, &w)) != 0)
		return rc;
	if ((rc = media_marked_tail(m->app, sr, &w, &p->tail)) ||
	    (rc = markers_wav_pcm_head(w.format_tag, (uint16_t)(w.block_align / w.channels * 8),
				       w.channels, w.sample_rate, p->data_len, p->tail.len,
				       &p->head, &w2)))
		return rc;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->sv) != 0)
		return AM_ERR_INTERNAL;
	if (pthread_create(&p->th, NULL, pass2, p) != 0)
		return AM_ERR_INTERNAL;
	p->started = 1;
	return 0;
}

int media_marked_pcm_open(struct media *m, struct http_req *req, const struct stream_req *sr,
			  struct marked_src *out)
{
	struct pcm *p = NULL;
	int rc;

	if (__atomic_add_fetch(&pcm_running, 1, __ATOMIC_ACQ_REL) > PCM_AT_ONCE) {
		__atomic_sub_fetch(&pcm_running, 1, __ATOMIC_ACQ_REL);
		return AM_ERR_UNAVAIL;
	}
	if (!(p = calloc(1, sizeof(*p))) || !(p->s = calloc(1, sizeof(*p->s)))) {
		free(p);
		__atomic_sub_fetch(&pcm_running, 1, __ATOMIC_ACQ_REL);
		return AM_ERR_NOMEM;
	}
	p->sv[0] = p->sv[1] = -1;
	am_buf_init(&p->head, 128);
	am_buf_init(&p->tail, PCM_TAIL_MAX);
	if ((rc = prepare(m, req, sr, p)) != 0) {
		pcm_free(p);
		return rc;
	}
	out->fill = pcm_fill;
	out->arg = p;
	out->free = pcm_free;
	out->len = p->head.len + p->data_len + p->tail.len;
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
