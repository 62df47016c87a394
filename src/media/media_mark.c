/*
 * media_mark.c: the listener mark at the media role's door (issue 26,
 * docs/watermark.md "Serving marked streams"). A guest's request for the
 * stream rendition of a project that marks its audio carries the
 * listener's mark ticket appended to the signed URL as "&mt=TICKET" (an
 * <audio src> cannot send a header); the ticket is split off before the
 * URL's own strict check, then verified here against the grant. Until the
 * marked renditions A and B exist (not built: the transcode job does not
 * make them yet), a guest of a marked project is refused, with or without
 * a ticket: no unmarked audio reaches a guest of a marked project. The
 * owner, peaks, downloads and unmarked projects are unchanged. Runs in the
 * media process on untrusted requests.
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

/* The ticket names a mark row of this grant's link and project. */
static int ticket_check(struct app *a, struct db *db, const struct stream_req *sr,
			const char *ticket, const char **why)
{
	struct access_mark_ticket t;
	struct db_mark m;
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
	rc = db_mark_get(db, a->keys, t.project_id, t.mark_id, &m);
	if (rc == 0 && memcmp(m.link_id, sr->g.link_id, sizeof(m.link_id)) != 0)
		rc = AM_ERR_DENIED;
	am_memzero(&m, sizeof(m));
	am_memzero(&t, sizeof(t));
	return rc == AM_ERR_NOTFOUND ? AM_ERR_DENIED : rc;
}

int media_mark_gate(struct app *a, struct http_req *req, const struct stream_req *sr,
		    const char *ticket)
{
	struct db_mark_settings s;
	struct db *db = NULL;
	const char *why = NULL;
	int rc;

	if (sr->g.owner || sr->download || strcmp(sr->o.kind, "stream") != 0)
		return 0;
	if ((rc = app_db_get(a, &db)) != 0)
		return rc;
	rc = db_mark_settings_get(db, sr->g.project_id, &s);
	if (rc == 0 && s.on) {
		rc = ticket_check(a, db, sr, ticket, &why);
		/* A valid ticket: the marked renditions are not built yet. */
		if (rc == 0)
			why = "no marked rendition of this version yet";
		if (rc == 0 || rc == AM_ERR_DENIED)
			rc = refuse(req, why);
	}
	app_db_put(a, db);
	return rc == AM_ERR_NOTFOUND ? AM_ERR_DENIED : rc;
}
