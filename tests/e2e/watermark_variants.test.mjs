// Segment variants (issue 26, docs/watermark.md "Serving segment variants")
// through `audiomus watermark variants`: from 45 s of synthesised music,
// renditions A and B (every fragment bit 0 and 1) as AAC-LC MP4 files of one
// byte layout, and a listener's stream spliced from them by the media
// role's splice map (src/media/media_splice.c). A, B and the splice must be
// the same size with the same MP4 boxes (only access-unit bytes differ),
// decode without an error (FFmpeg's decoder with err_detect explode), last
// as long as A, and the splice must carry exactly the listener's payload,
// also after MP3 128 kbit/s; A alone and B alone carry none.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BIN } from './lib/server.mjs';
import { musicWav } from './lib/music.mjs';

const PAYLOAD = '5a17c0ffee0042d1';
let dir, info;
const at = (n) => path.join(dir, n);

function wm(args, okStatus = [0]) {
  const r = spawnSync(BIN, ['watermark', ...args], { encoding: 'utf8' });
  assert.ok(okStatus.includes(r.status), `watermark ${args.join(' ')}: status ${r.status}: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : null;
}

function ffmpeg(...args) {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr, '', `ffmpeg ${args.join(' ')} reported: ${r.stderr}`);
}

function duration(file) {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

// Decode with FFmpeg's AAC decoder, failing on any bitstream error.
function decode(mp4, wav) {
  ffmpeg('-err_detect', 'explode', '-i', at(mp4), at(wav));
  return at(wav);
}

const detect = (file) => wm(['detect', '--key-file', at('key'), file], [0, 1]);

describe('watermark: segment variants spliced at access units', () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-wmv-'));
    fs.writeFileSync(at('key'), Buffer.from(Array.from({ length: 32 }, () => Math.floor(Math.random() * 256))).toString('hex'), { mode: 0o600 });
    fs.writeFileSync(at('orig.wav'), musicWav(45, { seed: 11 }));
    info = wm(['variants', '--key-file', at('key'), '--payload', PAYLOAD, '--splice', at('S.mp4'),
      at('orig.wav'), at('A.mp4'), at('B.mp4')]);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('A, B and the splice share one byte layout and decode without errors', () => {
    const A = fs.readFileSync(at('A.mp4')), B = fs.readFileSync(at('B.mp4')), S = fs.readFileSync(at('S.mp4'));
    assert.equal(B.length, A.length);
    assert.equal(S.length, A.length);
    assert.equal(A.length, info.file_bytes);
    const dataAt = 44, dataEnd = dataAt + info.unit_bytes;
    assert.ok(A.subarray(0, dataAt).equals(B.subarray(0, dataAt)), 'ftyp, free and mdat header');
    assert.ok(A.subarray(dataEnd).equals(B.subarray(dataEnd)), 'the moov (stsz: every access unit the same size)');
    assert.ok(!A.subarray(dataAt, dataEnd).equals(B.subarray(dataAt, dataEnd)), 'A and B differ in their access units');
    assert.ok(info.splice_pieces > 10, `the splice alternates between A and B (${info.splice_pieces} pieces)`);
    for (const f of ['A', 'B', 'S']) decode(`${f}.mp4`, `${f}.wav`);
    const dA = duration(at('A.mp4'));
    assert.ok(Math.abs(dA - 45) < 0.001, `A lasts ${dA} s`);
    assert.equal(duration(at('S.mp4')), dA);
    assert.equal(duration(at('S.wav')), duration(at('A.wav')));
  });

  test('the splice carries exactly the payload, also after MP3; A and B alone carry none', () => {
    const r = detect(at('S.wav'));
    assert.equal(r.found, true, JSON.stringify(r));
    assert.equal(r.payload, PAYLOAD);
    ffmpeg('-i', at('S.mp4'), '-c:a', 'libmp3lame', '-b:a', '128k', at('S.mp3'));
    ffmpeg('-i', at('S.mp3'), at('S_mp3.wav'));
    const m = detect(at('S_mp3.wav'));
    assert.equal(m.found, true, JSON.stringify(m));
    assert.equal(m.payload, PAYLOAD);
    for (const f of ['A.wav', 'B.wav']) {
      const n = detect(at(f));
      assert.equal(n.found, false, `${f}: ${JSON.stringify(n)}`);
      assert.ok(n.tries > 0, 'the decision rule ran');
    }
  });
});
