#!/usr/bin/env node
// Owner-login load for bench/login.sh: CONCURRENCY loops each POSTing
// /api/v1/session (a real login: throttle checks, Argon2id verify, session
// row, cookie) for SECONDS, each request on a new TLS connection from the
// next of 250 loopback source addresses (the per-address login limit is 20
// then 1 per 6 s; a bench of 100+ logins from one address would measure the
// throttle, not the hash), cycling over USERS accounts benchN@example.org
// (a successful login resets the per-account tiers). Prints JSON: ok,
// statuses, logins per second, latency p50/p99 (ms). Bounded; loopback only.
//
//   node bench/logins.mjs --port P --password PW [--users 4] [--concurrency 4] [--seconds 6] [--net 3]
import https from 'node:https';

const a = process.argv.slice(2);
const opt = {};
for (let i = 0; i < a.length; i += 2) opt[a[i].replace(/^--/, '')] = a[i + 1];
const port = Number(opt.port);
const users = Number(opt.users ?? 4);
const conc = Number(opt.concurrency ?? 4);
const seconds = Number(opt.seconds ?? 6);
const net = Number(opt.net ?? 3); // source addresses 127.0.NET.1-250
const origin = `https://127.0.0.1:${port}`;
let seq = 0;
const statuses = {};
const lat = [];
const t0 = Date.now();
const end = t0 + seconds * 1000;

function login(i) {
  const body = JSON.stringify({ email: `bench${i % users}@example.org`, password: opt.password });
  const localAddress = `127.0.${net}.${1 + (i % 250)}`;
  return new Promise((resolve) => {
    const s = Date.now();
    const r = https.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/session', localAddress,
      rejectUnauthorized: false, servername: 'localhost', agent: false,
      headers: { Origin: origin, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
    (res) => {
      res.resume();
      res.on('end', () => {
        statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
        if (res.statusCode === 200) lat.push(Date.now() - s);
        resolve();
      });
    });
    r.on('error', () => { statuses.error = (statuses.error || 0) + 1; resolve(); });
    r.setTimeout(20000, () => r.destroy(new Error('timeout')));
    r.end(body);
  });
}

async function loop() {
  while (Date.now() < end) await login(seq++);
}

setTimeout(() => process.exit(3), (seconds + 30) * 1000).unref();
await Promise.all(Array.from({ length: conc }, loop));
const el = (Date.now() - t0) / 1000;
lat.sort((x, y) => x - y);
const p = (q) => (lat.length ? lat[Math.min(lat.length - 1, Math.ceil(lat.length * q) - 1)] : 0);
console.log(JSON.stringify({ ok: statuses[200] || 0, statuses, seconds: el, per_s: (statuses[200] || 0) / el,
  p50_ms: p(0.5), p99_ms: p(0.99) }));
