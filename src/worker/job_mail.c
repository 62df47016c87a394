/*
 * job_mail.c: the worker's "mail" handler (docs/mail.md): a "mail" job is
 * only a wake-up call, queued with every outbox message and every guest
 * comment's mail event, for the moment a comment digest falls due, and by
 * the pump itself for the next retry or lease end. Running it composes due
 * comment events, flushes due digests and delivers due messages through
 * mail_outbox_pump, whose per-event transactions and per-message leases
 * (not this job's) make it safe when several workers pump at once. Runs in
 * the worker role.
 */
#include <stdio.h>

#include "mail/mail.h"
#include "worker/worker.h"

#define MESSAGES_PER_JOB 20 /* keeps one job well inside its lease; the rest gets its own job */

int worker_mail(struct worker_job *j)
{
	int sent = 0, rc = mail_outbox_pump(j->app, MESSAGES_PER_JOB, &sent);

	if (rc) {
		snprintf(j->reason, sizeof(j->reason), "mail outbox: %s", am_strerror(rc));
		j->permanent = 0;
	}
	return rc;
}
