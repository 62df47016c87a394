/*
 * translog_sth.c: signed tree heads of the access log: the signed bytes,
 * the JSON the owner downloads and keeps, and its strict parser
 * (translog.h). Signing runs in the web role (the owner's download); the
 * parser runs in `audiomus log verify` on a file the operator hands it, so
 * it takes exactly the documented fields with their exact lengths.
 */
#include "translog/translog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "crypto/crypto.h"
#include "translog/translog_int.h"

#define STH_MSG_LEN (16 + 16 + 8 + 8 + TRANSLOG_HASH)

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void sth_msg(const struct translog_sth *s, uint8_t m[STH_MSG_LEN])
{
	memcpy(m, "audiomus-sth-v1", 16); /* with its NUL */
	memcpy(m + 16, s->project_id, 16);
	be64(m + 32, s->size);
	be64(m + 40, (uint64_t)s->timestamp);
	memcpy(m + 48, s->root, TRANSLOG_HASH);
}

int translog_sth_sign(const struct keyring *kr, struct translog_sth *s)
{
	uint8_t m[STH_MSG_LEN];

	sth_msg(s, m);
	return crypto_log_sign(kr, m, sizeof(m), s->sig, s->key);
}

int translog_sth_check(const struct translog_sth *s)
{
	uint8_t m[STH_MSG_LEN];

	sth_msg(s, m);
	return crypto_log_verify(s->key, m, sizeof(m), s->sig) ? AM_ERR_DENIED : 0;
}

int translog_sth_json(const struct translog_sth *s, char *out, size_t outlen)
{
	char pid[33], root[48], key[48], sig[96];
	int n;

	for (int i = 0; i < 16; i++)
		snprintf(pid + 2 * i, 3, "%02x", s->project_id[i]);
	if (crypto_b64url_encode(s->root, TRANSLOG_HASH, root, sizeof(root)) ||
	    crypto_b64url_encode(s->key, TRANSLOG_PUB, key, sizeof(key)) ||
	    crypto_b64url_encode(s->sig, TRANSLOG_SIG, sig, sizeof(sig)))
		return AM_ERR_TOOBIG;
	n = snprintf(out, outlen,
		     "{\"v\":1,\"project\":\"%s\",\"tree_size\":%" PRIu64 ",\"timestamp\":%" PRId64
		     ",\"root_hash\":\"%s\",\"key\":\"%s\",\"signature\":\"%s\"}",
		     pid, s->size, s->timestamp, root, key, sig);
	return n < 0 || (size_t)n >= outlen ? AM_ERR_TOOBIG : 0;
}

/* A base64url string field of exactly n decoded bytes. */
static int b64_field(json_t *o, const char *name, uint8_t *out, size_t n)
{
	json_t *v = json_object_get(o, name);
	size_t got = 0;

	if (!json_is_string(v) ||
	    crypto_b64url_decode(json_string_value(v), json_string_length(v), out, n, &got) ||
	    got != n)
		return AM_ERR_INVAL;
	return 0;
}

int translog_hex16(const char *s, uint8_t out[16])
{
	for (int i = 0; i < 16; i++) {
		int hi = am_hexval(s[2 * i], AM_HEX_LOWER);
		int lo = hi < 0 ? -1 : am_hexval(s[2 * i + 1], AM_HEX_LOWER);

		if (lo < 0)
			return AM_ERR_INVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int translog_sth_parse(const char *text, size_t n, struct translog_sth *out)
{
	json_t *o = json_loadb(text, n, JSON_REJECT_DUPLICATES, NULL);
	json_t *v, *pid, *size, *ts;
	int rc = AM_ERR_INVAL;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o))
		goto out;
	v = json_object_get(o, "v");
	pid = json_object_get(o, "project");
	size = json_object_get(o, "tree_size");
	ts = json_object_get(o, "timestamp");
	if (!json_is_integer(v) || json_integer_value(v) != 1 || !json_is_string(pid) ||
	    json_string_length(pid) != 32 ||
	    translog_hex16(json_string_value(pid), out->project_id) || !json_is_integer(size) ||
	    json_integer_value(size) < 0 || !json_is_integer(ts) || json_integer_value(ts) < 0)
		goto out;
	out->size = (uint64_t)json_integer_value(size);
	out->timestamp = json_integer_value(ts);
	if (b64_field(o, "root_hash", out->root, TRANSLOG_HASH) ||
	    b64_field(o, "key", out->key, TRANSLOG_PUB) ||
	    b64_field(o, "signature", out->sig, TRANSLOG_SIG))
		goto out;
	rc = 0;
out:
	json_decref(o);
	return rc;
}
