/*
 * am1_speed.c: AM1 throughput and memory benchmark (make bench, bench/am1.sh).
 *   am1_speed enc SECONDS [MIB] encrypt a 64 MiB (or MIB) in-memory object into a null
 *                             sink repeatedly; prints "enc_mbps N" (10^6 B/s)
 *   am1_speed dec SECONDS     decrypt it (full range) repeatedly from memory;
 *                             prints "dec_mbps N"
 *   am1_speed stream MIB      stream MIB MiB of plaintext through writer and a
 *                             null sink; prints "peak_rss_kib N"
 * Single-threaded: the figures are per core. Runs on the benchmark host only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "crypto/crypto_int.h"

static size_t OBJ = 64u << 20; /* object size: argv[3] MiB, default 64 */

static double now_s(void)
{
	struct timespec ts;

	/* CPU time of this process, like openssl speed (which divides by user
	 * CPU time unless -elapsed): figures per core, immune to other load. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int null_write(void *ctx, const void *p, size_t n)
{
	*(uint64_t *)ctx += n;
	return 0;
}

struct mem {
	uint8_t *p;
	size_t len;
};

static int mem_write(void *ctx, const void *p, size_t n)
{
	struct mem *m = ctx;

	memcpy(m->p + m->len, p, n);
	m->len += n;
	return 0;
}

static int mem_read_at(void *ctx, uint64_t off, void *p, size_t n)
{
	struct mem *m = ctx;

	if (off > m->len || n > m->len - off)
		return AM_ERR_IO;
	memcpy(p, m->p + off, n);
	return 0;
}

static int null_emit(void *ctx, const void *p, size_t n)
{
	*(uint64_t *)ctx += n;
	return 0;
}

/* Encrypt total bytes taken cyclically from buf (chunks of 1 MiB). */
static int encrypt(const uint8_t *dek, const uint8_t *fid, const uint8_t *buf, size_t buflen,
		   uint64_t total, struct am1_sink *sink)
{
	struct am1_writer *w = NULL;
	int rc = am1_writer_new(dek, fid, sink, 0, &w);

	for (uint64_t off = 0; rc == 0 && off < total;) {
		size_t k = 1u << 20;

		if (k > total - off)
			k = (size_t)(total - off);
		rc = am1_writer_write(w, buf + off % buflen, k);
		off += k;
	}
	if (rc == 0)
		rc = am1_writer_finish(w, NULL, NULL);
	am1_writer_free(w);
	return rc;
}

static int bench_enc(const uint8_t *dek, const uint8_t *fid, uint8_t *pt, double secs)
{
	uint64_t out = 0, bytes = 0;
	struct am1_sink sink = {null_write, NULL, &out};
	double t0 = now_s(), t;

	do {
		if (encrypt(dek, fid, pt, OBJ, OBJ, &sink))
			return 1;
		bytes += OBJ;
	} while ((t = now_s() - t0) < secs);
	printf("enc_mbps %.1f\n", bytes / t / 1e6);
	return 0;
}

static int bench_dec(const uint8_t *dek, const uint8_t *fid, uint8_t *pt, double secs)
{
	struct mem m = {malloc(OBJ + OBJ / 1024 + 4096), 0};
	struct am1_sink sink = {mem_write, NULL, &m};
	struct am1_source src;
	struct am1_reader *r = NULL;
	uint64_t bytes = 0, got = 0;
	double t0, t;

	if (!m.p || encrypt(dek, fid, pt, OBJ, OBJ, &sink))
		return 1;
	src.read_at = mem_read_at;
	src.size = m.len;
	src.ctx = &m;
	t0 = now_s();
	do {
		if (am1_reader_open(dek, fid, &src, OBJ, &r) ||
		    am1_reader_range(r, 0, OBJ - 1, null_emit, &got))
			return 1;
		am1_reader_free(r);
		bytes += OBJ;
	} while ((t = now_s() - t0) < secs);
	printf("dec_mbps %.1f\n", bytes / t / 1e6);
	free(m.p);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t dek[32], fid[16], *pt;
	double arg;

	if (argc == 4 && strtod(argv[3], NULL) > 0)
		OBJ = (size_t)(strtod(argv[3], NULL) * 1048576);
	if (argc < 3 || argc > 4 || (arg = strtod(argv[2], NULL)) <= 0) {
		fprintf(stderr, "usage: am1_speed enc|dec SECONDS [MIB] | stream MIB\n");
		return 2;
	}
	if (crypto_random(dek, sizeof(dek)) || crypto_random_id(fid))
		return 1;
	if (strcmp(argv[1], "stream") == 0) {
		static uint8_t chunk[1u << 20];
		uint64_t out = 0;
		struct am1_sink sink = {null_write, NULL, &out};
		struct rusage ru;

		memset(chunk, 0x5a, sizeof(chunk));
		if (encrypt(dek, fid, chunk, sizeof(chunk), (uint64_t)(arg * 1048576), &sink))
			return 1;
		getrusage(RUSAGE_SELF, &ru);
		printf("peak_rss_kib %ld\n", ru.ru_maxrss);
		return 0;
	}
	if (!(pt = malloc(OBJ)))
		return 1;
	memset(pt, 0xa5, OBJ);
	if (strcmp(argv[1], "enc") == 0)
		return bench_enc(dek, fid, pt, arg);
	if (strcmp(argv[1], "dec") == 0)
		return bench_dec(dek, fid, pt, arg);
	return 2;
}
