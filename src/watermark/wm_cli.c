/*
 * wm_cli.c: the body of `audiomus watermark embed|detect|fragments` on WAV
 * files (docs/watermark.md), run inside `audiomus-xcode watermark ...`,
 * the binary that links FFmpeg (av_tx, libswresample): `audiomus
 * watermark` execs it so that `audiomus` itself still maps no FFmpeg code
 * (docs/architecture.md "Two binaries"). The key is a key file in the
 * master-key format standing in for a project key (crypto_wm_key_file).
 * Runs with the operator's privileges; the WAV given to detect may be
 * anyone's suspect file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/util.h"
#include "watermark/watermark.h"

struct wm_args {
	const char *op, *key_file, *payload_hex, *in, *out;
	int variant, as_float;
	float strength;
};

/* The payload as 16 hex digits (either case): wm_payload_parse, watermark.h. */
int wm_payload_parse(const char *s, uint8_t out[WM_PAYLOAD_BYTES])
{
	if (!s || strlen(s) != 2 * WM_PAYLOAD_BYTES)
		return -1;
	for (int i = 0; i < WM_PAYLOAD_BYTES; i++) {
		int hi = am_hexval(s[2 * i], AM_HEX_ANY_CASE),
		    lo = am_hexval(s[2 * i + 1], AM_HEX_ANY_CASE);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct wm_args *a)
{
	*a = (struct wm_args){.variant = -1, .strength = WM_STRENGTH_DEFAULT};
	if (argc < 2)
		return -1;
	a->op = argv[1];
	for (int i = 2; i < argc; i++) {
		char *end = NULL;

		if (!strcmp(argv[i], "--key-file") && i + 1 < argc)
			a->key_file = argv[++i];
		else if (!strcmp(argv[i], "--payload") && i + 1 < argc)
			a->payload_hex = argv[++i];
		else if (!strcmp(argv[i], "--variant") && i + 1 < argc)
			a->variant = !strcmp(argv[++i], "1") ? 1 : !strcmp(argv[i], "0") ? 0 : -2;
		else if (!strcmp(argv[i], "--strength") && i + 1 < argc) {
			a->strength = strtof(argv[++i], &end);
			if (!end || *end || !(a->strength > 0 && a->strength <= WM_STRENGTH_MAX))
				return -1;
		} else if (!strcmp(argv[i], "--float"))
			a->as_float = 1;
		else if (argv[i][0] != '-' && !a->in)
			a->in = argv[i];
		else if (argv[i][0] != '-' && !a->out)
			a->out = argv[i];
		else
			return -1;
	}
	return a->key_file ? 0 : -1;
}

static double cpu_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int do_embed(const struct wm_pattern *p, const struct wm_args *a)
{
	uint8_t payload[WM_PAYLOAD_BYTES];
	struct wm_audio au;
	struct wm_embed_stats st;
	double t0;
	int rc;

	if (!a->in || !a->out ||
	    (a->payload_hex ? wm_payload_parse(a->payload_hex, payload) != 0 : a->variant < 0)) {
		fprintf(
		    stderr,
		    "audiomus watermark embed: give IN OUT and --payload HEX16 or --variant 0|1\n");
		return 2;
	}
	if ((rc = wm_wav_read(a->in, &au)) != 0) {
		fprintf(stderr, "audiomus watermark: cannot read %s (%s)\n", a->in,
			am_strerror(rc));
		return 1;
	}
	t0 = cpu_s();
	rc = wm_embed(p, a->payload_hex ? payload : NULL, a->variant < 0 ? 0 : a->variant,
		      a->strength, au.pcm, au.frames, au.channels, au.rate, &st);
	if (rc == 0) {
		double cpu = cpu_s() - t0, min = (double)au.frames / au.rate / 60.0;

		printf("{\"msr_db\":%.2f,\"msr_worst_db\":%.2f,\"cpu_s\":%.3f,"
		       "\"cpu_s_per_min\":%.3f}\n",
		       st.msr_db, st.msr_worst_db, cpu, min > 0 ? cpu / min : 0.0);
		au.bits = a->as_float ? 33 : 16;
		rc = wm_wav_write(a->out, &au);
	}
	wm_audio_cleanup(&au);
	if (rc)
		fprintf(stderr, "audiomus watermark embed: %s\n", am_strerror(rc));
	return rc ? 1 : 0;
}

static int do_detect(const struct wm_pattern *p, const struct wm_args *a)
{
	struct wm_audio au;
	struct wm_result r;
	double t0;
	int rc;

	if (!a->in || a->out) {
		fprintf(stderr, "audiomus watermark detect: give one IN file\n");
		return 2;
	}
	if ((rc = wm_wav_read(a->in, &au)) != 0) {
		fprintf(stderr, "audiomus watermark: cannot read %s (%s)\n", a->in,
			am_strerror(rc));
		return 2;
	}
	t0 = cpu_s();
	rc = wm_detect(p, au.pcm, au.frames, au.channels, au.rate, &r);
	wm_audio_cleanup(&au);
	if (rc) {
		fprintf(stderr, "audiomus watermark detect: %s\n", am_strerror(rc));
		return 2;
	}
	printf("{\"found\":%s,\"payload\":\"", r.found ? "true" : "false");
	for (int i = 0; r.found && i < WM_PAYLOAD_BYTES; i++)
		printf("%02x", r.payload[i]);
	printf("\",\"confidence\":%.3f,\"sync_z\":%.2f,\"offset_s\":%.3f,\"tries\":%d,"
	       "\"cpu_s\":%.3f}\n",
	       r.confidence, r.sync_z, r.offset_s, r.tries, cpu_s() - t0);
	return r.found ? 0 : 1;
}

static int do_fragments(const struct wm_pattern *p, const struct wm_args *a)
{
	uint8_t payload[WM_PAYLOAD_BYTES], bits[WM_CODED_BITS];

	if (wm_payload_parse(a->payload_hex, payload) != 0 ||
	    wm_fragment_bits(p, payload, bits) != 0) {
		fprintf(stderr, "audiomus watermark fragments: give --payload HEX16\n");
		return 2;
	}
	printf("{\"rate\":%d,\"fragment\":%d,\"bits\":\"", WM_RATE, WM_FRAGMENT);
	for (int i = 0; i < WM_CODED_BITS; i++)
		putchar('0' + bits[i]);
	printf("\"}\n");
	return 0;
}

/* `watermark embed-bits --seed-fd N --bits 0101... [--strength S] IN OUT`:
 * what `audiomus watermark embed --project ID --mark ID` execs (the keyed
 * `audiomus` computed the listener's coded bits and the key-less pattern
 * seed; the seed arrives on a pipe, fd N, never on the command line or in a
 * file). This process holds no watermark key. */
static int embed_bits(int argc, char **argv)
{
	uint8_t seed[WM_SEED_BYTES], bits[WM_CODED_BITS];
	const char *in = NULL, *out = NULL, *bitstr = NULL;
	struct wm_pattern *p = NULL;
	struct wm_audio au = {0};
	float strength = WM_STRENGTH_DEFAULT;
	int fd = -1, rc = 2;
	size_t got = 0;

	for (int i = 2; i < argc; i++) {
		char *end = NULL;

		if (!strcmp(argv[i], "--seed-fd") && i + 1 < argc)
			fd = (int)strtol(argv[++i], &end, 10);
		else if (!strcmp(argv[i], "--bits") && i + 1 < argc)
			bitstr = argv[++i];
		else if (!strcmp(argv[i], "--strength") && i + 1 < argc)
			strength = strtof(argv[++i], &end);
		else if (argv[i][0] != '-' && !in)
			in = argv[i];
		else if (argv[i][0] != '-' && !out)
			out = argv[i];
		else
			fd = -2;
		if (end && *end)
			fd = -2;
	}
	if (fd < 0 || !in || !out || !bitstr || strlen(bitstr) != WM_CODED_BITS ||
	    !(strength > 0 && strength <= WM_STRENGTH_MAX))
		goto usage;
	for (int j = 0; j < WM_CODED_BITS; j++) {
		if (bitstr[j] != '0' && bitstr[j] != '1')
			goto usage;
		bits[j] = (uint8_t)(bitstr[j] - '0');
	}
	while (got < sizeof(seed)) {
		ssize_t k = read(fd, seed + got, sizeof(seed) - got);

		if (k <= 0)
			goto usage;
		got += (size_t)k;
	}
	if ((rc = wm_pattern_from_seed(seed, &p)) == 0 && (rc = wm_wav_read(in, &au)) == 0 &&
	    (rc = wm_embed_bits(p, bits, strength, au.pcm, au.frames, au.channels, au.rate,
				NULL)) == 0) {
		au.bits = 16;
		rc = wm_wav_write(out, &au);
	}
	if (rc)
		fprintf(stderr, "audiomus watermark embed: %s\n", am_strerror(rc));
	rc = rc ? 1 : 0;
	goto out;
usage:
	fprintf(stderr, "audiomus watermark embed-bits: bad arguments (internal to 'embed "
			"--project')\n");
out:
	am_memzero(seed, sizeof(seed));
	wm_pattern_free(p);
	wm_audio_cleanup(&au);
	return rc;
}

int wm_cli_main(int argc, char **argv)
{
	struct crypto_wm_key *k = NULL;
	struct wm_pattern *p = NULL;
	struct wm_args a;
	char err[256] = "";
	int rc = 2;

	if (argc >= 2 && !strcmp(argv[1], "embed-bits"))
		return embed_bits(argc, argv);
	if (parse_args(argc, argv, &a) != 0) {
		fprintf(stderr, "audiomus watermark: bad arguments (audiomus watermark --help)\n");
		return 2;
	}
	if (crypto_wm_key_file(a.key_file, &k, err, sizeof(err)) != 0) {
		fprintf(stderr, "audiomus watermark: %s\n", err);
		goto out;
	}
	if (wm_pattern_new(k, &p) != 0)
		goto out;
	if (!strcmp(a.op, "embed"))
		rc = do_embed(p, &a);
	else if (!strcmp(a.op, "detect"))
		rc = do_detect(p, &a);
	else if (!strcmp(a.op, "fragments"))
		rc = do_fragments(p, &a);
	else
		fprintf(stderr, "audiomus watermark: unknown operation \"%s\"\n", a.op);
out:
	wm_pattern_free(p);
	crypto_wm_key_free(k);
	return rc;
}
