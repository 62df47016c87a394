/*
 * mail: e-mail of audiomus (issue 9, docs/mail.md): the notifications an
 * owner opts into (sent only to a verified address) and the transactional
 * account mail (address verification, password reset),
 * built as RFC 5322 / MIME messages, committed to the database outbox in
 * the transaction of the event that caused them (a guest comment commits an
 * event, composed by the worker), and delivered over SMTP
 * with TLS (libcurl) by the worker role with leases, retries and back-off.
 *
 * Trust: message text mixes operator settings with user text (project and
 * track titles, guest names, comments). Every header value is stripped of
 * control characters and RFC 2047-encoded, addresses are checked strictly,
 * and bodies are base64 parts, so no input can add a header or a MIME part.
 * Runs in the web role (enqueue, tokens) and the worker role (comment
 * events, digests, delivery).
 */
#ifndef AM_MAIL_H
#define AM_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"
#include "util/util.h"

struct app;
struct conf;

/* ---- notification kinds (bits of accounts.mail_on, projects.mail_on/off) -- */
enum mail_kind {
	MAIL_COMMENTS = 1 << 0,	  /* new guest comments: one digest per project per N minutes */
	MAIL_REPLIES = 1 << 1,	  /* a reviewer replied in a thread */
	MAIL_PW_LOCKED = 1 << 2,  /* project password locked after 100 failures */
	MAIL_LINK_REGEN = 1 << 3, /* a share link was regenerated */
	MAIL_PW_CHANGED = 1 << 4, /* the owner's password changed (account only) */
	MAIL_NEW_LOGIN = 1 << 5,  /* sign-in from a device not seen before (account only) */
};
#define MAIL_KINDS_ALL	   0x3f
#define MAIL_KINDS_PROJECT (MAIL_COMMENTS | MAIL_REPLIES | MAIL_PW_LOCKED | MAIL_LINK_REGEN)
#define MAIL_NKINDS	   6

/* The API name of one kind bit ("comments", "replies", "password_locked",
 * "link_regenerated", "password_changed", "new_login"), NULL otherwise. */
const char *mail_kind_name(int kind);
/* The bit of an API name, 0 if unknown. */
int mail_kind_parse(const char *name);

/* ---- messages (mail_msg.c) ------------------------------------------------------ */
#define MAIL_MSG_MAX DB_MAILBODY_MAX /* a built message fits one outbox row */

struct mail_msg {
	const char *from;	     /* "Display Name <addr>" or "addr" (mail_from) */
	const char *to;		     /* a bare address */
	const char *subject;	     /* UTF-8, any length (folded, encoded) */
	const char *text;	     /* UTF-8 plain text, '\n' line ends */
	const char *unsubscribe_url; /* https URL for List-Unsubscribe; NULL: transactional */
	const char *link_base;	     /* the server's own https URL (public_url): only a line
				      * that starts with it becomes a link; NULL: no links */
	int64_t date;		     /* seconds since the epoch */
	uint8_t msgid[16];	     /* random: Message-ID and MIME boundary */
};

/* Guest text in a message's text goes between these two bytes (written by
 * mail_quote_append, which also strips them and every other control
 * character from the guest's text, so guest text can neither open nor close
 * a quote): it is shown as a quoted block ("> " on every line in the text
 * part, a blockquote in the HTML part) and never becomes a link. Each
 * marker stands at the start of a line. */
#define MAIL_QUOTE_BEGIN '\x01'
#define MAIL_QUOTE_END	 '\x02'
/* Append s to t as a quoted block: MAIL_QUOTE_BEGIN, s with control
 * characters other than '\n' made spaces, a final '\n', MAIL_QUOTE_END. */
int mail_quote_append(struct am_buf *t, const char *s);

/* Build the whole message (headers, multipart/alternative text + HTML, both
 * base64) into out (initialised by the caller; cap >= MAIL_MSG_MAX is
 * enough for any text that fits). 0, AM_ERR_INVAL (bad address or URL),
 * AM_ERR_TOOBIG, AM_ERR_NOMEM. */
int mail_build(const struct mail_msg *m, struct am_buf *out);
/* 1 if a is a plain addr-spec we send to: printable ASCII, no space, no
 * "<>()[]\\,;:\"", one '@', a dotted domain, at most 254 bytes. */
int mail_addr_ok(const char *a);
/* Split "Name <addr>" or "addr" into its parts (name may come back ""). 0 or
 * AM_ERR_INVAL when the address is not acceptable. */
int mail_from_parse(const char *from, char *name, size_t namelen, char *addr, size_t addrlen);
/* Append "Name: value\r\n" with value cleaned of control characters and
 * invalid UTF-8, RFC 2047 B-encoded (UTF-8) and folded when it is not short
 * printable ASCII. Exposed for tests. */
int mail_header(struct am_buf *out, const char *name, const char *value);

/* ---- SMTP (mail_smtp.c) --------------------------------------------------------------- */
/* 1 when the configuration sends mail (smtp_url set). */
int mail_enabled(const struct conf *c);
/* Check the mail settings: scheme smtps:// or smtp:// (STARTTLS forced unless
 * smtp_insecure_plain, which only a loopback host may use), mail_from a
 * valid address. 0 (also when mail is off) or AM_ERR_INVAL with err set. */
int mail_config_check(const struct conf *c, char *err, size_t errlen);
/* Deliver one built message to rcpt. 0, AM_ERR_UNAVAIL (temporary: connect,
 * TLS, 4xx, timeout: retry), AM_ERR_DENIED (5xx: permanent), AM_ERR_INVAL;
 * a short reason (never the password) in err. */
int mail_smtp_send(const struct conf *c, const char *rcpt, const void *msg, size_t n, char *err,
		   size_t errlen);

/* ---- outbox (mail_outbox.c) ------------------------------------------------------------ */
#define MAIL_LEASE_MS	    (5 * 60 * 1000) /* a claimed message is not sent by anyone else */
#define MAIL_SEND_TIMEOUT_S 120		    /* one SMTP transaction, well under the lease */

/* Delay before the next attempt after `attempts` failed ones (1, 2, ...):
 * 60 s doubling per attempt, capped at 6 hours. */
int64_t mail_backoff_ms(int64_t attempts);
/* Send due outbox mail (at most max messages; max <= 0: 100), after
 * composing due comment events (mail_events_run) and flushing due comment
 * digests into the outbox, then schedule the next "mail" job for what is
 * left. *sent (may be NULL) gets the number
 * delivered. 0 or the first database error. */
int mail_outbox_pump(struct app *a, int max, int *sent);

/* ---- notifications (mail_notify.c) ------------------------------------------------------ */
/* One log line about a queued mail or e-mail event: what = the id's name
 * ("mail", "comment") and the id in hex, the attempt and an optional reason
 * (left out when NULL). Never an address, a name or any text of the mail. */
void mail_log_id(enum am_log_level lv, const char *event, const char *what,
		 const uint8_t id[DB_ID_LEN], int64_t attempt, const char *reason);
/* *on = 1 if the account's address is verified and the account (and
 * project, NULL for account-wide kinds) wants kind; AM_ERR_NOTFOUND for an
 * unknown account. */
int mail_wanted(struct db *db, const uint8_t account_id[DB_ID_LEN], const uint8_t *project_id,
		int kind, int *on);
/* Queue the notification `kind` for the owner of account_id about project
 * (NULL for account kinds) if the owner opted in, the owner's address is
 * verified and mail is configured (otherwise nothing is queued):
 * builds the message and enqueues it with a wake-up job on db, inside the
 * caller's transaction. detail: one line of kind-specific text or NULL.
 * 0 (also when nothing is sent) or an error (the caller rolls back). */
int mail_notify(struct app *a, struct db *db, const uint8_t account_id[DB_ID_LEN],
		const uint8_t *project_id, int kind, const char *detail);
/* The mail of a guest comment (worker, inside the transaction that takes its
 * event): a reply (parent set) notifies MAIL_REPLIES at once; otherwise
 * the comment is queued for the project's MAIL_COMMENTS digest as posted
 * at `posted` (ms). Nothing for the owner's own or a deleted comment, or
 * when mail is off. AM_ERR_NOTFOUND / AM_ERR_CRYPTO: the project or the
 * comment is gone. */
int mail_notify_comment(struct app *a, struct db *db, const uint8_t project_id[DB_ID_LEN],
			const uint8_t comment_id[DB_ID_LEN], int64_t posted);
/* Queue transactional mail (not opt-in, verified or not) to an account's
 * address; AM_ERR_UNAVAIL when mail is not configured. */
int mail_send_account(struct app *a, struct db *db, const struct db_account *acct,
		      const char *subject, const char *text);
/* The digest of a project's queued comments (worker; its own transaction):
 * enqueue one message and take the items out, or drop them when the owner
 * opted out meanwhile. */
int mail_digest_flush_project(struct app *a, struct db *db, const uint8_t project_id[DB_ID_LEN],
			      const uint8_t account_id[DB_ID_LEN]);

/* ---- events (mail_event.c) --------------------------------------------------------------- */
#define MAIL_EVENTS_PER_PUMP 200

/* Compose the mail of due comment events (db_mail_event_*: written by the
 * comment's transaction in the web role), each in one transaction that
 * takes the event out and queues its outbox mail or digest item, so an
 * event is mailed once or stays. A failure is retried with mail_backoff_ms
 * up to mail_max_attempts times, then dropped (logged). *more (may be
 * NULL) is 1 when max events were due (more may be waiting). 0 or the
 * first database error outside an event. */
int mail_events_run(struct app *a, struct db *db, int64_t now, int max, int *more);

/* ---- signed tokens (mail_token.c) ----------------------------------------------------------- */
#define MAIL_TOKEN_MAX		128
#define MAIL_RESET_LIFETIME_MS	(30 * 60 * 1000)
#define MAIL_VERIFY_LIFETIME_MS (24LL * 3600 * 1000)

/* The unsubscribe token for (account, project or NULL, kind): base64url of
 * the fields and a 128-bit HMAC under a key derived from the session key. */
int mail_unsub_token(struct app *a, const uint8_t account_id[DB_ID_LEN], const uint8_t *project_id,
		     int kind, char *out, size_t outlen);
/* Verify one: 0 with the fields, or AM_ERR_DENIED. */
int mail_unsub_verify(struct app *a, const char *token, uint8_t account_id[DB_ID_LEN],
		      uint8_t project_id[DB_ID_LEN], int *has_project, int *kind);
/* A password-reset token for acct valid until expires_ms: the MAC also covers
 * the account's current password hash, so the first reset (which changes it)
 * spends every token issued before, and the blind index of its current
 * address, so a successful reset proves that address. */
int mail_reset_token(struct app *a, const struct db_account *acct, int64_t expires_ms, char *out,
		     size_t outlen);
/* Verify a reset token at now_ms: 0 with the account in *acct, or
 * AM_ERR_DENIED (malformed, forged, expired, spent, account gone). */
int mail_reset_verify(struct app *a, struct db *db, const char *token, int64_t now_ms,
		      struct db_account *acct);
/* An address-verification token for acct valid until expires_ms: the MAC
 * covers acct->email_index, so it stops verifying once the address changes. */
int mail_verify_token(struct app *a, const struct db_account *acct, int64_t expires_ms, char *out,
		      size_t outlen);
/* Check one at now_ms: 0 with the (open) account in *acct, whose
 * email_index is the address the token proves; AM_ERR_DENIED when
 * malformed, forged, for another address, of a closed or unknown account,
 * or expired (then *expired = 1: only ever for an authentic token). A token
 * does not get spent: verifying twice is harmless. */
int mail_verify_check(struct app *a, struct db *db, const char *token, int64_t now_ms,
		      struct db_account *acct, int *expired);

#endif
