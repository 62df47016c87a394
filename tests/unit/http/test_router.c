/* Unit tests for src/http/router.c and the error-to-status mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http/http_int.h"

static int h1(struct http_req *req, void *arg) { return 0; }
static int h2(struct http_req *req, void *arg) { return 0; }

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
	assert_int_equal(match(r, HTTP_DELETE, "/s/a", &rt, params, &np, &allow), AM_ERR_CONFLICT);
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

static void status_mapping_is_total(void **state)
{
	assert_int_equal(http_status_of(AM_OK), 200);
	assert_int_equal(http_status_of(AM_ERR_INVAL), 400);
	assert_int_equal(http_status_of(AM_ERR_DENIED), 403);
	assert_int_equal(http_status_of(AM_ERR_NOTFOUND), 404);
	assert_int_equal(http_status_of(AM_ERR_EXISTS), 409);
	assert_int_equal(http_status_of(AM_ERR_CONFLICT), 409);
	assert_int_equal(http_status_of(AM_ERR_TOOBIG), 413);
	assert_int_equal(http_status_of(AM_ERR_UNSUPPORTED), 415);
	assert_int_equal(http_status_of(AM_ERR_RANGE), 416);
	assert_int_equal(http_status_of(AM_ERR_RATE), 429);
	assert_int_equal(http_status_of(AM_ERR_UNAVAIL), 503);
	assert_int_equal(http_status_of(AM_ERR_NOMEM), 503);
	/* internal failures never tell the client more than "500" */
	assert_int_equal(http_status_of(AM_ERR_IO), 500);
	assert_int_equal(http_status_of(AM_ERR_CRYPTO), 500);
	assert_int_equal(http_status_of(AM_ERR_DB), 500);
	assert_int_equal(http_status_of(AM_ERR_INTERNAL), 500);
	assert_int_equal(http_status_of(-999), 500);
	assert_int_equal(http_status_of(7), 500);
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
	    cmocka_unit_test(tls_priorities_are_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
