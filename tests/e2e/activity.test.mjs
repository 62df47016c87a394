// Black-box tests of "who listened to what" (docs/api.md "Listen reports"
// and "Activity"), on SQLite and on PostgreSQL: the review page's listen
// reports merge into per-(listener, version) coverage at 1 s resolution;
// the owner's activity carries the reviewer's name as given, the link,
// track and version of each play, download and comment, plays and unique
// listeners per track, and the heard seconds; filters by link and
// reviewer; the CSV export quotes every cell and defuses formulas; the
// report endpoint is bounded and rate limited; and no client address
// appears in the activity JSON, the CSV or the database.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw } from './lib/server.mjs';

const ALICE_ADDR = '127.0.0.81', BOB_ADDR = '127.0.0.82', FLOOD_ADDR = '127.0.0.83';
const ALICE = '=Alice, "the" singer'; // a formula, a comma and quotes: the CSV must cope
const listenerId = () => crypto.randomBytes(16).toString('hex');

// Every byte the database holds, as text (as api_guest_media.test.mjs).
function databaseText(srv) {
  if (srv.backend === 'sqlite') {
    const files = fs.readdirSync(srv.dataDir).filter((f) => f.startsWith('audiomus.db'));
    assert.ok(files.length >= 1, 'database files found');
    return files.map((f) => fs.readFileSync(path.join(srv.dataDir, f)).toString('latin1')).join('\n');
  }
  const url = srv.dbArgs[1].replace(/^database=/, '');
  const r = spawnSync('pg_dump', ['--no-owner', url], { encoding: 'latin1', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

// No form of addr (text, the 4 bytes, the bytes as pg_dump's hex) in text.
function assertNoAddress(text, addr, what) {
  const bytes = Buffer.from(addr.split('.').map(Number));
  assert.ok(!text.includes(addr), `${addr} as text in ${what}`);
  assert.ok(!text.includes(bytes.toString('latin1')), `${addr} as bytes in ${what}`);
}

async function activity(owner, pid, q = '') {
  const r = await owner.get(`/api/v1/projects/${pid}/activity${q}`);
  assert.equal(r.status, 200, r.body);
  return r;
}

for (const backend of BACKENDS) {
  describe(`listen activity (${backend})`, () => {
    let srv, o, p, vid, named, alice, bob;
    const aliceId = listenerId(), bobId = listenerId();

    before(async () => {
      srv = await startApi(backend);
      o = await newOwner(srv);
      p = await newProject(o, 'Activity EP');
      const up = await uploadTrack(o, p.id, wav(4), { title: 'Song A', filename: 'a.wav' });
      vid = up.vid;
      assert.equal((await waitVersion(o, p.id, vid)).state, 'ready');
      const l = await o.post(`/api/v1/projects/${p.id}/links`, { label: 'For Alice' });
      assert.equal(l.status, 201, l.body);
      named = l.json.link;
      alice = new Client(srv, { localAddress: ALICE_ADDR });
      bob = new Client(srv, { localAddress: BOB_ADDR });
    });
    after(async () => { await srv?.stop(); });

    test('plays, downloads and comments carry names, links, tracks and versions; coverage merges; filters; CSV; no address', async () => {
      const report = (c, token, body) => c.post(`/api/v1/s/${token}/listen`, { version_id: vid, ...body });
      // Alice (named link) plays seconds 0-1.5, then 3-3.5: two reports merged.
      const page = await alice.get(`/api/v1/s/${named.token}`);
      assert.equal(page.status, 200, page.body);
      let r = await report(alice, named.token, { listener: aliceId, name: ALICE, play: true, heard: [[0, 1500]] });
      assert.equal(r.status, 204, r.body);
      r = await report(alice, named.token, { listener: aliceId, name: ALICE, heard: [[3000, 3500]] });
      assert.equal(r.status, 204, r.body);
      // Bob (default link) plays the first second and comments.
      assert.equal((await report(bob, p.link.token, { listener: bobId, name: 'Bob', play: true, heard: [[0, 1000]] })).status, 204);
      assert.equal((await bob.post(`/api/v1/s/${p.link.token}/comments`, { name: 'Bob', body: 'love the intro', version_id: vid, time_ms: 500 })).status, 201);
      // Alice downloads the original (the media role records it).
      const dl = page.json.tracks[0].versions[0].media.download;
      assert.equal((await raw(srv, 'GET', pathOf(dl), { Range: 'bytes=0-15' }, undefined, { localAddress: ALICE_ADDR })).status, 206);

      let a;
      for (const t0 = Date.now(); ;) { // the download event is written by the media role's writer thread
        a = await activity(o, p.id);
        if (a.json.events.some((e) => e.kind === 'download')) break;
        assert.ok(Date.now() - t0 < 15000, `no download in ${a.body}`);
        await new Promise((res) => setTimeout(res, 50));
      }
      const ev = a.json.events;
      const listens = ev.filter((e) => e.kind === 'listen');
      assert.equal(listens.length, 2, a.body);
      const byName = Object.fromEntries(listens.map((e) => [e.reviewer, e]));
      assert.equal(byName[ALICE].link.label, 'For Alice');
      assert.equal(byName.Bob.link.label, 'Default link');
      for (const e of listens) {
        assert.equal(e.track.title, 'Song A');
        assert.deepEqual(e.version, { id: vid, number: 1 });
        assert.ok(e.created > 0);
      }
      const down = ev.find((e) => e.kind === 'download');
      assert.equal(down.link.label, 'For Alice');
      assert.equal(down.track.title, 'Song A');
      assert.equal(down.version.number, 1);
      const com = ev.find((e) => e.kind === 'comment');
      assert.equal(com.reviewer, 'Bob');
      assert.equal(com.link.label, 'Default link');
      assert.equal(com.track.title, 'Song A');
      assert.ok(!ev.some((e) => e.kind === 'play'), 'the unnamed media-role play is not a second play');
      // Per track: two plays, two listeners.
      assert.deepEqual(a.json.tracks.map((t) => [t.title, t.plays, t.listeners]), [['Song A', 2, 2]]);
      // Coverage, merged at 1 s resolution: Alice 0-2 and 3-4, Bob 0-1.
      const cov = Object.fromEntries(a.json.coverage.map((c) => [c.reviewer, c]));
      assert.deepEqual(cov[ALICE].heard, [[0, 2], [3, 4]]);
      assert.equal(cov[ALICE].heard_s, 3);
      assert.equal(cov[ALICE].duration_ms, 4000);
      assert.equal(cov[ALICE].version.id, vid);
      assert.deepEqual(cov.Bob.heard, [[0, 1]]);
      assert.deepEqual(a.json.reviewers.sort(), [ALICE, 'Bob'].sort());
      // Filters: by link, by reviewer.
      const fl = (await activity(o, p.id, `?link=${named.id}`)).json;
      assert.ok(fl.events.length >= 2 && fl.events.every((e) => e.link && e.link.id === named.id), JSON.stringify(fl.events));
      assert.deepEqual(fl.coverage.map((c) => c.reviewer), [ALICE]);
      assert.deepEqual(fl.tracks.map((t) => [t.plays, t.listeners]), [[1, 1]]);
      const fr = (await activity(o, p.id, '?reviewer=Bob')).json;
      assert.deepEqual(fr.events.map((e) => e.kind).sort(), ['comment', 'listen']);
      assert.ok(fr.events.every((e) => e.reviewer === 'Bob'));
      assert.equal((await o.get(`/api/v1/projects/${p.id}/activity?link=nope`)).status, 400);
      // CSV: a header, every cell quoted, quotes doubled, the formula defused.
      const csv = await activity(o, p.id, '?format=csv');
      assert.match(csv.headers['content-type'], /^text\/csv/);
      assert.match(csv.headers['content-disposition'], /attachment; filename="activity.csv"/);
      const lines = csv.body.split('\r\n');
      assert.equal(lines[0], 'time,event,reviewer,link,track,version');
      const row = lines.find((l) => l.includes('"listen"') && l.includes('Alice'));
      assert.match(row, /^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ","listen","'=Alice, ""the"" singer","For Alice","Song A","1"$/);
      assert.ok(!/(^|,)"[=+\-@]/.test(csv.body.split('\r\n').slice(1).join('\n')), 'no cell starts with a formula character');
      const fcsv = await activity(o, p.id, `?format=csv&reviewer=Bob`);
      assert.ok(fcsv.body.split('\r\n').slice(1).filter(Boolean).every((l) => l.includes('"Bob"')), fcsv.body);
      // No address anywhere: the raw JSON, the raw CSV, the event log, the database.
      const evlog = await o.get(`/api/v1/projects/${p.id}/events?limit=1000`);
      for (const addr of [ALICE_ADDR, BOB_ADDR]) {
        assertNoAddress(a.body, addr, 'the activity JSON');
        assertNoAddress(csv.body, addr, 'the CSV');
        assertNoAddress(evlog.body, addr, 'the event log');
        assertNoAddress(databaseText(srv), addr, 'the database');
      }
      assert.ok(!a.body.includes('"ip"'), 'no IP pseudonym copied into the activity');
      // Names and what was heard are sealed: the name is not in the database in clear.
      assert.ok(!databaseText(srv).includes('the"" singer') && !databaseText(srv).includes('Alice, '), 'the name is sealed');
    });

    test('the report endpoint is bounded, checked and rate limited', async () => {
      const g = new Client(srv, { localAddress: '127.0.0.84' });
      const url = `/api/v1/s/${p.link.token}/listen`;
      const ok = { listener: listenerId(), version_id: vid, heard: [[0, 1000]] };
      const spans = Array.from({ length: 65 }, (_, i) => [i * 10, i * 10 + 5]);
      assert.equal((await g.post(url, { ...ok, heard: spans })).status, 413, 'more than 64 spans');
      assert.equal((await g.post(url, { ...ok, heard: spans.slice(0, 64) })).status, 204, '64 spans');
      assert.equal((await g.post(url, { ...ok, heard: [[0, 4000 + 2001]] })).status, 400, 'past the end');
      assert.equal((await g.post(url, { ...ok, heard: [[1000, 1000]] })).status, 400, 'empty span');
      assert.equal((await g.post(url, { ...ok, heard: [[-1, 10]] })).status, 400, 'negative');
      assert.equal((await g.post(url, { ...ok, heard: [[0, 1, 2]] })).status, 400, 'not a pair');
      assert.equal((await g.post(url, { ...ok, heard: 'all of it' })).status, 400);
      assert.equal((await g.post(url, { ...ok, listener: 'me' })).status, 400, 'listener id');
      assert.equal((await g.post(url, { ...ok, name: 'a\u0001b' })).status, 400, 'control characters');
      assert.equal((await g.post(url, { ...ok, name: 'x'.repeat(101) })).status, 400, 'name too long');
      assert.equal((await g.post(url, { ...ok, version_id: '0'.repeat(32) })).status, 404, 'unknown version');
      assert.equal((await g.post(`/api/v1/s/${'A'.repeat(43)}/listen`, ok)).status, 404, 'unknown link');
      assert.equal((await g.post(url, ok, { origin: 'https://evil.example' })).status, 403, 'cross-origin');
      // A password project wants its cookie first.
      const q = await newProject(o, 'Locked');
      assert.equal((await o.put(`/api/v1/projects/${q.id}/password`, { password: 'a long project password' })).status, 204);
      assert.equal((await g.post(`/api/v1/s/${q.link.token}/listen`, ok)).status, 401);
      // Rate limit per address: a burst passes, then 429 with Retry-After; another address still reports.
      const f = new Client(srv, { localAddress: FLOOD_ADDR });
      let passed = 0, limited = null;
      for (let i = 0; i < 200 && !limited; i++) {
        const r = await f.post(url, ok);
        if (r.status === 429) limited = r;
        else { assert.equal(r.status, 204, r.body); passed++; }
      }
      assert.ok(limited, 'a flood is limited');
      assert.ok(passed >= 30, `the burst of 30 passed (${passed})`);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      assert.equal((await g.post(url, ok)).status, 204, 'another address is not limited');
    });
  });
}
