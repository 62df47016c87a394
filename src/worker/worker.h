/*
 * worker: the worker role (DESIGN §1, docs/worker.md): threads that claim
 * leased jobs from the shared queue, run them through a small table of
 * handlers by kind (transcode; the e-mail outbox adds a row), extend the
 * lease while a job runs, retry failures with back-off, back off when idle,
 * run the periodic housekeeping, and stop cleanly within a grace period.
 *
 * Runs in `audiomus worker` and inside `audiomus serve` (transcode_jobs + 1
 * threads each by default). Trusted: it holds the keyring (project and data keys) and the
 * database; untrusted audio is parsed only by the exec'd, sandboxed child
 * of src/xcode. Several workers, on one machine or many, never run one job
 * at the same time: a job is held by one lease (db_job_claim), and a result
 * is recorded in the transaction that completes the job under that lease,
 * so a worker that lost its lease records nothing.
 */
#ifndef AM_WORKER_H
#define AM_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

struct app;
/* The transcoding child's binary, installed next to `audiomus`: it alone
 * links FFmpeg (docs/transcoding.md "Two binaries"). */
#define WORKER_CHILD_NAME "audiomus-xcode"

struct worker;

/* One claimed job, as a handler sees it. */
struct worker_job {
	struct app *app;
	const struct db_job *job; /* the claimed row (borrowed) */
	const char *worker;	  /* the lease holder's id */
	int64_t lease_ms;
	const int *cancel;     /* non-zero: stop now (shutdown past its grace) */
	const char *exec_path; /* image for sandboxed children */
	/* Set by the handler when it fails: */
	char reason[DB_ERROR_MAX + 1]; /* stored as the job's last_error */
	int permanent;		       /* 1: retrying cannot help */
	/* Set by the handler when it completed the job itself (db_job_complete
	 * inside the transaction that recorded its result). */
	int completed;
	/* Set by a handler that ran a sandboxed child: its peak RSS (KiB, for
	 * the job_done/job_failed log line); 0 when none or unknown. */
	int64_t child_maxrss_kib;
	/* Internal: lease bookkeeping. */
	int64_t extended_at;
	int lease_lost;
};

/* A job kind and its handler. run() returns 0 (done: the loop completes
 * the job unless j->completed) or a negative am_err with j->reason and
 * j->permanent set (the loop records the failed attempt). failed() (may be
 * NULL) is called after a failed attempt was recorded; final is 1 when the
 * job will not be retried (permanent, out of attempts) so the handler can
 * show the reason to the owner. Handlers may run on several threads. */
struct worker_kind {
	const char *kind;
	int (*run)(struct worker_job *j);
	void (*failed)(struct worker_job *j, int final);
	/* 1: CPU-bound for seconds to minutes (a transcode): at most
	 * worker_params.heavy_jobs of these run at once in one process. */
	int heavy;
};

/* The built-in table: {"transcode", ...}. One row per kind. */
extern const struct worker_kind worker_kinds[];
extern const size_t worker_kinds_n;

/* ---- version alignment (align.c, job_align.c; issue 22 A/B) ----------------
 * Where a new version of a track sits in time against the previous one: an
 * envelope of each version's waveform peaks (ALIGN_HZ bins of the loudest
 * channel's peak level in dB, at most the first ALIGN_MAX_S seconds), and
 * the lag whose Pearson correlation over the overlap (at least half the
 * shorter envelope and ALIGN_MIN_OVERLAP_S) is highest. Below ALIGN_MIN_CORR
 * the versions do not match: offset 0, flagged unmatched. */
#define ALIGN_HZ	    50
#define ALIGN_MAX_S	    600
#define ALIGN_MIN_OVERLAP_S 2
#define ALIGN_MIN_CORR	    0.7

/* A .dat (version 2, 16-bit) header's fields, range-checked. */
struct align_dat {
	uint32_t rate, spp, pixels, channels;
};
struct align_env {
	float *v; /* owned, n bins */
	size_t n;
};
struct align_result {
	int64_t offset_ms; /* b's time = a's time + offset_ms; 0 unless matched */
	double corr;	   /* the best Pearson correlation, -1..1 */
	int matched;	   /* corr >= ALIGN_MIN_CORR */
};

/* Parse the 24-byte .dat header at p (n bytes). AM_ERR_INVAL unless
 * version 2, 16-bit, 1 Hz-192 kHz, spp 1..2^20, 1-8 channels. */
int align_dat_header(const uint8_t *p, size_t n, struct align_dat *out);
/* How many pixels of d the envelope uses (ALIGN_MAX_S at most). */
size_t align_dat_pixels_wanted(const struct align_dat *d);
/* The envelope of d's pixel data body (body_len bytes after the header;
 * only whole pixels, at most align_dat_pixels_wanted). *out owns its
 * array (align_env_free). AM_ERR_INVAL when shorter than one bin, NOMEM. */
int align_envelope(const struct align_dat *d, const uint8_t *body, size_t body_len,
		   struct align_env *out);
void align_env_free(struct align_env *e);
/* The lag of b against a (both borrowed). 0 or AM_ERR_NOMEM. */
int align_offset(const struct align_env *a, const struct align_env *b, struct align_result *out);
/* The transcode job's last step: the new version's offset against the
 * track's previous ready version (job_align.c), into v->offset_* (a
 * version with none: "first"). Reads both peaks objects through pk (the
 * project key, borrowed). A failure leaves the offset unknown and is only
 * logged: it never fails the transcode. */
struct crypto_pk;
void worker_align_version(struct app *a, const struct crypto_pk *pk, const uint8_t project[16],
			  const struct db_object *peaks, struct db_version *v);

/* The transcode handler (job_transcode.c), exported for the table and tests. */
int worker_transcode(struct worker_job *j);
void worker_transcode_failed(struct worker_job *j, int final);
/* The marked renditions A and B of a version (job_mark_ab.c, issue 26). */
int worker_mark_ab(struct worker_job *j);
/* The e-mail outbox handler (job_mail.c): pumps due mail and digests. */
int worker_mail(struct worker_job *j);

/* Heartbeat from inside a handler: extend the lease when a quarter of it has
 * passed since the last extension (cheap to call often). Returns 0, or
 * AM_ERR_CONFLICT once the lease is lost (another worker may hold the job:
 * the handler must stop and record nothing), or AM_ERR_UNAVAIL when cancel
 * is set. */
int worker_job_heartbeat(struct worker_job *j);

struct worker_params {
	int threads;	  /* worker threads; < 1: 1 */
	int heavy_jobs;	  /* heavy jobs run at once (transcodes); < 1: threads */
	int64_t lease_ms; /* lease per claim and extension; 0: 120 s */
	/* Idle: a thread waits for a wake-up (a job queued in this process, or
	 * PostgreSQL's NOTIFY from another) or a poll, whichever comes first:
	 * the poll starts at idle_min_ms and doubles up to idle_max_ms, or is
	 * idle_max_ms flat while the PostgreSQL listener is up (docs/worker.md
	 * "Wake-ups"). */
	int64_t idle_min_ms;	 /* 0: 200 ms */
	int64_t idle_max_ms;	 /* 0: 5 s */
	int64_t retry_ms;	 /* delay before the 2nd attempt, doubling; 0: 30 s */
	int64_t housekeeping_ms; /* interval; 0: 5 min; < 0: never */
	int64_t grace_ms;	 /* worker_stop waits this long for running jobs; 0: none */
	const char *exec_path;	 /* child image; NULL: WORKER_CHILD_NAME next to this binary */
	const struct worker_kind *kinds; /* NULL: worker_kinds */
	size_t nkinds;
};

/* The threads and heavy-job slots of a worker process from the settings
 * (docs/configuration.md): transcode_jobs (0: online cores) transcodes at
 * once, and threads (0: transcode_jobs + 1, so that one thread is always
 * free for e-mail and other light jobs). */
void worker_params_from_conf(struct worker_params *p, int64_t threads, int64_t transcode_jobs);

/* Start the worker threads over an opened app (borrowed; it needs APP_DB
 * and APP_STORE and must outlive the worker). p may be NULL (defaults; it
 * is copied). 0 and an owned worker in *out, AM_ERR_NOMEM, AM_ERR_INVAL. */
int worker_start(struct app *a, const struct worker_params *p, struct worker **out);

/* Stop: no new claims; running jobs get up to grace_ms to finish, then are
 * cancelled and released for another worker (the attempt counts). Joins
 * the threads and frees the worker. Accepts NULL. */
void worker_stop(struct worker *w);

/* Run jobs on the calling thread until none is due, then return (tests,
 * one-shot runs). *ran (may be NULL) gets the number of jobs run.
 * Housekeeping is not run. 0 or the first database error of a claim. */
int worker_drain(struct app *a, const struct worker_params *p, int *ran);

/* Run every housekeeping task once (housekeeping.c): fully received
 * uploads a crashed media node never completed (upload_recover;
 * counted in recovered), abandoned uploads and stale store temporaries
 * (upload_gc_abandoned), objects of deleted tracks, objects and rows of
 * crypto-shredded projects, closed accounts, expired sessions,
 * drained rate limits, old finished jobs, and the IP-pseudonym ratchet.
 * Each task is independent: one failing does not stop the others; the
 * first error is returned. Idempotent; safe on several nodes at once. */
struct worker_hk_stats {
	int uploads, objects, projects, recovered, orphans;
	int64_t accounts, sessions, jobs;
	int ip_advanced;
};
int worker_housekeeping(struct app *a, int64_t now_ms, struct worker_hk_stats *st);

#endif
