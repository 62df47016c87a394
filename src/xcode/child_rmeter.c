/*
 * child_rmeter.c: the rendition's own true peak. Each packet the encoder
 * produces is decoded again, as a player would, and its samples go to a
 * second, peak-only meter thread (child_r128.c): what the listener gets
 * includes the downmix and the codec's overshoot, which the original's
 * true peak cannot show. Runs in the UNTRUSTED sandboxed child, on bytes
 * our own encoder made; the decoder is FFmpeg's native one for the output
 * codec (aac, mp3float), within the child's codec whitelist.
 */
#include "xcode/xcode_int.h"

#include <libavcodec/avcodec.h>
#include <stdlib.h>

#define RM_MAX_FRAME 4096 /* AAC: 1,024 (2,048 with SBR); MP3: 1,152 */

struct xc_rmeter {
	AVCodecContext *dec;
	AVFrame *f;
	struct xc_r128 *m;
	float buf[RM_MAX_FRAME * 2];
};

int xc_rmeter_new(const AVCodecContext *enc, struct xc_r128 *m, struct xc_rmeter **out)
{
	const AVCodec *c = avcodec_find_decoder(enc->codec_id);
	AVCodecParameters *par = avcodec_parameters_alloc();
	struct xc_rmeter *rm = calloc(1, sizeof(*rm));
	int rc = AM_ERR_INTERNAL;

	*out = NULL;
	if (!c || !par || !rm || enc->ch_layout.nb_channels > 2)
		goto out;
	rm->m = m;
	if (avcodec_parameters_from_context(par, enc) < 0 ||
	    !(rm->dec = avcodec_alloc_context3(c)) ||
	    avcodec_parameters_to_context(rm->dec, par) < 0 || !(rm->f = av_frame_alloc()))
		goto out;
	rm->dec->thread_count = 1;
	if (avcodec_open2(rm->dec, c, NULL) < 0)
		goto out;
	if (xc_r128_start(m, enc->ch_layout.nb_channels, enc->sample_rate, NULL))
		goto out;
	*out = rm;
	rm = NULL;
	rc = 0;
out:
	avcodec_parameters_free(&par);
	xc_rmeter_free(rm);
	return rc;
}

/* Interleave one decoded frame (planar or packed float) into the meter. */
static int meter_frame(struct xc_rmeter *rm, const AVFrame *f)
{
	int ch = f->ch_layout.nb_channels, n = f->nb_samples;

	if (ch < 1 || ch > 2 || n < 0 || n > RM_MAX_FRAME)
		return AM_ERR_INTERNAL;
	if (f->format == AV_SAMPLE_FMT_FLTP) {
		for (int c = 0; c < ch; c++)
			for (int i = 0; i < n; i++)
				rm->buf[i * ch + c] = ((const float *)f->extended_data[c])[i];
		return xc_r128_add(rm->m, rm->buf, (size_t)n);
	}
	if (f->format == AV_SAMPLE_FMT_FLT)
		return xc_r128_add(rm->m, (const float *)f->data[0], (size_t)n);
	return AM_ERR_INTERNAL;
}

static int drain(struct xc_rmeter *rm)
{
	int rc;

	for (;;) {
		rc = avcodec_receive_frame(rm->dec, rm->f);
		if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
			return 0;
		if (rc < 0)
			return AM_ERR_INTERNAL;
		rc = meter_frame(rm, rm->f);
		av_frame_unref(rm->f);
		if (rc)
			return rc;
	}
}

int xc_rmeter_packet(struct xc_rmeter *rm, const AVPacket *pkt)
{
	if (avcodec_send_packet(rm->dec, pkt) < 0)
		return AM_ERR_INTERNAL;
	return drain(rm);
}

int xc_rmeter_finish(struct xc_rmeter *rm, double *dbtp)
{
	int rc;

	if (avcodec_send_packet(rm->dec, NULL) < 0)
		return AM_ERR_INTERNAL;
	if ((rc = drain(rm)))
		return rc;
	return xc_r128_peak(rm->m, dbtp);
}

void xc_rmeter_free(struct xc_rmeter *rm)
{
	if (!rm)
		return;
	avcodec_free_context(&rm->dec);
	av_frame_free(&rm->f);
	free(rm);
}
