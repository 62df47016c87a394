// The leak-tracing robustness test of issue 26 (docs/watermark.md "Tracer",
// "Serving segment variants"): eight listeners of one marked project stream
// a 45 s track the way the review page does (their own guest session, their
// mark ticket after the signed URL), each keeps the bytes it received (its
// splice of renditions A and B), and each of nine attacks is applied to each
// listener's copy: the stream as received, excerpts of 30-41 s from eight
// different offsets, MP3 and AAC at 128 kbit/s, 48 kHz, mono, +6 and -6 dB,
// and MP3 + 48 kHz + mono. `audiomus watermark trace` (the operator's tracer:
// detection in the sandboxed child, the keyed decision and the mark row in
// the parent) must name exactly that listener every time. The files that
// must accuse no one: the unmarked original, the owner's plain stream, and a
// copy marked for a listener of another project under that project's key.
// The 1,000 unmarked clips are the unit test (tests/unit/watermark/test_wm.c
// "test_false_ids"). SQLite only: the tracer's database side is tested on
// both engines in wm_trace.test.mjs. On the release binary the whole 8 x 9
// matrix runs; on the ASan binary (each trace there is several times
// slower) every attack runs on one listener and every listener gets at
// least one attack, the same code paths.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { Client, FAST_ARGON, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { musicWav } from './lib/music.mjs';
import { BIN, pathOf, raw } from './lib/server.mjs';

const LISTENERS = ['Ada', 'Bea', 'Cy', 'Dee', 'Eli', 'Fay', 'Gus', 'Hal'];
const ASAN = fs.readFileSync(BIN).includes('__asan_init');

function ffmpeg(...args) {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

// name -> (received file, out prefix, listener index) -> the suspect file.
// Excerpts start at a different offset for each listener (2.0 to 13.9 s).
const cut = (i, len = 30) => ['-ss', (2 + 1.7 * i).toFixed(2), '-t', String(len)];
const ATTACKS = {
  as_received: (m) => m,
  excerpt: (m, o, i) => (ffmpeg(...cut(i, 41 - i), '-i', m, `${o}.wav`), `${o}.wav`),
  mp3_128k: (m, o, i) => (ffmpeg(...cut(i), '-i', m, '-c:a', 'libmp3lame', '-b:a', '128k', `${o}.mp3`), `${o}.mp3`),
  aac_128k: (m, o, i) => (ffmpeg(...cut(i), '-i', m, '-c:a', 'aac', '-b:a', '128k', `${o}.m4a`), `${o}.m4a`),
  resample_48k: (m, o, i) => (ffmpeg(...cut(i), '-i', m, '-ar', '48000', `${o}.wav`), `${o}.wav`),
  mono: (m, o, i) => (ffmpeg(...cut(i), '-i', m, '-ac', '1', `${o}.wav`), `${o}.wav`),
  gain_plus6: (m, o, i) => (ffmpeg(...cut(i), '-i', m, '-af', 'volume=6dB', `${o}.flac`), `${o}.flac`),
  gain_minus6: (m, o, i) => (ffmpeg(...cut(i), '-i', m, '-af', 'volume=-6dB', `${o}.wav`), `${o}.wav`),
  mp3_48k_mono: (m, o, i) => (ffmpeg(...cut(i, 32), '-i', m, '-ar', '48000', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '128k', `${o}.mp3`), `${o}.mp3`),
};

test('leak tracing: 8 listeners x every attack on the stream each received, each named; nothing else accused (sqlite)', async () => {
  const srv = await startApi('sqlite');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-leak-'));
  const at = (n) => path.join(dir, n);
  const cli = (args) => spawnSync(BIN, ['watermark', ...args, '--data', srv.dataDir, ...FAST_ARGON, ...srv.dbArgs], { encoding: 'utf8' });
  const trace = (pid, file) => {
    const r = cli(['trace', '--project', pid, file]);
    assert.ok(r.status === 0 || r.status === 1, `trace ${file}: status ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  try {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Unreleased LP');
    const q = await newProject(owner, 'Other LP');
    for (const pr of [p, q]) assert.equal((await owner.put(`/api/v1/projects/${pr.id}/mark`, { on: true })).status, 200);
    fs.writeFileSync(at('orig.wav'), musicWav(45, { seed: 9 }));
    const { tid, vid } = await uploadTrack(owner, p.id, fs.readFileSync(at('orig.wav')), { title: 'Single', filename: 'single.wav' });
    assert.equal((await waitVersion(owner, p.id, vid, { ms: 120000 })).state, 'ready');

    // Each listener: its own guest session, its ticket, the whole stream.
    const received = async (name) => {
      const g = new Client(srv);
      const t = await g.post(`/api/v1/s/${p.link.token}/mark`, { name });
      assert.equal(t.status, 200, t.body);
      const v = await g.get(`/api/v1/s/${p.link.token}`);
      assert.equal(v.status, 200, v.body);
      const u = pathOf(v.json.tracks[0].versions[0].media.stream) + `&mt=${t.json.ticket}`;
      let r;
      // Renditions A and B are made by the worker after the plain one.
      for (let k = 0; k < 1200; k++) {
        r = await raw(srv, 'GET', u, {}, undefined, { whole: true });
        if (r.status !== 403 || !/no marked rendition/.test(r.headers['mark-error'] || '')) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(r.status, 200, `${name}: ${r.status} ${r.headers['mark-error'] || ''}`);
      return r.body;
    };
    const L = [];
    for (const [i, name] of LISTENERS.entries()) {
      const body = await received(name);
      fs.writeFileSync(at(`l${i}.m4a`), body);
      L.push({ name, body });
    }
    for (let i = 1; i < L.length; i++) assert.ok(!L[i].body.equals(L[0].body), `${L[i].name} and ${L[0].name} received different bytes`);

    const named = (t, l) => t.found && t.reviewer === l.name && t.link.id === p.link.id && t.confidence > 0.5;
    const wrong = [];
    let runs = 0;
    for (const [k, [attack, fn]] of Object.entries(ATTACKS).entries()) {
      for (const [i, l] of L.entries()) {
        if (ASAN && i !== k % L.length) continue;
        const t = trace(p.id, fn(at(`l${i}.m4a`), at(`l${i}_${attack}`), i));
        runs++;
        if (!named(t, l)) wrong.push(`${l.name} ${attack}: ${JSON.stringify(t)}`);
      }
    }
    assert.deepEqual(wrong, [], `${wrong.length} of ${runs} traces did not name the right listener`);
    assert.ok(runs >= (ASAN ? L.length : L.length * Object.keys(ATTACKS).length), `${runs} traces`);

    // Accuse no one: the original, the owner's plain stream, and a copy
    // marked for another project's listener under that project's key.
    const urls = await owner.get(`/api/v1/projects/${p.id}/tracks/${tid}/urls`);
    assert.equal(urls.status, 200, urls.body);
    const ow = await raw(srv, 'GET', pathOf(urls.json.versions[vid].stream), {}, undefined, { whole: true });
    assert.equal(ow.status, 200);
    fs.writeFileSync(at('owner.m4a'), ow.body);
    const qt = await new Client(srv).post(`/api/v1/s/${q.link.token}/mark`, { name: 'Ivy' });
    assert.equal(qt.status, 200, qt.body);
    const e = cli(['embed', '--project', q.id, '--mark', qt.json.ticket.split('.')[5], at('orig.wav'), at('q.wav')]);
    assert.equal(e.status, 0, e.stderr);
    for (const f of ['orig.wav', 'owner.m4a', 'q.wav']) {
      const t = trace(p.id, at(f));
      assert.equal(t.found, false, `${f}: ${JSON.stringify(t)}`);
    }
    assert.equal(trace(q.id, at('q.wav')).reviewer, 'Ivy', 'the other project traces its own listener');
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
