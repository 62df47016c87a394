/*
 * db_pgsql_tls.c: the transport policy for PostgreSQL URLs (db.h
 * "TLS policy"). Runs in every role that opens the database, before libpq
 * is asked to connect: a URL whose hosts are not all on this machine must
 * say sslmode=verify-full, unless the operator opted out with
 * database_tls = insecure-allow. The URL is operator configuration, trusted
 * but read with libpq's own parser (PQconninfoParse), so that what is
 * checked is what libpq will connect to: percent-decoding, host and
 * hostaddr lists, Unix socket paths, and libpq's environment defaults
 * (PGHOST, PGSSLMODE, ... through PQconndefaults) all included.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

#define HOST_MAX 256 /* one host or address of a list */

enum db_tls db_tls_parse(const char *setting)
{
	return setting && strcmp(setting, "insecure-allow") == 0 ? DB_TLS_INSECURE_ALLOW
								 : DB_TLS_VERIFY_FULL;
}

int db_tls_protocol_ok(const char *protocol)
{
	return protocol && (strcmp(protocol, "TLSv1.2") == 0 || strcmp(protocol, "TLSv1.3") == 0);
}

/* 1 for an address on this machine: a Unix socket path (libpq: absolute,
 * or '@' for Linux's abstract namespace), 127.0.0.0/8, ::1, an IPv4-mapped
 * loopback address, or exactly "localhost". Anything else, including names
 * like "localhost.example.org" or "127.0.0.1.nip.io", is remote. An empty
 * entry is libpq's default Unix socket. */
int db_tls_host_is_local(const char *h)
{
	return !*h || h[0] == '/' || h[0] == '@' || am_host_is_loopback(h);
}

/* The value libpq will use for key: the URL's own (even an empty one),
 * else the environment's or the compiled default (PQconndefaults). */
static const char *effective(const PQconninfoOption *url, const PQconninfoOption *defs,
			     const char *key)
{
	for (const PQconninfoOption *o = url; o && o->keyword; o++)
		if (strcmp(o->keyword, key) == 0 && o->val)
			return o->val;
	for (const PQconninfoOption *o = defs; o && o->keyword; o++)
		if (strcmp(o->keyword, key) == 0)
			return o->val ? o->val : "";
	return "";
}

static const char *explicit(const PQconninfoOption *url, const char *key)
{
	for (const PQconninfoOption *o = url; o && o->keyword; o++)
		if (strcmp(o->keyword, key) == 0)
			return o->val;
	return NULL;
}

static size_t list_len(const char *s)
{
	size_t n = 1;

	if (!*s)
		return 0;
	for (; *s; s++)
		n += *s == ',';
	return n;
}

/* Entry i of a comma-separated list into out ("" past the end). An entry
 * longer than out is cut, which cannot make a remote one look local: a
 * prefix of HOST_MAX - 1 bytes is never "localhost" or an address, and a
 * socket path stays a path. */
static void list_at(const char *s, size_t i, char *out, size_t n)
{
	size_t len;

	for (; i > 0 && s; i--)
		if ((s = strchr(s, ',')))
			s++;
	len = s ? strcspn(s, ",") : 0;
	if (len >= n)
		len = n - 1;
	memcpy(out, s ? s : "", len);
	out[len] = 0;
}

/* Where libpq connects, entry by entry (hostaddr wins over host; an empty
 * entry is the default Unix socket): report them, note the first remote
 * one. AM_ERR_INVAL when the lists differ in length (libpq refuses too). */
static int scan_hosts(const char *host, const char *addr, struct db_tls_report *rep, char *err,
		      size_t errlen)
{
	size_t nh = list_len(host), na = list_len(addr), n = nh > na ? nh : na;
	char h[HOST_MAX], a[HOST_MAX];
	size_t used = 0;

	if (nh && na && nh != na) {
		snprintf(err, errlen, "database: the URL lists %zu hosts but %zu hostaddr values",
			 nh, na);
		return AM_ERR_INVAL;
	}
	rep->local = 1;
	for (size_t i = 0; i < (n ? n : 1); i++) {
		list_at(host, i, h, sizeof(h));
		list_at(addr, i, a, sizeof(a));
		const char *where = *a ? a : h;
		int k = snprintf(rep->hosts + used, sizeof(rep->hosts) - used, "%s%s", i ? "," : "",
				 *where ? where : "(default socket)");

		if (k > 0 && (size_t)k < sizeof(rep->hosts) - used)
			used += (size_t)k;
		if (!db_tls_host_is_local(where) && rep->local) {
			rep->local = 0;
			am_strlcpy(rep->remote, where, sizeof(rep->remote));
		}
	}
	return 0;
}

/* 1 if the URL carries a password (user:password@ or password=): then a
 * parse error from libpq, which may quote the bad part, is not repeated. */
static int has_password(const char *url)
{
	const char *a = strstr(url, "://"), *end, *at;

	if (strstr(url, "password="))
		return 1;
	if (!a)
		return 0;
	a += 3;
	end = a + strcspn(a, "/?");
	for (at = end; at > a && at[-1] != '@'; at--)
		;
	return at > a && memchr(a, ':', (size_t)(at - a)) != NULL;
}

static int parse_failed(const char *url, char *perr, char *err, size_t errlen)
{
	size_t n = perr ? strlen(perr) : 0;

	while (n && (perr[n - 1] == '\n' || perr[n - 1] == ' '))
		n--;
	if (perr && !has_password(url))
		snprintf(err, errlen, "database: the postgres URL does not parse: %.*s", (int)n,
			 perr);
	else
		snprintf(err, errlen,
			 "database: the postgres URL does not parse (percent-encoding, parameter "
			 "names; detail withheld as the URL holds a password)");
	PQfreemem(perr);
	return AM_ERR_INVAL;
}

/* Why the URL fails the policy, written to why; 0 when it passes. */
static int why_refused(const struct db_tls_report *rep, const char *service, const char *minproto,
		       const char *gss, char *why, size_t n)
{
	if (service && *service)
		snprintf(
		    why, n,
		    "the database URL names service=%.64s, whose file could change the host and "
		    "sslmode: put host and sslmode=verify-full in the URL instead",
		    service);
	else if (rep->local)
		return 0;
	else if (strcmp(rep->sslmode, "verify-full") != 0)
		snprintf(why, n,
			 "host \"%.100s\" is not on this machine, so the database URL needs "
			 "sslmode=verify-full (it has \"%.16s\"), with sslrootcert=CA.pem for a "
			 "private CA",
			 rep->remote, rep->sslmode);
	else if (*minproto && strcmp(minproto, "TLSv1.2") != 0 && strcmp(minproto, "TLSv1.3") != 0)
		snprintf(why, n,
			 "host \"%.100s\" is not on this machine and the database URL lowers "
			 "ssl_min_protocol_version to \"%.16s\" (TLSv1.2 or TLSv1.3 only)",
			 rep->remote, minproto);
	else if (strcmp(gss, "require") == 0)
		snprintf(why, n,
			 "host \"%.100s\" is not on this machine and the database URL sets "
			 "gssencmode=require: TLS is required, not GSSAPI encryption",
			 rep->remote);
	else
		return 0;
	return 1;
}

static void fill(struct db_tls_report *rep, const PQconninfoOption *opts,
		 const PQconninfoOption *defs)
{
	am_strlcpy(rep->sslmode, effective(opts, defs, "sslmode"), sizeof(rep->sslmode));
	am_strlcpy(rep->sslrootcert, effective(opts, defs, "sslrootcert"),
		   sizeof(rep->sslrootcert));
}

int db_tls_check(const char *url, enum db_tls tls, struct db_tls_report *rep, char *err,
		 size_t errlen)
{
	PQconninfoOption *opts = NULL, *defs = NULL;
	char *perr = NULL, why[320];
	int rc = 0;

	memset(rep, 0, sizeof(*rep));
	if (!url || (strncmp(url, "postgres://", 11) && strncmp(url, "postgresql://", 13)))
		return 0;
	rep->postgres = 1;
	if (!(opts = PQconninfoParse(url, &perr)))
		return perr ? parse_failed(url, perr, err, errlen) : AM_ERR_NOMEM;
	if (!(defs = PQconndefaults())) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	fill(rep, opts, defs);
	if ((rc = scan_hosts(effective(opts, defs, "host"), effective(opts, defs, "hostaddr"), rep,
			     err, errlen)) != 0)
		goto out;
	if (!why_refused(rep, explicit(opts, "service"),
			 effective(opts, defs, "ssl_min_protocol_version"),
			 effective(opts, defs, "gssencmode"), why, sizeof(why)))
		goto out;
	if (tls == DB_TLS_INSECURE_ALLOW) {
		rep->insecure = 1;
		goto out;
	}
	snprintf(
	    err, errlen,
	    "database: %s; or set database_tls = insecure-allow to connect without verified TLS",
	    why);
	rc = AM_ERR_INVAL;
out:
	PQconninfoFree(opts);
	PQconninfoFree(defs);
	return rc;
}
