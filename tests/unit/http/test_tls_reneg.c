/*
 * test_tls_reneg.c: the renegotiation guard's record scanner
 * (src/http/tls_reneg.c, http_tls_guard_scan) on byte streams as a client
 * sends them: a TLS 1.2 handshake then a renegotiation ClientHello, in one
 * piece and byte by byte; TLS 1.3 (compatibility ChangeCipherSpec, a second
 * ClientHello after HelloRetryRequest) never trips it; a stream that is not
 * TLS records makes it stand aside. The live refusal (the fatal alert on the
 * wire) is scripts/security's "TLS: client-initiated renegotiation ...".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_int.h"

/* Append a record of type t with n body bytes to buf at *o. */
static void rec(uint8_t *buf, size_t *o, uint8_t t, uint16_t n)
{
	buf[(*o)++] = t;
	buf[(*o)++] = 3;
	buf[(*o)++] = 3;
	buf[(*o)++] = (uint8_t)(n >> 8);
	buf[(*o)++] = (uint8_t)n;
	memset(buf + *o, 0xab, n);
	*o += n;
}

/* What the server reads after the ClientHello of a TLS 1.2 handshake:
 * ClientKeyExchange, ChangeCipherSpec, Finished, application data. */
static size_t tls12_after_hello(uint8_t *buf)
{
	size_t o = 0;

	rec(buf, &o, 22, 37);
	rec(buf, &o, 20, 1);
	rec(buf, &o, 22, 40);
	rec(buf, &o, 23, 300);
	return o;
}

static void tls12_renegotiation_is_caught(void **state)
{
	uint8_t buf[4096];
	size_t n = tls12_after_hello(buf), o = n;
	struct http_tls_guard g = {0};

	assert_int_equal(http_tls_guard_scan(&g, buf, n, 1), 0);
	rec(buf, &o, 22, 200); /* the renegotiation ClientHello */
	assert_int_equal(http_tls_guard_scan(&g, buf + n, o - n, 1), 1);
	/* the same stream byte by byte */
	memset(&g, 0, sizeof(g));
	for (size_t i = 0; i < o; i++)
		assert_int_equal(http_tls_guard_scan(&g, buf + i, 1, 1), i == n + 4);
}

static void tls13_is_never_refused(void **state)
{
	uint8_t buf[4096];
	size_t o = 0;
	struct http_tls_guard g = {0};

	rec(buf, &o, 20, 1);   /* compatibility ChangeCipherSpec */
	rec(buf, &o, 22, 300); /* second ClientHello after HelloRetryRequest */
	rec(buf, &o, 23, 60);  /* Finished, encrypted */
	rec(buf, &o, 23, 500);
	rec(buf, &o, 22, 10); /* not TLS 1.3: not ours to refuse, GnuTLS fails it */
	assert_int_equal(http_tls_guard_scan(&g, buf, o, 0), 0);
}

static void not_tls_records_stand_aside(void **state)
{
	uint8_t buf[4096];
	size_t o = 0;
	struct http_tls_guard g = {0};

	buf[o++] = 0x80; /* an SSLv2-style header */
	buf[o++] = 0x2e;
	buf[o++] = 0x01;
	rec(buf, &o, 20, 1);
	rec(buf, &o, 22, 40);
	rec(buf, &o, 22, 40);
	assert_int_equal(http_tls_guard_scan(&g, buf, o, 1), 0);
	assert_int_equal(g.off, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tls12_renegotiation_is_caught),
	    cmocka_unit_test(tls13_is_never_refused),
	    cmocka_unit_test(not_tls_records_stand_aside),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
