/*
 * metrics.c: the body of GET /metrics (docs/deploy.md "Metrics") for the
 * role processes: this process's counters (src/metrics) and the queue
 * gauges read from the shared database at scrape time, served by the
 * plaintext listener of src/http (scrape.c) when metrics_listen is set.
 * Runs in serve, web, media and worker, on the listener's thread; reads
 * counts only, never a row's content.
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "http/http.h"
#include "main/main.h"
#include "metrics/metrics.h"
#include "repo/repo.h"
#include "util/util.h"

struct gauge_ctx {
	struct metrics_gauges *g;
	int64_t now;
};

static int add_count(void *ctx, const struct db_queue_count *c)
{
	struct gauge_ctx *x = ctx;
	struct metrics_gauges *g = x->g;
	enum metrics_kind k = metrics_kind_of(c->kind);

	if (strcmp(c->queue, "outbox") == 0) {
		if (strcmp(c->state, "queued") == 0)
			g->outbox_queued += c->n;
		else if (strcmp(c->state, "sending") == 0)
			g->outbox_sending += c->n;
		else if (strcmp(c->state, "failed") == 0)
			g->outbox_failed += c->n;
	} else if (strcmp(c->state, "queued") == 0) {
		g->jobs_queued[k] += c->n;
		if (x->now - c->oldest > g->jobs_oldest_ms[k])
			g->jobs_oldest_ms[k] = x->now - c->oldest;
	} else if (strcmp(c->state, "delayed") == 0) {
		g->jobs_delayed[k] += c->n;
	} else if (strcmp(c->state, "running") == 0) {
		g->jobs_running[k] += c->n;
	}
	return 0;
}

static int render(struct am_buf *out, void *arg)
{
	struct app *a = arg;
	struct metrics_gauges g;
	struct gauge_ctx x = {&g, am_now_ms()};
	struct db *db = NULL;

	memset(&g, 0, sizeof(g));
	if (app_db_get(a, &db) == 0) {
		g.ok = db_queue_counts(db, x.now, add_count, &x) == 0;
		app_db_put(a, db);
	}
	if (!g.ok)
		memset(&g, 0, sizeof(g));
	return metrics_render(out, &g);
}

int main_metrics_start(const struct conf *c, struct app *a, const char *name,
		       struct http_scrape **out)
{
	char err[512], port[8];

	*out = NULL;
	if (!*c->metrics_listen)
		return 0;
	if (http_scrape_start(c->metrics_listen, "/metrics", c->secret->metrics_token,
			      METRICS_CONTENT_TYPE, render, a, out, err, sizeof(err))) {
		fprintf(stderr, "audiomus %s: %s\n", name, err);
		am_log(AM_LOG_ERROR, "start_failed", "error", err);
		return 1;
	}
	snprintf(port, sizeof(port), "%u", (unsigned)http_scrape_port(*out));
	am_log(AM_LOG_INFO, "metrics_listening", "port", port, "token",
	       *c->secret->metrics_token ? "required" : "none");
	return 0;
}
