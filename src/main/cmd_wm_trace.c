/*
 * cmd_wm_trace.c: the operator's keyed watermark commands (issue 26,
 * docs/watermark.md "Tracer"), run by `audiomus watermark` itself rather
 * than exec'd: they open the database and the keys the way `audiomus log`
 * and `export` do (--config), and hand audio only to audiomus-xcode.
 *   trace --project ID SUSPECT: src/trace/ (the detection runs in the
 *     exec'd, sandboxed transcode child, with the key-less pattern seed);
 *     prints the JSON answer.
 *   embed --project ID --mark MARK IN.wav OUT.wav: mark IN with a listening's
 *     payload under the project's key, for tests and for an operator who
 *     must show what a listener's copy carries; `audiomus` computes the
 *     listener's coded bits and the seed and execs `audiomus-xcode watermark
 *     embed-bits`, the seed on a pipe (fd 3), never in a file or argv.
 * Runs with the operator's privileges; SUSPECT is anyone's file.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "main/main.h"
#include "repo/repo.h"
#include "trace/trace.h"
#include "util/util.h"
#include "watermark/watermark.h"

#define SEED_FD 3

struct wm_op {
	const char *project, *mark, *in, *out, *strength;
};

static int parse(int argc, char **argv, struct wm_op *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--project") && i + 1 < argc)
			o->project = argv[++i];
		else if (!strcmp(argv[i], "--mark") && i + 1 < argc)
			o->mark = argv[++i];
		else if (!strcmp(argv[i], "--strength") && i + 1 < argc)
			o->strength = argv[++i];
		else if (argv[i][0] != '-' && !o->in)
			o->in = argv[i];
		else if (argv[i][0] != '-' && !o->out)
			o->out = argv[i];
		else
			return -1;
	}
	return o->project ? 0 : -1;
}

/* A 128-bit id: exactly 32 lowercase hex digits. */
static int hex_id(const char *s, uint8_t out[DB_ID_LEN])
{
	if (!s || strlen(s) != 2 * DB_ID_LEN)
		return -1;
	for (int i = 0; i < DB_ID_LEN; i++) {
		int hi = am_hexval(s[2 * i], AM_HEX_LOWER),
		    lo = am_hexval(s[2 * i + 1], AM_HEX_LOWER);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The configuration's database, a connection, and the live project. */
struct opened {
	struct app *a;
	struct db *db;
	struct db_project p;
};

static int open_project(int *argc, char **argv, const char *what, struct wm_op *o, struct opened *x)
{
	uint8_t pid[DB_ID_LEN];
	char err[1024];
	struct conf c;

	memset(x, 0, sizeof(*x));
	if (main_load_conf(argc, argv, &c))
		return 2;
	if (parse(*argc, argv, o) || hex_id(o->project, pid)) {
		fprintf(stderr,
			"audiomus watermark %s: bad arguments (audiomus watermark --help)\n", what);
		return 2;
	}
	if (app_open(&c, APP_DB, &x->a, err, sizeof(err))) {
		fprintf(stderr, "audiomus watermark %s: %s\n", what, err);
		return 2;
	}
	if (app_db_get(x->a, &x->db) || db_project_get_by_id(x->db, x->a->keys, pid, &x->p) != 0) {
		fprintf(stderr, "audiomus watermark %s: no such project\n", what);
		return 2;
	}
	return 0;
}

static void close_project(struct opened *x)
{
	if (x->db)
		app_db_put(x->a, x->db);
	app_close(x->a);
	am_memzero(&x->p, sizeof(x->p));
}

static int file_read_at(void *ctx, uint64_t off, void *buf, size_t n, size_t *got)
{
	ssize_t k = pread(*(int *)ctx, buf, n, (off_t)off);

	if (k < 0)
		return AM_ERR_IO;
	*got = (size_t)k;
	return 0;
}

int cmd_watermark_trace(int argc, char **argv)
{
	struct trace_params tp = {0};
	struct trace_answer t;
	struct xcode_result xr;
	char exe[PATH_MAX + 32], *json = NULL;
	struct opened x;
	struct wm_op o;
	struct stat st;
	int fd = -1, rc;
	struct xcode_source src = {.read_at = file_read_at, .ctx = &fd};

	memset(&t, 0, sizeof(t));
	if ((rc = open_project(&argc, argv, "trace", &o, &x)) != 0)
		goto out;
	rc = 2;
	if (!o.in || o.out || o.mark || am_exe_sibling("audiomus-xcode", exe, sizeof(exe))) {
		fprintf(stderr, "audiomus watermark trace: give one SUSPECT file\n");
		goto out;
	}
	if ((fd = open(o.in, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "audiomus watermark trace: cannot read %s\n", o.in);
		goto out;
	}
	src.size = (uint64_t)st.st_size;
	tp.exec_path = exe;
	if (trace_run(x.a, x.db, &x.p, &src, &tp, &t, &xr) != 0) {
		fprintf(stderr, "audiomus watermark trace: %s\n",
			xr.fail != XCODE_OK ? xr.reason : "failed");
		goto out;
	}
	if (!(json = trace_answer_json(&t)))
		goto out;
	printf("%s\n", json);
	rc = t.found ? 0 : 1;
out:
	free(json);
	am_memzero(&t, sizeof(t));
	if (fd >= 0)
		close(fd);
	close_project(&x);
	return rc;
}

/* The listening's coded bits and the project's seed, from its keys. */
static int mark_bits(struct opened *x, const uint8_t mid[DB_ID_LEN], char bits[WM_CODED_BITS + 1],
		     uint8_t *seed, int *strength)
{
	uint8_t fb[WM_CODED_BITS];
	struct crypto_pk *pk = NULL;
	struct crypto_wm_key *wk = NULL;
	struct wm_pattern *pat = NULL;
	struct db_mark_settings s;
	struct db_mark m;
	int rc;

	if ((rc = db_mark_get(x->db, x->a->keys, x->p.id, mid, &m)) ||
	    (rc = db_mark_settings_get(x->db, x->p.id, &s)) ||
	    (rc = crypto_pk_open(x->a->kr, x->p.id, x->p.wrapped_pk, x->p.wrapped_pk_len, &pk)) ||
	    (rc = crypto_wm_key_project(pk, &wk)) || (rc = wm_pattern_new(wk, &pat)) ||
	    (rc = wm_fragment_bits(pat, m.payload, fb)) || (rc = wm_pattern_seed(wk, seed)))
		goto out;
	for (int j = 0; j < WM_CODED_BITS; j++)
		bits[j] = (char)('0' + fb[j]);
	bits[WM_CODED_BITS] = 0;
	*strength = s.strength;
out:
	am_memzero(&m, sizeof(m));
	am_memzero(fb, sizeof(fb));
	wm_pattern_free(pat);
	crypto_wm_key_free(wk);
	crypto_pk_free(pk);
	return rc;
}

/* Exec audiomus-xcode watermark embed-bits with the seed on fd 3. */
static int exec_embed(const char *exe, const uint8_t *seed, char *bits, char *strength,
		      const struct wm_op *o)
{
	char a0[] = "audiomus-xcode", a1[] = "watermark", a2[] = "embed-bits", a3[] = "--seed-fd",
	     a4[] = "3", a5[] = "--bits", a7[] = "--strength";
	char *args[] = {a0,  a1, a2, a3, a4, a5, bits, a7, strength, (char *)o->in, (char *)o->out,
			NULL};
	int pfd[2];

	if (pipe(pfd) != 0 || write(pfd[1], seed, WM_SEED_BYTES) != WM_SEED_BYTES)
		return 2; /* a pipe holds 4096 bytes before anyone reads */
	close(pfd[1]);
	if (pfd[0] != SEED_FD && (dup2(pfd[0], SEED_FD) < 0 || close(pfd[0]) != 0))
		return 2;
	execv(exe, args);
	fprintf(stderr, "audiomus watermark embed: cannot run %s\n", exe);
	return 2;
}

int cmd_watermark_embed_mark(int argc, char **argv)
{
	uint8_t mid[DB_ID_LEN], *seed = am_secret_alloc(WM_SEED_BYTES);
	char exe[PATH_MAX + 32], bits[WM_CODED_BITS + 1], strength[32];
	struct opened x;
	struct wm_op o;
	int rc, milli = 0;

	if (!seed)
		return 2;
	if ((rc = open_project(&argc, argv, "embed", &o, &x)) != 0)
		goto out;
	rc = 2;
	if (!o.in || !o.out || hex_id(o.mark, mid) ||
	    am_exe_sibling("audiomus-xcode", exe, sizeof(exe))) {
		fprintf(stderr, "audiomus watermark embed: give --mark ID IN.wav OUT.wav\n");
		goto out;
	}
	if (mark_bits(&x, mid, bits, seed, &milli) != 0) {
		fprintf(stderr, "audiomus watermark embed: no such mark in the project\n");
		goto out;
	}
	if (o.strength)
		am_strlcpy(strength, o.strength, sizeof(strength));
	else
		snprintf(strength, sizeof(strength), "%.3f", milli / 1000.0);
	close_project(&x);
	x.a = NULL, x.db = NULL;
	rc = exec_embed(exe, seed, bits, strength, &o);
out:
	am_secret_free(seed, WM_SEED_BYTES);
	close_project(&x);
	return rc;
}
