/*
 * api_int.h: what the files of src/api/ share: the API state, the
 * per-request context every handler receives, and the helpers for JSON
 * bodies and answers, ids, owner authentication, CSRF, rate limits, client
 * pseudonyms and the password-hashing gate. Not for use outside src/api/
 * (and its unit tests). Runs in the web process at the trust boundary.
 */
#ifndef AM_API_INT_H
#define AM_API_INT_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "api/api.h"
#include "app/app.h"
#include "repo/repo.h"
#include "http/http.h"
#include "util/util.h"

/* ---- limits and lifetimes (docs/api.md lists them) -------------------------- */
#define API_SESSION_COOKIE   "__Host-am-session"
#define API_SESSION_IDLE_MS  (7LL * 86400 * 1000)  /* idle timeout: 7 days */
#define API_SESSION_ABS_MS   (30LL * 86400 * 1000) /* absolute timeout: 30 days */
#define API_SESSION_TOUCH_MS (60LL * 1000)	   /* last_seen resolution */
#define API_SESSION_ID_BYTES 32			   /* 256-bit session id */
#define API_PW_MIN	     8
#define API_PW_MAX	     256
#define API_PHC_MAX	     128 /* crypto_pwhash_STRBYTES */
#define API_PROJECT_PW_LOCK  100 /* consecutive failures that lock a project */
#define API_GUEST_NAME_MAX   100
/* Reviewer actions (api_reviewer.c): the guest-session cookie lives 30
 * days after a browser last posted; a comment stays editable 24 h. */
#define API_GUEST_SESSION_PREFIX "__Host-am-gs-"
#define API_GUEST_SESSION_S	 (30LL * 86400)
#define API_GUEST_EDIT_WINDOW_MS (24LL * 3600 * 1000)
#define API_MAX_BODY		 (64 * 1024)
#define API_MAX_PROXIES		 16

/* Rate limits: GCRA, one event per interval, burst at once (DESIGN §6). */
struct api_limit {
	const char *name;
	int64_t interval_ms;
	int64_t burst;
};
extern const struct api_limit API_LIMIT_LOGIN_IP, API_LIMIT_SIGNUP_IP, API_LIMIT_LOGIN_ACCT[3],
    API_LIMIT_PW_PROJECT, API_LIMIT_PW_PROJECT_IP, API_LIMIT_COMMENT_IP, API_LIMIT_COMMENT_PROJECT,
    API_LIMIT_MARKERS_IP, API_LIMIT_MARKERS_PROJECT, API_LIMIT_UPLOAD_ACCT;

/* At most one Argon2id hash per core; a short queue; 503 beyond. */
struct api_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int active, waiting, max_active, max_waiting;
	int64_t wait_ms;
};

struct api_proxy {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

struct api_route;

/* Recent page opens, so that a reviewer who reloads the page is logged once
 * per window, not once per reload (and a reload does not write to the
 * database). Direct-mapped by a hash of (link, client pseudonym); a
 * collision only means an extra event. */
#define API_OPEN_SLOTS	   4096
#define API_OPEN_WINDOW_MS (10 * 60 * 1000)
struct api_open_seen {
	uint8_t key[16];
	int64_t at;
};

struct api_view_cache;

struct api {
	struct app *app;
	struct api_open_seen *opens; /* API_OPEN_SLOTS, guarded by open_lock */
	pthread_mutex_t open_lock;
	struct api_gate gate;
	char origin[CONF_STR_MAX];    /* scheme://host[:port] of public_url */
	char dummy_hash[API_PHC_MAX]; /* verified when no account matches (api_password_dummy) */
	struct api_view_cache *views; /* review-page views (api_view.c) */
	struct api_proxy proxies[API_MAX_PROXIES];
	size_t nproxies;
	struct api_route *routes;
	size_t nroutes;
};

/* One request's context: the handler's only argument. */
struct api_ctx {
	struct api *api;
	struct http_req *req;
	struct db *db;
	json_t *body;	  /* the JSON object sent ({} when none) */
	const char *msg;  /* a client-safe message for an error return */
	char msgbuf[192]; /* room for a composed msg (e.g. a refused file type) */
	int64_t retry_ms; /* Retry-After of a 429/503 */
	int authed;
	struct db_session sess;
	struct db_account acct;
	uint8_t sess_hash[32];
};

typedef int api_fn(struct api_ctx *c);

enum api_route_flags {
	API_AUTH = 1 << 0, /* an owner session is required */
};

struct api_route {
	unsigned methods;
	const char *pattern;
	api_fn *fn;
	unsigned flags;
	struct api *api;
};

/* ---- answers (api_util.c) ---------------------------------------------------- */

/* Respond with body (takes the reference; NULL: 500). Returns 0 or an error. */
int api_reply(struct api_ctx *c, unsigned status, json_t *body);
/* Set the client message (a static string, shown only below 500) of an
 * error answer; returns err, whose status is http_status_of(err). */
int api_err(struct api_ctx *c, int err, const char *msg);
/* Write the error answer for rc (the dispatcher's error path). */
void api_reply_error(struct api_ctx *c, int rc);

/* ---- JSON request fields (api_util.c) -------------------------------------------
 * Each returns 0, or AM_ERR_INVAL with a message naming the field. A field
 * that is absent and optional leaves *out unchanged and returns 0; *present
 * (may be NULL) tells. */
int api_str(struct api_ctx *c, const char *key, size_t minlen, size_t maxlen, int required,
	    const char **out);
int api_int(struct api_ctx *c, const char *key, int64_t min, int64_t max, int required,
	    int64_t *out, int *present);
int api_bool(struct api_ctx *c, const char *key, int required, int *out, int *present);
/* An optional id field (hex); *present set when given. */
int api_id_field(struct api_ctx *c, const char *key, int required, uint8_t out[DB_ID_LEN],
		 int *present);

/* ---- ids ------------------------------------------------------------------------ */
/* 32 lowercase hex characters. */
void api_id_hex(const uint8_t id[DB_ID_LEN], char out[2 * DB_ID_LEN + 1]);
json_t *api_id_json(const uint8_t id[DB_ID_LEN]);
/* Strict parse; AM_ERR_INVAL. */
int api_id_parse(const char *s, uint8_t out[DB_ID_LEN]);
/* A path parameter id: anything malformed is AM_ERR_NOTFOUND (the same 404
 * as an unknown id). */
int api_param_id(struct api_ctx *c, const char *name, uint8_t out[DB_ID_LEN]);
/* Set a JSON object member, taking the value's reference (NULL values are
 * an allocation failure: AM_ERR_NOMEM). */
int api_set(json_t *obj, const char *key, json_t *value);

/* ---- rate limits, clients ---------------------------------------------------------- */
/* Take one event from the limit named l, for the subject a ‖ b (either may
 * be NULL/0). AM_ERR_RATE with c->retry_ms and a message set. */
int api_rate(struct api_ctx *c, const struct api_limit *l, const void *a, size_t an, const void *b,
	     size_t bn);
/* Forget a limit's state (a successful login resets the account's backoff). */
int api_rate_reset(struct api_ctx *c, const struct api_limit *l, const void *a, size_t an);
/* Whether this client's open of link lid should be recorded now (first time
 * in API_OPEN_WINDOW_MS); marks it seen. */
int api_open_is_new(struct api_ctx *c, const uint8_t lid[DB_ID_LEN]);
/* The client's 128-bit address pseudonym (X-Forwarded-For only from a
 * trusted proxy). The raw address never leaves this function. */
int api_client_pseudo(struct api_ctx *c, uint8_t out[16], int64_t *epoch);
/* Parse conf trusted_proxies into api->proxies. AM_ERR_INVAL. */
int api_proxies_parse(struct api *api, const char *list);

/* ---- review-page view cache (api_view.c) ------------------------------------------------ */
/* What a cached view depends on (expires: the URLs' expiry, whole seconds;
 * head: the answer's first bytes, built fresh from the project row). */
struct api_view_in {
	const uint8_t *project_id;
	const uint8_t *link_id;
	int64_t rev, link_gen, pw_gen, downloads, expires;
	const void *head;
	size_t head_len;
};
/* One media URL of a cached answer: where its signed path (access_url_sign,
 * signed per request with a fresh nonce) goes, and what it is signed for.
 * The cached bytes hold everything else, the URL's origin included. */
struct api_view_slot {
	size_t off; /* into the bytes, ascending; the path is inserted here */
	uint8_t object_id[DB_ID_LEN];
	int download;
};
/* A cached answer: a template without signatures, shared by the cache and
 * the responses still sending it. Bytes [0, split) hold every slot and are
 * copied per request with the URLs spliced in; [split, len) (the comments,
 * the bulk) are sent as they are. */
struct api_view;
int api_view_new(struct api_view_cache **out);
/* Zero and free every entry; accepts NULL. */
void api_view_free(struct api_view_cache *vc);
/* The entry key for in. 0 or AM_ERR_CRYPTO. */
int api_view_key(const struct api_view_in *in, uint8_t key[32]);
/* A reference to the cached answer for key in *out: 0 or AM_ERR_NOTFOUND. */
int api_view_get(struct api_view_cache *vc, const uint8_t key[32], struct api_view **out);
/* A new answer (one reference, the caller's) from a copy of body and slots
 * (nslots offsets ascending, all <= split <= len): 0, AM_ERR_INVAL, or
 * AM_ERR_NOMEM. */
int api_view_make(const char *body, size_t len, size_t split, const struct api_view_slot *slots,
		  size_t nslots, struct api_view **out);
/* The same from b's bytes themselves, not copied (issue 25, fourth pass: a
 * 77 KiB copy and a 96 KiB zeroing less per uncached answer): on success
 * the view owns b's allocation (zeroed whole and freed by the last
 * release) and b is left empty; on failure b is unchanged (the caller
 * still cleans it up). AM_ERR_INVAL also for an empty b. */
int api_view_adopt(struct am_buf *b, size_t split, const struct api_view_slot *slots, size_t nslots,
		   struct api_view **out);
/* Keep v under key (the cache takes a reference of its own; the caller
 * keeps theirs): 0, or AM_ERR_TOOBIG (larger than an entry may be: not
 * kept). */
int api_view_put(struct api_view_cache *vc, const uint8_t key[32], struct api_view *v);
/* The bytes of a reference. */
const char *api_view_bytes(const struct api_view *v, size_t *len);
/* Its URL slots (*n of them) and the end of the part that holds them. */
const struct api_view_slot *api_view_slots(const struct api_view *v, size_t *n, size_t *split);
/* Give a reference back: the last one zeroes and frees the bytes. Accepts
 * NULL. */
void api_view_release(void *v);
/* Drop the entries of a project this node has just deleted. */
void api_view_forget(struct api_view_cache *vc, const uint8_t project_id[DB_ID_LEN]);

/* ---- passwords (api_password.c) ---------------------------------------------------- */
void api_gate_init(struct api_gate *g, int max_active, int max_waiting, int64_t wait_ms);
void api_gate_cleanup(struct api_gate *g);
/* Enter (waiting up to wait_ms when all slots are busy) or AM_ERR_UNAVAIL. */
int api_gate_enter(struct api_gate *g);
void api_gate_leave(struct api_gate *g);
/* Hash / verify through the gate. verify: 0 match, AM_ERR_DENIED mismatch. */
int api_pw_hash(struct api_ctx *c, const char *pw, char out[API_PHC_MAX]);
int api_pw_verify(struct api_ctx *c, const char *hash, const char *pw, int *needs_rehash);
/* The password policy for c's request; on failure sets the message. */
int api_pw_policy(struct api_ctx *c, const char *pw);
/* 1 if pw (case-insensitively) is on the bundled common-password list. */
int api_pw_common(const char *pw);
/* The hash verified in place of a missing account's (DESIGN §6), into out
 * (outlen >= API_PHC_MAX): an Argon2id string in libsodium's encoding with
 * the configuration's parameters and a random salt and digest, nothing
 * hashed. Verifying a password against it costs what a real account's check
 * costs (the work is set by the parameters, not by the digest) and fails
 * (a 2^-256 chance of a match). 0 or AM_ERR_TOOBIG. */
int api_password_dummy(const struct conf *c, char *out, size_t outlen);
/* The hash verified when no account matches (made by api_new). */
const char *api_dummy_hash(struct api *api);

/* ---- sessions and CSRF (api_session.c) ------------------------------------------------ */
/* Authenticate the owner session cookie: 0 (c->acct, c->sess filled) or
 * AM_ERR_UNAUTH (401). */
int api_auth(struct api_ctx *c);
/* Origin (or Referer) must be public_url's origin: 0 or AM_ERR_DENIED. */
int api_check_origin(struct api_ctx *c);
/* X-CSRF-Token must be the session's token: 0 or AM_ERR_DENIED. */
int api_check_csrf_token(struct api_ctx *c);
/* The CSRF token of the session with token hash h (base64url, 43 chars). */
int api_csrf_token(struct api *api, const uint8_t h[32], char out[64]);
/* Throttle attempts on the account of this e-mail (three GCRA tiers). */
int api_account_throttle(struct api_ctx *c, const char *email);
/* Start a session for account id: cookie and row. */
int api_session_start(struct api_ctx *c, const uint8_t account_id[DB_ID_LEN], uint8_t hash_out[32]);
/* The JSON the login, sign-up and GET /session answers share. */
json_t *api_session_json(struct api_ctx *c, const struct db_account *a, const uint8_t hash[32]);

/* ---- owner helpers (api_project.c) ------------------------------------------------------ */
/* The live project {name} of the authenticated owner, else AM_ERR_NOTFOUND. */
int api_owner_project(struct api_ctx *c, const char *param, struct db_project *out);
/* Record an event (best effort; failures are logged, not returned). */
void api_event(struct api_ctx *c, const uint8_t project_id[DB_ID_LEN], const char *kind,
	       const uint8_t *guest_id, const char *details);
/* Append a grant to the project's access log (api_log.c; best effort:
 * failures are logged, not returned). link_id may be NULL. */
void api_translog(struct api_ctx *c, const uint8_t project_id[DB_ID_LEN], const char *kind,
		  const uint8_t *link_id);
/* Crypto-shred one project of the owner (wrapped key first, then rows). */
int api_project_shred(struct api_ctx *c, const uint8_t id[DB_ID_LEN]);
/* A new share link of project pid (label may be NULL, expires 0: never);
 * the token (CRYPTO_TOKEN_LEN + 1 bytes) is returned in token; the row
 * keeps its hash and the token sealed under the project's field key. Call
 * inside a write transaction. */
int api_link_new(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const char *label,
		 int64_t expires, int is_default, char *token, uint8_t lid[DB_ID_LEN]);
/* The project's tracks with their versions, by position. With gm (guest
 * view) only versions that finished processing are listed, each with
 * media URLs signed under gm->g expiring at gm->expires (downloads as
 * gm->p says); the owner view (gm NULL) lists every version. With
 * gm->slots, the URLs are not signed: each is its origin followed by
 * slots->marker and the slot's index (8 lowercase hex), and the slot
 * (object, download; off = SIZE_MAX) is appended to slots->v, for the view
 * cache to sign per request (api_guest.c). */
struct access_grant;
struct api_url_slots {
	char marker[33]; /* 32 random hex per build: no guest or owner text holds it */
	struct api_view_slot *v;
	size_t n, cap;
};
struct api_guest_media {
	const struct access_grant *g;
	const struct db_project *p;
	int64_t expires;
	struct api_url_slots *slots; /* NULL: sign now */
};
int api_tracks_json(struct api_ctx *c, const uint8_t pid[DB_ID_LEN],
		    const struct api_guest_media *gm, json_t **out);
/* JSON written straight into a buffer (api_jw.c): the text jansson's
 * JSON_COMPACT dump gives for the same values. A string that is not valid
 * UTF-8 is AM_ERR_INVAL (nothing appended); keys are ASCII literals. */
int api_jw_str(struct am_buf *b, const char *s);
int api_jw_key(struct am_buf *b, const char *key); /* "key": */
int api_jw_id(struct am_buf *b, const uint8_t id[DB_ID_LEN]);
int api_jw_i64(struct am_buf *b, int64_t v);
int api_jw_bool(struct am_buf *b, int v);
/* The same values written at p, into room the caller reserved (at most
 * API_JW_STR_MAX(n) bytes for a string of n bytes, API_JW_ID_MAX,
 * API_JW_I64_MAX, 5 for a bool); each returns the end of what it wrote.
 * api_jw_raw_str returns NULL for text that is not valid UTF-8 (what it
 * wrote up to there is left behind p: the caller drops it). */
#define API_JW_STR_MAX(n) (2 + 6 * (size_t)(n))
#define API_JW_ID_MAX	  (2 * DB_ID_LEN + 2)
#define API_JW_I64_MAX	  20
char *api_jw_raw_str(char *p, const char *s, size_t n);
char *api_jw_raw_id(char *p, const uint8_t id[DB_ID_LEN]);
char *api_jw_raw_i64(char *p, int64_t v);
char *api_jw_raw_bool(char *p, int v);
/* A real as jansson dumps it ("%.17g", with ".0" when that has neither
 * '.' nor 'e', the exponent without '+' or leading zeros); NULL when v is
 * not finite (json_real refuses it). At most API_JW_REAL_MAX bytes. */
#define API_JW_REAL_MAX 32
char *api_jw_raw_real(char *p, double v);
/* Copy the literal (a string constant) at p; the end. */
#define API_JW_LIT(p, lit) ((char *)memcpy((p), (lit), sizeof(lit) - 1) + sizeof(lit) - 1)
/* The comments of a project as a JSON array appended to b: the text of
 * json_dumps(JSON_COMPACT) of api_comments_json's array, without jansson. */
int api_comments_write(struct api_ctx *c, const struct db_keys *k, const uint8_t pid[DB_ID_LEN],
		       int owner_view, struct am_buf *b);
/* One comment (api_comment_json's fields and order) appended to b. */
int api_comment_write(struct am_buf *b, const struct db_comment *cm, int owner_view);
/* The ready media objects of a project by version and kind
 * (api_media_index.c), read once for a guest view's media URLs. */
struct api_media_obj {
	uint8_t version_id[DB_ID_LEN], id[DB_ID_LEN];
	char kind[DB_STATE_MAX + 1];
	int64_t created;
};
struct api_media_index {
	struct api_media_obj *v;
	size_t n, cap;
};
int api_media_index_load(struct api_ctx *c, const uint8_t pid[DB_ID_LEN],
			 struct api_media_index *ix);
/* The id db_object_find would return, or NULL. */
const uint8_t *api_media_index_find(const struct api_media_index *ix,
				    const uint8_t version_id[DB_ID_LEN], const char *kind);
void api_media_index_free(struct api_media_index *ix);
/* The guest view's tracks as read from the database once (api_guest_jw.c),
 * for both of its writers: jansson (api_gtracks_json, api_track.c: the
 * player's URL refresh) and the direct one (api_gtracks_write: the review
 * page's answer), which give the same text. */
struct api_gtracks {
	struct db_track *t; /* by position, as db_track_list gives them */
	size_t nt, tcap;
	struct db_version *v; /* the ready versions, as db_version_list gives them */
	size_t nv, vcap;
	size_t *order; /* v's indices by track (the order of t), then number */
	size_t *first; /* nt + 1: track i's versions are order[first[i] .. first[i + 1]) */
	struct api_media_index ix; /* the project's ready media objects */
};
/* What the guest's media URLs are: signed under g with app's keys (sign
 * now), or with slots, view-cache slots (only their origin written; the
 * jansson writer adds slots->marker and the index as api_tracks_json
 * says). p: the downloads and show-loudness flags. */
struct api_gtracks_out {
	struct app *app;
	const char *public_url;
	const struct access_grant *g;
	const struct db_project *p;
	int64_t expires;
	struct api_url_slots *slots;
};
/* k: the request's keys (db_keys_hold), or the app's. */
int api_gtracks_load(struct api_ctx *c, const struct db_keys *k, const uint8_t pid[DB_ID_LEN],
		     struct api_gtracks *m);
/* Sort m's versions into their tracks (order, first): done by load; for
 * a model filled by hand (tests). 0 or AM_ERR_NOMEM. */
int api_gtracks_group(struct api_gtracks *m);
void api_gtracks_free(struct api_gtracks *m);
/* The match_gain_db of version v of track i (the guest view while the
 * owner keeps loudness from reviewers: the gain to the track's quietest
 * version, <= 0, 0.1 dB steps): 1 with *gain, or 0 when it has none. */
int api_gtracks_gain(const struct api_gtracks *m, size_t i, const struct db_version *v,
		     double *gain);
/* Append slot (object, download) at offset off (SIZE_MAX: not known yet). */
int api_url_slot_add(struct api_url_slots *us, const uint8_t oid[DB_ID_LEN], int download,
		     size_t off);
/* The guest view's array of api_tracks_json (NULL with *rc on failure). */
json_t *api_gtracks_json(const struct api_gtracks *m, const struct api_gtracks_out *o, int *rc);
/* The same array appended to b without jansson, o->slots required: each
 * URL is written as its origin, and its slot (off: where the signed path
 * goes, before the closing quote) appended to o->slots in text order.
 * AM_ERR_INTERNAL for stored text that is not UTF-8 or a meter that is
 * not finite (jansson refuses both); on error nothing is appended. */
int api_gtracks_write(const struct api_gtracks *m, const struct api_gtracks_out *o,
		      struct am_buf *b);
/* {"project":{"title":...,"downloads":...,"show_loudness":...,
 * "has_password":...,"marked":...}, (the review page's head, with its
 * comma) appended to b: what json_pack/json_dump gave for it. */
int api_view_head_write(struct am_buf *b, const struct db_project *p);
/* Signed media URLs of one version (stream, peaks, original when downloads
 * are on or g is an owner grant): {"stream": url|null, "peaks": url|null,
 * "download": url|null}; each URL with a fresh nonce (access_url_sign). */
json_t *api_media_json(struct api_ctx *c, const struct access_grant *g, const struct db_project *p,
		       const uint8_t version_id[DB_ID_LEN], int64_t expires);
/* JSON of a project (owner view), a version, a comment, a link (with its
 * token and URL when token is not NULL). */
/* The link and project of the request's /s/{token} when the guest may see
 * it (api_guest.c: no password, or the password cookie). Otherwise the 404
 * error, or the 401 password answer already sent (*replied = 1: return the
 * result as is). */
int api_guest_authorized(struct api_ctx *c, struct db_link *link, struct db_project *p,
			 int *replied);
/* POST /api/v1/s/{token}/listen (api_listen.c): a listen report. */
int api_guest_listen(struct api_ctx *c);
/* GET /api/v1/projects/{id}/activity[?link=&reviewer=&limit=&format=csv]
 * (api_activity.c). */
int api_activity(struct api_ctx *c);
json_t *api_project_json(const struct db_project *p);
json_t *api_comment_json(const struct db_comment *cm, int owner_view);
json_t *api_version_json(const struct db_version *v);
json_t *api_link_json(struct api_ctx *c, const struct db_link *l, const char *token);

/* ---- comments (api_comment.c) ---------------------------------------------------------- */
/* The fields of a new comment, validated against project pid: body length,
 * end_ms >= time_ms, both within the version's duration once it is known,
 * a version and parent of pid (400/404 answered here). */
struct api_comment_in {
	uint8_t version_id[DB_ID_LEN];
	const char *body;
	int64_t time_ms, end_ms; /* end_ms -1: a point */
	uint8_t parent_id[DB_ID_LEN];
	int has_parent;
};
int api_comment_fields(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], struct api_comment_in *in);
/* Create it (guest_id NULL: by the owner) and answer 201 with it. */
int api_comment_post(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const uint8_t *guest_id,
		     const struct api_comment_in *in);
/* Comments of a project or one version as a JSON array. */
int api_comments_json(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const uint8_t *version_id,
		      int owner_view, json_t **out);

/* ---- handlers (one file each; registered in api.c) ------------------------------------- */
api_fn api_signup, api_login, api_logout, api_session_get, api_sessions_list, api_session_revoke,
    api_sessions_revoke_others, api_password_change, api_account_delete, api_account_get;
api_fn api_projects_list, api_project_create, api_project_get, api_project_patch,
    api_project_delete, api_project_password_set, api_project_password_remove, api_events_list;
api_fn api_links_list, api_link_create, api_link_regenerate, api_link_revoke;
api_fn api_track_create, api_track_patch, api_tracks_order, api_track_delete, api_upload_create,
    api_track_urls;
api_fn api_comments_list, api_comment_create, api_comment_patch, api_comment_delete;
api_fn api_guest_open, api_guest_password, api_guest_comment, api_guest_urls;
api_fn api_export;
api_fn api_markers_version, api_markers_project, api_guest_markers;
api_fn api_project_archive, api_guest_archive;
api_fn api_log_sth, api_log_entries;

/* ---- transcode queue (api_queue.c) ------------------------------------------------------ */
/* The 1-based place of each of project pid's queued versions in the
 * transcode queue (the workers' claim order, every account's jobs
 * counted): *out, a new object of version hex id -> position. 0,
 * AM_ERR_NOMEM or a database error. */
int api_queue_positions(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], json_t **out);

/* ---- the project archive (api_archive.c) ------------------------------------------------ */
/* Answer the signed media URL of g's project archive (d = ACCESS_D_ARCHIVE)
 * as {"url","expires","format":"zip"}. The caller has checked that g may
 * download (owner, or a guest while downloads are on). */
int api_archive_send(struct api_ctx *c, const struct access_grant *g);

/* ---- reviewer actions (api_reviewer.c, api_guest.c) ----------------------------------- */
/* The live link of the path's token and its project, the password checked:
 * 404 or 401 answered here. */
int api_guest_link(struct api_ctx *c, struct db_link *link, struct db_project *p);
/* The SHA-256 of this browser's guest-session cookie for link lid. With
 * mint, a browser without one gets a new random one, and the cookie's
 * lifetime starts again (Set-Cookie); without, no cookie is AM_ERR_DENIED
 * (403, message set). */
int api_guest_session(struct api_ctx *c, const uint8_t lid[DB_ID_LEN], int mint,
		      uint8_t hash[DB_SESSION_HASH_LEN]);
/* A verdict as JSON; with mine (a session hash), "mine" says whether it is
 * that session's. */
json_t *api_verdict_json(const struct db_verdict *v, const uint8_t *mine);
/* The project's verdicts as a JSON array (mine as above; NULL: owner view). */
int api_verdicts_json(struct api_ctx *c, const uint8_t pid[DB_ID_LEN], const uint8_t *mine,
		      json_t **out);
api_fn api_guest_comment_edit, api_guest_comment_delete, api_guest_verdict, api_guest_reviewer,
    api_verdicts_list;

/* ---- marker files (api_markers.c) -------------------------------------------------------- */
/* Answer the marker files of version vid (or, vid NULL, the zip of project
 * p) as the request's query asks (docs/api.md "Markers"), the marked WAV as
 * a signed media URL under g. The caller has checked that g may download
 * (owner, or a guest while downloads are on). */
int api_markers_send(struct api_ctx *c, const struct db_project *p, const struct access_grant *g,
		     const uint8_t *vid);

/* ---- listener marks (api_mark.c) ------------------------------------------------------- */
struct crypto_wm_key;
/* The watermark key of project p (opened from its wrapped key) as an owned
 * handle in *wk (crypto_wm_key_free). 0, AM_ERR_CRYPTO, AM_ERR_NOMEM. */
int api_mark_wm_key(struct api_ctx *c, const struct db_project *p, struct crypto_wm_key **wk);
/* The keyed lookup of a payload: the first 32 bytes of
 * crypto_wm_prf(wk, "am-wm-lookup-v1", payload). 0 or AM_ERR_CRYPTO. */
int api_mark_lookup(const struct crypto_wm_key *wk, const uint8_t payload[DB_MARK_PAYLOAD_LEN],
		    uint8_t out[DB_MARK_LOOKUP_LEN]);
api_fn api_mark_settings_get, api_mark_settings_put, api_guest_mark;
/* POST /api/v1/projects/{id}/trace: the owner's signed tracer URL (api_trace.c). */
api_fn api_trace_url;

#endif
