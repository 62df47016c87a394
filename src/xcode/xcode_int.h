/*
 * xcode_int.h: internals shared by the files of src/xcode: the wire protocol
 * between the trusted parent (parent.c) and the UNTRUSTED child (child*.c),
 * the sandbox (sandbox.c) and the child's output and analysis helpers.
 *
 * Wire protocol (native byte order: both ends are the same binary):
 *   child -> parent (fd 1): frames { u32 type; u32 len; len bytes }, len <=
 *                            XCODE_FRAME_MAX; the parent checks every field.
 *   parent -> child (fd 0): answers to XF_READ, { i32 n; n bytes } with
 *                            0 <= n <= the requested length, n < 0 an error.
 */
#ifndef AM_XCODE_INT_H
#define AM_XCODE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "xcode/xcode.h"

#define XCODE_IO_CHUNK	(64u * 1024)
#define XCODE_FRAME_MAX (XCODE_IO_CHUNK + 256)
#define XCODE_CHILD_IN	0
#define XCODE_CHILD_OUT 1

enum xcode_frame_type {
	XF_READ = 1,	/* struct xf_read: input wanted */
	XF_STREAM_BODY, /* rendition bytes from XCODE_STREAM_HEAD on, in order */
	XF_STREAM_HEAD, /* rendition head, in order from offset 0 */
	XF_PEAKS_BODY,
	XF_PEAKS_HEAD,
	XF_OVERVIEW_BODY, /* never sent: the overview fits its head */
	XF_OVERVIEW_HEAD,
	XF_PROGRESS, /* u32 per-mille */
	XF_INFO,     /* struct xf_info, once, before XF_DONE */
	XF_FAIL,     /* struct xf_fail */
	XF_DONE,     /* empty: every output is complete */
	XF_WM,	     /* struct wm_candidates, once, before XF_INFO (XCODE_OUT_WM_DETECT) */
};

struct xf_hdr {
	uint32_t type;
	uint32_t len;
};

struct xf_read {
	uint64_t off;
	uint32_t len;
	uint32_t pad;
};

struct xf_info {
	uint64_t samples;
	int32_t sample_rate, channels, bit_depth, has_loudness;
	double loudness_lufs, true_peak_dbtp, loudness_range_lu, stream_true_peak_dbtp;
	int32_t meter_flags, pad;
	char codec[32];
};

/* A refusal over a limit names the figure (the parent words it for the
 * owner from the numbers, never from the child's text). */
enum xf_limit { XF_LIMIT_NONE = 0, XF_LIMIT_RATE, XF_LIMIT_CHANNELS };

struct xf_fail {
	int32_t fail;  /* enum xcode_fail */
	int32_t limit; /* enum xf_limit */
	int64_t value; /* the file's sample rate (Hz) or channel count */
	char msg[156];
};

/* Exec mode: the first bytes the parent sends on the socket, before any
 * read answer: what the fresh child image needs to know about its job. */
#define XF_ARGS_MAGIC 0x31435841u /* "AXC1" */
struct xf_args {
	uint32_t magic;
	int32_t output, hook, pad;
	char format[32]; /* a name xcode_sniff() returns, NUL-terminated */
	uint64_t size, mem_limit;
	int64_t max_duration_s, cpu_s;
	uint64_t max_work;
	float wm_strength; /* XCODE_OUT_AB: the mark's strength (the seed follows the args) */
	uint32_t pad2;
};

/* What the child needs: in fork mode it lives in the child's copy of the
 * parent memory; in exec mode it is rebuilt from struct xf_args. */
struct xcode_child_args {
	const char *format; /* forced demuxer name */
	uint64_t size;	    /* input size */
	enum xcode_output output;
	int64_t max_duration_s;
	uint64_t max_work; /* samples x channels (XCODE_FAIL_WORK) */
	uint64_t mem_limit;
	int64_t cpu_s;
	enum xcode_hook hook;
	/* XCODE_OUT_WM_DETECT, XCODE_OUT_AB: the mark's key-less pattern seed
	 * (WM_SEED_BYTES; in exec mode the message right after struct
	 * xf_args); XCODE_OUT_AB: the strength. */
	const uint8_t *wm_seed;
	const struct xcode_mark *mark; /* XCODE_OUT_MARKED_*; exec mode: sent after xf_args */
	float wm_strength;
};

/* ---- child side (UNTRUSTED input) ------------------------------------------ */

/* The child's whole life: sandbox, transcode, report. Returns the exit code. */
int xcode_child_main(const struct xcode_child_args *a);

/* Run the test hook h in the sandboxed child (xcode_hooks.c): 0 at once for
 * XCODE_HOOK_NONE; the misbehaviour h names in a test build (AM_TEST_HOOKS);
 * AM_ERR_UNSUPPORTED for any other h in a release build, which has none. */
int xcode_child_hook(enum xcode_hook h);

/* Apply rlimits, close fds > 1 (> 2 under ASan), no_new_privs, not dumpable,
 * and load the seccomp filter. 0 or a negative am_err. */
int xcode_sandbox_enter(const struct xcode_child_args *a);

/* Send one frame; 0 or AM_ERR_IO. */
int xcode_send(uint32_t type, const void *p, size_t n);
/* Send a failure report (msg may be NULL). */
void xcode_send_fail(enum xcode_fail f, const char *msg);
/* The same, naming the figure over a limit (what, value). */
void xcode_send_fail_limit(enum xcode_fail f, enum xf_limit what, int64_t value, const char *msg);

/* A head-patched output stream in the child: bytes below head_cap stay in
 * memory until xc_out_finish; above it, a tail window of tail_cap bytes can
 * still be overwritten (the muxer patching a size field); anything older
 * has gone to the parent, and a write there fails the job loudly. */
struct xc_out {
	uint32_t body_type, head_type;
	uint8_t *head;
	size_t head_cap;
	uint8_t *tail;
	size_t tail_cap, tail_alloc, tail_n; /* window limit, allocated, used */
	int holding;			     /* xc_out_hold: grow, never flush */
	uint64_t tail_off;		     /* file offset of tail[0] */
	uint64_t pos;			     /* current write position */
	uint64_t size;			     /* bytes written so far (highest end) */
	int failed;
	int fd; /* > 0: a file (xcode_ab_write's renditions), written with pwrite */
};

int xc_out_init(struct xc_out *o, uint32_t body_type, uint32_t head_type, size_t head_cap,
		size_t tail_cap);
void xc_out_cleanup(struct xc_out *o);
int xc_out_write(struct xc_out *o, const void *p, size_t n);
int xc_out_seek(struct xc_out *o, uint64_t pos);
/* From now on keep everything written in memory (up to max bytes) and never
 * flush before xc_out_finish: whatever FFmpeg's MP3 muxer writes in its
 * trailer stays patchable while it rewrites its Xing frame. */
#define XCODE_TRAILER_MAX (32u << 20)
int xc_out_hold(struct xc_out *o, size_t max);
/* Flush the tail, then send the head. */
int xc_out_finish(struct xc_out *o);

/* Make the fill of one AAC-LC raw_data_block au (n bytes, ending with
 * ID_END and zero byte alignment, as FFmpeg's encoder writes it) exactly
 * target bytes long (n <= target <= cap of au): the ID_END is replaced by
 * fill elements (ID_FIL, EXT_FILL_DATA: 0000 nibble, then 0xA5 bytes) and
 * a new ID_END. 0, or AM_ERR_INVAL (no ID_END; target < n; too far). */
#define XC_AAC_PAD_MAX 4096 /* bytes added to one block at most */
int xc_aac_pad(uint8_t *au, size_t n, size_t target);

/* Renditions A and B fed chunk by chunk (xcode_ab.c; xcode_ab_write is one
 * feed of the whole buffers). Each rendition is an xc_out of the given
 * frame types and head length, into fd (> 0, pwrite) or to the parent (0).
 * new(): ob NULL encodes A alone, unpadded; sizes non-NULL receives each
 * unit's padded size as a native u32 (the layout then keeps no array).
 * feed(): frames x ch interleaved float of A and of B (pb NULL without B);
 * every feed but the last must be a multiple of the frame size (1024).
 * finish(): flush, write both MP4 trailers and heads, finish sizes, and
 * move the layout into *l (NULL: not wanted). 0 or a negative am_err. */
struct xc_ab;
struct xc_ab_out {
	uint32_t body_type, head_type;
	size_t head_cap;
	int fd;
};
struct xcode_ab_layout;
int xc_ab_new(unsigned ch, unsigned rate, const struct xc_ab_out *oa, const struct xc_ab_out *ob,
	      struct xc_out *sizes, struct xc_ab **out);
int xc_ab_feed(struct xc_ab *w, const float *pa, const float *pb, size_t frames);
int xc_ab_finish(struct xc_ab *w, struct xcode_ab_layout *l);
void xc_ab_free(struct xc_ab *w);

/* ---- the child's job (child.c: input and decoding, child_enc.c: outputs) ---- */
struct AVFormatContext;
struct AVIOContext;
struct AVCodecContext;
struct AVStream;
struct AVFrame;
struct AVPacket;
struct SwrContext;
struct AVAudioFifo;

struct xc_job {
	const struct xcode_child_args *a;
	enum xcode_fail fail;
	char msg[156];
	enum xf_limit limit; /* with fail: the figure over a limit, for the owner */
	int64_t limit_value;
	/* input */
	struct AVFormatContext *ic;
	struct AVIOContext *in_pb;
	uint64_t in_pos;
	int64_t data_off;    /* input position after the header (WAV: the data) */
	int64_t declared_us; /* length the container states exactly, or -1 */
	struct AVCodecContext *dec;
	struct AVStream *st;
	int rate, ch, in_fmt;
	uint64_t samples, max_samples;
	unsigned permille;
	/* analysis: s16 for the peaks, float (unclipped) for the meter */
	struct SwrContext *swr_s16, *swr_flt;
	int16_t *s16;
	float *flt;
	int s16_cap;
	struct xc_r128 *meter;	  /* spawned before the sandbox (child_r128.c) */
	struct xc_r128 *smeter;	  /* peak only, for the rendition; spawned with meter */
	struct xc_rmeter *rmeter; /* the rendition's decoder over smeter (child_rmeter.c) */
	struct xc_peaks *pk;
	struct xc_out stream, peaks, overview;
	/* rendition: MP4 by child_mp4.c, MP3 by FFmpeg's muxer (oc) */
	struct xc_mp4 *mp4;
	struct AVFormatContext *oc;
	struct AVIOContext *out_pb;
	struct AVCodecContext *enc;
	struct AVStream *ost;
	struct SwrContext *swr_enc;
	struct AVAudioFifo *fifo;
	uint8_t **encbuf;
	int encbuf_cap;
	struct AVFrame *eframe;
	struct AVPacket *opkt;
	int64_t next_pts;
	struct xc_wav *wav;	/* XCODE_OUT_PCM{,_COUNT} (child_wav.c) */
	struct xc_wmdet *wmdet; /* XCODE_OUT_WM_DETECT (child_wmdet.c) */
	struct xc_markdl *mdl;	/* XCODE_OUT_MARKED_* (child_markdl.c) */
	struct xc_abjob *ab;	/* XCODE_OUT_AB (child_ab.c) */
};

/* XCODE_OUT_AB (child_ab.c): renditions A and B of the decoded audio,
 * marked piece by piece at 44.1 kHz, to the stream and peaks outputs,
 * their layout (u32 unit sizes) to the overview output. */
int xc_ab_open(struct xc_job *j, const struct AVFrame *f);
int xc_ab_frame(struct xc_job *j, const struct AVFrame *f);
int xc_ab_done(struct xc_job *j);
void xc_ab_close(struct xc_job *j);

/* Record why the job failed (first reason wins); returns AM_ERR_INVAL. */
int xc_fail(struct xc_job *j, enum xcode_fail f, const char *msg);
/* The same for a file over a limit (XCODE_FAIL_UNSUPPORTED): value is the
 * file's figure, reported to the parent as a number. */
int xc_fail_limit(struct xc_job *j, enum xf_limit what, int64_t value, const char *msg);
/* On the first decoded frame: encoder, muxer, resamplers, loudness, peaks. */
int xc_outputs_open(struct xc_job *j, const struct AVFrame *f);
/* Analyse and encode one decoded frame. */
int xc_outputs_frame(struct xc_job *j, const struct AVFrame *f);
/* Flush the encoder, write the trailer, finish peaks and send XF_INFO. */
int xc_outputs_finish(struct xc_job *j);
void xc_outputs_close(struct xc_job *j);
/* What child.c's decode loop calls (child_wav.c): the PCM modes' output
 * or the four above; xc_opened says whether the first frame opened it. */
int xc_opened(const struct xc_job *j);
int xc_open(struct xc_job *j, const struct AVFrame *f);
int xc_frame(struct xc_job *j, const struct AVFrame *f);
int xc_finish(struct xc_job *j);
void xc_close(struct xc_job *j);
/* The detect mode (child_wmdet.c), dispatched by child_wav.c's xc_*. */
int xc_wmdet_mode(const struct xc_job *j);
int xc_wmdet_open(struct xc_job *j, const struct AVFrame *f);
int xc_wmdet_frame(struct xc_job *j, const struct AVFrame *f);
int xc_wmdet_finish(struct xc_job *j);
void xc_wmdet_close(struct xc_job *j);

/* The rendition's constant-memory MP4 writer (child_mp4.c): new() writes
 * the ftyp and the mdat header, packet() one AAC packet (its duration in
 * 1/rate units, frame_size if unset), finish() the moov, then patches the
 * mdat size in o's head; samples is the length fed to the encoder. */
struct xc_mp4;
#define XC_MP4_DATA_AT 44 /* the first access unit: after ftyp 28, free 8, mdat 8 */
int xc_mp4_new(struct xc_out *o, const struct AVCodecContext *enc, struct xc_mp4 **out);
int xc_mp4_packet(struct xc_mp4 *m, const struct AVPacket *pkt, int frame_size);
int xc_mp4_finish(struct xc_mp4 *m, uint64_t samples);
void xc_mp4_free(struct xc_mp4 *m);

/* The loudness meter thread (child_r128.c). spawn() runs before the
 * sandbox, for at most max_ch channels (peak_only: true peak alone);
 * start() once the format is known (map: EBUR128 channel or -1 for the
 * default, NULL: all default); add() copies interleaved float samples;
 * finish() joins and reads loudness, range, true peak and the meter flags
 * for a file of frames samples per channel; peak() joins and reads the
 * true peak alone (dBTP, -inf for silence).
 * A peak-only meter can take encoded packets instead of samples: set_decoder()
 * before start() gives it dec, which runs on the meter thread, is handed each
 * block of records that add_bytes() packed (n bytes at p; p NULL once at the
 * end: drain), feeds the samples it decodes to tp and returns 0 or an error;
 * add_bytes() copies one record of n bytes (AM_ERR_INVAL if it cannot fit a
 * block, AM_ERR_INTERNAL after the thread failed). join() ends the thread
 * (once the last block and the drain are done); free() joins first. */
struct xc_r128;
struct xc_tpeak;
typedef int (*xc_r128_dec_fn)(void *ctx, const uint8_t *p, size_t n, struct xc_tpeak *tp);
int xc_r128_spawn(struct xc_r128 **out, int max_ch, int peak_only);
int xc_r128_set_decoder(struct xc_r128 *r, xc_r128_dec_fn dec, void *ctx);
int xc_r128_start(struct xc_r128 *r, int ch, int rate, const int map[XCODE_MAX_CHANNELS]);
int xc_r128_add(struct xc_r128 *r, const float *s, size_t frames);
int xc_r128_add_bytes(struct xc_r128 *r, const void *p, size_t n);
void xc_r128_join(struct xc_r128 *r);
int xc_r128_finish(struct xc_r128 *r, uint64_t frames, struct xf_info *in);
int xc_r128_peak(struct xc_r128 *r, double *dbtp);
void xc_r128_free(struct xc_r128 *r);

/* True peak exactly as libebur128's EBUR128_MODE_TRUE_PEAK measures it,
 * faster (child_tpeak.c): new() for ch interleaved channels at rate
 * (AM_ERR_NOMEM); add() meters float frames; max() is the largest true or
 * sample peak of any channel so far (linear, 1.0 = 0 dBTP). */
struct xc_tpeak;
int xc_tpeak_new(unsigned ch, unsigned long rate, struct xc_tpeak **out);
void xc_tpeak_add(struct xc_tpeak *t, const float *s, size_t frames);
void xc_tpeak_portable(struct xc_tpeak *t); /* tests: the SSE2 filter even where AVX2 is */
double xc_tpeak_max(const struct xc_tpeak *t);
void xc_tpeak_free(struct xc_tpeak *t);

/* The rendition's true peak (child_rmeter.c): new() opens a decoder for
 * what enc produces, over the peak-only meter m (borrowed; started here,
 * and the decoder runs on its thread); packet() hands over a copy of one
 * encoded packet; finish() drains the decoder and reads the peak; free()
 * joins m's thread before it frees the decoder that thread uses. */
struct xc_rmeter;
int xc_rmeter_new(const struct AVCodecContext *enc, struct xc_r128 *m, struct xc_rmeter **out);
int xc_rmeter_packet(struct xc_rmeter *rm, const struct AVPacket *pkt);
int xc_rmeter_finish(struct xc_rmeter *rm, double *dbtp);
void xc_rmeter_free(struct xc_rmeter *rm);

/* Waveform peaks (audiowaveform .dat v2, 16-bit) and the overview, computed
 * from interleaved s16 samples. */
struct xc_peaks;
int xc_peaks_new(int channels, int rate, struct xc_out *detail, struct xc_out *overview,
		 struct xc_peaks **out);
int xc_peaks_add(struct xc_peaks *pk, const int16_t *s, size_t frames);
int xc_peaks_finish(struct xc_peaks *pk);
void xc_peaks_free(struct xc_peaks *pk);

/* The marked-original modes (child_markdl.c): whether the job is one, and
 * the four steps child_wav.c's dispatch calls for it. */
int xc_markdl_mode(const struct xc_job *j);
int xc_markdl_open(struct xc_job *j, const struct AVFrame *f);
int xc_markdl_frame(struct xc_job *j, const struct AVFrame *f);
int xc_markdl_finish(struct xc_job *j);
void xc_markdl_close(struct xc_job *j);

#endif
