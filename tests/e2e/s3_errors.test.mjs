// Store failures say why, to the operator only (docs/storage.md "Errors,
// retries and logs"). Against the rig's Swift s3api (scripts/s3-test) behind
// a plain TCP proxy of this suite that counts the S3 requests per method and
// object kind, with a wrong s3_secret_key configured:
//   1. an upload's PATCH answers 503 with a generic body (no S3 code, no
//      store key, no secret) after exactly one PUT to the store (a rejected
//      signature is not retried); the server log has media_upload_store_failed
//      with store_error naming "403 SignatureDoesNotMatch" and s3_secret_key;
//   2. streaming an original stored earlier (the same data directory served
//      first with the right secret, then restarted with the wrong one)
//      answers a bare 500; the log has media_object_unreadable with the same
//      store_error, after one GET;
//   3. neither the log nor any answer carries the wrong secret;
//   4. with every S3 answer cut after 256 KiB, a download resumes its stream
//      8 times, then is cut short; the log has media_stream_aborted with the
//      store_error, and the server serves the next download whole.
// Needs AUDIOMUS_TEST_S3_URL and AUDIOMUS_S3_* (eval "$(scripts/s3-test env)";
// scripts/test-all provides them); skipped without. Objects go under a fresh
// prefix that the suite deletes at the end.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client, FAST_ARGON, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { BIN, onLogLines, patchAnnounced, pathOf, raw } from './lib/server.mjs';
import { parseStorageUrl, s3FromEnv } from '../cluster/lib/s3.mjs';

const S3_URL = process.env.AUDIOMUS_TEST_S3_URL;
const SKIP = !S3_URL && 'needs AUDIOMUS_TEST_S3_URL and AUDIOMUS_S3_* (eval "$(scripts/s3-test env)"; scripts/test-all sets them)';
const WRONG = `wr0ng-${crypto.randomBytes(6).toString('hex')}-Secret`;
const TUS = { 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream' };

// A TCP proxy on loopback in front of target that counts the HTTP requests
// the clients send through it, by "METHOD /bucket/prefix+kind": request lines
// are found at the start of what a connection sends and after each blank
// line (bodies are AM1 ciphertext or XML; a false match would need a request
// line inside random bytes; a request right after a PUT's body on a reused
// connection is not counted). With proxy.cut = N, a connection is cut (both
// sockets destroyed) once N bytes of answers passed it, as a flaky network
// would.
async function startCountingProxy(target) {
  const seen = [];
  const sockets = new Set();
  const proxy = { cut: 0 };
  const srv = net.createServer((c) => {
    const up = net.connect(target.port, target.host);
    for (const s of [c, up]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => s.destroy()); }
    let tail = '', sent = 0;
    c.on('data', (d) => {
      const text = tail + d.toString('latin1');
      for (const m of text.matchAll(/(?:^|\r\n\r\n)(GET|PUT|POST|HEAD|DELETE) (\/[^ ?]*)[^ ]* HTTP\/1\.1\r\n/g)) {
        seen.push(`${m[1]} ${m[2]}`);
      }
      tail = text.slice(-64);
    });
    up.on('data', (d) => {
      sent = proxy.cut ? sent + d.length : 0;
      if (proxy.cut && sent > proxy.cut) { c.destroy(); up.destroy(); }
    });
    c.pipe(up).pipe(c);
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
  });
  await new Promise((resolve, reject) => { srv.once('error', reject); srv.listen(0, '127.0.0.1', resolve); });
  return Object.assign(proxy, {
    port: srv.address().port, seen,
    count: (re) => seen.filter((r) => re.test(r)).length,
    async close() { for (const s of sockets) s.destroy(); await new Promise((r) => srv.close(r)); },
  });
}

// `serve` on an existing data directory (startServer always makes a fresh
// one): resolves { port, ca, logs, waitLog, stop } once it listens.
async function serveOn(dataDir, args) {
  const proc = spawn(BIN, ['serve', '--data', dataDir, '--listen', '127.0.0.1:0', ...FAST_ARGON, ...args], {
    env: process.env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  proc.stdout.resume();
  onLogLines(proc.stderr, (l) => logs.push(l));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const waitLog = async (pred, ms = 15000) => {
    for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      const hit = logs.find(pred);
      if (hit) return hit;
      if (proc.exitCode !== null) throw new Error(`serve exited: ${JSON.stringify(logs)}`);
    }
    throw new Error(`log line not seen in ${JSON.stringify(logs.map((l) => l.event))}`);
  };
  const listening = await waitLog((l) => l.event === 'listening');
  return {
    port: Number(listening.port), ca: fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem')), logs, waitLog, proc,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(t);
    },
  };
}

// Nothing of the store's detail in an answer to a client.
function assertGeneric(r) {
  const all = `${r.body} ${JSON.stringify(r.headers)}`;
  for (const bad of [/SignatureDoesNotMatch/i, /s3_secret_key/, /\bs3\b/i, /orig\//, /403/, new RegExp(WRONG)]) {
    assert.doesNotMatch(all, bad, `the answer says too much: ${all}`);
  }
}

const SIGNATURE = /403 SignatureDoesNotMatch: signature rejected: s3_secret_key does not match/;

describe('store failures: the reason in the server log, a generic answer to the client', { skip: SKIP }, () => {
  let proxy, storage, s3, prefix, bucket;

  before(async () => {
    const u = parseStorageUrl(S3_URL);
    const ep = new URL(u.endpoint);
    assert.equal(ep.protocol, 'http:', 'the rig\'s Swift speaks plain HTTP');
    bucket = u.bucket;
    proxy = await startCountingProxy({ host: ep.hostname, port: Number(ep.port || 80) });
    const bucketUrl = `${S3_URL}&prefix=s3err-${process.pid}-${crypto.randomBytes(4).toString('hex')}/`;
    ({ s3, prefix } = s3FromEnv(bucketUrl));
    storage = bucketUrl.replace(/endpoint=[^&]*/, `endpoint=http://127.0.0.1:${proxy.port}`);
  });
  after(async () => {
    await proxy?.close();
    for (const o of await s3?.list(prefix).catch(() => []) ?? []) await s3.del(o.key).catch(() => {});
  });

  test('a wrong s3_secret_key: upload 503 and stream 500 with nothing of it in the answer; the log names SignatureDoesNotMatch; one request each', async (t) => {
    const orig = new RegExp(`^(\\w+) /${bucket}/${prefix}orig/`);
    // The right secret: a track is stored and transcoded, and a second
    // upload is opened (its signed URL is used after the restart).
    const srv = await startApi('sqlite', { args: ['--set', `storage=${storage}`] });
    let wrong;
    try {
      const owner = await newOwner(srv);
      const pr = await newProject(owner, 'Store errors');
      const bytes = wav(2, { freq: 440 });
      const { vid } = await uploadTrack(owner, pr.id, bytes, { title: 'Stored', filename: 'stored.wav' });
      assert.equal((await waitVersion(owner, pr.id, vid)).state, 'ready');
      const view = await new Client(srv).get(`/api/v1/s/${pr.link.token}`);
      assert.equal(view.status, 200, view.body);
      const media = view.json.tracks[0].versions[0].media;
      const tid = (await owner.post(`/api/v1/projects/${pr.id}/tracks`, { title: 'Refused' })).json.track.id;
      const up = await owner.post(`/api/v1/projects/${pr.id}/tracks/${tid}/uploads`, { filename: 'refused.wav', size: bytes.length });
      assert.equal(up.status, 201, up.body);
      srv.proc.kill('SIGTERM');
      await srv.exited;

      // The same data directory, the wrong secret.
      wrong = await serveOn(srv.dataDir, ['--set', `storage=${storage}`, '--set', `s3_secret_key=${WRONG}`]);
      const before = proxy.seen.length;

      const r = await raw(wrong, 'PATCH', pathOf(up.json.upload_url), { ...TUS, 'Upload-Offset': '0', 'Content-Length': bytes.length },
        bytes, { encoding: 'utf8' });
      assert.equal(r.status, 503, `PATCH: ${r.status} ${r.body}`);
      assertGeneric(r);
      const ul = await wrong.waitLog((l) => l.event === 'media_upload_store_failed');
      assert.equal(ul.step, 'commit');
      assert.match(ul.store_error, SIGNATURE);
      assert.match(ul.store_error, /^s3 PUT orig\/[0-9a-f]{32}: /);
      assert.equal(proxy.seen.slice(before).filter((x) => /^PUT /.test(x) && orig.test(x)).length, 1,
        `one PUT, not retried: ${JSON.stringify(proxy.seen.slice(before))}`);
      const head = await raw(wrong, 'HEAD', pathOf(up.json.upload_url), { 'Tus-Resumable': '1.0.0' });
      assert.equal(head.headers['upload-offset'], '0', 'nothing was recorded');

      const mark = proxy.seen.length;
      const s = await raw(wrong, 'GET', pathOf(media.download), {}, undefined, { encoding: 'utf8' });
      assert.equal(s.status, 500, `GET: ${s.status} ${s.body}`);
      assertGeneric(s);
      const ml = await wrong.waitLog((l) => l.event === 'media_object_unreadable');
      assert.equal(ml.error, 'access denied');
      assert.match(ml.store_error, SIGNATURE);
      assert.match(ml.store_error, /^s3 GET orig\/[0-9a-f]{32}: /);
      assert.equal(proxy.seen.slice(mark).filter((x) => /^GET /.test(x) && orig.test(x)).length, 1,
        `one GET, not retried: ${JSON.stringify(proxy.seen.slice(mark))}`);

      const text = JSON.stringify(wrong.logs);
      assert.ok(!text.includes(WRONG), 'the wrong secret is in the log');
      t.diagnostic(`PATCH ${r.status} "${r.body.trim()}", GET ${s.status}; log: ${ul.store_error}`);
    } finally {
      await wrong?.stop();
      await srv.stop();
    }
  });

  test('a wrong s3_secret_key: a PATCH announcing 16 MiB gets a generic 503 before its body (the multipart upload is started at the begin); the log names SignatureDoesNotMatch; with the right one the same PATCH is stored', async () => {
    const srv = await startApi('sqlite', { args: ['--set', `storage=${storage}`] });
    let wrong;
    try {
      const owner = await newOwner(srv);
      const pr = await newProject(owner, 'Refused before the body');
      const bytes = wav(100, { freq: 220 }); // 16.8 MiB: more than two 8 MiB parts
      const total = bytes.length;
      const tid = (await owner.post(`/api/v1/projects/${pr.id}/tracks`, { title: 'Long' })).json.track.id;
      const up = await owner.post(`/api/v1/projects/${pr.id}/tracks/${tid}/uploads`, { filename: 'long.wav', size: total });
      assert.equal(up.status, 201, up.body);
      srv.proc.kill('SIGTERM');
      await srv.exited;
      wrong = await serveOn(srv.dataDir, ['--set', `storage=${storage}`, '--set', `s3_secret_key=${WRONG}`]);
      const url = pathOf(up.json.upload_url);
      for (const send of [false, true]) {
        const label = `body ${send ? 'sent at once' : 'not sent'}`;
        const r = await patchAnnounced(wrong, url, total, send);
        assert.equal(r.status, 503, `${label}: ${r.status} ${r.body}`);
        assertGeneric(r);
        assert.equal(r.headers['upload-error'], 'the server cannot store the upload now', label);
        assert.equal(JSON.parse(r.body).status, 503, label);
        assert.ok(r.closed, `${label}: closed after the answer`);
        const head = await raw(wrong, 'HEAD', url, { 'Tus-Resumable': '1.0.0' });
        assert.equal(head.headers['upload-offset'], '0', `${label}: nothing was recorded`);
      }
      const ul = await wrong.waitLog((l) => l.event === 'media_upload_store_failed');
      assert.equal(ul.step, 'begin');
      assert.match(ul.store_error, SIGNATURE);
      assert.match(ul.store_error, /^s3 create upload orig\/[0-9a-f]{32}: /);
      await wrong.stop();
      wrong = await serveOn(srv.dataDir, ['--set', `storage=${storage}`]);
      const ok = await raw(wrong, 'PATCH', url, { ...TUS, 'Upload-Offset': '0', 'Content-Length': total }, bytes, { encoding: 'utf8' });
      assert.equal(ok.status, 204, ok.body);
      assert.equal(ok.headers['upload-offset'], String(total));
    } finally {
      await wrong?.stop();
      await srv.stop();
    }
  });

  test('S3 cuts every answer mid-body: the stream resumes 8 times, then the download is cut short and the log says media_stream_aborted with the store error', async () => {
    const srv = await startApi('sqlite', { args: ['--set', `storage=${storage}`] });
    try {
      const owner = await newOwner(srv);
      const pr = await newProject(owner, 'Cut streams');
      const bytes = wav(30, { freq: 330 }); // 5 MiB: more than 9 cut answers carry
      const { vid } = await uploadTrack(owner, pr.id, bytes, { title: 'Long', filename: 'long.wav' });
      assert.equal((await waitVersion(owner, pr.id, vid)).state, 'ready');
      const view = await new Client(srv).get(`/api/v1/s/${pr.link.token}`);
      assert.equal(view.status, 200, view.body);
      const media = view.json.tracks[0].versions[0].media;
      proxy.cut = 256 * 1024;
      try {
        await assert.rejects(raw(srv, 'GET', pathOf(media.download), {}, undefined, { whole: true }),
          /aborted|truncated|ECONNRESET|socket hang up/);
      } finally {
        proxy.cut = 0;
      }
      const ab = await srv.waitLog((l) => l.event === 'media_stream_aborted');
      assert.equal(ab.error, 'temporarily unavailable');
      assert.match(ab.store_error, /^s3 stream orig\/[0-9a-f]{32}: /);
      assert.equal(srv.logs.filter((l) => l.event === 's3_stream_resumed').length, 8);
      // The server goes on: the next download is whole and right.
      const ok = await raw(srv, 'GET', pathOf(media.download), {}, undefined, { whole: true });
      assert.equal(ok.status, 200);
      assert.ok(ok.body.equals(bytes), 'the whole original after the cuts stop');
    } finally {
      await srv.stop();
    }
  });
});
