// Black-box tests of the role split (DESIGN §1, issue 6): `audiomus web`
// serves the API with the object store unreachable (it never opens audio)
// and does not route /m/ or /u/; `audiomus media` refuses to start without
// its store, serves /m/ and /u/ (every bad credential the same 403) and not
// the API. Signed-URL, Range and upload behaviour against real rows is
// covered in process by tests/unit/media/ (the owner API lands separately).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, initDataDir, request } from './lib/server.mjs';

function startRole(role, dataDir, env = {}) {
  const proc = spawn(BIN, [role, '--data', dataDir, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stdout.resume();
  proc.stderr.setEncoding('utf8');
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  const listening = new Promise((resolve) => {
    proc.stderr.on('data', (c) => {
      err += c;
      const m = err.match(/"event":"listening"[^\n]*"port":"(\d+)"/);
      if (m) resolve(Number(m[1]));
    });
  });
  return {
    proc, exited,
    get stderr() { return err; },
    async ready() {
      const port = await Promise.race([listening, exited.then((c) => { throw new Error(`${role} exited ${c}: ${err}`); })]);
      return { port, ca: fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem')) };
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

const hex = (n) => 'ab'.repeat(n);
const fakeMedia = `/m/${hex(16)}?l=${hex(16)}&p=${hex(16)}&g=1&w=0&e=9999999999&d=0&k=1&s=${'A'.repeat(43)}`;
const fakeUpload = `/u/${hex(16)}?a=${hex(16)}&p=${hex(16)}&v=${hex(16)}&n=10&e=9999999999&k=1&s=${'A'.repeat(43)}`;

test('web runs without any object store and does not route /m/ or /u/', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-e2e-media-'));
  const dataDir = path.join(tmp, 'data');
  initDataDir(dataDir);
  const noStore = { AUDIOMUS_STORAGE: `file:${path.join(tmp, 'missing', 'unreadable', 'objects')}` };
  const web = startRole('web', dataDir, noStore);
  try {
    const srv = await web.ready();
    assert.equal((await request(srv, { path: '/healthz' })).status, 200);
    const api = await request(srv, { path: '/api/v1/session' });
    assert.notEqual(api.status, 404, 'the API is served');
    assert.ok(api.status < 500, `API answered ${api.status}`);
    assert.equal((await request(srv, { path: fakeMedia })).status, 404);
    assert.equal((await request(srv, { method: 'HEAD', path: fakeUpload })).status, 404);
    assert.ok(!fs.existsSync(path.join(tmp, 'missing')), 'web never touched the store path');
  } finally {
    await web.stop();
  }
  // The media role needs its store: it refuses to start without it.
  const media = startRole('media', dataDir, noStore);
  const code = await media.exited;
  assert.notEqual(code, 0);
  assert.match(media.stderr, /object store/);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('media serves only /m/, /u/ and /healthz; bad credentials are one 403', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-e2e-media-'));
  const dataDir = path.join(tmp, 'data');
  initDataDir(dataDir);
  const media = startRole('media', dataDir);
  try {
    const srv = await media.ready();
    assert.equal((await request(srv, { path: '/healthz' })).status, 200);
    assert.equal((await request(srv, { path: '/api/v1/session' })).status, 404);
    const a = await request(srv, { path: fakeMedia });
    const b = await request(srv, { path: fakeMedia.replace('d=0', 'd=1') });
    const c = await request(srv, { path: `/m/${hex(16)}` });
    for (const r of [a, b, c]) {
      assert.equal(r.status, 403);
      assert.equal(r.body, a.body);
      assert.equal(r.headers['cache-control'], 'no-store');
    }
    const h = await request(srv, { method: 'HEAD', path: fakeUpload, headers: { 'Tus-Resumable': '1.0.0' } });
    assert.equal(h.status, 403);
    const o = await request(srv, { method: 'OPTIONS', path: `/u/${hex(16)}` });
    assert.equal(o.status, 204);
    assert.equal(o.headers['tus-resumable'], '1.0.0');
    assert.equal(o.headers['tus-version'], '1.0.0');
    const p = await request(srv, {
      method: 'PATCH', path: fakeUpload, body: 'RIFF0000WAVE',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    });
    assert.equal(p.status, 403);
  } finally {
    await media.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
