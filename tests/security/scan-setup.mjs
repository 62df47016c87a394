// Prepares a running server for the web scanners of scripts/security:
// an owner (made with `audiomus user add`) signed in, a project with a
// track, an uploading version, a guest comment and an owner reply, plus
// one extra project per guest parameter that sqlmap attacks (the guest
// comment limit of 100 per project would otherwise answer 429 and hide the
// payloads' effect). Prints shell assignments (KEY=value) for the script.
// usage: AUDIOMUS_BIN=... node tests/security/scan-setup.mjs PORT DATA_DIR
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

import { Client, userCli } from '../e2e/lib/api.mjs';

const [port, dataDir] = process.argv.slice(2);
const srv = { port: Number(port), dataDir, dbArgs: [], origin: `https://127.0.0.1:${port}`, ca: fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem')) };
const PW = 'scanner owner passphrase 42';
const email = `scan-${process.pid}@example.org`;
const add = userCli(srv, ['add', email], `${PW}\n`);
if (add.code !== 0) throw new Error(`user add: ${add.stderr}`);
const owner = new Client(srv);
const l = await owner.login(email, PW);
if (l.status !== 200) throw new Error(`login: ${l.status} ${l.body}`);

// Half a second of 16-bit mono PCM: enough for the worker to make a
// rendition, so that the guest URL endpoints have a ready version.
function wav() {
  const n = 11025 * 2, b = Buffer.alloc(44 + n);
  b.write('RIFF', 0); b.writeUInt32LE(36 + n, 4); b.write('WAVEfmt ', 8); b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(22050, 24); b.writeUInt32LE(44100, 28);
  b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34); b.write('data', 36); b.writeUInt32LE(n, 40);
  for (let i = 0; i < n / 2; i++) b.writeInt16LE(Math.round(6000 * Math.sin(i / 4)), 44 + 2 * i);
  return b;
}

function patch(url, body) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: srv.port, method: 'PATCH', path: u.pathname + u.search, ca: srv.ca, servername: 'localhost', agent: false,
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': body.length } },
    (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end(body);
  });
}

async function project(title, ready = false) {
  const p = (await owner.post('/api/v1/projects', { title })).json.project;
  const tid = (await owner.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Track' })).json.track.id;
  const bytes = ready ? wav() : Buffer.alloc(1000);
  const up = await owner.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'mix.wav', size: bytes.length });
  if (up.status !== 201) throw new Error(`upload: ${up.status} ${up.body}`);
  const vid = up.json.version.id;
  if (ready) {
    const st = await patch(up.json.upload_url, bytes);
    if (st !== 204) throw new Error(`tus PATCH: ${st}`);
    let state = '';
    for (const t0 = Date.now(); state !== 'ready' && Date.now() - t0 < 60000; await new Promise((r) => setTimeout(r, 100))) {
      const r = await owner.get(`/api/v1/projects/${p.id}`);
      state = (r.json.tracks || r.json.project?.tracks || [])[0]?.versions?.[0]?.state;
      if (state === 'failed') throw new Error('the scan version failed to transcode');
    }
    if (state !== 'ready') throw new Error('the scan version is not ready after 60 s');
  }
  return { id: p.id, link: p.link.id, token: p.link.token, tid, vid };
}

const main = await project('Scan EP', true);
const g = new Client(srv);
const c = await g.post(`/api/v1/s/${main.token}/comments`, { name: 'Guest', body: 'first', version_id: main.vid, time_ms: 1000 });
if (c.status !== 201) throw new Error(`comment: ${c.status} ${c.body}`);
await owner.post(`/api/v1/projects/${main.id}/comments`, { version_id: main.vid, body: 'reply', time_ms: 1000, parent_id: c.json.comment.id });
const out = {
  EMAIL: email, OWNER_PW: PW,
  SESSION: owner.jar.get('__Host-am-session'), CSRF: owner.csrf,
  PROJECT: main.id, LINK: main.link, TOKEN: main.token, TRACK: main.tid, VERSION: main.vid, COMMENT: c.json.comment.id,
};
// One project per attacked guest parameter.
for (const k of ['name', 'body', 'version_id', 'time_ms']) {
  const p = await project(`Scan ${k}`);
  out[`G_${k.toUpperCase()}_TOKEN`] = p.token;
  out[`G_${k.toUpperCase()}_VERSION`] = p.vid;
}
for (const [k, v] of Object.entries(out)) console.log(`${k}='${String(v).replace(/'/g, '')}'`);
