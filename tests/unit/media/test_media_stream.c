/*
 * Integration tests of GET/HEAD /m/{object} on a real HTTPS server in this
 * process (libcurl as the client): the response headers, a Range property
 * test against the original bytes, the URL denial matrix (every failure the
 * same 403 body), password cookies, downloads, and play/download events
 * without raw addresses.
 */
#include "media/media_http.inc"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

static int setup(void **state)
{
	struct srv *sv = calloc(1, sizeof(*sv));

	if (!sv || srv_open(sv)) {
		if (sv)
			srv_close(sv);
		free(sv);
		return -1;
	}
	*state = sv;
	return 0;
}

static int teardown(void **state)
{
	am_time_set_offset(0);
	srv_close(*state);
	free(*state);
	return 0;
}

static uint8_t *random_bytes(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	assert_int_equal(crypto_random(p, n ? n : 1), 0);
	return p;
}

static void sign(struct srv *sv, const struct access_grant *g, const uint8_t obj[16], int d,
		 char *url)
{
	assert_int_equal(
	    access_url_sign(sv->f.a, g, obj, d, access_url_expiry(sv->f.a), url, ACCESS_URL_MAX),
	    0);
}

static void stream_headers(void **state)
{
	struct srv *sv = *state;
	uint8_t obj[16], *data = random_bytes(200000);
	char url[ACCESS_URL_MAX], v[256];
	struct resp r;

	assert_int_equal(fx_add_object(&sv->f, &sv->f.p, "stream", data, 200000, "audio/mp4", obj),
			 0);
	sign(sv, &sv->f.p.g, obj, 0, url);
	assert_int_equal(http_get(sv, "GET", url, &r, NULL), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 200000);
	assert_memory_equal(r.body.p, data, 200000);
	assert_true(resp_header(&r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "audio/mp4");
	assert_true(resp_header(&r, "Accept-Ranges", v, sizeof(v)));
	assert_string_equal(v, "bytes");
	assert_true(resp_header(&r, "Cache-Control", v, sizeof(v)));
	assert_string_equal(v, "private, no-store");
	assert_true(resp_header(&r, "Content-Disposition", v, sizeof(v)));
	assert_int_equal(strncmp(v, "inline;", 7), 0);
	assert_true(resp_header(&r, "Content-Length", v, sizeof(v)));
	assert_string_equal(v, "200000");
	resp_cleanup(&r);
	/* HEAD: the same headers, no body */
	assert_int_equal(http_get(sv, "HEAD", url, &r, NULL), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 0);
	assert_true(resp_header(&r, "Content-Length", v, sizeof(v)));
	assert_string_equal(v, "200000");
	resp_cleanup(&r);
	/* If-Range: our ETag honours the range, anything else gets the whole */
	char etag[80], ir[120];
	const char *h1[] = {"Range: bytes=10-19", ir, NULL};
	assert_int_equal(http_get(sv, "GET", url, &r, NULL), CURLE_OK);
	assert_true(resp_header(&r, "ETag", etag, sizeof(etag)));
	resp_cleanup(&r);
	snprintf(ir, sizeof(ir), "If-Range: %s", etag);
	assert_int_equal(http_get(sv, "GET", url, &r, h1), CURLE_OK);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.body.len, 10);
	resp_cleanup(&r);
	snprintf(ir, sizeof(ir), "If-Range: \"something-else\"");
	assert_int_equal(http_get(sv, "GET", url, &r, h1), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 200000);
	resp_cleanup(&r);
	free(data);
}

/* Many sizes and ranges against the original bytes: status, Content-Range
 * and every byte. */
static void range_property(void **state)
{
	struct srv *sv = *state;
	static const size_t sizes[] = {0, 1, 100, 65535, 65536, 65537, 3 * 65536 + 5, 300001};
	char url[ACCESS_URL_MAX], hdr[96], v[128], want[128];
	const char *hs[] = {hdr, NULL};
	struct resp r;
	uint32_t seed = 12345;

	for (size_t si = 0; si < AM_ARRAY_LEN(sizes); si++) {
		size_t n = sizes[si];
		uint8_t obj[16], *data = random_bytes(n);

		assert_int_equal(
		    fx_add_object(&sv->f, &sv->f.p, "stream", data, n, "audio/mp4", obj), 0);
		sign(sv, &sv->f.p.g, obj, 0, url);
		for (int t = 0; t < 24; t++) {
			uint64_t a, b, first = 0, last = 0;
			int kind = t % 3, sat;

			seed = seed * 1103515245 + 12345;
			a = n ? (seed >> 8) % (n + 2) : (seed >> 8) % 3;
			seed = seed * 1103515245 + 12345;
			b = a + (seed >> 8) % (n / 2 + 70000);
			if (t == 0)
				a = 0, kind = 1;
			if (kind == 0) { /* a-b */
				snprintf(hdr, sizeof(hdr), "Range: bytes=%llu-%llu",
					 (unsigned long long)a, (unsigned long long)b);
				sat = a < n;
				first = a, last = b >= n ? n - 1 : b;
			} else if (kind == 1) { /* a- */
				snprintf(hdr, sizeof(hdr), "Range: bytes=%llu-",
					 (unsigned long long)a);
				sat = a < n;
				first = a, last = n - 1;
			} else { /* -k */
				uint64_t k = b - a;
				snprintf(hdr, sizeof(hdr), "Range: bytes=-%llu",
					 (unsigned long long)k);
				sat = k > 0 && n > 0;
				first = k >= n ? 0 : n - k, last = n - 1;
			}
			assert_int_equal(http_get(sv, "GET", url, &r, hs), CURLE_OK);
			if (!sat) {
				assert_int_equal(r.status, 416);
				snprintf(want, sizeof(want), "bytes */%zu", n);
				assert_true(resp_header(&r, "Content-Range", v, sizeof(v)));
				assert_string_equal(v, want);
			} else {
				assert_int_equal(r.status, 206);
				snprintf(want, sizeof(want), "bytes %llu-%llu/%zu",
					 (unsigned long long)first, (unsigned long long)last, n);
				assert_true(resp_header(&r, "Content-Range", v, sizeof(v)));
				assert_string_equal(v, want);
				assert_int_equal(r.body.len, last - first + 1);
				assert_memory_equal(r.body.p, data + first, last - first + 1);
			}
			resp_cleanup(&r);
		}
		/* malformed and multiple ranges are ignored: the whole object */
		snprintf(hdr, sizeof(hdr), "Range: bytes=0-1,3-4");
		assert_int_equal(http_get(sv, "GET", url, &r, hs), CURLE_OK);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body.len, n);
		resp_cleanup(&r);
		free(data);
	}
}

/* 403 with exactly the body of the first denial. */
static void expect_403(struct srv *sv, const char *target, const char *const *h,
		       struct am_buf *first)
{
	struct resp r;

	assert_int_equal(http_get(sv, "GET", target, &r, h), CURLE_OK);
	if (r.status != 403)
		fprintf(stderr, "not denied (%ld): %s\n", r.status, target);
	assert_int_equal(r.status, 403);
	if (!first->len)
		assert_int_equal(am_buf_append(first, r.body.p, r.body.len), 0);
	assert_int_equal(r.body.len, first->len);
	assert_memory_equal(r.body.p, first->p, first->len);
	resp_cleanup(&r);
}

static void expect_ok(struct srv *sv, const char *target, const char *const *h)
{
	struct resp r;

	assert_int_equal(http_get(sv, "GET", target, &r, h), CURLE_OK);
	assert_int_equal(r.status, 200);
	resp_cleanup(&r);
}

static void url_mutations_http(struct srv *sv, const char *url, struct am_buf *first)
{
	static const char mut[] = "0af9A-_";
	char m[1024], *q;
	size_t n = strlen(url);

	for (size_t i = 3; i < n; i++) { /* every character after "/m/" changed */
		if (url[i] == '?' || url[i] == '&' || url[i] == '=' || url[i] == '/')
			continue;
		for (const char *c = mut; *c; c++) {
			if (*c == url[i])
				continue;
			memcpy(m, url, n + 1);
			m[i] = *c;
			expect_403(sv, m, NULL, first);
			break; /* one substitute per position keeps the test fast */
		}
	}
	memcpy(m, url, n + 1);
	m[n - 3] ^= 0x01; /* signature bit flip */
	expect_403(sv, m, NULL, first);
	for (size_t cut = n - 1; cut > n - 50; cut -= 7) { /* truncated */
		snprintf(m, sizeof(m), "%.*s", (int)cut, url);
		if (m[cut - 1] != '=' && m[cut - 1] != '&')
			expect_403(sv, m, NULL, first);
	}
	snprintf(m, sizeof(m), "%sA", url); /* padded */
	expect_403(sv, m, NULL, first);
	snprintf(m, sizeof(m), "%s&x=1", url); /* added */
	expect_403(sv, m, NULL, first);
	snprintf(m, sizeof(m), "%s&d=1", url); /* duplicated: same 403, not a 400 */
	expect_403(sv, m, NULL, first);
	snprintf(m, sizeof(m), "%s%s", url, strstr(url, "&s=")); /* duplicated signature */
	expect_403(sv, m, NULL, first);
	snprintf(m, sizeof(m), "%s&e=%%zz", url); /* badly encoded */
	expect_403(sv, m, NULL, first);
	q = strchr(url, '?');
	snprintf(m, sizeof(m), "%.*s?%%6c%s", (int)(q - url), url, q + 2); /* re-encoded "l" */
	expect_403(sv, m, NULL, first);
	/* reordered: move the signature to the front */
	const char *s = strstr(url, "&s=");
	snprintf(m, sizeof(m), "%.*s?%s&%.*s", (int)(q - url), url, s + 1, (int)(s - q - 1), q + 1);
	expect_403(sv, m, NULL, first);
}

static void denial_matrix(void **state)
{
	struct srv *sv = *state;
	struct fx_project other;
	struct access_grant g = sv->f.p.g;
	uint8_t stream[16], orig[16], foreign[16], th[32];
	char url[ACCESS_URL_MAX], url_d[ACCESS_URL_MAX], m[ACCESS_URL_MAX + 64];
	struct am_buf first;
	int64_t gen;

	am_buf_init(&first, 4096);
	assert_int_equal(
	    fx_add_object(&sv->f, &sv->f.p, "stream", "0123456789", 10, "audio/mp4", stream), 0);
	assert_int_equal(
	    fx_add_object(&sv->f, &sv->f.p, "original", "RIFF....WAVE", 12, "audio/wav", orig), 0);
	assert_int_equal(fx_add_project(&sv->f, &other, "Other"), 0);
	assert_int_equal(
	    fx_add_object(&sv->f, &other, "stream", "abcdefghij", 10, "audio/mp4", foreign), 0);
	sign(sv, &g, stream, 0, url);
	expect_ok(sv, url, NULL);
	url_mutations_http(sv, url, &first);

	/* expired by 1 s, and a MAC'd URL beyond the 6 h cap */
	assert_int_equal(access_url_sign(sv->f.a, &g, stream, 0, am_now() + 5, m, sizeof(m)), 0);
	expect_ok(sv, m, NULL);
	am_time_set_offset(6);
	expect_403(sv, m, NULL, &first);
	am_time_set_offset(0);
	/* key generations: previous accepted, the one before rejected */
	assert_int_equal(fx_set_generation(&sv->f, 2), 0);
	expect_ok(sv, url, NULL);
	assert_int_equal(fx_set_generation(&sv->f, 3), 0);
	expect_403(sv, url, NULL, &first);
	fx_restore_generation(&sv->f);
	expect_ok(sv, url, NULL);
	/* object of another project, under this project's grant, and the
	 * other way round */
	sign(sv, &g, foreign, 0, m);
	expect_403(sv, m, NULL, &first);
	sign(sv, &other.g, stream, 0, m);
	expect_403(sv, m, NULL, &first);
	/* the original only as a download, a stream never as one */
	sign(sv, &g, orig, 0, m);
	expect_403(sv, m, NULL, &first);
	sign(sv, &g, stream, 1, m);
	expect_403(sv, m, NULL, &first);
	/* downloads switched off after issue */
	sign(sv, &g, orig, 1, url_d);
	expect_ok(sv, url_d, NULL);
	assert_int_equal(db_project_set_downloads(sv->f.db, sv->f.account, sv->f.p.id, 0), 0);
	expect_403(sv, url_d, NULL, &first);
	expect_ok(sv, url, NULL);
	assert_int_equal(db_project_set_downloads(sv->f.db, sv->f.account, sv->f.p.id, 1), 0);
	/* password project: the old URL dies; a new one needs the cookie */
	assert_int_equal(db_project_set_password(sv->f.db, sv->f.a->keys, sv->f.account, sv->f.p.id,
						 "$argon2id$p"),
			 0);
	expect_403(sv, url, NULL, &first);
	struct db_project pr;
	assert_int_equal(db_project_get_by_id(sv->f.db, sv->f.a->keys, sv->f.p.id, &pr), 0);
	g.pw_gen = (uint32_t)pr.pw_gen;
	sign(sv, &g, stream, 0, url);
	expect_403(sv, url, NULL, &first);
	char name[ACCESS_COOKIE_NAME_MAX], val[ACCESS_COOKIE_MAX], cookie[400];
	const char *ch[] = {cookie, NULL};
	access_cookie_name(g.link_id, name, sizeof(name));
	struct access_grant stale = g;
	stale.pw_gen = g.pw_gen - 1;
	assert_int_equal(access_cookie_mint(sv->f.a, &stale, am_now() + 600, val, sizeof(val)), 0);
	snprintf(cookie, sizeof(cookie), "Cookie: %s=%s", name, val);
	expect_403(sv, url, ch, &first); /* a cookie of the old password */
	assert_int_equal(access_cookie_mint(sv->f.a, &g, am_now() + 600, val, sizeof(val)), 0);
	snprintf(cookie, sizeof(cookie), "Cookie: %s=%s", name, val);
	expect_ok(sv, url, ch);
	/* regenerated share link: URL and cookie die at once */
	crypto_random(th, sizeof(th));
	assert_int_equal(db_link_regenerate(sv->f.db, sv->f.p.id, sv->f.p.link, th, &gen), 0);
	expect_403(sv, url, ch, &first);
	am_buf_cleanup(&first);
}

static void download_and_events(void **state)
{
	struct srv *sv = *state;
	uint8_t orig[16], stream[16];
	char url[ACCESS_URL_MAX], v[1024];
	const char *range0[] = {"Range: bytes=0-99", NULL},
		   *range1[] = {"Range: bytes=100-199", NULL};
	struct resp r;
	uint8_t *wav = random_bytes(4096);

	memcpy(wav, "RIFF\0\0\0\0WAVE", 12);
	assert_int_equal(fx_add_object(&sv->f, &sv->f.p, "original", wav, 4096, "audio/wav", orig),
			 0);
	assert_int_equal(fx_add_object(&sv->f, &sv->f.p, "stream", wav, 4096, "audio/mp4", stream),
			 0);
	sign(sv, &sv->f.p.g, orig, 1, url);
	assert_int_equal(http_get(sv, "GET", url, &r, NULL), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body.p, wav, 4096);
	assert_true(resp_header(&r, "Content-Disposition", v, sizeof(v)));
	assert_string_equal(v, "attachment; filename=\"Mix _final_ __.wav\"; "
			       "filename*=UTF-8''Mix%20%22final%22%20%C3%A9.wav");
	assert_true(resp_header(&r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "audio/wav");
	resp_cleanup(&r);
	sign(sv, &sv->f.p.g, stream, 0, url);
	assert_int_equal(http_get(sv, "GET", url, &r, range0), CURLE_OK);
	resp_cleanup(&r);
	assert_int_equal(http_get(sv, "GET", url, &r, range1), CURLE_OK); /* not a new play */
	resp_cleanup(&r);
	assert_int_equal(http_get(sv, "HEAD", url, &r, NULL), CURLE_OK); /* nor is HEAD */
	resp_cleanup(&r);
	free(wav);
}

struct ev_count {
	int play, download, raw_ip;
};

static int count_ev(void *ctx, const struct db_event *e)
{
	struct ev_count *c = ctx;

	c->play += strcmp(e->kind, "play") == 0;
	c->download += strcmp(e->kind, "download") == 0;
	c->raw_ip += strstr(e->details, "127.0.0.1") != NULL;
	assert_non_null(strstr(e->details, "\"ip\":\""));
	return 0;
}

static void events_recorded(void **state)
{
	struct srv *sv = *state;
	struct ev_count c = {0};

	download_and_events(state);
	media_events_flush(sv->m->events); /* written by the event writer, not the request */
	assert_int_equal(db_event_list(sv->f.db, sv->f.a->keys, sv->f.p.id, 0, count_ev, &c), 0);
	assert_int_equal(c.download, 1);
	assert_int_equal(c.play, 1);
	assert_int_equal(c.raw_ip, 0);
}

/* Every accepted connection carries TCP_NOTSENT_LOWAT (src/http/server.c):
 * a client that stops reading holds at most that much unsent data on the
 * server, so a streamed response is not decrypted megabytes ahead of it.
 * The server runs in this process: find its end of our connection. */
static int server_end_lowat(uint16_t port, uint16_t client_port)
{
	for (int fd = 3; fd < 4096; fd++) {
		struct sockaddr_in a, b;
		socklen_t al = sizeof(a), bl = sizeof(b);
		int v = -1;
		socklen_t vl = sizeof(v);

		if (getsockname(fd, (struct sockaddr *)&a, &al) || a.sin_family != AF_INET ||
		    ntohs(a.sin_port) != port || getpeername(fd, (struct sockaddr *)&b, &bl) ||
		    ntohs(b.sin_port) != client_port)
			continue;
		if (getsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, &vl))
			return -1;
		return v;
	}
	return 0; /* not accepted yet */
}

static void accepted_connections_limit_unsent(void **state)
{
	struct srv *sv = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET}, me;
	socklen_t ml = sizeof(me);
	uint16_t port = http_server_port(sv->s);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), v = 0;

	assert_true(fd >= 0);
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
	/* the accept happens on a server thread: wait for it (bounded) */
	for (int i = 0; i < 500 && (v = server_end_lowat(port, ntohs(me.sin_port))) == 0; i++)
		usleep(10000);
	assert_int_equal(v, 128 * 1024);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(stream_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(range_property, setup, teardown),
	    cmocka_unit_test_setup_teardown(denial_matrix, setup, teardown),
	    cmocka_unit_test_setup_teardown(events_recorded, setup, teardown),
	    cmocka_unit_test_setup_teardown(accepted_connections_limit_unsent, setup, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
