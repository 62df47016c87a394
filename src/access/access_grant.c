/*
 * access_grant.c: the database half of a media credential check
 * (access_grant_check): the MAC proved that the server issued the grant; this
 * proves that it is still valid now. Share-link grants: link not revoked,
 * expired or regenerated, project live, password generation unchanged,
 * downloads still on, object of this project. Owner grants: account open,
 * the session that asked still live, project the account's own. The media
 * role repeats the same decision while a transfer runs (docs/media.md
 * "Transfers in flight") from one read (access_grant_recheck). Runs in
 * the web and media roles after the MAC check; a database failure is
 * reported as such, never as a grant.
 */
#include <string.h>

#include "access/access.h"
#include "app/app.h"
#include "repo/repo.h"
#include "util/util.h"

/* Not-found answers are denials; real database failures stay errors. */
static int deny_or_fail(int rc)
{
	return rc == AM_ERR_NOTFOUND || rc == AM_ERR_DENIED || rc == AM_ERR_CRYPTO ? AM_ERR_DENIED
										   : rc;
}

/* An object in state/kind serves a transfer (download: the original);
 * owner: the project's owner may fetch the original whatever the flag. */
static int object_ok(const char *state, const char *kind, int downloads, int download, int owner)
{
	if (strcmp(state, "ready") != 0)
		return 0;
	if (download)
		return (owner || downloads) && strcmp(kind, "original") == 0;
	return strcmp(kind, "stream") == 0 || strcmp(kind, "peaks") == 0;
}

/* A share link's row still grants g: not revoked or expired, same
 * generation; and the project's password generation is g's. */
static int link_holds(const struct access_grant *g, int revoked, int64_t expires,
		      int64_t generation, int has_password, int64_t pw_gen)
{
	if (revoked || (expires > 0 && expires <= am_now_ms()) ||
	    generation != (int64_t)g->link_gen)
		return 0;
	return (has_password ? pw_gen : 0) == (int64_t)g->pw_gen &&
	       !(has_password && g->pw_gen == 0);
}

int access_session_check(struct app *a, struct db *db, const uint8_t account_id[16],
			 const uint8_t session_id[16])
{
	return deny_or_fail(db_session_live(db, account_id, session_id, am_now_ms()));
}

/* An owner grant: open account, its session still live, its own project. */
static int owner_ok(struct app *a, struct db *db, const struct access_grant *g,
		    struct db_project *p)
{
	int rc;

	if ((rc = access_session_check(a, db, g->account_id, g->session_id)) != 0)
		return rc;
	if ((rc = db_project_get_by_id(db, a->keys, g->project_id, p)) != 0)
		return deny_or_fail(rc);
	return memcmp(p->account_id, g->account_id, DB_ID_LEN) == 0 ? 0 : AM_ERR_DENIED;
}

/* A share-link grant: live link of this generation, same password generation. */
static int link_ok(struct app *a, struct db *db, const struct access_grant *g, struct db_project *p)
{
	struct db_link link;
	int rc;

	if ((rc = db_link_get(db, a->keys, g->project_id, g->link_id, &link)) != 0)
		return deny_or_fail(rc);
	am_memzero(link.token, sizeof(link.token)); /* not needed here */
	if ((rc = db_project_get_by_id(db, a->keys, g->project_id, p)) != 0)
		return deny_or_fail(rc);
	return link_holds(g, link.revoked, link.expires, link.generation, p->has_password,
			  p->pw_gen)
		   ? 0
		   : AM_ERR_DENIED;
}

int access_grant_load(struct app *a, struct db *db, const struct access_grant *g,
		      const uint8_t *object_id, int download, struct db_project *p_out,
		      struct db_object *o_out)
{
	struct db_project p;
	struct db_object o;
	int rc;

	memset(&p, 0, sizeof(p));
	rc = g->owner ? owner_ok(a, db, g, &p) : link_ok(a, db, g, &p);
	if (rc)
		goto out;
	if (object_id) {
		if ((rc = db_object_get(db, g->project_id, object_id, &o)) != 0) {
			rc = deny_or_fail(rc);
			goto out;
		}
		if (!object_ok(o.state, o.kind, p.downloads, download, g->owner)) {
			rc = AM_ERR_DENIED;
			goto out;
		}
		if (o_out)
			*o_out = o;
	}
	if (p_out)
		*p_out = p;
out:
	am_memzero(&p, sizeof(p));
	return rc;
}

int access_grant_check(struct app *a, struct db *db, const struct access_grant *g,
		       const uint8_t *object_id, int download)
{
	return access_grant_load(a, db, g, object_id, download, NULL, NULL);
}

int access_grant_recheck(struct app *a, struct db *db, const struct access_grant *g,
			 const uint8_t object_id[16], int download)
{
	struct db_grant_state st;
	int rc = g->owner ? db_grant_state_owner(db, g->account_id, g->session_id, g->project_id,
						 object_id, am_now_ms(), &st)
			  : db_grant_state_link(db, g->project_id, g->link_id, object_id, &st);

	if (rc)
		return deny_or_fail(rc);
	if (g->owner ? memcmp(st.account_id, g->account_id, DB_ID_LEN) != 0
		     : !link_holds(g, st.link_revoked, st.link_expires, st.link_generation,
				   st.has_password, st.pw_gen))
		return AM_ERR_DENIED;
	return object_ok(st.object_state, st.object_kind, st.downloads, download, g->owner)
		   ? 0
		   : AM_ERR_DENIED;
}
