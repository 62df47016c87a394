/*
 * api_mail.h: the e-mail part of the JSON API (api_mail.c, docs/mail.md):
 * notification settings, password reset by e-mail, owner address
 * verification, the one-click
 * unsubscribe endpoint, and the hooks the event sites of src/api/ call so
 * that a notification is committed in the event's own transaction. Not for
 * use outside src/api/. Runs in the web process at the trust boundary.
 */
#ifndef AM_API_MAIL_H
#define AM_API_MAIL_H

#include "api/api_int.h"
#include "mail/mail.h"

/* Handlers (registered in api.c's route table). */
api_fn api_notifications_get, api_notifications_put, api_project_notifications_get,
    api_project_notifications_put, api_password_reset, api_password_reset_confirm, api_email_verify,
    api_email_resend, api_server_info;

/* Add the routes that do not go through the JSON dispatcher: GET/POST
 * /api/v1/unsubscribe/{token} (a page and RFC 8058 one-click POSTs from
 * mail clients, which send no Origin and no JSON). 0 or the router's error. */
int api_mail_register(struct api *api, struct http_router *r);

/* ---- hooks for the event sites -------------------------------------------------------
 * Each runs inside the transaction the call site opened with db_begin_write
 * and closes with api_mail_tx_end, so the event and its mail commit or roll
 * back together. They return 0 when nothing is to be sent. */

/* Commit when rc is 0, else roll back; returns rc or the commit's error. */
int api_mail_tx_end(struct api_ctx *c, int rc);
/* A comment was created (guest: by a reviewer; NULL: by the owner): for a
 * guest's, record its mail event (db_mail_event_add; the worker composes
 * the reply mail or digest item, docs/mail.md "Events"), when mail is on. */
int api_mail_comment(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const uint8_t cid[DB_ID_LEN],
		     const uint8_t *guest_id);
/* Account-level or project event of the project's / session's owner. */
int api_mail_event(struct api_ctx *c, const uint8_t account_id[DB_ID_LEN], const uint8_t *pid,
		   int kind, const char *detail);
/* Queue the address-verification message (transactional, 24-hour signed
 * link) to account a, inside the caller's transaction; 0 without sending
 * when mail is not configured. Sign-up calls it with the new account. */
int api_mail_verify_send(struct api_ctx *c, const struct db_account *a);
/* After a successful login: remember the device (a random cookie, only its
 * hash stored) and notify a sign-in from a device not seen before. */
int api_mail_login(struct api_ctx *c, const uint8_t account_id[DB_ID_LEN]);

#endif
