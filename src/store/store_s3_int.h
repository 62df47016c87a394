/*
 * store_s3_int.h: what the files of the S3 backend share (store_s3.c: open,
 * read, stat, delete, list, gc; store_s3_put.c: single and multipart puts;
 * store_s3_http.c: signed requests, connection pool, retries, error mapping;
 * store_s3_stream.c: the streaming GET behind sequential reads;
 * store_s3_xml.c: bounded XML and date parsing). Not a public header: the
 * rest of the tree sees only store.h. Tests include it for the tuning hooks.
 *
 * Trust boundary: the S3 service is an untrusted peer. It is trusted for
 * availability only (it can lose or withhold objects), never for
 * confidentiality or integrity: it only ever receives AM1 ciphertext, and every
 * byte read back is authenticated by AM1 above this layer. Everything it
 * answers (headers, XML, sizes, keys) is parsed with hard bounds.
 */
#ifndef AM_STORE_S3_INT_H
#define AM_STORE_S3_INT_H

#include <curl/curl.h>
#include <pthread.h>

#include "store/store_int.h"
#include "util/util.h"

#define S3_PART_DEFAULT	  ((uint64_t)8 << 20) /* 8 MiB */
#define S3_PART_MIN	  ((uint64_t)5 << 20) /* S3's minimum for all but the last part */
#define S3_PART_MAX	  ((uint64_t)1 << 30) /* our cap (S3 allows 5 GiB): RAM per put */
#define S3_PARTS_MAX	  10000		      /* S3's limit on parts per upload */
#define S3_POOL_MAX	  32		      /* idle easy handles kept per store */
#define S3_XML_MAX	  ((size_t)8 << 20)   /* largest XML response accepted */
#define S3_ERRBODY_MAX	  4096		      /* error bodies: enough for Code/Message */
#define S3_ETAG_MAX	  128
#define S3_UPLOAD_ID_MAX  1024
#define S3_PREFIX_MAX	  128
#define S3_URL_MAX	  2048
#define S3_OPEN_READ	  ((size_t)64 << 10)  /* first bytes fetched by a reader's open */
#define S3_STREAM_BUF	  ((size_t)1 << 20)   /* default ring of a streaming reader */
#define S3_STREAM_SKIP	  ((uint64_t)1 << 20) /* forward gap a stream skips rather than restarts */
#define S3_SIZE_UNKNOWN	  UINT64_MAX	      /* a stream that learns the size */
#define S3_STREAM_RESUMES 8		      /* fresh requests after mid-stream failures */

/* Knobs with production defaults; tests shrink them (store_s3_test_tune). */
struct s3_tuning {
	int max_keys;		 /* page size of listings, 1..1000 */
	int attempts;		 /* tries per request, >= 1 */
	int backoff_base_ms;	 /* first retry delay (doubling, jittered) */
	int backoff_cap_ms;	 /* largest retry delay */
	long connect_timeout_ms; /* TCP + TLS connect */
	long low_speed_time_s;	 /* abort a transfer idle (< 1 byte/s) this long */
	long timeout_ms;	 /* whole-request cap; 0 = none (large parts, streams) */
	size_t stream_buf;	 /* ring of a streaming reader (S3_STREAM_BUF) */
};

struct s3_store {
	struct store base;
	char bucket[64];
	char region[33];
	char sigv4[64];		     /* "aws:amz:REGION:s3" */
	char base_url[512];	     /* scheme://host[:port][/bucket] without trailing / */
	char prefix[S3_PREFIX_MAX];  /* object-name prefix inside the bucket, may be "" */
	int path_style;		     /* 1: endpoint/bucket/key; 0: bucket.host/key */
	char cainfo[1024];	     /* PEM CA bundle for private CAs; "" = system store */
	char *access;		     /* access key id (am_secret_alloc) */
	char *secret;		     /* secret access key (am_secret_alloc), never logged */
	size_t access_sz, secret_sz; /* allocation sizes for am_secret_free */
	uint64_t part_size;
	struct s3_tuning tune;
	CURLSH *share; /* connections, DNS, TLS sessions shared by every handle */
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL *pool[S3_POOL_MAX];
	unsigned npool;
	unsigned long requests; /* attempts sent (atomic; for tests) */
};

/* One S3 request. The caller fills the "in" part; s3_request fills "out". */
struct s3_req {
	const char *method; /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *key;    /* store key (valid) or NULL for the bucket itself */
	const char *query;  /* canonical query: sorted, encoded ("" or NULL for none) */
	const uint8_t *body;
	size_t body_len;
	const char *content_type; /* NULL: application/octet-stream on PUT/POST */
	const char *range;	  /* "bytes=A-B" or NULL */
	const char *if_match;	  /* ETag or NULL */
	uint8_t *dst;		  /* 2xx body goes here (exactly dst_len bytes expected) */
	size_t dst_len;
	struct am_buf *xml; /* or here (bounded), or nowhere when both are NULL */
	/* Streaming: a 2xx body goes to sink instead, piece by piece, as it
	 * arrives (rq->sunk counts what this attempt delivered so far; the
	 * status and headers are known at the first piece). A nonzero return
	 * (an am_err) ends the request with that error, unretried. cancel
	 * (optional) is polled during the transfer and between retries; nonzero
	 * abandons the request. An attempt that delivered bytes is never
	 * retried: s3_request returns its error and the caller decides. */
	int (*sink)(void *arg, const struct s3_req *rq, const uint8_t *p, size_t n);
	int (*cancel)(void *arg);
	void *arg;
	char *emsg; /* a failure's detail goes here (STORE_ERRMSG_MAX; NULL: none) */
	/* out */
	long status;
	uint64_t length; /* Content-Length (HEAD: the object size) */
	int has_length;
	uint64_t range_first;  /* A of Content-Range: bytes A-B/TOTAL */
	uint64_t range_total;  /* the object size from Content-Range: bytes A-B/TOTAL */
	int has_range_total;   /* both parsed */
	uint64_t sunk;	       /* bytes this attempt passed to sink */
	int sink_err;	       /* internal: sink's or cancel's verdict */
	int64_t last_modified; /* seconds since the epoch, 0 if absent */
	char etag[S3_ETAG_MAX];
	char code[64]; /* S3 error code from an error body ("" if none) */
	size_t dst_got;
	char errbody[S3_ERRBODY_MAX];
	size_t errbody_len;
	int aborted_by_us; /* internal: a callback refused the response */
};

/* ---- store_s3_http.c ------------------------------------------------------- */

/* Send rq with SigV4, retrying transient failures (timeouts, connection
 * errors and resets, DNS, 429, 5xx but 501/505, SlowDown, RequestTimeout,
 * InternalError, ServiceUnavailable) up to tune.attempts times with jittered
 * exponential backoff; anything else (a TLS handshake either side refuses,
 * 4xx) fails at the first attempt. what names the operation in messages
 * (never a secret). Returns 0 for a 2xx answer; else records detail with
 * store_fail and returns AM_ERR_NOTFOUND (404 but NoSuchBucket),
 * AM_ERR_DENIED (403, with a hint on signature, key and permission errors),
 * AM_ERR_CONFLICT (409, 412), AM_ERR_RANGE (416), AM_ERR_UNAVAIL (retries
 * exhausted: "(gave up after N attempts)"), AM_ERR_IO (anything else: a
 * refused or unverified TLS handshake, NoSuchBucket, other 4xx, malformed
 * answers). The detail goes to rq->emsg. */
int s3_request(struct s3_store *s, struct s3_req *rq, const char *what);

/* Set up and tear down the connection share and handle pool of s. */
int s3_http_init(struct s3_store *s, char *emsg);
void s3_http_cleanup(struct s3_store *s);

/* Percent-encode n bytes of src onto b per SigV4 (keep A-Z a-z 0-9 - . _ ~,
 * and '/' when keep_slash). Returns 0, AM_ERR_TOOBIG or AM_ERR_NOMEM. */
int s3_uri_encode(struct am_buf *b, const char *src, size_t n, int keep_slash);

/* Delay before retry number attempt (0 = the first retry): half of
 * min(cap, base * 2^attempt) plus a jitter in [0, that half] taken from rnd.
 * Exposed for tests. */
long store_s3_backoff_ms(int attempt, int base_ms, int cap_ms, uint32_t rnd);

/* ---- store_s3_xml.c -------------------------------------------------------- */

struct s3_str {
	const char *p;
	size_t n;
};

/* Find the next element <name>…</name> (or <name/>, or <name attr…>) in in,
 * starting at *pos; set *inner to its content, advance *pos past it and
 * return 1; 0 when there is none or it is not closed. Elements of the same
 * name must not nest (true of every S3 element we read). */
int s3_xml_next(struct s3_str in, size_t *pos, const char *name, struct s3_str *inner);

/* Child element text of in, entity-decoded into out (outsz bytes, NUL
 * terminated). Returns 0, AM_ERR_NOTFOUND (no such element), AM_ERR_TOOBIG
 * or AM_ERR_INVAL (markup or bad entity in the text). */
int s3_xml_text(struct s3_str in, const char *name, char *out, size_t outsz);

/* ISO 8601 UTC time as S3 writes it ("2024-01-02T03:04:05.000Z") into
 * seconds since the epoch. 0 or AM_ERR_INVAL. */
int s3_parse_iso8601(const char *s, int64_t *out);

/* ---- store_s3_put.c -------------------------------------------------------- */

int s3_put_begin(struct store *bs, const char *key, uint64_t head_len, struct store_put **out,
		 char *emsg);
int s3_put_append(struct store_put *bp, const void *buf, size_t n);
int s3_put_expect(struct store_put *bp, uint64_t size);
int s3_put_write_head(struct store_put *bp, uint64_t off, const void *buf, size_t n);
int s3_put_commit(struct store_put *bp, uint64_t size);
void s3_put_free(struct store_put *bp, int committed);

/* Abort the multipart upload upload_id of the object name key (a store key).
 * Idempotent (404 is success). */
int s3_abort_upload(struct s3_store *s, const char *key, const char *upload_id, char *emsg);

/* ---- store_s3_stream.c ----------------------------------------------------- */

/* One GET for the rest of an object, [off, size), read ahead by a thread of
 * its own into a ring of tune.stream_buf bytes (S3_STREAM_BUF) and handed out in order with
 * backpressure: the thread blocks while the ring is full, so S3 sends no
 * faster than the reader consumes (TCP flow control does the rest). Pinned
 * to etag (If-Match, and every answer's Content-Range start, total and ETag
 * are checked before a byte is used). A transport failure after some bytes
 * arrived continues with a fresh request from the next byte (at most
 * S3_STREAM_RESUMES times); anything else ends the stream with an error that
 * every later read returns. Memory per stream: the ring, libcurl's receive
 * buffer (CURLOPT_BUFFERSIZE, 256 KiB) and the thread's stack. */
struct s3_stream;

/* Start streaming key from off (< size). Returns 0, AM_ERR_NOMEM or
 * AM_ERR_UNAVAIL (no thread): the caller can read without a stream. With
 * size S3_SIZE_UNKNOWN (off 0, etag ""), the stream asks for bytes=0- and
 * learns the size and the ETag to pin from the answer: s3_stream_wait_open. */
int s3_stream_start(struct s3_store *s, const char *key, const char *etag, uint64_t off,
		    uint64_t size, struct s3_stream **out, char *emsg);

/* For a stream started with S3_SIZE_UNKNOWN: wait for the first answer and
 * copy the object's size and ETag out. 0, or the request's error (e.g.
 * AM_ERR_NOTFOUND, AM_ERR_RANGE for an empty object on a server that answers
 * 416); the caller still stops the stream. */
int s3_stream_wait_open(struct s3_stream *st, uint64_t *size, char *etag, size_t etag_sz,
			char *emsg);

/* 1 if s3_stream_read can serve a read at off: not before the first byte
 * still buffered, at most S3_STREAM_SKIP past the bytes that arrived. */
int s3_stream_covers(const struct s3_stream *st, uint64_t off);

/* Exactly n bytes at off (covered, off + n <= size) into buf; bytes before
 * off are dropped. Waits for them. 0, or the stream's error. */
int s3_stream_read(struct s3_stream *st, uint64_t off, void *buf, size_t n, char *emsg);

/* Cancel the transfer (an unfinished one closes its connection), join the
 * thread, free everything. Accepts NULL. */
void s3_stream_stop(struct s3_stream *st);

/* The ring's current size (it grows for a reader that keeps emptying it). */
size_t s3_stream_ring(struct s3_stream *st);

/* ---- store_s3.c ------------------------------------------------------------ */

/* Test hook: replace the tuning of an open S3 store (NULL fields are not
 * possible: pass a full struct, e.g. a copy of store_s3_test_get_tune). */
void store_s3_test_tune(struct store *s, const struct s3_tuning *t);
void store_s3_test_get_tune(const struct store *s, struct s3_tuning *t);
/* Test hook: requests (attempts) the store has sent so far. */
unsigned long store_s3_test_requests(const struct store *s);
/* Test hook: the ring size of an S3 reader's stream (0: none running). */
size_t store_s3_test_ring(struct store_reader *r);

#endif
