/*
 * api_account.c: owner accounts over the API: sign-up (only when the
 * operator opened it: signup_open; queues the address-verification mail in
 * the same transaction), the account itself, password change
 * (other sessions end) and account deletion (every project crypto-shredded
 * first). Runs in the web process; bodies are client input, passwords are
 * secrets (never logged).
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/api_mail.h"
#include "repo/repo.h"

/* A plausible address: one '@', something on each side, a dot in the
 * domain, printable ASCII without spaces. Delivery is not checked here. */
int api_email_acceptable(const char *e)
{
	const char *at = strchr(e, '@');

	if (strlen(e) > 254 || !at || at == e || strchr(at + 1, '@') || !strchr(at + 1, '.') ||
	    at[1] == '.' || e[strlen(e) - 1] == '.')
		return 0;
	for (; *e; e++)
		if ((unsigned char)*e <= 0x20 || (unsigned char)*e >= 0x7f)
			return 0;
	return 1;
}

int api_signup(struct api_ctx *c)
{
	const char *email = NULL, *pw = NULL;
	char hash[API_PHC_MAX];
	struct db_account a = {0};
	uint8_t pseudo[16], h[32];
	int64_t epoch = 0;
	int rc;

	if (!c->api->app->conf.signup_open)
		return api_err(
		    c, AM_ERR_DENIED,
		    "sign-up is closed on this server: ask its administrator for an account");
	if ((rc = api_str(c, "email", 3, 254, 1, &email)) ||
	    (rc = api_str(c, "password", 0, 4096, 1, &pw)))
		return rc;
	if (!api_email_acceptable(email))
		return api_err(c, AM_ERR_INVAL, "field \"email\" is not an e-mail address");
	if ((rc = api_pw_policy(c, pw)))
		return rc;
	if ((rc = api_client_pseudo(c, pseudo, &epoch)) ||
	    (rc = api_rate(c, &API_LIMIT_SIGNUP_IP, pseudo, sizeof(pseudo), NULL, 0)) ||
	    (rc = api_pw_hash(c, pw, hash)))
		return rc;
	/* The account, its session and its verification mail commit together
	 * (self sign-ups start unverified; docs/mail.md "Verification"). */
	if ((rc = db_begin_write(c->db)) == 0) {
		rc = db_account_create(c->db, c->api->app->keys, email, hash, a.id);
		if (rc == 0)
			rc = db_account_get(c->db, c->api->app->keys, a.id, &a);
		if (rc == 0)
			rc = api_session_start(c, a.id, h);
		rc = api_mail_tx_end(c, rc ? rc : api_mail_verify_send(c, &a));
	}
	am_memzero(hash, sizeof(hash));
	if (rc == AM_ERR_EXISTS)
		return api_err(c, rc, "an account with this e-mail address exists: sign in");
	if (rc == 0)
		rc = api_reply(c, 201, api_session_json(c, &a, h));
	am_memzero(&a, sizeof(a));
	return rc;
}

int api_account_get(struct api_ctx *c)
{
	return api_reply(c, 200,
			 json_pack("{s:o,s:s,s:I,s:b}", "id", api_id_json(c->acct.id), "email",
				   c->acct.email, "created", (json_int_t)c->acct.created,
				   "email_verified", c->acct.email_verified != 0));
}

/* The current password, verified under the account throttle: 0, or a 403
 * (wrong), 429 or 503 answer. */
static int confirm_password(struct api_ctx *c, const char *field)
{
	const char *pw = NULL;
	int rc;

	if ((rc = api_str(c, field, 1, API_PW_MAX, 1, &pw)) ||
	    (rc = api_account_throttle(c, c->acct.email)))
		return rc;
	rc = api_pw_verify(c, c->acct.password_hash, pw, NULL);
	if (rc == AM_ERR_DENIED)
		return api_err(c, rc, "the current password is wrong");
	return rc;
}

int api_password_change(struct api_ctx *c)
{
	const char *pw = NULL;
	char hash[API_PHC_MAX];
	int rc;

	if ((rc = api_str(c, "new_password", 0, 4096, 1, &pw)) || (rc = api_pw_policy(c, pw)) ||
	    (rc = confirm_password(c, "current_password")) || (rc = api_pw_hash(c, pw, hash)))
		return rc;
	if ((rc = db_begin_write(c->db)) == 0)
		rc = db_account_set_password(c->db, c->api->app->keys, c->acct.id, hash);
	am_memzero(hash, sizeof(hash));
	/* Every other session ends: a stolen cookie dies with the old password. */
	if (rc == 0)
		rc = db_session_delete_all(c->db, c->acct.id, c->sess.id);
	if (rc == 0)
		rc = api_mail_event(c, c->acct.id, NULL, MAIL_PW_CHANGED, NULL);
	if ((rc = api_mail_tx_end(c, rc)))
		return rc;
	return http_respond_empty(c->req, 204);
}

struct id_list {
	uint8_t (*ids)[DB_ID_LEN];
	size_t n, cap;
};

static int collect_project(void *ctx, const struct db_project *p)
{
	struct id_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		void *grown = realloc(l->ids, cap * DB_ID_LEN);
		if (!grown)
			return AM_ERR_NOMEM;
		l->ids = grown;
		l->cap = cap;
	}
	memcpy(l->ids[l->n++], p->id, DB_ID_LEN);
	return 0;
}

/* Delete the account: confirm the password, crypto-shred every project,
 * then remove the account (or close it until the worker has removed the
 * shredded projects' objects), end every session, clear the cookie. */
int api_account_delete(struct api_ctx *c)
{
	struct id_list l = {0};
	int rc;

	if ((rc = confirm_password(c, "password")))
		return rc;
	if ((rc = db_project_list(c->db, c->api->app->keys, c->acct.id, collect_project, &l)))
		goto out;
	for (size_t i = 0; i < l.n && rc == 0; i++)
		rc = api_project_shred(c, l.ids[i]);
	if (rc)
		goto out;
	rc = db_account_delete(c->db, c->acct.id);
	if (rc == AM_ERR_CONFLICT)
		rc = db_account_close(c->db, c->api->app->keys, c->acct.id);
	if (rc)
		goto out;
	am_log(AM_LOG_INFO, "account_deleted");
	if ((rc = http_set_cookie(c->req, API_SESSION_COOKIE, "", 0,
				  HTTP_COOKIE_HTTPONLY | HTTP_COOKIE_LAX)) == 0)
		rc = http_respond_empty(c->req, 204);
out:
	free(l.ids);
	return rc;
}
