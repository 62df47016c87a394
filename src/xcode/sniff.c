/*
 * sniff.c: choose the ONE FFmpeg demuxer a job may use from the input's
 * magic bytes. Runs in the trusted parent (worker role) on untrusted bytes,
 * so it only compares fixed offsets of a bounded buffer: no parsing beyond
 * an ID3v2 tag's syncsafe size. A name it returns is forced on the child
 * (the format whitelist alone still lets every demuxer probe).
 * xcode_sniff_other() names what a refused file is instead (WavPack, CAF,
 * W64, WebM, WMA, text, images...), so that an upload is refused with a
 * reason the owner can act on; the upload check (src/upload/upload_sniff.c)
 * uses both, so there is one sniffer, not two.
 */
#include "xcode/xcode.h"

#include <string.h>

static int at(const uint8_t *b, size_t n, size_t off, const char *magic)
{
	size_t m = strlen(magic);

	return n >= off + m && memcmp(b + off, magic, m) == 0;
}

/* Text in UTF-16 with a byte-order mark: FF FE (or FE FF) then characters
 * whose high (low) bytes are zero. FF FE is also a valid MPEG-1 layer I
 * frame sync, so this is checked before the sync: a lyrics file saved as
 * "Unicode" by Windows must not pass for MP3. */
static int utf16_text(const uint8_t *b, size_t n)
{
	int le = n >= 8 && b[0] == 0xff && b[1] == 0xfe,
	    be = n >= 8 && b[0] == 0xfe && b[1] == 0xff;
	size_t i;

	if (!le && !be)
		return 0;
	for (i = 2; i + 1 < n && i < 12; i += 2) {
		uint8_t ch = le ? b[i] : b[i + 1], zero = le ? b[i + 1] : b[i];
		if (zero != 0 || ch == 0 || (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r'))
			return 0;
	}
	return 1;
}

/* MPEG audio frame sync: 11 set bits, then version != reserved and layer. */
static const char *sniff_sync(const uint8_t *b, size_t n)
{
	int layer;

	if (n < 4 || b[0] != 0xff || (b[1] & 0xe0) != 0xe0 || utf16_text(b, n))
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

/* Printable UTF-8 text (with tabs and line ends) in every byte of b, an
 * optional UTF-8 byte-order mark first. A multi-byte sequence cut by the end
 * of the window still counts as text. */
static int utf8_text(const uint8_t *b, size_t n)
{
	size_t i = at(b, n, 0, "\xef\xbb\xbf") ? 3 : 0, k;

	if (n < 4)
		return 0;
	while (i < n) {
		uint8_t c = b[i];
		size_t more = c < 0x80		   ? 0
			      : (c & 0xe0) == 0xc0 ? 1
			      : (c & 0xf0) == 0xe0 ? 2
			      : (c & 0xf8) == 0xf0 ? 3
						   : 9;

		if (more == 9 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') ||
		    c == 0x7f)
			return 0;
		for (k = 1; k <= more && i + k < n; k++)
			if ((b[i + k] & 0xc0) != 0x80)
				return 0;
		i += 1 + more;
	}
	return 1;
}

static const struct {
	size_t off;
	const char *magic;
	size_t len; /* 0: strlen(magic) */
	const char *what;
} others[] = {
    {0, "wvpk", 0, "WavPack (.wv)"},
    {0, "caff", 0, "Core Audio Format (.caf)"},
    /* Wave64: "riff" then the rest of its RIFF GUID */
    {0, "riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb", 12, "Sony Wave64 (.w64)"},
    {0, "\x1a\x45\xdf\xa3", 4, "WebM/Matroska (.webm, .mka)"},
    /* ASF header object GUID: WMA and WMV */
    {0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11", 8, "Windows Media (.wma, .asf)"},
    {0, "MAC ", 0, "Monkey's Audio (.ape)"},
    {0, "TTA1", 0, "TTA (.tta)"},
    {0, "MPCK", 0, "Musepack (.mpc)"},
    {0, "MThd", 0, "a MIDI file (.mid)"},
    {0, "#!AMR", 0, "AMR (.amr)"},
    {0, ".snd", 0, "Sun/NeXT audio (.au)"},
    {0, "\x89PNG\r\n\x1a\n", 8, "a PNG image"},
    {0, "\xff\xd8\xff", 3, "a JPEG image"},
    {0, "GIF8", 0, "a GIF image"},
    {8, "WEBP", 0, "a WebP image"},
    {0, "%PDF", 0, "a PDF document"},
    {0, "PK\x03\x04", 4, "a ZIP archive"},
    {8, "AVI ", 0, "an AVI video"},
    {0,
     "\x7f"
     "ELF",
     4, "a program"},
    {0, "{\\rtf", 0, "a text document (.rtf)"},
};

const char *xcode_sniff_other(const uint8_t *buf, size_t n)
{
	if (!buf)
		return NULL;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		size_t l = others[i].len ? others[i].len : strlen(others[i].magic);
		if (n >= others[i].off + l && memcmp(buf + others[i].off, others[i].magic, l) == 0)
			return others[i].what;
	}
	if (utf16_text(buf, n) || utf8_text(buf, n))
		return "a text file";
	return NULL;
}
