/*
 * migrate.c: the one schema history of audiomus, for both engines, and the
 * code that applies it at start-up. Runs in every role before it serves
 * anything; the migrations are part of the binary (trusted), the database's
 * recorded version is not: a newer schema than this binary knows is refused
 * untouched, so an old binary can never write into a newer layout.
 *
 * The SQL is the common subset of SQLite 3.40 and PostgreSQL 15. One word
 * differs: binary columns are written BLOB and become BYTEA on PostgreSQL.
 * Conventions (docs/data-model.md): ids are random 16-byte blobs; times are
 * integer milliseconds since the Unix epoch; flags are INTEGER 0/1; columns
 * ending in _ct hold field ciphertext (crypto_field_seal), _hash/_index hold
 * one-way digests. Append new migrations; never edit a released one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

/* v1: the product's core: owners, projects, sharing, tracks, comments. */
static const char v1_core[] =
    "CREATE TABLE accounts ("
    " id BLOB PRIMARY KEY,"
    " email_ct BLOB NOT NULL,"
    " email_index BLOB NOT NULL UNIQUE,"
    " password_ct BLOB NOT NULL,"
    " created BIGINT NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE sessions ("
    " id BLOB PRIMARY KEY,"
    " account_id BLOB NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    " token_hash BLOB NOT NULL UNIQUE,"
    " created BIGINT NOT NULL,"
    " last_seen BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " agent_ct BLOB);"
    "CREATE INDEX sessions_account ON sessions(account_id);"
    "CREATE INDEX sessions_expires ON sessions(expires);"
    "CREATE TABLE projects ("
    " id BLOB PRIMARY KEY,"
    " account_id BLOB NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    " wrapped_pk BLOB,"
    " mk_id TEXT,"
    " title_ct BLOB,"
    " downloads INTEGER NOT NULL DEFAULT 1,"
    " password_ct BLOB,"
    " pw_gen BIGINT NOT NULL DEFAULT 0,"
    " pw_failures INTEGER NOT NULL DEFAULT 0,"
    " created BIGINT NOT NULL,"
    " deleted BIGINT);"
    "CREATE INDEX projects_account ON projects(account_id, created);"
    "CREATE TABLE share_links ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    " token_hash BLOB NOT NULL UNIQUE,"
    " generation BIGINT NOT NULL DEFAULT 1,"
    " label_ct BLOB,"
    " expires BIGINT,"
    " revoked INTEGER NOT NULL DEFAULT 0,"
    " is_default INTEGER NOT NULL DEFAULT 0,"
    " created BIGINT NOT NULL);"
    "CREATE INDEX share_links_project ON share_links(project_id);"
    "CREATE UNIQUE INDEX share_links_default ON share_links(project_id) WHERE is_default = 1;"
    "CREATE TABLE tracks ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    " title_ct BLOB NOT NULL,"
    " position BIGINT NOT NULL DEFAULT 0,"
    " created BIGINT NOT NULL,"
    " UNIQUE (id, project_id));"
    "CREATE INDEX tracks_project ON tracks(project_id, position);"
    "CREATE TABLE track_versions ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL,"
    " track_id BLOB NOT NULL,"
    " number INTEGER NOT NULL,"
    " filename_ct BLOB,"
    " state TEXT NOT NULL DEFAULT 'uploading',"
    " progress INTEGER NOT NULL DEFAULT 0,"
    " error TEXT,"
    " created BIGINT NOT NULL,"
    " UNIQUE (id, project_id),"
    " UNIQUE (track_id, number),"
    " FOREIGN KEY (track_id, project_id) REFERENCES tracks(id, project_id) ON DELETE CASCADE);"
    "CREATE INDEX track_versions_project ON track_versions(project_id);"
    "CREATE TABLE objects ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    " version_id BLOB,"
    " kind TEXT NOT NULL CHECK (kind IN ('original', 'stream', 'peaks', 'export')),"
    " wrapped_dek BLOB NOT NULL,"
    " plain_size BIGINT NOT NULL DEFAULT 0,"
    " cipher_size BIGINT NOT NULL DEFAULT 0,"
    " store_key TEXT NOT NULL UNIQUE,"
    " content_type TEXT,"
    " state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ready', 'deleting')),"
    " created BIGINT NOT NULL,"
    " FOREIGN KEY (version_id, project_id) REFERENCES track_versions(id, project_id));"
    "CREATE INDEX objects_project ON objects(project_id, version_id);"
    "CREATE INDEX objects_state ON objects(state);"
    "CREATE TABLE guests ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    " link_id BLOB REFERENCES share_links(id) ON DELETE SET NULL,"
    " name_ct BLOB NOT NULL,"
    " ip_pseudo BLOB,"
    " ip_epoch BIGINT,"
    " created BIGINT NOT NULL,"
    " last_seen BIGINT NOT NULL,"
    " UNIQUE (id, project_id));"
    "CREATE INDEX guests_project ON guests(project_id);"
    "CREATE TABLE comments ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL,"
    " version_id BLOB NOT NULL,"
    " guest_id BLOB,"
    " by_owner INTEGER NOT NULL DEFAULT 0,"
    " parent_id BLOB,"
    " body_ct BLOB,"
    " time_ms BIGINT NOT NULL,"
    " end_ms BIGINT,"
    " resolved INTEGER NOT NULL DEFAULT 0,"
    " created BIGINT NOT NULL,"
    " deleted BIGINT,"
    " UNIQUE (id, project_id),"
    " FOREIGN KEY (version_id, project_id) REFERENCES track_versions(id, project_id) ON DELETE "
    "CASCADE,"
    " FOREIGN KEY (guest_id, project_id) REFERENCES guests(id, project_id) ON DELETE CASCADE,"
    " FOREIGN KEY (parent_id, project_id) REFERENCES comments(id, project_id) ON DELETE CASCADE,"
    " CHECK ((by_owner = 1 AND guest_id IS NULL) OR (by_owner = 0 AND guest_id IS NOT NULL)),"
    " CHECK (time_ms >= 0 AND (end_ms IS NULL OR end_ms >= time_ms)));"
    "CREATE INDEX comments_version ON comments(project_id, version_id, time_ms);"
    "CREATE INDEX comments_parent ON comments(parent_id);"
    "CREATE INDEX comments_guest ON comments(guest_id);"
    "CREATE TABLE events ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    " kind TEXT NOT NULL,"
    " guest_id BLOB REFERENCES guests(id) ON DELETE SET NULL,"
    " details_ct BLOB,"
    " created BIGINT NOT NULL);"
    "CREATE INDEX events_project ON events(project_id, created);";

/* v2: background work (jobs, outbox), shared rate limits, media facts, and
 * the wrapped key material shared by all nodes (account key, IP ratchet). */
static const char v2_queues[] =
    "ALTER TABLE track_versions ADD COLUMN duration_ms BIGINT;"
    "ALTER TABLE track_versions ADD COLUMN sample_rate INTEGER;"
    "ALTER TABLE track_versions ADD COLUMN channels INTEGER;"
    "ALTER TABLE track_versions ADD COLUMN bit_depth INTEGER;"
    "ALTER TABLE track_versions ADD COLUMN loudness_mlufs BIGINT;"
    "ALTER TABLE track_versions ADD COLUMN true_peak_mdbtp BIGINT;"
    "CREATE TABLE jobs ("
    " id BLOB PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " project_id BLOB REFERENCES projects(id) ON DELETE CASCADE,"
    " payload BLOB,"
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', "
    "'failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " max_attempts INTEGER NOT NULL DEFAULT 3,"
    " run_after BIGINT NOT NULL,"
    " lease_until BIGINT,"
    " worker TEXT,"
    " last_error TEXT,"
    " created BIGINT NOT NULL,"
    " updated BIGINT NOT NULL);"
    "CREATE INDEX jobs_ready ON jobs(state, run_after);"
    "CREATE INDEX jobs_lease ON jobs(state, lease_until);"
    "CREATE INDEX jobs_project ON jobs(project_id);"
    "CREATE TABLE outbox ("
    " id BLOB PRIMARY KEY,"
    " account_id BLOB REFERENCES accounts(id) ON DELETE CASCADE,"
    " recipient_ct BLOB NOT NULL,"
    " subject_ct BLOB NOT NULL,"
    " body_ct BLOB NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt BIGINT NOT NULL,"
    " last_error TEXT,"
    " created BIGINT NOT NULL);"
    "CREATE INDEX outbox_due ON outbox(state, next_attempt);"
    "CREATE TABLE rate_limits ("
    " key_hash BLOB PRIMARY KEY,"
    " tat BIGINT NOT NULL,"
    " expires BIGINT NOT NULL);"
    "CREATE INDEX rate_limits_expires ON rate_limits(expires);"
    "CREATE TABLE key_blobs ("
    " name TEXT PRIMARY KEY,"
    " mk_id TEXT,"
    " blob BLOB NOT NULL,"
    " updated BIGINT NOT NULL);";

/* v3: resumable uploads (issue 6, docs/media.md): one row per upload that
 * the owner started (its declared length, the durably received offset, a
 * lease that makes concurrent PATCHes fail cleanly) and one row per stored
 * part (each an AM1 object of its own under its own wrapped DEK). */
static const char v3_uploads[] =
    "CREATE TABLE uploads ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    " account_id BLOB NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    " version_id BLOB NOT NULL,"
    " length BIGINT NOT NULL,"
    " received BIGINT NOT NULL DEFAULT 0,"
    " parts INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'complete')),"
    " lock_token BLOB,"
    " lock_until BIGINT NOT NULL DEFAULT 0,"
    " object_id BLOB,"
    " created BIGINT NOT NULL,"
    " updated BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " FOREIGN KEY (version_id, project_id) REFERENCES track_versions(id, project_id) ON DELETE "
    "CASCADE);"
    "CREATE INDEX uploads_account ON uploads(account_id, state);"
    "CREATE INDEX uploads_expires ON uploads(state, expires);"
    "CREATE TABLE upload_parts ("
    " upload_id BLOB NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " part_id BLOB NOT NULL UNIQUE,"
    " wrapped_dek BLOB NOT NULL,"
    " start BIGINT NOT NULL,"
    " plain_size BIGINT NOT NULL,"
    " cipher_size BIGINT NOT NULL,"
    " store_key TEXT NOT NULL,"
    " PRIMARY KEY (upload_id, seq));";

/* v4: e-mail notifications (issue 9, docs/mail.md): the kinds each owner
 * turned on account-wide (accounts.mail_on) and per project (projects.mail_on
 * / mail_off override the account), guest comments waiting for the next
 * per-project digest (one row each, deleted by the flush that mails them),
 * and the devices an owner signed in from (hash of a random cookie only). */
static const char v4_mail[] =
    "ALTER TABLE accounts ADD COLUMN mail_on INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE projects ADD COLUMN mail_on INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE projects ADD COLUMN mail_off INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE mail_digest_items ("
    " comment_id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL,"
    " account_id BLOB NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    " created BIGINT NOT NULL,"
    " FOREIGN KEY (comment_id, project_id) REFERENCES comments(id, project_id) ON DELETE CASCADE);"
    "CREATE INDEX mail_digest_items_project ON mail_digest_items(project_id, created);"
    "CREATE TABLE known_devices ("
    " account_id BLOB NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    " device_hash BLOB NOT NULL,"
    " created BIGINT NOT NULL,"
    " last_seen BIGINT NOT NULL,"
    " PRIMARY KEY (account_id, device_hash));";

/* v5: owner e-mail verification (issue 9, docs/mail.md "Verification"):
 * when the owner proved control of the address (ms; NULL: not verified).
 * Accounts that exist at upgrade time start unverified: opt-in notifications
 * go only to verified addresses, so their owners confirm once. */
static const char v5_email_verified[] = "ALTER TABLE accounts ADD COLUMN email_verified BIGINT;";

/* v6: the project's content revision, raised in the same transaction by
 * every write to what a review page shows (tracks, versions, objects,
 * comments, guest names), so a node can tell whether its cached view of a
 * project is current with one read of the project row (src/api/api_view.c).
 * Triggers, not application code: no write path can forget it. Trigger
 * syntax is the one place where the two engines need different SQL. */
#define V6_ADD "ALTER TABLE projects ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;"
#define V6_SQ(t, ev, row)                                                                          \
	"CREATE TRIGGER " #t "_rev_" #ev " AFTER " V6_EV_##ev                                      \
	    " ON " #t " BEGIN UPDATE projects"                                                     \
	    " SET rev = rev + 1 WHERE id = " #row ".project_id; END;"
#define V6_EV_i	     "INSERT"
#define V6_EV_u	     "UPDATE"
#define V6_EV_n	     "UPDATE OF name_ct"
#define V6_EV_d	     "DELETE"
#define V6_SQ_ALL(t) V6_SQ(t, i, NEW) V6_SQ(t, u, NEW) V6_SQ(t, d, OLD)
static const char v6_rev_sqlite[] =
    V6_ADD V6_SQ_ALL(tracks) V6_SQ_ALL(track_versions) V6_SQ_ALL(objects) V6_SQ_ALL(comments)
	V6_SQ(guests, i, NEW) V6_SQ(guests, n, NEW) V6_SQ(guests, d, OLD);
#define V6_PG(t, evs)                                                                              \
	"CREATE TRIGGER " #t "_rev AFTER " evs " ON " #t                                           \
	" FOR EACH ROW EXECUTE FUNCTION am_project_rev();"
static const char v6_rev_pgsql[] =
    V6_ADD "CREATE FUNCTION am_project_rev() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
	   " IF TG_OP = 'DELETE' THEN UPDATE projects SET rev = rev + 1 WHERE id = OLD.project_id;"
	   " ELSE UPDATE projects SET rev = rev + 1 WHERE id = NEW.project_id; END IF;"
	   " RETURN NULL; END $$;" V6_PG(tracks, "INSERT OR UPDATE OR DELETE")
	       V6_PG(track_versions, "INSERT OR UPDATE OR DELETE")
		   V6_PG(objects, "INSERT OR UPDATE OR DELETE")
		       V6_PG(comments, "INSERT OR UPDATE OR DELETE")
			   V6_PG(guests, "INSERT OR DELETE OR UPDATE OF name_ct");

/* v7: e-mail events (issue 19, docs/mail.md "Events"): a guest comment's
 * mail is no longer composed in the request. Its transaction writes one row
 * here (ids and times only); the worker's mail pump turns it into outbox
 * mail or a digest item and deletes it in one transaction, retrying a
 * failure at next_attempt with back-off. */
static const char v7_mail_events[] =
    "CREATE TABLE mail_events ("
    " comment_id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt BIGINT NOT NULL,"
    " created BIGINT NOT NULL,"
    " FOREIGN KEY (comment_id, project_id) REFERENCES comments(id, project_id) ON DELETE CASCADE);"
    "CREATE INDEX mail_events_due ON mail_events(next_attempt);";

/* v8: the meters of issue 21: loudness range (milli-LU), the rendition's
 * own true peak (milli-dBTP) and which figures are missing and why
 * (enum xcode_meter bits). NULL in rows measured before: not known. */
static const char v8_meters[] =
    "ALTER TABLE track_versions ADD COLUMN loudness_range_mlu BIGINT;"
    "ALTER TABLE track_versions ADD COLUMN stream_true_peak_mdbtp BIGINT;"
    "ALTER TABLE track_versions ADD COLUMN meter_flags INTEGER;";

/* v9: the tempo map the marker export's MIDI file carries (issue 24,
 * docs/data-model.md): the song's tempo in milli-BPM and its time
 * signature, per track, set by the owner; 120 BPM 4/4 until then. */
static const char v9_track_tempo[] =
    "ALTER TABLE tracks ADD COLUMN tempo_mbpm BIGINT NOT NULL DEFAULT 120000;"
    "ALTER TABLE tracks ADD COLUMN ts_num INTEGER NOT NULL DEFAULT 4;"
    "ALTER TABLE tracks ADD COLUMN ts_den INTEGER NOT NULL DEFAULT 4;";

/* v10: the current token of a share link sealed under the project's field
 * key (issue 23, docs/crypto.md "Share links"), so its owner sees the link
 * from any session; NULL for links made before and after a revoke. The
 * token_hash check of a guest request is unchanged. */
static const char v10_link_token[] = "ALTER TABLE share_links ADD COLUMN token_ct BLOB;";

/* v11: reviewer actions (issue 22, docs/data-model.md): when a guest last
 * edited a comment (NULL: never); the hash of the guest-session cookie a
 * guest row was written with (NULL: none, e.g. rows made before), which is
 * how a browser proves a comment is its own; and the reviewers' verdicts
 * per version, one per version and guest session, name and note sealed
 * under the project's field key. */
static const char v11_reviewer_actions[] =
    "ALTER TABLE comments ADD COLUMN edited BIGINT;"
    "ALTER TABLE guests ADD COLUMN session_hash BLOB;"
    "CREATE INDEX guests_session ON guests(project_id, session_hash);"
    "CREATE TABLE verdicts ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL,"
    " version_id BLOB NOT NULL,"
    " link_id BLOB REFERENCES share_links(id) ON DELETE SET NULL,"
    " session_hash BLOB NOT NULL,"
    " name_ct BLOB NOT NULL,"
    " verdict TEXT NOT NULL,"
    " note_ct BLOB,"
    " created BIGINT NOT NULL,"
    " updated BIGINT NOT NULL,"
    " UNIQUE (version_id, session_hash),"
    " FOREIGN KEY (version_id, project_id) REFERENCES track_versions(id, project_id) ON DELETE "
    "CASCADE,"
    " CHECK (verdict IN ('approved', 'changes_requested')));"
    "CREATE INDEX verdicts_project ON verdicts(project_id, version_id);";
/* v12: listen coverage (issue 23, docs/api.md "Activity"): one row per
 * listener and version, merged from the review page's reports: the
 * listener's name as given and the heard seconds (a bitmap) sealed under
 * the project's field key, the play count and times in clear. listener is
 * SHA-256(project id, the browser's random id) cut to 16 bytes: no address,
 * and nothing that links one listener across projects. */
static const char v12_listens[] =
    "CREATE TABLE listens ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    " version_id BLOB NOT NULL,"
    " listener BLOB NOT NULL,"
    " link_id BLOB REFERENCES share_links(id) ON DELETE SET NULL,"
    " name_ct BLOB,"
    " heard_ct BLOB,"
    " plays BIGINT NOT NULL DEFAULT 0,"
    " created BIGINT NOT NULL,"
    " last_seen BIGINT NOT NULL,"
    " UNIQUE (project_id, version_id, listener),"
    " FOREIGN KEY (version_id, project_id) REFERENCES track_versions(id, project_id) ON DELETE "
    "CASCADE);";

/* v13: where a version sits in time against the track's previous version
 * (issue 22 A/B, docs/transcoding.md "Alignment"): offset_ms against that
 * version, sync_ms on the track's common timeline (the first version's is
 * 0) and offset_state (0 first, 1 matched, 2 unmatched); NULL until the
 * worker computed it (versions transcoded before: not known). */
static const char v13_version_offset[] =
    "ALTER TABLE track_versions ADD COLUMN offset_ms BIGINT;"
    "ALTER TABLE track_versions ADD COLUMN sync_ms BIGINT;"
    "ALTER TABLE track_versions ADD COLUMN offset_state INTEGER;";

/* v14: whether the project's guests see the meters (issue 21: loudness,
 * true peak, loudness range beside each version on the review page); the
 * owner turns it on, off by default. */
static const char v14_show_loudness[] =
    "ALTER TABLE projects ADD COLUMN show_loudness INTEGER NOT NULL DEFAULT 0;";

/* v15: the listener mark's payload map (issue 26, docs/watermark.md
 * "Payload map"): per project whether guests' audio is marked (off by
 * default), the strength in thousandths (0.2 default, at most 0.6) and
 * whether downloaded originals are marked too (on by default, acts only
 * when marking is on); and one row per listening (project, link, guest
 * session) with its random 64-bit payload, the reviewer's name and the time
 * of first access sealed under the project's field key. lookup is
 * HMAC(project watermark key, payload) (docs/crypto.md "Mark lookup"): a
 * payload found in a file maps to its row only with the project key. */
static const char v15_marks[] =
    "ALTER TABLE projects ADD COLUMN mark_on INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE projects ADD COLUMN mark_strength INTEGER NOT NULL DEFAULT 200;"
    "ALTER TABLE projects ADD COLUMN mark_downloads INTEGER NOT NULL DEFAULT 1;"
    "CREATE TABLE marks ("
    " id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    " link_id BLOB NOT NULL,"
    " session_hash BLOB NOT NULL,"
    " lookup BLOB NOT NULL,"
    " payload_ct BLOB NOT NULL,"
    " name_ct BLOB NOT NULL,"
    " first_ct BLOB NOT NULL,"
    " UNIQUE (project_id, link_id, session_hash),"
    " UNIQUE (project_id, lookup));";
/* v16: the tamper-evident access log (issue 26, src/translog/,
 * docs/security.md "Access log"): one Merkle tree per project. An entry
 * row holds the entry's bytes (ids and a time, no name, no address), its
 * index and the tree's root after it; the head row the size and the
 * tree's right edge (translog_frontier), so an append costs O(log n)
 * hashes and never reads the entries. Deleting a project deletes its log. */
static const char v16_translog[] =
    "CREATE TABLE translog_heads ("
    " project_id BLOB PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,"
    " size BIGINT NOT NULL,"
    " frontier BLOB);"
    "CREATE TABLE translog_entries ("
    " project_id BLOB NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    " idx BIGINT NOT NULL,"
    " entry BLOB NOT NULL,"
    " root BLOB NOT NULL,"
    " created BIGINT NOT NULL,"
    " PRIMARY KEY (project_id, idx));";

/* v17: the review page's list orders as indexes (issue 25,
 * docs/benchmarks.md): its listings read a project's comments by version,
 * time, creation and id, its tracks by position, creation and id, its
 * versions by track and number, and its media objects by creation and id;
 * the indexes covered only a prefix of each order (comments_version:
 * project, version, time), so SQLite sorted every listing, or every run of
 * equal times, in a temporary B-tree (a sorter set up and rewound per run:
 * for the comments a third of the listing's instructions). Each new index
 * gives the whole order; those it extends are dropped. */
static const char v17_list_order[] =
    "CREATE INDEX comments_order ON comments(project_id, version_id, time_ms, created, id);"
    "DROP INDEX comments_version;"
    "CREATE INDEX tracks_order ON tracks(project_id, position, created, id);"
    "DROP INDEX tracks_project;"
    "CREATE INDEX track_versions_order ON track_versions(project_id, track_id, number);"
    "DROP INDEX track_versions_project;"
    "CREATE INDEX objects_order ON objects(project_id, created, id);";
/* v18: the marked renditions of a version (issue 26, docs/watermark.md
 * "Serving segment variants"): the ids of renditions A and B (objects of
 * kind 'stream' with no version_id, so that the version's plain stream
 * stays the one object of its kind and version), the strength they were
 * marked at (thousandths) and their span map (cuts and fragment slots,
 * src/worker/job_mark_ab.c). Deleting the version deletes the row; its
 * objects are sent to deletion by the repository (db_vmark_forget_track). */
static const char v18_version_marks[] =
    "CREATE TABLE version_marks ("
    " version_id BLOB PRIMARY KEY,"
    " project_id BLOB NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    " a_id BLOB NOT NULL,"
    " b_id BLOB NOT NULL,"
    " strength INTEGER NOT NULL,"
    " spans BLOB NOT NULL,"
    " created BIGINT NOT NULL,"
    " FOREIGN KEY (version_id, project_id) REFERENCES track_versions(id, project_id) ON DELETE "
    "CASCADE);";

/* v19: the review page's comment listing from its index alone (issue 25,
 * fifth pass, docs/benchmarks.md). comments_order gave the listing its
 * order, but every row then cost a seek into the table by rowid for the
 * columns the index lacks (about a quarter of its SQLite instructions);
 * comments_list carries the order and every column the listing reads, so
 * SQLite walks it alone (a covering index: the sealed body is stored a
 * second time, still sealed). PostgreSQL keeps comments_order: its B-tree
 * refuses index rows over about 2.7 KB and a sealed body reaches 4.1 KB
 * (DB_BODY_MAX), so there the migration changes nothing. */
static const char v19_comments_list_sqlite[] =
    "CREATE INDEX comments_list ON comments(project_id, version_id, time_ms, created, id,"
    " guest_id, parent_id, body_ct, end_ms, resolved, deleted, edited);"
    "DROP INDEX comments_order;";

/* sql_pg: the PostgreSQL text when it differs (NULL: sql on both; "":
 * nothing to run there, the version is recorded all the same). */
struct migration {
	int version;
	const char *name;
	const char *sql;
	const char *sql_pg;
};

static const struct migration migrations[] = {
    {1, "core", v1_core, NULL},
    {2, "queues", v2_queues, NULL},
    {3, "uploads", v3_uploads, NULL},
    {4, "mail", v4_mail, NULL},
    {5, "email_verified", v5_email_verified, NULL},
    {6, "project_rev", v6_rev_sqlite, v6_rev_pgsql},
    {7, "mail_events", v7_mail_events, NULL},
    {8, "meters", v8_meters, NULL},
    {9, "track_tempo", v9_track_tempo, NULL},
    {10, "link_token", v10_link_token, NULL},
    {11, "reviewer_actions", v11_reviewer_actions, NULL},
    {12, "listens", v12_listens, NULL},
    {13, "version_offset", v13_version_offset, NULL},
    {14, "show_loudness", v14_show_loudness, NULL},
    {15, "marks", v15_marks, NULL},
    {16, "translog", v16_translog, NULL},
    {17, "list_order", v17_list_order, NULL},
    {18, "version_marks", v18_version_marks, NULL},
    {19, "comments_list", v19_comments_list_sqlite, ""},
};

int db_schema_latest(void)
{
	return migrations[AM_ARRAY_LEN(migrations) - 1].version;
}

/* The engine's dialect of sql: BLOB -> BYTEA on PostgreSQL (whole words,
 * outside quotes). Returns an owned string or NULL. */
static char *dialect(const struct db *db, const char *sql)
{
	size_t n = strlen(sql), o = 0;
	char *out = malloc(n * 2 + 1);
	int quoted = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (sql[i] == '\'')
			quoted = !quoted;
		if (!quoted && db->engine == DB_PGSQL && strncmp(sql + i, "BLOB", 4) == 0 &&
		    (i == 0 || !(sql[i - 1] == '_' || (sql[i - 1] >= 'A' && sql[i - 1] <= 'Z'))) &&
		    !(sql[i + 4] == '_' || (sql[i + 4] >= 'A' && sql[i + 4] <= 'Z'))) {
			memcpy(out + o, "BYTEA", 5);
			o += 5;
			i += 3;
			continue;
		}
		out[o++] = sql[i];
	}
	out[o] = 0;
	return out;
}

static int read_version(struct db *db, int *version)
{
	struct db_stmt *st = NULL;
	int rc;

	rc = db_prepare(db, "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_version",
			&st);
	if (rc == 0 && (rc = db_step(st)) == DB_ROW) {
		*version = (int)db_column_int64(st, 0);
		rc = 0;
	} else if (rc == DB_DONE) {
		rc = db_set_err(db, AM_ERR_DB, "schema_version: no result");
	}
	db_finalize(st);
	return rc;
}

static const char create_version_table[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)";

int db_schema_version(struct db *db, int *version)
{
	int rc;

	*version = 0;
	if ((rc = db_begin(db)) != 0)
		return rc;
	rc = db_exec(db, create_version_table);
	if (rc == 0)
		rc = read_version(db, version);
	if (rc == 0)
		return db_commit(db);
	db_rollback(db);
	return rc;
}

static int apply(struct db *db, const struct migration *m)
{
	struct db_stmt *st = NULL;
	char *sql = dialect(db, db->engine == DB_PGSQL && m->sql_pg ? m->sql_pg : m->sql);
	int rc;

	if (!sql)
		return AM_ERR_NOMEM;
	rc = sql[0] ? db_exec(db, sql) : 0;
	free(sql);
	if (rc)
		return rc;
	rc = db_prepare(
	    db, "INSERT INTO schema_version (version, name, applied) VALUES ($1, $2, $3)", &st);
	if (rc)
		return rc;
	db_bind_int64(st, 1, m->version);
	db_bind_text(st, 2, m->name);
	db_bind_int64(st, 3, am_now_ms());
	rc = db_step(st);
	db_finalize(st);
	return rc == DB_DONE ? 0 : rc;
}

int db_migrate_to(struct db *db, int target)
{
	char from[16], to[16];
	int rc, cur = 0;

	if (target < 0 || target > db_schema_latest())
		return db_set_err(db, AM_ERR_INVAL, "no schema version %d", target);
	if ((rc = db_begin_write(db)) != 0)
		return rc;
	/* Two nodes starting at once: PostgreSQL serialises them here, SQLite
	 * already did with BEGIN IMMEDIATE. */
	if (db->engine == DB_PGSQL &&
	    (rc = db_exec(db, "SELECT pg_advisory_xact_lock(7106830316)")))
		goto out;
	if ((rc = db_exec(db, create_version_table)) || (rc = read_version(db, &cur)))
		goto out;
	if (cur > db_schema_latest()) {
		rc = db_set_err(
		    db, AM_ERR_UNSUPPORTED,
		    "database schema version %d is newer than this audiomus (knows up to %d): "
		    "upgrade audiomus, or restore a backup made for this version",
		    cur, db_schema_latest());
		goto out;
	}
	for (size_t i = 0; i < AM_ARRAY_LEN(migrations); i++) {
		const struct migration *m = &migrations[i];

		if (m->version <= cur || m->version > target)
			continue;
		if ((rc = apply(db, m)) != 0) {
			char keep[sizeof(db->err)];

			memcpy(keep, db->err, sizeof(keep));
			db_set_err(db, rc, "migration %d (%s): %s", m->version, m->name, keep);
			goto out;
		}
	}
	rc = db_commit(db);
	if (rc == 0 && cur < target) {
		snprintf(from, sizeof(from), "%d", cur);
		snprintf(to, sizeof(to), "%d", target);
		am_log(AM_LOG_INFO, "db_migrated", "from", from, "to", to);
	}
	return rc;
out:
	db_rollback(db);
	return rc;
}

int db_migrate(struct db *db)
{
	return db_migrate_to(db, db_schema_latest());
}
