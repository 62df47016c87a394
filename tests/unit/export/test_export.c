/*
 * Unit tests for src/export: name sanitising (fixed cases and a random
 * property: always valid UTF-8, never a separator, "." or "..", a control
 * or bidi character, never longer than EXPORT_NAME_MAX), slugs, and the
 * archive builder over a real app (key file, SQLite, file store) with
 * projects, tracks, originals, comments and a second owner: every step
 * emits at most EXPORT_STEP_MAX bytes, the tar (read back with libarchive)
 * holds account.json, each project.json (every object and comment listed)
 * and every original byte for byte, nothing of the other owner, and an
 * "export" event per project; a tampered object aborts the export without
 * releasing the failing segment's plaintext or an end of archive. The
 * project archive ("Download all"): a ZIP (read back with libarchive) of
 * comments.json (a guest's without guest ids), comments.csv and the
 * original byte for byte; CSV fields quoted and formulas defused.
 */
#include "access/access_fixture.inc"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>

#include "export/export.h"
#include "export/export_int.h"

/* ---- names ------------------------------------------------------------------------ */

static int valid_utf8(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = p[i] < 0x80		   ? 1
			   : (p[i] & 0xE0) == 0xC0 ? 2
			   : (p[i] & 0xF0) == 0xE0 ? 3
			   : (p[i] & 0xF8) == 0xF0 ? 4
						   : 0;
		if (l == 0 || i + l > n)
			return 0;
		for (size_t k = 1; k < l; k++)
			if ((p[i + k] & 0xC0) != 0x80)
				return 0;
		i += l;
	}
	return 1;
}

static void assert_safe_name(const char *s)
{
	size_t n = strlen(s);

	assert_true(n > 0 && n <= EXPORT_NAME_MAX);
	assert_true(valid_utf8((const unsigned char *)s, n));
	assert_null(strchr(s, '/'));
	assert_null(strchr(s, '\\'));
	assert_true(strcmp(s, ".") != 0 && strcmp(s, "..") != 0);
	assert_true(s[0] != '.' && s[0] != ' ' && s[n - 1] != '.' && s[n - 1] != ' ');
	for (size_t i = 0; i < n; i++)
		assert_true((unsigned char)s[i] >= 0x20 && s[i] != 0x7F);
	assert_null(strstr(s, "\xE2\x80\xAE")); /* U+202E */
	assert_null(strstr(s, "\xC2\x85"));	/* U+0085 */
}

static void names(void **state)
{
	static const char *const cases[][2] = {
	    {"mix.wav", "mix.wav"},
	    {"Mix \"final\" \xC3\xA9.wav", "Mix _final_ \xC3\xA9.wav"},
	    {"../../etc/passwd", "_.._etc_passwd"},
	    {"..", "file"},
	    {".", "file"},
	    {"", "file"},
	    {" . ", "file"},
	    {".hidden", "hidden"},
	    {"a/b\\c:d*e?f|g<h>i", "a_b_c_d_e_f_g_h_i"},
	    {"tab\there\nnl\x7F", "tab_here_nl_"},
	    {"evil\xE2\x80\xAEvaw.exe", "evil_vaw.exe"},
	    {"\xFF\xFE.wav", "__.wav"},
	    {"\xC0\xAF", "__"},		   /* overlong '/' */
	    {"\xED\xA0\x80x", "___x"},	   /* a surrogate */
	    {"c1\xC2\x85.wav", "c1_.wav"}, /* NEL */
	    {"name. ", "name"},
	    {"\xE6\x97\xA5\xE6\x9C\xAC.flac", "\xE6\x97\xA5\xE6\x9C\xAC.flac"},
	};
	char out[EXPORT_NAME_MAX + 1], in[2048];
	uint32_t seed = 7;

	(void)state;
	for (size_t i = 0; i < AM_ARRAY_LEN(cases); i++) {
		export_name_sanitise(cases[i][0], out);
		assert_string_equal(out, cases[i][1]);
		assert_safe_name(out);
	}
	export_name_sanitise(NULL, out);
	assert_string_equal(out, "file");
	/* long: cut on a character boundary, the extension kept */
	size_t o = 0;
	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(in + o, sizeof(in) - o, "\xC3\xA9");
	snprintf(in + o, sizeof(in) - o, ".wav");
	export_name_sanitise(in, out);
	assert_safe_name(out);
	assert_true(strlen(out) >= EXPORT_NAME_MAX - 4);
	assert_string_equal(out + strlen(out) - 4, ".wav");
	memset(in, '.', 500);
	memcpy(in + 500, "x", 2);
	export_name_sanitise(in, out);
	assert_string_equal(out, "x");
	/* property: random bytes (biased to the interesting ones) */
	static const unsigned char alpha[] = {'.',  '/',  '\\', ' ',  'a',  'Z',  '0',	0x01,
					      0x7F, 0x80, 0xBF, 0xC2, 0xC3, 0xA9, 0xE2, 0x80,
					      0xAE, 0xED, 0xF0, 0xF4, 0x9F, 0xFF};
	for (int iter = 0; iter < 20000; iter++) {
		size_t n;
		seed = seed * 1103515245 + 12345;
		n = (seed >> 8) % 400;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			in[i] = (char)((seed >> 20) & 1 ? alpha[(seed >> 8) % sizeof(alpha)]
							: (seed >> 8) & 0xFF);
			if (in[i] == 0)
				in[i] = 'q';
		}
		in[n] = 0;
		export_name_sanitise(in, out);
		assert_safe_name(out);
	}
}

static void slugs(void **state)
{
	char out[EXPORT_SLUG_MAX + 1], in[300];

	(void)state;
	export_slug("Demo EP!", out);
	assert_string_equal(out, "demo-ep");
	export_slug("", out);
	assert_string_equal(out, "untitled");
	export_slug("../..", out);
	assert_string_equal(out, "untitled");
	export_slug("  Hello,   World  2 ", out);
	assert_string_equal(out, "hello-world-2");
	export_slug("\xC3\x9Cn\xC3\xAF"
		    "code",
		    out);
	assert_string_equal(out, "n-code");
	memset(in, 'a', 299);
	in[299] = 0;
	export_slug(in, out);
	assert_int_equal(strlen(out), EXPORT_SLUG_MAX);
	for (int i = 0; i < 100; i++)
		in[i] = (char)(i % 2 ? 'x' : '-');
	in[100] = 0;
	export_slug(in, out);
	assert_true(strlen(out) <= EXPORT_SLUG_MAX && out[strlen(out) - 1] != '-');
}

/* ---- the archive ---------------------------------------------------------------- */

struct sink {
	struct am_buf b;
	size_t max_step, step_bytes;
};

static int sink_emit(void *ctx, const void *p, size_t n)
{
	struct sink *s = ctx;

	s->step_bytes += n;
	return am_buf_append(&s->b, p, n);
}

/* Run an export of account into s; returns the final export_step result. */
static int run(struct fx *f, const uint8_t account[16], struct sink *s)
{
	struct export *x = NULL;
	int rc;

	am_buf_init(&s->b, 256u << 20);
	s->max_step = 0;
	assert_int_equal(export_open(f->a, account, "test", sink_emit, s, &x), 0);
	do {
		s->step_bytes = 0;
		rc = export_step(x);
		if (s->step_bytes > s->max_step)
			s->max_step = s->step_bytes;
	} while (rc == 1);
	assert_int_equal(export_step(x), rc); /* sticky */
	export_free(x);
	return rc;
}

struct entry {
	char path[600];
	struct am_buf data;
};

/* Read the tar back with libarchive; returns the number of entries. */
static size_t read_tar(const struct am_buf *b, struct entry *e, size_t max)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *ae;
	size_t n = 0;
	char buf[65536];
	la_ssize_t r;

	assert_non_null(ar);
	archive_read_support_format_tar(ar);
	assert_int_equal(archive_read_open_memory(ar, b->p, b->len), ARCHIVE_OK);
	int h;

	while (n < max &&
	       ((h = archive_read_next_header(ar, &ae)) == ARCHIVE_OK || h == ARCHIVE_WARN)) {
		snprintf(e[n].path, sizeof(e[n].path), "%s", archive_entry_pathname_utf8(ae));
		am_buf_init(&e[n].data, 64u << 20);
		while ((r = archive_read_data(ar, buf, sizeof(buf))) > 0)
			assert_int_equal(am_buf_append(&e[n].data, buf, (size_t)r), 0);
		assert_int_equal(r, 0);
		assert_int_equal(archive_entry_size(ae), (la_int64_t)e[n].data.len);
		n++;
	}
	archive_read_free(ar);
	return n;
}

static const struct entry *find(const struct entry *e, size_t n, const char *suffix)
{
	size_t sl = strlen(suffix);

	for (size_t i = 0; i < n; i++) {
		size_t pl = strlen(e[i].path);
		if (pl >= sl && strcmp(e[i].path + pl - sl, suffix) == 0)
			return &e[i];
	}
	return NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || fx_open(f) != 0) {
		if (f)
			fx_close(f);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_close(*state);
	free(*state);
	return 0;
}

static uint8_t *pattern(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525 + 1013904223;
		p[i] = (uint8_t)(seed >> 24);
	}
	return p;
}

static int count_events(void *ctx, const struct db_event *e)
{
	if (strcmp(e->kind, "export") == 0)
		(*(int *)ctx)++;
	return 0;
}

/* Two projects of the owner (one with two tracks, an original each, a
 * stream rendition, guest and owner comments), and another owner's. */
static void archive_roundtrip(void **state)
{
	struct fx *f = *state;
	struct fx_project p2, other;
	uint8_t o1[16], o2[16], o3[16], s1[16], guest[16], c1[16], c2[16], acct2[16], t2[16],
	    v2[16], pseudo[16] = {0};
	size_t n1 = 3 * 65536 + 1234, n2 = 100001, n3 = 777;
	uint8_t *d1 = pattern(n1, 1), *d2 = pattern(n2, 2), *d3 = pattern(n3, 3);
	struct entry e[16];
	struct sink s;
	char hex[33];
	int64_t num;
	int events = 0;
	static const uint8_t pseudo32[32] = {7};

	/* project 1 ("Album", the fixture's): track 1 with an original and a
	 * stream; a second track with an awkward file name */
	assert_int_equal(fx_add_object(f, &f->p, "original", d1, n1, "audio/wav", o1), 0);
	assert_int_equal(fx_add_object(f, &f->p, "stream", d3, n3, "audio/mp4", s1), 0);
	assert_int_equal(db_track_create(f->db, f->a->keys, f->p.id, "../Second/Track", 1, t2), 0);
	assert_int_equal(db_version_create(f->db, f->a->keys, f->p.id, t2,
					   "../../evil\xE2\x80\xAE.wav", v2, &num),
			 0);
	struct fx_project p1b = f->p;
	memcpy(p1b.track, t2, 16);
	memcpy(p1b.version, v2, 16);
	assert_int_equal(fx_add_object(f, &p1b, "original", d2, n2, "audio/wav", o2), 0);
	assert_int_equal(db_guest_create(f->db, f->a->keys, f->p.id, f->p.link, "Guest <b>Name</b>",
					 pseudo, 1, guest),
			 0);
	assert_int_equal(db_comment_create(f->db, f->a->keys, f->p.id, f->p.version, guest,
					   "Love the \"bridge\"", 1500, -1, NULL, c1),
			 0);
	assert_int_equal(db_comment_create(f->db, f->a->keys, f->p.id, f->p.version, NULL,
					   "Thanks!", 1500, 2500, c1, c2),
			 0);
	/* a reviewer's verdict (issue 22) goes with the project */
	assert_int_equal(db_verdict_set(f->db, f->a->keys, f->p.id, f->p.version, f->p.link,
					pseudo32, "Guest <b>Name</b>", "changes_requested",
					"Bridge \"too long\""),
			 0);
	/* project 2 with one original */
	assert_int_equal(fx_add_project(f, &p2, "Singles / B-sides"), 0);
	assert_int_equal(fx_add_object(f, &p2, "original", d3, n3, "audio/flac", o3), 0);
	/* another owner */
	assert_int_equal(
	    db_account_create(f->db, f->a->keys, "other@example.org", "$argon2id$x", acct2), 0);
	uint8_t keep[16];
	memcpy(keep, f->account, 16);
	memcpy(f->account, acct2, 16);
	assert_int_equal(fx_add_project(f, &other, "Not yours"), 0);
	memcpy(f->account, keep, 16);

	assert_int_equal(run(f, f->account, &s), 0);
	assert_true(s.max_step <= EXPORT_STEP_MAX);
	size_t n = read_tar(&s.b, e, 16);
	/* account.json + 2 project.json + 3 originals */
	assert_int_equal(n, 6);
	assert_string_equal(e[0].path, "audiomus-export/account.json");
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(strncmp(e[i].path, "audiomus-export/", 16), 0);
		assert_null(strstr(e[i].path, "/../"));
		assert_null(strstr(e[i].path, "\xE2\x80\xAE"));
	}
	access_hex16(f->p.id, hex);
	char want[300];
	snprintf(want, sizeof(want), "audiomus-export/projects/album-%s/project.json", hex);
	assert_non_null(find(e, n, want));
	snprintf(want, sizeof(want),
		 "audiomus-export/projects/album-%s/tracks/1-track-one/v1-Mix _final_ \xC3\xA9.wav",
		 hex);
	const struct entry *a1 = find(e, n, want);
	const struct entry *a2 = find(e, n, "/tracks/2-second-track/v1-_.._evil_.wav");
	assert_non_null(a1);
	assert_non_null(a2);
	assert_true(a1->data.len == n1 && memcmp(a1->data.p, d1, n1) == 0);
	assert_true(a2->data.len == n2 && memcmp(a2->data.p, d2, n2) == 0);
	/* project 2's original: under its own directory */
	access_hex16(p2.id, hex);
	snprintf(want, sizeof(want),
		 "audiomus-export/projects/singles-b-sides-%s/tracks/1-track-one/v1-Mix _final_ "
		 "\xC3\xA9.wav",
		 hex);
	const struct entry *b3 = find(e, n, want);
	assert_non_null(b3);
	assert_true(b3->data.len == n3 && memcmp(b3->data.p, d3, n3) == 0);
	/* nothing of the other owner */
	access_hex16(other.id, hex);
	assert_null(memmem(s.b.p, s.b.len, hex, 32));
	assert_null(memmem(s.b.p, s.b.len, "Not yours", 9));

	/* project.json of project 1: every object and comment */
	access_hex16(f->p.id, hex);
	snprintf(want, sizeof(want), "audiomus-export/projects/album-%s/project.json", hex);
	const struct entry *pj = find(e, n, want);
	json_error_t je;
	json_t *doc = json_loadb((const char *)pj->data.p, pj->data.len, 0, &je);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "format")),
			    "audiomus-project-v1");
	assert_int_equal(json_array_size(json_object_get(doc, "objects")), 3);
	assert_int_equal(json_array_size(json_object_get(doc, "comments")), 2);
	json_t *vd = json_array_get(json_object_get(doc, "verdicts"), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "verdicts")), 1);
	assert_string_equal(json_string_value(json_object_get(vd, "verdict")), "changes_requested");
	assert_string_equal(json_string_value(json_object_get(vd, "note")), "Bridge \"too long\"");
	assert_null(json_object_get(vd, "session_hash"));
	assert_int_equal(json_array_size(json_object_get(doc, "tracks")), 2);
	assert_int_equal(json_array_size(json_object_get(doc, "links")), 1);
	assert_null(json_object_get(json_array_get(json_object_get(doc, "links"), 0), "token"));
	/* the guest's comment, by author: two comments made in the same
	 * millisecond come back in id order, which is random */
	json_t *cm = NULL, *c_i;
	size_t ci;
	json_array_foreach(json_object_get(doc, "comments"), ci, c_i)
	{
		const char *au = json_string_value(json_object_get(c_i, "author"));
		if (au && strcmp(au, "Guest <b>Name</b>") == 0)
			cm = c_i;
	}
	assert_non_null(cm);
	size_t in_archive = 0, i;
	json_t *ob;
	json_array_foreach(json_object_get(doc, "objects"), i, ob)
	{
		json_t *ia = json_object_get(ob, "in_archive");
		if (json_is_string(ia)) {
			char p[600];
			snprintf(p, sizeof(p), "audiomus-export/%s", json_string_value(ia));
			assert_non_null(find(e, n, p));
			in_archive++;
		}
	}
	assert_int_equal(in_archive, 2); /* the two originals, not the stream */
	json_decref(doc);
	/* account.json lists both projects */
	doc = json_loadb((const char *)e[0].data.p, e[0].data.len, 0, &je);
	assert_non_null(doc);
	assert_int_equal(json_array_size(json_object_get(doc, "projects")), 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(doc, "account"), "email")),
	    "owner@example.org");
	json_decref(doc);
	/* an export event per project */
	assert_int_equal(db_event_list(f->db, f->a->keys, f->p.id, 0, count_events, &events), 0);
	assert_int_equal(db_event_list(f->db, f->a->keys, p2.id, 0, count_events, &events), 0);
	assert_int_equal(events, 2);
	for (size_t k = 0; k < n; k++)
		am_buf_cleanup(&e[k].data);
	am_buf_cleanup(&s.b);
	/* an unknown account */
	struct export *x = NULL;
	uint8_t nobody[16] = {1};
	assert_int_equal(export_open(f->a, nobody, "test", sink_emit, &s, &x), AM_ERR_NOTFOUND);
	assert_null(x);
	free(d1);
	free(d2);
	free(d3);
}

struct findf {
	char name[33];
	char path[512];
};
static struct findf *g_find;

static int find_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	if (flag == FTW_F && strcmp(path + ftw->base, g_find->name) == 0)
		snprintf(g_find->path, sizeof(g_find->path), "%s", path);
	return 0;
}

/* A bit flipped in the third segment of the stored ciphertext: the export
 * fails with AM_ERR_CRYPTO; no byte of that segment's plaintext and no end
 * of archive was emitted; an owner with an empty account exports fine. */
static void tampered(void **state)
{
	struct fx *f = *state;
	size_t n = 5 * 65536;
	uint8_t *d = pattern(n, 9), obj[16], byte;
	struct findf ff = {0};
	struct sink s;
	FILE *fp;

	assert_int_equal(fx_add_object(f, &f->p, "original", d, n, "audio/wav", obj), 0);
	access_hex16(obj, ff.name);
	g_find = &ff;
	assert_int_equal(nftw(f->dir, find_file, 16, FTW_PHYS), 0);
	assert_true(ff.path[0] != 0);
	long off = AM1_HEADER_LEN + 2 * AM1_SEGMENT_CT + 100;
	assert_non_null(fp = fopen(ff.path, "r+b"));
	assert_int_equal(fseek(fp, off, SEEK_SET), 0);
	assert_int_equal(fread(&byte, 1, 1, fp), 1);
	byte ^= 0x10;
	assert_int_equal(fseek(fp, off, SEEK_SET), 0);
	assert_int_equal(fwrite(&byte, 1, 1, fp), 1);
	fclose(fp);
	assert_int_equal(run(f, f->account, &s), AM_ERR_CRYPTO);
	/* the first two segments went out, nothing of the third */
	assert_non_null(memmem(s.b.p, s.b.len, d + 65536, 4096));
	assert_null(memmem(s.b.p, s.b.len, d + 2 * 65536, 64));
	assert_null(memmem(s.b.p, s.b.len, d + 2 * 65536 + 60000, 64));
	/* no end-of-archive: the last 1024 bytes are not all zero */
	int zeros = 1;
	for (size_t i = s.b.len - 1024; i < s.b.len; i++)
		zeros &= s.b.p[i] == 0;
	assert_false(zeros);
	am_buf_cleanup(&s.b);
	free(d);
}

/* ---- the project archive ---------------------------------------------------------------- */

static void csv_fields(void **state)
{
	static const char *const cases[][2] = {
	    {"plain", "\"plain\""},
	    {"a \"quote\", and a comma", "\"a \"\"quote\"\", and a comma\""},
	    {"=SUM(A1)", "\"'=SUM(A1)\""},
	    {"+1", "\"'+1\""},
	    {"-x", "\"'-x\""},
	    {"@cmd", "\"'@cmd\""},
	    {"line\nbreak", "\"line\nbreak\""},
	    {"", "\"\""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct am_buf b;
		am_buf_init(&b, 256);
		assert_int_equal(export_csv_field(&b, cases[i][0]), 0);
		assert_string_equal((const char *)b.p, cases[i][1]);
		am_buf_cleanup(&b);
	}
}

/* Read a ZIP back with libarchive; returns the number of entries. */
static size_t read_zip(const struct am_buf *b, struct entry *e, size_t max)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *ae;
	size_t n = 0;
	char buf[65536];
	la_ssize_t r;
	int h;

	assert_non_null(ar);
	archive_read_support_format_zip(ar);
	assert_int_equal(archive_read_open_memory(ar, b->p, b->len), ARCHIVE_OK);
	while (n < max &&
	       ((h = archive_read_next_header(ar, &ae)) == ARCHIVE_OK || h == ARCHIVE_WARN)) {
		snprintf(e[n].path, sizeof(e[n].path), "%s", archive_entry_pathname_utf8(ae));
		am_buf_init(&e[n].data, 64u << 20);
		while ((r = archive_read_data(ar, buf, sizeof(buf))) > 0)
			assert_int_equal(am_buf_append(&e[n].data, buf, (size_t)r), 0);
		assert_int_equal(r, 0);
		n++;
	}
	archive_read_free(ar);
	return n;
}

static void project_zip(void **state)
{
	struct fx *f = *state;
	size_t n1 = 2 * 65536 + 99;
	uint8_t *d1 = pattern(n1, 7), o1[16], guest[16], c1[16], pseudo[16] = {0};
	struct export *x = NULL;
	struct entry e[8];
	struct sink s;
	int rc;

	assert_int_equal(fx_add_object(f, &f->p, "original", d1, n1, "audio/wav", o1), 0);
	assert_int_equal(
	    db_guest_create(f->db, f->a->keys, f->p.id, f->p.link, "Mara", pseudo, 1, guest), 0);
	assert_int_equal(db_comment_create(f->db, f->a->keys, f->p.id, f->p.version, guest,
					   "=cmd|' /C calc'!A0", 1500, -1, NULL, c1),
			 0);
	am_buf_init(&s.b, 64u << 20);
	s.max_step = 0;
	assert_int_equal(export_open_project(f->a, f->p.id, 1, sink_emit, &s, &x), 0);
	do {
		s.step_bytes = 0;
		rc = export_step(x);
	} while (rc == 1);
	assert_int_equal(rc, 0);
	export_free(x);
	size_t n = read_zip(&s.b, e, 8);
	assert_int_equal(n, 3);
	const struct entry *cj = find(e, n, "/comments.json"), *cc = find(e, n, "/comments.csv"),
			   *orig = find(e, n, ".wav");
	assert_non_null(cj);
	assert_non_null(cc);
	assert_non_null(orig);
	assert_int_equal(orig->data.len, n1);
	assert_memory_equal(orig->data.p, d1, n1);
	assert_non_null(strstr((const char *)cj->data.p, "\"author\": \"Mara\""));
	assert_null(strstr((const char *)cj->data.p, "guest_id"));
	assert_non_null(strstr((const char *)cc->data.p, "\"'=cmd|' /C calc'!A0\""));
	for (size_t k = 0; k < n; k++)
		am_buf_cleanup(&e[k].data);
	am_buf_cleanup(&s.b);
	free(d1);
}

/* A version with its meters set, the rest of its facts a 44.1 kHz stereo
 * file's. */
static void set_meters(struct fx *f, const uint8_t vid[16], int64_t flags, int64_t lufs, int64_t tp)
{
	struct db_version v = {.duration_ms = 4000,
			       .sample_rate = 44100,
			       .channels = 2,
			       .bit_depth = 16,
			       .loudness_mlufs = lufs,
			       .true_peak_mdbtp = tp,
			       .loudness_range_mlu = 7250,
			       .stream_true_peak_mdbtp = -1500,
			       .meter_flags = flags};

	memcpy(v.id, vid, 16);
	assert_int_equal(db_version_set_media(f->db, f->p.id, &v), 0);
}

/* The version of project.json numbered n (the fixture's track). */
static json_t *export_version(json_t *doc, int n)
{
	json_t *vs = json_object_get(json_array_get(json_object_get(doc, "tracks"), 0), "versions");
	json_t *v;
	size_t i;

	json_array_foreach(vs, i,
			   v) if (json_integer_value(json_object_get(v, "number")) == n) return v;
	fail_msg("no version %d", n);
	return NULL;
}

static void assert_meter(json_t *v, const char *name, double want, const char *reason)
{
	char key[64];
	json_t *m = json_object_get(v, name);

	snprintf(key, sizeof(key), "%s_reason", name);
	if (reason) {
		assert_true(json_is_null(m));
		assert_string_equal(json_string_value(json_object_get(v, key)), reason);
	} else {
		assert_true(json_is_real(m));
		assert_true(fabs(json_real_value(m) - want) < 1e-9);
		assert_null(json_object_get(v, key));
	}
}

/* project.json carries what the API says (docs/api.md): figures, or null
 * with "silent" / "too short to measure", the loudness range and the
 * rendition's peak; a version measured before them has its two figures. */
static void meters(void **state)
{
	struct fx *f = *state;
	struct db_project p;
	struct export_file *files = NULL;
	size_t nfiles = 0;
	uint8_t vid[3][16];
	int64_t num;
	struct export_docs docs;
	json_t *doc, *v;

	for (int i = 0; i < 3; i++)
		assert_int_equal(db_version_create(f->db, f->a->keys, f->p.id, f->p.track, "x.wav",
						   vid[i], &num),
				 0);
	set_meters(f, f->p.version, 0, -14250, -1000);
	set_meters(f, vid[0], DB_METER_SILENT | DB_METER_SHORT_LRA, -70000, -200000);
	set_meters(f, vid[1], DB_METER_SHORT_I | DB_METER_SHORT_LRA, -70000, -6000);
	set_meters(f, vid[2], -1, -23000, -3000);
	assert_int_equal(db_project_get_by_id(f->db, f->a->keys, f->p.id, &p), 0);
	assert_int_equal(export_project_build(f->db, f->a->keys, &p, "projects/x",
					      EXPORT_DOCS_PROJECT, &docs, &files, &nfiles),
			 0);
	assert_non_null(doc = json_loads(docs.project_json, 0, NULL));

	v = export_version(doc, 1);
	assert_int_equal(json_integer_value(json_object_get(v, "sample_rate")), 44100);
	assert_meter(v, "loudness_lufs", -14.25, NULL);
	assert_meter(v, "true_peak_dbtp", -1.0, NULL);
	assert_meter(v, "loudness_range_lu", 7.25, NULL);
	assert_meter(v, "stream_true_peak_dbtp", -1.5, NULL);
	v = export_version(doc, 2);
	assert_meter(v, "loudness_lufs", 0, "silent");
	assert_meter(v, "true_peak_dbtp", 0, "silent");
	assert_meter(v, "loudness_range_lu", 0, "silent");
	assert_meter(v, "stream_true_peak_dbtp", 0, "silent");
	v = export_version(doc, 3);
	assert_meter(v, "loudness_lufs", 0, "too short to measure");
	assert_meter(v, "true_peak_dbtp", -6.0, NULL);
	assert_meter(v, "loudness_range_lu", 0, "too short to measure");
	assert_meter(v, "stream_true_peak_dbtp", -1.5, NULL);
	v = export_version(doc, 4);
	assert_meter(v, "loudness_lufs", -23.0, NULL);
	assert_meter(v, "true_peak_dbtp", -3.0, NULL);
	assert_null(json_object_get(v, "loudness_range_lu"));
	assert_null(json_object_get(v, "stream_true_peak_dbtp"));
	json_decref(doc);
	free(docs.project_json);
	free(files);
}

int main(void)
{
	setlocale(LC_CTYPE, "C.UTF-8"); /* how a user's tar reads the names */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(names),
	    cmocka_unit_test(slugs),
	    cmocka_unit_test_setup_teardown(archive_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(tampered, setup, teardown),
	    cmocka_unit_test(csv_fields),
	    cmocka_unit_test_setup_teardown(project_zip, setup, teardown),
	    cmocka_unit_test_setup_teardown(meters, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
