/*
 * api_util.c: the small helpers every API handler uses: JSON answers and
 * error answers, typed access to JSON body fields with client-safe messages,
 * hex ids, GCRA rate-limit glue, and the client-address pseudonym (with
 * X-Forwarded-For honoured only from configured proxies). Runs in the web
 * process on server threads; every input here is client-controlled.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "repo/repo.h"

/* Rate limits (DESIGN §6; docs/api.md "Rate limits"). */
const struct api_limit API_LIMIT_LOGIN_IP = {"login-ip", 6000, 20};
const struct api_limit API_LIMIT_SIGNUP_IP = {"signup-ip", 60000, 5};
/* Per account, three tiers: the wait grows 1 s -> 1 min -> 15 min as
 * failures pile up (an exponential backoff in steps); reset on success. */
const struct api_limit API_LIMIT_LOGIN_ACCT[3] = {
    {"login-acct-1", 1000, 5}, {"login-acct-2", 60000, 10}, {"login-acct-3", 900000, 20}};
const struct api_limit API_LIMIT_PW_PROJECT = {"pw-project", 2000, 30};
const struct api_limit API_LIMIT_PW_PROJECT_IP = {"pw-project-ip", 10000, 5};
const struct api_limit API_LIMIT_COMMENT_IP = {"comment-ip", 10000, 10};
const struct api_limit API_LIMIT_COMMENT_PROJECT = {"comment-project", 3000, 100};
const struct api_limit API_LIMIT_UPLOAD_ACCT = {"upload-acct", 2000, 30};
/* Guest marker exports build a file (a zip of every track's markers) per
 * request: per (project, address pseudonym) 20 at once then one per 3 s, and
 * per project 60 at once then two per second. */
const struct api_limit API_LIMIT_MARKERS_IP = {"markers-ip", 3000, 20};
const struct api_limit API_LIMIT_MARKERS_PROJECT = {"markers-project", 500, 60};

int api_set(json_t *obj, const char *key, json_t *value)
{
	if (!value)
		return AM_ERR_NOMEM;
	return json_object_set_new(obj, key, value) ? AM_ERR_NOMEM : 0;
}

int api_reply(struct api_ctx *c, unsigned status, json_t *body)
{
	int rc;

	if (!body)
		return AM_ERR_NOMEM;
	rc = http_respond_json(c->req, status, body);
	json_decref(body);
	return rc;
}

int api_err(struct api_ctx *c, int err, const char *msg)
{
	c->msg = msg;
	return err;
}

static const char *generic_message(unsigned status)
{
	switch (status) {
	case 400: return "the request is malformed";
	case 401: return "sign in first";
	case 403: return "forbidden";
	case 404: return "not found";
	case 409: return "conflict with the current state";
	case 413: return "too large";
	case 415: return "unsupported media type";
	case 429: return "too many requests: try again later";
	case 503: return "the service is busy: try again shortly";
	default: return "internal error";
	}
}

void api_reply_error(struct api_ctx *c, int rc)
{
	unsigned status = http_status_of(rc);
	const char *msg = c->msg && status < 500 ? c->msg : generic_message(status);
	char retry[24], text[160];
	json_t *j;

	/* a full or read-only disk is 503 too, and needs its operator: logged */
	if ((status >= 500 && status != 503) || http_retry_after_of(rc))
		am_log(http_retry_after_of(rc) ? AM_LOG_ERROR : AM_LOG_WARN, "api_error", "route",
		       http_req_route(c->req) ? http_req_route(c->req) : "-", "error",
		       am_strerror(rc), "db", c->db ? db_errmsg(c->db) : "");
	if (status == 503 && c->msg)
		msg = c->msg;
	if (http_message_of(rc)) {
		msg = http_message_of(rc);
		if (c->retry_ms <= 0)
			c->retry_ms = (int64_t)http_retry_after_of(rc) * 1000;
	}
	if ((status == 429 || status == 503) && c->retry_ms > 0) {
		int64_t s = (c->retry_ms + 999) / 1000;
		snprintf(retry, sizeof(retry), "%lld", (long long)s);
		http_add_header(c->req, "Retry-After", retry);
		if (status == 429) {
			snprintf(text, sizeof(text), "%s: try again in %lld s", msg, (long long)s);
			msg = text;
		}
	}
	j = json_pack("{s:s,s:i}", "error", msg, "status", (int)status);
	if (!j || http_respond_json(c->req, status, j))
		http_respond_error(c->req, rc);
	json_decref(j);
}

/* ---- body fields ----------------------------------------------------------------- */

static int bad_field(struct api_ctx *c, const char *key, const char *what)
{
	static __thread char msg[160];

	snprintf(msg, sizeof(msg), "field \"%s\" %s", key, what);
	return api_err(c, AM_ERR_INVAL, msg);
}

int api_str(struct api_ctx *c, const char *key, size_t minlen, size_t maxlen, int required,
	    const char **out)
{
	json_t *v = json_object_get(c->body, key);
	char what[96];
	size_t n;

	if (!v || json_is_null(v))
		return required ? bad_field(c, key, "is required") : 0;
	n = json_is_string(v) ? json_string_length(v) : 0;
	if (!json_is_string(v) || n < minlen || n > maxlen || strlen(json_string_value(v)) != n) {
		snprintf(what, sizeof(what), "must be a string of %zu to %zu bytes", minlen,
			 maxlen);
		return bad_field(c, key, what);
	}
	*out = json_string_value(v);
	return 0;
}

int api_int(struct api_ctx *c, const char *key, int64_t min, int64_t max, int required,
	    int64_t *out, int *present)
{
	json_t *v = json_object_get(c->body, key);
	char what[96];

	if (present)
		*present = 0;
	if (!v || json_is_null(v))
		return required ? bad_field(c, key, "is required") : 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(what, sizeof(what), "must be an integer from %lld to %lld", (long long)min,
			 (long long)max);
		return bad_field(c, key, what);
	}
	*out = json_integer_value(v);
	if (present)
		*present = 1;
	return 0;
}

int api_bool(struct api_ctx *c, const char *key, int required, int *out, int *present)
{
	json_t *v = json_object_get(c->body, key);

	if (present)
		*present = 0;
	if (!v || json_is_null(v))
		return required ? bad_field(c, key, "is required") : 0;
	if (!json_is_boolean(v))
		return bad_field(c, key, "must be true or false");
	*out = json_is_true(v);
	if (present)
		*present = 1;
	return 0;
}

int api_id_field(struct api_ctx *c, const char *key, int required, uint8_t out[DB_ID_LEN],
		 int *present)
{
	json_t *v = json_object_get(c->body, key);

	if (present)
		*present = 0;
	if (!v || json_is_null(v))
		return required ? bad_field(c, key, "is required") : 0;
	if (!json_is_string(v) || api_id_parse(json_string_value(v), out))
		return bad_field(c, key, "must be an id (32 hexadecimal characters)");
	if (present)
		*present = 1;
	return 0;
}

/* ---- ids ---------------------------------------------------------------------------- */

void api_id_hex(const uint8_t id[DB_ID_LEN], char out[2 * DB_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < DB_ID_LEN; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 15];
	}
	out[2 * DB_ID_LEN] = 0;
}

json_t *api_id_json(const uint8_t id[DB_ID_LEN])
{
	char h[2 * DB_ID_LEN + 1];

	api_id_hex(id, h);
	return json_string(h);
}

int api_id_parse(const char *s, uint8_t out[DB_ID_LEN])
{
	if (!s || strlen(s) != 2 * DB_ID_LEN)
		return AM_ERR_INVAL;
	for (size_t i = 0; i < DB_ID_LEN; i++) {
		int hi = am_hexval(s[2 * i], AM_HEX_LOWER),
		    lo = am_hexval(s[2 * i + 1], AM_HEX_LOWER);
		if (hi < 0 || lo < 0)
			return AM_ERR_INVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int api_param_id(struct api_ctx *c, const char *name, uint8_t out[DB_ID_LEN])
{
	if (api_id_parse(http_req_param(c->req, name), out))
		return api_err(c, AM_ERR_NOTFOUND, "not found");
	return 0;
}

/* ---- rate limits ---------------------------------------------------------------------- */

static size_t limit_key(uint8_t *key, size_t cap, const struct api_limit *l, const void *a,
			size_t an, const void *b, size_t bn)
{
	size_t nl = strlen(l->name) + 1;

	if (nl + an + bn > cap)
		return 0;
	memcpy(key, l->name, nl);
	if (an)
		memcpy(key + nl, a, an);
	if (bn)
		memcpy(key + nl + an, b, bn);
	return nl + an + bn;
}

int api_rate(struct api_ctx *c, const struct api_limit *l, const void *a, size_t an, const void *b,
	     size_t bn)
{
	uint8_t key[512];
	size_t n = limit_key(key, sizeof(key), l, a, an, b, bn);
	int64_t retry = 0;
	int rc;

	if (n == 0)
		return AM_ERR_INTERNAL;
	rc = db_rate_take(c->db, key, n, am_now_ms(), l->interval_ms, l->burst, &retry);
	if (rc == AM_ERR_RATE) {
		c->retry_ms = retry;
		return api_err(c, rc, "too many attempts");
	}
	return rc;
}

int api_rate_reset(struct api_ctx *c, const struct api_limit *l, const void *a, size_t an)
{
	uint8_t key[512];
	size_t n = limit_key(key, sizeof(key), l, a, an, NULL, 0);

	return n ? db_rate_forget(c->db, key, n) : AM_ERR_INTERNAL;
}

/* ---- client addresses ------------------------------------------------------------------ */

static int addr_parse(const char *s, size_t n, struct api_proxy *out)
{
	char buf[64];

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return AM_ERR_INVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return AM_ERR_INVAL;
}

int api_proxies_parse(struct api *api, const char *list)
{
	const char *p = list;

	api->nproxies = 0;
	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (api->nproxies >= API_MAX_PROXIES ||
		    addr_parse(p, n, &api->proxies[api->nproxies]) != 0) {
			am_log(AM_LOG_ERROR, "config", "error", "trusted_proxies: bad address");
			return AM_ERR_INVAL;
		}
		api->nproxies++;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

static int is_trusted(const struct api *api, const struct api_proxy *a)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < api->nproxies; i++)
		if (api->proxies[i].family == a->family &&
		    memcmp(api->proxies[i].addr, a->addr, n) == 0)
			return 1;
	return 0;
}

static void from_sockaddr(const struct sockaddr_storage *ss, struct api_proxy *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		a->family = AF_INET;
		memcpy(a->addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(b, mapped, 12) == 0) {
			a->family = AF_INET;
			memcpy(a->addr, b + 12, 4);
		} else {
			a->family = AF_INET6;
			memcpy(a->addr, b, 16);
		}
	}
}

/* From a trusted peer, walk X-Forwarded-For from the right: the first
 * address that is not a trusted proxy is the client. */
static void apply_forwarded(struct api_ctx *c, struct api_proxy *client)
{
	const char *xff = http_req_header(c->req, "X-Forwarded-For");
	struct api_proxy hop;
	size_t end;

	if (!xff || !is_trusted(c->api, client))
		return;
	end = strlen(xff);
	while (end > 0) {
		size_t start = end;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		if (addr_parse(xff + start, end - start, &hop) != 0)
			return; /* malformed: keep the last good hop */
		*client = hop;
		if (!is_trusted(c->api, &hop))
			return;
		end = start > 0 ? start - 1 : 0;
	}
}

int api_client_pseudo(struct api_ctx *c, uint8_t out[16], int64_t *epoch)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	struct api_proxy client;
	socklen_t len = 0;
	int rc;

	if ((rc = http_req_client_addr(c->req, &ss, &len)))
		return rc;
	from_sockaddr(&ss, &client);
	apply_forwarded(c, &client);
	if (client.family == AF_INET) {
		memset(&s4, 0, sizeof(s4));
		s4.sin_family = AF_INET;
		memcpy(&s4.sin_addr, client.addr, 4);
		rc = app_ip_pseudonym(c->api->app, (const struct sockaddr *)&s4, out, epoch);
	} else {
		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		memcpy(s6.sin6_addr.s6_addr, client.addr, 16);
		rc = app_ip_pseudonym(c->api->app, (const struct sockaddr *)&s6, out, epoch);
	}
	am_memzero(&ss, sizeof(ss));
	am_memzero(&client, sizeof(client));
	return rc;
}
