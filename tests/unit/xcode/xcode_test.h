/*
 * xcode_test.h: fixtures shared by the xcode unit tests (helper_xcode.c).
 * Test code only.
 */
#ifndef AM_XCODE_TEST_H
#define AM_XCODE_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/util.h"
#include "xcode/xcode.h"

/* An in-memory head-patched output (what an AM1 writer would receive). */
struct xct_sink {
	struct am_buf buf;
	size_t head_len;
	int patched;
};

struct xct_out {
	struct xct_sink stream, peaks, overview;
	struct xcode_sink sink[3];
	struct xcode_result res;
};

int xct_tmpdir(char *dir, size_t n);
void xct_rmdir(const char *dir);
int xct_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int xct_read_file(const char *path, struct am_buf *b, size_t cap);
int xct_write_file(const char *path, const void *p, size_t n);
void xct_out_init(struct xct_out *o);
void xct_out_cleanup(struct xct_out *o);
int xct_run_buf(struct am_buf *in, const struct xcode_params *p, struct xct_out *o);
int xct_run_file(const char *path, const struct xcode_params *p, struct xct_out *o);
uint32_t xct_le32(const uint8_t *p);
/* Fail the current test, saying why, unless this binary has the test hooks
 * (AM_TEST_HOOKS: the unit tests link $(BUILD)/hooks/libaudiomus.a). */
void xct_require_hooks(void);
/* The number in the "NAME:" line of /proc/PID/status (PID "self" works;
 * "VmHWM" is in KiB), or -1 when the file or the line is missing. */
long xct_status_num(const char *pid, const char *name);

#endif
