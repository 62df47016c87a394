// The owner's track order (docs/api.md "Tracks": PUT /api/v1/projects/{id}/
// tracks/order) and the public server facts the signed-out pages read
// (GET /api/v1/server). The order is all or nothing: a list with a track
// missing, one named twice, one of another project (even the owner's own)
// or not an id changes nothing; the guests' review page lists the tracks in
// the new order at once (its cached answer follows the project revision).
// Both engines.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi } from './lib/api.mjs';

for (const backend of BACKENDS) {
  describe(`track order and server facts (${backend})`, () => {
    let srv;
    before(async () => { srv = await startApi(backend); });
    after(async () => { await srv?.stop(); });

    const ids = async (o, pid) => (await o.get(`/api/v1/projects/${pid}`)).json.project.tracks
      .sort((a, b) => a.position - b.position).map((t) => t.id);

    test('PUT tracks/order: the whole order at once, or nothing', async () => {
      const o = await newOwner(srv);
      const p = await newProject(o, 'Order');
      const t = [];
      for (const title of ['One', 'Two', 'Three']) t.push((await o.post(`/api/v1/projects/${p.id}/tracks`, { title })).json.track.id);
      assert.deepEqual(await ids(o, p.id), t);
      const guest = new Client(srv);
      const before1 = await guest.get(`/api/v1/s/${p.link.token}`);
      assert.equal(before1.status, 200, before1.body);
      assert.deepEqual(before1.json.tracks.map((x) => x.id), t);

      const url = `/api/v1/projects/${p.id}/tracks/order`;
      const want = [t[2], t[0], t[1]];
      const r = await o.put(url, { track_ids: want });
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(r.json.tracks.map((x) => x.id), want);
      assert.deepEqual(r.json.tracks.map((x) => x.position), [0, 1, 2]);
      assert.deepEqual(await ids(o, p.id), want);
      const g = await guest.get(`/api/v1/s/${p.link.token}`);
      assert.deepEqual(g.json.tracks.map((x) => x.id), want, 'guests see the new order at once');

      // Refused, and nothing moves.
      const other = await newProject(o, 'Other');
      const foreign = (await o.post(`/api/v1/projects/${other.id}/tracks`, { title: 'Elsewhere' })).json.track.id;
      const bad = [
        [],
        [t[0], t[1]], // incomplete
        [t[1], t[0], t[2], foreign], // one of another project
        [t[1], t[0], foreign], // a foreign one in place of one of ours
        [t[1], t[1], t[0]], // twice
        [t[1], t[0], 'nope'],
        [t[1], t[0], 7],
      ];
      for (const track_ids of bad) {
        const b = await o.put(url, { track_ids });
        assert.equal(b.status, 400, `${JSON.stringify(track_ids)}: ${b.body}`);
        assert.match(b.json.error, /track_ids/);
      }
      assert.equal((await o.put(url, {})).status, 400);
      assert.equal((await o.put(url, { track_ids: 'x' })).status, 400);
      assert.deepEqual(await ids(o, p.id), want, 'a refused order changes nothing');
      assert.deepEqual(await ids(o, other.id), [foreign]);

      // Another owner's project: 404; without the CSRF token: refused.
      const stranger = await newOwner(srv);
      assert.equal((await stranger.put(url, { track_ids: want })).status, 404);
      assert.equal((await o.put(url, { track_ids: t }, { csrf: false })).status, 403);
      assert.equal((await new Client(srv).put(url, { track_ids: t })).status, 401);
      assert.deepEqual(await ids(o, p.id), want);

      // A new track still goes after the last one.
      const four = (await o.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Four' })).json.track.id;
      assert.deepEqual(await ids(o, p.id), [...want, four]);
    });

    test('GET /api/v1/server: sign-up and e-mail, no session needed', async () => {
      const r = await new Client(srv).get('/api/v1/server');
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(r.json, { signup_open: false, mail_enabled: false });
      const s2 = await startApi(backend, { args: ['--set', 'signup_open=true'] });
      try {
        assert.deepEqual((await new Client(s2).get('/api/v1/server')).json, { signup_open: true, mail_enabled: false });
      } finally { await s2.stop(); }
    });
  });
}
