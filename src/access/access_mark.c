/*
 * access_mark.c: the mark ticket (access.h "mark tickets", issue 26): a
 * short-lived, MAC'd credential naming one listening's mark row, minted by
 * the web role for the guest session that owns the row and verified by the
 * media role, which splices the listener's A/B renditions by the row's
 * payload. Runs in the web and media roles; verification is on untrusted
 * input: one accepted encoding, the MAC checked before the expiry, every
 * failure the same AM_ERR_DENIED.
 */
#include "access/access.h"

#include <stdio.h>
#include <string.h>

#include "access/access_int.h"
#include "app/app.h"
#include "crypto/crypto.h"
#include "util/util.h"

#define MAC_B64_LEN 43
#define NFIELDS	    7

/* The MAC'd text of a ticket. */
static int ticket_msg(const struct access_mark_ticket *t, uint32_t kid, char *msg, size_t n)
{
	char pid[33], lid[33], mid[33];
	int w;

	access_hex16(t->project_id, pid);
	access_hex16(t->link_id, lid);
	access_hex16(t->mark_id, mid);
	w = snprintf(msg, n, "am-mark-ticket-v1\n%s\n%s\n%s\n%lld\n%u", pid, lid, mid,
		     (long long)t->expires, (unsigned)kid);
	return w > 0 && (size_t)w < n ? w : AM_ERR_TOOBIG;
}

int access_mark_ticket_mint(struct app *a, const struct access_mark_ticket *t, char *out, size_t n)
{
	uint32_t kid = keyring_generation(a->kr);
	char msg[256], mac[MAC_B64_LEN + 1], pid[33], lid[33], mid[33];
	int64_t now = am_now();
	int ml, rc;

	if (n < ACCESS_MARK_TICKET_MAX)
		return AM_ERR_TOOBIG;
	if (t->expires <= now || t->expires > now + ACCESS_URL_CAP)
		return AM_ERR_INVAL;
	if ((ml = ticket_msg(t, kid, msg, sizeof(msg))) < 0)
		return ml;
	if ((rc = access_mac_b64(a, CRYPTO_KEY_URL_SIGN, kid, msg, (size_t)ml, mac)) != 0)
		return rc;
	access_hex16(t->project_id, pid);
	access_hex16(t->link_id, lid);
	access_hex16(t->mark_id, mid);
	snprintf(out, n, "mt1.%u.%lld.%s.%s.%s.%s", (unsigned)kid, (long long)t->expires, pid, lid,
		 mid, mac);
	return 0;
}

/* Split the ticket into its NFIELDS dot-separated, non-empty fields. */
static int ticket_split(const char *v, struct access_span f[NFIELDS])
{
	const char *p = v;

	for (int i = 0; i < NFIELDS; i++) {
		size_t l = strcspn(p, ".");

		if (l == 0 || (i < NFIELDS - 1 && p[l] != '.') || (i == NFIELDS - 1 && p[l] != 0))
			return AM_ERR_INVAL;
		f[i].p = p;
		f[i].n = l;
		p += l + (i < NFIELDS - 1);
	}
	return 0;
}

int access_mark_ticket_verify(struct app *a, const char *ticket, struct access_mark_ticket *out)
{
	struct access_span f[NFIELDS];
	struct access_mark_ticket t;
	uint64_t kid = 0, exp = 0;
	int64_t now = am_now();
	char msg[256];
	int ml;

	memset(out, 0, sizeof(*out));
	if (!ticket || strnlen(ticket, ACCESS_MARK_TICKET_MAX) >= ACCESS_MARK_TICKET_MAX ||
	    ticket_split(ticket, f) || f[0].n != 3 || memcmp(f[0].p, "mt1", 3) != 0 ||
	    access_parse_dec(f[1].p, f[1].n, UINT32_MAX, &kid) ||
	    access_parse_dec(f[2].p, f[2].n, INT64_MAX, &exp) ||
	    access_unhex16(f[3].p, f[3].n, t.project_id) ||
	    access_unhex16(f[4].p, f[4].n, t.link_id) || access_unhex16(f[5].p, f[5].n, t.mark_id))
		return AM_ERR_DENIED;
	t.expires = (int64_t)exp;
	if ((ml = ticket_msg(&t, (uint32_t)kid, msg, sizeof(msg))) < 0 ||
	    access_mac_check(a, CRYPTO_KEY_URL_SIGN, (uint32_t)kid, msg, (size_t)ml, f[6].p,
			     f[6].n))
		return AM_ERR_DENIED;
	if (t.expires < now || t.expires > now + ACCESS_URL_CAP)
		return AM_ERR_DENIED;
	*out = t;
	return 0;
}
