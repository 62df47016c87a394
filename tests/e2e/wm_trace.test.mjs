// Black-box test of the tracer (issue 26, docs/watermark.md "Tracer"): the
// owner's suspect file in, the listener out. Listeners get their mark rows
// the way the review page gets them (POST /api/v1/s/{token}/mark, one guest
// session each, on two links); `audiomus watermark embed --project --mark`
// marks 45 s of music with each listening's payload under the project's key
// (what that listener's copy carries); each copy is attacked (30 s excerpt,
// MP3 and AAC at 128 kbit/s, 48 kHz, mono, +6 and -6 dB, MP3 + 48 kHz +
// mono) and `audiomus watermark trace` (detection in the sandboxed child)
// must name that listener, link and first access. Never an accusation: the
// unmarked original, a copy marked under another project's key, and another
// project's listener's copy give "no mark found". SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { BACKENDS, Client, FAST_ARGON, newOwner, newProject, startApi } from './lib/api.mjs';
import { musicWav } from './lib/music.mjs';
import { BIN, pathOf, raw } from './lib/server.mjs';

function ffmpeg(...args) {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

const CUT = ['-ss', '11.3', '-t', '30'];
// name -> (marked wav, out prefix) -> the suspect file (any format).
const ATTACKS = {
  exact: (m) => m,
  excerpt_41s: (m, o) => (ffmpeg('-ss', '3.7', '-t', '41', '-i', m, `${o}.wav`), `${o}.wav`),
  mp3_128k: (m, o) => (ffmpeg(...CUT, '-i', m, '-c:a', 'libmp3lame', '-b:a', '128k', `${o}.mp3`), `${o}.mp3`),
  aac_128k: (m, o) => (ffmpeg(...CUT, '-i', m, '-c:a', 'aac', '-b:a', '128k', `${o}.m4a`), `${o}.m4a`),
  resample_48k: (m, o) => (ffmpeg(...CUT, '-i', m, '-ar', '48000', `${o}.wav`), `${o}.wav`),
  mono: (m, o) => (ffmpeg(...CUT, '-i', m, '-ac', '1', `${o}.wav`), `${o}.wav`),
  gain_plus6: (m, o) => (ffmpeg(...CUT, '-i', m, '-af', 'volume=6dB', `${o}.flac`), `${o}.flac`),
  gain_minus6: (m, o) => (ffmpeg(...CUT, '-i', m, '-af', 'volume=-6dB', `${o}.wav`), `${o}.wav`),
  mp3_48k_mono: (m, o) => (ffmpeg('-ss', '4.9', '-t', '32', '-i', m, '-ar', '48000', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '128k', `${o}.mp3`), `${o}.mp3`),
};

for (const backend of BACKENDS) test(`tracer: a suspect file names its listener, and nothing else is accused (${backend})`, async () => {
  const srv = await startApi(backend);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-trace-'));
  const at = (n) => path.join(dir, n);
  const cli = (args) => spawnSync(BIN, ['watermark', ...args, '--data', srv.dataDir, ...FAST_ARGON, ...srv.dbArgs], { encoding: 'utf8' });
  const trace = (pid, file) => {
    const r = cli(['trace', '--project', pid, file]);
    assert.ok(r.status === 0 || r.status === 1, `trace ${file}: status ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  try {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Leaky EP');
    const q = await newProject(owner, 'Other EP');
    for (const pr of [p, q]) assert.equal((await owner.put(`/api/v1/projects/${pr.id}/mark`, { on: true })).status, 200);
    const l2 = await owner.post(`/api/v1/projects/${p.id}/links`, { label: 'Press' });
    assert.equal(l2.status, 201, l2.body);
    // A listening: a guest session's mark row; its id is the ticket's sixth field.
    const listen = async (token, name) => {
      const r = await new Client(srv).post(`/api/v1/s/${token}/mark`, { name });
      assert.equal(r.status, 200, r.body);
      return r.json.ticket.split('.')[5];
    };
    const L = [
      { name: 'Ada', link: p.link, mark: await listen(p.link.token, 'Ada') },
      { name: 'Bea', link: p.link, mark: await listen(p.link.token, 'Bea') },
      { name: 'Cy', link: l2.json.link, mark: await listen(l2.json.link.token, 'Cy') },
    ];
    const qMark = await listen(q.link.token, 'Dee');
    fs.writeFileSync(at('orig.wav'), musicWav(45, { seed: 5 }));
    const embed = (pid, mark, out) => {
      const r = cli(['embed', '--project', pid, '--mark', mark, at('orig.wav'), out]);
      assert.equal(r.status, 0, r.stderr);
    };
    L.forEach((l, i) => embed(p.id, l.mark, at(`l${i}.wav`)));
    embed(q.id, qMark, at('q.wav'));

    // Each attack on one listener's copy, the listeners in turn (the
    // whole matrix is the robustness test's, once streams are marked).
    const wrong = [];
    const named = (t, l) => t.found && t.reviewer === l.name && t.link.id === l.link.id && t.link.label === l.link.label &&
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(t.first_access) && t.confidence > 0.5;
    for (const [k, [name, attack]] of Object.entries(ATTACKS).entries()) {
      const i = k % L.length;
      const t = trace(p.id, attack(at(`l${i}.wav`), at(`l${i}_${name}`)));
      if (!named(t, L[i])) wrong.push(`${L[i].name} ${name}: ${JSON.stringify(t)}`);
    }
    assert.deepEqual(wrong, []);
    // No accusation: the original, another project's listener (under its
    // key, and its own project traces it), the other project's key on ours.
    assert.deepEqual(Object.keys(trace(p.id, at('orig.wav'))), ['found', 'sync_z']);
    assert.equal(trace(p.id, at('orig.wav')).found, false);
    assert.equal(trace(p.id, at('q.wav')).found, false);
    assert.equal(trace(q.id, at('l0.wav')).found, false);
    assert.equal(trace(q.id, at('q.wav')).reviewer, 'Dee');
    // Not audio, no such project, a mark of another project: refused.
    fs.writeFileSync(at('junk.bin'), 'not audio at all, not at all');
    assert.equal(cli(['trace', '--project', p.id, at('junk.bin')]).status, 2);
    assert.equal(cli(['trace', '--project', '0'.repeat(32), at('orig.wav')]).status, 2);
    assert.equal(cli(['embed', '--project', p.id, '--mark', qMark, at('orig.wav'), at('x.wav')]).status, 2);

    // The web tracer: the owner's signed URL on the media role, the file as
    // the body; the same answers. A guest, another owner and a tampered or
    // replayed-elsewhere URL are refused.
    const traceUrl = async (who, pid) => who.post(`/api/v1/projects/${pid}/trace`, {});
    const u = await traceUrl(owner, p.id);
    assert.equal(u.status, 200, u.body);
    assert.ok(u.json.max_bytes === 64 << 20 && /\/m\/trace\//.test(u.json.url));
    const post = (url, file) => raw(srv, 'POST', pathOf(url), { 'Content-Type': 'application/octet-stream' }, fs.readFileSync(file));
    let r = await post(u.json.url, at('l2_mp3_128k.mp3'));
    assert.equal(r.status, 200, r.body);
    assert.ok(named(JSON.parse(r.body), L[2]), r.body);
    assert.match(r.headers['cache-control'], /no-store/);
    r = await post(u.json.url, at('orig.wav'));
    assert.equal(JSON.parse(r.body).found, false, r.body);
    r = await post(u.json.url, at('q.wav'));
    assert.equal(JSON.parse(r.body).found, false, r.body);
    r = await post(u.json.url, at('junk.bin'));
    assert.equal(r.status, 422, r.body);
    assert.equal((await post(u.json.url.replace(/s=./, (m) => (m === 's=A' ? 's=B' : 's=A')), at('junk.bin'))).status, 403);
    // (A refused URL's body is not read: small bodies here.)
    assert.equal((await post(u.json.url.replace(p.id, q.id), at('junk.bin'))).status, 403);
    const guest = new Client(srv);
    await guest.get(`/api/v1/s/${p.link.token}`);
    assert.ok([401, 403].includes((await traceUrl(guest, p.id)).status));
    const other = await newOwner(srv);
    assert.equal((await traceUrl(other, p.id)).status, 404);
    // Another owner's own URL names its own project only.
    const ou = await traceUrl(other, (await newProject(other, 'Theirs')).id);
    assert.equal(ou.status, 200, ou.body);
    assert.equal((await post(ou.json.url.replace(/trace\/[0-9a-f]{32}/, `trace/${p.id}`), at('junk.bin'))).status, 403);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await srv.stop();
  }
});
