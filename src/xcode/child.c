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
#include <libavutil/intreadwrite.h>
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

int xc_fail_limit(struct xc_job *j, enum xf_limit what, int64_t value, const char *msg)
{
	if (j->fail == XCODE_OK) {
		j->limit = what;
		j->limit_value = value;
	}
	return xc_fail(j, XCODE_FAIL_UNSUPPORTED, msg);
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

/* The input's read-ahead (issue 25): while the main thread decodes and
 * encodes one chunk, the parent already answers the request for the next
 * one, so the next read finds it in the socket instead of waiting a round
 * trip (two wake-ups, each a scheduling delay on a busy machine: the main
 * thread, the job's critical path, spent about as long blocked as running).
 * At most one request is in flight; its answer lands in buf. */
static struct {
	uint8_t buf[XCODE_IO_CHUNK];
	uint64_t off;	/* file offset of buf[0] */
	uint32_t len;	/* valid bytes in buf */
	uint64_t ahead; /* offset of the request in flight */
	int pending;	/* a request is in flight, its answer not yet read */
} ra;

static int ask(uint64_t off, uint32_t n)
{
	struct xf_read req = {.off = off, .len = n < XCODE_IO_CHUNK ? n : XCODE_IO_CHUNK};

	return xcode_send(XF_READ, &req, sizeof(req)) ? AVERROR(EIO) : (int)req.len;
}

/* The answer to a request of len bytes into buf: the count (0 at the
 * end) or AVERROR(EIO). */
static int answer(uint8_t *buf, uint32_t len)
{
	int32_t got;

	if (read_full(&got, sizeof(got)) || got < 0 || (uint32_t)got > len)
		return AVERROR(EIO);
	if (got > 0 && read_full(buf, (size_t)got))
		return AVERROR(EIO);
	return got;
}

/* Read the answer in flight, if any, into ra.buf. 0 or AVERROR(EIO). */
static int settle(void)
{
	int got;

	if (!ra.pending)
		return 0;
	ra.pending = 0;
	if ((got = answer(ra.buf, XCODE_IO_CHUNK)) < 0)
		return got;
	ra.off = ra.ahead;
	ra.len = (uint32_t)got;
	return 0;
}

/* One read-at-offset request to the parent, not cached: up to n (<=
 * XCODE_IO_CHUNK) bytes at off into buf. Returns the count (0 at the end)
 * or AVERROR(EIO). */
static int fetch(uint64_t off, uint8_t *buf, uint32_t n)
{
	int len, rc;

	if ((rc = settle()) < 0 || (len = ask(off, n)) < 0)
		return AVERROR(EIO);
	return answer(buf, (uint32_t)len);
}

/* Fill ra.buf with the chunk at off (the read-ahead's answer when it is
 * that one), then ask for the chunk after it. 0 or AVERROR(EIO). */
static int refill(const struct xc_job *j, uint64_t off)
{
	int rc;

	if (ra.pending && ra.ahead != off && (rc = settle()) < 0)
		return rc; /* a seek: that answer is not the one wanted */
	if (!ra.pending) {
		if (ask(off, XCODE_IO_CHUNK) < 0)
			return AVERROR(EIO);
		ra.pending = 1;
		ra.ahead = off;
	}
	if ((rc = settle()) < 0)
		return rc;
	if (ra.len == XCODE_IO_CHUNK && ra.off + ra.len < j->a->size) {
		if (ask(ra.off + ra.len, XCODE_IO_CHUNK) < 0)
			return AVERROR(EIO);
		ra.pending = 1;
		ra.ahead = ra.off + ra.len;
	}
	return 0;
}

static int in_read(void *opaque, uint8_t *buf, int n)
{
	struct xc_job *j = opaque;
	uint64_t at = j->in_pos;
	size_t got;
	int rc;

	if (at >= j->a->size)
		return AVERROR_EOF;
	if ((at < ra.off || at >= ra.off + ra.len) && (rc = refill(j, at)) < 0)
		return rc;
	if (at < ra.off || at >= ra.off + ra.len)
		return AVERROR_EOF; /* the source ended early */
	got = (size_t)(ra.off + ra.len - at);
	if (got > (size_t)n)
		got = (size_t)n;
	memcpy(buf, ra.buf + (at - ra.off), got);
	j->in_pos += got;
	return (int)got;
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
	j->data_off = avio_tell(j->ic->pb); /* WAV: the demuxer stops at its data */
	if (avformat_find_stream_info(j->ic, NULL) < 0)
		return xc_fail(j, XCODE_FAIL_DAMAGED, NULL);
	return 0;
nomem:
	av_free(buf);
	return xc_fail(j, XCODE_FAIL_INTERNAL, "out of memory");
}

/* Decode work (samples x channels) the container declares, against the
 * bound: refused before the first packet is decoded. A file that declares
 * nothing, or less than it holds, is stopped by decoded_work. */
static int declared_work(struct xc_job *j, const AVCodecParameters *par)
{
	char msg[sizeof(j->msg)];
	int64_t frames;

	if (j->st->duration <= 0)
		return 0;
	frames = av_rescale_q(j->st->duration, j->st->time_base, (AVRational){1, par->sample_rate});
	if (frames <= 0 ||
	    (uint64_t)frames <= j->a->max_work / (uint64_t)par->ch_layout.nb_channels)
		return 0;
	snprintf(msg, sizeof(msg), "declared %lld s x %d Hz x %d channels",
		 (long long)(frames / par->sample_rate), par->sample_rate,
		 par->ch_layout.nb_channels);
	return xc_fail(j, XCODE_FAIL_WORK, msg);
}

/* Decoded so far (samples x channels), against the bound. */
static int decoded_work(struct xc_job *j)
{
	if (j->ch < 1 || j->samples <= j->a->max_work / (uint64_t)j->ch)
		return 0;
	return xc_fail(j, XCODE_FAIL_WORK, "decoded samples x channels over the bound");
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
	if (par->ch_layout.nb_channels > XCODE_MAX_CHANNELS)
		return xc_fail_limit(j, XF_LIMIT_CHANNELS, par->ch_layout.nb_channels,
				     "too many channels");
	if (par->sample_rate > XCODE_MAX_RATE)
		return xc_fail_limit(j, XF_LIMIT_RATE, par->sample_rate,
				     "sample rate out of range");
	if (par->ch_layout.nb_channels < 1 || par->sample_rate < 1)
		return xc_fail(j, XCODE_FAIL_UNSUPPORTED, "no channels or no sample rate");
	j->max_samples = (uint64_t)j->a->max_duration_s * (uint64_t)par->sample_rate;
	if (j->st->duration > 0 &&
	    av_rescale_q(j->st->duration, j->st->time_base, (AVRational){1, par->sample_rate}) >
		(int64_t)j->max_samples)
		return xc_fail(j, XCODE_FAIL_TOOLONG, "declared duration over the cap");
	if ((rc = declared_work(j, par)))
		return rc;
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

/* ---- declared length: is the file complete? ---------------------------------------- */

#define TRUNC_TOL_US 50000 /* shorter than declared by more: truncated */

/* WAV with PCM: the data chunk's size (ds64's for RF64/BW64) in whole
 * sample frames, or -1 when the header leaves it open (0 or 0xFFFFFFFF: a
 * writer that never came back to fill it in). FFmpeg estimates a WAV's
 * duration from the file size, so its own figure cannot tell a cut file. */
static int64_t wav_declared_frames(struct xc_job *j)
{
	const AVCodecParameters *par = j->st->codecpar;
	int bits = av_get_bits_per_sample(par->codec_id);
	uint8_t h[36], d[8];
	uint64_t frame, bytes;

	if (bits <= 0 || bits % 8 || j->data_off < 20 ||
	    strncmp(avcodec_get_name(par->codec_id), "pcm_", 4))
		return -1;
	frame = (uint64_t)(bits / 8) * (uint64_t)par->ch_layout.nb_channels;
	if (fetch((uint64_t)j->data_off - 8, d, sizeof(d)) != (int)sizeof(d) ||
	    memcmp(d, "data", 4))
		return -1;
	bytes = AV_RL32(d + 4);
	if (bytes == 0xFFFFFFFFu) {
		if (fetch(0, h, sizeof(h)) != (int)sizeof(h) ||
		    (memcmp(h, "RF64", 4) && memcmp(h, "BW64", 4)) || memcmp(h + 12, "ds64", 4))
			return -1;
		bytes = AV_RL64(h + 28);
	}
	if (bytes == 0 || bytes > (UINT64_C(1) << 60))
		return -1;
	return (int64_t)(bytes / frame);
}

/* The length the container states exactly, in microseconds, or -1: WAV
 * (data chunk, or a fact chunk for other codecs), AIFF (COMM frames), FLAC
 * (STREAMINFO total samples, 0 = unknown), MP4 (track duration after the
 * edit list). Open-ended formats (MP3, ADTS, Ogg: their "duration" is an
 * estimate or read from the last page that is there) are not judged. */
static int64_t declared_us(struct xc_job *j)
{
	const char *f = j->a->format;
	int rate = j->st->codecpar->sample_rate;
	int64_t n;

	if (!strcmp(f, "wav") && (n = wav_declared_frames(j)) >= 0)
		return av_rescale(n, 1000000, rate);
	if (strcmp(f, "wav") && strcmp(f, "aiff") && strcmp(f, "flac") && strncmp(f, "mov", 3))
		return -1;
	if (j->ic->duration_estimation_method != AVFMT_DURATION_FROM_STREAM || j->st->duration <= 0)
		return -1;
	return av_rescale_q(j->st->duration, j->st->time_base, (AVRational){1, 1000000});
}

static int64_t decoded_us(const struct xc_job *j)
{
	int rate = j->rate ? j->rate : j->st->codecpar->sample_rate;

	return av_rescale((int64_t)j->samples, 1000000, rate);
}

/* 1 if the file holds less audio than its header declares (beyond the
 * tolerance), with the figures in the failure message for the logs. */
static int truncated(struct xc_job *j)
{
	int64_t have = decoded_us(j);
	char m[96];

	if (j->declared_us < 0 || have + TRUNC_TOL_US >= j->declared_us)
		return 0;
	snprintf(m, sizeof(m), "truncated: %.3f s of the %.3f s the header declares", have / 1e6,
		 j->declared_us / 1e6);
	xc_fail(j, XCODE_FAIL_TRUNCATED, m);
	return 1;
}

/* A demuxer or decoder error. At the very end of the input, in a file that
 * promised more audio than decoded, it is the cut, not damage. */
static int damaged(struct xc_job *j, int at_end)
{
	if (at_end && truncated(j))
		return AM_ERR_INVAL;
	return xc_fail(j, XCODE_FAIL_DAMAGED, NULL);
}

/* After the last frame: short is truncated; longer than declared by more
 * than 100 ms + 1 % (an MP4 input's AAC decodes up to one frame past its
 * edit list) is a header that lies. */
static int check_declared(struct xc_job *j)
{
	if (j->declared_us < 0)
		return 0;
	if (truncated(j))
		return AM_ERR_INVAL;
	if (decoded_us(j) > j->declared_us + 100000 + j->declared_us / 100)
		return xc_fail(j, XCODE_FAIL_DAMAGED, "decoded length exceeds the header's");
	return 0;
}

/* ---- decoding ---------------------------------------------------------------------------- */

static int drain_decoder(struct xc_job *j, AVFrame *f, int at_end)
{
	int rc;

	for (;;) {
		rc = avcodec_receive_frame(j->dec, f);
		if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
			return 0;
		if (rc < 0)
			return damaged(j, at_end);
		if (!xc_opened(j) && (rc = xc_open(j, f)))
			return rc;
		rc = xc_frame(j, f);
		av_frame_unref(f);
		if (rc || (rc = decoded_work(j)))
			return rc;
	}
}

/* Does this packet reach the end of the input (a partial last packet)? */
static int reaches_end(const struct xc_job *j, const AVPacket *pkt)
{
	if (pkt->pos < 0)
		return j->in_pos >= j->a->size;
	return (uint64_t)pkt->pos + (uint64_t)pkt->size >= j->a->size;
}

static int decode_packet(struct xc_job *j, AVPacket *pkt, AVFrame *f)
{
	int end = reaches_end(j, pkt), r = avcodec_send_packet(j->dec, pkt);

	if (r < 0 && r != AVERROR(EAGAIN))
		return damaged(j, end);
	return drain_decoder(j, f, end);
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
	j->declared_us = declared_us(j);
	for (;;) {
		int r = av_read_frame(j->ic, pkt);

		if (r == AVERROR_EOF)
			break;
		if (r < 0) {
			rc = damaged(j, avio_tell(j->ic->pb) >= (int64_t)j->a->size);
			goto out;
		}
		if (pkt->stream_index == j->st->index)
			rc = decode_packet(j, pkt, f);
		av_packet_unref(pkt);
		if (rc)
			goto out;
		progress(j);
	}
	if (avcodec_send_packet(j->dec, NULL) < 0 || (rc = drain_decoder(j, f, 1)))
		goto out;
	if (!xc_opened(j)) {
		rc = xc_fail(j, XCODE_FAIL_DAMAGED, "no audio decoded");
		goto out;
	}
	if (!(rc = check_declared(j)))
		rc = xc_finish(j);
out:
	av_packet_free(&pkt);
	av_frame_free(&f);
	return rc;
}

/* After XF_DONE, stay until the parent closes the socket: it reads this
 * process's peak RSS (VmHWM) first, which needs the address space. */
static void wait_parent(void)
{
	uint8_t c;
	ssize_t n;

	while ((n = read(XCODE_CHILD_IN, &c, 1)) > 0 || (n < 0 && errno == EINTR))
		;
}

int xcode_child_main(const struct xcode_child_args *a)
{
	struct xc_job j;
	int rc;

	memset(&j, 0, sizeof(j));
	memset(&ra, 0, sizeof(ra)); /* one job per process; empty, nothing in flight */
	j.a = a;
	av_log_set_callback(log_cb);
	av_log_set_level(AV_LOG_ERROR);
	if (xc_r128_spawn(&j.meter, XCODE_MAX_CHANNELS, 0) != 0 ||
	    xc_r128_spawn(&j.smeter, 2, 1) != 0 || xcode_sandbox_enter(a) != 0) {
		xcode_send_fail(XCODE_FAIL_INTERNAL, "sandbox setup failed");
		return 3;
	}
	if (xcode_child_hook(a->hook) != 0) {
		xcode_send_fail(XCODE_FAIL_INTERNAL, "test hooks are not in this build");
		return 3;
	}
	rc = open_input(&j);
	if (!rc)
		rc = open_decoder(&j);
	if (!rc)
		rc = decode_all(&j);
	if (!rc) {
		if ((rc = xcode_send(XF_DONE, NULL, 0)) == 0)
			wait_parent();
	} else {
		xcode_send_fail_limit(j.fail ? j.fail : XCODE_FAIL_INTERNAL, j.limit, j.limit_value,
				      j.msg);
	}
	xc_close(&j);
	avcodec_free_context(&j.dec);
	if (j.ic)
		avformat_close_input(&j.ic);
	if (j.in_pb)
		av_freep(&j.in_pb->buffer);
	avio_context_free(&j.in_pb);
	return rc ? 2 : 0;
}
