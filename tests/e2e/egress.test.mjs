// No egress (docs/security.md, promises 4.5, 6.3 and FAQ 4): over a whole
// session, `audiomus serve` opens no network connection and sends no
// datagram anywhere but to the services it is configured with. Here it runs
// with the embedded SQLite database and filesystem store, and an SMTP relay
// (the test sink, scripts/smtp-test), so the only outbound destination
// allowed is the relay's address.
//
// The server runs under strace (-f: every thread, the worker and its exec'd
// transcoder child), recording every connect, sendto, sendmsg and sendmmsg.
// Session: a self sign-up (which mails a verification link through the
// relay: the control, proving the recorder sees an outbound connection), a
// project, a track, an upload of a canary WAV through tus, the worker's
// rendition, a guest opening the link, commenting, streaming and
// downloading. Then every IPv4/IPv6 destination in the trace must be the
// relay, accepted connections must have been seen (the recorder covered the
// serving process), and the mail the relay received must not carry the
// canary's PCM marker. Skipped without strace (Debian package `strace`);
// without the SMTP sink the control is the accepted connections alone and
// no outbound destination at all is allowed.
//
//   AUDIOMUS_BIN=... node --test tests/e2e/egress.test.mjs
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const REAL_BIN = process.env.AUDIOMUS_BIN || path.resolve('build/release/audiomus');
const STRACE = ['/usr/bin/strace', '/bin/strace'].find((p) => fs.existsSync(p));
const SINK = path.resolve('scripts/smtp-test');
const HAVE_SINK = spawnSync('/usr/bin/python3', ['-c', 'import aiosmtpd']).status === 0;
const HAVE_WORKER = spawnSync(REAL_BIN, ['worker', '--help']).status === 0;
const SKIP = (!STRACE && 'strace is not installed (apt-get install strace)') || (!HAVE_WORKER && 'this binary has no worker role');

// `serve` runs under strace; every other subcommand (init, user) as is.
// LeakSanitizer cannot run under ptrace (it exits 1 at the end): leaks are
// the other suites' business, so an ASan binary runs here without it.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-egress-'));
const TRACE = path.join(tmp, 'trace');
const wrapper = path.join(tmp, 'audiomus');
fs.writeFileSync(wrapper, `#!/bin/sh
if [ "$1" = serve ]; then ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0" exec ${STRACE} -f -qq -s 0 -o '${TRACE}' -e trace=connect,sendto,sendmsg,sendmmsg,accept,accept4 '${REAL_BIN}' "$@"; fi
exec '${REAL_BIN}' "$@"
`, { mode: 0o755 });
process.env.AUDIOMUS_BIN = wrapper;
const { Client, PASSWORD, startApi, uploadTrack, waitVersion } = await import('./lib/api.mjs');
const { pathOf, raw } = await import('./lib/server.mjs');

const sink = (cmd) => {
  const r = spawnSync(SINK, [cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`smtp-test ${cmd}: ${r.stderr}`);
  return r.stdout.trim();
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MARK = `AMEGRESSPCM${crypto.randomBytes(6).toString('hex')}`;

// 2 s of 16-bit stereo 44.1 kHz sine whose PCM carries MARK every 4 KiB.
function canaryWav() {
  const rate = 44100, frames = rate * 2, n = frames * 4;
  const b = Buffer.alloc(44 + n);
  b.write('RIFF', 0); b.writeUInt32LE(36 + n, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(2, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 4, 28); b.writeUInt16LE(4, 32);
  b.writeUInt16LE(16, 34); b.write('data', 36); b.writeUInt32LE(n, 40);
  for (let i = 0; i < frames; i++) {
    const s = Math.round(12000 * Math.sin((2 * Math.PI * 440 * i) / rate));
    b.writeInt16LE(s, 44 + i * 4); b.writeInt16LE(s, 46 + i * 4);
  }
  for (let off = 44 + 1024; off + MARK.length < b.length; off += 4096) b.write(MARK, off, 'latin1');
  return b;
}

// Destinations in the trace: [{ pid, call, family, addr, port, line }] for
// every call that names an address (connect always; send* only with one).
function destinations(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(connect|sendto|sendmsg|sendmmsg)\(/.exec(line);
    if (!m) continue;
    const fam = /sa_family=(AF_[A-Z0-9]+)/.exec(line)?.[1];
    if (!fam) continue;
    const addr = /inet_addr\("([^"]+)"\)/.exec(line)?.[1] || /inet_pton\(AF_INET6, "([^"]+)"/.exec(line)?.[1] || /sun_path="([^"]*)"/.exec(line)?.[1] || '';
    const port = Number(/sin6?_port=htons\((\d+)\)/.exec(line)?.[1] || 0);
    out.push({ pid: Number(m[1]), call: m[2], family: fam, addr, port, line: line.slice(0, 200) });
  }
  return out;
}

// strace blocks fatal signals while it runs a program (-o FILE PROG), so
// the stop signal goes to the traced serve process itself; strace then exits
// with its status. (Killing strace instead would leave serve running.)
async function stopTraced(srv) {
  const kids = fs.readFileSync(`/proc/${srv.proc.pid}/task/${srv.proc.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  for (const k of kids) process.kill(Number(k), 'SIGTERM');
  const exit = await srv.exited;
  await srv.stop();
  return exit;
}

test('egress: serve connects and sends only to its configured SMTP relay during a whole session', { skip: SKIP, timeout: 180000 }, async () => {
  const relay = HAVE_SINK ? new URL(sink('url')) : null;
  const maildir = HAVE_SINK ? sink('start') : null;
  const args = ['--set', 'signup_open=true'];
  if (relay) args.push('--set', `smtp_url=${relay.href}`, '--set', `smtp_ca_file=${sink('ca')}`, '--set', 'mail_from=Audiomus Test <noreply@review.example.org>');
  const srv = await startApi('sqlite', { args });
  let stopped = false;
  try {
    const email = `egress-${crypto.randomBytes(4).toString('hex')}@example.org`;
    const owner = new Client(srv, { localAddress: '127.0.8.1' });
    const su = await owner.post('/api/v1/accounts', { email, password: PASSWORD });
    assert.equal(su.status, 201, su.body);
    owner.csrf = su.json.csrf_token;
    const p = (await owner.post('/api/v1/projects', { title: 'Egress EP' })).json.project;
    const wav = canaryWav();
    const { vid } = await uploadTrack(owner, p.id, wav, { title: 'Canary' });
    const v = await waitVersion(owner, p.id, vid);
    assert.equal(v.state, 'ready', JSON.stringify(v));

    const guest = new Client(srv, { localAddress: '127.0.8.2' });
    const page = await guest.get(`/api/v1/s/${p.link.token}`);
    assert.equal(page.status, 200, page.body);
    assert.equal((await guest.post(`/api/v1/s/${p.link.token}/comments`, { name: 'Ana', body: 'the bass', version_id: vid, time_ms: 500 })).status, 201);
    const media = page.json.tracks[0].versions[0].media;
    assert.equal((await raw(srv, 'GET', pathOf(media.stream), { Range: 'bytes=0-4095' })).status, 206);
    const d = await raw(srv, 'GET', pathOf(media.download), {}, undefined, { whole: true });
    assert.equal(d.status, 200);

    // The verification mail went out through the relay (the control).
    if (relay) {
      const t0 = Date.now();
      const mails = () => fs.readdirSync(path.join(maildir, 'new')).map((f) => fs.readFileSync(path.join(maildir, 'new', f)));
      while (!mails().some((m) => m.includes(`To: <${email}>`))) {
        assert.ok(Date.now() - t0 < 30000, 'no verification mail within 30 s');
        await sleep(100);
      }
      for (const m of mails()) assert.equal(m.indexOf(MARK), -1, 'canary PCM in a mail');
    }
    stopped = true;
    const exit = await stopTraced(srv);
    assert.equal(exit.code, 0, `serve (under strace) exit ${JSON.stringify(exit)}`);

    const text = fs.readFileSync(TRACE, 'utf8');
    const accepted = text.split('\n').filter((l) => /\baccept4?\(/.test(l) && /= \d+$/.test(l)).length;
    assert.ok(accepted >= 5, `the recorder saw ${accepted} accepted connections`);
    const dests = destinations(text);
    const inet = dests.filter((x) => x.family === 'AF_INET' || x.family === 'AF_INET6');
    const allowed = (x) => relay && x.addr === relay.hostname && x.port === Number(relay.port);
    assert.deepEqual(inet.filter((x) => !allowed(x)).map((x) => x.line), [], 'outbound destinations other than the relay');
    if (relay) assert.ok(inet.some(allowed), `the recorder did not see the connection to the relay ${relay.host}`);
    const other = [...new Set(dests.filter((x) => !inet.includes(x)).map((x) => `${x.family} ${x.addr}`))];
    console.log(`# ${accepted} accepted connections; outbound: ${inet.length} to the relay${relay ? ` ${relay.host}` : ''}, none elsewhere; local sockets: ${other.join(', ') || 'none'}`);
    // Local (AF_UNIX/AF_NETLINK) sockets stay on the machine; name them so a
    // new one (a local proxy, a logging daemon) is noticed.
    for (const o of other) assert.match(o, /^(AF_UNIX|AF_NETLINK)\b/, `unexpected socket family: ${o}`);
  } finally {
    if (!stopped) await stopTraced(srv).catch(() => srv.stop());
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
