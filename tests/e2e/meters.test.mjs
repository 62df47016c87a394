// Black-box tests of the meters and refusals of issue 21 through a real
// upload (docs/api.md, docs/transcoding.md "Facts"): the owner's project and,
// once the owner shows loudness to reviewers (off by default: no meter at
// all), the guest's review page carry the loudness range and the rendition's
// true peak beside loudness and true peak; a figure the meter cannot give is null
// with a reason ("too short to measure", "silent"), a one-sample file still
// has its facts; a file over the rate or channel limit fails with the limit
// named; the worker's job_done line carries the child's peak memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';

const METERS = ['loudness_lufs', 'loudness_range_lu', 'true_peak_dbtp', 'stream_true_peak_dbtp'];

// The meters of v as [value, reason] pairs by name.
const meters = (v) => Object.fromEntries(METERS.map((k) => [k, [v[k], v[`${k}_reason`]]]));

async function ready(owner, pid, bytes, title) {
  const { vid } = await uploadTrack(owner, pid, bytes, { title });
  const v = await waitVersion(owner, pid, vid);
  assert.equal(v.state, 'ready', JSON.stringify(v));
  return v;
}

for (const backend of BACKENDS) test(`meters: range and rendition peak, short and silent say why, refusals name the limit (${backend})`, async () => {
  const srv = await startApi(backend);
  try {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Meters EP');

    // 8 s of 440 Hz, 4 s at -6 dBFS then 4 s at -26 dBFS: every figure is a number.
    const steps = wav(8, { sample: (i) => (i < 4 * 44100 ? 16384 : 1638) * Math.sin((2 * Math.PI * 440 * i) / 44100) });
    const v = await ready(owner, p.id, steps, 'Steps');
    for (const k of METERS) assert.equal(typeof v[k], 'number', `${k}: ${JSON.stringify(v)}`);
    assert.ok(v.loudness_range_lu > 5 && v.loudness_range_lu < 25, `LRA ${v.loudness_range_lu}`);
    assert.ok(Math.abs(v.true_peak_dbtp + 6) < 0.5, `true peak ${v.true_peak_dbtp}`);
    assert.ok(v.stream_true_peak_dbtp > -9 && v.stream_true_peak_dbtp < 0, `rendition ${v.stream_true_peak_dbtp}`);

    // 0.2 s of tone: a peak, but no loudness and no range.
    const short = await ready(owner, p.id, wav(0.2, { amp: 16384 }), 'Short');
    assert.deepEqual(meters(short).loudness_lufs, [null, 'too short to measure']);
    assert.deepEqual(meters(short).loudness_range_lu, [null, 'too short to measure']);
    assert.equal(typeof short.true_peak_dbtp, 'number');

    // Digital silence: no number anywhere, "silent" (not -70 LUFS / -200 dBTP).
    const silent = await ready(owner, p.id, wav(4, { sample: () => 0 }), 'Silence');
    for (const k of METERS) assert.deepEqual(meters(silent)[k], [null, 'silent'], k);

    // One sample: ready with its facts (0 ms long), too short to measure.
    const one = await ready(owner, p.id, wav(1 / 44100, { sample: () => 16384 }), 'One sample');
    assert.equal(one.sample_rate, 44100);
    assert.equal(one.channels, 2);
    assert.equal(one.duration_ms, 0);
    assert.deepEqual(meters(one).loudness_lufs, [null, 'too short to measure']);
    assert.ok(Math.abs(one.true_peak_dbtp + 6) < 0.5, `one sample ${one.true_peak_dbtp}`);

    // Over the limits: failed, and the owner reads which limit.
    for (const [bytes, why] of [
      [wav(0.1, { rate: 352800, ch: 1 }), 'sample rate 352.8 kHz is above the 192 kHz limit'],
      [wav(0.1, { ch: 10 }), '10 channels is above the 8-channel limit'],
    ]) {
      const { vid } = await uploadTrack(owner, p.id, bytes, { title: why });
      const f = await waitVersion(owner, p.id, vid);
      assert.equal(f.state, 'failed', JSON.stringify(f));
      assert.equal(f.error, why);
    }

    // Guests see no meter until the owner shows loudness to reviewers
    // (off by default): no figure, no reason, the other facts as before.
    const guest = new Client(srv);
    assert.equal(p.show_loudness, false);
    let g = await guest.get(`/api/v1/s/${p.link.token}`);
    assert.equal(g.status, 200, g.body);
    assert.equal(g.json.project.show_loudness, false);
    let gv = Object.fromEntries(g.json.tracks.map((t) => [t.title, t.versions[0]]));
    for (const t of ['Steps', 'Silence', 'Short']) {
      for (const k of METERS) {
        assert.ok(!(k in gv[t]) && !(`${k}_reason` in gv[t]), `${t} ${k}: ${JSON.stringify(gv[t])}`);
      }
      assert.equal(gv[t].sample_rate, 44100);
    }
    const on = await owner.patch(`/api/v1/projects/${p.id}`, { show_loudness: true });
    assert.equal(on.status, 200, on.body);
    assert.equal(on.json.project.show_loudness, true);
    assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { show_loudness: 'yes' })).status, 400);
    // On: the guest sees the same figures and reasons as the owner.
    g = await guest.get(`/api/v1/s/${p.link.token}`);
    assert.equal(g.status, 200, g.body);
    assert.equal(g.json.project.show_loudness, true);
    gv = Object.fromEntries(g.json.tracks.map((t) => [t.title, t.versions[0]]));
    assert.deepEqual(meters(gv.Steps), meters(v));
    assert.deepEqual(meters(gv.Silence), meters(silent));
    assert.deepEqual(meters(gv.Short), meters(short));
    // Off again: gone again (the review page's cache keyed on the flag).
    assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { show_loudness: false })).status, 200);
    g = await guest.get(`/api/v1/s/${p.link.token}`);
    assert.equal(g.json.project.show_loudness, false);
    assert.ok(!('loudness_lufs' in g.json.tracks[0].versions[0]), JSON.stringify(g.json.tracks[0].versions[0]));

    // Each successful job logged its child's peak memory.
    const done = srv.logs.filter((l) => l.event === 'job_done' && l.kind === 'transcode');
    assert.ok(done.length >= 4, `job_done lines: ${done.length}`);
    for (const l of done) assert.ok(Number(l.child_maxrss_kib) > 1024, JSON.stringify(l));
  } finally {
    await srv.stop();
  }
});
