/*
 * store_s3_put.c: streaming puts for the S3 backend. The object is cut into
 * fixed parts of P bytes (part_size, >= 5 MiB > STORE_PUT_HEAD_MAX). Part 1,
 * [0, P), stays in memory: an object that ends inside it is one PutObject
 * with a Content-Length and its real SHA-256. The first byte past P starts a
 * multipart upload; each later part is uploaded when the first byte of the
 * next one arrives (so the last part, of any size, is sent at commit), and
 * CompleteMultipartUpload publishes the object atomically. A plain put sends
 * part 1 as soon as the upload starts; a put with a reserved head (AM1 head
 * mode, the head-patched MP4 rendition) keeps part 1 until commit, when its
 * head has arrived, and uploads it last. Memory: at most two parts per put.
 * Abort (or a failed commit) aborts the multipart upload; stale uploads of a
 * crashed process are collected by store_gc_temp (store_s3.c).
 *
 * Runs in the media and worker roles. Trust boundary: what goes out is AM1
 * ciphertext only; what comes back (upload id, ETags, XML) is bounded and
 * checked before it is echoed into later requests.
 */
#include "store/store_s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

struct s3_put {
	struct store_put base;
	struct s3_store *s;
	uint8_t *p1; /* part 1: object bytes [0, p1_alloc) */
	size_t p1_alloc;
	int p1_sent;
	uint8_t *cur; /* part cur_no (>= 2), cur_len bytes */
	size_t cur_len;
	unsigned cur_no;
	char upload_id[S3_UPLOAD_ID_MAX];
	char (*etags)[S3_ETAG_MAX]; /* etags[i] of part i + 1 */
	unsigned netags;
};

int s3_put_begin(struct store *bs, const char *key, uint64_t head_len, struct store_put **out,
		 char *emsg)
{
	struct s3_put *p = calloc(1, sizeof(*p));

	(void)key;
	(void)head_len;
	(void)emsg;
	if (!p)
		return AM_ERR_NOMEM;
	p->s = (struct s3_store *)bs;
	*out = &p->base;
	return 0;
}

/* Grow part 1 to hold [0, need), zero-filling. need <= part size. */
static int p1_reserve(struct s3_put *p, uint64_t need)
{
	size_t n = p->p1_alloc ? p->p1_alloc : 64 * 1024;
	uint8_t *q;

	if (need <= p->p1_alloc)
		return 0;
	while (n < need)
		n *= 2;
	if (n > p->s->part_size)
		n = (size_t)p->s->part_size;
	if (!(q = realloc(p->p1, n)))
		return AM_ERR_NOMEM;
	memset(q + p->p1_alloc, 0, n - p->p1_alloc);
	p->p1 = q;
	p->p1_alloc = n;
	return 0;
}

/* An ETag we will echo into the completion XML: printable, no markup. */
static int etag_ok(const char *e)
{
	if (!*e)
		return 0;
	for (; *e; e++)
		if (*e < 0x20 || *e > 0x7e || *e == '<' || *e == '>' || *e == '&')
			return 0;
	return 1;
}

static int create_upload(struct s3_put *p)
{
	char *emsg = p->base.errmsg;
	struct am_buf xml;
	struct s3_req rq = {
	    .emsg = emsg, .method = "POST", .key = p->base.key, .query = "uploads=", .xml = &xml};
	char what[STORE_KEY_MAX + 24];
	int rc;

	am_buf_init(&xml, 64 * 1024);
	snprintf(what, sizeof(what), "create upload %s", p->base.key);
	if ((rc = s3_request(p->s, &rq, what)))
		goto out;
	if (s3_xml_text((struct s3_str){(const char *)xml.p, xml.len}, "UploadId", p->upload_id,
			sizeof(p->upload_id)) ||
	    !*p->upload_id)
		rc = store_fail(emsg, AM_ERR_IO, "s3 %s: no UploadId in the answer", what);
out:
	am_buf_cleanup(&xml);
	return rc;
}

static int upload_part(struct s3_put *p, unsigned no, const uint8_t *buf, size_t n)
{
	char q[S3_UPLOAD_ID_MAX * 3 + 64], what[STORE_KEY_MAX + 32], *emsg = p->base.errmsg;
	struct s3_req rq = {.emsg = emsg,
			    .method = "PUT",
			    .key = p->base.key,
			    .query = q,
			    .body = buf,
			    .body_len = n};
	struct am_buf enc;
	int rc;

	if (no > S3_PARTS_MAX)
		return store_fail(emsg, AM_ERR_TOOBIG,
				  "s3 put %s: more than %d parts (raise part_size)", p->base.key,
				  S3_PARTS_MAX);
	am_buf_init(&enc, sizeof(q) - 48);
	rc = s3_uri_encode(&enc, p->upload_id, strlen(p->upload_id), 0);
	if (!rc)
		snprintf(q, sizeof(q), "partNumber=%u&uploadId=%s", no, (const char *)enc.p);
	am_buf_cleanup(&enc);
	if (rc)
		return store_fail(emsg, AM_ERR_IO, "s3 put %s: upload id too long", p->base.key);
	snprintf(what, sizeof(what), "upload part %u of %s", no, p->base.key);
	if ((rc = s3_request(p->s, &rq, what)))
		return rc;
	if (!etag_ok(rq.etag))
		return store_fail(emsg, AM_ERR_IO, "s3 %s: missing or malformed ETag", what);
	if (no > p->netags) {
		unsigned m = p->netags ? p->netags : 16;
		void *e;
		while (m < no)
			m *= 2;
		if (!(e = realloc(p->etags, (size_t)m * S3_ETAG_MAX)))
			return AM_ERR_NOMEM;
		p->etags = e;
		memset(p->etags[p->netags], 0, (size_t)(m - p->netags) * S3_ETAG_MAX);
		p->netags = m;
	}
	am_strlcpy(p->etags[no - 1], rq.etag, S3_ETAG_MAX);
	return 0;
}

/* The first byte of part no (>= 2) arrives: send what is complete. */
static int part_boundary(struct s3_put *p, unsigned no)
{
	int rc;

	if (no == 2) {
		if (!*p->upload_id && (rc = create_upload(p)))
			return rc;
		if (p->base.head_len == 0) { /* plain put: part 1 is final now */
			if ((rc = upload_part(p, 1, p->p1, (size_t)p->s->part_size)))
				return rc;
			p->p1_sent = 1;
			free(p->p1);
			p->p1 = NULL;
			p->p1_alloc = 0;
		}
		if (!(p->cur = malloc((size_t)p->s->part_size)))
			return AM_ERR_NOMEM;
	} else if ((rc = upload_part(p, p->cur_no, p->cur, p->cur_len))) {
		return rc;
	}
	p->cur_no = no;
	p->cur_len = 0;
	return 0;
}

/* A put that will outgrow part 1 starts its multipart upload now rather
 * than at part 2's first byte: an S3 that is down or refuses us (a wrong
 * key) then fails the begin of an upload's part, before its body is read
 * (docs/media.md). Same requests as before, earlier; a put that ends in
 * part 1 after all is PUT whole and the multipart upload aborted (free). */
int s3_put_expect(struct store_put *bp, uint64_t size)
{
	struct s3_put *p = (struct s3_put *)bp;

	if (*p->upload_id || p->cur_no || bp->head_len + bp->body_len + size <= p->s->part_size)
		return 0;
	return create_upload(p);
}

int s3_put_append(struct store_put *bp, const void *buf, size_t n)
{
	struct s3_put *p = (struct s3_put *)bp;
	const uint8_t *b = buf;
	uint64_t P = p->s->part_size, o = bp->head_len + bp->body_len;
	int rc;

	while (n > 0) {
		size_t k;
		if (o < P) {
			k = P - o < n ? (size_t)(P - o) : n;
			if ((rc = p1_reserve(p, o + k)))
				return rc;
			memcpy(p->p1 + o, b, k);
		} else {
			uint64_t in = o % P;
			if (in == 0 && (rc = part_boundary(p, (unsigned)(o / P) + 1)))
				return rc;
			k = P - in < n ? (size_t)(P - in) : n;
			memcpy(p->cur + in, b, k);
			p->cur_len = (size_t)in + k;
		}
		b += k;
		n -= k;
		o += k;
	}
	return 0;
}

int s3_put_write_head(struct store_put *bp, uint64_t off, const void *buf, size_t n)
{
	struct s3_put *p = (struct s3_put *)bp;
	int rc;

	/* head_len <= STORE_PUT_HEAD_MAX < part size: the head is inside part 1 */
	if ((rc = p1_reserve(p, off + n)))
		return rc;
	memcpy(p->p1 + off, buf, n);
	return 0;
}

static int complete_xml(struct s3_put *p, unsigned last, struct am_buf *x)
{
	char *emsg = p->base.errmsg;
	int rc = am_buf_puts(x, "<CompleteMultipartUpload>");

	for (unsigned i = 1; !rc && i <= last; i++) {
		if (i > p->netags || !*p->etags[i - 1])
			return store_fail(emsg, AM_ERR_INTERNAL, "s3 put %s: part %u missing",
					  p->base.key, i);
		rc = am_buf_printf(x, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>", i,
				   p->etags[i - 1]);
	}
	if (!rc)
		rc = am_buf_puts(x, "</CompleteMultipartUpload>");
	return rc ? store_fail(emsg, AM_ERR_NOMEM, "s3 put %s: completion too large", p->base.key)
		  : 0;
}

/* CompleteMultipartUpload; S3 may answer 200 with an <Error> body. */
static int complete_upload(struct s3_put *p, unsigned last)
{
	struct am_buf x, xml, q;
	char what[STORE_KEY_MAX + 24], code[64], *emsg = p->base.errmsg;
	int rc, tries = 0;

	am_buf_init(&x, (size_t)last * 256 + 128);
	am_buf_init(&xml, 64 * 1024);
	am_buf_init(&q, S3_URL_MAX);
	snprintf(what, sizeof(what), "complete %s", p->base.key);
	if ((rc = complete_xml(p, last, &x)))
		goto out;
	if (am_buf_puts(&q, "uploadId=") ||
	    s3_uri_encode(&q, p->upload_id, strlen(p->upload_id), 0)) {
		rc = store_fail(emsg, AM_ERR_IO, "s3 %s: upload id too long", what);
		goto out;
	}
	do {
		struct s3_req rq = {.emsg = emsg,
				    .method = "POST",
				    .key = p->base.key,
				    .query = (const char *)q.p,
				    .body = x.p,
				    .body_len = x.len,
				    .content_type = "application/xml",
				    .xml = &xml};
		struct s3_str in;
		if ((rc = s3_request(p->s, &rq, what)))
			goto out;
		in = (struct s3_str){(const char *)xml.p, xml.len};
		if (memmem(in.p, in.n, "<CompleteMultipartUploadResult", 30))
			goto out;
		if (s3_xml_text(in, "Code", code, sizeof(code)))
			am_strlcpy(code, "(no result)", sizeof(code));
		rc = store_fail(emsg, AM_ERR_IO, "s3 %s: 200 with error %s", what, code);
	} while (++tries < p->s->tune.attempts &&
		 (!strcmp(code, "InternalError") || !strcmp(code, "SlowDown")));
out:
	am_buf_cleanup(&x);
	am_buf_cleanup(&xml);
	am_buf_cleanup(&q);
	return rc;
}

int s3_put_commit(struct store_put *bp, uint64_t size)
{
	struct s3_put *p = (struct s3_put *)bp;
	char what[STORE_KEY_MAX + 8], *emsg = bp->errmsg;
	int rc;

	if (!p->cur_no) { /* the whole object is in part 1 (an early upload id: aborted) */
		struct s3_req rq = {.emsg = emsg,
				    .method = "PUT",
				    .key = bp->key,
				    .body = p->p1,
				    .body_len = (size_t)size};
		if (size > p->p1_alloc && size > 0)
			return store_fail(emsg, AM_ERR_INTERNAL, "s3 put %s: size mismatch",
					  bp->key);
		snprintf(what, sizeof(what), "PUT %s", bp->key);
		return s3_request(p->s, &rq, what);
	}
	if (size != (uint64_t)(p->cur_no - 1) * p->s->part_size + p->cur_len)
		return store_fail(emsg, AM_ERR_INTERNAL, "s3 put %s: size mismatch", bp->key);
	if ((rc = upload_part(p, p->cur_no, p->cur, p->cur_len)))
		return rc;
	if (!p->p1_sent) { /* the reserved head: part 1 goes last */
		if (p->p1_alloc < p->s->part_size)
			return store_fail(emsg, AM_ERR_INTERNAL, "s3 put %s: part 1 short",
					  bp->key);
		if ((rc = upload_part(p, 1, p->p1, (size_t)p->s->part_size)))
			return rc;
		p->p1_sent = 1;
	}
	if ((rc = complete_upload(p, p->cur_no)))
		return rc;
	p->upload_id[0] = 0; /* completed: nothing to abort */
	return 0;
}

void s3_put_free(struct store_put *bp, int committed)
{
	struct s3_put *p = (struct s3_put *)bp;
	char emsg[STORE_ERRMSG_MAX] = ""; /* the abort's own: the put's detail stays */

	if (*p->upload_id && s3_abort_upload(p->s, bp->key, p->upload_id, emsg))
		am_log(AM_LOG_WARN, "s3_abort_failed", "key", bp->key, "store_error", emsg, "hint",
		       "store_gc_temp removes it later");
	(void)committed;
	free(p->p1);
	free(p->cur);
	free(p->etags);
	free(p);
}
