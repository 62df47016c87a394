// Owner side of the JSON API (docs/api.md "Projects" … "Export"): projects,
// share links, project password, downloads toggle, tracks and uploads,
// owner comment workflow, events, export, the owner's own playback URLs, and
// the IDOR matrix: every endpoint that takes an id answers 404 (never data)
// for another owner's id.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadVersion, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw } from './lib/server.mjs';

for (const backend of BACKENDS) {
  describe(`projects, links, tracks, comments (${backend})`, () => {
    let srv;
    before(async () => { srv = await startApi(backend, { hooks: true }); }); // the test clock
    after(async () => { await srv?.stop(); });

    test('projects: create (private, downloads on, default link), list, get, patch, delete', async () => {
      const o = await newOwner(srv);
      assert.equal((await o.post('/api/v1/projects', {})).status, 400);
      assert.equal((await o.post('/api/v1/projects', { title: '' })).status, 400);
      const p = await newProject(o, 'First <b>EP</b>');
      assert.match(p.id, /^[0-9a-f]{32}$/);
      assert.equal(p.title, 'First <b>EP</b>');
      assert.equal(p.downloads, true);
      assert.equal(p.has_password, false);
      assert.equal(p.link.is_default, true);
      assert.match(p.link.token, /^[A-Za-z0-9_-]{32}$/);
      assert.equal(p.link.url, `${srv.origin}/s/${p.link.token}`);
      const list = await o.get('/api/v1/projects');
      assert.deepEqual(list.json.projects.map((x) => x.id), [p.id]);
      assert.equal(list.json.projects[0].link, undefined, 'tokens are not listed');
      const got = await o.get(`/api/v1/projects/${p.id}`);
      assert.equal(got.status, 200);
      assert.deepEqual(got.json.project.tracks, []);
      const ren = await o.patch(`/api/v1/projects/${p.id}`, { title: 'Renamed' });
      assert.equal(ren.json.project.title, 'Renamed');
      const off = await o.patch(`/api/v1/projects/${p.id}`, { downloads: false });
      assert.equal(off.json.project.downloads, false);
      assert.equal((await o.patch(`/api/v1/projects/${p.id}`, {})).status, 400);
      assert.equal((await o.patch(`/api/v1/projects/${p.id}`, { downloads: 'no' })).status, 400);
      const noConfirm = await o.del(`/api/v1/projects/${p.id}`, {});
      assert.equal(noConfirm.status, 400);
      const wrongConfirm = await o.del(`/api/v1/projects/${p.id}`, { confirm: 'renamed' });
      assert.equal(wrongConfirm.status, 400);
      assert.match(wrongConfirm.json.error, /irreversible/);
      assert.equal((await o.del(`/api/v1/projects/${p.id}`, { confirm: 'Renamed' })).status, 204);
      assert.equal((await o.get(`/api/v1/projects/${p.id}`)).status, 404);
      assert.deepEqual((await o.get('/api/v1/projects')).json.projects, []);
      assert.equal((await new Client(srv).get(`/api/v1/s/${p.link.token}`)).status, 404);
      const ev = (await o.get(`/api/v1/projects/${p.id}/events`));
      assert.equal(ev.status, 404, 'a deleted project is gone for its owner too');
      assert.equal((await o.get('/api/v1/projects/not-an-id')).status, 404);
    });

    test('share links: extra named links, expiry, regenerate, revoke', async () => {
      const o = await newOwner(srv);
      const p = await newProject(o);
      const g = new Client(srv);
      const named = await o.post(`/api/v1/projects/${p.id}/links`, { label: 'For Alice', expires_in_s: 3600 });
      assert.equal(named.status, 201);
      const l = named.json.link;
      assert.equal(l.label, 'For Alice');
      assert.equal(l.is_default, false);
      assert.ok(l.expires > 0);
      assert.equal((await g.get(`/api/v1/s/${l.token}`)).status, 200);
      assert.equal((await o.post(`/api/v1/projects/${p.id}/links`, {})).status, 400);
      assert.equal((await o.post(`/api/v1/projects/${p.id}/links`, { label: 'x', expires_in_s: 5 })).status, 400);
      const links = await o.get(`/api/v1/projects/${p.id}/links`);
      assert.equal(links.json.links.length, 2);
      // The owner's list shows each live link's current token and URL (share_link.test.mjs).
      assert.equal(links.json.links.find((x) => x.id === l.id).url, l.url);
      assert.equal(links.json.links.find((x) => x.is_default).token, p.link.token);
      // Regenerate the default link: the old token is the same 404 as an unknown one.
      const unknown = await g.get(`/api/v1/s/${'A'.repeat(32)}`);
      const regen = await o.post(`/api/v1/projects/${p.id}/links/${p.link.id}/regenerate`);
      assert.equal(regen.status, 200);
      assert.notEqual(regen.json.link.token, p.link.token);
      assert.equal(regen.json.link.generation, p.link.generation + 1);
      const old = await g.get(`/api/v1/s/${p.link.token}`);
      assert.equal(old.status, 404);
      assert.deepEqual(old.json, unknown.json);
      assert.equal((await g.get(`/api/v1/s/${regen.json.link.token}`)).status, 200);
      // Revoke: the named link dies; the default one cannot be revoked.
      assert.equal((await o.del(`/api/v1/projects/${p.id}/links/${p.link.id}`)).status, 409);
      assert.equal((await o.del(`/api/v1/projects/${p.id}/links/${l.id}`)).status, 204);
      const revoked = await g.get(`/api/v1/s/${l.token}`);
      assert.equal(revoked.status, 404);
      assert.deepEqual(revoked.json, unknown.json);
      assert.equal((await o.post(`/api/v1/projects/${p.id}/links/${l.id}/regenerate`)).status, 409);
      // Expiry.
      const short = (await o.post(`/api/v1/projects/${p.id}/links`, { label: 'short', expires_in_s: 60 })).json.link;
      assert.equal((await g.get(`/api/v1/s/${short.token}`)).status, 200);
      srv.advance(61);
      const expired = await g.get(`/api/v1/s/${short.token}`);
      assert.equal(expired.status, 404);
      assert.deepEqual(expired.json, unknown.json);
      const kinds = (await o.get(`/api/v1/projects/${p.id}/events`)).json.events.map((e) => e.kind);
      for (const k of ['link_created', 'link_regenerated', 'link_revoked', 'page_open'])
        assert.ok(kinds.includes(k), `${k} in ${kinds}`);
    });

    test('project password: set, change, remove (owner side) and events', async () => {
      const o = await newOwner(srv);
      const p = await newProject(o);
      assert.equal((await o.put(`/api/v1/projects/${p.id}/password`, { password: 'short' })).status, 400);
      assert.equal((await o.put(`/api/v1/projects/${p.id}/password`, {})).status, 400);
      assert.equal((await o.del(`/api/v1/projects/${p.id}/password`)).status, 404);
      assert.equal((await o.put(`/api/v1/projects/${p.id}/password`, { password: 'listen closely' })).status, 204);
      assert.equal((await o.get(`/api/v1/projects/${p.id}`)).json.project.has_password, true);
      assert.equal((await o.put(`/api/v1/projects/${p.id}/password`, { password: 'listen again please' })).status, 204);
      assert.equal((await o.del(`/api/v1/projects/${p.id}/password`)).status, 204);
      assert.equal((await o.get(`/api/v1/projects/${p.id}`)).json.project.has_password, false);
      const kinds = (await o.get(`/api/v1/projects/${p.id}/events?limit=10`)).json.events.map((e) => e.kind);
      assert.deepEqual(kinds.slice(0, 3), ['password_removed', 'password_changed', 'password_set']);
      assert.equal((await o.get(`/api/v1/projects/${p.id}/events?limit=0`)).status, 400);
    });

    test('tracks and uploads', async () => {
      const o = await newOwner(srv);
      const p = await newProject(o);
      const t = await o.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Intro', position: 1 });
      assert.equal(t.status, 201);
      const tid = t.json.track.id;
      assert.equal((await o.post(`/api/v1/projects/${p.id}/tracks`, {})).status, 400);
      const ren = await o.patch(`/api/v1/projects/${p.id}/tracks/${tid}`, { title: 'Intro (v2)' });
      assert.equal(ren.json.track.title, 'Intro (v2)');
      assert.equal(ren.json.track.position, 1);
      assert.equal((await o.patch(`/api/v1/projects/${p.id}/tracks/${tid}`, {})).status, 400);
      const up = await o.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'intro.wav', size: 1234 });
      assert.equal(up.status, 201, up.body);
      assert.equal(up.json.version.number, 1);
      assert.equal(up.json.version.state, 'uploading');
      assert.equal(up.json.version.filename, 'intro.wav');
      assert.ok(up.json.upload_url.startsWith(`${srv.origin}/u/`));
      assert.equal((await o.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'x.wav' })).status, 400);
      assert.equal((await o.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'x.wav', size: 0 })).status, 400);
      assert.equal((await o.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'x.wav', size: 5 })).status, 400);
      assert.equal((await o.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'x.wav', size: 2 ** 45 })).status, 413);
      // The media role knows the upload the URL names (tus HEAD: nothing stored yet).
      const u = new URL(up.json.upload_url);
      const head = await o.req('HEAD', u.pathname + u.search, undefined, { headers: { 'Tus-Resumable': '1.0.0' } });
      assert.equal(head.status, 200);
      assert.equal(head.headers['upload-offset'], '0');
      assert.equal(head.headers['upload-length'], '1234');
      const got = await o.get(`/api/v1/projects/${p.id}`);
      assert.equal(got.json.project.tracks.length, 1);
      assert.equal(got.json.project.tracks[0].versions.length, 1);
      assert.equal((await o.del(`/api/v1/projects/${p.id}/tracks/${tid}`)).status, 204);
      assert.equal((await o.del(`/api/v1/projects/${p.id}/tracks/${tid}`)).status, 404);
    });

    test('owner comment workflow: list, reply, resolve, delete', async () => {
      const o = await newOwner(srv);
      const p = await newProject(o);
      const tid = (await o.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Song' })).json.track.id;
      const vid = (await o.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'a.flac', size: 100 })).json.version.id;
      const g = new Client(srv);
      const gc = await g.post(`/api/v1/s/${p.link.token}/comments`, { name: 'Rev', body: 'louder', version_id: vid, time_ms: 1000 });
      assert.equal(gc.status, 201, gc.body);
      const reply = await o.post(`/api/v1/projects/${p.id}/comments`, { version_id: vid, body: 'ok!', time_ms: 1000, parent_id: gc.json.comment.id });
      assert.equal(reply.status, 201);
      assert.equal(reply.json.comment.by_owner, true);
      assert.equal(reply.json.comment.parent_id, gc.json.comment.id);
      assert.equal((await o.post(`/api/v1/projects/${p.id}/comments`, { version_id: vid, body: 'x', time_ms: 5, end_ms: 4 })).status, 400);
      assert.equal((await o.post(`/api/v1/projects/${p.id}/comments`, { version_id: vid, body: '', time_ms: 5 })).status, 400);
      assert.equal((await o.post(`/api/v1/projects/${p.id}/comments`, { version_id: vid, body: 'x'.repeat(4097), time_ms: 5 })).status, 400);
      const list = await o.get(`/api/v1/projects/${p.id}/comments?version=${vid}`);
      assert.equal(list.json.comments.length, 2);
      assert.ok(list.json.comments.find((c) => c.author === 'Rev').guest_id, 'owner sees the guest id');
      const res = await o.patch(`/api/v1/projects/${p.id}/comments/${gc.json.comment.id}`, { resolved: true });
      assert.equal(res.json.comment.resolved, true);
      const unres = await o.patch(`/api/v1/projects/${p.id}/comments/${gc.json.comment.id}`, { resolved: false });
      assert.equal(unres.json.comment.resolved, false);
      assert.equal((await o.patch(`/api/v1/projects/${p.id}/comments/${gc.json.comment.id}`, {})).status, 400);
      assert.equal((await o.del(`/api/v1/projects/${p.id}/comments/${gc.json.comment.id}`)).status, 204);
      const after = (await o.get(`/api/v1/projects/${p.id}/comments`)).json.comments;
      const gone = after.find((c) => c.id === gc.json.comment.id);
      assert.equal(gone.deleted, true);
      assert.equal(gone.body, '');
      assert.equal((await o.get(`/api/v1/projects/${p.id}/comments?version=${'0'.repeat(32)}`)).status, 404);
    });

    test('export: the JSON of everything the owner has', async () => {
      const o = await newOwner(srv);
      const p = await newProject(o, 'Exported');
      const tid = (await o.post(`/api/v1/projects/${p.id}/tracks`, { title: 'T' })).json.track.id;
      const vid = (await o.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'a.wav', size: 100 })).json.version.id;
      await new Client(srv).post(`/api/v1/s/${p.link.token}/comments`, { name: 'G', body: 'nice', version_id: vid, time_ms: 0 });
      const other = await newOwner(srv);
      await newProject(other, 'Not mine');
      const r = await o.get('/api/v1/export');
      assert.equal(r.status, 200);
      assert.match(r.headers['content-disposition'], /attachment/);
      const doc = r.json;
      assert.equal(doc.format, 'audiomus-export-v1');
      assert.equal(doc.account.email, o.email);
      assert.deepEqual(doc.projects.map((x) => x.title), ['Exported']);
      const ep = doc.projects[0];
      assert.equal(ep.tracks[0].versions[0].id, vid);
      assert.equal(ep.comments[0].body, 'nice');
      assert.equal(ep.links.length, 1);
      assert.equal(ep.links[0].token, undefined);
      assert.ok(ep.events.some((e) => e.kind === 'page_open') || ep.events.length >= 0);
      assert.ok(!r.body.includes('Not mine'));
    });

    test('IDOR matrix: another owner\'s ids are 404, never data', async () => {
      const a = await newOwner(srv);
      const b = await newOwner(srv);
      const pa = await newProject(a, 'A secret');
      const pb = await newProject(b, 'B project');
      const ta = (await a.post(`/api/v1/projects/${pa.id}/tracks`, { title: 'A track' })).json.track.id;
      const tb = (await b.post(`/api/v1/projects/${pb.id}/tracks`, { title: 'B track' })).json.track.id;
      const va = (await a.post(`/api/v1/projects/${pa.id}/tracks/${ta}/uploads`, { filename: 'a.wav', size: 100 })).json.version.id;
      const ca = (await a.post(`/api/v1/projects/${pa.id}/comments`, { version_id: va, body: 'A note', time_ms: 0 })).json.comment.id;
      const la = (await a.post(`/api/v1/projects/${pa.id}/links`, { label: 'A link' })).json.link.id;
      const A = pa.id;
      const B = pb.id;
      // b probes a's ids, directly and mixed into b's own project.
      const probes = [
        ['GET', `/api/v1/projects/${A}`], ['PATCH', `/api/v1/projects/${A}`, { title: 'pwned' }],
        ['DELETE', `/api/v1/projects/${A}`, { confirm: 'A secret' }],
        ['PUT', `/api/v1/projects/${A}/password`, { password: 'b owns this now' }],
        ['DELETE', `/api/v1/projects/${A}/password`], ['GET', `/api/v1/projects/${A}/events`],
        ['GET', `/api/v1/projects/${A}/links`], ['POST', `/api/v1/projects/${A}/links`, { label: 'x' }],
        ['POST', `/api/v1/projects/${A}/links/${la}/regenerate`], ['DELETE', `/api/v1/projects/${A}/links/${la}`],
        ['POST', `/api/v1/projects/${B}/links/${la}/regenerate`], ['DELETE', `/api/v1/projects/${B}/links/${la}`],
        ['POST', `/api/v1/projects/${A}/tracks`, { title: 'x' }], ['PUT', `/api/v1/projects/${A}/tracks/order`, { track_ids: [ta] }],
        ['PATCH', `/api/v1/projects/${A}/tracks/${ta}`, { title: 'x' }], ['DELETE', `/api/v1/projects/${A}/tracks/${ta}`],
        ['PATCH', `/api/v1/projects/${B}/tracks/${ta}`, { title: 'x' }], ['DELETE', `/api/v1/projects/${B}/tracks/${ta}`],
        ['POST', `/api/v1/projects/${A}/tracks/${ta}/uploads`, { filename: 'x.wav', size: 1 }],
        ['POST', `/api/v1/projects/${B}/tracks/${ta}/uploads`, { filename: 'x.wav', size: 1 }],
        ['GET', `/api/v1/projects/${A}/comments`], ['GET', `/api/v1/projects/${B}/comments?version=${va}`],
        ['POST', `/api/v1/projects/${A}/comments`, { version_id: va, body: 'x', time_ms: 0 }],
        ['POST', `/api/v1/projects/${B}/comments`, { version_id: va, body: 'x', time_ms: 0 }],
        ['PATCH', `/api/v1/projects/${A}/comments/${ca}`, { resolved: true }], ['DELETE', `/api/v1/projects/${A}/comments/${ca}`],
        ['PATCH', `/api/v1/projects/${B}/comments/${ca}`, { resolved: true }], ['DELETE', `/api/v1/projects/${B}/comments/${ca}`],
        ['GET', `/api/v1/projects/${A}/tracks/${ta}/urls`], ['GET', `/api/v1/projects/${B}/tracks/${ta}/urls`],
        ['GET', `/api/v1/projects/${A}/tracks/${ta}/urls?version=${va}`], ['GET', `/api/v1/projects/${B}/tracks/${tb}/urls?version=${va}`],
      ];
      for (const [m, path, body] of probes) {
        const r = await b.req(m, path, body);
        assert.equal(r.status, 404, `${m} ${path}: ${r.status} ${r.body}`);
        assert.ok(!/A secret|A track|A note|A link/.test(r.body), `${m} ${path} leaked`);
      }
      // b's own project stays untouched by the mixed probes; a's data is intact.
      assert.equal((await b.get(`/api/v1/projects/${B}`)).json.project.tracks[0].id, tb);
      const pa2 = (await a.get(`/api/v1/projects/${A}`)).json.project;
      assert.equal(pa2.title, 'A secret');
      assert.equal(pa2.has_password, false);
      assert.equal(pa2.tracks[0].title, 'A track');
      assert.equal((await a.get(`/api/v1/projects/${A}/comments`)).json.comments[0].resolved, false);
      assert.equal((await a.get(`/api/v1/projects/${A}/links`)).json.links.length, 2);
      // Without a session every owner endpoint is 401.
      assert.equal((await new Client(srv).get(`/api/v1/projects/${A}`)).status, 401);
      assert.equal((await new Client(srv).get('/api/v1/export')).status, 401);
      assert.equal((await new Client(srv).get(`/api/v1/projects/${A}/tracks/${ta}/urls`)).status, 401);
    });

    test('owner playback URLs: session-bound, no password cookie, original even with downloads off, no listener events', async () => {
      const o = await newOwner(srv);
      const p = await newProject(o, 'Owner plays');
      const bytes = wav(1);
      const tid = (await o.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Song' })).json.track.id;
      const base = `/api/v1/projects/${p.id}/tracks/${tid}/urls`;
      assert.deepEqual((await o.get(base)).json.versions, {}, 'no ready version yet: nothing to play');
      const vid = await uploadVersion(o, p.id, tid, bytes, { filename: 'song.wav' });
      const v = await waitVersion(o, p.id, vid);
      assert.equal(v.state, 'ready', JSON.stringify(v));
      assert.equal((await o.put(`/api/v1/projects/${p.id}/password`, { password: 'secret listening party' })).status, 204);
      assert.equal((await o.patch(`/api/v1/projects/${p.id}`, { downloads: false })).status, 200);
      const r = await o.get(base);
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(Object.keys(r.json.versions), [vid]);
      const m = r.json.versions[vid];
      assert.ok(r.json.urls_expire > Date.now() / 1000 && m.expires === r.json.urls_expire);
      for (const k of ['stream', 'peaks', 'download']) assert.match(m[k], new RegExp(`^${srv.origin}/m/[0-9a-f]{32}\\?o=[0-9a-f]{32}&x=[0-9a-f]{32}&p=${p.id}&`), k);
      // No cookie, a password on, downloads off: the owner still streams and downloads.
      const st = await raw(srv, 'GET', pathOf(m.stream), { Range: 'bytes=0-15' });
      assert.equal(st.status, 206);
      assert.equal((await raw(srv, 'GET', pathOf(m.peaks))).status, 200);
      const orig = await raw(srv, 'GET', pathOf(m.download));
      assert.equal(orig.status, 200);
      assert.ok(orig.body.equals(bytes), 'the original, byte for byte');
      // Guests' URLs still follow the flag; the owner's plays are not listener activity.
      const guest = (await new Client(srv).get(`/api/v1/s/${p.link.token}`));
      assert.equal(guest.status, 401);
      const kinds = (await o.get(`/api/v1/projects/${p.id}/events`)).json.events.map((e) => e.kind);
      assert.ok(!kinds.includes('play') && !kinds.includes('download'), kinds.join());
      // ?version: one version; an unknown or malformed one is 404.
      assert.deepEqual(Object.keys((await o.get(`${base}?version=${vid}`)).json.versions), [vid]);
      assert.equal((await o.get(`${base}?version=${'0'.repeat(32)}`)).status, 404);
      assert.equal((await o.get(`${base}?version=nope`)).status, 404);
      // A tampered owner URL (another project, or the share-link form's MAC) is refused.
      assert.equal((await raw(srv, 'GET', pathOf(m.stream).replace(`p=${p.id}`, `p=${'0'.repeat(32)}`))).status, 403);
      // Bound to the session: after logout the same URLs are refused.
      assert.equal((await o.del('/api/v1/session')).status, 204);
      assert.equal((await raw(srv, 'GET', pathOf(m.stream), { Range: 'bytes=0-15' })).status, 403);
      assert.equal((await raw(srv, 'GET', pathOf(m.download))).status, 403);
    });
  });
}
