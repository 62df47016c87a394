/*
 * child_peaks.c: waveform peaks in BBC audiowaveform's .dat version 2 format
 * (16-bit, 512 samples per pixel) and a <= 2,000-point overview, from the
 * decoded samples as interleaved s16. Runs in the UNTRUSTED sandboxed child.
 *
 * .dat v2 header (24 bytes, little-endian): i32 version = 2, u32 flags (0 =
 * 16-bit), i32 sample rate, i32 samples per pixel, u32 length (pixels), i32
 * channels; then per pixel, per channel, i16 min, i16 max (little-endian):
 * the s16 extremes themselves. 16 bits, not 8: a quiet master (peaking at
 * -38 dBFS) kept only the values 0 and +-1 in 8 bits, a blocky outline the
 * player's normalisation could only enlarge.
 *
 * The overview keeps at most 2·XCODE_OVERVIEW_POINTS points in memory: when
 * full, neighbours merge and its samples per pixel double; at the end it
 * merges by the integer factor that brings it to <= XCODE_OVERVIEW_POINTS.
 * Every overview pixel covers whole detailed pixels, so it is exact.
 */
#include "xcode/xcode_int.h"

#include <stdlib.h>
#include <string.h>

#define OV_CAP	   (2 * XCODE_OVERVIEW_POINTS)
#define DAT_HEADER 24

struct xc_peaks {
	int ch, rate;
	struct xc_out *detail, *overview;
	int n; /* samples in the current detailed pixel */
	int16_t mn[XCODE_MAX_CHANNELS], mx[XCODE_MAX_CHANNELS];
	uint64_t pixels;
	int16_t (*ov)[XCODE_MAX_CHANNELS][2]; /* OV_CAP points */
	size_t ov_n;			      /* complete overview points */
	uint64_t ov_factor;		      /* detailed pixels per overview point */
	uint64_t ov_in;			      /* detailed pixels in the current point */
	int16_t cur[XCODE_MAX_CHANNELS][2];
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void dat_header(uint8_t h[DAT_HEADER], int rate, uint32_t spp, uint32_t len, int ch)
{
	put32(h, 2);
	put32(h + 4, 0); /* 16-bit */
	put32(h + 8, (uint32_t)rate);
	put32(h + 12, spp);
	put32(h + 16, len);
	put32(h + 20, (uint32_t)ch);
}

int xc_peaks_new(int channels, int rate, struct xc_out *detail, struct xc_out *overview,
		 struct xc_peaks **out)
{
	struct xc_peaks *pk;
	uint8_t h[DAT_HEADER];

	*out = NULL;
	if (channels < 1 || channels > XCODE_MAX_CHANNELS)
		return AM_ERR_INVAL;
	if (!(pk = calloc(1, sizeof(*pk))) || !(pk->ov = calloc(OV_CAP, sizeof(*pk->ov)))) {
		free(pk);
		return AM_ERR_NOMEM;
	}
	pk->ch = channels;
	pk->rate = rate;
	pk->detail = detail;
	pk->overview = overview;
	pk->ov_factor = 1;
	dat_header(h, rate, XCODE_PEAKS_SPP, 0, channels); /* patched at the end */
	*out = pk;
	return xc_out_write(detail, h, sizeof(h));
}

void xc_peaks_free(struct xc_peaks *pk)
{
	if (!pk)
		return;
	free(pk->ov);
	free(pk);
}

static void ov_merge_pairs(struct xc_peaks *pk)
{
	size_t j = 0;

	for (size_t i = 0; i < pk->ov_n; i += 2, j++) {
		for (int c = 0; c < pk->ch; c++) {
			int16_t mn = pk->ov[i][c][0], mx = pk->ov[i][c][1];

			if (i + 1 < pk->ov_n) {
				mn = pk->ov[i + 1][c][0] < mn ? pk->ov[i + 1][c][0] : mn;
				mx = pk->ov[i + 1][c][1] > mx ? pk->ov[i + 1][c][1] : mx;
			}
			pk->ov[j][c][0] = mn;
			pk->ov[j][c][1] = mx;
		}
	}
	pk->ov_n = j;
	pk->ov_factor *= 2;
}

/* n points of ch channels, as little-endian i16 min/max pairs. */
static int write_points(struct xc_out *o, int16_t (*pts)[XCODE_MAX_CHANNELS][2], size_t n, int ch)
{
	uint8_t b[XCODE_MAX_CHANNELS * 4];
	int rc;

	for (size_t i = 0; i < n; i++) {
		for (int c = 0; c < ch; c++)
			for (int k = 0; k < 2; k++) {
				uint16_t v = (uint16_t)pts[i][c][k];

				b[c * 4 + k * 2] = (uint8_t)v;
				b[c * 4 + k * 2 + 1] = (uint8_t)(v >> 8);
			}
		if ((rc = xc_out_write(o, b, (size_t)ch * 4)))
			return rc;
	}
	return 0;
}

/* One detailed pixel is complete: emit it and fold it into the overview. */
static int emit_pixel(struct xc_peaks *pk)
{
	int16_t px[1][XCODE_MAX_CHANNELS][2];

	for (int c = 0; c < pk->ch; c++) {
		px[0][c][0] = pk->mn[c];
		px[0][c][1] = pk->mx[c];
		if (pk->ov_in == 0 || px[0][c][0] < pk->cur[c][0])
			pk->cur[c][0] = px[0][c][0];
		if (pk->ov_in == 0 || px[0][c][1] > pk->cur[c][1])
			pk->cur[c][1] = px[0][c][1];
	}
	pk->pixels++;
	pk->n = 0;
	if (++pk->ov_in == pk->ov_factor) {
		memcpy(pk->ov[pk->ov_n++], pk->cur, sizeof(pk->cur));
		pk->ov_in = 0;
		if (pk->ov_n == OV_CAP)
			ov_merge_pairs(pk);
	}
	return write_points(pk->detail, px, 1, pk->ch);
}

int xc_peaks_add(struct xc_peaks *pk, const int16_t *s, size_t frames)
{
	int rc;

	for (size_t i = 0; i < frames; i++, s += pk->ch) {
		if (pk->n == 0) {
			for (int c = 0; c < pk->ch; c++)
				pk->mn[c] = pk->mx[c] = s[c];
		} else {
			for (int c = 0; c < pk->ch; c++) {
				if (s[c] < pk->mn[c])
					pk->mn[c] = s[c];
				if (s[c] > pk->mx[c])
					pk->mx[c] = s[c];
			}
		}
		if (++pk->n == XCODE_PEAKS_SPP && (rc = emit_pixel(pk)))
			return rc;
	}
	return 0;
}

static int write_overview(struct xc_peaks *pk)
{
	uint64_t f = (pk->ov_n + XCODE_OVERVIEW_POINTS - 1) / XCODE_OVERVIEW_POINTS;
	uint8_t h[DAT_HEADER];
	size_t n = 0;
	int rc;

	if (f < 1)
		f = 1;
	for (size_t i = 0; i < pk->ov_n; i += f, n++) {
		int16_t pt[XCODE_MAX_CHANNELS][2];

		memcpy(pt, pk->ov[i], sizeof(pt));
		for (size_t j = i + 1; j < i + f && j < pk->ov_n; j++)
			for (int c = 0; c < pk->ch; c++) {
				pt[c][0] = pk->ov[j][c][0] < pt[c][0] ? pk->ov[j][c][0] : pt[c][0];
				pt[c][1] = pk->ov[j][c][1] > pt[c][1] ? pk->ov[j][c][1] : pt[c][1];
			}
		memcpy(pk->ov[n], pt, sizeof(pt));
	}
	dat_header(h, pk->rate, (uint32_t)(XCODE_PEAKS_SPP * pk->ov_factor * f), (uint32_t)n,
		   pk->ch);
	if ((rc = xc_out_write(pk->overview, h, sizeof(h))))
		return rc;
	return write_points(pk->overview, pk->ov, n, pk->ch);
}

/* The last, partial pixel counts (as in audiowaveform); then patch the
 * header's length and write the overview. */
int xc_peaks_finish(struct xc_peaks *pk)
{
	uint8_t h[DAT_HEADER];
	uint64_t end;
	int rc;

	if (pk->n > 0 && (rc = emit_pixel(pk)))
		return rc;
	if (pk->ov_in > 0) {
		memcpy(pk->ov[pk->ov_n++], pk->cur, sizeof(pk->cur));
		pk->ov_in = 0;
	}
	if (pk->pixels > UINT32_MAX)
		return AM_ERR_TOOBIG;
	dat_header(h, pk->rate, XCODE_PEAKS_SPP, (uint32_t)pk->pixels, pk->ch);
	end = pk->detail->pos;
	if ((rc = xc_out_seek(pk->detail, 0)) || (rc = xc_out_write(pk->detail, h, sizeof(h))) ||
	    (rc = xc_out_seek(pk->detail, end)))
		return rc;
	return write_overview(pk);
}
