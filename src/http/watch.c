/*
 * watch.c: deadlines libmicrohttpd does not keep. Its connection timeout is
 * an inactivity timer that every byte resets, so a client sending one header
 * byte every few seconds held its connection forever (issue 20: 200 such
 * connections locked every other client out). This registry knows, per
 * connection, whether the server waits for request headers (an absolute
 * deadline: header_timeout from the connection's start, or from the end of
 * the previous response on keep-alive) or for a request body (a minimum rate
 * averaged over body_rate_window), and a watchdog thread shuts down the
 * socket of a connection that misses either; libmicrohttpd then reads EOF
 * and closes and frees the connection itself, on its own thread.
 *
 * Runs in the web/media processes at the network boundary. The registry is
 * filled from libmicrohttpd's connection notifications (server.c); the
 * watchdog never touches a connection, only its socket, and only while the
 * connection is registered, holding the registry's mutex: libmicrohttpd
 * 0.9.75 sends the CLOSED notification (which removes the entry under that
 * mutex) before it closes the descriptor, so a shutdown never reaches a
 * descriptor that was closed and reused.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "http/http_int.h"

/* How often the watchdog looks: the precision of both limits. */
#define WATCH_TICK_MS 200

enum watch_state {
	W_HEADERS, /* waiting for a request's headers: deadline */
	W_BODY,	   /* receiving a request body: minimum rate */
	W_BUSY,	   /* handler or response: libmicrohttpd's own timeout only */
};

struct http_watch_conn {
	struct http_watch_conn *prev, *next;
	int fd;
	enum watch_state state;
	int64_t deadline_ms;	    /* W_HEADERS */
	int64_t win_start_ms;	    /* W_BODY: start of the current window */
	_Atomic uint64_t win_bytes; /* W_BODY: body bytes in the current window */
	atomic_int in_handler;	    /* W_BODY: our body handler holds the bytes */
};

struct http_watch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int running;
	int stop;
	struct http_watch_conn *head;
	int64_t header_ms, min_rate, window_ms;
};

/* One pass: shut down the sockets of connections past a limit. Returns how
 * many missed the header deadline and the body rate. Caller holds w->mu. */
static void watch_pass(struct http_watch *w, int64_t now, unsigned *hdr, unsigned *slow)
{
	for (struct http_watch_conn *c = w->head; c; c = c->next) {
		if (c->state == W_HEADERS && now >= c->deadline_ms) {
			(*hdr)++;
		} else if (c->state == W_BODY && w->min_rate > 0 &&
			   now - c->win_start_ms >= w->window_ms) {
			uint64_t got = atomic_exchange(&c->win_bytes, 0);
			int64_t span = now - c->win_start_ms;

			c->win_start_ms = now;
			/* Time our own body handler spends (a slow object store)
			 * is not the client's: that window starts again. */
			if (atomic_load(&c->in_handler) ||
			    got * 1000 >= (uint64_t)w->min_rate * (uint64_t)span)
				continue;
			(*slow)++;
		} else {
			continue;
		}
		/* libmicrohttpd sees EOF and closes the connection. */
		(void)shutdown(c->fd, SHUT_RDWR);
		c->state = W_BUSY;
	}
}

static void *watch_main(void *arg)
{
	struct http_watch *w = arg;
	struct timespec ts;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		unsigned hdr = 0, slow = 0;
		char n[16];

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += WATCH_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		if (w->stop)
			break;
		watch_pass(w, am_mono_ms(), &hdr, &slow);
		if (!hdr && !slow)
			continue;
		pthread_mutex_unlock(&w->mu);
		/* One line per pass, never per client: no address, no flood. */
		if (hdr) {
			snprintf(n, sizeof(n), "%u", hdr);
			am_log(AM_LOG_INFO, "header_timeout", "connections", n);
		}
		if (slow) {
			snprintf(n, sizeof(n), "%u", slow);
			am_log(AM_LOG_INFO, "body_too_slow", "connections", n);
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int http_watch_new(int64_t header_ms, int64_t min_rate, int64_t window_ms, struct http_watch **out)
{
	struct http_watch *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	int rc = AM_ERR_IO;

	*out = NULL;
	if (!w)
		return AM_ERR_NOMEM;
	w->header_ms = header_ms;
	w->min_rate = min_rate;
	w->window_ms = window_ms > 0 ? window_ms : 1000;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
		goto out;
	w->running = 1;
	*out = w;
	w = NULL;
	rc = 0;
out:
	http_watch_free(w);
	return rc;
}

void http_watch_free(struct http_watch *w)
{
	struct http_watch_conn *c, *next;

	if (!w)
		return;
	if (w->running) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	/* Only left when a daemon did not notify its closes (it was stopped). */
	for (c = w->head; c; c = next) {
		next = c->next;
		free(c);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

struct http_watch_conn *http_watch_add(struct http_watch *w, int fd)
{
	struct http_watch_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->state = W_HEADERS;
	pthread_mutex_lock(&w->mu);
	c->deadline_ms = am_mono_ms() + w->header_ms;
	c->next = w->head;
	if (w->head)
		w->head->prev = c;
	w->head = c;
	pthread_mutex_unlock(&w->mu);
	return c;
}

void http_watch_remove(struct http_watch *w, struct http_watch_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&w->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&w->mu);
	free(c);
}

void http_watch_headers_done(struct http_watch *w, struct http_watch_conn *c, int body)
{
	if (!c)
		return;
	pthread_mutex_lock(&w->mu);
	c->state = body ? W_BODY : W_BUSY;
	c->win_start_ms = am_mono_ms();
	atomic_store(&c->win_bytes, 0);
	pthread_mutex_unlock(&w->mu);
}

void http_watch_body(struct http_watch_conn *c, size_t n)
{
	if (!c)
		return;
	atomic_fetch_add(&c->win_bytes, (uint64_t)n);
	atomic_store(&c->in_handler, 1);
}

void http_watch_body_done(struct http_watch_conn *c)
{
	if (c)
		atomic_store(&c->in_handler, 0);
}

void http_watch_busy(struct http_watch *w, struct http_watch_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&w->mu);
	c->state = W_BUSY;
	pthread_mutex_unlock(&w->mu);
}

void http_watch_next_request(struct http_watch *w, struct http_watch_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&w->mu);
	c->state = W_HEADERS;
	c->deadline_ms = am_mono_ms() + w->header_ms;
	pthread_mutex_unlock(&w->mu);
}
