// Black-box tests of the full data export (docs/api.md "Export", docs/media.md
// "Export"): an owner uploads two tracks over tus, guests comment, the owner
// asks the web role for a signed export URL and downloads the tar from the
// media role; a tiny tar parser here checks every object and comment is
// listed and each original's SHA-256 equals the uploaded file. The URL is
// refused after expiry (test clock), with a mutated signature, for another
// owner's account, after the session that asked for it logged out; the web
// role alone does not serve /m/export; `audiomus export` writes the same
// archive to a 0600 file or to standard output. Both requests and the
// downloads are rate-limited per account (429 with Retry-After on the test
// clock). Every
// test but the last runs on SQLite and on PostgreSQL.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { BIN, initDataDir, pathOf, raw, testBin } from './lib/server.mjs';

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
// Uploads and whole archives may take a while on a loaded machine.
const LONG = { timeout: 60000 };
const download = (srv, p) => raw(srv, 'GET', p, {}, undefined, LONG);

// A minimal tar (ustar + pax 'x' records) reader: entries with their names,
// sizes and bodies; checks every header checksum and the end of archive.
function parseTar(buf) {
  const entries = [];
  let off = 0;
  let pax = {};
  const pad = (n) => Math.ceil(n / 512) * 512;
  for (;;) {
    assert.ok(off + 512 <= buf.length, 'archive ends with its end-of-archive blocks');
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) {
      assert.ok(buf.subarray(off, off + 1024).every((b) => b === 0), 'two zero blocks at the end');
      break;
    }
    const str = (a, b) => { const s = h.subarray(a, b); const z = s.indexOf(0); return s.subarray(0, z < 0 ? s.length : z).toString('utf8'); };
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    assert.equal(sum, parseInt(str(148, 156).trim(), 8), 'header checksum');
    assert.equal(str(257, 263), 'ustar', 'ustar magic');
    const type = h[156] ? String.fromCharCode(h[156]) : '0';
    const size0 = parseInt(str(124, 136).trim() || '0', 8);
    off += 512;
    if (type === 'x' || type === 'g') {
      const data = buf.subarray(off, off + size0);
      const recs = {};
      for (let p = 0; p < data.length;) {
        const sp = data.indexOf(0x20, p);
        const len = Number(data.subarray(p, sp).toString('latin1'));
        const rec = data.subarray(sp + 1, p + len - 1).toString('utf8');
        recs[rec.slice(0, rec.indexOf('='))] = rec.slice(rec.indexOf('=') + 1);
        p += len;
      }
      if (type === 'x') pax = recs;
      off += pad(size0);
      continue;
    }
    const prefix = str(345, 500);
    let name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
    if (pax.path) name = pax.path;
    const size = pax.size !== undefined ? Number(pax.size) : size0;
    entries.push({ name, type, size, data: buf.subarray(off, off + size) });
    off += pad(size);
    pax = {};
  }
  return entries;
}

async function exportUrl(owner) {
  const r = await owner.post('/api/v1/export');
  assert.equal(r.status, 200, r.body);
  assert.match(r.json.url, /^https:\/\/[^/]+\/m\/export\/[0-9a-f]{32}\?x=[0-9a-f]{32}&e=\d+&k=\d+&s=[A-Za-z0-9_-]{43}$/);
  const left = r.json.expires - Date.now() / 1000 - owner.srv.clock; // the server's shifted clock
  assert.ok(left > 60 && left <= 1800 + 5, `expires in ${left}s`);
  return pathOf(r.json.url);
}

// Everything the archive must hold for this owner.
function checkArchive(entries, { pid, originals, comments }) {
  const names = entries.map((e) => e.name);
  assert.equal(names[0], 'audiomus-export/account.json');
  for (const n of names) {
    assert.ok(n.startsWith('audiomus-export/'), n);
    assert.ok(!n.split('/').includes('..'), n);
  }
  const account = JSON.parse(entries[0].data.toString('utf8'));
  assert.equal(account.format, 'audiomus-export-v1');
  assert.equal(account.projects.length, 1);
  const pj = entries.find((e) => e.name === `audiomus-export/${account.projects[0].directory}/project.json`);
  assert.ok(pj, `project.json in ${names}`);
  const doc = JSON.parse(pj.data.toString('utf8'));
  assert.equal(doc.project.id, pid);
  // every object listed; the originals in the archive, byte for byte
  const inArchive = doc.objects.filter((o) => o.in_archive);
  assert.equal(inArchive.length, originals.length);
  assert.ok(doc.objects.length >= originals.length * 3, 'originals, stream renditions and peaks listed');
  for (const want of originals) {
    const e = entries.find((x) => x.name.endsWith(`/v1-${want.filename}`));
    assert.ok(e, `${want.filename} in ${names}`);
    assert.equal(e.size, want.bytes.length);
    assert.equal(sha256(e.data), sha256(want.bytes), `SHA-256 of ${want.filename}`);
    assert.ok(inArchive.find((o) => `audiomus-export/${o.in_archive}` === e.name));
  }
  // every comment, with the names the guests chose
  assert.equal(doc.comments.length, comments.length);
  for (const c of comments) assert.ok(doc.comments.find((d) => d.id === c.id && d.author === c.author && d.body === c.body), c.id);
  // links without tokens; the export event recorded
  assert.ok(doc.links.length >= 1);
  for (const l of doc.links) assert.equal(l.token, undefined);
  assert.match(doc.links_note, /cannot be recovered/);
  return doc;
}

for (const backend of BACKENDS) describe(`full data export (${backend})`, () => {
  test('full data export: signed URL, tar from the media role, every object and comment, originals byte for byte; CLI', async () => {
    const srv = await startApi(backend);
    try {
      const owner = await newOwner(srv);
      const p = await newProject(owner, 'Export EP');
      const a = wav(1, { freq: 440 });
      const b = wav(2, { freq: 660 });
      const { vid: v1 } = await uploadTrack(owner, p.id, a, { title: 'Intro', filename: 'intro.wav', ...LONG });
      const { vid: v2 } = await uploadTrack(owner, p.id, b, { title: 'Second Song', filename: 'Second take (final).wav', ...LONG });
      for (const vid of [v1, v2]) await waitVersion(owner, p.id, vid);
      const comments = [];
      for (const [name, vid, body] of [['Alice', v1, 'Love the intro'], ['Bob <b>', v2, 'Bridge is "too" long'], ['Alice', v2, 'Agree with Bob']]) {
        const g = new Client(srv);
        assert.equal((await g.get(`/api/v1/s/${p.link.token}`)).status, 200);
        const r = await g.post(`/api/v1/s/${p.link.token}/comments`, { name, body, version_id: vid, time_ms: 1000 });
        assert.equal(r.status, 201, r.body);
        comments.push({ id: r.json.comment.id, author: name, body });
      }
      // CSRF: the URL is only minted for a state-changing request with the token
      assert.equal((await owner.post('/api/v1/export', {}, { csrf: false })).status, 403);
      const url = await exportUrl(owner);
      const r = await download(srv, url);
      assert.equal(r.status, 200, r.body.toString());
      assert.equal(r.headers['content-type'], 'application/x-tar');
      assert.match(r.headers['content-disposition'], /^attachment; filename="audiomus-export-\d+\.tar"$/);
      assert.match(r.headers['cache-control'], /no-store/);
      const originals = [{ filename: 'intro.wav', bytes: a }, { filename: 'Second take (final).wav', bytes: b }];
      const entries = parseTar(r.body);
      const doc = checkArchive(entries, { pid: p.id, originals, comments });
      // the download recorded an export event for the project
      const ev = await owner.get(`/api/v1/projects/${p.id}/events`);
      assert.ok(JSON.stringify(ev.json).includes('"export"'), ev.body);
      assert.equal(doc.tracks.length, 2);

      // the metadata-only JSON export is still there
      const js = await owner.get('/api/v1/export');
      assert.equal(js.status, 200);
      assert.equal(js.json.projects[0].comments.length, 3);

      // the CLI writes the same archive: a new 0600 file, or standard output
      const out = path.join(srv.tmp, 'export.tar');
      const cli = spawnSync(BIN, ['export', '--account', owner.email, '--output', out, '--data', srv.dataDir, ...srv.dbArgs], { encoding: 'utf8' });
      assert.equal(cli.status, 0, cli.stderr);
      assert.equal(fs.statSync(out).mode & 0o777, 0o600);
      checkArchive(parseTar(fs.readFileSync(out)), { pid: p.id, originals, comments });
      const again = spawnSync(BIN, ['export', '--account', owner.email, '--output', out, '--data', srv.dataDir, ...srv.dbArgs], { encoding: 'utf8' });
      assert.equal(again.status, 1, 'an existing file is never overwritten');
      const so = spawnSync(BIN, ['export', '--account', owner.email, '--output', '-', '--data', srv.dataDir, ...srv.dbArgs], { maxBuffer: 64 << 20 });
      assert.equal(so.status, 0, so.stderr.toString());
      checkArchive(parseTar(so.stdout), { pid: p.id, originals, comments });
      const none = spawnSync(BIN, ['export', '--account', 'nobody@example.org', '--output', '-', '--data', srv.dataDir, ...srv.dbArgs], { encoding: 'utf8' });
      assert.equal(none.status, 1);
      assert.match(none.stderr, /no such account/);

      // killed half way (the test build holds the export after its first
      // part): the final name never holds a cut archive, and a rerun works
      const killed = path.join(srv.tmp, 'killed.tar');
      const half = spawn(testBin(), ['export', '--account', owner.email, '--output', killed, '--data', srv.dataDir, ...srv.dbArgs],
        { env: { ...process.env, AUDIOMUS_TESTING: '1', AUDIOMUS_TEST_EXPORT_STALL_MS: '30000' }, stdio: 'ignore' });
      const partial = () => fs.readdirSync(srv.tmp).filter((f) => f.startsWith('killed.tar.partial-'));
      for (const t0 = Date.now(); !partial().some((f) => fs.statSync(path.join(srv.tmp, f)).size > 0);) {
        assert.ok(Date.now() - t0 < 20000, 'the export started writing its partial file');
        await new Promise((res) => setTimeout(res, 20));
      }
      half.kill('SIGKILL');
      await new Promise((res) => half.on('exit', res));
      assert.equal(fs.existsSync(killed), false, 'no archive under the final name after a kill');
      assert.equal(fs.statSync(path.join(srv.tmp, partial()[0])).mode & 0o777, 0o600);
      const rerun = spawnSync(BIN, ['export', '--account', owner.email, '--output', killed, '--data', srv.dataDir, ...srv.dbArgs], { encoding: 'utf8' });
      assert.equal(rerun.status, 0, rerun.stderr);
      checkArchive(parseTar(fs.readFileSync(killed)), { pid: p.id, originals, comments });
    } finally {
      await srv.stop();
    }
  });

  test('rate limits per account: the 6th archive URL, the 11th JSON export and the 11th archive download get 429 with Retry-After (test clock)', async () => {
    const srv = await startApi(backend, { hooks: true }); // the test clock
    try {
      const owner = await newOwner(srv);
      const other = await newOwner(srv);
      await newProject(owner, 'Limited');
      // POST: 5 at once, then one per 10 minutes (per account, whatever the session).
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) await exportUrl(owner);
      const r = await owner.post('/api/v1/export');
      assert.equal(r.status, 429, r.body);
      const wait = Number(r.headers['retry-after']);
      const slack = Math.ceil((Date.now() - t0) / 1000) + 1;
      assert.ok(wait <= 600 && wait >= 600 - slack, `Retry-After ${wait}`);
      assert.equal(r.json.error, `too many export requests: try again in ${wait} s`);
      assert.equal(r.json.url, undefined);
      const second = new Client(srv);
      assert.equal((await second.login(owner.email)).status, 200);
      assert.equal((await second.post('/api/v1/export')).status, 429, 'another session of the same account');
      await exportUrl(other); // another account has its own allowance
      srv.advance(wait - 30);
      const still = await owner.post('/api/v1/export');
      assert.equal(still.status, 429);
      assert.ok(Number(still.headers['retry-after']) <= 30, still.headers['retry-after']);
      srv.advance(30);
      await exportUrl(owner);
      assert.equal((await owner.post('/api/v1/export')).status, 429, 'one per window');
      // GET (the metadata JSON): 10 at once, then one per minute.
      const t1 = Date.now();
      for (let i = 0; i < 10; i++) assert.equal((await owner.get('/api/v1/export')).status, 200, `GET ${i + 1}`);
      const g = await owner.get('/api/v1/export');
      assert.equal(g.status, 429);
      const gw = Number(g.headers['retry-after']);
      assert.ok(gw <= 60 && gw >= 60 - Math.ceil((Date.now() - t1) / 1000) - 1, `Retry-After ${gw}`);
      assert.equal(g.json.error, `too many export requests: try again in ${gw} s`);
      assert.equal((await other.get('/api/v1/export')).status, 200);
      srv.advance(gw);
      assert.equal((await owner.get('/api/v1/export')).status, 200);
      assert.equal((await owner.get('/api/v1/export')).status, 429);
      // Downloads (a URL is reusable until it expires): 10 archives per
      // account at once, then one per 10 minutes, counted by the media role.
      const url = await exportUrl(other);
      const t2 = Date.now();
      for (let i = 0; i < 10; i++) assert.equal((await download(srv, url)).status, 200, `download ${i + 1}`);
      const d = await download(srv, url);
      assert.equal(d.status, 429);
      const dw = Number(d.headers['retry-after']);
      assert.ok(dw <= 600 && dw >= 600 - Math.ceil((Date.now() - t2) / 1000) - 1, `Retry-After ${dw}`);
      assert.equal(d.headers['content-type'], 'application/json');
      srv.advance(dw);
      await new Client(srv).get('/api/v1/s/nothing-here'); // the clock moves at the next API request
      assert.equal((await download(srv, url)).status, 200);
      assert.equal((await download(srv, url)).status, 429);
    } finally {
      await srv.stop();
    }
  });

  test('export URL refused: mutated signature, another owner\'s account, after logout, after expiry (test clock)', async () => {
    const srv = await startApi(backend, { hooks: true }); // the test clock
    try {
      const owner = await newOwner(srv);
      const other = await newOwner(srv);
      await newProject(owner, 'Mine');
      await newProject(other, 'Theirs');
      const url = await exportUrl(owner);
      const get = async (u) => (await download(srv, u)).status;
      assert.equal(await get(url), 200);
      // mutated signature (last character), and a bit of the expiry
      const last = url.slice(-1);
      assert.equal(await get(url.slice(0, -1) + (last === 'A' ? 'B' : 'A')), 403);
      assert.equal(await get(url.replace(/&e=(\d+)/, (m, e) => `&e=${Number(e) + 1}`)), 403);
      // the other owner's account in the path (their own URL works only for them)
      const otherHex = other.accountId.replace(/-/g, '');
      assert.equal(await get(url.replace(/^\/m\/export\/[0-9a-f]{32}/, `/m/export/${otherHex}`)), 403);
      const theirs = await exportUrl(other);
      assert.equal(await get(theirs), 200);
      assert.equal(await get(theirs.replace(/^\/m\/export\/[0-9a-f]{32}/, url.slice(0, 42))), 403);
      // the session that asked is gone: the URL dies with it
      const temp = new Client(srv);
      assert.equal((await temp.login(owner.email)).status, 200);
      const tempUrl = await exportUrl(temp);
      assert.equal(await get(tempUrl), 200);
      assert.equal((await temp.del('/api/v1/session')).status, 204);
      assert.equal(await get(tempUrl), 403);
      // expiry: 30 min + 1 s later (applied at the next API request)
      const fresh = await exportUrl(owner);
      srv.advance(1801);
      await new Client(srv).get('/api/v1/s/nothing-here');
      assert.equal(await get(fresh), 403);
      srv.setClock(0);
      await new Client(srv).get('/api/v1/s/nothing-here');
      assert.equal(await get(fresh), 200);
    } finally {
      await srv.stop();
    }
  });
});

test('the web role alone does not serve /m/export', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-e2e-export-'));
  const dataDir = path.join(tmp, 'data');
  initDataDir(dataDir);
  const ca = fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem'));
  const proc = spawn(BIN, ['web', '--data', dataDir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => { err += c; });
  try {
    const t0 = Date.now();
    let m;
    while (!(m = err.match(/"event":"listening"[^\n]*"port":"(\d+)"/))) {
      assert.ok(Date.now() - t0 < 20000 && proc.exitCode === null, `web did not start: ${err}`);
      await new Promise((res) => setTimeout(res, 20));
    }
    const port = Number(m[1]);
    const hex = 'ab'.repeat(16);
    const r = await download({ port, ca }, `/m/export/${hex}?x=${hex}&e=9999999999&k=1&s=${'A'.repeat(43)}`);
    assert.equal(r.status, 404);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((res) => proc.on('exit', res));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
