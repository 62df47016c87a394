// The owner's own comments (docs/api.md "Owner comment workflow"): a
// top-level comment at a time or over a range of a version, shown to guests
// as from the owner; the same checks as a guest's (body length, a version of
// this project, a time within the version's duration) and the attacks: a
// cross-project version, parent or project id, a missing or wrong CSRF
// token, a foreign Origin, no session; guests cannot crowd the owner out.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';

// A project with one ready 2-second version (duration_ms 2000).
async function readyProject(owner, title = 'Owner notes EP') {
  const p = await newProject(owner, title);
  const { tid, vid } = await uploadTrack(owner, p.id, wav(2, { rate: 22050, ch: 1 }), { title: 'Bridge' });
  const v = await waitVersion(owner, p.id, vid);
  assert.equal(v.state, 'ready', JSON.stringify(v));
  assert.equal(v.duration_ms, 2000);
  return { ...p, tid, vid, token: p.link.token };
}

for (const backend of BACKENDS) {
  describe(`owner comments (${backend})`, () => {
    let srv, a, b, pa, pb;
    before(async () => {
      srv = await startApi(backend);
      a = await newOwner(srv);
      b = await newOwner(srv);
      pa = await readyProject(a, 'A secret');
      pb = await readyProject(b, 'B project');
    });
    after(async () => { await srv?.stop(); });

    const own = (o, p, body, opts) => o.post(`/api/v1/projects/${p.id}/comments`, body, opts);
    const listA = async () => (await a.get(`/api/v1/projects/${pa.id}/comments`)).json.comments;

    test('a top-level comment at a time and over a range; guests see it as from the owner', async () => {
      const r = await own(a, pa, { version_id: pa.vid, body: 'bridge too loud at 1:32', time_ms: 1320 });
      assert.equal(r.status, 201, r.body);
      const c = r.json.comment;
      assert.equal(c.by_owner, true);
      assert.equal(c.author, '', 'the owner has no name: the account address is never shown');
      assert.equal(c.parent_id, null);
      assert.equal(c.time_ms, 1320);
      assert.equal(c.end_ms, null);
      assert.equal(c.guest_id, undefined);
      const range = await own(a, pa, { version_id: pa.vid, body: 'the whole chorus', time_ms: 500, end_ms: 1500 });
      assert.equal(range.status, 201, range.body);
      assert.equal(range.json.comment.end_ms, 1500);
      const page = await new Client(srv).get(`/api/v1/s/${pa.token}`);
      assert.equal(page.status, 200);
      const seen = page.json.comments.find((x) => x.id === c.id);
      assert.deepEqual({ by_owner: seen.by_owner, author: seen.author, body: seen.body, time_ms: seen.time_ms, parent_id: seen.parent_id },
        { by_owner: true, author: '', body: 'bridge too loud at 1:32', time_ms: 1320, parent_id: null });
      assert.equal(seen.guest_id, undefined);
      assert.ok(!page.body.includes(a.email), 'the owner\'s address is not on the review page');
      // A guest can reply to the owner's note, and the owner to that.
      const gr = await new Client(srv).post(`/api/v1/s/${pa.token}/comments`, { name: 'Rev', body: 'agreed', version_id: pa.vid, time_ms: 1320, parent_id: c.id });
      assert.equal(gr.status, 201, gr.body);
      assert.equal(gr.json.comment.by_owner, false);
    });

    test('times outside the version are refused, for the owner and for guests', async () => {
      const before = (await listA()).length;
      const bad = [
        { time_ms: 2001 }, { time_ms: 2000, end_ms: 2001 }, { time_ms: 10 * 60 * 1000 }, { time_ms: 0, end_ms: 2 ** 40 },
        { time_ms: -1 }, { time_ms: 500, end_ms: 499 }, { time_ms: 2 ** 41 }, { time_ms: '100' }, { time_ms: 1.5 },
        { time_ms: null }, {},
      ];
      for (const t of bad) {
        const r = await own(a, pa, { version_id: pa.vid, body: 'x', ...t });
        assert.equal(r.status, 400, `owner ${JSON.stringify(t)}: ${r.status} ${r.body}`);
        const g = await new Client(srv).post(`/api/v1/s/${pa.token}/comments`, { name: 'G', version_id: pa.vid, body: 'x', ...t });
        assert.equal(g.status, 400, `guest ${JSON.stringify(t)}: ${g.status} ${g.body}`);
      }
      assert.match((await own(a, pa, { version_id: pa.vid, body: 'x', time_ms: 2001 })).json.error, /past the end/);
      assert.equal((await listA()).length, before, 'nothing was stored');
      // The very end is a time like any other.
      assert.equal((await own(a, pa, { version_id: pa.vid, body: 'last note', time_ms: 2000, end_ms: 2000 })).status, 201);
      assert.equal((await own(a, pa, { version_id: pa.vid, body: 'from the top', time_ms: 0 })).status, 201);
    });

    test('body length and version checks are the guests\' ones', async () => {
      for (const body of ['', 'x'.repeat(4097), 42, null]) {
        const r = await own(a, pa, { version_id: pa.vid, body, time_ms: 0 });
        assert.equal(r.status, 400, `body ${JSON.stringify(body)?.slice(0, 20)}: ${r.status}`);
      }
      assert.equal((await own(a, pa, { version_id: pa.vid, body: 'é'.repeat(2048), time_ms: 0 })).status, 201, '4096 bytes');
      assert.equal((await own(a, pa, { version_id: 'nope', body: 'x', time_ms: 0 })).status, 400);
      assert.equal((await own(a, pa, { version_id: '0'.repeat(32), body: 'x', time_ms: 0 })).status, 404);
    });

    test('another owner\'s project, version or parent: 404 and nothing is written', async () => {
      const ca = (await own(a, pa, { version_id: pa.vid, body: 'A note', time_ms: 100 })).json.comment.id;
      const before = await listA();
      const probes = [
        [pa, { version_id: pa.vid, body: 'pwned', time_ms: 0 }],                  // a's project
        [pa, { version_id: pb.vid, body: 'pwned', time_ms: 0 }],                  // a's project, b's version
        [pb, { version_id: pa.vid, body: 'pwned', time_ms: 0 }],                  // b's project, a's version
        [pb, { version_id: pb.vid, body: 'pwned', time_ms: 0, parent_id: ca }],   // b's project and version, a's parent
        [pb, { version_id: pa.vid, body: 'pwned', time_ms: 0, parent_id: ca }],
      ];
      for (const [p, body] of probes) {
        const r = await own(b, p, body);
        assert.equal(r.status, 404, `${p.title} ${JSON.stringify(body)}: ${r.status} ${r.body}`);
        assert.ok(!/A secret|A note|Bridge/.test(r.body), 'leaked');
      }
      assert.deepEqual(await listA(), before);
      assert.ok(!(await b.get(`/api/v1/projects/${pb.id}/comments`)).json.comments.some((c) => c.body === 'pwned'));
      // An unknown or malformed project id is the same 404.
      assert.equal((await b.post(`/api/v1/projects/${'f'.repeat(32)}/comments`, { version_id: pb.vid, body: 'x', time_ms: 0 })).status, 404);
      assert.equal((await b.post('/api/v1/projects/x/comments', { version_id: pb.vid, body: 'x', time_ms: 0 })).status, 404);
    });

    test('CSRF token and Origin are required; no session is 401', async () => {
      const before = await listA();
      const body = { version_id: pa.vid, body: 'forged', time_ms: 0 };
      const noToken = await own(a, pa, body, { csrf: false });
      assert.equal(noToken.status, 403, noToken.body);
      assert.equal((await own(a, pa, body, { csrf: 'A'.repeat(43) })).status, 403);
      assert.equal((await own(a, pa, body, { csrf: b.csrf })).status, 403, 'another session\'s token');
      assert.equal((await own(a, pa, body, { origin: 'https://evil.example' })).status, 403);
      assert.equal((await own(a, pa, body, { origin: false })).status, 403);
      assert.equal((await own(a, pa, body, { cookies: false })).status, 401);
      assert.equal((await new Client(srv).post(`/api/v1/projects/${pa.id}/comments`, body)).status, 401);
      assert.deepEqual(await listA(), before);
    });

    test('a flood of guest comments does not silence the owner', async () => {
      const o = await newOwner(srv);
      const p = await readyProject(o, 'Busy');
      // Guests use up the project's guest limit (100 at once, docs/api.md)...
      let g429 = false;
      for (let i = 0; i < 130 && !g429; i++) {
        const r = await new Client(srv, { localAddress: `127.0.${1 + (i >> 4)}.${10 + i}` })
          .post(`/api/v1/s/${p.token}/comments`, { name: 'G', body: `g${i}`, version_id: p.vid, time_ms: 0 });
        g429 = r.status === 429;
      }
      assert.ok(g429, 'the guests\' project limit was reached');
      // ...the owner still comments, past any guest limit (owner comments
      // notify nobody and are not rate limited: docs/api.md).
      for (let i = 0; i < 120; i++) {
        const r = await own(o, p, { version_id: p.vid, body: `note ${i}`, time_ms: i * 10 });
        assert.equal(r.status, 201, `owner comment ${i + 1}: ${r.status} ${r.body}`);
      }
      const mine = (await o.get(`/api/v1/projects/${p.id}/comments`)).json.comments.filter((c) => c.by_owner);
      assert.equal(mine.length, 120);
    });
  });
}
