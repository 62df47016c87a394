// Reviewer actions behind a share link (docs/api.md "Reviewer actions",
// issue 22): a guest edits or deletes their own comments from the same
// browser (the guest-session cookie) within 24 h, never anyone else's, never
// through another link or project, never with a forged id; a deleted comment
// with replies stays as a stub; the owner sees "edited"; guests cannot
// resolve; verdicts per version and reviewer, changeable, listed for the
// owner and the guest page; the new endpoints' size and rate limits.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject } from './lib/api.mjs';

async function projectWithVersion(owner, title = 'Album') {
  const p = await newProject(owner, title);
  const tid = (await owner.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Track 1' })).json.track.id;
  const vid = (await owner.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 't.wav', size: 100 })).json.version.id;
  return { ...p, tid, vid, token: p.link.token };
}

let addr = 10;
const guest = (srv) => new Client(srv, { localAddress: `127.0.3.${addr++}` });
const sessionCookie = (lid) => `__Host-am-gs-${lid}`;

for (const backend of BACKENDS) {
  describe(`reviewer actions (${backend})`, () => {
    let srv;
    before(async () => { srv = await startApiHooks(backend); });
    after(async () => { await srv?.stop(); });

    test('a guest edits and deletes their own comment; the owner sees "edited"; replies keep a stub', async () => {
      const o = await newOwner(srv);
      const p = await projectWithVersion(o);
      const g = guest(srv);
      const posted = await g.post(`/api/v1/s/${p.token}/comments`, { name: 'Ana', body: 'too loud', version_id: p.vid, time_ms: 1000 });
      assert.equal(posted.status, 201);
      const cid = posted.json.comment.id;
      assert.equal(posted.json.comment.edited, null);
      const sc = posted.setCookies.find((s) => s.startsWith(`${sessionCookie(p.link.id)}=`));
      assert.ok(sc, posted.setCookies.join('\n'));
      for (const a of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/', 'Max-Age=2592000']) assert.match(sc, new RegExp(a, 'i'), sc);
      assert.match(g.jar.get(sessionCookie(p.link.id)), /^[A-Za-z0-9_-]{43}$/);
      // The page learns which comments it may still change.
      const me = await g.get(`/api/v1/s/${p.token}/reviewer`);
      assert.equal(me.status, 200);
      assert.equal(me.json.edit_window_ms, 86400000);
      assert.deepEqual(me.json.mine.map((m) => m.id), [cid]);
      assert.equal(me.json.mine[0].editable_until, posted.json.comment.created + 86400000);
      assert.deepEqual((await guest(srv).get(`/api/v1/s/${p.token}/reviewer`)).json.mine, [], 'another browser has none');
      // Edit: new body, "edited" for the owner and the page.
      const ed = await g.patch(`/api/v1/s/${p.token}/comments/${cid}`, { body: 'a bit too loud <b>x</b>' });
      assert.equal(ed.status, 200, ed.body);
      assert.equal(ed.json.comment.body, 'a bit too loud <b>x</b>');
      assert.ok(ed.json.comment.edited >= ed.json.comment.created);
      const own = (await o.get(`/api/v1/projects/${p.id}/comments`)).json.comments.find((c) => c.id === cid);
      assert.equal(own.body, 'a bit too loud <b>x</b>');
      assert.equal(own.edited, ed.json.comment.edited);
      assert.equal((await g.get(`/api/v1/s/${p.token}`)).json.comments[0].edited, ed.json.comment.edited);
      // Size limits: empty, over 4096 bytes, not a string: 400, nothing changed.
      for (const body of ['', 'x'.repeat(4097), 7])
        assert.equal((await g.patch(`/api/v1/s/${p.token}/comments/${cid}`, { body })).status, 400, String(body).slice(0, 9));
      assert.equal((await o.get(`/api/v1/projects/${p.id}/comments`)).json.comments[0].body, 'a bit too loud <b>x</b>');
      // Delete with a reply: a stub stays, the reply too.
      const reply = await o.post(`/api/v1/projects/${p.id}/comments`, { body: 'noted', version_id: p.vid, time_ms: 1000, parent_id: cid });
      assert.equal(reply.status, 201);
      assert.equal((await g.del(`/api/v1/s/${p.token}/comments/${cid}`)).status, 204);
      const after1 = (await o.get(`/api/v1/projects/${p.id}/comments`)).json.comments;
      const stub = after1.find((c) => c.id === cid);
      assert.equal(stub.deleted, true);
      assert.equal(stub.body, '');
      assert.equal(after1.find((c) => c.id === reply.json.comment.id).body, 'noted');
      const pageList = (await g.get(`/api/v1/s/${p.token}`)).json.comments;
      assert.equal(pageList.find((c) => c.id === cid).deleted, true);
      // A deleted comment cannot be edited or deleted again.
      assert.equal((await g.patch(`/api/v1/s/${p.token}/comments/${cid}`, { body: 'back' })).status, 404);
      assert.equal((await g.del(`/api/v1/s/${p.token}/comments/${cid}`)).status, 404);
      assert.deepEqual((await g.get(`/api/v1/s/${p.token}/reviewer`)).json.mine, []);
      const ev = (await o.get(`/api/v1/projects/${p.id}/events`)).json.events.map((e) => e.kind);
      assert.ok(ev.includes('comment_edited') && ev.includes('comment_deleted'), ev.join());
    });

    test('refused: another browser, another link, another project, a forged id, the owner\'s comment, after 24 h; guests cannot resolve', async () => {
      const o = await newOwner(srv);
      const p = await projectWithVersion(o, 'First');
      const q = await projectWithVersion(o, 'Second');
      const link2 = (await o.post(`/api/v1/projects/${p.id}/links`, { label: 'second link' })).json.link;
      const g = guest(srv);
      const mk = async (token, vid, body) => (await g.post(`/api/v1/s/${token}/comments`, { name: 'Ana', body, version_id: vid, time_ms: 0 })).json.comment.id;
      const cid = await mk(p.token, p.vid, 'original');
      const qid = await mk(q.token, q.vid, 'in the second project');
      const ownerCid = (await o.post(`/api/v1/projects/${p.id}/comments`, { body: 'owner says', version_id: p.vid, time_ms: 0 })).json.comment.id;
      const value = g.jar.get(sessionCookie(p.link.id));
      const both = async (label, client, token, id, status) => {
        srv.advance(20); // two more tries of the per-address limit (10 at once, one per 10 s)
        const e = await client.patch(`/api/v1/s/${token}/comments/${id}`, { body: 'hijacked' });
        const d = await client.del(`/api/v1/s/${token}/comments/${id}`);
        assert.equal(e.status, status, `${label}: edit ${e.body}`);
        assert.equal(d.status, status, `${label}: delete ${d.body}`);
      };
      await both('another browser (no cookie)', guest(srv), p.token, cid, 403);
      const forged = guest(srv);
      forged.jar.set(sessionCookie(p.link.id), crypto.randomBytes(32).toString('base64url'));
      await both('another browser (forged cookie)', forged, p.token, cid, 403);
      const bad = guest(srv);
      bad.jar.set(sessionCookie(p.link.id), `${value.slice(0, 42)}!`);
      await both('a malformed cookie', bad, p.token, cid, 403);
      await both('another link of the project', g, link2.token, cid, 403);
      const moved = guest(srv);
      moved.jar.set(sessionCookie(link2.id), value);
      await both('the cookie under another link', moved, link2.token, cid, 403);
      await both('another project\'s link', g, q.token, cid, 404);
      await both('a comment of another project', g, p.token, qid, 404);
      await both('a forged comment id', g, p.token, crypto.randomBytes(16).toString('hex'), 404);
      await both('a malformed comment id', g, p.token, 'zz', 404);
      await both('the owner\'s comment', g, p.token, ownerCid, 403);
      await both('a dead token', g, `${p.token.slice(0, -1)}${p.token.endsWith('A') ? 'B' : 'A'}`, cid, 404);
      // Resolve stays owner-only: the guest route takes no "resolved", and
      // the owner route wants an owner session.
      const r = await g.patch(`/api/v1/s/${p.token}/comments/${cid}`, { body: 'original', resolved: true });
      assert.equal(r.status, 200);
      assert.equal(r.json.comment.resolved, false);
      assert.equal((await g.patch(`/api/v1/projects/${p.id}/comments/${cid}`, { resolved: true })).status, 401);
      // After the window: 403 for its own author too.
      srv.advance(86400 + 5);
      await both('after 24 h', g, p.token, cid, 403);
      assert.deepEqual((await g.get(`/api/v1/s/${p.token}/reviewer`)).json.mine, []);
      // Nothing changed by any of it.
      const list = (await o.get(`/api/v1/projects/${p.id}/comments`)).json.comments;
      assert.deepEqual(list.map((c) => [c.body, c.resolved, c.deleted]).sort(), [['original', false, false], ['owner says', false, false]]);
      assert.equal((await o.get(`/api/v1/projects/${q.id}/comments`)).json.comments[0].body, 'in the second project');
    });

    test('verdicts: per version and reviewer, changeable, for the owner and the page; limits', async () => {
      const o = await newOwner(srv);
      const p = await projectWithVersion(o, 'Verdicts');
      const q = await projectWithVersion(o, 'Elsewhere');
      const a = guest(srv), b = guest(srv);
      const put = (c, body, vid = p.vid, token = p.token) => c.put(`/api/v1/s/${token}/versions/${vid}/verdict`, body);
      const r1 = await put(a, { name: 'Ana', verdict: 'approved' });
      assert.equal(r1.status, 200, r1.body);
      assert.deepEqual(r1.json.verdict, { version_id: p.vid, name: 'Ana', verdict: 'approved', note: '' });
      assert.ok(a.jar.get(sessionCookie(p.link.id)), 'a verdict starts a guest session');
      assert.equal((await put(b, { name: 'Ben', verdict: 'changes_requested', note: 'vocals down 1 dB\nat 1:30' })).status, 200);
      // Ana changes her mind: still one verdict of hers.
      assert.equal((await put(a, { name: 'Ana', verdict: 'changes_requested', note: 'the ending' })).status, 200);
      const owner = await o.get(`/api/v1/projects/${p.id}/verdicts`);
      assert.equal(owner.status, 200);
      const byName = Object.fromEntries(owner.json.verdicts.map((v) => [v.name, v]));
      assert.equal(owner.json.verdicts.length, 2);
      assert.equal(byName.Ana.verdict, 'changes_requested');
      assert.equal(byName.Ana.note, 'the ending');
      assert.ok(byName.Ana.updated >= byName.Ana.created);
      assert.equal(byName.Ben.note, 'vocals down 1 dB\nat 1:30');
      assert.ok(owner.json.verdicts.every((v) => v.version_id === p.vid && !('mine' in v)));
      const page = (await a.get(`/api/v1/s/${p.token}/reviewer`)).json.verdicts;
      assert.deepEqual(page.map((v) => [v.name, v.mine]).sort(), [['Ana', true], ['Ben', false]]);
      assert.equal((await o.get(`/api/v1/projects/${q.id}/verdicts`)).json.verdicts.length, 0, 'per project');
      // Bad input: 400; a version of another project or a forged one: 404.
      for (const [label, body] of [['kind', { name: 'Ana', verdict: 'maybe' }], ['no name', { verdict: 'approved' }],
        ['long name', { name: 'x'.repeat(101), verdict: 'approved' }], ['long note', { name: 'Ana', verdict: 'approved', note: 'n'.repeat(1001) }],
        ['control', { name: 'A\u0007na', verdict: 'approved' }]])
        assert.equal((await put(a, body)).status, 400, label);
      assert.equal((await put(a, { name: 'Ana', verdict: 'approved' }, q.vid)).status, 404, 'another project\'s version');
      assert.equal((await put(a, { name: 'Ana', verdict: 'approved' }, crypto.randomBytes(16).toString('hex'))).status, 404);
      assert.equal((await o.get(`/api/v1/projects/${p.id}/verdicts`)).json.verdicts.find((v) => v.name === 'Ana').verdict, 'changes_requested', 'unchanged');
      // The owner's data export carries them (names and notes, no session hash).
      const ex = (await o.get('/api/v1/export')).json.projects.find((x) => x.id === p.id);
      assert.deepEqual(ex.verdicts.map((v) => [v.name, v.verdict, v.note]).sort(),
        [['Ana', 'changes_requested', 'the ending'], ['Ben', 'changes_requested', 'vocals down 1 dB\nat 1:30']]);
      assert.ok(ex.verdicts.every((v) => !('session_hash' in v) && !('mine' in v)));
      // A password-protected project: every new guest route wants the cookie.
      await o.put(`/api/v1/projects/${q.id}/password`, { password: 'listening party 22' });
      const locked = guest(srv);
      for (const [m, path, body] of [['GET', 'reviewer'], ['PUT', `versions/${q.vid}/verdict`, { name: 'Ana', verdict: 'approved' }],
        ['PATCH', `comments/${crypto.randomBytes(16).toString('hex')}`, { body: 'x' }], ['DELETE', `comments/${crypto.randomBytes(16).toString('hex')}`]]) {
        const rr = await locked.req(m, `/api/v1/s/${q.token}/${path}`, body);
        assert.equal(rr.status, 401, `${m} ${path}`);
        assert.equal(rr.json.password_required, true);
      }
      assert.equal((await o.get(`/api/v1/projects/${q.id}/verdicts`)).json.verdicts.length, 0);
      // The owner's list needs the owner.
      assert.equal((await a.get(`/api/v1/projects/${p.id}/verdicts`)).status, 401);
      assert.equal((await (await newOwner(srv)).get(`/api/v1/projects/${p.id}/verdicts`)).status, 404);
      // Rate limit, the guest comment limit per (project, address): 10 at once.
      const c = guest(srv);
      for (let i = 0; i < 10; i++) assert.equal((await put(c, { name: 'Cy', verdict: 'approved' })).status, 200, `verdict ${i + 1}`);
      const lim = await put(c, { name: 'Cy', verdict: 'approved' });
      assert.equal(lim.status, 429);
      // One per 10 s after the burst: 10 s, less the real time the burst took.
      const wait = Number(lim.headers['retry-after']);
      assert.ok(wait >= 1 && wait <= 10, `retry-after ${wait}`);
      // It is the same bucket as comments and edits.
      assert.equal((await c.post(`/api/v1/s/${p.token}/comments`, { name: 'Cy', body: 'x', version_id: p.vid, time_ms: 0 })).status, 429);
      assert.equal((await c.patch(`/api/v1/s/${p.token}/comments/${crypto.randomBytes(16).toString('hex')}`, { body: 'x' })).status, 429);
    });
  });
}

async function startApiHooks(backend) {
  const { startApi } = await import('./lib/api.mjs');
  return startApi(backend, { hooks: true }); // the test clock (the 24 h window)
}
