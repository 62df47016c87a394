/*
 * wm_variants.c: `audiomus watermark variants` (exec'd as `audiomus-xcode
 * watermark variants`, docs/watermark.md "Serving segment variants"): from
 * one WAV, renditions A and B (every fragment bit 0 and 1) as AAC-LC MP4
 * files of one byte layout (src/xcode/xcode_ab.c), and, given a payload,
 * the listener's stream spliced from them by the map the media role would
 * use (src/media/media_splice.c). The operator's command on the
 * operator's files: runs unsandboxed with the operator's privileges.
 */
#include "main/xcode/wm_variants.h"

#include <fcntl.h>
#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "media/media_splice.h"
#include "util/util.h"
#include "watermark/watermark.h"
#include "xcode/xcode.h"

struct va_args {
	const char *key_file, *payload_hex, *in, *out_a, *out_b, *splice;
	float strength;
	int single;
};

static double cpu_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int parse_args(int argc, char **argv, struct va_args *a)
{
	*a = (struct va_args){.strength = WM_STRENGTH_DEFAULT};
	for (int i = 2; i < argc; i++) {
		char *end = NULL;

		if (!strcmp(argv[i], "--key-file") && i + 1 < argc)
			a->key_file = argv[++i];
		else if (!strcmp(argv[i], "--payload") && i + 1 < argc)
			a->payload_hex = argv[++i];
		else if (!strcmp(argv[i], "--splice") && i + 1 < argc)
			a->splice = argv[++i];
		else if (!strcmp(argv[i], "--strength") && i + 1 < argc) {
			a->strength = strtof(argv[++i], &end);
			if (!end || *end || !(a->strength > 0 && a->strength <= WM_STRENGTH_MAX))
				return -1;
		} else if (!strcmp(argv[i], "--single"))
			a->single = 1;
		else if (argv[i][0] != '-' && !a->in)
			a->in = argv[i];
		else if (argv[i][0] != '-' && !a->out_a)
			a->out_a = argv[i];
		else if (argv[i][0] != '-' && !a->out_b)
			a->out_b = argv[i];
		else
			return -1;
	}
	if (!a->in || !a->out_a || (a->single ? a->out_b || a->splice : !a->out_b) ||
	    (!a->splice != !a->payload_hex) || (!a->single && !a->key_file))
		return -1;
	return 0;
}

/* The splice map of layout l: consecutive access units of one watermark
 * fragment form a span. Access unit i is centred on input sample
 * frame_size * (i + 1) - priming (its MDCT window spans that sample's two
 * neighbouring blocks) and belongs to the fragment holding that sample:
 * at 44.1 kHz with priming 1024, units 6g..6g+5 are fragment g. Units
 * centred before the first sample are every listener's A. */
static int build_map(const struct xcode_ab_layout *l, unsigned rate, uint64_t *cut, uint16_t *slot,
		     struct media_splice_map *m)
{
	uint64_t off = l->data_at;
	size_t n = 0;
	uint16_t prev = 0;

	for (size_t i = 0; i < l->n; i++) {
		int64_t c = (int64_t)l->frame_size * (int64_t)(i + 1) - l->priming;
		uint16_t s = c < 0 ? MEDIA_SPLICE_ALWAYS_A
				   : (uint16_t)((uint64_t)c * WM_RATE /
						((uint64_t)rate * WM_FRAGMENT) % WM_CODED_BITS);

		if (n == 0 || s != prev) {
			cut[n] = off;
			slot[n++] = s;
			prev = s;
		}
		off += l->sizes[i];
	}
	cut[n] = off;
	*m = (struct media_splice_map){.cut = cut, .slot = slot, .n = n, .size = l->file_size};
	return media_splice_check(m);
}

/* Copy len bytes at off of fd to out. */
static int copy_piece(int fd, uint64_t off, uint64_t len, FILE *out)
{
	uint8_t buf[65536];

	while (len > 0) {
		size_t k = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t r = pread(fd, buf, k, (off_t)off);

		if (r <= 0 || fwrite(buf, 1, (size_t)r, out) != (size_t)r)
			return AM_ERR_IO;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

/* The listener's whole stream, [0, size), served piece by piece as the
 * media role would serve a Range. */
static int write_splice(const struct xcode_ab_layout *l, unsigned rate, const uint8_t *bits,
			int fd_a, int fd_b, const char *path, size_t *pieces)
{
	uint64_t *cut = calloc(l->n + 1, sizeof(*cut)), at = 0, next = 0;
	uint16_t *slot = calloc(l->n + 1, sizeof(*slot));
	struct media_splice_map m;
	struct media_splice_piece pc[64];
	FILE *out = NULL;
	int rc = AM_ERR_NOMEM, n;

	*pieces = 0;
	if (!cut || !slot || (rc = build_map(l, rate, cut, slot, &m)))
		goto out;
	if (!(out = fopen(path, "wb"))) {
		rc = AM_ERR_IO;
		goto out;
	}
	while (rc == 0 && at < m.size) {
		n = media_splice_range(&m, bits, at, m.size, pc, AM_ARRAY_LEN(pc), &next);
		if (n <= 0) {
			rc = n < 0 ? n : AM_ERR_INTERNAL;
			break;
		}
		for (int i = 0; i < n && rc == 0; i++)
			rc = copy_piece(pc[i].src ? fd_b : fd_a, pc[i].off, pc[i].len, out);
		*pieces += (size_t)n;
		at = next;
	}
	if (fclose(out) != 0 && rc == 0)
		rc = AM_ERR_IO;
out:
	free(cut);
	free(slot);
	return rc;
}

static int open_out(const char *path)
{
	return path ? open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
}

/* Mark the two copies (or none for --single), then encode. */
static int render(const struct va_args *a, const struct wm_pattern *p, struct wm_audio *au,
		  int fd_a, int fd_b, struct xcode_ab_layout *l, double *mark_s, double *enc_s)
{
	size_t n = au->frames * au->channels;
	float *b = NULL;
	double t0 = cpu_s();
	int rc = 0;

	if (!a->single) {
		if (!(b = malloc(n * sizeof(float))))
			return AM_ERR_NOMEM;
		memcpy(b, au->pcm, n * sizeof(float));
		if (!(rc = wm_embed(p, NULL, 0, a->strength, au->pcm, au->frames, au->channels,
				    au->rate, NULL)))
			rc = wm_embed(p, NULL, 1, a->strength, b, au->frames, au->channels,
				      au->rate, NULL);
	}
	*mark_s = cpu_s() - t0;
	t0 = cpu_s();
	if (rc == 0)
		rc = xcode_ab_write(au->pcm, b, au->frames, au->channels, au->rate, fd_a, fd_b, l);
	*enc_s = cpu_s() - t0;
	free(b);
	return rc;
}

static void report(const struct xcode_ab_layout *l, const struct wm_audio *au, double mark_s,
		   double enc_s, size_t pieces)
{
	uint64_t units = 0;

	for (size_t i = 0; i < l->n; i++)
		units += l->sizes[i];
	printf("{\"units\":%zu,\"file_bytes\":%llu,\"unit_bytes\":%llu,\"raw_a\":%llu,"
	       "\"raw_b\":%llu,\"priming\":%d,\"audio_s\":%.3f,\"mark_cpu_s\":%.3f,"
	       "\"encode_cpu_s\":%.3f,\"splice_pieces\":%zu}\n",
	       l->n, (unsigned long long)l->file_size, (unsigned long long)units,
	       (unsigned long long)l->raw_a, (unsigned long long)l->raw_b, l->priming,
	       (double)au->frames / au->rate, mark_s, enc_s, pieces);
}

int wm_variants_main(int argc, char **argv)
{
	struct crypto_wm_key *k = NULL;
	struct wm_pattern *p = NULL;
	struct wm_audio au = {0};
	struct xcode_ab_layout l = {0};
	struct va_args a;
	uint8_t payload[WM_PAYLOAD_BYTES], bits[WM_CODED_BITS];
	char err[256] = "";
	double mark_s = 0, enc_s = 0;
	size_t pieces = 0;
	int fd_a = -1, fd_b = -1, rc = AM_ERR_INVAL, status = 2;

	av_log_set_level(AV_LOG_ERROR);
	if (parse_args(argc, argv, &a) ||
	    (a.payload_hex && wm_payload_parse(a.payload_hex, payload))) {
		fprintf(stderr, "audiomus watermark variants: bad arguments (audiomus watermark "
				"--help)\n");
		return 2;
	}
	if (a.key_file && crypto_wm_key_file(a.key_file, &k, err, sizeof(err)) != 0) {
		fprintf(stderr, "audiomus watermark: %s\n", err);
		goto out;
	}
	if ((k && (rc = wm_pattern_new(k, &p))) || (rc = wm_wav_read(a.in, &au)))
		goto out;
	if ((fd_a = open_out(a.out_a)) < 0 || (!a.single && (fd_b = open_out(a.out_b)) < 0)) {
		rc = AM_ERR_IO;
		goto out;
	}
	if ((rc = render(&a, p, &au, fd_a, fd_b, &l, &mark_s, &enc_s)))
		goto out;
	if (a.splice && (!(rc = wm_fragment_bits(p, payload, bits))))
		rc = write_splice(&l, au.rate, bits, fd_a, fd_b, a.splice, &pieces);
	if (rc == 0) {
		report(&l, &au, mark_s, enc_s, pieces);
		status = 0;
	}
out:
	if (rc)
		fprintf(stderr, "audiomus watermark variants: %s\n", am_strerror(rc));
	if (fd_a >= 0)
		close(fd_a);
	if (fd_b >= 0)
		close(fd_b);
	xcode_ab_layout_cleanup(&l);
	wm_audio_cleanup(&au);
	wm_pattern_free(p);
	crypto_wm_key_free(k);
	return status;
}
