/*
 * helper_xcode.c: shared fixtures for the xcode tests: a temporary
 * directory, running the ffmpeg CLI to generate inputs and independent
 * references, and running a job from a file into in-memory outputs (the
 * head-patched sink contract, checked). Test code only; linked into every
 * unit test binary, so every exported name starts with xct_.
 */
#include "xcode_test.h"
#include "xcode/xcode_int.h"

/* Fork mode (exec_path NULL) calls the child through a weak reference
 * (src/xcode/parent.c): this strong one links it into every unit test. */
int (*const xct_fork_child)(const struct xcode_child_args *) = xcode_child_main;

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int xct_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int xct_tmpdir(char *dir, size_t n)
{
	const char *t = getenv("TMPDIR");

	if (snprintf(dir, n, "%s/am-xcode-XXXXXX", t && *t ? t : "/tmp") >= (int)n)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

void xct_rmdir(const char *dir)
{
	if (dir && *dir)
		nftw(dir, xct_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run a shell command line (test inputs and references only). */
int xct_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	pid_t pid;
	int st;

	va_start(ap, fmt);
	if (vsnprintf(cmd, sizeof(cmd), fmt, ap) >= (int)sizeof(cmd)) {
		va_end(ap);
		return -1;
	}
	va_end(ap);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int xct_read_file(const char *path, struct am_buf *b, size_t cap)
{
	FILE *f = fopen(path, "rb");
	uint8_t chunk[65536];
	size_t n;
	int rc = 0;

	am_buf_init(b, cap);
	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((rc = am_buf_append(b, chunk, n)))
			break;
	fclose(f);
	return rc;
}

int xct_write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int rc;

	if (!f)
		return -1;
	rc = fwrite(p, 1, n, f) == n ? 0 : -1;
	return fclose(f) == 0 ? rc : -1;
}

/* ---- a job from a file into memory -------------------------------------------- */

static int xct_src_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	struct am_buf *in = ctx;

	*got = 0;
	if (off < in->len) {
		*got = in->len - off < n ? (size_t)(in->len - off) : n;
		memcpy(buf, in->p + off, *got);
	}
	return 0;
}

/* Body bytes land at head_len + k; the head is copied over [0, n) last. */
static int xct_sink_write(void *ctx, const void *p, size_t n)
{
	struct xct_sink *s = ctx;
	int rc;
	static const uint8_t zero[4096];

	if (s->patched)
		return AM_ERR_CONFLICT;
	while (s->buf.len < s->head_len) {
		size_t k = s->head_len - s->buf.len;

		if ((rc = am_buf_append(&s->buf, zero, k < sizeof(zero) ? k : sizeof(zero))))
			return rc;
	}
	return am_buf_append(&s->buf, p, n);
}

static int xct_sink_head(void *ctx, const void *p, size_t n)
{
	struct xct_sink *s = ctx;

	if (s->patched++)
		return AM_ERR_CONFLICT;
	if (s->buf.len > 0 && n != s->head_len)
		return AM_ERR_CONFLICT; /* body written: the head must be complete */
	if (s->buf.len == 0)
		return am_buf_append(&s->buf, p, n);
	memcpy(s->buf.p, p, n);
	return 0;
}

void xct_out_init(struct xct_out *o)
{
	const size_t heads[3] = {XCODE_STREAM_HEAD, XCODE_PEAKS_HEAD, XCODE_OVERVIEW_HEAD};
	struct xct_sink *s[3] = {&o->stream, &o->peaks, &o->overview};

	memset(o, 0, sizeof(*o));
	for (int i = 0; i < 3; i++) {
		am_buf_init(&s[i]->buf, (size_t)256 << 20);
		s[i]->head_len = heads[i];
		o->sink[i].write = xct_sink_write;
		o->sink[i].patch_head = xct_sink_head;
		o->sink[i].ctx = s[i];
	}
}

void xct_out_cleanup(struct xct_out *o)
{
	am_buf_cleanup(&o->stream.buf);
	am_buf_cleanup(&o->peaks.buf);
	am_buf_cleanup(&o->overview.buf);
}

int xct_run_buf(struct am_buf *in, const struct xcode_params *p, struct xct_out *o)
{
	struct xcode_source src = {.read_at = xct_src_read, .size = in->len, .ctx = in};

	xct_out_init(o);
	return xcode_run(p, &src, &o->sink[0], &o->sink[1], &o->sink[2], &o->res);
}

int xct_run_file(const char *path, const struct xcode_params *p, struct xct_out *o)
{
	struct am_buf in;
	int rc;

	if (xct_read_file(path, &in, (size_t)512 << 20)) {
		am_buf_cleanup(&in);
		xct_out_init(o);
		return -100;
	}
	rc = xct_run_buf(&in, p, o);
	am_buf_cleanup(&in);
	return rc;
}

uint32_t xct_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void xct_require_hooks(void)
{
	if (!am_test_hooks())
		fail_msg(
		    "this test drives the child's test hooks, but the binary was linked without "
		    "AM_TEST_HOOKS (the unit tests must link $(BUILD)/hooks/libaudiomus.a)");
}

long xct_status_num(const char *pid, const char *name)
{
	char path[64], line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}
