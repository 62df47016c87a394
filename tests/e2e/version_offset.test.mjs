// Black-box test of the A/B alignment (issue 22, docs/transcoding.md
// "Alignment"): the worker lines each new version of a track up with the
// previous ready one. v1 is a 10 s song ("first": 0); v2 the same after 3 s
// of silence (+3000 ms against v1, 3000 on the track's timeline); v3 the
// same after 1.2 s of noise, at 48 kHz and 6 dB louder (-1800 ms against
// v2, 1200 on the timeline); v4 another song (unmatched: offset 0, the
// timeline place of v3). The guest's review page carries the same fields.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadVersion, waitVersion } from './lib/api.mjs';
import { song } from './lib/abaudio.mjs';

const near = (got, want, what) => assert.ok(Math.abs(got - want) <= 25, `${what}: ${got} ms, want ${want} ± 25`);

for (const backend of BACKENDS) test(`version offsets: known intros found, an unrelated version unmatched (${backend})`, async () => {
  const srv = await startApi(backend);
  try {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'AB EP');
    const tid = (await owner.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Song' })).json.track.id;
    const vs = [];
    for (const bytes of [song(10), song(10, { intro: 3 }), song(10, { intro: 1.2, noise: true, gainDb: 6, rate: 48000 }), song(10, { seed: 99 })]) {
      const vid = await uploadVersion(owner, p.id, tid, bytes);
      const v = await waitVersion(owner, p.id, vid); // one at a time: each has its previous ready
      assert.equal(v.state, 'ready', JSON.stringify(v));
      vs.push(v);
    }
    assert.deepEqual([vs[0].offset_match, vs[0].offset_ms, vs[0].sync_ms], ['first', 0, 0]);
    assert.equal(vs[1].offset_match, 'matched');
    near(vs[1].offset_ms, 3000, 'v2 against v1');
    near(vs[1].sync_ms, 3000, 'v2 on the timeline');
    assert.equal(vs[2].offset_match, 'matched');
    near(vs[2].offset_ms, -1800, 'v3 against v2');
    near(vs[2].sync_ms, 1200, 'v3 on the timeline');
    assert.ok(vs[2].loudness_lufs - vs[1].loudness_lufs > 5, `v3 is 6 dB louder: ${vs[2].loudness_lufs} vs ${vs[1].loudness_lufs}`);
    assert.equal(vs[3].offset_match, 'unmatched');
    assert.equal(vs[3].offset_ms, 0);
    assert.equal(vs[3].sync_ms, vs[2].sync_ms);
    const lines = srv.logs.filter((l) => l.event === 'align_done');
    assert.equal(lines.length, 4, 'one align_done per version');
    console.log(`# offsets: ${JSON.stringify(vs.map((v) => [v.offset_match, v.offset_ms, v.sync_ms]))}; corr ${lines.map((l) => l.corr)}`);

    // The guest sees the same.
    const g = new Client(srv);
    const r = await g.get(`/api/v1/s/${p.link.token}`);
    assert.equal(r.status, 200);
    const gv = r.json.tracks[0].versions.sort((a, b) => a.number - b.number);
    assert.deepEqual(gv.map((v) => [v.offset_match, v.sync_ms]), vs.map((v) => [v.offset_match, v.sync_ms]));
  } finally {
    await srv.stop();
  }
});
