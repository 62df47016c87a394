/*
 * api_session.c: owner sessions (DESIGN §6): the __Host-am-session cookie
 * holding a random 256-bit id of which only the SHA-256 is stored, idle and
 * absolute timeouts, CSRF defence (Origin check plus a token bound to the
 * session), login with per-address and per-account throttling before any
 * hash runs, logout, listing and revoking one's sessions. Runs in the web
 * process; cookies, headers and bodies are client input.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "api/api_mail.h"
#include "crypto/crypto.h"
#include "repo/repo.h"

/* ---- CSRF ------------------------------------------------------------------------- */

int api_check_origin(struct api_ctx *c)
{
	const char *o = http_req_header(c->req, "Origin");
	const char *r = http_req_header(c->req, "Referer");
	size_t n = strlen(c->api->origin);

	if (o && strcmp(o, c->api->origin) == 0)
		return 0;
	if (!o && r && strncmp(r, c->api->origin, n) == 0 && (r[n] == '/' || r[n] == 0))
		return 0;
	return api_err(c, AM_ERR_DENIED, "cross-site request refused (Origin must be this site)");
}

int api_csrf_token(struct api *api, const uint8_t h[32], char out[64])
{
	const struct keyring *kr = api->app->kr;
	uint8_t msg[8 + 32], mac[CRYPTO_MAC_LEN];
	int rc;

	memcpy(msg, "am-csrf", 8);
	memcpy(msg + 8, h, 32);
	rc =
	    crypto_mac(kr, CRYPTO_KEY_SESSION, keyring_generation(kr), NULL, msg, sizeof(msg), mac);
	if (rc == 0)
		rc = crypto_b64url_encode(mac, sizeof(mac), out, 64);
	am_memzero(mac, sizeof(mac));
	return rc == AM_ERR_DENIED ? AM_ERR_INTERNAL : rc;
}

int api_check_csrf_token(struct api_ctx *c)
{
	const char *got = http_req_header(c->req, "X-CSRF-Token");
	char want[64];
	int rc;

	if ((rc = api_csrf_token(c->api, c->sess_hash, want)))
		return rc;
	if (got && strlen(got) == strlen(want) && am_ct_eq(got, want, strlen(want)))
		return 0;
	return api_err(c, AM_ERR_DENIED, "missing or wrong X-CSRF-Token (GET /api/v1/session)");
}

/* ---- authentication ------------------------------------------------------------------ */

static int deny(struct api_ctx *c)
{
	return api_err(c, AM_ERR_UNAUTH, "sign in first");
}

int api_auth(struct api_ctx *c)
{
	const char *v = http_req_cookie(c->req, API_SESSION_COOKIE);
	int64_t now = am_now_ms();
	uint8_t raw[API_SESSION_ID_BYTES];
	size_t n = 0;
	int rc;

	if (!v || crypto_b64url_decode(v, strlen(v), raw, sizeof(raw), &n) || n != sizeof(raw))
		return deny(c);
	rc = crypto_sha256(raw, sizeof(raw), c->sess_hash);
	am_memzero(raw, sizeof(raw));
	if (rc)
		return rc;
	if ((rc = db_session_get(c->db, c->sess_hash, now, &c->sess)))
		return rc == AM_ERR_NOTFOUND ? deny(c) : rc;
	if (c->sess.last_seen + API_SESSION_IDLE_MS <= now) {
		db_session_delete_hash(c->db, c->sess_hash);
		return deny(c);
	}
	rc = db_account_get(c->db, c->api->app->keys, c->sess.account_id, &c->acct);
	if (rc == AM_ERR_NOTFOUND || (rc == 0 && c->acct.disabled))
		return deny(c);
	if (rc)
		return rc;
	if (now - c->sess.last_seen >= API_SESSION_TOUCH_MS)
		db_session_touch(c->db, c->sess_hash, now);
	c->authed = 1;
	return 0;
}

/* A short, printable summary of the User-Agent for the session list. */
static void agent_summary(struct api_ctx *c, char *out, size_t outsz)
{
	const char *ua = http_req_header(c->req, "User-Agent");
	size_t o = 0;

	for (; ua && *ua && o + 1 < outsz && o < 96; ua++)
		if ((unsigned char)*ua >= 0x20 && (unsigned char)*ua < 0x7f)
			out[o++] = *ua;
	out[o] = 0;
}

int api_session_start(struct api_ctx *c, const uint8_t account_id[DB_ID_LEN], uint8_t hash_out[32])
{
	uint8_t raw[API_SESSION_ID_BYTES], id[DB_ID_LEN];
	char cookie[64], agent[DB_AGENT_MAX + 1];
	int rc;

	agent_summary(c, agent, sizeof(agent));
	if ((rc = crypto_random(raw, sizeof(raw))) ||
	    (rc = crypto_b64url_encode(raw, sizeof(raw), cookie, sizeof(cookie))) ||
	    (rc = crypto_sha256(raw, sizeof(raw), hash_out)))
		goto out;
	rc = db_session_create(c->db, c->api->app->keys, account_id, hash_out,
			       am_now_ms() + API_SESSION_ABS_MS, agent, id);
	if (rc == 0)
		rc = http_set_cookie(c->req, API_SESSION_COOKIE, cookie, API_SESSION_ABS_MS / 1000,
				     HTTP_COOKIE_HTTPONLY | HTTP_COOKIE_LAX);
out:
	am_memzero(raw, sizeof(raw));
	am_memzero(cookie, sizeof(cookie));
	return rc;
}

json_t *api_session_json(struct api_ctx *c, const struct db_account *a, const uint8_t hash[32])
{
	char token[64];
	json_t *j;

	if (api_csrf_token(c->api, hash, token))
		return NULL;
	j = json_pack("{s:{s:o,s:s,s:I},s:s,s:I,s:I}", "account", "id", api_id_json(a->id), "email",
		      a->email, "created", (json_int_t)a->created, "csrf_token", token,
		      "idle_timeout_s", (json_int_t)(API_SESSION_IDLE_MS / 1000),
		      "absolute_timeout_s", (json_int_t)(API_SESSION_ABS_MS / 1000));
	return j;
}

/* ---- login ------------------------------------------------------------------------------ */

int api_account_throttle(struct api_ctx *c, const char *email)
{
	char folded[DB_EMAIL_MAX + 1];
	size_t n = am_ascii_fold(email, folded, sizeof(folded));
	int rc = 0;

	for (size_t i = 0; i < AM_ARRAY_LEN(API_LIMIT_LOGIN_ACCT) && rc == 0; i++)
		rc = api_rate(c, &API_LIMIT_LOGIN_ACCT[i], folded, n, NULL, 0);
	am_memzero(folded, sizeof(folded));
	return rc;
}

static void account_throttle_reset(struct api_ctx *c, const char *email)
{
	char folded[DB_EMAIL_MAX + 1];
	size_t n = am_ascii_fold(email, folded, sizeof(folded));

	for (size_t i = 0; i < AM_ARRAY_LEN(API_LIMIT_LOGIN_ACCT); i++)
		api_rate_reset(c, &API_LIMIT_LOGIN_ACCT[i], folded, n);
}

/* Verify pw for email: 0 with *a filled, AM_ERR_DENIED (unknown account and
 * wrong password alike, after the same work), or an error. */
static int check_credentials(struct api_ctx *c, const char *email, const char *pw,
			     struct db_account *a)
{
	int rehash = 0, rc;
	char fresh[API_PHC_MAX];

	rc = db_account_find_by_email(c->db, c->api->app->keys, email, a);
	if (rc == AM_ERR_NOTFOUND || (rc == 0 && a->disabled)) {
		api_pw_verify(c, api_dummy_hash(c->api), pw, NULL);
		return AM_ERR_DENIED;
	}
	if (rc)
		return rc;
	if ((rc = api_pw_verify(c, a->password_hash, pw, &rehash)))
		return rc;
	if (rehash && api_pw_hash(c, pw, fresh) == 0 &&
	    db_account_set_password(c->db, c->api->app->keys, a->id, fresh) == 0)
		am_log(AM_LOG_INFO, "password_rehashed");
	am_memzero(fresh, sizeof(fresh));
	c->msg = NULL; /* a failed rehash's 503 message is not this answer's */
	return 0;
}

int api_login(struct api_ctx *c)
{
	const char *email = NULL, *pw = NULL;
	struct db_account a;
	uint8_t pseudo[16], h[32];
	int64_t epoch = 0;
	int rc;

	if ((rc = api_str(c, "email", 1, DB_EMAIL_MAX, 1, &email)) ||
	    (rc = api_str(c, "password", 1, API_PW_MAX, 1, &pw)))
		return rc;
	if ((rc = api_client_pseudo(c, pseudo, &epoch)) ||
	    (rc = api_rate(c, &API_LIMIT_LOGIN_IP, pseudo, sizeof(pseudo), NULL, 0)) ||
	    (rc = api_account_throttle(c, email)))
		return rc;
	rc = check_credentials(c, email, pw, &a);
	if (rc == AM_ERR_DENIED)
		rc = api_err(c, AM_ERR_UNAUTH, "wrong e-mail or password");
	if (rc)
		goto out;
	account_throttle_reset(c, email);
	if ((rc = db_begin_write(c->db)) == 0) { /* session, device and e-mail together */
		rc = api_session_start(c, a.id, h);
		rc = api_mail_tx_end(c, rc ? rc : api_mail_login(c, a.id));
	}
	if (rc == 0)
		rc = api_reply(c, 200, api_session_json(c, &a, h));
out:
	am_memzero(&a, sizeof(a));
	return rc;
}

static int clear_cookie(struct api_ctx *c)
{
	return http_set_cookie(c->req, API_SESSION_COOKIE, "", 0,
			       HTTP_COOKIE_HTTPONLY | HTTP_COOKIE_LAX);
}

int api_logout(struct api_ctx *c)
{
	int rc = db_session_delete_hash(c->db, c->sess_hash);

	if (rc && rc != AM_ERR_NOTFOUND)
		return rc;
	if ((rc = clear_cookie(c)))
		return rc;
	return http_respond_empty(c->req, 204);
}

int api_session_get(struct api_ctx *c)
{
	return api_reply(c, 200, api_session_json(c, &c->acct, c->sess_hash));
}

/* ---- the session list ----------------------------------------------------------------------- */

struct list_ctx {
	json_t *arr;
	const uint8_t *current;
};

static int session_item(void *ctx, const struct db_session *s)
{
	struct list_ctx *l = ctx;
	json_t *j = json_pack("{s:o,s:I,s:I,s:I,s:I,s:s,s:b}", "id", api_id_json(s->id), "created",
			      (json_int_t)s->created, "last_seen", (json_int_t)s->last_seen,
			      "expires", (json_int_t)s->expires, "idle_expires",
			      (json_int_t)(s->last_seen + API_SESSION_IDLE_MS), "agent", s->agent,
			      "current", memcmp(s->id, l->current, DB_ID_LEN) == 0);

	return json_array_append_new(l->arr, j) ? AM_ERR_NOMEM : 0;
}

int api_sessions_list(struct api_ctx *c)
{
	struct list_ctx l = {json_array(), c->sess.id};
	int rc;

	if (!l.arr)
		return AM_ERR_NOMEM;
	rc = db_session_list(c->db, c->api->app->keys, c->acct.id, session_item, &l);
	if (rc) {
		json_decref(l.arr);
		return rc;
	}
	return api_reply(c, 200, json_pack("{s:o}", "sessions", l.arr));
}

int api_session_revoke(struct api_ctx *c)
{
	uint8_t id[DB_ID_LEN];
	int rc;

	if ((rc = api_param_id(c, "id", id)))
		return rc;
	if ((rc = db_session_delete(c->db, c->acct.id, id)))
		return rc;
	if (memcmp(id, c->sess.id, DB_ID_LEN) == 0 && (rc = clear_cookie(c)))
		return rc;
	return http_respond_empty(c->req, 204);
}

int api_sessions_revoke_others(struct api_ctx *c)
{
	int rc = db_session_delete_all(c->db, c->acct.id, c->sess.id);

	return rc ? rc : http_respond_empty(c->req, 204);
}
