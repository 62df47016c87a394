// Black-box tests of the listener mark at the media role's door (issue 26,
// docs/watermark.md "Serving marked streams", docs/media.md "Marked
// streams"): a guest's stream of a project that marks its audio carries the
// listener's mark ticket as a last "&mt=TICKET" after the signed URL. Until
// the marked renditions exist, every such request is refused with a reason
// (Mark-Error): no ticket, a tampered, expired or other link's ticket, a
// malformed parameter, and a valid ticket too (no marked rendition yet): no
// unmarked audio reaches a guest of a marked project. The owner's stream,
// the guest's peaks and an unmarked project are served as before, ticket or
// not. Runs on SQLite and PostgreSQL; the test clock (test build) makes an
// expired ticket.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw } from './lib/server.mjs';

for (const backend of BACKENDS) test(`mark: a guest's stream of a marked project needs its ticket; never the plain rendition (${backend})`, async () => {
  const srv = await startApi(backend, { hooks: true });
  try {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Marked EP');
    const { tid, vid } = await uploadTrack(owner, p.id, wav(1), { title: 'Song', filename: 'song.wav' });
    assert.equal((await waitVersion(owner, p.id, vid)).state, 'ready');
    const token = p.link.token;

    // A guest's media URLs (its own cookie jar: its guest session).
    const mediaOf = async (g, t = token) => {
      const r = await g.get(`/api/v1/s/${t}`);
      assert.equal(r.status, 200, r.body);
      return r.json.tracks[0].versions[0].media;
    };
    const get = (url, extra = '', headers = { Range: 'bytes=0-15' }) => raw(srv, 'GET', pathOf(url) + extra, headers);
    const ticketOf = async (g, t = token) => {
      const r = await g.post(`/api/v1/s/${t}/mark`, { name: 'Listener' });
      assert.equal(r.status, 200, r.body);
      return r.json.ticket;
    };

    // Marking off: the guest streams the plain rendition, a ticket-shaped
    // parameter or not; a malformed one is refused like a bad URL.
    const g1 = new Client(srv);
    let m = await mediaOf(g1);
    assert.equal((await get(m.stream)).status, 206);
    assert.equal((await get(m.stream, '&mt=mt1.1.2.a.b.c.d')).status, 206);
    assert.equal((await get(m.stream, '&mt=')).status, 403);
    assert.equal((await get(m.stream, '&mt=a%2Fb')).status, 403);

    assert.equal((await owner.put(`/api/v1/projects/${p.id}/mark`, { on: true })).status, 200);

    // A ticket the web role mints 2 h in the past (test clock; first, so
    // that the mark rate limit never sees time go backwards): expired for
    // the media role, which keeps real time.
    srv.setClock(-7200);
    const old = await ticketOf(new Client(srv));
    srv.setClock(0);

    // Marked: refused without a ticket, with a tampered one, with another
    // link's, with an expired one; with a valid one too, for now.
    m = await mediaOf(g1);
    const t1 = await ticketOf(g1);
    const refused = async (extra, why, method = 'GET') => {
      const r = await raw(srv, method, pathOf(m.stream) + extra, { Range: 'bytes=0-15' });
      assert.equal(r.status, 403, `${extra}: ${r.status}`);
      assert.equal(r.headers['mark-error'], why, extra);
      if (method === 'GET') assert.ok(r.body.length < 200, 'no audio in a refusal');
    };
    await refused('', 'mark ticket required');
    await refused('', 'mark ticket required', 'HEAD');
    const f = t1.split('.'); // mt1 KID EXPIRY PROJECT LINK MARK MAC
    const flip = (s) => (s[0] === 'a' ? 'b' : 'a') + s.slice(1);
    await refused(`&mt=${[...f.slice(0, 5), flip(f[5]), f[6]].join('.')}`, 'mark ticket invalid or expired');
    await refused(`&mt=${[...f.slice(0, 6), (f[6][0] === 'A' ? 'B' : 'A') + f[6].slice(1)].join('.')}`, 'mark ticket invalid or expired');
    await refused(`&mt=${t1.replace(/^mt1\.(\d+)\.(\d+)/, (_, k, e) => `mt1.${k}.${Number(e) + 1}`)}`, 'mark ticket invalid or expired');
    const l2 = await owner.post(`/api/v1/projects/${p.id}/links`, { label: 'Second link' });
    assert.equal(l2.status, 201, l2.body);
    await refused(`&mt=${await ticketOf(new Client(srv), l2.json.link.token)}`, 'mark ticket of another link');
    await refused(`&mt=${old}`, 'mark ticket invalid or expired');
    await refused(`&mt=${t1}`, 'no marked rendition of this version yet');
    await refused(`&mt=${t1}`, 'no marked rendition of this version yet', 'HEAD');
    // The URL itself is still checked first: a ticket does not repair it.
    assert.equal((await raw(srv, 'GET', `${pathOf(m.stream).replace(/s=[^&]+/, 's=AAAA')}&mt=${t1}`)).status, 403);

    // Peaks and the owner's stream are unchanged.
    assert.equal((await get(m.peaks, '', {})).status, 200);
    const urls = await owner.get(`/api/v1/projects/${p.id}/tracks/${tid}/urls`);
    assert.equal(urls.status, 200, urls.body);
    const om = urls.json.versions[vid];
    assert.equal((await get(om.stream)).status, 206);
    assert.equal((await raw(srv, 'HEAD', pathOf(om.stream))).status, 200);

    // Marking off again: the guest's plain stream is back.
    assert.equal((await owner.put(`/api/v1/projects/${p.id}/mark`, { on: false })).status, 200);
    assert.equal((await get(m.stream)).status, 206);
    assert.equal((await get(m.stream, `&mt=${t1}`)).status, 206);
  } finally {
    await srv.stop();
  }
});
