/*
 * upload: the life of a resumable upload apart from its HTTP requests
 * (docs/media.md "Uploads"), shared by the three roles that take part in it,
 * so that none of them depends on another role's component
 * (docs/architecture.md "Include graph"):
 *   - the web role creates it for an owner (upload_new: a row and a signed
 *     URL; no audio byte, no store);
 *   - the media role takes its bytes (src/media/media_upload.c: tus PATCH,
 *     HEAD) and completes it (upload_finish, upload_recover_one);
 *   - the worker's housekeeping completes what a dead media node left
 *     received but never completed (upload_recover) and removes abandoned
 *     uploads (upload_gc_abandoned), as the media role's own clean-up
 *     thread does.
 * The accepted audio types (upload_sniff) are part of that contract: checked
 * on creation (length), on the first PATCH and on completion.
 */
#ifndef AM_UPLOAD_H
#define AM_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

struct app;
struct db;
struct db_upload;
struct store_err;

/* Per-account storage quota (originals plus open uploads) until the
 * configuration grows a setting for it. */
#define UPLOAD_ACCOUNT_QUOTA (INT64_C(50) << 30)

/* Web role, owner API: start an upload of length bytes for a version in
 * state 'uploading' of a live project the account owns: checks
 * max_upload_size and the account quota (quota <= 0: UPLOAD_ACCOUNT_QUOTA),
 * creates the upload row on db (borrowed; the caller's transaction) and
 * signs its URL (path + query, ACCESS_URL_MAX bytes, into url) valid for
 * ACCESS_UPLOAD_CAP; upload_id gets the new upload's id. Opens no audio and
 * needs no store. Errors: AM_ERR_INVAL (shorter than UPLOAD_SNIFF_LEN: too
 * short to be audio), AM_ERR_TOOBIG (size or quota), AM_ERR_NOTFOUND (no
 * such version in an uploadable state), database errors. */
int upload_new(struct app *a, struct db *db, const uint8_t account_id[16],
	       const uint8_t project_id[16], const uint8_t version_id[16], int64_t length,
	       int64_t quota, char *url, size_t n, uint8_t upload_id[16]);

/* Magic bytes of the accepted audio types (upload_sniff.c, by the
 * transcoder's sniffer xcode_sniff). UPLOAD_SNIFF_LEN bytes are needed
 * (fewer only for a shorter file). 0 with *ext ("wav", "aiff", "flac",
 * "mp3", "m4a", "aac", "ogg") and *ctype (static strings), or
 * AM_ERR_UNSUPPORTED. Pure: takes untrusted bytes, never allocates. */
#define UPLOAD_SNIFF_LEN 12
#define UPLOAD_ACCEPTED	 "WAV, AIFF, FLAC, MP3, M4A/AAC or Ogg/Opus"
int upload_sniff(const uint8_t *p, size_t n, const char **ext, const char **ctype);

/* Why upload_sniff refused the n first bytes p, for the owner (written into
 * why, cap bytes, NUL-terminated; UPLOAD_WHY_MAX is enough): what the file
 * is when the sniffer knows it ("WavPack (.wv) is not a supported audio
 * format: upload WAV, ..."), or that the first chunk was too short. */
#define UPLOAD_WHY_MAX 160
void upload_refusal(const uint8_t *p, size_t n, char *why, size_t cap);

/* The reason a version shows once its upload was abandoned (no byte for
 * UPLOAD_IDLE_MS; the web role shows it as state "interrupted"), and the one
 * it keeps once upload_gc_abandoned removed the upload (UPLOAD_GC_AFTER
 * seconds after it started: the 24 h URL plus an hour). */
#define UPLOAD_IDLE_MS	   (INT64_C(5) * 60 * 1000)
#define UPLOAD_INTERRUPTED "upload interrupted: resume or remove"
#define UPLOAD_EXPIRED                                                                             \
	"upload interrupted and not resumed within 25 hours: its bytes were removed; upload the "  \
	"file again"

/* The upload lease (ms) a PATCH or a completion holds, extended every quarter
 * of it: UPLOAD_LEASE_MS, or in a test build with AUDIOMUS_TESTING=1
 * AUDIOMUS_TEST_UPLOAD_LEASE_MS (500 ms - 1 h) for the black-box tests. */
#define UPLOAD_LEASE_MS 60000
int64_t upload_lease_ms(void);

/* Completion of a fully received upload u (upload_complete.c), leased with
 * token: make the original object out of the parts and record it with its
 * transcode job, in one transaction only the lease holder can commit.
 * whole: the request that completes it did not write the bytes itself (an
 * empty final PATCH after a crash): authenticate every segment of an
 * original that is reused as stored, as the recovery does. 0, or a store,
 * crypto or database error (AM_ERR_CONFLICT once the lease is lost). err (may
 * be NULL) receives the store's detail when the failure was the store's (""
 * when it was not: the database, a part that fails authentication). */
int upload_finish(struct app *a, const struct db_upload *u, const uint8_t token[16], int whole,
		  struct store_err *err);

/* Recovery (upload_complete.c, docs/media.md "Recovery"): complete u (a row
 * just read, borrowed) if every byte of it is recorded, it is open, nobody
 * holds its lease at now_ms and it is not about to expire: claim the lease,
 * run the same completion as the final PATCH, log "upload_recovered" with by
 * ("head", "housekeeping"). 0 when this call completed it; AM_ERR_CONFLICT
 * when it is not eligible or another node or request holds it; otherwise the
 * completion's error: the lease is released, or, when the stored upload
 * itself is broken (a part missing, cut short or failing authentication, not
 * audio), kept until the upload expires so nobody retries it. err (may be
 * NULL) receives the store's detail of a failure ("" when not the store's). */
int upload_recover_one(struct app *a, const struct db_upload *u, int64_t now_ms, const char *by,
		       struct store_err *err);

/* Complete the uploads a media node left behind when it died between
 * recording their last bytes and completing them: open uploads with every
 * byte recorded whose lease expired (no live node is working on them), each
 * claimed with its lease so that it completes exactly once across nodes
 * (upload_recover_one, by "housekeeping"). A broken one is not completed
 * (it expires as any abandoned upload). now_ms: the current time.
 * *completed (may be NULL) gets the count. 0, or a database error or
 * AM_ERR_UNAVAIL (the rest waits for the next run), with the store's detail
 * in err (may be NULL; "" when the store did not fail). Run by housekeeping. */
int upload_recover(struct app *a, int64_t now_ms, int *completed, struct store_err *err);

/* Refuse the upload u (borrowed, leased with token) whose first bytes are
 * not audio: in one transaction, delete its row (it has no part: nothing of
 * a refused file is stored) and set its version 'failed' with why. 0, or a
 * database error (the upload then stays open, for its expiry). */
int upload_refuse(struct app *a, const struct db_upload *u, const uint8_t token[16],
		  const char *why);

/* Remove open uploads abandoned before now (seconds): their stored parts,
 * then their rows, and their versions become 'failed' with UPLOAD_EXPIRED
 * (never left 'uploading'); and store temporaries older than a day. *removed (may be
 * NULL) gets the number of uploads removed. 0, or a database error. Run by
 * the media role every 5 minutes and by housekeeping. */
int upload_gc_abandoned(struct app *a, int64_t now, int *removed);

#endif
