/*
 * FAQ 4 of the security page ("We do not analyze, train models on, or share
 * your audio"), the part a test can show: the only process that decodes
 * the audio, the exec'd transcoder child, cannot send it anywhere. Test
 * code only; runs the real exec'd child (/proc/self/exe xcode-child).
 *
 * While a job runs, the child is inspected from /proc at each progress
 * message (sent only after it is sandboxed): seccomp in filter mode,
 * no_new_privs set, an empty environment, and no descriptor but fds 0 and
 * 1, the child's end of the one socket pair to its parent (no file, no
 * other socket; an ASan build also keeps fd 2 for the sanitizer's
 * reports). The loaded seccomp filter kills every call that could open a
 * file or a socket, connect, send, execute or fork (test_seccomp.c, call by
 * call in a sandboxed child), including from this exec'd image
 * (test_hostile.c test_hook_open_killed, test_exec.c
 * test_exec_child_is_sandboxed).
 * Reading another process's fd table and environment needs ptrace rights
 * over a non-dumpable process: CAP_SYS_PTRACE in the child's user namespace
 * (root in the test container has it). Without it the test first enters a
 * user namespace of its own, where it holds that capability over the child
 * it starts (the sandbox does not depend on the namespace: the same
 * close_range, rlimits, no_new_privs, seccomp). Every sample must then have
 * read the fd table and the environment: a table that cannot be read fails
 * the test, it is never skipped.
 */
#include "xcode_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define XCT_ASAN 1 /* the child keeps fd 2 for sanitizer reports (sandbox.c) */
#else
#define XCT_ASAN 0
#endif

struct seen {
	int samples;
	int seccomp_ok, nnp_ok; /* samples with "Seccomp: 2" / "NoNewPrivs: 1" */
	int fds_read;		/* samples whose fd table was readable */
	int both_fds;		/* samples with fds 0 and 1 on one socket */
	int bad_fd;		/* a descriptor other than 0/1 or not a socket */
	char bad[160];
	int environ_read; /* samples whose /proc/PID/environ was readable */
	long environ_max; /* largest environ seen, bytes */
	char why[160];	  /* the first reason a /proc read failed */
	int discarded;	  /* samples dropped: the child exited meanwhile */
};

static int child_pid(char *buf, size_t n)
{
	int fd = open("/proc/thread-self/children", O_RDONLY);
	ssize_t got = fd >= 0 ? read(fd, buf, n - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (got <= 0)
		return -1;
	buf[got] = '\0';
	buf[strcspn(buf, " \n")] = '\0';
	return 0;
}

static int status_has(const char *pid, const char *line_want)
{
	char path[64], line[256];
	int hit = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, line_want, strlen(line_want)))
			hit = 1;
	fclose(f);
	return hit;
}

/* The child is still running (not gone, not a zombie, whose fd table is
 * empty): a sample taken while it exits proves nothing either way. */
static int alive(const char *pid)
{
	return status_has(pid, "State:") && !status_has(pid, "State:\tZ") &&
	       !status_has(pid, "State:\tX");
}

static void note_failure(struct seen *s, const char *what, const char *path)
{
	if (!s->why[0])
		snprintf(s->why, sizeof(s->why), "%s %s: %s", what, path, strerror(errno));
}

/* Every entry of /proc/PID/fd must be 0 or 1 and a socket (plus, in an
 * ASan build only, fd 2: the inherited stderr the sanitizer reports to),
 * and 0 and 1 must both be there, the same socket (the child's end of the
 * one pair to its parent). */
static void check_fds(const char *pid, struct seen *s)
{
	char path[64], link[300], target[128], sock[2][128] = {"", ""};
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	if (!(d = opendir(path))) {
		note_failure(s, "opendir", path);
		return;
	}
	errno = 0;
	while ((e = readdir(d))) {
		ssize_t n;

		if (e->d_name[0] == '.' || (XCT_ASAN && !strcmp(e->d_name, "2")))
			continue;
		snprintf(link, sizeof(link), "%s/%.32s", path, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0) {
			note_failure(s, "readlink", link);
			s->bad_fd++;
			snprintf(s->bad, sizeof(s->bad), "fd %.16s unreadable", e->d_name);
			continue;
		}
		target[n] = '\0';
		if ((strcmp(e->d_name, "0") && strcmp(e->d_name, "1")) ||
		    strncmp(target, "socket:[", 8)) {
			s->bad_fd++;
			snprintf(s->bad, sizeof(s->bad), "fd %.16s -> %.127s", e->d_name, target);
		} else {
			memcpy(sock[e->d_name[0] - '0'], target, sizeof(target));
		}
	}
	if (errno) {
		/* A directory that opens but cannot be listed is no proof either. */
		note_failure(s, "readdir", path);
		closedir(d);
		return;
	}
	closedir(d);
	s->fds_read++;
	if (sock[0][0] && !strcmp(sock[0], sock[1]))
		s->both_fds++;
}

/* CAP_SYS_PTRACE in our effective set (bit 19 of CapEff). */
static int have_cap_sys_ptrace(void)
{
	char line[256];
	unsigned long long eff = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (eff >> 19) & 1;
}

static int on_progress(void *ctx, double f)
{
	struct seen *all = ctx, one = {0}, *s = &one;
	char pid[32], path[64], env[256];
	int fd;

	if (child_pid(pid, sizeof(pid)) || !alive(pid))
		return 0;
	s->samples++;
	s->seccomp_ok += status_has(pid, "Seccomp:\t2");
	s->nnp_ok += status_has(pid, "NoNewPrivs:\t1");
	check_fds(pid, s);
	snprintf(path, sizeof(path), "/proc/%s/environ", pid);
	if ((fd = open(path, O_RDONLY)) < 0) {
		note_failure(s, "open", path);
	} else {
		ssize_t n = read(fd, env, sizeof(env));

		if (n < 0) {
			note_failure(s, "read", path);
		} else {
			s->environ_read++;
			if (n > s->environ_max)
				s->environ_max = n;
		}
		close(fd);
	}
	if (!alive(pid)) {
		all->discarded++;
		return 0;
	}
	all->samples += s->samples;
	all->seccomp_ok += s->seccomp_ok;
	all->nnp_ok += s->nnp_ok;
	all->fds_read += s->fds_read;
	all->both_fds += s->both_fds;
	all->environ_read += s->environ_read;
	if (s->environ_max > all->environ_max)
		all->environ_max = s->environ_max;
	if (s->bad_fd) {
		all->bad_fd += s->bad_fd;
		memcpy(all->bad, s->bad, sizeof(all->bad));
	}
	if (s->why[0] && !all->why[0])
		memcpy(all->why, s->why, sizeof(all->why));
	return 0;
}

/* A new user namespace whose root is our own uid: /proc shows a
 * non-dumpable child's fd table as owned by the root of the child's
 * namespace, which must map to us, and there we hold CAP_SYS_PTRACE. */
static int enter_user_namespace(void)
{
	char map[64];
	int fd, n, ok;
	uid_t uid = geteuid();

	if (unshare(CLONE_NEWUSER) != 0)
		return -1;
	n = snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	if ((fd = open("/proc/self/uid_map", O_WRONLY)) < 0)
		return -1;
	ok = write(fd, map, (size_t)n) == n;
	close(fd);
	return ok ? 0 : -1;
}

static void test_child_has_no_files_no_network(void **state)
{
	char dir[256], path[300];
	struct xcode_params p = {.exec_path = "/proc/self/exe", .progress = on_progress};
	struct seen s = {0};
	struct am_buf in;
	struct xct_out o;

	assert_int_equal(xct_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/in.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i sine=f=440:d=20:r=44100 '%s'", path), 0);
	assert_int_equal(xct_read_file(path, &in, 16 << 20), 0);
	xct_rmdir(dir);
	if (!have_cap_sys_ptrace()) {
		/* Not root: a user namespace of our own gives us CAP_SYS_PTRACE
		 * over the child we start in it (its mm belongs to that namespace). */
		if (enter_user_namespace() != 0)
			fail_msg("no CAP_SYS_PTRACE and no user namespace (%s): the child's fd "
				 "table cannot be read, so the test cannot pass",
				 strerror(errno));
		print_message("no CAP_SYS_PTRACE: running the child in a new user namespace\n");
	}
	p.progress_ctx = &s;
	assert_int_equal(xct_run_buf(&in, &p, &o), 0);
	assert_int_equal(o.res.fail, XCODE_OK);
	print_message("%d samples: seccomp %d, no_new_privs %d, fd table read %d (fds 0 and 1 on "
		      "one socket %d), bad fds %d %s, environ read %d (at most %ld bytes), %d "
		      "discarded (child exiting)%s%s\n",
		      s.samples, s.seccomp_ok, s.nnp_ok, s.fds_read, s.both_fds, s.bad_fd, s.bad,
		      s.environ_read, s.environ_max, s.discarded,
		      s.why[0] ? "; first failure: " : "", s.why);
	assert_true(s.samples > 0);
	assert_int_equal(s.seccomp_ok, s.samples);
	assert_int_equal(s.nnp_ok, s.samples);
	/* Unreadable is a failure: no sample may go unchecked. */
	if (s.fds_read != s.samples)
		fail_msg("fd table read in %d of %d samples (%s)", s.fds_read, s.samples, s.why);
	assert_int_equal(s.bad_fd, 0);
	assert_int_equal(s.both_fds, s.samples);
	if (s.environ_read != s.samples)
		fail_msg("environ read in %d of %d samples (%s)", s.environ_read, s.samples, s.why);
	assert_int_equal(s.environ_max, 0);
	xct_out_cleanup(&o);
	am_buf_cleanup(&in);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_child_has_no_files_no_network),
	};

	if (argc > 1 && strcmp(argv[1], XCODE_CHILD_ARG) == 0)
		xcode_child_exec_main();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
