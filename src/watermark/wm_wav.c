/*
 * wm_wav.c: a small RIFF/WAVE reader and writer for `audiomus watermark`
 * and the tests: 16/24/32-bit integer and 32-bit float PCM in, 16-bit PCM
 * (TPDF-dithered) or 32-bit float out. Runs with the operator's privileges;
 * the file read may be a suspect file from anyone: every chunk size is
 * checked against the file and WM_MAX_SECONDS.
 */
#include "watermark/watermark.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

static uint32_t le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint16_t le16(const uint8_t *b)
{
	return (uint16_t)(b[0] | b[1] << 8);
}

struct fmt {
	unsigned tag, channels, rate, bits;
};

static int parse_fmt(const uint8_t *b, uint32_t n, struct fmt *f)
{
	if (n < 16)
		return AM_ERR_INVAL;
	f->tag = le16(b);
	f->channels = le16(b + 2);
	f->rate = le32(b + 4);
	f->bits = le16(b + 14);
	if (f->tag == 0xFFFE && n >= 26) /* WAVE_FORMAT_EXTENSIBLE: the sub-format's tag */
		f->tag = le16(b + 24);
	if (f->channels < 1 || f->channels > 8 || f->rate < 8000 || f->rate > 192000)
		return AM_ERR_UNSUPPORTED;
	if (!(f->tag == 1 && (f->bits == 16 || f->bits == 24 || f->bits == 32)) &&
	    !(f->tag == 3 && f->bits == 32))
		return AM_ERR_UNSUPPORTED;
	return 0;
}

static float sample(const uint8_t *b, const struct fmt *f)
{
	float v;

	if (f->tag == 3) {
		memcpy(&v, b, 4);
		return isfinite(v) ? v : 0.0f;
	}
	if (f->bits == 16)
		return (float)(int16_t)le16(b) / 32768.0f;
	if (f->bits == 24)
		return (float)((int32_t)((uint32_t)b[0] << 8 | (uint32_t)b[1] << 16 |
					 (uint32_t)b[2] << 24) >>
			       8) /
		       8388608.0f;
	return (float)((double)(int32_t)le32(b) / 2147483648.0);
}

static int decode_data(FILE *fp, uint32_t size, const struct fmt *f, struct wm_audio *a)
{
	size_t bps = f->bits / 8, frame = bps * f->channels, n = size / frame;
	uint8_t buf[8 * 4 * 256];
	size_t done = 0;
	struct stat st;
	long pos = ftell(fp);

	/* A header may claim more than the file holds (a stream's 0xFFFFFFFF):
	 * allocate for what is there. */
	if (pos >= 0 && fstat(fileno(fp), &st) == 0 && st.st_size >= pos &&
	    (uint64_t)(st.st_size - pos) / frame < n)
		n = (size_t)((uint64_t)(st.st_size - pos) / frame);
	if (n / f->rate > WM_MAX_SECONDS)
		return AM_ERR_TOOBIG;
	if (!(a->pcm = calloc(n ? n * f->channels : 1, sizeof(float))))
		return AM_ERR_NOMEM;
	while (done < n) {
		size_t want = n - done < 256 ? n - done : 256, got = fread(buf, frame, want, fp);

		for (size_t i = 0; i < got * f->channels; i++)
			a->pcm[done * f->channels + i] = sample(buf + i * bps, f);
		done += got;
		if (got < want)
			break; /* a cut file: keep what is there */
	}
	a->frames = done;
	a->channels = f->channels;
	a->rate = f->rate;
	a->bits = f->tag == 3 ? 33 : f->bits;
	return 0;
}

int wm_wav_read(const char *path, struct wm_audio *a)
{
	uint8_t hdr[12], ch[8], fb[64];
	struct fmt f = {0};
	FILE *fp;
	int rc = AM_ERR_INVAL, have_fmt = 0;

	memset(a, 0, sizeof(*a));
	if (!(fp = fopen(path, "rb")))
		return AM_ERR_IO;
	if (fread(hdr, 1, 12, fp) != 12 || memcmp(hdr, "RIFF", 4) || memcmp(hdr + 8, "WAVE", 4)) {
		rc = AM_ERR_UNSUPPORTED;
		goto out;
	}
	while (fread(ch, 1, 8, fp) == 8) {
		uint32_t n = le32(ch + 4);

		if (!memcmp(ch, "fmt ", 4)) {
			if (n > sizeof(fb) || fread(fb, 1, n, fp) != n ||
			    (rc = parse_fmt(fb, n, &f)))
				goto out;
			have_fmt = 1;
			if (n & 1)
				fseek(fp, 1, SEEK_CUR);
		} else if (!memcmp(ch, "data", 4)) {
			rc = have_fmt ? decode_data(fp, n, &f, a) : AM_ERR_INVAL;
			goto out;
		} else if (fseek(fp, (long)n + (n & 1), SEEK_CUR) != 0) {
			goto out;
		}
	}
out:
	fclose(fp);
	if (rc)
		wm_audio_cleanup(a);
	return rc;
}

static void put16(uint8_t *b, unsigned v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, v & 0xFFFF);
	put16(b + 2, v >> 16);
}

static void header(uint8_t h[44], const struct wm_audio *a, uint32_t data)
{
	unsigned bits = a->bits == 33 ? 32 : 16;

	memcpy(h, "RIFF", 4);
	put32(h + 4, 36 + data);
	memcpy(h + 8, "WAVEfmt ", 8);
	put32(h + 16, 16);
	put16(h + 20, a->bits == 33 ? 3 : 1);
	put16(h + 22, a->channels);
	put32(h + 24, a->rate);
	put32(h + 28, a->rate * a->channels * bits / 8);
	put16(h + 32, a->channels * bits / 8);
	put16(h + 34, bits);
	memcpy(h + 36, "data", 4);
	put32(h + 40, data);
}

/* Encode one sample; dither state in *rng (xorshift). */
static size_t encode(uint8_t *b, float v, int as_float, uint32_t *rng)
{
	if (as_float) {
		memcpy(b, &v, 4);
		return 4;
	}
	float d = 0;
	for (int i = 0; i < 2; i++) { /* TPDF: the sum of two uniform values, ±1 LSB */
		*rng ^= *rng << 13;
		*rng ^= *rng >> 17;
		*rng ^= *rng << 5;
		d += ((float)(*rng & 0xFFFF) / 65536.0f - 0.5f);
	}
	float s = v * 32768.0f + d;
	long q = lrintf(s < -32768.0f ? -32768.0f : s > 32767.0f ? 32767.0f : s);
	put16(b, (unsigned)(q & 0xFFFF));
	return 2;
}

int wm_wav_write(const char *path, const struct wm_audio *a)
{
	int as_float = a->bits == 33, fd = -1, rc = AM_ERR_IO;
	size_t bps = as_float ? 4 : 2, total = a->frames * a->channels;
	uint8_t h[44], buf[4096];
	uint32_t rng = 0x9E3779B9u;
	FILE *fp = NULL;

	if (!a->pcm || a->channels < 1 || total * bps > UINT32_MAX - 64)
		return AM_ERR_INVAL;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    !(fp = fdopen(fd, "wb")))
		goto out;
	fd = -1;
	header(h, a, (uint32_t)(total * bps));
	if (fwrite(h, 1, 44, fp) != 44)
		goto out;
	for (size_t i = 0; i < total;) {
		size_t used = 0;

		while (i < total && used + 4 <= sizeof(buf))
			used += encode(buf + used, a->pcm[i++], as_float, &rng);
		if (fwrite(buf, 1, used, fp) != used)
			goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (fp && fclose(fp) != 0)
		rc = AM_ERR_IO;
	return rc;
}

void wm_audio_cleanup(struct wm_audio *a)
{
	free(a->pcm);
	memset(a, 0, sizeof(*a));
}
