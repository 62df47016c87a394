// Owner accounts and sessions over the JSON API (docs/api.md "Accounts",
// "Sessions"): sign-up switch, `audiomus user`, login with identical answers
// for unknown e-mail and wrong password, the session cookie's attributes,
// CSRF (Origin + token), idle and absolute timeouts, session list/revoke,
// password change, account deletion, throttling with Retry-After.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, PASSWORD, newOwner, newProject, startApi, userCli, withFrozenClock } from './lib/api.mjs';

for (const backend of BACKENDS) {
  describe(`accounts and sessions (${backend})`, () => {
    let srv, open;
    before(async () => {
      srv = await startApi(backend, { hooks: true }); // the test clock
      open = await startApi(backend, { args: ['--set', 'signup_open=true'] });
    });
    after(async () => { await srv?.stop(); await open?.stop(); });

    test('sign-up is refused while signup_open is off', async () => {
      const r = await new Client(srv).post('/api/v1/accounts', { email: 'x@example.org', password: PASSWORD });
      assert.equal(r.status, 403);
      assert.match(r.json.error, /sign-up is closed/);
    });

    test('sign-up when open: policy, duplicate, session cookie attributes', async () => {
      const c = new Client(open, { localAddress: '127.0.0.5' });
      const short = await c.post('/api/v1/accounts', { email: 'new@example.org', password: 'short' });
      assert.equal(short.status, 400);
      assert.match(short.json.error, /at least 8/);
      const common = await c.post('/api/v1/accounts', { email: 'new@example.org', password: 'password123' });
      assert.equal(common.status, 400);
      assert.match(common.json.error, /common passwords/);
      const long = await c.post('/api/v1/accounts', { email: 'new@example.org', password: 'x'.repeat(257) });
      assert.equal(long.status, 400);
      const bad = await c.post('/api/v1/accounts', { email: 'not-an-address', password: PASSWORD });
      assert.equal(bad.status, 400);
      const ok = await c.post('/api/v1/accounts', { email: 'New@Example.org', password: PASSWORD });
      assert.equal(ok.status, 201, ok.body);
      assert.equal(ok.json.account.email, 'New@Example.org');
      assert.match(ok.json.csrf_token, /^[A-Za-z0-9_-]{43}$/);
      const sc = ok.setCookies.find((s) => s.startsWith('__Host-am-session='));
      assert.ok(sc, 'session cookie set');
      assert.match(sc, /^__Host-am-session=[A-Za-z0-9_-]{43};/);
      for (const attr of ['Path=/', 'Secure', 'HttpOnly', 'SameSite=Lax', 'Max-Age=2592000'])
        assert.ok(sc.split('; ').includes(attr), `${attr} in ${sc}`);
      assert.doesNotMatch(sc, /Domain=/i);
      const dup = await new Client(open, { localAddress: '127.0.0.5' }).post('/api/v1/accounts', { email: 'new@example.org', password: PASSWORD });
      assert.equal(dup.status, 409);
    });

    test('audiomus user add / list / reset-password', async () => {
      assert.equal(userCli(srv, ['add', 'cli@example.org'], 'short\n').code, 1);
      assert.equal(userCli(srv, ['add', 'cli@example.org'], 'password1\n').code, 1);
      const add = userCli(srv, ['add', 'cli@example.org'], `${PASSWORD}\n`);
      assert.equal(add.code, 0, add.stderr);
      assert.equal(userCli(srv, ['add', 'cli@example.org'], `${PASSWORD}\n`).code, 1);
      assert.match(userCli(srv, ['list']).stdout, /^cli@example\.org\t/m);
      const c = new Client(srv);
      assert.equal((await c.login('cli@example.org')).status, 200);
      const reset = userCli(srv, ['reset-password', 'cli@example.org'], 'another fine password\n');
      assert.equal(reset.code, 0, reset.stderr);
      assert.equal((await c.get('/api/v1/session')).status, 401, 'sessions end on reset');
      assert.equal((await new Client(srv).login('cli@example.org')).status, 401);
      assert.equal((await new Client(srv).login('cli@example.org', 'another fine password')).status, 200);
      assert.equal(userCli(srv, ['reset-password', 'nobody@example.org'], `${PASSWORD}\n`).code, 1);
      assert.equal(userCli(srv, ['frobnicate', 'x@example.org']).code, 2);
    });

    test('unknown e-mail and wrong password get the same answer', async () => {
      await newOwner(srv, { email: 'same@example.org', localAddress: '127.0.0.6' });
      const a = await new Client(srv, { localAddress: '127.0.0.6' }).login('same@example.org', 'wrong password here');
      const b = await new Client(srv, { localAddress: '127.0.0.6' }).login('nobody@example.org', 'wrong password here');
      assert.equal(a.status, 401);
      assert.equal(b.status, 401);
      assert.deepEqual(a.json, b.json);
      assert.deepEqual(a.json, { error: 'wrong e-mail or password', status: 401 });
      assert.equal(a.setCookies.length, 0);
      const missing = await new Client(srv, { localAddress: '127.0.0.6' }).post('/api/v1/session', { email: 'same@example.org' });
      assert.equal(missing.status, 400);
      assert.match(missing.json.error, /"password" is required/);
    });

    test('session: GET, CSRF on state changes, logout', async () => {
      const c = await newOwner(srv);
      const s = await c.get('/api/v1/session');
      assert.equal(s.status, 200);
      assert.equal(s.json.account.email, c.email);
      assert.equal(s.json.csrf_token, c.csrf);
      assert.equal((await new Client(srv).get('/api/v1/session')).status, 401);
      // Origin missing, foreign, or token missing/wrong: 403 and no effect.
      const noOrigin = await c.post('/api/v1/projects', { title: 'x' }, { origin: false });
      assert.equal(noOrigin.status, 403);
      const evil = await c.post('/api/v1/projects', { title: 'x' }, { origin: 'https://evil.example' });
      assert.equal(evil.status, 403);
      const noToken = await c.post('/api/v1/projects', { title: 'x' }, { csrf: false });
      assert.equal(noToken.status, 403);
      const wrong = await c.post('/api/v1/projects', { title: 'x' }, { csrf: 'A'.repeat(43) });
      assert.equal(wrong.status, 403);
      // A Referer of this site stands in for a missing Origin; a foreign one does not.
      const ref = await c.post('/api/v1/projects', { title: 'via referer' }, { origin: false, headers: { Referer: `${srv.origin}/dashboard` } });
      assert.equal(ref.status, 201);
      const badRef = await c.post('/api/v1/projects', { title: 'x' }, { origin: false, headers: { Referer: `${srv.origin}.evil.example/` } });
      assert.equal(badRef.status, 403);
      const list = await c.get('/api/v1/projects');
      assert.deepEqual(list.json.projects.map((p) => p.title), ['via referer']);
      // Login itself needs the Origin too (login CSRF).
      assert.equal((await new Client(srv).post('/api/v1/session', { email: c.email, password: PASSWORD }, { origin: 'https://evil.example' })).status, 403);
      // Logout: the cookie is cleared and the old one no longer works.
      const old = c.cookieHeader();
      const out = await c.del('/api/v1/session');
      assert.equal(out.status, 204);
      assert.ok(out.setCookies.some((x) => /^__Host-am-session=;.*Max-Age=0/.test(x)));
      const replay = await new Client(srv).get('/api/v1/session', { headers: { Cookie: old } });
      assert.equal(replay.status, 401);
    });

    test('malformed bodies and cookies', async () => {
      const c = await newOwner(srv);
      const notJson = await c.post('/api/v1/projects', '{"title":', {});
      assert.equal(notJson.status, 400);
      const dupKey = await c.post('/api/v1/projects', '{"title":"a","title":"b"}');
      assert.equal(dupKey.status, 400);
      const type = await c.post('/api/v1/projects', 'title=a', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
      assert.equal(type.status, 415);
      const wrongType = await c.post('/api/v1/projects', { title: 42 });
      assert.equal(wrongType.status, 400);
      assert.match(wrongType.json.error, /"title"/);
      for (const v of ['x', 'A'.repeat(43), 'A'.repeat(44), '%00'])
        assert.equal((await new Client(srv).get('/api/v1/session', { headers: { Cookie: `__Host-am-session=${v}` } })).status, 401);
    });

    test('sessions: list, revoke one, revoke the others', async () => {
      const a = await newOwner(srv);
      const b = new Client(srv, { localAddress: '127.0.0.7' });
      assert.equal((await b.login(a.email)).status, 200);
      const list = await a.get('/api/v1/sessions');
      assert.equal(list.status, 200);
      assert.equal(list.json.sessions.length, 2);
      const mine = list.json.sessions.find((s) => s.current);
      const other = list.json.sessions.find((s) => !s.current);
      assert.ok(mine && other);
      assert.ok(other.expires - other.created === 30 * 86400 * 1000);
      assert.equal((await a.del(`/api/v1/sessions/${other.id}`)).status, 204);
      assert.equal((await b.get('/api/v1/session')).status, 401);
      assert.equal((await a.del(`/api/v1/sessions/${other.id}`)).status, 404);
      assert.equal((await a.del('/api/v1/sessions/zzz')).status, 404);
      // Another owner cannot revoke a's session.
      const x = await newOwner(srv);
      assert.equal((await x.del(`/api/v1/sessions/${mine.id}`)).status, 404);
      assert.equal((await a.get('/api/v1/session')).status, 200);
      const c2 = new Client(srv, { localAddress: '127.0.0.7' });
      await c2.login(a.email);
      assert.equal((await a.del('/api/v1/sessions')).status, 204);
      assert.equal((await c2.get('/api/v1/session')).status, 401);
      assert.equal((await a.get('/api/v1/session')).status, 200);
    });

    test('idle (7 d) and absolute (30 d) timeouts', async () => {
      const a = await newOwner(srv);
      srv.advance(6 * 86400);
      assert.equal((await a.get('/api/v1/session')).status, 200, 'used within the idle window');
      srv.advance(6 * 86400);
      assert.equal((await a.get('/api/v1/session')).status, 200);
      srv.advance(7 * 86400 + 60);
      assert.equal((await a.get('/api/v1/session')).status, 401, 'idle timeout');
      const b = await newOwner(srv);
      for (let i = 0; i < 5; i++) {
        srv.advance(6 * 86400);
        const r = await b.get('/api/v1/session');
        assert.equal(r.status, i < 4 ? 200 : 401, `day ${6 * (i + 1)}`);
      }
    });

    test('change password: wrong current, policy, other sessions end', async () => {
      const a = await newOwner(srv);
      const b = new Client(srv, { localAddress: '127.0.0.8' });
      await b.login(a.email);
      const wrong = await a.post('/api/v1/account/password', { current_password: 'not my password', new_password: 'a brand new secret' });
      assert.equal(wrong.status, 403);
      const weak = await a.post('/api/v1/account/password', { current_password: PASSWORD, new_password: 'iloveyou' });
      assert.equal(weak.status, 400);
      const ok = await a.post('/api/v1/account/password', { current_password: PASSWORD, new_password: 'a brand new secret' });
      assert.equal(ok.status, 204);
      assert.equal((await a.get('/api/v1/session')).status, 200, 'this session stays');
      assert.equal((await b.get('/api/v1/session')).status, 401, 'others end');
      assert.equal((await new Client(srv).login(a.email)).status, 401);
      assert.equal((await new Client(srv).login(a.email, 'a brand new secret')).status, 200);
    });

    test('delete account: password required, projects shredded, address reusable', async () => {
      const a = await newOwner(srv);
      const p = await newProject(a, 'To be shredded');
      assert.equal((await a.del('/api/v1/account', { password: 'wrong password!' })).status, 403);
      assert.equal((await a.del('/api/v1/account', {})).status, 400);
      const guest = new Client(srv);
      assert.equal((await guest.get(`/api/v1/s/${p.link.token}`)).status, 200);
      const del = await a.del('/api/v1/account', { password: PASSWORD });
      assert.equal(del.status, 204);
      assert.equal((await a.get('/api/v1/session')).status, 401);
      assert.equal((await guest.get(`/api/v1/s/${p.link.token}`)).status, 404);
      assert.equal((await new Client(srv).login(a.email)).status, 401);
      assert.doesNotMatch(userCli(srv, ['list']).stdout, new RegExp(a.email.replace('.', '\\.')));
      assert.equal(userCli(srv, ['add', a.email], `${PASSWORD}\n`).code, 0, 'the address is free again');
    });

    test('login throttling: per account (backoff) with Retry-After, reset on success', () => withFrozenClock(srv, async () => {
      const a = await newOwner(srv, { localAddress: '127.0.0.9' });
      const c = new Client(srv, { localAddress: '127.0.0.10' });
      // newOwner's successful login reset the account's state: 5 attempts
      // pass at once, the 6th waits ~1 s.
      for (let i = 0; i < 5; i++)
        assert.equal((await c.login(a.email, 'wrong wrong wrong')).status, 401, `attempt ${i + 1}`);
      const sixth = await c.login(a.email, 'wrong wrong wrong');
      assert.equal(sixth.status, 429);
      assert.equal(sixth.headers['retry-after'], '1');
      assert.match(sixth.json.error, /try again in 1 s/);
      // Even the right password waits: the limit runs before any hash.
      assert.equal((await c.login(a.email)).status, 429);
      // Second tier: 10 per minute.
      // Second tier (10 per minute): with the first tier satisfied (one try
      // every 2 s), five more wrong tries pass, the sixth waits ~48 s.
      let slow, passed = 0;
      for (let i = 0; i < 10; i++) {
        srv.advance(2);
        slow = await c.login(a.email, 'wrong wrong wrong');
        if (slow.status !== 401) break;
        passed++;
      }
      assert.equal(passed, 5);
      assert.equal(slow.status, 429);
      assert.ok(Number(slow.headers['retry-after']) > 30, `retry-after ${slow.headers['retry-after']}`);
      srv.advance(Number(slow.headers['retry-after']));
      assert.equal((await c.login(a.email)).status, 200, 'the wait is over');
      assert.equal((await c.login(a.email, 'wrong wrong wrong')).status, 401, 'success reset the backoff');
      // The same limit applies to unknown addresses: nothing tells them apart.
      for (let i = 0; i < 5; i++) await c.login('ghost@example.org', 'wrong wrong wrong');
      assert.equal((await c.login('ghost@example.org', 'wrong wrong wrong')).status, 429);
    }));

    test('login throttling per address pseudonym', () => withFrozenClock(srv, async () => {
      const c = new Client(srv, { localAddress: '127.0.0.11' });
      let r;
      for (let i = 0; i < 20; i++) {
        r = await c.login(`spray${i}@example.org`, 'wrong wrong wrong');
        assert.equal(r.status, 401, `attempt ${i + 1}`);
      }
      r = await c.login('spray99@example.org', 'wrong wrong wrong');
      assert.equal(r.status, 429);
      // One attempt per 6 s after a burst of 20 (the clock is frozen, so
      // the burst took no time).
      const wait = Number(r.headers['retry-after']);
      assert.equal(wait, 6, `retry-after ${wait}`);
      assert.match(r.json.error, new RegExp(`try again in ${wait} s`));
      // Another address is not affected.
      assert.equal((await new Client(srv, { localAddress: '127.0.0.12' }).login('spray0@example.org', 'wrong wrong wrong')).status, 401);
    }));
  });
}

test('the test clock is refused without AUDIOMUS_TESTING=1', async () => {
  const srv = await startApi('sqlite', { hooks: true, env: { AUDIOMUS_TESTING: '' } });
  try {
    await srv.waitLog((l) => l.event === 'test_clock_refused');
    assert.ok(!srv.logs.some((l) => l.event === 'test_clock_enabled'));
    const a = await newOwner(srv);
    srv.setClock(40 * 86400);
    assert.equal((await a.get('/api/v1/session')).status, 200, 'the clock did not move');
  } finally {
    await srv.stop();
  }
});
