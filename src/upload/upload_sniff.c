/*
 * upload_sniff.c: which files an upload accepts, by their first bytes:
 * WAV (RIFF, RF64, BW64), AIFF/AIFC, FLAC, Ogg, MP4/M4A, MP3 (ID3 or a frame
 * header) and ADTS AAC. Checked by the media role on an upload's first PATCH
 * before any byte is stored, and again on the assembled original at
 * completion (upload_complete.c). Runs in the media process and the
 * worker's housekeeping on untrusted file bytes; bounded, no allocation
 * (fuzz/tus_headers.c).
 */
#include <string.h>

#include "upload/upload.h"
#include "util/util.h"

static int at(const uint8_t *p, size_t n, size_t off, const char *m)
{
	size_t l = strlen(m);
	return n >= off + l && memcmp(p + off, m, l) == 0;
}

int upload_sniff(const uint8_t *p, size_t n, const char **ext, const char **ctype)
{
	if ((at(p, n, 0, "RIFF") || at(p, n, 0, "RF64") || at(p, n, 0, "BW64")) &&
	    at(p, n, 8, "WAVE")) {
		*ext = "wav", *ctype = "audio/wav";
	} else if (at(p, n, 0, "FORM") && (at(p, n, 8, "AIFF") || at(p, n, 8, "AIFC"))) {
		*ext = "aiff", *ctype = "audio/aiff";
	} else if (at(p, n, 0, "fLaC")) {
		*ext = "flac", *ctype = "audio/flac";
	} else if (at(p, n, 0, "OggS")) {
		*ext = "ogg", *ctype = "audio/ogg";
	} else if (at(p, n, 4, "ftyp")) {
		*ext = "m4a", *ctype = "audio/mp4";
	} else if (at(p, n, 0, "ID3")) {
		*ext = "mp3", *ctype = "audio/mpeg";
	} else if (n >= 2 && p[0] == 0xff && (p[1] & 0xf6) == 0xf0) {
		*ext = "aac", *ctype = "audio/aac"; /* ADTS: sync 0xFFF, layer 00 */
	} else if (n >= 3 && p[0] == 0xff && (p[1] & 0xe0) == 0xe0 && (p[1] & 0x06) != 0 &&
		   (p[1] & 0x18) != 0x08 && (p[2] & 0xf0) != 0xf0 && (p[2] & 0x0c) != 0x0c) {
		*ext = "mp3", *ctype = "audio/mpeg"; /* MPEG audio frame header */
	} else {
		return AM_ERR_UNSUPPORTED;
	}
	return 0;
}
