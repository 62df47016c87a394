// No third party (docs/security.md, promises 4.5 "No guest data shared with
// third parties" and 6.3 "No data sold or shared with advertisers"), tried
// in a real browser: during a whole owner + guest session every request the
// browser makes, and every call a page makes that could send data out, goes
// to the server's own origin.
//
//   - Recorded at the context level (context.on('request'): pages, frames,
//     dedicated workers, fonts, images, media, beacons, prefetches) and in
//     each page by an init script wrapping fetch, XMLHttpRequest.open,
//     navigator.sendBeacon, WebSocket, EventSource, RTCPeerConnection,
//     Worker and SharedWorker (their target URLs).
//   - Session: owner signs up, creates a project, uploads a WAV, waits for
//     the rendition, plays it in the dashboard, sets a project password;
//     guest opens the link, is refused a wrong password, enters the right
//     one, gives a name, plays, seeks, comments, downloads the original;
//     the signed-out pages /reset-password, /verify-email and an unknown
//     link are opened too.
//   - Then: every request URL is same-origin (or data:/blob:), the recorder
//     saw the API, static and media requests (so it was recording), no
//     service worker, no element in any page pointing elsewhere, and the
//     scripts, styles and pages the server sent contain no absolute URL of
//     another host (allow-list: the SVG XML namespace, never fetched).
//   - Control: a page that tries a third-party image, fetch, beacon and a
//     navigation is reported by the same checks (so they can fail).
//   - CSP: on every HTML page, default-src 'self', no wildcard, no scheme or
//     host source anywhere (img-src may add data:), no report endpoint.
//
//   node --test tests/browser/third-party.test.mjs   (AUDIOMUS_BIN picks the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { startApi } from '../e2e/lib/api.mjs';
import { launch, newContext, makeWav } from './lib.mjs';

const READY_TIMEOUT = Number(process.env.AUDIOMUS_READY_TIMEOUT_MS || 60000);
const OWNER_PW = 'quiet harbour at noon';
const PROJECT_PW = 'private listening room';
// Absolute URLs allowed inside served text: XML namespaces are names, not fetches.
const URL_ALLOW = new Set(['http://www.w3.org/2000/svg']);
// The front-end files the Makefile embeds (ASSETS and VENDOR).
const VENDOR = ['node_modules/wavesurfer.js/dist/wavesurfer.esm.js', 'node_modules/wavesurfer.js/dist/plugins/regions.esm.js'];

// Runs in every page before its own scripts: record the targets of every
// API that can send data, resolved against the page's URL.
const RECORDER = () => {
  const log = [];
  Object.defineProperty(window, '__egress', { value: log });
  const note = (api, u) => { try { log.push([api, new URL(String(u), location.href).href]); } catch { log.push([api, String(u)]); } };
  const wrapFn = (obj, name, api, pick = (a) => a[0]) => {
    const f = obj?.[name];
    if (typeof f !== 'function') return;
    obj[name] = function (...a) { note(api, pick(a) instanceof Request ? pick(a).url : pick(a)); return f.apply(this, a); };
  };
  wrapFn(window, 'fetch', 'fetch');
  wrapFn(XMLHttpRequest.prototype, 'open', 'xhr', (a) => a[1]);
  wrapFn(Navigator.prototype, 'sendBeacon', 'beacon');
  for (const C of ['WebSocket', 'EventSource', 'Worker', 'SharedWorker']) {
    const Orig = window[C];
    if (!Orig) continue;
    window[C] = new Proxy(Orig, { construct(t, a) { note(C, a[0]); return Reflect.construct(t, a); } });
  }
  if (window.RTCPeerConnection) {
    const Orig = window.RTCPeerConnection;
    window.RTCPeerConnection = new Proxy(Orig, { construct(t, a) { note('RTCPeerConnection', JSON.stringify(a[0] || {})); return Reflect.construct(t, a); } });
  }
};

let srv, browser;

before(async () => {
  srv = await startApi('sqlite', { args: ['--set', 'signup_open=true'] });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

// A context whose every request (all pages, workers) is recorded, with the
// recorder script in every page.
async function recordedContext() {
  const ctx = await newContext(browser);
  ctx.all = [];
  ctx.on('request', (r) => ctx.all.push(r));
  await ctx.addInitScript(RECORDER);
  ctx.setDefaultTimeout(10000);
  return ctx;
}

const sameOrigin = (u) => /^(data|blob):/.test(u) || new URL(u).origin === srv.origin;

// Everything a finished context shows: foreign request URLs, foreign
// calls recorded in its pages, foreign element attributes, service workers.
async function offenders(ctx) {
  const bad = ctx.all.map((r) => r.url()).filter((u) => !sameOrigin(u)).map((u) => `request ${u}`);
  for (const p of ctx.pages()) {
    if (p.isClosed()) continue;
    const calls = await p.evaluate(() => window.__egress || []).catch(() => []);
    for (const [api, u] of calls) if (!/^(data|blob):/.test(u) && !(u.startsWith('http') && new URL(u).origin === srv.origin)) bad.push(`${api} ${u}`);
    const attrs = await p.evaluate(() => [...document.querySelectorAll('[src],[href],[srcset],[poster],[action],[data]')]
      .flatMap((e) => ['src', 'href', 'srcset', 'poster', 'action', 'data'].filter((a) => e.hasAttribute(a)).map((a) => {
        try { return `${e.tagName} ${a} ${new URL(e.getAttribute(a), location.href).href}`; } catch { return `${e.tagName} ${a} ${e.getAttribute(a)}`; }
      }))).catch(() => []);
    for (const a of attrs) { const u = a.split(' ')[2]; if (/^https?:/.test(u) && new URL(u).origin !== srv.origin) bad.push(`element ${a}`); }
    const regs = await p.evaluate(async () => (navigator.serviceWorker ? (await navigator.serviceWorker.getRegistrations()).length : 0)).catch(() => 0);
    if (regs) bad.push(`${regs} service worker registration(s) in ${p.url()}`);
  }
  if (ctx.serviceWorkers().length) bad.push(`service workers: ${ctx.serviceWorkers().map((w) => w.url())}`);
  return bad;
}

// Absolute http(s) URLs of other hosts in a text (allow-list applied).
const foreignUrls = (text) => [...new Set(text.match(/https?:\/\/[^\s"'`()<>\\]+/g) || [])]
  .filter((u) => !URL_ALLOW.has(u) && !u.startsWith(srv.origin));

// The scripts, styles and pages the server sent in a context.
async function servedText(ctx) {
  const out = [];
  for (const r of ctx.all) {
    if (!['document', 'script', 'stylesheet'].includes(r.resourceType())) continue;
    const res = await r.response().catch(() => null);
    const body = res && await res.body().catch(() => null);
    if (body) out.push([r.url(), body.toString('utf8')]);
  }
  return out;
}

test('no third party: every request of a whole owner + guest session goes to the server itself', { timeout: 180000 }, async () => {
  const owner = await recordedContext();
  const guest = await recordedContext();
  const op = await owner.newPage();
  const gp = await guest.newPage();

  // Owner: sign up, project, upload, ready, play, password.
  await op.goto(`${srv.origin}/`);
  await op.getByRole('button', { name: 'Create an account' }).click();
  await op.fill('#email', 'noor@example.org');
  await op.fill('#password', OWNER_PW);
  await op.getByRole('button', { name: 'Create account' }).click();
  await op.fill('#new-title', 'Tidal EP');
  await op.getByRole('button', { name: 'Create project' }).click();
  await op.locator('#tracks-empty').waitFor(); // a new project opens on Tracks
  await op.getByRole('tab', { name: 'Share' }).click();
  await op.locator('#share-url').waitFor();
  const share = await op.inputValue('#share-url');
  await op.getByRole('tab', { name: 'Tracks' }).click();
  await op.setInputFiles('#files', [{ name: 'Undertow.wav', mimeType: 'audio/wav', buffer: makeWav(6) }]);
  await op.locator('.version[data-state="ready"]').first().waitFor({ timeout: READY_TIMEOUT });
  await op.getByRole('tab', { name: 'Comments' }).click();
  await op.locator('#owner-player').waitFor();
  await op.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:06'));
  await op.getByRole('button', { name: 'Play' }).click();
  await op.waitForFunction(() => document.querySelector('#audio').currentTime > 0.3, null, { timeout: 10000 });
  await op.evaluate(() => document.querySelector('#audio').pause());
  await op.getByRole('tab', { name: 'Settings' }).click();
  await op.fill('#project-password', PROJECT_PW);
  await op.getByRole('button', { name: 'Set password' }).click();
  await op.getByRole('button', { name: 'Remove password' }).waitFor();

  // Guest: password (wrong, right), name, play, seek, comment, download.
  await gp.goto(share);
  await gp.fill('#gate-password', 'a wrong guess');
  await gp.getByRole('button', { name: 'Open' }).click();
  await gp.getByText('Wrong password').waitFor();
  await gp.fill('#gate-password', PROJECT_PW);
  await gp.getByRole('button', { name: 'Open' }).click();
  await gp.fill('#name-input', 'Ana');
  await gp.getByRole('button', { name: 'Continue' }).click();
  await gp.locator('#review').waitFor();
  await gp.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:06'));
  await gp.getByRole('button', { name: 'Play' }).click();
  await gp.waitForFunction(() => document.querySelector('#audio').currentTime > 0.3, null, { timeout: 10000 });
  await gp.evaluate(() => { window.audiomus.player.seek(3); });
  await gp.fill('#comment-body', 'The low end is lovely');
  await gp.getByRole('button', { name: 'Comment', exact: true }).click();
  await gp.locator('.comment .body', { hasText: 'The low end is lovely' }).waitFor();
  const [dl] = await Promise.all([gp.waitForEvent('download'), gp.click('#download')]);
  assert.ok(fs.statSync(await dl.path()).size > 6 * 44100 * 4, 'the original was downloaded');
  // The owner sees the comment.
  await op.getByRole('tab', { name: 'Comments' }).click();
  await op.locator('.comment .body', { hasText: 'The low end is lovely' }).waitFor();

  // The signed-out pages and an unknown link, in the guest's context.
  const other = await guest.newPage();
  for (const p of ['/reset-password', '/verify-email', `/s/${'A'.repeat(32)}`]) {
    await other.goto(`${srv.origin}${p}`);
    await other.waitForLoadState('networkidle');
  }

  const reqs = [...owner.all, ...guest.all];
  const paths = reqs.map((r) => r.url()).filter((u) => u.startsWith(srv.origin)).map((u) => new URL(u).pathname);
  for (const prefix of ['/api/v1/', '/static/', '/m/', '/u/'])
    assert.ok(paths.some((x) => x.startsWith(prefix)), `the recorder saw no ${prefix} request: ${[...new Set(paths)].join(' ')}`);
  const types = {};
  for (const r of reqs) types[r.resourceType()] = (types[r.resourceType()] || 0) + 1;
  console.log(`# ${reqs.length} requests recorded (${Object.entries(types).map(([k, v]) => `${k} ${v}`).join(', ')}), ${new Set(paths).size} distinct paths`);

  const bad = [...await offenders(owner), ...await offenders(guest)];
  assert.deepEqual(bad, [], 'something left for another origin');
  const served = [...await servedText(owner), ...await servedText(guest)];
  assert.ok(served.some(([u]) => u.includes('/static/vendor/')), 'the vendored player script was among the served scripts');
  const foreign = served.flatMap(([u, t]) => foreignUrls(t).map((x) => `${x} in ${u}`));
  assert.deepEqual(foreign, [], 'absolute URLs of other hosts in what the server sent');
  console.log(`# ${served.length} pages, scripts and styles searched for absolute URLs`);
  for (const ctx of [owner, guest]) {
    assert.deepEqual(ctx.record.csp, [], 'no CSP violation during the session');
    assert.deepEqual(ctx.record.errors, []);
  }
  await owner.close();
  await guest.close();
});

test('control: a page reaching for another origin is caught by the same checks', { timeout: 60000 }, async () => {
  const ctx = await recordedContext();
  const p = await ctx.newPage();
  await p.goto(`${srv.origin}/reset-password`);
  await p.evaluate(() => {
    const img = document.createElement('img');
    img.src = 'https://tracker.invalid/pixel.png';
    document.body.append(img);
    fetch('https://tracker.invalid/collect', { method: 'POST', body: 'x' }).catch(() => {});
    navigator.sendBeacon('https://tracker.invalid/beacon', 'x');
  });
  await p.waitForFunction(() => window.__egress.length >= 2);
  const bad = await offenders(ctx);
  for (const want of ['fetch https://tracker.invalid/collect', 'beacon https://tracker.invalid/beacon', 'element IMG src https://tracker.invalid/pixel.png'])
    assert.ok(bad.includes(want), `control missed ${want}: ${JSON.stringify(bad)}`);
  // CSP blocked the image, the fetch and the beacon before the network...
  await p.waitForTimeout(200);
  assert.ok(ctx.record.csp.length >= 2, `CSP reported ${JSON.stringify(ctx.record.csp)}`);
  // ...and the request recorder catches what CSP cannot stop (a navigation).
  await p.goto('https://tracker.invalid/').catch(() => {});
  assert.ok((await offenders(ctx)).includes('request https://tracker.invalid/'));
  assert.deepEqual(foreignUrls('<script src="https://cdn.example.com/x.js"></script>'), ['https://cdn.example.com/x.js']);
  await ctx.close();
});

// A CSP header parsed into { directive: [sources] }.
function parseCsp(h) {
  const out = {};
  for (const part of (h || '').split(';').map((s) => s.trim()).filter(Boolean)) {
    const [k, ...v] = part.split(/\s+/);
    out[k.toLowerCase()] = v;
  }
  return out;
}

test('CSP on every HTML page forbids every third-party origin', { timeout: 60000 }, async () => {
  const ctx = await newContext(browser);
  // A real share token for /s/{token} (the page is the same for an unknown one).
  const api = ctx.request;
  const su = await api.post(`${srv.origin}/api/v1/accounts`, { data: { email: 'csp@example.org', password: OWNER_PW }, headers: { Origin: srv.origin } });
  assert.equal(su.status(), 201, await su.text());
  const csrf = (await su.json()).csrf_token;
  const pr = await api.post(`${srv.origin}/api/v1/projects`, { data: { title: 'CSP' }, headers: { Origin: srv.origin, 'X-CSRF-Token': csrf } });
  const token = (await pr.json()).project.link.token;
  const pages = ['/', `/s/${token}`, `/s/${'B'.repeat(32)}`, '/reset-password', '/verify-email'];
  for (const p of pages) {
    const r = await api.get(`${srv.origin}${p}`);
    assert.match(r.headers()['content-type'] || '', /^text\/html/, `${p} is an HTML page`);
    const csp = parseCsp(r.headers()['content-security-policy']);
    assert.deepEqual(csp['default-src'], ["'self'"], `${p}: default-src`);
    for (const [d, sources] of Object.entries(csp)) {
      assert.ok(!['report-uri', 'report-to'].includes(d), `${p}: ${d} would send reports somewhere`);
      for (const s of sources) {
        const ok = ["'self'", "'none'"].includes(s) || (d === 'img-src' && s === 'data:');
        assert.ok(ok, `${p}: ${d} allows ${s}`);
      }
    }
  }
  // The embedded front end, from the sources the binary is built from.
  const files = [...fs.readdirSync('web', { recursive: true }).map((f) => path.join('web', f)).filter((f) => fs.statSync(f).isFile()), ...VENDOR];
  const foreign = files.flatMap((f) => foreignUrls(fs.readFileSync(f, 'utf8')).map((u) => `${u} in ${f}`));
  assert.deepEqual(foreign, [], 'absolute URLs of other hosts in web/ or the vendored scripts');
  console.log(`# CSP checked on ${pages.length} pages; ${files.length} embedded source files searched`);
  await ctx.close();
});
