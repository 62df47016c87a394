/*
 * child_enc.c: the child's outputs: the stream rendition (AAC-LC 256 kbit/s
 * in non-fragmented MP4 with the moov at the end, written by child_mp4.c in
 * constant memory; or MP3 CBR 320 with its Xing/Info header, through
 * FFmpeg's muxer and a custom write+seek AVIO) into a head-patched stream;
 * the waveform peaks; integrated loudness, loudness range and true peak
 * (libebur128) of the decoded samples as float, and the rendition's own
 * true peak. More than two channels fold to stereo with a normalised
 * matrix. Runs in the UNTRUSTED sandboxed child.
 */
#include "xcode/xcode_int.h"

#include <ebur128.h>
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAME_SAMPLES (1 << 20) /* per decoded frame, after resampling */

static int out_write(void *opaque, uint8_t *buf, int n)
{
	return xc_out_write(opaque, buf, (size_t)n) ? AVERROR(EIO) : n;
}

static int64_t out_seek(void *opaque, int64_t off, int whence)
{
	struct xc_out *o = opaque;
	int64_t base;

	switch (whence & ~AVSEEK_FORCE) {
	case AVSEEK_SIZE: return (int64_t)o->size;
	case SEEK_SET: base = 0; break;
	case SEEK_CUR: base = (int64_t)o->pos; break;
	case SEEK_END: base = (int64_t)o->size; break;
	default: return AVERROR(EINVAL);
	}
	if (base + off < 0 || xc_out_seek(o, (uint64_t)(base + off)))
		return AVERROR(EIO); /* outside the head or tail window: fail loudly */
	return base + off;
}

/* AAC rates; anything above 48 kHz streams at 48 (or 44.1) kHz. */
static int out_rate(int in)
{
	static const int aac[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000};

	if (in > 48000)
		return in % 44100 == 0 ? 44100 : 48000;
	for (size_t i = 0; i < AM_ARRAY_LEN(aac); i++)
		if (aac[i] >= in)
			return aac[i];
	return 48000;
}

static int open_encoder(struct xc_job *j)
{
	int mp3 = j->a->output == XCODE_OUT_MP3;
	const AVCodec *c = avcodec_find_encoder_by_name(mp3 ? "libmp3lame" : "aac");
	int rate = out_rate(j->rate);

	if (mp3 && rate < 32000)
		rate = 44100;
	if (!c || !(j->enc = avcodec_alloc_context3(c)))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "no encoder");
	j->enc->sample_rate = rate;
	av_channel_layout_default(&j->enc->ch_layout, j->ch == 1 ? 1 : 2);
	j->enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
	j->enc->bit_rate = mp3 ? 320000 : 256000;
	j->enc->time_base = (AVRational){1, rate};
	j->enc->thread_count = 1;
	if (mp3 && avformat_alloc_output_context2(&j->oc, NULL, "mp3", NULL) < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "no muxer");
	if (!mp3) /* the AudioSpecificConfig goes into the MP4's esds */
		j->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	j->enc->flags |= AV_CODEC_FLAG_BITEXACT;
	/* AAC: the "fast" coder, not the default "twoloop": about 3x less CPU
	 * at 256k, chosen by measurement (docs/transcoding.md "Encoder"). */
	if (!mp3 && av_opt_set(j->enc->priv_data, "aac_coder", "fast", 0) < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "encoder option");
	if (avcodec_open2(j->enc, c, NULL) < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "encoder open failed");
	return 0;
}

static int open_muxer(struct xc_job *j)
{
	uint8_t *buf;

	if (j->a->output != XCODE_OUT_MP3)
		return xc_mp4_new(&j->stream, j->enc, &j->mp4)
			   ? xc_fail(j, XCODE_FAIL_INTERNAL, "mp4 header")
			   : 0;
	if (!(buf = av_malloc(XCODE_IO_CHUNK)) || !(j->ost = avformat_new_stream(j->oc, NULL)) ||
	    avcodec_parameters_from_context(j->ost->codecpar, j->enc) < 0) {
		av_free(buf);
		return xc_fail(j, XCODE_FAIL_INTERNAL, "muxer stream");
	}
	j->ost->time_base = j->enc->time_base;
	j->out_pb =
	    avio_alloc_context(buf, XCODE_IO_CHUNK, 1, &j->stream, NULL, out_write, out_seek);
	if (!j->out_pb) {
		av_free(buf);
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	}
	j->oc->pb = j->out_pb;
	j->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
	/* MP3: no bit-exact flag, which would drop the LAME tag that carries
	 * the encoder delay and padding. */
	if (avformat_write_header(j->oc, NULL) < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "muxer header");
	return 0;
}

static int open_swr(struct xc_job *j, const AVFrame *f)
{
	AVChannelLayout in;
	int rc;

	if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
		av_channel_layout_default(&in, f->ch_layout.nb_channels);
	else if (av_channel_layout_copy(&in, &f->ch_layout) < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "layout");
	rc = swr_alloc_set_opts2(&j->swr_enc, &j->enc->ch_layout, AV_SAMPLE_FMT_FLTP,
				 j->enc->sample_rate, &in, f->format, f->sample_rate, 0, NULL);
	/* The downmix (more than two channels): ITU-R BS.775 coefficients
	 * (centre and surrounds at -3 dB, LFE dropped), scaled so that each
	 * output's coefficients sum to at most 1. libswresample leaves a float
	 * matrix unnormalised by default (L = FL + 0.707 C + 0.707 SL: a 5.1
	 * master at -1 dBTP came out at +4.8); with the sum <= 1 an output
	 * sample, and its oversampled true peak, cannot exceed the loudest
	 * input channel's. */
	if (rc >= 0 && j->ch > 2)
		rc = av_opt_set_double(j->swr_enc, "rematrix_maxval", 1.0, 0);
	if (rc >= 0)
		rc = swr_init(j->swr_enc);
	if (rc >= 0)
		rc = swr_alloc_set_opts2(&j->swr_s16, &in, AV_SAMPLE_FMT_S16, f->sample_rate, &in,
					 f->format, f->sample_rate, 0, NULL);
	if (rc >= 0)
		rc = swr_init(j->swr_s16);
	/* The meter's copy: interleaved float, no clipping (a float master's
	 * overs above 0 dBFS stay), no rematrix, no resampling. */
	if (rc >= 0)
		rc = swr_alloc_set_opts2(&j->swr_flt, &in, AV_SAMPLE_FMT_FLT, f->sample_rate, &in,
					 f->format, f->sample_rate, 0, NULL);
	if (rc >= 0)
		rc = swr_init(j->swr_flt);
	av_channel_layout_uninit(&in);
	return rc < 0 ? xc_fail(j, XCODE_FAIL_INTERNAL, "resampler") : 0;
}

/* EBU R128 channel weights from the layout (LFE excluded); the meter
 * thread was started before the sandbox. */
static int open_r128(struct xc_job *j, const AVFrame *f)
{
	int map[XCODE_MAX_CHANNELS];

	for (int c = 0; c < XCODE_MAX_CHANNELS; c++)
		map[c] = -1;
	if (!j->meter)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "loudness meter");
	for (int c = 0; c < j->ch && f->ch_layout.order == AV_CHANNEL_ORDER_NATIVE && j->ch > 2;
	     c++) {
		switch (av_channel_layout_channel_from_index(&f->ch_layout, (unsigned)c)) {
		case AV_CHAN_FRONT_LEFT: map[c] = EBUR128_LEFT; break;
		case AV_CHAN_FRONT_RIGHT: map[c] = EBUR128_RIGHT; break;
		case AV_CHAN_FRONT_CENTER: map[c] = EBUR128_CENTER; break;
		case AV_CHAN_BACK_LEFT:
		case AV_CHAN_SIDE_LEFT: map[c] = EBUR128_LEFT_SURROUND; break;
		case AV_CHAN_BACK_RIGHT:
		case AV_CHAN_SIDE_RIGHT: map[c] = EBUR128_RIGHT_SURROUND; break;
		default: map[c] = EBUR128_UNUSED;
		}
	}
	if (xc_r128_start(j->meter, j->ch, j->rate, map))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "loudness meter");
	return 0;
}

int xc_outputs_open(struct xc_job *j, const AVFrame *f)
{
	int rc;

	j->rate = f->sample_rate;
	j->ch = f->ch_layout.nb_channels;
	j->in_fmt = f->format;
	if (j->ch > XCODE_MAX_CHANNELS)
		return xc_fail_limit(j, XF_LIMIT_CHANNELS, j->ch, "decoded channels out of range");
	if (j->rate > XCODE_MAX_RATE)
		return xc_fail_limit(j, XF_LIMIT_RATE, j->rate, "decoded rate out of range");
	if (j->ch < 1 || j->rate < 1)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "decoded format out of range");
	j->max_samples = (uint64_t)j->a->max_duration_s * (uint64_t)j->rate;
	if ((rc = xc_out_init(&j->stream, XF_STREAM_BODY, XF_STREAM_HEAD, XCODE_STREAM_HEAD,
			      XCODE_IO_CHUNK)) ||
	    (rc = xc_out_init(&j->peaks, XF_PEAKS_BODY, XF_PEAKS_HEAD, XCODE_PEAKS_HEAD,
			      XCODE_IO_CHUNK)) ||
	    (rc = xc_out_init(&j->overview, XF_OVERVIEW_BODY, XF_OVERVIEW_HEAD, XCODE_OVERVIEW_HEAD,
			      4096)))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	if ((rc = xc_peaks_new(j->ch, j->rate, &j->peaks, &j->overview, &j->pk)))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "peaks");
	if ((rc = open_encoder(j)) || (rc = open_muxer(j)) || (rc = open_swr(j, f)) ||
	    (rc = open_r128(j, f)))
		return rc;
	if (!j->smeter || xc_rmeter_new(j->enc, j->smeter, &j->rmeter))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "rendition meter");
	if (!(j->fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, j->enc->ch_layout.nb_channels,
					    j->enc->frame_size * 4)) ||
	    !(j->eframe = av_frame_alloc()) || !(j->opkt = av_packet_alloc()))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	j->eframe->nb_samples = j->enc->frame_size;
	j->eframe->format = AV_SAMPLE_FMT_FLTP;
	j->eframe->sample_rate = j->enc->sample_rate;
	if (av_channel_layout_copy(&j->eframe->ch_layout, &j->enc->ch_layout) < 0 ||
	    av_frame_get_buffer(j->eframe, 0) < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
	return 0;
}

static int encode(struct xc_job *j, const AVFrame *f)
{
	int rc = avcodec_send_frame(j->enc, f);

	if (rc < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "encoder");
	for (;;) {
		rc = avcodec_receive_packet(j->enc, j->opkt);
		if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
			return 0;
		if (rc < 0)
			return xc_fail(j, XCODE_FAIL_INTERNAL, "encoder");
		if (xc_rmeter_packet(j->rmeter, j->opkt)) {
			av_packet_unref(j->opkt);
			return xc_fail(j, XCODE_FAIL_INTERNAL, "rendition meter");
		}
		if (j->mp4) {
			rc = xc_mp4_packet(j->mp4, j->opkt, j->enc->frame_size);
		} else {
			av_packet_rescale_ts(j->opkt, j->enc->time_base, j->ost->time_base);
			j->opkt->stream_index = 0;
			rc = av_write_frame(j->oc, j->opkt);
		}
		av_packet_unref(j->opkt);
		if (rc < 0)
			return xc_fail(j, XCODE_FAIL_INTERNAL,
				       "muxer write (seek outside window?)");
	}
}

static int drain_fifo(struct xc_job *j, int flush)
{
	int fs = j->enc->frame_size;

	while (av_audio_fifo_size(j->fifo) >= fs || (flush && av_audio_fifo_size(j->fifo) > 0)) {
		int n = av_audio_fifo_size(j->fifo) < fs ? av_audio_fifo_size(j->fifo) : fs;
		int rc;

		if (av_frame_make_writable(j->eframe) < 0)
			return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
		if (av_audio_fifo_read(j->fifo, (void **)j->eframe->data, n) != n)
			return xc_fail(j, XCODE_FAIL_INTERNAL, "fifo");
		j->eframe->nb_samples = n;
		j->eframe->pts = j->next_pts;
		j->next_pts += n;
		if ((rc = encode(j, j->eframe)))
			return rc;
	}
	return 0;
}

static int grow(struct xc_job *j, int s16_need, int enc_need)
{
	if (s16_need > MAX_FRAME_SAMPLES || enc_need > MAX_FRAME_SAMPLES)
		return xc_fail(j, XCODE_FAIL_DAMAGED, "frame too large");
	if (s16_need > j->s16_cap) {
		free(j->s16);
		free(j->flt);
		j->flt = NULL;
		if (!(j->s16 = malloc((size_t)s16_need * (size_t)j->ch * sizeof(int16_t))) ||
		    !(j->flt = malloc((size_t)s16_need * (size_t)j->ch * sizeof(float))))
			return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
		j->s16_cap = s16_need;
	}
	if (enc_need > j->encbuf_cap) {
		if (j->encbuf)
			av_freep(&j->encbuf[0]);
		av_freep(&j->encbuf);
		if (av_samples_alloc_array_and_samples(&j->encbuf, NULL,
						       j->enc->ch_layout.nb_channels, enc_need,
						       AV_SAMPLE_FMT_FLTP, 0) < 0)
			return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
		j->encbuf_cap = enc_need;
	}
	return 0;
}

/* Resample into the FIFO and encode what is complete; f NULL flushes. */
static int feed_encoder(struct xc_job *j, const AVFrame *f)
{
	int n, rc;

	do {
		n = swr_convert(j->swr_enc, j->encbuf, j->encbuf_cap,
				f ? (const uint8_t **)f->extended_data : NULL,
				f ? f->nb_samples : 0);
		if (n < 0)
			return xc_fail(j, XCODE_FAIL_INTERNAL, "resampler");
		if (n > 0 && av_audio_fifo_write(j->fifo, (void **)j->encbuf, n) != n)
			return xc_fail(j, XCODE_FAIL_INTERNAL, "fifo");
		if ((rc = drain_fifo(j, 0)))
			return rc;
	} while (!f && n > 0);
	return 0;
}

int xc_outputs_frame(struct xc_job *j, const AVFrame *f)
{
	int n, rc;

	if (f->sample_rate != j->rate || f->ch_layout.nb_channels != j->ch ||
	    f->format != j->in_fmt)
		return xc_fail(j, XCODE_FAIL_DAMAGED, "audio format changes mid-stream");
	j->samples += (uint64_t)f->nb_samples;
	if (j->samples > j->max_samples)
		return xc_fail(j, XCODE_FAIL_TOOLONG, "decoded duration over the cap");
	if ((rc = grow(j, f->nb_samples, swr_get_out_samples(j->swr_enc, f->nb_samples) + 16)))
		return rc;
	n = swr_convert(j->swr_s16, (uint8_t **)&j->s16, j->s16_cap,
			(const uint8_t **)f->extended_data, f->nb_samples);
	if (n < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "resampler");
	if ((rc = xc_peaks_add(j->pk, j->s16, (size_t)n)))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "peaks");
	n = swr_convert(j->swr_flt, (uint8_t **)&j->flt, j->s16_cap,
			(const uint8_t **)f->extended_data, f->nb_samples);
	if (n < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "resampler");
	if (xc_r128_add(j->meter, j->flt, (size_t)n))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "loudness");
	return feed_encoder(j, f);
}

/* The moov (MP4) or the MP3 muxer's trailer, then the head goes out. */
static int finish_rendition(struct xc_job *j)
{
	if (j->mp4) {
		if (xc_mp4_finish(j->mp4, (uint64_t)j->next_pts))
			return xc_fail(j, XCODE_FAIL_INTERNAL, "mp4 index");
	} else {
		avio_flush(j->out_pb);
		if (j->out_pb->error < 0 || xc_out_hold(&j->stream, XCODE_TRAILER_MAX))
			return xc_fail(j, XCODE_FAIL_INTERNAL, "rendition output");
		if (av_write_trailer(j->oc) < 0)
			return xc_fail(j, XCODE_FAIL_INTERNAL,
				       "muxer trailer (seek outside window?)");
		avio_flush(j->out_pb);
		if (j->out_pb->error < 0)
			return xc_fail(j, XCODE_FAIL_INTERNAL, "rendition output");
	}
	if (xc_out_finish(&j->stream))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "rendition output");
	return 0;
}

int xc_outputs_finish(struct xc_job *j)
{
	struct xf_info in;
	int rc;

	if ((rc = grow(j, 1, swr_get_out_samples(j->swr_enc, 0) + 16)) ||
	    (rc = feed_encoder(j, NULL)) || (rc = drain_fifo(j, 1)) || (rc = encode(j, NULL)))
		return rc;
	if ((rc = finish_rendition(j)))
		return rc;
	if (xc_peaks_finish(j->pk) || xc_out_finish(&j->peaks) || xc_out_finish(&j->overview))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "peaks output");
	memset(&in, 0, sizeof(in));
	in.samples = j->samples;
	in.sample_rate = j->rate;
	in.channels = j->ch;
	in.bit_depth = j->dec->bits_per_raw_sample;
	if (in.bit_depth <= 0 && !strncmp(j->dec->codec->name, "pcm_", 4))
		in.bit_depth = av_get_bits_per_sample(j->dec->codec_id);
	if (xc_r128_finish(j->meter, j->samples, &in) ||
	    xc_rmeter_finish(j->rmeter, &in.stream_true_peak_dbtp))
		return xc_fail(j, XCODE_FAIL_INTERNAL, "loudness");
	am_strlcpy(in.codec, j->dec->codec->name, sizeof(in.codec));
	return xcode_send(XF_INFO, &in, sizeof(in));
}

void xc_outputs_close(struct xc_job *j)
{
	if (j->encbuf)
		av_freep(&j->encbuf[0]);
	av_freep(&j->encbuf);
	av_audio_fifo_free(j->fifo);
	av_frame_free(&j->eframe);
	av_packet_free(&j->opkt);
	swr_free(&j->swr_enc);
	swr_free(&j->swr_s16);
	swr_free(&j->swr_flt);
	free(j->s16);
	free(j->flt);
	xc_rmeter_free(j->rmeter);
	j->rmeter = NULL;
	xc_r128_free(j->meter);
	j->meter = NULL;
	xc_r128_free(j->smeter);
	j->smeter = NULL;
	avcodec_free_context(&j->enc);
	xc_mp4_free(j->mp4);
	j->mp4 = NULL;
	if (j->oc)
		avformat_free_context(j->oc);
	if (j->out_pb)
		av_freep(&j->out_pb->buffer);
	avio_context_free(&j->out_pb);
	xc_peaks_free(j->pk);
	xc_out_cleanup(&j->stream);
	xc_out_cleanup(&j->peaks);
	xc_out_cleanup(&j->overview);
}
