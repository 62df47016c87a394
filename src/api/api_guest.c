/*
 * api_guest.c: the guest (review page) API behind a share link /s/{token}:
 * open the project (tracks, ready versions with fresh signed media URLs,
 * comments), the project-password check that sets the signed cookie of
 * src/access/, posting comments, and refreshing media URLs for the player.
 * Every unknown, regenerated, revoked, expired or deleted link is the same
 * 404. Guests have no account: their address is used only as a keyed
 * pseudonym for rate limits and the guest row, never stored or logged raw.
 * Runs in the web process on untrusted input (tokens, cookies, bodies).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "api/api_int.h"
#include "api/api_mail.h"
#include "crypto/crypto.h"
#include "repo/repo.h"

/* The largest review-page answer we build (1000s of comments fit easily). */
#define API_VIEW_BODY_MAX ((size_t)32 << 20)
/* Reserved at the start of a build: 200 comments fit without a realloc. */
#define API_VIEW_BODY_HINT ((size_t)96 << 10)

struct guest {
	struct db_link link;
	struct db_project p;
	struct access_grant g;
	int authorized; /* no password, or a valid cookie for this generation */
	/* The keys of the request's repository calls: with hold (resolve), the
	 * project's key opened once for all of them (the review page: four
	 * opens before, issue 25), released by guest_done. */
	struct db_keys k;
};

static void guest_done(struct guest *gs)
{
	db_keys_release(&gs->k);
}

static int not_found(struct api_ctx *c)
{
	return api_err(c, AM_ERR_NOTFOUND, "not found");
}

/* Resolve the token of the path into a live link and project; hold: keep
 * the project's key open in gs->k for the request (guest_done gives it
 * back, on success and failure alike). */
static int resolve_keys(struct api_ctx *c, struct guest *gs, int hold)
{
	const char *token = http_req_param(c->req, "token");
	char name[ACCESS_COOKIE_NAME_MAX];
	uint8_t raw[CRYPTO_TOKEN_BYTES], h[32];
	size_t n = 0;
	int rc;

	memset(gs, 0, sizeof(*gs));
	if (!token || strlen(token) != CRYPTO_TOKEN_LEN ||
	    crypto_b64url_decode(token, CRYPTO_TOKEN_LEN, raw, sizeof(raw), &n) || n != sizeof(raw))
		return not_found(c);
	if ((rc = crypto_sha256(token, CRYPTO_TOKEN_LEN, h)))
		return rc;
	gs->k = *c->api->app->keys;
	rc = db_link_resolve(c->db, h, am_now_ms(), &gs->link);
	if (rc == 0 && hold)
		rc = db_keys_hold(c->db, c->api->app->keys, gs->link.project_id, &gs->k);
	if (rc == 0)
		rc = db_project_get_by_id(c->db, &gs->k, gs->link.project_id, &gs->p);
	if (rc == AM_ERR_NOTFOUND || rc == AM_ERR_CRYPTO)
		return not_found(c);
	if (rc)
		return rc;
	memcpy(gs->g.project_id, gs->p.id, DB_ID_LEN);
	memcpy(gs->g.link_id, gs->link.id, DB_ID_LEN);
	gs->g.link_gen = (uint32_t)gs->link.generation;
	gs->g.pw_gen = gs->p.has_password ? (uint32_t)gs->p.pw_gen : 0;
	gs->authorized = !gs->p.has_password;
	if (!gs->authorized && access_cookie_name(gs->link.id, name, sizeof(name)) == 0)
		gs->authorized =
		    access_cookie_check(c->api->app, &gs->g, http_req_cookie(c->req, name)) == 0;
	return 0;
}

static int resolve(struct api_ctx *c, struct guest *gs)
{
	return resolve_keys(c, gs, 0);
}

static int locked(const struct guest *gs)
{
	return gs->p.has_password && gs->p.pw_failures >= API_PROJECT_PW_LOCK;
}

/* The AM_ERR_UNAUTH answer (401) with what the page needs to show the
 * password gate beside the usual error fields. */
static int password_required(struct api_ctx *c, const struct guest *gs)
{
	unsigned status = http_status_of(AM_ERR_UNAUTH);

	return api_reply(c, status,
			 json_pack("{s:s,s:i,s:b,s:b}", "error", "this project needs a password",
				   "status", (int)status, "password_required", 1, "locked",
				   locked(gs)));
}

int api_open_is_new(struct api_ctx *c, const uint8_t lid[DB_ID_LEN])
{
	struct api *api = c->api;
	uint8_t pseudo[16], in[32], h[32];
	struct api_open_seen *slot;
	int64_t now = am_now_ms();
	int is_new;

	if (api_client_pseudo(c, pseudo, NULL))
		return 1;
	memcpy(in, lid, 16);
	memcpy(in + 16, pseudo, 16);
	if (crypto_sha256(in, sizeof(in), h))
		return 1;
	pthread_mutex_lock(&api->open_lock);
	slot = &api->opens[(((size_t)h[0] << 8) | h[1]) % API_OPEN_SLOTS];
	is_new = memcmp(slot->key, h + 16, 16) != 0 || now - slot->at >= API_OPEN_WINDOW_MS ||
		 now < slot->at;
	if (is_new) {
		memcpy(slot->key, h + 16, 16);
		slot->at = now;
	}
	pthread_mutex_unlock(&api->open_lock);
	return is_new;
}

/* The review page's answer but its head, as a cache entry: "tracks":[...]
 * with a slot for every media URL (api_gtracks_write), then
 * ,"comments":[...],"urls_expire":N}. The expensive part: every comment
 * decrypted. */
static int view_build(struct api_ctx *c, const struct guest *gs, int64_t expires,
		      struct api_view **out)
{
	struct api_url_slots us = {0};
	struct api_gtracks_out o = {
	    c->api->app, c->api->app->conf.public_url, &gs->g, &gs->p, expires, &us};
	struct api_gtracks m = {0};
	struct am_buf b;
	size_t split;
	int rc;

	am_buf_init(&b, API_VIEW_BODY_MAX);
	if ((rc = am_buf_reserve(&b, API_VIEW_BODY_HINT)) ||
	    (rc = api_gtracks_load(c, &gs->k, gs->p.id, &m)) ||
	    (rc = am_buf_puts(&b, "\"tracks\":")) || (rc = api_gtracks_write(&m, &o, &b)))
		goto out;
	split = b.len;
	if ((rc = am_buf_puts(&b, ",\"comments\":")) ||
	    (rc = api_comments_write(c, &gs->k, gs->p.id, 0, &b)) ||
	    (rc = am_buf_printf(&b, ",\"urls_expire\":%lld}\n", (long long)expires)))
		goto out;
	rc = api_view_adopt(&b, split, us.v, us.n, out); /* b empty after it */
out:
	api_gtracks_free(&m);
	free(us.v);
	am_buf_cleanup(&b);
	return rc;
}

/* The per-request part of an answer: the head and the tracks with the
 * signed URLs spliced in; it holds a reference to the view it was made from,
 * whose bytes after the split are sent after it as they are. */
struct view_reply {
	struct api_view *v;
	size_t len;
	char buf[];
};

static void view_reply_free(void *arg)
{
	struct view_reply *r = arg;

	api_view_release(r->v);
	am_memzero(r->buf, r->len);
	free(r);
}

/* Send view v (takes the reference) behind head: every URL slot signed now,
 * under one fresh random nonce for this request (the URLs of one answer
 * differ by object and d), so no two loads get the same URL. Costs one HMAC
 * per URL and a copy of the tracks part; the comments are not copied. */
static int view_send(struct api_ctx *c, const struct guest *gs, int64_t expires,
		     const struct am_buf *head, struct api_view *v)
{
	uint8_t nonce[ACCESS_URL_NONCE_LEN];
	size_t n, ns, split, o, at = 0;
	const char *bytes = api_view_bytes(v, &n);
	const struct api_view_slot *s = api_view_slots(v, &ns, &split);
	struct http_piece pc[2];
	struct view_reply *r;
	int rc = 0, w;

	if (!(r = malloc(sizeof(*r) + head->len + split + ns * ACCESS_URL_MAX))) {
		api_view_release(v);
		return AM_ERR_NOMEM;
	}
	r->v = v;
	memcpy(r->buf, head->p, head->len);
	o = head->len;
	if ((rc = crypto_random(nonce, sizeof(nonce))))
		goto fail;
	for (size_t i = 0; i < ns; i++) {
		memcpy(r->buf + o, bytes + at, s[i].off - at);
		o += s[i].off - at;
		at = s[i].off;
		w = access_url_sign_nonce(c->api->app, &gs->g, s[i].object_id, s[i].download,
					  expires, nonce, r->buf + o, ACCESS_URL_MAX);
		if (w < 0) {
			rc = w;
			goto fail;
		}
		o += (size_t)w;
	}
	memcpy(r->buf + o, bytes + at, split - at);
	o += split - at;
	r->len = o;
	pc[0] = (struct http_piece){r->buf, o};
	pc[1] = (struct http_piece){bytes + split, n - split};
	return http_respond_pieces(c->req, 200, "application/json", pc, 2, view_reply_free, r);
fail:
	r->len = o;
	view_reply_free(r);
	return rc;
}

/* The review page's data. Its template comes from the view cache when this
 * node built it for the same project revision, link generation, password
 * generation, downloads flag, URL expiry and head (api_view.c); the URLs
 * are signed afresh for every request either way. The link, password and
 * project checks run on every request before it. */
int api_guest_open(struct api_ctx *c)
{
	struct guest gs;
	struct api_view_in vin;
	struct api_view *v = NULL;
	uint8_t key[32];
	struct am_buf b;
	int rc;

	am_buf_init(&b, API_VIEW_BODY_MAX);
	if ((rc = resolve_keys(c, &gs, 1)))
		goto out;
	if (!gs.authorized) {
		rc = password_required(c, &gs);
		goto out;
	}
	if ((rc = api_view_head_write(&b, &gs.p)))
		goto out;
	vin = (struct api_view_in){.project_id = gs.p.id,
				   .link_id = gs.link.id,
				   .rev = gs.p.rev,
				   .link_gen = gs.g.link_gen,
				   .pw_gen = gs.g.pw_gen,
				   .downloads = gs.p.downloads,
				   .expires = access_url_expiry(c->api->app),
				   .head = b.p,
				   .head_len = b.len};
	if ((rc = api_view_key(&vin, key)))
		goto out;
	if (api_view_get(c->api->views, key, &v) != 0) {
		if ((rc = view_build(c, &gs, vin.expires, &v)))
			goto out;
		api_view_put(c->api->views, key, v); /* too large: sent, not kept */
	}
	if (api_open_is_new(c, gs.link.id)) {
		api_event(c, gs.p.id, "page_open", NULL, gs.link.is_default ? NULL : "named link");
		api_translog(c, gs.p.id, "page_open", gs.link.id); /* access log (api_log.c) */
	}
	rc = view_send(c, &gs, vin.expires, &b, v);
out:
	guest_done(&gs);
	am_buf_cleanup(&b);
	return rc;
}

/* A wrong password: count it, record it, lock at the 100th in a row. */
static int wrong_password(struct api_ctx *c, const struct guest *gs)
{
	char details[64];
	int64_t failures = 0;
	int rc = db_begin_write(c->db); /* the lock and its e-mail commit together */

	if (rc == 0)
		rc = db_project_password_failed(c->db, gs->p.id, &failures);
	if (rc == 0 && failures == API_PROJECT_PW_LOCK)
		rc = api_mail_event(c, gs->p.account_id, gs->p.id, MAIL_PW_LOCKED, NULL);
	if ((rc = api_mail_tx_end(c, rc)))
		return rc;
	snprintf(details, sizeof(details), "%lld consecutive", (long long)failures);
	api_event(c, gs->p.id, "password_failed", NULL, details);
	if (failures == API_PROJECT_PW_LOCK)
		api_event(c, gs->p.id, "password_locked", NULL,
			  "100 wrong passwords in a row: reset the password to reopen the project");
	return api_err(c, AM_ERR_DENIED, "wrong password");
}

static int set_cookie(struct api_ctx *c, const struct guest *gs, int64_t *expires)
{
	char name[ACCESS_COOKIE_NAME_MAX], value[ACCESS_COOKIE_MAX];
	int rc;

	*expires = am_now() + ACCESS_COOKIE_LIFETIME;
	if ((rc = access_cookie_name(gs->link.id, name, sizeof(name))) ||
	    (rc = access_cookie_mint(c->api->app, &gs->g, *expires, value, sizeof(value))))
		return rc;
	return http_set_cookie(c->req, name, value, ACCESS_COOKIE_LIFETIME, HTTP_COOKIE_HTTPONLY);
}

int api_guest_password(struct api_ctx *c)
{
	char hash[API_PHC_MAX];
	const char *pw = NULL;
	uint8_t pseudo[16];
	int64_t epoch = 0, gen = 0, failures = 0, expires = 0;
	struct guest gs;
	int rc;

	if ((rc = resolve(c, &gs)) || (rc = api_str(c, "password", 1, API_PW_MAX, 1, &pw)))
		return rc;
	if (!gs.p.has_password)
		return api_err(c, AM_ERR_CONFLICT, "this project has no password");
	if (locked(&gs))
		return api_err(c, AM_ERR_DENIED,
			       "this project stopped taking passwords after too many wrong ones: "
			       "ask its owner");
	if ((rc = api_client_pseudo(c, pseudo, &epoch)) ||
	    (rc = api_rate(c, &API_LIMIT_PW_PROJECT_IP, gs.p.id, DB_ID_LEN, pseudo,
			   sizeof(pseudo))) ||
	    (rc = api_rate(c, &API_LIMIT_PW_PROJECT, gs.p.id, DB_ID_LEN, NULL, 0)) ||
	    (rc = db_project_password(c->db, c->api->app->keys, gs.p.id, hash, sizeof(hash), &gen,
				      &failures)))
		goto out;
	rc = api_pw_verify(c, hash, pw, NULL);
	if (rc == AM_ERR_DENIED) {
		rc = wrong_password(c, &gs);
		goto out;
	}
	if (rc || (rc = db_project_password_ok(c->db, gs.p.id)) ||
	    (rc = set_cookie(c, &gs, &expires)))
		goto out;
	api_translog(c, gs.p.id, "password_ok", gs.link.id); /* access log (api_log.c) */
	rc = api_reply(c, 200, json_pack("{s:b,s:I}", "ok", 1, "expires", (json_int_t)expires));
out:
	am_memzero(hash, sizeof(hash));
	return rc;
}

/* A guest name: 1 to 100 bytes of text without control characters. */
static int name_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int api_guest_comment(struct api_ctx *c)
{
	const char *name = NULL;
	struct api_comment_in in;
	uint8_t pseudo[16], gid[DB_ID_LEN], hash[DB_SESSION_HASH_LEN];
	int64_t epoch = 0;
	struct guest gs;
	int rc;

	if ((rc = resolve(c, &gs)))
		return rc;
	if (!gs.authorized)
		return password_required(c, &gs);
	if ((rc = api_str(c, "name", 1, API_GUEST_NAME_MAX, 1, &name)))
		return rc;
	if (!name_ok(name))
		return api_err(c, AM_ERR_INVAL, "field \"name\" must not hold control characters");
	if ((rc = api_comment_fields(c, gs.p.id, &in)) ||
	    (rc = api_client_pseudo(c, pseudo, &epoch)) ||
	    (rc = api_rate(c, &API_LIMIT_COMMENT_IP, gs.p.id, DB_ID_LEN, pseudo, sizeof(pseudo))) ||
	    (rc = api_rate(c, &API_LIMIT_COMMENT_PROJECT, gs.p.id, DB_ID_LEN, NULL, 0)) ||
	    (rc = api_guest_session(c, gs.link.id, 1, hash)) ||
	    (rc = db_guest_create(c->db, c->api->app->keys, gs.p.id, gs.link.id, name, pseudo,
				  epoch, gid)) ||
	    (rc = db_guest_set_session(c->db, gs.p.id, gid, hash)))
		return rc;
	return api_comment_post(c, gs.p.id, gid, &in);
}

/* Fresh media URLs of every ready version (or ?version=ID): the player
 * calls this before the URLs it holds expire. */
int api_guest_urls(struct api_ctx *c)
{
	const char *vq = http_req_query(c->req, "version");
	int64_t expires = access_url_expiry(c->api->app);
	uint8_t vid[DB_ID_LEN];
	struct db_version v;
	struct guest gs;
	json_t *tracks = NULL, *out;
	int rc;

	if ((rc = resolve(c, &gs)))
		return rc;
	if (!gs.authorized)
		return password_required(c, &gs);
	if (vq) {
		if (api_id_parse(vq, vid) ||
		    db_version_get(c->db, c->api->app->keys, gs.p.id, vid, &v) != 0 ||
		    strcmp(v.state, "ready") != 0)
			return not_found(c);
		out = json_pack("{s:{s:o},s:I}", "versions", vq,
				api_media_json(c, &gs.g, &gs.p, vid, expires), "urls_expire",
				(json_int_t)expires);
		return api_reply(c, 200, out);
	}
	struct api_guest_media gm = {&gs.g, &gs.p, expires, NULL};

	if ((rc = api_tracks_json(c, gs.p.id, &gm, &tracks)))
		return rc;
	return api_reply(
	    c, 200, json_pack("{s:o,s:I}", "tracks", tracks, "urls_expire", (json_int_t)expires));
}

/* Marker files (api_markers.c) of a version ({vid}) or the whole project:
 * they are a download, so only while the owner allows downloads (the same
 * rule as the original's download URL), and, with a password, only with
 * the cookie. */
/* A guest download (marker files, "Download all"): the link resolved, the
 * password cookie when one is set, and downloads on. 0, or the error
 * already answered. */
static int download_gate(struct api_ctx *c, struct guest *gs)
{
	int rc;

	if ((rc = resolve(c, gs)))
		return rc;
	if (!gs->authorized)
		return password_required(c, gs);
	if (!gs->p.downloads)
		return api_err(c, AM_ERR_DENIED,
			       "the owner has turned downloads off for this project");
	return 0;
}

int api_guest_markers(struct api_ctx *c)
{
	const char *vq = http_req_param(c->req, "vid");
	uint8_t vid[DB_ID_LEN], pseudo[16];
	int64_t epoch;
	struct guest gs;
	int rc;

	if ((rc = download_gate(c, &gs)))
		return rc;
	if (vq && api_id_parse(vq, vid))
		return not_found(c);
	if ((rc = api_client_pseudo(c, pseudo, &epoch)) ||
	    (rc = api_rate(c, &API_LIMIT_MARKERS_IP, gs.p.id, DB_ID_LEN, pseudo, sizeof(pseudo))) ||
	    (rc = api_rate(c, &API_LIMIT_MARKERS_PROJECT, gs.p.id, DB_ID_LEN, NULL, 0)))
		return rc;
	return api_markers_send(c, &gs.p, &gs.g, vq ? vid : NULL);
}

/* The link and project of an authorized guest request: 0, or the error
 * already answered (*replied = 1 when that answer is password_required's). */
int api_guest_authorized(struct api_ctx *c, struct db_link *link, struct db_project *p,
			 int *replied)
{
	struct guest gs;
	int rc;

	*replied = 0;
	if ((rc = resolve(c, &gs)))
		return rc;
	if (!gs.authorized) {
		*replied = 1;
		return password_required(c, &gs);
	}
	*link = gs.link;
	*p = gs.p;
	am_memzero(&gs, sizeof(gs));
	return 0;
}

int api_guest_link(struct api_ctx *c, struct db_link *link, struct db_project *p)
{
	int replied;

	return api_guest_authorized(c, link, p, &replied);
}

/* "Download all" (api_archive.c): a download, so the same rule as the
 * marker files above. */
int api_guest_archive(struct api_ctx *c)
{
	struct guest gs;
	int rc;

	if ((rc = download_gate(c, &gs)))
		return rc;
	return api_archive_send(c, &gs.g);
}
