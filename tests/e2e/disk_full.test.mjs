// Black-box test of a full and a read-only disk (issue 20), on real small
// filesystems: the data directory (SQLite database and log) on one tmpfs,
// the object store (storage=file:...) on another. Filled with a filler file
// up to ENOSPC, or the store's tmpfs remounted read-only (the database's
// cannot be: SQLite holds its files open for writing, and Linux refuses a
// read-only remount then). Each write the disk refuses - a tus PATCH, a tus
// creation (POST .../uploads), an API write (create a project, a track) -
// must answer 503 with Retry-After: 60 and a message a person understands,
// nothing half-written may be acknowledged (the upload's offset stays 0),
// reads keep being served, and the same requests succeed once space
// returns. Needs root (mount); without it the suite is skipped, saying so.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { newOwner, newProject, startApi } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { patchAnnounced, pathOf, raw } from './lib/server.mjs';
import { canMount, fill, mount, remount } from './lib/tmpfs.mjs';

const RETRY_AFTER = '60'; // HTTP_RETRY_AFTER_STORAGE_S (docs/api.md "Errors")

const tus = (bytes, offset = 0) => ({
  'Tus-Resumable': '1.0.0', 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', 'Content-Length': bytes.length,
});

// The answer of a refused write: 503, Retry-After, a message that says why.
function assertStorage503(r, what, re) {
  const body = Buffer.isBuffer(r.body) ? r.body.toString() : r.body;
  assert.equal(r.status, 503, `${what}: ${r.status} ${body}`);
  assert.equal(r.headers['retry-after'], RETRY_AFTER, `${what}: Retry-After`);
  const j = JSON.parse(body);
  assert.match(j.error, re, `${what}: message`);
  assert.match(j.error, /try again later/, `${what}: message`);
  assert.equal(j.status, 503);
}

// A store refusal answered before the body of a PATCH announcing `total`:
// 503 with Retry-After, the JSON message and Upload-Error, whether or not
// the client sends the body at once; the offset has not moved.
async function assertRefusedUnread(srv, url, total, what, re, offsetOf) {
  for (const send of [false, true]) {
    const r = await patchAnnounced(srv, url, total, send);
    const label = `${what}, ${total} bytes announced, body ${send ? 'sent at once' : 'not sent'}`;
    assertStorage503(r, label, re);
    assert.match(r.headers['upload-error'] ?? '', re, `${label}: Upload-Error`);
    assert.equal(r.headers['tus-resumable'], '1.0.0', `${label}: Tus-Resumable`);
    assert.ok(r.closed, `${label}: the connection is closed after the answer`);
    if (send) assert.ok(r.sent < total, `${label}: the body was not read to its end (${r.sent} sent)`);
    assert.equal(await offsetOf(url), '0', `${label}: Upload-Offset has not moved`);
  }
}

const skip = canMount() ? false : 'needs root and permission to mount a tmpfs (the disk-full tests use a real small filesystem)';

describe('disk full or read-only: 503 with Retry-After, nothing half-written, reads go on (issue 20)', { skip }, () => {
  let srv, owner, pid, tid, mnt, dataMnt, storeMnt;
  const bytes = wav(1);
  const fillers = [];

  before(async () => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'am-diskfull-'));
    dataMnt = path.join(mnt, 'data');
    storeMnt = path.join(mnt, 'store');
    for (const [dir, size] of [[dataMnt, '32m'], [storeMnt, '8m']]) {
      const r = mount(dir, size);
      assert.equal(r.status, 0, `mount ${dir}: ${r.stderr}`);
    }
    srv = await startApi('sqlite', { dataParent: dataMnt, args: ['--set', `storage=file:${storeMnt}/objects`] });
    owner = await newOwner(srv);
    pid = (await newProject(owner, 'Before the disk filled')).id;
    tid = (await owner.post(`/api/v1/projects/${pid}/tracks`, { title: 'T' })).json.track.id;
  });
  after(async () => {
    await srv?.stop();
    for (const dir of [storeMnt, dataMnt]) if (dir) spawnSync('umount', ['-l', dir]);
    if (mnt) fs.rmSync(mnt, { recursive: true, force: true });
  });

  const newUpload = async (size = bytes.length) => {
    const up = await owner.post(`/api/v1/projects/${pid}/tracks/${tid}/uploads`, { filename: 'mix.wav', size });
    assert.equal(up.status, 201, up.body);
    return pathOf(up.json.upload_url);
  };
  const offsetOf = async (url) => {
    const h = await raw(srv, 'HEAD', url, { 'Tus-Resumable': '1.0.0' });
    assert.equal(h.status, 200);
    return h.headers['upload-offset'];
  };

  test('a full disk: tus PATCH, tus creation and API writes answer 503 + Retry-After; reads are served; space returns, writes succeed', async () => {
    const url = await newUpload();
    fillers.push(fill(storeMnt), fill(dataMnt));

    const p = await raw(srv, 'PATCH', url, tus(bytes), bytes);
    assertStorage503(p, 'tus PATCH', /out of space/);
    assert.equal(await offsetOf(url), '0', 'nothing of the refused PATCH is acknowledged');

    assertStorage503(await owner.post(`/api/v1/projects/${pid}/tracks/${tid}/uploads`, { filename: 'b.wav', size: bytes.length }),
      'tus creation', /out of space/);
    assertStorage503(await owner.post('/api/v1/projects', { title: 'While full' }), 'create project', /out of space/);
    assertStorage503(await owner.post(`/api/v1/projects/${pid}/tracks`, { title: 'While full' }), 'create track', /out of space/);

    // reads go on
    const list = await owner.get('/api/v1/projects');
    assert.equal(list.status, 200, list.body);
    assert.ok(list.json.projects.some((x) => x.id === pid));
    assert.ok(!list.json.projects.some((x) => x.title === 'While full'), 'a refused write left nothing');
    assert.equal((await owner.get(`/api/v1/projects/${pid}`)).status, 200);
    assert.equal((await raw(srv, 'GET', '/healthz')).status, 200);
    assert.ok(srv.logs.some((l) => l.event === 'api_error' && l.error === 'out of space' && l.level === 'error'), 'the operator is told');

    // space returns: the same writes succeed, the upload resumes from 0
    for (const f of fillers.splice(0)) fs.rmSync(f);
    const ok = await raw(srv, 'PATCH', url, tus(bytes), bytes);
    assert.equal(ok.status, 204, ok.body.toString());
    assert.equal(ok.headers['upload-offset'], String(bytes.length));
    assert.equal((await owner.post('/api/v1/projects', { title: 'After' })).status, 201);
  });

  // Since issue 25 the part's object is begun on a job thread; it is begun
  // before the body (src/http/server.c headers_done), so that a refusal
  // reaches a client that sends a long chunk instead of a hang-up.
  const BIG = 64 << 20;
  test('a full store: a PATCH announcing 64 MiB gets the 503 before its body; space returns, the upload goes on', async () => {
    const url = await newUpload(BIG);
    fillers.push(fill(storeMnt));
    try {
      await assertRefusedUnread(srv, url, BIG, 'tus PATCH (full store)', /out of space/, offsetOf);
      assert.ok(srv.logs.some((l) => l.event === 'media_upload_store_failed' && l.step === 'begin'), 'the operator is told');
    } finally { for (const f of fillers.splice(0)) fs.rmSync(f); }
    const ok = await raw(srv, 'PATCH', url, tus(bytes), bytes);
    assert.equal(ok.status, 204, ok.body.toString());
    assert.equal(ok.headers['upload-offset'], String(bytes.length));
  });

  test('a read-only store: a PATCH announcing 64 MiB gets the 503 before its body; writable again, the upload goes on', async () => {
    const url = await newUpload(BIG);
    remount(storeMnt, 'ro');
    try {
      await assertRefusedUnread(srv, url, BIG, 'tus PATCH (read-only store)', /read-only/, offsetOf);
    } finally { remount(storeMnt, 'rw'); }
    const ok = await raw(srv, 'PATCH', url, tus(bytes), bytes);
    assert.equal(ok.status, 204, ok.body.toString());
  });

  test('a read-only store: tus PATCH answers 503 + Retry-After, offset unchanged; writable again, it succeeds', async () => {
    const url = await newUpload();
    remount(storeMnt, 'ro');
    try {
      assertStorage503(await raw(srv, 'PATCH', url, tus(bytes), bytes), 'tus PATCH (read-only)', /read-only/);
      assert.equal(await offsetOf(url), '0');
      assert.equal((await owner.get(`/api/v1/projects/${pid}`)).status, 200, 'reads go on');
    } finally { remount(storeMnt, 'rw'); }
    const ok = await raw(srv, 'PATCH', url, tus(bytes), bytes);
    assert.equal(ok.status, 204, ok.body.toString());
  });
});
