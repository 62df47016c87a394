/*
 * mail_token.c: the three signed tokens that e-mail carries: the one-click
 * unsubscribe token (account, project, kind; no expiry: an old message's
 * link keeps working), the password-reset token (account, expiry, a nonce;
 * 30 minutes; its MAC also covers the SHA-256 of the account's current
 * password hash, so the reset that uses it, or any password change, spends
 * it: single use without server state; and the address's blind index, so a
 * successful reset also proves the address) and the address-verification
 * token (account, expiry, a nonce; 24 hours; its MAC covers the blind index
 * of the account's current address, so it dies when the address changes;
 * using it twice is harmless). All are base64url of the fields and a 128-bit
 * HMAC-SHA256 under a key derived with HKDF from the session purpose key,
 * one label per token type. Runs in the web role;
 * tokens arrive from anyone and are parsed strictly (exact length, one
 * encoding, constant-time MAC compare before any field is used).
 */
#include <string.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "mail/mail.h"
#include "repo/repo.h"

#define UNSUB_VERSION  1
#define RESET_VERSION  2 /* 2: the MAC also covers the e-mail index */
#define VERIFY_VERSION 1
#define MAC_LEN	       16
#define UNSUB_LEN      (1 + DB_ID_LEN + DB_ID_LEN + 1)
#define RESET_LEN      (1 + DB_ID_LEN + 8 + 8) /* version, account, expiry, nonce */
#define VERIFY_LEN     RESET_LEN	       /* the same fields */
#define INDEX_LEN      sizeof(((struct db_account *)0)->email_index)

/* mac = HMAC(HKDF(session key, label), data [‖ extra])[0..16). */
static int token_mac(struct app *a, const char *label, const uint8_t *data, size_t n,
		     const uint8_t *extra, size_t en, uint8_t mac[MAC_LEN])
{
	uint8_t full[CRYPTO_MAC_LEN], buf[128];
	int rc;

	if (n + en > sizeof(buf))
		return AM_ERR_INTERNAL;
	memcpy(buf, data, n);
	if (en)
		memcpy(buf + n, extra, en);
	rc = crypto_mac(a->kr, CRYPTO_KEY_SESSION, keyring_generation(a->kr), label, buf, n + en,
			full);
	if (rc == 0)
		memcpy(mac, full, MAC_LEN);
	am_memzero(full, sizeof(full));
	return rc == AM_ERR_DENIED ? AM_ERR_INTERNAL : rc;
}

static int encode(const uint8_t *data, size_t n, const uint8_t mac[MAC_LEN], char *out,
		  size_t outlen)
{
	uint8_t buf[128];

	memcpy(buf, data, n);
	memcpy(buf + n, mac, MAC_LEN);
	return crypto_b64url_encode(buf, n + MAC_LEN, out, outlen);
}

/* Decode exactly n + MAC_LEN bytes: 0 or AM_ERR_DENIED. */
static int decode(const char *token, uint8_t *buf, size_t n)
{
	size_t got = 0, len = token ? strlen(token) : 0;

	if (len != crypto_b64url_len(n + MAC_LEN) ||
	    crypto_b64url_decode(token, len, buf, n + MAC_LEN, &got) || got != n + MAC_LEN)
		return AM_ERR_DENIED;
	return 0;
}

int mail_unsub_token(struct app *a, const uint8_t account_id[DB_ID_LEN], const uint8_t *project_id,
		     int kind, char *out, size_t outlen)
{
	uint8_t d[UNSUB_LEN], mac[MAC_LEN];
	int bit = 0, rc;

	while (bit < MAIL_NKINDS && kind != (1 << bit))
		bit++;
	if (bit == MAIL_NKINDS)
		return AM_ERR_INVAL;
	d[0] = UNSUB_VERSION;
	memcpy(d + 1, account_id, DB_ID_LEN);
	memset(d + 1 + DB_ID_LEN, 0, DB_ID_LEN);
	if (project_id)
		memcpy(d + 1 + DB_ID_LEN, project_id, DB_ID_LEN);
	d[UNSUB_LEN - 1] = (uint8_t)bit;
	if ((rc = token_mac(a, "am-mail-unsubscribe", d, sizeof(d), NULL, 0, mac)))
		return rc;
	return encode(d, sizeof(d), mac, out, outlen);
}

int mail_unsub_verify(struct app *a, const char *token, uint8_t account_id[DB_ID_LEN],
		      uint8_t project_id[DB_ID_LEN], int *has_project, int *kind)
{
	static const uint8_t zero[DB_ID_LEN];
	uint8_t buf[UNSUB_LEN + MAC_LEN], mac[MAC_LEN];

	if (decode(token, buf, UNSUB_LEN) ||
	    token_mac(a, "am-mail-unsubscribe", buf, UNSUB_LEN, NULL, 0, mac) ||
	    !am_ct_eq(mac, buf + UNSUB_LEN, MAC_LEN) || buf[0] != UNSUB_VERSION ||
	    buf[UNSUB_LEN - 1] >= MAIL_NKINDS)
		return AM_ERR_DENIED;
	memcpy(account_id, buf + 1, DB_ID_LEN);
	memcpy(project_id, buf + 1 + DB_ID_LEN, DB_ID_LEN);
	*has_project = memcmp(project_id, zero, DB_ID_LEN) != 0;
	*kind = 1 << buf[UNSUB_LEN - 1];
	if (*has_project && !(*kind & MAIL_KINDS_PROJECT))
		return AM_ERR_DENIED;
	return 0;
}

static void put_be64(uint8_t *p, int64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)(v & 0xff);
}

static int64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (int64_t)v;
}

/* What a reset token's MAC covers besides its fields: SHA-256 of the
 * password hash (spent by the reset) ‖ the address's blind index. */
static int reset_binding(const struct db_account *acct, uint8_t out[32 + INDEX_LEN])
{
	memcpy(out + 32, acct->email_index, INDEX_LEN);
	return crypto_sha256(acct->password_hash, strlen(acct->password_hash), out);
}

/* version ‖ account ‖ expiry ‖ nonce, MACed with extra under label. */
static int make_token(struct app *a, const char *label, uint8_t version,
		      const struct db_account *acct, int64_t expires_ms, const uint8_t *extra,
		      size_t en, char *out, size_t outlen)
{
	uint8_t d[RESET_LEN], mac[MAC_LEN];
	int rc;

	d[0] = version;
	memcpy(d + 1, acct->id, DB_ID_LEN);
	put_be64(d + 1 + DB_ID_LEN, expires_ms);
	if ((rc = crypto_random(d + 1 + DB_ID_LEN + 8, 8)) ||
	    (rc = token_mac(a, label, d, sizeof(d), extra, en, mac)))
		return rc;
	return encode(d, sizeof(d), mac, out, outlen);
}

/* Decode a token of that version and load its open account: 0, AM_ERR_DENIED
 * or a database error. buf gets the fields and the MAC. */
static int open_token(struct app *a, struct db *db, const char *token, uint8_t version,
		      uint8_t buf[RESET_LEN + MAC_LEN], struct db_account *acct)
{
	uint8_t id[DB_ID_LEN];
	int rc;

	if (decode(token, buf, RESET_LEN) || buf[0] != version)
		return AM_ERR_DENIED;
	memcpy(id, buf + 1, DB_ID_LEN);
	rc = db_account_get(db, a->keys, id, acct);
	if (rc == AM_ERR_NOTFOUND || (rc == 0 && acct->disabled))
		return AM_ERR_DENIED;
	return rc;
}

int mail_reset_token(struct app *a, const struct db_account *acct, int64_t expires_ms, char *out,
		     size_t outlen)
{
	uint8_t bind[32 + INDEX_LEN];
	int rc = reset_binding(acct, bind);

	if (rc == 0)
		rc = make_token(a, "am-password-reset", RESET_VERSION, acct, expires_ms, bind,
				sizeof(bind), out, outlen);
	am_memzero(bind, sizeof(bind));
	return rc;
}

int mail_reset_verify(struct app *a, struct db *db, const char *token, int64_t now_ms,
		      struct db_account *acct)
{
	uint8_t buf[RESET_LEN + MAC_LEN], mac[MAC_LEN], bind[32 + INDEX_LEN];
	int rc;

	if ((rc = open_token(a, db, token, RESET_VERSION, buf, acct)) ||
	    (rc = reset_binding(acct, bind)) ||
	    (rc = token_mac(a, "am-password-reset", buf, RESET_LEN, bind, sizeof(bind), mac)))
		return rc;
	if (!am_ct_eq(mac, buf + RESET_LEN, MAC_LEN) || get_be64(buf + 1 + DB_ID_LEN) <= now_ms)
		return AM_ERR_DENIED;
	return 0;
}

int mail_verify_token(struct app *a, const struct db_account *acct, int64_t expires_ms, char *out,
		      size_t outlen)
{
	return make_token(a, "am-email-verify", VERIFY_VERSION, acct, expires_ms, acct->email_index,
			  INDEX_LEN, out, outlen);
}

int mail_verify_check(struct app *a, struct db *db, const char *token, int64_t now_ms,
		      struct db_account *acct, int *expired)
{
	uint8_t buf[VERIFY_LEN + MAC_LEN], mac[MAC_LEN];
	int rc;

	*expired = 0;
	if ((rc = open_token(a, db, token, VERIFY_VERSION, buf, acct)) ||
	    (rc = token_mac(a, "am-email-verify", buf, VERIFY_LEN, acct->email_index, INDEX_LEN,
			    mac)))
		return rc;
	if (!am_ct_eq(mac, buf + VERIFY_LEN, MAC_LEN))
		return AM_ERR_DENIED;
	/* Only an authentic token's expiry is worth reporting. */
	if (get_be64(buf + 1 + DB_ID_LEN) <= now_ms) {
		*expired = 1;
		return AM_ERR_DENIED;
	}
	return 0;
}
