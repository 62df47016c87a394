/*
 * xcode: the sandboxed, streaming, constant-memory transcoder (DESIGN §8).
 *
 * Trust boundary: xcode_run() runs in the trusted worker process and holds
 * whatever keys the caller holds; it never parses audio. It sniffs the magic
 * bytes, then starts one child process per job that holds no key, no file,
 * no socket and no database handle, only two pipes. The child is the
 * UNTRUSTED side: it parses the hostile file with FFmpeg under rlimits,
 * PR_SET_NO_NEW_PRIVS and a seccomp allow-list whose default action kills
 * it. Everything the child sends back (frames, sizes, metadata) is checked
 * by the parent as untrusted input. See docs/transcoding.md.
 *
 * Data flow: the child asks for input bytes by offset (read-at-offset, so
 * MP4 with its moov at the end works), the parent answers from the caller's
 * source (e.g. an AM1 reader). Outputs come back as "head-patched streams":
 * body bytes from offset head_len on, in order, then the first head_len
 * bytes (or the whole output if it is shorter) once, at the end: exactly the
 * contract of am1_writer_write() / am1_writer_patch_head().
 */
#ifndef AM_XCODE_H
#define AM_XCODE_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"
#include "watermark/watermark.h"

/* Head lengths of the outputs (multiples of AM1_SEGMENT, for AM1 head mode). */
#define XCODE_STREAM_HEAD   (256u * 1024) /* MP4: ftyp + mdat header, patched last */
#define XCODE_PEAKS_HEAD    (64u * 1024)  /* .dat: 24-byte header patched last */
#define XCODE_OVERVIEW_HEAD (64u * 1024)  /* the whole overview (<= 2,000 points) */

#define XCODE_PEAKS_SPP	      512  /* samples per pixel of the detailed peaks */
#define XCODE_OVERVIEW_POINTS 2000 /* at most this many overview points */
#define XCODE_MAX_CHANNELS    8
#define XCODE_MAX_RATE	      192000

/* Why a measurement has no number (xcode_result.meter_flags, bits). */
enum xcode_meter {
	XCODE_METER_SILENT = 1,	   /* digital silence: no loudness, range or peak */
	XCODE_METER_SHORT_I = 2,   /* under one 400 ms gating block: no integrated loudness */
	XCODE_METER_SHORT_LRA = 4, /* under one 3 s short-term block: no loudness range */
	XCODE_METER_GATED = 8,	   /* every block below the -70 LUFS gate: neither */
};

/* Why a job failed; xcode_fail_text() gives the owner-facing reason. */
enum xcode_fail {
	XCODE_OK = 0,
	XCODE_FAIL_UNSUPPORTED, /* not a supported audio format or codec */
	XCODE_FAIL_DAMAGED,	/* parsing or decoding failed, or the child crashed */
	XCODE_FAIL_TOOLONG,	/* longer than the duration cap */
	XCODE_FAIL_TIMEOUT,	/* wall-clock or CPU limit */
	XCODE_FAIL_SANDBOX,	/* the child made a forbidden system call (SIGSYS) */
	XCODE_FAIL_TOOBIG,	/* output larger than the cap */
	XCODE_FAIL_IO,		/* the source or a sink failed: retryable */
	XCODE_FAIL_INTERNAL,	/* encoder/muxer/protocol failure: a bug, retryable */
	XCODE_FAIL_TRUNCATED,	/* less audio than the container declares (cut-off file) */
	XCODE_FAIL_WORK,	/* more decode work than max_work (declared or decoded) */
};

/* The default bound on decode work per job, in samples (duration x sample
 * rate x channels): 4 hours of 48 kHz stereo. A short file at a high rate
 * with many channels (8 x 192 kHz) costs that much CPU in minutes of
 * audio, and a losslessly compressed silence of that kind is a few
 * kilobytes: this bounds the CPU one upload can cost (docs/transcoding.md
 * "Decode work"). */
#define XCODE_MAX_WORK_DEFAULT (UINT64_C(4) * 3600 * 48000 * 2)

/* Short, stable, owner-facing text ("unsupported format", "file is damaged",
 * "took too long", "sandbox violation", ...); never NULL. */
const char *xcode_fail_text(enum xcode_fail f);
/* 1 if a retry could succeed (IO, INTERNAL), 0 if the file itself is at fault. */
int xcode_fail_retryable(enum xcode_fail f);

/* The input: read up to n bytes at off into buf, *got = count (0 only at or
 * past the end). Returns 0 or a negative am_err. size is the plaintext size. */
struct xcode_source {
	int (*read_at)(void *ctx, uint64_t off, void *buf, size_t n, size_t *got);
	uint64_t size;
	void *ctx;
};

/* One output, head-patched (see above). write() gets the bytes from head_len
 * on, in order; patch_head() is called once at the end with the first
 * min(total, head_len) bytes. Borrowed buffers; 0 or a negative am_err. */
struct xcode_sink {
	int (*write)(void *ctx, const void *p, size_t n);
	int (*patch_head)(void *ctx, const void *p, size_t n);
	void *ctx;
};

/* PCM: the stream output is every decoded sample, interleaved, in the
 * decoder's sample format (child_wav.c); PCM_COUNT sends no audio, only
 * the count. In both, xcode_result.codec names the PCM format ("s16le",
 * "s24le", "s32le", "f32le", "f64le", "u8"), bit_depth its bits, and no
 * loudness is measured; peaks and overview get nothing, and no sink's
 * patch_head is called (the stream's body is the whole output). */
enum xcode_output {
	XCODE_OUT_AAC_MP4 = 0,
	XCODE_OUT_MP3 = 1,
	XCODE_OUT_PCM = 2,
	XCODE_OUT_PCM_COUNT = 3,
	/* The tracer (docs/watermark.md "Tracer"): decode, mix to mono and run
	 * the key-less half of the mark's detection with params.wm_seed;
	 * xcode_result.wm gets the candidates (checked), no sink gets a byte. */
	XCODE_OUT_WM_DETECT = 4,
	/* Segment variants (docs/watermark.md "Serving segment variants"):
	 * renditions A and B at 44.1 kHz (AAC-LC in MP4, one byte layout) to
	 * the stream and peaks sinks (both with head length XCODE_STREAM_HEAD),
	 * and the layout to the overview sink (body and head, like a stream):
	 * one native u32 per access unit, its padded size; unit 0 starts at
	 * XCODE_AB_DATA_AT and unit i is centred on sample 1024 i. Needs
	 * xcode_params.wm_seed; no loudness is measured. */
	XCODE_OUT_AB = 5,
	/* The listener's mark (xcode_params.mark) on the decoded samples
	 * (child_markdl.c, issue 26's marked downloads): MARKED_PCM as PCM, in
	 * the decoder's sample format; MARKED_FLAC as a FLAC stream (16 or 24
	 * bits, the STREAMINFO's sample count from mark->samples). Body only,
	 * as PCM; codec names the format ("s16le", ..., "flac"). */
	XCODE_OUT_MARKED_PCM = 6,
	XCODE_OUT_MARKED_FLAC = 7,
};

/* What a marked mode needs: the pattern without its key (wm_pattern_seed),
 * the listener's coded bits (wm_fragment_bits), the strength, and for FLAC
 * the sample count a PCM_COUNT pass found. The child gets no key. */
#define XCODE_MARK_SEED 4096
#define XCODE_MARK_BITS 204
struct xcode_mark {
	uint8_t seed[XCODE_MARK_SEED];
	uint8_t bits[XCODE_MARK_BITS];
	float strength;
	uint32_t pad;
	uint64_t samples;
};

#define XCODE_WM_SEED_BYTES 4096 /* = WM_SEED_BYTES (watermark.h) */
#define XCODE_AB_RATE	    44100
#define XCODE_AB_DATA_AT    44 /* offset of unit 0 in A and B (XC_MP4_DATA_AT) */
#define XCODE_AB_UNIT	    1024

/* Test hooks: make the child misbehave after it is sandboxed. Only a test
 * build (AM_TEST_HOOKS, xcode_hooks.c) runs them; a release build fails a
 * job that asks for one (XCODE_FAIL_INTERNAL). */
enum xcode_hook { XCODE_HOOK_NONE = 0, XCODE_HOOK_OPEN, XCODE_HOOK_HANG, XCODE_HOOK_SPEW };

struct xcode_params {
	enum xcode_output output;
	int64_t timeout_ms;	/* wall clock of the whole job; 0: 10 min + 1 min per 4 MiB */
	uint64_t max_output;	/* cap on all output bytes; 0: 2 GiB */
	int64_t max_duration_s; /* declared and decoded duration cap; 0: 4 h */
	uint64_t max_work;  /* declared and decoded samples x channels; 0: XCODE_MAX_WORK_DEFAULT */
	uint64_t mem_limit; /* child RLIMIT_AS above its start size; 0: 512 MiB */
	/* progress in [0, 1], called from xcode_run's thread; may be NULL. A
	 * non-zero return cancels the job (XCODE_FAIL_IO). */
	int (*progress)(void *ctx, double fraction);
	void *progress_ctx;
	enum xcode_hook hook;
	/* Exec mode (the worker): the child is not a fork of the caller but a
	 * fresh image, exec_path run as `audiomus-xcode xcode-child` with an empty
	 * environment and only the socket as fds 0 and 1, so that it inherits
	 * none of the caller's memory (other projects' data in `serve`). The
	 * program at exec_path must call xcode_child_exec_main() for that
	 * argument (audiomus-xcode, or a test binary's /proc/self/exe). NULL: fork (the
	 * library's own tests). */
	const char *exec_path;
	/* Read (atomically) while waiting for the child; once non-zero the job
	 * is cancelled within ~0.2 s (XCODE_FAIL_IO "cancelled"). May be NULL. */
	const int *cancel;
	/* XCODE_OUT_WM_DETECT and XCODE_OUT_AB: the pattern seed
	 * (wm_pattern_seed, WM_SEED_BYTES, borrowed; the caller zeroes it):
	 * sent to the child in the job message, never a file, never the key.
	 * XCODE_OUT_AB: the mark's strength, (0, 0.6]. */
	const uint8_t *wm_seed;
	/* XCODE_OUT_MARKED_*: the mark (borrowed; required there, else unused). */
	const struct xcode_mark *mark;
	float wm_strength;
};

/* What the job found and produced. */
struct xcode_result {
	enum xcode_fail fail;
	char reason[128];    /* xcode_fail_text(fail), with the bound for WORK (detail for logs in
				detail) */
	char detail[160];    /* sanitized child/FFmpeg message, for logs only */
	const char *format;  /* demuxer chosen by sniffing ("wav", ...) or NULL */
	uint64_t samples;    /* decoded samples per channel */
	int64_t duration_ms; /* from decoded samples */
	int sample_rate, channels, bit_depth; /* bit_depth 0 for lossy codecs */
	int has_loudness;		      /* 0 for silence (no gated block) */
	double loudness_lufs;		      /* integrated, EBU R128 */
	double loudness_range_lu;	      /* EBU Tech 3342 LRA; 0 when a flag says why not */
	double true_peak_dbtp;		      /* -inf (has_loudness 0) for digital silence */
	/* The rendition's own true peak, metered on its decoded packets as a
	 * player sees them (the downmix and the codec's overshoot included);
	 * -inf for silence. */
	double stream_true_peak_dbtp;
	int meter_flags;	  /* enum xcode_meter bits: which numbers are missing, why */
	char codec[32];		  /* input decoder name */
	const char *content_type; /* of the rendition: "audio/mp4" or "audio/mpeg" */
	uint64_t stream_size, peaks_size, overview_size;
	/* The child's own peak RSS (VmHWM of its address space, read by the
	 * parent at XF_DONE, or before killing a failed child); -1 when unknown.
	 * Not wait4's ru_maxrss, which includes the worker's peak (parent.c). */
	int64_t child_maxrss_kib;
	/* The child's CPU time, user and system, all its threads (wait4's
	 * rusage when it was reaped, in ms); -1 when unknown. */
	int64_t child_user_ms, child_sys_ms;
	/* XCODE_OUT_WM_DETECT: the decoded candidates, checked (n, finite
	 * numbers in range); untrusted until wm_decide's tag check. */
	struct wm_candidates wm;
};

/* Sniff the first bytes of an input: the FFmpeg demuxer to force, or NULL.
 * buf/n are the first n bytes (n >= 12 for a useful answer); src is read
 * again past an ID3v2 tag when needed (may be NULL). */
const char *xcode_sniff(const uint8_t *buf, size_t n, const struct xcode_source *src);

/* What a file that xcode_sniff() refuses is, by the same first bytes, for a
 * reason the owner can act on: a static name such as "WavPack (.wv)",
 * "Core Audio Format (.caf)", "Sony Wave64 (.w64)", "WebM/Matroska (.webm,
 * .mka)", "Windows Media (.wma, .asf)", "a PNG image", "a text file"; NULL
 * when it is not recognised. Pure, bounded, no allocation. Meaningful only
 * for bytes xcode_sniff() refused (it does not look for accepted types). */
const char *xcode_sniff_other(const uint8_t *buf, size_t n);

/* Transcode one input: sniff, run the sandboxed child, feed it, pass its
 * outputs to stream, peaks and overview (all three required), enforce the
 * timeout and the output cap, reap the child. Returns 0 with res->fail ==
 * XCODE_OK, or AM_ERR_UNSUPPORTED / AM_ERR_INVAL (the file) / AM_ERR_TOOBIG
 * / AM_ERR_IO / AM_ERR_INTERNAL with res->fail and res->reason set. Sinks
 * may have received bytes before a failure: the caller abandons them. p may
 * be NULL (defaults). Memory: constant (~0.5 MiB here, the child's FFmpeg
 * state there), whatever the input size. */
int xcode_run(const struct xcode_params *p, const struct xcode_source *src,
	      const struct xcode_sink *stream, const struct xcode_sink *peaks,
	      const struct xcode_sink *overview, struct xcode_result *res);

/* The whole life of an exec'd child (`audiomus-xcode xcode-child`): read the job
 * arguments the parent sends first on fd 0, sandbox, transcode, report on
 * fd 1, then _exit (no atexit handlers, no leak checker under seccomp).
 * Called by main() before anything else is set up; never returns. */
void xcode_child_exec_main(void) __attribute__((noreturn));

/* The argv[1] that selects xcode_child_exec_main() in the exec'd image. */
#define XCODE_CHILD_ARG "xcode-child"

/* The seccomp allow-list of the child (syscall names), for tests and docs. */
const char *const *xcode_seccomp_allowed(size_t *n);

/* ---- segment variants (xcode_ab.c, docs/watermark.md "Serving segment variants") ---- */

/* What xcode_ab_write made: the byte layout A and B share. */
struct xcode_ab_layout {
	uint32_t *sizes; /* each access unit's size (padded), owned */
	size_t n, cap;
	uint64_t data_at;	 /* file offset of access unit 0 */
	uint64_t file_size;	 /* of either rendition */
	uint64_t raw_a, raw_b;	 /* access-unit bytes before padding */
	int priming, frame_size; /* encoder delay and samples per unit */
};

/* Encode pcm_a and pcm_b (frames x ch interleaved float at rate: the
 * renditions A and B of one decode; ch 1 or 2, rate an AAC rate up to
 * 48 kHz) in lockstep with the stream rendition's AAC-LC settings into two
 * MP4 files (fds, written with pwrite from offset 0) of one byte layout:
 * every access unit of both padded with AAC fill elements to the larger
 * of the two. pcm_b NULL: A alone, unpadded (the plain rendition, for
 * comparison). Fills *l (xcode_ab_layout_cleanup). 0, AM_ERR_INVAL,
 * AM_ERR_NOMEM, AM_ERR_IO, AM_ERR_INTERNAL (encoder failure, or the two
 * encoders did not stay in lockstep). */
int xcode_ab_write(const float *pcm_a, const float *pcm_b, size_t frames, unsigned ch,
		   unsigned rate, int fd_a, int fd_b, struct xcode_ab_layout *l);
void xcode_ab_layout_cleanup(struct xcode_ab_layout *l);

#endif
