/*
 * sandbox.c: what the transcoding child does to itself before it reads the
 * first untrusted byte: close every fd but its two pipes, rlimits, no new
 * privileges, not dumpable, then a seccomp allow-list whose default action
 * kills the process. Runs in the child only; after xcode_sandbox_enter()
 * returns 0 the child can compute, read fd 0, write fd 1, map non-executable
 * memory and exit: nothing else (no open, no socket, no exec, no clone).
 *
 * The list was measured with strace on every supported format (see
 * docs/transcoding.md). ASan builds need a few more calls for their runtime
 * (reports go to fd 2, shadow memory needs no RLIMIT_AS): they are added only
 * when the compiler defines __SANITIZE_ADDRESS__, never in a release build.
 */
#include "xcode/xcode_int.h"

#include <errno.h>
#include <linux/close_range.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define XCODE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XCODE_ASAN 1
#endif
#endif
#ifndef XCODE_ASAN
#define XCODE_ASAN 0
#endif

/* How a call is allowed: always, or only with a constraint on an argument. */
enum rule { R_ANY, R_FD_IN, R_FD_OUT, R_NOEXEC };

struct allow {
	const char *name;
	enum rule rule;
};

static const struct allow allow_list[] = {
    {"read", R_FD_IN},	    /* the input answers, fd 0 only */
    {"write", R_FD_OUT},    /* frames to the parent, fd 1 only */
    {"mmap", R_NOEXEC},	    /* malloc; never PROT_EXEC */
    {"mprotect", R_NOEXEC}, /* malloc arenas grow; never PROT_EXEC */
    {"munmap", R_ANY},	      {"mremap", R_ANY},	 {"brk", R_ANY},
    {"madvise", R_ANY},	      /* free() trims */
    {"futex", R_ANY},	      /* locks inside libc/FFmpeg (single thread) */
    {"clock_gettime", R_ANY}, /* vDSO fallback */
    {"rt_sigreturn", R_ANY},  {"rt_sigprocmask", R_ANY}, /* glibc masks signals while a thread exits
							  */
    {"exit", R_ANY},					 /* the loudness thread ends */
    {"exit_group", R_ANY},
};

#if XCODE_ASAN
/* The ASan/UBSan runtime: reports to fd 2, stack walking, its own
 * bookkeeping. Debug builds only. */
static const struct allow asan_list[] = {
    {"write", R_ANY},	     {"getpid", R_ANY},	     {"gettid", R_ANY},
    {"sched_yield", R_ANY},  {"sigaltstack", R_ANY}, {"rt_sigprocmask", R_ANY},
    {"rt_sigaction", R_ANY}, {"prctl", R_ANY},	     {"readlink", R_ANY},
    {"mmap", R_ANY},	     {"mprotect", R_ANY},    {"tgkill", R_ANY},
    {"getrlimit", R_ANY},    {"prlimit64", R_ANY},   {"sched_getaffinity", R_ANY},
};
#endif

static const char *allow_names[AM_ARRAY_LEN(allow_list)];

const char *const *xcode_seccomp_allowed(size_t *n)
{
	for (size_t i = 0; i < AM_ARRAY_LEN(allow_list); i++)
		allow_names[i] = allow_list[i].name;
	if (n)
		*n = AM_ARRAY_LEN(allow_list);
	return allow_names;
}

static int add_rules(scmp_filter_ctx ctx, const struct allow *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(list[i].name);
		int rc;

		if (nr == __NR_SCMP_ERROR)
			return AM_ERR_INTERNAL;
		switch (list[i].rule) {
		case R_FD_IN:
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					      SCMP_A0(SCMP_CMP_EQ, XCODE_CHILD_IN));
			break;
		case R_FD_OUT:
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					      SCMP_A0(SCMP_CMP_EQ, XCODE_CHILD_OUT));
			break;
		case R_NOEXEC:
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
			break;
		default: rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		}
		if (rc != 0)
			return AM_ERR_INTERNAL;
	}
	return 0;
}

static int load_filter(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc = AM_ERR_INTERNAL;

	if (!ctx)
		return AM_ERR_NOMEM;
	/* TSYNC: the loudness thread exists already and gets the same filter. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0)
		goto out;
	if ((rc = add_rules(ctx, allow_list, AM_ARRAY_LEN(allow_list))))
		goto out;
#if XCODE_ASAN
	if ((rc = add_rules(ctx, asan_list, AM_ARRAY_LEN(asan_list))))
		goto out;
#endif
	rc = seccomp_load(ctx) == 0 ? 0 : AM_ERR_INTERNAL;
out:
	seccomp_release(ctx);
	return rc;
}

/* Current address-space size: the child starts as a copy of the worker, so
 * the cap is "what it has now plus the budget". Read before the filter. */
static uint64_t current_vm(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long pages = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%lu", &pages) != 1)
		pages = 0;
	fclose(f);
	return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int set_limit(int res, uint64_t v)
{
	struct rlimit rl = {.rlim_cur = v, .rlim_max = v};

	return setrlimit(res, &rl) == 0 ? 0 : AM_ERR_INTERNAL;
}

static int set_limits(const struct xcode_child_args *a)
{
	int rc;

	if ((rc = set_limit(RLIMIT_CORE, 0)) || (rc = set_limit(RLIMIT_FSIZE, 0)) ||
	    (rc = set_limit(RLIMIT_NOFILE, 3)) || (rc = set_limit(RLIMIT_NPROC, 0)) ||
	    (rc = set_limit(RLIMIT_MEMLOCK, 0)))
		return rc;
	if (a->cpu_s > 0 && (rc = set_limit(RLIMIT_CPU, (uint64_t)a->cpu_s)))
		return rc;
#if !XCODE_ASAN
	if ((rc = set_limit(RLIMIT_AS, current_vm() + a->mem_limit)))
		return rc;
#else
	(void)current_vm;
#endif
	return 0;
}

int xcode_sandbox_enter(const struct xcode_child_args *a)
{
	int rc;

	/* fds 0 and 1 are the pipes; ASan keeps 2 for its reports. */
	if (syscall(SYS_close_range, XCODE_ASAN ? 3u : 2u, ~0u, 0u) != 0)
		return AM_ERR_INTERNAL;
	if ((rc = set_limits(a)))
		return rc;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return AM_ERR_INTERNAL;
	return load_filter();
}
