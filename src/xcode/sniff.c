/*
 * sniff.c: choose the ONE FFmpeg demuxer a job may use from the input's
 * magic bytes. Runs in the trusted parent (worker role) on untrusted bytes,
 * so it only compares fixed offsets of a bounded buffer: no parsing beyond
 * an ID3v2 tag's syncsafe size. A name it returns is forced on the child
 * (the format whitelist alone still lets every demuxer probe).
 */
#include "xcode/xcode.h"

#include <string.h>

static int at(const uint8_t *b, size_t n, size_t off, const char *magic)
{
	size_t m = strlen(magic);

	return n >= off + m && memcmp(b + off, magic, m) == 0;
}

/* MPEG audio frame sync: 11 set bits, then version != reserved and layer. */
static const char *sniff_sync(const uint8_t *b, size_t n)
{
	int layer;

	if (n < 4 || b[0] != 0xff || (b[1] & 0xe0) != 0xe0)
		return NULL;
	layer = (b[1] >> 1) & 3;
	if ((b[1] & 0xf6) == 0xf0) /* 1111 0 00 x: MPEG-4 ADTS (layer 0) */
		return "aac";
	if (layer == 0 || ((b[1] >> 3) & 3) == 1) /* reserved layer / version */
		return NULL;
	if ((b[2] >> 4) == 0xf || ((b[2] >> 2) & 3) == 3) /* bad bitrate / rate */
		return NULL;
	return "mp3";
}

static const char *sniff_plain(const uint8_t *b, size_t n)
{
	if ((at(b, n, 0, "RIFF") || at(b, n, 0, "RF64") || at(b, n, 0, "BW64")) &&
	    at(b, n, 8, "WAVE"))
		return "wav";
	if (at(b, n, 0, "FORM") && (at(b, n, 8, "AIFF") || at(b, n, 8, "AIFC")))
		return "aiff";
	if (at(b, n, 0, "fLaC"))
		return "flac";
	if (at(b, n, 0, "OggS"))
		return "ogg";
	if (at(b, n, 4, "ftyp"))
		return "mov,mp4,m4a,3gp,3g2,mj2";
	return sniff_sync(b, n);
}

const char *xcode_sniff(const uint8_t *buf, size_t n, const struct xcode_source *src)
{
	uint8_t after[16];
	uint64_t tag;
	size_t got = 0;
	const char *f;

	if (!buf)
		return NULL;
	if (!at(buf, n, 0, "ID3") || n < 10)
		return sniff_plain(buf, n);
	/* ID3v2: 10-byte header, syncsafe size, optional 10-byte footer. */
	if ((buf[6] | buf[7] | buf[8] | buf[9]) & 0x80)
		return NULL;
	tag = 10 + (((uint64_t)buf[6] << 21) | ((uint64_t)buf[7] << 14) | ((uint64_t)buf[8] << 7) |
		    buf[9]);
	if (buf[5] & 0x10)
		tag += 10;
	if (tag + 4 <= n) {
		got = n - tag < sizeof(after) ? (size_t)(n - tag) : sizeof(after);
		memcpy(after, buf + tag, got);
	} else if (src && src->read_at && tag < src->size) {
		if (src->read_at(src->ctx, tag, after, sizeof(after), &got) != 0)
			return NULL;
	}
	if (got < 4)
		return NULL;
	/* Only the stream formats carry ID3v2 in front (FLAC tolerates it too). */
	if (at(after, got, 0, "fLaC"))
		return "flac";
	f = sniff_sync(after, got);
	return f;
}
