// Black-box tests of "playable in seconds" (issues 20 and 21, docs/worker.md
// "Wake-ups" and "Concurrency", docs/transcoding.md "Decode work"):
// - a queued job wakes the worker: with the test build's idle poll set to
//   10 minutes (AUDIOMUS_TEST_WORKER_IDLE_MS), an upload still turns ready,
//   so nothing but the wake-up can have started it: in `serve` (in-process,
//   SQLite and PostgreSQL) and in a separate `audiomus worker` on PostgreSQL
//   (LISTEN/NOTIFY);
// - with transcode_jobs=2, two queued uploads are processed at once (both
//   jobs start before either is done);
// - a file over max_decode_samples is refused with the bound in its reason,
//   and a normal upload queued after it turns ready.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import { BACKENDS, FAST_ARGON, freshPgDatabase, newOwner, newProject, startApi, uploadTrack, versionOf, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { initDataDir, onLogLines, testBin } from './lib/server.mjs';

const LOUD = { amp: 16384 };
// Longer than any test here: a job that starts did not wait for the poll.
const NO_POLL = { AUDIOMUS_TEST_WORKER_IDLE_MS: '600000' };

for (const backend of BACKENDS) {
  describe(`worker wake-ups (${backend})`, () => {
    test('serve: a queued upload starts at once although the idle poll is 10 minutes away', async () => {
      const srv = await startApi(backend, { hooks: true, env: NO_POLL });
      try {
        const owner = await newOwner(srv);
        const p = await newProject(owner, 'Wake EP');
        // The worker is idle before the upload: it has polled once at start.
        const { vid } = await uploadTrack(owner, p.id, wav(3, LOUD));
        const v = await waitVersion(owner, p.id, vid, { ms: 120000 });
        assert.equal(v.state, 'ready', JSON.stringify(v));
        const start = srv.logs.findIndex((l) => l.event === 'job_start');
        assert.ok(start >= 0, 'job_start logged');
      } finally {
        await srv.stop();
      }
    });
  });
}

// A role process of the test build on dataDir (extra args, env); waitFor
// resolves on a log line matching pred, events lists the lines seen.
function startRole(role, dataDir, args = [], env = {}) {
  const all = [role, '--data', dataDir, ...FAST_ARGON, ...args];
  if (role !== 'worker') all.push('--listen', '127.0.0.1:0');
  const proc = spawn(testBin(), all, { env: { ...process.env, AUDIOMUS_TESTING: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  proc.stdout.resume();
  onLogLines(proc.stderr, (o) => logs.push(o));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const waitFor = (pred, ms = 30000) => new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const hit = logs.find(pred);
      if (hit) return resolve(hit);
      if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error(`${role} exited: ${JSON.stringify(logs)}`));
      if (Date.now() - t0 > ms) return reject(new Error(`${role}: not seen: ${JSON.stringify(logs)}`));
      setTimeout(tick, 20);
    };
    tick();
  });
  return { proc, logs, waitFor, stop() { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM'); return exited; } };
}

// web + media on one data directory (and database), for a separate worker.
async function startFront(backend) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-e2e-wake-'));
  const dataDir = path.join(tmp, 'data');
  initDataDir(dataDir);
  const pg = backend === 'postgresql' ? freshPgDatabase('am_wake') : null;
  const dbArgs = pg ? ['--set', `database=${pg.url}`] : [];
  const ca = fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem'));
  const web = startRole('web', dataDir, dbArgs);
  const media = startRole('media', dataDir, dbArgs);
  const port = async (r) => Number((await r.waitFor((l) => l.event === 'listening')).port);
  const webPort = await port(web);
  const mediaPort = await port(media);
  return {
    dataDir, dbArgs, ca, mediaPort,
    srv: { port: webPort, ca, origin: `https://127.0.0.1:${webPort}`, dataDir, dbArgs },
    async stop() {
      await media.stop();
      await web.stop();
      pg?.drop();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

test('a separate worker on PostgreSQL is woken by NOTIFY (idle poll 10 minutes away)', { skip: BACKENDS.includes('postgresql') ? false : 'AUDIOMUS_TEST_PG_URL not set' }, async () => {
  const f = await startFront('postgresql');
  let worker = null;
  try {
    worker = startRole('worker', f.dataDir, f.dbArgs, NO_POLL);
    await worker.waitFor((l) => l.event === 'worker_started');
    const owner = await newOwner(f.srv);
    const p = await newProject(owner, 'Notify EP');
    const { vid } = await uploadTrack(owner, p.id, wav(3, LOUD), { to: { port: f.mediaPort, ca: f.ca } });
    const v = await waitVersion(owner, p.id, vid, { ms: 120000 });
    assert.equal(v.state, 'ready', JSON.stringify(v));
  } finally {
    await worker?.stop();
    await f.stop();
  }
});

test('transcode_jobs=2: two queued uploads are processed at the same time', async () => {
  const f = await startFront('sqlite');
  let worker = null;
  try {
    const owner = await newOwner(f.srv);
    const p = await newProject(owner, 'Two EP');
    const to = { to: { port: f.mediaPort, ca: f.ca } };
    const a = await uploadTrack(owner, p.id, wav(60, { ...LOUD, rate: 48000 }), { title: 'A', ...to });
    const b = await uploadTrack(owner, p.id, wav(60, { ...LOUD, rate: 48000, freq: 550 }), { title: 'B', ...to });
    assert.equal((await versionOf(owner, p.id, a.vid)).state, 'queued');
    assert.equal((await versionOf(owner, p.id, b.vid)).state, 'queued');
    worker = startRole('worker', f.dataDir, ['--set', 'transcode_jobs=2']);
    for (const { vid } of [a, b]) {
      const v = await waitVersion(owner, p.id, vid, { ms: 180000 });
      assert.equal(v.state, 'ready', JSON.stringify(v));
    }
    const started = worker.logs.find((l) => l.event === 'worker_started');
    assert.equal(started.transcode_jobs, '2');
    const ev = worker.logs.filter((l) => l.event === 'job_start' || l.event === 'job_done').map((l) => l.event);
    assert.deepEqual(ev.slice(0, 2), ['job_start', 'job_start'], `both jobs ran at once: ${ev}`);
  } finally {
    await worker?.stop();
    await f.stop();
  }
});

test('a file over max_decode_samples is refused with the bound; a normal upload after it is ready', async () => {
  const srv = await startApi('sqlite', { args: ['--set', 'max_decode_samples=1000000', '--set', 'transcode_jobs=1'] });
  try {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Bound EP');
    // 4 channels x 96 kHz x 3 s = 1,152,000 samples: over the bound.
    const big = await uploadTrack(owner, p.id, wav(3, { ...LOUD, rate: 96000, ch: 4 }), { title: 'Heavy' });
    // 2 x 44.1 kHz x 3 s = 264,600: under it.
    const ok = await uploadTrack(owner, p.id, wav(3, LOUD), { title: 'Normal' });
    const v = await waitVersion(owner, p.id, big.vid);
    assert.equal(v.state, 'failed', JSON.stringify(v));
    assert.equal(v.error, 'decoding this file would take more than 1000000 samples (duration x sample rate x channels)');
    const w = await waitVersion(owner, p.id, ok.vid);
    assert.equal(w.state, 'ready', JSON.stringify(w));
    const failed = srv.logs.find((l) => l.event === 'job_failed');
    assert.ok(failed, 'refused for good: not retried');
    const detail = srv.logs.find((l) => l.event === 'transcode_failed');
    assert.match(detail.detail, /declared 3 s x 96000 Hz x 4 channels/);
  } finally {
    await srv.stop();
  }
});
