/*
 * Unit tests for the signed export URLs of src/access (access_export.c):
 * round trip; the mutation matrix (every character changed or bit-flipped,
 * truncated, padded, a character inserted), parameters reordered,
 * duplicated, dropped, added or percent-re-encoded, the path re-encoded or
 * in uppercase hex: all the same AM_ERR_DENIED; expiry (exact second, past,
 * beyond the 30-minute cap even when correctly MAC'd), key generations, and
 * domain separation from the media and upload URLs.
 */
#include "access/access_fixture.inc"

#include "access/access_int.h"

static const char mutants[] = "0129afAF%&=.?-_/ gksdlpwexm";

static int v_export(struct fx *f, const char *s)
{
	struct access_export x;

	return access_export_verify(f->a, s, &x);
}

#include "access/access_mutation.inc"

static void sign(struct fx *f, int64_t expires, char *url)
{
	struct access_export x;

	memset(&x, 0, sizeof(x));
	memcpy(x.account_id, f->account, 16);
	memset(x.session_id, 0xab, 16);
	x.expires = expires;
	assert_int_equal(access_export_sign(f->a, &x, url, ACCESS_URL_MAX), 0);
}

static void roundtrip(void **state)
{
	struct fx *f = *state;
	struct access_export x, out;
	char url[ACCESS_URL_MAX], hex[33];
	int64_t exp = access_export_expiry(f->a);

	assert_true(exp - am_now() <= ACCESS_EXPORT_CAP && exp - am_now() >= 60);
	memset(&x, 0, sizeof(x));
	memcpy(x.account_id, f->account, 16);
	crypto_random_id(x.session_id);
	x.expires = exp;
	assert_int_equal(access_export_sign(f->a, &x, url, sizeof(url)), 0);
	access_hex16(f->account, hex);
	assert_int_equal(strncmp(url, "/m/export/", 10), 0);
	assert_int_equal(strncmp(url + 10, hex, 32), 0);
	assert_int_equal(url[42], '?');
	assert_int_equal(access_export_verify(f->a, url, &out), 0);
	assert_memory_equal(&out, &x, sizeof(x));
	assert_int_equal(access_export_sign(f->a, &x, url, 100), AM_ERR_TOOBIG);
	assert_int_equal(access_export_verify(f->a, NULL, &out), AM_ERR_DENIED);
	assert_int_equal(access_export_verify(f->a, "", &out), AM_ERR_DENIED);
}

static void mutations(void **state)
{
	struct fx *f = *state;
	char url[ACCESS_URL_MAX];

	sign(f, access_export_expiry(f->a), url);
	mutation_matrix(f, url, v_export);
	param_matrix(f, url, v_export);
}

static void expiry_and_cap(void **state)
{
	struct fx *f = *state;
	char url[ACCESS_URL_MAX], msg[256], mac[44], acc[33], path[64];
	int64_t now = am_now();
	struct access_export x;
	int ml;

	sign(f, now + 100, url);
	am_time_set_offset(100); /* exactly at expiry: still valid */
	assert_int_equal(v_export(f, url), 0);
	am_time_set_offset(101);
	assert_int_equal(v_export(f, url), AM_ERR_DENIED);
	am_time_set_offset(0);
	memset(&x, 0, sizeof(x));
	x.expires = now;
	assert_int_equal(access_export_sign(f->a, &x, url, sizeof(url)), AM_ERR_INVAL);
	x.expires = now + ACCESS_EXPORT_CAP + 1;
	assert_int_equal(access_export_sign(f->a, &x, url, sizeof(url)), AM_ERR_INVAL);
	x.expires = now + ACCESS_EXPORT_CAP;
	assert_int_equal(access_export_sign(f->a, &x, url, sizeof(url)), 0);
	/* correctly MAC'd beyond the cap: refused; within it: accepted */
	access_hex16(f->account, acc);
	snprintf(path, sizeof(path), "/m/export/%s", acc);
	for (int beyond = 1; beyond >= 0; beyond--) {
		int64_t e = now + (beyond ? ACCESS_EXPORT_CAP + 60 : 600);
		ml = snprintf(msg, sizeof(msg), "am-export-v1\nGET\n%s\n%s\n%lld\n1", path,
			      "abababababababababababababababab", (long long)e);
		assert_int_equal(access_mac_b64(f->a, CRYPTO_KEY_URL_SIGN, 1, msg, (size_t)ml, mac),
				 0);
		snprintf(url, sizeof(url), "%s?x=abababababababababababababababab&e=%lld&k=1&s=%s",
			 path, (long long)e, mac);
		assert_int_equal(v_export(f, url), beyond ? AM_ERR_DENIED : 0);
	}
}

static void generations(void **state)
{
	struct fx *f = *state;
	char url1[ACCESS_URL_MAX], url2[ACCESS_URL_MAX];
	int64_t exp = access_export_expiry(f->a);

	sign(f, exp, url1);
	assert_non_null(strstr(url1, "&k=1&"));
	assert_int_equal(fx_set_generation(f, 2), 0);
	assert_int_equal(v_export(f, url1), 0);
	sign(f, exp, url2);
	assert_int_equal(fx_set_generation(f, 3), 0);
	assert_int_equal(v_export(f, url1), AM_ERR_DENIED);
	assert_int_equal(v_export(f, url2), 0);
	fx_restore_generation(f);
}

/* No other credential verifies as an export URL, and the other way round:
 * the MAC'd texts are domain-separated. */
static void separation(void **state)
{
	struct fx *f = *state;
	char url[ACCESS_URL_MAX + 16], m[ACCESS_URL_MAX], acc[33];
	struct access_grant g;
	struct access_upload u;
	uint8_t obj[16];
	const char *q;

	sign(f, access_export_expiry(f->a), url);
	assert_int_equal(access_url_verify(f->a, url, &g, obj, NULL, NULL), AM_ERR_DENIED);
	assert_int_equal(access_upload_verify(f->a, url, &u), AM_ERR_DENIED);
	/* the export URL's query on a media path */
	q = strchr(url, '?');
	access_hex16(f->account, acc);
	snprintf(m, sizeof(m), "/m/%s%s", acc, q);
	assert_int_equal(access_url_verify(f->a, m, &g, obj, NULL, NULL), AM_ERR_DENIED);
	assert_int_equal(v_export(f, m), AM_ERR_DENIED);
	/* a media URL moved under /m/export/ */
	crypto_random_id(obj);
	assert_int_equal(
	    access_url_sign(f->a, &f->p.g, obj, 1, access_url_expiry(f->a), m, sizeof(m)), 0);
	snprintf(url, sizeof(url), "/m/export/%s", m + 3);
	assert_int_equal(v_export(f, url), AM_ERR_DENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(roundtrip, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(mutations, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(expiry_and_cap, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(generations, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(separation, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
