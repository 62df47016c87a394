// Black-box tests of the marker export (issue 24, docs/api.md "Markers",
// docs/media.md "Marked WAV"), on SQLite and PostgreSQL: 500 comments (on
// SQLite; 150 on PostgreSQL, for the suite's time) with unicode, quotes,
// commas, tabs and newlines (owner and guest authors, ranges, replies,
// resolved ones; posted in parallel batches of 25) come
// back out of every format, each read by a reader that is not ours: the
// MIDI file by the `midi-file` npm package and by python3-mido, the marked
// WAV by the `wavefile` npm package, the zips by Python's zipfile, the
// Reaper CSV, Audacity labels and Audition markers by strict parsers
// written here from the formats' descriptions. Times: each WAV cue within
// ±1 sample of the comment, each MIDI marker within 1 ms at the written
// tempo. The marked WAV's audio bytes are the original's; a guest gets
// nothing while downloads are off (and earlier WAV and zip URLs die).
// SQLite only (decoding does not depend on the database): a non-WAV
// original (FLAC 16/24-bit, MP3, AAC in M4A, AIFF, Ogg Vorbis) gets a
// marked WAV whose audio is byte-identical to ffmpeg's own decode of it,
// and one that no longer decodes is answered 422 before any byte.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion, withFrozenClock } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw } from './lib/server.mjs';

const require = createRequire(import.meta.url);
const { parseMidi } = require('midi-file');
const { WaveFile } = require('wavefile');

// Debian's python3-mido is installed for the system Python (scripts/dev),
// which a pyenv or venv python3 earlier in PATH would not see.
const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const RATE = 44100;
const SECONDS = 10;
const N_FULL = 500; // comments on SQLite
const N_PG = 150; // on PostgreSQL (the suite's time: the 500 run on one engine)
const BATCH = 25; // comments posted at once

// ---- the label rule of docs/api.md, written from the docs ------------------------------
const CTRL = /[\u0000-\u001f\u007f-\u009f]/g;
function fold(ch) {
  const cp = ch.codePointAt(0);
  if (cp < 0x80) return ch;
  if (cp >= 0xc0 && cp <= 0xff) { const d = ch.normalize('NFD')[0]; return d.charCodeAt(0) < 0x80 ? d : '?'; }
  return { '\u2018': "'", '\u2019': "'", '\u201c': '"', '\u201d': '"', '\u2013': '-', '\u2014': '-', '\u2026': '...' }[ch] ?? '?';
}
function label(c, max = 64, ascii = false, uncut = false) {
  let s = `${c.author || 'owner'}: ${c.body}`.replace(CTRL, ' ');
  if (ascii) s = [...s].map(fold).join('');
  if (uncut) return s;
  const cps = [...s];
  if (ascii) return s.length > max ? `${s.slice(0, max - 3)}...` : s;
  return cps.length > max ? `${cps.slice(0, max - 1).join('')}\u2026` : s;
}
const isRegion = (c) => c.end_ms !== null && c.end_ms !== undefined && c.end_ms > c.time_ms;
// The comments a choice selects, in time order (ties: the list's order).
function selected(comments, { resolved = false, replies = false } = {}) {
  return comments.filter((c) => !c.deleted && (resolved || !c.resolved) && (replies || !c.parent_id))
    .map((c, i) => ({ c, i })).sort((a, b) => a.c.time_ms - b.c.time_ms || a.i - b.i).map((x) => x.c);
}
const clock = (ms) => {
  const s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = `${String(s % 60).padStart(2, '0')}.${String(ms % 1000).padStart(3, '0')}`;
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${Math.floor(s / 60)}:${r}`;
};

// ---- strict readers of the text formats ---------------------------------------------
// RFC 4180 CSV with CRLF line ends; a quoted field may hold anything but a lone quote.
function parseCsv(text) {
  const rows = [];
  let i = 0;
  while (i < text.length) {
    const row = [];
    for (;;) {
      let f = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          assert.ok(i < text.length, 'unterminated quoted field');
          if (text[i] === '"') { if (text[i + 1] === '"') { f += '"'; i += 2; continue; } i++; break; }
          f += text[i++];
        }
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
          assert.notEqual(text[i], '"', 'a quote inside an unquoted field');
          f += text[i++];
        }
      }
      row.push(f);
      if (text[i] === ',') { i++; continue; }
      assert.equal(text.slice(i, i + 2), '\r\n', `row ${rows.length} must end with CRLF`);
      i += 2;
      break;
    }
    rows.push(row);
  }
  return rows;
}
function parseClock(s) {
  const m = /^(?:(\d+):(\d{2}):|(\d+):)(\d{2})\.(\d{3})$/.exec(s);
  assert.ok(m, `time ${JSON.stringify(s)}`);
  const h = Number(m[1] || 0), min = Number(m[2] ?? m[3]);
  return ((h * 60 + min) * 60 + Number(m[4])) * 1000 + Number(m[5]);
}

// Python's zipfile: { name: base64 } of every entry, and whether all are stored.
function unzip(bytes) {
  const py = 'import sys,zipfile,io,json,base64\nz=zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))\n'
    + 'print(json.dumps({"stored":all(i.compress_type==0 for i in z.infolist()),"files":{i.filename:base64.b64encode(z.read(i)).decode() for i in z.infolist()}}))';
  const r = spawnSync(PY, ['-c', py], { input: bytes, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  const j = JSON.parse(r.stdout.toString());
  return { stored: j.stored, files: Object.fromEntries(Object.entries(j.files).map(([k, v]) => [k, Buffer.from(v, 'base64')])) };
}

// python3-mido: every marker as [seconds at the file's tempo, text].
function midoMarkers(bytes) {
  const py = 'import sys,mido,io,json\nm=mido.MidiFile(file=io.BytesIO(sys.stdin.buffer.read()))\nt=0;tempo=500000;out=[]\n'
    + 'for e in m.tracks[0]:\n  t+=e.time\n  if e.type=="set_tempo": tempo=e.tempo\n  if e.type=="marker": out.append([mido.tick2second(t,m.ticks_per_beat,tempo),e.text])\n'
    + 'print(json.dumps({"type":m.type,"tracks":len(m.tracks),"markers":out}))';
  const r = spawnSync(PY, ['-c', py], { input: bytes });
  assert.equal(r.status, 0, r.stderr.toString());
  return JSON.parse(r.stdout.toString());
}

// ---- test data ------------------------------------------------------------------------
const PIECES = ['a', 'b', 'Z', ' ', 'é', 'ü', 'Ñ', 'ß', 'Ø', '“q”', '‘s’', '"', "'", ',', ';', '\t', '\n', '\r\n', '🎵', '日本語', '…', '—', 'x,y', '""', '\\'];
function randomBody(rnd) {
  const n = 1 + Math.floor(rnd() * 40);
  let s = '';
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(rnd() * PIECES.length)];
  return s.trim() === '' ? `${s}z` : s;
}
function prng(seed) { return () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; }; }

for (const backend of BACKENDS) {
  const N = backend === 'sqlite' ? N_FULL : N_PG;
  describe(`markers (${backend})`, () => {
    let srv, owner, p, vid, tid, bytes, comments;
    const base = () => `/api/v1/projects/${p.id}/versions/${vid}/markers`;
    const get = async (q, client = owner, path = base()) => {
      const r = await raw(srv, 'GET', `${path}?${q}`, client.jar.size ? { Cookie: client.cookieHeader() } : {}, undefined,
        { localAddress: client.localAddress });
      return r;
    };

    before(async () => {
      srv = await startApi(backend, { hooks: true }); // the test clock (rate limits)
      owner = await newOwner(srv);
      p = await newProject(owner, 'Markers EP');
      bytes = wav(SECONDS, { rate: RATE, ch: 2 });
      ({ tid, vid } = await uploadTrack(owner, p.id, bytes, { title: 'Intro — “Take 2”', filename: 'intro.wav' }));
      assert.equal((await waitVersion(owner, p.id, vid)).state, 'ready');
      const rnd = prng(24);
      const guest = new Client(srv);
      const token = p.link.token;
      for (const name of ['Zoë "Z", Jr.', 'Ann, B', '日本']) {
        const r = await guest.post(`/api/v1/s/${token}/comments`, { name, body: randomBody(rnd), version_id: vid, time_ms: Math.floor(rnd() * SECONDS * 1000) });
        assert.equal(r.status, 201, r.body);
      }
      // In parallel batches; a reply's parent is from an earlier batch, so
      // the bodies (and the prng's sequence) do not depend on timing.
      const ids = [];
      for (let b = 0; b < N - 3; b += BATCH) {
        const batch = [];
        for (let i = b; i < Math.min(N - 3, b + BATCH); i++) {
          const t = Math.floor(rnd() * SECONDS * 1000);
          const body = { version_id: vid, body: randomBody(rnd), time_ms: t };
          if (i % 5 === 1) body.end_ms = Math.min(SECONDS * 1000, t + Math.floor(rnd() * 5000));
          if (i % 7 === 3 && ids.length) { const par = ids[Math.floor(rnd() * ids.length)]; body.parent_id = par.id; body.time_ms = par.t; delete body.end_ms; }
          batch.push({ body, resolve: i % 6 === 0 });
        }
        const done = await Promise.all(batch.map(async ({ body, resolve }) => {
          const r = await owner.post(`/api/v1/projects/${p.id}/comments`, body);
          assert.equal(r.status, 201, r.body);
          if (resolve) assert.equal((await owner.patch(`/api/v1/projects/${p.id}/comments/${r.json.comment.id}`, { resolved: true })).status, 200);
          return { id: r.json.comment.id, t: body.time_ms };
        }));
        ids.push(...done);
      }
      const r = await owner.get(`/api/v1/projects/${p.id}/comments?version=${vid}`);
      comments = r.json.comments;
      assert.equal(comments.length, N);
    });
    after(async () => { await srv?.stop(); });

    test('Audacity labels: every selected comment, exact times and labels (strict reader)', async () => {
      for (const opt of [{}, { resolved: true, replies: true }]) {
        const q = `format=audacity&resolved=${opt.resolved ? 1 : 0}&replies=${opt.replies ? 1 : 0}`;
        const r = await get(q);
        assert.equal(r.status, 200, r.body.toString());
        assert.match(r.headers['content-disposition'], /^attachment; filename="intro-take-2-v1-markers-audacity.txt"$/);
        const lines = r.body.toString('utf8').split('\n');
        assert.equal(lines.pop(), '', 'ends with a newline');
        const want = selected(comments, opt);
        assert.equal(lines.length, want.length);
        assert.ok(want.length > 100);
        lines.forEach((l, i) => {
          const m = /^(\d+)\.(\d{3})000\t(\d+)\.(\d{3})000\t([^\t\n]*)$/.exec(l);
          assert.ok(m, `line ${i}: ${JSON.stringify(l)}`);
          const c = want[i];
          assert.equal(Number(m[1]) * 1000 + Number(m[2]), c.time_ms);
          assert.equal(Number(m[3]) * 1000 + Number(m[4]), isRegion(c) ? c.end_ms : c.time_ms);
          assert.equal(m[5], label(c));
        });
      }
    });

    test('Reaper CSV: header, M/R numbering, quoted names, region ends and lengths (strict RFC 4180 reader)', async () => {
      const r = await get('format=reaper&replies=1&label_max=200');
      assert.equal(r.status, 200);
      const rows = parseCsv(r.body.toString('utf8'));
      assert.deepEqual(rows.shift(), ['#', 'Name', 'Start', 'End', 'Length', 'Color']);
      const want = selected(comments, { replies: true });
      assert.equal(rows.length, want.length);
      let nm = 0, nr = 0;
      rows.forEach((row, i) => {
        const c = want[i];
        assert.equal(row.length, 6);
        assert.equal(row[0], isRegion(c) ? `R${++nr}` : `M${++nm}`);
        assert.equal(row[1], label(c, 200));
        assert.equal(parseClock(row[2]), c.time_ms);
        if (isRegion(c)) {
          assert.equal(parseClock(row[3]), c.end_ms);
          assert.equal(parseClock(row[4]), c.end_ms - c.time_ms);
        } else assert.deepEqual(row.slice(3), ['', '', '']);
        assert.equal(row[5], '');
      });
    });

    test('Audition markers: tab-separated, decimal times, full text in Description (strict reader)', async () => {
      const r = await get('format=audition&resolved=1');
      assert.equal(r.status, 200);
      const lines = r.body.toString('utf8').split('\r\n');
      assert.equal(lines.pop(), '');
      assert.equal(lines.shift(), 'Name\tStart\tDuration\tTime Format\tType\tDescription');
      const want = selected(comments, { resolved: true });
      assert.equal(lines.length, want.length);
      lines.forEach((l, i) => {
        const f = l.split('\t');
        const c = want[i];
        assert.equal(f.length, 6, JSON.stringify(l));
        assert.equal(f[0], label(c));
        assert.equal(parseClock(f[1]), c.time_ms);
        assert.equal(parseClock(f[2]), isRegion(c) ? c.end_ms - c.time_ms : 0);
        assert.deepEqual(f.slice(3, 5), ['decimal', 'Cue']);
        assert.equal(f[5], label(c, 0, false, true));
      });
    });

    test('MIDI file at the track tempo: format 1, one track, markers within 1 ms (midi-file and mido)', async () => {
      const bad = await owner.patch(`/api/v1/projects/${p.id}/tracks/${tid}`, { tempo_bpm: 5 });
      assert.equal(bad.status, 400);
      assert.equal((await owner.patch(`/api/v1/projects/${p.id}/tracks/${tid}`, { time_signature: '4/3' })).status, 400);
      const t = await owner.patch(`/api/v1/projects/${p.id}/tracks/${tid}`, { tempo_bpm: 97.5, time_signature: '7/8' });
      assert.equal(t.status, 200, t.body);
      assert.equal(t.json.track.tempo_bpm, 97.5);
      assert.equal(t.json.track.time_signature, '7/8');
      const r = await get('format=smf&replies=1');
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'audio/midi');
      const midi = parseMidi(r.body);
      assert.equal(midi.header.format, 1);
      assert.equal(midi.header.numTracks, 1);
      const ev = midi.tracks[0];
      let tick = 0, us = null;
      const got = [];
      for (const e of ev) {
        tick += e.deltaTime;
        if (e.type === 'trackName') assert.equal(e.text, 'Intro - "Take 2"');
        if (e.type === 'timeSignature') assert.deepEqual([e.numerator, e.denominator], [7, 8]);
        if (e.type === 'setTempo') us = e.microsecondsPerBeat;
        if (e.type === 'marker') got.push({ ms: (tick * us) / midi.header.ticksPerBeat / 1000, text: e.text });
      }
      assert.equal(us, Math.round(60e6 / 97.5));
      assert.equal(ev.at(-1).type, 'endOfTrack');
      const want = [];
      for (const c of selected(comments, { replies: true })) {
        want.push({ ms: c.time_ms, text: label(c, 64, true) });
        if (isRegion(c)) want.push({ ms: c.end_ms, text: `end of ${label(c, 64, true)}` });
      }
      want.sort((a, b) => a.ms - b.ms || (a.text < b.text ? -1 : a.text > b.text));
      got.sort((a, b) => a.ms - b.ms || (a.text < b.text ? -1 : a.text > b.text));
      assert.equal(got.length, want.length);
      got.forEach((g, i) => {
        assert.ok(Math.abs(g.ms - want[i].ms) <= 1, `marker ${i}: ${g.ms} vs ${want[i].ms}`);
        assert.equal(g.text, want[i].text);
      });
      const m = midoMarkers(r.body);
      assert.equal(m.type, 1);
      assert.equal(m.tracks, 1);
      assert.equal(m.markers.length, want.length);
      const ms = m.markers.map(([s]) => s * 1000).sort((a, b) => a - b);
      ms.forEach((x, i) => assert.ok(Math.abs(x - want[i].ms) <= 1, `mido marker ${i}: ${x} vs ${want[i].ms}`));
    });

    // SQLite only (the suite's time): the zips format what the other tests
    // read on both engines; the guests test unzips one on PostgreSQL too.
    if (backend === 'sqlite') test('zip of a version and of the project (media role): the four files and the marked WAV, stored entries (zipfile, wavefile)', async () => {
      const zipOf = async (path, d) => {
        const r = await get('format=zip', owner, path);
        assert.equal(r.status, 200, r.body.toString());
        const url = JSON.parse(r.body.toString()).url;
        assert.match(url, new RegExp(`&d=${d}&`));
        const z = await raw(srv, 'GET', pathOf(url), {}, undefined, { whole: true });
        assert.equal(z.status, 200, z.body.toString().slice(0, 200));
        assert.equal(z.headers['content-type'], 'application/zip');
        return { z, files: unzip(z.body) };
      };
      const { z, files: vz } = await zipOf(base(), 11);
      assert.match(z.headers['content-disposition'], /filename="intro-take-2-v1-markers.zip"/);
      assert.ok(vz.stored);
      assert.deepEqual(Object.keys(vz.files).sort(), ['markers-audacity.txt', 'markers-audition.csv', 'markers-reaper.csv', 'markers.mid', 'markers.wav']);
      for (const [f, q] of [['markers-audacity.txt', 'audacity'], ['markers.mid', 'smf'], ['markers-reaper.csv', 'reaper'], ['markers-audition.csv', 'audition']]) {
        assert.deepEqual(vz.files[f], (await get(`format=${q}`)).body, f);
      }
      const wf = new WaveFile(vz.files['markers.wav']);
      assert.deepEqual(Buffer.from(wf.data.samples), bytes.subarray(44), 'the zip\'s WAV: audio bytes identical');
      const want = selected(comments);
      const pts = wf.listCuePoints();
      assert.equal(pts.length, want.length);
      pts.forEach((pt, i) => assert.ok(Math.abs(pt.dwSampleOffset - (want[i].time_ms * RATE) / 1000) <= 1, `zip cue ${i}`));
      const { files: pz } = await zipOf(`/api/v1/projects/${p.id}/markers`, 19);
      assert.deepEqual(Object.keys(pz.files).sort(), ['01-intro-take-2/markers-audacity.txt', '01-intro-take-2/markers-audition.csv',
        '01-intro-take-2/markers-reaper.csv', '01-intro-take-2/markers.mid', '01-intro-take-2/markers.wav']);
      assert.deepEqual(pz.files['01-intro-take-2/markers-reaper.csv'], (await get('format=reaper')).body);
      assert.deepEqual(pz.files['01-intro-take-2/markers.wav'].subarray(0, 36), vz.files['markers.wav'].subarray(0, 36));
      assert.equal((await get('format=smf', owner, `/api/v1/projects/${p.id}/markers`)).status, 400);
      assert.equal((await get('format=mp3')).status, 400);
      assert.equal((await get('format=zip&resolved=2')).status, 400);
      assert.equal((await get('format=zip')).status, 200);
      assert.equal((await raw(srv, 'GET', `${base()}?format=zip`, {})).status, 401, 'no session');
    });

    test('marked WAV (media role): cue points within ±1 sample, labels, regions, audio bytes identical (wavefile)', async () => {
      const r = await get('format=wav&resolved=1&replies=1');
      assert.equal(r.status, 200, r.body.toString());
      const url = JSON.parse(r.body.toString()).url;
      assert.match(url, /\/m\/[0-9a-f]{32}\?o=.*&d=5&/);
      const w = await raw(srv, 'GET', pathOf(url), {}, undefined, { whole: true });
      assert.equal(w.status, 200);
      assert.equal(w.headers['content-type'], 'audio/wav');
      assert.match(w.headers['content-disposition'], /filename="intro-markers.wav"/);
      const wf = new WaveFile(w.body);
      assert.equal(wf.fmt.sampleRate, RATE);
      assert.deepEqual(Buffer.from(wf.data.samples), bytes.subarray(44), 'audio bytes identical');
      assert.equal(w.body.readUInt32LE(4), w.body.length - 8, 'RIFF size');
      const pts = wf.listCuePoints();
      const want = selected(comments, { resolved: true, replies: true });
      assert.equal(pts.length, want.length);
      pts.forEach((pt, i) => {
        const c = want[i];
        const exact = (c.time_ms * RATE) / 1000;
        assert.ok(Math.abs(pt.dwSampleOffset - exact) <= 1, `cue ${i}: ${pt.dwSampleOffset} vs ${exact}`);
        assert.equal(pt.dwPosition, pt.dwSampleOffset);
        assert.equal(pt.fccChunk, 'data');
        assert.equal(pt.label, label(c)); // wavefile decodes UTF-8
        if (isRegion(c)) {
          assert.ok(Math.abs(pt.dwSampleOffset + pt.dwSampleLength - (c.end_ms * RATE) / 1000) <= 1, `region ${i} end`);
          assert.equal(pt.dwPurposeID, 0x206e6772); // "rgn "
        } else assert.equal(pt.dwSampleLength, 0);
      });
      assert.equal(wf.bext.originator.replace(/\0+$/, ''), 'audiomus');
      const notes = wf.LIST.find((l) => l.format === 'adtl').subChunks.filter((s) => s.chunkId === 'note');
      assert.equal(notes.length, want.length);
    });

    test('guests: the same files while downloads are on, none (and no marked WAV) while off', async () => {
      const guest = new Client(srv);
      const gpath = `/api/v1/s/${p.link.token}/versions/${vid}/markers`;
      const ok = await get('format=audacity', guest, gpath);
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body, (await get('format=audacity')).body);
      const wr = await get('format=wav', guest, gpath);
      assert.equal(wr.status, 200);
      const url = JSON.parse(wr.body.toString()).url;
      assert.match(url, /\?l=/);
      assert.equal((await raw(srv, 'GET', pathOf(url), { Range: 'bytes=0-15' })).status, 200);
      const zurls = [];
      for (const path of [gpath, `/api/v1/s/${p.link.token}/markers`]) {
        const zr = await get('format=zip', guest, path);
        assert.equal(zr.status, 200);
        zurls.push(pathOf(JSON.parse(zr.body.toString()).url));
      }
      const gz = unzip((await raw(srv, 'GET', zurls[0], {}, undefined, { whole: true })).body);
      assert.ok(gz.files['markers.wav'].length > bytes.length, 'a guest\'s zip holds the marked WAV');
      assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: false })).status, 200);
      for (const u of zurls) assert.equal((await raw(srv, 'GET', u, {})).status, 403, 'the earlier zip URLs die');
      for (const q of ['format=audacity', 'format=wav', 'format=zip']) assert.equal((await get(q, guest, gpath)).status, 403, q);
      assert.equal((await get('format=zip', guest, `/api/v1/s/${p.link.token}/markers`)).status, 403);
      assert.equal((await raw(srv, 'GET', pathOf(url), {})).status, 403, 'the earlier marked-WAV URL dies');
      assert.equal((await get('format=wav')).status, 200, 'the owner still may');
      assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: true })).status, 200);
      const pz = await get('format=zip', guest, `/api/v1/s/${p.link.token}/markers`);
      assert.equal(pz.status, 200);
      assert.equal((await get('format=zip', guest, `/api/v1/s/${'A'.repeat(32)}/markers`)).status, 404);
    });

    // Each original decoded by ffmpeg's CLI in the PCM format of its decoder
    // (docs/media.md "Marked WAV"): FLAC 16-bit -> s16le, FLAC 24-bit ->
    // s24le, AIFF 16-bit -> s16le, MP3, AAC and Vorbis (float decoders) ->
    // f32le. SQLite only: the decode does not touch the database.
    if (backend === 'sqlite') test('non-WAV originals: a marked WAV decoded in the sandboxed child, audio byte-identical to ffmpeg, cues within ±1 sample (wavefile)', async () => {
      const src = wav(2, { rate: RATE, ch: 2 });
      const cases = [
        { name: 'a.flac', args: ['-c:a', 'flac', '-f', 'flac'], fmt: 's16le', tag: 1, bits: 16 },
        { name: 'b.flac', args: ['-af', 'aformat=sample_fmts=s32', '-c:a', 'flac', '-bits_per_raw_sample', '24', '-f', 'flac'], fmt: 's24le', tag: 1, bits: 24 },
        { name: 'c.mp3', args: ['-c:a', 'libmp3lame', '-b:a', '128k', '-f', 'mp3'], fmt: 'f32le', tag: 3, bits: 32 },
        { name: 'd.m4a', args: ['-c:a', 'aac', '-b:a', '128k', '-f', 'ipod'], fmt: 'f32le', tag: 3, bits: 32, file: true },
        { name: 'e.aiff', args: ['-c:a', 'pcm_s16be', '-f', 'aiff'], fmt: 's16le', tag: 1, bits: 16, file: true },
        { name: 'f.ogg', args: ['-c:a', 'libvorbis', '-q:a', '3', '-f', 'ogg'], fmt: 'f32le', tag: 3, bits: 32 },
      ];
      const tmp = fs.mkdtempSync('/tmp/am-markers-');
      const cs = [{ time_ms: 250 }, { time_ms: 1333, end_ms: 1900 }, { time_ms: 1999 }];
      // Encode and upload all, then wait for all (the worker's queue drains
      // while the next ones upload) and post their comments at once.
      for (const k of cases) {
        // MP4 and AIFF need a seekable output (sizes written at the end): a file.
        const out = k.file ? `${tmp}/${k.name}` : 'pipe:1';
        const enc = spawnSync('ffmpeg', ['-v', 'error', '-f', 'wav', '-i', 'pipe:0', ...k.args, out], { input: src, maxBuffer: 16 << 20 });
        assert.equal(enc.status, 0, enc.stderr?.toString());
        k.bytes = k.file ? fs.readFileSync(out) : enc.stdout;
        k.vid = (await uploadTrack(owner, p.id, k.bytes, { title: k.name, filename: k.name })).vid;
      }
      await Promise.all(cases.map(async (k) => {
        assert.equal((await waitVersion(owner, p.id, k.vid, { every: 250 })).state, 'ready', k.name);
        for (const c of cs) assert.equal((await owner.post(`/api/v1/projects/${p.id}/comments`, { version_id: k.vid, body: `at ${c.time_ms}, "q"`, ...c })).status, 201);
      }));
      for (const k of cases) {
        const fv = k.vid, enc = { stdout: k.bytes };
        const path = `/api/v1/projects/${p.id}/versions/${fv}/markers`;
        const r = await get('format=wav', owner, path);
        assert.equal(r.status, 200, r.body.toString());
        const w = await raw(srv, 'GET', pathOf(JSON.parse(r.body.toString()).url), { Range: 'bytes=0-15' }, undefined, { whole: true });
        assert.equal(w.status, 200, `${k.name}: ${w.body.toString().slice(0, 200)}`);
        assert.equal(Number(w.headers['content-length']), w.body.length);
        assert.equal(w.headers['accept-ranges'], 'none');
        assert.match(w.headers['content-disposition'], new RegExp(`filename="${k.name.split('.')[0]}-markers.wav"`));
        const plain = spawnSync('ffmpeg', ['-v', 'error', '-i', 'pipe:0', '-f', k.fmt, 'pipe:1'], { input: enc.stdout, maxBuffer: 64 << 20 });
        assert.equal(plain.status, 0);
        const wf = new WaveFile(w.body);
        assert.equal(wf.fmt.audioFormat, k.tag, k.name);
        assert.equal(wf.fmt.bitsPerSample, k.bits, k.name);
        assert.equal(wf.fmt.sampleRate, RATE);
        assert.equal(wf.fmt.numChannels, 2);
        assert.ok(Buffer.from(wf.data.samples).equals(plain.stdout), `${k.name}: audio identical to ffmpeg -f ${k.fmt} (${wf.data.samples.length} vs ${plain.stdout.length} bytes)`);
        assert.equal(w.body.readUInt32LE(4), w.body.length - 8, 'RIFF size');
        const pts = wf.listCuePoints();
        assert.equal(pts.length, cs.length);
        pts.forEach((pt, i) => {
          assert.ok(Math.abs(pt.dwSampleOffset - (cs[i].time_ms * RATE) / 1000) <= 1, `${k.name} cue ${i}`);
          assert.equal(pt.label, `owner: at ${cs[i].time_ms}, "q"`);
        });
        assert.ok(Math.abs(pts[1].dwSampleOffset + pts[1].dwSampleLength - (1900 * RATE) / 1000) <= 1, 'region length');
        assert.equal((await get('format=smf', owner, path)).status, 200);
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    // Last: thawing the frozen clock leaves the web role's clock seconds
    // ahead (it never goes back), and an upload right after this test was
    // once refused 403 at the media role (the upload URL's check): no
    // upload after it.
    test('guest marker exports are rate-limited per address (20 at once, then one per 3 s) with Retry-After', () => withFrozenClock(srv, async () => {
      const g = new Client(srv, { localAddress: '127.0.0.70' });
      const gpath = `/api/v1/s/${p.link.token}/versions/${vid}/markers`;
      for (let i = 0; i < 20; i++) assert.equal((await get('format=audacity', g, gpath)).status, 200, `export ${i + 1}`);
      const limited = await get('format=audacity', g, gpath);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers['retry-after'], '3');
      assert.match(JSON.parse(limited.body.toString()).error, /try again in 3 s/);
      // Another address still gets its files; this one after the wait.
      assert.equal((await get('format=audacity', new Client(srv, { localAddress: '127.0.0.71' }), gpath)).status, 200);
      srv.advance(3);
      assert.equal((await get('format=audacity', g, gpath)).status, 200);
    }));
  });
}

// A stored original that no longer decodes: the test build's hook
// AUDIOMUS_TEST_MARKED_TRUNCATE_PCT makes the media role hand the child the
// first half of every non-WAV original (a damaged upload never becomes
// ready: the worker decodes as strictly). The marked WAV and the version's
// zip are answered 422 with the transcoder's reason before any byte; the
// project's zip, already under way, carries a note for that track instead.
describe('markers: an original that does not decode (sqlite)', () => {
  let srv;
  before(async () => { srv = await startApi('sqlite', { hooks: true, env: { AUDIOMUS_TEST_MARKED_TRUNCATE_PCT: '50' } }); });
  after(async () => { await srv?.stop(); });

  test('marked WAV and zip: 422 with the reason before any byte; the project zip notes the missing WAV', async () => {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Damaged');
    const enc = spawnSync('ffmpeg', ['-v', 'error', '-f', 'wav', '-i', 'pipe:0', '-c:a', 'flac', '-f', 'flac', 'pipe:1'], { input: wav(1, { rate: RATE, ch: 2 }), maxBuffer: 16 << 20 });
    assert.equal(enc.status, 0);
    const { vid } = await uploadTrack(owner, p.id, enc.stdout, { title: 'Cut', filename: 'cut.flac' });
    assert.equal((await waitVersion(owner, p.id, vid)).state, 'ready');
    assert.equal((await owner.post(`/api/v1/projects/${p.id}/comments`, { version_id: vid, body: 'here', time_ms: 500 })).status, 201);
    const media = async (q, path = `/api/v1/projects/${p.id}/versions/${vid}/markers`) => {
      const r = await owner.get(`${path}?${q}`);
      assert.equal(r.status, 200, r.body);
      return raw(srv, 'GET', pathOf(r.json.url), {}, undefined, { whole: true });
    };
    for (const q of ['format=wav', 'format=zip']) {
      const r = await media(q);
      assert.equal(r.status, 422, q);
      assert.match(r.headers['content-type'], /application\/json/);
      assert.match(JSON.parse(r.body.toString()).error, /^the original could not be decoded: /, q);
    }
    const pz = await media('format=zip', `/api/v1/projects/${p.id}/markers`);
    assert.equal(pz.status, 200);
    const z = unzip(pz.body);
    assert.deepEqual(Object.keys(z.files).sort(), ['01-cut/markers-audacity.txt', '01-cut/markers-audition.csv',
      '01-cut/markers-reaper.csv', '01-cut/markers-wav-missing.txt', '01-cut/markers.mid']);
    assert.match(z.files['01-cut/markers-audacity.txt'].toString(), /\towner: here\n/);
  });
});
