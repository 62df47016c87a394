// Black-box tests of the guest side with real audio (docs/api.md "Guest API",
// docs/media.md), on SQLite and on PostgreSQL: an owner uploads a WAV over
// tus, `serve`'s worker makes it ready, guests stream and download it through
// the signed URLs of the review page. Regenerating the link kills every URL
// minted before (stream, peaks, download) on the next request; turning
// downloads off kills the download URL; deleting the project kills them all;
// with a project password the URLs need the password cookie, and a password
// change kills both.
// After guests from several addresses (password, page, play, download,
// comment) neither the database (SQLite files, or a pg_dump of the
// PostgreSQL database) nor the logs hold any of the raw addresses.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw } from './lib/server.mjs';

const PROJECT_PW = 'secret listening party';

// A project with one ready version (tus upload, worker in `serve`).
async function readyProject(srv, owner, title) {
  const p = await newProject(owner, title);
  const bytes = wav(1);
  const { vid } = await uploadTrack(owner, p.id, bytes, { title: 'Song', filename: 'song.wav' });
  const v = await waitVersion(owner, p.id, vid);
  assert.equal(v.state, 'ready', JSON.stringify(v));
  return { ...p, vid, token: p.link.token, bytes };
}

// The signed URLs of the review page (a fresh set per call).
async function mediaOf(srv, token, client = new Client(srv)) {
  const r = await client.get(`/api/v1/s/${token}`);
  assert.equal(r.status, 200, r.body);
  return r.json.tracks[0].versions[0].media;
}

// Status of each URL: stream and download read their first 16 bytes. With
// guest (a Client), from its address and with its cookies (the password
// cookie of a protected project is checked by the media role too).
async function statuses(srv, media, guest) {
  const out = {};
  for (const k of ['stream', 'peaks', 'download']) {
    if (!media[k]) { out[k] = null; continue; }
    const headers = k === 'peaks' ? {} : { Range: 'bytes=0-15' };
    if (guest?.jar.size) headers.Cookie = guest.cookieHeader();
    out[k] = (await raw(srv, 'GET', pathOf(media[k]), headers, undefined, { localAddress: guest?.localAddress })).status;
  }
  return out;
}

// Every byte the database holds, as text: the SQLite files (raw bytes,
// latin1) or a plain pg_dump of the test database (bytea as \x hex).
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

for (const backend of BACKENDS) {
  describe(`guest media URLs and addresses (${backend})`, () => {
    let srv;
    before(async () => { srv = await startApi(backend); });
    after(async () => { await srv?.stop(); });

    test('signed URLs die on regeneration (next request), download URL with downloads off, all with the project', async () => {
      const o = await newOwner(srv);
      const p = await readyProject(srv, o, 'URLs EP');
      const m1 = await mediaOf(srv, p.token);
      assert.deepEqual(await statuses(srv, m1), { stream: 206, peaks: 200, download: 206 });
      const orig = await raw(srv, 'GET', pathOf(m1.download));
      assert.equal(orig.status, 200);
      assert.ok(orig.body.equals(p.bytes), 'the download is the original, byte for byte');
      // Regenerate: every URL of the old generation is refused at once.
      const regen = await o.post(`/api/v1/projects/${p.id}/links/${p.link.id}/regenerate`);
      assert.equal(regen.status, 200);
      assert.deepEqual(await statuses(srv, m1), { stream: 403, peaks: 403, download: 403 });
      assert.equal((await new Client(srv).get(`/api/v1/s/${p.token}`)).status, 404);
      const m2 = await mediaOf(srv, regen.json.link.token);
      assert.deepEqual(await statuses(srv, m2), { stream: 206, peaks: 200, download: 206 });
      // Downloads off: no download URL, and the one minted before is refused.
      assert.equal((await o.patch(`/api/v1/projects/${p.id}`, { downloads: false })).status, 200);
      assert.deepEqual(await statuses(srv, m2), { stream: 206, peaks: 200, download: 403 });
      const m3 = await mediaOf(srv, regen.json.link.token);
      assert.equal(m3.download, null);
      assert.deepEqual(await statuses(srv, m3), { stream: 206, peaks: 200, download: null });
      assert.equal((await o.patch(`/api/v1/projects/${p.id}`, { downloads: true })).status, 200);
      const m4 = await mediaOf(srv, regen.json.link.token);
      assert.deepEqual(await statuses(srv, m4), { stream: 206, peaks: 200, download: 206 });
      // Deleted (crypto-shredded) project: nothing opens any more.
      assert.equal((await o.del(`/api/v1/projects/${p.id}`, { confirm: 'URLs EP' })).status, 204);
      assert.deepEqual(await statuses(srv, m4), { stream: 403, peaks: 403, download: 403 });
    });

    test('no raw IP address in the database or the logs after guests from several addresses (password, page, play, download, comment)', async () => {
      const o = await newOwner(srv);
      const p = await readyProject(srv, o, 'Addresses EP');
      await o.put(`/api/v1/projects/${p.id}/password`, { password: PROJECT_PW });
      const addrs = ['127.0.0.61', '127.0.0.62', '127.0.0.63'];
      const guests = [];
      for (const a of addrs) {
        const g = new Client(srv, { localAddress: a });
        assert.equal((await g.post(`/api/v1/s/${p.token}/password`, { password: 'wrong one!' })).status, 403);
        assert.equal((await g.post(`/api/v1/s/${p.token}/password`, { password: PROJECT_PW })).status, 200);
        const m = await mediaOf(srv, p.token, g);
        assert.deepEqual(await statuses(srv, m, g), { stream: 206, peaks: 200, download: 206 });
        assert.deepEqual(await statuses(srv, m), { stream: 403, peaks: 403, download: 403 }, 'no password cookie');
        assert.equal((await g.post(`/api/v1/s/${p.token}/comments`, { name: `Guest ${a}`, body: 'hi', version_id: p.vid, time_ms: 0 })).status, 201);
        guests.push({ g, m });
      }
      // play and download are written by the media role's event writer,
      // after the request (docs/media.md "Events"): wait for them.
      let kinds = [];
      for (const t0 = Date.now(); Date.now() - t0 < 15000; await new Promise((r) => setTimeout(r, 50))) {
        kinds = (await o.get(`/api/v1/projects/${p.id}/events?limit=1000`)).json.events.map((e) => e.kind);
        if (kinds.includes('play') && kinds.includes('download')) break;
      }
      for (const k of ['password_failed', 'page_open', 'play', 'download'])
        assert.ok(kinds.includes(k), `${k} in ${kinds}`);
      const db = databaseText(srv);
      const hex = (b) => b.toString('hex');
      // The scan sees the rows of this test: the project id is there (as bytes or \x hex).
      const pid = Buffer.from(p.id, 'hex');
      assert.ok(db.includes(pid.toString('latin1')) || db.includes(hex(pid)), 'the scan covers this project');
      const logs = JSON.stringify(srv.logs);
      for (const a of addrs) {
        const bin = Buffer.from(a.split('.').map(Number));
        assert.ok(!db.includes(a), `${a} as text in the database`);
        assert.ok(!db.includes(bin.toString('latin1')), `${a} as bytes in the database`);
        assert.ok(!db.includes(hex(bin)), `${a} as hex (a bytea value) in the database`);
        assert.ok(!logs.includes(a), `${a} in the logs`);
        assert.ok(!db.includes(`Guest ${a}`), 'guest names are stored encrypted');
      }
      // A password change kills the cookies and the URLs minted under them.
      const { g, m } = guests[0];
      assert.equal((await o.put(`/api/v1/projects/${p.id}/password`, { password: 'a new listening secret' })).status, 204);
      assert.deepEqual(await statuses(srv, m, g), { stream: 403, peaks: 403, download: 403 });
      assert.equal((await g.get(`/api/v1/s/${p.token}`)).status, 401);
    });
  });
}
