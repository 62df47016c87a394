/*
 * test_seccomp.c: the seccomp filter the transcoder child really loads,
 * tried call by call. Test code only; the parent side is this test process,
 * the child a fork of it that runs the production xcode_sandbox_enter()
 * (src/xcode/sandbox.c, the same function the exec'd child calls before it
 * reads an untrusted byte) with the socket as fds 0 and 1, as the worker
 * sets it up.
 *
 * For each attempt a fresh child enters the sandbox, says "ready", and
 * waits; the parent reads /proc/PID/status (Seccomp: 2, one more filter
 * than the parent has, NoNewPrivs: 1), says "go", and the child makes one
 * system call, raw (syscall(2), so no libc wrapper adds or hides a call).
 * A forbidden call must kill the child with SIGSYS before it returns
 * (default action SCMP_ACT_KILL_PROCESS: no acknowledgement, no side
 * effect: the file it tried to create does not exist); an allowed call must
 * return and the child exit 0 after acknowledging on fd 1. This tests what
 * the kernel enforces, not the allow-list table: an entry added to or
 * dropped from the table, a rule on the wrong argument, or a filter that
 * fails to load shows up here.
 *
 * The ASan runtime needs a few more calls (sandbox.c asan_list: any write,
 * getpid, prctl, mmap/mprotect without the PROT_EXEC rule, ...): those
 * attempts are expected allowed in an ASan build and killed in a release
 * build, where the difference matters.
 */
#include "xcode_test.h"

#include "xcode/xcode_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define XCT_ASAN 1
#else
#define XCT_ASAN 0
#endif

enum want { KILLED, ALLOWED, ASAN_ONLY /* allowed under ASan, killed otherwise */ };

/* The file the open-for-writing attempt tries to create (must not exist
 * afterwards). Set by the test before the first fork. */
static char new_file[300];

static long try_openat_read(void)
{
	return syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
}

static long try_openat_create(void)
{
	return syscall(SYS_openat, AT_FDCWD, new_file, O_WRONLY | O_CREAT | O_EXCL, 0600);
}

#ifdef SYS_open
static long try_open(void)
{
	return syscall(SYS_open, "/etc/passwd", O_RDONLY);
}
#endif

static long try_socket_inet(void)
{
	return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static long try_socket_unix(void)
{
	return syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0);
}

static long try_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return syscall(SYS_connect, XCODE_CHILD_OUT, &sa, sizeof(sa));
}

static long try_sendto(void)
{
	return syscall(SYS_sendto, XCODE_CHILD_OUT, "x", 1, 0, NULL, 0);
}

static long try_sendmsg(void)
{
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	return syscall(SYS_sendmsg, XCODE_CHILD_OUT, &m, 0);
}

static long try_execve(void)
{
	char *const argv[] = {"true", NULL}, *const envp[] = {NULL};

	return syscall(SYS_execve, "/bin/true", argv, envp);
}

static long try_ptrace(void)
{
	return syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
}

static long try_fork(void)
{
	/* clone(SIGCHLD) is fork(); glibc's fork() is this call. */
	return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

static long try_kill(void)
{
	return syscall(SYS_kill, 1, 0);
}

static long try_ioctl(void)
{
	int n = 0;

	return syscall(SYS_ioctl, XCODE_CHILD_IN, FIONREAD, &n);
}

static long try_unshare(void)
{
	return syscall(SYS_unshare, CLONE_NEWUSER);
}

static long try_seccomp(void)
{
	return syscall(SYS_seccomp, 0 /* SECCOMP_SET_MODE_STRICT */, 0, NULL);
}

static long try_process_vm_readv(void)
{
	char b[8];
	struct iovec l = {.iov_base = b, .iov_len = sizeof(b)}, r = {.iov_base = b, .iov_len = 1};

	return syscall(SYS_process_vm_readv, 1, &l, 1, &r, 1, 0);
}

static long try_dup(void)
{
	return syscall(SYS_dup, XCODE_CHILD_IN);
}

static long try_read_other_fd(void)
{
	char b;

	return syscall(SYS_read, 3, &b, 1);
}

static long try_write_fd0(void)
{
	return syscall(SYS_write, XCODE_CHILD_IN, "", 0);
}

static long try_write_fd2(void)
{
	return syscall(SYS_write, 2, "", 0);
}

static long try_mmap_exec(void)
{
	return syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
}

static long try_mprotect_exec(void)
{
	static char page[4096] __attribute__((aligned(4096)));

	return syscall(SYS_mprotect, page, sizeof(page), PROT_READ | PROT_EXEC);
}

static long try_prctl(void)
{
	return syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static long try_getpid(void)
{
	return syscall(SYS_getpid);
}

/* Allowed calls: each must return (and succeed). */
static long try_read_fd0(void)
{
	char b;

	return syscall(SYS_read, XCODE_CHILD_IN, &b, 0);
}

static long try_mmap_rw(void)
{
	long p = syscall(SYS_mmap, NULL, 1 << 16, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == -1 || syscall(SYS_madvise, (void *)p, 1 << 16, MADV_DONTNEED) != 0)
		return -1;
	p = syscall(SYS_mremap, (void *)p, 1 << 16, 1 << 17, MREMAP_MAYMOVE);
	if (p == -1 || syscall(SYS_mprotect, (void *)p, 1 << 17, PROT_READ) != 0)
		return -1;
	return syscall(SYS_munmap, (void *)p, 1 << 17);
}

static long try_brk(void)
{
	return syscall(SYS_brk, 0) > 0 ? 0 : -1;
}

static long try_futex(void)
{
	int word = 0;

	return syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static long try_clock(void)
{
	struct timespec ts;

	return syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
}

static long try_sigprocmask(void)
{
	sigset_t old;

	return syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &old, sizeof(long));
}

/* A thread that exists before the filter is loaded (as the loudness thread
 * does): TSYNC must have given it the filter too. The thread is parked
 * (its start-up calls done) before the sandbox is entered, so only its
 * socket() call can kill it; if that call returns, the main thread sees
 * th_done and reports the result (a wrong outcome, not a hang). */
static pthread_mutex_t th_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t th_cv = PTHREAD_COND_INITIALIZER;
static int th_parked, th_go, th_done;
static long th_ret;

static void *thread_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&th_mu);
	th_parked = 1;
	pthread_cond_broadcast(&th_cv);
	while (!th_go)
		pthread_cond_wait(&th_cv, &th_mu);
	pthread_mutex_unlock(&th_mu);
	th_ret = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	__atomic_store_n(&th_done, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &th_done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	for (;;) /* stay: a thread exit would need calls of its own */
		syscall(SYS_futex, &th_go, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
	return NULL;
}

static void thread_start_parked(void)
{
	pthread_t th;

	if (pthread_create(&th, NULL, thread_main, NULL) != 0)
		syscall(SYS_exit_group, 3);
	pthread_mutex_lock(&th_mu);
	while (!th_parked)
		pthread_cond_wait(&th_cv, &th_mu);
	pthread_mutex_unlock(&th_mu);
}

static long try_thread_socket(void)
{
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};

	pthread_mutex_lock(&th_mu);
	th_go = 1;
	pthread_cond_broadcast(&th_cv);
	pthread_mutex_unlock(&th_mu);
	/* The whole process dies with the thread's call; if it does not, the
	 * call returned: report it after at most 5 s. */
	for (int i = 0; i < 50 && !__atomic_load_n(&th_done, __ATOMIC_SEQ_CST); i++)
		syscall(SYS_futex, &th_done, FUTEX_WAIT_PRIVATE, 0, &tick, NULL, 0);
	if (!__atomic_load_n(&th_done, __ATOMIC_SEQ_CST)) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (th_ret < 0)
		return -1;
	return th_ret;
}

struct attempt {
	const char *name;
	long (*fn)(void);
	enum want want;
	int thread; /* start a thread before the sandbox */
};

static const struct attempt attempts[] = {
    {"openat /etc/passwd", try_openat_read, KILLED, 0},
    {"openat O_CREAT a new file", try_openat_create, KILLED, 0},
#ifdef SYS_open
    {"open /etc/passwd", try_open, KILLED, 0},
#endif
    {"socket AF_INET", try_socket_inet, KILLED, 0},
    {"socket AF_UNIX", try_socket_unix, KILLED, 0},
    {"connect fd 1 to 127.0.0.1:9", try_connect, KILLED, 0},
    {"sendto fd 1", try_sendto, KILLED, 0},
    {"sendmsg fd 1", try_sendmsg, KILLED, 0},
    {"execve /bin/true", try_execve, KILLED, 0},
    {"ptrace TRACEME", try_ptrace, KILLED, 0},
    {"clone (fork)", try_fork, KILLED, 0},
    {"kill", try_kill, KILLED, 0},
    {"ioctl FIONREAD", try_ioctl, KILLED, 0},
    {"unshare CLONE_NEWUSER", try_unshare, KILLED, 0},
    {"seccomp", try_seccomp, KILLED, 0},
    {"process_vm_readv", try_process_vm_readv, KILLED, 0},
    {"dup fd 0", try_dup, KILLED, 0},
    {"read fd 3 (only fd 0 is allowed)", try_read_other_fd, KILLED, 0},
    {"socket from a thread started before the filter", try_thread_socket, KILLED, 1},
    {"write fd 0 (only fd 1 is allowed)", try_write_fd0, ASAN_ONLY, 0},
    {"write fd 2", try_write_fd2, ASAN_ONLY, 0},
    {"mmap PROT_EXEC", try_mmap_exec, ASAN_ONLY, 0},
    {"mprotect PROT_EXEC", try_mprotect_exec, ASAN_ONLY, 0},
    {"prctl SET_DUMPABLE", try_prctl, ASAN_ONLY, 0},
    {"getpid", try_getpid, ASAN_ONLY, 0},
    {"read fd 0", try_read_fd0, ALLOWED, 0},
    {"mmap/mprotect/madvise/mremap/munmap without PROT_EXEC", try_mmap_rw, ALLOWED, 0},
    {"brk", try_brk, ALLOWED, 0},
    {"futex", try_futex, ALLOWED, 0},
    {"clock_gettime", try_clock, ALLOWED, 0},
    {"rt_sigprocmask", try_sigprocmask, ALLOWED, 0},
};

/* In the forked child: sandbox, "R", wait for "G", one call, "A" + the
 * result, exit_group(0). Never returns. */
static void child(const struct attempt *at)
{
	struct xcode_child_args a = {
	    .format = "wav",
	    .output = XCODE_OUT_AAC_MP4,
	    .max_duration_s = 60,
	    .mem_limit = 256u << 20,
	    .cpu_s = 20,
	};
	long r;
	char go;

	if (at->thread)
		thread_start_parked();
	if (xcode_sandbox_enter(&a) != 0)
		syscall(SYS_exit_group, 2);
	if (syscall(SYS_write, XCODE_CHILD_OUT, "R", 1) != 1 ||
	    syscall(SYS_read, XCODE_CHILD_IN, &go, 1) != 1)
		syscall(SYS_exit_group, 4);
	r = at->fn();
	if (r < 0)
		r = -errno;
	{
		char ack[1 + sizeof(long)] = {'A'};

		memcpy(ack + 1, &r, sizeof(r));
		syscall(SYS_write, XCODE_CHILD_OUT, ack, sizeof(ack));
	}
	syscall(SYS_exit_group, 0);
	for (;;)
		;
}

struct outcome {
	int signal;		    /* terminating signal, 0 if it exited */
	int code;		    /* exit code */
	int acked;		    /* the call returned */
	long ret;		    /* what it returned */
	long seccomp, filters, nnp; /* /proc/PID/status while it waited */
};

static void run(const struct attempt *at, struct outcome *o)
{
	int sv[2], st = 0;
	char buf[1 + sizeof(long)], pid_s[24];
	size_t got = 0;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (dup2(sv[1], XCODE_CHILD_IN) < 0 || dup2(sv[1], XCODE_CHILD_OUT) < 0)
			_exit(5);
		child(at);
	}
	close(sv[1]);
	if (read(sv[0], buf, 1) != 1 || buf[0] != 'R') {
		waitpid(pid, &st, 0);
		fail_msg("%s: the child did not enter the sandbox (status 0x%x)", at->name, st);
	}
	snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
	o->seccomp = xct_status_num(pid_s, "Seccomp");
	o->filters = xct_status_num(pid_s, "Seccomp_filters");
	o->nnp = xct_status_num(pid_s, "NoNewPrivs");
	assert_int_equal(write(sv[0], "G", 1), 1);
	for (;;) {
		ssize_t n = read(sv[0], buf + got, sizeof(buf) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf))
			break;
	}
	close(sv[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (got == sizeof(buf) && buf[0] == 'A') {
		o->acked = 1;
		memcpy(&o->ret, buf + 1, sizeof(long));
	}
	o->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	o->code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_filter_in_the_child(void **state)
{
	char dir[256];
	long own_filters = xct_status_num("self", "Seccomp_filters");
	int killed = 0, allowed = 0, wrong = 0;

	assert_int_equal(xct_tmpdir(dir, sizeof(dir)), 0);
	snprintf(new_file, sizeof(new_file), "%s/created-by-the-child", dir);
	for (size_t i = 0; i < AM_ARRAY_LEN(attempts); i++) {
		const struct attempt *at = &attempts[i];
		int want_killed = at->want == KILLED || (at->want == ASAN_ONLY && !XCT_ASAN);
		struct outcome o;

		run(at, &o);
		/* The filter is there while the child waits: mode 2, one filter
		 * more than this process has (a container may add its own). */
		assert_int_equal(o.seccomp, 2);
		if (own_filters >= 0)
			assert_int_equal(o.filters, own_filters + 1);
		assert_int_equal(o.nnp, 1);
		if (want_killed && o.signal == SIGSYS && !o.acked) {
			killed++;
			continue;
		}
		if (!want_killed && o.signal == 0 && o.code == 0 && o.acked && o.ret >= 0) {
			allowed++;
			continue;
		}
		wrong++;
		print_message("WRONG %s: want %s; got %s%d, %s (returned %ld%s)\n", at->name,
			      want_killed ? "killed by SIGSYS" : "allowed",
			      o.signal ? "signal " : "exit ", o.signal ? o.signal : o.code,
			      o.acked ? "the call returned" : "no return", o.ret,
			      o.ret < 0 ? ", -errno" : "");
	}
	print_message("%zu calls tried in the sandboxed child: %d killed by SIGSYS, %d allowed, "
		      "%d wrong (%s build; Seccomp_filters of this process: %ld)\n",
		      AM_ARRAY_LEN(attempts), killed, allowed, wrong, XCT_ASAN ? "ASan" : "release",
		      own_filters);
	/* Killed means before any effect: the file was not created. */
	assert_int_equal(access(new_file, F_OK), -1);
	xct_rmdir(dir);
	assert_int_equal(wrong, 0);
}

/* The control: the same calls without the sandbox succeed (or fail with an
 * ordinary errno), so a kill above is the filter's doing. */
static void test_control_without_filter(void **state)
{
	char dir[256];
	int fd;

	assert_int_equal(xct_tmpdir(dir, sizeof(dir)), 0);
	snprintf(new_file, sizeof(new_file), "%s/created-by-the-control", dir);
	assert_true((fd = (int)try_openat_create()) >= 0);
	close(fd);
	assert_int_equal(access(new_file, F_OK), 0);
	assert_true((fd = (int)try_socket_inet()) >= 0);
	close(fd);
	assert_true(try_getpid() > 0);
	xct_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_control_without_filter),
	    cmocka_unit_test(test_filter_in_the_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
