// E-mail notifications end to end (issue 9, docs/mail.md) against a real
// SMTP server: scripts/smtp-test (aiosmtpd on 127.0.0.1:12525, STARTTLS
// required, certificate from a test CA that smtp_ca_file trusts). Covers:
// opted-out owners get nothing, a burst of comments is one digest, every
// message parses as MIME, a comment's mail is composed by the worker (with
// only the web role running, a guest comment leaves an event and no outbox
// row; a worker started later mails it once), an SMTP outage is retried, a
// worker killed in the middle of a message delivers it once after restart
// (never twice within the lease), password reset by e-mail (single use, 30
// minutes on the test clock), the one-click unsubscribe link, and owner
// address verification (a self sign-up gets one verification mail and no
// opt-in mail until the signed 24-hour token comes back; forged, spliced,
// damaged and expired tokens are refused; resend is rate limited; a
// password reset proves the address too). Skipped when aiosmtpd is missing
// (the part without mail runs anyway). Node's runner only, no npm packages.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, FAST_ARGON, PASSWORD, freshPgDatabase, newOwner, startApi, userCli } from './lib/api.mjs';
import { BIN, initDataDir, onLogLines, request, testBin } from './lib/server.mjs';

const SCRIPT = path.resolve('scripts/smtp-test');
const HAVE_SINK = spawnSync('/usr/bin/python3', ['-c', 'import aiosmtpd']).status === 0;
// Delivery needs the worker role (serve runs one worker thread).
const HAVE_WORKER = spawnSync(BIN, ['worker', '--help']).status === 0;
const SKIP = (!HAVE_SINK && 'python3-aiosmtpd missing') || (!HAVE_WORKER && 'this binary has no worker role');
const sink = (cmd) => {
  const r = spawnSync(SCRIPT, [cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`smtp-test ${cmd}: ${r.stderr}`);
  return r.stdout.trim();
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- a minimal MIME reader -------------------------------------------------------------
function decodeWords(v) {
  return v.replace(/=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=(\s+(?==\?))?/g, (_, b) => Buffer.from(b, 'base64').toString('utf8'));
}

export function parseMime(raw) {
  const text = raw.replace(/\r?\n/g, '\r\n');
  const split = text.indexOf('\r\n\r\n');
  assert.ok(split > 0, 'header/body separator');
  const headers = {};
  for (const line of text.slice(0, split).replace(/\r\n[ \t]/g, ' ').split('\r\n')) {
    const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
    assert.ok(m, `header line: ${JSON.stringify(line)}`);
    const k = m[1].toLowerCase();
    (headers[k] ||= []).push(m[2]);
  }
  const ct = headers['content-type']?.[0] || '';
  const bm = /boundary="([^"]+)"/.exec(ct);
  assert.ok(ct.startsWith('multipart/alternative') && bm, 'multipart/alternative with a boundary');
  const body = text.slice(split + 4);
  const chunks = body.split(`--${bm[1]}`);
  assert.equal(chunks[0], '', 'nothing before the first boundary');
  assert.ok(chunks[chunks.length - 1].startsWith('--'), 'closing delimiter');
  const parts = chunks.slice(1, -1).map((c) => {
    const s = c.indexOf('\r\n\r\n');
    const h = c.slice(0, s);
    assert.match(h, /Content-Transfer-Encoding: base64/);
    return { type: /Content-Type: ([^;\r]+)/.exec(h)[1], body: Buffer.from(c.slice(s + 4), 'base64').toString('utf8') };
  });
  assert.deepEqual(parts.map((p) => p.type), ['text/plain', 'text/html']);
  for (const k of ['date', 'from', 'to', 'subject', 'message-id', 'mime-version']) assert.equal(headers[k]?.length, 1, `one ${k}`);
  return {
    headers, subject: decodeWords(headers.subject[0]), to: headers.to[0], text: parts[0].body, html: parts[1].body,
    unsubscribe: /<([^>]+)>/.exec(headers['list-unsubscribe']?.[0] || '')?.[1] || null,
  };
}

// ---- a server we can kill and restart on the same data directory ---------------------------
// The test build: the suite shifts the clock and stalls the sender (hooks).
async function spawnServe(st) {
  const proc = spawn(testBin(), [st.role, '--data', st.dataDir, '--listen', `127.0.0.1:${st.port || 0}`, ...st.args], {
    env: { ...process.env, AUDIOMUS_TESTING: '1', AUDIOMUS_TEST_CLOCK_FILE: st.clockFile, ...st.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  st.proc = proc;
  st.logs = [];
  onLogLines(proc.stderr, (l) => st.logs.push(l));
  st.exited = new Promise((r) => proc.on('exit', r));
  const l = await st.waitLog((x) => x.event === 'listening');
  st.port = Number(l.port);
  st.origin = `https://127.0.0.1:${st.port}`;
}

// role: 'serve' (every role, one worker thread) or 'web' (no worker: nothing
// delivers, nothing composes a comment's mail until a worker runs).
async function startMailServer({ env = {}, args = [], backend = 'sqlite', role = 'serve' } = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-mail-'));
  const pg = backend === 'postgresql' ? freshPgDatabase('am_mail') : null;
  const dbArgs = pg ? ['--set', `database=${pg.url}`] : [];
  const st = {
    tmp, dataDir: path.join(tmp, 'data'), clockFile: path.join(tmp, 'clock'), dbArgs, env, clock: 0, role,
    args: [...FAST_ARGON, ...dbArgs, '--set', `smtp_url=${sink('url')}`, '--set', `smtp_ca_file=${sink('ca')}`,
      '--set', 'mail_from=Audiomus Test <noreply@review.example.org>', '--set', 'mail_digest_minutes=1', ...args],
  };
  fs.writeFileSync(st.clockFile, '0\n');
  initDataDir(st.dataDir);
  st.waitLog = async (pred, ms = 15000) => {
    const t0 = Date.now();
    for (;;) {
      const hit = st.logs.find(pred);
      if (hit) return hit;
      if (Date.now() - t0 > ms) throw new Error(`log line not seen: ${JSON.stringify(st.logs.slice(-5))}`);
      await sleep(50);
    }
  };
  await spawnServe(st);
  st.ca = fs.readFileSync(path.join(st.dataDir, 'tls', 'cert.pem'));
  st.advance = async (seconds) => {
    st.clock += seconds;
    fs.writeFileSync(st.clockFile, `${st.clock}\n`);
    await new Client(st).get('/api/v1/session'); // any API request applies the clock (process-wide)
  };
  // Rows of a query on the server's database (strings; SQLite read-only).
  st.query = (sql) => {
    if (pg) return pg.query(sql);
    const py = 'import sqlite3, sys\n'
      + 'c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)\n'
      + 'for row in c.execute(sys.argv[2]): print("\x1f".join(str(v) for v in row))';
    const r = spawnSync('/usr/bin/python3', ['-c', py, path.join(st.dataDir, 'audiomus.db'), sql], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
    return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\x1f'));
  };
  // Wait until the worker has done all it was given: no comment event left
  // to compose (mail_events), no message queued or being sent (outbox: a row
  // is deleted after the sink's 250, and the sink writes the Maildir file
  // before it answers), with digests: true also no digest waiting. Then what
  // the sink holds is all that will come of it: "nothing more" is read at
  // that point instead of after a fixed wait.
  st.settled = async ({ digests = false, ms = 20000 } = {}) => {
    const n = (sql) => Number(st.query(sql)[0][0]);
    const t0 = Date.now();
    for (;;) {
      const left = n('SELECT COUNT(*) FROM mail_events')
        + n("SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending')")
        + (digests ? n('SELECT COUNT(*) FROM mail_digest_items') : 0);
      if (left === 0) return;
      if (Date.now() - t0 > ms) throw new Error(`mail not settled after ${ms} ms: ${left} event(s), message(s) or digest item(s) left`);
      await sleep(100);
    }
  };
  st.kill = async () => { st.proc.kill('SIGKILL'); await st.exited; };
  st.restart = async (newEnv = {}) => { st.env = newEnv; await spawnServe(st); };
  st.stop = async () => {
    if (st.proc.exitCode === null && st.proc.signalCode === null) st.proc.kill('SIGTERM');
    await st.exited;
    fs.rmSync(tmp, { recursive: true, force: true });
    pg?.drop();
  };
  return st;
}

// Messages in the sink for one address.
function inbox(maildir, to) {
  const dir = path.join(maildir, 'new');
  return fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .filter((raw) => raw.includes(`To: <${to}>`)).map(parseMime);
}

async function waitInbox(maildir, to, n, ms = 20000) {
  const t0 = Date.now();
  for (;;) {
    const got = inbox(maildir, to);
    if (got.length >= n) return got;
    if (Date.now() - t0 > ms) throw new Error(`expected ${n} message(s) to ${to}, got ${got.length}`);
    await sleep(200);
  }
}

async function projectWithVersion(owner, title) {
  const p = (await owner.post('/api/v1/projects', { title })).json.project;
  const tid = (await owner.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Intro' })).json.track.id;
  const vid = (await owner.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 't.wav', size: 100 })).json.version.id;
  return { ...p, vid, token: p.link.token };
}

// A form POST without session cookie, Origin or CSRF token (a mail client's
// one-click unsubscribe).
const rawPost = (st, url, body) => request(st, {
  method: 'POST', path: new URL(url, st.origin).pathname, body,
  headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) },
});

for (const backend of BACKENDS) describe(`e-mail notifications (SMTP sink, STARTTLS, ${backend})`, { skip: SKIP }, () => {
  let st, maildir;
  before(async () => { maildir = sink('start'); st = await startMailServer({ backend }); });
  after(async () => { await st?.stop(); });

  test('opted-out owners get nothing; opted-in ones one digest per burst, valid MIME; unsubscribe works without login', async () => {
    const quiet = await newOwner(st);
    const loud = await newOwner(st);
    const r = await loud.put('/api/v1/account/notifications', { comments: true });
    assert.equal(r.status, 200);
    assert.equal(r.json.notifications.comments, true);
    assert.equal(r.json.notifications.replies, false);
    const pq = await projectWithVersion(quiet, 'Quiet EP');
    const pl = await projectWithVersion(loud, 'Démo EP <b>');
    const g = new Client(st);
    for (let i = 0; i < 5; i++) {
      for (const p of [pq, pl]) {
        const c = await g.post(`/api/v1/s/${p.token}/comments`, { name: `Ann ${i}`, body: `take ${i}: louder`, version_id: p.vid, time_ms: 83000 + i });
        assert.equal(c.status, 201);
      }
    }
    await st.settled(); // every comment taken into the digest, nothing sent
    assert.equal(inbox(maildir, loud.email).length, 0, 'nothing before the digest interval');
    await st.advance(61);
    const [m] = await waitInbox(maildir, loud.email, 1);
    await st.settled({ digests: true });
    assert.equal(inbox(maildir, loud.email).length, 1, 'exactly one digest');
    assert.equal(inbox(maildir, quiet.email).length, 0, 'opted out: nothing');
    assert.equal(m.subject, '5 new comments on "Démo EP <b>"');
    assert.match(m.text, /Reviewer "Ann 0" \(the name they typed\) commented at 1:23 on "Intro":\r\n> take 0: louder\r\n/);
    assert.match(m.html, /Démo EP &lt;b&gt;/);
    assert.doesNotMatch(m.html, /<img|<script/);
    assert.equal(m.headers['list-unsubscribe-post'][0], 'List-Unsubscribe=One-Click');
    assert.ok(m.unsubscribe.startsWith(`${st.origin}/api/v1/unsubscribe/`));
    assert.doesNotMatch(m.text + m.html, /127\.0\.0\.1(?!:)/, 'no guest address'); // only the server origin

    // The link: a confirmation page, then a one-click POST without a session.
    const page = await new Client(st).get(new URL(m.unsubscribe).pathname);
    assert.equal(page.status, 200);
    assert.match(page.body, /<form method="post">/);
    const one = await rawPost(st, m.unsubscribe, 'List-Unsubscribe=One-Click');
    assert.equal(one.status, 200);
    assert.match(one.body, /Unsubscribed/);
    const s = await loud.get(`/api/v1/projects/${pl.id}/notifications`);
    assert.equal(s.json.notifications.comments, 'off');
    assert.equal(s.json.effective.comments, false);
    const bad = await rawPost(st, `${m.unsubscribe.slice(0, -2)}AA`, '');
    assert.equal(bad.status, 404);
    await g.post(`/api/v1/s/${pl.token}/comments`, { name: 'Bo', body: 'again', version_id: pl.vid, time_ms: 0 });
    await st.advance(61);
    await st.settled({ digests: true });
    assert.equal(inbox(maildir, loud.email).length, 1, 'unsubscribed: no second digest');
  });

  test('a reply notifies at once; header injection through names and titles is inert', async () => {
    const o = await newOwner(st);
    await o.put('/api/v1/account/notifications', { replies: true });
    const p = await projectWithVersion(o, 'Title\r\nBcc: victim@example.net');
    const g = new Client(st);
    const top = await g.post(`/api/v1/s/${p.token}/comments`, { name: 'Cy', body: 'first', version_id: p.vid, time_ms: 0 });
    assert.equal(top.status, 201);
    const rep = await g.post(`/api/v1/s/${p.token}/comments`, { name: 'Di', body: 'reply\r\nBcc: x@example.net', version_id: p.vid, time_ms: 0, parent_id: top.json.comment.id });
    assert.equal(rep.status, 201);
    const [m] = await waitInbox(maildir, o.email, 1);
    assert.equal(m.subject, 'New reply on "Title  Bcc: victim@example.net"');
    assert.equal(m.headers.bcc, undefined);
    assert.match(m.text, /Reviewer "Di" \(the name they typed\) replied at 0:00/);
  });

  test('guest text cannot pass for audiomus: a forged signature, notice and link stay a quoted block, never a link', async () => {
    const o = await newOwner(st);
    await o.put('/api/v1/account/notifications', { replies: true });
    const p = await projectWithVersion(o, 'Forgery EP');
    const g = new Client(st);
    const top = await g.post(`/api/v1/s/${p.token}/comments`, { name: 'Cy', body: 'first', version_id: p.vid, time_ms: 0 });
    const body = 'nice mix\n\n--\nSECURITY NOTICE: your audiomus password must be reset.\nhttps://evil.example/reset#token=x';
    const rep = await g.post(`/api/v1/s/${p.token}/comments`, { name: 'audiomus security team', body, version_id: p.vid, time_ms: 0, parent_id: top.json.comment.id });
    assert.equal(rep.status, 201, rep.body);
    const [m] = await waitInbox(maildir, o.email, 1);
    // text: the name is marked as typed by the reviewer, every line of the body quoted
    assert.match(m.text, /Reviewer "audiomus security team" \(the name they typed\) replied at 0:00 on "[^"]*":\r\n/);
    assert.match(m.text, /\r\n> nice mix\r\n>\r\n> --\r\n> SECURITY NOTICE: your audiomus password must be reset\.\r\n> https:\/\/evil\.example\/reset#token=x\r\n/);
    assert.doesNotMatch(m.text, /^(SECURITY NOTICE|https:\/\/evil)/m, 'no guest line starts like the server\'s own');
    assert.equal(m.text.match(/^--\r$/gm)?.length, 1, 'one unquoted "--": the server\'s own footer');
    // html: the same lines inside one blockquote, the evil URL not a link; the server's own links still are
    const q = m.html.slice(m.html.indexOf('<blockquote'), m.html.indexOf('</blockquote>'));
    for (const line of ['nice mix', 'SECURITY NOTICE', 'https://evil.example/reset#token=x']) assert.ok(q.includes(line), line);
    assert.doesNotMatch(m.html, /href="https:\/\/evil/);
    assert.equal((m.html.match(/<a href=/g) || []).length, 0, 'a reply mail has no link in its body');
  });

  test('SMTP down: retried with back-off and delivered when it is back', async () => {
    const o = await newOwner(st);
    await o.put('/api/v1/account/notifications', { password_changed: true });
    sink('pause');
    try {
      const r = await o.post('/api/v1/account/password', { current_password: PASSWORD, new_password: 'a new passphrase 42' });
      assert.equal(r.status, 204);
      await st.waitLog((l) => l.event === 'mail_retry');
    } finally {
      sink('start');
    }
    await sleep(1000);
    assert.equal(inbox(maildir, o.email).length, 0, 'not before the back-off');
    await st.advance(61);
    const [m] = await waitInbox(maildir, o.email, 1);
    assert.equal(m.subject, 'Your audiomus password was changed');
  });

  test('password reset by e-mail: same answer for unknown addresses, single use, 30 minutes', async () => {
    const o = await newOwner(st);
    const c = new Client(st);
    const known = await c.post('/api/v1/password-reset', { email: o.email });
    const unknown = await c.post('/api/v1/password-reset', { email: `nobody-${crypto.randomBytes(3).toString('hex')}@example.org` });
    assert.equal(known.status, 202);
    assert.equal(unknown.status, known.status);
    assert.equal(unknown.body, known.body);
    const [m] = await waitInbox(maildir, o.email, 1);
    assert.equal(m.unsubscribe, null, 'transactional: no List-Unsubscribe');
    const token = /The token for the API is: (\S+)/.exec(m.text)[1];
    const ok = await c.post('/api/v1/password-reset/confirm', { token, new_password: 'reset passphrase 77' });
    assert.equal(ok.status, 204);
    assert.equal((await new Client(st).login(o.email, 'reset passphrase 77')).status, 200);
    assert.equal((await new Client(st).login(o.email)).status, 401);
    const again = await c.post('/api/v1/password-reset/confirm', { token, new_password: 'another passphrase 9' });
    assert.equal(again.status, 400, 'single use');
    await c.post('/api/v1/password-reset', { email: o.email });
    const ms = await waitInbox(maildir, o.email, 2);
    const t2 = /The token for the API is: (\S+)/.exec(ms.find((x) => !x.text.includes(token)).text)[1];
    await st.advance(31 * 60);
    const late = await c.post('/api/v1/password-reset/confirm', { token: t2, new_password: 'another passphrase 9' });
    assert.equal(late.status, 400, 'expired after 30 minutes');
  });
});

// Posting a comment composes no mail (issue 19, docs/mail.md "Events"): its
// transaction writes an event, and the worker's mail pump composes it.
for (const backend of BACKENDS) describe(`e-mail: a comment's mail is composed by the worker (${backend})`, { skip: SKIP }, () => {
  let st, maildir, worker;
  before(async () => { maildir = sink('start'); st = await startMailServer({ backend, role: 'web' }); });
  after(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      worker.kill('SIGTERM');
      await new Promise((r) => worker.on('exit', r));
    }
    await st?.stop();
  });

  test('with no worker running a guest reply leaves an event and no outbox row; a worker then mails it once', async () => {
    const o = await newOwner(st);
    await o.put('/api/v1/account/notifications', { replies: true });
    const p = await projectWithVersion(o, 'Event EP');
    const g = new Client(st);
    const top = await g.post(`/api/v1/s/${p.token}/comments`, { name: 'Cy', body: 'first', version_id: p.vid, time_ms: 0 });
    assert.equal(top.status, 201);
    const rep = await g.post(`/api/v1/s/${p.token}/comments`, { name: 'Di', body: 'a reply', version_id: p.vid, time_ms: 0, parent_id: top.json.comment.id });
    assert.equal(rep.status, 201);
    const own = await o.post(`/api/v1/projects/${p.id}/comments`, { body: 'mine', version_id: p.vid, time_ms: 0 });
    assert.equal(own.status, 201, own.body);
    const count = (t) => Number(st.query(`SELECT COUNT(*) FROM ${t}`)[0][0]);
    const hex = backend === 'postgresql' ? "encode(comment_id, 'hex')" : 'lower(hex(comment_id))';
    assert.equal(count('outbox'), 0, 'the request composed no mail');
    assert.deepEqual(st.query(`SELECT ${hex} FROM mail_events ORDER BY created, ${hex}`).map((r) => r[0]).sort(),
      [top.json.comment.id, rep.json.comment.id].sort(), 'one event per guest comment, none for the owner\'s');
    assert.equal(Number(st.query("SELECT COUNT(*) FROM jobs WHERE kind = 'mail' AND state = 'queued'")[0][0]), 1, 'a wake-up job');
    await sleep(1500);
    assert.equal(inbox(maildir, o.email).length, 0, 'no worker, no mail');

    worker = spawn(testBin(), ['worker', '--data', st.dataDir, ...st.args], { stdio: ['ignore', 'ignore', 'ignore'] });
    const [m] = await waitInbox(maildir, o.email, 1);
    assert.equal(m.subject, 'New reply on "Event EP"');
    assert.match(m.text, /Reviewer "Di" \(the name they typed\) replied at 0:00 on "Intro":\r\n> a reply\r\n/);
    const t0 = Date.now();
    while (count('mail_events') > 0 && Date.now() - t0 < 15000) await sleep(200);
    assert.equal(count('mail_events'), 0, 'every event taken (the top-level one mails nothing: comments are off)');
    await st.settled();
    assert.equal(inbox(maildir, o.email).length, 1, 'exactly once');
    assert.equal(count('outbox'), 0, 'delivered');
  });
});

describe('e-mail: worker killed in the middle of a message', { skip: SKIP }, () => {
  let st, maildir;
  before(async () => { maildir = sink('start'); st = await startMailServer({ env: { AUDIOMUS_TEST_MAIL_STALL_MS: '20000' } }); });
  after(async () => { await st?.stop(); });

  test('delivered once after restart, never twice within the lease', async () => {
    const o = await newOwner(st);
    await o.put('/api/v1/account/notifications', { new_login: true });
    const c = new Client(st);
    assert.equal((await c.login(o.email)).status, 200); // a device without the cookie: new
    await st.waitLog((l) => l.event === 'mail_sending');
    await sleep(500); // the first half of the message is on the wire
    await st.kill();
    await st.restart({});
    // A message queued after the claimed one is delivered by the restarted
    // worker: it has been through the outbox since, and passed the claimed
    // message over (not a fixed wait).
    const later = await newOwner(st);
    await later.put('/api/v1/account/notifications', { new_login: true });
    assert.equal((await new Client(st).login(later.email)).status, 200);
    await waitInbox(maildir, later.email, 1);
    assert.equal(inbox(maildir, o.email).length, 0, 'the claimed message waits for its lease');
    await st.advance(301); // past the 5-minute lease (and the job's)
    const [m] = await waitInbox(maildir, o.email, 1);
    assert.equal(m.subject, 'New sign-in to your audiomus account');
    await st.settled();
    assert.equal(inbox(maildir, o.email).length, 1, 'exactly once');
  });
});

// ---- owner address verification (docs/mail.md "Verification") -----------------------------
const VERIFY = '/api/v1/account/email/verify';
const RESEND = '/api/v1/account/email/resend';
let signupSeq = 0;

// A self sign-up (unverified), from its own loopback address: sign-up is
// limited to 5 per client address.
async function signUp(st, tag) {
  const email = `${tag}-${crypto.randomBytes(4).toString('hex')}@example.org`;
  const c = new Client(st, { localAddress: `127.0.9.${++signupSeq}` });
  const r = await c.post('/api/v1/accounts', { email, password: PASSWORD });
  assert.equal(r.status, 201, r.body);
  c.csrf = r.json.csrf_token;
  c.email = email;
  c.accountId = r.json.account.id;
  return c;
}

// The token of a verification message: the link (token in the fragment,
// never sent to a server) and the same token spelled out for the API.
function verifyTokenOf(st, m) {
  const esc = st.origin.replace(/[.]/g, '\\.');
  const link = new RegExp(`^${esc}/verify-email#token=([A-Za-z0-9_-]+)\\r?$`, 'm').exec(m.text);
  assert.ok(link, `a verification link in: ${m.text}`);
  assert.match(m.text, new RegExp(`The token for the API is: ${link[1]}\\r?$`, 'm'));
  assert.ok(m.html.includes(`/verify-email#token=${link[1]}`), 'the link in the HTML part too');
  return link[1];
}

for (const backend of BACKENDS) describe(`owner address verification (SMTP sink, ${backend})`, { skip: SKIP }, () => {
  let st, maildir;
  before(async () => {
    maildir = sink('start');
    st = await startMailServer({ backend, args: ['--set', 'signup_open=true'] });
  });
  after(async () => { await st?.stop(); });

  test('sign-up sends one verification mail; no opt-in mail until the mailed token is used', async () => {
    const o = await signUp(st, 'fresh');
    const ctrl = await newOwner(st); // `audiomus user add`: the administrator vouches
    const [m] = await waitInbox(maildir, o.email, 1);
    assert.equal(m.subject, 'Confirm your e-mail address for audiomus');
    assert.equal(m.to, `<${o.email}>`);
    assert.equal(m.unsubscribe, null, 'transactional: no List-Unsubscribe');
    const token = verifyTokenOf(st, m);
    assert.equal((await o.get('/api/v1/account')).json.email_verified, false);
    assert.equal((await ctrl.get('/api/v1/account')).json.email_verified, true, 'user add: verified');

    // Opted in but unverified: no digest, no password-change mail. The
    // control owner's digest of the same flush is the point to look.
    for (const c of [o, ctrl]) {
      const r = await c.put('/api/v1/account/notifications', { comments: true, password_changed: true });
      assert.equal(r.status, 200);
      assert.equal(r.json.notifications.comments, true);
    }
    assert.equal((await o.get('/api/v1/account/notifications')).json.email_verified, false);
    const po = await projectWithVersion(o, 'Unverified EP');
    const pc = await projectWithVersion(ctrl, 'Control EP');
    const g = new Client(st);
    for (const p of [po, pc]) {
      const c = await g.post(`/api/v1/s/${p.token}/comments`, { name: 'Ann', body: 'early take', version_id: p.vid, time_ms: 0 });
      assert.equal(c.status, 201);
    }
    assert.equal((await o.post('/api/v1/account/password', { current_password: PASSWORD, new_password: 'unverified passphrase 5' })).status, 204);
    await st.advance(61);
    const [cm] = await waitInbox(maildir, ctrl.email, 1);
    assert.equal(cm.subject, '1 new comment on "Control EP"');
    await st.settled({ digests: true });
    assert.equal(inbox(maildir, o.email).length, 1, 'only the verification mail');

    // The link may be opened in another browser: no session, same Origin rules.
    const anon = new Client(st);
    assert.equal((await anon.post(VERIFY, { token }, { origin: 'https://evil.example' })).status, 403);
    const v = await anon.post(VERIFY, { token });
    assert.equal(v.status, 200, v.body);
    assert.deepEqual(v.json, { email_verified: true });
    assert.equal((await anon.post(VERIFY, { token })).status, 200, 'verifying twice is harmless');
    assert.equal((await o.get('/api/v1/account')).json.email_verified, true);
    assert.equal((await o.get('/api/v1/account/notifications')).json.email_verified, true);
    assert.equal((await o.post(RESEND)).status, 409, 'already verified');

    // Now the digest comes; the comment made before was never queued.
    await g.post(`/api/v1/s/${po.token}/comments`, { name: 'Bo', body: 'late take', version_id: po.vid, time_ms: 0 });
    await st.advance(61);
    const all = await waitInbox(maildir, o.email, 2);
    const d = all.find((x) => x.subject !== m.subject);
    assert.equal(d.subject, '1 new comment on "Unverified EP"');
    assert.match(d.text, /late take/);
    assert.doesNotMatch(d.text, /early take/);
  });

  test('forged, spliced, damaged and expired tokens are refused; CR/LF reaches no header', async () => {
    const a = await signUp(st, 'alice');
    const b = await signUp(st, 'bob');
    const ta = verifyTokenOf(st, (await waitInbox(maildir, a.email, 1))[0]);
    const [mb] = await waitInbox(maildir, b.email, 1);
    const tb = verifyTokenOf(st, mb);
    const anon = new Client(st, { localAddress: '127.0.8.1' });
    const refused = async (token, re) => {
      const r = await anon.post(VERIFY, { token });
      assert.equal(r.status, 400, `${JSON.stringify(token)}: ${r.body}`);
      if (re) assert.match(r.json.error, re);
    };
    const flip = (t, i) => t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
    await refused(flip(ta, 3), /not valid/);
    await refused(flip(ta, 30), /not valid/);
    await refused(flip(ta, ta.length - 1), /not valid/);
    await refused(ta.slice(0, -1), /not valid/);
    await refused(`${ta}A`, /not valid/);
    // Bob's token with Alice's account id in it: the MAC covers the id.
    const raw = Buffer.from(tb, 'base64url');
    Buffer.from(a.accountId, 'hex').copy(raw, 1);
    await refused(raw.toString('base64url'), /not valid/);
    await refused(`${ta.slice(0, 20)}\r\nBcc: x@example.net`);
    await refused('');
    assert.equal((await a.get('/api/v1/account')).json.email_verified, false);
    assert.equal((await b.get('/api/v1/account')).json.email_verified, false);

    // The address is the only user input in the message; CR/LF never gets in.
    const victim = `inject-${crypto.randomBytes(4).toString('hex')}@example.net`;
    const inj = await new Client(st, { localAddress: '127.0.8.2' }).post('/api/v1/accounts', { email: `x@example.org\r\nBcc: ${victim}`, password: PASSWORD });
    assert.equal(inj.status, 400);
    assert.equal(mb.headers.to.length, 1);
    assert.equal(mb.headers.bcc, undefined);
    assert.equal(mb.headers.cc, undefined);

    // Throttled per client address like the other unauthenticated endpoints.
    const flood = new Client(st, { localAddress: '127.0.8.3' });
    let limited = null;
    for (let i = 0; i < 30 && !limited; i++) {
      const r = await flood.post(VERIFY, { token: flip(tb, 10) });
      if (r.status === 429) limited = r;
      else assert.equal(r.status, 400);
    }
    assert.ok(limited, 'a 429 within 30 attempts');
    assert.ok(Number(limited.headers['retry-after']) > 0);

    // 24 hours later: expired (said so: the token is authentic). Ask again.
    await st.advance(24 * 3600 + 60);
    await refused(tb, /expired/);
    assert.equal((await b.post(RESEND)).status, 202);
    const ms = await waitInbox(maildir, b.email, 2);
    const fresh = ms.map((x) => verifyTokenOf(st, x)).find((t) => t !== tb);
    assert.equal((await anon.post(VERIFY, { token: fresh })).status, 200);
    assert.equal((await b.get('/api/v1/account')).json.email_verified, true);
    await st.settled();
    const leaked = fs.readdirSync(path.join(maildir, 'new')).filter((f) => fs.readFileSync(path.join(maildir, 'new', f), 'utf8').includes(victim));
    assert.deepEqual(leaked, [], 'no message mentions the injected address');
    // A token for an address the account no longer has: audiomus has no way
    // to change an account's address yet (no API, no CLI), so this is proven
    // one level down: tests/unit/mail/test_verify.c changes the blind index
    // under a token (address_change_and_close_refused).
  });

  test('resend: 202 three times, then 429 with Retry-After; a password reset proves the address', async () => {
    const o = await signUp(st, 'resend');
    assert.equal((await new Client(st).post(RESEND)).status, 401, 'needs a session');
    assert.equal((await o.post(RESEND, {}, { csrf: false })).status, 403, 'needs the CSRF token');
    for (let i = 0; i < 3; i++) assert.equal((await o.post(RESEND)).status, 202);
    const lim = await o.post(RESEND);
    assert.equal(lim.status, 429);
    assert.ok(Number(lim.headers['retry-after']) > 0, 'Retry-After');
    const all = await waitInbox(maildir, o.email, 4);
    await st.settled();
    assert.equal(inbox(maildir, o.email).length, 4, 'the sign-up mail and three resent ones');
    assert.equal(new Set(all.map((x) => verifyTokenOf(st, x))).size, 4, 'a fresh token each time');

    const p = await signUp(st, 'reset');
    await waitInbox(maildir, p.email, 1);
    assert.equal((await new Client(st).post('/api/v1/password-reset', { email: p.email })).status, 202);
    const ms = await waitInbox(maildir, p.email, 2);
    const reset = ms.find((x) => x.subject === 'Reset your audiomus password');
    const token = /The token for the API is: (\S+)/.exec(reset.text)[1];
    assert.equal((await new Client(st).post('/api/v1/password-reset/confirm', { token, new_password: 'reset passphrase 31' })).status, 204);
    const again = new Client(st);
    assert.equal((await again.login(p.email, 'reset passphrase 31')).status, 200);
    assert.equal((await again.get('/api/v1/account')).json.email_verified, true, 'the reset link proved the address');
  });
});

// Without mail configured: sign-up still works (unverified), resend says so
// clearly, and the administrator can vouch for an address.
for (const backend of BACKENDS) describe(`owner address verification without mail (${backend})`, () => {
  let srv;
  before(async () => { srv = await startApi(backend, { args: ['--set', 'signup_open=true'] }); });
  after(async () => { await srv?.stop(); });

  test('resend answers 503; `audiomus user verify-email` marks the address verified', async () => {
    const email = `nomail-${crypto.randomBytes(4).toString('hex')}@example.org`;
    const c = new Client(srv);
    const r = await c.post('/api/v1/accounts', { email, password: PASSWORD });
    assert.equal(r.status, 201);
    c.csrf = r.json.csrf_token;
    assert.equal((await c.get('/api/v1/account')).json.email_verified, false);
    const no = await c.post(RESEND);
    assert.equal(no.status, 503);
    assert.match(no.json.error, /sends no e-mail/);
    const cli = userCli(srv, ['verify-email', email]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal((await c.get('/api/v1/account')).json.email_verified, true);
    assert.equal((await c.post(RESEND)).status, 409);
    assert.equal(userCli(srv, ['verify-email', 'nobody@example.org']).code, 1);
  });
});
