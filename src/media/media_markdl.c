/*
 * media_markdl.c: a guest's download of an original, marked with the
 * listener's payload (issue 26, docs/watermark.md "Marked downloads",
 * docs/media.md "Marked downloads"). When the project marks its audio and
 * its downloads, a guest's d=1 URL must carry the listening's mark ticket
 * (&mt=, as a stream does); without a valid one: 403, never the plain
 * original. With one, the media process reads the listener's payload,
 * derives the pattern's key-less seed and the listener's coded bits (the
 * project's watermark key stays here), and runs the sandboxed transcoding
 * child twice, as the marked WAV does (media_marked_pcm.c): a count pass
 * (422 before any byte for a damaged original), then the marked pass
 * streamed through a socket pair from a thread: a WAV original comes back
 * as the same WAV (its sample format, rate and channels; a fresh 44-byte
 * header, RF64 past 4 GiB), every other original as FLAC (16 or 24 bits:
 * the lossless ones keep their bits; the lossy ones are decoded, marked and
 * stored losslessly rather than coded a second time), sent chunked. The
 * owner's download and projects that do not mark downloads are not touched.
 * Runs in the media process after media_stream.c verified and authorized
 * the signed URL; everything the child sends is untrusted and checked by
 * xcode_run.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access/access.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "markers/markers.h"
#include "media/media_int.h"
#include "repo/repo.h"
#include "store/store.h"
#include "util/util.h"
#include "watermark/watermark.h"
#include "xcode/xcode.h"

#define MDL_MAX	  (UINT64_C(16) << 30) /* bytes of one marked download, at most */
#define MDL_BLOCK (64 * 1024)

struct mdl {
	struct stream_ctx *s;
	struct xcode_mark mark; /* seed and bits: zeroed at the end */
	struct am_buf head;	/* the WAV header, or empty (FLAC) */
	enum xcode_output out;
	uint64_t size;	   /* of the original */
	uint64_t data_len; /* WAV: the PCM bytes counted; FLAC: 0 (unknown) */
	uint64_t got;	   /* bytes the marked pass sent (thread) */
	int sv[2];
	int cancel, started, ok;
	pthread_t th;
	char exec_path[PATH_MAX];
	struct xcode_result res;
};

static int src_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	struct mdl *p = ctx;

	return am1_reader_pread(p->s->r, off, buf, n, got);
}

static int null_write(void *ctx, const void *b, size_t n)
{
	return 0;
}

static int sock_write(void *ctx, const void *b, size_t n)
{
	struct mdl *p = ctx;
	const uint8_t *c = b;

	if (p->data_len && n > p->data_len - p->got)
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

static void params(struct mdl *p, struct xcode_params *xp, enum xcode_output out)
{
	memset(xp, 0, sizeof(*xp));
	xp->output = out;
	xp->exec_path = p->exec_path;
	xp->max_output = out == XCODE_OUT_PCM_COUNT ? 1 : p->data_len ? p->data_len : MDL_MAX;
	xp->cancel = &p->cancel;
	xp->mark = &p->mark;
}

static void *pass2(void *arg)
{
	struct mdl *p = arg;
	struct xcode_source src = {.read_at = src_read, .size = p->size, .ctx = p};
	struct xcode_sink out = {.write = sock_write, .patch_head = null_write, .ctx = p};
	struct xcode_sink none = {.write = null_write, .patch_head = null_write, .ctx = p};
	struct xcode_params xp;
	struct xcode_result res;

	params(p, &xp, p->out);
	if (xcode_run(&xp, &src, &out, &none, &none, &res) == 0 &&
	    (!p->data_len || p->got == p->data_len))
		__atomic_store_n(&p->ok, 1, __ATOMIC_RELEASE);
	else if (!__atomic_load_n(&p->cancel, __ATOMIC_ACQUIRE))
		am_log(AM_LOG_ERROR, "media_markdl_failed", "pass", "mark", "reason", res.reason,
		       "detail", res.detail);
	shutdown(p->sv[1], SHUT_WR);
	return NULL;
}

static void mdl_free(void *arg)
{
	struct mdl *p = arg;

	__atomic_store_n(&p->cancel, 1, __ATOMIC_RELEASE);
	if (p->sv[0] >= 0)
		shutdown(p->sv[0], SHUT_RDWR);
	if (p->started)
		pthread_join(p->th, NULL);
	for (int i = 0; i < 2; i++)
		if (p->sv[i] >= 0)
			close(p->sv[i]);
	media_stream_ctx_free(p->s);
	am_buf_cleanup(&p->head);
	am_memzero(&p->mark, sizeof(p->mark));
	free(p);
	media_marked_pcm_slot(-1);
}

static ssize_t mdl_fill(void *arg, uint64_t pos, uint8_t *buf, size_t max)
{
	struct mdl *p = arg;
	uint64_t hl = p->head.len;
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
	if (p->data_len && pos >= hl + p->data_len)
		return 0;
	if (p->data_len && p->data_len - (pos - hl) < max)
		max = (size_t)(p->data_len - (pos - hl));
	do
		k = recv(p->sv[0], buf, max, 0);
	while (k < 0 && errno == EINTR);
	if (k > 0)
		return k;
	/* The end: complete only when the child said so (chunked FLAC). */
	if (k == 0 && !p->data_len) {
		pthread_join(p->th, NULL);
		p->started = 0;
		if (__atomic_load_n(&p->ok, __ATOMIC_ACQUIRE))
			return 0;
	}
	am_log(AM_LOG_ERROR, "media_markdl_aborted", "error", "marking ended early");
	return AM_ERR_IO;
}

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
	if ((size_t)snprintf(out, n, "%saudiomus-xcode", self) >= n)
		return AM_ERR_INTERNAL;
	return 0;
}

static int refuse(struct http_req *req, const char *why)
{
	(void)http_add_header(req, "Mark-Error", why);
	am_log(AM_LOG_INFO, "media_mark_refused", "reason", why, "kind", "download");
	return AM_ERR_DENIED;
}

/* The ticket names a mark row of this grant's link and project: its
 * payload into *mk. 0, AM_ERR_DENIED with *why, or a database error. */
static int listener(struct app *a, struct db *db, const struct stream_req *sr, struct db_mark *mk,
		    const char **why)
{
	struct access_mark_ticket t;
	int rc;

	*why = "mark ticket required";
	if (!sr->ticket[0])
		return AM_ERR_DENIED;
	*why = "mark ticket invalid or expired";
	if (access_mark_ticket_verify(a, sr->ticket, &t))
		return AM_ERR_DENIED;
	*why = "mark ticket of another link";
	if (memcmp(t.link_id, sr->g.link_id, sizeof(t.link_id)) != 0 ||
	    memcmp(t.project_id, sr->g.project_id, sizeof(t.project_id)) != 0)
		return AM_ERR_DENIED;
	*why = "mark ticket invalid or expired";
	rc = db_mark_get(db, a->keys, t.project_id, t.mark_id, mk);
	if (rc == 0 && memcmp(mk->link_id, sr->g.link_id, sizeof(mk->link_id)) != 0)
		rc = AM_ERR_DENIED;
	am_memzero(&t, sizeof(t));
	return rc == AM_ERR_NOTFOUND ? AM_ERR_DENIED : rc;
}

/* The pattern's seed and the listener's coded bits, under the project's
 * watermark key (which never leaves this process). */
static int mark_of(struct app *a, const struct stream_req *sr, const struct db_mark *mk,
		   struct xcode_mark *x)
{
	struct crypto_pk *pk = NULL;
	struct crypto_wm_key *wk = NULL;
	struct wm_pattern *pat = NULL;
	int rc;

	if ((rc = crypto_pk_open(a->kr, sr->g.project_id, sr->p.wrapped_pk, sr->p.wrapped_pk_len,
				 &pk)) == 0 &&
	    (rc = crypto_wm_key_project(pk, &wk)) == 0 && (rc = wm_pattern_new(wk, &pat)) == 0 &&
	    (rc = wm_fragment_bits(pat, mk->payload, x->bits)) == 0)
		rc = wm_pattern_seed(wk, x->seed);
	wm_pattern_free(pat);
	crypto_wm_key_free(wk);
	crypto_pk_free(pk);
	return rc;
}

/* 0 to serve the plain original (an owner, a project that does not mark
 * downloads); 1 with x filled for a guest with a valid ticket; else the
 * refusal or an error. */
static int decide(struct app *a, struct http_req *req, const struct stream_req *sr,
		  struct xcode_mark *x)
{
	struct db_mark_settings st;
	struct db_mark mk;
	struct db *db = NULL;
	const char *why = NULL;
	int rc;

	if (sr->g.owner || sr->download != 1)
		return 0;
	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = db_mark_settings_get(db, sr->g.project_id, &st);
	if (rc == 0 && st.on && st.downloads) {
		rc = listener(a, db, sr, &mk, &why);
		if (rc == AM_ERR_DENIED)
			rc = refuse(req, why);
		else if (rc == 0 && (rc = mark_of(a, sr, &mk, x)) == 0) {
			x->strength = (float)st.strength / 1000.0f;
			rc = 1;
		}
		am_memzero(&mk, sizeof(mk));
	}
	app_db_put(a, db);
	return rc == AM_ERR_NOTFOUND ? AM_ERR_DENIED : rc;
}

/* The WAV format tag and bits of the PCM format the child named; 0 or -1. */
static int wav_format(const struct xcode_result *r, uint16_t *tag, uint16_t *bits)
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

/* The original's container: a WAV comes back as WAV, the rest as FLAC. */
static int pick_output(struct mdl *p)
{
	struct xcode_source src = {.read_at = src_read, .size = p->size, .ctx = p};
	uint8_t b[64];
	size_t got = 0;
	const char *f;

	if (am1_reader_pread(p->s->r, 0, b, p->size < sizeof(b) ? p->size : sizeof(b), &got))
		return AM_ERR_IO;
	f = xcode_sniff(b, got, &src);
	p->out = f && strcmp(f, "wav") == 0 ? XCODE_OUT_MARKED_PCM : XCODE_OUT_MARKED_FLAC;
	return 0;
}

/* The count pass: a damaged original gets 422 and the reason (rc 1); then
 * the WAV header (WAV) or the sample count for FLAC's STREAMINFO. */
static int count(struct mdl *p, struct http_req *req)
{
	struct xcode_source src = {.read_at = src_read, .size = p->size, .ctx = p};
	struct xcode_sink none = {.write = null_write, .patch_head = null_write, .ctx = p};
	struct xcode_params xp;
	struct markers_wav w;
	uint16_t tag = 0, bits = 0;
	char msg[200];
	json_t *j;
	int rc;

	params(p, &xp, XCODE_OUT_PCM_COUNT);
	rc = xcode_run(&xp, &src, &none, &none, &none, &p->res);
	if (rc != 0 && !xcode_fail_retryable(p->res.fail)) {
		snprintf(msg, sizeof(msg), "the original could not be decoded: %s", p->res.reason);
		am_log(AM_LOG_WARN, "media_markdl_undecodable", "reason", p->res.reason, "detail",
		       p->res.detail);
		j = json_pack("{s:s}", "error", msg);
		rc = j ? http_respond_json(req, 422, j) : AM_ERR_NOMEM;
		json_decref(j);
		return rc ? rc : 1;
	}
	if (rc != 0 || wav_format(&p->res, &tag, &bits) != 0) {
		am_log(AM_LOG_ERROR, "media_markdl_failed", "pass", "count", "reason",
		       p->res.reason, "detail", p->res.detail);
		return AM_ERR_INTERNAL;
	}
	p->mark.samples = p->res.samples;
	if (p->out != XCODE_OUT_MARKED_PCM)
		return 0;
	p->data_len = p->res.samples * (uint64_t)p->res.channels * (bits / 8);
	if (p->data_len == 0 || p->data_len > MDL_MAX)
		return AM_ERR_TOOBIG;
	return markers_wav_pcm_head(tag, bits, (uint16_t)p->res.channels,
				    (uint32_t)p->res.sample_rate, p->data_len, 0, &p->head, &w);
}

/* Content-Disposition with the original's name (".flac" for a FLAC made of
 * another format), no caching, no ranges. */
static int headers(struct http_req *req, const struct stream_req *sr, const struct mdl *p)
{
	char name[DB_FILENAME_MAX + 8], disp[2048];
	char *dot;
	int rc;

	am_strlcpy(name, sr->filename[0] ? sr->filename : "audio", sizeof(name) - 8);
	dot = strrchr(name, '.');
	if (p->out == XCODE_OUT_MARKED_FLAC && !(dot && strcasecmp(dot, ".flac") == 0)) {
		if (dot && dot != name)
			*dot = 0;
		am_strlcpy(name + strlen(name), ".flac", 8);
	}
	if ((rc = media_disposition(disp, sizeof(disp), 1, name)) ||
	    (rc = http_add_header(req, "Cache-Control", "private, no-store")) ||
	    (rc = http_add_header(req, "Accept-Ranges", "none")) ||
	    (rc = http_add_header(req, "Audio-Mark", "listener")))
		return rc;
	return http_add_header(req, "Content-Disposition", disp);
}

static int prepare(struct media *m, struct http_req *req, const struct stream_req *sr,
		   struct mdl *p)
{
	struct store_err err;
	int rc;

	if ((rc = child_path(p->exec_path, sizeof(p->exec_path))) != 0)
		return rc;
	if ((rc = media_open_object(m->app, sr, 0, p->s, &err)) != 0) {
		am_log(AM_LOG_ERROR, "media_object_unreadable", "error", am_strerror(rc),
		       "store_error", err.msg[0] ? err.msg : NULL);
		return AM_ERR_INTERNAL;
	}
	p->size = (uint64_t)sr->o.plain_size;
	media_stream_ctx_grant(p->s, m->app, sr);
	if ((rc = pick_output(p)) != 0 || (rc = count(p, req)) != 0)
		return rc;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->sv) != 0)
		return AM_ERR_INTERNAL;
	if (pthread_create(&p->th, NULL, pass2, p) != 0)
		return AM_ERR_INTERNAL;
	p->started = 1;
	return 0;
}

int media_markdl_respond(struct media *m, struct http_req *req, const struct stream_req *sr,
			 int *handled)
{
	struct xcode_mark x;
	struct mdl *p = NULL;
	int rc;

	*handled = 0;
	memset(&x, 0, sizeof(x));
	if ((rc = decide(m->app, req, sr, &x)) <= 0) {
		*handled = rc != 0;
		return rc;
	}
	*handled = 1;
	if ((rc = media_marked_pcm_slot(1)) != 0)
		goto out;
	if (!(p = calloc(1, sizeof(*p))) || !(p->s = calloc(1, sizeof(*p->s)))) {
		free(p);
		p = NULL;
		media_marked_pcm_slot(-1);
		rc = AM_ERR_NOMEM;
		goto out;
	}
	p->sv[0] = p->sv[1] = -1;
	p->mark = x;
	am_buf_init(&p->head, 128);
	if ((rc = prepare(m, req, sr, p)) != 0 || (rc = headers(req, sr, p)) != 0)
		goto out;
	if (http_req_method(req) == HTTP_GET)
		media_record_event(m, req, &sr->g, sr->obj, "download");
	rc = http_respond_stream(req, 200,
				 p->out == XCODE_OUT_MARKED_PCM ? "audio/wav" : "audio/flac",
				 p->data_len ? (int64_t)(p->head.len + p->data_len) : -1, MDL_BLOCK,
				 mdl_fill, p, mdl_free);
	p = NULL; /* http_respond_stream owns it now, also when it failed */
out:
	if (p)
		mdl_free(p);
	am_memzero(&x, sizeof(x));
	return rc == 1 ? 0 : rc;
}
