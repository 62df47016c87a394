/*
 * watermark: the inaudible, keyed mark that names a listening (issue 26,
 * docs/watermark.md): embed a 64-bit payload into float PCM and find it
 * again in a copy that was cut, re-encoded, resampled, folded or turned up or
 * down. Spread spectrum on a short-time Fourier transform (Bender et al.
 * 1996; Kirovski & Malvar 2003): per 1024-sample frame at 44.1 kHz the
 * magnitudes of key-chosen bins between 0.86 and 8.2 kHz are raised or
 * lowered by a small factor; some bins carry a key-chosen sync sequence,
 * the rest the payload, protected by a keyed 32-bit tag and a rate-1/2
 * convolutional code, one coded bit per fragment of 6 frames (6144 samples)
 * repeating every 1224 frames (28.4 s). Because a fragment's mark depends
 * only on its one coded bit, two renditions marked with every bit 0 (A)
 * and every bit 1 (B) can be stitched fragment by fragment into any
 * listener's payload (segment variants).
 * Pure computation on caller buffers: no I/O but the WAV helpers, no
 * global state. Runs where audio is marked or traced; the PCM it reads may
 * come from anyone (a suspect file): every size is checked.
 */
#ifndef AM_WATERMARK_H
#define AM_WATERMARK_H

#include <stddef.h>
#include <stdint.h>

#define WM_PAYLOAD_BYTES    8	  /* the 64-bit payload */
#define WM_CODED_BITS	    204	  /* coded bits per period = fragments per period */
#define WM_RATE		    44100 /* the rate the mark is defined at */
#define WM_FRAGMENT	    6144  /* samples per fragment at WM_RATE */
#define WM_PERIOD	    (WM_CODED_BITS * WM_FRAGMENT) /* 1253376 samples, 28.42 s */
#define WM_STRENGTH_DEFAULT 0.2f /* relative magnitude change of a marked bin */
#define WM_STRENGTH_MAX	    0.6f
#define WM_MAX_SECONDS	    (4 * 3600) /* longest input either direction accepts */

struct crypto_wm_key;
struct wm_pattern;

/* The carrier pattern, sync sequence and interleaver of key k (borrowed: it
 * must outlive the pattern, whose payload tag is computed under it). Returns
 * an owned pattern in *out. AM_ERR_NOMEM, AM_ERR_CRYPTO. */
int wm_pattern_new(const struct crypto_wm_key *k, struct wm_pattern **out);
/* Accepts NULL. */
void wm_pattern_free(struct wm_pattern *p);

/* The pattern without its key, for a process that must not hold the key (the
 * sandboxed transcode child): the seed is the PRF output the pattern is
 * drawn from, PRF(WK, "am-wm-pattern-v1"); it reveals neither WK nor any
 * payload's tag. wm_pattern_seed: 0 or AM_ERR_CRYPTO (zero the seed after
 * use). wm_pattern_from_seed: an owned pattern that embeds by coded bits
 * (wm_embed_bits, or wm_embed with a variant) and finds sync, but cannot
 * tag: wm_embed with a payload, wm_fragment_bits and the tag check of
 * wm_detect return AM_ERR_CRYPTO with it. 0 or AM_ERR_NOMEM. */
#define WM_SEED_BYTES 4096
int wm_pattern_seed(const struct crypto_wm_key *k, uint8_t seed[WM_SEED_BYTES]);
int wm_pattern_from_seed(const uint8_t seed[WM_SEED_BYTES], struct wm_pattern **out);

/* The coded bit each fragment of a period carries for payload: bits[j] is
 * 0 or 1 for fragment j (global fragment g of a track carries bits[g mod
 * WM_CODED_BITS]). This is the serving plan: fragment g comes from
 * rendition A if the bit is 0, B if it is 1. 0 or AM_ERR_CRYPTO. */
int wm_fragment_bits(const struct wm_pattern *p, const uint8_t payload[WM_PAYLOAD_BYTES],
		     uint8_t bits[WM_CODED_BITS]);

/* What wm_embed measured: the mark-to-signal ratio in the marked band, over
 * the whole input and in the worst 1/3-octave band (dB; the measure of
 * docs/watermark.md "Inaudibility"). */
struct wm_embed_stats {
	double msr_db;	     /* 10·log10(mark energy / signal energy), 0.86-8.2 kHz */
	double msr_worst_db; /* the highest per-band value */
};

/* Mark pcm in place: frames × channels interleaved float samples at rate
 * (8000..192000 Hz; 44100 is native, other rates are resampled for the
 * analysis and the mark resampled back), with payload, or when payload is
 * NULL with every coded bit = variant (0 or 1: rendition A or B). strength
 * in (0, WM_STRENGTH_MAX]. The same mark goes into every channel, so
 * folding to mono keeps it. stats may be NULL. 0, AM_ERR_INVAL (bad
 * argument), AM_ERR_TOOBIG (longer than WM_MAX_SECONDS), AM_ERR_NOMEM,
 * AM_ERR_CRYPTO. */
int wm_embed(const struct wm_pattern *p, const uint8_t payload[WM_PAYLOAD_BYTES], int variant,
	     float strength, float *pcm, size_t frames, unsigned channels, unsigned rate,
	     struct wm_embed_stats *stats);

/* The verdict of wm_detect. found is 1 only when a decoded payload's keyed
 * 32-bit tag matched: the false-identification bound of docs/watermark.md
 * "Decision rule" (at most WM_DECODE_TRIES × 2^-32 per input). */
#define WM_DECODE_TRIES 3
struct wm_result {
	int found;
	uint8_t payload[WM_PAYLOAD_BYTES];
	double confidence; /* agreement of the soft bits with the codeword, -1..1 */
	double sync_z;	   /* best sync correlation in standard deviations */
	double offset_s;   /* where, in the input, a period starts (seconds) */
	int tries;	   /* candidates decoded (for the tests: the rule ran) */
};

/* wm_embed with the coded bits given (bits[j] 0 or 1 for fragment slot j, as
 * wm_fragment_bits returns them): what a key-less process uses when its
 * parent computed a listener's bits. Same arguments and errors. */
int wm_embed_bits(const struct wm_pattern *p, const uint8_t bits[WM_CODED_BITS], float strength,
		  float *pcm, size_t frames, unsigned channels, unsigned rate,
		  struct wm_embed_stats *stats);

/* wm_embed_bits for a piece of a track: pcm holds the track's samples from
 * sample start on (start a multiple of wm_stream_quantum(rate), so that it
 * falls on a sample at 44.1 kHz too). The mark written is the track's own
 * (its frame grid and period counted from the track's first sample) for
 * every frame of the grid wholly inside the piece; near both ends of the
 * piece it lacks the neighbours' context (a partial frame, the resampler's
 * filter), so a caller cuts a track into overlapping pieces (wm_stream
 * below). Same errors, and AM_ERR_INVAL for a start off the quantum. */
int wm_embed_bits_at(const struct wm_pattern *p, const uint8_t bits[WM_CODED_BITS], float strength,
		     float *pcm, size_t frames, unsigned channels, unsigned rate, uint64_t start,
		     struct wm_embed_stats *stats);

/* ---- marking a stream in constant memory (wm_stream.c) ---------------------
 * Samples go in as they are decoded; marked samples come out through out()
 * in the same order, some seconds later, each piece marked by
 * wm_embed_bits_at over a window with a margin on both sides (at least two
 * frames and the resampler's filter), so the result equals wm_embed_bits on
 * the whole track up to float rounding (tests/unit/watermark/test_wm_stream.c
 * states the tolerance). Memory: (core + 2 margins) x channels floats, twice. */
struct wm_stream;
/* The sample step at rate on which a piece may start: rate / gcd(rate, 44100)
 * (1 at 44.1 kHz and 22.05 kHz, 160 at 48 kHz); 0 for rate 0. */
uint64_t wm_stream_quantum(unsigned rate);
/* out(ctx, pcm, frames): marked samples (frames x channels interleaved,
 * borrowed for the call); a non-zero return stops the stream with it. */
typedef int wm_stream_out_fn(void *ctx, const float *pcm, size_t frames);
/* A stream marking with bits at strength, for channels and rate (as
 * wm_embed_bits). core_frames: samples per piece (0: about 10 s; rounded up
 * to the quantum). p and bits are borrowed (bits copied). 0, AM_ERR_INVAL,
 * AM_ERR_NOMEM. */
int wm_stream_new(const struct wm_pattern *p, const uint8_t bits[WM_CODED_BITS], float strength,
		  unsigned channels, unsigned rate, size_t core_frames, wm_stream_out_fn *out,
		  void *ctx, struct wm_stream **s);
/* Feed frames x channels interleaved samples (any count). 0, an error of
 * wm_embed_bits_at, or out()'s. */
int wm_stream_write(struct wm_stream *s, const float *pcm, size_t frames);
/* The end of the track: mark and emit what is held. 0 or an error. */
int wm_stream_finish(struct wm_stream *s);
/* Accepts NULL. */
void wm_stream_free(struct wm_stream *s);

/* Detection in two halves (docs/watermark.md "Tracer"): the key-less half
 * runs where the suspect audio is decoded (the sandboxed transcode child,
 * with a pattern from wm_pattern_from_seed) and returns the decoded
 * candidates; the keyed half (the tag check) runs in the process that holds
 * the key. wm_detect is exactly wm_detect_candidates then wm_decide. */
#define WM_CAND_INFO_BYTES 12 /* the decoded 96 info bits: payload, then its tag */
#define WM_DETECT_PERIODS  8  /* at most this much input is analysed */
struct wm_candidate {
	uint8_t info[WM_CAND_INFO_BYTES];
	double agreement; /* soft bits against the re-encoded info word, -1..1 */
	double sync_z;	  /* this candidate's sync correlation (standard deviations) */
	double offset_s;  /* where, in the input, a period starts (seconds) */
};
struct wm_candidates {
	int n; /* 0..WM_DECODE_TRIES, best sync first */
	struct wm_candidate c[WM_DECODE_TRIES];
};

/* The key-less half of wm_detect: same arguments and errors; fills *out
 * (every candidate decoded, none checked). Works with a seeded pattern. */
int wm_detect_candidates(const struct wm_pattern *p, const float *pcm, size_t frames,
			 unsigned channels, unsigned rate, struct wm_candidates *out);
/* The keyed half: the first candidate whose decoded tag is the keyed tag of
 * its payload is the mark (res->found, payload, confidence = its
 * agreement); res->sync_z is the first candidate's z when none matched.
 * cands is untrusted (it may come from the sandboxed child): n outside
 * 0..WM_DECODE_TRIES is AM_ERR_INVAL. 0, AM_ERR_INVAL, AM_ERR_CRYPTO
 * (a seeded pattern, which cannot tag). Links no FFmpeg code
 * (wm_decide.c): the keyed process may be `audiomus` itself. */
int wm_decide(const struct wm_pattern *p, const struct wm_candidates *cands, struct wm_result *res);

/* wm_embed_bits on a piece of a longer 44.1 kHz track: pcm (frames x
 * channels) starts at sample first of the track, a multiple of the frame
 * (1024). The mark's frames are independent at 44.1 kHz, so marking a track
 * piece by piece, each piece but the last a multiple of 1024 samples long,
 * writes exactly what marking it whole writes (test_pieces): what the
 * transcode child does in constant memory. Same errors; AM_ERR_INVAL for
 * an unaligned first. */
int wm_embed_piece(const struct wm_pattern *p, const uint8_t bits[WM_CODED_BITS], float strength,
		   float *pcm, size_t frames, unsigned channels, uint64_t first);
/* Look for a mark of pattern p in pcm (frames × channels interleaved float,
 * any rate 8000..192000; channels are averaged). Fills *res; 0 whether or
 * not a mark was found. AM_ERR_INVAL, AM_ERR_TOOBIG, AM_ERR_NOMEM,
 * AM_ERR_CRYPTO. */
int wm_detect(const struct wm_pattern *p, const float *pcm, size_t frames, unsigned channels,
	      unsigned rate, struct wm_result *res);

/* ---- WAV files (the `audiomus watermark` subcommand and the tests) ----------- */

struct wm_audio {
	float *pcm; /* frames × channels interleaved, owned */
	size_t frames;
	unsigned channels, rate;
	unsigned bits; /* of the file read: 16, 24, 32 (integer) or 32 float (bits 33) */
};

/* Read a RIFF/WAVE file of 16-, 24- or 32-bit integer or 32-bit float PCM,
 * 1..8 channels, at most WM_MAX_SECONDS. a is filled (free with
 * wm_audio_cleanup). AM_ERR_IO, AM_ERR_UNSUPPORTED (another format),
 * AM_ERR_INVAL (malformed), AM_ERR_TOOBIG, AM_ERR_NOMEM. */
int wm_wav_read(const char *path, struct wm_audio *a);
/* Write a as 16-bit PCM WAV (clipped, TPDF-dithered) or, when a->bits is
 * 33, as 32-bit float, to path (created or truncated, mode 0600).
 * AM_ERR_IO, AM_ERR_INVAL. */
int wm_wav_write(const char *path, const struct wm_audio *a);
/* Free a's samples and zero it; accepts an empty one. */
void wm_audio_cleanup(struct wm_audio *a);

/* `watermark OP ARGS` (argv[0] = "watermark"; the usage is `audiomus
 * watermark --help`, src/main/cmd_watermark.c): embed, detect, fragments.
 * Prints JSON on stdout; returns the exit status (detect: 0 found, 1 no
 * mark; 2 on any error). */
int wm_cli_main(int argc, char **argv);
/* A payload from its 2 * WM_PAYLOAD_BYTES hex digits (either case) into out:
 * 0, or -1 for anything else (NULL, another length, a non-hex digit). */
int wm_payload_parse(const char *s, uint8_t out[WM_PAYLOAD_BYTES]);

#endif
