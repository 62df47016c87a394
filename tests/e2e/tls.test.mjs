// Transport security (DESIGN §7): protocol versions, cipher suites, no
// plaintext on the service port, certificate reload on SIGHUP.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { initDataDir, opensslClient, readUntil, startServer, tlsConnect } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

// SECLEVEL=0 lets the OpenSSL 3 client offer TLS 1.0/1.1 at all, so a failure
// proves that the server refuses them.
for (const v of ['tls1', 'tls1_1']) {
  test(`${v} handshake is refused`, () => {
    const r = opensslClient(srv.port, [`-${v}`, '-cipher', 'DEFAULT:@SECLEVEL=0']);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /Cipher is \(NONE\)|alert|handshake failure|no protocols available/i);
  });
}

test('TLS 1.2 handshake succeeds with an AEAD ECDHE suite', () => {
  const r = opensslClient(srv.port, ['-tls1_2']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /New, TLSv1\.2, Cipher is ECDHE-(ECDSA|RSA)-(CHACHA20-POLY1305|AES(128|256)-GCM-SHA(256|384))/);
});

test('TLS 1.3 handshake succeeds', () => {
  const r = opensslClient(srv.port, ['-tls1_3']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /New, TLSv1\.3, Cipher is TLS_/);
});

for (const cipher of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES128-SHA256', 'ECDHE-RSA-AES128-SHA', 'AES128-GCM-SHA256']) {
  test(`TLS 1.2 non-AEAD or non-ECDHE suite ${cipher} is refused`, () => {
    const r = opensslClient(srv.port, ['-tls1_2', '-cipher', `${cipher}:@SECLEVEL=0`]);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /Cipher is \(NONE\)|alert|handshake failure/i);
  });
}

test('nothing answers plaintext HTTP on the service port', async () => {
  const sock = net.connect(srv.port, '127.0.0.1');
  await new Promise((res, rej) => { sock.on('connect', res); sock.on('error', rej); });
  sock.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const got = await readUntil(sock, () => false, 2000);
  sock.destroy();
  assert.doesNotMatch(got, /HTTP\/1\.[01]/);
});

test('SIGHUP loads a new certificate without dropping connections', async () => {
  // An open keep-alive connection before the reload.
  const old = await tlsConnect(srv);
  const oldFp = old.getPeerCertificate().fingerprint256;
  assert.equal(oldFp, new crypto.X509Certificate(fs.readFileSync(srv.certPath)).fingerprint256);
  old.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.match(await readUntil(old, (b) => b.includes('"ok"')), /HTTP\/1\.1 200/);

  // A second certificate from a second init, moved into place atomically.
  const other = path.join(srv.tmp, 'other');
  initDataDir(other);
  for (const f of ['cert.pem', 'key.pem']) {
    fs.copyFileSync(path.join(other, 'tls', f), path.join(srv.dataDir, 'tls', `${f}.new`));
    fs.renameSync(path.join(srv.dataDir, 'tls', `${f}.new`), path.join(srv.dataDir, 'tls', f));
  }
  const newCert = new crypto.X509Certificate(fs.readFileSync(srv.certPath));
  const pid = srv.proc.pid;
  process.kill(pid, 'SIGHUP');
  await srv.waitLog((l) => l.event === 'tls_reloaded');

  srv.ca = fs.readFileSync(srv.certPath);
  const fresh = await tlsConnect(srv);
  const cert = fresh.getPeerCertificate();
  assert.equal(cert.fingerprint256, newCert.fingerprint256);
  assert.equal(cert.serialNumber.toUpperCase(), newCert.serialNumber.toUpperCase());
  assert.notEqual(cert.fingerprint256, oldFp);
  fresh.destroy();

  // The connection made before the reload still works.
  old.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.match(await readUntil(old, (b) => b.includes('"ok"')), /HTTP\/1\.1 200/);
  old.destroy();
  assert.equal(srv.proc.pid, pid);
  assert.equal(srv.proc.exitCode, null);
});

test('SIGHUP with a broken key keeps the current certificate', async () => {
  const before = (await tlsConnect(srv)).getPeerCertificate().fingerprint256;
  fs.writeFileSync(srv.keyPath + '.new', 'not a key\n', { mode: 0o600 });
  const saved = fs.readFileSync(srv.keyPath);
  fs.renameSync(srv.keyPath + '.new', srv.keyPath);
  process.kill(srv.proc.pid, 'SIGHUP');
  await srv.waitLog((l) => l.event === 'tls_reload_failed');
  const s = await tlsConnect(srv);
  assert.equal(s.getPeerCertificate().fingerprint256, before);
  s.destroy();
  fs.writeFileSync(srv.keyPath, saved, { mode: 0o600 });
});
