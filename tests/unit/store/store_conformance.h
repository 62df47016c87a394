/*
 * store_conformance.h: the backend-neutral object-store test suite
 * (helper_store_conformance.c). Every backend runs the identical suite:
 * test_store_fs.c against a temporary file: store, and the S3 backend's test
 * against a real S3 server. Test code only.
 */
#ifndef AM_TEST_STORE_CONFORMANCE_H
#define AM_TEST_STORE_CONFORMANCE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

struct store;

/* Run the whole suite as one cmocka group against the store at url (every
 * test uses its own random namespace and deletes what it wrote). Returns the
 * number of failed tests (0 = conformant). */
int store_conformance_run(const char *url);

/* For combining the suite with backend-specific tests in one group: set the
 * url, copy up to max tests into out (returns how many), and run the group
 * with store_conformance_setup/teardown, which open and close the store and
 * pass it to each conformance test as *state. */
void store_conformance_set_url(const char *url);
size_t store_conformance_tests(struct CMUnitTest *out, size_t max);
int store_conformance_setup(void **state);
int store_conformance_teardown(void **state);

/* Deterministic test content: byte at offset off of the stream named seed. */
uint8_t store_cf_byte(uint64_t seed, uint64_t off);
void store_cf_fill(uint64_t seed, uint64_t off, void *buf, size_t n);
/* 1 if buf holds exactly the content of seed at off. */
int store_cf_check(uint64_t seed, uint64_t off, const void *buf, size_t n);
/* A fresh random namespace ("t" + 12 hex) and a random key in it. */
void store_cf_ns(char ns[17]);
void store_cf_key(char key[64], const char *ns, const char *ext);
/* Put size bytes of seed under key in chunks of at most chunk bytes, commit
 * (asserting success). */
void store_cf_put(struct store *s, const char *key, uint64_t seed, uint64_t size, size_t chunk);
/* Assert that key holds exactly size bytes of seed. */
void store_cf_verify(struct store *s, const char *key, uint64_t seed, uint64_t size);
/* Delete every key under ns/. */
void store_cf_cleanup(struct store *s, const char *ns);

#endif
