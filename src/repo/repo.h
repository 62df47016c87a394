/*
 * repo: the repository layer over db/db.h: one set of functions per entity
 * of the product (DESIGN §5), so that no SQL appears outside src/repo/ (and
 * the migrations of src/db/). Runs in the web, media and worker roles and
 * the admin commands. The functions keep the db_ prefix they were born with:
 * they take a struct db connection and are the database as the rest of the
 * program sees it.
 *
 * Trust: every function that takes a row id also takes the owning project
 * (or account) and puts both in its WHERE clause, so an id from another
 * project answers AM_ERR_NOTFOUND by construction. The project_id a caller
 * passes must come from its credential: a project the session's account owns
 * (db_project_get) or a resolved share link (db_link_resolve).
 *
 * Field encryption: sensitive columns are sealed with crypto_field_seal under
 * the project's field key (titles, file names, comment bodies, guest names,
 * link labels, event details, project password hash) or the account field
 * key (e-mail, password hash, session agent, outbox mail), AAD = table,
 * column, row id, project id (zero for account fields). The repository asks
 * struct db_keys for the keys; callers see only plaintext. A project whose
 * wrapped key is gone (deleted) answers AM_ERR_NOTFOUND for every content
 * read. Text longer than the DB_*_MAX limits is refused with AM_ERR_TOOBIG.
 *
 * Times are milliseconds since the Unix epoch (am_now_ms()). Optional ids
 * are passed as NULL and returned with a has_* flag. List functions call cb
 * once per row (row borrowed for the call); a non-zero return from cb stops
 * the listing and is returned.
 */
#ifndef AM_REPO_H
#define AM_REPO_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "util/util.h"

#define DB_EMAIL_MAX	320
#define DB_PWHASH_MAX	255
#define DB_TITLE_MAX	512
#define DB_FILENAME_MAX 512
#define DB_NAME_MAX	128
#define DB_LABEL_MAX	128
#define DB_TOKEN_MAX	32 /* a share-link token: CRYPTO_TOKEN_LEN */
#define DB_AGENT_MAX	128
#define DB_BODY_MAX	4096
#define DB_DETAILS_MAX	1024
#define DB_KIND_MAX	32
#define DB_STATE_MAX	16
#define DB_ERROR_MAX	512
#define DB_MKID_MAX	64
#define DB_WRAPPED_MAX	128
#define DB_STOREKEY_MAX 256
#define DB_CTYPE_MAX	64
#define DB_WORKER_MAX	64
#define DB_PAYLOAD_MAX	1024
#define DB_SUBJECT_MAX	256
#define DB_MAILBODY_MAX 65536

struct crypto_field_key;

/* Key access for the repository (implemented by app/ over crypto/; tests
 * fake it). The repository never sees a key byte: it holds field-key handles
 * (crypto.h) and asks crypto to seal, open and index. */
struct db_keys {
	/* Open a project's field key: unwrap wrapped_pk (bound to mk_id and
	 * project_id) and return a handle to HKDF(PK, "field") in *out, owned
	 * by the caller (crypto_field_key_free), NULL on failure. 0 or
	 * AM_ERR_CRYPTO. */
	int (*project_field_key)(void *ctx, const uint8_t project_id[DB_ID_LEN],
				 const uint8_t *wrapped_pk, size_t wrapped_len, const char *mk_id,
				 struct crypto_field_key **out);
	void *ctx;
	const struct crypto_field_key *account_field_key; /* borrowed: account-level fields */
	const struct crypto_field_key *email_index_key;	  /* borrowed: blind index of e-mail */
	/* One request's project key (db_keys_hold), lent to each repository
	 * call on held_project instead of opening it again; NULL: none. */
	struct crypto_field_key *held;
	uint8_t held_project[DB_ID_LEN];
};

/* For one request on project_id: *out = *k with that project's field key
 * opened once and held, so that the request's repository calls on it
 * (each passed out) take a reference instead of a SELECT, an unwrap and a
 * key derivation each. Release it when the request ends (the key is zeroed
 * then: nothing is kept across requests), on one thread only. 0,
 * AM_ERR_NOTFOUND (no live project), AM_ERR_CRYPTO; on failure *out = *k
 * without a key held (db_keys_release still fine). */
int db_keys_hold(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 struct db_keys *out);
/* Give the held key back (zeroed and freed with its last reference);
 * accepts keys without one. */
void db_keys_release(struct db_keys *k);

/* ---- accounts and sessions ------------------------------------------------- */

struct db_account {
	uint8_t id[DB_ID_LEN];
	char email[DB_EMAIL_MAX + 1];
	char password_hash[DB_PWHASH_MAX + 1]; /* Argon2id PHC string */
	int64_t created;
	int disabled;
	int64_t email_verified; /* ms when the address was proven (schema v5); 0: not verified */
	uint8_t
	    email_index[32]; /* the blind index of the current address (binds mail tokens to it) */
};

/* Create an account; e-mail is matched case-insensitively (ASCII) through
 * the blind index. id_out gets the new id. AM_ERR_EXISTS if taken. */
int db_account_create(struct db *db, const struct db_keys *k, const char *email,
		      const char *password_hash, uint8_t id_out[DB_ID_LEN]);
int db_account_get(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN],
		   struct db_account *out);
int db_account_find_by_email(struct db *db, const struct db_keys *k, const char *email,
			     struct db_account *out);
int db_account_set_password(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN],
			    const char *password_hash);
int db_account_set_disabled(struct db *db, const uint8_t id[DB_ID_LEN], int disabled);
/* Mark the account's address verified at `at` (ms; an earlier time is kept)
 * or, with at == 0, not verified. email_index (32 bytes, may be NULL): only
 * if the account still has this address, so a proof for an old address
 * never verifies a new one. AM_ERR_NOTFOUND when no open account matched. */
int db_account_set_email_verified(struct db *db, const uint8_t id[DB_ID_LEN],
				  const uint8_t *email_index, int64_t at);
/* *at = when the account's address was verified, 0 if it is not;
 * AM_ERR_NOTFOUND for an unknown account. */
int db_account_email_verified(struct db *db, const uint8_t id[DB_ID_LEN], int64_t *at);
/* Delete an account and (cascade) its sessions. Its projects must have been
 * shredded and purged first: AM_ERR_CONFLICT otherwise. */
int db_account_delete(struct db *db, const uint8_t id[DB_ID_LEN]);
int db_account_count(struct db *db, int64_t *n);

struct db_session {
	uint8_t id[DB_ID_LEN];
	uint8_t account_id[DB_ID_LEN];
	int64_t created, last_seen, expires;
	char agent[DB_AGENT_MAX + 1]; /* "" unless read by db_session_list */
};

/* Store a session: token_hash = SHA-256 of the cookie's session id (the id
 * itself is never stored). agent: a short user-agent summary or NULL. */
int db_session_create(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		      const uint8_t token_hash[32], int64_t expires, const char *agent,
		      uint8_t id_out[DB_ID_LEN]);
/* The live session with this hash (expires > now), NOTFOUND otherwise. The
 * caller applies the idle timeout to last_seen. */
int db_session_get(struct db *db, const uint8_t token_hash[32], int64_t now,
		   struct db_session *out);
int db_session_touch(struct db *db, const uint8_t token_hash[32], int64_t now);
/* 0 when session id of account_id is live at now (expires > now) and the
 * account is not disabled: one read by primary key, no field opened (the
 * media role re-checks an owner's grant with it while a transfer runs).
 * AM_ERR_NOTFOUND otherwise. */
int db_session_live(struct db *db, const uint8_t account_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		    int64_t now);
int db_session_list(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		    int (*cb)(void *ctx, const struct db_session *s), void *ctx);
int db_session_delete(struct db *db, const uint8_t account_id[DB_ID_LEN],
		      const uint8_t id[DB_ID_LEN]);
int db_session_delete_hash(struct db *db, const uint8_t token_hash[32]);
/* Delete every session of the account except keep_id (NULL: all). */
int db_session_delete_all(struct db *db, const uint8_t account_id[DB_ID_LEN],
			  const uint8_t *keep_id);
int db_session_purge(struct db *db, int64_t now, int64_t *deleted);

/* ---- wrapped key material shared by the nodes -------------------------------------
 * Named blobs that are already sealed by src/crypto (the account key wrapped
 * under MK, the IP-ratchet state): "account-key", "ip-ratchet". */
#define DB_KEYBLOB_MAX 512

/* Store a blob. only_if_absent: keep an existing one (first node wins;
 * AM_ERR_EXISTS then), else replace it. mk_id may be NULL. */
int db_keyblob_put(struct db *db, const char *name, const char *mk_id, const uint8_t *blob,
		   size_t n, int only_if_absent);
/* Read a blob into out (cap bytes); AM_ERR_NOTFOUND if none. */
int db_keyblob_get(struct db *db, const char *name, uint8_t *out, size_t cap, size_t *n,
		   char *mk_id, size_t mk_id_len);

/* ---- projects and share links ------------------------------------------- */

struct db_project {
	uint8_t id[DB_ID_LEN];
	uint8_t account_id[DB_ID_LEN];
	char title[DB_TITLE_MAX + 1];
	uint8_t wrapped_pk[DB_WRAPPED_MAX];
	size_t wrapped_pk_len;
	char mk_id[DB_MKID_MAX + 1];
	int downloads;
	int has_password;
	int64_t pw_gen;
	int64_t pw_failures;
	int64_t created;
	int64_t rev;	   /* content revision: raised by every write to what a review page shows */
	int show_loudness; /* guests see the versions' meters (off by default) */
	int mark_on;	   /* guests' streams are marked (schema v15; db_mark_settings_get) */
};

/* Create a project. The caller chose id and wrapped the new PK for it
 * (the wrap's AAD binds the id). Downloads start ON. */
int db_project_create(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		      const uint8_t id[DB_ID_LEN], const uint8_t *wrapped_pk, size_t wrapped_len,
		      const char *mk_id, const char *title);
/* A live project of this account. */
int db_project_get(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		   const uint8_t id[DB_ID_LEN], struct db_project *out);
/* The project of a resolved share link (guest side). */
int db_project_get_by_id(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN],
			 struct db_project *out);
/* Live projects of an account, newest first. */
int db_project_list(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		    int (*cb)(void *ctx, const struct db_project *p), void *ctx);
int db_project_rename(struct db *db, const struct db_keys *k, const uint8_t account_id[DB_ID_LEN],
		      const uint8_t id[DB_ID_LEN], const char *title);
int db_project_set_downloads(struct db *db, const uint8_t account_id[DB_ID_LEN],
			     const uint8_t id[DB_ID_LEN], int on);
/* Whether the project's guests see the meters of its versions. */
int db_project_set_show_loudness(struct db *db, const uint8_t account_id[DB_ID_LEN],
				 const uint8_t id[DB_ID_LEN], int on);
/* Set (hash) or remove (NULL) the project password; bumps pw_gen (old
 * password cookies die) and clears the failure counter. */
int db_project_set_password(struct db *db, const struct db_keys *k,
			    const uint8_t account_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
			    const char *password_hash);
/* The password hash of a live project for verification (guest side).
 * AM_ERR_NOTFOUND if it has none. */
int db_project_password(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN],
			char *hash, size_t hashlen, int64_t *pw_gen, int64_t *failures);
/* Count a failed attempt atomically; *failures gets the new count. */
int db_project_password_failed(struct db *db, const uint8_t id[DB_ID_LEN], int64_t *failures);
int db_project_password_ok(struct db *db, const uint8_t id[DB_ID_LEN]);
/* Crypto-shred: destroy the wrapped PK and title at once and mark the
 * project deleted; from now on nothing of it opens. On SQLite the WAL is
 * checkpointed so the old key bytes leave the -wal file too. */
int db_project_shred(struct db *db, const uint8_t account_id[DB_ID_LEN],
		     const uint8_t id[DB_ID_LEN]);
/* Deleted projects still in the table (their objects to remove), up to 100. */
int db_project_list_deleted(struct db *db, int (*cb)(void *ctx, const uint8_t id[DB_ID_LEN]),
			    void *ctx);
/* Remove a shredded project's rows (after its objects left the store). */
int db_project_purge(struct db *db, const uint8_t id[DB_ID_LEN]);
/* Key rotation: projects still wrapped under mk_id, and the re-wrap. */
int db_project_list_by_mk(struct db *db, const char *mk_id,
			  int (*cb)(void *ctx, const struct db_project *p), void *ctx);
int db_project_rewrap(struct db *db, const uint8_t id[DB_ID_LEN], const char *old_mk_id,
		      const uint8_t *wrapped_pk, size_t wrapped_len, const char *mk_id);

struct db_link {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	int64_t generation;
	char label[DB_LABEL_MAX + 1];
	int64_t expires; /* 0: never */
	int revoked;
	int is_default;
	int64_t created;
	/* The current token, opened from token_ct by the keyed reads (get,
	 * list) when it is there and its SHA-256 is the stored token_hash;
	 * "" otherwise and always from db_link_resolve. A bearer secret: for
	 * the owner's own session only; zero it after use. */
	char token[DB_TOKEN_MAX + 1];
};

/* Create a share link (token_hash = SHA-256 of the token). is_default: the
 * project's one default link (AM_ERR_EXISTS if it has one). label may be NULL. */
int db_link_create(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		   const uint8_t token_hash[32], const char *label, int64_t expires, int is_default,
		   uint8_t id_out[DB_ID_LEN]);
/* The live link of a token hash: not revoked, not expired at now, project
 * not deleted. The label is not decrypted. NOTFOUND otherwise. */
int db_link_resolve(struct db *db, const uint8_t token_hash[32], int64_t now, struct db_link *out);
int db_link_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		const uint8_t id[DB_ID_LEN], struct db_link *out);
int db_link_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 int (*cb)(void *ctx, const struct db_link *l), void *ctx);
/* Replace the token hash and increment the generation in one statement;
 * *generation gets the new value. */
int db_link_regenerate(struct db *db, const uint8_t project_id[DB_ID_LEN],
		       const uint8_t id[DB_ID_LEN], const uint8_t new_token_hash[32],
		       int64_t *generation);
/* Revoke: also destroys the sealed token. */
int db_link_revoke(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN]);
/* Seal token (DB_TOKEN_MAX characters at most) under the project's field
 * key into the live link's token_ct, after db_link_create or
 * db_link_regenerate in the same transaction. AM_ERR_NOTFOUND if the link
 * is not there or revoked. */
int db_link_seal_token(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		       const uint8_t id[DB_ID_LEN], const char *token);

/* What a media grant's re-check needs, read in one statement by primary
 * keys, no field opened: the media role repeats it every second while a
 * transfer runs (docs/media.md "Transfers in flight"). The link fields are
 * 0 for an owner's read. */
struct db_grant_state {
	int64_t link_generation, link_expires; /* expires 0: never */
	int link_revoked;
	uint8_t account_id[DB_ID_LEN]; /* the project's owner */
	int downloads, has_password;
	int64_t pw_gen;
	char object_kind[DB_STATE_MAX + 1], object_state[DB_STATE_MAX + 1];
};

/* The share link link_id of project project_id, the project (not deleted)
 * and its object object_id. AM_ERR_NOTFOUND when any is missing. */
int db_grant_state_link(struct db *db, const uint8_t project_id[DB_ID_LEN],
			const uint8_t link_id[DB_ID_LEN], const uint8_t object_id[DB_ID_LEN],
			struct db_grant_state *out);
/* The project project_id (not deleted) of account_id with its object
 * object_id, provided session_id of that account is live at now and the
 * account open. AM_ERR_NOTFOUND otherwise. */
int db_grant_state_owner(struct db *db, const uint8_t account_id[DB_ID_LEN],
			 const uint8_t session_id[DB_ID_LEN], const uint8_t project_id[DB_ID_LEN],
			 const uint8_t object_id[DB_ID_LEN], int64_t now,
			 struct db_grant_state *out);

/* ---- tracks, versions, stored objects ------------------------------------------ */

struct db_track {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	char title[DB_TITLE_MAX + 1];
	int64_t position;
	int64_t created;
	int64_t tempo_mbpm;	/* the song's tempo, milli-BPM (default 120000) */
	int64_t ts_num, ts_den; /* its time signature (default 4/4) */
};

int db_track_create(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const char *title, int64_t position, uint8_t id_out[DB_ID_LEN]);
int db_track_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 const uint8_t id[DB_ID_LEN], struct db_track *out);
/* Tracks by position, then creation. */
int db_track_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		  int (*cb)(void *ctx, const struct db_track *t), void *ctx);
int db_track_update(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t id[DB_ID_LEN], const char *title /* NULL: keep */,
		    int64_t position);
/* Renumber the project's tracks 0..n-1 in the order of ids (distinct; the
 * caller checks), atomically. AM_ERR_INVAL, and nothing changed, unless
 * ids are exactly the project's tracks. */
int db_track_reorder(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const uint8_t (*ids)[DB_ID_LEN], size_t n);
/* The track's tempo map for the marker export (checked by the caller).
 * AM_ERR_NOTFOUND when no such track is in the project. */
int db_track_set_tempo(struct db *db, const uint8_t project_id[DB_ID_LEN],
		       const uint8_t id[DB_ID_LEN], int64_t tempo_mbpm, int64_t ts_num,
		       int64_t ts_den);
/* Delete a track with its versions and comments; its objects are detached
 * and marked 'deleting' for the housekeeping job (db_object_list_deleting). */
int db_track_delete(struct db *db, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t id[DB_ID_LEN]);

struct db_version {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	uint8_t track_id[DB_ID_LEN];
	int64_t number; /* 1, 2, ... per track */
	char filename[DB_FILENAME_MAX + 1];
	char state[DB_STATE_MAX + 1]; /* uploading, queued, processing, ready, failed */
	int64_t progress;	      /* 0..100 while processing */
	char error[DB_ERROR_MAX + 1]; /* reason shown to the owner when failed */
	int64_t created;
	/* media facts (0 until known) */
	int64_t duration_ms, sample_rate, channels, bit_depth, loudness_mlufs, true_peak_mdbtp;
	/* while 'uploading': the last sign of life of its open upload (ms: its
	 * last PATCH, or the end of a lease still held), 0 when it has none */
	int64_t upload_active_ms;
	/* loudness range (milli-LU) and the rendition's own true peak
	 * (milli-dBTP); meter_flags: which figures have no number and why
	 * (DB_METER_* bits below), -1 when the version was measured before
	 * these existed (then neither of the two is known either). */
	int64_t loudness_range_mlu, stream_true_peak_mdbtp, meter_flags;
	/* A/B alignment (schema v13, worker/align.c): offset_ms against the
	 * track's previous ready version (this version's time = that one's
	 * + offset_ms), sync_ms on the track's common timeline, offset_state
	 * one of DB_OFFSET_*; -1 while not known (then the two are 0). */
	int64_t offset_ms, sync_ms, offset_state;
};

#define DB_OFFSET_FIRST	    0 /* no earlier ready version */
#define DB_OFFSET_MATCHED   1
#define DB_OFFSET_UNMATCHED 2 /* did not correlate: offset 0 */

/* meter_flags bits: the values of enum xcode_meter (the worker checks they
 * agree), here for the web role, which includes no xcode/. */
#define DB_METER_SILENT	   1 /* digital silence: no loudness, range or peak */
#define DB_METER_SHORT_I   2 /* under 400 ms: no integrated loudness */
#define DB_METER_SHORT_LRA 4 /* under 3 s: no loudness range */
#define DB_METER_GATED	   8 /* every block under the -70 LUFS gate */

/* One meter of a version as every view shows it (the owner's and guest's
 * API, the export): name is the JSON key; reason is NULL when value (in
 * units: LUFS, dBTP, LU) is the figure, else why there is none ("silent",
 * "too short to measure", "below the -70 LUFS gate"). */
struct db_meter {
	const char *name;
	double value;
	const char *reason;
};
#define DB_METERS_MAX 4
/* The meters of v into out (borrowed static strings), in the order
 * loudness, true peak, loudness range, rendition's true peak; a version
 * measured before schema v8 (meter_flags -1) has only the first two, as
 * stored. Returns how many (0 when v has no facts: sample_rate 0). */
size_t db_version_meters(const struct db_version *v, struct db_meter out[DB_METERS_MAX]);

/* A new version of a track, numbered after the last one, state "uploading". */
int db_version_create(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		      const uint8_t track_id[DB_ID_LEN], const char *filename,
		      uint8_t id_out[DB_ID_LEN], int64_t *number);
int db_version_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		   const uint8_t id[DB_ID_LEN], struct db_version *out);
/* Versions of one track (track_id) or of the whole project (NULL), by track
 * and number. */
int db_version_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t *track_id, int (*cb)(void *ctx, const struct db_version *v),
		    void *ctx);
/* Processing state; error may be NULL. */
int db_version_set_state(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 const uint8_t id[DB_ID_LEN], const char *state, int64_t progress,
			 const char *error);
/* Store v's offset_ms, sync_ms and offset_state (-1: NULL, not known). */
int db_version_set_offset(struct db *db, const uint8_t project_id[DB_ID_LEN],
			  const struct db_version *v);
/* Store the media facts (the worker, when a transcode succeeded). */
int db_version_set_media(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 const struct db_version *v);

struct db_object {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	uint8_t version_id[DB_ID_LEN];
	int has_version;
	char kind[DB_STATE_MAX + 1]; /* original, stream, peaks, export */
	uint8_t wrapped_dek[DB_WRAPPED_MAX];
	size_t wrapped_dek_len;
	int64_t plain_size, cipher_size;
	char store_key[DB_STOREKEY_MAX + 1];
	char content_type[DB_CTYPE_MAX + 1];
	char state[DB_STATE_MAX + 1]; /* pending, ready, deleting */
	int64_t created;
};

/* Record an object. in->id is chosen by the caller (the AM1 header and the
 * DEK wrap bind it); project_id comes from the argument, created is now. */
int db_object_create(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const struct db_object *in);
int db_object_get(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		  struct db_object *out);
/* The ready object of a kind for a version. */
int db_object_find(struct db *db, const uint8_t project_id[DB_ID_LEN],
		   const uint8_t version_id[DB_ID_LEN], const char *kind, struct db_object *out);
/* Mark an object ready with its final sizes (in the transaction that also
 * records the rest of the upload). */
int db_object_ready(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		    int64_t plain_size, int64_t cipher_size);
int db_object_set_state(struct db *db, const uint8_t project_id[DB_ID_LEN],
			const uint8_t id[DB_ID_LEN], const char *state);
/* Every object of a project (export, purge). */
int db_object_list(struct db *db, const uint8_t project_id[DB_ID_LEN],
		   int (*cb)(void *ctx, const struct db_object *o), void *ctx);
/* The part of an object a media URL needs. */
struct db_object_ref {
	uint8_t id[DB_ID_LEN];
	uint8_t version_id[DB_ID_LEN];
	char kind[DB_STATE_MAX + 1]; /* original, stream, peaks */
	int64_t created;
};
/* The ready objects of a project that belong to a version and are of a
 * kind a player links (original, stream, peaks), ordered as db_object_list
 * (created, id), with only those four columns read (issue 25: the guest
 * view's media URLs). cb's non-zero return stops the listing and is
 * returned. */
int db_object_ready_refs(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 int (*cb)(void *ctx, const struct db_object_ref *r), void *ctx);
/* Objects in state 'deleting' (any project), up to limit: housekeeping. */
int db_object_list_deleting(struct db *db, int limit,
			    int (*cb)(void *ctx, const struct db_object *o), void *ctx);
int db_object_delete(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const uint8_t id[DB_ID_LEN]);
/* Whether a row names store key: an object (objects.store_key) or a
 * received upload part (upload_parts.store_key). *named is 1 unless the
 * query answered that none does. Housekeeping's orphan sweep. */
int db_store_key_named(struct db *db, const char *key, int *named);

/* ---- guests, comments, events ---------------------------------------------------- */

struct db_guest {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	uint8_t link_id[DB_ID_LEN];
	int has_link;
	char name[DB_NAME_MAX + 1];
	uint8_t ip_pseudo[16]; /* truncated HMAC of the address (DESIGN §6) */
	int64_t ip_epoch;
	int64_t created, last_seen;
};

int db_guest_create(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t *link_id, const char *name, const uint8_t ip_pseudo[16],
		    int64_t ip_epoch, uint8_t id_out[DB_ID_LEN]);
int db_guest_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 const uint8_t id[DB_ID_LEN], struct db_guest *out);
int db_guest_touch(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		   int64_t now);

/* ---- reviewer actions (repo_review.c, issue 22) ------------------------------------
 * A guest session is the SHA-256 of the random value of a browser's
 * guest-session cookie (docs/security.md): guest rows written with it, and
 * verdicts, carry it, and a request proves it holds the cookie by hashing
 * it again. */
#define DB_SESSION_HASH_LEN 32

/* Record the session hash of guest row id. 0 or AM_ERR_NOTFOUND. */
int db_guest_set_session(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 const uint8_t id[DB_ID_LEN], const uint8_t hash[DB_SESSION_HASH_LEN]);
/* Whether guest row id of the project was written through link_id under
 * session hash: 0, AM_ERR_DENIED (another session or link, or none),
 * AM_ERR_NOTFOUND (no such guest) or a database error. */
int db_guest_session_check(struct db *db, const uint8_t project_id[DB_ID_LEN],
			   const uint8_t id[DB_ID_LEN], const uint8_t link_id[DB_ID_LEN],
			   const uint8_t hash[DB_SESSION_HASH_LEN]);
/* The live comments of the project written through link_id under session
 * hash and created after since (ms), oldest first: cb gets each id and its
 * creation time. */
struct db_comment_mine {
	uint8_t id[DB_ID_LEN];
	int64_t created;
};
int db_comment_list_mine(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 const uint8_t link_id[DB_ID_LEN], const uint8_t hash[DB_SESSION_HASH_LEN],
			 int64_t since, int (*cb)(void *ctx, const struct db_comment_mine *m),
			 void *ctx);
/* Replace a live comment's body (sealed anew) and set its edit time to now.
 * AM_ERR_NOTFOUND for a deleted or unknown comment; AM_ERR_TOOBIG. */
int db_comment_edit(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t id[DB_ID_LEN], const char *body);

#define DB_NOTE_MAX 1000
struct db_verdict {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	uint8_t version_id[DB_ID_LEN];
	uint8_t session_hash[DB_SESSION_HASH_LEN];
	char name[DB_NAME_MAX + 1];
	char verdict[24]; /* "approved" or "changes_requested" */
	char note[DB_NOTE_MAX + 1];
	int64_t created, updated;
};
/* Set the verdict of session hash on a version of the project (one per
 * version and session: a second call replaces name, verdict and note).
 * verdict must be "approved" or "changes_requested" (AM_ERR_INVAL); note
 * may be NULL. AM_ERR_NOTFOUND if the version is not the project's. Runs
 * its own write transaction. */
int db_verdict_set(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		   const uint8_t version_id[DB_ID_LEN], const uint8_t *link_id,
		   const uint8_t hash[DB_SESSION_HASH_LEN], const char *name, const char *verdict,
		   const char *note);
/* The project's verdicts by version, then first given. */
int db_verdict_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    int (*cb)(void *ctx, const struct db_verdict *v), void *ctx);

struct db_comment {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	uint8_t version_id[DB_ID_LEN];
	uint8_t guest_id[DB_ID_LEN];
	int has_guest;		      /* 0: written by the owner */
	char author[DB_NAME_MAX + 1]; /* the guest's name, "" for the owner */
	uint8_t parent_id[DB_ID_LEN];
	int has_parent;
	char body[DB_BODY_MAX + 1]; /* "" once deleted */
	int64_t time_ms;
	int64_t end_ms; /* -1: a point, not a region */
	int resolved;
	int64_t created;
	int64_t deleted; /* 0: live */
	int64_t edited;	 /* last edit by its guest author (ms); 0: never */
};

/* A comment on a version by a guest (guest_id) or the owner (NULL).
 * end_ms < 0 for none; parent_id may be NULL. The version, guest and parent
 * must belong to project_id (AM_ERR_NOTFOUND otherwise). */
int db_comment_create(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		      const uint8_t version_id[DB_ID_LEN], const uint8_t *guest_id,
		      const char *body, int64_t time_ms, int64_t end_ms, const uint8_t *parent_id,
		      uint8_t id_out[DB_ID_LEN]);
int db_comment_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		   const uint8_t id[DB_ID_LEN], struct db_comment *out);
/* Comments of one version (or the whole project: NULL) by time, then
 * creation; deleted ones included (as placeholders for their replies). */
int db_comment_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		    const uint8_t *version_id, int (*cb)(void *ctx, const struct db_comment *c),
		    void *ctx);
int db_comment_set_resolved(struct db *db, const uint8_t project_id[DB_ID_LEN],
			    const uint8_t id[DB_ID_LEN], int resolved);
/* Delete: the body ciphertext is destroyed, the row stays for its replies. */
int db_comment_delete(struct db *db, const uint8_t project_id[DB_ID_LEN],
		      const uint8_t id[DB_ID_LEN]);

struct db_event {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	char kind[DB_KIND_MAX + 1]; /* page_open, play, download, password_failed, ... */
	uint8_t guest_id[DB_ID_LEN];
	int has_guest;
	char details[DB_DETAILS_MAX + 1];
	int64_t created;
};

/* Record an access event; guest_id and details may be NULL. */
int db_event_add(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 const char *kind, const uint8_t *guest_id, const char *details);
/* One event for db_event_add_batch; every pointer is borrowed. */
struct db_event_new {
	const uint8_t *project_id; /* DB_ID_LEN bytes */
	const char *kind;
	const uint8_t *guest_id; /* NULL: none */
	const char *details;	 /* NULL: none */
	int64_t created;	 /* milliseconds since the epoch; <= 0: now */
};
/* Record n events in one write transaction (nested in the caller's, if
 * any), each sealed as db_event_add seals it: all of them or none. 0,
 * AM_ERR_INVAL (a kind empty or too long), AM_ERR_TOOBIG (details),
 * AM_ERR_NOTFOUND (a project deleted or unknown), AM_ERR_CONFLICT or a
 * db_step error; nothing is written on any error. */
int db_event_add_batch(struct db *db, const struct db_keys *k, const struct db_event_new *ev,
		       size_t n);
/* Events of a project, newest first, at most limit (0: all). */
int db_event_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		  int limit, int (*cb)(void *ctx, const struct db_event *e), void *ctx);

/* ---- listen coverage (schema v12; src/repo/repo_listen.c, docs/api.md "Activity") ------
 * One row per (project, version, listener): what that listener heard of
 * the version at 1 s resolution (bit i, least significant bit first: the
 * second [i, i + 1) was heard), merged from the review page's reports; the
 * name they gave and the link they came by (latest report wins); how often
 * they started it. Name and bitmap are sealed under the project's field
 * key. listener is a 16-byte pseudonym (the API derives it), never an
 * address. */
#define DB_LISTEN_MAX_S 21600 /* seconds of a version covered, at most (6 h) */
#define DB_LISTEN_BYTES (DB_LISTEN_MAX_S / 8)
#define DB_LISTENER_LEN 16
#define DB_LISTENS_MAX	20000 /* rows one listing returns, at most */

struct db_listen {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	uint8_t version_id[DB_ID_LEN];
	uint8_t listener[DB_LISTENER_LEN];
	uint8_t link_id[DB_ID_LEN];
	int has_link;
	char name[DB_NAME_MAX + 1]; /* "" when none was given */
	uint8_t heard[DB_LISTEN_BYTES];
	size_t heard_len; /* bytes of heard in use */
	int64_t plays, created, last_seen;
};

/* What one report adds; every pointer is borrowed. */
struct db_listen_add {
	const uint8_t *project_id, *version_id; /* DB_ID_LEN bytes */
	const uint8_t *listener;		/* DB_LISTENER_LEN bytes */
	const uint8_t *link_id;			/* NULL: keep the row's */
	const char *name;			/* NULL or "": keep the row's */
	const uint8_t *heard;			/* bitmap as in struct db_listen */
	size_t heard_len;			/* <= DB_LISTEN_BYTES */
	int play;				/* 1: count a play */
	int64_t now;
};

/* Merge a report into its row (created when missing): heard ORed in,
 * plays + play, name and link replaced when given, last_seen = now, in one
 * write transaction (nested in the caller's, if any). 0, AM_ERR_INVAL
 * (heard_len), AM_ERR_NOTFOUND (project), AM_ERR_CRYPTO, AM_ERR_CONFLICT
 * (a concurrent first report of the same row: retry) or a db error. */
int db_listen_merge(struct db *db, const struct db_keys *k, const struct db_listen_add *in);
/* Every row of a project (at most DB_LISTENS_MAX), by version, then first
 * report. */
int db_listen_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		   int (*cb)(void *ctx, const struct db_listen *l), void *ctx);

/* A comment as the activity log shows it: who (the guest's name and the
 * link the guest came by), on which version, when. Newest first, at most
 * limit (0: all); owner comments have has_guest 0. */
struct db_comment_who {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	uint8_t version_id[DB_ID_LEN];
	uint8_t guest_id[DB_ID_LEN];
	int has_guest;
	uint8_t link_id[DB_ID_LEN];
	int has_link;
	char author[DB_NAME_MAX + 1];
	int is_reply;
	int64_t created;
};
int db_comment_who_list(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
			int limit, int (*cb)(void *ctx, const struct db_comment_who *c), void *ctx);

/* ---- jobs: a leased queue (worker role) ------------------------------------------------
 * A claim takes the oldest due job — queued with run_after <= now, or running
 * with an expired lease (its worker died) — sets the lease, the worker and
 * attempts+1, atomically (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one
 * IMMEDIATE transaction), so two workers never hold the same job. A job whose
 * lease expired after its last allowed attempt is failed instead of retried,
 * with last_error saying so. Payloads carry ids and settings, never
 * plaintext user data. */

struct db_job {
	uint8_t id[DB_ID_LEN];
	char kind[DB_KIND_MAX + 1];
	uint8_t project_id[DB_ID_LEN];
	int has_project;
	uint8_t payload[DB_PAYLOAD_MAX];
	size_t payload_len;
	char state[DB_STATE_MAX + 1]; /* queued, running, done, failed */
	int64_t attempts, max_attempts;
	int64_t run_after, lease_until;
	char worker[DB_WORKER_MAX + 1];
	char last_error[DB_ERROR_MAX + 1];
	int64_t created, updated;
};

int db_job_enqueue(struct db *db, const char *kind, const uint8_t *project_id, const void *payload,
		   size_t payload_len, int64_t max_attempts, int64_t run_after,
		   uint8_t id_out[DB_ID_LEN]);
/* Claim one due job of any kind (kind NULL) or of one kind, leased for
 * lease_ms. 0 with *out filled, or AM_ERR_NOTFOUND when nothing is due.
 * A job whose worker vanished during its last allowed attempt comes back
 * once more with attempts > max_attempts: the caller must not run it, only
 * db_job_fail it (and fail the state it owns, e.g. a track version). */
int db_job_claim(struct db *db, const char *worker, const char *kind, int64_t now, int64_t lease_ms,
		 struct db_job *out);
/* Extend the lease of a job this worker holds (a heartbeat).
 * AM_ERR_CONFLICT if the lease was lost (expired and reclaimed). */
int db_job_extend(struct db *db, const uint8_t id[DB_ID_LEN], const char *worker, int64_t now,
		  int64_t lease_ms);
int db_job_complete(struct db *db, const uint8_t id[DB_ID_LEN], const char *worker);
/* Record a failed attempt: queued again after retry_ms while attempts <
 * max_attempts (or state failed when permanent or out of attempts). *final
 * (may be NULL) is set to 1 when the job is now failed for good. */
int db_job_fail(struct db *db, const uint8_t id[DB_ID_LEN], const char *worker, const char *error,
		int permanent, int64_t retry_ms, int *final);
int db_job_get(struct db *db, const uint8_t id[DB_ID_LEN], struct db_job *out);
/* Queued jobs of kind in the order the workers claim them (run_after,
 * creation), at most max (<= 0: all): where each waits in line (the
 * owner's track list shows its versions' places). */
int db_job_queued_list(struct db *db, const char *kind, int64_t max,
		       int (*cb)(void *ctx, const struct db_job *j), void *ctx);
/* Delete done jobs updated before `before`; *n gets the count (may be NULL). */
int db_job_purge(struct db *db, int64_t before, int64_t *n);

/* The depth of the queues, for monitoring (the metrics endpoint): one row
 * per group: jobs ("job") by kind and state, where a queued job not due
 * until after now is "delayed", finished ones left out; the outbox
 * ("outbox", kind "") by state. oldest: the smallest run_after (jobs) or
 * next_attempt (outbox) of the group. cb's non-zero return stops the
 * listing and is returned. */
struct db_queue_count {
	char queue[8];
	char kind[DB_KIND_MAX + 1];
	char state[DB_STATE_MAX + 1];
	int64_t n, oldest;
};
int db_queue_counts(struct db *db, int64_t now,
		    int (*cb)(void *ctx, const struct db_queue_count *c), void *ctx);

/* ---- outbox: e-mail waiting for delivery (worker role) ----------------------------------- */

struct db_mail {
	uint8_t id[DB_ID_LEN];
	uint8_t account_id[DB_ID_LEN];
	int has_account;
	char recipient[DB_EMAIL_MAX + 1];
	char subject[DB_SUBJECT_MAX + 1];
	struct am_buf body; /* owned: am_buf_cleanup after use (zeroes it) */
	int64_t attempts;
};

int db_mail_enqueue(struct db *db, const struct db_keys *k, const uint8_t *account_id,
		    const char *recipient, const char *subject, const char *body, int64_t now,
		    uint8_t id_out[DB_ID_LEN]);
/* Claim one due message for lease_ms (leased like jobs). out->body is
 * initialised here. AM_ERR_NOTFOUND when none is due. */
int db_mail_claim(struct db *db, const struct db_keys *k, int64_t now, int64_t lease_ms,
		  struct db_mail *out);
/* Delivered: the message is deleted (nothing of it is kept). */
int db_mail_sent(struct db *db, const uint8_t id[DB_ID_LEN]);
/* Delivery failed: retry at next_attempt, or give up (state failed) after
 * max_attempts attempts. */
int db_mail_failed(struct db *db, const uint8_t id[DB_ID_LEN], const char *error,
		   int64_t next_attempt, int64_t max_attempts);

/* ---- rate limits shared between nodes (GCRA, DESIGN §6) -------------------------------
 * key: any bytes naming the limit and subject (e.g. "login\0" ‖ account id);
 * only its SHA-256 is stored. One event costs interval_ms; burst events may
 * come at once. Returns 0 (allowed, recorded) or AM_ERR_RATE with
 * *retry_after_ms set. */
int db_rate_take(struct db *db, const void *key, size_t keylen, int64_t now, int64_t interval_ms,
		 int64_t burst, int64_t *retry_after_ms);
/* Forget limits that have fully drained by now. */
int db_rate_purge(struct db *db, int64_t now);

/* ---- added for the JSON API (src/repo/repo_api.c) ------------------------------------------- */

/* Forget one rate-limit state (key as for db_rate_take). */
int db_rate_forget(struct db *db, const void *key, size_t keylen);
/* Accounts in creation order (closed ones excluded); password_hash is not
 * read (""). cb as for the other listings. */
int db_account_list(struct db *db, const struct db_keys *k,
		    int (*cb)(void *ctx, const struct db_account *a), void *ctx);
/* Close an account whose projects were shredded but not yet purged: the
 * e-mail and password hash are overwritten (the address is free again),
 * every session is deleted, and disabled becomes 2 ("closed"). The row goes
 * with db_account_purge_closed once its projects are purged. */
int db_account_close(struct db *db, const struct db_keys *k, const uint8_t id[DB_ID_LEN]);
/* Delete closed accounts that have no project rows left (housekeeping);
 * *n (may be NULL) gets the count. */
int db_account_purge_closed(struct db *db, int64_t *n);

/* ---- resumable uploads (schema v3; media role, docs/media.md) -------------------------
 * An upload is created by the web role for one track version in state
 * 'uploading' of a live project the account owns (its length declared up
 * front); the media role then appends parts to it under a lease (one PATCH
 * at a time) and completes it. Times in milliseconds. */

struct db_upload {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	uint8_t account_id[DB_ID_LEN];
	uint8_t version_id[DB_ID_LEN];
	int64_t length;		      /* declared total size, bytes */
	int64_t received;	      /* bytes durably stored in parts (the resume offset) */
	int64_t parts;		      /* number of parts stored */
	char state[DB_STATE_MAX + 1]; /* open, complete */
	int64_t lock_until;
	int64_t expires;
	int64_t created;
};

/* One stored part: an AM1 object of its own (file id = part_id, DEK wrapped
 * under the project key with AAD part_id), plaintext bytes
 * [start, start + plain_size) of the upload. */
struct db_upload_part {
	int64_t seq;
	uint8_t part_id[DB_ID_LEN];
	uint8_t wrapped_dek[DB_WRAPPED_MAX];
	size_t wrapped_dek_len;
	int64_t start, plain_size, cipher_size;
	char store_key[DB_STOREKEY_MAX + 1];
};

/* Create an open upload of length bytes for version_id, which must be a
 * version in state 'uploading' of a live project of account_id (else
 * AM_ERR_NOTFOUND). expires_ms: when an untouched upload is abandoned. */
int db_upload_create(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const uint8_t account_id[DB_ID_LEN], const uint8_t version_id[DB_ID_LEN],
		     int64_t length, int64_t expires_ms, uint8_t id_out[DB_ID_LEN]);
int db_upload_get(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		  struct db_upload *out);
/* Take the upload's write lease for lease_ms with a random token, only if it
 * is open, not leased by another request, and has received exactly offset
 * bytes. AM_ERR_CONFLICT otherwise (busy, wrong offset, complete). */
int db_upload_lock(struct db *db, const uint8_t project_id[DB_ID_LEN], const uint8_t id[DB_ID_LEN],
		   int64_t offset, const uint8_t token[DB_ID_LEN], int64_t now, int64_t lease_ms);
/* Extend the lease held with token (AM_ERR_CONFLICT if lost), release it. */
int db_upload_extend(struct db *db, const uint8_t id[DB_ID_LEN], const uint8_t token[DB_ID_LEN],
		     int64_t now, int64_t lease_ms);
int db_upload_unlock(struct db *db, const uint8_t id[DB_ID_LEN], const uint8_t token[DB_ID_LEN]);
/* Record a committed part (p->seq must be the upload's part count and
 * p->start its received offset) and advance the offset, atomically, while
 * holding the lease. AM_ERR_CONFLICT if the lease or offset moved. */
int db_upload_add_part(struct db *db, const uint8_t id[DB_ID_LEN], const uint8_t token[DB_ID_LEN],
		       const struct db_upload_part *p);
/* The parts of an upload in order. */
int db_upload_parts(struct db *db, const uint8_t id[DB_ID_LEN],
		    int (*cb)(void *ctx, const struct db_upload_part *p), void *ctx);
/* In one transaction: mark the upload complete (it must be fully received
 * and leased with token), record orig (state ready) as the version's
 * original, set the version 'queued', enqueue a "transcode" job with
 * payload, and forget the part rows. AM_ERR_CONFLICT if the upload moved. */
int db_upload_complete(struct db *db, const struct db_upload *u, const uint8_t token[DB_ID_LEN],
		       const struct db_object *orig, const void *payload, size_t payload_len);
/* Bytes an account uses: plaintext of its originals plus the declared
 * lengths of its open uploads (except_upload excluded; may be NULL). */
int db_account_usage(struct db *db, const uint8_t account_id[DB_ID_LEN],
		     const uint8_t *except_upload, int64_t *bytes);
/* Open uploads whose expiry passed and that nobody holds, oldest first. */
int db_upload_list_expired(struct db *db, int64_t now, int limit,
			   int (*cb)(void *ctx, const struct db_upload *u), void *ctx);
/* Open uploads whose every byte is recorded (received = length) that were
 * never completed, that nobody holds (lock_until <= now) and that expire
 * after expires_after: what a media node leaves when it dies between
 * recording the last part and completing (docs/media.md, "Recovery").
 * Earliest expiry first, at most limit; a non-zero return of cb stops the
 * walk and is returned. Claim each with db_upload_lock(offset = length). */
int db_upload_list_received(struct db *db, int64_t now, int64_t expires_after, int limit,
			    int (*cb)(void *ctx, const struct db_upload *u), void *ctx);
/* Delete an upload row and its part rows (their objects first!). */
int db_upload_delete(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const uint8_t id[DB_ID_LEN]);

/* ---- e-mail notifications (schema v4; src/repo/repo_mail.c, docs/mail.md) -------------------
 * Kinds are bits (src/mail/mail.h). An account's mail_on holds the kinds it
 * turned on everywhere; a project's mail_on / mail_off force a kind on or
 * off for that project whatever the account says. */

/* The account-wide bits; AM_ERR_NOTFOUND for an unknown account. */
int db_mail_prefs_account_get(struct db *db, const uint8_t account_id[DB_ID_LEN], int64_t *on);
int db_mail_prefs_account_set(struct db *db, const uint8_t account_id[DB_ID_LEN], int64_t on);
/* A live project's overrides (of that account); AM_ERR_NOTFOUND otherwise. */
int db_mail_prefs_project_get(struct db *db, const uint8_t account_id[DB_ID_LEN],
			      const uint8_t project_id[DB_ID_LEN], int64_t *on, int64_t *off);
int db_mail_prefs_project_set(struct db *db, const uint8_t account_id[DB_ID_LEN],
			      const uint8_t project_id[DB_ID_LEN], int64_t on, int64_t off);
/* Queue a comment for the project's next digest (call inside the comment's
 * transaction); *oldest gets the creation time of the project's oldest
 * queued item (the digest is due digest-interval after it). */
int db_mail_digest_add(struct db *db, const uint8_t account_id[DB_ID_LEN],
		       const uint8_t project_id[DB_ID_LEN], const uint8_t comment_id[DB_ID_LEN],
		       int64_t now, int64_t *oldest);
/* Projects whose oldest queued item was created at or before created_before,
 * oldest first, at most limit. */
int db_mail_digest_due(struct db *db, int64_t created_before, int limit,
		       int (*cb)(void *ctx, const uint8_t project_id[DB_ID_LEN],
				 const uint8_t account_id[DB_ID_LEN]),
		       void *ctx);
/* The queued comment ids of a project, oldest first, at most limit. */
int db_mail_digest_items(struct db *db, const uint8_t project_id[DB_ID_LEN], int limit,
			 int (*cb)(void *ctx, const uint8_t comment_id[DB_ID_LEN]), void *ctx);
/* Take one item out (the flush, in the transaction that enqueues the
 * digest). AM_ERR_NOTFOUND if another flush took it first. */
int db_mail_digest_remove(struct db *db, const uint8_t project_id[DB_ID_LEN],
			  const uint8_t comment_id[DB_ID_LEN]);
/* Creation time of the oldest queued item of any project; AM_ERR_NOTFOUND. */
int db_mail_digest_oldest(struct db *db, int64_t *oldest);
/* Record that the owner signed in from the device whose cookie hashes to
 * hash: *known = 1 if it was seen before (last_seen updated), else 0 (now
 * remembered). */
int db_device_seen(struct db *db, const uint8_t account_id[DB_ID_LEN], const uint8_t hash[32],
		   int64_t now, int *known);
/* The earliest next_attempt of outbox mail still to send (queued, or sending
 * with a lease that ends then); AM_ERR_NOTFOUND when the outbox is empty. */
int db_mail_next_due(struct db *db, int64_t *at);
/* Make sure a "mail" job is queued to run at or before at (the worker's mail
 * handler pumps the outbox and flushes digests). */
int db_mail_wake(struct db *db, int64_t at);
/* Delete outbox rows that failed for good before `before`; *n may be NULL. */
int db_mail_purge_failed(struct db *db, int64_t before, int64_t *n);

/* ---- e-mail events (schema v7; src/repo/repo_mail.c, docs/mail.md "Events") ----------------
 * A guest comment's notification is composed by the worker, not in the
 * request: the comment's transaction records one event (ids and a time,
 * nothing else), the mail pump turns it into outbox mail or a digest item
 * and takes it out in one transaction. */
struct db_mail_event {
	uint8_t comment_id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	int64_t attempts; /* failed compositions so far */
	int64_t created;  /* when the comment was posted (the digest's clock) */
};

/* Record the event of a new comment (call inside the comment's
 * transaction) and make sure a "mail" job is due at now. */
int db_mail_event_add(struct db *db, const uint8_t project_id[DB_ID_LEN],
		      const uint8_t comment_id[DB_ID_LEN], int64_t now);
/* The comment ids of events due at now (next_attempt <= now), oldest first,
 * at most limit. */
int db_mail_event_due(struct db *db, int64_t now, int limit,
		      int (*cb)(void *ctx, const uint8_t comment_id[DB_ID_LEN]), void *ctx);
/* Take one event out (delete it) inside the caller's transaction, the one
 * that composes its mail: *out gets the row. AM_ERR_NOTFOUND when another
 * worker took it first (PostgreSQL: waits for that one's transaction). */
int db_mail_event_take(struct db *db, const uint8_t comment_id[DB_ID_LEN],
		       struct db_mail_event *out);
/* Composing failed: count the attempt and try again at next_attempt, or,
 * once max_attempts attempts failed, delete the event (*dropped = 1). */
int db_mail_event_failed(struct db *db, const uint8_t comment_id[DB_ID_LEN], int64_t next_attempt,
			 int64_t max_attempts, int *dropped);
/* The earliest next_attempt of any event; AM_ERR_NOTFOUND when none. */
int db_mail_event_next(struct db *db, int64_t *at);

/* ---- listener marks (schema v15, issue 26, docs/watermark.md "Payload map") ------
 * Per project: mark_on (off by default), strength in thousandths
 * (DB_MARK_STRENGTH_DEFAULT, at most DB_MARK_STRENGTH_MAX), mark_downloads
 * (on by default; acts only when marking is on). One mark row per listening
 * (project, link, guest-session hash): a random 64-bit payload, the
 * reviewer's name as given and the time of first access, all three sealed
 * under the project's field key; lookup = HMAC(project watermark key,
 * payload), computed by the caller (crypto_wm_prf "am-wm-lookup-v1"), finds
 * the row of a payload read from a file. Without the master key a database
 * copy maps no payload to anyone. Repository: src/repo/repo_mark.c. */
#define DB_MARK_PAYLOAD_LEN	 8
#define DB_MARK_LOOKUP_LEN	 32
#define DB_MARK_STRENGTH_DEFAULT 200
#define DB_MARK_STRENGTH_MIN	 50
#define DB_MARK_STRENGTH_MAX	 600

struct db_mark_settings {
	int on;	       /* guests' audio is marked */
	int strength;  /* thousandths: 200 = 0.2 */
	int downloads; /* downloaded originals are marked too (when on) */
};

/* The settings of a live project. 0, AM_ERR_NOTFOUND, a database error. */
int db_mark_settings_get(struct db *db, const uint8_t project_id[DB_ID_LEN],
			 struct db_mark_settings *out);
/* Set them on a live project of this account; strength outside
 * [DB_MARK_STRENGTH_MIN, DB_MARK_STRENGTH_MAX]: AM_ERR_INVAL. 0,
 * AM_ERR_NOTFOUND, a database error. */
int db_mark_settings_set(struct db *db, const uint8_t account_id[DB_ID_LEN],
			 const uint8_t project_id[DB_ID_LEN], const struct db_mark_settings *in);

struct db_mark {
	uint8_t id[DB_ID_LEN];
	uint8_t project_id[DB_ID_LEN];
	uint8_t link_id[DB_ID_LEN];
	uint8_t payload[DB_MARK_PAYLOAD_LEN];
	char name[DB_NAME_MAX + 1];
	int64_t first_access; /* ms since the epoch */
};

/* What a new mark row is made of (every pointer borrowed). payload and
 * lookup are the caller's (a fresh random payload and its keyed lookup). */
struct db_mark_new {
	const uint8_t *project_id;   /* DB_ID_LEN */
	const uint8_t *link_id;	     /* DB_ID_LEN */
	const uint8_t *session_hash; /* DB_SESSION_HASH_LEN */
	const char *name;	     /* 1..DB_NAME_MAX bytes */
	const uint8_t *payload;	     /* DB_MARK_PAYLOAD_LEN */
	const uint8_t *lookup;	     /* DB_MARK_LOOKUP_LEN */
	int64_t now;
};

/* The mark of (project, link, session hash): the existing row, or a new one
 * of in (*created = 1). Race-safe on both engines: two first requests of one
 * listening at once get the same row (an INSERT that yields to the unique
 * key, then a read). A payload already used in the project (1 in 2^64 per
 * pair) is AM_ERR_EXISTS: the caller draws another. 0, AM_ERR_INVAL,
 * AM_ERR_NOTFOUND (no live project), AM_ERR_CRYPTO, a database error. */
int db_mark_get_or_create(struct db *db, const struct db_keys *k, const struct db_mark_new *in,
			  struct db_mark *out, int *created);
/* The mark id of the project (e.g. from a mark ticket). 0, AM_ERR_NOTFOUND,
 * AM_ERR_CRYPTO, a database error. */
int db_mark_get(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		const uint8_t id[DB_ID_LEN], struct db_mark *out);
/* The mark whose lookup is lookup in the project (the tracer); its sealed
 * fields opened (the caller compares out->payload with the payload it
 * looked up). 0, AM_ERR_NOTFOUND, AM_ERR_CRYPTO, a database error. */
int db_mark_find(struct db *db, const struct db_keys *k, const uint8_t project_id[DB_ID_LEN],
		 const uint8_t lookup[DB_MARK_LOOKUP_LEN], struct db_mark *out);
/* How many marks the project has. */
int db_mark_count(struct db *db, const uint8_t project_id[DB_ID_LEN], int64_t *n);

/* ---- marked renditions (schema v18; src/repo/repo_vmark.c) ------------------------
 * A version's renditions A and B (issue 26, docs/watermark.md "Serving
 * segment variants"): objects of kind 'stream' without a version_id, the
 * strength (thousandths) they were marked at and their span map, encoded
 * by the worker (src/worker/job_mark_ab.c) and decoded by the media role. */
#define DB_VMARK_JOB	   "mark_ab"
#define DB_VMARK_SPANS_MAX (4u << 20)

struct db_vmark {
	uint8_t version_id[DB_ID_LEN], a_id[DB_ID_LEN], b_id[DB_ID_LEN];
	int64_t strength, created;
	uint8_t *spans; /* owned (db_vmark_cleanup) */
	size_t spans_len;
};

/* Record the row of in->version_id (inside the caller's transaction),
 * replacing an older one, whose objects go to deletion. 0, AM_ERR_INVAL,
 * a database error (a version that no longer exists: its foreign key). */
int db_vmark_put(struct db *db, const uint8_t project_id[DB_ID_LEN], const struct db_vmark *in);
/* The version's row: 0, AM_ERR_NOTFOUND, AM_ERR_NOMEM, AM_ERR_DB. */
int db_vmark_get(struct db *db, const uint8_t project_id[DB_ID_LEN],
		 const uint8_t version_id[DB_ID_LEN], struct db_vmark *out);
void db_vmark_cleanup(struct db_vmark *v);
/* Queue a DB_VMARK_JOB for one version (its ready original orig_id). */
int db_vmark_enqueue(struct db *db, const uint8_t project_id[DB_ID_LEN],
		     const uint8_t version_id[DB_ID_LEN], const uint8_t orig_id[DB_ID_LEN]);
/* Queue one for each ready version of the project without A and B at the
 * project's strength; *queued gets the count. */
int db_vmark_enqueue_project(struct db *db, const uint8_t project_id[DB_ID_LEN], int *queued);
/* Before a track is deleted: its versions' A and B objects to deletion. */
int db_vmark_forget_track(struct db *db, const uint8_t project_id[DB_ID_LEN],
			  const uint8_t track_id[DB_ID_LEN]);

/* ---- the access log (schema v16; src/repo/repo_translog.c, src/translog/) ----------
 * The rows of a project's Merkle log; the tree itself is translog's. */
#define DB_TRANSLOG_ENTRY_MAX 512
#define DB_TRANSLOG_FRONTIER  (64 * 32)

struct db_translog_entry {
	int64_t index;
	uint8_t entry[DB_TRANSLOG_ENTRY_MAX];
	size_t len;
	uint8_t root[32];
	int64_t created;
};

/* The head of project_id's log: *size and its frontier bytes (cap at least
 * DB_TRANSLOG_FRONTIER; *len set). With lock (inside the caller's write
 * transaction): create the head row if missing and hold its row lock until
 * the transaction ends, so appends of one project never race (PostgreSQL;
 * SQLite has one writer anyway). Without: size 0 when there is none.
 * 0, AM_ERR_DB (a stored frontier too long), a database error. */
int db_translog_head(struct db *db, const uint8_t project_id[DB_ID_LEN], int lock, int64_t *size,
		     uint8_t *frontier, size_t cap, size_t *len);
/* Inside the caller's write transaction, after db_translog_head(lock):
 * insert entry e and set the head to size e->index + 1 with frontier
 * (flen bytes). 0, AM_ERR_TOOBIG, a database error. */
int db_translog_put(struct db *db, const uint8_t project_id[DB_ID_LEN],
		    const struct db_translog_entry *e, const uint8_t *frontier, size_t flen);
/* The entries of project_id with index >= from, in index order, at most
 * limit (<= 0: all), each handed to cb (borrowed for the call). */
int db_translog_list(struct db *db, const uint8_t project_id[DB_ID_LEN], int64_t from,
		     int64_t limit, int (*cb)(void *ctx, const struct db_translog_entry *e),
		     void *ctx);

#endif
