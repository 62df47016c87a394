// Black-box tests of the listener mark's payload map (issue 26, docs/api.md
// "Listener marks"): the owner's settings (off by default, strength 0.2,
// marked downloads on; bounded; owner only), and the guest's mark ticket:
// refused while marking is off; one mark row per (link, guest session),
// made at the first request and the same at every later one (two first
// requests at once included); eight
// listeners get eight different rows; a guest can neither name a row (the
// API takes no id) nor turn one ticket into another (a changed ticket is not
// one); another link is another listening; the database holds no name in
// clear. Runs on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi } from './lib/api.mjs';

// "mt1.KID.EXPIRY.PROJECT.LINK.MARK.MAC" -> its fields.
const fields = (t) => {
  const [v, kid, exp, project, link, mark, mac] = t.split('.');
  return { v, kid, exp, project, link, mark, mac };
};

// Each guest from its own loopback address: the per-address rate limit
// (burst 20) is not what this file tests.
let addr = 10;
const guest = (srv) => new Client(srv, { localAddress: `127.0.0.${addr++}` });

for (const backend of BACKENDS) test(`mark: settings, one ticket per listening, never another's (${backend})`, async () => {
  const srv = await startApi(backend);
  try {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Marked EP');
    const base = `/api/v1/projects/${p.id}/mark`;
    const token = p.link.token;
    const ask = (c, name, t = token) => c.post(`/api/v1/s/${t}/mark`, { name });

    // Settings: defaults, bounds, owner only.
    let r = await owner.get(base);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.mark, { on: false, strength: 0.2, downloads: true, strength_min: 0.05, strength_max: 0.6, listeners: 0 });
    for (const bad of [{ strength: 0.7 }, { strength: 0.01 }, { strength: '0.3' }, { on: 'yes' }]) {
      assert.equal((await owner.put(base, bad)).status, 400, JSON.stringify(bad));
    }
    const stranger = new Client(srv);
    assert.equal((await stranger.get(base)).status, 401);
    const other = await newOwner(srv);
    assert.equal((await other.put(base, { on: true })).status, 404);

    // Off: no ticket.
    const g0 = guest(srv);
    r = await ask(g0, 'Early');
    assert.equal(r.status, 409, r.body);

    r = await owner.put(base, { on: true, strength: 0.3 });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.mark.on, true);
    assert.equal(r.json.mark.strength, 0.3);
    assert.equal(r.json.mark.downloads, true);

    // A name is required.
    assert.equal((await ask(g0, '')).status, 400);
    assert.equal((await ask(g0, 'a\u0001b')).status, 400);

    // Eight listeners: eight rows; each asks twice and gets its own row again.
    const guests = [];
    const marks = new Set();
    for (let i = 0; i < 8; i++) {
      const g = guest(srv);
      const a = await ask(g, `Listener ${i}`);
      assert.equal(a.status, 200, a.body);
      const t = fields(a.json.ticket);
      assert.equal(t.v, 'mt1');
      assert.equal(t.project, p.id);
      assert.equal(t.link, p.link.id);
      assert.ok(a.json.expires > Date.now() / 1000);
      assert.ok(!a.json.payload, 'the payload never leaves the server');
      const again = await ask(g, `Listener ${i} renamed`);
      assert.equal(again.status, 200);
      assert.equal(fields(again.json.ticket).mark, t.mark, 'same listening, same row');
      marks.add(t.mark);
      guests.push(g);
    }
    assert.equal(marks.size, 8);
    r = await owner.get(base);
    assert.equal(r.json.mark.listeners, 8);

    // A guest cannot choose a row: ids in the body are ignored (the row is the
    // session's), and a forged session cookie is a new listening, not another's.
    const mine = fields((await guests[0].post(`/api/v1/s/${token}/mark`, { name: 'x', mark_id: [...marks][1] })).json.ticket).mark;
    assert.equal(mine, [...marks][0]);
    const forger = guest(srv);
    const [cookieName] = [...guests[1].jar.keys()].filter((k) => k.startsWith('__Host-am-gs-'));
    assert.ok(cookieName, 'the guest-session cookie was set');
    forger.jar.set(cookieName, 'A'.repeat(43));
    const forged = fields((await ask(forger, 'Forger')).json.ticket).mark;
    assert.ok(!marks.has(forged), 'a forged session gets its own row');

    // Two first requests of one listening at once (the same new cookie in two
    // connections): one row, both answers name it.
    const [c1, c2] = [guest(srv), guest(srv)];
    for (const c of [c1, c2]) c.jar.set(cookieName, `${'B'.repeat(42)}A`);
    const both = await Promise.all([ask(c1, 'Racer'), ask(c2, 'Racer')]);
    assert.deepEqual(both.map((x) => x.status), [200, 200]);
    assert.equal(fields(both[0].json.ticket).mark, fields(both[1].json.ticket).mark, 'one row for one listening');
    assert.ok(!marks.has(fields(both[0].json.ticket).mark));

    // Another link of the project is another listening.
    const l2 = await owner.post(`/api/v1/projects/${p.id}/links`, { label: 'Second link' });
    assert.equal(l2.status, 201, l2.body);
    const viaL2 = await ask(guests[2], 'Listener 2', l2.json.link.token);
    assert.equal(viaL2.status, 200);
    assert.equal(fields(viaL2.json.ticket).link, l2.json.link.id);
    assert.ok(!marks.has(fields(viaL2.json.ticket).mark));

    // Another project's link cannot reach this project's rows.
    const q = await newProject(owner, 'Unmarked EP');
    assert.equal((await ask(guests[3], 'Listener 3', q.link.token)).status, 409);

    // The database holds no reviewer name in clear (SQLite: the files).
    if (backend === 'sqlite') {
      const files = fs.readdirSync(srv.dataDir, { recursive: true }).map((f) => path.join(srv.dataDir, f))
        .filter((f) => /\.(db|sqlite)(-wal)?$/.test(f) || /audiomus\.db/.test(f));
      assert.ok(files.length > 0, 'found the database files');
      for (const f of files) assert.ok(!fs.readFileSync(f).includes('Listener 5'), `${f} holds a name in clear`);
    }
  } finally {
    await srv.stop();
  }
});
