/*
 * store_s3_stream.c: the streaming GET behind sequential reads of the S3
 * backend (store_s3_int.h). A reader that reads on where it stopped asks S3
 * once for the rest of the object; a thread of the stream's own runs that
 * request (s3_request with a sink) and copies the body into a bounded ring as
 * it arrives, blocking while the ring is full, so S3's transfer, AM1
 * decryption and the client's TLS send overlap instead of taking turns, and
 * no request round trip is paid per window. Memory per stream: the ring
 * (tune.stream_buf, 1 MiB, growing to 4 times that for a reader that keeps
 * emptying it: see ring_grow), libcurl's 256 KiB receive buffer and a
 * 256 KiB thread stack.
 *
 * Runs in the media and worker roles. Trust boundary: S3 is an untrusted
 * peer. No byte of an answer enters the ring before its status, Content-Range
 * (start, total) and ETag matched what was asked, so a resumed or misdirected
 * answer cannot shift or mix bytes; AM1 above authenticates them anyway.
 */
#include "store/store_s3_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define STREAM_STACK (256 * 1024)

struct s3_stream {
	struct s3_store *s;
	char key[STORE_KEY_MAX];
	char etag[S3_ETAG_MAX]; /* pinned version, "" if the server sends none */
	uint64_t size;		/* the object's size; S3_SIZE_UNKNOWN until the first answer */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t data, room; /* the reader waits for data, the thread for room */
	uint8_t *ring;
	size_t cap, head, len; /* ring[head .. head+len) (wrapping) holds [pos, fetched) */
	size_t max_cap;	       /* what the ring may grow to */
	unsigned fulls;	       /* times the thread found the ring full */
	int drained;	       /* the reader emptied the ring since the thread last did */
	uint64_t pos;	       /* object offset of ring[head]: the reader's side */
	uint64_t fetched;      /* one past the last byte in the ring: the thread's side */
	uint64_t from;	       /* first byte of the current request */
	size_t want;	       /* the reader sleeps until len >= want (0: not asleep) */
	int full;	       /* the thread sleeps until a quarter of the ring is free */
	int opened;	       /* the first answer was checked: size and etag are known */
	int done, cancel, rc;
	char tmsg[STORE_ERRMSG_MAX]; /* the thread's own detail of its failures */
	char msg[STORE_ERRMSG_MAX];  /* tmsg of the failure that ended the stream (mu) */
};

/* ---- the thread's side --------------------------------------------------- */

static int stream_cancelled(void *arg)
{
	struct s3_stream *st = arg;

	return __atomic_load_n(&st->cancel, __ATOMIC_ACQUIRE);
}

/* A stream started with S3_SIZE_UNKNOWN learns the object from its first
 * answer: a 206 from byte 0 (its total) or a 200 (its length), and the ETag
 * that every later request is pinned to. The opener waits for this. */
static int learn_object(struct s3_stream *st, const struct s3_req *rq)
{
	char *emsg = st->tmsg;
	uint64_t size;

	if (rq->status == 206 && rq->has_range_total && rq->range_first == 0)
		size = rq->range_total;
	else if (rq->status == 200 && rq->has_length)
		size = rq->length;
	else
		return store_fail(emsg, AM_ERR_IO, "s3 GET %s: HTTP %ld to a range request",
				  st->key, rq->status);
	if (am_strlcpy(st->etag, rq->etag, sizeof(st->etag)))
		return store_fail(emsg, AM_ERR_IO, "s3 GET %s: ETag too long", st->key);
	pthread_mutex_lock(&st->mu);
	st->size = size;
	st->opened = 1;
	pthread_cond_signal(&st->data);
	pthread_mutex_unlock(&st->mu);
	return 0;
}

/* The answer must be the asked range of the pinned version of the object. */
static int check_answer(struct s3_stream *st, const struct s3_req *rq)
{
	char *emsg = st->tmsg;
	int ok;

	if (!st->opened)
		return learn_object(st, rq);
	if (rq->status == 206)
		ok = rq->has_range_total && rq->range_first == st->from &&
		     rq->range_total == st->size;
	else
		ok = rq->status == 200 && st->from == 0 && rq->has_length && rq->length == st->size;
	if (!ok)
		return store_fail(emsg, AM_ERR_IO,
				  "s3 GET %s: answer is not the range asked for (HTTP %ld)",
				  st->key, rq->status);
	if (*st->etag && *rq->etag && strcmp(st->etag, rq->etag))
		return store_fail(emsg, AM_ERR_CONFLICT,
				  "s3 GET %s: object changed under the reader", st->key);
	return 0;
}

/* Copy n bytes into the ring at its end (the caller holds mu, room >= n). */
static void ring_put(struct s3_stream *st, const uint8_t *p, size_t n)
{
	size_t at = (st->head + st->len) % st->cap, k = st->cap - at;

	if (k > n)
		k = n;
	memcpy(st->ring + at, p, k);
	memcpy(st->ring, p + k, n - k);
	st->len += n;
	st->fetched += n;
}

/* The ring is full, and yet the reader emptied it since it was last full:
 * the reader is fast and S3 bursty, so a ring this small makes S3 wait on us
 * (on a 2-core machine, 1 MiB to 4 MiB was 390 to 340 ms for 64 MiB from
 * Swift). Double it, up to max_cap. A slow reader (a slow client) never
 * empties a full ring, so its ring stays small. mu held; 0 if it grew. */
static int ring_grow(struct s3_stream *st)
{
	size_t cap = st->cap * 2 < st->max_cap ? st->cap * 2 : st->max_cap, k;
	uint8_t *ring;

	if (!st->drained || cap <= st->cap)
		return -1;
	if (!(ring = malloc(cap))) {
		st->max_cap = st->cap; /* memory is short: stay at this size */
		return -1;
	}
	k = st->cap - st->head < st->len ? st->cap - st->head : st->len;
	memcpy(ring, st->ring + st->head, k);
	memcpy(ring + k, st->ring, st->len - k);
	free(st->ring);
	st->ring = ring;
	st->cap = cap;
	st->head = 0;
	st->drained = 0;
	return 0;
}

static int stream_sink(void *arg, const struct s3_req *rq, const uint8_t *p, size_t n)
{
	struct s3_stream *st = arg;
	char *emsg = st->tmsg;
	int rc;

	if (rq->sunk == 0 && (rc = check_answer(st, rq)))
		return rc;
	if (n > st->size - st->fetched)
		return store_fail(emsg, AM_ERR_IO, "s3 GET %s: more bytes than asked for", st->key);
	pthread_mutex_lock(&st->mu);
	while (n > 0) {
		size_t k = st->cap - st->len;
		if (st->cancel)
			break;
		if (k == 0 && ring_grow(st) == 0)
			continue;
		if (k == 0) { /* full: wait for the reader (backpressure) */
			st->full = 1;
			st->fulls++;
			st->drained = 0;
			pthread_cond_wait(&st->room, &st->mu);
			continue;
		}
		if (k > n)
			k = n;
		ring_put(st, p, k);
		p += k;
		n -= k;
		if (st->want && st->len >= st->want) {
			st->want = 0;
			pthread_cond_signal(&st->data);
		}
	}
	rc = st->cancel;
	pthread_mutex_unlock(&st->mu);
	return rc ? store_fail(emsg, AM_ERR_IO, "s3 GET %s: stream cancelled", st->key) : 0;
}

/* One request for [fetched, size); 0 when it brought every byte. */
static int stream_request(struct s3_stream *st, uint64_t *got)
{
	char range[64], what[STORE_KEY_MAX + 16], *emsg = st->tmsg;
	struct s3_req rq = {.emsg = emsg, .method = "GET", .key = st->key, .range = range};
	uint64_t before = st->fetched;
	int rc;

	st->from = st->fetched;
	if (st->opened)
		snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)st->from,
			 (unsigned long long)(st->size - 1));
	else
		snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)st->from);
	/* before the first answer this request is the reader's open */
	snprintf(what, sizeof(what), "%s %s", st->opened ? "stream" : "GET", st->key);
	rq.if_match = *st->etag ? st->etag : NULL;
	rq.sink = stream_sink;
	rq.cancel = stream_cancelled;
	rq.arg = st;
	rc = s3_request(st->s, &rq, what);
	if (rc == 0 && !st->opened) /* an empty body: no sink call checked it */
		rc = learn_object(st, &rq);
	*got = st->fetched - before;
	if (rc == 0 && st->fetched != st->size)
		rc = store_fail(emsg, AM_ERR_IO, "s3 GET %s: short body", st->key);
	return rc;
}

static void *stream_main(void *arg)
{
	struct s3_stream *st = arg;
	char *emsg = st->tmsg;
	int rc, resumes = 0;
	uint64_t got = 0;

	/* A transport failure after some bytes: a fresh request from the next
	 * byte (it has the full retry budget); no progress, or an answer that
	 * is not what was asked, ends the stream. */
	while ((rc = stream_request(st, &got)) == AM_ERR_UNAVAIL && got > 0 &&
	       resumes++ < S3_STREAM_RESUMES && !stream_cancelled(st))
		am_log(AM_LOG_WARN, "s3_stream_resumed", "key", st->key, "error", emsg);
	if (rc == AM_ERR_NOTFOUND && st->opened)
		rc = store_fail(emsg, AM_ERR_CONFLICT, "s3 GET %s: object deleted under the reader",
				st->key);
	pthread_mutex_lock(&st->mu);
	st->done = 1;
	st->rc = rc;
	if (rc)
		am_strlcpy(st->msg, emsg, sizeof(st->msg));
	pthread_cond_signal(&st->data);
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* ---- the reader's side ----------------------------------------------------- */

static void stream_free(struct s3_stream *st)
{
	pthread_cond_destroy(&st->data);
	pthread_cond_destroy(&st->room);
	pthread_mutex_destroy(&st->mu);
	free(st->ring);
	free(st);
}

/* The thread with every signal blocked (they belong to the main thread). */
static int spawn(struct s3_stream *st, char *emsg)
{
	pthread_attr_t at;
	sigset_t all, old;
	int e;

	if (pthread_attr_init(&at))
		return AM_ERR_NOMEM;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_attr_setstacksize(&at, STREAM_STACK);
	if (!e)
		e = pthread_create(&st->thread, &at, stream_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	return e ? store_fail(emsg, AM_ERR_UNAVAIL, "s3 GET %s: cannot start a stream thread",
			      st->key)
		 : 0;
}

int s3_stream_start(struct s3_store *s, const char *key, const char *etag, uint64_t off,
		    uint64_t size, struct s3_stream **out, char *emsg)
{
	struct s3_stream *st = calloc(1, sizeof(*st));
	int rc;

	*out = NULL;
	if (!st)
		return AM_ERR_NOMEM;
	st->cap = s->tune.stream_buf ? s->tune.stream_buf : S3_STREAM_BUF;
	st->max_cap = 4 * st->cap;
	if (!(st->ring = malloc(st->cap))) {
		free(st);
		return AM_ERR_NOMEM;
	}
	st->s = s;
	am_strlcpy(st->key, key, sizeof(st->key));
	am_strlcpy(st->etag, etag, sizeof(st->etag));
	st->size = size;
	st->opened = size != S3_SIZE_UNKNOWN;
	st->pos = st->fetched = off;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->data, NULL);
	pthread_cond_init(&st->room, NULL);
	if ((rc = spawn(st, emsg))) {
		stream_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

int s3_stream_wait_open(struct s3_stream *st, uint64_t *size, char *etag, size_t etag_sz,
			char *emsg)
{
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	while (!st->opened && !st->done)
		pthread_cond_wait(&st->data, &st->mu);
	if (st->opened) {
		*size = st->size;
		am_strlcpy(etag, st->etag, etag_sz);
	} else {
		rc = st->rc ? st->rc : AM_ERR_IO;
	}
	pthread_mutex_unlock(&st->mu);
	if (rc)
		return store_fail(emsg, rc, "%s", *st->msg ? st->msg : "s3 stream: ended early");
	return 0;
}

int s3_stream_covers(const struct s3_stream *st, uint64_t off)
{
	/* pos moves only in s3_stream_read, on the reader's thread: no lock */
	return st && off >= st->pos && off - st->pos <= S3_STREAM_SKIP && off < st->size;
}

/* Move up to n bytes from the ring's start to dst (NULL: drop them); mu held. */
static size_t ring_take(struct s3_stream *st, uint8_t *dst, size_t n)
{
	size_t k = st->cap - st->head;

	if (n > st->len)
		n = st->len;
	if (k > n)
		k = n;
	if (dst) {
		memcpy(dst, st->ring + st->head, k);
		memcpy(dst + k, st->ring, n - k);
	}
	st->head = (st->head + n) % st->cap;
	st->len -= n;
	st->pos += n;
	if (st->full && st->cap - st->len >= st->cap / 4) {
		st->full = 0;
		pthread_cond_signal(&st->room);
	}
	return n;
}

/* How many buffered bytes the reader waits for when it runs dry: enough to
 * be worth a wake-up. At least what it asked for (up to half the ring), and
 * at least a quarter of the ring unless the object ends sooner, so a reader
 * that outruns S3 sleeps once per 256 KiB rather than once per segment
 * (each wake-up is two context switches). */
static size_t wake_after(const struct s3_stream *st, size_t n)
{
	uint64_t left = st->size - st->pos;
	size_t w = n > st->cap / 4 ? n : st->cap / 4;

	if (w > st->cap / 2)
		w = st->cap / 2;
	return left < w ? (size_t)left : w;
}

int s3_stream_read(struct s3_stream *st, uint64_t off, void *buf, size_t n, char *emsg)
{
	uint8_t *dst = buf;
	int rc = 0;

	if (!s3_stream_covers(st, off) || n > st->size - off)
		return store_fail(emsg, AM_ERR_INTERNAL, "s3 stream: read outside the stream");
	pthread_mutex_lock(&st->mu);
	while (n > 0) {
		size_t k;
		if (off > st->pos) /* a forward gap: drop what it covers */
			ring_take(st, NULL, (size_t)(off - st->pos));
		if (off == st->pos && (k = ring_take(st, dst, n)) > 0) {
			dst += k;
			off += k;
			n -= k;
			continue;
		}
		if (st->done) {
			rc = st->rc ? st->rc : AM_ERR_IO;
			break;
		}
		/* wake on enough to be worth it: what is left, at most half a ring */
		st->want = wake_after(st, n);
		if (st->fulls) /* emptied after being full: ring_grow may grow it */
			st->drained = 1;
		if (off > st->pos + st->len) /* the gap is dropped as it arrives */
			st->want = 1;
		pthread_cond_wait(&st->data, &st->mu);
	}
	st->want = 0;
	pthread_mutex_unlock(&st->mu);
	if (rc)
		return store_fail(emsg, rc, "%s", *st->msg ? st->msg : "s3 stream: ended early");
	return 0;
}

size_t s3_stream_ring(struct s3_stream *st)
{
	size_t cap;

	pthread_mutex_lock(&st->mu);
	cap = st->cap;
	pthread_mutex_unlock(&st->mu);
	return cap;
}

void s3_stream_stop(struct s3_stream *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	__atomic_store_n(&st->cancel, 1, __ATOMIC_RELEASE);
	pthread_cond_signal(&st->room);
	pthread_mutex_unlock(&st->mu);
	pthread_join(st->thread, NULL);
	stream_free(st);
}
