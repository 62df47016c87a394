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

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || fx_open(f) != 0) {
		if (f)
			fx_close(f);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	am_time_set_offset(0);
	fx_close(f);
	free(f);
	return 0;
}

typedef int verify_fn(struct fx *f, const char *s);

static int v_export(struct fx *f, const char *s)
{
	struct access_export x;

	return access_export_verify(f->a, s, &x);
}

/* Every single-character change, every truncation and every padding of a
 * valid credential s is denied (AM_ERR_DENIED exactly). */
static void mutation_matrix(struct fx *f, const char *s, verify_fn *v)
{
	char m[1024];
	size_t n = strlen(s);

	assert_int_equal(v(f, s), 0);
	for (size_t i = 0; i < n; i++) {
		for (const char *c = mutants; *c; c++) {
			if (*c == s[i])
				continue;
			memcpy(m, s, n + 1);
			m[i] = *c;
			assert_int_equal(v(f, m), AM_ERR_DENIED);
		}
		for (int bit = 0; bit < 8; bit++) {
			memcpy(m, s, n + 1);
			m[i] = (char)(m[i] ^ (1 << bit));
			if (m[i] == 0)
				continue;
			assert_int_equal(v(f, m), AM_ERR_DENIED);
		}
		memcpy(m, s, i);
		m[i] = 0; /* truncated */
		assert_int_equal(v(f, m), AM_ERR_DENIED);
		/* a character inserted */
		memcpy(m, s, i);
		m[i] = s[i];
		memcpy(m + i + 1, s + i, n - i + 1);
		assert_int_equal(v(f, m), AM_ERR_DENIED);
	}
	static const char *const pads[] = {"=", "==", "&", "&x=1", ".", " ", "%00", "A", "0"};
	for (size_t i = 0; i < AM_ARRAY_LEN(pads); i++) {
		snprintf(m, sizeof(m), "%s%s", s, pads[i]);
		assert_int_equal(v(f, m), AM_ERR_DENIED);
	}
}

/* Split "PATH?k=v&…" into its parameters. */
static size_t split_params(const char *url, char path[128], char params[12][128])
{
	const char *q = strchr(url, '?');
	size_t n = 0;

	snprintf(path, 128, "%.*s", (int)(q - url), url);
	for (const char *p = q + 1; *p && n < 12; n++) {
		size_t l = strcspn(p, "&");
		snprintf(params[n], 128, "%.*s", (int)l, p);
		p += l + (p[l] == '&');
	}
	return n;
}

static void join_params(char *out, size_t cap, const char *path, char params[12][128],
			const size_t *order, size_t n)
{
	size_t o = (size_t)snprintf(out, cap, "%s", path);

	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, cap - o, "%c%s", i ? '&' : '?', params[order[i]]);
}

/* Reordered (every swap of two parameters), duplicated, unknown added,
 * dropped, and percent-re-encoded parameters: all denied. */
static void param_matrix(struct fx *f, const char *url, verify_fn *v)
{
	char path[128], params[12][128], m[1024];
	size_t order[13] = {0}, n = split_params(url, path, params);

	for (size_t i = 0; i < n; i++)
		order[i] = i;
	join_params(m, sizeof(m), path, params, order, n);
	assert_string_equal(m, url);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			order[i] = j;
			order[j] = i;
			join_params(m, sizeof(m), path, params, order, n);
			assert_int_equal(v(f, m), AM_ERR_DENIED);
			order[i] = i;
			order[j] = j;
		}
		/* duplicated right after itself, and at the end */
		size_t dup[13], k = 0;
		for (size_t x = 0; x < n; x++) {
			dup[k++] = x;
			if (x == i)
				dup[k++] = x;
		}
		join_params(m, sizeof(m), path, params, dup, n + 1);
		assert_int_equal(v(f, m), AM_ERR_DENIED);
		/* dropped */
		k = 0;
		for (size_t x = 0; x < n; x++)
			if (x != i)
				dup[k++] = x;
		join_params(m, sizeof(m), path, params, dup, n - 1);
		assert_int_equal(v(f, m), AM_ERR_DENIED);
		/* the name percent-encoded: "%6c=" for "l=" */
		char saved[128];
		memcpy(saved, params[i], sizeof(saved));
		snprintf(params[i], 128, "%%%02x%.100s", (unsigned char)saved[0], saved + 1);
		join_params(m, sizeof(m), path, params, order, n);
		assert_int_equal(v(f, m), AM_ERR_DENIED);
		/* the value's first character percent-encoded */
		char *eq = strchr(saved, '=');
		snprintf(params[i], 128, "%.*s%%%02X%.90s", (int)(eq - saved + 1), saved,
			 (unsigned char)eq[1], eq + 2);
		join_params(m, sizeof(m), path, params, order, n);
		assert_int_equal(v(f, m), AM_ERR_DENIED);
		memcpy(params[i], saved, sizeof(saved));
	}
	snprintf(m, sizeof(m), "%s&x=1", url);
	assert_int_equal(v(f, m), AM_ERR_DENIED);
	snprintf(m, sizeof(m), "%s?x=1&%s", path, strchr(url, '?') + 1);
	assert_int_equal(v(f, m), AM_ERR_DENIED);
	/* the path re-encoded */
	snprintf(m, sizeof(m), "/%%%02x%s", (unsigned char)url[1], url + 2);
	assert_int_equal(v(f, m), AM_ERR_DENIED);
	/* uppercase hex in the path */
	snprintf(m, sizeof(m), "%s", url);
	for (char *p = m + 3; *p && *p != '?'; p++)
		if (*p >= 'a' && *p <= 'f') {
			*p = (char)(*p - 'a' + 'A');
			break;
		}
	if (strcmp(m, url) != 0)
		assert_int_equal(v(f, m), AM_ERR_DENIED);
}

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
