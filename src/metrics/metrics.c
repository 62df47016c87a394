/*
 * metrics.c: the process-global counters and their Prometheus text
 * exposition (see metrics.h). Runs in every role process, on the request
 * threads (recording: relaxed atomic adds, no lock, no allocation) and on
 * the metrics listener's thread (rendering). No label value comes from
 * input: each is a constant of this file or a status code number.
 */
#include "metrics/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define STATUS_MAX 600 /* index 0: no status sent; 100..599: the code */

/* Request latency buckets (upper bounds, microseconds) and their labels. */
static const int64_t lat_us[] = {1000,	  5000,	    10000,    25000,	50000,
				 100000,  250000,   500000,   1000000,	2500000,
				 5000000, 10000000, 30000000, 60000000, 300000000};
static const char *const lat_le[] = {"0.001", "0.005", "0.01", "0.025", "0.05",
				     "0.1",   "0.25",  "0.5",  "1",	"2.5",
				     "5",     "10",    "30",   "60",	"300"};
#define LAT_N (sizeof(lat_us) / sizeof(lat_us[0]))

/* Transcode duration buckets (milliseconds). */
static const int64_t xc_ms[] = {1000,  2000,   5000,   10000,  20000,  30000,
				60000, 120000, 300000, 600000, 1800000};
static const char *const xc_le[] = {"1",  "2",	 "5",	"10",  "20",  "30",
				    "60", "120", "300", "600", "1800"};
#define XC_N (sizeof(xc_ms) / sizeof(xc_ms[0]))

typedef _Atomic uint64_t counter;

static struct {
	counter requests[METRICS_ROUTE_N][STATUS_MAX];
	counter lat[METRICS_ROUTE_N][LAT_N + 1]; /* per bucket, not cumulative; last: +Inf */
	counter lat_sum_us[METRICS_ROUTE_N];
	counter bytes_out[METRICS_ROUTE_N];
	counter bytes_in[METRICS_ROUTE_N];
	_Atomic int64_t conns_active;
	counter conns_total;
	counter tls_started;
	counter tls_done[3]; /* TLS 1.2, 1.3, other */
	counter xc[XC_N + 1];
	counter xc_sum_ms;
	counter xc_failed, xc_ok;
} m;

static const char *const route_names[METRICS_ROUTE_N] = {
    [METRICS_ROUTE_OTHER] = "other",
    [METRICS_ROUTE_API] = "api",
    [METRICS_ROUTE_REVIEW] = "review",
    [METRICS_ROUTE_MEDIA_STREAM] = "media_stream",
    [METRICS_ROUTE_MEDIA_DOWNLOAD] = "media_download",
    [METRICS_ROUTE_UPLOAD] = "upload",
    [METRICS_ROUTE_STATIC] = "static",
    [METRICS_ROUTE_HEALTH] = "health",
};
static const char *const kind_names[METRICS_KIND_N] = {"transcode", "mail", "other"};

static void add(counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

enum metrics_route metrics_route_of_pattern(const char *p)
{
	static const struct {
		const char *prefix;
		enum metrics_route r;
	} table[] = {
	    /* first match wins: the more specific prefix comes first */
	    {"/api/v1/s/", METRICS_ROUTE_REVIEW},
	    {"/api/", METRICS_ROUTE_API},
	    {"/m/export/", METRICS_ROUTE_MEDIA_DOWNLOAD},
	    {"/m/", METRICS_ROUTE_MEDIA_STREAM},
	    {"/u/", METRICS_ROUTE_UPLOAD},
	};

	if (!p)
		return METRICS_ROUTE_OTHER;
	if (strcmp(p, "/healthz") == 0)
		return METRICS_ROUTE_HEALTH;
	for (size_t i = 0; i < AM_ARRAY_LEN(table); i++)
		if (strncmp(p, table[i].prefix, strlen(table[i].prefix)) == 0)
			return table[i].r;
	return METRICS_ROUTE_STATIC;
}

const char *metrics_route_name(enum metrics_route r)
{
	return (unsigned)r < METRICS_ROUTE_N ? route_names[r] : "other";
}

enum metrics_kind metrics_kind_of(const char *kind)
{
	for (int i = 0; i < METRICS_KIND_OTHER; i++)
		if (kind && strcmp(kind, kind_names[i]) == 0)
			return (enum metrics_kind)i;
	return METRICS_KIND_OTHER;
}

void metrics_request(enum metrics_route r, unsigned status, int64_t us, uint64_t bytes_out,
		     uint64_t bytes_in)
{
	size_t b = 0;

	if ((unsigned)r >= METRICS_ROUTE_N)
		r = METRICS_ROUTE_OTHER;
	if (status < 100 || status >= STATUS_MAX)
		status = 0;
	if (us < 0)
		us = 0;
	while (b < LAT_N && us > lat_us[b])
		b++;
	add(&m.requests[r][status], 1);
	add(&m.lat[r][b], 1);
	add(&m.lat_sum_us[r], (uint64_t)us);
	if (bytes_out)
		add(&m.bytes_out[r], bytes_out);
	if (bytes_in)
		add(&m.bytes_in[r], bytes_in);
}

void metrics_connection_open(void)
{
	atomic_fetch_add_explicit(&m.conns_active, 1, memory_order_relaxed);
	add(&m.conns_total, 1);
}

void metrics_connection_close(void)
{
	atomic_fetch_sub_explicit(&m.conns_active, 1, memory_order_relaxed);
}

void metrics_tls_started(void)
{
	add(&m.tls_started, 1);
}

void metrics_tls_completed(int tls1_minor)
{
	add(&m.tls_done[tls1_minor == 2 ? 0 : tls1_minor == 3 ? 1 : 2], 1);
}

void metrics_transcode(int64_t ms, int ok)
{
	size_t b = 0;

	if (ms < 0)
		ms = 0;
	while (b < XC_N && ms > xc_ms[b])
		b++;
	add(&m.xc[b], 1);
	add(&m.xc_sum_ms, (uint64_t)ms);
	add(ok ? &m.xc_ok : &m.xc_failed, 1);
}

/* Tests only, with no request running: plain stores are enough. */
void metrics_reset(void)
{
	memset(&m, 0, sizeof(m));
}

/* ---- exposition ----------------------------------------------------------- */

static int head(struct am_buf *o, const char *name, const char *type, const char *help)
{
	return am_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram series: cumulative buckets, then _sum (in seconds, from
 * sum / scale) and _count (the +Inf bucket, so they always agree). */
static int histogram(struct am_buf *o, const char *name, const char *labels, counter *buckets,
		     const char *const *le, size_t n, uint64_t sum, unsigned scale)
{
	uint64_t cum = 0;
	int rc = 0;

	for (size_t i = 0; i <= n && rc == 0; i++) {
		cum += get(&buckets[i]);
		rc = am_buf_printf(o, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels,
				   *labels ? "," : "", i < n ? le[i] : "+Inf",
				   (unsigned long long)cum);
	}
	if (rc == 0)
		rc = am_buf_printf(o, "%s_sum%s%s%s %llu.%06llu\n", name, *labels ? "{" : "",
				   labels, *labels ? "}" : "", (unsigned long long)(sum / scale),
				   (unsigned long long)(sum % scale * (1000000 / scale)));
	if (rc == 0)
		rc = am_buf_printf(o, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels,
				   *labels ? "}" : "", (unsigned long long)cum);
	return rc;
}

static int render_requests(struct am_buf *o)
{
	int rc = head(o, "audiomus_http_requests_total", "counter",
		      "HTTP requests finished, by route class and status code (code \"none\": no "
		      "response was sent).");

	for (int r = 0; r < METRICS_ROUTE_N && rc == 0; r++)
		for (unsigned s = 0; s < STATUS_MAX && rc == 0; s++) {
			uint64_t v = get(&m.requests[r][s]);
			char code[8];

			if (!v)
				continue;
			snprintf(code, sizeof(code), s ? "%u" : "none", s);
			rc = am_buf_printf(
			    o, "audiomus_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
			    route_names[r], code, (unsigned long long)v);
		}
	rc = rc ? rc
		: head(o, "audiomus_http_request_duration_seconds", "histogram",
		       "Time from the request line to the end of the response, by route class.");
	for (int r = 0; r < METRICS_ROUTE_N && rc == 0; r++) {
		char labels[40];

		snprintf(labels, sizeof(labels), "route=\"%s\"", route_names[r]);
		rc = histogram(o, "audiomus_http_request_duration_seconds", labels, m.lat[r],
			       lat_le, LAT_N, get(&m.lat_sum_us[r]), 1000000);
	}
	return rc;
}

static int render_bytes(struct am_buf *o)
{
	static const char *const names[2] = {"audiomus_http_response_bytes_total",
					     "audiomus_http_request_bytes_total"};
	static const char *const helps[2] = {"Response body bytes sent, by route class.",
					     "Request body bytes received, by route class."};
	int rc = 0;

	for (int k = 0; k < 2 && rc == 0; k++) {
		rc = head(o, names[k], "counter", helps[k]);
		for (int r = 0; r < METRICS_ROUTE_N && rc == 0; r++)
			rc = am_buf_printf(
			    o, "%s{route=\"%s\"} %llu\n", names[k], route_names[r],
			    (unsigned long long)get(k ? &m.bytes_in[r] : &m.bytes_out[r]));
	}
	return rc;
}

static int render_conns(struct am_buf *o)
{
	int64_t active = atomic_load_explicit(&m.conns_active, memory_order_relaxed);
	int rc = head(o, "audiomus_http_connections_active", "gauge",
		      "Open client connections (HTTPS and redirect listeners).");

	rc = rc ? rc
		: am_buf_printf(o, "audiomus_http_connections_active %lld\n",
				(long long)(active > 0 ? active : 0));
	rc = rc ? rc
		: head(o, "audiomus_http_connections_total", "counter",
		       "Client connections accepted.");
	rc = rc ? rc
		: am_buf_printf(o, "audiomus_http_connections_total %llu\n",
				(unsigned long long)get(&m.conns_total));
	rc = rc ? rc
		: head(o, "audiomus_tls_handshakes_started_total", "counter",
		       "TLS handshakes that reached the certificate choice.");
	rc = rc ? rc
		: am_buf_printf(o, "audiomus_tls_handshakes_started_total %llu\n",
				(unsigned long long)get(&m.tls_started));
	rc = rc ? rc
		: head(o, "audiomus_tls_handshakes_total", "counter",
		       "TLS handshakes completed, by protocol version.");
	rc = rc ? rc
		: am_buf_printf(o,
				"audiomus_tls_handshakes_total{version=\"1.2\"} %llu\n"
				"audiomus_tls_handshakes_total{version=\"1.3\"} %llu\n"
				"audiomus_tls_handshakes_total{version=\"other\"} %llu\n",
				(unsigned long long)get(&m.tls_done[0]),
				(unsigned long long)get(&m.tls_done[1]),
				(unsigned long long)get(&m.tls_done[2]));
	return rc;
}

static int render_transcodes(struct am_buf *o)
{
	int rc =
	    head(o, "audiomus_transcode_duration_seconds", "histogram",
		 "Transcodes run by this process's worker, by duration (successes and failures).");

	rc = rc ? rc
		: histogram(o, "audiomus_transcode_duration_seconds", "", m.xc, xc_le, XC_N,
			    get(&m.xc_sum_ms), 1000);
	rc = rc ? rc
		: head(o, "audiomus_transcodes_total", "counter",
		       "Transcodes run by this process's worker, by result.");
	rc = rc ? rc
		: am_buf_printf(o,
				"audiomus_transcodes_total{result=\"ok\"} %llu\n"
				"audiomus_transcodes_total{result=\"failed\"} %llu\n",
				(unsigned long long)get(&m.xc_ok),
				(unsigned long long)get(&m.xc_failed));
	return rc;
}

/* One gauge per job kind from vals. */
static int kind_gauge(struct am_buf *o, const char *name, const char *help, const int64_t *vals,
		      int seconds)
{
	int rc = head(o, name, "gauge", help);

	for (int k = 0; k < METRICS_KIND_N && rc == 0; k++) {
		int64_t v = vals[k] > 0 ? vals[k] : 0;

		if (seconds)
			rc = am_buf_printf(o, "%s{kind=\"%s\"} %lld.%03lld\n", name, kind_names[k],
					   (long long)(v / 1000), (long long)(v % 1000));
		else
			rc = am_buf_printf(o, "%s{kind=\"%s\"} %lld\n", name, kind_names[k],
					   (long long)v);
	}
	return rc;
}

static int render_gauges(struct am_buf *o, const struct metrics_gauges *g)
{
	int rc = head(o, "audiomus_database_up", "gauge",
		      "1 if this scrape could read the queue gauges from the database.");

	rc = rc ? rc : am_buf_printf(o, "audiomus_database_up %d\n", g->ok ? 1 : 0);
	if (rc || !g->ok)
		return rc;
	rc = kind_gauge(o, "audiomus_jobs_queued",
			"Jobs due now and not yet claimed (shared queue).", g->jobs_queued, 0);
	rc = rc ? rc
		: kind_gauge(o, "audiomus_jobs_delayed",
			     "Jobs queued for a later time (retry back-off).", g->jobs_delayed, 0);
	rc = rc ? rc
		: kind_gauge(o, "audiomus_jobs_running", "Jobs claimed by a worker.",
			     g->jobs_running, 0);
	rc = rc ? rc
		: kind_gauge(o, "audiomus_jobs_oldest_queued_age_seconds",
			     "How long the oldest due job has waited (0: none waits).",
			     g->jobs_oldest_ms, 1);
	rc = rc ? rc
		: head(o, "audiomus_mail_outbox_messages", "gauge",
		       "E-mail in the outbox, by state (shared).");
	rc = rc ? rc
		: am_buf_printf(o,
				"audiomus_mail_outbox_messages{state=\"queued\"} %lld\n"
				"audiomus_mail_outbox_messages{state=\"sending\"} %lld\n"
				"audiomus_mail_outbox_messages{state=\"failed\"} %lld\n",
				(long long)g->outbox_queued, (long long)g->outbox_sending,
				(long long)g->outbox_failed);
	return rc;
}

int metrics_render(struct am_buf *out, const struct metrics_gauges *g)
{
	int rc = render_requests(out);

	rc = rc ? rc : render_bytes(out);
	rc = rc ? rc : render_conns(out);
	rc = rc ? rc : render_transcodes(out);
	if (rc == 0 && g)
		rc = render_gauges(out, g);
	return rc;
}
