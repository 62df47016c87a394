/*
 * test_api.c: unit tests of the API's pure helpers: the password policy and
 * common-password list, the hashing gate (one per core, a short queue, then
 * AM_ERR_UNAVAIL), strict hex ids, the JSON field accessors' answers, and
 * the review page's view cache (keys, shared references that outlive
 * eviction, the size bound).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "access/access.h"
#include "api/api_int.h"

static void test_policy(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_int_equal(api_password_acceptable("short", &why), AM_ERR_INVAL);
	assert_non_null(strstr(why, "at least 8"));
	assert_int_equal(api_password_acceptable("password", &why), AM_ERR_INVAL);
	assert_int_equal(api_password_acceptable("PassWord", &why), AM_ERR_INVAL);
	assert_int_equal(api_password_acceptable("monkey123", &why), AM_ERR_INVAL);
	assert_int_equal(api_password_acceptable("dragon!!", &why), AM_ERR_INVAL);
	assert_non_null(strstr(why, "common"));
	assert_int_equal(api_password_acceptable("correct horse battery staple", &why), 0);
	assert_null(why);
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(api_password_acceptable(big, &why), AM_ERR_INVAL);
	big[256] = 0;
	assert_int_equal(api_password_acceptable(big + 2, NULL), 0);
}

static void test_gate(void **state)
{
	struct api_gate g;

	(void)state;
	api_gate_init(&g, 1, 0, 50);
	assert_int_equal(api_gate_enter(&g), 0);
	assert_int_equal(api_gate_enter(&g), AM_ERR_UNAVAIL); /* no queue */
	api_gate_leave(&g);
	assert_int_equal(api_gate_enter(&g), 0);
	api_gate_leave(&g);
	api_gate_cleanup(&g);
	api_gate_init(&g, 1, 1, 50);
	assert_int_equal(api_gate_enter(&g), 0);
	assert_int_equal(api_gate_enter(&g), AM_ERR_UNAVAIL); /* waited 50 ms, timed out */
	api_gate_leave(&g);
	api_gate_cleanup(&g);
}

static void test_ids(void **state)
{
	uint8_t id[16], back[16];
	char hex[33];

	(void)state;
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(i * 17);
	api_id_hex(id, hex);
	assert_string_equal(hex, "00112233445566778899aabbccddeeff");
	assert_int_equal(api_id_parse(hex, back), 0);
	assert_memory_equal(id, back, 16);
	assert_int_equal(api_id_parse("00112233445566778899AABBCCDDEEFF", back), AM_ERR_INVAL);
	assert_int_equal(api_id_parse("00112233445566778899aabbccddeef", back), AM_ERR_INVAL);
	assert_int_equal(api_id_parse("00112233445566778899aabbccddeeffa", back), AM_ERR_INVAL);
	assert_int_equal(api_id_parse("0011223344556677889 aabbccddeeff", back), AM_ERR_INVAL);
	assert_int_equal(api_id_parse(NULL, back), AM_ERR_INVAL);
}

static void test_fields(void **state)
{
	struct api_ctx c = {0};
	const char *s = NULL;
	int64_t n = 0;
	int b = 0, present = 0;
	uint8_t id[16];

	(void)state;
	c.body = json_loads("{\"t\":\"abc\",\"n\":5,\"b\":true,\"z\":\"a\\u0000b\",\"i\":\"zz\"}",
			    JSON_ALLOW_NUL, NULL);
	assert_non_null(c.body);
	assert_int_equal(api_str(&c, "t", 1, 3, 1, &s), 0);
	assert_string_equal(s, "abc");
	assert_int_equal(api_str(&c, "t", 1, 2, 1, &s), AM_ERR_INVAL);
	assert_int_equal(http_status_of(api_str(&c, "t", 1, 2, 1, &s)), 400);
	assert_non_null(strstr(c.msg, "\"t\""));
	assert_int_equal(api_str(&c, "z", 0, 10, 1, &s), AM_ERR_INVAL); /* embedded NUL */
	assert_int_equal(api_str(&c, "missing", 0, 10, 0, &s), 0);
	assert_int_equal(api_str(&c, "missing", 0, 10, 1, &s), AM_ERR_INVAL);
	assert_int_equal(api_int(&c, "n", 0, 10, 1, &n, &present), 0);
	assert_true(present && n == 5);
	assert_int_equal(api_int(&c, "n", 6, 10, 1, &n, NULL), AM_ERR_INVAL);
	assert_int_equal(api_int(&c, "t", 0, 10, 1, &n, NULL), AM_ERR_INVAL);
	assert_int_equal(api_bool(&c, "b", 1, &b, &present), 0);
	assert_true(b && present);
	assert_int_equal(api_bool(&c, "n", 1, &b, NULL), AM_ERR_INVAL);
	assert_int_equal(api_id_field(&c, "i", 1, id, NULL), AM_ERR_INVAL);
	assert_int_equal(api_id_field(&c, "none", 0, id, &present), 0);
	assert_false(present);
	json_decref(c.body);
}

static struct api_view_in view_in(const uint8_t *pid, const uint8_t *lid, int64_t rev,
				  const char *head)
{
	return (struct api_view_in){pid, lid, rev, 1, 0, 1, 1700000000, head, strlen(head)};
}

static void test_view_key(void **state)
{
	uint8_t pid[DB_ID_LEN] = {1}, lid[DB_ID_LEN] = {2}, k1[32], k2[32];
	struct api_view_in a = view_in(pid, lid, 5, "{\"project\":{\"title\":\"A\"},");
	struct api_view_in b = a;

	(void)state;
	assert_int_equal(api_view_key(&a, k1), 0);
	assert_int_equal(api_view_key(&b, k2), 0);
	assert_memory_equal(k1, k2, 32);
	b.head = "{\"project\":{\"title\":\"B\"},"; /* a renamed project */
	assert_int_equal(api_view_key(&b, k2), 0);
	assert_memory_not_equal(k1, k2, 32);
	b = a;
	b.rev = 6;
	assert_int_equal(api_view_key(&b, k2), 0);
	assert_memory_not_equal(k1, k2, 32);
	b = a;
	b.expires++;
	assert_int_equal(api_view_key(&b, k2), 0);
	assert_memory_not_equal(k1, k2, 32);
}

/* A hit is a reference to the same bytes, not a copy; a reference still
 * being sent keeps its bytes after the entry is dropped. */
static void test_view_shared(void **state)
{
	struct api_view_cache *vc = NULL;
	struct api_view *v1, *v2, *v3;
	uint8_t pid[DB_ID_LEN] = {1}, lid[DB_ID_LEN] = {2}, key[32], other[32];
	struct api_view_in in = view_in(pid, lid, 1, "{");
	const char *p1, *p2;
	size_t n1, n2;

	(void)state;
	assert_int_equal(api_view_new(&vc), 0);
	assert_int_equal(api_view_key(&in, key), 0);
	in.rev = 2;
	assert_int_equal(api_view_key(&in, other), 0);
	assert_int_equal(api_view_get(vc, key, &v1), AM_ERR_NOTFOUND);
	assert_null(v1);
	assert_int_equal(api_view_make("{\"a\":1}\n", 8, 0, NULL, 0, &v1), 0);
	assert_int_equal(api_view_put(vc, key, v1), 0);
	assert_int_equal(api_view_get(vc, key, &v2), 0);
	p1 = api_view_bytes(v1, &n1);
	p2 = api_view_bytes(v2, &n2);
	assert_ptr_equal(p1, p2);
	assert_int_equal(n2, 8);
	assert_memory_equal(p2, "{\"a\":1}\n", 8);
	assert_int_equal(api_view_get(vc, other, &v3), AM_ERR_NOTFOUND);
	api_view_forget(vc, pid); /* the entry goes; the two references stay */
	assert_int_equal(api_view_get(vc, key, &v3), AM_ERR_NOTFOUND);
	assert_memory_equal(api_view_bytes(v2, &n2), "{\"a\":1}\n", 8);
	api_view_release(v1);
	assert_memory_equal(api_view_bytes(v2, &n2), "{\"a\":1}\n", 8);
	api_view_release(v2); /* the last one frees (ASan and valgrind check) */
	api_view_release(NULL);
	static char big[(1 << 20) + 1];
	assert_int_equal(api_view_make(big, sizeof(big), 0, NULL, 0, &v1), 0);
	assert_int_equal(api_view_put(vc, key, v1), AM_ERR_TOOBIG); /* usable, not kept */
	api_view_release(v1);
	assert_int_equal(api_view_get(vc, key, &v1), AM_ERR_NOTFOUND);
	api_view_free(vc);
}

/* A cached answer holds no signature: its URL slots (object, download,
 * where the signed path goes) are kept beside the bytes, in order, inside
 * the part before the split; anything else is refused. */
static void test_view_slots(void **state)
{
	static const char body[] = "[\"\",\"\"],rest"; /* ["",""],rest: slots in the quotes */
	struct api_view_slot sl[2] = {{.off = 2, .object_id = {7}, .download = 0},
				      {.off = 5, .object_id = {8}, .download = 1}};
	const struct api_view_slot *got;
	struct api_view *v;
	size_t n, split, len = sizeof(body) - 1;

	(void)state;
	assert_int_equal(api_view_make(body, len, 7, sl, 2, &v), 0);
	got = api_view_slots(v, &n, &split);
	assert_int_equal(n, 2);
	assert_int_equal(split, 7);
	assert_memory_equal(got, sl, sizeof(sl));
	assert_memory_equal(api_view_bytes(v, &n), body, len);
	assert_int_equal(n, len);
	api_view_release(v);
	sl[1].off = 1; /* out of order */
	assert_int_equal(api_view_make(body, len, 7, sl, 2, &v), AM_ERR_INVAL);
	assert_null(v);
	sl[1].off = 8; /* past the split */
	assert_int_equal(api_view_make(body, len, 7, sl, 2, &v), AM_ERR_INVAL);
	assert_int_equal(api_view_make(body, len, len + 1, NULL, 0, &v), AM_ERR_INVAL);
	/* Adopted (issue 25, fourth pass): the buffer itself becomes the view's
	 * bytes and the am_buf is left empty; refused, it is left as it was. */
	{
		struct am_buf b;
		const char *bytes;

		am_buf_init(&b, 1 << 20);
		assert_int_equal(api_view_adopt(&b, 0, NULL, 0, &v), AM_ERR_INVAL); /* empty */
		assert_int_equal(am_buf_reserve(&b, 4096), 0);
		assert_int_equal(am_buf_append(&b, body, len), 0);
		bytes = (const char *)b.p;
		sl[1].off = 5;
		assert_int_equal(api_view_adopt(&b, len + 1, sl, 2, &v), AM_ERR_INVAL);
		assert_null(v);
		assert_ptr_equal(b.p, bytes);
		assert_int_equal(b.len, len);
		assert_int_equal(api_view_adopt(&b, 7, sl, 2, &v), 0);
		assert_null(b.p);
		assert_int_equal(b.len + b.alloc, 0);
		assert_ptr_equal(api_view_bytes(v, &n), bytes);
		assert_int_equal(n, len);
		assert_memory_equal(bytes, body, len);
		got = api_view_slots(v, &n, &split);
		assert_int_equal(n, 2);
		assert_int_equal(split, 7);
		assert_memory_equal(got, sl, sizeof(sl));
		am_buf_cleanup(&b); /* nothing left to free */
		api_view_release(v);
	}
}

/* api_comment_write gives the bytes of jansson's compact dump of
 * api_comment_json for every field combination and for text that needs
 * escaping; text that is not UTF-8 fails both ways. */
static void check_comment(const struct db_comment *cm, int owner_view)
{
	json_t *j = api_comment_json(cm, owner_view);
	char *want;
	struct am_buf b;

	assert_non_null(j);
	want = json_dumps(j, JSON_COMPACT);
	assert_non_null(want);
	am_buf_init(&b, 1 << 20);
	assert_int_equal(api_comment_write(&b, cm, owner_view), 0);
	assert_string_equal((const char *)b.p, want);
	/* behind other text, as in the list: appended, the text before kept */
	assert_int_equal(api_comment_write(&b, cm, owner_view), 0);
	assert_int_equal(b.len, 2 * strlen(want));
	assert_memory_equal(b.p + strlen(want), want, strlen(want));
	free(want);
	json_decref(j);
	am_buf_cleanup(&b);
}

/* api_jw_raw_str's 8-byte scan (issue 25, fourth pass): each byte that
 * stops the copy (controls, quote, backslash, multi-byte UTF-8, and the
 * bytes either side of them) at every position of plain texts of 0-40
 * bytes, so at every offset within a word and in the byte tail, gives
 * jansson's compact dump; invalid UTF-8 at any position fails as jansson
 * refuses it. */
static void test_raw_str_positions(void **state)
{
	static const char *const ins[] = {"\"",	  "\\",	      "\x01",	      "\x1f",
					  "\x20", "\x7f",     "\x21",	      "\x5b",
					  "\x5d", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x8e\xb5",
					  "\n"};
	static const char *const bad[] = {"\x80", "\xc3", "\xff", "\xed\xa0\x80"};
	char text[64], out[64 * 6 + 3], *end, *want;
	json_t *j;

	(void)state;
	for (size_t len = 0; len <= 40; len++) {
		for (size_t at = 0; at <= len; at++) {
			for (size_t k = 0; k < sizeof(ins) / sizeof(ins[0]) + 1; k++) {
				const char *x = k < sizeof(ins) / sizeof(ins[0]) ? ins[k] : "";
				size_t xl = strlen(x), n = len + xl;

				memset(text, 'a' + (int)(len % 26), len);
				memmove(text + at + xl, text + at, len - at);
				memcpy(text + at, x, xl);
				assert_non_null(j = json_stringn(text, n));
				assert_non_null(want =
						    json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY));
				assert_non_null(end = api_jw_raw_str(out, text, n));
				assert_int_equal((size_t)(end - out), strlen(want));
				assert_memory_equal(out, want, strlen(want));
				free(want);
				json_decref(j);
			}
			for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
				size_t xl = strlen(bad[k]);

				memset(text, 'b', len);
				memmove(text + at + xl, text + at, len - at);
				memcpy(text + at, bad[k], xl);
				assert_null(json_stringn(text, len + xl));
				assert_null(api_jw_raw_str(out, text, len + xl));
			}
		}
	}
}

/* api_jw_raw_id's and api_jw_raw_i64's pair tables (issue 25, fourth
 * pass): every byte value in every position of an id, and the integers
 * around every power of ten, both signs and the extremes, as printf
 * writes them. */
static void test_raw_id_i64(void **state)
{
	uint8_t id[DB_ID_LEN];
	char out[64], want[64], *end;
	int64_t p10 = 1;

	(void)state;
	for (int b = 0; b < 256; b++) {
		for (int i = 0; i < DB_ID_LEN; i++)
			id[i] = (uint8_t)(b + 17 * i);
		want[0] = '"';
		for (int i = 0; i < DB_ID_LEN; i++)
			snprintf(want + 1 + 2 * i, 3, "%02x", id[i]);
		end = api_jw_raw_id(out, id);
		assert_int_equal(end - out, 2 * DB_ID_LEN + 2);
		assert_memory_equal(out, want, 2 * DB_ID_LEN + 1);
		assert_int_equal(out[2 * DB_ID_LEN + 1], '"');
	}
	for (int e = 0; e <= 18; e++, p10 = e <= 18 ? p10 * 10 : p10) {
		const int64_t vs[] = {p10 - 1, p10, p10 + 1, 7 * p10, -p10, -(p10 - 1), -(p10 + 1)};

		for (size_t k = 0; k < sizeof(vs) / sizeof(vs[0]); k++) {
			snprintf(want, sizeof(want), "%lld", (long long)vs[k]);
			end = api_jw_raw_i64(out, vs[k]);
			assert_int_equal((size_t)(end - out), strlen(want));
			assert_memory_equal(out, want, strlen(want));
		}
	}
	snprintf(want, sizeof(want), "%lld", (long long)INT64_MIN);
	end = api_jw_raw_i64(out, INT64_MIN);
	assert_memory_equal(out, want, strlen(want));
	assert_int_equal((size_t)(end - out), strlen(want));
	snprintf(want, sizeof(want), "%lld", (long long)INT64_MAX);
	end = api_jw_raw_i64(out, INT64_MAX);
	assert_memory_equal(out, want, strlen(want));
	assert_int_equal((size_t)(end - out), strlen(want));
}

static void test_comment_write(void **state)
{
	static const char *const texts[] = {
	    "plain",
	    "",
	    "quote \" back \\ slash / </script>",
	    "\b\f\n\r\t \x01\x1f\x7f"
	    " end",
	    "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x8e\xb5 \xef\xbf\xbf",
	    "\"",
	    "x\x1b",
	};
	static const char *const bad[] = {"\xc3",
					  "\xc0\xaf",
					  "\xed\xa0\x80",
					  "\xf4\x90\x80\x80",
					  "a\x80"
					  "b",
					  "\xe2\x82"};
	struct db_comment cm;
	struct am_buf b;

	(void)state;
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		for (int v = 0; v < 16; v++) {
			memset(&cm, 0, sizeof(cm));
			memset(cm.id, 0xa5, sizeof(cm.id));
			memset(cm.version_id, 0x01, sizeof(cm.version_id));
			memset(cm.guest_id, 0xfe, sizeof(cm.guest_id));
			memset(cm.parent_id, 0x7c, sizeof(cm.parent_id));
			snprintf(cm.author, sizeof(cm.author), "%s", texts[(t + 1) % 7]);
			snprintf(cm.body, sizeof(cm.body), "%s", texts[t]);
			cm.has_guest = v & 1;
			cm.has_parent = (v >> 1) & 1;
			cm.end_ms = (v & 4) ? INT64_C(1) << 40 : -1;
			cm.edited = (v & 8) ? 1796590025382 : 0;
			cm.time_ms = (int64_t)t * 999;
			cm.created = -(int64_t)t;
			cm.resolved = v & 1;
			cm.deleted = (v & 2) ? 5 : 0;
			check_comment(&cm, 0);
			check_comment(&cm, 1);
		}
	}
	/* the largest text: a whole body and name of bytes escaped as \u00XX */
	memset(&cm, 0, sizeof(cm));
	memset(cm.body, 0x01, DB_BODY_MAX);
	memset(cm.author, 0x1f, DB_NAME_MAX);
	cm.has_guest = cm.has_parent = 1;
	cm.end_ms = cm.edited = cm.created = cm.time_ms = INT64_MIN;
	check_comment(&cm, 1);
	memset(cm.body, '"', DB_BODY_MAX);
	cm.end_ms = cm.edited = cm.created = cm.time_ms = INT64_MAX;
	check_comment(&cm, 1);
	for (size_t t = 0; t < sizeof(bad) / sizeof(bad[0]); t++) {
		memset(&cm, 0, sizeof(cm));
		snprintf(cm.body, sizeof(cm.body), "%s", bad[t]);
		snprintf(cm.author, sizeof(cm.author), "%s", t & 1 ? bad[t] : "ok");
		assert_null(api_comment_json(&cm, 0));
		am_buf_init(&b, 1 << 20);
		assert_int_equal(am_buf_puts(&b, "[{}"), 0);
		assert_int_equal(api_comment_write(&b, &cm, 0), AM_ERR_INVAL);
		assert_int_equal(b.len, 3);
		assert_string_equal((const char *)b.p, "[{}");
		am_buf_cleanup(&b);
	}
}

/* ---- the guest view's tracks and head written directly (api_guest_jw.c) ---- */

static const char *const gt_texts[] = {
    "Track \"one\" \\ </script>", "",	   "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x8e\xb5",
    "\b\f\n\r\t\x01\x1f\x7f",	  "plain",
};
#define GT_MARKER "0123456789abcdef0123456789abcdef"

/* Remove the slot markers (marker + 8 hex) of jansson's text, as
 * api_guest.c did: the text without them, each slot's offset in it in
 * text order, and its index. */
static size_t gt_unmark(char *t, size_t *off, size_t *idx, size_t max)
{
	size_t k = 0, ml = strlen(GT_MARKER);
	char *hit;

	while ((hit = strstr(t, GT_MARKER)) != NULL) {
		assert_true(k < max);
		idx[k] = strtoul(hit + ml, NULL, 16);
		off[k++] = (size_t)(hit - t);
		memmove(hit, hit + ml + 8, strlen(hit + ml + 8) + 1);
	}
	return k;
}

/* A model of 4 tracks (one with no version) and 12 versions in listing
 * order (by track id, not position), one of a track not listed; every
 * fact, alignment and meter case; some objects missing. */
static void gt_model(struct api_gtracks *m, int variant)
{
	static const int64_t flags[] = {
	    -1, 0, DB_METER_SILENT, DB_METER_SHORT_I, DB_METER_SHORT_LRA, DB_METER_GATED};
	static const char *const kinds[] = {"stream", "peaks", "original"};
	struct db_version *v;

	memset(m, 0, sizeof(*m));
	m->nt = 4;
	m->t = calloc(m->nt, sizeof(*m->t));
	m->nv = 12;
	m->v = calloc(m->nv, sizeof(*m->v));
	m->ix.v = calloc(3 * m->nv, sizeof(*m->ix.v));
	assert_true(m->t && m->v && m->ix.v);
	for (size_t i = 0; i < m->nt; i++) {
		memset(m->t[i].id, (int)(0x40 - 0x10 * i), DB_ID_LEN); /* ids descend */
		snprintf(m->t[i].title, sizeof(m->t[i].title), "%s", gt_texts[(i + variant) % 5]);
		m->t[i].position = (int64_t)i * 3 - 1;
		m->t[i].created = INT64_MAX - (int64_t)i;
	}
	for (size_t j = 0; j < m->nv; j++) {
		v = &m->v[j];
		memset(v->id, (int)(0x80 + j), DB_ID_LEN);
		memset(v->track_id, (int)(0x10 + 0x10 * (j % 3)), DB_ID_LEN); /* tracks 3, 2, 1 */
		if (j == 11)
			memset(v->track_id, 0x77, DB_ID_LEN); /* no such track */
		v->number = (int64_t)j + 1;
		snprintf(v->state, sizeof(v->state), "%s", j == 5 ? "r\xc3\xa9" : "ready");
		v->progress = 100;
		v->created = -(int64_t)j;
		v->sample_rate = j == 4 ? 0 : 44100 + (int64_t)j;
		v->duration_ms = (int64_t)j * 1000;
		v->channels = 2;
		v->bit_depth = 24;
		v->offset_state = (int64_t)(j % 5) - 1; /* -1 .. 3 */
		v->offset_ms = -(int64_t)j * 7;
		v->sync_ms = (int64_t)j * 11;
		v->meter_flags = flags[(j + (size_t)variant) % 6];
		v->loudness_mlufs = j == 7 ? INT64_MAX : -14000 - (int64_t)j * 1234;
		v->true_peak_mdbtp = -(int64_t)j;
		v->loudness_range_mlu = (int64_t)j * 500;
		v->stream_true_peak_mdbtp = j == 8 ? 0 : 1000;
		for (size_t k = 0; k < 3; k++) {
			if ((j + k) % 4 == 3) /* missing */
				continue;
			struct api_media_obj *o = &m->ix.v[m->ix.n++];
			memcpy(o->version_id, v->id, DB_ID_LEN);
			memset(o->id, (int)(j * 3 + k), DB_ID_LEN);
			snprintf(o->kind, sizeof(o->kind), "%s", kinds[k]);
		}
	}
	m->ix.cap = 3 * m->nv;
	assert_int_equal(api_gtracks_group(m), 0);
}

/* Both writers on m with o's flags: the same text (after jansson's slot
 * markers are taken out), the same slots in text order. */
static void gt_check(const struct api_gtracks *m, const struct api_gtracks_out *base)
{
	struct api_url_slots uj = {GT_MARKER, NULL, 0, 0}, ud = {"", NULL, 0, 0};
	struct api_gtracks_out oj = *base, od = *base;
	size_t off[64], idx[64], n, pre = strlen("\"tracks\":");
	struct am_buf b;
	json_t *j;
	char *want;
	int rc = -1;

	oj.slots = &uj;
	od.slots = &ud;
	j = api_gtracks_json(m, &oj, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(j);
	want = json_dumps(j, JSON_COMPACT);
	assert_non_null(want);
	n = gt_unmark(want, off, idx, 64);
	assert_int_equal(n, uj.n);
	am_buf_init(&b, 1 << 20);
	assert_int_equal(am_buf_puts(&b, "\"tracks\":"), 0);
	assert_int_equal(api_gtracks_write(m, &od, &b), 0);
	assert_string_equal((const char *)b.p + pre, want);
	assert_int_equal(ud.n, n);
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(ud.v[k].off, off[k] + pre);
		assert_memory_equal(ud.v[k].object_id, uj.v[idx[k]].object_id, DB_ID_LEN);
		assert_int_equal(ud.v[k].download, uj.v[idx[k]].download);
		assert_int_equal(b.p[ud.v[k].off], '"');
	}
	free(want);
	json_decref(j);
	free(uj.v);
	free(ud.v);
	am_buf_cleanup(&b);
}

static void test_gtracks_write(void **state)
{
	static const char *const origins[] = {"https://review.example.org",
					      "https://h:8443/p\xc3\xa9"};
	struct access_grant g = {0};
	struct db_project p = {0};
	struct api_gtracks_out o = {NULL, NULL, &g, &p, INT64_C(1796616365), NULL};
	struct api_url_slots us = {"", NULL, 0, 0};
	struct api_gtracks m;
	struct am_buf b;
	int rc = 0;

	(void)state;
	for (int variant = 0; variant < 6; variant++) {
		gt_model(&m, variant);
		for (int f = 0; f < 16; f++) {
			p.downloads = f & 1;
			p.show_loudness = (f >> 1) & 1;
			g.owner = (f >> 2) & 1;
			o.public_url = origins[(f >> 3) & 1];
			gt_check(&m, &o);
		}
		api_gtracks_free(&m);
	}
	/* text that is not UTF-8: both refuse, nothing appended, no slot */
	gt_model(&m, 0);
	p.show_loudness = 0;
	for (int which = 0; which < 2; which++) {
		if (which == 0)
			m.t[1].title[0] = '\xc3', m.t[1].title[1] = 0;
		else
			memcpy(m.v[0].state, "\xed\xa0\x80", 4);
		o.slots = &us;
		assert_null(api_gtracks_json(&m, &o, &rc));
		assert_int_not_equal(rc, 0);
		us.n = 0;
		am_buf_init(&b, 1 << 20);
		assert_int_equal(am_buf_puts(&b, "[{}"), 0);
		assert_int_equal(api_gtracks_write(&m, &o, &b), AM_ERR_INTERNAL);
		assert_int_equal(b.len, 3);
		assert_string_equal((const char *)b.p, "[{}");
		assert_int_equal(us.n, 0);
		am_buf_cleanup(&b);
		snprintf(m.t[1].title, sizeof(m.t[1].title), "ok");
	}
	free(us.v);
	api_gtracks_free(&m);
}

/* The head: json_pack's text for every flag and title. */
static void test_view_head_write(void **state)
{
	struct db_project p = {0};
	struct am_buf b;
	json_t *j;
	char *want;

	(void)state;
	for (size_t t = 0; t < 5; t++)
		for (int f = 0; f < 32; f++) {
			snprintf(p.title, sizeof(p.title), "%s", gt_texts[t]);
			p.downloads = f & 1;
			p.show_loudness = (f & 2) ? 7 : 0;
			p.has_password = (f >> 2) & 1;
			p.mark_on = (f >> 3) & 1;
			j = json_pack("{s:{s:s,s:b,s:b,s:b,s:b}}", "project", "title", p.title,
				      "downloads", p.downloads, "show_loudness", p.show_loudness,
				      "has_password", p.has_password, "marked", p.mark_on);
			assert_non_null(j);
			want = json_dumps(j, JSON_COMPACT);
			want[strlen(want) - 1] = ','; /* the head ends the object's first member */
			am_buf_init(&b, 1 << 16);
			assert_int_equal(am_buf_puts(&b, (f & 16) ? "x" : ""), 0); /* behind text */
			assert_int_equal(api_view_head_write(&b, &p), 0);
			assert_string_equal((const char *)b.p + ((f & 16) ? 1 : 0), want);
			am_buf_cleanup(&b);
			free(want);
			json_decref(j);
		}
	memcpy(p.title, "a\x80", 3);
	am_buf_init(&b, 1 << 16);
	assert_int_equal(api_view_head_write(&b, &p), AM_ERR_INTERNAL);
	assert_int_equal(b.len, 0);
	am_buf_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_policy),
	    cmocka_unit_test(test_gate),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_view_key),
	    cmocka_unit_test(test_view_shared),
	    cmocka_unit_test(test_view_slots),
	    cmocka_unit_test(test_comment_write),
	    cmocka_unit_test(test_gtracks_write),
	    cmocka_unit_test(test_view_head_write),
	    cmocka_unit_test(test_raw_str_positions),
	    cmocka_unit_test(test_raw_id_i64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
