/*
 * api_mail.c: the e-mail part of the JSON API (docs/api.md, docs/mail.md):
 * GET/PUT /api/v1/account/notifications and /api/v1/projects/{id}/
 * notifications (every kind off until the owner turns it on), password reset
 * by e-mail (POST /api/v1/password-reset answers the same for known and
 * unknown addresses; .../confirm takes the signed, single-use, 30-minute
 * token), owner address verification (the mail sent at sign-up and on
 * request, POST /api/v1/account/email/verify with its signed 24-hour token,
 * no session needed), the one-click unsubscribe page (GET shows a
 * confirmation form, POST turns the notification off without a session),
 * GET /api/v1/server (whether sign-up is open and e-mail is configured: two
 * booleans for the signed-out pages, nothing else), and the hooks the event
 * sites call inside their transaction (a guest
 * comment only records an event there: the worker composes its mail). Runs
 * in the web process at the trust boundary: bodies, tokens and cookies are
 * client input.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_mail.h"
#include "crypto/crypto.h"
#include "mail/mail.h"
#include "repo/repo.h"

#define DEVICE_COOKIE  "__Host-am-device"
#define DEVICE_MAX_AGE (400LL * 86400)

static const struct api_limit LIMIT_RESET_IP = {"reset-ip", 20000, 5};
static const struct api_limit LIMIT_RESET_EMAIL = {"reset-email", 300000, 3};
static const struct api_limit LIMIT_RESET_CONFIRM_IP = {"reset-confirm-ip", 6000, 10};
static const struct api_limit LIMIT_VERIFY_IP = {"verify-ip", 6000, 10};
static const struct api_limit LIMIT_VERIFY_RESEND = {"verify-resend", 600000, 3};

/* ---- settings ------------------------------------------------------------------------ */

static json_t *bits_json(int64_t bits, int mask)
{
	json_t *o = json_object();

	for (int i = 0; o && i < MAIL_NKINDS; i++)
		if ((mask & (1 << i)) &&
		    json_object_set_new(o, mail_kind_name(1 << i), json_boolean(bits & (1 << i))))
			return json_decref(o), NULL;
	return o;
}

static int answer_account(struct api_ctx *c)
{
	int64_t on = 0;
	int rc = db_mail_prefs_account_get(c->db, c->acct.id, &on);

	if (rc)
		return rc;
	return api_reply(c, 200,
			 json_pack("{s:o,s:b,s:I,s:b}", "notifications",
				   bits_json(on, MAIL_KINDS_ALL), "mail_enabled",
				   mail_enabled(&c->api->app->conf), "digest_minutes",
				   (json_int_t)c->api->app->conf.mail_digest_minutes,
				   "email_verified", c->acct.email_verified != 0));
}

/* What the signed-out pages need to know before they offer sign-up or a
 * reset e-mail. Public: two booleans an anonymous visitor would learn anyway
 * by trying (POST /api/v1/accounts, POST /api/v1/password-reset). */
int api_server_info(struct api_ctx *c)
{
	return api_reply(c, 200,
			 json_pack("{s:b,s:b}", "signup_open", c->api->app->conf.signup_open != 0,
				   "mail_enabled", mail_enabled(&c->api->app->conf)));
}

int api_notifications_get(struct api_ctx *c)
{
	return answer_account(c);
}

/* Every key of the body must be a kind of mask; values booleans (account)
 * or "on" / "off" / "inherit" (project). */
static int unknown_key(struct api_ctx *c, int mask)
{
	const char *k;
	json_t *v;

	json_object_foreach(c->body, k, v)
	{
		if (!(mail_kind_parse(k) & mask))
			return api_err(c, AM_ERR_INVAL, "unknown notification kind in the body");
	}
	return 0;
}

int api_notifications_put(struct api_ctx *c)
{
	int64_t on = 0;
	int rc, val = 0, present = 0;

	if ((rc = unknown_key(c, MAIL_KINDS_ALL)) ||
	    (rc = db_mail_prefs_account_get(c->db, c->acct.id, &on)))
		return rc;
	for (int i = 0; i < MAIL_NKINDS; i++) {
		if ((rc = api_bool(c, mail_kind_name(1 << i), 0, &val, &present)))
			return rc;
		if (present)
			on = val ? (on | (1 << i)) : (on & ~(int64_t)(1 << i));
	}
	if ((rc = db_mail_prefs_account_set(c->db, c->acct.id, on)))
		return rc;
	return answer_account(c);
}

static int answer_project(struct api_ctx *c, const struct db_project *p)
{
	int64_t acc = 0, on = 0, off = 0;
	json_t *o = json_object(), *eff = json_object();
	int rc = AM_ERR_NOMEM;

	if (!o || !eff || (rc = db_mail_prefs_account_get(c->db, c->acct.id, &acc)) ||
	    (rc = db_mail_prefs_project_get(c->db, c->acct.id, p->id, &on, &off))) {
		json_decref(o);
		json_decref(eff);
		return rc;
	}
	for (int i = 0; i < MAIL_NKINDS; i++) {
		int k = 1 << i;

		if (!(k & MAIL_KINDS_PROJECT))
			continue;
		json_object_set_new(o, mail_kind_name(k),
				    json_string((on & k)    ? "on"
						: (off & k) ? "off"
							    : "inherit"));
		json_object_set_new(eff, mail_kind_name(k),
				    json_boolean((on & k) || ((acc & k) && !(off & k))));
	}
	return api_reply(c, 200, json_pack("{s:o,s:o}", "notifications", o, "effective", eff));
}

int api_project_notifications_get(struct api_ctx *c)
{
	struct db_project p;
	int rc = api_owner_project(c, "id", &p);

	return rc ? rc : answer_project(c, &p);
}

int api_project_notifications_put(struct api_ctx *c)
{
	struct db_project p;
	int64_t on = 0, off = 0;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)) || (rc = unknown_key(c, MAIL_KINDS_PROJECT)) ||
	    (rc = db_mail_prefs_project_get(c->db, c->acct.id, p.id, &on, &off)))
		return rc;
	for (int i = 0; i < MAIL_NKINDS; i++) {
		const char *v = NULL;
		int64_t k = 1 << i;

		if (!(k & MAIL_KINDS_PROJECT))
			continue;
		if ((rc = api_str(c, mail_kind_name((int)k), 1, 16, 0, &v)))
			return rc;
		if (!v)
			continue;
		if (strcmp(v, "on") && strcmp(v, "off") && strcmp(v, "inherit"))
			return api_err(c, AM_ERR_INVAL, "use \"on\", \"off\" or \"inherit\"");
		on = !strcmp(v, "on") ? (on | k) : (on & ~k);
		off = !strcmp(v, "off") ? (off | k) : (off & ~k);
	}
	if ((rc = db_mail_prefs_project_set(c->db, c->acct.id, p.id, on, off)))
		return rc;
	return answer_project(c, &p);
}

/* ---- hooks ------------------------------------------------------------------------------- */

int api_mail_tx_end(struct api_ctx *c, int rc)
{
	if (rc) {
		db_rollback(c->db);
		return rc;
	}
	return db_commit(c->db);
}

int api_mail_comment(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const uint8_t cid[DB_ID_LEN],
		     const uint8_t *guest_id)
{
	/* The owner's own comments notify nobody; without mail nothing would
	 * ever take the event. The worker composes the mail (mail_event.c). */
	if (!guest_id || !mail_enabled(&c->api->app->conf))
		return 0;
	return db_mail_event_add(c->db, pid, cid, am_now_ms());
}

int api_mail_event(struct api_ctx *c, const uint8_t account_id[DB_ID_LEN], const uint8_t *pid,
		   int kind, const char *detail)
{
	return mail_notify(c->api->app, c->db, account_id, pid, kind, detail);
}

/* A short, printable summary of the User-Agent (the owner's own browser). */
static void agent_summary(struct api_ctx *c, char *out, size_t outsz)
{
	const char *ua = http_req_header(c->req, "User-Agent");
	size_t o = 0;

	for (; ua && *ua && o + 1 < outsz && o < 96; ua++)
		if ((unsigned char)*ua >= 0x20 && (unsigned char)*ua < 0x7f)
			out[o++] = *ua;
	out[o] = 0;
}

int api_mail_login(struct api_ctx *c, const uint8_t account_id[DB_ID_LEN])
{
	const char *v = http_req_cookie(c->req, DEVICE_COOKIE);
	uint8_t raw[32], h[32];
	char cookie[64], agent[100];
	size_t n = 0;
	int known = 0, rc;

	if (!v || crypto_b64url_decode(v, strlen(v), raw, sizeof(raw), &n) || n != sizeof(raw))
		if ((rc = crypto_random(raw, sizeof(raw))))
			return rc;
	if ((rc = crypto_b64url_encode(raw, sizeof(raw), cookie, sizeof(cookie))) ||
	    (rc = crypto_sha256(raw, sizeof(raw), h)) ||
	    (rc = db_device_seen(c->db, account_id, h, am_now_ms(), &known)))
		goto out;
	agent_summary(c, agent, sizeof(agent));
	if (!known &&
	    (rc = mail_notify(c->api->app, c->db, account_id, NULL, MAIL_NEW_LOGIN, agent)))
		goto out;
	rc = http_set_cookie(c->req, DEVICE_COOKIE, cookie, DEVICE_MAX_AGE,
			     HTTP_COOKIE_HTTPONLY | HTTP_COOKIE_LAX);
out:
	am_memzero(raw, sizeof(raw));
	am_memzero(cookie, sizeof(cookie));
	return rc;
}

/* ---- password reset by e-mail ------------------------------------------------------------- */

static int reset_mail(struct api_ctx *c, const struct db_account *a)
{
	char token[MAIL_TOKEN_MAX];
	struct am_buf text;
	int rc;

	am_buf_init(&text, 4096);
	if ((rc = mail_reset_token(c->api->app, a, am_now_ms() + MAIL_RESET_LIFETIME_MS, token,
				   sizeof(token))) ||
	    (rc = am_buf_printf(
		 &text,
		 "Someone (hopefully you) asked to reset the password of the audiomus account of "
		 "this address.\n\nChoose a new password within 30 minutes with this link (it "
		 "works "
		 "once):\n%s/reset-password#token=%s\n\nThe token for the API is: %s\n\nIf you did "
		 "not ask for this, ignore this message: your password stays as it is.\n",
		 c->api->app->conf.public_url, token, token)))
		goto out;
	if ((rc = db_begin_write(c->db)) == 0)
		rc = api_mail_tx_end(c, mail_send_account(c->api->app, c->db, a,
							  "Reset your audiomus password",
							  (const char *)text.p));
out:
	am_memzero(token, sizeof(token));
	am_buf_cleanup(&text);
	return rc;
}

int api_password_reset(struct api_ctx *c)
{
	char folded[DB_EMAIL_MAX + 1];
	const char *email = NULL;
	struct db_account a;
	uint8_t pseudo[16];
	int64_t epoch = 0;
	size_t n;
	int rc;

	if ((rc = api_str(c, "email", 1, DB_EMAIL_MAX, 1, &email)))
		return rc;
	if (!mail_enabled(&c->api->app->conf))
		return api_err(c, AM_ERR_UNAVAIL,
			       "this server sends no e-mail: ask its administrator (audiomus user "
			       "reset-password)");
	n = am_ascii_fold(email, folded, sizeof(folded));
	if ((rc = api_client_pseudo(c, pseudo, &epoch)) ||
	    (rc = api_rate(c, &LIMIT_RESET_IP, pseudo, sizeof(pseudo), NULL, 0)) ||
	    (rc = api_rate(c, &LIMIT_RESET_EMAIL, folded, n, NULL, 0)))
		return rc;
	rc = db_account_find_by_email(c->db, c->api->app->keys, email, &a);
	if (rc == 0 && !a.disabled)
		rc = reset_mail(c, &a);
	am_memzero(&a, sizeof(a));
	if (rc && rc != AM_ERR_NOTFOUND)
		return rc;
	/* The same answer whether or not the address has an account. */
	return api_reply(c, 202,
			 json_pack("{s:b,s:s}", "ok", 1, "message",
				   "if an account has this address, a reset link is on its way"));
}

int api_password_reset_confirm(struct api_ctx *c)
{
	const char *token = NULL, *pw = NULL;
	char hash[API_PHC_MAX];
	struct db_account a;
	uint8_t pseudo[16];
	int64_t epoch = 0;
	int rc;

	if ((rc = api_str(c, "token", 1, MAIL_TOKEN_MAX, 1, &token)) ||
	    (rc = api_str(c, "new_password", 0, 4096, 1, &pw)) ||
	    (rc = api_client_pseudo(c, pseudo, &epoch)) ||
	    (rc = api_rate(c, &LIMIT_RESET_CONFIRM_IP, pseudo, sizeof(pseudo), NULL, 0)))
		return rc;
	rc = mail_reset_verify(c->api->app, c->db, token, am_now_ms(), &a);
	if (rc == 0 && (rc = api_pw_policy(c, pw)) == 0)
		rc = api_pw_hash(c, pw, hash);
	if (rc || (rc = db_begin_write(c->db)))
		goto out;
	/* Again inside the transaction: two confirms of one token race here,
	 * and only the first still finds the password hash it was bound to. */
	rc = mail_reset_verify(c->api->app, c->db, token, am_now_ms(), &a);
	if (rc == 0)
		rc = db_account_set_password(c->db, c->api->app->keys, a.id, hash);
	if (rc == 0)
		rc = db_session_delete_all(c->db, a.id, NULL);
	/* The link reached this address (the token is bound to it): proven. */
	if (rc == 0)
		rc = db_account_set_email_verified(c->db, a.id, a.email_index, am_now_ms());
	if (rc == 0)
		rc = mail_notify(c->api->app, c->db, a.id, NULL, MAIL_PW_CHANGED,
				 " (with a reset link sent by e-mail)");
	rc = api_mail_tx_end(c, rc);
out:
	am_memzero(hash, sizeof(hash));
	am_memzero(&a, sizeof(a));
	if (rc == AM_ERR_DENIED)
		return api_err(c, AM_ERR_INVAL,
			       "this reset link is invalid, used or expired: ask for a new one");
	if (rc == 0)
		am_log(AM_LOG_INFO, "password_reset");
	return rc ? rc : http_respond_empty(c->req, 204);
}

/* ---- address verification ------------------------------------------------------------------ */

int api_mail_verify_send(struct api_ctx *c, const struct db_account *a)
{
	char token[MAIL_TOKEN_MAX];
	struct am_buf text;
	int rc;

	if (!mail_enabled(&c->api->app->conf))
		return 0;
	am_buf_init(&text, 4096);
	if ((rc = mail_verify_token(c->api->app, a, am_now_ms() + MAIL_VERIFY_LIFETIME_MS, token,
				    sizeof(token))) ||
	    (rc = am_buf_printf(
		 &text,
		 "Someone (hopefully you) created an audiomus account with this address, or asked "
		 "to confirm it again.\n\nConfirm that the address is yours within 24 hours with "
		 "this link:\n%s/verify-email#token=%s\n\nThe token for the API is: %s\n\nUntil "
		 "the address is confirmed, audiomus sends it none of the notifications you can "
		 "turn on. If you did not create this account, ignore this message.\n",
		 c->api->app->conf.public_url, token, token)))
		goto out;
	rc = mail_send_account(c->api->app, c->db, a, "Confirm your e-mail address for audiomus",
			       (const char *)text.p);
out:
	am_memzero(token, sizeof(token));
	am_buf_cleanup(&text);
	return rc;
}

int api_email_verify(struct api_ctx *c)
{
	const char *token = NULL;
	struct db_account a;
	uint8_t pseudo[16];
	int64_t epoch = 0;
	int expired = 0, rc;

	if ((rc = api_str(c, "token", 1, MAIL_TOKEN_MAX, 1, &token)) ||
	    (rc = api_client_pseudo(c, pseudo, &epoch)) ||
	    (rc = api_rate(c, &LIMIT_VERIFY_IP, pseudo, sizeof(pseudo), NULL, 0)))
		return rc;
	rc = mail_verify_check(c->api->app, c->db, token, am_now_ms(), &a, &expired);
	/* Bound to the address the token proves: a change in between loses. */
	if (rc == 0 && (rc = db_account_set_email_verified(c->db, a.id, a.email_index,
							   am_now_ms())) == AM_ERR_NOTFOUND)
		rc = AM_ERR_DENIED;
	am_memzero(&a, sizeof(a));
	if (rc == AM_ERR_DENIED)
		return api_err(
		    c, AM_ERR_INVAL,
		    expired ? "this verification link has expired: sign in and ask for a new one"
			    : "this verification link is not valid (damaged, or for an address the "
			      "account no longer has): sign in and ask for a new one");
	if (rc)
		return rc;
	am_log(AM_LOG_INFO, "email_verified");
	return api_reply(c, 200, json_pack("{s:b}", "email_verified", 1));
}

int api_email_resend(struct api_ctx *c)
{
	int rc;

	if (c->acct.email_verified)
		return api_err(c, AM_ERR_CONFLICT, "this e-mail address is already verified");
	if (!mail_enabled(&c->api->app->conf))
		return api_err(
		    c, AM_ERR_UNAVAIL,
		    "this server sends no e-mail: ask its administrator to confirm the address "
		    "(audiomus user verify-email)");
	if ((rc = api_rate(c, &LIMIT_VERIFY_RESEND, c->acct.id, DB_ID_LEN, NULL, 0)))
		return rc;
	if ((rc = db_begin_write(c->db)) ||
	    (rc = api_mail_tx_end(c, api_mail_verify_send(c, &c->acct))))
		return rc;
	return api_reply(
	    c, 202,
	    json_pack("{s:b,s:s}", "ok", 1, "message",
		      "a new verification link is on its way to the account's address"));
}

/* ---- one-click unsubscribe ------------------------------------------------------------------- */

static const char page_head[] = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
				"<meta name=\"viewport\" content=\"width=device-width\">"
				"<title>audiomus e-mail</title></head><body><main>";

/* An HTML page with status http_status_of(err) (AM_OK: 200). */
static int page(struct http_req *req, int err, const char *body_html)
{
	struct am_buf b;
	int rc;

	am_buf_init(&b, 8192);
	if ((rc = am_buf_puts(&b, page_head)) == 0 && (rc = am_buf_puts(&b, body_html)) == 0 &&
	    (rc = am_buf_puts(&b, "</main></body></html>\n")) == 0)
		rc = http_respond_bytes(req, http_status_of(err), "text/html; charset=utf-8", b.p,
					b.len, 1);
	am_buf_cleanup(&b);
	return rc;
}

static int unsubscribe_apply(struct db *db, const uint8_t aid[DB_ID_LEN],
			     const uint8_t pid[DB_ID_LEN], int has_project, int kind)
{
	int64_t on = 0, off = 0;
	int rc;

	if ((rc = db_begin_write(db)))
		return rc;
	if (has_project) {
		rc = db_mail_prefs_project_get(db, aid, pid, &on, &off);
		if (rc == 0)
			rc = db_mail_prefs_project_set(db, aid, pid, on & ~(int64_t)kind,
						       off | kind);
	} else {
		rc = db_mail_prefs_account_get(db, aid, &on);
		if (rc == 0)
			rc = db_mail_prefs_account_set(db, aid, on & ~(int64_t)kind);
	}
	if (rc) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

static int unsubscribe(struct http_req *req, void *arg)
{
	struct api *api = arg;
	uint8_t aid[DB_ID_LEN], pid[DB_ID_LEN];
	char html[512], body[1024];
	struct db *db = NULL;
	int has_project = 0, kind = 0, rc;

	if (mail_unsub_verify(api->app, http_req_param(req, "token"), aid, pid, &has_project,
			      &kind))
		return page(req, AM_ERR_NOTFOUND,
			    "<h1>This link is not valid</h1><p>Change your e-mail settings in the "
			    "audiomus dashboard instead.</p>");
	snprintf(html, sizeof(html), "\"%s\" e-mails%s", mail_kind_name(kind),
		 has_project ? " for this project" : "");
	if (http_req_method(req) == HTTP_GET) {
		snprintf(body, sizeof(body),
			 "<h1>Unsubscribe</h1><p>Stop sending %s to this address?</p>"
			 "<form method=\"post\"><button type=\"submit\" name=\"List-Unsubscribe\" "
			 "value=\"One-Click\">Unsubscribe</button></form>",
			 html);
		return page(req, AM_OK, body);
	}
	if ((rc = app_db_get(api->app, &db)))
		return rc;
	rc = unsubscribe_apply(db, aid, pid, has_project, kind);
	app_db_put(api->app, db);
	if (rc == AM_ERR_NOTFOUND)
		return page(req, AM_ERR_NOTFOUND,
			    "<h1>Nothing to unsubscribe</h1><p>The account or "
			    "project is gone.</p>");
	if (rc)
		return rc;
	am_log(AM_LOG_INFO, "mail_unsubscribed", "kind", mail_kind_name(kind));
	snprintf(
	    body, sizeof(body),
	    "<h1>Unsubscribed</h1><p>No more %s. You can turn them on again in the notification "
	    "settings.</p>",
	    html);
	return page(req, AM_OK, body);
}

int api_mail_register(struct api *api, struct http_router *r)
{
	struct http_route_def d = {0};

	d.methods = HTTP_GET | HTTP_POST;
	d.pattern = "/api/v1/unsubscribe/{token}";
	d.handler = unsubscribe;
	d.arg = api;
	d.max_body = 1024;
	return http_router_add(r, &d);
}
