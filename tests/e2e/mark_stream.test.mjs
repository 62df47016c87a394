// Black-box tests of the listener mark at the media role's door (issue 26,
// docs/watermark.md "Serving marked streams", docs/media.md "Marked
// streams"): a guest's stream of a project that marks its audio carries the
// listener's mark ticket as a last "&mt=TICKET" after the signed URL.
// Without a valid ticket every such request is refused with a reason
// (Mark-Error): no ticket, a tampered, expired or other link's ticket, a
// malformed parameter; with one, before the worker made the version's
// renditions A and B, too (no marked rendition yet): no unmarked audio
// reaches a guest of a marked project. Turning marking on queues A and B
// for the ready version; then each guest gets the splice of A and B by its
// own payload: whole, ranges (each the same bytes as the whole), HEAD,
// If-Range with its own ETag; two guests' bytes differ only inside the
// audio, at most two variants per byte, and both decode cleanly. The
// owner's stream, the guest's peaks and an unmarked project are served as
// before, ticket or not. Runs on SQLite and PostgreSQL; the test clock
// (test build) makes an expired ticket.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw } from './lib/server.mjs';

// ffmpeg decodes the file with -err_detect explode and says nothing.
function decodes(buf) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-mark-'));
  try {
    fs.writeFileSync(path.join(dir, 's.m4a'), buf);
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-err_detect', 'explode', '-i', path.join(dir, 's.m4a'), '-f', 'null', '-'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', r.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Two guests' marked streams (the first with ticket t1 on url1; the second
// a new guest session): whole, HEAD, ranges, If-Range, decoding.
async function markedStreams(srv, url1, t1, media2, media3, ticketOf) {
  const u1 = pathOf(url1) + `&mt=${t1}`;
  const u2 = pathOf(media2.stream) + `&mt=${await ticketOf(media2.guest)}`;
  const u3 = pathOf(media3.stream) + `&mt=${await ticketOf(media3.guest)}`;
  const w1 = await raw(srv, 'GET', u1, {}, undefined, { whole: true });
  const w2 = await raw(srv, 'GET', u2, {}, undefined, { whole: true });
  for (const w of [w1, w2]) {
    assert.equal(w.status, 200, w.headers['mark-error']);
    assert.equal(w.headers['content-type'], 'audio/mp4');
    assert.equal(w.headers['cache-control'], 'private, no-store');
    assert.equal(w.headers['accept-ranges'], 'bytes');
  }
  const a = w1.body, b = w2.body;
  assert.equal(a.length, b.length, 'one byte layout');
  assert.ok(!a.equals(b), "two listeners' streams differ");
  assert.notEqual(w1.headers.etag, w2.headers.etag, 'an ETag per listening');
  // The MP4 boxes (ftyp, free, mdat header; the moov at the end) are the
  // same; inside the audio every byte is A's or B's: no offset where three
  // guests have three different bytes.
  assert.ok(a.subarray(0, 44).equals(b.subarray(0, 44)));
  const mdat = a.readUInt32BE(36);
  assert.ok(a.subarray(36 + mdat).equals(b.subarray(36 + mdat)), 'the moov is shared');
  const again = await raw(srv, 'GET', u1, {}, undefined, { whole: true });
  assert.ok(again.body.equals(a), 'the same listening gets the same bytes');
  const c = (await raw(srv, 'GET', u3, {}, undefined, { whole: true })).body;
  assert.equal(c.length, a.length);
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) diff++;
    assert.ok(a[i] === b[i] || c[i] === a[i] || c[i] === b[i], `byte ${i}: a third variant`);
  }
  assert.ok(diff > 0);
  for (const w of [a, b]) decodes(w);
  const h = await raw(srv, 'HEAD', u1);
  assert.equal(h.status, 200);
  assert.equal(Number(h.headers['content-length']), a.length);
  assert.equal(h.headers.etag, w1.headers.etag);
  for (const [u, whole, etag] of [[u1, a, w1.headers.etag], [u2, b, w2.headers.etag]]) {
    for (const [x, y] of [[0, 15], [40, 1200], [5000, 5000], [Math.floor(whole.length / 2), whole.length - 1]]) {
      const r = await raw(srv, 'GET', u, { Range: `bytes=${x}-${y}` });
      assert.equal(r.status, 206, `${x}-${y}`);
      assert.equal(r.headers['content-range'], `bytes ${x}-${y}/${whole.length}`);
      assert.ok(r.body.equals(whole.subarray(x, y + 1)), `bytes ${x}-${y} are the whole stream's`);
    }
    const ok = await raw(srv, 'GET', u, { Range: 'bytes=100-199', 'If-Range': etag });
    assert.equal(ok.status, 206);
    const other = await raw(srv, 'GET', u, { Range: 'bytes=100-199', 'If-Range': etag === w1.headers.etag ? w2.headers.etag : w1.headers.etag });
    assert.equal(other.status, 200, "another listening's ETag: the whole stream");
    assert.equal((await raw(srv, 'GET', u, { Range: `bytes=${whole.length}-` })).status, 416);
  }
}

for (const backend of BACKENDS) test(`mark: a guest's stream of a marked project needs its ticket; never the plain rendition (${backend})`, async () => {
  const srv = await startApi(backend, { hooks: true });
  try {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Marked EP');
    const { tid, vid } = await uploadTrack(owner, p.id, wav(3, { freq: 2000 }), { title: 'Song', filename: 'song.wav' });
    assert.equal((await waitVersion(owner, p.id, vid)).state, 'ready');
    const token = p.link.token;

    // A guest's media URLs (its own cookie jar: its guest session).
    const mediaOf = async (g, t = token) => {
      const r = await g.get(`/api/v1/s/${t}`);
      assert.equal(r.status, 200, r.body);
      return { ...r.json.tracks[0].versions[0].media, guest: g };
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
    const markedFlag = async () => (await g1.get(`/api/v1/s/${token}`)).json.project.marked;
    assert.equal(await markedFlag(), false, 'the guest view says the project does not mark');
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

    assert.equal(await markedFlag(), true);
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
    // Turning marking on queued the worker's A and B for the ready version:
    // refused with this reason until they exist (the worker may already be
    // done), then served.
    const first = await get(m.stream, `&mt=${t1}`);
    if (first.status === 403) await refused(`&mt=${t1}`, 'no marked rendition of this version yet', 'HEAD');
    else assert.equal(first.status, 206);
    for (let i = 0; i < 600 && (await get(m.stream, `&mt=${t1}`)).status !== 206; i++) await new Promise((r) => setTimeout(r, 100));
    await markedStreams(srv, m.stream, t1, await mediaOf(new Client(srv)), await mediaOf(new Client(srv)), ticketOf);
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
