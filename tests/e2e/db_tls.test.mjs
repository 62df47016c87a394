// TLS to PostgreSQL (docs/security.md promise 1.2 "TLS 1.2+ enforced on all
// connections", docs/configuration.md "Database"). A database that is not on
// this machine is reached only with sslmode=verify-full; anything weaker is
// refused before a byte is sent, unless database_tls = insecure-allow.
//
// The suite starts its OWN PostgreSQL 15 cluster (scripts/pg-test with
// PG_DIR, PG_PORT, PG_LISTEN, PG_SSL_CERT/KEY; never the shared one on 15433)
// with ssl=on and a certificate from a test CA made here with the openssl
// CLI, listening on loopback and on this machine's first non-loopback IPv4
// address, which audiomus must treat as remote. The certificate names
// db.test and that address; URLs say host=db.test&hostaddr=ADDRESS, so no
// name service is involved. It proves:
//   1. verify-full with the right CA: check-config connects over TLS 1.3;
//      serve migrates, adds an owner and a project, and every connection
//      the server sees from audiomus is TLS (pg_stat_ssl);
//   2. a certificate from another CA, or no CA at all, is refused;
//   3. the right CA but another host name is refused (what verify-ca, which
//      the policy does not take, would have let through: shown with the
//      opt-out);
//   4. a server that answers the SSLRequest with 'N' (a plaintext-only
//      server, or an attacker stripping TLS on the path: a proxy here) is
//      refused with verify-full; with sslmode=prefer audiomus refuses before
//      connecting at all (the proxy sees no connection), check-config and
//      serve alike; the opt-out connects in plaintext and serve logs
//      db_tls_insecure on each start;
//   5. loopback needs no TLS.
// Needs root or the postgres binaries runnable by the current user, psql,
// openssl and a non-loopback IPv4 address; skipped without.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { newOwner, newProject, startApi } from './lib/api.mjs';
import { BIN, initDataDir, run, startServer } from './lib/server.mjs';

const PG_BIN = process.env.PG_BIN || '/usr/lib/postgresql/15/bin';
const ADDR = Object.values(os.networkInterfaces()).flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
const have = (cmd) => spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
const SKIP = !fs.existsSync(path.join(PG_BIN, 'initdb')) ? `needs PostgreSQL 15 in ${PG_BIN}`
  : !ADDR ? 'needs a non-loopback IPv4 address on this machine'
    : !have('psql') || spawnSync('openssl', ['version']).status !== 0 ? 'needs psql and openssl' : false;

// ---- test PKI ----------------------------------------------------------------

function makePki(dir) {
  const ossl = (args) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const ca = (name, cn) => ossl(['req', '-x509', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2',
    '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  ca('ca', 'audiomus db_tls test CA');
  ca('other-ca', 'audiomus db_tls unrelated CA');
  ossl(['req', '-new', ...ec, '-keyout', 'db.key', '-out', 'db.csr', '-subj', '/CN=db.test']);
  fs.writeFileSync(path.join(dir, 'db.ext'),
    `subjectAltName=DNS:db.test,IP:${ADDR}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  ossl(['x509', '-req', '-in', 'db.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'db.pem',
    '-days', '2', '-extfile', 'db.ext']);
  const file = (n) => path.join(dir, n);
  return { ca: file('ca.pem'), otherCa: file('other-ca.pem'), cert: file('db.pem'), key: file('db.key') };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '0.0.0.0', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// A proxy on ADDR that answers PostgreSQL's SSLRequest (and GSSENCRequest)
// with 'N', as a server without TLS does, then relays the rest in the clear
// to the cluster on loopback: what an attacker on the path who strips TLS
// looks like to the client. count: connections it accepted.
function strippingProxy(listenPort, targetPort) {
  const p = { count: 0, sockets: new Set() };
  p.server = net.createServer((c) => {
    p.count++;
    p.sockets.add(c);
    c.on('error', () => {});
    c.on('close', () => p.sockets.delete(c));
    let buf = Buffer.alloc(0);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8 && buf.readUInt32BE(0) === 8 &&
             [80877103, 80877104].includes(buf.readUInt32BE(4))) {
        c.write('N');
        buf = buf.subarray(8);
      }
      if (buf.length < 8) return;
      c.removeListener('data', onData);
      const up = net.connect(targetPort, '127.0.0.1');
      p.sockets.add(up);
      up.on('error', () => c.destroy());
      up.on('close', () => p.sockets.delete(up));
      up.write(buf);
      c.pipe(up);
      up.pipe(c);
    };
    c.on('data', onData);
  });
  return new Promise((resolve) => p.server.listen(listenPort, ADDR, () => resolve(p)));
}

// run() for the cases that go through the proxy, which lives in this
// process: spawnSync would block the event loop that serves it.
function runAsync(args) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), 30000);
    p.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

describe('TLS to PostgreSQL', { skip: SKIP }, () => {
  let tmp, pki, pgDir, port, proxy, dataDir, pgEnv;
  const check = (dbUrl, extra = [], env = {}) =>
    run(['check-config', '--data', dataDir, '--set', `database=${dbUrl}`, ...extra],
      { env: { ...process.env, ...env } });
  // host=NAME (db.test by default) at hostaddr=ADDR on port p, database
  // db, plus query q.
  const url = (q, { host = 'db.test', p = port, db = 'postgres' } = {}) =>
    `postgresql://postgres@${host}:${p}/${db}?hostaddr=${ADDR}&${q}`;
  let dbSeq = 0;
  // A fresh database for a serve (each data directory has its own master key).
  const freshDb = () => { const n = `am_tls_${++dbSeq}`; psql(`CREATE DATABASE ${n}`); return n; };
  const psql = (sql) => {
    const r = spawnSync('psql', [`postgresql://postgres@127.0.0.1:${port}/postgres`, '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql],
      { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
    return r.stdout.trim();
  };
  const checkAsync = (dbUrl, extra = []) =>
    runAsync(['check-config', '--data', dataDir, '--set', `database=${dbUrl}`, ...extra]);
  const serveRefused = (dbUrl, extra = []) => {
    const d = path.join(tmp, `serve-${Math.random().toString(16).slice(2)}`);
    initDataDir(d);
    return runAsync(['serve', '--data', d, '--listen', '127.0.0.1:0', '--set', `database=${dbUrl}`, ...extra]);
  };

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-dbtls-'));
    fs.chmodSync(tmp, 0o755);
    pki = makePki(tmp);
    dataDir = path.join(tmp, 'data');
    initDataDir(dataDir);
    // The cluster's own folder: directly under /tmp, handed to postgres by pg-test.
    pgDir = fs.mkdtempSync('/tmp/am-pgtls-');
    port = await freePort();
    pgEnv = { ...process.env, PG_DIR: pgDir, PG_PORT: String(port), PG_LISTEN: `127.0.0.1,${ADDR}`,
      PG_SSL_CERT: pki.cert, PG_SSL_KEY: pki.key };
    const r = spawnSync(path.resolve('scripts/pg-test'), ['start'], { env: pgEnv, encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `pg-test start: ${r.stderr}`);
    assert.equal(psql('SHOW ssl'), 'on');
    proxy = await strippingProxy(await freePort(), port);
  });

  after(() => {
    if (proxy) { for (const s of proxy.sockets) s.destroy(); proxy.server.close(); }
    if (pgEnv) spawnSync(path.resolve('scripts/pg-test'), ['stop'], { env: pgEnv });
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('verify-full with the right CA: check-config connects over TLS 1.3 to a host that is not loopback', () => {
    let r = check(url(`sslmode=verify-full&sslrootcert=${pki.ca}`));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`database +postgres at ${ADDR.replace(/\./g, '\\.')}: TLS required, sslmode=verify-full, CA ${pki.ca}`));
    assert.match(r.stdout, /database +connected over TLSv1\.3/);
    assert.doesNotMatch(r.stderr, /db_tls_insecure/);
    // The address itself as the host: the certificate's IP SAN is checked.
    r = check(`postgresql://postgres@${ADDR}:${port}/postgres?sslmode=verify-full&sslrootcert=${pki.ca}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /connected over TLSv1\.3/);
  });

  test('serve on a remote database over verified TLS: every connection from audiomus is TLS', async () => {
    const db = freshDb();
    const dbUrl = url(`sslmode=verify-full&sslrootcert=${pki.ca}`, { db });
    const dbArgs = ['--set', `database=${dbUrl}`];
    const srv = await startApi('sqlite', { args: dbArgs });
    try {
      srv.dbArgs = dbArgs; // `audiomus user add` goes to the same database
      const owner = await newOwner(srv);
      const project = await newProject(owner, 'Over TLS');
      const list = await owner.get('/api/v1/projects');
      assert.equal(list.status, 200);
      assert.ok(JSON.stringify(list.json).includes(project.id));
      const [n, allSsl, versions] = psql(
        `SELECT count(*), bool_and(s.ssl), string_agg(DISTINCT coalesce(s.version, 'none'), ',')
           FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
          WHERE a.client_addr = '${ADDR}' AND a.backend_type = 'client backend'`).split('|');
      assert.ok(Number(n) >= 1, `connections from audiomus: ${n}`);
      assert.equal(allSsl, 't');
      assert.equal(versions, 'TLSv1.3');
      assert.equal(psql(`SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = '${db}' AND client_addr = '${ADDR}'`), 't');
      assert.match(psql(`SELECT datname FROM pg_database WHERE datname = '${db}'`), new RegExp(db));
      assert.ok(!srv.logs.some((l) => l.event === 'db_tls_insecure'));
    } finally {
      await srv.stop();
    }
  });

  test('a certificate from another CA, or no CA at all, is refused', async () => {
    let r = check(url(`sslmode=verify-full&sslrootcert=${pki.otherCa}`));
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /cannot connect: .*certificate verify failed/);
    assert.doesNotMatch(r.stdout, /connected over/);
    // No sslrootcert: libpq's default ~/.postgresql/root.crt, absent here.
    r = check(url('sslmode=verify-full'), [], { HOME: tmp });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /root certificate file .* does not exist/);
    r = await serveRefused(url(`sslmode=verify-full&sslrootcert=${pki.otherCa}`));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /certificate verify failed/);
  });

  test('the right CA but another host name is refused; verify-ca, which would take it, is not accepted', () => {
    let r = check(url(`sslmode=verify-full&sslrootcert=${pki.ca}`, { host: 'other.test' }));
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /cannot connect: .*does not match host name "other\.test"/);
    // verify-ca: refused by the policy before any connection.
    const caOnly = url(`sslmode=verify-ca&sslrootcert=${pki.ca}`, { host: 'other.test' });
    r = check(caOnly);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /needs sslmode=verify-full \(it has "verify-ca"\)/);
    assert.match(r.stdout, /database_tls = insecure-allow/);
    // What verify-ca would have let through: the certificate of db.test
    // accepted for other.test (only with the opt-out, loudly).
    r = check(caOnly, ['--set', 'database_tls=insecure-allow']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /TLS NOT ENFORCED/);
    assert.match(r.stdout, /connected over TLSv1\.3/);
    assert.match(r.stderr, /"event":"db_tls_insecure"/);
  });

  test('a server that answers without TLS (TLS stripped on the path) is refused when TLS is required', async () => {
    const via = (q, db) => url(q, { p: proxy.server.address().port, db });
    // verify-full: libpq asks for TLS, gets 'N', gives up.
    let before = proxy.count;
    let r = await checkAsync(via(`sslmode=verify-full&sslrootcert=${pki.ca}`));
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /server does not support SSL, but SSL was required/);
    assert.ok(proxy.count > before, 'libpq did reach the proxy');
    // prefer (libpq's default) would fall back to plaintext: refused before
    // connecting, by check-config and by serve; the proxy sees nothing.
    before = proxy.count;
    r = await checkAsync(via('sslmode=prefer'));
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /host "[0-9.]+" is not on this machine, so the database URL needs sslmode=verify-full \(it has "prefer"\)/);
    assert.match(r.stdout, /database_tls = insecure-allow/);
    r = await checkAsync(via('sslmode=require'));
    assert.equal(r.code, 1, r.stdout);
    r = await serveRefused(via('sslmode=prefer'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /needs sslmode=verify-full/);
    assert.equal(proxy.count, before, 'no connection was attempted');

    // The opt-out: connects in plaintext through the stripping proxy, and
    // says so on every start.
    r = await checkAsync(via('sslmode=prefer'), ['--set', 'database_tls=insecure-allow']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /TLS NOT ENFORCED \(database_tls = insecure-allow, sslmode=prefer\)/);
    assert.match(r.stdout, /connected without TLS/);
    for (let i = 0; i < 2; i++) {
      const srv = await startServer({ args: ['--set', `database=${via('sslmode=prefer', freshDb())}`, '--set', 'database_tls=insecure-allow'] });
      try {
        const w = srv.logs.find((l) => l.event === 'db_tls_insecure');
        assert.ok(w, `start ${i + 1}: db_tls_insecure logged`);
        assert.equal(w.level, 'warn');
        assert.equal(w.sslmode, 'prefer');
        assert.ok(srv.logs.indexOf(w) < srv.logs.findIndex((l) => l.event === 'listening'));
      } finally {
        await srv.stop();
      }
    }
    assert.ok(proxy.count > before);
  });

  test('loopback needs no TLS', () => {
    const r = check(`postgresql://postgres@127.0.0.1:${port}/postgres?sslmode=disable`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /postgres at 127\.0\.0\.1: on this machine, TLS not required \(sslmode=disable\)/);
    assert.match(r.stdout, /connected without TLS/);
  });
});
