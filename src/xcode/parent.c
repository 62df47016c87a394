/*
 * parent.c: xcode_run(), the trusted side of a transcode. Runs in the worker
 * process (which holds keys): it sniffs the format, forks the child, answers
 * the child's read-at-offset requests from the caller's source, passes the
 * outputs to the caller's sinks, enforces the wall-clock deadline, a stall
 * timeout and the output cap, and reaps the child. Everything the child
 * sends is untrusted (a decoder bug may have handed the child to the file's
 * author): frame types, lengths, order, sizes and metadata are all checked,
 * and the child is killed on the first violation.
 *
 * One AF_UNIX stream socketpair carries both directions (the child sees it
 * as fd 0 for reading and fd 1 for writing); send() with MSG_NOSIGNAL keeps a
 * dead child from raising SIGPIPE in the worker.
 */
#include "xcode/xcode_int.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STALL_MS  60000 /* no frame from the child for this long: hung */
#define SNIFF_LEN 64
#define CANCEL_MS 200 /* how often a wait looks at params.cancel */

enum { OUT_STREAM, OUT_PEAKS, OUT_OVERVIEW, OUT_N };

struct out_state {
	const struct xcode_sink *sink;
	uint8_t *head;
	size_t cap, n;
	uint64_t body;
};

struct run {
	const struct xcode_params *p;
	const struct xcode_source *src;
	struct out_state out[OUT_N];
	int fd;
	pid_t pid;
	int64_t deadline, max_dur;
	uint64_t total, max_output;
	uint8_t *buf; /* XCODE_FRAME_MAX */
	struct xf_info info;
	struct wm_candidates wm; /* XCODE_OUT_WM_DETECT */
	int got_info, got_done, got_wm, killed, timed_out;
	enum xcode_fail fail;
	char detail[160];
	char reason[128]; /* owner-facing words when more exact than the fail text */
};

const char *xcode_fail_text(enum xcode_fail f)
{
	switch (f) {
	case XCODE_OK: return "ok";
	case XCODE_FAIL_UNSUPPORTED: return "unsupported format";
	case XCODE_FAIL_DAMAGED: return "file is damaged";
	case XCODE_FAIL_TOOLONG: return "audio is too long";
	case XCODE_FAIL_TIMEOUT: return "took too long";
	case XCODE_FAIL_SANDBOX: return "sandbox violation";
	case XCODE_FAIL_TOOBIG: return "output too large";
	case XCODE_FAIL_IO: return "storage error";
	case XCODE_FAIL_TRUNCATED: return "file is truncated";
	case XCODE_FAIL_WORK: return "decoding this file would take too much work";
	default: return "internal error";
	}
}

int xcode_fail_retryable(enum xcode_fail f)
{
	return f == XCODE_FAIL_IO || f == XCODE_FAIL_INTERNAL;
}

/* First failure wins; detail is sanitized to printable ASCII for logs. */
static int fail(struct run *r, enum xcode_fail f, const char *detail)
{
	if (r->fail == XCODE_OK) {
		size_t i = 0;

		r->fail = f;
		for (; detail && detail[i] && i + 1 < sizeof(r->detail); i++)
			r->detail[i] = detail[i] >= 0x20 && detail[i] < 0x7f ? detail[i] : '?';
		r->detail[i] = '\0';
	}
	return AM_ERR_INVAL;
}

/* A refusal over a limit, in the owner's words, from the child's figure
 * (a number checked here: the child's text never reaches the owner). A
 * figure that is not over the limit, or absurd, leaves the plain text. */
static void limit_reason(struct run *r, int32_t what, int64_t v)
{
	char rate[32];

	if (what == XF_LIMIT_CHANNELS && v > XCODE_MAX_CHANNELS && v <= 65535) {
		snprintf(r->reason, sizeof(r->reason),
			 "%lld channels is above the %d-channel limit", (long long)v,
			 XCODE_MAX_CHANNELS);
	} else if (what == XF_LIMIT_RATE && v > XCODE_MAX_RATE && v <= INT32_MAX) {
		if (v % 1000 == 0)
			snprintf(rate, sizeof(rate), "%lld", (long long)(v / 1000));
		else
			snprintf(rate, sizeof(rate), "%.1f", (double)v / 1000.0);
		snprintf(r->reason, sizeof(r->reason),
			 "sample rate %s kHz is above the %d kHz limit", rate,
			 XCODE_MAX_RATE / 1000);
	}
}

static int cancelled(const struct run *r)
{
	return r->p->cancel && __atomic_load_n(r->p->cancel, __ATOMIC_ACQUIRE);
}

/* Wait for the socket, in slices of CANCEL_MS so that a cancel request
 * (worker shutdown) is seen promptly; STALL_MS without readiness is a hang. */
static int wait_fd(struct run *r, short ev)
{
	int64_t start = am_mono_ms();

	for (;;) {
		int64_t now = am_mono_ms();
		int64_t left = r->deadline - now, stall = start + STALL_MS - now;
		struct pollfd pfd = {.fd = r->fd, .events = ev};
		int64_t slice = left < stall ? left : stall;
		int n;

		if (cancelled(r))
			return fail(r, XCODE_FAIL_IO, "cancelled");
		if (left <= 0 || stall <= 0) {
			r->timed_out = 1;
			return fail(r, XCODE_FAIL_TIMEOUT,
				    left <= 0 ? "wall-clock limit" : "stalled");
		}
		n = poll(&pfd, 1, (int)(slice < CANCEL_MS ? slice : CANCEL_MS));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return fail(r, XCODE_FAIL_INTERNAL, "poll");
	}
}

/* Read exactly n bytes; 1 on a clean EOF before the first byte. */
static int recv_all(struct run *r, void *p, size_t n)
{
	uint8_t *b = p;
	size_t got = 0;

	while (got < n) {
		ssize_t k = recv(r->fd, b + got, n - got, MSG_DONTWAIT);
		int rc;

		if (k > 0) {
			got += (size_t)k;
			continue;
		}
		if (k == 0)
			return got == 0 ? 1 : fail(r, XCODE_FAIL_INTERNAL, "short frame");
		if (errno != EAGAIN && errno != EINTR)
			return got == 0 ? 1 : fail(r, XCODE_FAIL_INTERNAL, "recv");
		if ((rc = wait_fd(r, POLLIN)))
			return rc;
	}
	return 0;
}

static int send_all(struct run *r, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = send(r->fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		int rc;

		if (k > 0) {
			b += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return fail(r, XCODE_FAIL_INTERNAL, "child went away");
		if ((rc = wait_fd(r, POLLOUT)))
			return rc;
	}
	return 0;
}

/* XF_READ: answer from the source; a source error is the caller's (retryable). */
static int on_read(struct run *r, uint32_t len)
{
	struct xf_read q;
	size_t got = 0;
	int32_t n;

	if (len != sizeof(q))
		return fail(r, XCODE_FAIL_INTERNAL, "bad read request");
	memcpy(&q, r->buf, sizeof(q));
	if (q.len > XCODE_IO_CHUNK)
		return fail(r, XCODE_FAIL_INTERNAL, "bad read request");
	if (q.off < r->src->size && q.len > 0) {
		size_t want = r->src->size - q.off < q.len ? (size_t)(r->src->size - q.off) : q.len;

		if (r->src->read_at(r->src->ctx, q.off, r->buf + sizeof(n), want, &got) != 0 ||
		    got > want)
			return fail(r, XCODE_FAIL_IO, "source read failed");
	}
	n = (int32_t)got;
	memcpy(r->buf, &n, sizeof(n));
	return send_all(r, r->buf, sizeof(n) + got);
}

static int on_output(struct run *r, int i, int head, uint32_t len)
{
	struct out_state *o = &r->out[i];

	if (r->total + len > r->max_output)
		return fail(r, XCODE_FAIL_TOOBIG, "output cap");
	r->total += len;
	if (head) {
		if (o->n + len > o->cap)
			return fail(r, XCODE_FAIL_INTERNAL, "head too long");
		memcpy(o->head + o->n, r->buf, len);
		o->n += len;
		return 0;
	}
	if (o->n > 0 || (i == OUT_OVERVIEW && r->p->output != XCODE_OUT_AB))
		return fail(r, XCODE_FAIL_INTERNAL, "body after head");
	o->body += len;
	if (o->sink->write(o->sink->ctx, r->buf, len) != 0)
		return fail(r, XCODE_FAIL_IO, "sink write failed");
	return 0;
}

/* XF_WM (detect mode only, once): the candidates, each number finite and
 * in its range; the tag check is the caller's (wm_decide). */
static int on_wm(struct run *r, uint32_t len)
{
	struct wm_candidates c;

	if (r->p->output != XCODE_OUT_WM_DETECT || r->got_wm || len != sizeof(c))
		return fail(r, XCODE_FAIL_INTERNAL, "bad candidates");
	memcpy(&c, r->buf, sizeof(c));
	if (c.n < 0 || c.n > WM_DECODE_TRIES)
		return fail(r, XCODE_FAIL_INTERNAL, "bad candidates");
	for (int i = 0; i < c.n; i++) {
		const struct wm_candidate *k = &c.c[i];

		if (!(k->agreement >= -1.0 && k->agreement <= 1.0) || !isfinite(k->sync_z) ||
		    !(k->offset_s >= 0 && k->offset_s <= WM_MAX_SECONDS))
			return fail(r, XCODE_FAIL_INTERNAL, "bad candidates");
	}
	memset(&r->wm, 0, sizeof(r->wm));
	r->wm.n = c.n;
	memcpy(r->wm.c, c.c, sizeof(c.c[0]) * (size_t)c.n);
	r->got_wm = 1;
	return 0;
}

static int on_small(struct run *r, uint32_t type, uint32_t len)
{
	uint32_t pm;

	switch (type) {
	case XF_PROGRESS:
		if (len != sizeof(pm))
			return fail(r, XCODE_FAIL_INTERNAL, "bad progress");
		memcpy(&pm, r->buf, sizeof(pm));
		if (pm > 1000)
			return fail(r, XCODE_FAIL_INTERNAL, "bad progress");
		if (r->p->progress && r->p->progress(r->p->progress_ctx, pm / 1000.0) != 0)
			return fail(r, XCODE_FAIL_IO, "cancelled");
		return 0;
	case XF_INFO:
		if (len != sizeof(r->info) || r->got_info)
			return fail(r, XCODE_FAIL_INTERNAL, "bad info");
		memcpy(&r->info, r->buf, sizeof(r->info));
		r->got_info = 1;
		return 0;
	case XF_FAIL: {
		struct xf_fail f;

		if (len != sizeof(f))
			return fail(r, XCODE_FAIL_INTERNAL, "bad failure report");
		memcpy(&f, r->buf, sizeof(f));
		f.msg[sizeof(f.msg) - 1] = '\0';
		if (f.fail <= XCODE_OK || f.fail > XCODE_FAIL_WORK || f.fail == XCODE_FAIL_IO ||
		    f.fail == XCODE_FAIL_SANDBOX || f.fail == XCODE_FAIL_TIMEOUT)
			f.fail = XCODE_FAIL_INTERNAL;
		if (r->fail == XCODE_OK && f.fail == XCODE_FAIL_UNSUPPORTED)
			limit_reason(r, f.limit, f.value);
		return fail(r, (enum xcode_fail)f.fail, f.msg);
	}
	case XF_DONE: r->got_done = 1; return 0;
	case XF_WM: return on_wm(r, len);
	default: return fail(r, XCODE_FAIL_INTERNAL, "unknown frame");
	}
}

static int dispatch(struct run *r, uint32_t type, uint32_t len)
{
	switch (type) {
	case XF_READ: return on_read(r, len);
	case XF_STREAM_BODY: return on_output(r, OUT_STREAM, 0, len);
	case XF_STREAM_HEAD: return on_output(r, OUT_STREAM, 1, len);
	case XF_PEAKS_BODY: return on_output(r, OUT_PEAKS, 0, len);
	case XF_PEAKS_HEAD: return on_output(r, OUT_PEAKS, 1, len);
	case XF_OVERVIEW_BODY: return on_output(r, OUT_OVERVIEW, 0, len);
	case XF_OVERVIEW_HEAD: return on_output(r, OUT_OVERVIEW, 1, len);
	default: return on_small(r, type, len);
	}
}

/* Serve the child until XF_DONE, a failure, or EOF. */
static int serve(struct run *r)
{
	for (;;) {
		struct xf_hdr h;
		int rc = recv_all(r, &h, sizeof(h));

		if (rc == 1)
			return fail(r, XCODE_FAIL_INTERNAL, "child exited early");
		if (rc)
			return rc;
		if (h.len > XCODE_FRAME_MAX)
			return fail(r, XCODE_FAIL_INTERNAL, "frame too long");
		if (h.len && (rc = recv_all(r, r->buf, h.len)))
			return rc == 1 ? fail(r, XCODE_FAIL_INTERNAL, "short frame") : rc;
		if ((rc = dispatch(r, h.type, h.len)))
			return rc;
		if (r->got_done)
			return 0;
	}
}

/* Fork mode (no exec_path): the child runs xcode_child_main on its copy of
 * the caller's memory. Only for the library's tests; the worker execs.
 * The reference is weak so that linking xcode_run does not pull the child
 * (and FFmpeg) into the `audiomus` binary: programs that use fork mode
 * link the child by referencing it (tests/unit/xcode, bench/xcode_bench). */
extern int xcode_child_main(const struct xcode_child_args *a) __attribute__((weak));

static int spawn_fork(struct run *r, const struct xcode_child_args *a, int sv[2])
{
	if (!xcode_child_main)
		return fail(r, XCODE_FAIL_INTERNAL, "fork mode: the child is not linked in");
	r->pid = fork();
	if (r->pid < 0)
		return fail(r, XCODE_FAIL_INTERNAL, "fork");
	if (r->pid == 0) {
		/* The child: the socket becomes fds 0 and 1, nothing else survives. */
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		if (dup2(sv[1], XCODE_CHILD_IN) < 0 || dup2(sv[1], XCODE_CHILD_OUT) < 0)
			_exit(4);
		_exit(xcode_child_main(a));
	}
	return 0;
}

/* Exec mode: posix_spawn (vfork-like: no copy of the caller's pages, safe
 * in a threaded process) of exec_path as `audiomus xcode-child`, with an
 * empty environment, default signal dispositions, an empty signal mask, the
 * socket as fds 0 and 1, fd 2 kept for a start-up error, every other fd
 * closed. The job's arguments follow as the first message on the socket. */
static int spawn_exec(struct run *r, const struct xcode_child_args *a, int sv[2])
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2};
	char arg0[] = "audiomus", arg1[] = XCODE_CHILD_ARG;
	char *argv[] = {arg0, arg1, NULL}, *envp[] = {NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	struct xf_args m;
	sigset_t none, def;
	pid_t pid = -1;
	int rc;

	sigemptyset(&none);
	sigemptyset(&def);
	for (size_t i = 0; i < AM_ARRAY_LEN(sigs); i++)
		sigaddset(&def, sigs[i]);
	if (posix_spawn_file_actions_init(&fa))
		return fail(r, XCODE_FAIL_INTERNAL, "spawn setup");
	if (posix_spawnattr_init(&at)) {
		posix_spawn_file_actions_destroy(&fa);
		return fail(r, XCODE_FAIL_INTERNAL, "spawn setup");
	}
	rc = posix_spawn_file_actions_adddup2(&fa, sv[1], XCODE_CHILD_IN) ||
	     posix_spawn_file_actions_adddup2(&fa, sv[1], XCODE_CHILD_OUT) ||
	     posix_spawn_file_actions_addclosefrom_np(&fa, 3) ||
	     posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) ||
	     posix_spawnattr_setsigmask(&at, &none) || posix_spawnattr_setsigdefault(&at, &def);
	if (rc == 0)
		rc = posix_spawn(&pid, r->p->exec_path, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0)
		return fail(r, XCODE_FAIL_INTERNAL, "spawn");
	r->pid = pid;
	memset(&m, 0, sizeof(m));
	m.magic = XF_ARGS_MAGIC;
	m.output = (int32_t)a->output;
	m.hook = (int32_t)a->hook;
	am_strlcpy(m.format, a->format, sizeof(m.format));
	m.size = a->size;
	m.mem_limit = a->mem_limit;
	m.max_duration_s = a->max_duration_s;
	m.max_work = a->max_work;
	m.cpu_s = a->cpu_s;
	m.wm_strength = a->wm_strength;
	r->fd = sv[0]; /* send_all polls it */
	rc = send_all(r, &m, sizeof(m));
	am_memzero(&m, sizeof(m));
	if (rc != 0)
		return rc;
	if (a->output == XCODE_OUT_WM_DETECT || a->output == XCODE_OUT_AB)
		return send_all(r, a->wm_seed, WM_SEED_BYTES); /* the same message, never a file */
	if (a->mark) /* the marked modes: the mark follows */
		return send_all(r, a->mark, sizeof(*a->mark));
	return 0;
}

/* 0 when fd's send buffer holds at least need bytes (raised if it did not). */
static int sndbuf_holds(int fd, int need)
{
	int have = 0;
	socklen_t len = sizeof(have);

	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len) == 0 && have >= need)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &need, sizeof(need)) != 0)
		return -1;
	len = sizeof(have);
	return getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &len) == 0 && have >= need ? 0 : -1;
}

static int spawn(struct run *r, const struct xcode_child_args *a)
{
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return fail(r, XCODE_FAIL_INTERNAL, "socketpair");
	/* The child reads its input one chunk ahead (child.c): the answer to
	 * the request in flight must fit in the socket while the child writes
	 * its output, or both would wait on each other. Linux's default
	 * (wmem_default, 208 KiB) holds it; make sure, whatever the host set. */
	if (sndbuf_holds(sv[0], 2 * XCODE_FRAME_MAX) != 0) {
		close(sv[0]);
		close(sv[1]);
		return fail(r, XCODE_FAIL_INTERNAL, "socket buffer too small for a read-ahead");
	}
	rc = r->p->exec_path ? spawn_exec(r, a, sv) : spawn_fork(r, a, sv);
	close(sv[1]);
	r->fd = sv[0];
	if (rc && r->pid <= 0) {
		close(sv[0]);
		r->fd = -1;
	}
	return rc;
}

/* The child's own peak RSS in KiB: the VmHWM of its address space, which
 * exec started empty. Not wait4()'s ru_maxrss: the posix_spawn clone runs
 * in the worker's address space until exec, and Linux keeps that space's
 * high-water mark in the child's rusage (exec_mmap), so ru_maxrss is at
 * least the worker's peak (tests/unit/xcode/test_maxrss.c). Read while the
 * child is alive and unreaped, so the pid is still its own; -1 when /proc
 * cannot tell (the child already gone, /proc hidden). */
static int64_t child_hwm_kib(pid_t pid)
{
	char path[48], line[128];
	int64_t kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmHWM:", 6) != 0)
			continue;
		char *p = line + 6, *end = NULL;
		long long v;

		while (*p == ' ' || *p == '\t')
			p++;
		v = strtoll(p, &end, 10);
		if (end != p && v >= 0 && strncmp(end, " kB", 3) == 0)
			kib = v;
		break;
	}
	fclose(f);
	return kib;
}

/* Reap the child, killing it if it is still there at the deadline (or at
 * once when it failed or misbehaved), and map its end to a reason. */
static void reap(struct run *r, struct xcode_result *res)
{
	struct rusage ru;
	int st = 0;
	pid_t w;

	if (r->fail != XCODE_OK && !r->got_done) {
		if (res->child_maxrss_kib < 0)
			res->child_maxrss_kib = child_hwm_kib(r->pid);
		kill(r->pid, SIGKILL);
		r->killed = 1;
	}
	for (;;) {
		w = wait4(r->pid, &st, WNOHANG, &ru);
		if (w == r->pid || (w < 0 && errno != EINTR))
			break;
		if (am_mono_ms() > r->deadline && !r->killed) {
			kill(r->pid, SIGKILL);
			r->killed = r->timed_out = 1;
			fail(r, XCODE_FAIL_TIMEOUT, "did not exit");
		}
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (w != r->pid)
		return (void)fail(r, XCODE_FAIL_INTERNAL, "wait");
	/* Its CPU time, every thread (the meter's too): unlike ru_maxrss this
	 * is the child's own, the spawn's few instructions before exec aside. */
	res->child_user_ms = (int64_t)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000;
	res->child_sys_ms = (int64_t)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		r->fail = XCODE_FAIL_SANDBOX; /* overrides: the child broke the rules */
	else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU)
		fail(r, XCODE_FAIL_TIMEOUT, "CPU limit");
	else if (WIFSIGNALED(st) && !r->killed)
		fail(r, XCODE_FAIL_DAMAGED, "decoder crashed");
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail(r, XCODE_FAIL_INTERNAL, "child failed");
}

/* The measurements the child reports: numbers in range, or a flag that
 * says why there is none (a dB figure may be -inf for silence, never NaN
 * or +inf). */
static int meters_ok(const struct xf_info *in)
{
	const int all =
	    XCODE_METER_SILENT | XCODE_METER_SHORT_I | XCODE_METER_SHORT_LRA | XCODE_METER_GATED;

	if (in->meter_flags & ~all)
		return 0;
	if (isnan(in->true_peak_dbtp) || isnan(in->stream_true_peak_dbtp) ||
	    in->true_peak_dbtp > 200 || in->stream_true_peak_dbtp > 200)
		return 0;
	if (!isfinite(in->loudness_range_lu) || in->loudness_range_lu < 0 ||
	    in->loudness_range_lu > 200)
		return 0;
	if (in->meter_flags & XCODE_METER_SILENT)
		return !in->has_loudness;
	return isfinite(in->true_peak_dbtp);
}

/* The outputs whose three sinks get a head (PCM: a body only; the
 * tracer's detect mode: nothing). */
static int headed_out(enum xcode_output o)
{
	return o == XCODE_OUT_AAC_MP4 || o == XCODE_OUT_MP3 || o == XCODE_OUT_AB;
}

/* After XF_DONE: every output must be complete and consistent; then the
 * heads go to the sinks and the metadata is checked. */
static int finish(struct run *r, struct xcode_result *res)
{
	const struct xf_info *in = &r->info;

	if (!r->got_info || (r->p->output == XCODE_OUT_WM_DETECT && !r->got_wm))
		return fail(r, XCODE_FAIL_INTERNAL, "no info");
	for (int i = 0; i < OUT_N && headed_out(r->p->output); i++) { /* PCM: body only */
		struct out_state *o = &r->out[i];

		if (o->n == 0 || (o->body > 0 && o->n != o->cap))
			return fail(r, XCODE_FAIL_INTERNAL, "incomplete output");
	}
	if (in->sample_rate < 1 || in->sample_rate > XCODE_MAX_RATE || in->channels < 1 ||
	    in->channels > XCODE_MAX_CHANNELS || in->bit_depth < 0 || in->bit_depth > 64 ||
	    in->samples == 0 || in->samples > (uint64_t)r->max_dur * (uint64_t)in->sample_rate ||
	    (in->has_loudness && (!isfinite(in->loudness_lufs) || !isfinite(in->true_peak_dbtp))) ||
	    !meters_ok(in))
		return fail(r, XCODE_FAIL_INTERNAL, "bad info");
	for (int i = 0; i < OUT_N && headed_out(r->p->output); i++) {
		struct out_state *o = &r->out[i];

		if (o->sink->patch_head(o->sink->ctx, o->head, o->n) != 0)
			return fail(r, XCODE_FAIL_IO, "sink head failed");
	}
	res->samples = in->samples;
	res->sample_rate = in->sample_rate;
	res->channels = in->channels;
	res->bit_depth = in->bit_depth;
	res->duration_ms = (int64_t)((in->samples * 1000 + (uint64_t)in->sample_rate / 2) /
				     (uint64_t)in->sample_rate);
	res->has_loudness = in->has_loudness;
	res->loudness_lufs = in->has_loudness ? in->loudness_lufs : -HUGE_VAL;
	res->true_peak_dbtp = in->true_peak_dbtp;
	res->loudness_range_lu = in->loudness_range_lu;
	res->stream_true_peak_dbtp =
	    isfinite(in->stream_true_peak_dbtp) ? in->stream_true_peak_dbtp : -HUGE_VAL;
	res->meter_flags = in->meter_flags;
	memcpy(res->codec, in->codec, sizeof(res->codec));
	res->codec[sizeof(res->codec) - 1] = '\0';
	for (char *c = res->codec; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			*c = '?';
	res->stream_size = r->out[OUT_STREAM].body + r->out[OUT_STREAM].n;
	res->peaks_size = r->out[OUT_PEAKS].body + r->out[OUT_PEAKS].n;
	res->overview_size = r->out[OUT_OVERVIEW].body + r->out[OUT_OVERVIEW].n;
	res->wm = r->wm;
	return 0;
}

static void defaults(const struct xcode_params *p, struct run *r, struct xcode_child_args *a)
{
	int64_t timeout;

	r->max_dur = p && p->max_duration_s > 0 ? p->max_duration_s : 4 * 3600;
	r->max_output = p && p->max_output ? p->max_output : (uint64_t)1 << 30;
	/* Encoding runs at ~60x realtime on one core; allow 4x that plus a minute. */
	timeout = p && p->timeout_ms > 0 ? p->timeout_ms : 60000 + r->max_dur * 1000 / 15;
	r->deadline = am_mono_ms() + timeout;
	a->size = r->src->size;
	a->output = p ? p->output : XCODE_OUT_AAC_MP4;
	a->max_duration_s = r->max_dur;
	a->max_work = p && p->max_work ? p->max_work : XCODE_MAX_WORK_DEFAULT;
	a->mem_limit = p && p->mem_limit ? p->mem_limit : (uint64_t)512 << 20;
	a->cpu_s = timeout / 1000 + 2;
	a->hook = p ? p->hook : XCODE_HOOK_NONE;
	a->wm_seed = p ? p->wm_seed : NULL;
	if (a->output == XCODE_OUT_MARKED_PCM || a->output == XCODE_OUT_MARKED_FLAC)
		a->mark = p->mark;
	a->wm_strength = p ? p->wm_strength : 0;
}

static int sniff(struct run *r, struct xcode_child_args *a)
{
	uint8_t b[SNIFF_LEN];
	size_t got = 0;

	if (r->src->size == 0)
		return fail(r, XCODE_FAIL_UNSUPPORTED, "empty file");
	if (r->src->read_at(r->src->ctx, 0, b, r->src->size < sizeof(b) ? r->src->size : sizeof(b),
			    &got) != 0)
		return fail(r, XCODE_FAIL_IO, "source read failed");
	if (!(a->format = xcode_sniff(b, got, r->src)))
		return fail(r, XCODE_FAIL_UNSUPPORTED, "unknown magic bytes");
	return 0;
}

static int alloc_run(struct run *r, const struct xcode_sink *s[OUT_N])
{
	/* XCODE_OUT_AB: rendition B comes as the peaks output, with A's head */
	const size_t caps[OUT_N] = {
	    XCODE_STREAM_HEAD, r->p->output == XCODE_OUT_AB ? XCODE_STREAM_HEAD : XCODE_PEAKS_HEAD,
	    XCODE_OVERVIEW_HEAD};

	if (!(r->buf = malloc(XCODE_FRAME_MAX)))
		return AM_ERR_NOMEM;
	for (int i = 0; i < OUT_N; i++) {
		r->out[i].sink = s[i];
		r->out[i].cap = caps[i];
		if (!(r->out[i].head = malloc(caps[i])))
			return AM_ERR_NOMEM;
	}
	return 0;
}

static int err_of(enum xcode_fail f)
{
	switch (f) {
	case XCODE_OK: return 0;
	case XCODE_FAIL_UNSUPPORTED: return AM_ERR_UNSUPPORTED;
	case XCODE_FAIL_TOOBIG:
	case XCODE_FAIL_WORK:
	case XCODE_FAIL_TOOLONG: return AM_ERR_TOOBIG;
	case XCODE_FAIL_IO: return AM_ERR_IO;
	case XCODE_FAIL_INTERNAL: return AM_ERR_INTERNAL;
	default: return AM_ERR_INVAL;
	}
}

int xcode_run(const struct xcode_params *p, const struct xcode_source *src,
	      const struct xcode_sink *stream, const struct xcode_sink *peaks,
	      const struct xcode_sink *overview, struct xcode_result *res)
{
	static const struct xcode_params none;
	const struct xcode_sink *sinks[OUT_N] = {stream, peaks, overview};
	struct xcode_child_args a;
	struct run r;

	memset(&r, 0, sizeof(r));
	memset(&a, 0, sizeof(a));
	memset(res, 0, sizeof(*res));
	res->child_maxrss_kib = res->child_user_ms = res->child_sys_ms = -1;
	r.p = p = p ? p : &none;
	r.src = src;
	r.fd = -1;
	r.pid = -1;
	if (!src || !src->read_at || !stream || !peaks || !overview ||
	    (p->output == XCODE_OUT_WM_DETECT && !p->wm_seed)) {
		fail(&r, XCODE_FAIL_INTERNAL, "bad arguments");
		goto out;
	}
	defaults(p, &r, &a);
	if (((a.output == XCODE_OUT_MARKED_PCM || a.output == XCODE_OUT_MARKED_FLAC) && !a.mark) ||
	    (a.output == XCODE_OUT_AB &&
	     (!a.wm_seed || !(a.wm_strength > 0.0f && a.wm_strength <= 0.6f)))) {
		fail(&r, XCODE_FAIL_INTERNAL, "bad arguments");
		goto out;
	}
	if (alloc_run(&r, sinks)) {
		fail(&r, XCODE_FAIL_INTERNAL, "out of memory");
		goto out;
	}
	if (sniff(&r, &a))
		goto out;
	if (spawn(&r, &a) == 0 && serve(&r) == 0) {
		/* The child waits for EOF after XF_DONE: its address space still
		 * exists, so its peak can be read; closing the socket lets it go. */
		res->child_maxrss_kib = child_hwm_kib(r.pid);
		close(r.fd);
		r.fd = -1;
		(void)finish(&r, res);
	}
	if (r.fd >= 0)
		close(r.fd);
	r.fd = -1;
	if (r.pid > 0)
		reap(&r, res);
out:
	if (r.fd >= 0)
		close(r.fd);
	res->format = a.format;
	res->fail = r.fail;
	res->content_type = a.output == XCODE_OUT_MP3 ? "audio/mpeg" : "audio/mp4";
	if (r.fail ==
	    XCODE_FAIL_WORK) /* the owner sees the bound (the child's numbers go to detail) */
		snprintf(res->reason, sizeof(res->reason),
			 "decoding this file would take more than %llu samples (duration x sample "
			 "rate x channels)",
			 (unsigned long long)a.max_work);
	else
		am_strlcpy(res->reason,
			   r.fail != XCODE_OK && r.reason[0] ? r.reason : xcode_fail_text(r.fail),
			   sizeof(res->reason));
	memcpy(res->detail, r.detail, sizeof(res->detail));
	for (int i = 0; i < OUT_N; i++)
		free(r.out[i].head);
	free(r.buf);
	return err_of(r.fail);
}
