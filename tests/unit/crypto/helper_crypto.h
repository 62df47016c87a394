/* Shared fixtures of the crypto unit tests: an in-memory AM1 sink/source. */
#ifndef TCRYPTO_HELPER_H
#define TCRYPTO_HELPER_H

#include "crypto/crypto_int.h"

struct tcrypto_mem {
	uint8_t *p;
	size_t len;
	size_t alloc;
	int write_at_calls;
	int fail_after; /* fail the write call number fail_after (1-based); 0 = never */
	int calls;
};

/* A sink that appends to / patches m, and a source that reads m. */
struct am1_sink tcrypto_mem_sink(struct tcrypto_mem *m);
struct am1_source tcrypto_mem_source(struct tcrypto_mem *m);
void tcrypto_mem_free(struct tcrypto_mem *m);
/* Deterministic test plaintext: byte i = (7i + 3) mod 251 (as am1_kat.py). */
void tcrypto_pattern(uint8_t *p, size_t n, uint64_t start);
/* Encrypt n bytes of the pattern into m with am1 (random salt). */
int tcrypto_am1_encrypt(const uint8_t dek[32], const uint8_t file_id[16], const uint8_t *pt,
			size_t n, struct tcrypto_mem *m);

#endif
