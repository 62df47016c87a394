/*
 * store.c: the backend-independent half of the object store: URL dispatch,
 * the key grammar, error detail, and the checks every backend relies on
 * (range clamping, reserved-head coverage, put error latching). Runs in the
 * media and worker roles; keys are server-generated but still validated here
 * before any backend sees them.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "conf/conf.h"
#include "util/util.h"

int store_fail(char *emsg, int err, const char *fmt, ...)
{
	va_list ap;

	if (!emsg)
		return err;
	va_start(ap, fmt);
	vsnprintf(emsg, STORE_ERRMSG_MAX, fmt, ap);
	va_end(ap);
	return err;
}

/* The detail buffer of a store-level call: the caller's, or a scratch one
 * when the caller wants none (the backends write into one either way). Empty
 * on entry, so "" after a success. */
static char *err_buf(struct store_err *err, struct store_err *scratch)
{
	if (!err)
		err = scratch;
	err->msg[0] = 0;
	return err->msg;
}

void store_err_keep(struct store_err *err, const char *msg)
{
	if (err && msg && *msg)
		am_strlcpy(err->msg, msg, sizeof(err->msg));
}

const char *store_put_errmsg(const struct store_put *p)
{
	return p ? p->errmsg : "";
}

const char *store_reader_errmsg(const struct store_reader *r)
{
	return r ? r->errmsg : "";
}

const char *store_backend(const struct store *s)
{
	return s ? s->ops->name : "";
}

/* ---- keys ----------------------------------------------------------------- */

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_lower_hex(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9');
}

/* Count up to max characters of class cls at *k; advance *k. */
static size_t take(const char **k, int (*cls)(char), size_t max)
{
	size_t n = 0;

	while (n <= max && (*k)[n] && cls((*k)[n]))
		n++;
	*k += n;
	return n;
}

/* Match the key grammar. With partial, a string that ends anywhere inside the
 * grammar also matches (it can begin a key). */
static int key_match(const char *k, int partial)
{
	size_t n;

	n = take(&k, is_lower_alnum, STORE_KEY_NS_MAX);
	if (n > STORE_KEY_NS_MAX)
		return 0;
	if (!*k)
		return partial;
	if (n == 0 || *k++ != '/')
		return 0;
	n = take(&k, is_lower_hex, STORE_KEY_ID_LEN);
	if (n > STORE_KEY_ID_LEN)
		return 0;
	if (!*k)
		return n == STORE_KEY_ID_LEN || partial;
	if (n != STORE_KEY_ID_LEN || *k++ != '.')
		return 0;
	n = take(&k, is_lower_alnum, STORE_KEY_EXT_MAX);
	if (n > STORE_KEY_EXT_MAX || *k)
		return 0;
	return n > 0 || partial;
}

int store_key_valid(const char *key)
{
	return key && key_match(key, 0);
}

int store_prefix_valid(const char *prefix)
{
	return prefix && key_match(prefix, 1);
}

int store_key_format(char *out, size_t outsz, const char *ns, const uint8_t id[16], const char *ext)
{
	static const char hex[] = "0123456789abcdef";
	char idhex[STORE_KEY_ID_LEN + 1];
	int n;

	if (!out || !ns || !id)
		return AM_ERR_INVAL;
	for (int i = 0; i < 16; i++) {
		idhex[2 * i] = hex[id[i] >> 4];
		idhex[2 * i + 1] = hex[id[i] & 15];
	}
	idhex[STORE_KEY_ID_LEN] = 0;
	if (ext && *ext)
		n = snprintf(out, outsz, "%.17s/%s.%.9s", ns, idhex, ext);
	else
		n = snprintf(out, outsz, "%.17s/%s", ns, idhex);
	if (n < 0 || (size_t)n >= outsz || !store_key_valid(out)) {
		if (outsz)
			out[0] = 0;
		return AM_ERR_INVAL;
	}
	return 0;
}

static int check_key(const char *key, char *emsg)
{
	if (!store_key_valid(key))
		return store_fail(emsg, AM_ERR_INVAL, "invalid object key");
	return 0;
}

/* ---- open / close --------------------------------------------------------- */

static int open_url(const struct conf *c, const char *url, struct store **out, char *emsg)
{
	if (!out)
		return AM_ERR_INVAL;
	*out = NULL;
	if (!url)
		return store_fail(emsg, AM_ERR_INVAL, "storage: no url");
	if (!strncmp(url, "file:", 5)) {
		if (!url[5])
			return store_fail(emsg, AM_ERR_INVAL, "storage: file: needs a path");
		return store_fs_open(url + 5, out, emsg);
	}
	if (!strncmp(url, "s3://", 5))
		return c ? store_s3_open(url + 5, c->s3_access_key,
					 c->secret ? c->secret->s3_secret_key : NULL, c->s3_ca_file,
					 out, emsg)
			 : store_s3_open(url + 5, NULL, NULL, NULL, out, emsg);
	return store_fail(emsg, AM_ERR_INVAL, "storage: expected file:PATH or s3://BUCKET?...");
}

int store_open(const char *url, struct store **out, struct store_err *err)
{
	struct store_err scratch;

	return open_url(NULL, url, out, err_buf(err, &scratch));
}

int store_open_conf(const struct conf *c, struct store **out, struct store_err *err)
{
	struct store_err scratch;
	char *emsg = err_buf(err, &scratch);

	if (!c)
		return AM_ERR_INVAL;
	return open_url(c, c->storage, out, emsg);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

/* ---- put ------------------------------------------------------------------ */

int store_put_begin_reserved(struct store *s, const char *key, uint64_t head_len,
			     struct store_put **out, struct store_err *err)
{
	struct store_err scratch;
	char *emsg = err_buf(err, &scratch);
	struct store_put *p = NULL;
	int rc;

	if (!out)
		return AM_ERR_INVAL;
	*out = NULL;
	if (!s)
		return AM_ERR_INVAL;
	if ((rc = check_key(key, emsg)))
		return rc;
	if (head_len > STORE_PUT_HEAD_MAX)
		return store_fail(emsg, AM_ERR_TOOBIG, "reserved head of %llu bytes exceeds %d",
				  (unsigned long long)head_len, STORE_PUT_HEAD_MAX);
	if ((rc = s->ops->put_begin(s, key, head_len, &p, emsg)))
		return rc;
	p->s = s;
	am_strlcpy(p->key, key, sizeof(p->key));
	p->head_len = head_len;
	p->body_len = 0;
	p->err = 0;
	p->errmsg[0] = 0;
	p->nspans = 0;
	*out = p;
	return 0;
}

int store_put_begin(struct store *s, const char *key, struct store_put **out, struct store_err *err)
{
	return store_put_begin_reserved(s, key, 0, out, err);
}

/* Latch the put's first failure (its detail is already in p->errmsg). */
static int put_latch(struct store_put *p, int rc)
{
	p->err = rc;
	return rc;
}

int store_put_write(struct store_put *p, const void *buf, size_t n)
{
	int rc;

	if (!p)
		return AM_ERR_INVAL;
	if (p->err)
		return p->err;
	if (n == 0)
		return 0;
	if (!buf)
		return put_latch(p, AM_ERR_INVAL);
	if (n > STORE_OBJECT_MAX || p->head_len + p->body_len > STORE_OBJECT_MAX - n)
		return put_latch(
		    p, store_fail(p->errmsg, AM_ERR_TOOBIG, "%s: object size limit", p->key));
	if ((rc = p->s->ops->put_append(p, buf, n)))
		return put_latch(p, rc);
	p->body_len += n;
	return 0;
}

int store_put_expect(struct store_put *p, uint64_t size)
{
	int rc;

	if (!p)
		return AM_ERR_INVAL;
	if (p->err)
		return p->err;
	if (p->s->ops->put_expect && (rc = p->s->ops->put_expect(p, size)))
		return put_latch(p, rc);
	return 0;
}

/* Add [a, b) to the sorted, disjoint, merged list of covered head spans. */
static int span_add(struct store_put *p, uint64_t a, uint64_t b)
{
	struct store_span out[STORE_HEAD_SPANS + 1];
	unsigned n = 0, i;
	int placed = 0;

	for (i = 0; i < p->nspans; i++) {
		struct store_span sp = p->spans[i];
		if (sp.b < a) {
			out[n++] = sp;
		} else if (sp.a > b) {
			if (!placed) {
				out[n++] = (struct store_span){a, b};
				placed = 1;
			}
			out[n++] = sp;
		} else {
			a = sp.a < a ? sp.a : a;
			b = sp.b > b ? sp.b : b;
		}
		if (n > STORE_HEAD_SPANS)
			return AM_ERR_TOOBIG;
	}
	if (!placed)
		out[n++] = (struct store_span){a, b};
	if (n > STORE_HEAD_SPANS)
		return AM_ERR_TOOBIG;
	memcpy(p->spans, out, n * sizeof(out[0]));
	p->nspans = n;
	return 0;
}

int store_put_write_at(struct store_put *p, uint64_t off, const void *buf, size_t n)
{
	int rc;

	if (!p)
		return AM_ERR_INVAL;
	if (p->err)
		return p->err;
	if (off > p->head_len || n > p->head_len - off)
		return put_latch(p, store_fail(p->errmsg, AM_ERR_INVAL,
					       "%s: write_at outside the reserved head", p->key));
	if (n == 0)
		return 0;
	if (!buf)
		return put_latch(p, AM_ERR_INVAL);
	if ((rc = p->s->ops->put_write_head(p, off, buf, n)))
		return put_latch(p, rc);
	if (span_add(p, off, off + n))
		return put_latch(p, store_fail(p->errmsg, AM_ERR_TOOBIG,
					       "%s: head written in too many pieces", p->key));
	return 0;
}

/* The size the object has if committed now, or AM_ERR_CONFLICT if the head
 * does not allow a commit: with anything appended the head must be complete;
 * with nothing appended it must be a non-empty prefix [0, k) of itself. */
static int put_final_size(const struct store_put *p, uint64_t *size)
{
	if (p->head_len == 0) {
		*size = p->body_len;
		return 0;
	}
	if (p->nspans != 1 || p->spans[0].a != 0)
		return AM_ERR_CONFLICT;
	if (p->body_len > 0 && p->spans[0].b != p->head_len)
		return AM_ERR_CONFLICT;
	*size = p->body_len > 0 ? p->head_len + p->body_len : p->spans[0].b;
	return 0;
}

uint64_t store_put_size(const struct store_put *p)
{
	uint64_t size;

	if (!p)
		return 0;
	if (p->body_len == 0 && put_final_size(p, &size) == 0)
		return size;
	return p->head_len + p->body_len;
}

int store_put_commit(struct store_put *p, uint64_t *size, struct store_err *err)
{
	struct store_err scratch;
	char *emsg = err_buf(err, &scratch);
	struct store *s;
	uint64_t final = 0;
	int rc;

	if (!p)
		return AM_ERR_INVAL;
	s = p->s;
	rc = p->err;
	if (!rc && put_final_size(p, &final))
		rc = store_fail(p->errmsg, AM_ERR_CONFLICT, "%s: reserved head not fully written",
				p->key);
	if (!rc)
		rc = s->ops->put_commit(p, final);
	if (!rc && size)
		*size = final;
	if (rc) /* p is about to go: its detail goes to the caller */
		am_strlcpy(emsg, p->errmsg, STORE_ERRMSG_MAX);
	s->ops->put_free(p, rc == 0);
	return rc;
}

void store_put_abort(struct store_put *p)
{
	if (p)
		p->s->ops->put_free(p, 0);
}

/* ---- read ----------------------------------------------------------------- */

static int reader_open(struct store *s, const char *key, int seq, struct store_reader **out,
		       struct store_err *err)
{
	struct store_err scratch;
	char *emsg = err_buf(err, &scratch);
	struct store_reader *r = NULL;
	int rc;

	if (!out)
		return AM_ERR_INVAL;
	*out = NULL;
	if (!s)
		return AM_ERR_INVAL;
	if ((rc = check_key(key, emsg)))
		return rc;
	if (seq && s->ops->reader_open_seq)
		rc = s->ops->reader_open_seq(s, key, &r, emsg);
	else
		rc = s->ops->reader_open(s, key, &r, emsg);
	if (rc)
		return rc;
	r->s = s;
	r->errmsg[0] = 0;
	*out = r;
	return 0;
}

int store_reader_open(struct store *s, const char *key, struct store_reader **out,
		      struct store_err *err)
{
	return reader_open(s, key, 0, out, err);
}

int store_reader_open_seq(struct store *s, const char *key, struct store_reader **out,
			  struct store_err *err)
{
	return reader_open(s, key, 1, out, err);
}

uint64_t store_reader_size(const struct store_reader *r)
{
	return r ? r->size : 0;
}

int store_reader_read_at(struct store_reader *r, uint64_t off, void *buf, size_t n, size_t *got)
{
	uint64_t m;
	int rc;

	if (got)
		*got = 0;
	if (!r || !got || (!buf && n))
		return AM_ERR_INVAL;
	r->errmsg[0] = 0;
	if (off > r->size)
		return store_fail(r->errmsg, AM_ERR_RANGE, "read at %llu past the end (%llu)",
				  (unsigned long long)off, (unsigned long long)r->size);
	m = r->size - off;
	if (m > n)
		m = n;
	if (m == 0)
		return 0;
	if ((rc = r->s->ops->reader_read(r, off, buf, (size_t)m)))
		return rc;
	*got = (size_t)m;
	return 0;
}

void store_reader_close(struct store_reader *r)
{
	if (r)
		r->s->ops->reader_close(r);
}

int store_read_at(struct store *s, const char *key, uint64_t off, void *buf, size_t n, size_t *got,
		  struct store_err *err)
{
	struct store_err scratch;
	char *emsg = err_buf(err, &scratch);
	struct store_reader *r = NULL;
	int rc = AM_ERR_CONFLICT;

	for (int attempt = 0; attempt < 3 && rc == AM_ERR_CONFLICT; attempt++) {
		if (got)
			*got = 0;
		if ((rc = store_reader_open(s, key, &r, err)))
			return rc;
		rc = store_reader_read_at(r, off, buf, n, got);
		am_strlcpy(emsg, store_reader_errmsg(r), STORE_ERRMSG_MAX);
		store_reader_close(r);
		r = NULL;
	}
	return rc;
}

/* ---- metadata ------------------------------------------------------------- */

int store_stat(struct store *s, const char *key, struct store_info *info, struct store_err *err)
{
	struct store_err scratch;
	char *emsg = err_buf(err, &scratch);
	int rc;

	if (!s || !info)
		return AM_ERR_INVAL;
	if ((rc = check_key(key, emsg)))
		return rc;
	return s->ops->stat(s, key, info, emsg);
}

int store_delete(struct store *s, const char *key, struct store_err *err)
{
	struct store_err scratch;
	char *emsg = err_buf(err, &scratch);
	int rc;

	if (!s)
		return AM_ERR_INVAL;
	if ((rc = check_key(key, emsg)))
		return rc;
	return s->ops->del(s, key, emsg);
}

int store_list(struct store *s, const char *prefix, store_list_cb cb, void *arg,
	       struct store_err *err)
{
	struct store_err scratch;
	char *emsg = err_buf(err, &scratch);

	if (!s || !cb)
		return AM_ERR_INVAL;
	if (!store_prefix_valid(prefix))
		return store_fail(emsg, AM_ERR_INVAL, "invalid key prefix");
	return s->ops->list(s, prefix, cb, arg, emsg);
}

int store_gc_temp(struct store *s, int64_t before, uint64_t *removed, struct store_err *err)
{
	struct store_err scratch;
	char *emsg = err_buf(err, &scratch);
	uint64_t dummy = 0;

	if (!s)
		return AM_ERR_INVAL;
	return s->ops->gc_temp(s, before, removed ? removed : &dummy, emsg);
}

/* ---- probe ----------------------------------------------------------------- */

static int probe_list_cb(void *arg, const char *key, const struct store_info *info)
{
	(void)arg;
	(void)key;
	(void)info;
	return 1; /* one is enough */
}

/* Prefix the detail of a failed probe step (the step's, in err) with the
 * step's name. */
static int probe_fail(struct store_err *err, int rc, const char *step)
{
	char detail[400];

	am_strlcpy(detail, err->msg, sizeof(detail));
	return store_fail(err->msg, rc, "storage probe: %s failed: %s", step, detail);
}

int store_probe(struct store *s, struct store_err *err)
{
	uint8_t id[16], data[64], back[64];
	char key[STORE_KEY_MAX];
	struct store_err scratch;
	struct store_put *p = NULL;
	size_t got = 0;
	int rc;

	if (!err)
		err = &scratch;
	err->msg[0] = 0;
	if (!s)
		return AM_ERR_INVAL;
	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id) ||
	    getrandom(data, sizeof(data), 0) != (ssize_t)sizeof(data))
		return store_fail(err->msg, AM_ERR_IO, "storage probe: getrandom failed");
	if ((rc = store_key_format(key, sizeof(key), "probe", id, NULL)))
		return rc;
	rc = store_list(s, "probe/", probe_list_cb, NULL, err);
	if (rc < 0)
		return probe_fail(err, rc, "list");
	if ((rc = store_put_begin(s, key, &p, err)))
		return probe_fail(err, rc, "write");
	if ((rc = store_put_write(p, data, sizeof(data)))) {
		store_err_keep(err, store_put_errmsg(p));
		store_put_abort(p);
		return probe_fail(err, rc, "write");
	}
	if ((rc = store_put_commit(p, NULL, err)))
		return probe_fail(err, rc, "write");
	rc = store_read_at(s, key, 0, back, sizeof(back), &got, err);
	if (!rc && (got != sizeof(back) || memcmp(back, data, sizeof(back))))
		rc = store_fail(err->msg, AM_ERR_IO, "read back different bytes");
	if (rc) {
		rc = probe_fail(err, rc, "read");
		(void)store_delete(s, key, NULL); /* the read's failure is the one to tell */
		return rc;
	}
	if ((rc = store_delete(s, key, err)))
		return probe_fail(err, rc, "delete");
	return 0;
}
