#!/usr/bin/env node
// Set-up and switches for bench/wm_serve.sh (issue 26: serving cost per
// listener), through the real JSON API against a running `audiomus serve`
// on loopback (docs/api.md "Listener marks", docs/watermark.md "Serving
// marked streams"). Node built-ins and the e2e client (tests/e2e/lib).
//
//   node bench/wm_api.mjs setup --port P --ca CERT --email E --password PW \
//        --file F --listeners N --out FILE
//     owner login, a project with marking on, one track with F uploaded,
//     waits until the version is ready and the worker's mark_ab job made A
//     and B (a listener's ticket stream answers 206); then N new listeners
//     (each its own guest session, as N browsers: GET the guest view, POST
//     /mark), their stream URLs with "&mt=TICKET" written to FILE, one path
//     a line (source addresses 127.0.0.1-8, under the per-address mark limit)
//     -> {project, token, version, listeners}
//   node bench/wm_api.mjs mark ... --project ID --on 0|1 --probe PATH
//     switch marking (PUT /api/v1/projects/ID/mark) and wait until PATH (a
//     listener's ticket URL) is served in that mode: with marking on a
//     stream whose ETag differs from the plain one, with it off the plain one
import fs from 'node:fs';

import { Client } from '../tests/e2e/lib/api.mjs';
import { pathOf, raw } from '../tests/e2e/lib/server.mjs';

const args = process.argv.slice(2);
const mode = args.shift();
const opt = {};
for (let i = 0; i < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];
const port = Number(opt.port);
const srv = { port, ca: fs.readFileSync(opt.ca), origin: `https://127.0.0.1:${port}` };
const hardStop = setTimeout(() => { console.error('wm_api: took too long'); process.exit(3); }, 900000);
hardStop.unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function must(r, status, what) {
  if (r.status !== status) throw new Error(`${what}: ${r.status} ${String(r.body).slice(0, 300)}`);
  return r.json;
}

async function owner() {
  const o = new Client(srv);
  must(await o.login(opt.email, opt.password), 200, 'login');
  return o;
}

// A new listener: the guest view (signed URLs), then the mark ticket.
async function listener(token, i) {
  const g = new Client(srv, { localAddress: `127.0.0.${1 + (i % 8)}` });
  const v = must(await g.get(`/api/v1/s/${token}`), 200, 'guest view');
  const stream = v.tracks?.[0]?.versions?.[0]?.media?.stream;
  if (!stream) return null; // not ready yet
  const m = must(await g.post(`/api/v1/s/${token}/mark`, { name: `Listener ${i + 1}` }), 200, 'mark ticket');
  return `${pathOf(stream)}&mt=${m.ticket}`;
}

// The status and ETag of a one-byte range of PATH.
async function probe(p) {
  const r = await raw(srv, 'GET', p, { Range: 'bytes=0-0' });
  return { status: r.status, etag: r.headers.etag };
}

async function upload(o, pid, file) {
  const t = must(await o.post(`/api/v1/projects/${pid}/tracks`, { title: 'Bench' }), 201, 'track').track;
  const size = fs.statSync(file).size;
  const up = must(await o.post(`/api/v1/projects/${pid}/tracks/${t.id}/uploads`, { filename: 'bench.wav', size }), 201, 'upload');
  const r = await raw(srv, 'PATCH', pathOf(up.upload_url), {
    'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': size,
  }, fs.readFileSync(file), { timeout: 300000 });
  if (r.status !== 204) throw new Error(`tus PATCH: ${r.status}`);
  return up.version.id;
}

async function setup() {
  const o = await owner();
  const p = must(await o.post('/api/v1/projects', { title: 'bench marked' }), 201, 'project').project;
  must(await o.put(`/api/v1/projects/${p.id}/mark`, { on: true }), 200, 'mark on');
  const vid = await upload(o, p.id, opt.file);
  const paths = [];
  const n = Number(opt.listeners || 64);
  for (let until = Date.now() + 600000; ;) {
    if (!paths.length) {
      const first = await listener(p.link.token, 0);
      if (first) paths.push(first);
    }
    const r = paths.length ? await probe(paths[0]) : { status: 'not ready' };
    if (r.status === 206) break;
    if (Date.now() > until) throw new Error(`no marked stream after 600 s: ${r.status}`);
    await sleep(250);
  }
  for (let i = 1; i < n; i++) paths.push(await listener(p.link.token, i));
  if (paths.some((x) => !x)) throw new Error('a listener got no stream URL');
  fs.writeFileSync(opt.out, paths.join('\n') + '\n');
  console.log(JSON.stringify({ project: p.id, token: p.link.token, version: vid, listeners: paths.length }));
}

// Marking on or off, then wait until the probe URL is served that way (the
// media role reads the project's setting per request; the ETag of a
// listener's splice is not the plain rendition's).
async function mark() {
  const o = await owner();
  const on = opt.on === '1';
  const before = await probe(opt.probe);
  must(await o.put(`/api/v1/projects/${opt.project}/mark`, { on }), 200, 'mark switch');
  for (let until = Date.now() + 60000; ;) {
    const r = await probe(opt.probe);
    const p2 = await probe(opt.probe.replace(/&mt=.*$/, ''));
    if (r.status === 206 && (on ? p2.status === 403 : p2.status === 206 && p2.etag === r.etag)) break;
    if (Date.now() > until) throw new Error(`marking ${on ? 'on' : 'off'} not in effect: ${before.status} -> ${r.status}, plain ${p2.status}`);
    await sleep(100);
  }
  console.log(JSON.stringify({ on }));
}

(mode === 'setup' ? setup() : mode === 'mark' ? mark() : Promise.reject(new Error(`unknown mode ${mode}`)))
  .then(() => process.exit(0), (e) => { console.error(`wm_api: ${e.message}`); process.exit(1); });
