/*
 * stream_proto.c: a bench-only prototype for issue 25 (docs/benchmarks.md,
 * "Issue 25: what streaming costs per GiB"), not part of audiomus. It serves
 * one file over TLS (GnuTLS, as audiomus) from one epoll loop per thread,
 * the way the proposal would: a connection writes until the socket is full,
 * and GnuTLS's records go to our own buffer (a vec push function) that is
 * flushed with one send() per RECORDS records, with no setsockopt. With SIM
 * set, every 64 KiB segment also goes through one AES-256-GCM pass (OpenSSL,
 * as the AM1 reader's decryption costs); with SIM's bit 2 set, every send
 * is followed by setsockopt(TCP_NODELAY), as libmicrohttpd pushes each
 * completed send of a connection it did not accept itself (issue 25's
 * analysis), to price that call alone. Every request, whatever it asks,
 * gets the whole file as a 206 (wrk's `Range: bytes=0-`), keep-alive.
 * Loopback only; runs until killed; no input is trusted beyond a bench.
 *
 * usage: stream_proto PORT CERT KEY FILE RECORDS SIM
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC	(16 * 1024)
#define SEG	(64 * 1024)
#define MAXREC	8
#define WORKERS 2

struct conn {
	int fd, state; /* 0 handshake, 1 request, 2 body */
	gnutls_session_t s;
	char req[4096];
	size_t reqlen;
	uint64_t pos;
	uint8_t seg[SEG];
	uint64_t seg_at; /* file offset of seg, UINT64_MAX: none */
	uint8_t out[MAXREC * (REC + 256) + 4096];
	size_t outlen, outoff;
	EVP_CIPHER_CTX *gcm;
};

static gnutls_certificate_credentials_t creds;
static gnutls_priority_t prio;
static int file_fd, records = 1, sim;
static uint64_t file_size;
static int eps[WORKERS];

static ssize_t push(gnutls_transport_ptr_t p, const giovec_t *iov, int n)
{
	struct conn *c = p;
	size_t tot = 0;

	for (int i = 0; i < n; i++) {
		if (c->outlen + iov[i].iov_len > sizeof(c->out)) {
			gnutls_transport_set_errno(c->s, ENOBUFS);
			return -1;
		}
		memcpy(c->out + c->outlen, iov[i].iov_base, iov[i].iov_len);
		c->outlen += iov[i].iov_len;
		tot += iov[i].iov_len;
	}
	return (ssize_t)tot;
}

/* 0: all sent; 1: the socket is full; -1: error. */
static int flush_out(struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		int one = 1;

		if (w < 0)
			return errno == EAGAIN ? 1 : -1;
		c->outoff += (size_t)w;
		if ((sim & 2) && c->outoff == c->outlen &&
		    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
			return -1;
	}
	c->outoff = c->outlen = 0;
	return 0;
}

/* The plaintext at c->pos, up to one record, in c->seg (one GCM pass per
 * 64 KiB segment when sim is set). */
static int plain_at(struct conn *c, const uint8_t **p, size_t *n)
{
	uint64_t at = c->pos / SEG * SEG;
	int len = 0;
	uint8_t tag[16], iv[12] = {0};

	if (c->seg_at != at) {
		size_t want = file_size - at < SEG ? (size_t)(file_size - at) : SEG;
		if (pread(file_fd, c->seg, want, (off_t)at) != (ssize_t)want)
			return -1;
		if ((sim & 1) && (EVP_EncryptInit_ex(c->gcm, NULL, NULL, NULL, iv) != 1 ||
				  EVP_EncryptUpdate(c->gcm, c->seg, &len, c->seg, (int)want) != 1 ||
				  EVP_EncryptFinal_ex(c->gcm, tag, &len) != 1 ||
				  EVP_CIPHER_CTX_ctrl(c->gcm, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1))
			return -1;
		c->seg_at = at;
	}
	*p = c->seg + (c->pos - at);
	*n = (size_t)(at + SEG - c->pos);
	if (*n > REC)
		*n = REC;
	if (*n > file_size - c->pos)
		*n = (size_t)(file_size - c->pos);
	return 0;
}

static int request(struct conn *c);

/* Body: up to `records` records into c->out, then one send. */
static int body(struct conn *c)
{
	for (;;) {
		int f = flush_out(c);
		if (f)
			return f;
		if (c->pos >= file_size) {
			c->state = 1;
			c->reqlen = 0;
			return request(c);
		}
		for (int k = 0; k < records && c->pos < file_size; k++) {
			const uint8_t *p;
			size_t n;
			ssize_t r;
			if (plain_at(c, &p, &n) || (r = gnutls_record_send(c->s, p, n)) <= 0)
				return -1;
			c->pos += (uint64_t)r;
		}
	}
}

static int request(struct conn *c)
{
	char hdr[256];
	int hl;

	while (!memmem(c->req, c->reqlen, "\r\n\r\n", 4)) {
		ssize_t r =
		    gnutls_record_recv(c->s, c->req + c->reqlen, sizeof(c->req) - c->reqlen);
		if (r == GNUTLS_E_AGAIN)
			return 1;
		if (r <= 0 || (c->reqlen += (size_t)r) >= sizeof(c->req))
			return -1;
	}
	hl = snprintf(hdr, sizeof(hdr),
		      "HTTP/1.1 206 Partial Content\r\nContent-Type: audio/wav\r\n"
		      "Content-Length: %llu\r\nContent-Range: bytes 0-%llu/%llu\r\n\r\n",
		      (unsigned long long)file_size, (unsigned long long)file_size - 1,
		      (unsigned long long)file_size);
	if (gnutls_record_send(c->s, hdr, (size_t)hl) != hl)
		return -1;
	c->state = 2;
	c->pos = 0;
	return body(c);
}

static int step(struct conn *c)
{
	int r = flush_out(c);

	if (r)
		return r;
	if (c->state == 0) {
		r = gnutls_handshake(c->s);
		if (flush_out(c) < 0)
			return -1;
		if (r == GNUTLS_E_AGAIN)
			return 1;
		if (r < 0)
			return -1;
		c->state = 1;
	}
	return c->state == 1 ? request(c) : body(c);
}

static void conn_free(struct conn *c)
{
	gnutls_deinit(c->s);
	EVP_CIPHER_CTX_free(c->gcm);
	close(c->fd);
	free(c);
}

static void *worker(void *arg)
{
	int ep = *(int *)arg;
	struct epoll_event ev[64];

	for (;;) {
		int n = epoll_wait(ep, ev, 64, -1);
		for (int i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;
			if (step(c) < 0)
				conn_free(c);
		}
	}
	return NULL;
}

static struct conn *conn_new(int fd)
{
	static const uint8_t key[32] = {1};
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->seg_at = UINT64_MAX;
	if (!(c->gcm = EVP_CIPHER_CTX_new()) ||
	    EVP_EncryptInit_ex(c->gcm, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
	    gnutls_init(&c->s, GNUTLS_SERVER | GNUTLS_NONBLOCK) < 0) {
		EVP_CIPHER_CTX_free(c->gcm);
		free(c);
		return NULL;
	}
	gnutls_priority_set(c->s, prio);
	gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, creds);
	gnutls_transport_set_int(c->s, fd);
	gnutls_transport_set_ptr2(c->s, (gnutls_transport_ptr_t)(intptr_t)fd, c);
	gnutls_transport_set_vec_push_function(c->s, push);
	return c;
}

static int listen_on(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1024))
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	struct stat st;
	pthread_t t;
	int lfd, next = 0;

	if (argc != 7) {
		fprintf(stderr, "usage: stream_proto PORT CERT KEY FILE RECORDS SIM\n");
		return 2;
	}
	records = (int)strtol(argv[5], NULL, 10);
	sim = (int)strtol(argv[6], NULL, 10);
	if (records < 1 || records > MAXREC || (file_fd = open(argv[4], O_RDONLY)) < 0 ||
	    fstat(file_fd, &st) || gnutls_certificate_allocate_credentials(&creds) < 0 ||
	    gnutls_certificate_set_x509_key_file(creds, argv[2], argv[3], GNUTLS_X509_FMT_PEM) <
		0 ||
	    gnutls_priority_init(&prio, "NORMAL:-CIPHER-ALL:+AES-128-GCM", NULL) < 0 ||
	    (lfd = listen_on((int)strtol(argv[1], NULL, 10))) < 0) {
		fprintf(stderr, "stream_proto: set-up failed\n");
		return 1;
	}
	file_size = (uint64_t)st.st_size;
	for (int i = 0; i < WORKERS; i++)
		if ((eps[i] = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    pthread_create(&t, NULL, worker, &eps[i]))
			return 1;
	for (;;) { /* round robin, as audiomus's accept loop */
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct conn *c = fd >= 0 ? conn_new(fd) : NULL;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};

		if (!c) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (epoll_ctl(eps[next], EPOLL_CTL_ADD, fd, &ev))
			conn_free(c);
		next = (next + 1) % WORKERS;
	}
}
