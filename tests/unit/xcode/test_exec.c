/*
 * Exec mode of the transcoder (params.exec_path): the child is a fresh image
 * (`<binary> xcode-child`, started by posix_spawn) and so holds none of the
 * parent's memory, while keeping everything else: the same outputs, the
 * same sandbox (a forbidden call still kills it), and the cancel flag.
 * This test binary is its own child image: main() dispatches xcode-child.
 *
 * The memory check reads the running child's /proc/PID/mem looking for a
 * canary string made at run time in the parent's heap. It needs ptrace
 * rights over a non-dumpable process (root with CAP_SYS_PTRACE, as in the
 * test container); without them, and under ASan (terabytes of shadow
 * mappings), only the command line is checked. The same
 * check in fork mode must find the canary, so the test can fail.
 */
#include "xcode_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"

struct probe {
	const char *canary;
	int seen; /* 1 once the child was inspected */
	char cmdline[128];
	int mem; /* 1 canary found, 0 not found, -1 memory unreadable */
};

static pid_t child_pid(void)
{
	char buf[64] = "";
	int fd = open("/proc/thread-self/children", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10);
}

#if defined(__SANITIZE_ADDRESS__)
#define XCT_ASAN 1
#else
#define XCT_ASAN 0
#endif

/* 1 if needle is anywhere in the readable memory of pid, -1 if unreadable
 * (or under ASan, whose terabytes of shadow mappings make a scan useless). */
static int mem_has(pid_t pid, const char *needle)
{
	if (XCT_ASAN)
		return -1;

	char path[64], line[512];
	size_t nl = strlen(needle), cap = 1 << 20;
	uint8_t *buf = malloc(cap + 64);
	FILE *maps;
	int mem, found = 0, readable = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY);
	while (maps && mem >= 0 && !found && fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r')
			continue;
		for (unsigned long off = lo; off < hi && !found; off += cap) {
			size_t want = hi - off < cap + nl ? hi - off : cap + nl;
			ssize_t got = pread(mem, buf, want, (off_t)off);

			if (got <= 0)
				break;
			readable = 1;
			found = memmem(buf, (size_t)got, needle, nl) != NULL;
		}
	}
	if (maps)
		fclose(maps);
	if (mem >= 0)
		close(mem);
	free(buf);
	return found ? 1 : readable ? 0 : -1;
}

static int on_progress(void *ctx, double f)
{
	struct probe *pr = ctx;
	char path[64];
	pid_t pid;
	ssize_t n;
	int fd;

	if (pr->seen || (pid = child_pid()) <= 0)
		return 0;
	pr->seen = 1;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY)) >= 0) {
		n = read(fd, pr->cmdline, sizeof(pr->cmdline) - 1);
		close(fd);
		for (ssize_t i = 0; i + 1 < n; i++)
			if (pr->cmdline[i] == '\0')
				pr->cmdline[i] = ' ';
	}
	pr->mem = mem_has(pid, pr->canary);
	return 0;
}

static void make_wav(struct am_buf *b, int seconds)
{
	char dir[256], path[300];

	assert_int_equal(xct_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/in.wav", dir);
	assert_int_equal(
	    xct_sh("ffmpeg -v error -y -f lavfi -i sine=f=440:d=%d:r=44100 '%s'", seconds, path),
	    0);
	assert_int_equal(xct_read_file(path, b, 16 << 20), 0);
	xct_rmdir(dir);
}

/* A secret-looking string made at run time, in the heap. */
static char *make_canary(void)
{
	uint8_t r[16];
	char *c = malloc(64);

	assert_non_null(c);
	assert_int_equal(crypto_random(r, sizeof(r)), 0);
	snprintf(c, 64, "am-canary-");
	for (int i = 0; i < 16; i++)
		snprintf(c + 10 + 2 * i, 3, "%02x", r[i]);
	return c;
}

static void run_probe(const char *exec_path, struct probe *pr, struct xct_out *o)
{
	struct xcode_params p = {.exec_path = exec_path, .progress = on_progress};
	struct am_buf in;

	memset(pr, 0, sizeof(*pr));
	pr->canary = make_canary();
	p.progress_ctx = pr;
	make_wav(&in, 20);
	assert_int_equal(xct_run_buf(&in, &p, o), 0);
	assert_int_equal(o->res.fail, XCODE_OK);
	assert_int_equal(o->res.duration_ms, 20000);
	assert_true(pr->seen);
	print_message("child \"%s\": canary %s\n", pr->cmdline,
		      pr->mem < 0 ? "unreadable"
		      : pr->mem	  ? "FOUND"
				  : "absent");
	am_buf_cleanup(&in);
	free((void *)pr->canary);
}

static void test_exec_child_is_a_fresh_image(void **state)
{
	struct probe pr;
	struct xct_out o;

	run_probe("/proc/self/exe", &pr, &o);
	assert_string_equal(pr.cmdline, "audiomus " XCODE_CHILD_ARG);
	assert_memory_equal(o.stream.buf.p + 4, "ftyp", 4);
	if (pr.mem < 0)
		print_message("(child memory unreadable here: canary check skipped)\n");
	else
		assert_int_equal(pr.mem, 0);
	xct_out_cleanup(&o);
}

/* The control: a forked child does hold the parent's heap. */
static void test_fork_child_holds_parent_heap(void **state)
{
	struct probe pr;
	struct xct_out o;

	run_probe(NULL, &pr, &o);
	assert_string_not_equal(pr.cmdline, "audiomus " XCODE_CHILD_ARG);
	if (pr.mem >= 0)
		assert_int_equal(pr.mem, 1);
	xct_out_cleanup(&o);
}

static void test_exec_child_is_sandboxed(void **state)
{
	struct xcode_params p = {.exec_path = "/proc/self/exe", .hook = XCODE_HOOK_OPEN};
	struct am_buf in;
	struct xct_out o;

	xct_require_hooks();
	make_wav(&in, 1);
	assert_int_not_equal(xct_run_buf(&in, &p, &o), 0);
	assert_int_equal(o.res.fail, XCODE_FAIL_SANDBOX);
	assert_int_equal(o.stream.patched, 0);
	xct_out_cleanup(&o);
	am_buf_cleanup(&in);
}

static void test_cancel_flag_stops_a_hung_child(void **state)
{
	static int cancel = 1;
	struct xcode_params p = {
	    .exec_path = "/proc/self/exe", .hook = XCODE_HOOK_HANG, .cancel = &cancel};
	struct am_buf in;
	struct xct_out o;
	int64_t t0 = am_mono_ms();

	xct_require_hooks();
	make_wav(&in, 1);
	assert_int_not_equal(xct_run_buf(&in, &p, &o), 0);
	assert_int_equal(o.res.fail, XCODE_FAIL_IO);
	assert_string_equal(o.res.detail, "cancelled");
	assert_true(am_mono_ms() - t0 < 3000);
	xct_out_cleanup(&o);
	am_buf_cleanup(&in);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exec_child_is_a_fresh_image),
	    cmocka_unit_test(test_fork_child_holds_parent_heap),
	    cmocka_unit_test(test_exec_child_is_sandboxed),
	    cmocka_unit_test(test_cancel_flag_stops_a_hung_child),
	};

	if (argc > 1 && strcmp(argv[1], XCODE_CHILD_ARG) == 0)
		xcode_child_exec_main();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
