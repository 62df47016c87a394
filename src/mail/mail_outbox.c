/*
 * mail_outbox.c: the delivery side of the outbox (docs/mail.md "Guarantees"):
 * compose the mail of due comment events (mail_event.c), flush due comment
 * digests into the outbox, then claim due messages one at
 * a time under a lease (the claim commits attempts + 1 and the lease before
 * any byte goes to the SMTP server), send, and delete the message once the
 * server accepted it; a failure schedules the next attempt with exponential
 * back-off, a permanent one (5xx) or the last allowed attempt drops the
 * message with its reason recorded. Finally it makes sure a "mail" job is
 * queued for whatever is left. Runs in the worker role; holds no
 * transaction while talking to the SMTP server.
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "mail/mail.h"
#include "repo/repo.h"

#define BACKOFF_BASE_MS	 (60 * 1000)
#define BACKOFF_CAP_MS	 (6LL * 3600 * 1000)
#define FAILED_KEEP_MS	 (30LL * 86400 * 1000) /* dropped messages are kept this long */
#define DIGESTS_PER_PUMP 50

int64_t mail_backoff_ms(int64_t attempts)
{
	int64_t d = BACKOFF_BASE_MS;

	for (int64_t i = 1; i < attempts && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	return d < BACKOFF_CAP_MS ? d : BACKOFF_CAP_MS;
}

void mail_log_id(enum am_log_level lv, const char *event, const char *what,
		 const uint8_t id[DB_ID_LEN], int64_t attempt, const char *reason)
{
	static const char hx[] = "0123456789abcdef";
	char hex[2 * DB_ID_LEN + 1], n[24];

	for (int i = 0; i < DB_ID_LEN; i++) {
		hex[2 * i] = hx[id[i] >> 4];
		hex[2 * i + 1] = hx[id[i] & 15];
	}
	hex[2 * DB_ID_LEN] = 0;
	snprintf(n, sizeof(n), "%lld", (long long)attempt);
	am_log(lv, event, what, hex, "attempt", n, "reason", reason);
}

/* The message is out: forget it. A database hiccup here would let the lease
 * run out and the message go again, so try a few times. */
static void mark_sent(struct db *db, const struct db_mail *m)
{
	for (int i = 0; i < 3; i++)
		if (db_mail_sent(db, m->id) == 0 || i == 2)
			return;
}

/* Claim and send one due message: 0, AM_ERR_NOTFOUND (none due), or a
 * database error. */
static int deliver_one(struct app *a, struct db *db, int *sent)
{
	int64_t max = a->conf.mail_max_attempts, now = am_now_ms();
	struct db_mail m;
	char err[256];
	int rc = db_mail_claim(db, a->keys, now, MAIL_LEASE_MS, &m);

	if (rc)
		goto out;
	if (m.attempts > max) {
		/* Its lease ran out during the last allowed attempt (worker lost). */
		rc = db_mail_failed(db, m.id, "dropped: the lease of the last attempt expired", now,
				    max);
		mail_log_id(AM_LOG_WARN, "mail_dropped", "mail", m.id, m.attempts - 1,
			    "lease expired on the last attempt");
		goto out;
	}
	mail_log_id(AM_LOG_INFO, "mail_sending", "mail", m.id, m.attempts, NULL);
	rc = mail_smtp_send(&a->conf, m.recipient, m.body.p, m.body.len, err, sizeof(err));
	if (rc == 0) {
		mark_sent(db, &m);
		mail_log_id(AM_LOG_INFO, "mail_sent", "mail", m.id, m.attempts, NULL);
		if (sent)
			(*sent)++;
	} else if (rc == AM_ERR_UNAVAIL && m.attempts < max) {
		rc = db_mail_failed(db, m.id, err, now + mail_backoff_ms(m.attempts), max);
		mail_log_id(AM_LOG_WARN, "mail_retry", "mail", m.id, m.attempts, err);
	} else {
		rc = db_mail_failed(db, m.id, err[0] ? err : "invalid message or address", now,
				    m.attempts);
		mail_log_id(AM_LOG_ERROR, "mail_dropped", "mail", m.id, m.attempts,
			    err[0] ? err : "invalid");
	}
out:
	am_buf_cleanup(&m.body);
	am_memzero(&m, sizeof(m));
	return rc;
}

struct due {
	uint8_t pid[DIGESTS_PER_PUMP][DB_ID_LEN], aid[DIGESTS_PER_PUMP][DB_ID_LEN];
	int n;
};

static int due_cb(void *ctx, const uint8_t pid[DB_ID_LEN], const uint8_t aid[DB_ID_LEN])
{
	struct due *d = ctx;

	if (d->n < DIGESTS_PER_PUMP) {
		memcpy(d->pid[d->n], pid, DB_ID_LEN);
		memcpy(d->aid[d->n++], aid, DB_ID_LEN);
	}
	return 0;
}

static int flush_digests(struct app *a, struct db *db, int64_t now)
{
	int64_t interval = a->conf.mail_digest_minutes * 60000;
	struct due d = {.n = 0};
	int rc = db_mail_digest_due(db, now - interval, DIGESTS_PER_PUMP, due_cb, &d);

	for (int i = 0; i < d.n && rc == 0; i++)
		rc = mail_digest_flush_project(a, db, d.pid[i], d.aid[i]);
	return rc;
}

/* Queue the next wake-up: the earliest retry, lease end, digest or event due. */
static int schedule(struct app *a, struct db *db)
{
	int64_t next = 0, oldest = 0, at = INT64_MAX;
	int rc = db_mail_next_due(db, &next);

	if (rc == 0)
		at = next;
	else if (rc != AM_ERR_NOTFOUND)
		return rc;
	rc = db_mail_digest_oldest(db, &oldest);
	if (rc == 0 && oldest + a->conf.mail_digest_minutes * 60000 < at)
		at = oldest + a->conf.mail_digest_minutes * 60000;
	else if (rc && rc != AM_ERR_NOTFOUND)
		return rc;
	rc = db_mail_event_next(db, &next);
	if (rc == 0 && next < at)
		at = next;
	else if (rc && rc != AM_ERR_NOTFOUND)
		return rc;
	return at == INT64_MAX ? 0 : db_mail_wake(db, at);
}

int mail_outbox_pump(struct app *a, int max, int *sent)
{
	struct db *db = NULL;
	char err[256];
	int more = 0, rc;

	if (sent)
		*sent = 0;
	if (!mail_enabled(&a->conf))
		return 0;
	if (mail_config_check(&a->conf, err, sizeof(err))) {
		am_log(AM_LOG_ERROR, "mail_config", "error", err);
		return AM_ERR_INVAL;
	}
	if ((rc = app_db_get(a, &db)))
		return rc;
	/* Events first: a digest then holds every comment committed before it
	 * (unless more events were due than one pump takes: the digests wait
	 * for the next pump, which schedule() makes due at once). */
	if ((rc = mail_events_run(a, db, am_now_ms(), MAIL_EVENTS_PER_PUMP, &more)) ||
	    (!more && (rc = flush_digests(a, db, am_now_ms()))))
		goto out;
	for (int i = 0; i < (max > 0 ? max : 100); i++)
		if ((rc = deliver_one(a, db, sent)))
			break;
	if (rc && rc != AM_ERR_NOTFOUND)
		goto out;
	db_mail_purge_failed(db, am_now_ms() - FAILED_KEEP_MS, NULL);
	rc = schedule(a, db);
out:
	app_db_put(a, db);
	return rc;
}
