/*
 * child_exec.c: the entry point of the exec'd transcoding child
 * (`audiomus-xcode xcode-child`, docs/transcoding.md "The child is a fresh image").
 * Runs in a process that the worker started with posix_spawn from its own
 * executable: a fresh image holding none of the worker's memory (no keys,
 * no other project's data), an empty environment, the socket as fds 0 and 1.
 * The job's arguments are the first message on fd 0, sent by the trusted
 * parent before any untrusted byte; they are checked anyway (a stray
 * invocation from a shell gets a clean refusal, not undefined behaviour).
 * Then the same life as a forked child: sandbox, transcode, report.
 */
#include "xcode/xcode_int.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* The demuxer names xcode_sniff() can return: the args name one of them,
 * and the child keeps a pointer to its own static copy. */
static const char *const formats[] = {
    "wav", "aiff", "flac", "mp3", "aac", "ogg", "mov,mp4,m4a,3gp,3g2,mj2",
};

static int read_exact(void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t k = read(XCODE_CHILD_IN, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return AM_ERR_IO;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int parse_args(const struct xf_args *m, struct xcode_child_args *a)
{
	memset(a, 0, sizeof(*a));
	if (m->magic != XF_ARGS_MAGIC || memchr(m->format, 0, sizeof(m->format)) == NULL ||
	    m->output < XCODE_OUT_AAC_MP4 || m->output > XCODE_OUT_MARKED_FLAC || m->hook < 0 ||
	    m->hook > XCODE_HOOK_SPEW || m->max_duration_s <= 0 || m->cpu_s <= 0 ||
	    m->mem_limit == 0 || m->max_work == 0)
		return AM_ERR_INVAL;
	for (size_t i = 0; i < AM_ARRAY_LEN(formats); i++)
		if (strcmp(m->format, formats[i]) == 0)
			a->format = formats[i];
	if (!a->format)
		return AM_ERR_INVAL;
	a->size = m->size;
	a->output = (enum xcode_output)m->output;
	a->hook = (enum xcode_hook)m->hook;
	a->max_duration_s = m->max_duration_s;
	a->max_work = m->max_work;
	a->mem_limit = m->mem_limit;
	a->cpu_s = m->cpu_s;
	if (a->output == XCODE_OUT_AB) {
		if (!(m->wm_strength > 0.0f && m->wm_strength <= 0.6f))
			return AM_ERR_INVAL;
		a->wm_strength = m->wm_strength;
	}
	return 0;
}

/* The detect mode's pattern seed, the message after the arguments. */
static uint8_t seed[WM_SEED_BYTES];

void xcode_child_exec_main(void)
{
	static struct xcode_mark mark; /* the marked modes' second message */
	struct xcode_child_args a;
	struct xf_args m;

	signal(SIGPIPE, SIG_IGN);
	/* Die with the worker (kill -9 included); the closed socket would end
	 * the job too, this only makes it immediate. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (read_exact(&m, sizeof(m)) != 0 || parse_args(&m, &a) != 0) {
		xcode_send_fail(XCODE_FAIL_INTERNAL, "bad child arguments");
		_exit(4);
	}
	if (a.output == XCODE_OUT_WM_DETECT || a.output == XCODE_OUT_AB) {
		if (read_exact(seed, sizeof(seed)) != 0) {
			xcode_send_fail(XCODE_FAIL_INTERNAL, "bad child arguments");
			_exit(4);
		}
		a.wm_seed = seed;
	}
	if (a.output == XCODE_OUT_MARKED_PCM || a.output == XCODE_OUT_MARKED_FLAC) {
		if (read_exact(&mark, sizeof(mark)) != 0 || !(mark.strength > 0.0f)) {
			xcode_send_fail(XCODE_FAIL_INTERNAL, "bad child arguments");
			_exit(4);
		}
		a.mark = &mark;
	}
	am_memzero(&m, sizeof(m));
	_exit(xcode_child_main(&a));
}
