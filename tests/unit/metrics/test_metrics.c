/* Unit tests for src/metrics: the route classes of the router's patterns,
 * histogram bucket edges, status codes out of range, and the text
 * exposition (cumulative buckets, _count equal to +Inf, fixed label sets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/metrics.h"

static void route_classes_by_pattern(void **state)
{
	static const struct {
		const char *pattern;
		enum metrics_route r;
	} cases[] = {
	    {"/healthz", METRICS_ROUTE_HEALTH},
	    {"/api/v1/s/{token}", METRICS_ROUTE_REVIEW},
	    {"/api/v1/s/{token}/comments", METRICS_ROUTE_REVIEW},
	    {"/api/v1/projects/{id}", METRICS_ROUTE_API},
	    {"/api/v1/unsubscribe/{token}", METRICS_ROUTE_API},
	    {"/m/{object}", METRICS_ROUTE_MEDIA_STREAM},
	    {"/m/export/{account}", METRICS_ROUTE_MEDIA_DOWNLOAD},
	    {"/u/{upload}", METRICS_ROUTE_UPLOAD},
	    {"/", METRICS_ROUTE_STATIC},
	    {"/s/{token}", METRICS_ROUTE_STATIC},
	    {"/static/app.css", METRICS_ROUTE_STATIC},
	    {"/healthz/x", METRICS_ROUTE_STATIC},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(metrics_route_of_pattern(cases[i].pattern), cases[i].r);
	assert_int_equal(metrics_route_of_pattern(NULL), METRICS_ROUTE_OTHER);
	assert_string_equal(metrics_route_name(METRICS_ROUTE_MEDIA_DOWNLOAD), "media_download");
	assert_string_equal(metrics_route_name((enum metrics_route)99), "other");
}

static char *render(struct am_buf *b, int with_gauges)
{
	struct metrics_gauges g = {.ok = 1};

	g.jobs_queued[METRICS_KIND_TRANSCODE] = 2;
	g.jobs_oldest_ms[METRICS_KIND_TRANSCODE] = 1500;
	g.outbox_failed = 1;
	am_buf_init(b, 1 << 20);
	assert_int_equal(metrics_render(b, with_gauges ? &g : NULL), 0);
	return (char *)b->p;
}

static void has_line(const char *text, const char *line)
{
	char want[256];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("missing line: %s", line);
}

static void requests_buckets_and_codes(void **state)
{
	struct am_buf b;
	char *t;

	metrics_reset();
	metrics_request(METRICS_ROUTE_HEALTH, 200, 1000, 34, 0);      /* on the 0.001 edge */
	metrics_request(METRICS_ROUTE_HEALTH, 200, 1001, 34, 0);      /* just above it */
	metrics_request(METRICS_ROUTE_HEALTH, 503, 400000000, 10, 0); /* past the last bound */
	metrics_request(METRICS_ROUTE_UPLOAD, 0, 5, 0, 4096);	      /* no response sent */
	metrics_request(METRICS_ROUTE_UPLOAD, 700, 5, 0, 1);	      /* not a status */
	metrics_request((enum metrics_route)42, 404, 5, 0, 0);	      /* unknown class */
	t = render(&b, 0);
	has_line(t, "audiomus_http_requests_total{route=\"health\",code=\"200\"} 2");
	has_line(t, "audiomus_http_requests_total{route=\"health\",code=\"503\"} 1");
	has_line(t, "audiomus_http_requests_total{route=\"upload\",code=\"none\"} 2");
	has_line(t, "audiomus_http_requests_total{route=\"other\",code=\"404\"} 1");
	has_line(t,
		 "audiomus_http_request_duration_seconds_bucket{route=\"health\",le=\"0.001\"} 1");
	has_line(t,
		 "audiomus_http_request_duration_seconds_bucket{route=\"health\",le=\"0.005\"} 2");
	has_line(t, "audiomus_http_request_duration_seconds_bucket{route=\"health\",le=\"300\"} 2");
	has_line(t,
		 "audiomus_http_request_duration_seconds_bucket{route=\"health\",le=\"+Inf\"} 3");
	has_line(t, "audiomus_http_request_duration_seconds_count{route=\"health\"} 3");
	has_line(t, "audiomus_http_request_duration_seconds_sum{route=\"health\"} 400.002001");
	has_line(t, "audiomus_http_response_bytes_total{route=\"health\"} 78");
	has_line(t, "audiomus_http_request_bytes_total{route=\"upload\"} 4097");
	assert_null(strstr(t, "audiomus_database_up"));
	am_buf_cleanup(&b);
}

static void connections_tls_transcodes_gauges(void **state)
{
	struct am_buf b;
	char *t;

	metrics_reset();
	metrics_connection_open();
	metrics_connection_open();
	metrics_connection_close();
	metrics_tls_started();
	metrics_tls_started();
	metrics_tls_completed(3);
	metrics_transcode(1000, 1);
	metrics_transcode(2500, 0);
	t = render(&b, 1);
	has_line(t, "audiomus_http_connections_active 1");
	has_line(t, "audiomus_http_connections_total 2");
	has_line(t, "audiomus_tls_handshakes_started_total 2");
	has_line(t, "audiomus_tls_handshakes_total{version=\"1.3\"} 1");
	has_line(t, "audiomus_tls_handshakes_total{version=\"1.2\"} 0");
	has_line(t, "audiomus_transcode_duration_seconds_bucket{le=\"1\"} 1");
	has_line(t, "audiomus_transcode_duration_seconds_bucket{le=\"5\"} 2");
	has_line(t, "audiomus_transcode_duration_seconds_sum 3.500000");
	has_line(t, "audiomus_transcode_duration_seconds_count 2");
	has_line(t, "audiomus_transcodes_total{result=\"failed\"} 1");
	has_line(t, "audiomus_database_up 1");
	has_line(t, "audiomus_jobs_queued{kind=\"transcode\"} 2");
	has_line(t, "audiomus_jobs_oldest_queued_age_seconds{kind=\"transcode\"} 1.500");
	has_line(t, "audiomus_mail_outbox_messages{state=\"failed\"} 1");
	assert_int_equal(metrics_kind_of("mail"), METRICS_KIND_MAIL);
	assert_int_equal(metrics_kind_of("something-else"), METRICS_KIND_OTHER);
	am_buf_cleanup(&b);
}

static void render_is_bounded(void **state)
{
	struct am_buf b;

	am_buf_init(&b, 512);
	assert_int_equal(metrics_render(&b, NULL), AM_ERR_TOOBIG);
	am_buf_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(route_classes_by_pattern),
	    cmocka_unit_test(requests_buckets_and_codes),
	    cmocka_unit_test(connections_tls_transcodes_gauges),
	    cmocka_unit_test(render_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
