/*
 * xcode_hooks.c: the transcoding child's test hooks (xcode.h enum
 * xcode_hook), with which tests/unit/xcode/ prove that the sandbox kills a
 * child that opens a file, that a hung child times out and that a child
 * spewing output is capped. Runs in the UNTRUSTED child, after it is
 * sandboxed. Compiled with -DAM_TEST_HOOKS only for the unit tests and the
 * test binaries ($(BUILD)/hooks/, Makefile "Test hooks"): the release
 * audiomus-xcode holds none of this code and refuses any hook.
 */
#include "xcode/xcode_int.h"

#include "util/util.h"

#ifdef AM_TEST_HOOKS
#include <fcntl.h>
#include <unistd.h>

/* What `make lint` looks for, and must not find, in the release binaries. */
__attribute__((used)) static const char marker[] = "AUDIOMUS_TEST_HOOKS: xcode child hooks";

int xcode_child_hook(enum xcode_hook h)
{
	static uint8_t junk[XCODE_IO_CHUNK];

	switch (h) {
	case XCODE_HOOK_OPEN: (void)open("/etc/passwd", O_RDONLY | O_CLOEXEC); break;
	case XCODE_HOOK_HANG:
		for (volatile int spin = 1; spin;)
			;
		break;
	case XCODE_HOOK_SPEW:
		while (xcode_send(XF_STREAM_BODY, junk, sizeof(junk)) == 0)
			;
		break;
	default: break;
	}
	return 0;
}

#else /* a release build */

int xcode_child_hook(enum xcode_hook h)
{
	return h == XCODE_HOOK_NONE ? 0 : AM_ERR_UNSUPPORTED;
}

#endif
