/*
 * Unit tests for the mark tickets of src/access (access_mark.c, issue 26):
 * round trip; the mutation matrix (every character changed or bit-flipped,
 * truncated, padded, a character inserted) is the same AM_ERR_DENIED, so no
 * field of a ticket (the mark id above all: a guest must not reach another
 * listener's row) can be changed; expiry and its cap; key generations; and
 * domain separation from the cookie and URL credentials.
 */
#include "access/access_fixture.inc"

#include "access/access_int.h"

static const char mutants[] = "0129afAF%&=.?-_/ gksdlpwexmt";

static int v_ticket(struct fx *f, const char *s)
{
	struct access_mark_ticket t;

	return access_mark_ticket_verify(f->a, s, &t);
}

#include "access/access_mutation.inc"

static void mint(struct fx *f, int64_t expires, char *out)
{
	struct access_mark_ticket t;

	memset(&t, 0, sizeof(t));
	memcpy(t.project_id, f->p.g.project_id, 16);
	memcpy(t.link_id, f->p.g.link_id, 16);
	memset(t.mark_id, 0x5c, 16);
	t.expires = expires;
	assert_int_equal(access_mark_ticket_mint(f->a, &t, out, ACCESS_MARK_TICKET_MAX), 0);
}

static void roundtrip(void **state)
{
	struct fx *f = *state;
	struct access_mark_ticket t, out;
	char s[ACCESS_MARK_TICKET_MAX];

	memset(&t, 0, sizeof(t));
	crypto_random_id(t.project_id);
	crypto_random_id(t.link_id);
	crypto_random_id(t.mark_id);
	t.expires = access_url_expiry(f->a);
	assert_int_equal(access_mark_ticket_mint(f->a, &t, s, sizeof(s)), 0);
	assert_int_equal(strncmp(s, "mt1.1.", 6), 0);
	assert_true(strlen(s) < ACCESS_MARK_TICKET_MAX);
	assert_int_equal(access_mark_ticket_verify(f->a, s, &out), 0);
	assert_memory_equal(&out, &t, sizeof(t));
	assert_int_equal(access_mark_ticket_mint(f->a, &t, s, 100), AM_ERR_TOOBIG);
	assert_int_equal(access_mark_ticket_verify(f->a, NULL, &out), AM_ERR_DENIED);
	assert_int_equal(access_mark_ticket_verify(f->a, "", &out), AM_ERR_DENIED);
}

static void mutations(void **state)
{
	struct fx *f = *state;
	char s[ACCESS_MARK_TICKET_MAX];

	(void)param_matrix; /* a ticket has no URL parameters to reorder */
	mint(f, access_url_expiry(f->a), s);
	mutation_matrix(f, s, v_ticket);
}

static void expiry_and_cap(void **state)
{
	struct fx *f = *state;
	char s[ACCESS_MARK_TICKET_MAX];
	struct access_mark_ticket t;
	int64_t now = am_now();

	mint(f, now + 100, s);
	am_time_set_offset(100); /* exactly at expiry: still valid */
	assert_int_equal(v_ticket(f, s), 0);
	am_time_set_offset(101);
	assert_int_equal(v_ticket(f, s), AM_ERR_DENIED);
	am_time_set_offset(0);
	memset(&t, 0, sizeof(t));
	t.expires = now;
	assert_int_equal(access_mark_ticket_mint(f->a, &t, s, sizeof(s)), AM_ERR_INVAL);
	t.expires = now + ACCESS_URL_CAP + 1;
	assert_int_equal(access_mark_ticket_mint(f->a, &t, s, sizeof(s)), AM_ERR_INVAL);
}

static void generations(void **state)
{
	struct fx *f = *state;
	char s1[ACCESS_MARK_TICKET_MAX], s2[ACCESS_MARK_TICKET_MAX];
	int64_t exp = access_url_expiry(f->a);

	mint(f, exp, s1);
	assert_int_equal(fx_set_generation(f, 2), 0);
	assert_int_equal(v_ticket(f, s1), 0);
	mint(f, exp, s2);
	assert_int_equal(fx_set_generation(f, 3), 0);
	assert_int_equal(v_ticket(f, s1), AM_ERR_DENIED);
	assert_int_equal(v_ticket(f, s2), 0);
	fx_restore_generation(f);
}

/* A ticket is no cookie or URL and no cookie or URL is a ticket. */
static void separation(void **state)
{
	struct fx *f = *state;
	char s[ACCESS_MARK_TICKET_MAX], url[ACCESS_URL_MAX], cookie[ACCESS_COOKIE_MAX];
	struct access_grant g;
	uint8_t obj[16];

	mint(f, access_url_expiry(f->a), s);
	assert_int_equal(access_cookie_verify(f->a, f->p.g.link_id, s, &g), AM_ERR_DENIED);
	assert_int_equal(access_url_verify(f->a, s, &g, obj, NULL, NULL), AM_ERR_DENIED);
	crypto_random_id(obj);
	assert_int_equal(
	    access_url_sign(f->a, &f->p.g, obj, 0, access_url_expiry(f->a), url, sizeof(url)), 0);
	assert_int_equal(v_ticket(f, url), AM_ERR_DENIED);
	assert_int_equal(access_cookie_mint(f->a, &f->p.g, am_now() + 60, cookie, sizeof(cookie)),
			 0);
	assert_int_equal(v_ticket(f, cookie), AM_ERR_DENIED);
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
