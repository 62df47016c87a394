/*
 * xcode_bench.c: drive one transcode job (xcode_run) from a plaintext file
 * to plaintext output files, for bench/xcode.sh and for manual checks.
 *   xcode_bench IN STREAM.out PEAKS.dat OVERVIEW.dat [mp3|ab]
 * (ab: the marked renditions A and B, XCODE_OUT_AB, with a fixed pattern
 * seed at strength 0.2: A in STREAM, B in PEAKS, the unit sizes in
 * OVERVIEW; docs/transcoding.md "Marked renditions")
 * prints one line: "ok|fail reason wall_s parent_rss_kib child_rss_kib
 * duration_ms rate channels bits lufs dbtp". Runs as a trusted tool; the
 * input is parsed only by the sandboxed child, as in the worker.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "xcode/xcode.h"
#include "xcode/xcode_int.h"

/* Fork mode (exec_path NULL) calls the child through a weak reference
 * (src/xcode/parent.c): this strong one links it in. */
int (*const bench_fork_child)(const struct xcode_child_args *) = xcode_child_main;

struct fsink {
	int fd;
	uint64_t head, pos;
};

static int src_read(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	ssize_t r = pread(*(int *)ctx, buf, n, (off_t)off);

	if (r < 0)
		return AM_ERR_IO;
	*got = (size_t)r;
	return 0;
}

static int sink_write(void *ctx, const void *p, size_t n)
{
	struct fsink *s = ctx;

	if (pwrite(s->fd, p, n, (off_t)(s->head + s->pos)) != (ssize_t)n)
		return AM_ERR_IO;
	s->pos += n;
	return 0;
}

static int sink_head(void *ctx, const void *p, size_t n)
{
	struct fsink *s = ctx;

	return pwrite(s->fd, p, n, 0) == (ssize_t)n ? 0 : AM_ERR_IO;
}

int main(int argc, char **argv)
{
	struct fsink fs[3];
	struct xcode_sink sk[3];
	struct xcode_params p;
	struct xcode_result res;
	struct xcode_source src;
	static uint8_t seed[XCODE_WM_SEED_BYTES];
	const int ab = argc > 5 && !strcmp(argv[5], "ab");
	const uint64_t heads[3] = {XCODE_STREAM_HEAD, ab ? XCODE_STREAM_HEAD : XCODE_PEAKS_HEAD,
				   XCODE_OVERVIEW_HEAD};
	struct rusage ru;
	int in, rc;
	int64_t t0;

	if (argc < 5) {
		fprintf(stderr, "usage: xcode_bench IN STREAM PEAKS OVERVIEW [mp3]\n");
		return 2;
	}
	if ((in = open(argv[1], O_RDONLY | O_CLOEXEC)) < 0)
		return 2;
	src.read_at = src_read;
	src.ctx = &in;
	src.size = (uint64_t)lseek(in, 0, SEEK_END);
	for (int i = 0; i < 3; i++) {
		fs[i].fd = open(argv[2 + i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		fs[i].head = heads[i];
		fs[i].pos = 0;
		if (fs[i].fd < 0)
			return 2;
		sk[i].write = sink_write;
		sk[i].patch_head = sink_head;
		sk[i].ctx = &fs[i];
	}
	memset(&p, 0, sizeof(p));
	if (argc > 5 && !strcmp(argv[5], "mp3"))
		p.output = XCODE_OUT_MP3;
	if (ab) {
		for (size_t i = 0; i < sizeof(seed); i++)
			seed[i] = (uint8_t)(i * 131 + 7);
		p.output = XCODE_OUT_AB;
		p.wm_seed = seed;
		p.wm_strength = 0.2f;
	}
	t0 = am_mono_ms();
	rc = xcode_run(&p, &src, &sk[0], &sk[1], &sk[2], &res);
	getrusage(RUSAGE_SELF, &ru);
	printf("%s %s %.3f %ld %ld %lld %d %d %d %.2f %.2f\n", rc ? "fail" : "ok",
	       rc ? res.reason : "-", (double)(am_mono_ms() - t0) / 1000.0, ru.ru_maxrss,
	       (long)res.child_maxrss_kib, (long long)res.duration_ms, res.sample_rate,
	       res.channels, res.bit_depth, res.loudness_lufs, res.true_peak_dbtp);
	if (rc)
		fprintf(stderr, "detail: %s\n", res.detail);
	for (int i = 0; i < 3; i++)
		if (ftruncate(fs[i].fd, (off_t)(rc ? 0
						   : (i == 0   ? res.stream_size
						      : i == 1 ? res.peaks_size
							       : res.overview_size))) != 0)
			rc = 1;
	return rc ? 1 : 0;
}
