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
 * reports). The seccomp allow-list has no call that could open a file or
 * a socket or connect one (test_hostile.c test_seccomp_list), and a call
 * outside it kills the child (test_hostile.c test_hook_open_killed, and
 * test_exec.c test_exec_child_is_sandboxed for this exec'd image).
 * Reading another process's fd table needs ptrace rights over a
 * non-dumpable process (root in the test container); without them that part
 * is reported and skipped, the rest still checked.
 */
#include "xcode_test.h"

#include <dirent.h>
#include <fcntl.h>
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
	int bad_fd;		/* a descriptor other than 0/1 or not a socket */
	char bad[160];
	long environ_len; /* bytes of /proc/PID/environ, -1 unreadable */
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

/* Every entry of /proc/PID/fd must be 0 or 1 and a socket (plus, in an
 * ASan build only, fd 2: the inherited stderr the sanitizer reports to). */
static void check_fds(const char *pid, struct seen *s)
{
	char path[64], link[300], target[128];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	if (!(d = opendir(path)))
		return;
	s->fds_read++;
	while ((e = readdir(d))) {
		ssize_t n;

		if (e->d_name[0] == '.' || (XCT_ASAN && !strcmp(e->d_name, "2")))
			continue;
		snprintf(link, sizeof(link), "%s/%.32s", path, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if ((strcmp(e->d_name, "0") && strcmp(e->d_name, "1")) ||
		    strncmp(target, "socket:[", 8)) {
			s->bad_fd++;
			snprintf(s->bad, sizeof(s->bad), "fd %.16s -> %.127s", e->d_name, target);
		}
	}
	closedir(d);
}

static int on_progress(void *ctx, double f)
{
	struct seen *s = ctx;
	char pid[32], path[64], env[256];
	int fd;

	if (child_pid(pid, sizeof(pid)))
		return 0;
	s->samples++;
	s->seccomp_ok += status_has(pid, "Seccomp:\t2");
	s->nnp_ok += status_has(pid, "NoNewPrivs:\t1");
	check_fds(pid, s);
	snprintf(path, sizeof(path), "/proc/%s/environ", pid);
	if ((fd = open(path, O_RDONLY)) >= 0) {
		ssize_t n = read(fd, env, sizeof(env));

		s->environ_len = n < 0 ? -1 : n;
		close(fd);
	}
	return 0;
}

static void test_child_has_no_files_no_network(void **state)
{
	char dir[256], path[300];
	struct xcode_params p = {.exec_path = "/proc/self/exe", .progress = on_progress};
	struct seen s = {.environ_len = -1};
	struct am_buf in;
	struct xct_out o;

	assert_int_equal(xct_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/in.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i sine=f=440:d=20:r=44100 '%s'", path), 0);
	assert_int_equal(xct_read_file(path, &in, 16 << 20), 0);
	xct_rmdir(dir);
	p.progress_ctx = &s;
	assert_int_equal(xct_run_buf(&in, &p, &o), 0);
	assert_int_equal(o.res.fail, XCODE_OK);
	print_message("%d samples: seccomp %d, no_new_privs %d, fd table read %d, bad fds %d %s, "
		      "environ %ld bytes\n",
		      s.samples, s.seccomp_ok, s.nnp_ok, s.fds_read, s.bad_fd, s.bad,
		      s.environ_len);
	assert_true(s.samples > 0);
	assert_int_equal(s.seccomp_ok, s.samples);
	assert_int_equal(s.nnp_ok, s.samples);
	assert_int_equal(s.bad_fd, 0);
	if (s.fds_read == 0)
		print_message("(fd table unreadable here: no ptrace rights; that part skipped)\n");
	if (s.environ_len >= 0)
		assert_int_equal(s.environ_len, 0);
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
