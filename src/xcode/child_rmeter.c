/*
 * child_rmeter.c: the rendition's own true peak. Each packet the encoder
 * produces is decoded again, as a player would, and its samples go to a
 * second, peak-only meter thread (child_r128.c): what the listener gets
 * includes the downmix and the codec's overshoot, which the original's
 * true peak cannot show. Runs in the UNTRUSTED sandboxed child, on bytes
 * our own encoder made; the decoder is FFmpeg's native one for the output
 * codec (aac, mp3float), within the child's codec whitelist.
 * The decode runs on the peak-only meter's thread, not on the main thread
 * beside the encoder (issue 25): packet() copies each packet (its bytes,
 * timestamps and side data, e.g. libmp3lame's skip-samples) into a record
 * the meter hands to dec_block() there; the decoder sees the same packets
 * in the same order, so the figure is the same.
 */
#include "xcode/xcode_int.h"

#include <libavcodec/avcodec.h>
#include <stdlib.h>
#include <string.h>

#define RM_MAX_FRAME 4096 /* AAC: 1,024 (2,048 with SBR); MP3: 1,152 */
#define RM_MAX_REC   8192 /* one packet's record (AAC-LC stereo: at most 1,536 bytes of data) */
#define RM_MAX_SIDE  4

/* A record: this head, then size bytes of data, then nside side-data
 * entries (struct rm_side, then its bytes). */
struct rm_rec {
	uint32_t size, nside;
	int64_t pts, dts, duration;
};

struct rm_side {
	uint32_t type, size;
};

struct xc_rmeter {
	AVCodecContext *dec; /* used on the meter thread once started */
	AVFrame *f;
	AVPacket *pkt;
	struct xc_r128 *m;
	float buf[RM_MAX_FRAME * 2];
	uint8_t rec[RM_MAX_REC]; /* main thread: the record being packed */
};

static int dec_block(void *ctx, const uint8_t *p, size_t n, struct xc_tpeak *tp);

int xc_rmeter_new(const AVCodecContext *enc, struct xc_r128 *m, struct xc_rmeter **out)
{
	const AVCodec *c = avcodec_find_decoder(enc->codec_id);
	AVCodecParameters *par = avcodec_parameters_alloc();
	struct xc_rmeter *rm = calloc(1, sizeof(*rm));
	int rc = AM_ERR_INTERNAL;

	*out = NULL;
	if (!c || !par || !rm || !m || enc->ch_layout.nb_channels > 2)
		goto out;
	if (avcodec_parameters_from_context(par, enc) < 0 ||
	    !(rm->dec = avcodec_alloc_context3(c)) ||
	    avcodec_parameters_to_context(rm->dec, par) < 0 || !(rm->f = av_frame_alloc()) ||
	    !(rm->pkt = av_packet_alloc()))
		goto out;
	rm->dec->thread_count = 1;
	if (avcodec_open2(rm->dec, c, NULL) < 0 || xc_r128_set_decoder(m, dec_block, rm))
		goto out;
	rm->m = m; /* from here on, free() joins m's thread before freeing the decoder */
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

/* Meter thread: one decoded frame (planar or packed float), interleaved. */
static int meter_frame(struct xc_rmeter *rm, const AVFrame *f, struct xc_tpeak *tp)
{
	int ch = f->ch_layout.nb_channels, n = f->nb_samples;

	if (ch < 1 || ch > 2 || n < 0 || n > RM_MAX_FRAME)
		return AM_ERR_INTERNAL;
	if (f->format == AV_SAMPLE_FMT_FLTP) {
		for (int c = 0; c < ch; c++)
			for (int i = 0; i < n; i++)
				rm->buf[i * ch + c] = ((const float *)f->extended_data[c])[i];
		xc_tpeak_add(tp, rm->buf, (size_t)n);
		return 0;
	}
	if (f->format == AV_SAMPLE_FMT_FLT) {
		xc_tpeak_add(tp, (const float *)f->data[0], (size_t)n);
		return 0;
	}
	return AM_ERR_INTERNAL;
}

static int drain(struct xc_rmeter *rm, struct xc_tpeak *tp)
{
	int rc;

	for (;;) {
		rc = avcodec_receive_frame(rm->dec, rm->f);
		if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
			return 0;
		if (rc < 0)
			return AM_ERR_INTERNAL;
		rc = meter_frame(rm, rm->f, tp);
		av_frame_unref(rm->f);
		if (rc)
			return rc;
	}
}

/* Meter thread: rebuild the packet of the record at p (len bytes) in
 * rm->pkt (its data borrowed from the block, its side data copied). */
static int unpack(struct xc_rmeter *rm, const uint8_t *p, size_t len)
{
	struct rm_rec h;
	size_t at = sizeof(h);

	memcpy(&h, p, sizeof(h));
	if (h.size > len - at || h.nside > RM_MAX_SIDE)
		return AM_ERR_INTERNAL;
	rm->pkt->data = (uint8_t *)p + at;
	rm->pkt->size = (int)h.size;
	rm->pkt->pts = h.pts;
	rm->pkt->dts = h.dts;
	rm->pkt->duration = h.duration;
	at += h.size;
	for (uint32_t i = 0; i < h.nside; i++) {
		struct rm_side sd;
		uint8_t *d;

		if (len - at < sizeof(sd))
			return AM_ERR_INTERNAL;
		memcpy(&sd, p + at, sizeof(sd));
		at += sizeof(sd);
		if (sd.size > len - at ||
		    !(d = av_packet_new_side_data(rm->pkt, (enum AVPacketSideDataType)sd.type,
						  sd.size)))
			return AM_ERR_INTERNAL;
		memcpy(d, p + at, sd.size);
		at += sd.size;
	}
	return at == len ? 0 : AM_ERR_INTERNAL;
}

/* Meter thread: decode and meter a block of [u32 length][record] entries;
 * p NULL drains the decoder at the end. */
static int dec_block(void *ctx, const uint8_t *p, size_t n, struct xc_tpeak *tp)
{
	struct xc_rmeter *rm = ctx;

	if (!p)
		return avcodec_send_packet(rm->dec, NULL) < 0 ? AM_ERR_INTERNAL : drain(rm, tp);
	while (n > 0) {
		uint32_t len;
		int rc;

		if (n < sizeof(len) + sizeof(struct rm_rec))
			return AM_ERR_INTERNAL;
		memcpy(&len, p, sizeof(len));
		p += sizeof(len);
		n -= sizeof(len);
		if (len > n || len < sizeof(struct rm_rec))
			return AM_ERR_INTERNAL;
		rc = unpack(rm, p, len);
		if (!rc && avcodec_send_packet(rm->dec, rm->pkt) < 0)
			rc = AM_ERR_INTERNAL;
		av_packet_unref(rm->pkt); /* the side data; the bytes are the block's */
		if (rc || (rc = drain(rm, tp)))
			return rc;
		p += len;
		n -= len;
	}
	return 0;
}

/* Main thread: [u32 length][head][data][side data...] for one packet. */
int xc_rmeter_packet(struct xc_rmeter *rm, const AVPacket *pkt)
{
	struct rm_rec h = {.size = (uint32_t)pkt->size,
			   .nside = (uint32_t)pkt->side_data_elems,
			   .pts = pkt->pts,
			   .dts = pkt->dts,
			   .duration = pkt->duration};
	size_t at = sizeof(uint32_t) + sizeof(h);
	uint32_t len;

	if (pkt->size < 0 || pkt->side_data_elems < 0 || pkt->side_data_elems > RM_MAX_SIDE ||
	    (size_t)pkt->size > sizeof(rm->rec) - at)
		return AM_ERR_INTERNAL;
	memcpy(rm->rec + sizeof(uint32_t), &h, sizeof(h));
	memcpy(rm->rec + at, pkt->data, (size_t)pkt->size);
	at += (size_t)pkt->size;
	for (int i = 0; i < pkt->side_data_elems; i++) {
		const AVPacketSideData *sd = &pkt->side_data[i];
		struct rm_side s = {.type = (uint32_t)sd->type, .size = (uint32_t)sd->size};

		if (sd->size > sizeof(rm->rec) - at - sizeof(s))
			return AM_ERR_INTERNAL;
		memcpy(rm->rec + at, &s, sizeof(s));
		memcpy(rm->rec + at + sizeof(s), sd->data, sd->size);
		at += sizeof(s) + sd->size;
	}
	len = (uint32_t)(at - sizeof(len));
	memcpy(rm->rec, &len, sizeof(len));
	return xc_r128_add_bytes(rm->m, rm->rec, at);
}

int xc_rmeter_finish(struct xc_rmeter *rm, double *dbtp)
{
	return xc_r128_peak(rm->m, dbtp); /* joins: the last block, then the drain */
}

void xc_rmeter_free(struct xc_rmeter *rm)
{
	if (!rm)
		return;
	if (rm->m)
		xc_r128_join(rm->m); /* the thread may still be decoding with rm->dec */
	avcodec_free_context(&rm->dec);
	av_frame_free(&rm->f);
	av_packet_free(&rm->pkt);
	free(rm);
}
