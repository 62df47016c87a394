/*
 * Unit tests for the signed tracer URLs of src/access (access_trace.c):
 * round trip; the mutation matrix (every character changed or bit-flipped,
 * truncated, padded, inserted), parameters reordered, duplicated, dropped,
 * added or re-encoded: all AM_ERR_DENIED; expiry and the 10-minute cap; key
 * generations; domain separation from the export and media URLs (an export
 * URL's query on a tracer path, and the other way round).
 */
#include "access/access_fixture.inc"

#include "access/access_int.h"

static const char mutants[] = "0129afAF%&=.?-_/ gksdlpwexma";

static int v_trace(struct fx *f, const char *s)
{
	struct access_trace x;

	return access_trace_verify(f->a, s, &x);
}

#include "access/access_mutation.inc"

static void fill(struct fx *f, int64_t expires, struct access_trace *x)
{
	memset(x, 0, sizeof(*x));
	memset(x->project_id, 0x5c, 16);
	memcpy(x->account_id, f->account, 16);
	memset(x->session_id, 0xab, 16);
	x->expires = expires;
}

static void roundtrip(void **state)
{
	struct fx *f = *state;
	struct access_trace x, out;
	char url[ACCESS_URL_MAX];
	int64_t exp = access_trace_expiry(f->a);

	assert_true(exp - am_now() <= ACCESS_TRACE_CAP && exp - am_now() >= 60);
	fill(f, exp, &x);
	assert_int_equal(access_trace_sign(f->a, &x, url, sizeof(url)), 0);
	assert_int_equal(strncmp(url, "/m/trace/5c5c", 13), 0);
	assert_int_equal(access_trace_verify(f->a, url, &out), 0);
	assert_memory_equal(&out, &x, sizeof(x));
	assert_int_equal(access_trace_sign(f->a, &x, url, 100), AM_ERR_TOOBIG);
	assert_int_equal(access_trace_verify(f->a, NULL, &out), AM_ERR_DENIED);
	x.expires = am_now();
	assert_int_equal(access_trace_sign(f->a, &x, url, sizeof(url)), AM_ERR_INVAL);
	x.expires = am_now() + ACCESS_TRACE_CAP + 1;
	assert_int_equal(access_trace_sign(f->a, &x, url, sizeof(url)), AM_ERR_INVAL);
}

static void mutations(void **state)
{
	struct fx *f = *state;
	struct access_trace x;
	char url[ACCESS_URL_MAX];

	fill(f, access_trace_expiry(f->a), &x);
	assert_int_equal(access_trace_sign(f->a, &x, url, sizeof(url)), 0);
	mutation_matrix(f, url, v_trace);
	param_matrix(f, url, v_trace);
}

static void expiry_and_generations(void **state)
{
	struct fx *f = *state;
	struct access_trace x;
	char url[ACCESS_URL_MAX];

	fill(f, am_now() + 100, &x);
	assert_int_equal(access_trace_sign(f->a, &x, url, sizeof(url)), 0);
	am_time_set_offset(100);
	assert_int_equal(v_trace(f, url), 0);
	am_time_set_offset(101);
	assert_int_equal(v_trace(f, url), AM_ERR_DENIED);
	am_time_set_offset(0);
	assert_int_equal(fx_set_generation(f, 2), 0);
	assert_int_equal(v_trace(f, url), 0);
	assert_int_equal(fx_set_generation(f, 3), 0);
	assert_int_equal(v_trace(f, url), AM_ERR_DENIED);
	fx_restore_generation(f);
}

static void separation(void **state)
{
	struct fx *f = *state;
	char url[ACCESS_URL_MAX], m[ACCESS_URL_MAX + 16], acc[33];
	struct access_export xe;
	struct access_trace x;
	const char *q;

	fill(f, access_trace_expiry(f->a), &x);
	assert_int_equal(access_trace_sign(f->a, &x, url, sizeof(url)), 0);
	assert_int_equal(access_export_verify(f->a, url, &xe), AM_ERR_DENIED);
	/* an export URL's path and query under /m/trace/ */
	memset(&xe, 0, sizeof(xe));
	memcpy(xe.account_id, f->account, 16);
	memset(xe.session_id, 0xab, 16);
	xe.expires = access_export_expiry(f->a);
	assert_int_equal(access_export_sign(f->a, &xe, m, ACCESS_URL_MAX), 0);
	q = strchr(m, '?');
	access_hex16(f->account, acc);
	snprintf(url, sizeof(url), "/m/trace/%s?a=%s&%s", acc, acc, q + 1);
	assert_int_equal(v_trace(f, url), AM_ERR_DENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(roundtrip, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(mutations, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(expiry_and_generations, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(separation, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
