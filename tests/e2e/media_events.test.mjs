// Black-box tests of the media role's background event writer
// (docs/media.md "Events"), on SQLite and on PostgreSQL: a guest's play and
// download are written by a writer thread, not by the request, and show up
// in the owner's event log (GET /api/v1/projects/{id}/events) with the IP
// pseudonym, never the address; a Range request that does not start at 0 is
// no new play. And a SIGTERM right after a play still records it: with the
// writer made to hold its batch (AUDIOMUS_TEST_EVENT_HOLD_MS, testing mode
// only) the events are provably still queued when the signal arrives, and
// a second server on the same data finds them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, FAST_ARGON, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { onLogLines, pathOf, raw } from './lib/server.mjs';

const GUEST_ADDR = '127.0.0.71';

// A project with one ready version and the guest's signed URLs for it.
async function guestMedia(srv, owner) {
  const p = await newProject(owner, 'Events EP');
  const { vid } = await uploadTrack(owner, p.id, wav(1), { title: 'Song', filename: 'song.wav' });
  const v = await waitVersion(owner, p.id, vid);
  assert.equal(v.state, 'ready', JSON.stringify(v));
  const guest = new Client(srv, { localAddress: GUEST_ADDR });
  const r = await guest.get(`/api/v1/s/${p.link.token}`);
  assert.equal(r.status, 200, r.body);
  return { p, media: r.json.tracks[0].versions[0].media };
}

// A play (first bytes of the stream rendition) and a download, as a guest.
async function playAndDownload(srv, media) {
  const get = (url, range) => raw(srv, 'GET', pathOf(url), { Range: range }, undefined, { localAddress: GUEST_ADDR });
  assert.equal((await get(media.stream, 'bytes=0-15')).status, 206);
  assert.equal((await get(media.stream, 'bytes=16-31')).status, 206); // not a new play
  assert.equal((await get(media.download, 'bytes=0-15')).status, 206);
}

async function events(owner, pid) {
  const r = await owner.get(`/api/v1/projects/${pid}/events?limit=1000`);
  assert.equal(r.status, 200, r.body);
  return r.json.events.filter((e) => e.kind === 'play' || e.kind === 'download');
}

// Poll the owner's event log until n play/download events are there.
async function waitEvents(owner, pid, n, ms = 15000) {
  const t0 = Date.now();
  for (;;) {
    const ev = await events(owner, pid);
    if (ev.length >= n) return ev;
    assert.ok(Date.now() - t0 < ms, `only ${JSON.stringify(ev)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function checkDetails(ev, media) {
  assert.deepEqual(ev.map((e) => e.kind).sort(), ['download', 'play']);
  const objectOf = (url) => new URL(url).pathname.split('/').pop();
  for (const e of ev) {
    const d = JSON.parse(e.details);
    assert.deepEqual(Object.keys(d), ['object', 'link', 'ip', 'epoch']);
    assert.equal(d.object, objectOf(e.kind === 'play' ? media.stream : media.download));
    assert.match(d.ip, /^[0-9a-f]{32}$/);
    assert.notEqual(d.ip, '0'.repeat(32), 'a pseudonym was computed');
    assert.ok(!e.details.includes(GUEST_ADDR), 'never the address');
  }
}

// `audiomus serve` (srv's binary, without the hold) on srv's data directory
// (and database); resolves once it listens: { proc, exited, port, ca, origin }.
async function restart(srv) {
  const proc = spawn(srv.bin, ['serve', '--data', srv.dataDir, '--listen', '127.0.0.1:0', ...FAST_ARGON, ...srv.dbArgs], {
    env: process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    onLogLines(proc.stderr, (l) => { if (l.event === 'listening') resolve(Number(l.port)); });
    exited.then((r) => reject(new Error(`serve exited ${JSON.stringify(r)}`)));
  });
  return { proc, exited, port, ca: fs.readFileSync(path.join(srv.dataDir, 'tls', 'cert.pem')), origin: `https://127.0.0.1:${port}` };
}

for (const backend of BACKENDS) {
  describe(`media events (${backend})`, () => {
    let srv;
    before(async () => { srv = await startApi(backend); });
    after(async () => { await srv?.stop(); });

    test('a guest play and download reach the owner\'s event log after the asynchronous write', async () => {
      const o = await newOwner(srv);
      const { p, media } = await guestMedia(srv, o);
      await playAndDownload(srv, media);
      const ev = await waitEvents(o, p.id, 2);
      checkDetails(ev, media);
      // Nothing more arrives later: the second Range request was no play.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await events(o, p.id)).length, 2);
      assert.ok(!srv.logs.some((l) => l.event === 'media_events_dropped' || l.event === 'media_event_failed'));
    });
  });

  describe(`media events survive a SIGTERM (${backend})`, () => {
    let srv, again;
    // The writer holds every batch for ten minutes: only the stop can write it.
    before(async () => { srv = await startApi(backend, { hooks: true, env: { AUDIOMUS_TEST_EVENT_HOLD_MS: '600000' } }); });
    after(async () => {
      if (again && again.proc.exitCode === null) { again.proc.kill('SIGTERM'); await again.exited; }
      await srv?.stop();
    });

    test('a SIGTERM right after a play still records it', async () => {
      const o = await newOwner(srv);
      const { p, media } = await guestMedia(srv, o);
      await playAndDownload(srv, media);
      assert.deepEqual(await events(o, p.id), [], 'the events are still queued (held), not written by the request');
      srv.proc.kill('SIGTERM');
      const r = await srv.exited;
      assert.deepEqual(r, { code: 0, signal: null });
      again = await restart(srv);
      const o2 = new Client(again);
      assert.equal((await o2.login(o.email)).status, 200);
      const ev = await events(o2, p.id);
      checkDetails(ev, media);
      again.proc.kill('SIGTERM');
      assert.equal((await again.exited).code, 0);
    });
  });
}
