/*
 * store: the object store. Holds opaque ciphertext blobs (AM1 objects written
 * by src/crypto) under server-generated keys; it never sees plaintext and
 * never interprets content. One interface, one file per backend: store_fs.c
 * (file:PATH) now, store_s3.c (s3://BUCKET?...) later. Runs in the media and
 * worker roles (and serve/export); keys come from the server, never from a
 * client, and are validated strictly anyway. See docs/storage.md.
 *
 * Thread safety: a struct store may be shared by any number of threads once
 * opened. A struct store_put or struct store_reader is used by one thread at
 * a time (it may move between threads).
 *
 * Errors are 0 or a negative enum am_err (util/util.h). The detail of a
 * failure is kept where only the caller can see it, never in shared or
 * thread-local state: on the put or reader handle for the calls on a put or
 * a reader (store_put_errmsg, store_reader_errmsg, as sqlite3_errmsg(db)),
 * and in the caller's struct store_err for every call that has no handle of
 * its own to keep it on (opening the store, a put or a reader; committing,
 * which consumes the put; stat, delete, list, gc, probe, store_read_at). The
 * store itself holds no error state: it is shared by every thread, and a
 * message kept on it could be another thread's. Whatever the operation:
 * AM_ERR_UNAVAIL means the store is unreachable or overloaded and a later try
 * may succeed (the S3 backend has already retried); AM_ERR_DENIED that it
 * refused the credentials or permissions (S3 403); AM_ERR_IO a failure that
 * trying again will not fix by itself (TLS refused, a malformed answer, a
 * disk error). None of them is the client's fault: callers answering a
 * client map them to a 5xx and log the detail.
 */
#ifndef AM_STORE_H
#define AM_STORE_H

#include <stddef.h>
#include <stdint.h>

struct conf;
struct store;
struct store_put;
struct store_reader;

/* Size of every failure detail, NUL included (longer text is truncated). */
#define STORE_ERRMSG_MAX 512

/* Caller storage for the detail of one store-level call. Every function that
 * takes a struct store_err *err (NULL: the caller wants no detail) sets
 * err->msg to "" on entry and leaves it "" when it succeeds, so after a
 * failure it holds that call's reason, or "" when the failure had none to
 * give (a NULL argument). The text may contain keys, the store's location,
 * S3 error codes and TLS/network errors, never object content or
 * credentials: for the server log (e.g. as a "store_error" field), never for
 * a client. */
struct store_err {
	char msg[STORE_ERRMSG_MAX];
};

/* Keep a handle's detail (store_put_errmsg, store_reader_errmsg) in err
 * before the handle goes: copies msg unless err is NULL or msg is NULL or
 * "" (an earlier detail then stays). */
void store_err_keep(struct store_err *err, const char *msg);

/* ---- keys -----------------------------------------------------------------
 * A key is NAMESPACE "/" ID [ "." EXT ] with
 *   NAMESPACE = [a-z0-9]{1,16}   (object kind: "orig", "stream", "peaks", ...)
 *   ID        = [0-9a-f]{32}     (the 128-bit random object id, lowercase hex)
 *   EXT       = [a-z0-9]{1,8}    (optional)
 * so at most 58 characters; nothing else is a key (no "/" prefix, no "..",
 * no uppercase, no NUL, no second slash). Operations given anything else fail
 * with AM_ERR_INVAL before touching storage. */
#define STORE_KEY_NS_MAX  16
#define STORE_KEY_ID_LEN  32
#define STORE_KEY_EXT_MAX 8
#define STORE_KEY_LEN_MAX (STORE_KEY_NS_MAX + 1 + STORE_KEY_ID_LEN + 1 + STORE_KEY_EXT_MAX)
/* Buffer size for a key, NUL included. */
#define STORE_KEY_MAX (STORE_KEY_LEN_MAX + 1)

/* 1 if key (a C string) is a valid key, else 0. Never reads past the NUL. */
int store_key_valid(const char *key);

/* Format NS/hex(id)[.EXT] into out (outsz bytes, STORE_KEY_MAX suffices).
 * ext may be NULL or "". Returns 0 or AM_ERR_INVAL (bad ns/ext, small out). */
int store_key_format(char *out, size_t outsz, const char *ns, const uint8_t id[16],
		     const char *ext);

/* ---- the store ------------------------------------------------------------ */

/* Open the store named by url:
 *   file:PATH        filesystem backend rooted at PATH; PATH (the last
 *                    component only) is created with mode 0700 if missing.
 *   s3://BUCKET?endpoint=URL&region=R&path_style=0|1&prefix=P&part_size=NM
 *                    S3-compatible backend (docs/storage.md); credentials
 *                    from AUDIOMUS_S3_ACCESS_KEY/AUDIOMUS_S3_SECRET_KEY or
 *                    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Opening sends
 *                    no request (see store_probe).
 * *out receives an owned handle (close with store_close). Returns 0,
 * AM_ERR_INVAL (malformed url, missing credentials), AM_ERR_IO, AM_ERR_NOMEM;
 * err (may be NULL) receives the detail, never a credential. */
int store_open(const char *url, struct store **out, struct store_err *err);

/* Open the store of a finished configuration (conf->storage, and for s3://
 * the settings s3_access_key, s3_secret_key, s3_ca_file, each falling back
 * to the environment as in store_open). Same errors as store_open. */
int store_open_conf(const struct conf *c, struct store **out, struct store_err *err);

/* Check that the store works end to end with its credentials, for
 * check-config: list (prefix "probe/"), put a small random object
 * "probe/<random id>", read it back, delete it. Returns 0 or the first
 * failure (S3: AM_ERR_DENIED for rejected credentials, AM_ERR_IO for a
 * missing bucket or a refused TLS handshake, AM_ERR_UNAVAIL when unreachable
 * after retries); err (may be NULL) says which step failed and why, never
 * with a secret. */
int store_probe(struct store *s, struct store_err *err);

/* Close the store; accepts NULL. Every put and reader must be closed first. */
void store_close(struct store *s);

/* "file" or "s3". */
const char *store_backend(const struct store *s);

/* ---- writing: streaming put with atomic commit -----------------------------
 * Nothing is visible under the key until store_put_commit returns 0; then the
 * whole object is (readers see the old object or the new one, never a mix).
 * Commit replaces an existing object under the same key. Memory is constant
 * whatever the object size.
 *
 * A put that saw any error is failed: later writes and commit return that
 * error; commit or abort then releases it. */

/* Largest reserved head (see store_put_begin_reserved). */
#define STORE_PUT_HEAD_MAX (1024 * 1024)

/* Begin writing key. *out receives an owned put handle that must end in
 * store_put_commit or store_put_abort. Errors: AM_ERR_INVAL (bad key),
 * AM_ERR_IO, AM_ERR_NOMEM; err (may be NULL) receives the detail. */
int store_put_begin(struct store *s, const char *key, struct store_put **out,
		    struct store_err *err);

/* Begin writing key with a head region [0, head_len) that is written last:
 * store_put_write appends sequentially starting at offset head_len, and the
 * head bytes arrive through store_put_write_at, at any time before commit, in
 * any order, overlaps allowed (last write wins). Commit fails with
 * AM_ERR_CONFLICT unless every head byte was written; except that when
 * nothing was appended, the object may end inside the head: the head writes
 * must then cover exactly [0, k), 0 < k <= head_len, and the object is those
 * k bytes (AM1's head mode with no body writes a short object in order).
 * This is how AM1 writes segment 0 last for head-patched outputs; on S3 the
 * head lies in part 1 of the multipart upload, which is uploaded last.
 * head_len 0 is store_put_begin. Errors: as store_put_begin, AM_ERR_TOOBIG when head_len >
 * STORE_PUT_HEAD_MAX. */
int store_put_begin_reserved(struct store *s, const char *key, uint64_t head_len,
			     struct store_put **out, struct store_err *err);

/* Append n bytes (borrowed) after everything appended so far. n may be 0.
 * Returns 0, AM_ERR_IO, AM_ERR_TOOBIG (object size limit), or the put's
 * earlier error. */
int store_put_write(struct store_put *p, const void *buf, size_t n);

/* The caller expects to write about size more bytes: a store whose put
 * would contact its backend during them anyway does so now, so that a
 * refusal comes before the caller reads what it would write (S3: a put of
 * more than one part starts its multipart upload; the file store has
 * nothing to do: its begin already checked). A hint: the put may be given
 * fewer or more bytes. Returns 0, the backend's error (which fails the put,
 * its detail in store_put_errmsg), or the put's earlier error. */
int store_put_expect(struct store_put *p, uint64_t size);

/* Write n bytes (borrowed) at off inside the reserved head: requires
 * off + n <= head_len, else AM_ERR_INVAL (which also fails the put).
 * Returns 0, AM_ERR_INVAL, AM_ERR_IO, or the put's earlier error. */
int store_put_write_at(struct store_put *p, uint64_t off, const void *buf, size_t n);

/* Bytes the object will have if committed now: head_len + appended (or the
 * written head prefix of a put with nothing appended). */
uint64_t store_put_size(const struct store_put *p);

/* Make the object durable and visible under its key, atomically (file: fsync
 * the temporary, rename it over the key, fsync the directory). Always
 * consumes p. On success *size (may be NULL) receives the object size. On
 * failure nothing new is visible under the key and the temporary is removed;
 * returns the put's error, AM_ERR_CONFLICT (head not written as required) or
 * AM_ERR_IO. (An AM_ERR_IO after the rename may leave the object visible but
 * not known durable: callers treat it as not stored; GC removes orphans.)
 * err (may be NULL) receives the detail: the put's earlier failure, or the
 * commit's own; the clean-up after a failed commit (S3: the abort of the
 * multipart upload) never replaces it. */
int store_put_commit(struct store_put *p, uint64_t *size, struct store_err *err);

/* The put's first failure (a failed put gives it again with every later
 * write); "" while none. Borrowed: valid until commit or abort. */
const char *store_put_errmsg(const struct store_put *p);

/* Abandon the put: remove the temporary; nothing becomes visible. Consumes p;
 * accepts NULL. Temporaries of a crashed process are removed by
 * store_gc_temp. */
void store_put_abort(struct store_put *p);

/* ---- reading --------------------------------------------------------------
 * Range rule, for every read: off <= size is valid and reads min(n, size-off)
 * bytes (a short count only at the end of the object; off == size reads 0);
 * off > size fails with AM_ERR_RANGE. */

/* Open key for many ranged reads of one version of the object. *out receives
 * an owned handle. Errors: AM_ERR_INVAL, AM_ERR_NOTFOUND, AM_ERR_IO, NOMEM;
 * err (may be NULL) receives the detail. */
int store_reader_open(struct store *s, const char *key, struct store_reader **out,
		      struct store_err *err);

/* The same, for a caller that reads the object from its start in order (a
 * whole-file download, a transcode, an export). A backend with per-request
 * latency uses it to start one transfer of the whole object at the open
 * instead of a first request for the header and a second for the rest
 * (S3: a streaming GET of bytes=0-). Reads elsewhere still work, at the cost
 * of that transfer. Same ownership and errors. */
int store_reader_open_seq(struct store *s, const char *key, struct store_reader **out,
			  struct store_err *err);

/* Size of the object the reader has open. */
uint64_t store_reader_size(const struct store_reader *r);

/* Read up to n bytes at off into buf; *got receives the count (see the range
 * rule). Returns 0, AM_ERR_RANGE, AM_ERR_IO, or AM_ERR_CONFLICT (a backend
 * that cannot pin a version noticed the object changed). */
int store_reader_read_at(struct store_reader *r, uint64_t off, void *buf, size_t n, size_t *got);

/* The detail of the reader's latest read when it failed; "" after a read
 * that succeeded (so a caller whose own step failed after a good read, an
 * AM1 authentication, finds nothing stale). Borrowed: valid until close. */
const char *store_reader_errmsg(const struct store_reader *r);

/* Close the reader; accepts NULL. */
void store_reader_close(struct store_reader *r);

/* One-shot ranged read: store_reader_open + read_at + close. When the
 * object is replaced between the open and the read (AM_ERR_CONFLICT from a
 * backend that pins the version it opened), it is read again from a fresh
 * open, up to 3 times: the caller gets the old object or the new one. err
 * (may be NULL) receives the detail. */
int store_read_at(struct store *s, const char *key, uint64_t off, void *buf, size_t n, size_t *got,
		  struct store_err *err);

/* ---- metadata, delete, list, gc ------------------------------------------ */

struct store_info {
	uint64_t size; /* bytes */
	int64_t mtime; /* seconds since the epoch of the last commit */
};

/* Size and time of key. Errors: AM_ERR_INVAL, AM_ERR_NOTFOUND, AM_ERR_IO;
 * err (may be NULL) receives the detail. */
int store_stat(struct store *s, const char *key, struct store_info *info, struct store_err *err);

/* Delete key. Idempotent: 0 also when it did not exist. Readers already open
 * on it may keep reading (file) or fail (s3). Errors: AM_ERR_INVAL, AM_ERR_IO;
 * err (may be NULL) receives the detail. */
int store_delete(struct store *s, const char *key, struct store_err *err);

/* Called once per committed object; key and info are borrowed for the call.
 * Return 0 to continue; any other value stops the listing and is returned by
 * store_list. The callback may delete the key it was given. */
typedef int (*store_list_cb)(void *arg, const char *key, const struct store_info *info);

/* Call cb for every committed key that starts with prefix ("" lists all;
 * prefix may be any prefix of a valid key, e.g. "orig/" or "orig/3f"). Order
 * is unspecified; keys committed or deleted during the listing may or may not
 * appear. Temporaries and foreign files are never listed. Returns 0, the
 * callback's nonzero value, AM_ERR_INVAL (prefix cannot start a key) or
 * AM_ERR_IO; err (may be NULL) receives the store's detail (a callback's own
 * failure leaves it ""). */
int store_list(struct store *s, const char *prefix, store_list_cb cb, void *arg,
	       struct store_err *err);

/* Remove temporaries of puts abandoned before the time before (seconds since
 * the epoch; file: temporaries idle since then, by mtime; s3: multipart
 * uploads initiated before then). Choose a cut-off far older than the longest
 * idle time of a live put (e.g. now - 24 h). *removed (may be NULL) receives
 * the count. Returns 0 or AM_ERR_IO; err (may be NULL) receives the detail. */
int store_gc_temp(struct store *s, int64_t before, uint64_t *removed, struct store_err *err);

/* ---- AM1 adapters (store_am1.c) -------------------------------------------
 * Glue between src/crypto's AM1 writer and reader callbacks and this
 * interface, so that encrypted objects stream into and out of any backend. */
struct am1_sink;
struct am1_source;

/* Caller storage for streaming one AM1 object into a put. */
struct store_am1_put {
	struct store_put *put; /* owned by the caller: commit or abort it */
	uint64_t pos;	       /* ciphertext bytes received through write() */
	uint64_t reserved;     /* [0, reserved) is the put's reserved head */
};

/* Begin a put of key for an AM1 writer and fill *sink for
 * crypto_pk_writer_new(pk, file_id, sink, head_len, ...). head_len is the AM1
 * plaintext head (0, or a multiple of AM1_SEGMENT for "segment 0 written
 * last"); the put reserves am1_head_reserved(head_len) bytes. *ap must stay
 * in place while the writer lives (sink->ctx points to it). After
 * am1_writer_finish returns 0, commit ap->put with store_put_commit; on any
 * failure free the writer and store_put_abort(ap->put). Returns 0,
 * AM_ERR_INVAL, AM_ERR_TOOBIG (head too large) or store_put_begin's errors,
 * with the detail in err (may be NULL). A writer's failure in the store is
 * told by store_put_errmsg(ap->put). */
int store_am1_put_begin(struct store *s, const char *key, uint64_t head_len,
			struct store_am1_put *ap, struct am1_sink *sink, struct store_err *err);

/* Fill *src so that an AM1 reader reads the object open in r (borrowed: r
 * must outlive the AM1 reader). A short read is AM_ERR_IO. A read's failure
 * in the store is told by store_reader_errmsg(r). */
void store_am1_source(struct store_reader *r, struct am1_source *src);

#endif
