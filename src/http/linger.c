/*
 * linger.c: the lingering close of a connection answered before its body
 * was read (a refused upload: a full disk, a refused type, 413). The client
 * is still sending; libmicrohttpd 0.9.75 closes the socket right after the
 * answer, with the unread body in the kernel's receive queue, so Linux
 * sends a reset instead of a FIN, and a client that is still writing (the
 * web uploader, a tus client without Expect: 100-continue) sees the reset
 * and loses the answer it was sent. As Apache and nginx do, the socket is
 * kept a little longer here: its write side is shut (FIN after the answer
 * and TLS close_notify), what the client still sends is read and dropped,
 * and it is closed once the client closes, after LINGER_MS, or after
 * LINGER_BYTES, whichever comes first. server.c hands over a duplicate of
 * the descriptor in libmicrohttpd's CLOSED notification, so libmicrohttpd's
 * own close does not release the socket.
 *
 * Runs in the web/media processes at the network boundary: the bytes read
 * are untrusted and never looked at; time, bytes and sockets are bounded.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_int.h"

#define LINGER_MS    2000	 /* nginx: lingering_time 30 s, timeout 5 s */
#define LINGER_BYTES (16u << 20) /* read and dropped at most, per socket */
#define LINGER_MAX   64		 /* sockets at once; beyond, closed at once */

struct linger_sock {
	int fd;
	int64_t deadline_ms;
	uint64_t left;
};

struct http_linger {
	pthread_mutex_t mu;
	struct linger_sock socks[LINGER_MAX]; /* [0, n) in use */
	size_t n;
	int wake_fd;
	atomic_int stop;
	pthread_t thread;
};

/* Read what fd has and drop it: 1 when the socket is done with (EOF, an
 * error, its byte budget spent), 0 when it may send more. */
static int linger_drain(struct linger_sock *ls)
{
	uint8_t buf[16384];
	ssize_t r;

	for (;;) {
		r = recv(ls->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno != EAGAIN && errno != EWOULDBLOCK;
		if (r == 0 || (uint64_t)r >= ls->left)
			return 1;
		ls->left -= (uint64_t)r;
	}
}

/* One pass: wait up to 100 ms for bytes (with no socket: until woken),
 * drain, close what is done. */
static void linger_pass(struct http_linger *l)
{
	struct pollfd p[LINGER_MAX + 1];
	size_t n, i;
	int64_t now;

	pthread_mutex_lock(&l->mu);
	n = l->n;
	for (i = 0; i < n; i++)
		p[i] = (struct pollfd){.fd = l->socks[i].fd, .events = POLLIN};
	pthread_mutex_unlock(&l->mu);
	p[n] = (struct pollfd){.fd = l->wake_fd, .events = POLLIN};
	if (poll(p, n + 1, n ? 100 : -1) < 0) /* idle: only add() or stop wakes it */
		return;
	if (p[n].revents) {
		uint64_t v;
		(void)!read(l->wake_fd, &v, sizeof(v));
	}
	now = am_mono_ms();
	pthread_mutex_lock(&l->mu);
	/* Only this thread removes entries; add() appends after [0, n). */
	for (i = n; i-- > 0;) {
		struct linger_sock *ls = &l->socks[i];

		if ((p[i].revents && linger_drain(ls)) || now >= ls->deadline_ms) {
			close(ls->fd);
			*ls = l->socks[--l->n];
		}
	}
	pthread_mutex_unlock(&l->mu);
}

static void *linger_main(void *arg)
{
	struct http_linger *l = arg;

	while (!atomic_load(&l->stop))
		linger_pass(l);
	return NULL;
}

int http_linger_new(struct http_linger **out)
{
	struct http_linger *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return AM_ERR_NOMEM;
	pthread_mutex_init(&l->mu, NULL);
	if ((l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    pthread_create(&l->thread, NULL, linger_main, l) != 0) {
		if (l->wake_fd >= 0)
			close(l->wake_fd);
		pthread_mutex_destroy(&l->mu);
		free(l);
		return AM_ERR_IO;
	}
	*out = l;
	return 0;
}

void http_linger_add(struct http_linger *l, int fd)
{
	uint64_t one = 1;
	int full;

	if (!l) {
		close(fd);
		return;
	}
	(void)shutdown(fd, SHUT_WR); /* FIN after the answer */
	pthread_mutex_lock(&l->mu);
	full = l->n == LINGER_MAX;
	if (!full)
		l->socks[l->n++] = (struct linger_sock){
		    .fd = fd, .deadline_ms = am_mono_ms() + LINGER_MS, .left = LINGER_BYTES};
	pthread_mutex_unlock(&l->mu);
	if (full)
		close(fd);
	else if (write(l->wake_fd, &one, sizeof(one)) != sizeof(one))
		am_log(AM_LOG_DEBUG, "http_linger_wake", "error", "eventfd");
}

void http_linger_free(struct http_linger *l)
{
	uint64_t one = 1;

	if (!l)
		return;
	atomic_store(&l->stop, 1);
	(void)!write(l->wake_fd, &one, sizeof(one));
	pthread_join(l->thread, NULL);
	for (size_t i = 0; i < l->n; i++)
		close(l->socks[i].fd);
	close(l->wake_fd);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
