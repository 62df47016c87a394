/* Shared fixtures of the crypto unit tests (see helper_crypto.h). */
#include "crypto/helper_crypto.h"

#include <stdlib.h>
#include <string.h>

static int mem_write(void *ctx, const void *p, size_t n)
{
	struct tcrypto_mem *m = ctx;

	if (m->fail_after && ++m->calls == m->fail_after)
		return AM_ERR_IO;
	if (m->len + n > m->alloc) {
		size_t na = m->alloc ? m->alloc : 4096;
		uint8_t *np;

		while (na < m->len + n)
			na *= 2;
		if (!(np = realloc(m->p, na)))
			return AM_ERR_NOMEM;
		m->p = np;
		m->alloc = na;
	}
	memcpy(m->p + m->len, p, n);
	m->len += n;
	return 0;
}

static int mem_write_at(void *ctx, uint64_t off, const void *p, size_t n)
{
	struct tcrypto_mem *m = ctx;

	m->write_at_calls++;
	if (off > m->len || n > m->len - off)
		return AM_ERR_INVAL; /* only already-written bytes may be patched */
	memcpy(m->p + off, p, n);
	return 0;
}

static int mem_read_at(void *ctx, uint64_t off, void *p, size_t n)
{
	struct tcrypto_mem *m = ctx;

	if (off > m->len || n > m->len - off)
		return AM_ERR_IO;
	memcpy(p, m->p + off, n);
	return 0;
}

struct am1_sink tcrypto_mem_sink(struct tcrypto_mem *m)
{
	struct am1_sink s = {mem_write, mem_write_at, m};
	return s;
}

struct am1_source tcrypto_mem_source(struct tcrypto_mem *m)
{
	struct am1_source s = {mem_read_at, m->len, m};
	return s;
}

void tcrypto_mem_free(struct tcrypto_mem *m)
{
	free(m->p);
	memset(m, 0, sizeof(*m));
}

void tcrypto_pattern(uint8_t *p, size_t n, uint64_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(((start + i) * 7 + 3) % 251);
}

int tcrypto_am1_encrypt(const uint8_t dek[32], const uint8_t file_id[16], const uint8_t *pt,
			size_t n, struct tcrypto_mem *m)
{
	struct am1_sink sink = tcrypto_mem_sink(m);
	struct am1_writer *w = NULL;
	int rc;

	if ((rc = am1_writer_new(dek, file_id, &sink, 0, &w)) == 0 &&
	    (rc = am1_writer_write(w, pt, n)) == 0)
		rc = am1_writer_finish(w, NULL, NULL);
	am1_writer_free(w);
	return rc;
}
