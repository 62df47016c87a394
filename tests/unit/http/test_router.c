/* Unit tests for src/http/router.c and the error-to-status mapping. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http/http_int.h"

static int h1(struct http_req *req, void *arg)
{
	return 0;
}
static int h2(struct http_req *req, void *arg)
{
	return 0;
}

static int match(struct http_router *r, enum http_method m, const char *path,
		 const struct http_route **rt, struct http_kv *params, size_t *np, unsigned *allow)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s", path);
	return http_router_match(r, m, buf, rt, params, np, allow);
}

static void matches_literals_and_params(void **state)
{
	struct http_router *r = http_router_new();
	const struct http_route *rt = NULL;
	struct http_kv params[HTTP_MAX_PARAMS];
	size_t np = 0;
	unsigned allow;

	assert_non_null(r);
	assert_int_equal(http_route(r, HTTP_GET, "/", h1, NULL), 0);
	assert_int_equal(http_route(r, HTTP_GET, "/healthz", h1, NULL), 0);
	assert_int_equal(http_route(r, HTTP_GET | HTTP_POST, "/s/{token}", h2, NULL), 0);
	assert_int_equal(http_route(r, HTTP_GET, "/p/{project}/t/{track}", h2, NULL), 0);

	assert_int_equal(match(r, HTTP_GET, "/", &rt, params, &np, &allow), 0);
	assert_string_equal(rt->def.pattern, "/");
	assert_int_equal(match(r, HTTP_HEAD, "/healthz", &rt, params, &np, &allow), 0);
	assert_string_equal(rt->def.pattern, "/healthz");
	assert_int_equal(match(r, HTTP_POST, "/s/abc", &rt, params, &np, &allow), 0);
	assert_int_equal(np, 1);
	assert_string_equal(params[0].name, "{token}");
	assert_string_equal(params[0].value, "abc");
	assert_int_equal(match(r, HTTP_GET, "/p/P1/t/T2", &rt, params, &np, &allow), 0);
	assert_int_equal(np, 2);
	assert_string_equal(params[1].value, "T2");
	http_router_free(r);
}

static void distinguishes_404_and_405(void **state)
{
	struct http_router *r = http_router_new();
	const struct http_route *rt = NULL;
	struct http_kv params[HTTP_MAX_PARAMS];
	size_t np = 0;
	unsigned allow = 0;

	assert_int_equal(http_route(r, HTTP_GET, "/s/{token}", h1, NULL), 0);
	assert_int_equal(match(r, HTTP_GET, "/s", &rt, params, &np, &allow), AM_ERR_NOTFOUND);
	assert_int_equal(match(r, HTTP_GET, "/s/a/b", &rt, params, &np, &allow), AM_ERR_NOTFOUND);
	assert_int_equal(match(r, HTTP_GET, "/x/a", &rt, params, &np, &allow), AM_ERR_NOTFOUND);
	assert_int_equal(match(r, HTTP_DELETE, "/s/a", &rt, params, &np, &allow), AM_ERR_METHOD);
	assert_int_equal(allow, HTTP_GET | HTTP_HEAD);
	http_router_free(r);
}

static void refuses_bad_patterns_and_duplicates(void **state)
{
	struct http_router *r = http_router_new();

	assert_int_equal(http_route(r, HTTP_GET, "nope", h1, NULL), AM_ERR_INVAL);
	assert_int_equal(http_route(r, HTTP_GET, "/a//b", h1, NULL), AM_ERR_INVAL);
	assert_int_equal(http_route(r, HTTP_GET, "/a/", h1, NULL), AM_ERR_INVAL);
	assert_int_equal(http_route(r, 0, "/a", h1, NULL), AM_ERR_INVAL);
	assert_int_equal(http_route(r, HTTP_GET, "/a", NULL, NULL), AM_ERR_INVAL);
	assert_int_equal(http_route(r, HTTP_GET, "/s/{x}", h1, NULL), 0);
	assert_int_equal(http_route(r, HTTP_GET, "/s/{y}", h1, NULL), AM_ERR_EXISTS);
	assert_int_equal(http_route(r, HTTP_POST, "/s/{y}", h1, NULL), 0);
	http_router_free(r);
	http_router_free(NULL);
}

/* Every code of enum am_err with its status, one row each. */
static const struct {
	int err;
	unsigned status;
} status_table[] = {
    {AM_OK, 200},
    {AM_ERR_NOMEM, 503},
    {AM_ERR_INVAL, 400},
    /* internal failures never tell the client more than "500" */
    {AM_ERR_IO, 500},
    {AM_ERR_CRYPTO, 500},
    {AM_ERR_NOTFOUND, 404},
    {AM_ERR_TOOBIG, 413},
    {AM_ERR_DENIED, 403},
    {AM_ERR_EXISTS, 409},
    {AM_ERR_CONFLICT, 409},
    {AM_ERR_RATE, 429},
    {AM_ERR_UNAVAIL, 503},
    {AM_ERR_DB, 500},
    {AM_ERR_RANGE, 416},
    {AM_ERR_UNSUPPORTED, 415},
    {AM_ERR_INTERNAL, 500},
    {AM_ERR_UNAUTH, 401},
    {AM_ERR_METHOD, 405},
    /* a full or read-only disk: 503 with Retry-After and a plain message */
    {AM_ERR_NOSPACE, 503},
    {AM_ERR_READONLY, 503},
};

/* Only the storage codes carry Retry-After advice and a message of their
 * own; every other code keeps the generic reason (and the API's texts). */
static void storage_errors_advise_retry(void **state)
{
	for (int e = AM_ERR_MIN; e <= AM_OK; e++) {
		int storage = e == AM_ERR_NOSPACE || e == AM_ERR_READONLY;

		assert_int_equal(http_retry_after_of(e), storage ? HTTP_RETRY_AFTER_STORAGE_S : 0);
		assert_true(storage ? http_message_of(e) != NULL : http_message_of(e) == NULL);
	}
	assert_non_null(strstr(http_message_of(AM_ERR_NOSPACE), "out of space"));
	assert_non_null(strstr(http_message_of(AM_ERR_READONLY), "read-only"));
}

/* Walk the enum: every value from AM_ERR_MIN to AM_OK has exactly one row
 * (a new code without one fails here), a name, and its row's status. */
static void status_mapping_is_total(void **state)
{
	for (int e = AM_ERR_MIN; e <= AM_OK; e++) {
		size_t rows = 0;

		for (size_t i = 0; i < AM_ARRAY_LEN(status_table); i++) {
			if (status_table[i].err != e)
				continue;
			rows++;
			assert_int_equal(http_status_of(e), status_table[i].status);
		}
		assert_int_equal(rows, 1);
		assert_string_not_equal(am_strerror(e), "unknown error");
	}
	assert_int_equal(AM_ARRAY_LEN(status_table), (size_t)(AM_OK - AM_ERR_MIN + 1));
}

/* Anything outside the enum is a bug somewhere: 500, never a 2xx. */
static void status_of_unknown_is_500(void **state)
{
	static const int outside[] = {AM_ERR_MIN - 1, -999, INT_MIN, 1, 7, 200, INT_MAX};

	for (size_t i = 0; i < AM_ARRAY_LEN(outside); i++)
		assert_int_equal(http_status_of(outside[i]), 500);
	assert_string_equal(am_strerror(AM_ERR_MIN - 1), "unknown error");
}

static void tls_priorities_are_strict(void **state)
{
	assert_non_null(strstr(http_tls_priorities, "NONE:+VERS-TLS1.3:+VERS-TLS1.2:"));
	assert_null(strstr(http_tls_priorities, "TLS1.1"));
	assert_null(strstr(http_tls_priorities, "CBC"));
	assert_null(strstr(http_tls_priorities, "+SHA1"));
	assert_null(strstr(http_tls_priorities, "+RSA:"));
	assert_non_null(strstr(http_tls_priorities, "%SERVER_PRECEDENCE"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(matches_literals_and_params),
	    cmocka_unit_test(distinguishes_404_and_405),
	    cmocka_unit_test(refuses_bad_patterns_and_duplicates),
	    cmocka_unit_test(status_mapping_is_total),
	    cmocka_unit_test(status_of_unknown_is_500),
	    cmocka_unit_test(storage_errors_advise_retry),
	    cmocka_unit_test(tls_priorities_are_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
