// Accessibility and the phone layout (issue 22, "Details" and "Phone"):
// - axe-core (devDependency, injected into each page) on every page: sign-in,
//   the dashboard's project list, each project tab and the account page, the
//   review page (name form, player with comments, an empty project, a project
//   whose tracks are still processing), the password gate, the "no longer
//   valid" page, /reset-password and /verify-email; in the dark and the light
//   scheme, on a desktop and on a phone (390x844, touch): no serious or
//   critical violation.
// - The manual scheme switch: remembered in localStorage, applied before the
//   first frame (no flash of the other scheme), and "System" follows the OS.
// - The phone layout: the track list is visible without scrolling past the
//   comments, and the compact player stays on screen after scrolling through
//   30 comments; a range comment is marked with an ordinary touch drag after
//   "Mark range" (touch emulation through the DevTools protocol).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';

import { PASSWORD, newOwner, newProject, startApi, uploadTrack, waitVersion } from '../e2e/lib/api.mjs';
import { launch, makeWav, newContext } from './lib.mjs';

const require = createRequire(import.meta.url);
// axe-core from node_modules (a devDependency: `npm ci`, i.e. ./scripts/dev
// deps), or the file AUDIOMUS_AXE names. Missing, the suite fails, saying so.
function axeSource() {
  let file = process.env.AUDIOMUS_AXE;
  if (!file) {
    try { file = require.resolve('axe-core/axe.min.js'); } catch {
      throw new Error("axe-core is missing from node_modules: run 'npm ci' (./scripts/dev deps) or set AUDIOMUS_AXE");
    }
  }
  return fs.readFileSync(file, 'utf8');
}
const AXE = axeSource();
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

let srv, browser, owner, full, empty, pending, gated;
before(async () => {
  srv = await startApi('sqlite');
  browser = await launch();
  owner = await newOwner(srv);
  full = await newProject(owner, 'Harbour Lights');
  const { vid } = await uploadTrack(owner, full.id, makeWav(6), { title: 'Low Tide' });
  assert.equal((await waitVersion(owner, full.id, vid)).state, 'ready');
  await owner.post(`/api/v1/projects/${full.id}/tracks`, { title: 'Second Song' });
  for (let i = 0; i < 30; i++) {
    const r = await owner.post(`/api/v1/projects/${full.id}/comments`, { version_id: vid, body: `Note ${i + 1}: the snare is a touch loud here.`, time_ms: i * 180 });
    assert.equal(r.status, 201, r.body);
  }
  full.vid = vid;
  empty = await newProject(owner, 'Empty Room');
  pending = await newProject(owner, 'Still Baking');
  await owner.post(`/api/v1/projects/${pending.id}/tracks`, { title: 'Not Yet' });
  gated = await newProject(owner, 'Locked Door');
  assert.equal((await owner.req('PUT', `/api/v1/projects/${gated.id}/password`, { password: 'a listening party at nine' })).status, 204);
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

// The serious and critical violations of axe's rules on the page as it is.
async function axe(page) {
  const t0 = Date.now();
  try { return await axeRun(page); } finally { if (process.env.A11Y_TIMES) console.log(`axe ${page.url()} ${Date.now() - t0} ms`); }
}
async function axeRun(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.any.map((a) => a.message).join('; ')}`).join(' | ')}`);
  });
  return r;
}

async function guestOpen(page, project, name = 'Robin') {
  await page.goto(project.link.url);
  await page.evaluate((n) => localStorage.setItem('audiomus.guestName', n), name);
  await page.reload();
  await page.locator('#review').waitFor();
}

const SCHEMES = ['dark', 'light'];

// axe on the page as loaded, once in each scheme: the scheme is a CSS media
// query (app.css; theme.js only recolours the waveform on a change), so
// switching the emulated prefers-color-scheme on the loaded page gives what a
// load in that scheme gives, at half the page loads. Running transitions
// (the dropzone's colours) end before axe reads the colours.
async function axeSchemes(page, label, out) {
  for (const colorScheme of SCHEMES) {
    await page.emulateMedia({ colorScheme });
    await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished.catch(() => {}))));
    out.push([`${label} (${colorScheme})`, await axe(page)]);
  }
}

// Every page, each in the state a visitor sees it, in both schemes; returns
// [label, violations].
async function everyPage(ctx) {
  const out = [];
  const page = await ctx.newPage();
  const check = (label) => axeSchemes(page, label, out);
  await page.goto(`${srv.origin}/`);
  await page.locator('#password').waitFor();
  await check('sign-in');
  await page.fill('#email', owner.email);
  await page.fill('#password', PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.projects').waitFor();
  await check('projects');
  for (const tab of ['tracks', 'comments', 'share', 'settings', 'activity']) {
    await page.goto(`${srv.origin}/#/p/${full.id}/${tab}`);
    await page.locator(`#tab-${tab}[aria-selected="true"]`).waitFor();
    await page.waitForLoadState('networkidle');
    await check(`project tab ${tab}`);
  }
  await page.goto(`${srv.origin}/#/account`);
  await page.waitForLoadState('networkidle');
  await check('account');

  const guest = await ctx.browser().newContext({ ...ctxOpts(ctx) });
  const gp = await guest.newPage();
  await gp.goto(full.link.url);
  await gp.locator('#name-form').waitFor();
  await axeSchemes(gp, 'review: name form', out);
  await gp.fill('#name-input', 'Robin');
  await gp.getByRole('button', { name: 'Continue' }).click();
  await gp.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:06'));
  await axeSchemes(gp, 'review: player', out);
  await guestOpen(gp, empty);
  await gp.locator('#review-empty').waitFor();
  await axeSchemes(gp, 'review: empty project', out);
  await guestOpen(gp, pending);
  await gp.locator('#review-empty').waitFor();
  await axeSchemes(gp, 'review: processing', out);
  await gp.goto(gated.link.url);
  await gp.locator('#gate').waitFor();
  await axeSchemes(gp, 'password gate', out);
  await gp.goto(`${srv.origin}/s/${'A'.repeat(32)}`);
  await gp.locator('#state[data-state="gone"]').waitFor();
  await axeSchemes(gp, 'gone', out);
  for (const p of ['/reset-password', '/reset-password#token=AAAAnot-a-real-token', '/verify-email', '/verify-email#token=AAAAnot-a-real-token']) {
    await gp.goto('about:blank'); // a new document each time, not a hash change
    await gp.goto(`${srv.origin}${p}`);
    await gp.waitForLoadState('networkidle');
    await gp.waitForFunction(() => !/Loading…/.test(document.querySelector('main')?.textContent ?? 'Loading…'));
    await axeSchemes(gp, p, out);
  }
  await guest.close();
  return out;
}

const ctxOpts = (ctx) => ctx.audiomusOpts;

// One test per layout (a phone is a context of its own: isMobile, touch), each
// page loaded once and checked in both schemes.
for (const [layout, extra] of [['desktop', {}], ['phone', PHONE]]) {
  test(`axe: no serious or critical violation on any page, dark and light (${layout})`, { timeout: 240000 }, async () => {
    const opts = { colorScheme: 'dark', ...extra };
    const ctx = await newContext(browser, opts);
    ctx.audiomusOpts = { ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 }, ...opts };
    let pages;
    try {
      pages = await everyPage(ctx);
    } finally {
      await ctx.close();
    }
    assert.ok(pages.length >= 2 * 18, `${layout}: pages checked (both schemes): ${pages.length}`);
    const bad = pages.filter(([, v]) => v.length).map(([p, v]) => `${layout} ${p}:\n  ${v.join('\n  ')}`);
    assert.deepEqual(bad, []);
    assert.deepEqual(ctx.record.errors, [], layout);
    assert.deepEqual(ctx.record.csp, [], layout);
  });
}

test('the scheme switch: remembered, applied before the first frame, "system" follows the OS', async () => {
  const ctx = await newContext(browser, { colorScheme: 'dark' });
  try {
    // The page's background on the first animation frame, before any paint.
    await ctx.addInitScript(() => {
      requestAnimationFrame(() => {
        window.firstFrameBg = getComputedStyle(document.body || document.documentElement).backgroundColor;
      });
    });
    const page = await ctx.newPage();
    await page.goto(`${srv.origin}/`);
    const sw = page.locator('#theme-switch');
    await sw.waitFor();
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const dark = await bg();
    await sw.selectOption('light');
    const light = await bg();
    assert.notEqual(light, dark);
    assert.equal(await page.evaluate(() => localStorage.getItem('audiomus.theme')), 'light');
    for (const url of [`${srv.origin}/`, full.link.url, `${srv.origin}/reset-password`, `${srv.origin}/verify-email`]) {
      await page.goto(url);
      assert.equal(await page.evaluate(() => window.firstFrameBg), light, `${url}: the first frame is light`);
      assert.equal(await page.inputValue('#theme-switch'), 'light');
    }
    await page.locator('#theme-switch').selectOption('system');
    assert.equal(await bg(), dark);
    await page.emulateMedia({ colorScheme: 'light' });
    assert.equal(await bg(), light);
    await page.locator('#theme-switch').selectOption('dark');
    assert.equal(await bg(), dark);
    await page.reload();
    assert.equal(await page.evaluate(() => window.firstFrameBg), dark);
    assert.deepEqual(ctx.record.csp, []);
  } finally {
    await ctx.close();
  }
});

test('review page: an empty project and a still-processing one show an empty state, not the player', async () => {
  const ctx = await newContext(browser, { colorScheme: 'light' });
  try {
    const page = await ctx.newPage();
    const shown = (sel) => page.locator(sel).isVisible();
    await guestOpen(page, empty);
    await page.locator('#review-empty').waitFor();
    assert.equal(await page.textContent('#empty-h'), 'Nothing to listen to yet');
    assert.match(await page.textContent('#empty-text'), /not added any tracks/);
    for (const sel of ['#play', '#version-select', '.hint-keys', '#wave', '#comment-body', '.tracks']) assert.equal(await shown(sel), false, sel);
    await guestOpen(page, pending);
    await page.locator('#review-empty').waitFor();
    assert.equal(await page.textContent('#empty-h'), 'Still processing');
    assert.match(await page.textContent('#empty-text'), /still being prepared for listening/);
    assert.equal(await shown('.tracks'), true, 'the track list, with its processing badge');
    assert.equal(await page.locator('.track .badge', { hasText: 'processing' }).count(), 1);
    for (const sel of ['#play', '#version-select', '.hint-keys', '#wave']) assert.equal(await shown(sel), false, sel);
    await guestOpen(page, full);
    await page.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:06'));
    assert.equal(await shown('#review-empty'), false);
    assert.equal(await shown('#play'), true);
    assert.deepEqual(ctx.record.errors, []);
  } finally {
    await ctx.close();
  }
});

// A touch drag through the DevTools protocol (what a finger sends).
async function touchDrag(page, from, to, steps = 8) {
  const cdp = await page.context().newCDPSession(page);
  const pt = (x, y) => [{ x: Math.round(x), y: Math.round(y), id: 1 }];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: pt(from.x, from.y) });
  for (let i = 1; i <= steps; i++) {
    await cdp.send('Input.dispatchTouchEvent', {
      type: 'touchMove', touchPoints: pt(from.x + ((to.x - from.x) * i) / steps, from.y + ((to.y - from.y) * i) / steps),
    });
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await cdp.detach();
}

test('phone: track list above the comments, the player stays on screen, a range by touch drag', { timeout: 60000 }, async () => {
  const ctx = await newContext(browser, { colorScheme: 'dark', ...PHONE });
  try {
    const page = await ctx.newPage();
    await guestOpen(page, full);
    await page.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:06'));
    assert.equal(await page.locator('#comments > .comment').count(), 30);
    const box = async (sel) => page.locator(sel).boundingBox();
    const tracks = await box('#track-list');
    const comments = await box('#comments');
    assert.ok(tracks.y < 844 && tracks.y + 20 < 844, `the track list starts at y=${tracks.y} on an 844 px screen`);
    assert.ok(tracks.y < comments.y, `track list y=${tracks.y}, comments y=${comments.y}`);

    // Scroll to the last comment: play button, time and waveform still on screen.
    await page.locator('#comments > .comment').last().scrollIntoViewIfNeeded();
    assert.ok(await page.evaluate(() => window.scrollY) > 1000, 'the page scrolled');
    for (const sel of ['#play', '#wave', '#time']) {
      const b = await box(sel);
      assert.ok(b.y >= 0 && b.y + b.height <= 844, `${sel} on screen after scrolling: y=${b.y} h=${b.height}`);
    }
    const play = await box('#play');
    assert.ok(play.width >= 44 && play.height >= 44, `play button ${play.width}x${play.height}`);

    // The hint says how to mark a range on a phone.
    const hint = page.locator('#range-hint');
    assert.ok(await hint.isVisible(), 'the range hint is shown on a phone');
    assert.match(await hint.textContent(), /Mark range/);

    await page.evaluate(() => window.scrollTo(0, 0));
    const wave = await box('#wave');
    const y = wave.y + wave.height / 2;
    const at = (s) => wave.x + (wave.width * s) / 6;
    assert.equal(await page.locator('#clear-range').isVisible(), false);

    // "Mark range", then an ordinary drag from 1.4 s to 3.4 s (of 6 s).
    await page.locator('#mark-range').tap();
    assert.equal(await page.getAttribute('#mark-range', 'aria-pressed'), 'true');
    await touchDrag(page, { x: at(1.4), y }, { x: at(3.4), y });
    await page.locator('#clear-range').waitFor();
    const sel = await page.evaluate(() => window.audiomus.player.selection);
    assert.ok(sel && Math.abs(sel.start - 1.4) < 0.15 && Math.abs(sel.end - 3.4) < 0.15, `selection ${JSON.stringify(sel)}`);
    assert.match(await page.textContent('#anchor'), /0:01.0:03/);
    assert.equal(await page.getAttribute('#mark-range', 'aria-pressed'), 'false', 'the toggle turns itself off');

    // Sent as a range comment.
    await page.fill('#comment-body', 'This bit, by touch.');
    await page.locator('#comment-submit').evaluate((b) => b.form.requestSubmit(b));
    await page.locator('.comment', { hasText: 'This bit, by touch.' }).waitFor({ timeout: 10000 }).catch(async (e) => {
      throw new Error(`${e.message}; status: ${await page.textContent('#composer-status')}`);
    });
    const list = (await owner.get(`/api/v1/projects/${full.id}/comments`)).json.comments;
    const c = list.find((x) => x.body === 'This bit, by touch.');
    assert.ok(c && c.end_ms > c.time_ms && Math.abs(c.time_ms - 1400) < 150 && Math.abs(c.end_ms - 3400) < 150, JSON.stringify(c));
    assert.deepEqual(ctx.record.errors, []);
  } finally {
    await ctx.close();
  }
});
