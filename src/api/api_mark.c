/*
 * api_mark.c: the listener mark's API (issue 26, docs/api.md "Listener
 * marks"): the owner's per-project settings (marking on/off, strength,
 * marked downloads) and a guest's mark ticket: the guest session's own mark
 * row, made when it is first asked for (random 64-bit payload, keyed lookup
 * under the project's watermark key), returned as a short-lived MAC'd ticket
 * that the media role turns into the listener's A/B fragment choice. The row
 * is chosen only by the browser's guest-session cookie: no id a guest sends
 * can name another listener's row. Runs in the web role on untrusted input.
 */
#include <math.h>
#include <string.h>

#include "access/access.h"
#include "api/api_int.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "repo/repo.h"

#define MARK_TRIES 3 /* payload draws before giving up (a clash is 2^-64 per pair) */

/* A guest asks once per page load; 2 a second with a burst of 20 per
 * address and 20 a second per project is plenty. */
static const struct api_limit LIMIT_MARK_IP = {"mark-ip", 500, 20};
static const struct api_limit LIMIT_MARK_PROJECT = {"mark-project", 50, 200};

static json_t *settings_json(const struct db_mark_settings *s, int64_t marks)
{
	return json_pack("{s:b,s:f,s:b,s:f,s:f,s:I}", "on", s->on, "strength", s->strength / 1000.0,
			 "downloads", s->downloads, "strength_min", DB_MARK_STRENGTH_MIN / 1000.0,
			 "strength_max", DB_MARK_STRENGTH_MAX / 1000.0, "listeners",
			 (json_int_t)marks);
}

static int settings_reply(struct api_ctx *c, const uint8_t pid[DB_ID_LEN])
{
	struct db_mark_settings s;
	int64_t n = 0;
	int rc;

	if ((rc = db_mark_settings_get(c->db, pid, &s)) || (rc = db_mark_count(c->db, pid, &n)))
		return rc;
	return api_reply(c, 200, json_pack("{s:o}", "mark", settings_json(&s, n)));
}

int api_mark_settings_get(struct api_ctx *c)
{
	struct db_project p;
	int rc;

	if ((rc = api_owner_project(c, "id", &p)))
		return rc;
	return settings_reply(c, p.id);
}

/* "strength": a number in [min, max], kept to thousandths. */
static int strength_field(struct api_ctx *c, int *out)
{
	json_t *v = json_object_get(c->body, "strength");
	double d;

	if (!v)
		return 0;
	d = json_is_number(v) ? json_number_value(v) : -1;
	if (!(d >= DB_MARK_STRENGTH_MIN / 1000.0 - 1e-9 &&
	      d <= DB_MARK_STRENGTH_MAX / 1000.0 + 1e-9))
		return api_err(c, AM_ERR_INVAL,
			       "field \"strength\" must be a number from 0.05 to 0.6");
	*out = (int)lround(d * 1000.0);
	return 0;
}

int api_mark_settings_put(struct api_ctx *c)
{
	struct db_mark_settings s;
	struct db_project p;
	int on = 0, dl = 0, has_on = 0, has_dl = 0, queued = 0, rc;

	if ((rc = api_owner_project(c, "id", &p)) || (rc = db_mark_settings_get(c->db, p.id, &s)) ||
	    (rc = api_bool(c, "on", 0, &on, &has_on)) ||
	    (rc = api_bool(c, "downloads", 0, &dl, &has_dl)) ||
	    (rc = strength_field(c, &s.strength)))
		return rc;
	if (has_on)
		s.on = on;
	if (has_dl)
		s.downloads = dl;
	if ((rc = db_mark_settings_set(c->db, c->acct.id, p.id, &s)))
		return rc;
	/* marking on (or a new strength): A and B for every ready version
	 * that lacks them at this strength (src/worker/job_mark_ab.c) */
	if (s.on && (rc = db_vmark_enqueue_project(c->db, p.id, &queued)))
		return rc;
	if (has_on)
		api_event(c, p.id, on ? "marking_enabled" : "marking_disabled", NULL, NULL);
	return settings_reply(c, p.id);
}

int api_mark_lookup(const struct crypto_wm_key *wk, const uint8_t payload[DB_MARK_PAYLOAD_LEN],
		    uint8_t out[DB_MARK_LOOKUP_LEN])
{
	return crypto_wm_prf(wk, "am-wm-lookup-v1", payload, DB_MARK_PAYLOAD_LEN, out,
			     DB_MARK_LOOKUP_LEN);
}

int api_mark_wm_key(struct api_ctx *c, const struct db_project *p, struct crypto_wm_key **wk)
{
	struct crypto_pk *pk = NULL;
	int rc;

	*wk = NULL;
	if ((rc = crypto_pk_open(c->api->app->kr, p->id, p->wrapped_pk, p->wrapped_pk_len, &pk)) ==
	    0)
		rc = crypto_wm_key_project(pk, wk);
	crypto_pk_free(pk);
	return rc;
}

/* The session's mark row: found, or made with a fresh payload. */
static int guest_mark(struct api_ctx *c, const struct db_project *p, const uint8_t lid[DB_ID_LEN],
		      const uint8_t hash[DB_SESSION_HASH_LEN], const char *name, struct db_mark *m)
{
	struct crypto_wm_key *wk = NULL;
	uint8_t payload[DB_MARK_PAYLOAD_LEN], lookup[DB_MARK_LOOKUP_LEN];
	int created = 0, rc;

	if ((rc = api_mark_wm_key(c, p, &wk)))
		goto out;
	rc = AM_ERR_EXISTS;
	for (int i = 0; i < MARK_TRIES && rc == AM_ERR_EXISTS; i++) {
		struct db_mark_new in = {p->id, lid, hash, name, payload, lookup, am_now_ms()};

		if ((rc = crypto_random(payload, sizeof(payload))) ||
		    (rc = api_mark_lookup(wk, payload, lookup)))
			break;
		rc = db_mark_get_or_create(c->db, c->api->app->keys, &in, m, &created);
	}
	if (rc == 0 && created)
		api_event(c, p->id, "mark_assigned", NULL, name);
out:
	am_memzero(payload, sizeof(payload));
	crypto_wm_key_free(wk);
	return rc;
}

/* A reviewer name: no control characters. */
static int name_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int api_guest_mark(struct api_ctx *c)
{
	uint8_t pseudo[16], hash[DB_SESSION_HASH_LEN];
	char ticket[ACCESS_MARK_TICKET_MAX];
	struct access_mark_ticket t;
	struct db_mark_settings s;
	struct db_link link;
	struct db_project p;
	struct db_mark m;
	const char *name = NULL;
	int replied = 0, rc;

	if ((rc = api_guest_authorized(c, &link, &p, &replied)) || replied)
		return rc;
	if ((rc = api_client_pseudo(c, pseudo, NULL)) ||
	    (rc = api_rate(c, &LIMIT_MARK_IP, p.id, DB_ID_LEN, pseudo, sizeof(pseudo))) ||
	    (rc = api_rate(c, &LIMIT_MARK_PROJECT, p.id, DB_ID_LEN, NULL, 0)) ||
	    (rc = api_str(c, "name", 1, API_GUEST_NAME_MAX, 1, &name)))
		return rc;
	if (!name_ok(name))
		return api_err(c, AM_ERR_INVAL, "field \"name\" must not hold control characters");
	if ((rc = db_mark_settings_get(c->db, p.id, &s)))
		return rc;
	if (!s.on)
		return api_err(c, AM_ERR_CONFLICT, "this project does not mark its audio");
	if ((rc = api_guest_session(c, link.id, 1, hash)) ||
	    (rc = guest_mark(c, &p, link.id, hash, name, &m)))
		return rc;
	memcpy(t.project_id, p.id, DB_ID_LEN);
	memcpy(t.link_id, link.id, DB_ID_LEN);
	memcpy(t.mark_id, m.id, DB_ID_LEN);
	t.expires = access_url_expiry(c->api->app);
	rc = access_mark_ticket_mint(c->api->app, &t, ticket, sizeof(ticket));
	am_memzero(&m, sizeof(m));
	if (rc)
		return rc;
	/* downloads: the project's originals reach this guest marked (issue 26,
	 * media_markdl.c): not bit-identical, which the page says. */
	return api_reply(c, 200,
			 json_pack("{s:s,s:I,s:b}", "ticket", ticket, "expires",
				   (json_int_t)t.expires, "downloads", s.downloads && p.downloads));
}
