/*
 * media_markdl.c: a guest's download of an original, marked with the
 * listener's payload (issue 26, docs/watermark.md "Marked downloads",
 * docs/media.md "Marked downloads"). When the project marks its audio and
 * its downloads, a guest's d=1 URL must carry the listening's mark ticket
 * (&mt=, as a stream does); without a valid one: 403, never the plain
 * original. With one, the media process reads the listener's payload,
 * derives the pattern's key-less seed and the listener's coded bits (the
 * project's watermark key stays here), and runs the sandboxed transcoding
 * child twice through media_pipe.c, as the marked WAV does: a count pass
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
	struct media_pipe mp;	/* the child; mp.limit: WAV's PCM bytes, FLAC 0 */
	struct xcode_mark mark; /* seed and bits: zeroed at the end */
	struct am_buf head;	/* the WAV header, or empty (FLAC) */
};

static void mdl_free(void *arg)
{
	struct mdl *p = arg;

	media_pipe_close(&p->mp);
	am_buf_cleanup(&p->head);
	am_memzero(&p->mark, sizeof(p->mark));
	free(p);
	media_marked_pcm_slot(-1);
}

static ssize_t mdl_fill(void *arg, uint64_t pos, uint8_t *buf, size_t max)
{
	struct mdl *p = arg;
	uint64_t hl = p->head.len, dl = p->mp.limit;
	size_t n;
	int rc;

	if ((rc = media_still_granted(p->mp.s, pos)) != 0)
		return rc;
	if (pos < hl) {
		n = (size_t)(hl - pos) < max ? (size_t)(hl - pos) : max;
		memcpy(buf, p->head.p + pos, n);
		return (ssize_t)n;
	}
	if (dl && pos >= hl + dl)
		return 0;
	if (dl && dl - (pos - hl) < max)
		max = (size_t)(dl - (pos - hl));
	return media_pipe_recv(&p->mp, buf, max);
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

/* The original's container: a WAV comes back as WAV, the rest as FLAC. */
static int pick_output(struct mdl *p)
{
	struct am1_reader *r = p->mp.s->r;
	struct xcode_source src;
	uint8_t b[64];
	size_t got = 0;
	const char *f;

	if (am1_reader_pread(r, 0, b, p->mp.size < sizeof(b) ? p->mp.size : sizeof(b), &got))
		return AM_ERR_IO;
	media_pipe_source(&p->mp, &src);
	f = xcode_sniff(b, got, &src);
	p->mp.out = f && strcmp(f, "wav") == 0 ? XCODE_OUT_MARKED_PCM : XCODE_OUT_MARKED_FLAC;
	return 0;
}

/* The count pass: a damaged original gets 422 and the reason (rc 1); then
 * the WAV header (WAV) or the sample count for FLAC's STREAMINFO. */
static int count(struct mdl *p, struct http_req *req)
{
	struct markers_wav w;
	uint16_t tag = 0, bits = 0;
	int rc;

	if ((rc = media_pipe_count(&p->mp, req, &tag, &bits)) != 0)
		return rc;
	p->mark.samples = p->mp.res.samples;
	if (p->mp.out != XCODE_OUT_MARKED_PCM)
		return 0;
	p->mp.limit = p->mp.res.samples * (uint64_t)p->mp.res.channels * (bits / 8);
	if (p->mp.limit == 0 || p->mp.limit > MDL_MAX)
		return AM_ERR_TOOBIG;
	return markers_wav_pcm_head(tag, bits, (uint16_t)p->mp.res.channels,
				    (uint32_t)p->mp.res.sample_rate, p->mp.limit, 0, &p->head, &w);
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
	if (p->mp.out == XCODE_OUT_MARKED_FLAC && !(dot && strcasecmp(dot, ".flac") == 0)) {
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
	int rc;

	p->mp.kind = "marked_download";
	p->mp.mark = &p->mark;
	p->mp.max = MDL_MAX;
	if ((rc = media_pipe_open(&p->mp, m, sr)) != 0 || (rc = pick_output(p)) != 0 ||
	    (rc = count(p, req)) != 0)
		return rc;
	return media_pipe_start(&p->mp);
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
	if (!(p = calloc(1, sizeof(*p))) || !(p->mp.s = calloc(1, sizeof(*p->mp.s)))) {
		free(p);
		p = NULL;
		media_marked_pcm_slot(-1);
		rc = AM_ERR_NOMEM;
		goto out;
	}
	p->mp.sv[0] = p->mp.sv[1] = -1;
	p->mark = x;
	am_buf_init(&p->head, 128);
	if ((rc = prepare(m, req, sr, p)) != 0 || (rc = headers(req, sr, p)) != 0)
		goto out;
	if (http_req_method(req) == HTTP_GET)
		media_record_event(m, req, &sr->g, sr->obj, "download");
	rc = http_respond_stream(req, 200,
				 p->mp.out == XCODE_OUT_MARKED_PCM ? "audio/wav" : "audio/flac",
				 p->mp.limit ? (int64_t)(p->head.len + p->mp.limit) : -1, MDL_BLOCK,
				 mdl_fill, p, mdl_free);
	p = NULL; /* http_respond_stream owns it now, also when it failed */
out:
	if (p)
		mdl_free(p);
	am_memzero(&x, sizeof(x));
	return rc == 1 ? 0 : rc;
}
