/*
 * test_api_password.c: the hash a login for an unknown e-mail is checked
 * against (api_password_dummy). It must cost what a real account's check
 * costs, so it must carry exactly the configured Argon2id parameters in
 * libsodium's own encoding, and it must never accept a password. Checked
 * against libsodium itself: its parser (crypto_pwhash_str_needs_rehash),
 * the shape of a real crypto_pwhash_str, and a verification that runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "api/api_int.h"
#include "conf/conf.h"

/* The text of s up to its n-th '$' (the PHC fields before it). */
static size_t upto_dollar(const char *s, int n)
{
	size_t i = 0;

	for (; s[i]; i++)
		if (s[i] == '$' && --n == 0)
			break;
	return i;
}

static void check_params(long long ops, long long mem)
{
	struct conf c;
	char dummy[API_PHC_MAX], other[API_PHC_MAX], real[crypto_pwhash_STRBYTES];

	assert_int_equal(conf_defaults(&c), 0);
	c.argon2_opslimit = ops;
	c.argon2_memlimit = mem;
	assert_int_equal(api_password_dummy(&c, dummy, sizeof(dummy)), 0);
	/* parsed by libsodium, with exactly these parameters (-1: unparsable,
	 * 1: other parameters) */
	assert_int_equal(
	    crypto_pwhash_str_needs_rehash(dummy, (unsigned long long)ops, (size_t)mem), 0);
	assert_int_equal(
	    crypto_pwhash_str_needs_rehash(dummy, (unsigned long long)ops + 1, (size_t)mem), 1);
	/* the same shape as a real hash: same fields up to the salt, same length */
	assert_int_equal(api_password_hash(&c, "a real password", real, sizeof(real)), 0);
	assert_int_equal(strlen(dummy), strlen(real));
	assert_int_equal(upto_dollar(dummy, 4), upto_dollar(real, 4));
	assert_memory_equal(dummy, real, upto_dollar(real, 4));
	/* a verification runs and fails, for the password and for the empty one */
	assert_int_equal(crypto_pwhash_str_verify(dummy, "a real password", 15), -1);
	assert_int_equal(crypto_pwhash_str_verify(dummy, "", 0), -1);
	assert_int_equal(crypto_pwhash_str_verify(real, "a real password", 15), 0);
	/* random salt and digest: two are never the same */
	assert_int_equal(api_password_dummy(&c, other, sizeof(other)), 0);
	assert_string_not_equal(dummy, other);
	/* too small a buffer is refused, not cut */
	assert_int_equal(api_password_dummy(&c, other, 40), AM_ERR_TOOBIG);
	conf_cleanup(&c);
}

static void test_dummy_hash(void **state)
{
	(void)state;
	assert_int_not_equal(sodium_init(), -1);
	check_params(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
	check_params(2, 8 * 1024 * 1024);
	check_params(3, 16 * 1024 * 1024 + 1024); /* not a power of two */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dummy_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
