// Black-box test of marked downloads (issue 26, docs/watermark.md "Marked
// downloads", docs/media.md "Marked downloads"): with marking and marked
// downloads on, a guest's download of an original carries its listening's
// mark ticket (&mt=) and gets the original marked with that listener's
// payload: a WAV as the same WAV (format, rate, channels, length), a FLAC as
// FLAC; each decodes, differs from the upload, and `audiomus watermark
// trace` (detection in the sandboxed child) names that guest; two guests'
// downloads differ. Without a ticket: 403, never the plain original. The
// owner's download stays bit-identical, and so does a guest's once marked
// downloads are off. 30 s of music (the tracer needs 28.5 s). SQLite and
// PostgreSQL.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { BACKENDS, Client, FAST_ARGON, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { musicWav } from './lib/music.mjs';
import { BIN, pathOf, raw } from './lib/server.mjs';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const probe = (f) => JSON.parse(run('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', f]).toString()).streams[0];
const pcm = (f) => run('ffmpeg', ['-v', 'error', '-i', f, '-f', 's16le', '-']);

for (const backend of BACKENDS) test(`marked downloads: each guest's original carries its own mark; the owner's is the original (${backend})`, async () => {
  const srv = await startApi(backend);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-markdl-'));
  const at = (n) => path.join(dir, n);
  const trace = (pid, file) => {
    const r = spawnSync(BIN, ['watermark', 'trace', '--project', pid, file, '--data', srv.dataDir, ...FAST_ARGON, ...srv.dbArgs], { encoding: 'utf8' });
    assert.ok(r.status === 0 || r.status === 1, `trace ${file}: ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  try {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Marked downloads');
    const wavBytes = musicWav(30, { seed: 4 });
    fs.writeFileSync(at('orig.wav'), wavBytes);
    run('ffmpeg', ['-v', 'error', '-i', at('orig.wav'), '-c:a', 'flac', '-sample_fmt', 's32', '-bits_per_raw_sample', '24', at('orig.flac')]);
    const flacBytes = fs.readFileSync(at('orig.flac'));
    const w = await uploadTrack(owner, p.id, wavBytes, { title: 'Wav', filename: 'song.wav' });
    const f = await uploadTrack(owner, p.id, flacBytes, { title: 'Flac', filename: 'take 2.flac' });
    for (const t of [w, f]) assert.equal((await waitVersion(owner, p.id, t.vid)).state, 'ready');
    const s = await owner.put(`/api/v1/projects/${p.id}/mark`, { on: true });
    assert.equal(s.status, 200, s.body);
    assert.equal(s.json.mark.downloads, true, 'marked downloads are on by default');

    const guest = async (name) => {
      const g = new Client(srv);
      const v = await g.get(`/api/v1/s/${p.link.token}`);
      assert.equal(v.status, 200, v.body);
      const mk = await g.post(`/api/v1/s/${p.link.token}/mark`, { name });
      assert.equal(mk.status, 200, mk.body);
      const byTitle = Object.fromEntries(v.json.tracks.map((t) => [t.title, t.versions[0].media]));
      return { name, ticket: mk.json.ticket, marked: mk.json.downloads, wav: byTitle.Wav.download, flac: byTitle.Flac.download };
    };
    const g1 = await guest('Ada'), g2 = await guest('Bea');
    assert.equal(g1.marked, true, 'the page is told downloads are marked');

    // No ticket, a bad ticket: refused, no audio.
    let r = await raw(srv, 'GET', pathOf(g1.wav));
    assert.equal(r.status, 403);
    assert.equal(r.headers['mark-error'], 'mark ticket required');
    assert.ok(r.body.length < 200);
    r = await raw(srv, 'GET', `${pathOf(g1.wav)}&mt=${g1.ticket.slice(0, -2)}AA`);
    assert.equal(r.status, 403);

    // WAV: the same container, format, rate, channels and length; marked.
    const dl = async (g, which, file) => {
      const res = await raw(srv, 'GET', `${pathOf(g[which])}&mt=${g.ticket}`, { Range: 'bytes=0-99' });
      assert.equal(res.status, 200, `${which}: ${res.status} ${res.body.slice(0, 200)}`);
      assert.equal(res.headers['accept-ranges'], 'none');
      fs.writeFileSync(at(file), res.body);
      return res;
    };
    r = await dl(g1, 'wav', 'g1.wav');
    assert.match(r.headers['content-disposition'], /filename="song\.wav"/);
    assert.equal(r.headers['content-type'], 'audio/wav');
    assert.equal(r.body.length, wavBytes.length, 'same header size and data length');
    assert.deepEqual(r.body.subarray(0, 44), wavBytes.subarray(0, 44), 'the same 16-bit stereo 44.1 kHz header');
    assert.notDeepEqual(r.body, wavBytes);
    await dl(g2, 'wav', 'g2.wav');
    assert.notDeepEqual(fs.readFileSync(at('g1.wav')), fs.readFileSync(at('g2.wav')), 'two listeners, two marks');

    // FLAC: FLAC again, 24 bits, the same rate, channels and samples.
    r = await dl(g1, 'flac', 'g1.flac');
    assert.equal(r.headers['content-type'], 'audio/flac');
    assert.match(r.headers['content-disposition'], /take 2\.flac/);
    const pr = probe(at('g1.flac')), po = probe(at('orig.flac'));
    for (const k of ['codec_name', 'sample_rate', 'channels', 'bits_per_raw_sample', 'duration_ts'])
      assert.equal(pr[k], po[k], k);
    const a = pcm(at('g1.flac')), b = pcm(at('orig.flac'));
    assert.equal(a.length, b.length);
    assert.notDeepEqual(a, b);

    // Each download names its own listener.
    for (const [file, who] of [['g1.wav', 'Ada'], ['g2.wav', 'Bea'], ['g1.flac', 'Ada']]) {
      const t = trace(p.id, at(file));
      assert.equal(t.found, true, `${file}: ${JSON.stringify(t)}`);
      assert.equal(t.reviewer, who, file);
    }
    assert.equal(trace(p.id, at('orig.wav')).found, false);

    // The owner's download: the original, bit for bit.
    const urls = await owner.get(`/api/v1/projects/${p.id}/tracks/${w.tid}/urls`);
    assert.equal(urls.status, 200, urls.body);
    r = await raw(srv, 'GET', pathOf(urls.json.versions[w.vid].download));
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(wavBytes), 'the owner gets the upload');

    // Marked downloads off: the guest's plain original again, ticket or not.
    assert.equal((await owner.put(`/api/v1/projects/${p.id}/mark`, { on: true, downloads: false })).status, 200);
    const g3 = await guest('Cy');
    assert.equal(g3.marked, false);
    for (const extra of ['', `&mt=${g3.ticket}`]) {
      r = await raw(srv, 'GET', pathOf(g3.flac) + extra);
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(flacBytes), `plain original${extra ? ' with a ticket' : ''}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await srv.stop();
  }
});
