/*
 * api_listen.c: POST /api/v1/s/{token}/listen, the review page's listen
 * report (docs/api.md "Listen reports"): which parts of a version the
 * player played since its last report, the name the guest gave, and
 * whether playback started. Merged into the per-(listener, version)
 * coverage of src/repo/repo_listen.c at 1 s resolution; a start also
 * records a "listen" event carrying the name, link, track and version for
 * the owner's activity log. The listener is a pseudonym derived from a
 * random id the browser keeps (never the address). Runs in the web process
 * on untrusted input: the link, the password cookie and the version are
 * checked, the body is bounded (LISTEN_SPANS_MAX spans inside the
 * version's length) and the reports are rate limited per address
 * pseudonym and per project.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "crypto/crypto.h"
#include "repo/repo.h"

#define LISTEN_SPANS_MAX 64   /* [start_ms, end_ms] spans per report */
#define LISTEN_SLACK_MS	 2000 /* a span may end this far past the duration (rounding) */

/* A player reports every ~15 s and on pause/seek/end: 1 a second with a
 * burst of 30 per address, and 20 a second per project, is far above that
 * and far below what would let one client flood the database. */
static const struct api_limit LIMIT_LISTEN_IP = {"listen-ip", 1000, 30};
static const struct api_limit LIMIT_LISTEN_PROJECT = {"listen-project", 50, 400};

/* A guest name: no control characters (api_guest.c's rule). */
static int name_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Mark the seconds [start_ms, end_ms) touches in heard (nsec bits). */
static void mark(uint8_t *heard, int64_t nsec, int64_t start_ms, int64_t end_ms)
{
	int64_t a = start_ms / 1000, b = (end_ms + 999) / 1000;

	if (b > nsec)
		b = nsec;
	for (int64_t i = a; i < b; i++)
		heard[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* "heard": at most LISTEN_SPANS_MAX [start_ms, end_ms] pairs of integers,
 * 0 <= start < end <= duration + slack, into the bitmap of nsec seconds. */
static int spans_parse(struct api_ctx *c, int64_t duration_ms, int64_t nsec, uint8_t *heard)
{
	json_t *arr = json_object_get(c->body, "heard"), *sp;
	size_t i;

	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return api_err(c, AM_ERR_INVAL, "field \"heard\" must be an array");
	if (json_array_size(arr) > LISTEN_SPANS_MAX)
		return api_err(c, AM_ERR_TOOBIG, "field \"heard\" has too many spans");
	json_array_foreach(arr, i, sp)
	{
		json_t *a = json_array_get(sp, 0), *b = json_array_get(sp, 1);
		json_int_t s, e;

		if (!json_is_array(sp) || json_array_size(sp) != 2 || !json_is_integer(a) ||
		    !json_is_integer(b))
			return api_err(c, AM_ERR_INVAL,
				       "field \"heard\" must hold [start_ms, end_ms] pairs");
		s = json_integer_value(a);
		e = json_integer_value(b);
		if (s < 0 || e <= s || e > duration_ms + LISTEN_SLACK_MS)
			return api_err(c, AM_ERR_INVAL,
				       "a span of \"heard\" is outside the version");
		mark(heard, nsec, s, e);
	}
	return 0;
}

/* The listener pseudonym: SHA-256 of a label, the project and the
 * browser's 16 random bytes (32 hex in "listener"), cut to 16 bytes. */
static int listener_of(struct api_ctx *c, const uint8_t pid[DB_ID_LEN],
		       uint8_t out[DB_LISTENER_LEN])
{
	static const char label[] = "am-listener-v1";
	uint8_t in[sizeof(label) + 2 * DB_ID_LEN], raw[DB_ID_LEN], h[32];
	int rc;

	if ((rc = api_id_field(c, "listener", 1, raw, NULL)))
		return rc;
	memcpy(in, label, sizeof(label));
	memcpy(in + sizeof(label), pid, DB_ID_LEN);
	memcpy(in + sizeof(label) + DB_ID_LEN, raw, DB_ID_LEN);
	if ((rc = crypto_sha256(in, sizeof(in), h)))
		return rc;
	memcpy(out, h, DB_LISTENER_LEN);
	return 0;
}

/* The "listen" event of a start: ids and the name, sealed by the
 * repository like every event's details. */
static int listen_event(struct api_ctx *c, const struct db_listen_add *in,
			const struct db_version *v)
{
	char lh[2 * DB_ID_LEN + 1], who[2 * 8 + 1];
	json_t *d;
	char *s = NULL;
	int rc;

	for (int i = 0; i < 8; i++)
		snprintf(who + 2 * i, 3, "%02x", in->listener[i]);
	api_id_hex(in->link_id, lh);
	d = json_pack("{s:o,s:o,s:s,s:s,s:s}", "version", api_id_json(v->id), "track",
		      api_id_json(v->track_id), "link", lh, "listener", who, "name",
		      in->name ? in->name : "");
	if (!d || !(s = json_dumps(d, JSON_COMPACT))) {
		json_decref(d);
		return AM_ERR_NOMEM;
	}
	json_decref(d);
	rc = db_event_add(c->db, c->api->app->keys, in->project_id, "listen", NULL, s);
	free(s);
	return rc;
}

/* The merge and, for a start, its event: one transaction. */
static int listen_record(struct api_ctx *c, const struct db_listen_add *in,
			 const struct db_version *v)
{
	int rc = db_begin_write(c->db);

	if (rc)
		return rc;
	rc = db_listen_merge(c->db, c->api->app->keys, in);
	if (rc == 0 && in->play)
		rc = listen_event(c, in, v);
	if (rc) {
		db_rollback(c->db);
		return rc;
	}
	return db_commit(c->db);
}

int api_guest_listen(struct api_ctx *c)
{
	uint8_t vid[DB_ID_LEN], who[DB_LISTENER_LEN], pseudo[16], heard[DB_LISTEN_BYTES];
	struct db_link link;
	struct db_project p;
	struct db_version v;
	const char *name = NULL;
	int replied = 0, play = 0, rc;
	int64_t nsec;

	memset(heard, 0, sizeof(heard));
	if ((rc = api_guest_authorized(c, &link, &p, &replied)) || replied)
		return rc;
	if ((rc = api_client_pseudo(c, pseudo, NULL)) ||
	    (rc = api_rate(c, &LIMIT_LISTEN_IP, p.id, DB_ID_LEN, pseudo, sizeof(pseudo))) ||
	    (rc = api_rate(c, &LIMIT_LISTEN_PROJECT, p.id, DB_ID_LEN, NULL, 0)) ||
	    (rc = api_id_field(c, "version_id", 1, vid, NULL)) ||
	    (rc = api_str(c, "name", 0, API_GUEST_NAME_MAX, 0, &name)) ||
	    (rc = api_bool(c, "play", 0, &play, NULL)) || (rc = listener_of(c, p.id, who)))
		return rc;
	if (name && !name_ok(name))
		return api_err(c, AM_ERR_INVAL, "field \"name\" must not hold control characters");
	if (db_version_get(c->db, c->api->app->keys, p.id, vid, &v) != 0 ||
	    strcmp(v.state, "ready") != 0)
		return api_err(c, AM_ERR_NOTFOUND, "not found");
	nsec = (v.duration_ms + 999) / 1000;
	if (nsec > DB_LISTEN_MAX_S)
		nsec = DB_LISTEN_MAX_S;
	if ((rc = spans_parse(c, v.duration_ms, nsec, heard)))
		return rc;
	struct db_listen_add in = {.project_id = p.id,
				   .version_id = vid,
				   .listener = who,
				   .link_id = link.id,
				   .name = name,
				   .heard = heard,
				   .heard_len = (size_t)(nsec + 7) / 8,
				   .play = play,
				   .now = am_now_ms()};

	if ((rc = listen_record(c, &in, &v)))
		return rc;
	return http_respond_empty(c->req, 204);
}
