/*
 * fuzz/mail_token.c: libFuzzer target for the e-mail link tokens of
 * src/mail/mail_token.c that arrive from the network (the one-click
 * unsubscribe token of every notification; the reset and verification
 * tokens share its fixed-length base64url decoding). Properties: no input
 * crashes or reads out of bounds; a token that verifies re-mints to exactly
 * the same string (one accepted encoding); a token minted from
 * fuzzer-chosen fields always verifies back to those fields. The key is a
 * fixed test key in a temporary file (never a real deployment's key).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "fuzz_app.h"
#include "mail/mail.h"

static struct app app;

static void parse_untrusted(const char *s)
{
	uint8_t acct[DB_ID_LEN], proj[DB_ID_LEN];
	char again[MAIL_TOKEN_MAX];
	int has_project = 0, kind = 0;

	if (mail_unsub_verify(&app, s, acct, proj, &has_project, &kind) == 0 &&
	    (mail_unsub_token(&app, acct, has_project ? proj : NULL, kind, again, sizeof(again)) ||
	     strcmp(again, s)))
		abort();
}

static void roundtrip(const uint8_t *data)
{
	uint8_t acct[DB_ID_LEN], proj[DB_ID_LEN];
	char tok[MAIL_TOKEN_MAX];
	int has_project = data[32] & 1, kind = 1 << (data[33] % MAIL_NKINDS), hp = 0, k = 0;

	if (has_project && !(kind & MAIL_KINDS_PROJECT))
		kind = MAIL_COMMENTS;
	if (mail_unsub_token(&app, data, has_project ? data + 16 : NULL, kind, tok, sizeof(tok)) ||
	    mail_unsub_verify(&app, tok, acct, proj, &hp, &k) || memcmp(acct, data, DB_ID_LEN) ||
	    hp != (has_project && memcmp(data + 16, (uint8_t[DB_ID_LEN]){0}, DB_ID_LEN) != 0) ||
	    k != kind)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[MAIL_TOKEN_MAX + 64];

	fuzz_app_init(&app);
	if (size >= sizeof(buf))
		size = sizeof(buf) - 1;
	memcpy(buf, data, size);
	buf[size] = 0;
	parse_untrusted(buf);
	if (size >= 34)
		roundtrip(data);
	return 0;
}
