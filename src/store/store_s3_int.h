/*
 * store_s3_int.h: what the files of the S3 backend share (store_s3.c: open,
 * read, stat, delete, list, gc; store_s3_put.c: single and multipart puts;
 * store_s3_http.c: signed requests, connection pool, retries, error mapping;
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

#define S3_PART_DEFAULT ((uint64_t)8 << 20) /* 8 MiB */
#define S3_PART_MIN	((uint64_t)5 << 20) /* S3's minimum for all but the last part */
#define S3_PART_MAX	((uint64_t)1 << 30) /* our cap (S3 allows 5 GiB): RAM per put */
#define S3_PARTS_MAX	10000		    /* S3's limit on parts per upload */
#define S3_POOL_MAX	32		    /* idle easy handles kept per store */
#define S3_XML_MAX	((size_t)8 << 20)   /* largest XML response accepted */
#define S3_ERRBODY_MAX	4096		    /* error bodies: enough for Code/Message */
#define S3_ETAG_MAX	128
#define S3_UPLOAD_ID_MAX 1024
#define S3_PREFIX_MAX	128
#define S3_URL_MAX	2048

/* Knobs with production defaults; tests shrink them (store_s3_test_tune). */
struct s3_tuning {
	int max_keys;		 /* page size of listings, 1..1000 */
	int attempts;		 /* tries per request, >= 1 */
	int backoff_base_ms;	 /* first retry delay (doubling, jittered) */
	int backoff_cap_ms;	 /* largest retry delay */
	long connect_timeout_ms; /* TCP + TLS connect */
	long low_speed_time_s;	 /* abort a transfer idle (< 1 byte/s) this long */
	long timeout_ms;	 /* whole-request cap; 0 = none (large parts) */
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
	/* out */
	long status;
	uint64_t length; /* Content-Length (HEAD: the object size) */
	int has_length;
	uint64_t range_total; /* the object size from Content-Range: bytes A-B/TOTAL */
	int has_range_total;
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
 * errors, 429, 5xx, SlowDown, RequestTimeout) up to tune.attempts times with
 * jittered exponential backoff. what names the operation in messages (never
 * a secret). Returns 0 for a 2xx answer; else records detail with store_fail
 * and returns AM_ERR_NOTFOUND (404), AM_ERR_DENIED (403, with a hint on
 * signature or key errors), AM_ERR_CONFLICT (409, 412), AM_ERR_RANGE (416),
 * AM_ERR_UNAVAIL (retries exhausted), AM_ERR_IO (anything else). */
int s3_request(struct s3_store *s, struct s3_req *rq, const char *what);

/* Set up and tear down the connection share and handle pool of s. */
int s3_http_init(struct s3_store *s);
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

int s3_put_begin(struct store *bs, const char *key, uint64_t head_len, struct store_put **out);
int s3_put_append(struct store_put *bp, const void *buf, size_t n);
int s3_put_write_head(struct store_put *bp, uint64_t off, const void *buf, size_t n);
int s3_put_commit(struct store_put *bp, uint64_t size);
void s3_put_free(struct store_put *bp, int committed);

/* Abort the multipart upload upload_id of the object name key (a store key).
 * Idempotent (404 is success). */
int s3_abort_upload(struct s3_store *s, const char *key, const char *upload_id);

/* ---- store_s3.c ------------------------------------------------------------ */

/* Test hook: replace the tuning of an open S3 store (NULL fields are not
 * possible: pass a full struct, e.g. a copy of store_s3_test_get_tune). */
void store_s3_test_tune(struct store *s, const struct s3_tuning *t);
void store_s3_test_get_tune(const struct store *s, struct s3_tuning *t);

#endif
