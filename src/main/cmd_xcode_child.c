/*
 * cmd_xcode_child.c: `audiomus xcode-child`, hidden from --help: the fresh
 * image of one transcoding child (docs/transcoding.md, docs/worker.md). The
 * worker starts it with posix_spawn of /proc/self/exe, an empty environment
 * and a socket as fds 0 and 1, so the child inherits none of the worker's
 * memory. It reads its job from the socket, sandboxes itself (seccomp kill
 * list, rlimits, no new privileges) and only then parses the UNTRUSTED file.
 * Dispatched by main() before any configuration, key or database is loaded.
 */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "main/main.h"
#include "xcode/xcode.h"

/* fds 0 and 1 must be the worker's socket: anything else is an operator
 * typing the command, who gets a short explanation instead of a hang. */
static int started_by_worker(void)
{
	struct stat in, out;

	return fstat(0, &in) == 0 && fstat(1, &out) == 0 && S_ISSOCK(in.st_mode) &&
	       S_ISSOCK(out.st_mode) && in.st_ino == out.st_ino;
}

static int cmd_xcode_child(int argc, char **argv)
{
	if (argc != 1 || !started_by_worker()) {
		fprintf(stderr, "audiomus %s: internal command, started by the worker for one "
				"transcode (see docs/worker.md)\n",
			XCODE_CHILD_ARG);
		return 2;
	}
	xcode_child_exec_main(); /* never returns */
}

const struct command cmd_xcode_child_def = {
    XCODE_CHILD_ARG, cmd_xcode_child, "internal: one sandboxed transcoding child",
    "audiomus xcode-child\n\n  Internal; started by the worker. See docs/worker.md.\n"};
