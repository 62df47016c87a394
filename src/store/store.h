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
 * Errors are 0 or a negative enum am_err (util/util.h); detail for the calling
 * thread's latest failed call is in store_errmsg(). Whatever the operation:
 * AM_ERR_UNAVAIL means the store is unreachable or overloaded and a later try
 * may succeed (the S3 backend has already retried); AM_ERR_DENIED that it
 * refused the credentials or permissions (S3 403); AM_ERR_IO a failure that
 * trying again will not fix by itself (TLS refused, a malformed answer, a
 * disk error). None of them is the client's fault: callers answering a
 * client map them to a 5xx and log store_errmsg().
 */
#ifndef AM_STORE_H
#define AM_STORE_H

#include <stddef.h>
#include <stdint.h>

struct conf;
struct store;
struct store_put;
struct store_reader;

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
 * AM_ERR_INVAL (malformed url, missing credentials), AM_ERR_IO, AM_ERR_NOMEM. */
int store_open(const char *url, struct store **out);

/* Open the store of a finished configuration (conf->storage, and for s3://
 * the settings s3_access_key, s3_secret_key, s3_ca_file, each falling back
 * to the environment as in store_open). Same errors as store_open. */
int store_open_conf(const struct conf *c, struct store **out);

/* Check that the store works end to end with its credentials, for
 * check-config: list (prefix "probe/"), put a small random object
 * "probe/<random id>", read it back, delete it. Returns 0 or the first
 * failure (S3: AM_ERR_DENIED for rejected credentials, AM_ERR_IO for a
 * missing bucket or a refused TLS handshake, AM_ERR_UNAVAIL when unreachable
 * after retries); store_errmsg() says
 * which step failed and why, never with a secret. */
int store_probe(struct store *s);

/* Close the store; accepts NULL. Every put and reader must be closed first. */
void store_close(struct store *s);

/* Text detail of the calling thread's latest store call (on any store, or
 * store_open) when it failed: "" after a call that succeeded or failed
 * without detail, so a caller that logs it after a failure of its own (not
 * the store's) logs nothing stale. A failed put gives its first failure's
 * text with every later call; cleanups (store_put_abort, the abort inside a
 * failed commit) keep the text of the failure that led to them. s may be
 * NULL. The text may contain keys, the store's location, S3 error codes and
 * TLS/network errors, never object content or credentials: for the server
 * log (e.g. as a "store_error" field), never for a client. */
const char *store_errmsg(const struct store *s);

/* Forget the calling thread's detail (store_errmsg() is "" until a store call
 * fails). Call it before an operation whose failure you will log with
 * store_errmsg() when that operation can fail before it reaches the store (a
 * decryption, a database read), so that such a failure does not log the
 * detail of an older, unrelated store failure on the same thread. */
void store_errmsg_clear(void);

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
 * AM_ERR_IO, AM_ERR_NOMEM. */
int store_put_begin(struct store *s, const char *key, struct store_put **out);

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
			     struct store_put **out);

/* Append n bytes (borrowed) after everything appended so far. n may be 0.
 * Returns 0, AM_ERR_IO, AM_ERR_TOOBIG (object size limit), or the put's
 * earlier error. */
int store_put_write(struct store_put *p, const void *buf, size_t n);

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
 * not known durable: callers treat it as not stored; GC removes orphans.) */
int store_put_commit(struct store_put *p, uint64_t *size);

/* Abandon the put: remove the temporary; nothing becomes visible. Consumes p;
 * accepts NULL. Temporaries of a crashed process are removed by
 * store_gc_temp. */
void store_put_abort(struct store_put *p);

/* ---- reading --------------------------------------------------------------
 * Range rule, for every read: off <= size is valid and reads min(n, size-off)
 * bytes (a short count only at the end of the object; off == size reads 0);
 * off > size fails with AM_ERR_RANGE. */

/* Open key for many ranged reads of one version of the object. *out receives
 * an owned handle. Errors: AM_ERR_INVAL, AM_ERR_NOTFOUND, AM_ERR_IO, NOMEM. */
int store_reader_open(struct store *s, const char *key, struct store_reader **out);

/* The same, for a caller that reads the object from its start in order (a
 * whole-file download, a transcode, an export). A backend with per-request
 * latency uses it to start one transfer of the whole object at the open
 * instead of a first request for the header and a second for the rest
 * (S3: a streaming GET of bytes=0-). Reads elsewhere still work, at the cost
 * of that transfer. Same ownership and errors. */
int store_reader_open_seq(struct store *s, const char *key, struct store_reader **out);

/* Size of the object the reader has open. */
uint64_t store_reader_size(const struct store_reader *r);

/* Read up to n bytes at off into buf; *got receives the count (see the range
 * rule). Returns 0, AM_ERR_RANGE, AM_ERR_IO, or AM_ERR_CONFLICT (a backend
 * that cannot pin a version noticed the object changed). */
int store_reader_read_at(struct store_reader *r, uint64_t off, void *buf, size_t n, size_t *got);

/* Close the reader; accepts NULL. */
void store_reader_close(struct store_reader *r);

/* One-shot ranged read: store_reader_open + read_at + close. When the
 * object is replaced between the open and the read (AM_ERR_CONFLICT from a
 * backend that pins the version it opened), it is read again from a fresh
 * open, up to 3 times: the caller gets the old object or the new one. */
int store_read_at(struct store *s, const char *key, uint64_t off, void *buf, size_t n, size_t *got);

/* ---- metadata, delete, list, gc ------------------------------------------ */

struct store_info {
	uint64_t size; /* bytes */
	int64_t mtime; /* seconds since the epoch of the last commit */
};

/* Size and time of key. Errors: AM_ERR_INVAL, AM_ERR_NOTFOUND, AM_ERR_IO. */
int store_stat(struct store *s, const char *key, struct store_info *info);

/* Delete key. Idempotent: 0 also when it did not exist. Readers already open
 * on it may keep reading (file) or fail (s3). Errors: AM_ERR_INVAL, AM_ERR_IO. */
int store_delete(struct store *s, const char *key);

/* Called once per committed object; key and info are borrowed for the call.
 * Return 0 to continue; any other value stops the listing and is returned by
 * store_list. The callback may delete the key it was given. */
typedef int (*store_list_cb)(void *arg, const char *key, const struct store_info *info);

/* Call cb for every committed key that starts with prefix ("" lists all;
 * prefix may be any prefix of a valid key, e.g. "orig/" or "orig/3f"). Order
 * is unspecified; keys committed or deleted during the listing may or may not
 * appear. Temporaries and foreign files are never listed. Returns 0, the
 * callback's nonzero value, AM_ERR_INVAL (prefix cannot start a key) or
 * AM_ERR_IO. */
int store_list(struct store *s, const char *prefix, store_list_cb cb, void *arg);

/* Remove temporaries of puts abandoned before the time before (seconds since
 * the epoch; file: temporaries idle since then, by mtime; s3: multipart
 * uploads initiated before then). Choose a cut-off far older than the longest
 * idle time of a live put (e.g. now - 24 h). *removed (may be NULL) receives
 * the count. Returns 0 or AM_ERR_IO. */
int store_gc_temp(struct store *s, int64_t before, uint64_t *removed);

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
 * AM_ERR_INVAL, AM_ERR_TOOBIG (head too large) or store_put_begin's errors. */
int store_am1_put_begin(struct store *s, const char *key, uint64_t head_len,
			struct store_am1_put *ap, struct am1_sink *sink);

/* Fill *src so that an AM1 reader reads the object open in r (borrowed: r
 * must outlive the AM1 reader). A short read is AM_ERR_IO. */
void store_am1_source(struct store_reader *r, struct am1_source *src);

#endif
