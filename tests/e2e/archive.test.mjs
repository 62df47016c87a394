// "Download all" (issue 23, docs/api.md "Project archive"): one ZIP of a
// project's originals and its comments as JSON and CSV, streamed by the
// media role. On SQLite (and PostgreSQL when configured): the owner's
// archive and a guest's are checked by python3's zipfile against the bytes
// that were uploaded (every original, byte for byte) and by `unzip -t`; the
// comments are in both, the guest's without guest ids, the CSV safe to open
// in a spreadsheet; a guest is refused while downloads are off (the API
// and a URL minted before the switch), a guest's archive that is streaming
// ends when downloads are switched off, and with a project password the
// guest's URL needs the password cookie. Memory: the archive of a project
// 16 times larger (2 MiB and 32 MiB of originals) leaves the peak RSS of a
// fresh `audiomus media` process within 4 MiB of the small one's (not a
// timing; skipped for an ASan binary, whose allocator quarantine makes RSS
// follow freed memory).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, uploadVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { BIN, pathOf, raw } from './lib/server.mjs';

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Deterministic noise (a 32-bit LCG): audio that does not compress.
function noise(seed = 12345) {
  let x = seed;
  return () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return (x / 2 ** 32 - 0.5) * 20000; };
}

// Read a ZIP with python3's zipfile: every member's name, size and SHA-256,
// the two comment documents parsed, and testzip()'s verdict (CRCs).
function readZip(buf) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-zip-'));
  const file = path.join(dir, 'a.zip');
  fs.writeFileSync(file, buf);
  const py = `
import csv, hashlib, io, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
out = {"bad": z.testzip(), "members": {}, "comments": None, "csv": None}
for i in z.infolist():
    data = z.read(i)
    out["members"][i.filename] = {"size": len(data), "sha": hashlib.sha256(data).hexdigest(), "stored": i.compress_type == zipfile.ZIP_STORED}
    if i.filename.endswith("/comments.json"):
        out["comments"] = json.loads(data)
    if i.filename.endswith("/comments.csv"):
        out["csv"] = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
print(json.dumps(out))
`;
  try {
    const r = spawnSync('python3', ['-c', py, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const t = spawnSync('unzip', ['-t', file], { encoding: 'utf8' });
    assert.ok(!t.error, `unzip -t could not run (${t.error?.code}): ./scripts/dev deps installs unzip`);
    assert.equal(t.status, 0, `unzip -t: ${t.stdout}${t.stderr}`);
    return JSON.parse(r.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// GET a signed URL's archive whole.
async function fetchArchive(srv, url, headers = {}) {
  const r = await raw(srv, 'GET', pathOf(url), headers, undefined, { timeout: 60000 });
  return r;
}

// GET p over its own TLS connection reading slowly (4 KiB every 2 ms);
// h.body counts body bytes (the head's length included loosely), h.done
// resolves when the server closes.
function slowGet(srv, p) {
  const sock = tls.connect({ host: '127.0.0.1', port: srv.port, ca: srv.ca, servername: 'localhost' });
  const h = { status: 0, body: 0, closed: false, closedAt: 0 };
  let head = Buffer.alloc(0);
  sock.on('error', () => {});
  sock.on('close', () => { h.closed = true; h.closedAt = Date.now(); });
  sock.pause();
  sock.write(`GET ${p} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  h.done = (async () => {
    while (!h.closed || sock.readableLength > 0) {
      const c = sock.read(Math.min(4096, sock.readableLength || 1)) || sock.read(0);
      if (c && c.length) {
        if (h.status) h.body += c.length;
        else {
          head = Buffer.concat([head, c]);
          const i = head.indexOf('\r\n\r\n');
          if (i >= 0) { h.status = Number(head.subarray(0, i).toString('latin1').split(' ')[1]); h.body = head.length - i - 4; }
        }
      }
      await sleep(2);
    }
    return h;
  })();
  return h;
}

for (const backend of BACKENDS) {
  describe(`project archive (${backend})`, () => {
    let srv, owner, p, files;
    const guest = () => new Client(srv);

    before(async () => {
      srv = await startApi(backend);
      owner = await newOwner(srv);
      p = await newProject(owner, 'Night Drive "EP"');
      const a = wav(1, { freq: 330 });
      const b1 = wav(1.5, { freq: 440 });
      const b2 = wav(2, { freq: 550, ch: 1 });
      const t1 = await uploadTrack(owner, p.id, a, { title: 'Intro', filename: 'intro.wav' });
      const t2 = await uploadTrack(owner, p.id, b1, { title: 'Überholspur', filename: 'drive mix 1.wav' });
      const v2 = await uploadVersion(owner, p.id, t2.tid, b2, { filename: 'drive mix 2.wav' });
      files = [
        { name: '1-intro/v1-intro.wav', bytes: a },
        { name: '2-berholspur/v1-drive mix 1.wav', bytes: b1 },
        { name: '2-berholspur/v2-drive mix 2.wav', bytes: b2 },
      ];
      // An owner comment that a spreadsheet would run, and a guest's reply.
      const c1 = await owner.post(`/api/v1/projects/${p.id}/comments`, { version_id: t1.vid, body: '=HYPERLINK("x") kick "too loud"', time_ms: 500 });
      assert.equal(c1.status, 201, c1.body);
      const c2 = await guest().post(`/api/v1/s/${p.link.token}/comments`, { name: 'Mara', version_id: v2, body: 'love the, bridge\nsecond line', time_ms: 1250, end_ms: 1500 });
      assert.equal(c2.status, 201, c2.body);
      p.v2 = v2;
    });
    after(async () => { await srv?.stop(); });

    const checkArchive = (z, { asGuest }) => {
      assert.equal(z.bad, null, 'every CRC checks');
      const names = Object.keys(z.members).sort();
      const root = 'night-drive-ep';
      assert.deepEqual(names, [`${root}/comments.csv`, `${root}/comments.json`, ...files.map((f) => `${root}/tracks/${f.name}`)].sort());
      for (const f of files) {
        const m = z.members[`${root}/tracks/${f.name}`];
        assert.equal(m.size, f.bytes.length, f.name);
        assert.equal(m.sha, sha(f.bytes), `${f.name}: byte for byte`);
        assert.ok(m.stored, `${f.name}: stored, not deflated`);
      }
      const cs = z.comments.comments;
      assert.equal(z.comments.format, 'audiomus-comments-v1');
      assert.equal(cs.length, 2);
      const byOwner = cs.find((c) => c.by_owner), byGuest = cs.find((c) => !c.by_owner);
      assert.equal(byOwner.body, '=HYPERLINK("x") kick "too loud"');
      assert.equal(byOwner.track, 'Intro');
      assert.equal(byGuest.author, 'Mara');
      assert.equal(byGuest.track, 'Überholspur');
      assert.equal(byGuest.version, 2);
      assert.equal(byGuest.file, 'drive mix 2.wav');
      assert.equal(byGuest.end_ms, 1500);
      assert.equal('guest_id' in byGuest, !asGuest, 'guest ids only in the owner\'s archive');
      const [head, ...rows] = z.csv;
      assert.deepEqual(head.slice(0, 4), ['track_number', 'track', 'version', 'file']);
      assert.equal(rows.length, 2);
      const body = head.indexOf('body');
      const ownerRow = rows.find((r) => r[head.indexOf('by_owner')] === 'yes');
      assert.equal(ownerRow[body], "'=HYPERLINK(\"x\") kick \"too loud\"", 'a formula is defused');
      const guestRow = rows.find((r) => r[head.indexOf('author')] === 'Mara');
      assert.equal(guestRow[body], 'love the, bridge\nsecond line');
      assert.equal(guestRow[head.indexOf('time')], '0:01.250');
    };

    test('the owner\'s archive: every original byte for byte, comments as JSON and CSV, whatever the downloads flag', async () => {
      const u = await owner.get(`/api/v1/projects/${p.id}/archive`);
      assert.equal(u.status, 200, u.body);
      assert.equal(u.json.format, 'zip');
      const r = await fetchArchive(srv, u.json.url);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'application/zip');
      assert.match(r.headers['content-disposition'], /attachment; filename="night-drive-ep\.zip"/);
      checkArchive(readZip(r.body), { asGuest: false });
      // Another owner gets no URL for it.
      const other = await newOwner(srv);
      assert.equal((await other.get(`/api/v1/projects/${p.id}/archive`)).status, 404);
    });

    test('a guest: refused while downloads are off, the archive while on, cut when switched off mid-stream', async () => {
      assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: true })).status, 200);
      const before = await guest().get(`/api/v1/s/${p.link.token}/archive`);
      assert.equal(before.status, 200, before.body);
      assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: false })).status, 200);
      const off = await guest().get(`/api/v1/s/${p.link.token}/archive`);
      assert.equal(off.status, 403, off.body);
      assert.equal((await fetchArchive(srv, before.json.url)).status, 403, 'a URL minted while downloads were on');
      const mine = await fetchArchive(srv, (await owner.get(`/api/v1/projects/${p.id}/archive`)).json.url);
      assert.equal(mine.status, 200, 'the owner\'s, with downloads off');
      checkArchive(readZip(mine.body), { asGuest: false });
      assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: true })).status, 200);
      const u = await guest().get(`/api/v1/s/${p.link.token}/archive`);
      assert.equal(u.status, 200, u.body);
      const r = await fetchArchive(srv, u.json.url);
      assert.equal(r.status, 200);
      checkArchive(readZip(r.body), { asGuest: true });
      // A URL tampered into another project's is refused.
      const forged = u.json.url.replace(/\/m\/([0-9a-f]{32})/, '/m/' + '0'.repeat(32));
      assert.equal((await fetchArchive(srv, forged)).status, 403);

      // A big track, so that the archive is still streaming when the owner switches downloads off.
      const big = wav(60, { sample: noise() });
      await uploadTrack(owner, p.id, big, { title: 'Long', filename: 'long.wav' });
      const u2 = await guest().get(`/api/v1/s/${p.link.token}/archive`);
      const seen = srv.logs.filter((l) => l.event === 'media_revoked_midstream' && l.kind === 'archive').length;
      const h = slowGet(srv, pathOf(u2.json.url));
      for (const t0 = Date.now(); h.body < 512 * 1024; await sleep(5)) {
        assert.ok(!h.closed && Date.now() - t0 < 20000, `only ${h.body} bytes`);
      }
      assert.equal(h.status, 200);
      assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: false })).status, 200);
      const changed = Date.now();
      await Promise.race([h.done, sleep(20000)]);
      assert.ok(h.closed, 'the archive still streams 20 s after downloads were switched off');
      assert.ok(h.closedAt - changed <= 5000, `ended ${h.closedAt - changed} ms after the switch`);
      assert.ok(h.body < big.length / 2, `${h.body} of more than ${big.length} bytes arrived`);
      await srv.waitLog((l) => l.event === 'media_revoked_midstream' && l.kind === 'archive' && srv.logs.filter((x) => x.event === 'media_revoked_midstream' && x.kind === 'archive').length > seen);
      // The URL minted while downloads were on is refused now.
      assert.equal((await fetchArchive(srv, u.json.url)).status, 403);
      assert.equal((await guest().get(`/api/v1/s/${p.link.token}/archive`)).status, 403);
    });

    test('with a project password, a guest\'s archive needs the password cookie', async () => {
      assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: true })).status, 200);
      assert.equal((await owner.put(`/api/v1/projects/${p.id}/password`, { password: 'secret listening party' })).status, 204);
      const g = guest();
      assert.equal((await g.get(`/api/v1/s/${p.link.token}/archive`)).status, 401);
      assert.equal((await g.post(`/api/v1/s/${p.link.token}/password`, { password: 'secret listening party' })).status, 200);
      const u = await g.get(`/api/v1/s/${p.link.token}/archive`);
      assert.equal(u.status, 200, u.body);
      assert.equal((await fetchArchive(srv, u.json.url)).status, 403, 'the URL alone, without the cookie');
      const r = await fetchArchive(srv, u.json.url, { Cookie: g.cookieHeader() });
      assert.equal(r.status, 200);
      assert.equal(readZip(r.body).bad, null);
    });
  });
}

// ---- memory: the archive of a small and of a 16x larger project from a fresh media process ----

const hwmKiB = (pid) => Number(/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const asan = () => fs.readFileSync(BIN).includes('__asan_init');

async function startMedia(srv) {
  const proc = spawn(BIN, ['media', '--data', srv.dataDir, '--listen', '127.0.0.1:0', ...srv.dbArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => { err += c; });
  const t0 = Date.now();
  let m;
  while (!(m = err.match(/"event":"listening"[^\n]*"port":"(\d+)"/))) {
    assert.ok(Date.now() - t0 < 20000 && proc.exitCode === null, `media did not start: ${err}`);
    await sleep(20);
  }
  return { proc, port: Number(m[1]) };
}

// Stream url's archive from a fresh media process, counting its bytes (not
// keeping them); the process's peak RSS after.
async function peakFor(srv, url) {
  const media = await startMedia(srv);
  try {
    let n = 0;
    const status = await new Promise((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: media.port, path: pathOf(url), ca: srv.ca, servername: 'localhost', agent: false }, (res) => {
        res.on('data', (c) => { n += c.length; });
        res.on('end', () => resolve(res.statusCode));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    assert.equal(status, 200);
    return { bytes: n, hwm: hwmKiB(media.proc.pid) };
  } finally {
    media.proc.kill('SIGTERM');
    await new Promise((res) => (media.proc.exitCode !== null ? res() : media.proc.on('exit', res)));
  }
}

describe('project archive memory', { skip: asan() ? 'ASan binary: RSS includes the allocator quarantine' : false }, () => {
  let srv;
  before(async () => { srv = await startApi('sqlite'); });
  after(async () => { await srv?.stop(); });

  test('peak RSS of the media process does not grow with the archive (2 MiB vs 32 MiB of originals)', async (t) => {
    const owner = await newOwner(srv);
    const small = await newProject(owner, 'Small');
    const large = await newProject(owner, 'Large');
    const mib = (n) => wav((n * 1024 * 1024 - 44) / 176400, { sample: noise(n) });
    await uploadTrack(owner, small.id, mib(2), { title: "S" });
    for (let i = 0; i < 2; i++) await uploadTrack(owner, large.id, mib(16), { title: `L${i}`, timeout: 120000 });
    const us = (await owner.get(`/api/v1/projects/${small.id}/archive`)).json.url;
    const ul = (await owner.get(`/api/v1/projects/${large.id}/archive`)).json.url;
    const s = await peakFor(srv, us);
    const l = await peakFor(srv, ul);
    t.diagnostic(`peak RSS ${s.hwm} KiB for ${s.bytes} bytes, ${l.hwm} KiB for ${l.bytes} bytes`);
    assert.ok(l.bytes > 15 * s.bytes, `archives of ${s.bytes} and ${l.bytes} bytes`);
    assert.ok(l.hwm - s.hwm <= 4096, `peak RSS ${s.hwm} KiB for ${s.bytes} bytes, ${l.hwm} KiB for ${l.bytes} bytes`);
  });
});
