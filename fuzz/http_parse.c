/*
 * http_parse.c: libFuzzer target for the request-target and Cookie parsers
 * of src/http/parse.c (the first code that touches client bytes). The input
 * is split at the first '?' into path and query, and also parsed whole as a
 * Cookie header; outputs are checked for the parsers' promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *s, size_t n)
{
	char out[512];

	if (http_parse_path(s, n, out, sizeof(out)) != 0)
		return;
	/* A valid path never holds a NUL-free traversal or an empty segment. */
	if (out[0] != '/' || strstr(out, "//") || strstr(out, "/../") || strstr(out, "/./"))
		abort();
	for (const char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '\\')
			abort();
}

static void check_query(const char *s, size_t n)
{
	struct http_kv kv[HTTP_MAX_QUERY];
	char store[1024];
	int c;

	if (n + HTTP_MAX_QUERY + 1 > sizeof(store))
		return;
	c = http_parse_query(s, n, kv, HTTP_MAX_QUERY, store, sizeof(store));
	for (int i = 0; i < c; i++) {
		if (!*kv[i].name)
			abort();
		for (int j = 0; j < i; j++)
			if (!strcmp(kv[i].name, kv[j].name))
				abort();
	}
}

static void check_cookies(const char *s, size_t n)
{
	struct http_kv kv[HTTP_MAX_COOKIES];
	char store[1024];
	int c;

	if (n + 1 > sizeof(store))
		return;
	c = http_parse_cookies(s, n, kv, HTTP_MAX_COOKIES, store, sizeof(store));
	for (int i = 0; i < c; i++)
		if (!http_cookie_name_ok(kv[i].name) || !http_cookie_value_ok(kv[i].value))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	const char *q;

	if (size > 900)
		return 0;
	if (!(s = malloc(size + 1)))
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	q = memchr(s, '?', size);
	check_path(s, q ? (size_t)(q - s) : size);
	if (q)
		check_query(q + 1, size - (size_t)(q - s) - 1);
	check_cookies(s, size);
	(void)http_method_of(s);
	free(s);
	return 0;
}
