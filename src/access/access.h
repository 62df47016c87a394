/*
 * access: the MAC'd credentials that the web role issues and the media role
 * (and the web role, for cookies) verifies (DESIGN §6, docs/media.md):
 *   - the project-password cookie of a share link,
 *   - signed, expiring media URLs /m/{object}?…,
 *   - signed upload URLs /u/{upload}?… for an owner,
 * and the database half of every check (access_grant_check).
 *
 * Every MAC is HMAC-SHA256 under a keyring purpose key (CRYPTO_KEY_URL_SIGN
 * for URLs, CRYPTO_KEY_COOKIE for cookies); the key id "k" is the purpose-key
 * generation, current and previous accepted. Parsing is strict (one accepted
 * encoding of every credential: fixed parameter order, no percent-encoding,
 * lowercase hex, canonical decimal, canonical base64url), the MAC compare is
 * constant-time, and every failure of a verify function is the same
 * AM_ERR_DENIED, so a caller cannot tell a client why (and must not).
 * Runs in the web and media roles, on untrusted input.
 */
#ifndef AM_ACCESS_H
#define AM_ACCESS_H

#include <stddef.h>
#include <stdint.h>

struct app;
struct db;
struct db_project;
struct db_object;

#define ACCESS_URL_MAX	  640
#define ACCESS_COOKIE_MAX 256
/* Buffer for a cookie name: "__Host-am-pw-" + 32 hex + NUL. */
#define ACCESS_COOKIE_NAME_MAX 48
#define ACCESS_COOKIE_PREFIX   "__Host-am-pw-"
/* Lifetimes and hard caps, seconds. */
#define ACCESS_COOKIE_LIFETIME 43200 /* 12 h (DESIGN §6) */
#define ACCESS_URL_CAP	       21600 /* 6 h: no media URL lives longer */
#define ACCESS_UPLOAD_CAP      86400 /* 24 h: a 2 GiB upload over a slow line */

/* What a share-link visitor (owner = 0) or the project's owner (owner = 1)
 * was granted. An owner grant names no link: it is bound to the owner's
 * account and to the session that asked for it, so a logout ends it; it
 * skips the password cookie and may always fetch the original. */
struct access_grant {
	uint8_t project_id[16];
	uint8_t link_id[16];
	uint32_t link_gen;	/* share link generation when issued */
	uint32_t pw_gen;	/* project password generation; 0 = project has no password */
	int owner;		/* 1: owner grant (link_id, link_gen, pw_gen zero, unused) */
	uint8_t account_id[16]; /* owner grants: the owner's account */
	uint8_t session_id[16]; /* owner grants: the session that asked */
};

/* ---- password cookie (DESIGN §6) ----------------------------------------------
 * Name "__Host-am-pw-" + 32 lowercase hex of link_id; value
 * "v1.KID.EXPIRY.LINK_GEN.PW_GEN.MAC" (decimal fields, MAC = base64url of
 * HMAC-SHA256(cookie key[KID], "am-pw-cookie-v1\n" NAME "\n" KID "\n" EXPIRY
 * "\n" LINK_GEN "\n" PW_GEN)). EXPIRY in seconds since the epoch, at most
 * ACCESS_COOKIE_LIFETIME ahead. Set it with Max-Age = EXPIRY - now,
 * HttpOnly, Path=/ (http_set_cookie adds Secure and SameSite). */

/* The cookie name for a link into out (n >= ACCESS_COOKIE_NAME_MAX).
 * 0 or AM_ERR_TOOBIG. */
int access_cookie_name(const uint8_t link_id[16], char *out, size_t n);
/* Mint a cookie value for g (g->project_id is not part of the cookie: the
 * link names the project). expires must be in (now, now + 12 h]: else
 * AM_ERR_INVAL. AM_ERR_TOOBIG if n < ACCESS_COOKIE_MAX; AM_ERR_CRYPTO. */
int access_cookie_mint(struct app *a, const struct access_grant *g, int64_t expires, char *out,
		       size_t n);
/* Verify the value of the cookie named after link_id: version, kid (current
 * or previous), MAC, expiry (not past, not beyond the cap). On success out
 * gets link_id, link_gen and pw_gen; out->project_id is zeroed (the caller
 * fills it from the link row before access_grant_check, and compares the
 * generations with the database). Every failure: AM_ERR_DENIED. */
int access_cookie_verify(struct app *a, const uint8_t link_id[16], const char *value,
			 struct access_grant *out);
/* Convenience for a request: the cookie of g->link_id from the request's
 * Cookie header value (cookie_value may be NULL: denied), checked against g:
 * the same link and both generations equal. 0 or AM_ERR_DENIED. */
int access_cookie_check(struct app *a, const struct access_grant *g, const char *cookie_value);

/* ---- signed media URLs (DESIGN §6) ---------------------------------------------
 *   /m/OBJ?l=LINK&p=PROJECT&g=LINK_GEN&w=PW_GEN&e=EXPIRY&d=0|1&r=NONCE&k=KID&s=MAC
 * OBJ, LINK, PROJECT, NONCE: 32 lowercase hex; LINK_GEN, PW_GEN, KID: decimal
 * uint32; EXPIRY: decimal seconds since the epoch; MAC: 43 base64url
 * characters of HMAC-SHA256(url key[KID], "am-url-v2\nGET\n/m/OBJ\nLINK\n
 * PROJECT\nLINK_GEN\nPW_GEN\nEXPIRY\nD\nNONCE\nKID"). Exactly these
 * parameters in exactly this order; HEAD verifies like GET (same resource).
 * NONCE is 128 random bits chosen when the URL is minted: it grants nothing
 * (the verifier only checks it is MAC'd), it makes every load's URLs new
 * (docs/security.md 2.4) although the expiry has whole-second resolution.
 * Owner grants (g->owner) use the second form
 *   /m/OBJ?o=ACCOUNT&x=SESSION&p=PROJECT&e=EXPIRY&d=0|1&r=NONCE&k=KID&s=MAC
 * MAC'd as "am-owner-url-v2\nGET\n/m/OBJ\nACCOUNT\nSESSION\nPROJECT\n
 * EXPIRY\nD\nNONCE\nKID": a different prefix, so neither form verifies as the
 * other. (The v1 forms, without NONCE, are no longer accepted.) */
#define ACCESS_URL_NONCE_LEN 16
/* D: 0 inline (stream rendition or peaks), 1 attachment (the original),
 * 2 + F (F = 0..7) the original as a marked WAV (src/markers/) with the
 * review comments as cue points, F the marker flags (MARKERS_RESOLVED,
 * MARKERS_REPLIES, MARKERS_ASCII): the same rights as 1 (the original,
 * downloads on or an owner grant); 10 the project archive (below). D is MAC'd, so neither form can
 * be changed into the other. */
#define ACCESS_D_MARKED 2
/* D = 10: the project archive ("Download all", src/media/media_export.c):
 * OBJ is then the project's id (PROJECT), the same rights as 1 for every
 * original of the project. */
#define ACCESS_D_ARCHIVE 10
/* D = 11 + F: the marker zip of a version (src/media/media_marked_zip.c):
 * the four marker files and the marked WAV; OBJ is the version's original,
 * the same rights as 1. D = 19 + F: the marker zip of a project (one
 * folder per track, its newest ready version): OBJ is the project's id, the
 * rights of 10. F the marker flags as for ACCESS_D_MARKED. */
#define ACCESS_D_MARKERS_ZIP	 11
#define ACCESS_D_MARKERS_PROJECT 19
#define ACCESS_D_MAX		 26

/* Sign a media URL (path and query, no origin) for object_id into out
 * (n >= ACCESS_URL_MAX) with a fresh random nonce: no two calls give the same
 * URL. download: 0 (inline, stream rendition), 1 (attachment, original) or
 * ACCESS_D_MARKED + flags (the marked WAV of the original).
 * expires must be in (now, now + ACCESS_URL_CAP]: else AM_ERR_INVAL. Callers
 * usually pass access_url_expiry(a). 0, AM_ERR_TOOBIG, AM_ERR_CRYPTO. */
int access_url_sign(struct app *a, const struct access_grant *g, const uint8_t object_id[16],
		    int download, int64_t expires, char *out, size_t n);
/* The same with the caller's nonce (borrowed; e.g. one random nonce per
 * request for all the URLs of one answer, which differ by object and d).
 * Returns the length of the URL written (> 0) or the errors above. */
int access_url_sign_nonce(struct app *a, const struct access_grant *g, const uint8_t object_id[16],
			  int download, int64_t expires, const uint8_t nonce[ACCESS_URL_NONCE_LEN],
			  char *out, size_t n);
/* now + conf signed_url_lifetime (capped at ACCESS_URL_CAP). */
int64_t access_url_expiry(const struct app *a);
/* Verify the raw request target (path and query exactly as received, e.g.
 * http_req_target()) of a media request: strict parse (unknown, missing,
 * duplicate, reordered or re-encoded parameters refused), kid, MAC, expiry
 * (past or beyond the cap refused). Touches neither the database nor the
 * store. On success fills g, object_id, *download and *expires (each pointer
 * but g and object_id may be NULL). Every failure: AM_ERR_DENIED. */
int access_url_verify(struct app *a, const char *target, struct access_grant *g,
		      uint8_t object_id[16], int *download, int64_t *expires);

/* ---- signed upload URLs ---------------------------------------------------------
 *   /u/UPLOAD?a=ACCOUNT&p=PROJECT&v=VERSION&n=MAX_SIZE&e=EXPIRY&k=KID&s=MAC
 * MAC = HMAC-SHA256(url key[KID], "am-upload-v1\n/u/UPLOAD\nACCOUNT\nPROJECT\n
 * VERSION\nMAX_SIZE\nEXPIRY\nKID"). The URL serves every request of one
 * resumable upload (OPTIONS, HEAD, PATCH); "single use" is enforced by the
 * upload row (db_upload_*): once complete or cancelled it is dead. */
struct access_upload {
	uint8_t upload_id[16];
	uint8_t account_id[16];
	uint8_t project_id[16];
	uint8_t version_id[16];
	int64_t max_size; /* bytes: the upload's declared length must not exceed it */
	int64_t expires;  /* seconds since the epoch */
};

/* Sign an upload URL into out (n >= ACCESS_URL_MAX). u->expires must be in
 * (now, now + ACCESS_UPLOAD_CAP], u->max_size in [0, 2^50]: else AM_ERR_INVAL. */
int access_upload_sign(struct app *a, const struct access_upload *u, char *out, size_t n);
/* Verify the raw request target of an upload request (same strictness as
 * access_url_verify). Fills out. Every failure: AM_ERR_DENIED. */
int access_upload_verify(struct app *a, const char *target, struct access_upload *out);

/* ---- database half of a media check -------------------------------------------- */

/* The link exists in g->project_id, is not revoked or expired, and its
 * generation is g->link_gen; the project is live and its password
 * generation is g->pw_gen (0 when it has no password); object_id (unless
 * NULL) is a ready object of this project: for download = 1 the original,
 * and the project's downloads flag is still on; for download = 0 a stream
 * rendition or peaks. For an owner grant instead: the account is open, the
 * session g->session_id of that account is still live, the project is the
 * account's own, and download = 1 needs no downloads flag. 0, or
 * AM_ERR_DENIED for every mismatch; AM_ERR_DB / AM_ERR_UNAVAIL when the
 * database fails (a 5xx, not a denial). */
int access_grant_check(struct app *a, struct db *db, const struct access_grant *g,
		       const uint8_t *object_id, int download);
/* The same, returning the rows it read (either pointer may be NULL): the
 * media role needs the project's wrapped key and the object's DEK. */
int access_grant_load(struct app *a, struct db *db, const struct access_grant *g,
		      const uint8_t *object_id, int download, struct db_project *p,
		      struct db_object *o);

/* The owner half alone: session session_id of account account_id is live
 * (not expired, not logged out or revoked) and the account is open. One
 * read by primary key (db_session_live): cheap enough to repeat while a
 * transfer runs. 0, AM_ERR_DENIED, or AM_ERR_DB / AM_ERR_UNAVAIL. */
int access_session_check(struct app *a, struct db *db, const uint8_t account_id[16],
			 const uint8_t session_id[16]);

/* access_grant_check of a transfer that is running, from one read by
 * primary keys (db_grant_state_link / _owner) with no field opened: the
 * same rules, for an object_id that must exist. 0, AM_ERR_DENIED, or
 * AM_ERR_DB / AM_ERR_UNAVAIL. */
int access_grant_recheck(struct app *a, struct db *db, const struct access_grant *g,
			 const uint8_t object_id[16], int download);

/* Lowercase hex of 16 bytes into out[33]. Parse exactly 32 lowercase hex
 * characters: 0 or AM_ERR_INVAL. Shared by the URL formats. */
void access_hex16(const uint8_t id[16], char out[33]);
int access_unhex16(const char *s, size_t n, uint8_t out[16]);

/* ---- signed export URLs (src/access/access_export.c, docs/media.md) ---------------
 *   /m/export/ACCOUNT?x=SESSION&e=EXPIRY&k=KID&s=MAC
 * ACCOUNT, SESSION: 32 lowercase hex (the owner's account id and the id of
 * the session that asked for it: the media role refuses the URL once that
 * session is gone, e.g. after a logout); EXPIRY, KID: canonical decimal;
 * MAC: 43 base64url characters of HMAC-SHA256(url key[KID],
 * "am-export-v1\nGET\n/m/export/ACCOUNT\nSESSION\nEXPIRY\nKID"). Same
 * strictness as the media URLs; a different MAC'd prefix, so no media or
 * upload URL can ever verify as an export URL or the other way round. */
#define ACCESS_EXPORT_CAP 1800 /* 30 min: no export URL lives longer */

struct access_export {
	uint8_t account_id[16];
	uint8_t session_id[16];
	int64_t expires; /* seconds since the epoch */
};

/* now + min(conf signed_url_lifetime, ACCESS_EXPORT_CAP). */
int64_t access_export_expiry(const struct app *a);
/* Sign an export URL into out (n >= ACCESS_URL_MAX). x->expires must be in
 * (now, now + ACCESS_EXPORT_CAP]: else AM_ERR_INVAL. AM_ERR_TOOBIG,
 * AM_ERR_CRYPTO. */
int access_export_sign(struct app *a, const struct access_export *x, char *out, size_t n);
/* Verify the raw request target of an export request (strict parse, kid,
 * MAC, expiry not past and not beyond the cap). Touches neither the
 * database nor the store. Fills out. Every failure: AM_ERR_DENIED. */
int access_export_verify(struct app *a, const char *target, struct access_export *out);

/* ---- signed tracer URLs (src/access/access_trace.c, docs/api.md "Trace a leak") ----
 *   /m/trace/PROJECT?a=ACCOUNT&x=SESSION&e=EXPIRY&k=KID&s=MAC   (POST)
 * PROJECT, ACCOUNT, SESSION: 32 lowercase hex (the project to trace in, its
 * owner's account and the session that asked); MAC: 43 base64url of
 * HMAC-SHA256(url key[KID], "am-trace-v1\nPOST\n/m/trace/PROJECT\nACCOUNT\n
 * SESSION\nEXPIRY\nKID"): a prefix of its own, so no other signed URL
 * verifies as a tracer URL. The media role takes one bounded POST body. */
#define ACCESS_TRACE_CAP 600 /* 10 min: no tracer URL lives longer */

struct access_trace {
	uint8_t project_id[16];
	uint8_t account_id[16];
	uint8_t session_id[16];
	int64_t expires; /* seconds since the epoch */
};

/* now + min(conf signed_url_lifetime, ACCESS_TRACE_CAP). */
int64_t access_trace_expiry(const struct app *a);
/* Sign a tracer URL into out (n >= ACCESS_URL_MAX); x->expires in (now,
 * now + ACCESS_TRACE_CAP] or AM_ERR_INVAL. AM_ERR_TOOBIG, AM_ERR_CRYPTO. */
int access_trace_sign(struct app *a, const struct access_trace *x, char *out, size_t n);
/* Verify a tracer request's raw target (strict parse, kid, MAC, expiry).
 * Touches no database. Fills out. Every failure: AM_ERR_DENIED. */
int access_trace_verify(struct app *a, const char *target, struct access_trace *out);

/* ---- mark tickets (src/access/access_mark.c, docs/watermark.md "Serving") -------
 *   mt1.KID.EXPIRY.PROJECT.LINK.MARK.MAC
 * PROJECT, LINK, MARK: 32 lowercase hex (the mark row's id: random, it
 * names no one); KID, EXPIRY: canonical decimal; MAC: 43 base64url of
 * HMAC-SHA256(url key[KID], "am-mark-ticket-v1\nPROJECT\nLINK\nMARK\nEXPIRY\n
 * KID"). The web role mints one for the guest session's own mark row
 * (POST /api/v1/s/{token}/mark); the media role verifies it and reads the
 * row's payload to choose the A/B fragments. The payload is not in the
 * ticket. */
#define ACCESS_MARK_TICKET_MAX 200

struct access_mark_ticket {
	uint8_t project_id[16];
	uint8_t link_id[16];
	uint8_t mark_id[16];
	int64_t expires; /* seconds since the epoch */
};

/* Mint a ticket for t into out (n >= ACCESS_MARK_TICKET_MAX). t->expires in
 * (now, now + ACCESS_URL_CAP]: else AM_ERR_INVAL. AM_ERR_TOOBIG,
 * AM_ERR_CRYPTO. */
int access_mark_ticket_mint(struct app *a, const struct access_mark_ticket *t, char *out, size_t n);
/* Verify a ticket (strict parse, kid current or previous, MAC, then expiry:
 * past or beyond the cap refused); fills out. Every failure: AM_ERR_DENIED.
 * The caller then checks that the link is the one of its grant. */
int access_mark_ticket_verify(struct app *a, const char *ticket, struct access_mark_ticket *out);

#endif
