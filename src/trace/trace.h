/*
 * trace: the tracer (issue 26, docs/watermark.md "Tracer"): a suspect file
 * in, the listening whose mark it carries out, or "no mark found". The
 * keyed process (the operator's `audiomus watermark trace`, the media
 * role's tracer upload) derives the project's watermark key, sends only the
 * key-less pattern seed to the sandboxed transcode child (`audiomus-xcode
 * xcode-child`, XCODE_OUT_WM_DETECT), which decodes the file and returns
 * the decoded candidates; the tag check (wm_decide) and the payload map
 * lookup happen here. A name is given only when a candidate's keyed tag
 * matches AND the project has a mark row whose opened payload is the
 * decoded one. Runs in a trusted process; the file and everything the child
 * returns are untrusted.
 */
#ifndef AM_TRACE_H
#define AM_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"
#include "xcode/xcode.h"

struct app;

/* The largest suspect file the media role's tracer takes (its POST body,
 * held in memory for the request, never stored). */
#define TRACE_MAX_BYTES (64u << 20)

struct trace_params {
	const char *exec_path;	/* audiomus-xcode (required: the child is always exec'd) */
	int64_t timeout_ms;	/* 0: 120 s */
	int64_t max_duration_s; /* of the suspect file; 0: 1 hour */
	const int *cancel;	/* may be NULL (xcode_params.cancel) */
};

struct trace_answer {
	int found; /* 1: a listening named below; 0: no mark found */
	char link_id[2 * DB_ID_LEN + 1];
	char link_label[DB_LABEL_MAX + 1]; /* "" when the link was deleted */
	char reviewer[DB_NAME_MAX + 1];
	int64_t first_access; /* ms since the epoch */
	double confidence;    /* -1..1 (the soft bits' agreement with the codeword) */
	double sync_z;	      /* best sync correlation, also without a mark */
	double offset_s;      /* where in the file a mark period starts */
	int64_t duration_ms;  /* of the decoded file */
};

/* Trace the file src for project p (a live project whose key a->kr opens).
 * db is a borrowed connection. 0 with *out filled (found or not); the
 * file's own failure (not audio, damaged, too long...) is
 * AM_ERR_UNSUPPORTED / AM_ERR_INVAL / AM_ERR_TOOBIG with xr->reason for the
 * owner; AM_ERR_CRYPTO, AM_ERR_INTERNAL, a database error. xr may be NULL. */
int trace_run(struct app *a, struct db *db, const struct db_project *p,
	      const struct xcode_source *src, const struct trace_params *tp,
	      struct trace_answer *out, struct xcode_result *xr);

/* The answer as JSON text (owned, free()): {"found":false} or {"found":true,
 * "link":{"id","label"},"reviewer","first_access" (ISO 8601 UTC),
 * "first_access_ms","confidence"}, each with "sync_z". NULL on no memory. */
char *trace_answer_json(const struct trace_answer *t);

#endif
