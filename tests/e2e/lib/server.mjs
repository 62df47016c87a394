// Shared helper for the black-box tests: a fresh data directory (audiomus
// init), a server on a random loopback port (serve --listen 127.0.0.1:0),
// its JSON log lines, HTTPS and raw-TLS clients, and a clean stop.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export const BIN = process.env.AUDIOMUS_BIN || path.resolve('build/release/audiomus');

export function run(args, opts = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 30000, ...opts });
  return { code: r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}

export function initDataDir(dir) {
  const r = run(['init', '--data', dir]);
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  return r;
}

// Start a server; resolves once the "listening" log line names the port.
export async function startServer({ args = [], env = {} } = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-e2e-'));
  const dataDir = path.join(tmp, 'data');
  initDataDir(dataDir);
  const proc = spawn(BIN, ['serve', '--data', dataDir, '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  const waiters = [];
  let partial = '';
  proc.stdout.resume();
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    partial += chunk;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let obj = null;
      try { obj = JSON.parse(line); } catch { obj = { raw: line }; }
      logs.push(obj);
      for (const w of [...waiters]) if (w.pred(obj)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(obj); }
    }
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));

  const server = {
    proc, tmp, dataDir, logs, exited,
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
  server.ca = fs.readFileSync(server.certPath);
  return server;
}

// One HTTPS request trusting the server's own certificate.
export function request(server, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: server.port, method, path: p, headers, ca: server.ca,
      servername: 'localhost', agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// A raw TLS connection for hand-written requests.
export function tlsConnect(server, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: server.port, ca: server.ca, servername: 'localhost', ...opts }, () => resolve(s));
    s.on('error', reject);
  });
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
