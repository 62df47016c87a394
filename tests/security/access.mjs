// Access matrices from the outside (docs/security.md, sections 02-04 and FAQ
// 1, 2, 5), against `audiomus serve` in production mode (no test clock):
// the signed-URL mutation matrix on real URLs from the guest API, password-
// and session-cookie tampering, cross-project credentials, downloads
// switched off, rate limits with Retry-After, and "regenerate revokes
// everything" (old link, media URLs, password cookies) in one place. The
// in-process matrices (tests/unit/access, tests/unit/media) and the e2e IDOR
// matrix (tests/e2e/api_project.test.mjs) cover the same rules from inside.
// usage: AUDIOMUS_BIN=... node --test tests/security/access.mjs
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Client, FAST_ARGON, newOwner, newProject, uploadTrack, waitVersion } from '../e2e/lib/api.mjs';
import { wav } from '../e2e/lib/audio.mjs';
import { pathOf, raw as rawTo, startServer } from '../e2e/lib/server.mjs';

let srv;
const W = {}; // the world: owners, projects, versions, guest credentials

// One request to srv without cookies (unless headers carry them); the body
// as latin1 text, so that two answers compare byte for byte.
const raw = (method, p, headers = {}, body) => rawTo(srv, method, p, headers, body, { timeout: 20000, encoding: 'latin1' });

// A project with one version (1 s of mono 22.05 kHz PCM), uploaded; the
// worker makes it ready in the background (waitReady).
async function readyProject(owner, title) {
  const p = await newProject(owner, title);
  const bytes = wav(1, { rate: 22050, ch: 1, sample: (i) => 8000 * Math.sin(i / 5) });
  const { tid, vid } = await uploadTrack(owner, p.id, bytes, { title: 'T', filename: 't.wav', timeout: 20000 });
  return { ...p, tid, vid, token: p.link.token };
}

async function waitReady(owner, p) {
  const v = await waitVersion(owner, p.id, p.vid, { ms: 90000, every: 100 });
  if (v.state !== 'ready') throw new Error(`transcode failed: ${JSON.stringify(v)}`);
}

async function mediaOf(guest, token) {
  const r = await guest.get(`/api/v1/s/${token}`);
  assert.equal(r.status, 200, r.body);
  return r.json.tracks[0].versions[0].media;
}

before(async () => {
  srv = await startServer({ args: [...FAST_ARGON] });
  W.a = await newOwner(srv);
  W.b = await newOwner(srv);
  W.p = await readyProject(W.a, 'Project P');
  W.q = await readyProject(W.b, 'Project Q');
  await waitReady(W.a, W.p);
  await waitReady(W.b, W.q);
  W.deny = await raw('GET', `/m/${'0'.repeat(32)}?e=1`);
  assert.equal(W.deny.status, 403);
});
after(async () => { await srv?.stop(); });

// Every way of changing a working URL must give the one 403, byte for byte.
async function expectDenied(p, what, headers = {}) {
  const r = await raw('GET', p, { Range: 'bytes=0-15', ...headers });
  assert.equal(r.status, 403, `${what}: ${p} -> ${r.status}`);
  assert.equal(r.body, W.deny.body, `${what}: the same 403 body`);
  assert.equal(r.headers['content-type'], W.deny.headers['content-type']);
}

function mutations(p) {
  const out = [];
  const start = p.indexOf('/m/') + 3;
  for (let i = start; i < p.length; i++) {
    const c = p[i];
    const alt = /[0-9]/.test(c) ? String((Number(c) + 1) % 10) : /[a-z]/.test(c) ? (c === 'z' ? 'a' : String.fromCharCode(c.charCodeAt(0) + 1)) : /[A-Z]/.test(c) ? (c === 'Z' ? 'A' : String.fromCharCode(c.charCodeAt(0) + 1)) : c === '-' ? '_' : c === '_' ? '-' : 'x';
    out.push([`char ${i} ${c}->${alt}`, p.slice(0, i) + alt + p.slice(i + 1)]);
  }
  const [base, q] = p.split('?');
  const params = q.split('&');
  for (let i = 0; i < params.length; i++) {
    out.push([`without ${params[i]}`, `${base}?${params.filter((_, j) => j !== i).join('&')}`]);
    out.push([`duplicate ${params[i]}`, `${base}?${[...params, params[i]].join('&')}`]);
    if (i + 1 < params.length) { const s = [...params]; [s[i], s[i + 1]] = [s[i + 1], s[i]]; out.push([`swap ${i}`, `${base}?${s.join('&')}`]); }
    const [k, v] = params[i].split('=');
    out.push([`percent-encoded ${k}`, `${base}?${params.map((x, j) => (j === i ? `${k}=%${v.charCodeAt(0).toString(16)}${v.slice(1)}` : x)).join('&')}`]);
    out.push([`padded ${k}`, `${base}?${params.map((x, j) => (j === i ? `${x}=` : x)).join('&')}`]);
  }
  out.push(['extra parameter', `${p}&x=1`]);
  out.push(['truncated', p.slice(0, -1)]);
  out.push(['extended', `${p}A`]);
  out.push(['upper-case object id', p.replace(/\/m\/([0-9a-f]+)/, (m, id) => `/m/${id.toUpperCase()}`)]);
  return out;
}

test('signed-URL mutation matrix on real URLs: every change is the same 403; the original works', { timeout: 180000 }, async () => {
  const g = new Client(srv, { localAddress: '127.0.0.2' });
  const media = await mediaOf(g, W.p.token);
  let n = 0;
  for (const kind of ['stream', 'download']) {
    const p = pathOf(media[kind]);
    const ok = await raw('GET', p, { Range: 'bytes=0-15' });
    assert.equal(ok.status, 206, `${kind} works: ${ok.status}`);
    for (const [what, m] of mutations(p)) { await expectDenied(m, `${kind} ${what}`); n++; }
    // d=0 <-> d=1 flips what the URL grants: refused, as is any other object.
    // A trailing slash makes the path malformed (its last segment is empty):
    // refused by the HTTP layer before routing, 400 (src/http/parse.c
    // http_parse_path), not the media role's 403 nor the router's 404.
    const slash = await raw('GET', p.replace('?', '/?'), { Range: 'bytes=0-15' });
    assert.equal(slash.status, 400, `trailing slash: ${slash.status}`);
    await expectDenied(p.replace(/([?&]d=)([01])/, (x, k, d) => `${k}${d === '1' ? '0' : '1'}`), `${kind} d flipped`);
    await expectDenied(p.replace(/\/m\/[0-9a-f]+/, `/m/${pathOf((await mediaOf(g, W.q.token))[kind]).match(/\/m\/([0-9a-f]+)/)[1]}`), `${kind} another project's object`);
    n += 2;
  }
  const peaks = pathOf(media.peaks);
  assert.equal((await raw('GET', peaks)).status, 200);
  // A URL of project Q is no key to project P (and the other way round).
  const qm = await mediaOf(g, W.q.token);
  assert.equal((await raw('GET', pathOf(qm.stream), { Range: 'bytes=0-15' })).status, 206);
  console.log(`# ${n} mutated URLs, each the same 403`);
});

// docs/security.md 2.4. Expiries are whole seconds and the review answer is
// cached per node (src/api/api_view.c), yet every load must sign URLs of its
// own: each carries a fresh nonce under the MAC (docs/media.md). Loads are
// made back to back, without sleeping, until two of them fall in the same
// expiry second (the case a deterministic signature would repeat).
test('each project load signs new URLs, even within one second; earlier ones keep working until they expire', async () => {
  const g = new Client(srv, { localAddress: '127.0.0.2' });
  const kinds = ['stream', 'peaks', 'download'];
  const exp = (m) => new URL(m.stream).searchParams.get('e');
  const loads = [await mediaOf(g, W.p.token), await mediaOf(g, W.p.token)];
  while (exp(loads.at(-1)) !== exp(loads.at(-2))) {
    assert.ok(loads.length < 20, 'twenty loads without two in the same second');
    loads.push(await mediaOf(g, W.p.token));
  }
  const [a, b] = loads.slice(-2);
  assert.equal(exp(a), exp(b), 'the same expiry second');
  const seen = new Set();
  for (const m of loads) {
    for (const k of kinds) {
      assert.match(m[k], /&r=[0-9a-f]{32}&k=/, `${k}: the URL carries a nonce`);
      assert.ok(!seen.has(m[k]), `${k}: a URL no earlier load got`);
      seen.add(m[k]);
    }
  }
  for (const k of kinds) assert.notEqual(a[k], b[k], `${k}: a new URL on the second load in the same second`);
  for (const m of [a, b]) {
    for (const k of ['stream', 'download']) assert.equal((await raw('GET', pathOf(m[k]), { Range: 'bytes=0-15' })).status, 206, `${k} plays`);
    assert.equal((await raw('GET', pathOf(m.peaks))).status, 200, 'peaks load');
  }
  // /urls (the player's refresh): every call new as well, and verifying.
  const u1 = await g.get(`/api/v1/s/${W.p.token}/urls?version=${W.p.vid}`);
  const u2 = await g.get(`/api/v1/s/${W.p.token}/urls?version=${W.p.vid}`);
  const u3 = await g.get(`/api/v1/s/${W.p.token}/urls`);
  for (const r of [u1, u2, u3]) assert.equal(r.status, 200, r.body);
  const us = [u1.json.versions[W.p.vid], u2.json.versions[W.p.vid], u3.json.tracks[0].versions[0].media];
  for (const m of us) {
    for (const k of kinds) {
      assert.ok(!seen.has(m[k]), `/urls ${k}: a URL no earlier call got`);
      seen.add(m[k]);
    }
  }
  for (const m of us) assert.equal((await raw('GET', pathOf(m.stream), { Range: 'bytes=0-15' })).status, 206, '/urls stream plays');
  // The nonce is MAC'd: a's URL with b's nonce is the same 403 as any mutation.
  const swapped = pathOf(a.stream).replace(/&r=[0-9a-f]{32}/, new URL(b.stream).search.match(/&r=[0-9a-f]{32}/)[0]);
  assert.notEqual(swapped, pathOf(a.stream));
  await expectDenied(swapped, 'stream URL with another load\'s nonce');
});

test('cross-project: a link sees only its project; version ids of another project are 404', async () => {
  const g = new Client(srv, { localAddress: '127.0.0.3' });
  const nf = await g.get(`/api/v1/s/${'A'.repeat(32)}`);
  assert.equal(nf.status, 404);
  for (const [p, other] of [[W.p, W.q], [W.q, W.p]]) {
    const r = await g.get(`/api/v1/s/${p.token}/urls?version=${other.vid}`);
    assert.equal(r.status, 404, `urls of another project's version: ${r.status}`);
    const c = await g.post(`/api/v1/s/${p.token}/comments`, { name: 'X', body: 'cross', version_id: other.vid, time_ms: 0 });
    assert.equal(c.status, 404, `comment on another project's version: ${c.status}`);
  }
  // Owner B with project P's ids: 404, never data.
  for (const [m, path] of [['GET', `/api/v1/projects/${W.p.id}`], ['GET', `/api/v1/projects/${W.p.id}/comments`], ['GET', `/api/v1/projects/${W.p.id}/links`], ['PATCH', `/api/v1/projects/${W.p.id}`], ['POST', `/api/v1/projects/${W.p.id}/tracks/${W.p.tid}/uploads`]]) {
    const r = await W.b.req(m, path, m === 'GET' ? undefined : (m === 'PATCH' ? { downloads: false } : { filename: 'x.wav', size: 100 }));
    assert.equal(r.status, 404, `${m} ${path}: ${r.status}`);
    assert.ok(!r.body.includes('Project P'));
  }
});

test('session cookie tampering: every changed character is 401', async () => {
  const sid = W.a.jar.get('__Host-am-session');
  assert.equal((await W.a.get('/api/v1/projects')).status, 200);
  for (let i = 0; i < sid.length; i++) {
    const alt = sid[i] === 'A' ? 'B' : 'A';
    const r = await raw('GET', '/api/v1/projects', { Cookie: `__Host-am-session=${sid.slice(0, i)}${alt}${sid.slice(i + 1)}` });
    assert.equal(r.status, 401, `char ${i}`);
  }
  for (const v of ['', `${sid}A`, sid.slice(0, -1), `${sid}=`, sid.toUpperCase()]) {
    const r = await raw('GET', '/api/v1/projects', { Cookie: `__Host-am-session=${v}` });
    assert.equal(r.status, 401, JSON.stringify(v));
  }
  const r = await raw('GET', '/api/v1/projects', { Cookie: `am-session=${sid}` });
  assert.equal(r.status, 401, 'the cookie without its __Host- name');
});

test('password cookie: required for API and media, every tampered character refused, useless on another project', async () => {
  assert.equal((await W.a.put(`/api/v1/projects/${W.p.id}/password`, { password: 'secret listening party' })).status, 204);
  const g = new Client(srv, { localAddress: '127.0.0.4' });
  const gate = await g.get(`/api/v1/s/${W.p.token}`);
  assert.equal(gate.status, 401);
  assert.ok(!gate.body.includes('Project P'), 'nothing of the project before the password');
  assert.equal((await g.post(`/api/v1/s/${W.p.token}/password`, { password: 'secret listening party' })).status, 200);
  const name = [...g.jar.keys()].find((k) => k.startsWith('__Host-am-pw-'));
  const val = g.jar.get(name);
  assert.ok(name && val && !val.includes('secret'));
  const media = await mediaOf(g, W.p.token);
  const sp = pathOf(media.stream);
  assert.equal((await raw('GET', sp, { Range: 'bytes=0-15', Cookie: `${name}=${val}` })).status, 206);
  await expectDenied(sp, 'stream without the password cookie');
  for (let i = 0; i < val.length; i++) {
    const alt = val[i] === '1' ? '2' : val[i] === '.' ? '_' : '1';
    const bad = `${name}=${val.slice(0, i)}${alt}${val.slice(i + 1)}`;
    const r = await raw('GET', `/api/v1/s/${W.p.token}`, { Cookie: bad });
    assert.equal(r.status, 401, `API, cookie char ${i}`);
    await expectDenied(sp, `media, cookie char ${i}`, { Cookie: bad });
  }
  // The cookie under another project's name is no key there.
  assert.equal((await W.b.put(`/api/v1/projects/${W.q.id}/password`, { password: 'another listening party' })).status, 204);
  const linkQ = `__Host-am-pw-${W.q.link.id}`;
  assert.equal((await raw('GET', `/api/v1/s/${W.q.token}`, { Cookie: `${linkQ}=${val}` })).status, 401);
  assert.equal((await W.b.del(`/api/v1/projects/${W.q.id}/password`)).status, 204);
  W.pw = { g, name, val };
});

test('downloads off: earlier d=1 URLs are refused at once, streaming still works', async () => {
  const { g } = W.pw;
  const media = await mediaOf(g, W.p.token);
  assert.ok(media.download);
  assert.equal((await W.a.patch(`/api/v1/projects/${W.p.id}`, { downloads: false })).status, 200);
  const cookie = { Cookie: g.cookieHeader() };
  await expectDenied(pathOf(media.download), 'download URL issued before downloads went off', cookie);
  assert.equal((await raw('GET', pathOf(media.stream), { Range: 'bytes=0-15', ...cookie })).status, 206);
  assert.equal((await mediaOf(g, W.p.token)).download, null, 'no download URL while off');
  assert.equal((await W.a.patch(`/api/v1/projects/${W.p.id}`, { downloads: true })).status, 200);
});

test('rate limits from the outside: guest comments, password attempts, owner login answer 429 with Retry-After', async () => {
  const r = await readyProject(W.b, 'Rate R');
  const g = new Client(srv, { localAddress: '127.0.0.5' });
  const codes = [];
  for (let i = 0; i < 11; i++) codes.push((await g.post(`/api/v1/s/${r.token}/comments`, { name: 'R', body: `c${i}`, version_id: r.vid, time_ms: i })));
  assert.deepEqual(codes.slice(0, 10).map((x) => x.status), Array(10).fill(201));
  assert.equal(codes[10].status, 429);
  assert.ok(Number(codes[10].headers['retry-after']) >= 1, 'Retry-After on the 11th comment');
  // Another address is not held back by the first one's limit.
  assert.equal((await new Client(srv, { localAddress: '127.0.0.6' }).post(`/api/v1/s/${r.token}/comments`, { name: 'S', body: 'ok', version_id: r.vid, time_ms: 0 })).status, 201);

  assert.equal((await W.b.put(`/api/v1/projects/${r.id}/password`, { password: 'rate limited party' })).status, 204);
  const pg = new Client(srv, { localAddress: '127.0.0.7' });
  const pw = [];
  for (let i = 0; i < 6; i++) pw.push(await pg.post(`/api/v1/s/${r.token}/password`, { password: `wrong guess ${i}` }));
  assert.deepEqual(pw.slice(0, 5).map((x) => x.status), Array(5).fill(403));
  assert.equal(pw[5].status, 429);
  assert.ok(Number(pw[5].headers['retry-after']) >= 1);

  const lc = new Client(srv, { localAddress: '127.0.0.8' });
  const lg = [];
  for (let i = 0; i < 7; i++) lg.push(await lc.post('/api/v1/session', { email: W.b.email, password: `wrong password ${i}` }));
  const first429 = lg.findIndex((x) => x.status === 429);
  assert.ok(first429 >= 1 && first429 <= 6, `login throttled by the 7th attempt: ${lg.map((x) => x.status)}`);
  assert.ok(Number(lg[first429].headers['retry-after']) >= 1);
});

test('regenerate revokes everything at once: old link, signed media URLs and password cookies', async () => {
  const { g, name, val } = W.pw;
  const cookie = { Cookie: `${name}=${val}` };
  const media = await mediaOf(g, W.p.token);
  for (const k of ['stream', 'download']) assert.equal((await raw('GET', pathOf(media[k]), { Range: 'bytes=0-15', ...cookie })).status, 206);
  assert.equal((await raw('GET', pathOf(media.peaks), cookie)).status, 200);
  const unknown = await raw('GET', `/api/v1/s/${'B'.repeat(32)}`);
  const regen = await W.a.post(`/api/v1/projects/${W.p.id}/links/${W.p.link.id}/regenerate`);
  assert.equal(regen.status, 200, regen.body);
  const old = await raw('GET', `/api/v1/s/${W.p.token}`, cookie);
  assert.equal(old.status, 404);
  assert.equal(old.body, unknown.body, 'the old link answers exactly like an unknown one');
  assert.equal((await raw('GET', `/api/v1/s/${W.p.token}/urls`, cookie)).status, 404);
  const oc = await raw('POST', `/api/v1/s/${W.p.token}/comments`, { ...cookie, Origin: srv.origin, 'Content-Type': 'application/json' }, JSON.stringify({ name: 'X', body: 'late', version_id: W.p.vid, time_ms: 0 }));
  assert.equal(oc.status, 404, 'no comment through the old link');
  for (const k of ['stream', 'download', 'peaks']) await expectDenied(pathOf(media[k]), `old ${k} URL`, cookie);
  const fresh = regen.json.link.token;
  const withOld = await raw('GET', `/api/v1/s/${fresh}`, cookie);
  assert.equal(withOld.status, 401, 'the old password cookie does not open the new link');
  const g2 = new Client(srv, { localAddress: '127.0.0.4' });
  assert.equal((await g2.post(`/api/v1/s/${fresh}/password`, { password: 'secret listening party' })).status, 200);
  const m2 = await mediaOf(g2, fresh);
  assert.equal((await raw('GET', pathOf(m2.stream), { Range: 'bytes=0-15', Cookie: g2.cookieHeader() })).status, 206);
});
