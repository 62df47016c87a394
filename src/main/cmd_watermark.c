/*
 * cmd_watermark.c: `audiomus watermark embed|detect|fragments` on WAV files
 * (issue 26, docs/watermark.md). The mark's code needs FFmpeg's av_tx and
 * libswresample, which `audiomus` does not link (docs/architecture.md "Two
 * binaries"): this command execs `audiomus-xcode watermark ARGS` from the
 * directory of this binary, where src/watermark/wm_cli.c does the work.
 * Runs with the operator's privileges; argv is the operator's.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "main/main.h"
#include "util/util.h"

#define WM_ARGS_MAX 64

static int cmd_watermark(int argc, char **argv)
{
	char xcode[PATH_MAX + 32], *args[WM_ARGS_MAX + 2];

	if (argc >= 2 && !strcmp(argv[1], "trace"))
		return cmd_watermark_trace(argc, argv);
	for (int i = 2; argc >= 2 && !strcmp(argv[1], "embed") && i < argc; i++)
		if (!strcmp(argv[i], "--project"))
			return cmd_watermark_embed_mark(argc, argv);
	if (argc > WM_ARGS_MAX || am_exe_sibling("audiomus-xcode", xcode, sizeof(xcode)) != 0) {
		fprintf(stderr,
			"audiomus watermark: cannot find audiomus-xcode (or too many arguments)\n");
		return 2;
	}
	args[0] = "audiomus-xcode";
	for (int i = 0; i < argc; i++)
		args[i + 1] = argv[i]; /* argv[0] is "watermark" */
	args[argc + 1] = NULL;
	execv(xcode, args);
	fprintf(stderr, "audiomus watermark: cannot run %s: %s\n", xcode, strerror(errno));
	return 2;
}

const struct command cmd_watermark_def = {
    "watermark",
    cmd_watermark,
    "embed or detect the inaudible listener mark in WAV files",
    "audiomus watermark embed --key-file KEY (--payload HEX16 | --variant 0|1)\n"
    "                         [--strength S] [--float] IN.wav OUT.wav\n"
    "audiomus watermark detect --key-file KEY IN.wav\n"
    "audiomus watermark fragments --key-file KEY --payload HEX16\n"
    "audiomus watermark variants --key-file KEY [--strength S]\n"
    "                         [--payload HEX16 --splice OUT.mp4] IN.wav A.mp4 B.mp4\n"
    "audiomus watermark variants --single IN.wav OUT.mp4\n"
    "audiomus watermark trace [--config FILE] --project ID SUSPECT\n"
    "audiomus watermark embed [--config FILE] --project ID --mark MARK [--strength S]\n"
    "                         IN.wav OUT.wav\n\n"
    "The listener mark of docs/watermark.md on WAV files (16/24/32-bit integer\n"
    "or 32-bit float PCM, 8-192 kHz, 1-8 channels), for tests and operators.\n"
    "KEY is a key file in the master-key format (64 hex characters, mode 0600)\n"
    "standing in for a project key: the mark's key is HKDF(KEY, \"watermark\").\n\n"
    "  embed      mark IN with the 64-bit payload HEX16 (16 hex characters), or\n"
    "             with every fragment bit 0 (--variant 0: rendition A) or 1\n"
    "             (--variant 1: rendition B); write OUT as 16-bit PCM (--float:\n"
    "             32-bit float). --strength: relative change of a marked bin,\n"
    "             default 0.2, at most 0.6. Prints the mark-to-signal ratio\n"
    "             (JSON: msr_db, msr_worst_db) and the CPU time.\n"
    "  detect     look for a mark of KEY in IN (any excerpt of 28.5 s or more);\n"
    "             prints JSON {found, payload, confidence, sync_z, offset_s};\n"
    "             exit status 0: found, 1: no mark, 2: error.\n"
    "  fragments  the serving plan for HEX16: which rendition (bit 0: A, 1: B)\n"
    "             each 6144-sample fragment (at 44.1 kHz) of a period comes from;\n"
    "             fragment g of a track uses bit g mod 204.\n"
    "  variants   renditions A and B of IN (1-2 channels, an AAC rate up to\n"
    "             48 kHz) as AAC-LC MP4 (256 kbit/s, the stream rendition's\n"
    "             settings) of one byte layout: every access unit padded with\n"
    "             AAC fill elements to the larger of A's and B's, so that a\n"
    "             listener's stream is a byte splice of the two; --splice\n"
    "             writes HEX16's. --single: the plain rendition alone\n"
    "             (unmarked, unpadded: for comparison). Prints JSON: units,\n"
    "             bytes (file, padded units, unpadded A and B), CPU times.\n"
    "  trace      the tracer on the server's own data (--config: the database\n"
    "             and master key): SUSPECT (any format the transcoder takes,\n"
    "             decoded and searched in the sandboxed child, 28.5 s or more)\n"
    "             against project ID's mark; prints JSON {found:false} or\n"
    "             {found:true, link:{id,label}, reviewer, first_access,\n"
    "             first_access_ms, confidence}; exit status 0: a listener\n"
    "             named, 1: no mark found, 2: error. A name needs the keyed\n"
    "             tag AND a mark row whose payload is the decoded one.\n"
    "  embed --project  mark IN with listening MARK's payload (the id of its\n"
    "             row in marks) under project ID's key, at the project's\n"
    "             strength unless --strength: what that listener's copy\n"
    "             carries (tests, demonstrations).\n",
};
