/*
 * watermark_int.h: shared by the files of src/watermark/ (and its unit
 * tests): the frame layout, the key-derived pattern, the code and the
 * transforms. Same process and trust boundary as watermark.h.
 */
#ifndef AM_WATERMARK_INT_H
#define AM_WATERMARK_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libavutil/tx.h>

#include "watermark/watermark.h"

#define WM_N		  1024 /* frame length at WM_RATE */
#define WM_BIN_LO	  20   /* 861 Hz */
#define WM_BIN_HI	  232  /* 9991 Hz, exclusive */
#define WM_BINS		  (WM_BIN_HI - WM_BIN_LO)
#define WM_SYNC_BINS	  40
#define WM_FRAMES_PER_BIT (WM_FRAGMENT / WM_N)
#define WM_PERIOD_FRAMES  (WM_CODED_BITS * WM_FRAMES_PER_BIT)
#define WM_TAG_BYTES	  4
#define WM_INFO_BYTES	  (WM_PAYLOAD_BYTES + WM_TAG_BYTES)
#define WM_INFO_BITS	  (8 * WM_INFO_BYTES)
#define WM_CONV_K	  7
#define WM_STEPS	  (WM_INFO_BITS + WM_CONV_K - 1)
#define WM_SEARCH_STEP	  64 /* sync search: offsets 0, 64, ..., 960 in a frame */

struct wm_pattern {
	const struct crypto_wm_key *key;
	int16_t bin[WM_BINS]; /* [0, WM_SYNC_BINS): sync bins; the rest data bins */
	int8_t sign[WM_BINS]; /* +1: raised when the frame's sign is +1 */
	int8_t sync[WM_PERIOD_FRAMES];
	int8_t scramble[WM_PERIOD_FRAMES];
	uint16_t perm[WM_CODED_BITS]; /* coded bit j rides in fragment perm[j] */
};

/* ---- the code (wm_code.c) ---- */
/* Rate-1/2, K = 7 convolutional code (generators 171, 133 octal) with a
 * zero tail: WM_INFO_BITS bits of info (MSB first) into WM_CODED_BITS. */
void wm_conv_encode(const uint8_t info[WM_INFO_BYTES], uint8_t coded[WM_CODED_BITS]);
/* Soft-decision Viterbi: soft[j] > 0 means coded bit j is more likely 0.
 * Writes the most likely info word. 0 or AM_ERR_NOMEM. */
int wm_viterbi(const float soft[WM_CODED_BITS], uint8_t info[WM_INFO_BYTES]);
/* The keyed 32-bit tag of payload. 0 or AM_ERR_CRYPTO. */
int wm_tag(const struct wm_pattern *p, const uint8_t payload[WM_PAYLOAD_BYTES],
	   uint8_t tag[WM_TAG_BYTES]);

/* ---- transforms (wm_fft.c) ---- */
struct wm_fft {
	AVTXContext *fwd, *inv;
	av_tx_fn fwd_fn, inv_fn;
	float *win;	      /* Hann, WM_N */
	float *buf;	      /* WM_N real */
	AVComplexFloat *spec; /* WM_N / 2 + 1 */
};
int wm_fft_init(struct wm_fft *f);
void wm_fft_cleanup(struct wm_fft *f);
/* spec = RDFT(win · x) for WM_N samples of x. */
void wm_fft_analyse(struct wm_fft *f, const float *x);
/* spec = RDFT(x), no window (the energy measure). */
void wm_fft_plain(struct wm_fft *f, const float *x);
/* The average of the channels of pcm, resampled to WM_RATE when rate
 * differs, at most max_out samples. Owned in *out (av_free). */
int wm_mono_44k(const float *pcm, size_t frames, unsigned channels, unsigned rate, size_t max_out,
		float **out, size_t *outn);
/* Resample n mono samples from one rate to another into exactly outn samples
 * (zero-padded or cut). Owned in *out (av_free). */
int wm_resample(const float *in, size_t n, unsigned from, unsigned to, size_t outn, float **out);

#endif
