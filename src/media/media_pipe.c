/*
 * media_pipe.c: a sandboxed transcoding child's output streamed into a
 * response, for the two answers that decode an original on request: the
 * marked WAV of a non-WAV original (media_marked_pcm.c, issue 24) and a
 * guest's marked download (media_markdl.c, issue 26). The media process
 * never parses audio: the child (`audiomus-xcode`, src/xcode/) reads the
 * original through the AM1 reader, runs once to count (a damaged original
 * gets 422 before any byte) and once to produce, the second time from a
 * thread into a socket pair that the response reads (backpressure: the
 * child waits on the socket, the socket on the client). Runs in the media
 * process after media_stream.c verified and authorized the signed URL;
 * everything the child sends is untrusted and checked by xcode_run, the
 * producing pass never sends more than the count allows, and a pass that
 * ends early cuts the connection instead of completing the body.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/app.h"
#include "http/http.h"
#include "media/media_int.h"
#include "store/store.h"
#include "util/util.h"

static int src_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	struct media_pipe *mp = ctx;

	return am1_reader_pread(mp->s->r, off, buf, n, got);
}

static int null_write(void *ctx, const void *b, size_t n)
{
	return 0;
}

/* The producing pass into the socket, never past the limit. A closed
 * reader (the client went) fails the job, which kills the child. */
static int sock_write(void *ctx, const void *b, size_t n)
{
	struct media_pipe *mp = ctx;
	const uint8_t *c = b;

	if (mp->limit && n > mp->limit - mp->got)
		return AM_ERR_INVAL;
	while (n > 0) {
		ssize_t k = send(mp->sv[1], c, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return AM_ERR_IO;
		c += k;
		n -= (size_t)k;
		mp->got += (uint64_t)k;
	}
	return 0;
}

static void params(struct media_pipe *mp, struct xcode_params *xp, enum xcode_output out)
{
	memset(xp, 0, sizeof(*xp));
	xp->output = out;
	xp->exec_path = mp->exec_path;
	xp->max_output = out == XCODE_OUT_PCM_COUNT ? 1 : mp->limit ? mp->limit : mp->max;
	xp->cancel = &mp->cancel;
	xp->mark = mp->mark;
}

void media_pipe_source(struct media_pipe *mp, struct xcode_source *src)
{
	memset(src, 0, sizeof(*src));
	src->read_at = src_read;
	src->size = mp->size;
	src->ctx = mp;
}

int media_pipe_open(struct media_pipe *mp, struct media *m, const struct stream_req *sr)
{
	struct store_err err;
	int rc;

	mp->sv[0] = mp->sv[1] = -1;
	if ((rc = am_exe_sibling("audiomus-xcode", mp->exec_path, sizeof(mp->exec_path))) != 0)
		return rc;
	if ((rc = media_open_object(m->app, sr, 0, mp->s, &err)) != 0) {
		am_log(AM_LOG_ERROR, "media_object_unreadable", "error", am_strerror(rc),
		       "store_error", err.msg[0] ? err.msg : NULL);
		return AM_ERR_INTERNAL;
	}
	mp->size = (uint64_t)sr->o.plain_size;
	media_stream_ctx_grant(mp->s, m->app, sr);
	return 0;
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

int media_pipe_count(struct media_pipe *mp, struct http_req *req, uint16_t *tag, uint16_t *bits)
{
	struct xcode_source src = {.read_at = src_read, .size = mp->size, .ctx = mp};
	struct xcode_sink none = {.write = null_write, .patch_head = null_write, .ctx = mp};
	struct xcode_params xp;
	char msg[200];
	json_t *j;
	int rc;

	params(mp, &xp, XCODE_OUT_PCM_COUNT);
	rc = xcode_run(&xp, &src, &none, &none, &none, &mp->res);
	if (rc != 0 && !xcode_fail_retryable(mp->res.fail)) {
		snprintf(msg, sizeof(msg), "the original could not be decoded: %s", mp->res.reason);
		am_log(AM_LOG_WARN, "media_child_undecodable", "kind", mp->kind, "reason",
		       mp->res.reason, "detail", mp->res.detail);
		if (!req)
			return AM_ERR_UNSUPPORTED; /* inside a zip that already started */
		j = json_pack("{s:s}", "error", msg);
		rc = j ? http_respond_json(req, 422, j) : AM_ERR_NOMEM;
		json_decref(j);
		return rc ? rc : 1;
	}
	if (rc != 0 || pcm_format(&mp->res, tag, bits) != 0) {
		am_log(AM_LOG_ERROR, "media_child_failed", "kind", mp->kind, "pass", "count",
		       "reason", mp->res.reason, "detail", mp->res.detail);
		return AM_ERR_INTERNAL;
	}
	return 0;
}

static void *produce(void *arg)
{
	struct media_pipe *mp = arg;
	struct xcode_source src = {.read_at = src_read, .size = mp->size, .ctx = mp};
	struct xcode_sink out = {.write = sock_write, .patch_head = null_write, .ctx = mp};
	struct xcode_sink none = {.write = null_write, .patch_head = null_write, .ctx = mp};
	struct xcode_params xp;
	struct xcode_result res;

	params(mp, &xp, mp->out);
	if (xcode_run(&xp, &src, &out, &none, &none, &res) == 0 &&
	    (!mp->limit || mp->got == mp->limit))
		__atomic_store_n(&mp->ok, 1, __ATOMIC_RELEASE);
	else if (!__atomic_load_n(&mp->cancel, __ATOMIC_ACQUIRE))
		am_log(AM_LOG_ERROR, "media_child_failed", "kind", mp->kind, "pass", "produce",
		       "reason", res.reason, "detail", res.detail);
	shutdown(mp->sv[1], SHUT_WR); /* the response sees the end */
	return NULL;
}

int media_pipe_start(struct media_pipe *mp)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mp->sv) != 0)
		return AM_ERR_INTERNAL;
	if (pthread_create(&mp->th, NULL, produce, mp) != 0)
		return AM_ERR_INTERNAL;
	mp->started = 1;
	return 0;
}

ssize_t media_pipe_recv(struct media_pipe *mp, uint8_t *buf, size_t max)
{
	ssize_t k;

	do
		k = recv(mp->sv[0], buf, max, 0);
	while (k < 0 && errno == EINTR);
	if (k > 0)
		return k;
	/* The end of an unknown length: complete only when the child said so. */
	if (k == 0 && !mp->limit && mp->started) {
		pthread_join(mp->th, NULL);
		mp->started = 0;
		if (__atomic_load_n(&mp->ok, __ATOMIC_ACQUIRE))
			return 0;
	}
	am_log(AM_LOG_ERROR, "media_child_aborted", "kind", mp->kind, "error",
	       "the child's output ended early");
	return AM_ERR_IO;
}

void media_pipe_close(struct media_pipe *mp)
{
	__atomic_store_n(&mp->cancel, 1, __ATOMIC_RELEASE);
	if (mp->sv[0] >= 0)
		shutdown(mp->sv[0], SHUT_RDWR); /* a thread blocked in send() returns */
	if (mp->started)
		pthread_join(mp->th, NULL);
	mp->started = 0;
	for (int i = 0; i < 2; i++)
		if (mp->sv[i] >= 0)
			close(mp->sv[i]);
	mp->sv[0] = mp->sv[1] = -1;
	media_stream_ctx_free(mp->s);
	mp->s = NULL;
}
