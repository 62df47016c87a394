// HTTP behaviour a client sees: security headers on every response, clean
// 4xx for hostile requests, security.txt, embedded assets, access-log hygiene.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { SECURITY_HEADERS, request, startServer, tlsConnect, readUntil } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

function assertSecurityHeaders(res, what) {
  for (const [name, value] of Object.entries(SECURITY_HEADERS))
    assert.equal(res.headers[name], value, `${what}: ${name}`);
  const csp = res.headers['content-security-policy'] || '';
  for (const d of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'self'"])
    assert.ok(csp.includes(d), `${what}: CSP lacks ${d}: ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
}

test('security headers on a 200, a 404, a 405 and a 501', async () => {
  const ok = await request(srv, { path: '/healthz' });
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body).status, 'ok');
  assertSecurityHeaders(ok, '200');
  const nf = await request(srv, { path: '/no/such/page' });
  assert.equal(nf.status, 404);
  assertSecurityHeaders(nf, '404');
  const na = await request(srv, { method: 'DELETE', path: '/healthz' });
  assert.equal(na.status, 405);
  assert.match(na.headers.allow, /GET/);
  assertSecurityHeaders(na, '405');
  const ni = await request(srv, { method: 'BREW', path: '/' });
  assert.equal(ni.status, 501);
  assertSecurityHeaders(ni, '501');
  // Error bodies are generic JSON, never internal detail.
  assert.deepEqual(JSON.parse(ni.body), { error: 'Not Implemented', status: 501 });
});

test('keep-alive survives (responses are not forced to Connection: close)', async () => {
  const s = await tlsConnect(srv);
  for (let i = 0; i < 3; i++) {
    s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const got = await readUntil(s, (b) => b.includes('"ok"'));
    assert.match(got, /HTTP\/1\.1 200/);
    assert.doesNotMatch(got, /Connection: close/i);
  }
  s.destroy();
});

test('oversized URLs get 414', async () => {
  const r = await request(srv, { path: '/' + 'a'.repeat(9000) });
  assert.equal(r.status, 414);
  assertSecurityHeaders(r, '414');
  // Far beyond the connection memory: libmicrohttpd's own clean 4xx.
  const huge = await request(srv, { path: '/' + 'a'.repeat(100000) }).catch((e) => ({ status: 0, e }));
  assert.ok(huge.status >= 400 && huge.status < 500, `got ${huge.status}`);
});

test('oversized headers get 431', async () => {
  const r = await request(srv, { path: '/', headers: { 'X-Big': 'a'.repeat(20000) } });
  assert.equal(r.status, 431);
  assertSecurityHeaders(r, '431');
  const huge = await request(srv, { path: '/', headers: { 'X-Big': 'a'.repeat(70000) } }).catch((e) => ({ status: 0, e }));
  assert.ok(huge.status >= 400 && huge.status < 500, `got ${huge.status}`);
});

// The raw request target is parsed before routing (src/http/parse.c
// http_parse_path, called by src/http/server.c parse_target on the target
// MHD has not unescaped): an encoded '/', '\' or control byte, a literal
// '\', an empty, "." or ".." segment (also when encoded) or a trailing slash
// is a malformed path, 400 before any route is looked at. A well-formed path
// that no route takes is 404 (router), so the two never mix: each case
// names its exact status.
const PATH_CASES = [
  ['/a%2Fb', 400, 'encoded /'],
  ['/a%5Cb', 400, 'encoded backslash'],
  ['/static/../index.html', 400, '.. segment'],
  ['/static/./app.css', 400, '. segment'],
  ['/static/%2e%2e/x', 400, 'encoded .. segment'],
  ['/static/%2E%2E%2Fapp.css', 400, 'encoded ../'],
  ['/a%00b', 400, 'encoded NUL'],
  ['/a//b', 400, 'empty segment'],
  ['/healthz/', 400, 'trailing slash'],
  ['/healthz%0d%0aX:1', 400, 'encoded CR LF'],
  ['/a\\b', 400, 'literal backslash'],
  ['/a%zzb', 400, 'bad percent escape'],
  // Well-formed, no such route: 404, not 400.
  ['/no/such/page', 404, 'unknown path'],
  ['/static/...', 404, 'three dots is an ordinary segment'],
  ['/static/a%20b.css', 404, 'encoded space decodes, no such asset'],
  ['/%2e%2e%2e', 404, 'encoded three dots'],
  // And a percent-encoded unreserved character is the same path: served.
  ['/static/%61pp.css', 200, 'encoded "a" in app.css'],
];

test('path tricks: malformed targets are 400 before routing, well-formed unknown ones 404', async () => {
  for (const [p, want, what] of PATH_CASES) {
    const s = await tlsConnect(srv);
    s.write(`GET ${p} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    const got = await readUntil(s, (b) => /\r\n\r\n/.test(b));
    s.destroy();
    const status = Number((got.match(/^HTTP\/1\.1 (\d{3})/) || [])[1]);
    assert.equal(status, want, `${what}: GET ${p} -> ${got.slice(0, 40)}`);
  }
  const dup = await request(srv, { path: '/healthz?a=1&a=2' });
  assert.equal(dup.status, 400);
});

test('a body where none is accepted gets 413', async () => {
  const r = await request(srv, { method: 'GET', path: '/healthz', headers: { 'content-type': 'application/json', 'content-length': '7' }, body: '{"x":1}' });
  assert.equal(r.status, 413);
  assertSecurityHeaders(r, '413');
});

test('security.txt names the configured contact', async () => {
  const r = await request(srv, { path: '/.well-known/security.txt' });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/plain; charset=utf-8/);
  assert.match(r.body, /^Contact: mailto:security@localhost$/m);
  assert.match(r.body, /^Preferred-Languages: en$/m);
  assert.match(r.body, new RegExp(`^Canonical: https://127\\.0\\.0\\.1:${srv.port}/\\.well-known/security\\.txt$`, 'm'));
  const exp = Date.parse(r.body.match(/^Expires: (.*)$/m)[1]);
  const year = 365 * 86400 * 1000;
  assert.ok(Math.abs(exp - Date.now() - year) < 86400 * 1000, 'Expires is a year ahead');
});

test('landing page and assets: types, ETag, 304, no-cache', async () => {
  const home = await request(srv, { path: '/' });
  assert.equal(home.status, 200);
  assert.equal(home.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(home.body, /audiomus/);
  assert.doesNotMatch(home.body, /<script(?![^>]*\bsrc=)|style=|<style/i, 'no inline script or style');
  const css = await request(srv, { path: '/static/app.css' });
  assert.equal(css.status, 200);
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  assert.equal(css.headers['cache-control'], 'no-cache');
  assert.match(css.headers.etag, /^"[0-9a-f]+"$/);
  const again = await request(srv, { path: '/static/app.css', headers: { 'if-none-match': css.headers.etag } });
  assert.equal(again.status, 304);
  assert.equal(again.body, '');
  assertSecurityHeaders(again, '304');
  const stale = await request(srv, { path: '/static/app.css', headers: { 'if-none-match': '"0000"' } });
  assert.equal(stale.status, 200);
  const json = await request(srv, { path: '/healthz' });
  assert.equal(json.headers['cache-control'], 'no-store');
});

test('access log: no query strings, tokens or client addresses', async () => {
  await request(srv, { path: '/healthz?secret=hunter2' });
  await request(srv, { path: '/s/TOKENabcdef0123456789' });
  await request(srv, { path: '/m/OBJ123?e=1&s=SIGNATURE' });
  await new Promise((r) => setTimeout(r, 200));
  const access = srv.logs.filter((l) => l.event === 'access');
  assert.ok(access.length > 5);
  const text = JSON.stringify(srv.logs);
  for (const secret of ['hunter2', 'TOKENabcdef', 'OBJ123', 'SIGNATURE', '127.0.0.1:' + srv.port + '/s'])
    assert.ok(!text.includes(secret), `log contains ${secret}`);
  for (const l of access) {
    assert.ok(!/\?/.test(l.path), `query in ${l.path}`);
    assert.ok(!JSON.stringify(l).includes('127.0.0.1'), 'client address logged');
    for (const k of ['method', 'path', 'status', 'bytes', 'ms']) assert.ok(k in l, `access line lacks ${k}`);
  }
  assert.ok(access.some((l) => l.path === '/healthz' && l.status === '200'));
});
