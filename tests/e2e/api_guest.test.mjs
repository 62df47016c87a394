// The guest (review page) API behind a share link (docs/api.md "Guest"):
// one 404 for every dead link, the password gate and its signed cookie
// (attributes, tampering, expiry, other links, regeneration and password
// changes), the 100-failure lock, comments (markup comes back as data,
// rate limits with Retry-After, cross-project ids), and no raw IP address
// in the database or the logs after guests from several addresses.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion, withFrozenClock } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw } from './lib/server.mjs';

const PROJECT_PW = 'secret listening party';

// A project with one track and one version, ready for comments.
async function projectWithVersion(owner, title = 'Album') {
  const p = await newProject(owner, title);
  const tid = (await owner.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Track 1' })).json.track.id;
  const vid = (await owner.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 't.wav', size: 100 })).json.version.id;
  return { ...p, tid, vid, token: p.link.token };
}

function pwCookie(c) {
  return [...c.jar.keys()].find((k) => k.startsWith('__Host-am-pw-'));
}

for (const backend of BACKENDS) {
  describe(`guest API (${backend})`, () => {
    let srv;
    before(async () => { srv = await startApi(backend, { hooks: true }); }); // the test clock
    after(async () => { await srv?.stop(); });

    test('open a link: project, tracks, comments; unknown tokens are 404', async () => {
      const o = await newOwner(srv);
      const p = await projectWithVersion(o, 'Open Me');
      const g = new Client(srv);
      const r = await g.get(`/api/v1/s/${p.token}`);
      assert.equal(r.status, 200);
      assert.equal(r.json.project.title, 'Open Me');
      assert.equal(r.json.project.downloads, true);
      assert.equal(r.json.tracks[0].title, 'Track 1');
      assert.deepEqual(r.json.tracks[0].versions, [], 'versions still uploading are not shown');
      assert.deepEqual(r.json.comments, []);
      assert.ok(r.json.urls_expire > Date.now() / 1000);
      for (const t of ['short', 'A'.repeat(32), `${p.token.slice(0, 31)}!`, `${p.token}A`]) {
        const u = await g.get(`/api/v1/s/${encodeURIComponent(t)}`);
        assert.equal(u.status, 404, t);
        assert.deepEqual(u.json, { error: 'not found', status: 404 });
      }
      const urls = await g.get(`/api/v1/s/${p.token}/urls`);
      assert.equal(urls.status, 200);
      assert.equal((await g.get(`/api/v1/s/${p.token}/urls?version=${p.vid}`)).status, 404, 'not ready');
      // A ready version: two loads back to back (the second from the view
      // cache, very likely in the same expiry second) get URLs of their own
      // (a fresh nonce each, docs/security.md 2.4), and both sets play.
      const { vid } = await uploadTrack(o, p.id, wav(1), { title: 'Track 2', filename: 't2.wav' });
      assert.equal((await waitVersion(o, p.id, vid)).state, 'ready');
      const loads = [];
      for (let i = 0; i < 2; i++) {
        const l = await g.get(`/api/v1/s/${p.token}`);
        assert.equal(l.status, 200, l.body);
        loads.push(l.json);
      }
      const media = loads.map((l) => l.tracks.find((t) => t.title === 'Track 2').versions[0].media);
      const all = media.flatMap((m) => [m.stream, m.peaks, m.download]);
      assert.ok(all.every((u) => typeof u === 'string' && /&r=[0-9a-f]{32}&k=\d+&s=/.test(u)), all.join('\n'));
      assert.equal(new Set(all).size, all.length, 'every URL of the two loads differs');
      if (loads[0].urls_expire === loads[1].urls_expire) assert.equal(media[0].expires, media[1].expires);
      for (const m of media) {
        for (const k of ['stream', 'download']) assert.equal((await raw(srv, 'GET', pathOf(m[k]), { Range: 'bytes=0-15' })).status, 206, `${k} plays`);
        assert.equal((await raw(srv, 'GET', pathOf(m.peaks))).status, 200, 'peaks');
      }
    });

    // The heavy part of this answer is cached per node (src/api/api_view.c),
    // keyed by the project's content revision that database triggers raise:
    // every change an owner or another guest makes shows on the very next open.
    test('the review data is never stale: comments, resolve, delete, titles, downloads, deletion', async () => {
      const o = await newOwner(srv);
      const p = await projectWithVersion(o, 'Fresh');
      const g = new Client(srv);
      const open = async () => { const r = await g.get(`/api/v1/s/${p.token}`); assert.equal(r.status, 200); return r.json; };
      assert.deepEqual((await open()).comments, []);
      assert.deepEqual((await open()).comments, [], 'twice: now from the cache');
      const gc = await new Client(srv).post(`/api/v1/s/${p.token}/comments`, { name: 'Other', body: 'first', version_id: p.vid, time_ms: 10 });
      assert.equal(gc.status, 201);
      assert.deepEqual((await open()).comments.map((c) => c.body), ['first']);
      const cid = gc.json.comment.id;
      assert.equal((await o.post(`/api/v1/projects/${p.id}/comments`, { version_id: p.vid, body: 'reply', time_ms: 10, parent_id: cid })).status, 201);
      assert.equal((await open()).comments.length, 2);
      assert.equal((await o.patch(`/api/v1/projects/${p.id}/comments/${cid}`, { resolved: true })).status, 200);
      assert.equal((await open()).comments.find((c) => c.id === cid).resolved, true);
      assert.equal((await o.del(`/api/v1/projects/${p.id}/comments/${cid}`)).status, 204);
      assert.equal((await open()).comments.find((c) => c.id === cid)?.body ?? '', '');
      assert.equal((await o.patch(`/api/v1/projects/${p.id}/tracks/${p.tid}`, { title: 'Renamed' })).status, 200);
      assert.equal((await open()).tracks[0].title, 'Renamed');
      assert.equal((await o.patch(`/api/v1/projects/${p.id}`, { title: 'Fresh 2', downloads: false })).status, 200);
      const v = await open();
      assert.equal(v.project.title, 'Fresh 2');
      assert.equal(v.project.downloads, false);
      assert.equal((await o.del(`/api/v1/projects/${p.id}`, { confirm: 'Fresh 2' })).status, 204);
      assert.equal((await g.get(`/api/v1/s/${p.token}`)).status, 404);
    });

    test('password gate: cookie attributes, tampering, other links, regeneration, password change', async () => {
      const o = await newOwner(srv);
      const p = await projectWithVersion(o);
      const q = await projectWithVersion(o, 'Other');
      assert.equal((await o.put(`/api/v1/projects/${p.id}/password`, { password: PROJECT_PW })).status, 204);
      assert.equal((await o.put(`/api/v1/projects/${q.id}/password`, { password: PROJECT_PW })).status, 204);
      const g = new Client(srv);
      const gate = await g.get(`/api/v1/s/${p.token}`);
      assert.equal(gate.status, 401);
      assert.equal(gate.json.password_required, true);
      assert.ok(!gate.body.includes('Album'), 'nothing of the project before the password');
      assert.equal((await g.post(`/api/v1/s/${p.token}/comments`, { name: 'x', body: 'x', version_id: p.vid, time_ms: 0 })).status, 401);
      assert.equal((await g.post(`/api/v1/s/${p.token}/password`, {})).status, 400);
      const wrong = await g.post(`/api/v1/s/${p.token}/password`, { password: 'nope nope' });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.setCookies.length, 0);
      const ok = await g.post(`/api/v1/s/${p.token}/password`, { password: PROJECT_PW });
      assert.equal(ok.status, 200);
      const sc = ok.setCookies[0];
      assert.match(sc, new RegExp(`^__Host-am-pw-${p.link.id}=v1\\.`));
      for (const attr of ['Path=/', 'Secure', 'HttpOnly', 'SameSite=Strict', 'Max-Age=43200'])
        assert.ok(sc.split('; ').includes(attr), `${attr} in ${sc}`);
      assert.doesNotMatch(sc, /Domain=/i);
      assert.doesNotMatch(sc, new RegExp(PROJECT_PW), 'the cookie never holds the password');
      assert.equal((await g.get(`/api/v1/s/${p.token}`)).status, 200);
      const name = pwCookie(g);
      const value = g.jar.get(name);
      // Tampered MAC, generation or expiry: rejected.
      const parts = value.split('.');
      const tampered = [
        [...parts.slice(0, 5), `${parts[5].slice(0, -1)}${parts[5].endsWith('A') ? 'B' : 'A'}`].join('.'),
        [parts[0], parts[1], String(Number(parts[2]) + 3600), ...parts.slice(3)].join('.'),
        [parts[0], parts[1], parts[2], String(Number(parts[3]) + 1), ...parts.slice(4)].join('.'),
        'garbage',
      ];
      for (const v of tampered) {
        const t = new Client(srv);
        t.jar.set(name, v);
        assert.equal((await t.get(`/api/v1/s/${p.token}`)).status, 401, v);
      }
      // The cookie of p's link does nothing for q (another project), even renamed.
      const cross = new Client(srv);
      cross.jar.set(`__Host-am-pw-${q.link.id}`, value);
      cross.jar.set(name, value);
      assert.equal((await cross.get(`/api/v1/s/${q.token}`)).status, 401);
      // Expiry: 12 h.
      srv.advance(43200 + 5);
      assert.equal((await g.get(`/api/v1/s/${p.token}`)).status, 401, 'expired cookie');
      assert.equal((await g.post(`/api/v1/s/${p.token}/password`, { password: PROJECT_PW })).status, 200);
      assert.equal((await g.get(`/api/v1/s/${p.token}`)).status, 200);
      // Password change: the old cookie dies.
      const before1 = g.jar.get(name);
      assert.equal((await o.put(`/api/v1/projects/${p.id}/password`, { password: 'a new listening secret' })).status, 204);
      assert.equal((await g.get(`/api/v1/s/${p.token}`)).status, 401, 'cookie of the old password');
      assert.equal((await g.post(`/api/v1/s/${p.token}/password`, { password: PROJECT_PW })).status, 403);
      assert.equal((await g.post(`/api/v1/s/${p.token}/password`, { password: 'a new listening secret' })).status, 200);
      assert.notEqual(g.jar.get(name), before1);
      // Regeneration: the old link is 404; the old cookie does nothing for the new link.
      const oldCookie = g.jar.get(name);
      const regen = (await o.post(`/api/v1/projects/${p.id}/links/${p.link.id}/regenerate`)).json.link;
      assert.equal((await g.get(`/api/v1/s/${p.token}`)).status, 404);
      const again = new Client(srv);
      again.jar.set(name, oldCookie);
      assert.equal((await again.get(`/api/v1/s/${regen.token}`)).status, 401, 'old cookie, new generation');
      // Removing the password opens the project (and bumps the generation).
      assert.equal((await o.del(`/api/v1/projects/${p.id}/password`)).status, 204);
      assert.equal((await new Client(srv).get(`/api/v1/s/${regen.token}`)).status, 200);
      assert.equal((await new Client(srv).post(`/api/v1/s/${regen.token}/password`, { password: 'whatever it is' })).status, 409);
    });

    test('password attempts: per-address limit with Retry-After, 100 failures lock, owner reset', () => withFrozenClock(srv, async () => {
      const o = await newOwner(srv);
      const p = await projectWithVersion(o);
      await o.put(`/api/v1/projects/${p.id}/password`, { password: PROJECT_PW });
      const g = new Client(srv, { localAddress: '127.0.0.20' });
      for (let i = 0; i < 5; i++)
        assert.equal((await g.post(`/api/v1/s/${p.token}/password`, { password: 'wrong guess' })).status, 403);
      const limited = await g.post(`/api/v1/s/${p.token}/password`, { password: PROJECT_PW });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers['retry-after'], '10');
      assert.match(limited.json.error, /try again in 10 s/);
      // Another address still gets its own attempts.
      const h = new Client(srv, { localAddress: '127.0.0.21' });
      assert.equal((await h.post(`/api/v1/s/${p.token}/password`, { password: 'wrong guess' })).status, 403);
      // 100 consecutive failures (6 so far) lock the project.
      let n = 6;
      while (n < 100) {
        srv.advance(60);
        for (let i = 0; i < 5 && n < 100; i++, n++)
          assert.equal((await g.post(`/api/v1/s/${p.token}/password`, { password: 'wrong guess' })).status, 403, `failure ${n + 1}`);
      }
      srv.advance(60);
      const locked = await g.post(`/api/v1/s/${p.token}/password`, { password: PROJECT_PW });
      assert.equal(locked.status, 403);
      assert.match(locked.json.error, /stopped taking passwords/);
      assert.equal((await g.get(`/api/v1/s/${p.token}`)).json.locked, true);
      const proj = (await o.get(`/api/v1/projects/${p.id}`)).json.project;
      assert.equal(proj.password_locked, true);
      const events = (await o.get(`/api/v1/projects/${p.id}/events?limit=1000`)).json.events;
      assert.ok(events.some((e) => e.kind === 'password_locked'));
      assert.equal(events.filter((e) => e.kind === 'password_failed').length, 100);
      assert.ok(events.every((e) => !/127\.0\.0/.test(JSON.stringify(e))));
      // The owner resets the password: attempts are taken again.
      await o.put(`/api/v1/projects/${p.id}/password`, { password: 'fresh listening secret' });
      srv.advance(60);
      assert.equal((await g.post(`/api/v1/s/${p.token}/password`, { password: 'fresh listening secret' })).status, 200);
    }));

    test('comments: validation, markup comes back as data, cross-project ids are 404', async () => {
      const o = await newOwner(srv);
      const p = await projectWithVersion(o);
      const q = await projectWithVersion(o, 'B side');
      const g = new Client(srv, { localAddress: '127.0.0.30' });
      const base = { name: 'Ann', body: 'nice', version_id: p.vid, time_ms: 1500 };
      const post = (b) => g.post(`/api/v1/s/${p.token}/comments`, b);
      assert.equal((await post({ ...base, name: '' })).status, 400);
      assert.equal((await post({ ...base, name: 'x'.repeat(101) })).status, 400);
      assert.equal((await post({ ...base, name: 'a\nb' })).status, 400);
      assert.equal((await post({ ...base, body: 'x'.repeat(4097) })).status, 400);
      assert.equal((await post({ ...base, time_ms: -1 })).status, 400);
      assert.equal((await post({ ...base, end_ms: 1000 })).status, 400);
      assert.equal((await post({ ...base, version_id: 'zz' })).status, 400);
      // Project A's token with project B's version or parent: 404.
      assert.equal((await post({ ...base, version_id: q.vid })).status, 404);
      const qc = await new Client(srv).post(`/api/v1/s/${q.token}/comments`, { ...base, version_id: q.vid });
      assert.equal(qc.status, 201);
      assert.equal((await post({ ...base, parent_id: qc.json.comment.id })).status, 404);
      assert.equal((await g.get(`/api/v1/s/${p.token}/urls?version=${q.vid}`)).status, 404);
      const xss = { ...base, name: '<img src=x onerror=alert(1)>', body: '<script>alert("x")</script> & "quotes"', end_ms: 2500 };
      const c = await post(xss);
      assert.equal(c.status, 201, c.body);
      assert.equal(c.headers['content-type'], 'application/json');
      assert.equal(c.json.comment.author, xss.name);
      assert.equal(c.json.comment.body, xss.body);
      assert.equal(c.json.comment.end_ms, 2500);
      assert.equal(c.json.comment.guest_id, undefined, 'guests do not see guest ids');
      const reply = await post({ ...base, body: 'agreed', parent_id: c.json.comment.id });
      assert.equal(reply.status, 201);
      const page = await g.get(`/api/v1/s/${p.token}`);
      const bodies = page.json.comments.map((x) => x.body);
      assert.deepEqual(bodies.sort(), ['<script>alert("x")</script> & "quotes"', 'agreed'].sort());
      assert.ok(!page.body.includes('B side'), 'nothing of project B');
      // The owner sees them too, as data.
      const own = (await o.get(`/api/v1/projects/${p.id}/comments`)).json.comments;
      assert.ok(own.some((x) => x.author === xss.name));
    });

    test('comment rate limits: per (project, address) and per project, with Retry-After', () => withFrozenClock(srv, async () => {
      const o = await newOwner(srv);
      const p = await projectWithVersion(o);
      const body = { name: 'Bo', body: 'hm', version_id: p.vid, time_ms: 0 };
      // Per project: a burst of 100 (from many addresses), then one per 3 s.
      // Real time passes while the burst is sent, so a few more may pass.
      const t0 = Date.now();
      let accepted = 0, full;
      for (let a = 50; a < 70 && !full; a++) {
        const g = new Client(srv, { localAddress: `127.0.0.${a}` });
        for (let i = 0; i < 10; i++) {
          const rr = await g.post(`/api/v1/s/${p.token}/comments`, body);
          if (rr.status === 429) { full = rr; break; }
          assert.equal(rr.status, 201);
          accepted++;
        }
      }
      const slack = Math.ceil((Date.now() - t0) / 3000) + 1;
      assert.ok(full, 'the project limit was hit');
      assert.ok(accepted >= 100 && accepted <= 100 + slack, `accepted ${accepted}`);
      const wait = Number(full.headers['retry-after']);
      assert.ok(wait >= 1 && wait <= 3, `retry-after ${wait}`);
      // Per (project, address): 10 at once, then one per 10 s.
      const q = await projectWithVersion(o, 'Second');
      const qb = { ...body, version_id: q.vid };
      const g = new Client(srv, { localAddress: '127.0.0.40' });
      for (let i = 0; i < 10; i++)
        assert.equal((await g.post(`/api/v1/s/${q.token}/comments`, qb)).status, 201, `comment ${i + 1}`);
      const r = await g.post(`/api/v1/s/${q.token}/comments`, qb);
      assert.equal(r.status, 429);
      assert.equal(r.headers['retry-after'], '10');
      assert.match(r.json.error, /try again in 10 s/);
      // Another address is fine; after the wait this one is too.
      assert.equal((await new Client(srv, { localAddress: '127.0.0.41' }).post(`/api/v1/s/${q.token}/comments`, qb)).status, 201);
      srv.advance(10);
      assert.equal((await g.post(`/api/v1/s/${q.token}/comments`, qb)).status, 201);
    }));

    if (backend === 'sqlite') {
      test('no raw IP address in the database or the logs after guests from several addresses', async () => {
        const o = await newOwner(srv);
        const p = await projectWithVersion(o);
        await o.put(`/api/v1/projects/${p.id}/password`, { password: PROJECT_PW });
        const addrs = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
        for (const a of addrs) {
          const g = new Client(srv, { localAddress: a });
          await g.post(`/api/v1/s/${p.token}/password`, { password: 'wrong one!' });
          await g.post(`/api/v1/s/${p.token}/password`, { password: PROJECT_PW });
          await g.get(`/api/v1/s/${p.token}`);
          assert.equal((await g.post(`/api/v1/s/${p.token}/comments`, { name: `Guest ${a}`, body: 'hi', version_id: p.vid, time_ms: 0 })).status, 201);
        }
        const files = fs.readdirSync(srv.dataDir).filter((f) => f.startsWith('audiomus.db'));
        assert.ok(files.length >= 1);
        const logs = JSON.stringify(srv.logs);
        for (const a of addrs) {
          const bin = Buffer.from(a.split('.').map(Number));
          for (const f of files) {
            const data = fs.readFileSync(path.join(srv.dataDir, f));
            assert.equal(data.indexOf(Buffer.from(a)), -1, `${a} as text in ${f}`);
            assert.equal(data.indexOf(bin), -1, `${a} as bytes in ${f}`);
          }
          assert.ok(!logs.includes(a), `${a} in the logs`);
        }
        // Guest names are stored encrypted: not in the file in clear either.
        for (const f of files)
          assert.equal(fs.readFileSync(path.join(srv.dataDir, f)).indexOf(Buffer.from('Guest 127')), -1);
      });
    }
  });
}
