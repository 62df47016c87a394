/*
 * api_queue.c: where each of a project's versions waits in the transcode
 * queue, for the owner's track list ("queued · 2nd in line", docs/api.md
 * "Tracks and uploads"). The queue is the jobs table, shared by every
 * account: the position counts the transcode jobs the workers will claim
 * before it (a number, never whose they are). Runs in the web process.
 */
#include <string.h>

#include "api/api_int.h"
#include "repo/repo.h"

/* Queued transcode jobs looked at, at most: beyond it a version shows no
 * place (the UI then says "queued"). */
#define QUEUE_SCAN_MAX 10000

struct queue_scan {
	const uint8_t *pid;
	json_t *out; /* version hex id -> 1-based position */
	int64_t n;   /* jobs seen so far */
};

static int queue_item(void *ctx, const struct db_job *j)
{
	struct queue_scan *q = ctx;
	json_t *payload, *v;
	int rc = 0;

	q->n++;
	if (!j->has_project || memcmp(j->project_id, q->pid, DB_ID_LEN) != 0)
		return 0;
	/* The payload names the version (upload_complete.c: ids, no user data). */
	payload = json_loadb((const char *)j->payload, j->payload_len, 0, NULL);
	v = json_object_get(payload, "version");
	if (json_is_string(v) && json_string_length(v) == 2 * DB_ID_LEN &&
	    json_object_set_new(q->out, json_string_value(v), json_integer(q->n)))
		rc = AM_ERR_NOMEM;
	json_decref(payload);
	return rc;
}

int api_queue_positions(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], json_t **out)
{
	struct queue_scan q = {.pid = pid, .out = json_object()};
	int rc;

	*out = NULL;
	if (!q.out)
		return AM_ERR_NOMEM;
	if ((rc = db_job_queued_list(c->db, "transcode", QUEUE_SCAN_MAX, queue_item, &q)) != 0) {
		json_decref(q.out);
		return rc;
	}
	*out = q.out;
	return 0;
}
