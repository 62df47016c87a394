/*
 * child.c: the transcoding child's main line: enter the sandbox, open the
 * input through custom I/O only (read-at-offset requests to the parent),
 * force the one demuxer the parent sniffed, decode with the codec
 * whitelist and hard caps, hand each frame to child_enc.c. Runs in the
 * UNTRUSTED child: every byte it reads is hostile, and its process may be
 * compromised by a decoder bug; the sandbox and the parent's checks are
 * what contain it.
 */
#include "xcode/xcode_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/opt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Native decoders only (no library wrappers): the attack surface we accept. */
static const char decoders[] =
	"pcm_s16le,pcm_s24le,pcm_s32le,pcm_f32le,pcm_f64le,pcm_u8,pcm_s16be,pcm_s24be,"
	"pcm_s32be,pcm_f32be,pcm_f64be,pcm_s8,pcm_alaw,pcm_mulaw,flac,alac,mp3float,mp3,"
	"aac,vorbis,opus";

static char last_log[156];

/* FFmpeg must never write to fd 2 (closed; isatty() would be a forbidden
 * ioctl): keep the last error line for the failure report instead. */
static void log_cb(void *avcl, int level, const char *fmt, va_list ap)
{
	if (level > AV_LOG_ERROR)
		return;
	vsnprintf(last_log, sizeof(last_log), fmt, ap);
}

int xc_fail(struct xc_job *j, enum xcode_fail f, const char *msg)
{
	if (j->fail == XCODE_OK) {
		j->fail = f;
		am_strlcpy(j->msg, msg && *msg ? msg : last_log, sizeof(j->msg));
	}
	return AM_ERR_INVAL;
}

static int read_full(void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = read(XCODE_CHILD_IN, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return AM_ERR_IO;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int in_read(void *opaque, uint8_t *buf, int n)
{
	struct xc_job *j = opaque;
	struct xf_read req = {.off = j->in_pos};
	int32_t got;

	if (j->in_pos >= j->a->size)
		return AVERROR_EOF;
	req.len = (uint32_t)n < XCODE_IO_CHUNK ? (uint32_t)n : XCODE_IO_CHUNK;
	if (xcode_send(XF_READ, &req, sizeof(req)) || read_full(&got, sizeof(got)))
		return AVERROR(EIO);
	if (got < 0 || (uint32_t)got > req.len)
		return AVERROR(EIO);
	if (got == 0)
		return AVERROR_EOF;
	if (read_full(buf, (size_t)got))
		return AVERROR(EIO);
	j->in_pos += (uint64_t)got;
	return got;
}

static int64_t in_seek(void *opaque, int64_t off, int whence)
{
	struct xc_job *j = opaque;
	int64_t base;

	switch (whence & ~AVSEEK_FORCE) {
	case AVSEEK_SIZE: return (int64_t)j->a->size;
	case SEEK_SET: base = 0; break;
	case SEEK_CUR: base = (int64_t)j->in_pos; break;
	case SEEK_END: base = (int64_t)j->a->size; break;
	default: return AVERROR(EINVAL);
	}
	if (off > INT64_MAX - base || base + off < 0)
		return AVERROR(EINVAL);
	j->in_pos = (uint64_t)(base + off);
	return (int64_t)j->in_pos;
}

/* Nested opens (playlists, references, external tracks) are refused. */
static int refuse_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
		       AVDictionary **options)
{
	return AVERROR(EPERM);
}

static int open_input(struct xc_job *j)
{
	const AVInputFormat *fmt = av_find_input_format(j->a->format);
	AVDictionary *opts = NULL;
	uint8_t *buf = NULL;
	int rc;

	if (!fmt)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "no demuxer");
	if (!(j->ic = avformat_alloc_context()) || !(buf = av_malloc(XCODE_IO_CHUNK)))
		goto nomem;
	if (!(j->in_pb = avio_alloc_context(buf, XCODE_IO_CHUNK, 0, j, in_read, NULL, in_seek)))
		goto nomem;
	buf = NULL;
	j->ic->pb = j->in_pb;
	j->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
	j->ic->io_open = refuse_open;
	j->ic->probesize = 1 << 20;
	j->ic->max_analyze_duration = 5 * AV_TIME_BASE;
	j->ic->max_streams = 8;
	av_dict_set(&opts, "format_whitelist", fmt->name, 0);
	av_dict_set(&opts, "codec_whitelist", decoders, 0);
	av_dict_set(&opts, "protocol_whitelist", "", 0);
	rc = avformat_open_input(&j->ic, "input", fmt, &opts);
	av_dict_free(&opts);
	if (rc < 0)
		return xc_fail(j, XCODE_FAIL_DAMAGED, NULL);
	if (avformat_find_stream_info(j->ic, NULL) < 0)
		return xc_fail(j, XCODE_FAIL_DAMAGED, NULL);
	return 0;
nomem:
	av_free(buf);
	return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
}

/* Pick the audio stream, check the caps, open its decoder. */
static int open_decoder(struct xc_job *j)
{
	const AVCodec *codec = NULL;
	AVDictionary *opts = NULL;
	AVCodecParameters *par;
	int idx, rc;

	idx = av_find_best_stream(j->ic, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
	if (idx < 0 || !codec)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "no supported audio stream");
	if (av_match_list(codec->name, decoders, ',') <= 0)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "codec not supported");
	for (unsigned i = 0; i < j->ic->nb_streams; i++)
		j->ic->streams[i]->discard = (int)i == idx ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
	j->st = j->ic->streams[idx];
	par = j->st->codecpar;
	if (par->ch_layout.nb_channels < 1 || par->ch_layout.nb_channels > XCODE_MAX_CHANNELS)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "too many channels");
	if (par->sample_rate < 1 || par->sample_rate > XCODE_MAX_RATE)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "sample rate out of range");
	j->max_samples = (uint64_t)j->a->max_duration_s * (uint64_t)par->sample_rate;
	if (j->st->duration > 0 &&
	    av_rescale_q(j->st->duration, j->st->time_base, (AVRational){1, par->sample_rate}) >
		    (int64_t)j->max_samples)
		return xc_fail(j, XCODE_FAIL_TOOLONG, "declared duration over the cap");
	if (!(j->dec = avcodec_alloc_context3(codec)) ||
	    avcodec_parameters_to_context(j->dec, par) < 0)
		return xc_fail(j, XCODE_FAIL_INTERNAL, "decoder context");
	j->dec->thread_count = 1;
	j->dec->pkt_timebase = j->st->time_base;
	j->dec->err_recognition = AV_EF_CRCCHECK | AV_EF_BITSTREAM | AV_EF_EXPLODE;
	av_dict_set(&opts, "codec_whitelist", decoders, 0);
	rc = avcodec_open2(j->dec, codec, &opts);
	av_dict_free(&opts);
	if (rc < 0)
		return xc_fail(j, XCODE_FAIL_DAMAGED, NULL);
	return 0;
}

static void progress(struct xc_job *j)
{
	uint64_t pm = j->a->size ? j->in_pos * 1000 / j->a->size : 0;
	uint32_t v;

	if (pm > 1000)
		pm = 1000;
	if (pm < j->permille + 10)
		return;
	j->permille = (unsigned)pm;
	v = (uint32_t)pm;
	(void)xcode_send(XF_PROGRESS, &v, sizeof(v));
}

static int drain_decoder(struct xc_job *j, AVFrame *f)
{
	int rc;

	for (;;) {
		rc = avcodec_receive_frame(j->dec, f);
		if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
			return 0;
		if (rc < 0)
			return xc_fail(j, XCODE_FAIL_DAMAGED, NULL);
		if (!j->enc && (rc = xc_outputs_open(j, f)))
			return rc;
		rc = xc_outputs_frame(j, f);
		av_frame_unref(f);
		if (rc)
			return rc;
	}
}

/* The header of an exactly-sized container (WAV, AIFF, FLAC, MP4) states
 * its length: a big difference from what decoded is a damaged file. */
static int check_declared(struct xc_job *j)
{
	const char *f = j->a->format;
	int64_t decl, diff;

	if (j->st->duration <= 0 || (strcmp(f, "wav") && strcmp(f, "aiff") && strcmp(f, "flac") &&
				     strncmp(f, "mov", 3)))
		return 0;
	decl = av_rescale_q(j->st->duration, j->st->time_base, (AVRational){1, j->rate});
	diff = decl > (int64_t)j->samples ? decl - (int64_t)j->samples : (int64_t)j->samples - decl;
	if (diff > j->rate / 10 + decl / 100)
		return xc_fail(j, XCODE_FAIL_DAMAGED, "decoded length differs from the header");
	return 0;
}

static int decode_all(struct xc_job *j)
{
	AVPacket *pkt = av_packet_alloc();
	AVFrame *f = av_frame_alloc();
	int rc = 0;

	if (!pkt || !f) {
		rc = xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
		goto out;
	}
	for (;;) {
		int r = av_read_frame(j->ic, pkt);

		if (r == AVERROR_EOF)
			break;
		if (r < 0) {
			rc = xc_fail(j, XCODE_FAIL_DAMAGED, NULL);
			goto out;
		}
		if (pkt->stream_index == j->st->index) {
			r = avcodec_send_packet(j->dec, pkt);
			if (r < 0 && r != AVERROR(EAGAIN))
				rc = xc_fail(j, XCODE_FAIL_DAMAGED, NULL);
			else
				rc = drain_decoder(j, f);
		}
		av_packet_unref(pkt);
		if (rc)
			goto out;
		progress(j);
	}
	if (avcodec_send_packet(j->dec, NULL) < 0 || (rc = drain_decoder(j, f)))
		goto out;
	if (!j->enc) {
		rc = xc_fail(j, XCODE_FAIL_DAMAGED, "no audio decoded");
		goto out;
	}
	if (!(rc = check_declared(j)))
		rc = xc_outputs_finish(j);
out:
	av_packet_free(&pkt);
	av_frame_free(&f);
	return rc;
}

static void run_hook(enum xcode_hook h)
{
	static uint8_t junk[XCODE_IO_CHUNK];

	switch (h) {
	case XCODE_HOOK_OPEN: (void)open("/etc/passwd", O_RDONLY | O_CLOEXEC); break;
	case XCODE_HOOK_HANG:
		for (volatile int spin = 1; spin;)
			;
		break;
	case XCODE_HOOK_SPEW:
		while (xcode_send(XF_STREAM_BODY, junk, sizeof(junk)) == 0)
			;
		break;
	default: break;
	}
}

int xcode_child_main(const struct xcode_child_args *a)
{
	struct xc_job j;
	int rc;

	memset(&j, 0, sizeof(j));
	j.a = a;
	av_log_set_callback(log_cb);
	av_log_set_level(AV_LOG_ERROR);
	if (xc_r128_spawn(&j.meter) != 0 || xcode_sandbox_enter(a) != 0) {
		xcode_send_fail(XCODE_FAIL_INTERNAL, "sandbox setup failed");
		return 3;
	}
	run_hook(a->hook);
	rc = open_input(&j);
	if (!rc)
		rc = open_decoder(&j);
	if (!rc)
		rc = decode_all(&j);
	if (!rc)
		rc = xcode_send(XF_DONE, NULL, 0);
	else
		xcode_send_fail(j.fail ? j.fail : XCODE_FAIL_INTERNAL, j.msg);
	xc_outputs_close(&j);
	avcodec_free_context(&j.dec);
	if (j.ic)
		avformat_close_input(&j.ic);
	if (j.in_pb)
		av_freep(&j.in_pb->buffer);
	avio_context_free(&j.in_pb);
	return rc ? 2 : 0;
}
