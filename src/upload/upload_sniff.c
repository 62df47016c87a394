/*
 * upload_sniff.c: which files an upload accepts, by their first bytes, and
 * why one is refused. The sniffing is the transcoder's own
 * (src/xcode/sniff.c, xcode_sniff: the demuxer the worker will force), so an
 * upload is accepted exactly when the worker can open it; only an ID3v2 tag
 * is taken on trust here (the audio after it may lie past the first bytes,
 * and the worker checks it). Checked by the web role on the first bytes a
 * browser sends with a new track (api_track.c), by the media role on an
 * upload's first PATCH before any byte is stored, and again on the
 * assembled original at completion (upload_complete.c). Runs in the web and
 * media processes and the worker's housekeeping on untrusted file bytes;
 * bounded, no allocation (fuzz/tus_headers.c).
 */
#include <stdio.h>
#include <string.h>

#include "upload/upload.h"
#include "util/util.h"
#include "xcode/xcode.h"

static const struct {
	const char *demuxer, *ext, *ctype;
} types[] = {
    {"wav", "wav", "audio/wav"},
    {"aiff", "aiff", "audio/aiff"},
    {"flac", "flac", "audio/flac"},
    {"ogg", "ogg", "audio/ogg"},
    {"mov,mp4,m4a,3gp,3g2,mj2", "m4a", "audio/mp4"},
    {"mp3", "mp3", "audio/mpeg"},
    {"aac", "aac", "audio/aac"},
};

int upload_sniff(const uint8_t *p, size_t n, const char **ext, const char **ctype)
{
	const char *d = n >= 3 && memcmp(p, "ID3", 3) == 0 ? "mp3" : xcode_sniff(p, n, NULL);

	for (size_t i = 0; d && i < AM_ARRAY_LEN(types); i++) {
		if (strcmp(d, types[i].demuxer) == 0) {
			*ext = types[i].ext, *ctype = types[i].ctype;
			return 0;
		}
	}
	return AM_ERR_UNSUPPORTED;
}

void upload_refusal(const uint8_t *p, size_t n, char *why, size_t cap)
{
	const char *what = xcode_sniff_other(p, n);

	if (!cap)
		return;
	if (n < UPLOAD_SNIFF_LEN)
		snprintf(why, cap, "the first chunk must carry at least %d bytes",
			 UPLOAD_SNIFF_LEN);
	else
		snprintf(why, cap, "%s is not a supported audio format: upload %s",
			 what ? what : "this file type", UPLOAD_ACCEPTED);
}
