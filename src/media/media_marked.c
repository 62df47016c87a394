/*
 * media_marked.c: the marked WAV of a version (issue 24, docs/media.md
 * "Marked WAV"): the original WAV with the review comments as cue points
 * and labels, for Reaper, WaveLab, Sound Forge and every editor that reads
 * cue/adtl. It carries audio, so the media role makes it, from a signed
 * URL with d = ACCESS_D_MARKED + flags that the web role issued only where
 * the original may be downloaded (media_stream.c verified and authorized
 * the request before this runs). The body is three pieces: the original's
 * header with its sizes patched, the original's audio bytes exactly as
 * stored (decrypted segment by segment through the AM1 reader), and the
 * chunks of src/markers/. Any other original (FLAC, MP3, AAC/M4A, AIFF,
 * Ogg…) is decoded by the sandboxed transcoding child (src/xcode/, PCM
 * mode; media_marked_pcm.c): counted first, then streamed. Runs in the
 * media process; the original's header is untrusted input
 * (markers_wav_scan), and so is everything the child sends (checked by
 * xcode_run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "http/http.h"
#include "markers/markers.h"
#include "media/media_int.h"
#include "store/store.h"
#include "util/util.h"

#define MARKED_HEAD_FIRST (64 * 1024)	/* bytes of the original read for its header */
#define MARKED_HEAD_MAX	  (1024 * 1024) /* ... and at most, for long chunks before the data */
#define MARKED_TAIL_MAX	  (32 * 1024 * 1024)
#define MARKED_BLOCK	  (16 * 1024)

struct marked {
	struct stream_ctx *s;
	struct am_buf head, tail;
	uint64_t audio_off, audio_len; /* in the original */
};

static void marked_free(void *arg)
{
	struct marked *mk = arg;

	media_stream_ctx_free(mk->s);
	am_buf_cleanup(&mk->head);
	am_buf_cleanup(&mk->tail);
	free(mk);
}

static ssize_t marked_fill(void *arg, uint64_t pos, uint8_t *buf, size_t max)
{
	struct marked *mk = arg;
	uint64_t hl = mk->head.len, al = mk->audio_len, tl = mk->tail.len;
	size_t got = 0, n;
	int rc;

	if ((rc = media_still_granted(mk->s, pos)) != 0) /* revoked while sending */
		return rc;
	if (pos < hl) {
		n = (size_t)(hl - pos) < max ? (size_t)(hl - pos) : max;
		memcpy(buf, mk->head.p + pos, n);
		return (ssize_t)n;
	}
	if (pos < hl + al) {
		n = (al - (pos - hl)) < max ? (size_t)(al - (pos - hl)) : max;
		rc = am1_reader_pread(mk->s->r, mk->audio_off + (pos - hl), buf, n, &got);
		if (rc || got == 0) {
			am_log(AM_LOG_ERROR, "media_marked_aborted", "error",
			       am_strerror(rc ? rc : AM_ERR_IO));
			return rc ? rc : AM_ERR_IO;
		}
		return (ssize_t)got;
	}
	if (pos >= hl + al + tl)
		return 0;
	n = (size_t)(hl + al + tl - pos) < max ? (size_t)(hl + al + tl - pos) : max;
	memcpy(buf, mk->tail.p + (pos - hl - al), n);
	return (ssize_t)n;
}

/* Read the original's first bytes and scan them: 64 KiB, or up to 1 MiB
 * when chunks before the audio are longer. head is the buffer (freed by
 * the caller). */
static int read_head(struct marked *mk, uint64_t size, uint8_t **head, size_t *n,
		     struct markers_wav *w)
{
	size_t want = size < MARKED_HEAD_FIRST ? (size_t)size : MARKED_HEAD_FIRST, got = 0;
	int rc;

	for (;;) {
		uint8_t *p = realloc(*head, want ? want : 1);

		if (!p)
			return AM_ERR_NOMEM;
		*head = p;
		if ((rc = am1_reader_pread(mk->s->r, 0, p, want, &got)) != 0)
			return rc;
		*n = got;
		rc = markers_wav_scan(p, got, size, w);
		if (rc != AM_ERR_UNSUPPORTED || want == MARKED_HEAD_MAX || want == size)
			return rc;
		want = size < MARKED_HEAD_MAX ? (size_t)size : MARKED_HEAD_MAX;
	}
}

static int take_comment(void *ctx, const struct db_comment *c)
{
	struct mk_comments *l = ctx;
	struct markers_comment *x;

	if (c->deleted)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;

		if (cap > MARKERS_MAX * 4 || !(x = realloc(l->v, cap * sizeof(*x))))
			return AM_ERR_TOOBIG;
		l->v = x;
		l->cap = cap;
	}
	x = &l->v[l->n];
	memset(x, 0, sizeof(*x));
	x->time_ms = c->time_ms;
	x->end_ms = c->end_ms;
	x->resolved = c->resolved;
	x->is_reply = c->has_parent;
	if (!(x->author = strdup(c->author)) || !(x->text = strdup(c->body))) {
		free((char *)x->author);
		return AM_ERR_NOMEM;
	}
	l->n++;
	return 0;
}

void media_marked_comments_free(struct mk_comments *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->v[i].author);
		free((char *)l->v[i].text);
	}
	free(l->v);
}

int media_marked_comments(struct app *a, const uint8_t project_id[16], const uint8_t version_id[16],
			  struct mk_comments *l)
{
	struct db *db = NULL;
	int rc;

	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = db_comment_list(db, a->keys, project_id, version_id, take_comment, l);
	app_db_put(a, db);
	return rc;
}

int media_marked_tail(struct app *a, const struct stream_req *sr, const struct markers_wav *w,
		      struct am_buf *tail)
{
	struct mk_comments l = {0};
	struct db_version v;
	struct db_track t;
	struct db *db = NULL;
	struct markers_opts o = {.flags = (unsigned)(sr->download - ACCESS_D_MARKED),
				 .sample_rate = w->sample_rate,
				 .frames = w->frames,
				 .now_s = am_now()};
	int rc;

	memset(&t, 0, sizeof(t));
	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = db_version_get(db, a->keys, sr->g.project_id, sr->o.version_id, &v);
	if (rc == 0 && db_track_get(db, a->keys, sr->g.project_id, v.track_id, &t) == 0)
		o.name = t.title;
	if (rc == 0)
		rc = db_comment_list(db, a->keys, sr->g.project_id, sr->o.version_id, take_comment,
				     &l);
	app_db_put(a, db);
	if (rc == 0)
		rc = markers_wav_chunks(w, &o, l.v, l.n, tail);
	media_marked_comments_free(&l);
	am_memzero(&v, sizeof(v));
	am_memzero(&t, sizeof(t));
	return rc;
}

int media_marked_headers(struct http_req *req, const struct stream_req *sr)
{
	char name[DB_FILENAME_MAX + 16], disp[2048];
	char *dot;
	int rc;

	am_strlcpy(name, sr->filename[0] ? sr->filename : "audio", sizeof(name) - 16);
	if ((dot = strrchr(name, '.')) && dot != name)
		*dot = 0;
	am_strlcpy(name + strlen(name), "-markers.wav", 16);
	if ((rc = media_disposition(disp, sizeof(disp), 1, name)) ||
	    (rc = http_add_header(req, "Cache-Control", "private, no-store")) ||
	    (rc = http_add_header(req, "Accept-Ranges", "none")))
		return rc;
	return http_add_header(req, "Content-Disposition", disp);
}

/* The marked WAV of a WAV original as a body source. */
static int wav_open(struct media *m, const struct stream_req *sr, struct marked_src *out)
{
	struct marked *mk = calloc(1, sizeof(*mk));
	struct markers_wav w;
	struct store_err err;
	uint8_t *head = NULL;
	size_t hn = 0;
	int rc;

	if (!mk)
		return AM_ERR_NOMEM;
	am_buf_init(&mk->head, MARKED_HEAD_MAX);
	am_buf_init(&mk->tail, MARKED_TAIL_MAX);
	if (!(mk->s = calloc(1, sizeof(*mk->s)))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	if ((rc = media_open_object(m->app, sr, 0, mk->s, &err)) != 0) {
		am_log(AM_LOG_ERROR, "media_object_unreadable", "error", am_strerror(rc),
		       "store_error", err.msg[0] ? err.msg : NULL);
		rc = AM_ERR_INTERNAL;
		goto out;
	}
	media_stream_ctx_grant(mk->s, m->app, sr);
	if ((rc = read_head(mk, (uint64_t)sr->o.plain_size, &head, &hn, &w)) ||
	    (rc = media_marked_tail(m->app, sr, &w, &mk->tail)) ||
	    (rc = markers_wav_head(head, &w, mk->tail.len, &mk->head)))
		goto out;
	mk->audio_off = w.data_off;
	mk->audio_len = w.data_len + w.pad_in_file;
	out->fill = marked_fill;
	out->arg = mk;
	out->free = marked_free;
	out->len = mk->head.len + mk->audio_len + mk->tail.len;
	mk = NULL;
out:
	if (rc == AM_ERR_TOOBIG || rc == AM_ERR_INVAL)
		rc = AM_ERR_UNSUPPORTED; /* a RIFF past 4 GiB, a malformed header: not markable */
	if (mk)
		marked_free(mk);
	free(head);
	return rc;
}

int media_marked_open(struct media *m, struct http_req *req, const struct stream_req *sr,
		      struct marked_src *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(sr->o.content_type, "audio/wav") != 0)
		return media_marked_pcm_open(m, req, sr, out); /* decode: media_marked_pcm.c */
	return wav_open(m, sr, out);
}

int media_marked_respond(struct media *m, struct http_req *req, const struct stream_req *sr)
{
	struct marked_src src;
	int rc;

	if (sr->download >= ACCESS_D_MARKERS_ZIP) /* the zip of the version: media_marked_zip.c */
		return media_markers_zip_version(m, req, sr);
	if ((rc = media_marked_open(m, req, sr, &src)) != 0)
		return rc == 1 ? 0 : rc; /* 1: answered 422 */
	if ((rc = media_marked_headers(req, sr)) != 0) {
		src.free(src.arg);
		return rc;
	}
	/* http_respond_stream owns src.arg now, also when it fails */
	return http_respond_stream(req, 200, "audio/wav", (int64_t)src.len, MARKED_BLOCK, src.fill,
				   src.arg, src.free);
}
