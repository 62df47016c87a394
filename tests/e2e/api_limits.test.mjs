// Black-box tests of the remaining rate limits of the JSON API (docs/api.md),
// on SQLite and on PostgreSQL, with the injectable clock: sign-up per address
// pseudonym (5, then one per minute) and upload URLs per account (30, then
// one per 2 s), and the current-password check of password change and
// account deletion (the per-account login throttle) — the (N+1)-th gets 429
// with the right Retry-After and passes after the wait. Also the owner endpoints the API suites do not reach
// otherwise: GET /api/v1/account, and another owner's project id on the
// per-project notification settings (404, never data).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, PASSWORD, newOwner, newProject, startApi, withFrozenClock } from './lib/api.mjs';

for (const backend of BACKENDS) {
  describe(`rate limits and remaining owner endpoints (${backend})`, () => {
    let srv;
    before(async () => { srv = await startApi(backend, { hooks: true, args: ['--set', 'signup_open=true'] }); }); // the test clock
    after(async () => { await srv?.stop(); });

    test('sign-up per address pseudonym: the 6th gets 429 with Retry-After, after the wait it passes', async () => {
      const c = new Client(srv, { localAddress: '127.0.0.80' });
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) {
        const r = await c.post('/api/v1/accounts', { email: `signup${i}-${backend}@example.org`, password: PASSWORD });
        assert.equal(r.status, 201, `sign-up ${i + 1}: ${r.body}`);
      }
      const sixth = await c.post('/api/v1/accounts', { email: `signup5-${backend}@example.org`, password: PASSWORD });
      assert.equal(sixth.status, 429);
      const wait = Number(sixth.headers['retry-after']);
      assert.ok(wait <= 60 && wait >= 60 - Math.ceil((Date.now() - t0) / 1000) - 1, `Retry-After ${wait}`);
      assert.equal(sixth.json.error, `too many attempts: try again in ${wait} s`);
      assert.equal(sixth.setCookies.length, 0, 'no session for a refused sign-up');
      // Another address signs up; this one after the wait, once.
      assert.equal((await new Client(srv, { localAddress: '127.0.0.81' }).post('/api/v1/accounts',
        { email: `other-${backend}@example.org`, password: PASSWORD })).status, 201);
      srv.advance(wait);
      assert.equal((await c.post('/api/v1/accounts', { email: `signup5-${backend}@example.org`, password: PASSWORD })).status, 201);
      assert.equal((await c.post('/api/v1/accounts', { email: `signup6-${backend}@example.org`, password: PASSWORD })).status, 429);
    });

    test('upload URLs per account: after 30 the next gets 429 with Retry-After, after the wait it passes', async () => {
      const o = await newOwner(srv);
      const p = await newProject(o);
      const tid = (await o.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Many takes' })).json.track.id;
      const up = () => o.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'take.wav', size: 100 });
      // 30 at once, then one per 2 s: real time passes while they are sent,
      // so a few more may pass (one per 2 s of it).
      const t0 = Date.now();
      let accepted = 0, limited;
      while (!limited && accepted < 100) {
        const r = await up();
        if (r.status === 429) limited = r;
        else { assert.equal(r.status, 201, r.body); accepted++; }
      }
      const slack = Math.ceil((Date.now() - t0) / 2000) + 1;
      assert.ok(limited, 'the limit was hit');
      assert.ok(accepted >= 30 && accepted <= 30 + slack, `accepted ${accepted}`);
      const wait = Number(limited.headers['retry-after']);
      assert.ok(wait >= 1 && wait <= 2, `Retry-After ${wait}`);
      assert.equal(limited.json.error, `too many attempts: try again in ${wait} s`);
      // Per account: another owner is not affected.
      const other = await newOwner(srv);
      const q = await newProject(other);
      const qt = (await other.post(`/api/v1/projects/${q.id}/tracks`, { title: 'x' })).json.track.id;
      assert.equal((await other.post(`/api/v1/projects/${q.id}/tracks/${qt}/uploads`, { filename: 'a.wav', size: 100 })).status, 201);
      srv.advance(wait);
      assert.equal((await up()).status, 201);
    });

    test('password change and account deletion check the current password under the account throttle (429, Retry-After)', () => withFrozenClock(srv, async () => {
      const o = await newOwner(srv);
      // 5 at once, then one per second (the login throttle's first tier):
      // real time passes, so one more may pass per second of it.
      const t0 = Date.now();
      let refused = 0, limited;
      while (!limited && refused < 50) {
        const r = await o.post('/api/v1/account/password', { current_password: 'not my password', new_password: 'a brand new secret' });
        if (r.status === 429) limited = r;
        else { assert.equal(r.status, 403, r.body); refused++; }
      }
      assert.ok(limited, 'the throttle was hit');
      assert.ok(refused >= 5 && refused <= 5 + Math.ceil((Date.now() - t0) / 1000) + 1, `refused ${refused}`);
      assert.equal(limited.headers['retry-after'], '1');
      assert.equal(limited.json.error, 'too many attempts: try again in 1 s');
      // Even the right password waits, for deletion too: the throttle runs before any hash.
      assert.equal((await o.post('/api/v1/account/password', { current_password: PASSWORD, new_password: 'a brand new secret' })).status, 429);
      assert.equal((await o.del('/api/v1/account', { password: PASSWORD })).status, 429);
      assert.equal((await o.get('/api/v1/account')).status, 200, 'the account is still there');
      srv.advance(2);
      assert.equal((await o.post('/api/v1/account/password', { current_password: PASSWORD, new_password: 'a brand new secret' })).status, 204);
    }));

    test('GET /api/v1/account: the signed-in owner only', async () => {
      const o = await newOwner(srv);
      const r = await o.get('/api/v1/account');
      assert.equal(r.status, 200);
      for (const k of ['id', 'email', 'created']) assert.ok(k in r.json, `${k} in ${r.body}`);
      assert.ok(!Object.keys(r.json).some((k) => /hash|password|token|secret/i.test(k)), `no secrets in ${r.body}`);
      assert.equal(r.json.email, o.email);
      assert.equal(r.json.id, o.accountId);
      const anon = await new Client(srv).get('/api/v1/account');
      assert.equal(anon.status, 401);
      assert.deepEqual(anon.json, { error: 'sign in first', status: 401 });
    });

    test('IDOR: another owner\'s project id on the notification settings is 404, never data', async () => {
      const a = await newOwner(srv);
      const b = await newOwner(srv);
      const pa = await newProject(a, 'A secret notes');
      const before1 = await a.get(`/api/v1/projects/${pa.id}/notifications`);
      assert.equal(before1.status, 200, before1.body);
      for (const [m, body] of [['GET'], ['PUT', { comments: 'on' }], ['PUT', {}]]) {
        const r = await b.req(m, `/api/v1/projects/${pa.id}/notifications`, body);
        assert.equal(r.status, 404, `${m}: ${r.status} ${r.body}`);
        assert.deepEqual(r.json, { error: 'not found', status: 404 });
      }
      assert.equal((await new Client(srv).get(`/api/v1/projects/${pa.id}/notifications`)).status, 401);
      assert.deepEqual((await a.get(`/api/v1/projects/${pa.id}/notifications`)).json, before1.json, 'unchanged');
    });
  });
}
