/*
 * wm_decide.c: the keyed half of detection (docs/watermark.md "Detection",
 * "False-identification bound"): of the candidates the key-less half
 * decoded (wm_detect_candidates, possibly in the sandboxed transcode child
 * and so untrusted), the first whose decoded 32-bit tag is the keyed tag of
 * its decoded payload is the mark. Runs in the process that holds the
 * project's watermark key (`audiomus watermark trace`, the media role's
 * tracer, or wm_detect itself); kept apart from wm_detect.c so that it
 * links no FFmpeg code (`audiomus` maps none, docs/architecture.md "Two
 * binaries").
 */
#include "watermark/watermark_int.h"

#include <math.h>
#include <string.h>

#include "util/util.h"

int wm_decide(const struct wm_pattern *p, const struct wm_candidates *cands, struct wm_result *res)
{
	uint8_t tag[WM_TAG_BYTES];
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (!p || !cands || cands->n < 0 || cands->n > WM_DECODE_TRIES)
		return AM_ERR_INVAL;
	if (cands->n > 0)
		res->sync_z = cands->c[0].sync_z;
	for (int i = 0; i < cands->n; i++) {
		const struct wm_candidate *k = &cands->c[i];

		if ((rc = wm_tag(p, k->info, tag)) != 0)
			break;
		res->tries++;
		if (memcmp(tag, k->info + WM_PAYLOAD_BYTES, WM_TAG_BYTES) != 0)
			continue;
		res->found = 1;
		memcpy(res->payload, k->info, WM_PAYLOAD_BYTES);
		res->confidence = isfinite(k->agreement) ? k->agreement : 0;
		res->sync_z = k->sync_z;
		res->offset_s = k->offset_s;
		break;
	}
	am_memzero(tag, sizeof(tag));
	return rc;
}
