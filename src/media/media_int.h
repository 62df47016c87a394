/*
 * media_int.h: internals shared by the files of src/media/ (and its unit
 * tests and fuzz targets): the role's state, the pure header parsers (Range,
 * If-Range, tus headers, Content-Disposition), the streaming and upload
 * handlers. (Sniffing, completion and recovery of uploads: src/upload/.)
 * Runs in the media process; the parsers take untrusted header values and
 * never allocate.
 */
#ifndef AM_MEDIA_INT_H
#define AM_MEDIA_INT_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "access/access.h"
#include "crypto/crypto.h"
#include "media/media.h"
#include "repo/repo.h"
#include "xcode/xcode.h"

struct app;
struct http_req;

struct media_events;
struct media_jobs;

struct media {
	struct app *app;
	int64_t quota; /* bytes per account */
	pthread_t gc_thread;
	pthread_mutex_t gc_lock;
	pthread_cond_t gc_cond;
	int gc_running, gc_stop;
	struct media_events *events; /* play/download events; NULL without a database */
	struct media_jobs *jobs;     /* uploads' disk work; NULL without a database */
};

/* ---- durable work off the HTTP threads (media_jobs.c) --------------------------
 * A bounded queue and a few threads that run what would make an HTTP thread
 * wait for the disk (an upload part's object created, committed, the upload
 * completed): the request is suspended while its job runs, and the job
 * resumes it as its last act. MEDIA_JOBS_MAX bounds the jobs queued (a job
 * being run is no longer counted); beyond it media_jobs_add refuses. */
#define MEDIA_JOBS_THREADS     2
#define MEDIA_JOBS_THREADS_MAX 8
#define MEDIA_JOBS_MAX	       1024
#define MEDIA_JOBS_RETRY_AFTER "5" /* seconds, in the 503 of a full queue */

typedef void media_job_fn(void *arg);

/* A queue of at most cap jobs (0: MEDIA_JOBS_MAX) and its threads (1 ..
 * MEDIA_JOBS_THREADS_MAX; out of range: the maximum). NULL when memory or no
 * thread can be had. */
struct media_jobs *media_jobs_new(unsigned threads, size_t cap);
/* Queue fn(arg). admitted (may be NULL) is called with arg once the job is
 * accepted and before any thread can run it, under the queue's lock: the
 * place to suspend the request the job will resume. 0; AM_ERR_UNAVAIL when
 * the queue is full or stopping (then neither is called); AM_ERR_INVAL. */
int media_jobs_add(struct media_jobs *q, media_job_fn *fn, void *arg, media_job_fn *admitted);
/* Jobs queued and not yet taken by a thread (tests). */
size_t media_jobs_queued(struct media_jobs *q);
/* Stop: every job queued before runs, the threads are joined, q is freed.
 * Accepts NULL. A media_jobs_add meanwhile is refused. */
void media_jobs_free(struct media_jobs *q);

/* ---- play/download events (media_events.c) -----------------------------------
 * The HTTP threads never write events to the database: they queue them
 * here and one writer thread records them, a batch per write transaction
 * (db_event_add_batch). The queue is bounded; when it is full an event is
 * dropped and counted (logged as media_events_dropped at most every
 * MEDIA_EVENTS_DROP_LOG_S seconds), never waited for. Stopping writes every
 * event still queued before it returns. */
#define MEDIA_EVENTS_MAX	4096 /* events queued or being written, at most */
#define MEDIA_EVENTS_BATCH	256  /* events per transaction, at most */
#define MEDIA_EVENTS_DROP_LOG_S 10   /* seconds between media_events_dropped lines */
#define MEDIA_EVENT_KIND_MAX	15   /* "play", "download" */
#define MEDIA_EVENT_DETAILS_MAX 255  /* the details JSON of record_event is <= 176 */

struct media_event {
	uint8_t project_id[16];
	char kind[MEDIA_EVENT_KIND_MAX + 1];
	char details[MEDIA_EVENT_DETAILS_MAX + 1];
	int64_t created; /* milliseconds since the epoch, when it was queued */
};

/* Record n (1..MEDIA_EVENTS_BATCH) events, in queue order (ev borrowed for
 * the call); runs on the writer thread. 0, or an error: the events are then
 * given up (the function logs what it could not record). */
typedef int media_events_write_fn(void *ctx, const struct media_event *ev, size_t n);

/* A queue of at most cap events (1..MEDIA_EVENTS_MAX; 0: MEDIA_EVENTS_MAX)
 * and its writer thread, which calls write(ctx, …) with what is queued. A
 * batch is written at once, or, with hold_ms > 0 (black-box tests only),
 * hold_ms after the writer found it (or at stop). NULL when memory or the
 * thread cannot be had. */
struct media_events *media_events_new(size_t cap, int64_t hold_ms, media_events_write_fn *write,
				      void *ctx);
/* Queue an event (kind and details copied; details may be NULL) with the
 * current time. Never blocks on the database. 0; AM_ERR_UNAVAIL when the
 * queue is full or stopping (the event is dropped and counted);
 * AM_ERR_TOOBIG when kind or details exceed the limits above; AM_ERR_INVAL. */
int media_events_add(struct media_events *q, const uint8_t project_id[16], const char *kind,
		     const char *details);
/* Wait until every event queued before the call has been handed to write
 * (tests; the production path never waits). */
void media_events_flush(struct media_events *q);
/* Events dropped because the queue was full, since media_events_new. */
uint64_t media_events_dropped(struct media_events *q);
/* Stop: write every queued event, join the thread, log drops not yet
 * logged, free. Accepts NULL. No media_events_add may run concurrently. */
void media_events_free(struct media_events *q);
/* The media role's write function; ctx is the struct app: one
 * db_event_add_batch, and when that fails, each event on its own so one
 * bad event (a project deleted meanwhile) does not lose the others. */
int media_events_write_db(void *ctx, const struct media_event *ev, size_t n);

/* ---- parsers (media_parse.c) ------------------------------------------------ */

/* Parse a Range header value against an object of size bytes (RFC 9110
 * §14.2): exactly one range of unit "bytes" (case-insensitive): "a-b", "a-"
 * or "-n", decimal, no whitespace. Returns 0 with the inclusive [*first,
 * *last] clamped to the object; AM_ERR_RANGE when well-formed but
 * unsatisfiable (416: first >= size, "-0", or an empty object);
 * AM_ERR_INVAL when malformed, with another unit or several ranges (the
 * header is then ignored: 200 with the whole object). */
int media_range_parse(const char *h, uint64_t size, uint64_t *first, uint64_t *last);
/* Whether a Range may be honoured given If-Range (NULL: yes): only an exact
 * match of our strong ETag counts (a date or a weak tag never matches). */
int media_if_range_ok(const char *if_range, const char *etag);

/* tus 1.0 core headers. Tus-Resumable must be exactly "1.0.0"; Content-Type
 * exactly "application/offset+octet-stream" (parameters refused); an offset
 * is canonical decimal in [0, 2^53). 1/0 and 0/AM_ERR_INVAL. */
#define MEDIA_TUS_VERSION "1.0.0"
int media_tus_resumable_ok(const char *h);
int media_tus_content_type_ok(const char *h);
int media_tus_offset(const char *h, int64_t *out);
/* 1 if a PATCH of clen bytes at offset stays within an upload of length
 * bytes (0 <= offset <= length and clen <= length - offset), else 0.
 * Never overflows, whatever the client sent (media_upload.c). */
int media_tus_patch_fits(int64_t offset, int64_t clen, int64_t length);

/* Content-Disposition for a download (attachment) or inline stream: an
 * ASCII fallback filename plus RFC 6266/8187 filename*=UTF-8''… of name
 * (NULL or "" gives "audio"). 0 or AM_ERR_TOOBIG. */
int media_disposition(char *out, size_t n, int attachment, const char *name);

/* ---- transfers in flight (docs/media.md "Transfers in flight") ---------------
 * A body that is still streaming re-checks its grant (the link, its
 * generation, the project, the downloads flag, the owner's session) at most
 * every MEDIA_RECHECK_MS, from the response producer, and ends the
 * connection when it no longer holds: a regenerate, revoke, project
 * deletion, downloads switched off or logout reaches a transfer that
 * started before it within about that interval (while the client reads).
 * Time based, so a fast transfer pays one clock read per block and a
 * request shorter than the interval never reads the database again. */
#define MEDIA_RECHECK_MS 1000

/* 1 (and *last_ms = now) when MEDIA_RECHECK_MS have passed since *last_ms
 * (am_mono_ms), else 0. */
int media_recheck_due(int64_t *last_ms);
/* Log the end of a transfer whose re-check failed: media_revoked_midstream
 * for a denial, media_recheck_failed (an error) when the database did not
 * answer; what: "stream", "download" or "export"; sent: body bytes before.
 * No token, URL, id or address. */
void media_recheck_log(int rc, const char *what, uint64_t sent);

/* ---- streaming an object (media_stream.c) and the marked WAV (media_marked.c) ---- */

struct am1_reader;
struct store_reader;
struct store_err;

/* An open object being streamed: the store reader and the AM1 reader over
 * it, and the plaintext window [first, first + len) sent. */
struct stream_ctx {
	struct store_reader *sr;
	struct am1_source src;
	struct am1_reader *r;
	uint64_t first, len;
	/* What the re-check needs ("transfers in flight" above). */
	struct app *a;
	struct access_grant g;
	uint8_t obj[16];
	int download;
	int64_t checked; /* am_mono_ms of the latest check */
};

/* What the database said about a verified request. */
struct stream_req {
	struct access_grant g;
	uint8_t obj[16];
	int download; /* the URL's d: 0, 1, or ACCESS_D_MARKED + marker flags */
	struct db_project p;
	struct db_object o;
	char filename[DB_FILENAME_MAX + 1];
	char url[ACCESS_URL_MAX];	     /* the signed URL of the target */
	char ticket[ACCESS_MARK_TICKET_MAX]; /* a mark ticket after it, or "" */
};

/* Open sr's object for reading from plaintext offset first: the project
 * key, the store, then the DEK and the AM1 reader (which checks the stored
 * size against the database's). Fills s->sr, s->src, s->r. 0 or an error
 * (the store's detail in err, for the log). */
int media_open_object(struct app *a, const struct stream_req *sr, uint64_t first,
		      struct stream_ctx *s, struct store_err *err);
/* The grant of a streaming body still holds (0), re-read at most every
 * MEDIA_RECHECK_MS (s->a, g, obj, download, checked set by the caller);
 * else the error that ends the transfer, logged with pos (bytes sent). */
int media_still_granted(struct stream_ctx *s, uint64_t pos);
/* Give s what media_still_granted needs from the request sr (just
 * authorized, so the first re-check is MEDIA_RECHECK_MS from now). */
void media_stream_ctx_grant(struct stream_ctx *s, struct app *a, const struct stream_req *sr);
/* Close and free a stream_ctx (heap); accepts NULL. */
void media_stream_ctx_free(void *arg);
/* Answer a verified, authorized request for the marked WAV of sr's
 * original (sr->download >= ACCESS_D_MARKED): 200 with the original's
 * header patched, its audio bytes unchanged and the markers' chunks after
 * them (src/markers/), streamed; no ranges. 0, or AM_ERR_UNSUPPORTED (415)
 * when the original is not a PCM/float WAV (no decoding here), or another
 * error. */
/* The tracer's upload, POST /m/trace/{project} (media_trace.c). */
int media_trace_on_headers(struct http_req *req, void *arg);
int media_trace_handler(struct http_req *req, void *arg);

int media_marked_respond(struct media *m, struct http_req *req, const struct stream_req *sr);
/* The same for an original in another format (media_marked_pcm.c): the
 * transcoding child decodes it twice, once to count its samples (for the
 * header and Content-Length), once streamed; 200, no ranges. 0 (also when
 * a damaged original was answered 422 with the reason), AM_ERR_UNAVAIL
 * (too many decodes at once), or another error. */
int media_marked_pcm_respond(struct media *m, struct http_req *req, const struct stream_req *sr);
/* A marked WAV as a body source: fill(arg, pos, buf, max) as for
 * http_respond_stream, len bytes in all, free(arg) when done. */
struct marked_src {
	ssize_t (*fill)(void *arg, uint64_t pos, uint8_t *buf, size_t max);
	void *arg;
	void (*free)(void *arg);
	uint64_t len;
};
/* Open the marked WAV of sr's original (sr->download = ACCESS_D_MARKED +
 * flags) as a source, without answering: a WAV original read as it is,
 * any other decoded (media_marked_pcm_open: the counting pass runs here).
 * 0; 1 when a damaged original was answered 422 on req; with req NULL
 * (a zip already under way) AM_ERR_UNSUPPORTED for it instead;
 * AM_ERR_UNAVAIL (too many decodes), other errors. */
int media_marked_open(struct media *m, struct http_req *req, const struct stream_req *sr,
		      struct marked_src *out);
int media_marked_pcm_open(struct media *m, struct http_req *req, const struct stream_req *sr,
			  struct marked_src *out);
/* The marker zip of a version (sr->download = ACCESS_D_MARKERS_ZIP +
 * flags, authorized as a download of its original) and of a project
 * (ACCESS_D_MARKERS_PROJECT + flags, obj the project: checked here like
 * the project archive), media_marked_zip.c: the four marker files and the
 * marked WAV, per track for a project, streamed as a ZIP. */
int media_markers_zip_version(struct media *m, struct http_req *req, const struct stream_req *sr);
int media_markers_zip_project(struct media *m, struct http_req *req, struct stream_req *sr);
/* The comments of a version (deleted ones left out) as marker input;
 * media_marked_comments_free releases them (media_marked.c). */
struct markers_comment;
struct mk_comments {
	struct markers_comment *v;
	size_t n, cap;
};
int media_marked_comments(struct app *a, const uint8_t project_id[16], const uint8_t version_id[16],
			  struct mk_comments *l);
void media_marked_comments_free(struct mk_comments *l);
struct markers_wav;
/* The markers' chunks of sr's version (its comments, its track's title)
 * for the audio w describes, into tail (media_marked.c). */
int media_marked_tail(struct app *a, const struct stream_req *sr, const struct markers_wav *w,
		      struct am_buf *tail);
/* "<original name without extension>-markers.wav" as an attachment, no
 * caching, Accept-Ranges: none. */
int media_marked_headers(struct http_req *req, const struct stream_req *sr);

/* ---- a transcoding child's output as a response body (media_pipe.c) ---------
 * For the answers that decode an original on request (the marked WAV of a
 * non-WAV original, a guest's marked download). The caller allocates s
 * (calloc) and sets kind (a log field), out, mark and max; media_pipe_open
 * finds the child, opens and grants the original; media_pipe_count runs the
 * counting pass (0 with the PCM format's WAV tag and bits, 1 when a damaged
 * original was answered 422 on req, AM_ERR_UNSUPPORTED for it without req,
 * AM_ERR_INTERNAL); the caller then sets limit (the exact bytes the
 * producing pass must send; 0 for a length known only at the end, bounded
 * by max) and media_pipe_start runs that pass from a thread;
 * media_pipe_recv reads its output (> 0; 0 at the end of an unknown length
 * the child completed; AM_ERR_IO when it ended early: the caller never
 * reads past limit); media_pipe_close stops the child and frees s. */
struct media_pipe {
	struct stream_ctx *s;
	const char *kind;
	enum xcode_output out;	       /* the producing pass's output */
	const struct xcode_mark *mark; /* or NULL */
	uint64_t size;		       /* of the original: what the child may read */
	uint64_t limit, max, got;
	int sv[2]; /* [0]: the response reads; [1]: the thread writes */
	int cancel, started, ok;
	pthread_t th;
	char exec_path[PATH_MAX];
	struct xcode_result res; /* of the counting pass */
};
int media_pipe_open(struct media_pipe *mp, struct media *m, const struct stream_req *sr);
int media_pipe_count(struct media_pipe *mp, struct http_req *req, uint16_t *tag, uint16_t *bits);
/* The original (after media_pipe_open) as an xcode source, e.g. for xcode_sniff. */
void media_pipe_source(struct media_pipe *mp, struct xcode_source *src);
int media_pipe_start(struct media_pipe *mp);
ssize_t media_pipe_recv(struct media_pipe *mp, uint8_t *buf, size_t max);
void media_pipe_close(struct media_pipe *mp);

/* Take (+1) or give back (-1) one of the media process's decode slots, which
 * the marked WAV and the marked download share (media_marked_pcm.c): 0, or
 * AM_ERR_UNAVAIL when all are taken (503). */
int media_marked_pcm_slot(int delta);
/* A guest's download (d=1) of an original of a project that marks its
 * downloads (media_markdl.c): refused without a valid mark ticket (403,
 * Mark-Error), else the original marked with the listener's payload,
 * streamed (WAV as WAV, the rest as FLAC; no ranges). *handled 0: not such
 * a request, serve the plain original; 1: answered (or rc says why not). */
int media_markdl_respond(struct media *m, struct http_req *req, const struct stream_req *sr,
			 int *handled);

/* ---- the listener mark at the door (media_mark.c) ------------------------------ */

/* Split a /m/ request target into the signed URL (into url, n bytes) and a
 * mark ticket appended as a last "&mt=TICKET" (into ticket, tn bytes; ""
 * when there is none). The ticket must be non-empty, shorter than
 * ACCESS_MARK_TICKET_MAX and of its alphabet. 0, or AM_ERR_DENIED. */
int media_mark_split(const char *target, char *url, size_t n, char *ticket, size_t tn);
/* For an authorized request sr: 0 to serve it as it is (an owner, a
 * download, peaks, a project that does not mark), else the refusal of a
 * guest's stream of a marked project (AM_ERR_DENIED with a Mark-Error
 * header: no ticket, an invalid or expired one, another link's, or, for a
 * valid ticket, no marked rendition yet) or a database error. */
struct media_mark_plan {
	int active; /* 1: serve the splice of A and B (media_ab.c) */
	uint8_t payload[DB_MARK_PAYLOAD_LEN], mark_id[DB_ID_LEN];
	struct db_vmark vm;	 /* the version's A, B and span map (owned) */
	struct db_object oa, ob; /* A's and B's objects */
};
int media_mark_gate(struct app *a, struct http_req *req, const struct stream_req *sr,
		    const char *ticket, struct media_mark_plan *mp);
void media_mark_plan_cleanup(struct media_mark_plan *mp);

/* A guest's marked stream (media_ab.c): the splice of renditions A and B
 * by wm_fragment_bits(mp->payload) under the project's watermark key, for
 * the whole object, one Range (If-Range), GET or HEAD; the headers of a
 * plain rendition with an ETag of this listener's own. Takes mp's
 * contents (cleaned up here). 0 or an error before any byte went out. */
int media_ab_respond(struct media *m, struct http_req *req, const struct stream_req *sr,
		     struct media_mark_plan *mp);
/* The headers every media answer carries and the range decision (200,
 * 206 or AM_ERR_RANGE: 416) for an object of size bytes with ETag etag
 * (quoted), as media_stream.c answers a plain object. */
int media_plan(struct http_req *req, const struct stream_req *sr, uint64_t size, const char *etag,
	       uint64_t *first, uint64_t *len, unsigned *status);

/* Queue a listener event (kind "play", "download" or "archive") of grant g
 * for object obj (NULL: none, the project archive) with the client's
 * address pseudonymised, never the address (media_stream.c). */
void media_record_event(struct media *m, struct http_req *req, const struct access_grant *g,
			const uint8_t *obj, const char *kind);
/* Answer a verified URL with d = ACCESS_D_ARCHIVE (media_export.c): the
 * project archive of g, whose URL named obj (must be g's project). 0 (the
 * archive streams), AM_ERR_DENIED, AM_ERR_RATE, or a 5xx error. */
/* The database half of a project archive (media_export.c) and of a
 * project's marker zip (media_marked_zip.c): the grant (the owner's
 * session, or a live share link while downloads are on), the password
 * cookie of a share link, and the project's limit named limit (10 at once,
 * then one per 10 minutes; AM_ERR_RATE with Retry-After). The project's
 * row into p. */
int media_archive_authorize(struct http_req *req, struct app *a, const struct access_grant *g,
			    struct db_project *p, const char *limit);
int media_archive_respond(struct media *m, struct http_req *req, const struct access_grant *g,
			  const uint8_t obj[16]);

/* ---- handlers ----------------------------------------------------------------- */

/* GET/HEAD /m/{object} (media_stream.c). */
int media_stream_handler(struct http_req *req, void *arg);
/* /u/{upload}: OPTIONS, HEAD, PATCH (media_upload.c). */
int media_upload_on_headers(struct http_req *req, void *arg);
int media_upload_on_body(struct http_req *req, const uint8_t *data, size_t n, void *arg);
int media_upload_handler(struct http_req *req, void *arg);

#endif
