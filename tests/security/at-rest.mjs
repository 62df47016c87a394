// At rest (docs/security.md, promises 1.1, 1.4, 3.5, 6.1, FAQ 5): a scripted
// session through the real API of `audiomus serve` (production mode: no
// test clock), then the data directory, the database files (db, -wal, -shm)
// and the server log are searched for everything that must not be there.
//
// Session: an owner made with `audiomus user add` (unique e-mail and
// password), a project, a track, a tus upload (two PATCHes and a HEAD in
// between) of a canary WAV whose PCM data carries a unique marker, the
// worker's rendition, guests from 127.0.0.2-127.0.0.5 opening the link,
// commenting with canary names and bodies, streaming and downloading, an
// owner reply, a project password (wrong and right attempts), the share
// link regenerated. Then, once while the server runs (live WAL) and once
// after it stopped:
//   - no canary bytes (PCM marker, titles, file name, names, comments,
//     e-mail) anywhere in the data directory or the log;
//   - no RIFF/fLaC/ID3/OggS/ftyp plaintext at the start of any file, every
//     stored object starts with the AM1 header, and no RIFF/fLaC/OggS/ftyp
//     signature anywhere in a stored object;
//   - no raw guest address (text anywhere; 4 address bytes in the database
//     files and the log) other than the log's one "listening" line;
//   - no share token (old or new, text or decoded bytes), session or
//     password cookie, project password or account password.
// usage: AUDIOMUS_BIN=... node --test tests/security/at-rest.mjs
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { Client, FAST_ARGON, userCli, waitVersion } from '../e2e/lib/api.mjs';
import { wav } from '../e2e/lib/audio.mjs';
import { pathOf, raw, startServer } from '../e2e/lib/server.mjs';

const hex = crypto.randomBytes(8).toString('hex');
const C = {
  pcm: `AMCANARYPCM${hex}`,
  email: `canary-owner-${hex}@example.org`,
  accountPw: `canary acct ${hex} horse`,
  title: `canary-title-${hex}`,
  track: `canary-track-${hex}`,
  file: `canary-file-${hex}.wav`,
  reply: `canary-reply-${hex}`,
  projectPw: `canary pp ${hex} party`,
  wrongPw: `canary wrong ${hex} guess`,
};
const GUESTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const guestName = (a) => `canary-guest-${a.split('.')[3]}-${hex}`;
const guestBody = (a) => `canary-comment-${a.split('.')[3]}-${hex}`;

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) out.push(path.join(e.parentPath ?? e.path, e.name));
  return out;
}

const MAGIC_START = [['RIFF', 0], ['FORM', 0], ['fLaC', 0], ['ID3', 0], ['OggS', 0], ['ftyp', 4], ['\xff\xfb', 0]];
// Only long markers anywhere inside an object: a 4-byte one turns up by chance
// in megabytes of ciphertext now and then. Short ones are checked where a
// plaintext payload would start (after the 48-byte AM1 header).
const MAGIC_ANY = ['WAVEfmt ', 'ftypisom', 'ftypM4A ', 'ftypmp42', 'ID3\x03\x00', 'ID3\x04\x00'];
const MAGIC_PAYLOAD = [['RIFF', 48], ['fLaC', 48], ['OggS', 48], ['ftyp', 52]];
const AM1 = Buffer.from('AM1SEG\0\0', 'latin1');

// Everything the data directory, the database files and the log must not hold.
function scan(srv, secrets, logText, when) {
  const problems = [];
  const files = walk(srv.dataDir);
  const dbFiles = files.filter((f) => /audiomus\.db(-wal|-shm)?$/.test(f));
  const objects = files.filter((f) => f.startsWith(path.join(srv.dataDir, 'objects') + path.sep));
  if (!dbFiles.some((f) => f.endsWith('audiomus.db'))) problems.push(`${when}: no database file found`);
  if (objects.length < 3) problems.push(`${when}: only ${objects.length} stored objects found`);
  const log = Buffer.from(logText);
  const haystacks = [...files.map((f) => [f, fs.readFileSync(f)]), ['server log', log]];
  for (const [name, data] of haystacks) {
    for (const [label, needle] of secrets)
      if (data.indexOf(needle) >= 0) problems.push(`${label} in ${name}`);
    for (const [m, off] of MAGIC_START)
      if (data.length >= off + m.length && data.subarray(off, off + m.length).equals(Buffer.from(m, 'latin1')) && !name.endsWith('.pem'))
        problems.push(`${JSON.stringify(m)} at the start of ${name}`);
  }
  for (const f of objects) {
    const data = fs.readFileSync(f);
    if (data.length && !data.subarray(0, 8).equals(AM1)) problems.push(`${f} does not start with the AM1 header`);
    for (const m of MAGIC_ANY) if (data.indexOf(Buffer.from(m, 'latin1')) >= 0) problems.push(`${JSON.stringify(m)} inside object ${f}`);
    for (const [m, off] of MAGIC_PAYLOAD)
      if (data.subarray(off, off + m.length).equals(Buffer.from(m, 'latin1'))) problems.push(`${JSON.stringify(m)} at ${off} in object ${f}`);
  }
  // Raw guest addresses: as text anywhere, as 4 bytes in the db files and log.
  const logNoListen = Buffer.from(logText.split('\n').filter((l) => !l.includes('"event":"listening"')).join('\n'));
  for (const a of GUESTS) {
    const bin = Buffer.from(a.split('.').map(Number));
    for (const [name, data] of haystacks) if (data.indexOf(Buffer.from(a)) >= 0) problems.push(`${a} as text in ${name}`);
    for (const f of dbFiles) if (fs.readFileSync(f).indexOf(bin) >= 0) problems.push(`${a} as bytes in ${f}`);
    if (logNoListen.indexOf(bin) >= 0) problems.push(`${a} as bytes in the log`);
  }
  if (/127\.0\.0\.1/.test(logNoListen.toString())) problems.push('127.0.0.1 in the log outside the listening line');
  return { problems, files: files.length, objects: objects.length, db: dbFiles.map((f) => path.basename(f)), bytes: haystacks.reduce((s, [, d]) => s + d.length, 0) };
}

test('at rest: no canary, plaintext audio, raw IP, token or password in the data directory, database files or log', { timeout: 240000 }, async () => {
  const srv = await startServer({ args: [...FAST_ARGON] });
  const logText = () => srv.logs.map((l) => (l.raw !== undefined ? l.raw : JSON.stringify(l))).join('\n');
  const secrets = [];
  const secret = (label, v) => { secrets.push([label, Buffer.isBuffer(v) ? v : Buffer.from(String(v))]); return v; };
  for (const [k, v] of Object.entries(C)) secret(`canary ${k}`, v);
  for (const a of GUESTS) { secret(`guest name ${a}`, guestName(a)); secret(`comment ${a}`, guestBody(a)); }
  const token = (label, t) => {
    secret(`${label} token`, t);
    secret(`${label} token bytes`, Buffer.from(t, 'base64url'));
    secret(`${label} token SHA-256 hex`, crypto.createHash('sha256').update(t).digest('hex'));
  };
  try {
    const add = userCli(srv, ['add', C.email], `${C.accountPw}\n`);
    assert.equal(add.code, 0, add.stderr);
    const owner = new Client(srv);
    const login = await owner.login(C.email, C.accountPw);
    assert.equal(login.status, 200, login.body);
    secret('session cookie', owner.jar.get('__Host-am-session'));
    secret('CSRF token', owner.csrf);

    const p = (await owner.post('/api/v1/projects', { title: C.title })).json.project;
    token('first share', p.link.token);
    const tid = (await owner.post(`/api/v1/projects/${p.id}/tracks`, { title: C.track })).json.track.id;
    // 2 s of a 440 Hz sine whose PCM holds the canary every 4 KiB: audible
    // as a click, unmistakable as bytes.
    const bytes = wav(2, { marker: C.pcm });
    const up = await owner.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: C.file, size: bytes.length });
    assert.equal(up.status, 201, up.body);
    const upath = pathOf(up.json.upload_url);
    const half = 200000;
    const tus = { 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream' };
    let r = await raw(srv, 'PATCH', upath, { ...tus, 'Upload-Offset': '0', 'Content-Length': half }, bytes.subarray(0, half));
    assert.equal(r.status, 204, r.body.toString());
    r = await raw(srv, 'HEAD', upath, { 'Tus-Resumable': '1.0.0' });
    assert.equal(r.headers['upload-offset'], String(half));
    r = await raw(srv, 'PATCH', upath, { ...tus, 'Upload-Offset': String(half), 'Content-Length': bytes.length - half }, bytes.subarray(half));
    assert.equal(r.status, 204, r.body.toString());
    const vid = up.json.version.id;
    const v = await waitVersion(owner, p.id, vid, { ms: 90000, every: 100 });
    assert.equal(v.state, 'ready', JSON.stringify(v));

    // Guests from four addresses: open, comment, stream, download.
    for (const a of GUESTS) {
      const g = new Client(srv, { localAddress: a });
      const page = await g.get(`/api/v1/s/${p.link.token}`);
      assert.equal(page.status, 200, page.body);
      const c = await g.post(`/api/v1/s/${p.link.token}/comments`, { name: guestName(a), body: guestBody(a), version_id: vid, time_ms: 500 });
      assert.equal(c.status, 201, c.body);
      const media = page.json.tracks[0].versions[0].media;
      const s = await raw(srv, 'GET', pathOf(media.stream), { Range: 'bytes=0-4095' }, undefined, { localAddress: a });
      assert.equal(s.status, 206);
      if (a === GUESTS[0]) {
        const d = await raw(srv, 'GET', pathOf(media.download));
        assert.equal(d.status, 200);
        assert.ok(d.body.equals(bytes), 'the original comes back byte for byte');
      }
    }
    assert.equal((await owner.post(`/api/v1/projects/${p.id}/comments`, { version_id: vid, body: C.reply, time_ms: 700 })).status, 201);

    // Project password: set; a guest fails once, then enters it.
    assert.equal((await owner.put(`/api/v1/projects/${p.id}/password`, { password: C.projectPw })).status, 204);
    const pg = new Client(srv, { localAddress: GUESTS[1] });
    assert.equal((await pg.post(`/api/v1/s/${p.link.token}/password`, { password: C.wrongPw })).status, 403);
    assert.equal((await pg.post(`/api/v1/s/${p.link.token}/password`, { password: C.projectPw })).status, 200);
    for (const [k, val] of pg.jar) if (k.startsWith('__Host-am-pw-')) secret('password cookie', val);

    // Regenerate the link: neither the old nor the new token may be stored.
    const regen = await owner.post(`/api/v1/projects/${p.id}/links/${p.link.id}/regenerate`);
    assert.equal(regen.status, 200, regen.body);
    token('regenerated share', regen.json.link.token);
    assert.equal((await new Client(srv).get(`/api/v1/s/${p.link.token}`)).status, 404);

    // Control: the scan must see what it looks for. A copy of the data
    // directory with the canary WAV as an "object", a guest address in the
    // log and the token in a file must each be reported.
    const ctl = { dataDir: fs.mkdtempSync(path.join(srv.tmp, 'control-')) };
    fs.cpSync(srv.dataDir, ctl.dataDir, { recursive: true });
    fs.writeFileSync(path.join(ctl.dataDir, 'objects', 'planted'), bytes);
    fs.writeFileSync(path.join(ctl.dataDir, 'note'), regen.json.link.token);
    const control = scan(ctl, secrets, `${logText()}\n{"peer":"${GUESTS[2]}"}`, 'control').problems.join('\n');
    for (const want of ['canary pcm in', '"RIFF" at the start of', 'does not start with the AM1 header', 'regenerated share token in', `${GUESTS[2]} as text in server log`])
      assert.ok(control.includes(want), `control scan missed: ${want}\n${control}`);
    fs.rmSync(ctl.dataDir, { recursive: true, force: true });

    const live = scan(srv, secrets, logText(), 'server running');
    assert.deepEqual(live.problems, [], 'while running');
    console.log(`# while running: ${live.files} files (${live.objects} objects, ${live.db.join(', ')}), ${live.bytes} bytes searched for ${secrets.length} secrets`);
    const stopped = await (async () => {
      const exit = srv.proc.kill('SIGTERM') && await srv.exited;
      assert.equal(exit.code, 0, `serve exit ${JSON.stringify(exit)}`);
      const r2 = scan(srv, secrets, logText(), 'server stopped');
      assert.deepEqual(r2.problems, [], 'after stop');
      return r2;
    })();
    console.log(`# after stop: ${stopped.files} files (${stopped.objects} objects, ${stopped.db.join(', ')}), ${stopped.bytes} bytes`);
  } finally {
    await srv.stop();
  }
});
