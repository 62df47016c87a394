/*
 * media_mark.c: the listener mark at the media role's door (issue 26,
 * docs/watermark.md "Serving marked streams"). A guest's request for the
 * stream rendition of a project that marks its audio carries the
 * listener's mark ticket appended to the signed URL as "&mt=TICKET" (an
 * <audio src> cannot send a header); the ticket is split off before the
 * URL's own strict check, then verified here against the grant. With a
 * valid ticket and the version's renditions A and B made (the worker's
 * mark_ab job), the request is answered by media_ab.c: the splice of A and
 * B by the listener's payload. Without a ticket, or while A and B do not
 * exist, a guest of a marked project is refused: no unmarked audio reaches
 * a guest of a marked project. The owner, peaks, downloads and unmarked
 * projects are unchanged. Runs in the media process on untrusted requests.
 */
#include <string.h>

#include "access/access.h"
#include "app/app.h"
#include "http/http.h"
#include "media/media_int.h"
#include "repo/repo.h"

#define MT_PARAM     "&mt="
#define MT_PARAM_LEN (sizeof(MT_PARAM) - 1)

/* base64url, hex, decimal and the dots between: the ticket's alphabet. */
static int ticket_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

int media_mark_split(const char *target, char *url, size_t n, char *ticket, size_t tn)
{
	const char *mt = NULL, *p = target;
	size_t ul, tl;

	if (!target || n == 0 || tn == 0)
		return AM_ERR_DENIED;
	while ((p = strstr(p, MT_PARAM)) != NULL)
		mt = p++;
	ul = mt ? (size_t)(mt - target) : strlen(target);
	tl = mt ? strlen(mt + MT_PARAM_LEN) : 0;
	if (ul >= n || tl >= tn || tl >= ACCESS_MARK_TICKET_MAX || (mt && tl == 0))
		return AM_ERR_DENIED;
	for (size_t i = 0; i < tl; i++)
		if (!ticket_char((unsigned char)mt[MT_PARAM_LEN + i]))
			return AM_ERR_DENIED;
	memcpy(url, target, ul);
	url[ul] = 0;
	if (tl)
		memcpy(ticket, mt + MT_PARAM_LEN, tl);
	ticket[tl] = 0;
	return 0;
}

/* A refusal with its reason for the client (no internals). */
static int refuse(struct http_req *req, const char *why)
{
	(void)http_add_header(req, "Mark-Error", why);
	am_log(AM_LOG_INFO, "media_mark_refused", "reason", why);
	return AM_ERR_DENIED;
}

/* The ticket names a mark row m of this grant's link and project. */
static int ticket_check(struct app *a, struct db *db, const struct stream_req *sr,
			const char *ticket, struct db_mark *m, const char **why)
{
	struct access_mark_ticket t;
	int rc;

	*why = "mark ticket required";
	if (!ticket || !ticket[0])
		return AM_ERR_DENIED;
	*why = "mark ticket invalid or expired";
	if (access_mark_ticket_verify(a, ticket, &t))
		return AM_ERR_DENIED;
	*why = "mark ticket of another link";
	if (memcmp(t.link_id, sr->g.link_id, sizeof(t.link_id)) != 0 ||
	    memcmp(t.project_id, sr->g.project_id, sizeof(t.project_id)) != 0)
		return AM_ERR_DENIED;
	*why = "mark ticket invalid or expired";
	rc = db_mark_get(db, a->keys, t.project_id, t.mark_id, m);
	if (rc == 0 && memcmp(m->link_id, sr->g.link_id, sizeof(m->link_id)) != 0)
		rc = AM_ERR_DENIED;
	am_memzero(&t, sizeof(t));
	return rc == AM_ERR_NOTFOUND ? AM_ERR_DENIED : rc;
}

/* With a valid ticket: the version's renditions A and B and both objects,
 * or the refusal while the worker has not made them (never the plain
 * rendition to a guest of a marked project). */
static int renditions(struct db *db, const struct stream_req *sr, struct media_mark_plan *mp,
		      const char **why)
{
	int rc;

	*why = "no marked rendition of this version yet";
	if (!sr->o.has_version)
		return AM_ERR_DENIED;
	rc = db_vmark_get(db, sr->g.project_id, sr->o.version_id, &mp->vm);
	if (rc == 0)
		rc = db_object_get(db, sr->g.project_id, mp->vm.a_id, &mp->oa);
	if (rc == 0)
		rc = db_object_get(db, sr->g.project_id, mp->vm.b_id, &mp->ob);
	if (rc == 0 && (strcmp(mp->oa.state, "ready") || strcmp(mp->ob.state, "ready") ||
			mp->oa.plain_size != mp->ob.plain_size))
		rc = AM_ERR_NOTFOUND;
	return rc == AM_ERR_NOTFOUND ? AM_ERR_DENIED : rc;
}

int media_mark_gate(struct app *a, struct http_req *req, const struct stream_req *sr,
		    const char *ticket, struct media_mark_plan *mp)
{
	struct db_mark_settings s;
	struct db_mark m;
	struct db *db = NULL;
	const char *why = NULL;
	int rc;

	memset(mp, 0, sizeof(*mp));
	memset(&m, 0, sizeof(m));
	if (sr->g.owner || sr->download || strcmp(sr->o.kind, "stream") != 0)
		return 0;
	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = db_mark_settings_get(db, sr->g.project_id, &s);
	if (rc == 0 && s.on) {
		rc = ticket_check(a, db, sr, ticket, &m, &why);
		if (rc == 0)
			rc = renditions(db, sr, mp, &why);
		if (rc == AM_ERR_DENIED)
			rc = refuse(req, why);
		if (rc == 0) {
			memcpy(mp->payload, m.payload, sizeof(mp->payload));
			memcpy(mp->mark_id, m.id, sizeof(mp->mark_id));
			mp->active = 1;
		}
	}
	app_db_put(a, db);
	am_memzero(&m, sizeof(m));
	if (rc)
		media_mark_plan_cleanup(mp);
	return rc == AM_ERR_NOTFOUND ? AM_ERR_DENIED : rc;
}

void media_mark_plan_cleanup(struct media_mark_plan *mp)
{
	db_vmark_cleanup(&mp->vm);
	am_memzero(mp, sizeof(*mp));
}
