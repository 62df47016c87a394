/*
 * audiomus_xcode.c: main() of `audiomus-xcode`, the second binary: the
 * fresh image of one sandboxed transcoding child (docs/transcoding.md "Two
 * binaries"). The worker starts it with posix_spawn, an empty environment
 * and a socket as fds 0 and 1, so the child inherits none of the worker's
 * memory. It reads its job from the socket, sandboxes itself (seccomp kill
 * list, rlimits, no new privileges) and only then parses the UNTRUSTED file.
 * It is the only program that links FFmpeg: `audiomus` itself (web, media,
 * worker parent) maps none of FFmpeg's ~150 libraries. It also runs the
 * operator's `audiomus watermark ...` (exec'd as `audiomus-xcode watermark
 * ...`, no sandbox: the operator's own command on the operator's files).
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "main/xcode/wm_variants.h"
#include "watermark/watermark.h"
#include "xcode/xcode.h"

/* fds 0 and 1 must be the worker's socket: anything else is an operator
 * typing the command, who gets a short explanation instead of a hang. */
static int started_by_worker(void)
{
	struct stat in, out;

	return fstat(0, &in) == 0 && fstat(1, &out) == 0 && S_ISSOCK(in.st_mode) &&
	       S_ISSOCK(out.st_mode) && in.st_ino == out.st_ino;
}

int main(int argc, char **argv)
{
	/* `audiomus watermark ...` execs this binary, which links the FFmpeg
	 * code the mark needs (src/watermark/wm_cli.c). */
	if (argc >= 3 && !strcmp(argv[1], "watermark") && !strcmp(argv[2], "variants"))
		return wm_variants_main(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "watermark"))
		return wm_cli_main(argc - 1, argv + 1);
	if (argc != 2 || strcmp(argv[1], XCODE_CHILD_ARG) != 0 || !started_by_worker()) {
		fprintf(stderr, "audiomus-xcode: internal program, started by the audiomus worker "
				"for one transcode (see docs/transcoding.md)\n");
		return 2;
	}
	xcode_child_exec_main(); /* never returns */
}
