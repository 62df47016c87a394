// Black-box test of the recovery of uploads whose every byte was stored but
// that were never completed (docs/media.md "Upload states after a crash, and
// recovery"), on both database engines. web + media as separate processes;
// the media process holds each completion right after the last part is
// recorded (test hook AUDIOMUS_TEST_UPLOAD_STALL_MS, still extending its
// short lease) and is killed with SIGKILL inside that window. Then:
//   - a plain tus client's one HEAD (no final PATCH) completes its upload,
//     and the worker makes the track ready;
//   - an upload nobody asks about is completed by a worker's housekeeping;
//   - while the stalled node was alive, neither HEAD nor time took its
//     upload over;
//   - a half-uploaded file is not completed (and still resumes);
//   - an upload whose stored bytes were damaged after the crash is not
//     completed, by HEAD or housekeeping.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { BACKENDS, FAST_ARGON, freshPgDatabase, newOwner, newProject, versionOf, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { initDataDir, pathOf, raw, testBin } from './lib/server.mjs';

const LEASE_MS = 1500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A role process of the test build (the upload hooks) on the shared data
// directory (and database).
function startRole(role, dataDir, dbArgs, env = {}, extra = []) {
  const args = [role, '--data', dataDir, ...FAST_ARGON, ...dbArgs, ...extra];
  if (role !== 'worker') args.push('--listen', '127.0.0.1:0');
  const proc = spawn(testBin(), args, { env: { ...process.env, AUDIOMUS_TESTING: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stdout.resume();
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => { err += c; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const waitFor = (re, ms = 30000) => new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const m = err.match(re);
      if (m) return resolve(m);
      if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error(`${role} exited: ${err}`));
      if (Date.now() - t0 > ms) return reject(new Error(`${role}: ${re} not seen: ${err}`));
      setTimeout(tick, 20);
    };
    tick();
  });
  const port = async () => Number((await waitFor(/"event":"listening"[^\n]*"port":"(\d+)"/))[1]);
  return {
    proc, exited, waitFor, port,
    get stderr() { return err; },
    // SIGTERM; SIGKILL after 15 s (a stalled completion holds the drain).
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

// What a tus client asks on resume: one HEAD.
async function head(media, url) {
  const r = await raw(media, 'HEAD', pathOf(url), { 'Tus-Resumable': '1.0.0' });
  assert.equal(r.status, 200);
  return { offset: Number(r.headers['upload-offset']), length: Number(r.headers['upload-length']) };
}

function patch(media, url, offset, bytes) {
  return raw(media, 'PATCH', pathOf(url), {
    'Tus-Resumable': '1.0.0', 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', 'Content-Length': bytes.length,
  }, bytes, { timeout: 120000 });
}

// A new track with an upload URL for bytes (not sent yet).
async function newUpload(owner, pid, title, bytes) {
  const tid = (await owner.post(`/api/v1/projects/${pid}/tracks`, { title })).json.track.id;
  const up = await owner.post(`/api/v1/projects/${pid}/tracks/${tid}/uploads`, { filename: `${title}.wav`, size: bytes.length });
  assert.equal(up.status, 201, up.body);
  return { url: up.json.upload_url, vid: up.json.version.id, bytes };
}

// Send all of u's bytes in one PATCH that the stalled completion never
// answers; resolve once the media role says the completion is held (the
// n-th upload_test_stall line): every byte is recorded by then. Nothing
// else is sent to the media role meanwhile: the stall holds its HTTP
// thread, and a connection that thread had just accepted would hang too.
async function sendAllAndStall(media, role, u, n) {
  u.pending = patch(media, u.url, 0, u.bytes).then((r) => r, (e) => e);
  await role.waitFor(new RegExp(`("event":"upload_test_stall"[^]*){${n}}`));
  assert.deepEqual(await head(media, u.url), { offset: u.bytes.length, length: u.bytes.length });
}

function origObjects(dataDir) {
  const d = path.join(dataDir, 'objects', 'orig');
  if (!fs.existsSync(d)) return [];
  return fs.readdirSync(d, { recursive: true }).filter((f) => /^[0-9a-f]{32}$/.test(path.basename(f))).map((f) => path.join(d, f));
}

for (const backend of BACKENDS) {
  test(`${backend}: media killed between the last bytes and completion: HEAD or housekeeping completes; partial and damaged uploads do not`, { timeout: 240000 }, async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-e2e-recover-'));
    const dataDir = path.join(tmp, 'data');
    initDataDir(dataDir);
    const pg = backend === 'postgresql' ? freshPgDatabase('am_recover') : null;
    const dbArgs = pg ? ['--set', `database=${pg.url}`] : [];
    const ca = fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem'));
    const roles = [];
    const role = (...a) => { const r = startRole(...a); roles.push(r); return r; };
    try {
      const web = role('web', dataDir, dbArgs);
      const webPort = await web.port();
      const lease = { AUDIOMUS_TEST_UPLOAD_LEASE_MS: String(LEASE_MS) };
      // Enough HTTP threads that three stalled completions leave some free.
      const media1 = role('media', dataDir, dbArgs, { ...lease, AUDIOMUS_TEST_UPLOAD_STALL_MS: '600000' }, ['--set', 'threads=6']);
      const m1 = { port: await media1.port(), ca };
      const srv = { port: webPort, ca, origin: `https://127.0.0.1:${webPort}`, dataDir, dbArgs };
      const owner = await newOwner(srv);
      const p = await newProject(owner, 'Recovery EP');
      const audio = wav(3, { amp: 16384 });

      // Half of C: stored and acknowledged, nothing to complete.
      const half = await newUpload(owner, p.id, 'half', audio);
      const h = Math.floor(audio.length / 2);
      const r = await patch(m1, half.url, 0, audio.subarray(0, h));
      assert.equal(r.status, 204);
      assert.equal(Number(r.headers['upload-offset']), h);

      // A (a tus client will HEAD it), B (nobody will), D (to be damaged):
      // every byte recorded, each completion stalled behind it.
      const byHead = await newUpload(owner, p.id, 'by-head', audio);
      const byHk = await newUpload(owner, p.id, 'by-housekeeping', audio);
      const damaged = await newUpload(owner, p.id, 'damaged', audio);
      await sendAllAndStall(m1, media1, byHead, 1);
      await sendAllAndStall(m1, media1, byHk, 2);
      const before = new Set(origObjects(dataDir));
      await sendAllAndStall(m1, media1, damaged, 3);
      const dFile = origObjects(dataDir).filter((f) => !before.has(f));
      assert.equal(dFile.length, 1, 'the damaged upload is one stored part');

      // The trap: HEAD says done, but no track. And while the node lives
      // (its lease kept through the stall), nothing takes the upload over.
      for (let i = 0; i < 2; i++) {
        for (const u of [byHead, byHk, damaged]) {
          const hd = await head(m1, u.url);
          assert.deepEqual(hd, { offset: audio.length, length: audio.length });
          assert.equal((await versionOf(owner, p.id, u.vid)).state, 'uploading');
        }
        await sleep(LEASE_MS + 200);
      }
      assert.doesNotMatch(media1.stderr, /upload_recovered/);

      // kill -9 inside the window.
      media1.proc.kill('SIGKILL');
      assert.equal((await media1.exited).signal, 'SIGKILL');
      const killedAt = Date.now();
      for (const u of [byHead, byHk, damaged]) assert.ok((await u.pending) instanceof Error, 'the stalled PATCH got no answer');
      // The damage: one byte of D's stored part flipped (after the crash).
      const fd = fs.openSync(dFile[0], 'r+');
      const b = Buffer.alloc(1);
      const at = Math.floor(fs.statSync(dFile[0]).size / 2);
      fs.readSync(fd, b, 0, 1, at);
      b[0] ^= 0x40;
      fs.writeSync(fd, b, 0, 1, at);
      fs.closeSync(fd);
      // The dead node's lease runs out (nothing extends it any more).
      await sleep(Math.max(0, killedAt + LEASE_MS + 500 - Date.now()));

      const media2 = role('media', dataDir, dbArgs, lease);
      const m2 = { port: await media2.port(), ca };
      // A plain tus client: one HEAD, no final PATCH. The upload is
      // completed before the answer: the version is queued at once.
      assert.deepEqual(await head(m2, byHead.url), { offset: audio.length, length: audio.length });
      assert.equal((await versionOf(owner, p.id, byHead.vid)).state, 'queued');
      assert.match(media2.stderr, /"event":"upload_recovered"[^\n]*"by":"head"/);
      // The half upload: its offset, not completed.
      assert.deepEqual(await head(m2, half.url), { offset: h, length: audio.length });
      assert.equal((await versionOf(owner, p.id, half.vid)).state, 'uploading');
      // The damaged one: the stored offset, not completed, and said why.
      assert.deepEqual(await head(m2, damaged.url), { offset: audio.length, length: audio.length });
      assert.equal((await versionOf(owner, p.id, damaged.vid)).state, 'uploading');
      assert.match(media2.stderr, /"event":"upload_unrecoverable"[^\n]*"by":"head"/);
      // Nobody asked about B.
      assert.equal((await versionOf(owner, p.id, byHk.vid)).state, 'uploading');

      // A worker: housekeeping completes B; both become ready.
      const worker = role('worker', dataDir, dbArgs, lease);
      const hk = await worker.waitFor(/"event":"housekeeping"[^\n]*/);
      assert.match(hk[0], /"recovered":"1"/);
      assert.match(worker.stderr, /"event":"upload_recovered"[^\n]*"by":"housekeeping"/);
      for (const u of [byHead, byHk]) {
        const v = await waitVersion(owner, p.id, u.vid);
        assert.equal(v.state, 'ready', JSON.stringify(v));
        assert.equal(v.duration_ms, 3000);
      }
      // Neither the half nor the damaged upload was completed by it.
      assert.equal((await versionOf(owner, p.id, half.vid)).state, 'uploading');
      assert.equal((await versionOf(owner, p.id, damaged.vid)).state, 'uploading');
      assert.doesNotMatch(worker.stderr, /"event":"upload_recovered"[^\n]*"by":"head"/);
      // One version per track: nothing was completed twice into a second one.
      const page = await owner.get(`/api/v1/projects/${p.id}`);
      for (const t of page.json.tracks || page.json.project?.tracks) assert.equal(t.versions.length, 1);
      // The half upload still resumes where HEAD said and completes.
      const rest = await patch(m2, half.url, h, audio.subarray(h));
      assert.equal(rest.status, 204);
      assert.equal(Number(rest.headers['upload-offset']), audio.length);
      assert.equal((await waitVersion(owner, p.id, half.vid)).state, 'ready');
      // The survivors stop cleanly (under ASan: no memory error on the way).
      for (const x of [worker, media2, web]) assert.deepEqual(await x.stop(), { code: 0, signal: null });
    } catch (e) {
      for (const x of roles) console.error(`--- ${x.proc.spawnargs[1]}:\n${x.stderr.slice(-6000)}`);
      throw e;
    } finally {
      await Promise.all(roles.map((x) => x.stop()));
      pg?.drop();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}
