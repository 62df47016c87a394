// Black-box tests of upload refusals and abandoned uploads (issues 21 and
// 23; docs/media.md "Refusals", docs/api.md "Tracks and uploads"), on both
// database engines, against `audiomus serve`:
//   - the first bytes of WavPack, CAF, W64, WebM, WMA, a text file and a PNG
//     (their real magic numbers, as the ffmpeg CLI writes them) are refused
//     with a reason naming the type: on track creation (no track is made),
//     on the first tus PATCH of a large declared upload that carries only
//     the first chunk (415 with the reason; the rest is never sent), and on
//     a PATCH that announces the whole 200 MB body, which the server cuts off
//     after the first bytes instead of reading it;
//   - after a refusal no version is left "uploading": it is "failed" with
//     the reason, and a HEAD on the dead upload URL says why;
//   - an upload nobody writes to for 5 minutes shows "interrupted" with
//     "upload interrupted: resume or remove", and still resumes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, newOwner, newProject, startApi, versionOf } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw, tlsConnect } from './lib/server.mjs';

const TUS = { 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream' };
const DECLARED = 200 * 1024 * 1024;
const FIRST = 64 * 1024;

const bytes = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const le32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };

// The first bytes of each refused type (checked against ffmpeg 5.1's output:
// `ffmpeg -f lavfi -i sine=d=0.2 x.wv` etc.), padded with filler after.
const REFUSED = [
  ['WavPack', bytes('wvpk', le32(0x0fde), [0x10, 0x04, 0, 0], le32(0x2274)), /WavPack \(\.wv\)/],
  ['CAF', bytes('caff', [0, 1, 0, 0], 'desc', [0, 0, 0, 0, 0, 0, 0, 0x20]), /Core Audio Format \(\.caf\)/],
  ['W64', bytes('riff', [0x2e, 0x91, 0xcf, 0x11, 0xa5, 0xd6, 0x28, 0xdb, 0x04, 0xc1, 0, 0], le32(0x10000), le32(0),
    'wave', [0xf3, 0xac, 0xd3, 0x11, 0x8c, 0xd1, 0, 0xc0, 0x4f, 0x8e, 0xdb, 0x8a]), /Wave64 \(\.w64\)/],
  ['WebM', bytes([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0xf7, 0x81, 0x01, 0x42, 0xf2, 0x81,
    0x04, 0x42, 0xf3, 0x81, 0x08, 0x42, 0x82, 0x84], 'webm'), /WebM\/Matroska/],
  ['WMA', bytes([0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11, 0xa6, 0xd9, 0x00, 0xaa, 0x00, 0x62, 0xce, 0x6c]), /Windows Media \(\.wma/],
  ['text', bytes('Verse 1\nI walked down to the river at night\nChorus\n'), /a text file/],
  ['PNG', bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d], 'IHDR', [0, 0, 1, 0, 0, 0, 1, 0, 8, 6, 0, 0, 0]), /a PNG image/],
];

const firstChunk = (head) => Buffer.concat([head, Buffer.alloc(FIRST - head.length, 0x55)]);
const b64url = (b) => b.toString('base64url');

async function trackCount(owner, pid) {
  const r = await owner.get(`/api/v1/projects/${pid}`);
  assert.equal(r.status, 200, r.body);
  return (r.json.project?.tracks || r.json.tracks).length;
}

// A track and an upload made without "head" (an API client that does not
// send it): only the media role's sniff can refuse it.
async function declaredUpload(owner, pid, name, size = DECLARED) {
  const t = await owner.post(`/api/v1/projects/${pid}/tracks`, { title: name });
  assert.equal(t.status, 201, t.body);
  const up = await owner.post(`/api/v1/projects/${pid}/tracks/${t.json.track.id}/uploads`, { filename: `${name}.bin`, size });
  assert.equal(up.status, 201, up.body);
  return { tid: t.json.track.id, vid: up.json.version.id, url: pathOf(up.json.upload_url) };
}

// A PATCH that announces `total` body bytes, of which it writes `first`
// and then filler, as fast as the connection takes it, until the server
// hangs up (or cap bytes went out). Resolves with the bytes the socket
// accepted and the response text, if any came.
async function patchWhole(srv, url, first, total, cap) {
  const s = await tlsConnect(srv);
  let closed = false, text = '';
  s.on('data', (d) => { text += d.toString('latin1'); });
  const done = new Promise((resolve) => { s.on('close', () => { closed = true; resolve(); }); s.on('error', () => {}); });
  s.write(`PATCH ${url} HTTP/1.1\r\nHost: localhost\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n` +
    `Content-Type: application/offset+octet-stream\r\nContent-Length: ${total}\r\n\r\n`);
  let sent = 0;
  const filler = Buffer.alloc(FIRST, 0x55);
  for (let chunk = first; !closed && sent < cap; chunk = filler) {
    sent += chunk.length;
    if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), done]);
  }
  const cut = await Promise.race([done.then(() => true), new Promise((r) => setTimeout(() => r(false), 10000))]);
  s.destroy();
  return { sent, cut, text };
}

for (const backend of BACKENDS) {
  describe(`upload refusals (${backend})`, () => {
    let srv, owner, pid;
    before(async () => {
      srv = await startApi(backend, { hooks: true });
      owner = await newOwner(srv);
      pid = (await newProject(owner)).id;
    });
    after(async () => { await srv?.stop(); });

    test('a track is refused from the first bytes the browser sends ("head"), and none is made', async () => {
      for (const [name, head, why] of REFUSED) {
        const before0 = await trackCount(owner, pid);
        const r = await owner.post(`/api/v1/projects/${pid}/tracks`, { title: name, head: b64url(firstChunk(head).subarray(0, 64)) });
        assert.equal(r.status, 415, `${name}: ${r.body}`);
        assert.match(r.json.error, why, name);
        assert.match(r.json.error, /not a supported audio format: upload WAV, AIFF, FLAC/, name);
        assert.equal(await trackCount(owner, pid), before0, `${name}: no track`);
      }
      // Audio passes, and a malformed head is a 400.
      const ok = await owner.post(`/api/v1/projects/${pid}/tracks`, { title: 'wav', head: b64url(wav(0.1).subarray(0, 64)) });
      assert.equal(ok.status, 201, ok.body);
      const bad = await owner.post(`/api/v1/projects/${pid}/tracks`, { title: 'x', head: 'not base64!' });
      assert.equal(bad.status, 400, bad.body);
      const up = await owner.post(`/api/v1/projects/${pid}/tracks/${ok.json.track.id}/uploads`,
        { filename: 'x.png', size: 1000, head: b64url(REFUSED[6][1]) });
      assert.equal(up.status, 415, up.body);
      assert.match(up.json.error, /a PNG image/);
    });

    test('the first PATCH of a large declared upload is refused with the reason; the version fails, nothing stays uploading', async () => {
      for (const [name, head, why] of REFUSED) {
        const u = await declaredUpload(owner, pid, name);
        // Only the first chunk goes; the other 199.9 MB are never sent.
        const r = await raw(srv, 'PATCH', u.url, { ...TUS, 'Upload-Offset': '0', 'Content-Length': FIRST }, firstChunk(head));
        assert.equal(r.status, 415, `${name}: ${r.body}`);
        const j = JSON.parse(r.body.toString());
        assert.match(j.error, why, name);
        assert.match(r.headers['upload-error'], why, name);
        const v = await versionOf(owner, pid, u.vid);
        assert.equal(v.state, 'failed', `${name}: ${JSON.stringify(v)}`);
        assert.match(v.error, why, name);
        // The upload is gone, and its URL says why.
        const h = await raw(srv, 'HEAD', u.url, { 'Tus-Resumable': '1.0.0' });
        assert.equal(h.status, 404, name);
        assert.match(h.headers['upload-error'], why, name);
        const again = await raw(srv, 'PATCH', u.url, { ...TUS, 'Upload-Offset': '0', 'Content-Length': 16 }, wav(0.1).subarray(0, 16));
        assert.equal(again.status, 404, `${name}: a refused upload takes no other bytes`);
      }
    });

    test('a PATCH announcing the whole body is cut off after the first bytes, not read to the end', async () => {
      for (const [name, head, why] of REFUSED) {
        const u = await declaredUpload(owner, pid, name);
        const { sent, cut } = await patchWhole(srv, u.url, firstChunk(head), DECLARED, 96 * 1024 * 1024);
        assert.ok(cut, `${name}: the server hung up`);
        // What the kernel's socket buffers took before the hang-up, not the
        // 200 MB announced.
        assert.ok(sent < 48 * 1024 * 1024, `${name}: ${sent} bytes went out before the server hung up`);
        const v = await versionOf(owner, pid, u.vid);
        assert.equal(v.state, 'failed', `${name}: ${JSON.stringify(v)}`);
        assert.match(v.error, why, name);
        const h = await raw(srv, 'HEAD', u.url, { 'Tus-Resumable': '1.0.0' });
        assert.match(h.headers['upload-error'] || '', why, `${name}: HEAD says why`);
      }
      const r = await owner.get(`/api/v1/projects/${pid}`);
      const stuck = (r.json.project?.tracks || r.json.tracks).flatMap((t) => t.versions).filter((v) => v.state === 'uploading');
      assert.deepEqual(stuck, [], 'no version left uploading');
    });

    test('an upload left alone for 5 minutes shows "interrupted", and still resumes', async () => {
      const audio = wav(0.5);
      const u = await declaredUpload(owner, pid, 'half', audio.length);
      const half = Math.floor(audio.length / 2);
      const p1 = await raw(srv, 'PATCH', u.url, { ...TUS, 'Upload-Offset': '0', 'Content-Length': half }, audio.subarray(0, half));
      assert.equal(p1.status, 204, p1.body.toString());
      assert.equal((await versionOf(owner, pid, u.vid)).state, 'uploading');
      srv.advance(6 * 60);
      const v = await versionOf(owner, pid, u.vid);
      assert.equal(v.state, 'interrupted', JSON.stringify(v));
      assert.equal(v.error, 'upload interrupted: resume or remove');
      const h = await raw(srv, 'HEAD', u.url, { 'Tus-Resumable': '1.0.0' });
      assert.equal(h.headers['upload-offset'], String(half));
      const p2 = await raw(srv, 'PATCH', u.url, { ...TUS, 'Upload-Offset': String(half), 'Content-Length': audio.length - half }, audio.subarray(half));
      assert.equal(p2.status, 204, p2.body.toString());
      assert.notEqual((await versionOf(owner, pid, u.vid)).state, 'interrupted');
      srv.setClock(0);
    });
  });
}
