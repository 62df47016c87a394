// Helpers for the JSON API black-box suites (tests/e2e/api*.test.mjs): a
// server (the test build in testing mode with an injectable clock when a
// suite asks for hooks, the release binary otherwise), fast Argon2id, optionally
// on a fresh PostgreSQL database; an HTTPS client with a cookie jar, Origin
// and CSRF headers and a chosen loopback source address; owner set-up; a
// tus upload and the wait for the worker to finish a version.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { pathOf, raw, run, startServer } from './server.mjs';

export const PASSWORD = 'correct horse battery staple';
export const FAST_ARGON = ['--set', 'argon2_opslimit=2', '--set', 'argon2_memlimit=8M'];

// The back-ends every API suite runs on: SQLite always, PostgreSQL when
// scripts/test-all (or the developer) set AUDIOMUS_TEST_PG_URL.
export const BACKENDS = ['sqlite', ...(process.env.AUDIOMUS_TEST_PG_URL ? ['postgresql'] : [])];
// Without a PostgreSQL URL the postgresql half of every suite would vanish
// from the count rather than skip: under CI that fails the file at once.
if (process.env.CI === 'true' && !process.env.AUDIOMUS_TEST_PG_URL) {
  throw new Error('CI=true but AUDIOMUS_TEST_PG_URL is not set: the PostgreSQL half of each suite would not run (scripts/test-all starts it)');
}

// A fresh database on the PostgreSQL test cluster (AUDIOMUS_TEST_PG_URL),
// created through psql and named prefix_PID_RANDOM; query(sql) returns rows
// as arrays of strings (psql -At, unit separator between fields).
export function freshPgDatabase(prefix = 'am_api') {
  const base = process.env.AUDIOMUS_TEST_PG_URL;
  const name = `${prefix}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const r = spawnSync('psql', [base, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${name}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    query(sql) {
      const q = spawnSync('psql', [u.toString(), '-v', 'ON_ERROR_STOP=1', '-AtF', '\x1f', '-c', sql], { encoding: 'utf8' });
      if (q.status !== 0) throw new Error(`psql: ${q.stderr}`);
      return q.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\x1f'));
    },
    drop: () => spawnSync('psql', [base, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]),
  };
}

// Start `audiomus serve` for the API suites. opts.args are extra flags.
// opts.hooks: the test build (lib/server.mjs testBin(), which fails the test
// if there is none) with AUDIOMUS_TESTING=1 and the test clock, for suites
// that shift the clock or set an AUDIOMUS_TEST_* hook in opts.env; without
// it, the binary under test as shipped, and setClock() throws.
export async function startApi(backend = 'sqlite', { args = [], env = {}, hooks = false, dataParent } = {}) {
  const clockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-clock-'));
  const clockFile = path.join(clockDir, 'offset');
  fs.writeFileSync(clockFile, '0\n');
  let pg = null;
  const dbArgs = [];
  if (backend === 'postgresql') {
    pg = freshPgDatabase('am_api');
    dbArgs.push('--set', `database=${pg.url}`);
  }
  const srv = await startServer({
    args: [...FAST_ARGON, ...dbArgs, ...args],
    env: hooks ? { AUDIOMUS_TESTING: '1', AUDIOMUS_TEST_CLOCK_FILE: clockFile, ...env } : env,
    hooks,
    dataParent,
  });
  srv.backend = backend;
  srv.dbArgs = dbArgs;
  srv.clock = 0;
  // Shift the server's clock (seconds, absolute offset); read at the next API request.
  srv.setClock = (offset) => {
    if (!hooks) throw new Error('setClock needs the test clock: start the server with startApi(backend, { hooks: true })');
    srv.clock = offset;
    fs.writeFileSync(clockFile, `${offset}\n`);
  };
  srv.advance = (seconds) => {
    if (srv.frozenAt === undefined) return srv.setClock(srv.clock + seconds);
    srv.frozenAt += seconds;
    fs.writeFileSync(clockFile, `=${srv.frozenAt}\n`);
  };
  // Freeze the server's clock (test build): every request then starts at
  // the same epoch second until advance() moves it, so a rate limit's
  // arithmetic does not depend on how long a loaded machine takes. thaw()
  // goes back to real time + an offset that never moves the clock back.
  srv.freeze = () => {
    if (!hooks) throw new Error('freeze needs the test clock: startApi(backend, { hooks: true })');
    srv.frozenAt = Math.floor(Date.now() / 1000) + srv.clock;
    fs.writeFileSync(clockFile, `=${srv.frozenAt}\n`);
  };
  srv.thaw = () => {
    const at = srv.frozenAt;
    srv.frozenAt = undefined;
    srv.setClock(Math.max(srv.clock, at + 1 - Math.floor(Date.now() / 1000)));
  };
  const stop = srv.stop.bind(srv);
  srv.stop = async () => { const r = await stop(); fs.rmSync(clockDir, { recursive: true, force: true }); pg?.drop(); return r; };
  return srv;
}

// `audiomus user ...` against the server's database.
export function userCli(srv, args, input) {
  return run(['user', ...args, '--data', srv.dataDir, ...FAST_ARGON, ...srv.dbArgs], { input });
}

// An HTTPS client with a cookie jar. opts.localAddress picks the source
// address (any of 127.0.0.0/8).
export class Client {
  constructor(srv, { localAddress } = {}) {
    this.srv = srv;
    this.localAddress = localAddress;
    this.jar = new Map();
    this.csrf = null;
  }

  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  // One request. body: an object (sent as JSON) or a string (sent as is).
  // o.origin: false to omit Origin, a string to send another; o.csrf: false
  // to omit the token, a string to send another; o.headers: extra headers.
  async req(method, p, body, o = {}) {
    const headers = { ...(o.headers || {}) };
    const unsafe = !['GET', 'HEAD'].includes(method);
    if (unsafe && o.origin !== false) headers.Origin = typeof o.origin === 'string' ? o.origin : this.srv.origin;
    if (unsafe && o.csrf !== false && (typeof o.csrf === 'string' || this.csrf)) headers['X-CSRF-Token'] = typeof o.csrf === 'string' ? o.csrf : this.csrf;
    let data;
    if (body !== undefined) {
      data = typeof body === 'string' ? body : JSON.stringify(body);
      if (!headers['Content-Type']) headers['Content-Type'] = 'application/json';
      // Node sends DELETE bodies without chunking: say how long it is.
      headers['Content-Length'] = Buffer.byteLength(data);
    }
    if (this.jar.size && o.cookies !== false) headers.Cookie = this.cookieHeader();
    const r = await raw(this.srv, method, p, headers, data, { localAddress: this.localAddress, timeout: 15000, encoding: 'utf8' });
    const setCookies = r.headers['set-cookie'] || [];
    for (const sc of setCookies) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const maxAge = attrs.map((a) => a.trim()).find((a) => /^max-age=/i.test(a));
      if (value === '' || (maxAge && Number(maxAge.split('=')[1]) <= 0)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    let json = null;
    try { json = r.body ? JSON.parse(r.body) : null; } catch { json = null; }
    return { ...r, json, setCookies };
  }

  get(p, o) { return this.req('GET', p, undefined, o); }
  post(p, body = {}, o) { return this.req('POST', p, body, o); }
  put(p, body = {}, o) { return this.req('PUT', p, body, o); }
  patch(p, body = {}, o) { return this.req('PATCH', p, body, o); }
  del(p, body, o) { return this.req('DELETE', p, body, o); }

  async login(email, password = PASSWORD) {
    const r = await this.post('/api/v1/session', { email, password });
    if (r.status === 200) this.csrf = r.json.csrf_token;
    return r;
  }
}

let ownerSeq = 0;
// A new owner account (through the CLI) with a signed-in client.
export async function newOwner(srv, opts = {}) {
  const email = opts.email || `owner${++ownerSeq}-${crypto.randomBytes(3).toString('hex')}@example.org`;
  const r = userCli(srv, ['add', email], `${PASSWORD}\n`);
  if (r.code !== 0) throw new Error(`user add: ${r.stderr}`);
  const c = new Client(srv, opts);
  const l = await c.login(email);
  if (l.status !== 200) throw new Error(`login: ${l.status} ${l.body}`);
  c.email = email;
  c.accountId = l.json.account.id;
  return c;
}

// A project with its default link (token and URL come back once).
export async function newProject(owner, title = 'Demo EP') {
  const r = await owner.post('/api/v1/projects', { title });
  if (r.status !== 201) throw new Error(`create project: ${r.status} ${r.body}`);
  return r.json.project;
}

export function tokenOf(link) { return link.token; }

// Upload bytes as a new version of track tid: the upload URL from the web
// role, then the whole file in one tus PATCH to `to` (the server by default;
// o.timeout for that request). Returns the version id.
export async function uploadVersion(owner, pid, tid, bytes, { filename = 'mix.wav', to = owner.srv, timeout } = {}) {
  const up = await owner.post(`/api/v1/projects/${pid}/tracks/${tid}/uploads`, { filename, size: bytes.length });
  assert.equal(up.status, 201, up.body);
  const r = await raw(to, 'PATCH', pathOf(up.json.upload_url), {
    'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': bytes.length,
  }, bytes, { timeout });
  assert.equal(r.status, 204, r.body.toString());
  return up.json.version.id;
}

// A new track titled o.title with bytes as its first version (as
// uploadVersion). Returns { tid, vid }.
export async function uploadTrack(owner, pid, bytes, { title = 'Track 1', ...o } = {}) {
  const tid = (await owner.post(`/api/v1/projects/${pid}/tracks`, { title })).json.track.id;
  return { tid, vid: await uploadVersion(owner, pid, tid, bytes, o) };
}

// Version vid as the owner's project page lists it.
export async function versionOf(owner, pid, vid) {
  const r = await owner.get(`/api/v1/projects/${pid}`);
  assert.equal(r.status, 200, r.body);
  for (const t of r.json.tracks || r.json.project?.tracks || []) for (const v of t.versions) if (v.id === vid) return v;
  throw new Error(`version ${vid} not in ${r.body}`);
}

// Poll (every o.every ms, for at most o.ms) until version vid is in one of
// o.states (by default: the worker is done with it, ready or failed). On a
// timeout the message carries the server's last log lines (when the owner's
// server keeps them), so a CI failure says what the worker was doing.
export async function waitVersion(owner, pid, vid, { states = ['ready', 'failed'], ms = 60000, every = 50 } = {}) {
  const t0 = Date.now();
  for (;;) {
    const v = await versionOf(owner, pid, vid);
    if (states.includes(v.state)) return v;
    if (Date.now() - t0 >= ms) {
      const tail = (owner.srv?.logs || []).slice(-25).map((l) => JSON.stringify(l)).join('\n');
      assert.fail(`version still ${JSON.stringify(v)} after ${ms} ms${tail ? `; the server's last log lines:\n${tail}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

// Run fn with the server's clock frozen (srv.freeze(), then srv.thaw()): for
// the rate-limit tests, whose Retry-After arithmetic must not depend on how
// long a loaded machine takes between two requests.
export async function withFrozenClock(srv, fn) {
  srv.freeze();
  try {
    return await fn();
  } finally {
    srv.thaw();
  }
}
