/*
 * Unit tests of the media role's job queue (src/media/media_jobs.c): jobs
 * run, in order on one thread; the queue is bounded (AM_ERR_UNAVAIL beyond
 * it, nothing called); admitted runs before the job can; stopping runs
 * every job still queued and refuses new ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <semaphore.h>
#include <stdint.h>
#include <stdatomic.h>
#include <unistd.h>

#include "media/media_int.h"

static sem_t gate;
static atomic_int ran, order_bad, admitted_first_bad;
static int last = -1;

static void gated(void *arg)
{
	(void)arg;
	sem_wait(&gate);
}

static void counted(void *arg)
{
	int i = (int)(intptr_t)arg;

	if (i != last + 1)
		atomic_store(&order_bad, 1);
	last = i;
	atomic_fetch_add(&ran, 1);
}

struct adm {
	atomic_int admitted, ran;
};

static void adm_job(void *arg)
{
	struct adm *a = arg;

	if (!atomic_load(&a->admitted))
		atomic_store(&admitted_first_bad, 1);
	atomic_store(&a->ran, 1);
}

static void adm_cb(void *arg)
{
	atomic_store(&((struct adm *)arg)->admitted, 1);
}

static void jobs_bounded_ordered_drained(void **state)
{
	struct media_jobs *q = media_jobs_new(1, 4);
	struct adm a = {0};

	(void)state;
	assert_non_null(q);
	assert_int_equal(sem_init(&gate, 0, 0), 0);
	assert_int_equal(media_jobs_add(q, NULL, NULL, NULL), AM_ERR_INVAL);
	assert_int_equal(media_jobs_add(NULL, counted, NULL, NULL), AM_ERR_INVAL);
	/* the thread held: 4 queued, the 5th refused without a call */
	assert_int_equal(media_jobs_add(q, gated, NULL, NULL), 0);
	while (media_jobs_queued(q) > 0)
		usleep(1000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(media_jobs_add(q, counted, (void *)(intptr_t)i, NULL), 0);
	assert_int_equal(media_jobs_add(q, adm_job, &a, adm_cb), 0);
	assert_int_equal(media_jobs_queued(q), 4);
	assert_int_equal(media_jobs_add(q, adm_job, &a, adm_cb), AM_ERR_UNAVAIL);
	assert_int_equal(atomic_load(&ran), 0);
	/* stopping: the queued jobs still run, in order */
	sem_post(&gate);
	media_jobs_free(q);
	assert_int_equal(atomic_load(&ran), 3);
	assert_int_equal(atomic_load(&order_bad), 0);
	assert_int_equal(atomic_load(&a.ran), 1);
	assert_int_equal(atomic_load(&admitted_first_bad), 0);
	media_jobs_free(NULL);
	sem_destroy(&gate);
}

static void plus_one(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* Every thread takes jobs; all of a full queue run before free returns. */
static void jobs_many_threads(void **state)
{
	struct media_jobs *q = media_jobs_new(0, 0); /* the maxima */
	atomic_int n = 0;
	int added = 0;

	(void)state;
	assert_non_null(q);
	for (int i = 0; i < 3 * MEDIA_JOBS_MAX; i++)
		added += media_jobs_add(q, plus_one, &n, NULL) == 0;
	assert_true(added >= MEDIA_JOBS_MAX);
	media_jobs_free(q);
	assert_int_equal(atomic_load(&n), added);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(jobs_bounded_ordered_drained),
	    cmocka_unit_test(jobs_many_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
