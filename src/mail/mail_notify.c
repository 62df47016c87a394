/*
 * mail_notify.c: which notification an owner wants (account-wide bits and
 * per-project overrides, all off by default), the text of each message, and
 * queueing it in the outbox inside the transaction of the event that caused
 * it: a locked project password, a regenerated share link, a changed
 * password, a sign-in from a new device; a guest comment's event (written
 * by its transaction, mail_event.c) becomes a reply mail at once or a
 * digest item, mailed as one digest per project per mail_digest_minutes.
 * Runs in the web role (account and project events) and the worker role
 * (comment events, digests). Messages hold the owner's own data and the guest's
 * chosen name, never a guest's address or pseudonym.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "mail/mail.h"
#include "repo/repo.h"

#define DIGEST_SHOWN 30	 /* comments written out in one digest */
#define DIGEST_TAKEN 200 /* items one digest takes out */
#define EXCERPT_MAX  280 /* bytes of a comment shown */

static const char *const kind_names[MAIL_NKINDS] = {
    "comments", "replies", "password_locked", "link_regenerated", "password_changed", "new_login"};

const char *mail_kind_name(int kind)
{
	for (int i = 0; i < MAIL_NKINDS; i++)
		if (kind == (1 << i))
			return kind_names[i];
	return NULL;
}

int mail_kind_parse(const char *name)
{
	for (int i = 0; i < MAIL_NKINDS; i++)
		if (name && strcmp(name, kind_names[i]) == 0)
			return 1 << i;
	return 0;
}

int mail_wanted(struct db *db, const uint8_t account_id[DB_ID_LEN], const uint8_t *project_id,
		int kind, int *on)
{
	int64_t acc = 0, pon = 0, poff = 0, verified = 0;
	int rc;

	*on = 0;
	/* Opt-in mail goes only to an address its owner proved (docs/mail.md
	 * "Verification"): for an unverified one nothing is queued at all. */
	if ((rc = db_account_email_verified(db, account_id, &verified)) || !verified)
		return rc;
	if ((rc = db_mail_prefs_account_get(db, account_id, &acc)))
		return rc;
	if (project_id && (rc = db_mail_prefs_project_get(db, account_id, project_id, &pon, &poff)))
		return rc;
	*on = (pon & kind) || ((acc & kind) && !(poff & kind));
	return 0;
}

/* Copy at most max bytes of s without cutting a UTF-8 character; "…" marks a cut. */
static void excerpt(const char *s, char *out, size_t outsz, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n + 4 > outsz)
		n = 0;
	memcpy(out, s, n);
	out[n] = 0;
	if (n < strlen(s))
		memcpy(out + n, "\xe2\x80\xa6", 4);
}

static void fmt_time(int64_t ms, char *out, size_t outsz)
{
	int64_t s = ms / 1000;

	if (s >= 3600)
		snprintf(out, outsz, "%lld:%02lld:%02lld", (long long)(s / 3600),
			 (long long)(s / 60 % 60), (long long)(s % 60));
	else
		snprintf(out, outsz, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
}

/* Build and enqueue one message to acct (inside the caller's transaction)
 * and wake a worker. unsub_kind 0: transactional, no List-Unsubscribe. */
static int enqueue(struct app *a, struct db *db, const struct db_account *acct,
		   const uint8_t *project_id, int unsub_kind, const char *subject, const char *text)
{
	char token[MAIL_TOKEN_MAX], url[CONF_STR_MAX + MAIL_TOKEN_MAX + 32], label[64];
	struct mail_msg m = {.from = a->conf.mail_from,
			     .to = acct->email,
			     .subject = subject,
			     .text = text,
			     .link_base = a->conf.public_url};
	struct am_buf msg;
	uint8_t id[DB_ID_LEN];
	int64_t now = am_now_ms();
	int rc;

	am_buf_init(&msg, MAIL_MSG_MAX);
	m.date = now / 1000;
	if ((rc = crypto_random(m.msgid, sizeof(m.msgid))))
		goto out;
	if (unsub_kind) {
		if ((rc = mail_unsub_token(a, acct->id, project_id, unsub_kind, token,
					   sizeof(token))))
			goto out;
		snprintf(url, sizeof(url), "%s/api/v1/unsubscribe/%s", a->conf.public_url, token);
		m.unsubscribe_url = url;
	}
	/* The outbox keeps the kind as its subject column: the real subject is
	 * inside the sealed message, nothing else needs it. */
	snprintf(label, sizeof(label), "%s", unsub_kind ? mail_kind_name(unsub_kind) : "account");
	if ((rc = mail_build(&m, &msg)) ||
	    (rc = db_mail_enqueue(db, a->keys, acct->id, acct->email, label, (const char *)msg.p,
				  now, id)))
		goto out;
	rc = db_mail_wake(db, now);
out:
	am_buf_cleanup(&msg);
	return rc;
}

int mail_send_account(struct app *a, struct db *db, const struct db_account *acct,
		      const char *subject, const char *text)
{
	if (!mail_enabled(&a->conf))
		return AM_ERR_UNAVAIL;
	return enqueue(a, db, acct, NULL, 0, subject, text);
}

static const char footer_fmt[] =
    "\n--\nYou receive this because \"%s\" e-mails are on in your audiomus "
    "notification settings%s.\nTurn them off with the unsubscribe link of this "
    "message, or in the settings at %s\n";

/* Subject and text of one event notification. */
static int compose(struct app *a, int kind, const char *title, const char *detail, char *subj,
		   size_t sn, struct am_buf *t)
{
	char when[64];
	time_t now = (time_t)am_now();
	struct tm tm;
	int rc;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	switch (kind) {
	case MAIL_PW_LOCKED:
		snprintf(subj, sn, "Project \"%s\" stopped taking passwords", title);
		rc = am_buf_printf(
		    t,
		    "Your project \"%s\" received 100 wrong passwords in a row (last at %s) and "
		    "now refuses every attempt.\n\nSet a new project password to reopen it.\n",
		    title, when);
		break;
	case MAIL_LINK_REGEN:
		snprintf(subj, sn, "Share link regenerated for \"%s\"", title);
		rc = am_buf_printf(t,
				   "A share link of your project \"%s\" was regenerated at %s "
				   "(%s).\nEvery copy of "
				   "the old link stopped working.\n\nIf you did not do this, "
				   "change your password.\n",
				   title, when, detail ? detail : "a named link");
		break;
	case MAIL_PW_CHANGED:
		snprintf(subj, sn, "Your audiomus password was changed");
		rc = am_buf_printf(
		    t,
		    "The password of your audiomus account was changed at %s%s.\nOther sessions "
		    "were signed out.\n\nIf you did not do this, reset your password now.\n",
		    when, detail ? detail : "");
		break;
	case MAIL_NEW_LOGIN:
		snprintf(subj, sn, "New sign-in to your audiomus account");
		rc = am_buf_printf(
		    t,
		    "Your audiomus account was signed in to from a device it had not seen "
		    "before, at %s.\nBrowser: %s\n\nIf this was not you, change your password and "
		    "sign out the other sessions.\n",
		    when, detail && *detail ? detail : "(not given)");
		break;
	default: return AM_ERR_INVAL;
	}
	return rc;
}

static int notify_account(struct app *a, struct db *db, const uint8_t account_id[DB_ID_LEN],
			  const uint8_t *project_id, int kind, const char *subject,
			  struct am_buf *text)
{
	struct db_account acct;
	int rc = db_account_get(db, a->keys, account_id, &acct);
	int send = rc == 0 && !acct.disabled &&
		   acct.email_verified; /* mail_wanted checked; re-read here */

	if (send)
		rc = am_buf_printf(text, footer_fmt, mail_kind_name(kind),
				   project_id ? " for this project" : "", a->conf.public_url);
	if (send && rc == 0)
		rc = enqueue(a, db, &acct, project_id, kind, subject,
			     text->p ? (const char *)text->p : "");
	am_memzero(&acct, sizeof(acct));
	return rc;
}

int mail_notify(struct app *a, struct db *db, const uint8_t account_id[DB_ID_LEN],
		const uint8_t *project_id, int kind, const char *detail)
{
	char subject[DB_TITLE_MAX + 64];
	struct db_project p;
	struct am_buf text;
	int on = 0, rc;

	if (!mail_enabled(&a->conf) || !mail_kind_name(kind) ||
	    (!project_id && (kind & MAIL_KINDS_PROJECT)))
		return 0;
	if ((rc = mail_wanted(db, account_id, project_id, kind, &on)) || !on)
		return rc == AM_ERR_NOTFOUND ? 0 : rc;
	am_buf_init(&text, MAIL_MSG_MAX / 4);
	if (project_id && (rc = db_project_get(db, a->keys, account_id, project_id, &p)))
		goto out;
	if ((rc = compose(a, kind, project_id ? p.title : "", detail, subject, sizeof(subject),
			  &text)))
		goto out;
	rc = notify_account(a, db, account_id, project_id, kind, subject, &text);
out:
	am_buf_cleanup(&text);
	return rc;
}

/* s on one line, quotes and control characters made spaces (a guest name). */
static void one_line(const char *s, char *out, size_t outsz)
{
	size_t i = 0;

	for (; s[i] && i + 1 < outsz; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' ? ' ' : s[i];
	out[i] = 0;
}

/* "Reviewer "Name" (the name they typed) commented at 1:23 on "Track":"
 * and the comment's excerpt, quoted: everything the guest wrote is marked
 * as theirs, so none of it reads as audiomus's own text. */
static int comment_text(struct app *a, struct db *db, const struct db_comment *cm, const char *verb,
			struct am_buf *t)
{
	char at[32], body[EXCERPT_MAX + 8], name[DB_NAME_MAX + 1];
	struct db_version v;
	struct db_track tr;
	const char *track = "a track";
	int rc;

	if (db_version_get(db, a->keys, cm->project_id, cm->version_id, &v) == 0 &&
	    db_track_get(db, a->keys, cm->project_id, v.track_id, &tr) == 0)
		track = tr.title;
	fmt_time(cm->time_ms, at, sizeof(at));
	excerpt(cm->body, body, sizeof(body), EXCERPT_MAX);
	one_line(cm->has_guest ? cm->author : "", name, sizeof(name));
	if (cm->has_guest)
		rc = am_buf_printf(t, "Reviewer \"%s\" (the name they typed) %s at %s on \"%s\":\n",
				   name, verb, at, track);
	else
		rc = am_buf_printf(t, "You %s at %s on \"%s\":\n", verb, at, track);
	if (rc == 0)
		rc = mail_quote_append(t, body);
	return rc ? rc : am_buf_puts(t, "\n");
}

static int notify_reply(struct app *a, struct db *db, const struct db_project *p,
			const struct db_comment *cm)
{
	char subject[DB_TITLE_MAX + 64];
	struct am_buf text;
	int rc;

	am_buf_init(&text, MAIL_MSG_MAX / 4);
	snprintf(subject, sizeof(subject), "New reply on \"%s\"", p->title);
	if ((rc = comment_text(a, db, cm, "replied", &text)) == 0)
		rc = notify_account(a, db, p->account_id, p->id, MAIL_REPLIES, subject, &text);
	am_buf_cleanup(&text);
	return rc;
}

/* What the comment asks for: a reply mail now, a digest item, or nothing. */
static int notify_comment(struct app *a, struct db *db, const struct db_project *p,
			  const struct db_comment *cm, int64_t posted)
{
	int64_t oldest = 0;
	int on = 0, rc = 0;

	if (cm->has_parent &&
	    (rc = mail_wanted(db, p->account_id, p->id, MAIL_REPLIES, &on)) == 0 && on)
		return notify_reply(a, db, p, cm);
	if (rc || (rc = mail_wanted(db, p->account_id, p->id, MAIL_COMMENTS, &on)) || !on)
		return rc;
	if ((rc = db_mail_digest_add(db, p->account_id, p->id, cm->id, posted, &oldest)))
		return rc;
	return db_mail_wake(db, oldest + a->conf.mail_digest_minutes * 60000);
}

int mail_notify_comment(struct app *a, struct db *db, const uint8_t project_id[DB_ID_LEN],
			const uint8_t comment_id[DB_ID_LEN], int64_t posted)
{
	struct db_project p;
	struct db_comment cm;
	int rc;

	if (!mail_enabled(&a->conf))
		return 0;
	if ((rc = db_project_get_by_id(db, a->keys, project_id, &p)) ||
	    (rc = db_comment_get(db, a->keys, p.id, comment_id, &cm)))
		return rc;
	/* The owner's own comments notify nobody; a comment deleted before
	 * the worker came to it is not mailed (as in a digest). */
	if (cm.has_guest && !cm.deleted)
		rc = notify_comment(a, db, &p, &cm, posted);
	am_memzero(&cm, sizeof(cm));
	return rc;
}

/* ---- digests (worker) ------------------------------------------------------------------- */

struct digest {
	struct app *a;
	struct db *db;
	const uint8_t *pid;
	struct am_buf *text;
	int shown, more, n;
	uint8_t ids[DIGEST_TAKEN][DB_ID_LEN];
};

static int digest_collect(void *ctx, const uint8_t cid[DB_ID_LEN])
{
	struct digest *d = ctx;

	if (d->n < DIGEST_TAKEN)
		memcpy(d->ids[d->n++], cid, DB_ID_LEN);
	return 0;
}

/* Take one item out and write its comment into the digest. */
static int digest_item(struct digest *d, const uint8_t cid[DB_ID_LEN])
{
	struct db_comment cm;
	int rc = db_mail_digest_remove(d->db, d->pid, cid);

	if (rc) /* another flush took it: leave the whole digest to that one */
		return rc == AM_ERR_NOTFOUND ? AM_ERR_CONFLICT : rc;
	if (!d->text || db_comment_get(d->db, d->a->keys, d->pid, cid, &cm) != 0 || cm.deleted)
		return 0;
	if (d->shown >= DIGEST_SHOWN) {
		d->more++;
		return 0;
	}
	d->shown++;
	return comment_text(d->a, d->db, &cm, "commented", d->text);
}

static int digest_send(struct app *a, struct db *db, const struct db_project *p, struct digest *d)
{
	char subject[DB_TITLE_MAX + 64];
	struct am_buf full;
	int rc;

	am_buf_init(&full, MAIL_MSG_MAX / 2);
	snprintf(subject, sizeof(subject), "%d new comment%s on \"%s\"", d->shown + d->more,
		 d->shown + d->more == 1 ? "" : "s", p->title);
	if ((rc = am_buf_printf(&full, "%s:\n\n", subject)) == 0 && d->text->len)
		rc = am_buf_append(&full, d->text->p, d->text->len);
	if (rc == 0 && d->more)
		rc = am_buf_printf(&full, "... and %d more: open the project to read them all.\n",
				   d->more);
	if (rc == 0)
		rc = notify_account(a, db, p->account_id, p->id, MAIL_COMMENTS, subject, &full);
	am_buf_cleanup(&full);
	return rc;
}

int mail_digest_flush_project(struct app *a, struct db *db, const uint8_t project_id[DB_ID_LEN],
			      const uint8_t account_id[DB_ID_LEN])
{
	struct am_buf text;
	struct db_project p;
	struct digest d;
	int on = 0, rc;

	memset(&d, 0, sizeof(d));
	d.a = a;
	d.db = db;
	d.pid = project_id;
	am_buf_init(&text, MAIL_MSG_MAX / 2);
	if ((rc = db_begin_write(db)))
		goto done;
	rc = db_project_get(db, a->keys, account_id, project_id, &p);
	if (rc == 0)
		rc = mail_wanted(db, account_id, project_id, MAIL_COMMENTS, &on);
	if (rc && rc != AM_ERR_NOTFOUND && rc != AM_ERR_CRYPTO)
		goto out;
	/* Opted out meanwhile, or the project is gone: the items just go. */
	d.text = rc == 0 && on && mail_enabled(&a->conf) ? &text : NULL;
	if ((rc = db_mail_digest_items(db, project_id, DIGEST_TAKEN, digest_collect, &d)))
		goto out;
	for (int i = 0; i < d.n; i++)
		if ((rc = digest_item(&d, d.ids[i])))
			goto out;
	if (d.text && d.shown + d.more > 0 && (rc = digest_send(a, db, &p, &d)))
		goto out;
	rc = db_commit(db);
	goto done;
out:
	db_rollback(db);
done:
	am_buf_cleanup(&text);
	return rc == AM_ERR_CONFLICT ? 0 : rc;
}
