/*
 * markers: review comments as marker files a DAW or audio editor imports
 * (issue 24, docs/web-ui.md "Comments into the DAW"): a Standard MIDI File
 * with Marker meta-events, a Reaper region/marker CSV, an Audacity label
 * track, an Adobe Audition marker file, and the chunks of a marked WAV
 * (cue, LIST/adtl, bext) with the scan of a WAV original's header they are
 * appended to. Pure formatting: no I/O, no database, no keys; the callers
 * (src/api/ for the text formats, src/media/ for the WAV, which carries
 * audio) fetch the comments and send the bytes. The WAV header scan reads
 * bytes of an uploaded original (untrusted) and is fuzzed
 * (fuzz/markers_wav.c).
 */
#ifndef AM_MARKERS_H
#define AM_MARKERS_H

#include <stddef.h>
#include <stdint.h>

struct am_buf;

/* One comment, borrowed for the call. Times in milliseconds from the
 * start of the version; end_ms < 0 (or <= time_ms) for a point. */
struct markers_comment {
	int64_t time_ms;
	int64_t end_ms;
	const char *author; /* the guest's name; NULL or "" for the owner */
	const char *text;   /* UTF-8 */
	int resolved;
	int is_reply;
};

/* Which comments, and how labels are written. */
#define MARKERS_RESOLVED 1u /* include resolved comments (default: open only) */
#define MARKERS_REPLIES	 2u /* include replies (default: top-level only) */
#define MARKERS_ASCII	 4u /* ASCII labels in every format (the SMF always is) */

#define MARKERS_LABEL_MAX     64     /* characters of a label, at most (default) */
#define MARKERS_AUTHOR_MAX    400    /* bytes of an author name, at most */
#define MARKERS_MAX	      10000  /* markers per file, at most */
#define MARKERS_TEMPO_MIN     20000  /* milli-BPM */
#define MARKERS_TEMPO_MAX     999000 /* milli-BPM */
#define MARKERS_DEFAULT_TEMPO 120000

struct markers_opts {
	unsigned flags;	     /* MARKERS_RESOLVED | MARKERS_REPLIES | MARKERS_ASCII */
	unsigned label_max;  /* characters (code points); 0: MARKERS_LABEL_MAX */
	uint32_t tempo_mbpm; /* SMF: tempo in milli-BPM; 0: 120 BPM */
	unsigned ts_num;     /* SMF: time signature (0: 4/4); ts_den a power of 2 */
	unsigned ts_den;
	const char *name;     /* SMF track name, bext description (NULL: "audiomus markers") */
	uint32_t sample_rate; /* WAV: frames per second (from the original's fmt chunk) */
	uint64_t frames;      /* WAV: frames in the original's data chunk (positions clamp to it) */
	int64_t now_s;	      /* WAV: bext origination date and time, seconds since the epoch */
};

enum markers_format {
	MARKERS_SMF = 0,      /* markers.mid */
	MARKERS_REAPER = 1,   /* markers-reaper.csv */
	MARKERS_AUDACITY = 2, /* markers-audacity.txt */
	MARKERS_AUDITION = 3, /* markers-audition.csv */
	MARKERS_WAV = 4,      /* the chunks appended to a marked WAV (markers_wav_chunks) */
};

/* Format name as used in the API ("smf", "reaper", "audacity", "audition",
 * "wav") and back: markers_format_parse gives the enum or AM_ERR_INVAL. */
const char *markers_format_name(enum markers_format f);
int markers_format_parse(const char *s);
/* File name of a format's download ("markers.mid", …) and its media type. */
const char *markers_file_name(enum markers_format f);
const char *markers_content_type(enum markers_format f);

/* Write the file of format f (one of the four text/MIDI formats) for the
 * comments c[0..n) (borrowed) into out (caller's, appended to), with the
 * selection and labels of o. Comments are sorted by time here (the input
 * order breaks ties). 0; AM_ERR_INVAL (bad option: tempo outside
 * [MARKERS_TEMPO_MIN, MARKERS_TEMPO_MAX], time signature, format);
 * AM_ERR_TOOBIG (more than MARKERS_MAX markers, or out's cap);
 * AM_ERR_NOMEM. */
int markers_write(enum markers_format f, const struct markers_opts *o,
		  const struct markers_comment *c, size_t n, struct am_buf *out);

/* The label of a comment as every format writes it: "author: text" ("owner"
 * for the owner), every control character (tab, newline…) a space, cut to
 * label_max characters on a character boundary with "…" ("..." in ASCII)
 * when longer; ascii: non-ASCII letters folded ("é" → "e"), others "?".
 * Invalid UTF-8 bytes become "?". 0 or AM_ERR_TOOBIG / AM_ERR_NOMEM. */
int markers_label(const struct markers_comment *c, unsigned label_max, int ascii,
		  struct am_buf *out);

/* prefix (may be NULL) + text as a label: control characters as spaces,
 * invalid bytes "?", ASCII folding when ascii, cut to max characters (at
 * least 4) with an ellipsis. Appends to out.
 * 0 or AM_ERR_TOOBIG / AM_ERR_NOMEM. */
int markers_text(const char *prefix, const char *text, unsigned max, int ascii, struct am_buf *out);

/* ---- marked WAV ---------------------------------------------------------------
 * A marked WAV is the original's bytes up to the end of its data chunk (the
 * header patched: RIFF size, or the RF64 ds64 size), the audio bytes
 * unchanged, then the chunks of markers_wav_chunks. Chunks after the data
 * chunk of the original are left out (a cue or adtl of its own would
 * contradict ours); chunks before it stay. */
struct markers_wav {
	int rf64;	     /* the original is RF64 (sizes in ds64) */
	uint16_t format_tag; /* fmt: 1 PCM, 3 float, 0xFFFE extensible */
	uint16_t channels;
	uint32_t sample_rate;
	uint16_t block_align; /* bytes per frame */
	int has_bext;	      /* a bext chunk precedes the data: ours is not added */
	uint64_t data_off;    /* first audio byte (the head is [0, data_off)) */
	uint64_t data_len;    /* audio bytes (clamped to the file) */
	uint64_t frames;      /* data_len / block_align */
	uint64_t pad_in_file; /* 1 when data_len is odd and the pad byte is in the file */
};

/* Scan the head of a WAV (RIFF/WAVE or RF64/WAVE) original: head[0..n) are
 * its first bytes (n may stop anywhere after the data chunk's header),
 * file_size its full size. Finds fmt (PCM, float or extensible; block
 * align > 0, 1–64 channels, 1 Hz – 1 MHz), ds64 for RF64, bext, and the
 * data chunk. 0; AM_ERR_UNSUPPORTED (not a WAV, another codec, no data
 * chunk within head); AM_ERR_INVAL (malformed). Never reads past n. */
int markers_wav_scan(const uint8_t *head, size_t n, uint64_t file_size, struct markers_wav *w);

/* The bytes of the marked WAV before the audio: head[0..w->data_off)
 * copied into out with the sizes patched for a file that continues with
 * w->data_len audio bytes (+ a pad byte) and tail_len bytes of chunks.
 * 0; AM_ERR_TOOBIG when a RIFF (not RF64) file would pass 4 GiB. */
int markers_wav_head(const uint8_t *head, const struct markers_wav *w, uint64_t tail_len,
		     struct am_buf *out);

/* The header of a marked WAV made from decoded audio (an original in
 * another format, decoded by the transcoding child): fmt (format_tag 1
 * PCM or 3 IEEE float, bits per sample 8–64, 1–64 channels, 1 Hz –
 * 1 MHz) and a data chunk of data_len bytes, for a file that continues
 * with those bytes and tail_len bytes (markers_wav_chunks' output, which
 * starts with the pad byte when data_len is odd).
 * RIFF (44 bytes) while the RIFF size fits 32 bits, else RF64 (80 bytes:
 * ds64 with the RIFF size, data size and sample count, the 32-bit fields
 * 0xFFFFFFFF). Appends to out and fills w as markers_wav_scan would for
 * that file (w->data_off the header's length). 0; AM_ERR_INVAL (bad
 * format); AM_ERR_TOOBIG / AM_ERR_NOMEM (out). */
int markers_wav_pcm_head(uint16_t format_tag, uint16_t bits, uint16_t channels,
			 uint32_t sample_rate, uint64_t data_len, uint64_t tail_len,
			 struct am_buf *out, struct markers_wav *w);

/* The chunks appended after the audio (a pad byte first when the data is
 * odd and its pad is not in the file): "cue " (one cue point per marker,
 * its frame in dwPosition and dwSampleOffset, fccChunk "data"), "LIST"
 * "adtl" (per marker "note" with the full "author: text", "labl" with the
 * label, and "ltxt" with purpose "rgn " and the length in frames for a
 * range, in this order),
 * and "bext" (version 1) unless w->has_bext. o->sample_rate and o->frames
 * come from w. 0; AM_ERR_INVAL; AM_ERR_TOOBIG; AM_ERR_NOMEM. */
int markers_wav_chunks(const struct markers_wav *w, const struct markers_opts *o,
		       const struct markers_comment *c, size_t n, struct am_buf *out);

#endif
