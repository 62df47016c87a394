/*
 * mail_event.c: the worker's half of a guest comment's notification
 * (docs/mail.md "Events"). Posting a comment composes no mail: its
 * transaction records an event (comment and project ids, a time) and a due
 * "mail" job. The mail pump (mail_outbox.c) calls mail_events_run before it
 * flushes digests, so a digest holds every comment committed before it.
 * Each event is composed in one transaction that also deletes it: the
 * outbox mail or digest item and the event's end commit together, so a
 * crash leaves the event to compose again and nothing sent, and two
 * workers cannot both compose one event (the second finds it gone). A
 * failed composition is retried with back-off, then dropped. Runs in the
 * worker role; trusted (holds the keys that open the comment).
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "mail/mail.h"
#include "repo/repo.h"

struct due_events {
	uint8_t ids[MAIL_EVENTS_PER_PUMP][DB_ID_LEN];
	int n;
};

static int due_cb(void *ctx, const uint8_t cid[DB_ID_LEN])
{
	struct due_events *d = ctx;

	if (d->n < MAIL_EVENTS_PER_PUMP)
		memcpy(d->ids[d->n++], cid, DB_ID_LEN);
	return 0;
}

/* Take the event and compose its mail in one transaction. 0 (composed,
 * nothing to send, or another worker took it), or the error that rolled
 * it back (the event stays). *attempts gets its failed attempts so far. */
static int compose_one(struct app *a, struct db *db, const uint8_t cid[DB_ID_LEN],
		       int64_t *attempts)
{
	struct db_mail_event ev;
	int rc = db_begin_write(db);

	if (rc)
		return rc;
	rc = db_mail_event_take(db, cid, &ev);
	if (rc == AM_ERR_NOTFOUND) { /* another worker composed it */
		db_rollback(db);
		return 0;
	}
	*attempts = ev.attempts;
	if (rc == 0)
		rc = mail_notify_comment(a, db, ev.project_id, ev.comment_id, ev.created);
	/* The project was deleted (or shredded) meanwhile: nothing to say. */
	if (rc == AM_ERR_NOTFOUND || rc == AM_ERR_CRYPTO)
		rc = 0;
	if (rc) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db);
}

/* Composing failed: the next attempt after back-off, or the end. */
static int retry_later(struct app *a, struct db *db, const uint8_t cid[DB_ID_LEN], int64_t attempts,
		       int err, int64_t now)
{
	int64_t max = a->conf.mail_max_attempts > 0 ? a->conf.mail_max_attempts : 1;
	int dropped = 0,
	    rc = db_mail_event_failed(db, cid, now + mail_backoff_ms(attempts + 1), max, &dropped);

	if (rc == AM_ERR_NOTFOUND)
		return 0;
	if (rc == 0)
		mail_log_id(dropped ? AM_LOG_ERROR : AM_LOG_WARN,
			    dropped ? "mail_event_dropped" : "mail_event_retry", "comment", cid,
			    attempts + 1, am_strerror(err));
	return rc;
}

int mail_events_run(struct app *a, struct db *db, int64_t now, int max, int *more)
{
	struct due_events d = {.n = 0};
	int rc;

	if (more)
		*more = 0;
	if (max <= 0 || max > MAIL_EVENTS_PER_PUMP)
		max = MAIL_EVENTS_PER_PUMP;
	rc = db_mail_event_due(db, now, max, due_cb, &d);
	for (int i = 0; i < d.n && rc == 0; i++) {
		int64_t attempts = 0;
		int crc = compose_one(a, db, d.ids[i], &attempts);

		if (crc)
			rc = retry_later(a, db, d.ids[i], attempts, crc, now);
	}
	if (more)
		*more = rc == 0 && d.n >= max;
	return rc;
}
