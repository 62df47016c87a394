/*
 * metrics: the process's operational counters for the Prometheus endpoint
 * (issue 25, docs/deploy.md "Metrics"): requests by route class and status
 * code, request latency histograms, bytes served and received, active
 * connections, TLS handshakes, transcode durations and failures; and the
 * text exposition of them together with gauges the caller read elsewhere
 * (job queue, mail outbox). Runs in every role process; it holds nothing
 * sensitive by construction: every label value is one of a fixed set
 * defined here (route classes, status codes, TLS versions, job kinds), so no
 * token, name, address or id can reach a label.
 *
 * The counters are process-global relaxed C11 atomics: recording a request
 * costs five atomic adds and no lock. A scrape reads them without stopping
 * writers, so two counters may be a request apart; a histogram's _count is
 * computed from its own buckets, so _count always equals the +Inf bucket.
 */
#ifndef AM_METRICS_H
#define AM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* Route classes: the only values of the "route" label. */
enum metrics_route {
	METRICS_ROUTE_OTHER,	      /* no route matched (404, 405, 400 ...), redirects */
	METRICS_ROUTE_API,	      /* /api/... (owner API, account, mail links) */
	METRICS_ROUTE_REVIEW,	      /* /api/v1/s/... (the guest review API) */
	METRICS_ROUTE_MEDIA_STREAM,   /* /m/{object} played */
	METRICS_ROUTE_MEDIA_DOWNLOAD, /* /m/{object} as a download, /m/export/... */
	METRICS_ROUTE_UPLOAD,	      /* /u/... (tus) */
	METRICS_ROUTE_STATIC,	      /* pages and assets, /s/{token}, security.txt */
	METRICS_ROUTE_HEALTH,	      /* /healthz */
	METRICS_ROUTE_N
};

/* The class of a route pattern as the router holds it ("/m/{object}"):
 * decided by its fixed prefix, never by a request's own path. */
enum metrics_route metrics_route_of_pattern(const char *pattern);
/* The label value of r ("api", ...); "other" when out of range. */
const char *metrics_route_name(enum metrics_route r);

/* A request finished (the response was sent or given up): its class, the
 * status sent (0 or out of 100..599: none was), its duration in
 * microseconds, the response body bytes sent and the request body bytes
 * received. Any thread; lock-free. */
void metrics_request(enum metrics_route r, unsigned status, int64_t us, uint64_t bytes_out,
		     uint64_t bytes_in);
/* A connection was accepted / closed (the active-connections gauge). */
void metrics_connection_open(void);
void metrics_connection_close(void);
/* A TLS handshake began (the server chose its certificate) / completed
 * (the client's Finished arrived) with protocol minor version 2 or 3 of
 * TLS 1.x (anything else is counted as "other"). */
void metrics_tls_started(void);
void metrics_tls_completed(int tls1_minor);
/* A transcode ended after ms milliseconds; ok: 1 if it succeeded. */
void metrics_transcode(int64_t ms, int ok);

/* Gauges read at scrape time from the shared database (the caller reads
 * them: this component knows no database). Per job kind: the known kinds
 * are "transcode" and "mail"; anything else is counted under "other". */
enum metrics_kind { METRICS_KIND_TRANSCODE, METRICS_KIND_MAIL, METRICS_KIND_OTHER, METRICS_KIND_N };
struct metrics_gauges {
	int ok; /* 0: the database could not be read; the gauges below are left out */
	int64_t jobs_queued[METRICS_KIND_N];  /* queued and due now */
	int64_t jobs_delayed[METRICS_KIND_N]; /* queued for later (a retry's back-off) */
	int64_t jobs_running[METRICS_KIND_N];
	int64_t jobs_oldest_ms[METRICS_KIND_N]; /* how long the oldest due job has waited */
	int64_t outbox_queued, outbox_sending, outbox_failed;
};
/* The kind index of a job kind name. */
enum metrics_kind metrics_kind_of(const char *kind);

/* Append the Prometheus text exposition (format 0.0.4) of every counter
 * and, when g is not NULL, of g, to out. 0, AM_ERR_TOOBIG, AM_ERR_NOMEM. */
int metrics_render(struct am_buf *out, const struct metrics_gauges *g);

/* The content type of that text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Tests only: set every counter back to zero. */
void metrics_reset(void);

#endif
