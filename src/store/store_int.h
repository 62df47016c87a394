/*
 * store_int.h: what store.c shares with its backends (store_fs.c, later
 * store_s3.c): the per-backend vtable and the common head of every handle.
 * The generic layer (store.c) validates keys, ranges and head coverage and
 * latches put errors, so a backend only sees well-formed requests:
 *   - keys are valid (store_key_valid), prefixes can start a key;
 *   - reads are in range: off + n <= size, n > 0;
 *   - appends are in order; head writes lie inside [0, head_len);
 *   - put_commit is called only with no error and a head written as the
 *     contract allows (store.h), with the final size.
 * Same process and trust boundary as store.c.
 */
#ifndef AM_STORE_INT_H
#define AM_STORE_INT_H

#include <stdarg.h>

#include "store/store.h"

/* Covered spans of the reserved head are merged; a put that fragments its
 * head into more disjoint pieces than this fails with AM_ERR_TOOBIG. */
#define STORE_HEAD_SPANS 16

/* Object size limit (S3's 5 TiB). */
#define STORE_OBJECT_MAX ((uint64_t)5 << 40)

/* Every backend function that can fail takes emsg, a STORE_ERRMSG_MAX
 * buffer (or NULL) that receives the failure's detail through store_fail:
 * the put's or the reader's own buffer for calls on a put or reader, the
 * caller's struct store_err (or a buffer of store.c's own) for the
 * store-level calls. No detail lives on the shared store or in a thread. */
struct store_ops {
	const char *name;
	void (*close)(struct store *s);
	/* Allocate a put (struct store_put first member); store.c fills the base. */
	int (*put_begin)(struct store *s, const char *key, uint64_t head_len,
			 struct store_put **out, char *emsg);
	/* The put and reader calls record detail in p->errmsg / r->errmsg. */
	/* Append at p->head_len + p->body_len (store.c advances body_len). */
	int (*put_append)(struct store_put *p, const void *buf, size_t n);
	/* About size bytes will follow: contact the store now if it will be
	 * needed anyway (optional; NULL: nothing to do). */
	int (*put_expect)(struct store_put *p, uint64_t size);
	/* Write inside the head. */
	int (*put_write_head)(struct store_put *p, uint64_t off, const void *buf, size_t n);
	/* Publish atomically an object of exactly size bytes (head_len +
	 * body_len, or a head-only object's written prefix); must not free p. */
	int (*put_commit)(struct store_put *p, uint64_t size);
	/* Remove the temporary and free p (also after a commit, success or not);
	 * a failure of its own is logged, never recorded. */
	void (*put_free)(struct store_put *p, int committed);
	/* Open; set r->size. */
	int (*reader_open)(struct store *s, const char *key, struct store_reader **out, char *emsg);
	/* Open for reading in order from the start; NULL: reader_open. */
	int (*reader_open_seq)(struct store *s, const char *key, struct store_reader **out,
			       char *emsg);
	int (*reader_read)(struct store_reader *r, uint64_t off, void *buf, size_t n);
	void (*reader_close)(struct store_reader *r);
	int (*stat)(struct store *s, const char *key, struct store_info *info, char *emsg);
	int (*del)(struct store *s, const char *key, char *emsg);
	int (*list)(struct store *s, const char *prefix, store_list_cb cb, void *arg, char *emsg);
	int (*gc_temp)(struct store *s, int64_t before, uint64_t *removed, char *emsg);
};

/* The first member of every backend's store. Shared by every thread: it
 * holds no per-call state, no error text included. */
struct store {
	const struct store_ops *ops;
};

struct store_span {
	uint64_t a, b; /* [a, b) */
};

/* The first member of every backend's put. */
struct store_put {
	struct store *s;
	char key[STORE_KEY_MAX];
	uint64_t head_len;
	uint64_t body_len;
	int err;		       /* first failure, latched */
	char errmsg[STORE_ERRMSG_MAX]; /* its detail (store_put_errmsg) */
	unsigned nspans;
	struct store_span spans[STORE_HEAD_SPANS];
};

/* The first member of every backend's reader. */
struct store_reader {
	struct store *s;
	uint64_t size;
	char errmsg[STORE_ERRMSG_MAX]; /* the latest call's detail (store_reader_errmsg) */
};

/* Write detail into emsg (STORE_ERRMSG_MAX bytes; NULL: none) and return
 * err. */
int store_fail(char *emsg, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* 1 if prefix can begin a valid key ("" included), else 0. */
int store_prefix_valid(const char *prefix);

/* Backend constructors, called by store_open with the text after the scheme. */
int store_fs_open(const char *path, struct store **out, char *emsg);
/* rest: the text after "s3://"; access, secret, cainfo: from the settings,
 * NULL or "" for the environment / the system CA store (store_s3.c). */
int store_s3_open(const char *rest, const char *access, const char *secret, const char *cainfo,
		  struct store **out, char *emsg);

/* The file backend's tree walks (store_fs_walk.c), below the root fd. */
#define STORE_FS_TMP_PREFIX ".tmp-"
int store_fs_list(int root_fd, const char *prefix, store_list_cb cb, void *arg, char *emsg);
int store_fs_gc_temp(int root_fd, int64_t before, uint64_t *removed, char *emsg);

#endif
