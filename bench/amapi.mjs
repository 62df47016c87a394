#!/usr/bin/env node
// Benchmark set-up through the real JSON API (docs/api.md, docs/media.md):
// log in as an owner created with `audiomus user add`, create a project with
// tracks, upload files with tus PATCH (streamed from disk), wait until the
// worker has made the versions ready, add owner comments, and print what a
// scenario needs (share token, signed media URLs, upload URLs) as JSON.
// Node built-ins only; loopback only; every request has a timeout.
//
//   node bench/amapi.mjs review  --port P --ca CERT --email E --password PW \
//        --tracks 10 --comments 200 --file small.wav          -> {token, guest_path, project}
//        [--links N --links-out FILE]: also N named share links of the project
//        (POST /api/v1/projects/{id}/links), their guest paths written to FILE,
//        one a line; the answer then has "links": N
//   node bench/amapi.mjs stream  ... --file big.wav            -> {download, stream, project}
//   node bench/amapi.mjs uploads ... --count N --size BYTES    -> {urls: [...]}
//   node bench/amapi.mjs playable ... --file F --parallel K --runs R
//        -> {runs: [{ms: [...], all_ms}]}: R rounds; each uploads K copies of F
//        at once (tus PATCH each) into a new project and times each from its
//        PATCH's 204 to its version's "ready" (polled every 20 ms); all_ms is
//        from the first 204 to the last "ready" (upload_to_playable)
import fs from 'node:fs';
import https from 'node:https';

const args = process.argv.slice(2);
const mode = args.shift();
const opt = {};
for (let i = 0; i < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];
const port = Number(opt.port);
const ca = opt.ca ? fs.readFileSync(opt.ca) : undefined;
const origin = `https://127.0.0.1:${port}`;
const hardStop = setTimeout(() => { console.error('amapi: set-up took too long'); process.exit(3); },
  Number(opt.timeout || 600) * 1000);
hardStop.unref();

const jar = new Map();
let csrf = null;

function req(method, path, body, { headers = {}, stream = null, timeout = 60000 } = {}) {
  const h = { ...headers };
  if (!['GET', 'HEAD'].includes(method)) { h.Origin = origin; if (csrf) h['X-CSRF-Token'] = csrf; }
  let data;
  if (body !== undefined) {
    data = JSON.stringify(body);
    h['Content-Type'] = 'application/json';
    h['Content-Length'] = Buffer.byteLength(data);
  }
  if (jar.size) h.Cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  return new Promise((resolve, reject) => {
    const r = https.request({ host: '127.0.0.1', port, method, path, headers: h, ca, servername: 'localhost',
      rejectUnauthorized: !!ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        for (const sc of res.headers['set-cookie'] || []) {
          const pair = sc.split(';')[0];
          const eq = pair.indexOf('=');
          jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
        }
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch { json = null; }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
    });
    r.on('error', reject);
    r.setTimeout(timeout, () => r.destroy(new Error(`${method} ${path.split('?')[0]}: timeout`)));
    if (stream) stream.pipe(r);
    else { if (data !== undefined) r.write(data); r.end(); }
  });
}

function must(r, status, what) {
  if (r.status !== status) throw new Error(`${what}: ${r.status} ${r.body.slice(0, 300)}`);
  return r.json;
}

async function login() {
  const j = must(await req('POST', '/api/v1/session', { email: opt.email, password: opt.password }), 200, 'login');
  csrf = j.csrf_token;
}

async function project(title) {
  return must(await req('POST', '/api/v1/projects', { title }), 201, 'create project').project;
}

async function track(pid, title, position) {
  return must(await req('POST', `/api/v1/projects/${pid}/tracks`, { title, position }), 201, 'create track').track;
}

async function newUpload(pid, tid, filename, size) {
  return must(await req('POST', `/api/v1/projects/${pid}/tracks/${tid}/uploads`, { filename, size }), 201,
    'create upload');
}

// tus PATCH of a whole file in one request, streamed from disk.
async function tusPatch(uploadUrl, file) {
  const u = new URL(uploadUrl);
  const size = fs.statSync(file).size;
  const r = await req('PATCH', u.pathname + u.search, undefined, {
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream',
      'Content-Length': String(size) },
    stream: fs.createReadStream(file), timeout: 300000,
  });
  if (r.status !== 204) throw new Error(`tus PATCH: ${r.status} ${r.headers['upload-error'] || ''} ${r.body.slice(0, 200)}`);
}

async function waitReady(pid, n, seconds) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const p = must(await req('GET', `/api/v1/projects/${pid}`), 200, 'get project').project;
    const vs = (p.tracks || []).flatMap((t) => t.versions || []);
    const failed = vs.find((v) => v.state === 'failed');
    if (failed) throw new Error(`transcode failed: ${failed.error}`);
    if (vs.filter((v) => v.state === 'ready').length >= n) return p;
    if (Date.now() > until) throw new Error(`versions not ready after ${seconds} s: ${vs.map((v) => v.state).join(',')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function guest(token) {
  return must(await req('GET', `/api/v1/s/${token}`), 200, 'guest open');
}

// One round of playable: K uploads at once, upload complete -> ready each.
async function playableRound(r, k, file) {
  const p = await project(`playable ${r}`);
  const ups = [];
  for (let i = 0; i < k; i++) {
    const t = await track(p.id, `Take ${i + 1}`, i + 1);
    ups.push({ tid: t.id, url: (await newUpload(p.id, t.id, `take-${i + 1}.wav`, fs.statSync(file).size)).upload_url });
  }
  await Promise.all(ups.map(async (u) => { await tusPatch(u.url, file); u.done = Date.now(); }));
  const until = Date.now() + Number(opt.wait || 600) * 1000;
  while (ups.some((u) => !u.ready)) {
    if (Date.now() > until) throw new Error('versions not ready in time');
    const pr = must(await req('GET', `/api/v1/projects/${p.id}`), 200, 'get project').project;
    const now = Date.now();
    for (const t of pr.tracks || []) {
      const u = ups.find((x) => x.tid === t.id);
      const v = (t.versions || [])[0];
      if (v?.state === 'failed') throw new Error(`transcode failed: ${v.error}`);
      if (u && !u.ready && u.done && v?.state === 'ready') u.ready = now;
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  const first = Math.min(...ups.map((u) => u.done));
  return { ms: ups.map((u) => u.ready - u.done), all_ms: Math.max(...ups.map((u) => u.ready)) - first };
}

async function main() {
  await login();
  if (mode === 'playable') {
    const runs = [];
    for (let r = 0; r < Number(opt.runs || 5); r++) runs.push(await playableRound(r, Number(opt.parallel || 1), opt.file));
    console.log(JSON.stringify({ runs }));
    return;
  }
  if (mode === 'uploads') {
    const p = await project(opt.title || 'bench uploads');
    const t = await track(p.id, 'bench', 1);
    const urls = [];
    for (let i = 0; i < Number(opt.count || 1); i++)
      urls.push((await newUpload(p.id, t.id, `bench-${i}.wav`, Number(opt.size))).upload_url);
    console.log(JSON.stringify({ project: p.id, urls }));
    return;
  }
  const nTracks = mode === 'stream' ? 1 : Number(opt.tracks || 10);
  const size = fs.statSync(opt.file).size;
  const p = await project(opt.title || `bench ${mode}`);
  const token = p.link.token;
  for (let i = 0; i < nTracks; i++) {
    const t = await track(p.id, `Track ${i + 1}`, i + 1);
    const up = await newUpload(p.id, t.id, `track-${i + 1}.wav`, size);
    await tusPatch(up.upload_url, opt.file);
  }
  const full = await waitReady(p.id, nTracks, Number(opt.wait || 300));
  const versions = full.tracks.flatMap((t) => t.versions);
  const nComments = Number(opt.comments || 0);
  for (let i = 0; i < nComments; i++) {
    const v = versions[i % versions.length];
    const body = `Comment ${i + 1}: the kick is a little loud around here, and the vocal could sit 1 dB lower in the chorus.`;
    const at = (i * 997) % Math.max(1, v.duration_ms); // a comment's time lies within its track
    must(await req('POST', `/api/v1/projects/${p.id}/comments`, { version_id: v.id, body, time_ms: at }),
      201, 'comment');
  }
  const nLinks = Number(opt.links || 0);
  const linkPaths = [];
  for (let i = 0; i < nLinks; i++) {
    const l = must(await req('POST', `/api/v1/projects/${p.id}/links`, { label: `bench reviewer ${i + 1}` }), 201,
      'create link').link;
    linkPaths.push(`/api/v1/s/${l.token}`);
  }
  if (nLinks) fs.writeFileSync(opt['links-out'], linkPaths.join('\n') + '\n');
  const g = await guest(token);
  const media = g.tracks[0].versions[0].media;
  const rel = (s) => { const u = new URL(s); return u.pathname + u.search; };
  console.log(JSON.stringify({
    project: p.id, token, guest_path: `/api/v1/s/${token}`,
    stream: media.stream && rel(media.stream), download: media.download && rel(media.download),
    comments: g.comments.length, tracks: g.tracks.length, links: linkPaths.length,
  }));
}

main().then(() => process.exit(0), (e) => { console.error(`amapi: ${e.message}`); process.exit(1); });
