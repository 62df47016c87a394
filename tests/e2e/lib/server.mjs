// Shared helper for the black-box tests: a fresh data directory (audiomus
// init), a server on a random loopback port (serve --listen 127.0.0.1:0),
// its JSON log lines, HTTPS (cookie-less, Buffer bodies: raw) and raw-TLS
// clients, and a clean stop.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export const BIN = process.env.AUDIOMUS_BIN || path.resolve('build/release/audiomus');
// The test build of the same MODE, with the test hooks (AUDIOMUS_TESTING,
// the test clock, short leases: docs/development.md "Test hooks"), for the
// tests that need them; `make hooks` builds it beside the binary, and
// scripts/test-all names it. The release binary has none of them.
const TEST_BIN_PATH = process.env.AUDIOMUS_TEST_BIN || path.join(path.dirname(BIN), 'hooks', 'audiomus');
let testBinChecked = null;

// The test build's path, once `--version` proves it is one; otherwise throw,
// so that a test needing a hook fails at once and says why, rather than
// waiting out a lease the binary never shortens or passing on a clock that
// never moved.
export function testBin() {
  if (testBinChecked) return testBinChecked;
  const r = spawnSync(TEST_BIN_PATH, ['--version'], { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0 || !/^test build: /m.test(r.stdout || '')) {
    throw new Error(`this test needs the test hooks, but ${TEST_BIN_PATH} is not a test build `
      + `(${r.error ? r.error.message : `--version: ${JSON.stringify(r.stdout || r.stderr)}`}): `
      + 'build it with `make hooks` (MODE=asan for the ASan one) or set AUDIOMUS_TEST_BIN');
  }
  testBinChecked = TEST_BIN_PATH;
  return testBinChecked;
}

export function run(args, opts = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 30000, ...opts });
  return { code: r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}

export function initDataDir(dir) {
  const r = run(['init', '--data', dir]);
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  return r;
}

// Call fn with each line of a process's log stream: the parsed JSON object,
// or { raw: line } for a line that is not JSON.
export function onLogLines(stream, fn) {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    partial += chunk;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let obj;
      try { obj = JSON.parse(line); } catch { obj = { raw: line }; }
      fn(obj);
    }
  });
}

// Start a server; resolves once the "listening" log line names the port.
// hooks: run the test build (testBin()) instead of BIN; dataParent: where
// the temporary directory with the data directory goes (default: the
// system's; a small tmpfs for the disk-full tests).
export async function startServer({ args = [], env = {}, hooks = false, dataParent = os.tmpdir() } = {}) {
  const tmp = fs.mkdtempSync(path.join(dataParent, 'am-e2e-'));
  const dataDir = path.join(tmp, 'data');
  const bin = hooks ? testBin() : BIN;
  initDataDir(dataDir);
  const proc = spawn(bin, ['serve', '--data', dataDir, '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  const waiters = [];
  proc.stdout.resume();
  onLogLines(proc.stderr, (obj) => {
    logs.push(obj);
    for (const w of [...waiters]) if (w.pred(obj)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(obj); }
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));

  const server = {
    proc, tmp, dataDir, logs, exited, bin, hooks,
    certPath: path.join(dataDir, 'tls', 'cert.pem'),
    keyPath: path.join(dataDir, 'tls', 'key.pem'),
    waitLog(pred, ms = 10000) {
      const hit = logs.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => { const i = waiters.indexOf(w); if (i >= 0) { waiters.splice(i, 1); reject(new Error('log line not seen')); } }, ms).unref();
      });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
      const r = await exited;
      clearTimeout(t);
      fs.rmSync(tmp, { recursive: true, force: true });
      return r;
    },
  };
  const early = exited.then((r) => { throw new Error(`serve exited early: ${JSON.stringify(r)} ${JSON.stringify(logs)}`); });
  const listening = await Promise.race([server.waitLog((l) => l.event === 'listening'), early]);
  early.catch(() => {});
  server.port = Number(listening.port);
  server.redirectPort = Number(listening.redirect_port);
  server.origin = `https://127.0.0.1:${server.port}`;
  server.dbArgs = []; // SQLite in the data directory (startApi may add a database)
  server.ca = fs.readFileSync(server.certPath);
  return server;
}

// The path and query of a URL: signed URLs name the public origin; the tests
// send them to the server's loopback port.
export const pathOf = (url) => { const u = new URL(url); return u.pathname + u.search; };

// One HTTPS request to 127.0.0.1:to.port trusting to.ca (a server, a
// balancer, a media node), without cookies unless headers carry them
// (signed URLs are bearer credentials). Resolves { status, headers, body },
// body a Buffer (a string with o.encoding).
//   o.localAddress  the source address (any of 127.0.0.0/8)
//   o.timeout       ms until the request is destroyed (default 30 s)
//   o.whole         reject a response cut short (aborted, or fewer bytes
//                   than its Content-Length), as a reset would be
export function raw(to, method, p, headers = {}, body, { localAddress, timeout = 30000, encoding, whole = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: to.port, method, path: p, headers, ca: to.ca, servername: 'localhost', agent: false, localAddress,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      // A response cut short never ends: without these the promise would
      // never settle and the test would hang instead of failing. whole:
      // reject; otherwise resolve with what arrived, marked aborted.
      const cut = (e) => {
        if (whole) reject(e);
        else {
          const b = Buffer.concat(chunks);
          resolve({ status: res.statusCode, headers: res.headers, body: encoding ? b.toString(encoding) : b, aborted: true });
        }
      };
      res.on('error', cut);
      res.on('aborted', () => cut(new Error('response aborted')));
      res.on('end', () => {
        const b = Buffer.concat(chunks), cl = res.headers['content-length'];
        if (whole && method !== 'HEAD' && cl !== undefined && Number(cl) !== b.length) reject(new Error(`truncated: ${b.length}/${cl}`));
        else resolve({ status: res.statusCode, headers: res.headers, body: encoding ? b.toString(encoding) : b });
      });
    });
    req.on('error', reject);
    req.setTimeout(timeout, () => req.destroy(new Error('timeout')));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// One HTTPS request trusting the server's own certificate; the body as text.
export function request(server, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return raw(server, method, p, headers, body, { timeout: 10000, encoding: 'utf8' });
}

// A raw TLS connection for hand-written requests.
export function tlsConnect(server, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: server.port, ca: server.ca, servername: 'localhost', ...opts }, () => resolve(s));
    s.on('error', reject);
  });
}

// A tus PATCH announcing `total` body bytes, on a raw TLS connection. With
// send, the body follows the headers at once, as fast as the socket takes
// it (what the web uploader does with its >= 8 MiB chunks); without, no
// body byte is sent: an answer then came before the body. Resolves with the
// answer parsed (status, lower-case headers, body text), the body bytes the
// socket accepted, and whether the server closed within 10 s.
export async function patchAnnounced(srv, url, total, send) {
  const s = await tlsConnect(srv);
  let closed = false, text = '', sent = 0;
  s.on('data', (d) => { text += d.toString('latin1'); });
  const done = new Promise((resolve) => { s.on('close', () => { closed = true; resolve(); }); s.on('error', () => {}); });
  s.write(`PATCH ${url} HTTP/1.1\r\nHost: localhost\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n` +
    `Content-Type: application/offset+octet-stream\r\nContent-Length: ${total}\r\n\r\n`);
  const filler = Buffer.alloc(256 * 1024, 0x55);
  while (send && !closed && sent < total) {
    sent += filler.length;
    if (!s.write(filler)) await Promise.race([new Promise((r) => s.once('drain', r)), done]);
  }
  await Promise.race([done, new Promise((r) => setTimeout(r, 10000))]);
  s.destroy();
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(lines[0].split(' ')[1]), headers, body, sent, closed };
}

// Read from a socket until the accumulated text satisfies done() (or close).
export function readUntil(sock, done, ms = 5000) {
  return new Promise((resolve) => {
    let buf = '';
    const finish = () => { clearTimeout(t); sock.off('data', onData); sock.off('close', finish); resolve(buf); };
    const onData = (d) => { buf += d.toString('latin1'); if (done(buf)) finish(); };
    const t = setTimeout(finish, ms);
    sock.on('data', onData);
    sock.on('close', finish);
  });
}

export function opensslClient(port, args) {
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args],
    { input: '', encoding: 'utf8', timeout: 15000 });
  return { code: r.status, out: (r.stdout || '') + (r.stderr || '') };
}

export const SECURITY_HEADERS = {
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};
