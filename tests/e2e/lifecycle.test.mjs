// Process lifecycle: init, check-config, refusing to start without a
// certificate, graceful SIGTERM, the optional redirect listener.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { readUntil, run, startServer, tlsConnect } from './lib/server.mjs';

test('init creates a private data directory and is idempotent', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-init-'));
  const dir = path.join(tmp, 'data');
  try {
    const first = run(['init', '--data', dir]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(dir, 'tls')).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(dir, 'tls', 'key.pem')).mode & 0o777, 0o600);
    const cert = fs.readFileSync(path.join(dir, 'tls', 'cert.pem'));
    const x = new (await_import_crypto().X509Certificate)(cert);
    assert.match(x.subjectAltName, /DNS:localhost/);
    assert.match(x.subjectAltName, /IP Address:127\.0\.0\.1/);
    assert.equal(x.publicKey.asymmetricKeyType, 'ec');
    assert.equal(x.publicKey.asymmetricKeyDetails.namedCurve, 'prime256v1');
    const second = run(['init', '--data', dir]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /exists/);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'tls', 'cert.pem')), cert, 'not overwritten');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

import crypto from 'node:crypto';
function await_import_crypto() { return crypto; }

test('check-config after init reports the TLS files and data dir ok', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-cc-'));
  const dir = path.join(tmp, 'data');
  try {
    assert.equal(run(['init', '--data', dir]).code, 0);
    const r = run(['check-config', '--data', dir]);
    assert.match(r.stdout, /configuration parsed: ok/);
    assert.match(r.stdout, /tls cert .*: ok/);
    assert.match(r.stdout, /tls key .*: ok/);
    assert.match(r.stdout, /data dir .*: ok/);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /check-config: ok/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('serve refuses to start without a certificate', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-nocert-'));
  try {
    const r = run(['serve', '--data', path.join(tmp, 'data'), '--listen', '127.0.0.1:0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no TLS certificate/);
    assert.match(r.stderr, /audiomus init/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('SIGTERM lets an in-flight request finish, then exits 0', async () => {
  const srv = await startServer();
  const s = await tlsConnect(srv);
  s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n'); // headers not finished
  await new Promise((r) => setTimeout(r, 200));
  srv.proc.kill('SIGTERM');
  await srv.waitLog((l) => l.event === 'stopping');
  await new Promise((r) => setTimeout(r, 200));
  s.write('\r\n');
  const got = await readUntil(s, (b) => b.includes('"ok"'));
  assert.match(got, /HTTP\/1\.1 200/);
  assert.match(got, /Connection: close/i);
  s.destroy();
  const { code } = await srv.stop();
  assert.equal(code, 0);
  assert.ok(srv.logs.some((l) => l.event === 'stopped' && l.unfinished_requests === '0'));
});

test('redirect_listen answers only 301 to the https URL', async () => {
  const srv = await startServer({ args: ['--set', 'redirect_listen=127.0.0.1:0'] });
  try {
    assert.ok(srv.redirectPort > 0);
    const res = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: srv.redirectPort, path: '/healthz?x=1', agent: false }, (r) => {
        r.resume();
        r.on('end', () => resolve(r));
      }).on('error', reject);
    });
    assert.equal(res.statusCode, 301);
    assert.equal(res.headers.location, `https://127.0.0.1:${srv.port}/healthz`);
  } finally {
    await srv.stop();
  }
});
