/*
 * media_jobs.c: the media role's durable work off the HTTP threads
 * (docs/media.md "Uploads", issue 25). An upload's PATCH needs the disk in
 * ways that wait for it: creating its part's object (new directories and
 * their fsync), committing the part (fsync of the object and its directory,
 * a durable database commit) and completing the upload. On an HTTP thread
 * each of those waits held every other connection of that thread, new TLS
 * handshakes included. The request is suspended instead, one of a few job
 * threads does the work and resumes it (media_upload.c). The queue is
 * bounded: when it is full, media_jobs_add refuses and the caller answers
 * 503 with Retry-After (or, with nobody to answer, does the work itself).
 * Stopping runs every job still queued before it returns, so nothing
 * acknowledged or received is dropped. Runs in the media process; the jobs
 * are trusted code, their input was checked by the HTTP layer.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "media/media_int.h"
#include "util/util.h"

struct media_job {
	media_job_fn *fn;
	void *arg;
};

struct media_jobs {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct media_job *ring;
	size_t cap, head, len;
	int stop;
	int64_t hold_ms; /* test builds: each job waits this long first */
	unsigned nthreads;
	pthread_t threads[MEDIA_JOBS_THREADS_MAX];
};

static void *jobs_main(void *arg)
{
	struct media_jobs *q = arg;
	struct media_job j;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->len == 0 && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->len == 0)
			break; /* stopping, and nothing is left */
		j = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		pthread_mutex_unlock(&q->mu);
		if (q->hold_ms > 0)
			(void)usleep((useconds_t)(q->hold_ms * 1000));
		j.fn(j.arg);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

struct media_jobs *media_jobs_new(unsigned threads, size_t cap)
{
	struct media_jobs *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	if (threads < 1 || threads > MEDIA_JOBS_THREADS_MAX)
		threads = MEDIA_JOBS_THREADS_MAX;
	q->cap = cap ? cap : MEDIA_JOBS_MAX;
	q->hold_ms = am_test_hook_ms("MEDIA_JOB_HOLD_MS", 1, 600000);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	if (!(q->ring = calloc(q->cap, sizeof(*q->ring)))) {
		media_jobs_free(q);
		return NULL;
	}
	for (; q->nthreads < threads; q->nthreads++)
		if (pthread_create(&q->threads[q->nthreads], NULL, jobs_main, q) != 0)
			break;
	if (q->nthreads == 0) {
		media_jobs_free(q);
		return NULL;
	}
	return q;
}

int media_jobs_add(struct media_jobs *q, media_job_fn *fn, void *arg, media_job_fn *admitted)
{
	int rc = AM_ERR_UNAVAIL;

	if (!q || !fn)
		return AM_ERR_INVAL;
	pthread_mutex_lock(&q->mu);
	if (!q->stop && q->len < q->cap) {
		/* Before any thread can take it: the caller's request is
		 * suspended before the job can resume it. */
		if (admitted)
			admitted(arg);
		q->ring[(q->head + q->len) % q->cap] = (struct media_job){fn, arg};
		q->len++;
		pthread_cond_signal(&q->cv);
		rc = 0;
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

size_t media_jobs_queued(struct media_jobs *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

void media_jobs_free(struct media_jobs *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (unsigned i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q->ring);
	free(q);
}
