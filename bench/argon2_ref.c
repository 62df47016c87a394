/*
 * argon2_ref.c: the reference for bench/login.sh (make bench): libsodium's own
 * cost of checking an owner password, without any server around it.
 *   argon2_ref OPSLIMIT MEMLIMIT_BYTES THREADS SECONDS
 * hashes one password with crypto_pwhash_str (Argon2id, the given limits),
 * then THREADS threads run crypto_pwhash_str_verify on it in a loop for
 * SECONDS of wall time. Prints "verify_per_s N peak_rss_kib N" (ru_maxrss
 * of the whole process). THREADS = cores matches the server, which runs at
 * most one hash per core at a time. Runs on the benchmark host only.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "util/util.h"

static const char PW[] = "correct horse battery staple";
static char hash[crypto_pwhash_STRBYTES];
static double deadline;
static atomic_long done_n;
static atomic_int failed;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	(void)arg;
	while (now_s() < deadline) {
		if (crypto_pwhash_str_verify(hash, PW, sizeof(PW) - 1) != 0) {
			atomic_store(&failed, 1);
			break;
		}
		atomic_fetch_add(&done_n, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[64];
	struct rusage ru;
	unsigned long long ops;
	size_t mem;
	int64_t threads = 0;
	double secs, t0, t1;

	if (argc != 5) {
		fprintf(stderr, "usage: argon2_ref OPSLIMIT MEMLIMIT_BYTES THREADS SECONDS\n");
		return 2;
	}
	ops = strtoull(argv[1], NULL, 10);
	mem = (size_t)strtoull(argv[2], NULL, 10);
	secs = atof(argv[4]);
	if (am_parse_i64(argv[3], 1, 64, &threads) || secs <= 0 || sodium_init() < 0)
		return 2;
	if (crypto_pwhash_str(hash, PW, sizeof(PW) - 1, ops, mem) != 0) {
		fprintf(stderr, "argon2_ref: crypto_pwhash_str failed (memory?)\n");
		return 1;
	}
	t0 = now_s();
	deadline = t0 + secs;
	for (int i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, run, NULL) != 0)
			return 1;
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	if (atomic_load(&failed)) {
		fprintf(stderr, "argon2_ref: verify failed\n");
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("verify_per_s %.2f peak_rss_kib %ld\n", (double)atomic_load(&done_n) / (t1 - t0),
	       ru.ru_maxrss);
	return 0;
}
