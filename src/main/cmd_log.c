/*
 * cmd_log.c: `audiomus log verify`: check a project's tamper-evident access
 * log (src/translog/) against a tree head the owner kept outside the
 * server, from the log's entries as the API gave them (--log FILE...) or
 * straight from the database (--project ID, with the server's
 * configuration). An operator or owner command; every file it reads and
 * the database's rows are untrusted input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "main/main.h"
#include "repo/repo.h"
#include "translog/translog.h"
#include "util/util.h"

#define STH_FILE_MAX 4096

/* The entries read, in order, each with its own copy of the bytes. */
struct log_items {
	struct translog_item *it;
	size_t n, cap;
};

static void items_free(struct log_items *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((void *)l->it[i].entry);
	free(l->it);
}

static int items_add(struct log_items *l, int64_t index, const uint8_t *p, size_t n,
		     const uint8_t root[TRANSLOG_HASH])
{
	uint8_t *copy;

	if (l->n >= TRANSLOG_VERIFY_MAX)
		return AM_ERR_TOOBIG;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct translog_item *it = realloc(l->it, cap * sizeof(*it));

		if (!it)
			return AM_ERR_NOMEM;
		l->it = it;
		l->cap = cap;
	}
	l->it[l->n] = (struct translog_item){index, NULL, n, {0}};
	if (!(copy = malloc(n ? n : 1)))
		return AM_ERR_NOMEM;
	l->it[l->n].entry = copy; /* owned by l: items_free */
	if (n)
		memcpy(copy, p, n);
	memcpy(l->it[l->n].root, root, TRANSLOG_HASH);
	l->n++;
	return 0;
}

static int read_sth(const char *path, struct translog_sth *out)
{
	char buf[STH_FILE_MAX];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "audiomus log verify: cannot read %s\n", path);
		return 2;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == sizeof(buf) || translog_sth_parse(buf, n, out)) {
		fprintf(stderr,
			"audiomus log verify: %s is not a tree head (audiomus log --help)\n", path);
		return 2;
	}
	return 0;
}

/* One entry object of a page: index, entry and root. */
static int page_entry(json_t *e, struct log_items *l)
{
	uint8_t entry[TRANSLOG_ENTRY_MAX + 1], root[TRANSLOG_HASH];
	json_t *ix = json_object_get(e, "index"), *en = json_object_get(e, "entry"),
	       *ro = json_object_get(e, "root");
	size_t n = 0, rn = 0;

	if (!json_is_integer(ix) || !json_is_string(en) || !json_is_string(ro) ||
	    crypto_b64url_decode(json_string_value(en), json_string_length(en), entry,
				 sizeof(entry), &n) ||
	    crypto_b64url_decode(json_string_value(ro), json_string_length(ro), root, sizeof(root),
				 &rn) ||
	    rn != TRANSLOG_HASH)
		return AM_ERR_INVAL;
	return items_add(l, json_integer_value(ix), entry, n, root);
}

/* A page of GET /log/entries: its entries appended to l, its head into cur
 * (the first page's: *have_cur). 0, or 2 after printing why. */
static int read_page(const char *path, struct log_items *l, struct translog_sth *cur, int *have_cur)
{
	json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, NULL), *arr, *sth;
	char *text = NULL;
	int rc = 2;

	arr = json_object_get(o, "entries");
	sth = json_object_get(o, "sth");
	if (!json_is_array(arr) || !json_is_object(sth)) {
		fprintf(stderr, "audiomus log verify: %s is not a page of log entries\n", path);
		goto out;
	}
	if (!*have_cur) {
		if (!(text = json_dumps(sth, JSON_COMPACT)) ||
		    translog_sth_parse(text, strlen(text), cur)) {
			fprintf(stderr, "audiomus log verify: %s: its tree head is malformed\n",
				path);
			goto out;
		}
		*have_cur = 1;
	}
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (page_entry(json_array_get(arr, i), l)) {
			fprintf(stderr, "audiomus log verify: %s: entry %zu is malformed\n", path,
				i);
			goto out;
		}
	rc = 0;
out:
	free(text);
	json_decref(o);
	return rc;
}

static int db_item(void *ctx, const struct db_translog_entry *e)
{
	return items_add(ctx, e->index, e->entry, e->len, e->root);
}

/* A project id: exactly 32 lowercase hex digits. */
static int hex_id(const char *s, uint8_t out[16])
{
	if (strlen(s) != 32)
		return AM_ERR_INVAL;
	for (int i = 0; i < 16; i++) {
		int hi = am_hexval(s[2 * i], AM_HEX_LOWER),
		    lo = am_hexval(s[2 * i + 1], AM_HEX_LOWER);

		if (hi < 0 || lo < 0)
			return AM_ERR_INVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The project's entries and current head from the database. */
static int read_db(struct conf *c, const char *pid_hex, struct log_items *l,
		   struct translog_sth *cur)
{
	uint8_t pid[16];
	struct app *a = NULL;
	struct db *db = NULL;
	char err[1024];
	int rc = 2;

	if (hex_id(pid_hex, pid)) {
		fprintf(stderr, "audiomus log verify: --project takes a project id (32 hex)\n");
		return 2;
	}
	if (app_open(c, APP_DB, &a, err, sizeof(err))) {
		fprintf(stderr, "audiomus log verify: %s\n", err);
		return 2;
	}
	if (app_db_get(a, &db) || db_translog_list(db, pid, 0, 0, db_item, l) ||
	    translog_head(db, a->kr, pid, cur))
		fprintf(stderr, "audiomus log verify: cannot read the log: %s\n",
			db ? db_errmsg(db) : "no database connection");
	else
		rc = 0;
	if (db)
		app_db_put(a, db);
	app_close(a);
	return rc;
}

static const char usage_text[] =
    "audiomus log verify --sth KEPT.json (--log PAGE.json... | --project ID) [--config FILE]\n"
    "\n"
    "  Check a project's tamper-evident access log (docs/security.md \"Access log\")\n"
    "  against a signed tree head you kept outside the server\n"
    "  (GET /api/v1/projects/ID/log/sth, or the dashboard's Access log button):\n"
    "    - the kept head's Ed25519 signature;\n"
    "    - every entry's index and the root recorded when it was appended (this\n"
    "      names the first entry that was edited, deleted or moved);\n"
    "    - the kept head's root over its first tree_size entries, and the RFC 6962\n"
    "      consistency proof from it to the whole log, computed from the entries;\n"
    "    - the current head (signature, same key as the kept one, root).\n"
    "  --log FILE   a page of GET /api/v1/projects/ID/log/entries (repeat, in order,\n"
    "               for a log of more than one page); the first page's \"sth\" is\n"
    "               the current head\n"
    "  --project ID read the entries and compute the current head from the database\n"
    "               of the configuration (--config / --data), with its master key\n"
    "\n"
    "OUTPUT\n"
    "  \"verified: N entries, consistent with the kept head of M entries (proof of K\n"
    "  hashes)\", or \"FAILED at entry I: REASON\" (\"FAILED: REASON\" when no single\n"
    "  entry can be named).\n"
    "\n"
    "EXIT STATUS\n"
    "  0 verified; 1 verification failed; 2 usage error or unreadable input.\n";

static int verify(struct log_items *l, const struct translog_sth *kept,
		  const struct translog_sth *cur)
{
	struct translog_report rep;
	int rc = translog_verify(l->it, l->n, kept, cur, &rep);

	if (rc == 0) {
		printf("verified: %llu entries, consistent with the kept head of %llu entries "
		       "(proof of %zu hashes)\n",
		       (unsigned long long)l->n, (unsigned long long)kept->size, rep.proof_len);
		return 0;
	}
	if (rc != AM_ERR_DENIED) {
		fprintf(stderr, "audiomus log verify: %s\n", am_strerror(rc));
		return 2;
	}
	if (rep.bad_index >= 0)
		printf("FAILED at entry %lld: %s\n", (long long)rep.bad_index, rep.reason);
	else
		printf("FAILED: %s\n", rep.reason);
	return 1;
}

static int cmd_log(int argc, char **argv)
{
	struct translog_sth kept, cur;
	struct log_items l = {0};
	const char *sth = NULL, *project = NULL;
	int rc = 0, have_cur = 0, logs = 0;
	struct conf c;

	if (main_load_conf(&argc, argv, &c))
		return 2;
	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		fprintf(stderr, "usage: %s", usage_text);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--sth") && i + 1 < argc)
			sth = argv[++i];
		else if (!strcmp(argv[i], "--project") && i + 1 < argc)
			project = argv[++i];
		else if (!strcmp(argv[i], "--log") && i + 1 < argc && rc == 0 && !project)
			rc = (logs++, read_page(argv[++i], &l, &cur, &have_cur));
		else
			rc = rc ? rc : -1;
	}
	if (rc == 0 && (!sth || (logs > 0) == (project != NULL)))
		rc = -1;
	if (rc == -1)
		fprintf(stderr, "usage: %s", usage_text);
	if (rc == 0 && project)
		rc = read_db(&c, project, &l, &cur), have_cur = rc == 0;
	if (rc == 0)
		rc = read_sth(sth, &kept);
	if (rc == 0)
		rc = verify(&l, &kept, have_cur ? &cur : NULL);
	items_free(&l);
	return rc < 0 ? 2 : rc;
}

const struct command cmd_log_def = {"log", cmd_log, "verify the tamper-evident access log",
				    usage_text};
