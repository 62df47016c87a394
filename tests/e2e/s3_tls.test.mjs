// The S3 client over TLS (docs/security.md promise 1.2 "TLS 1.2+ enforced on
// all connections", docs/storage.md "S3 backend"). The test rig's object
// store (scripts/s3-test: Swift s3api) speaks plain HTTP on loopback, so this
// suite puts a TLS-terminating TCP proxy of its own in front of it (a
// loopback port that records each ClientHello's offered versions, then a
// Node tls server whose plaintext goes to Swift), with a test CA and server
// certificates made here with the openssl CLI. With
// storage = s3://BUCKET?endpoint=https://127.0.0.1:PROXY&... it proves:
//   1. with s3_ca_file = the test CA, `check-config` passes (TLS 1.3, and a
//      proxy capped at TLS 1.2) and `serve` takes a tus upload, transcodes
//      it and streams the original back through the media role byte for
//      byte (SHA-256, and a Range), every S3 request over TLS;
//   2. a proxy capped at TLS 1.1 (which a client allowing 1.1 does reach:
//      openssl s_client -tls1_1 and, with a permissive OpenSSL config, the
//      curl CLI) is refused: check-config fails naming the protocol
//      version; audiomus's ClientHello offers TLS 1.3 and 1.2 only, also
//      under an OpenSSL config that allows TLS 1.0 (the floor is ours, not
//      the distribution's default); the refusal is not retried (one
//      ClientHello per check-config run: another try would be refused the
//      same way); serve's upload fails with 503 and a generic body while the
//      log names the protocol version (media_upload_store_failed), and the
//      server stays up (this once found a use-after-free when a store
//      commit failed, src/media/media_upload.c part_commit);
//   3. without s3_ca_file (a CA the system does not trust), with another
//      CA in s3_ca_file, and with a certificate for another host name, the
//      connection is refused as a verification failure.
// Needs AUDIOMUS_TEST_S3_URL and AUDIOMUS_S3_* (eval "$(scripts/s3-test env)";
// scripts/test-all provides them); skipped without. Objects go under a
// fresh prefix that the suite deletes at the end.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';

import { Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { BIN, initDataDir, pathOf, raw, request } from './lib/server.mjs';
import { parseStorageUrl, s3FromEnv } from '../cluster/lib/s3.mjs';

const S3_URL = process.env.AUDIOMUS_TEST_S3_URL;
const SKIP = !S3_URL && 'needs AUDIOMUS_TEST_S3_URL and AUDIOMUS_S3_* (eval "$(scripts/s3-test env)"; scripts/test-all sets them)';
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

// ---- test PKI (openssl CLI, like scripts/smtp-test) --------------------------

// In dir: ca.pem (the test CA), other-ca.pem (an unrelated CA), s3.pem/key
// (127.0.0.1 and localhost, from ca) and wronghost.pem/key (only
// s3.other.example, from ca).
function makePki(dir) {
  const ossl = (args) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const ca = (name, cn) => ossl(['req', '-x509', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2',
    '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name, cn, san) => {
    ossl(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
    ossl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`,
      '-days', '2', '-extfile', `${name}.ext`]);
  };
  ca('ca', 'audiomus s3_tls test CA');
  ca('other-ca', 'audiomus s3_tls unrelated CA');
  leaf('s3', 'localhost', 'IP:127.0.0.1,DNS:localhost');
  leaf('wronghost', 's3.other.example', 'DNS:s3.other.example');
  const file = (n) => path.join(dir, n);
  const pair = (n) => ({ cert: fs.readFileSync(file(`${n}.pem`)), key: fs.readFileSync(file(`${n}.key`)) });
  return { ca: file('ca.pem'), otherCa: file('other-ca.pem'), s3: pair('s3'), wronghost: pair('wronghost') };
}

// ---- the TLS-terminating proxy ------------------------------------------------

const VERSION_NAMES = { 0x0300: 'SSLv3', 0x0301: 'TLSv1', 0x0302: 'TLSv1.1', 0x0303: 'TLSv1.2', 0x0304: 'TLSv1.3' };
const versionName = (v) => VERSION_NAMES[v] || `0x${v.toString(16)}`;

// The versions a TLS ClientHello at the start of b offers: its
// supported_versions extension (GREASE values dropped), or its legacy
// version if it has none. null: not complete yet; false: not a ClientHello.
function parseClientHello(b) {
  if (b.length < 5) return null;
  if (b[0] !== 22) return false;
  const len = b.readUInt16BE(3);
  if (b.length < 5 + len) return null;
  const h = b.subarray(5, 5 + len);
  try {
    if (h[0] !== 1) return false;
    let p = 4;
    const legacy = h.readUInt16BE(p);
    p += 2 + 32;
    p += 1 + h[p]; // session id
    p += 2 + h.readUInt16BE(p); // cipher suites
    p += 1 + h[p]; // compression methods
    let offered = [legacy];
    if (p + 2 <= h.length) {
      const end = p + 2 + h.readUInt16BE(p);
      for (p += 2; p + 4 <= end; p += 4 + h.readUInt16BE(p + 2)) {
        if (h.readUInt16BE(p) !== 43) continue; // supported_versions
        offered = [];
        for (let i = p + 5; i + 1 < p + 4 + h.readUInt16BE(p + 2); i += 2) offered.push(h.readUInt16BE(i));
      }
    }
    return { legacy: versionName(legacy), offered: offered.filter((v) => (v & 0x0f0f) !== 0x0a0a).map(versionName) };
  } catch {
    return false;
  }
}

// Listen on an ephemeral loopback port; resolves the port.
const listen = (srv) => new Promise((resolve, reject) => {
  srv.once('error', reject);
  srv.listen(0, '127.0.0.1', () => resolve(srv.address().port));
});

// A TLS-terminating TCP proxy on loopback in front of target ({host, port}):
// the front port records each connection's ClientHello (seen.hellos), then
// relays the bytes to a Node tls server with tlsOpts, which records the
// negotiated version (seen.protocols) or the handshake error (seen.errors)
// and pipes the plaintext to target; seen.requests counts the connections
// that carried plaintext (an HTTP request) after the handshake.
async function startProxy(target, tlsOpts) {
  const seen = { hellos: [], protocols: [], errors: [], requests: 0 };
  const sockets = new Set();
  const track = (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => s.destroy()); return s; };
  const join = (a, b) => {
    a.pipe(b).pipe(a);
    a.on('close', () => b.destroy());
    b.on('close', () => a.destroy());
  };
  const tlsServer = tls.createServer(tlsOpts, (clear) => {
    track(clear);
    seen.protocols.push(clear.getProtocol());
    clear.once('data', () => { seen.requests++; });
    join(clear, track(net.connect(target.port, target.host)));
  });
  tlsServer.on('connection', track);
  tlsServer.on('tlsClientError', (err) => seen.errors.push(err.code || err.message));
  const tlsPort = await listen(tlsServer);
  const front = net.createServer((sock) => {
    track(sock);
    let buf = Buffer.alloc(0);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const hello = parseClientHello(buf);
      if (hello === null && buf.length < 65536) return;
      sock.off('data', onData);
      sock.pause();
      if (hello) seen.hellos.push(hello);
      const back = track(net.connect(tlsPort, '127.0.0.1', () => {
        back.write(buf);
        join(sock, back);
        sock.resume();
      }));
    };
    sock.on('data', onData);
  });
  const port = await listen(front);
  return {
    port, seen,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([front, tlsServer].map((s) => new Promise((r) => s.close(r))));
    },
  };
}

// ---- processes (asynchronous: the proxy runs in this process's event loop) --

function runAsync(cmd, args, { env = {}, input = '', timeout = 120000 } = {}) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
    p.stderr.setEncoding('utf8').on('data', (c) => { err += c; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeout);
    p.on('close', (code, signal) => { clearTimeout(t); resolve({ code, signal, stdout: out, stderr: err, out: out + err }); });
    p.stdin.end(input);
  });
}

// An OpenSSL config that lets a client speak TLS 1.0 and 1.1 (Debian's
// default config does not): what a libcurl client without a floor of its
// own would then offer.
const PERMISSIVE_OPENSSL_CNF = [
  'openssl_conf = default_conf',
  '[default_conf]',
  'ssl_conf = ssl_sect',
  '[ssl_sect]',
  'system_default = system_default_sect',
  '[system_default_sect]',
  'MinProtocol = TLSv1',
  'CipherString = DEFAULT@SECLEVEL=0',
  '',
].join('\n');

const TLS11_ONLY = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };
const AM1 = Buffer.from('AM1SEG\0\0', 'latin1');

describe('S3 client over TLS (Swift behind a TLS-terminating proxy)', { skip: SKIP }, () => {
  let tmp, pki, dataDir, swift, s3, prefix, bucketUrl, permissive;
  const proxies = [];
  const storageVia = (p) => bucketUrl.replace(/endpoint=[^&]*/, `endpoint=https://127.0.0.1:${p.port}`);
  const proxy = async (tlsOpts) => { const p = await startProxy(swift, tlsOpts); proxies.push(p); return p; };
  const checkConfig = (storage, caFile, env = {}) => runAsync(BIN, ['check-config', '--data', dataDir,
    '--set', `storage=${storage}`, ...(caFile ? ['--set', `s3_ca_file=${caFile}`] : [])], { env });
  const storageLine = (r) => (r.stdout.split('\n').find((l) => /^\s+storage\s/.test(l)) || '').trim();
  // Every ClientHello audiomus sent offered TLS 1.3 and 1.2, nothing older.
  const offeredOnly12and13 = (p) => {
    assert.ok(p.seen.hellos.length >= 1, 'the proxy saw a ClientHello');
    for (const h of p.seen.hellos) assert.deepEqual(h.offered, ['TLSv1.3', 'TLSv1.2'], JSON.stringify(h));
  };

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-s3tls-'));
    pki = makePki(tmp);
    dataDir = path.join(tmp, 'data');
    initDataDir(dataDir);
    permissive = path.join(tmp, 'permissive.cnf');
    fs.writeFileSync(permissive, PERMISSIVE_OPENSSL_CNF);
    const ep = new URL(parseStorageUrl(S3_URL).endpoint);
    assert.equal(ep.protocol, 'http:', 'the rig\'s Swift speaks plain HTTP; this suite adds the TLS');
    swift = { host: ep.hostname, port: Number(ep.port || 80) };
    bucketUrl = `${S3_URL}&prefix=s3tls-${process.pid}-${crypto.randomBytes(4).toString('hex')}/`;
    ({ s3, prefix } = s3FromEnv(bucketUrl));
  });
  after(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    for (const o of await s3.list(prefix).catch(() => [])) await s3.del(o.key).catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('check-config: an https endpoint certified by s3_ca_file works over TLS 1.3, and over a proxy capped at TLS 1.2', async (t) => {
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2']) {
      const p = await proxy({ ...pki.s3, maxVersion });
      const r = await checkConfig(storageVia(p), pki.ca);
      assert.equal(r.code, 0, r.out);
      assert.match(storageLine(r), /s3: credentials work \(probe written, read, deleted\)/);
      assert.ok(p.seen.requests >= 1, 'the probe went through the proxy');
      assert.deepEqual([...new Set(p.seen.protocols)], [maxVersion]);
      assert.deepEqual(p.seen.errors, []);
      offeredOnly12and13(p);
      t.diagnostic(`proxy max ${maxVersion}: ClientHello offered ${p.seen.hellos[0].offered.join(', ')}; negotiated ${p.seen.protocols[0]} on ${p.seen.protocols.length} connection(s)`);
    }
  });

  test('serve: upload, transcode and ranged stream of the original through the media role, all over TLS', async (t) => {
    const p = await proxy({ ...pki.s3 });
    const srv = await startApi('sqlite', { args: ['--set', `storage=${storageVia(p)}`, '--set', `s3_ca_file=${pki.ca}`] });
    try {
      const owner = await newOwner(srv);
      const pr = await newProject(owner, 'TLS to S3');
      const bytes = wav(6, { freq: 523 });
      const { vid } = await uploadTrack(owner, pr.id, bytes, { title: 'Over TLS', filename: 'over-tls.wav' });
      const v = await waitVersion(owner, pr.id, vid);
      assert.equal(v.state, 'ready', JSON.stringify(v));
      const view = await new Client(srv).get(`/api/v1/s/${pr.link.token}`);
      assert.equal(view.status, 200, view.body);
      const media = view.json.tracks[0].versions[0].media;
      // The original through the media role: whole, then a Range of it.
      const whole = await raw(srv, 'GET', pathOf(media.download), {}, undefined, { whole: true });
      assert.equal(whole.status, 200);
      assert.equal(whole.body.length, bytes.length);
      assert.equal(sha256(whole.body), sha256(bytes), 'the original comes back byte for byte');
      const [from, to] = [100000, 700000];
      const part = await raw(srv, 'GET', pathOf(media.download), { Range: `bytes=${from}-${to}` }, undefined, { whole: true });
      assert.equal(part.status, 206);
      assert.equal(part.headers['content-range'], `bytes ${from}-${to}/${bytes.length}`);
      assert.equal(sha256(part.body), sha256(bytes.subarray(from, to + 1)));
      const stream = await raw(srv, 'GET', pathOf(media.stream), { Range: 'bytes=0-1023' }, undefined, { whole: true });
      assert.equal(stream.status, 206);
      assert.equal(stream.body.length, 1024);
      // What the worker and media role wrote is in the bucket under the
      // prefix (read here straight from Swift), as AM1 ciphertext.
      const objects = await s3.list(prefix);
      const kinds = new Set(objects.map((o) => o.key.slice(prefix.length).split('/')[0]));
      for (const k of ['orig', 'stream', 'peaks']) assert.ok(kinds.has(k), `no ${k}/ object in ${JSON.stringify([...kinds])}`);
      for (const o of objects) assert.ok((await s3.get(o.key)).subarray(0, 8).equals(AM1), `${o.key} is not AM1`);
      assert.ok(p.seen.requests >= 1);
      assert.deepEqual([...new Set(p.seen.protocols)], ['TLSv1.3']);
      assert.deepEqual(p.seen.errors, []);
      offeredOnly12and13(p);
      t.diagnostic(`${objects.length} objects (${[...kinds].join(', ')}) over ${p.seen.protocols.length} TLS 1.3 connection(s); original ${bytes.length} bytes back with the same SHA-256, and a ${to - from + 1}-byte Range of it`);
    } finally {
      await srv.stop();
    }
  });

  test('control: the TLS 1.1 proxy speaks TLS 1.1 to a client that allows it', async (t) => {
    const p = await proxy({ ...pki.s3, ...TLS11_ONLY });
    const sc = await runAsync('openssl', ['s_client', '-connect', `127.0.0.1:${p.port}`, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0',
      '-CAfile', pki.ca, '-verify_return_error', '-verify_ip', '127.0.0.1'], { timeout: 15000 });
    assert.match(sc.out, /Protocol\s*:\s*TLSv1\.1/, sc.out);
    assert.match(sc.out, /Verify return code: 0 \(ok\)/);
    // A libcurl client without a floor of its own, under an OpenSSL config
    // that allows TLS 1.0: it offers TLS 1.0-1.3 and gets through at 1.1.
    const cu = await runAsync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', pki.ca, `https://127.0.0.1:${p.port}/`],
      { env: { OPENSSL_CONF: permissive }, timeout: 15000 });
    assert.match(cu.stdout, /^[1-5]\d\d$/, `curl: ${cu.out}`);
    assert.deepEqual(p.seen.protocols, ['TLSv1.1', 'TLSv1.1']);
    assert.deepEqual(p.seen.hellos[1].offered, ['TLSv1.3', 'TLSv1.2', 'TLSv1.1', 'TLSv1']);
    t.diagnostic(`openssl s_client -tls1_1: TLSv1.1; curl CLI under the permissive config offered ${p.seen.hellos[1].offered.join(', ')}, got TLSv1.1 and HTTP ${cu.stdout}`);
  });

  test('check-config refuses an endpoint capped at TLS 1.1, also under an OpenSSL config that allows TLS 1.0', async (t) => {
    for (const [label, env] of [['default OpenSSL config', {}], ['permissive OpenSSL config', { OPENSSL_CONF: permissive }]]) {
      const p = await proxy({ ...pki.s3, ...TLS11_ONLY });
      const r = await checkConfig(storageVia(p), pki.ca, env);
      assert.equal(r.code, 1, r.out);
      assert.match(storageLine(r), /storage probe: list failed: s3 list: TLS handshake refused \(.*protocol version\).*; not retried/, r.out);
      assert.match(r.stdout, /check-config: problems found/);
      assert.equal(p.seen.hellos.length, 1, 'a refused TLS version is not retried');
      offeredOnly12and13(p);
      assert.deepEqual(p.seen.protocols, [], 'no TLS connection was established');
      assert.equal(p.seen.requests, 0);
      for (const e of p.seen.errors) assert.match(e, /UNSUPPORTED_PROTOCOL/);
      t.diagnostic(`${label}: ${p.seen.hellos.length} attempt(s), each ClientHello offered ${p.seen.hellos[0].offered.join(', ')} (legacy_version ${p.seen.hellos[0].legacy}); proxy: ${[...new Set(p.seen.errors)].join(', ')}; check-config: ${storageLine(r)}`);
    }
  });

  test('serve: an upload to a store capped at TLS 1.1 fails with 503, nothing stored, the server stays up', async (t) => {
    const p = await proxy({ ...pki.s3, ...TLS11_ONLY });
    const srv = await startApi('sqlite', { args: ['--set', `storage=${storageVia(p)}`, '--set', `s3_ca_file=${pki.ca}`] });
    try {
      const owner = await newOwner(srv);
      const pr = await newProject(owner, 'TLS 1.1 store');
      const bytes = wav(1);
      const tid = (await owner.post(`/api/v1/projects/${pr.id}/tracks`, { title: 'Refused' })).json.track.id;
      const up = await owner.post(`/api/v1/projects/${pr.id}/tracks/${tid}/uploads`, { filename: 'refused.wav', size: bytes.length });
      assert.equal(up.status, 201, up.body);
      const tus = { 'Tus-Resumable': '1.0.0' };
      const before = (await s3.list(prefix)).map((o) => o.key).sort();
      const r = await raw(srv, 'PATCH', pathOf(up.json.upload_url), {
        ...tus, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': bytes.length,
      }, bytes, { encoding: 'utf8' });
      assert.equal(r.status, 503, `PATCH: ${r.status} ${r.body}`); // the store is unavailable: the tus client retries later
      assert.doesNotMatch(`${r.body} ${JSON.stringify(r.headers)}`, /TLS|protocol|s3|orig\//i, 'no store detail in the answer');
      const logged = await srv.waitLog((l) => l.event === 'media_upload_store_failed');
      assert.match(logged.store_error, /^s3 PUT orig\/[0-9a-f]{32}: TLS handshake refused \(.*protocol version\)/);
      const head = await raw(srv, 'HEAD', pathOf(up.json.upload_url), tus);
      assert.equal(head.status, 200);
      assert.equal(head.headers['upload-offset'], '0', 'nothing was stored');
      assert.equal((await request(srv, { path: '/healthz' })).status, 200);
      assert.equal(srv.proc.exitCode, null);
      assert.deepEqual((await s3.list(prefix)).map((o) => o.key).sort(), before, 'no object was written');
      offeredOnly12and13(p);
      assert.deepEqual(p.seen.protocols, []);
      assert.equal(p.seen.requests, 0);
      t.diagnostic(`PATCH ${r.status}; ${p.seen.hellos.length} ClientHello(s), each offering ${p.seen.hellos[0].offered.join(', ')}; proxy: ${[...new Set(p.seen.errors)].join(', ')}; log: ${logged.store_error}`);
    } finally {
      await srv.stop();
    }
  });

  test('certificate verification: no s3_ca_file (a CA the system does not trust), an unrelated CA, another host name', async (t) => {
    const cases = [
      ['no s3_ca_file', pki.s3, null, /unable to get local issuer certificate/],
      ['s3_ca_file = an unrelated CA', pki.s3, pki.otherCa, /unable to get local issuer certificate/],
      ['certificate for s3.other.example', pki.wronghost, pki.ca, /no alternative certificate subject name matches target host name '127\.0\.0\.1'/],
    ];
    for (const [label, pair, ca, why] of cases) {
      const p = await proxy({ ...pair });
      const r = await checkConfig(storageVia(p), ca);
      assert.equal(r.code, 1, r.out);
      const line = storageLine(r);
      assert.match(line, /storage probe: list failed: s3 list: TLS verification failed \(/, r.out);
      assert.match(line, why);
      assert.match(line, /set s3_ca_file for a private CA/);
      assert.equal(p.seen.requests, 0, 'no request was sent to an unverified peer');
      assert.equal(p.seen.hellos.length, 1, 'a verification failure is not retried');
      offeredOnly12and13(p);
      t.diagnostic(`${label}: ${line}`);
    }
  });
});
