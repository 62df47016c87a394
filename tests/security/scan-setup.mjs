// Prepares a running server for the web scanners of scripts/security:
// an owner (made with `audiomus user add`) signed in, a project with a
// track, an uploading version, a guest comment and an owner reply, plus
// one extra project per guest parameter that sqlmap attacks (the guest
// comment limit of 100 per project would otherwise answer 429 and hide the
// payloads' effect). Prints shell assignments (KEY=value) for the script.
// usage: AUDIOMUS_BIN=... node tests/security/scan-setup.mjs PORT DATA_DIR
import fs from 'node:fs';
import path from 'node:path';

import { Client, uploadVersion, userCli, waitVersion } from '../e2e/lib/api.mjs';
import { wav } from '../e2e/lib/audio.mjs';

const [port, dataDir] = process.argv.slice(2);
const srv = { port: Number(port), dataDir, dbArgs: [], origin: `https://127.0.0.1:${port}`, ca: fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem')) };
const PW = 'scanner owner passphrase 42';
const email = `scan-${process.pid}@example.org`;
const add = userCli(srv, ['add', email], `${PW}\n`);
if (add.code !== 0) throw new Error(`user add: ${add.stderr}`);
const owner = new Client(srv);
const l = await owner.login(email, PW);
if (l.status !== 200) throw new Error(`login: ${l.status} ${l.body}`);

// Two seconds of 16-bit mono PCM: enough for the worker to make a
// rendition, so that the guest URL endpoints have a ready version, and long
// enough for the comments at 1 s (a comment's time must lie within the track).
const scanWav = () => wav(2, { rate: 22050, ch: 1, sample: (i) => 6000 * Math.sin(i / 4) });

async function project(title, ready = false) {
  const p = (await owner.post('/api/v1/projects', { title })).json.project;
  const tid = (await owner.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Track' })).json.track.id;
  let vid;
  if (ready) {
    vid = await uploadVersion(owner, p.id, tid, scanWav());
    const v = await waitVersion(owner, p.id, vid, { every: 100 });
    if (v.state !== 'ready') throw new Error('the scan version failed to transcode');
  } else {
    // An upload that never starts: the version stays "uploading".
    const up = await owner.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'mix.wav', size: 1000 });
    if (up.status !== 201) throw new Error(`upload: ${up.status} ${up.body}`);
    vid = up.json.version.id;
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
