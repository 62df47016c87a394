/*
 * stream_loop.c: the streaming loops. A large streamed response (a GET
 * answered with http_respond_stream of a known size, HTTP_HANDOFF_MIN bytes
 * or more: a track streamed or downloaded from the media role) is not sent by
 * libmicrohttpd. Once the request has been checked and its status and
 * headers decided, server.c suspends the connection and hands its socket and
 * TLS session to one of these loops (one thread and one epoll set each, as
 * many as the daemon has threads). A loop writes each connection until its
 * socket is full: the TLS records of up to HTTP_LOOP_BATCH records are
 * collected in the loop's buffer (a GnuTLS vec push function that copies;
 * GnuTLS encrypts straight from the producer's buffer when it offers a
 * view, http_respond_stream_view)
 * and leave in one send(); what the socket did not take waits in a
 * per-connection remainder. When the body is done (or fails, or the client
 * goes, or stays silent for the connection timeout, or the server stops), the
 * loop gives the TLS session its plain socket transport back and resumes the
 * connection, which libmicrohttpd then closes (the response said
 * "Connection: close").
 *
 * Why: libmicrohttpd 0.9.75 sends one 16 KiB record per system call, with a
 * setsockopt(TCP_NODELAY) after each on connections given to it with
 * MHD_add_connection, and one epoll turn per record per connection; that
 * cost 0.45-0.56 CPU-seconds per GiB over a plain loop (docs/benchmarks.md,
 * "what streaming costs per GiB").
 *
 * Runs in the web/media processes at the network boundary: it only writes
 * (the client's bytes are never read here) and only what the route's
 * producer made; a producer's error aborts the connection as before.
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_int.h"
#include "util/util.h"

#define REC_PLAIN	  16384		    /* TLS's largest record payload */
#define REC_ROOM	  (REC_PLAIN + 512) /* one record with its header, nonce, tag */
#define LOOP_BODY	  (64 * 1024)	    /* the most a producer is asked for at once */
#define LOOP_OUT	  ((LOOP_BODY / REC_PLAIN + 1) * REC_ROOM) /* a batch (or the head) */
#define LOOP_TURN_BATCHES 4 /* batches per connection per turn, then the next one */
#define LOOP_EVENTS	  64
#define LOOP_SWEEP_MS	  1000	  /* how often silent connections are looked for */
#define LOOP_GONE	  (-1000) /* the client's socket failed (not an enum am_err) */

/* One handed-over connection, the loop's own part. */
struct lstream {
	struct http_handoff *h;
	struct http_loop *loop;
	struct lstream *prev, *next;   /* every stream of the loop */
	struct lstream *rprev, *rnext; /* the ready list: the socket can take more */
	int ready;
	void *recv_ptr; /* the session's transport pointers, given back at the end */
	void *send_ptr;
	uint8_t *rest; /* encrypted bytes the socket has not taken yet */
	size_t rest_len, rest_off;
	unsigned batch; /* records per send now: 1 after a full socket, up to the max */
	uint64_t pos;	/* body bytes produced */
	int head_sent;
	int64_t progress_ms; /* the socket last took bytes */
};

struct http_loop {
	pthread_t th;
	int inited, started;
	int ep, evfd;
	pthread_mutex_t mu; /* guards inbox and stopping */
	struct lstream *inbox;
	int stopping;
	struct lstream *all;
	struct lstream *rhead, *rtail;
	int64_t idle_ms;
	uint8_t *body; /* LOOP_BODY: what the producer wrote */
	uint8_t *out;  /* LOOP_OUT: the batch of records being built */
	size_t out_len;
};

struct http_loops {
	size_t n;
	atomic_uint next;
	struct http_loop *l;
};

/* ---- transports ------------------------------------------------------------- */

/* While the loop owns the session: records are appended to the loop's batch. */
static ssize_t batch_push(gnutls_transport_ptr_t p, const giovec_t *iov, int n)
{
	struct http_loop *L = ((struct lstream *)p)->loop;
	size_t total = 0;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (total > LOOP_OUT - L->out_len) {
		errno = ENOBUFS; /* cannot happen by construction (REC_ROOM per record) */
		return -1;
	}
	for (int i = 0; i < n; i++) {
		memcpy(L->out + L->out_len, iov[i].iov_base, iov[i].iov_len);
		L->out_len += iov[i].iov_len;
	}
	return (ssize_t)total;
}

/* After: the socket itself (libmicrohttpd's close_notify goes through it). */
static ssize_t direct_push(gnutls_transport_ptr_t p, const giovec_t *iov, int n)
{
	struct msghdr m = {.msg_iov = (struct iovec *)(void *)iov, .msg_iovlen = (size_t)n};

	return sendmsg((int)(intptr_t)p, &m, MSG_NOSIGNAL);
}

/* After a stream cut with records GnuTLS counts as sent still unsent: any
 * further record (the close_notify) would follow a gap in the sequence and
 * reach the client as a bad record MAC, so nothing more is sent; the close
 * is then a plain TCP one, which the client reads as a body cut short. */
static ssize_t dead_push(gnutls_transport_ptr_t p, const giovec_t *iov, int n)
{
	(void)p, (void)iov, (void)n;
	errno = EPIPE;
	return -1;
}

/* ---- lists -------------------------------------------------------------------- */

static void ready_add(struct http_loop *L, struct lstream *s)
{
	if (s->ready)
		return;
	s->ready = 1;
	s->rnext = NULL;
	s->rprev = L->rtail;
	if (L->rtail)
		L->rtail->rnext = s;
	else
		L->rhead = s;
	L->rtail = s;
}

static void ready_del(struct http_loop *L, struct lstream *s)
{
	if (!s->ready)
		return;
	if (s->rprev)
		s->rprev->rnext = s->rnext;
	else
		L->rhead = s->rnext;
	if (s->rnext)
		s->rnext->rprev = s->rprev;
	else
		L->rtail = s->rprev;
	s->ready = 0;
	s->rprev = s->rnext = NULL;
}

static int sock_write(struct lstream *s, const uint8_t *p, size_t n, size_t *sent);

/* The end of a stream: give the connection back to libmicrohttpd, which
 * closes it (after this call h may be gone). */
static void finish(struct lstream *s, const char *outcome)
{
	struct http_loop *L = s->loop;
	struct http_handoff *h = s->h;

	size_t sent = 0;
	int whole;

	/* what the socket takes now of a remainder; the rest is lost */
	if (s->rest && sock_write(s, s->rest + s->rest_off, s->rest_len - s->rest_off, &sent) == 0)
		s->rest_off += sent;
	whole = !s->rest || s->rest_off == s->rest_len;
	(void)epoll_ctl(L->ep, EPOLL_CTL_DEL, h->fd, NULL);
	ready_del(L, s);
	if (s->prev)
		s->prev->next = s->next;
	else if (L->all == s)
		L->all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	gnutls_transport_set_ptr2(h->session, s->recv_ptr, s->send_ptr);
	gnutls_transport_set_vec_push_function(h->session, whole ? direct_push : dead_push);
	free(s->rest);
	free(s);
	h->outcome = outcome;
	atomic_store(&h->finished, 1);
	http_req_resume(h->req);
}

/* ---- writing ------------------------------------------------------------------- */

/* Send n bytes of p as TLS records into the batch. */
static int rec_send(struct lstream *s, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r;

		if (LOOP_OUT - s->loop->out_len < REC_ROOM)
			return AM_ERR_INTERNAL;
		r = gnutls_record_send(s->h->session, p, n < REC_PLAIN ? n : REC_PLAIN);
		if (r <= 0)
			return AM_ERR_IO;
		p += r, n -= (size_t)r;
	}
	return 0;
}

/* The next piece of body, at most want bytes: through the producer's view
 * when it gives a whole record or the rest of the body, else copied by its
 * fill function into the loop's buffer (a piece shorter than a record, at
 * the end of an AM1 segment: copied across, the record stays full). */
static ssize_t next_piece(struct lstream *s, size_t want, const uint8_t **p)
{
	struct http_handoff *h = s->h;
	ssize_t n;

	if (h->view) {
		n = h->view(h->arg, s->pos, want, p);
		if (n <= 0 || (size_t)n > want)
			return n < 0 ? n : AM_ERR_IO;
		if ((size_t)n == want || (size_t)n >= REC_PLAIN)
			return (size_t)n == want ? n : n - n % REC_PLAIN;
		want = want < REC_PLAIN ? want : REC_PLAIN;
	}
	*p = s->loop->body;
	n = h->fn(h->arg, s->pos, s->loop->body, want);
	return n <= 0 || (size_t)n > want ? (n < 0 ? n : AM_ERR_IO) : n;
}

/* Build the next batch: the head, or up to s->batch records of body. */
static int fill_batch(struct lstream *s)
{
	struct http_handoff *h = s->h;
	struct http_loop *L = s->loop;
	size_t room = (size_t)s->batch * REC_PLAIN;
	int rc;

	L->out_len = 0;
	if (!s->head_sent) { /* the head alone: a batch holds it, however long */
		s->head_sent = 1;
		return rec_send(s, h->head.p, h->head.len);
	}
	while (room > 0 && s->pos < h->size) {
		size_t want = h->block < LOOP_BODY ? h->block : LOOP_BODY;
		const uint8_t *p;
		ssize_t n;

		want = want < room ? want : room;
		if (want > h->size - s->pos)
			want = (size_t)(h->size - s->pos);
		/* a short body is an error: the size was promised */
		if ((n = next_piece(s, want, &p)) < 0)
			return (int)n;
		if ((rc = rec_send(s, p, (size_t)n)) != 0)
			return rc;
		s->pos += (uint64_t)n;
		atomic_fetch_add(&h->bytes, (uint64_t)n);
		room -= (size_t)n;
	}
	return 0;
}

/* Write p[0..n) to the socket as far as it goes; *sent gets the count.
 * 0, or LOOP_GONE when the client is gone. */
static int sock_write(struct lstream *s, const uint8_t *p, size_t n, size_t *sent)
{
	ssize_t r;

	*sent = 0;
	do
		r = send(s->h->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : LOOP_GONE;
	if (r > 0)
		s->progress_ms = am_mono_ms();
	*sent = (size_t)r;
	return 0;
}

/* Send the batch; what the socket does not take becomes the remainder.
 * 0: all sent; 1: the socket is full; LOOP_GONE, AM_ERR_NOMEM. */
static int send_batch(struct lstream *s)
{
	struct http_loop *L = s->loop;
	size_t sent;
	int rc;

	if ((rc = sock_write(s, L->out, L->out_len, &sent)) != 0)
		return rc;
	if (sent == L->out_len) {
		s->batch = s->batch * 2 > HTTP_LOOP_BATCH ? HTTP_LOOP_BATCH : s->batch * 2;
		return 0;
	}
	if (!(s->rest = malloc(L->out_len - sent)))
		return AM_ERR_NOMEM;
	memcpy(s->rest, L->out + sent, L->out_len - sent);
	s->rest_len = L->out_len - sent;
	s->rest_off = 0;
	s->batch = 1; /* a slow reader holds at most one record of ours */
	return 1;
}

/* The remainder first. 0: sent; 1: the socket is full; < 0 as send_batch. */
static int flush_rest(struct lstream *s)
{
	size_t sent;
	int rc;

	if ((rc = sock_write(s, s->rest + s->rest_off, s->rest_len - s->rest_off, &sent)) != 0)
		return rc;
	s->rest_off += sent;
	if (s->rest_off < s->rest_len)
		return 1;
	free(s->rest);
	s->rest = NULL;
	s->rest_len = s->rest_off = 0;
	return 0;
}

enum { PUMP_BLOCKED = 1, PUMP_MORE, PUMP_DONE };

/* Write s while its socket takes bytes, at most LOOP_TURN_BATCHES batches. */
static int pump(struct lstream *s)
{
	int rc, fill;

	for (int i = 0; i < LOOP_TURN_BATCHES; i++) {
		if (s->rest && (rc = flush_rest(s)) != 0)
			return rc < 0 ? rc : PUMP_BLOCKED;
		if (s->head_sent && s->pos >= s->h->size)
			return PUMP_DONE;
		fill = fill_batch(s);
		/* what was built goes out even when the producer then failed:
		 * GnuTLS counts those records as sent (finish() says why) */
		rc = s->loop->out_len ? send_batch(s) : 0;
		if (fill != 0 || rc < 0)
			return fill != 0 ? fill : rc;
		if (rc == 1)
			return PUMP_BLOCKED;
	}
	return PUMP_MORE;
}

/* ---- the loop ------------------------------------------------------------------- */

/* Take the connections handed over since the last turn. */
static void take_inbox(struct http_loop *L)
{
	struct lstream *in, *s;
	uint64_t v;

	if (read(L->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		am_log(AM_LOG_WARN, "http_loop_wake", "error", strerror(errno));
	pthread_mutex_lock(&L->mu);
	in = L->inbox;
	L->inbox = NULL;
	pthread_mutex_unlock(&L->mu);
	while ((s = in)) {
		struct epoll_event ev = {.events = EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = s};

		in = s->next;
		s->prev = NULL;
		s->next = L->all;
		if (L->all)
			L->all->prev = s;
		L->all = s;
		if (epoll_ctl(L->ep, EPOLL_CTL_ADD, s->h->fd, &ev) != 0)
			finish(s, "error");
		else
			ready_add(L, s);
	}
}

/* One pass over the ready connections. */
static void serve_ready(struct http_loop *L)
{
	struct lstream *s = L->rhead, *last = L->rtail, *next;
	int rc;

	while (s) {
		next = s == last ? NULL : s->rnext;
		rc = pump(s);
		if (rc == PUMP_DONE)
			finish(s, "ok");
		else if (rc == LOOP_GONE)
			finish(s, "client_abort");
		else if (rc < 0)
			finish(s, "error");
		else if (rc == PUMP_BLOCKED)
			ready_del(L, s);
		else { /* more to write: to the back of the line */
			ready_del(L, s);
			ready_add(L, s);
		}
		s = next;
	}
}

/* Connections whose socket took nothing for the connection timeout. */
static void sweep_idle(struct http_loop *L, int64_t now)
{
	struct lstream *s = L->all, *next;

	for (; s; s = next) {
		next = s->next;
		if (L->idle_ms > 0 && now - s->progress_ms >= L->idle_ms)
			finish(s, "timeout");
	}
}

static int loop_stopping(struct http_loop *L)
{
	int v;

	pthread_mutex_lock(&L->mu);
	v = L->stopping;
	pthread_mutex_unlock(&L->mu);
	return v;
}

static void *loop_main(void *arg)
{
	struct http_loop *L = arg;
	struct epoll_event ev[LOOP_EVENTS];
	int64_t sweep = am_mono_ms() + LOOP_SWEEP_MS;

	(void)pthread_setname_np(pthread_self(), "am-stream"); /* for top -H, perf */
	for (;;) {
		int64_t now = am_mono_ms();
		int n = epoll_wait(L->ep, ev, LOOP_EVENTS,
				   L->rhead ? 0 : (int)(sweep > now ? sweep - now : 0));

		for (int i = 0; i < n; i++) {
			struct lstream *s = ev[i].data.ptr;

			if (!s)
				take_inbox(L);
			else if (ev[i].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
				finish(s, "client_abort");
			else
				ready_add(L, s);
		}
		if (loop_stopping(L))
			break;
		serve_ready(L);
		if ((now = am_mono_ms()) >= sweep) {
			sweep_idle(L, now);
			sweep = now + LOOP_SWEEP_MS;
		}
	}
	take_inbox(L);
	while (L->all)
		finish(L->all, "shutdown");
	return NULL;
}

/* ---- the set of loops ------------------------------------------------------------ */

static int loop_init(struct http_loop *L, int64_t idle_ms)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

	L->ep = L->evfd = -1;
	L->idle_ms = idle_ms;
	if (pthread_mutex_init(&L->mu, NULL) != 0)
		return AM_ERR_NOMEM;
	L->inited = 1;
	if (!(L->body = malloc(LOOP_BODY)) || !(L->out = malloc(LOOP_OUT)))
		return AM_ERR_NOMEM;
	if ((L->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (L->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    epoll_ctl(L->ep, EPOLL_CTL_ADD, L->evfd, &ev) != 0)
		return AM_ERR_IO;
	if (pthread_create(&L->th, NULL, loop_main, L) != 0)
		return AM_ERR_IO;
	L->started = 1;
	return 0;
}

int http_loops_new(size_t n, int64_t idle_ms, struct http_loops **out)
{
	struct http_loops *ls = calloc(1, sizeof(*ls));
	int rc = AM_ERR_NOMEM;

	*out = NULL;
	if (!ls || !(ls->l = calloc(n ? n : 1, sizeof(*ls->l))))
		goto out;
	ls->n = n ? n : 1;
	for (size_t i = 0; i < ls->n; i++)
		if ((rc = loop_init(&ls->l[i], idle_ms)) != 0)
			goto out;
	*out = ls;
	ls = NULL;
	rc = 0;
out:
	http_loops_free(ls);
	return rc;
}

static void wake(struct http_loop *L)
{
	uint64_t one = 1;

	if (write(L->evfd, &one, sizeof(one)) != sizeof(one))
		am_log(AM_LOG_WARN, "http_loop_wake", "error", strerror(errno));
}

int http_loops_give(struct http_loops *ls, struct http_handoff *h)
{
	struct http_loop *L = &ls->l[atomic_fetch_add(&ls->next, 1) % ls->n];
	struct lstream *s = calloc(1, sizeof(*s));
	int one = 1;

	if (!s)
		return AM_ERR_NOMEM;
	s->h = h;
	s->loop = L;
	s->batch = 1;
	s->progress_ms = am_mono_ms();
	gnutls_transport_get_ptr2(h->session, &s->recv_ptr, &s->send_ptr);
	/* records leave when we send them: no Nagle wait for the last one */
	(void)setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_mutex_lock(&L->mu);
	if (L->stopping) {
		pthread_mutex_unlock(&L->mu);
		free(s);
		return AM_ERR_UNAVAIL;
	}
	gnutls_transport_set_ptr2(h->session, s->recv_ptr, s);
	gnutls_transport_set_vec_push_function(h->session, batch_push);
	s->next = L->inbox;
	L->inbox = s;
	pthread_mutex_unlock(&L->mu);
	wake(L);
	return 0;
}

void http_loops_stop(struct http_loops *ls)
{
	if (!ls)
		return;
	for (size_t i = 0; i < ls->n; i++) {
		struct http_loop *L = &ls->l[i];

		if (!L->started)
			continue;
		pthread_mutex_lock(&L->mu);
		L->stopping = 1;
		pthread_mutex_unlock(&L->mu);
		wake(L);
		pthread_join(L->th, NULL);
		L->started = 0;
	}
}

void http_loops_free(struct http_loops *ls)
{
	if (!ls)
		return;
	http_loops_stop(ls);
	for (size_t i = 0; ls->l && i < ls->n; i++) {
		struct http_loop *L = &ls->l[i];

		if (!L->inited)
			continue;
		if (L->ep >= 0)
			close(L->ep);
		if (L->evfd >= 0)
			close(L->evfd);
		free(L->body);
		free(L->out);
		pthread_mutex_destroy(&L->mu);
	}
	free(ls->l);
	free(ls);
}
