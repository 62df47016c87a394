/*
 * util.c: errors, bounded buffers, strings, secret memory and time (see
 * util.h). Runs in every process; trusts nothing it is given beyond the
 * documented preconditions.
 */
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

const char *am_strerror(int err)
{
	switch (err) {
	case AM_OK: return "ok";
	case AM_ERR_NOMEM: return "out of memory";
	case AM_ERR_INVAL: return "invalid input";
	case AM_ERR_IO: return "input/output error";
	case AM_ERR_CRYPTO: return "cryptographic failure";
	case AM_ERR_NOTFOUND: return "not found";
	case AM_ERR_TOOBIG: return "too large";
	case AM_ERR_DENIED: return "access denied";
	case AM_ERR_EXISTS: return "already exists";
	case AM_ERR_CONFLICT: return "conflict";
	case AM_ERR_RATE: return "rate limited";
	case AM_ERR_UNAVAIL: return "temporarily unavailable";
	case AM_ERR_DB: return "database error";
	case AM_ERR_RANGE: return "range not satisfiable";
	case AM_ERR_UNSUPPORTED: return "not supported";
	case AM_ERR_INTERNAL: return "internal error";
	case AM_ERR_UNAUTH: return "not authenticated";
	case AM_ERR_METHOD: return "method not allowed";
	case AM_ERR_NOSPACE: return "out of space";
	case AM_ERR_READONLY: return "read-only storage";
	default: return "unknown error";
	}
}

void am_buf_init(struct am_buf *b, size_t cap)
{
	b->p = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void am_buf_cleanup(struct am_buf *b)
{
	if (b->p) {
		am_memzero(b->p, b->alloc);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->alloc = 0;
}

void am_buf_reset(struct am_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = 0;
}

/* Make room for n more bytes plus a NUL, growing geometrically up to cap+1. */
static int buf_reserve(struct am_buf *b, size_t n)
{
	size_t need, na;
	uint8_t *np;

	if (n > b->cap || b->len > b->cap - n)
		return AM_ERR_TOOBIG;
	need = b->len + n + 1;
	if (need <= b->alloc)
		return 0;
	na = b->alloc ? b->alloc : 64;
	while (na < need)
		na = na > SIZE_MAX / 2 ? need : na * 2;
	if (na > b->cap + 1)
		na = b->cap + 1;
	np = malloc(na);
	if (!np)
		return AM_ERR_NOMEM;
	if (b->p) {
		memcpy(np, b->p, b->len);
		am_memzero(b->p, b->alloc);
		free(b->p);
	}
	b->p = np;
	b->alloc = na;
	return 0;
}

int am_buf_reserve(struct am_buf *b, size_t n)
{
	return buf_reserve(b, n);
}

int am_buf_append(struct am_buf *b, const void *data, size_t n)
{
	int rc = buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

int am_buf_puts(struct am_buf *b, const char *s)
{
	return am_buf_append(b, s, strlen(s));
}

int am_buf_printf(struct am_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return AM_ERR_INVAL;
	rc = buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int am_buf_json_escape(struct am_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};

		if (c == '"' || c == '\\') {
			char two[2] = {'\\', (char)c};
			rc = am_buf_append(b, two, 2);
		} else if (c < 0x20 || c == 0x7f) {
			rc = am_buf_append(b, esc, 6);
		} else {
			rc = am_buf_append(b, &s[i], 1);
		}
	}
	return rc;
}

int am_hexval(int c, int any_case)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (any_case && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t am_ascii_fold(const char *s, char *out, size_t outsz)
{
	size_t n = 0;

	if (outsz == 0)
		return 0;
	for (; *s && n + 1 < outsz; s++)
		out[n++] = (*s >= 'A' && *s <= 'Z') ? (char)(*s + 32) : *s;
	out[n] = 0;
	return n;
}

int am_strlcpy(char *dst, const char *src, size_t dstsz)
{
	size_t n = strlen(src);

	if (dstsz == 0)
		return AM_ERR_TOOBIG;
	if (n >= dstsz) {
		memcpy(dst, src, dstsz - 1);
		dst[dstsz - 1] = 0;
		return AM_ERR_TOOBIG;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int am_exe_sibling(const char *name, char *out, size_t n)
{
	char self[4096], *slash;
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (k <= 0)
		return AM_ERR_INTERNAL;
	self[k] = 0;
	if (!(slash = strrchr(self, '/')))
		return AM_ERR_INTERNAL;
	slash[1] = 0;
	return (size_t)snprintf(out, n, "%s%s", self, name) >= n ? AM_ERR_INTERNAL : 0;
}

int am_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
		return AM_ERR_INVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || !end || *end || v < min || v > max)
		return AM_ERR_INVAL;
	*out = v;
	return 0;
}

int am_url_host(const char *url, char *host, size_t hostlen)
{
	const char *p = strstr(url, "://"), *end;
	size_t n;

	if (!p)
		return AM_ERR_INVAL;
	p += 3;
	if (strchr(p, '@') && strchr(p, '@') < p + strcspn(p, "/"))
		return AM_ERR_INVAL;
	if (*p == '[')
		end = strchr(++p, ']');
	else
		end = p + strcspn(p, ":/");
	if (!end || end == p || (n = (size_t)(end - p)) >= hostlen)
		return AM_ERR_INVAL;
	memcpy(host, p, n);
	host[n] = 0;
	return 0;
}

int am_host_is_loopback(const char *h)
{
	unsigned char a[16];

	if (strcasecmp(h, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, h, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, h, a) != 1)
		return 0;
	if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
		return a[12] == 127;
	return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
}

void am_memzero(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

int am_ct_eq(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/* Secret pages: their own anonymous mapping, so that madvise can keep them
 * out of core dumps and wipe them in any fork()ed child (a transcoder child
 * that a hostile file took over finds zeros where the keys were). Keys of
 * up to SLAB_CHUNK bytes (nearly all of them: 32-byte keys, unwrapped per
 * request) come from a slab of such pages, so that a request costs no
 * mmap/mlock/munmap system calls. Larger ones (AM1's 64 KiB plaintext
 * segment buffer, one per encrypted object) are kept, zeroed, in a small
 * cache of mappings when freed: mapping, locking and faulting in 16 pages
 * cost ~140 us per object on a VM, a third of encrypting a 1 MiB object. */
#define SLAB_CHUNK    64
#define SLAB_PAGE     4096
#define SLAB_PER_PAGE (SLAB_PAGE / SLAB_CHUNK)

struct secret_slab {
	uint8_t *page;
	uint64_t used; /* bit i: chunk i handed out */
	struct secret_slab *next;
};

static struct secret_slab *slabs;
static pthread_mutex_t slab_mu = PTHREAD_MUTEX_INITIALIZER;

#define SPAN_CACHE 8 /* freed large mappings kept for reuse (zeroed, locked) */
static struct {
	void *p;
	size_t span;
} spans[SPAN_CACHE];

static size_t secret_span(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (n + page - 1) / page * page;
}

static void *secret_map(size_t span)
{
	void *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, span, MADV_DONTDUMP);
	(void)madvise(p, span, MADV_WIPEONFORK);
	/* Best effort: unprivileged processes have a small RLIMIT_MEMLOCK. */
	(void)mlock(p, span);
	return p;
}

/* A zeroed chunk from the slab (caller holds slab_mu). */
static void *slab_take(void)
{
	struct secret_slab *sl;
	int bit;

	for (sl = slabs; sl; sl = sl->next)
		if (sl->used != UINT64_MAX)
			break;
	if (!sl) {
		if (!(sl = calloc(1, sizeof(*sl))) ||
		    !(sl->page = secret_map(secret_span(SLAB_PAGE)))) {
			free(sl);
			return NULL;
		}
		sl->next = slabs;
		slabs = sl;
	}
	bit = __builtin_ctzll(~sl->used);
	sl->used |= UINT64_C(1) << bit;
	return sl->page + (size_t)bit * SLAB_CHUNK;
}

/* Zero and return a chunk; 0 if p is not a slab chunk. */
static int slab_give(void *p)
{
	uint8_t *b = p;

	for (struct secret_slab *sl = slabs; sl; sl = sl->next) {
		if (b < sl->page || b >= sl->page + SLAB_PAGE)
			continue;
		am_memzero(b, SLAB_CHUNK);
		sl->used &= ~(UINT64_C(1) << ((size_t)(b - sl->page) / SLAB_CHUNK));
		return 1;
	}
	return 0;
}

/* A cached mapping of exactly span bytes (zeroed when it was freed), or
 * NULL; keep: put p back instead (1 if the cache took it). slab_mu held. */
static void *span_take(size_t span)
{
	for (int i = 0; i < SPAN_CACHE; i++) {
		if (spans[i].p && spans[i].span == span) {
			void *p = spans[i].p;
			spans[i].p = NULL;
			return p;
		}
	}
	return NULL;
}

static int span_keep(void *p, size_t span)
{
	for (int i = 0; i < SPAN_CACHE; i++) {
		if (!spans[i].p) {
			spans[i].p = p;
			spans[i].span = span;
			return 1;
		}
	}
	return 0;
}

void *am_secret_alloc(size_t n)
{
	void *p;

	if (n == 0 || n > ((size_t)1 << 30))
		return NULL;
	pthread_mutex_lock(&slab_mu);
	p = n > SLAB_CHUNK ? span_take(secret_span(n)) : slab_take();
	pthread_mutex_unlock(&slab_mu);
	if (!p && n > SLAB_CHUNK)
		p = secret_map(secret_span(n));
	return p;
}

void am_secret_free(void *p, size_t n)
{
	size_t span;
	int done;

	if (!p)
		return;
	if (n <= SLAB_CHUNK) {
		pthread_mutex_lock(&slab_mu);
		done = slab_give(p);
		pthread_mutex_unlock(&slab_mu);
		if (done)
			return;
	}
	span = secret_span(n);
	am_memzero(p, span);
	pthread_mutex_lock(&slab_mu);
	done = span <= ((size_t)1 << 20) && span_keep(p, span);
	pthread_mutex_unlock(&slab_mu);
	if (done)
		return;
	(void)munlock(p, span);
	munmap(p, span);
}

static int64_t time_offset_ms;
static _Thread_local int64_t frozen_ms = -1;

int64_t am_now(void)
{
	return am_now_ms() / 1000;
}

int64_t am_now_ms(void)
{
	struct timespec ts;

	if (frozen_ms >= 0)
		return frozen_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + time_offset_ms;
}

void am_time_set_offset(int64_t seconds)
{
	time_offset_ms = seconds * 1000;
}

void am_time_freeze_ms(int64_t ms)
{
	frozen_ms = ms;
}

int64_t am_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t am_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
