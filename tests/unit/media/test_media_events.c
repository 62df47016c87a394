/*
 * test_media_events.c: the media role's background event writer
 * (src/media/media_events.c): events are handed to the write function in
 * queue order, in batches of at most MEDIA_EVENTS_BATCH that never wrap the
 * ring; the queue holds at most its bound (the batch being written counts)
 * and drops, counts and logs beyond it without blocking; stopping writes
 * everything still queued, even while the writer holds a batch; and the
 * database writer records events exactly as db_event_add did, one bad event
 * (unknown project) not losing the others of its batch. A gate in the test
 * write function makes every batch boundary deterministic: no sleeps, no
 * timing assertions.
 */
#include "access/access_fixture.inc"

#include <fcntl.h>
#include <pthread.h>

#include "media/media_int.h"

#define SEEN_MAX  1024
#define CALLS_MAX 64

/* A write function that records what it gets and, while closed, waits at
 * entry for one permit per call. */
struct sink {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open;    /* no permits needed */
	int permits; /* calls allowed to proceed */
	int entered; /* calls that started */
	int calls;   /* calls that finished */
	size_t sizes[CALLS_MAX];
	int seen[SEEN_MAX]; /* the sequence numbers in the details, in order */
	size_t nseen;
	int bad; /* an event not as queued */
};

static void sink_init(struct sink *s, int open)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->open = open;
}

static void sink_cleanup(struct sink *s)
{
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
}

static int sink_write(void *ctx, const struct media_event *ev, size_t n)
{
	struct sink *s = ctx;

	pthread_mutex_lock(&s->mu);
	s->entered++;
	pthread_cond_broadcast(&s->cv);
	while (!s->open && s->permits == 0)
		pthread_cond_wait(&s->cv, &s->mu);
	if (!s->open)
		s->permits--;
	for (size_t i = 0; i < n; i++) {
		int seq = -1;

		if (sscanf(ev[i].details, "{\"n\":%d}", &seq) != 1 || ev[i].created <= 0 ||
		    ev[i].project_id[0] != 0xab ||
		    strcmp(ev[i].kind, seq % 2 ? "download" : "play") != 0)
			s->bad++;
		if (s->nseen < SEEN_MAX)
			s->seen[s->nseen++] = seq;
	}
	if (s->calls < CALLS_MAX)
		s->sizes[s->calls] = n;
	s->calls++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Wait until the writer has entered the write function `calls` times. */
static void sink_wait_entered(struct sink *s, int calls)
{
	pthread_mutex_lock(&s->mu);
	while (s->entered < calls)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static void sink_permit(struct sink *s)
{
	pthread_mutex_lock(&s->mu);
	s->permits++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void sink_open(struct sink *s)
{
	pthread_mutex_lock(&s->mu);
	s->open = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static const uint8_t proj[16] = {0xab, 1, 2, 3};

static int add(struct media_events *q, int seq)
{
	char d[32];

	snprintf(d, sizeof(d), "{\"n\":%d}", seq);
	return media_events_add(q, proj, seq % 2 ? "download" : "play", d);
}

static void assert_seen(const struct sink *s, int from, int to)
{
	assert_int_equal(s->nseen, (size_t)(to - from + 1));
	for (int i = from; i <= to; i++)
		assert_int_equal(s->seen[i - from], i);
	assert_int_equal(s->bad, 0);
}

/* ---- stderr capture (the drop log lines) ------------------------------------ */

struct capture {
	char path[64];
	int saved;
};

static void capture_start(struct capture *c)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "/tmp/am-evlog-XXXXXX");
	fd = mkstemp(c->path);
	assert_true(fd >= 0);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

/* Stop capturing; the captured text (NUL-terminated) into out. */
static void capture_end(struct capture *c, char *out, size_t n)
{
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	assert_true(fd >= 0);
	got = read(fd, out, n - 1);
	out[got > 0 ? got : 0] = 0;
	close(fd);
	unlink(c->path);
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* ---- tests ------------------------------------------------------------------ */

/* What accumulates while a batch is written goes out in batches of at most
 * MEDIA_EVENTS_BATCH, in order. */
static void batches_in_order(void **state)
{
	struct sink s;
	struct media_events *q;

	(void)state;
	sink_init(&s, 0);
	assert_non_null(q = media_events_new(0, 0, sink_write, &s));
	assert_int_equal(add(q, 0), 0);
	sink_wait_entered(&s, 1); /* the writer holds event 0 */
	for (int i = 1; i <= 600; i++)
		assert_int_equal(add(q, i), 0);
	sink_open(&s);
	media_events_flush(q);
	assert_int_equal(s.calls, 4);
	assert_int_equal(s.sizes[0], 1);
	assert_int_equal(s.sizes[1], MEDIA_EVENTS_BATCH);
	assert_int_equal(s.sizes[2], MEDIA_EVENTS_BATCH);
	assert_int_equal(s.sizes[3], 600 - 2 * MEDIA_EVENTS_BATCH);
	assert_seen(&s, 0, 600);
	assert_true(media_events_dropped(q) == 0);
	media_events_free(q);
	sink_cleanup(&s);
}

/* The bound counts the batch being written; beyond it events are dropped
 * at once, counted, and logged once per interval (the rest at stop);
 * the ring wraps without a batch crossing its end. */
static void bound_drops_and_wraps(void **state)
{
	struct sink s;
	struct media_events *q;
	struct capture cap;
	char log[8192];

	(void)state;
	assert_null(media_events_new(MEDIA_EVENTS_MAX + 1, 0, sink_write, &s));
	sink_init(&s, 0);
	capture_start(&cap);
	assert_non_null(q = media_events_new(8, 0, sink_write, &s));
	assert_int_equal(add(q, 0), 0);
	sink_wait_entered(&s, 1);
	for (int i = 1; i < 8; i++)
		assert_int_equal(add(q, i), 0);
	for (int i = 0; i < 12; i++)
		assert_int_equal(add(q, 1000 + i),
				 AM_ERR_UNAVAIL); /* full: dropped, not waited for */
	assert_true(media_events_dropped(q) == 12);
	sink_permit(&s); /* event 0 */
	sink_wait_entered(&s, 2);
	sink_permit(&s); /* events 1..7, to the end of the ring */
	media_events_flush(q);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.sizes[1], 7);

	/* head is 0 again: make a batch that would wrap. */
	assert_int_equal(add(q, 8), 0);
	sink_wait_entered(&s, 3); /* slot 0 */
	for (int i = 9; i <= 13; i++)
		assert_int_equal(add(q, i), 0); /* slots 1..5 */
	sink_permit(&s);
	sink_wait_entered(&s, 4); /* slots 1..5 in flight */
	for (int i = 14; i <= 16; i++)
		assert_int_equal(add(q, i), 0); /* slots 6, 7, 0 */
	assert_int_equal(add(q, 2000), AM_ERR_UNAVAIL);
	sink_open(&s);
	media_events_flush(q);
	assert_int_equal(s.calls, 6);
	assert_int_equal(s.sizes[2], 1);
	assert_int_equal(s.sizes[3], 5);
	assert_int_equal(s.sizes[4], 2); /* slots 6, 7 */
	assert_int_equal(s.sizes[5], 1); /* slot 0 */
	assert_seen(&s, 0, 16);
	assert_true(media_events_dropped(q) == 13);
	media_events_free(q);
	capture_end(&cap, log, sizeof(log));
	/* The first drop is logged at once; the other twelve within the same
	 * interval only at stop, with the total. */
	assert_int_equal(count_of(log, "\"event\":\"media_events_dropped\""), 2);
	assert_non_null(strstr(log, "\"dropped\":\"1\",\"total\":\"1\""));
	assert_non_null(strstr(log, "\"dropped\":\"12\",\"total\":\"13\""));
	sink_cleanup(&s);
}

/* Stopping writes every queued event, cutting a hold short. */
static void stop_writes_everything(void **state)
{
	struct sink s;
	struct media_events *q;

	(void)state;
	sink_init(&s, 1);
	assert_non_null(q = media_events_new(0, 600000, sink_write, &s));
	for (int i = 0; i < 300; i++)
		assert_int_equal(add(q, i), 0);
	pthread_mutex_lock(&s.mu);
	assert_int_equal(s.calls, 0); /* held for ten minutes */
	pthread_mutex_unlock(&s.mu);
	media_events_free(q);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.sizes[0], MEDIA_EVENTS_BATCH);
	assert_int_equal(s.sizes[1], 300 - MEDIA_EVENTS_BATCH);
	assert_seen(&s, 0, 299);
	media_events_free(NULL);
	sink_cleanup(&s);
}

static void bad_input(void **state)
{
	struct sink s;
	struct media_events *q;
	char big[MEDIA_EVENT_DETAILS_MAX + 2];

	(void)state;
	sink_init(&s, 1);
	assert_non_null(q = media_events_new(0, 0, sink_write, &s));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(media_events_add(q, proj, "play", big), AM_ERR_TOOBIG);
	big[MEDIA_EVENT_DETAILS_MAX] = 0; /* exactly the limit fits */
	assert_int_equal(media_events_add(q, proj, "play", big), 0);
	assert_int_equal(media_events_add(q, proj, "", "{}"), AM_ERR_TOOBIG);
	assert_int_equal(media_events_add(q, proj, "a-kind-too-long!", "{}"), AM_ERR_TOOBIG);
	assert_int_equal(media_events_add(q, proj, NULL, "{}"), AM_ERR_INVAL);
	assert_int_equal(media_events_add(NULL, proj, "play", "{}"), AM_ERR_INVAL);
	media_events_flush(q);
	assert_int_equal(s.calls, 1);
	assert_true(media_events_dropped(q) == 0);
	media_events_free(q);
	sink_cleanup(&s);
}

/* ---- the database writer ------------------------------------------------------ */

struct got_ev {
	int n;
	char kind[DB_KIND_MAX + 1];
	char details[DB_DETAILS_MAX + 1];
	int64_t created;
};

static int got_one(void *ctx, const struct db_event *e)
{
	struct got_ev *g = ctx;

	g->n++;
	snprintf(g->kind, sizeof(g->kind), "%s", e->kind);
	snprintf(g->details, sizeof(g->details), "%s", e->details);
	g->created = e->created;
	return 0;
}

/* Three events in one batch, the middle one for a project that does not
 * exist: the batch transaction fails, each is retried on its own, the two
 * good ones are recorded with their details and queue time, the bad one is
 * logged. */
static void db_writer_records_and_isolates_failures(void **state)
{
	struct fx f;
	struct fx_project b;
	struct media_events *q;
	struct got_ev ga = {0}, gb = {0};
	struct capture cap;
	uint8_t nowhere[16];
	char log[8192];
	int64_t t0 = am_now_ms();

	(void)state;
	assert_int_equal(fx_open(&f), 0);
	assert_int_equal(fx_add_project(&f, &b, "Second"), 0);
	crypto_random_id(nowhere);
	capture_start(&cap);
	/* Held until stop: all three are one batch. */
	assert_non_null(q = media_events_new(0, 600000, media_events_write_db, f.a));
	assert_int_equal(media_events_add(q, f.p.id, "play", "{\"object\":\"a\",\"ip\":\"00\"}"),
			 0);
	assert_int_equal(media_events_add(q, nowhere, "play", "{\"object\":\"x\"}"), 0);
	assert_int_equal(media_events_add(q, b.id, "download", "{\"object\":\"b\"}"), 0);
	media_events_free(q);
	capture_end(&cap, log, sizeof(log));
	assert_int_equal(db_event_list(f.db, f.a->keys, f.p.id, 0, got_one, &ga), 0);
	assert_int_equal(db_event_list(f.db, f.a->keys, b.id, 0, got_one, &gb), 0);
	assert_int_equal(ga.n, 1);
	assert_string_equal(ga.kind, "play");
	assert_string_equal(ga.details, "{\"object\":\"a\",\"ip\":\"00\"}");
	assert_true(ga.created >= t0 && ga.created <= am_now_ms());
	assert_int_equal(gb.n, 1);
	assert_string_equal(gb.kind, "download");
	assert_string_equal(gb.details, "{\"object\":\"b\"}");
	assert_int_equal(count_of(log, "\"event\":\"media_event_failed\",\"events\":\"1\""), 1);
	fx_close(&f);
}

/* The media role starts the writer with its database and drains it in
 * media_free. */
static void media_role_owns_the_writer(void **state)
{
	struct fx f;
	struct media *m;
	struct got_ev g = {0};

	(void)state;
	assert_int_equal(fx_open(&f), 0);
	assert_non_null(m = media_new(f.a));
	assert_non_null(m->events);
	assert_int_equal(media_events_add(m->events, f.p.id, "play", "{}"), 0);
	media_free(m);
	assert_int_equal(db_event_list(f.db, f.a->keys, f.p.id, 0, got_one, &g), 0);
	assert_int_equal(g.n, 1);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(batches_in_order),
	    cmocka_unit_test(bound_drops_and_wraps),
	    cmocka_unit_test(stop_writes_everything),
	    cmocka_unit_test(bad_input),
	    cmocka_unit_test(db_writer_records_and_isolates_failures),
	    cmocka_unit_test(media_role_owns_the_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
