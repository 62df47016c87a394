/*
 * conf.c: the settings table and its parsers (see conf.h). Runs at start-up
 * in every role. Input is the operator's config file and environment: parsed
 * strictly, every value bounded, errors reported with file:line.
 */
#include "conf/conf.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

enum conf_type { CT_STR, CT_INT, CT_SIZE, CT_SECONDS, CT_BOOL };

struct conf_item {
	const char *name;
	enum conf_type type;
	size_t off;
	size_t size; /* CT_STR: capacity */
	const char *def;
	int64_t min, max;
	const char *help;
	int secret; /* off is into struct conf_secrets */
};

#define S(f, d, h)                                                                                 \
	{                                                                                          \
#f, CT_STR, offsetof(struct conf, f), sizeof(((struct conf *)0)->f), d, 0, 0, h, 0 \
	}
#define I(f, t, d, lo, hi, h)                                                                      \
	{                                                                                          \
#f, t, offsetof(struct conf, f), 0, d, lo, hi, h, 0                                \
	}
/* A credential: a string kept in c->secret. */
#define X(f, d, h)                                                                                 \
	{                                                                                          \
#f, CT_STR, offsetof(struct conf_secrets, f),                                      \
		    sizeof(((struct conf_secrets *)0)->f), d, 0, 0, h, 1                           \
	}

static const struct conf_item items[] = {
    S(data_dir, "/var/lib/audiomus",
      "Data directory (database, encrypted objects, TLS files). Mode 0700."),
    S(key_file, "",
      "Master key file (32 bytes, mode 0600). Default: DATA_DIR.key, beside the\n"
      "data directory so that a backup of the data directory never holds it."),
    S(listen, "127.0.0.1:8443", "HTTPS address, HOST:PORT ([v6]:PORT). Port 0 picks a free port."),
    S(redirect_listen, "",
      "Optional plaintext listener that only answers 301 to https (off when empty)."),
    S(metrics_listen, "",
      "Plain-HTTP listener for the Prometheus endpoint GET /metrics (docs/deploy.md), e.g.\n"
      "127.0.0.1:9464. Off when empty. Not on loopback only with metrics_token."),
    X(metrics_token, "",
      "Bearer token the metrics listener requires (16 characters or more); prefer\n"
      "AUDIOMUS_METRICS_TOKEN. Required when metrics_listen is not a loopback address."),
    S(public_url, "",
      "External base URL, e.g. https://review.example.org (default https://LISTEN)."),
    S(tls_cert, "", "PEM certificate chain. Default DATA_DIR/tls/cert.pem (made by init)."),
    S(tls_key, "", "PEM private key. Default DATA_DIR/tls/key.pem (made by init)."),
    X(database, "",
      "Database URL: sqlite:PATH or postgres://... Default sqlite:DATA_DIR/audiomus.db."),
    S(database_tls, "verify-full",
      "verify-full: a postgres:// URL whose host is not on this machine (loopback, Unix\n"
      "socket) must say sslmode=verify-full, else audiomus refuses to start. insecure-allow:\n"
      "take any sslmode (private networks only; logged as a warning on every start)."),
    S(storage, "", "Object store URL: file:PATH or s3://BUCKET?... Default file:DATA_DIR/objects."),
    S(s3_access_key, "", "S3 access key id (default: AWS_ACCESS_KEY_ID from the environment)."),
    X(s3_secret_key, "",
      "S3 secret key; prefer AUDIOMUS_S3_SECRET_KEY in the environment (default:\n"
      "AWS_SECRET_ACCESS_KEY). Never printed or logged."),
    S(s3_ca_file, "", "PEM CA bundle for an S3 endpoint with a private CA (default: system CAs)."),
    S(security_contact, "mailto:security@localhost",
      "Contact published in /.well-known/security.txt (mailto: or https: URL)."),
    S(log_level, "info", "Minimum log level: debug, info, warn, error."),
    S(trusted_proxies, "",
      "Comma-separated proxy addresses whose X-Forwarded-For is honoured (none by default)."),
    I(threads, CT_INT, "0", 0, 256, "HTTP worker threads; 0 = one per core."),
    I(db_pool_size, CT_INT, "0", 0, 1024,
      "Database connections per process; 0 = threads + 2 (one per HTTP thread and spare),\n"
      "plus one per worker thread in serve; worker: its threads + 2."),
    I(max_connections, CT_INT, "4096", 16, 1000000, "Maximum concurrent connections."),
    I(per_ip_connections, CT_INT, "256", 1, 100000,
      "Maximum concurrent connections per client address."),
    I(connection_timeout, CT_SECONDS, "60", 1, 86400,
      "Idle connection timeout (seconds, or 30s/5m/1h)."),
    I(header_timeout, CT_SECONDS, "10", 1, 3600,
      "Absolute deadline for a request's headers, from the connection's start (or the end\n"
      "of the previous response on keep-alive); missed: the connection is closed."),
    I(body_min_rate, CT_SIZE, "1K", 0, INT64_C(1) << 30,
      "Minimum request-body rate (bytes/s, or 4K) over each body_rate_window; below it\n"
      "the connection is closed. 0 = no minimum."),
    I(body_rate_window, CT_SECONDS, "10", 1, 3600,
      "Window over which body_min_rate is averaged (the first one is the grace period)."),
    I(connection_memory, CT_SIZE, "65536", 16384, 16777216,
      "Memory per connection for request headers and buffers (bytes, or 64K); bounds header size."),
    I(shutdown_grace, CT_SECONDS, "30", 0, 3600, "How long SIGTERM waits for in-flight requests."),
    I(max_upload_size, CT_SIZE, "2G", 1, INT64_C(1) << 40,
      "Largest accepted upload (bytes, or 2G)."),
    I(signed_url_lifetime, CT_SECONDS, "30m", 60, 21600, "Lifetime of signed media URLs (cap 6h)."),
    I(signup_open, CT_BOOL, "false", 0, 1,
      "Whether anyone may create an owner account from the web."),
    I(argon2_opslimit, CT_INT, "2", 2, 64, "Argon2id passes for owner and project passwords."),
    I(argon2_memlimit, CT_SIZE, "64M", 8388608, INT64_C(4) << 30, "Argon2id memory per hash."),
    S(smtp_url, "",
      "SMTP server for e-mail (docs/mail.md): smtps://HOST:465 or smtp://HOST:587 (STARTTLS\n"
      "required). Empty: no e-mail is sent (notifications and password reset are off)."),
    S(smtp_user, "", "SMTP user name (empty: no authentication)."),
    X(smtp_password, "", "SMTP password; prefer AUDIOMUS_SMTP_PASSWORD. Never printed or logged."),
    S(mail_from, "",
      "Sender, e.g. Audiomus <noreply@review.example.org> (required with smtp_url)."),
    S(smtp_ca_file, "",
      "PEM CA bundle for an SMTP server with a private CA (default: system CAs)."),
    I(smtp_insecure_plain, CT_BOOL, "false", 0, 1,
      "Allow smtp:// without TLS: only for a relay on this machine (127.0.0.1, ::1)."),
    I(mail_digest_minutes, CT_INT, "10", 1, 1440,
      "New-comment digest: at most one e-mail per project per N minutes."),
    I(mail_max_attempts, CT_INT, "8", 1, 50,
      "Delivery attempts (exponential back-off) before a message is dropped."),
    I(worker_threads, CT_INT, "0", 0, 65,
      "Job threads of `audiomus worker`; 0 = transcode_jobs + 1 (one left for e-mail)."),
    I(transcode_jobs, CT_INT, "0", 0, 64,
      "Transcodes run at once by each worker process (serve or worker); 0 = one per\n"
      "online core. Each runs one single-threaded child."),
    I(max_decode_samples, CT_INT, "1382400000", 1000000, INT64_C(100000000000),
      "Most decode work per upload, in samples (duration x sample rate x channels);\n"
      "the default is 4 hours of 48 kHz stereo. A file over it is refused."),
};

static const struct conf_item *find(const char *name)
{
	for (size_t i = 0; i < AM_ARRAY_LEN(items); i++)
		if (strcmp(items[i].name, name) == 0)
			return &items[i];
	return NULL;
}

/* Parse an integer with an optional unit suffix for sizes (K, M, G, T; powers
 * of 1024) or durations (s, m, h, d). */
static int parse_scaled(const char *v, enum conf_type t, int64_t *out)
{
	char num[32];
	size_t n = strlen(v);
	int64_t mul = 1, x;
	char suf = n ? (char)tolower((unsigned char)v[n - 1]) : 0;

	if (n == 0 || n >= sizeof(num))
		return AM_ERR_INVAL;
	if (t == CT_SIZE && strchr("kmgt", suf) && suf)
		mul = suf == 'k'   ? 1024
		      : suf == 'm' ? 1 << 20
		      : suf == 'g' ? 1 << 30
				   : INT64_C(1) << 40;
	if (t == CT_SECONDS && strchr("smhd", suf) && suf)
		mul = suf == 's' ? 1 : suf == 'm' ? 60 : suf == 'h' ? 3600 : 86400;
	memcpy(num, v, n + 1);
	if (mul != 1 || (t == CT_SECONDS && suf == 's'))
		num[n - 1] = 0;
	if (am_parse_i64(num, 0, INT64_MAX / mul, &x))
		return AM_ERR_INVAL;
	*out = x * mul;
	return 0;
}

/* Where the setting it lives in c; NULL for a secret of a conf without
 * secrets (allocation failed, or cleaned up). */
static char *field_of(const struct conf *c, const struct conf_item *it)
{
	if (it->secret)
		return c->secret ? (char *)c->secret + it->off : NULL;
	return (char *)c + it->off;
}

static int set_item(struct conf *c, const struct conf_item *it, const char *v, char *err,
		    size_t errlen)
{
	char *field = field_of(c, it);
	int64_t x = 0;

	if (!field) {
		snprintf(err, errlen, "%s: out of memory for secrets", it->name);
		return AM_ERR_NOMEM;
	}
	if (it->type == CT_STR) {
		if (am_strlcpy(field, v, it->size)) {
			snprintf(err, errlen, "%s: value longer than %zu bytes", it->name,
				 it->size - 1);
			return AM_ERR_INVAL;
		}
		return 0;
	}
	if (it->type == CT_BOOL) {
		if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
			x = 1;
		else if (strcmp(v, "false") && strcmp(v, "no") && strcmp(v, "off") &&
			 strcmp(v, "0")) {
			snprintf(err, errlen, "%s: expected true or false, got \"%s\"", it->name,
				 v);
			return AM_ERR_INVAL;
		}
	} else if (parse_scaled(v, it->type, &x) || x < it->min || x > it->max) {
		snprintf(err, errlen, "%s: expected a number from %lld to %lld, got \"%s\"",
			 it->name, (long long)it->min, (long long)it->max, v);
		return AM_ERR_INVAL;
	}
	memcpy(field, &x, sizeof(x));
	return 0;
}

int conf_defaults(struct conf *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	c->secret = am_secret_alloc(sizeof(*c->secret));
	for (size_t i = 0; i < AM_ARRAY_LEN(items); i++)
		(void)set_item(c, &items[i], items[i].def, err, sizeof(err));
	return c->secret ? 0 : AM_ERR_NOMEM;
}

int conf_copy(struct conf *dst, const struct conf *src)
{
	*dst = *src;
	dst->secret = NULL;
	if (!src->secret)
		return 0;
	if (!(dst->secret = am_secret_alloc(sizeof(*dst->secret))))
		return AM_ERR_NOMEM;
	memcpy(dst->secret, src->secret, sizeof(*dst->secret));
	return 0;
}

void conf_cleanup(struct conf *c)
{
	if (!c)
		return;
	am_secret_free(c->secret, sizeof(*c->secret));
	c->secret = NULL;
}

int conf_set(struct conf *c, const char *name, const char *value, char *err, size_t errlen)
{
	const struct conf_item *it = find(name);

	if (!it) {
		snprintf(err, errlen, "unknown setting \"%s\" (audiomus --help lists them)", name);
		return AM_ERR_INVAL;
	}
	return set_item(c, it, value, err, errlen);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = 0;
	return s;
}

/* One "name = value" line; value may be wrapped in double quotes. */
static int parse_line(struct conf *c, char *line, char *msg, size_t msglen)
{
	char *eq, *name, *value;
	size_t vn;

	line = trim(line);
	if (*line == 0 || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		snprintf(msg, msglen, "expected \"name = value\"");
		return AM_ERR_INVAL;
	}
	*eq = 0;
	name = trim(line);
	value = trim(eq + 1);
	vn = strlen(value);
	if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
		value[vn - 1] = 0;
		value++;
	}
	return conf_set(c, name, value, msg, msglen);
}

int conf_load_file(struct conf *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[2048], msg[512];
	int rc = 0, lineno = 0;

	if (!f) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return AM_ERR_IO;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno,
				 sizeof(line) - 2);
			rc = AM_ERR_INVAL;
			goto out;
		}
		if ((rc = parse_line(c, line, msg, sizeof(msg))) != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			goto out;
		}
	}
out:
	fclose(f);
	return rc;
}

int conf_apply_env(struct conf *c, char *err, size_t errlen)
{
	char env[96], msg[512];

	for (size_t i = 0; i < AM_ARRAY_LEN(items); i++) {
		const char *v;
		size_t j = 0;

		j = (size_t)snprintf(env, sizeof(env), "AUDIOMUS_");
		for (const char *p = items[i].name; *p && j + 1 < sizeof(env); p++)
			env[j++] = (char)toupper((unsigned char)*p);
		env[j] = 0;
		v = getenv(env);
		if (v && set_item(c, &items[i], v, msg, sizeof(msg))) {
			snprintf(err, errlen, "environment %s: %s", env, msg);
			return AM_ERR_INVAL;
		}
	}
	return 0;
}

/* dst = dir + suffix, unless the operator set dst. */
static int derive(char *dst, size_t n, const char *prefix, const char *dir, const char *suffix,
		  char *err, size_t errlen)
{
	if (*dst)
		return 0;
	if (snprintf(dst, n, "%s%s%s", prefix, dir, suffix) >= (int)n) {
		snprintf(err, errlen, "data_dir path too long");
		return AM_ERR_INVAL;
	}
	return 0;
}

/* metrics_listen: HOST:PORT; without a token only on loopback, since the
 * listener speaks plain HTTP (docs/deploy.md "Metrics"). */
static int check_metrics(const struct conf *c, char *err, size_t errlen)
{
	const char *tok = c->secret->metrics_token;
	char host[256];
	uint16_t port;
	int loopback;

	if (conf_split_listen(c->metrics_listen, host, sizeof(host), &port)) {
		snprintf(err, errlen, "metrics_listen: expected HOST:PORT, got \"%s\"",
			 c->metrics_listen);
		return AM_ERR_INVAL;
	}
	loopback =
	    strncmp(host, "127.", 4) == 0 || !strcmp(host, "::1") || !strcmp(host, "localhost");
	if (*tok && strlen(tok) < 16) {
		snprintf(err, errlen, "metrics_token: use 16 characters or more");
		return AM_ERR_INVAL;
	}
	if (!loopback && !*tok) {
		snprintf(err, errlen, "metrics_listen on %s (not loopback) needs metrics_token",
			 host);
		return AM_ERR_INVAL;
	}
	return 0;
}

int conf_finish(struct conf *c, char *err, size_t errlen)
{
	char host[256];
	uint16_t port;
	enum am_log_level lvl;
	size_t dn;

	if (!c->secret) {
		snprintf(err, errlen, "out of memory for secrets");
		return AM_ERR_NOMEM;
	}
	/* Strip trailing slashes so DATA_DIR.key stays a sibling. */
	dn = strlen(c->data_dir);
	while (dn > 1 && c->data_dir[dn - 1] == '/')
		c->data_dir[--dn] = 0;
	if (dn == 0) {
		snprintf(err, errlen, "data_dir must not be empty");
		return AM_ERR_INVAL;
	}
	if (derive(c->key_file, sizeof(c->key_file), "", c->data_dir, ".key", err, errlen) ||
	    derive(c->tls_cert, sizeof(c->tls_cert), "", c->data_dir, "/tls/cert.pem", err,
		   errlen) ||
	    derive(c->tls_key, sizeof(c->tls_key), "", c->data_dir, "/tls/key.pem", err, errlen) ||
	    derive(c->secret->database, sizeof(c->secret->database), "sqlite:", c->data_dir,
		   "/audiomus.db", err, errlen) ||
	    derive(c->storage, sizeof(c->storage), "file:", c->data_dir, "/objects", err, errlen))
		return AM_ERR_INVAL;
	if (conf_split_listen(c->listen, host, sizeof(host), &port)) {
		snprintf(err, errlen, "listen: expected HOST:PORT, got \"%s\"", c->listen);
		return AM_ERR_INVAL;
	}
	if (*c->redirect_listen &&
	    conf_split_listen(c->redirect_listen, host, sizeof(host), &port)) {
		snprintf(err, errlen, "redirect_listen: expected HOST:PORT, got \"%s\"",
			 c->redirect_listen);
		return AM_ERR_INVAL;
	}
	if (*c->metrics_listen && check_metrics(c, err, errlen))
		return AM_ERR_INVAL;
	if (!*c->public_url && snprintf(c->public_url, sizeof(c->public_url), "https://%.*s",
					CONF_STR_MAX - 9, c->listen) < 0)
		return AM_ERR_INVAL;
	if (strncmp(c->public_url, "https://", 8) != 0) {
		snprintf(err, errlen, "public_url must start with https://");
		return AM_ERR_INVAL;
	}
	if (strncmp(c->security_contact, "mailto:", 7) &&
	    strncmp(c->security_contact, "https://", 8)) {
		snprintf(err, errlen, "security_contact must be a mailto: or https: URL");
		return AM_ERR_INVAL;
	}
	if (am_log_parse_level(c->log_level, &lvl)) {
		snprintf(err, errlen, "log_level: expected debug, info, warn or error");
		return AM_ERR_INVAL;
	}
	if (strncmp(c->secret->database, "sqlite:", 7) &&
	    strncmp(c->secret->database, "postgres://", 11) &&
	    strncmp(c->secret->database, "postgresql://", 13)) {
		snprintf(err, errlen, "database: expected sqlite:PATH or postgres://...");
		return AM_ERR_INVAL;
	}
	if (strcmp(c->database_tls, "verify-full") && strcmp(c->database_tls, "insecure-allow")) {
		snprintf(err, errlen,
			 "database_tls: expected verify-full or insecure-allow, got \"%.40s\"",
			 c->database_tls);
		return AM_ERR_INVAL;
	}
	if (strncmp(c->storage, "file:", 5) && strncmp(c->storage, "s3://", 5)) {
		snprintf(err, errlen, "storage: expected file:PATH or s3://BUCKET?...");
		return AM_ERR_INVAL;
	}
	return 0;
}

int conf_split_listen(const char *listen, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h = listen;
	size_t hn;
	int64_t p;

	if (*listen == '[') {
		const char *rb = strchr(listen, ']');
		if (!rb || rb[1] != ':')
			return AM_ERR_INVAL;
		h = listen + 1;
		hn = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return AM_ERR_INVAL;
		hn = (size_t)(colon - listen);
	}
	if (hn == 0 || hn >= hostlen || am_parse_i64(colon + 1, 0, 65535, &p))
		return AM_ERR_INVAL;
	memcpy(host, h, hn);
	host[hn] = 0;
	*port = (uint16_t)p;
	return 0;
}

static const char *type_name(enum conf_type t)
{
	return t == CT_STR	 ? "string"
	       : t == CT_BOOL	 ? "bool"
	       : t == CT_SIZE	 ? "size"
	       : t == CT_SECONDS ? "duration"
				 : "integer";
}

void conf_print_reference(FILE *out)
{
	for (size_t i = 0; i < AM_ARRAY_LEN(items); i++) {
		const char *h = items[i].help;
		fprintf(out, "  %s (%s, default \"%s\")\n      ", items[i].name,
			type_name(items[i].type), items[i].def);
		for (; *h; h++)
			fprintf(out, *h == '\n' ? "\n      " : "%c", *h);
		fputc('\n', out);
	}
}

void conf_print_url(FILE *out, const char *url)
{
	const char *p = url, *auth = strstr(url, "://");
	const char *at = auth ? strchr(auth + 3, '@') : NULL;
	const char *slash = auth ? strchr(auth + 3, '/') : NULL;

	if (at && (!slash || at < slash)) {
		const char *colon = memchr(auth + 3, ':', (size_t)(at - (auth + 3)));
		if (colon) {
			fprintf(out, "%.*s:(not shown)", (int)(colon - url), url);
			p = at;
		}
	}
	while (*p) {
		const char *q = strstr(p, "password=");
		if (!q || q == url || (q[-1] != '?' && q[-1] != '&')) {
			size_t n = q ? (size_t)(q - p) + 9 : strlen(p);
			fprintf(out, "%.*s", (int)n, p);
			p += n;
			continue;
		}
		fprintf(out, "%.*s(not shown)", (int)(q + 9 - p), p);
		p = q + 9 + strcspn(q + 9, "&");
	}
}

void conf_print(const struct conf *c, FILE *out)
{
	for (size_t i = 0; i < AM_ARRAY_LEN(items); i++) {
		const char *field = field_of(c, &items[i]);
		int64_t x;

		if (!field) {
			fprintf(out, "%s = (not available)\n", items[i].name);
		} else if (items[i].secret && !strcmp(items[i].name, "database")) {
			fputs("database = \"", out);
			conf_print_url(out, field);
			fputs("\"\n", out);
		} else if (items[i].secret && *field) {
			fprintf(out, "%s = (set, not shown)\n", items[i].name);
		} else if (items[i].type == CT_STR) {
			fprintf(out, "%s = \"%s\"\n", items[i].name, field);
		} else {
			memcpy(&x, field, sizeof(x));
			if (items[i].type == CT_BOOL)
				fprintf(out, "%s = %s\n", items[i].name, x ? "true" : "false");
			else
				fprintf(out, "%s = %lld\n", items[i].name, (long long)x);
		}
	}
}
