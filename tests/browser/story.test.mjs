// The whole story in a real browser (issue 8): an owner signs up, creates a
// project, uploads generated WAVs (and a second, offset mix of one: A/B),
// waits until they are ready, copies the link and sets a password; a guest in a second browser context is refused with a
// wrong password, gets in with the right one, gives a name, plays, seeks,
// comments and replies; the owner sees the comment and jumps to its time;
// the owner also plays it inside the dashboard (owner URLs, markers, Range
// requests, URL refresh, Tracks tab "Play"), and drops notes of their own at
// a time and over a range, which the guest sees marked as the owner's;
// downloads off hides the guest's button and the original's URL is refused;
// regenerating the link ends the guest's access. Along the way: XSS payloads
// stay text, no dialog fires, the CSP header is present and nothing violates
// it; screenshots for the README are taken and checked to be non-blank
// (written to a temporary directory, or to AUDIOMUS_SCREENSHOTS:
// `make screenshots` regenerates docs/screenshots).
//
//   node --test tests/browser/         (AUDIOMUS_BIN picks the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { startApi } from '../e2e/lib/api.mjs';
import { launch, newContext, makeWav, screenshot } from './lib.mjs';

const READY_TIMEOUT = Number(process.env.AUDIOMUS_READY_TIMEOUT_MS || 60000);
const XSS = '<img src=x onerror=alert(1)></script><script>alert(2)</script>';
const GUEST = 'Ana';
const COMMENT = 'Kick is too loud here: can we pull it back 2 dB?';
const XSS_NAME = `Eve ${XSS}`;
const XSS_COMMENT = `Nice ${XSS}`;
const OWNER_NOTE = 'Bridge too loud here: I will pull it back 2 dB in the next mix';
const OWNER_PW = 'tide pool at midnight';
const PROJECT_PW = 'secret listening party';
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

let srv, browser, owner, guest, op, gp;
const s = {}; // facts carried between steps

before(async () => {
  srv = await startApi('sqlite', { args: ['--set', 'signup_open=true'] });
  browser = await launch();
  owner = await newContext(browser);
  guest = await newContext(browser);
  await owner.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.origin });
  op = await owner.newPage();
  gp = await guest.newPage();
  owner.setDefaultTimeout(10000);
  guest.setDefaultTimeout(10000);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const cur = (page) => page.evaluate(() => document.querySelector('#audio').currentTime);

test('the whole story', { timeout: 150000 }, async (t) => {
  // Steps run in order and stop at the first failure (the rest are skipped).
  let failed = false;
  const step = (name, fn) => t.test(name, async (tt) => {
    if (failed) { tt.skip('an earlier step failed'); return; }
    try { await fn(); } catch (e) { failed = true; throw e; }
  });
  await step('owner signs up and creates a project', async () => {
    const r = await op.goto(`${srv.origin}/`);
    assert.equal(r.headers()['content-security-policy'], CSP);
    await op.getByRole('button', { name: 'Create an account' }).click();
    await op.fill('#email', 'mira@example.org');
    await op.fill('#password', OWNER_PW);
    await op.getByRole('button', { name: 'Create account' }).click();
    await op.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
    await op.getByText('No projects yet').waitFor();
    await op.fill('#new-title', 'Night Drive EP');
    await op.getByRole('button', { name: 'Create project' }).click();
    // A new project opens on Tracks, with the call to upload; the link is
    // on Share, copyable from any session (the server keeps it sealed).
    await op.locator('#upload-cta').waitFor();
    assert.equal(await op.getByRole('tab', { name: 'Tracks' }).getAttribute('aria-selected'), 'true');
    await op.getByRole('tab', { name: 'Share' }).click();
    await op.locator('#share-url').waitFor();
    s.url = await op.inputValue('#share-url');
    assert.match(s.url, new RegExp(`^${srv.origin}/s/[A-Za-z0-9_-]{32}$`));
    await op.getByRole('button', { name: 'Copy' }).click();
    await op.getByText('Link copied').waitFor();
    assert.equal(await op.evaluate(() => navigator.clipboard.readText()), s.url);
  });

  await step('owner uploads a WAV with a progress bar and waits until it is ready', async () => {
    await op.getByRole('tab', { name: 'Tracks' }).click();
    await op.locator('#dropzone').waitFor();
    const progress = [];
    await op.exposeFunction('reportProgress', (v) => progress.push(v));
    await op.evaluate(() => {
      new MutationObserver(() => {
        for (const b of document.querySelectorAll('.upload progress')) window.reportProgress(Number(b.value));
      }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['value'] });
    });
    await op.setInputFiles('#files', [{ name: 'First Light.wav', mimeType: 'audio/wav', buffer: makeWav(12, 44100, { accents: true }) },
      { name: 'Harbour Lights.wav', mimeType: 'audio/wav', buffer: makeWav(9, 48000) }], { timeout: 30000 });
    await op.locator('.upload[data-done="true"]').nth(1).waitFor({ timeout: 30000 });
    assert.ok(progress.length > 0 && progress.at(-1) === 100, `progress bar values seen: ${progress}`);
    await op.locator('.track-row h3', { hasText: 'First Light' }).waitFor();
    try {
      await op.locator('.version[data-state="ready"]').nth(1).waitFor({ timeout: READY_TIMEOUT });
    } catch {
      const state = await op.locator('.version').first().getAttribute('data-state');
      assert.fail(`the uploaded version is still "${state}" after ${READY_TIMEOUT / 1000} s: ` +
        'is the worker role (src/worker) running inside `audiomus serve`?');
    }
    const row = op.locator('.track-row', { hasText: 'First Light' });
    const facts = await row.locator('.version .facts').textContent();
    assert.match(facts, /Duration 0:12/);
    assert.match(facts, /LUFS/);
    assert.match(facts, /dBTP/);
    // A second mix of First Light, bounced with 1.5 s more intro: the
    // review page offers A/B between the two (ready by the guest's visit).
    await row.locator('input[type=file]').setInputFiles({ name: 'First Light v2.wav', mimeType: 'audio/wav', buffer: makeWav(12, 44100, { intro: 1.5, accents: true }) }, { timeout: 30000 });
    await row.locator('.version').nth(1).waitFor({ timeout: 30000 });
  });

  await step('owner sets a project password', async () => {
    await op.getByRole('tab', { name: 'Settings' }).click();
    await op.fill('#project-password', PROJECT_PW);
    await op.getByRole('button', { name: 'Set password' }).click();
    await op.getByRole('button', { name: 'Remove password' }).waitFor();
    await op.getByRole('tab', { name: 'Tracks' }).click();
    await op.locator('.version[data-state="ready"]').nth(2).waitFor({ timeout: READY_TIMEOUT });
  });

  await step('guest: wrong password refused, right one opens, name asked once', async () => {
    const r = await gp.goto(s.url);
    assert.equal(r.status(), 200);
    assert.equal(r.headers()['content-security-policy'], CSP);
    await gp.locator('#gate').waitFor();
    await gp.fill('#gate-password', 'not the password');
    await gp.getByRole('button', { name: 'Open' }).click();
    await gp.getByText('Wrong password').waitFor();
    await gp.fill('#gate-password', PROJECT_PW);
    await gp.getByRole('button', { name: 'Open' }).click();
    await gp.locator('#name-form').waitFor();
    await gp.fill('#name-input', GUEST);
    await gp.getByRole('button', { name: 'Continue' }).click();
    await gp.locator('#review').waitFor();
    assert.equal(await gp.textContent('#guest-name'), GUEST);
    assert.equal(await gp.textContent('#now-title'), 'First Light');
    // Remembered: a reload asks no more.
    await gp.reload();
    await gp.locator('#review').waitFor();
    assert.ok(await gp.locator('#name-form').isHidden());
  });

  await step('guest plays, seeks to the middle with Range requests, keyboard works', async () => {
    await gp.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:12'));
    await gp.locator('#wave canvas').first().waitFor({ state: 'attached' });
    await gp.getByRole('button', { name: 'Play' }).click();
    await gp.waitForFunction(() => document.querySelector('#audio').currentTime > 0.3, null, { timeout: 10000 });
    const box = await gp.locator('#wave').boundingBox();
    const before = guest.record.requests.length;
    await gp.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    const t0 = await cur(gp);
    assert.ok(Math.abs(t0 - 6) < 1, `seeked to ${t0}, not the middle`);
    await gp.waitForFunction((x) => document.querySelector('#audio').currentTime > x + 0.3, t0, { timeout: 10000 });
    const media = await Promise.all(guest.record.requests.filter((q) => new URL(q.url()).pathname.startsWith('/m/'))
      .map(async (q) => ({ url: q.url(), range: (await q.allHeaders()).range })));
    assert.ok(media.some((m) => m.range && /^bytes=\d+-/.test(m.range)), `no Range request among ${JSON.stringify(media)}`);
    assert.ok(guest.record.requests.length > before || media.length > 0);
    // Space pauses, arrows move 5 s.
    await gp.locator('body').click({ position: { x: 5, y: 400 } });
    await gp.keyboard.press('Space');
    await gp.waitForFunction(() => document.querySelector('#audio').paused);
    const t1 = await cur(gp);
    await gp.keyboard.press('ArrowLeft');
    assert.ok(Math.abs((await cur(gp)) - (t1 - 5)) < 0.6);
    await gp.keyboard.press('ArrowRight');
    assert.ok(Math.abs((await cur(gp)) - t1) < 0.6);
  });

  await step('signed URLs are refreshed without interrupting playback', async () => {
    await gp.getByRole('button', { name: 'Play' }).click();
    await gp.evaluate(() => { document.querySelector('#audio').currentTime = 1; });
    await gp.waitForFunction(() => !document.querySelector('#audio').paused && document.querySelector('#audio').currentTime > 1.2);
    const src0 = await gp.evaluate(() => document.querySelector('#audio').src);
    const t0 = await cur(gp);
    await gp.evaluate(() => window.audiomus.refreshUrls());
    const src1 = await gp.evaluate(() => document.querySelector('#audio').src);
    assert.notEqual(src1, src0, 'the player kept the old URL');
    await gp.waitForFunction((x) => document.querySelector('#audio').currentTime > x + 0.4, t0, { timeout: 10000 });
    assert.equal(await gp.evaluate(() => document.querySelector('#audio').paused), false);
    // A seek late in the track after the swap streams from the new URL.
    await gp.evaluate(() => { document.querySelector('#audio').currentTime = 10.5; });
    await gp.waitForFunction(() => document.querySelector('#audio').currentTime > 10.8, null, { timeout: 10000 });
    await gp.evaluate(() => document.querySelector('#audio').pause());
  });

  await step('guest comments at a time and replies; payloads stay text', async () => {
    await gp.evaluate(() => { window.audiomus.player.seek(4.5); });
    await gp.fill('#comment-body', COMMENT);
    assert.equal(await gp.textContent('#anchor'), 'at 0:04');
    await gp.getByRole('button', { name: 'Comment', exact: true }).click();
    const c = gp.locator('.comment').first();
    await c.locator(':scope > .body').waitFor();
    assert.equal(await c.locator(':scope > .body').textContent(), COMMENT);
    assert.equal(await c.locator(':scope > .comment-head .author').textContent(), GUEST);
    assert.equal(await c.locator('.ts').textContent(), '0:04');
    assert.equal(await gp.locator('#comments img, #comments script').count(), 0);
    // The marker on the waveform jumps to the comment's time.
    await gp.evaluate(() => window.audiomus.player.seek(9));
    await c.locator('.ts').click();
    assert.ok(Math.abs((await cur(gp)) - 4.5) < 0.3);
    await c.getByRole('button', { name: 'Reply' }).click();
    await c.locator('.reply-form textarea').fill('Agreed, and the snare too');
    await c.locator('.reply-form').getByRole('button', { name: 'Reply' }).click();
    await gp.locator('.reply .body', { hasText: 'Agreed, and the snare too' }).waitFor();
    // A range: drag across the waveform, then comment over it (the reply
    // may have scrolled the waveform out of the viewport: the mouse needs it in).
    await gp.locator('#wave').scrollIntoViewIfNeeded();
    const box = await gp.locator('#wave').boundingBox();
    await gp.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    await gp.mouse.down();
    await gp.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2, { steps: 5 });
    await gp.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2, { steps: 5 });
    await gp.mouse.up();
    assert.match(await gp.textContent('#anchor'), /^over 0:0[67]–0:09$/);
    await gp.fill('#comment-body', 'Love this build-up, keep it');
    await gp.getByRole('button', { name: 'Comment', exact: true }).click();
    await gp.locator('.comment .ts', { hasText: /^0:0[67]–0:09$/ }).waitFor();
    s.download = await gp.getAttribute('#download', 'href');
    assert.match(s.download || '', /[?&]d=1&/, 'downloads are on: the button carries the d=1 URL');
    // A/B between First Light's two mixes, the second 1.5 s later (the
    // worker's offset), and each comment marked with its version.
    assert.equal(await gp.locator('#ab').isVisible(), true, 'the A/B bar');
    const fl = (await (await gp.request.get(`${srv.origin}/api/v1/s/${s.url.split('/s/')[1]}`)).json()).tracks.find((x) => x.title === 'First Light');
    assert.deepEqual(fl.versions.map((v) => v.number).sort(), [1, 2]);
    assert.ok(Math.abs(fl.versions.find((v) => v.number === 2).sync_ms - 1500) < 30, JSON.stringify(fl.versions.map((v) => v.sync_ms)));
    assert.ok(await gp.locator('.comment .version-badge', { hasText: 'v2' }).count() >= 2, 'version badges');
    // Tall enough for the player, A/B and the first comments with their badges.
    await gp.setViewportSize({ width: 1280, height: 1180 });
    await gp.evaluate(() => window.scrollTo(0, 0));
    const shot = await screenshot(browser, gp, 'review.png');
    await gp.setViewportSize({ width: 1280, height: 860 });
    assert.ok(shot.bytes > 20000 && shot.stddev > 8 && shot.colors > 50, `review.png looks blank: ${JSON.stringify(shot)}`);
  });

  await step('a guest name and a comment full of markup render as text', async () => {
    await gp.getByRole('button', { name: 'change', exact: true }).click();
    await gp.fill('#name-input', XSS_NAME);
    await gp.getByRole('button', { name: 'Continue' }).click();
    assert.equal(await gp.textContent('#guest-name'), XSS_NAME);
    await gp.evaluate(() => window.audiomus.player.seek(10));
    await gp.fill('#comment-body', XSS_COMMENT);
    await gp.getByRole('button', { name: 'Comment', exact: true }).click();
    const c = gp.locator('.comment', { hasText: 'Nice' });
    await c.waitFor();
    assert.equal(await c.locator(':scope > .body').textContent(), XSS_COMMENT);
    assert.equal(await c.locator(':scope > .comment-head .author').textContent(), XSS_NAME);
    assert.equal(await gp.locator('main img, main script').count(), 0);
    await gp.reload();
    await gp.locator('.comment', { hasText: 'Nice' }).waitFor();
    assert.equal(await gp.locator('main img, main script').count(), 0);
    assert.deepEqual(guest.record.dialogs, []);
  });

  await step('owner sees the comment, plays it in the dashboard and jumps to its time', async () => {
    await op.getByRole('tab', { name: 'Comments' }).click();
    const c = op.locator('.comment').first();
    await c.waitFor();
    assert.equal(await c.locator(':scope > .body').textContent(), COMMENT);
    assert.equal(await c.locator(':scope > .comment-head .author').textContent(), GUEST);
    const x = op.locator('.comment', { hasText: 'Nice' });
    assert.equal(await x.locator(':scope > .body').textContent(), XSS_COMMENT);
    assert.equal(await x.locator(':scope > .comment-head .author').textContent(), XSS_NAME);
    assert.equal(await op.locator('#app img, #app script').count(), 0);
    await op.getByRole('tab', { name: 'Tracks' }).click();
    await op.locator('.version[data-state="ready"]').nth(1).waitFor();
    const dash = await screenshot(browser, op, 'dashboard.png');
    assert.ok(dash.bytes > 20000 && dash.stddev > 8 && dash.colors > 50, `dashboard.png looks blank: ${JSON.stringify(dash)}`);
    await op.getByRole('tab', { name: 'Comments' }).click();
    await op.locator('#owner-player').waitFor();
    // The owner listens in the dashboard: owner URLs, no link, no project password.
    await op.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:12'));
    await op.locator('#wave canvas').first().waitFor({ state: 'attached' });
    const first = op.locator('.comment', { hasText: COMMENT });
    await first.locator('.ts').click();
    await op.waitForFunction(() => Math.abs(document.querySelector('#audio').currentTime - 4.5) < 0.3);
    assert.match(await first.getAttribute('class'), /\bactive\b/);
    assert.equal(await op.locator('.comment.active').count(), 1);
    const marks = await op.locator('#wave').evaluate((w) => [...w.querySelectorAll('*')].filter((e) => e.shadowRoot)
      .reduce((n, e) => n + e.shadowRoot.querySelectorAll('[part~="marker"], [part~="region"]').length, 0));
    assert.ok(marks >= 3, `comment markers drawn on the waveform: ${marks}`);
    const before = owner.record.requests.length;
    await op.getByRole('button', { name: 'Play' }).click();
    await op.waitForFunction(() => document.querySelector('#audio').currentTime > 4.9, null, { timeout: 10000 });
    const media = await Promise.all(owner.record.requests.slice(0).filter((q) => new URL(q.url()).pathname.startsWith('/m/'))
      .map(async (q) => ({ url: q.url(), range: (await q.allHeaders()).range })));
    assert.ok(media.length && media.every((m) => /[?&]o=[0-9a-f]{32}&x=/.test(m.url)), `owner URLs only: ${JSON.stringify(media.map((m) => m.url))}`);
    assert.ok(media.some((m) => m.range && /^bytes=\d+-/.test(m.range)), `no Range request among ${JSON.stringify(media)}`);
    assert.ok(owner.record.requests.length > before);
    // URLs refreshed before expiry without interrupting playback.
    const src0 = await op.evaluate(() => document.querySelector('#audio').src);
    // (over a second later, so the new expiry, and so the URL, differ)
    await op.waitForFunction((x) => document.querySelector('#audio').currentTime > x + 1.1, await cur(op), { timeout: 10000 });
    const t0 = await cur(op);
    await op.evaluate(() => window.audiomus.ownerPlayer.refresh());
    assert.notEqual(await op.evaluate(() => document.querySelector('#audio').src), src0);
    await op.waitForFunction((x) => document.querySelector('#audio').currentTime > x + 0.4, t0, { timeout: 10000 });
    assert.equal(await op.evaluate(() => document.querySelector('#audio').paused), false);
    // The owner may always download the original.
    assert.match(await op.getAttribute('#op-download', 'href'), /[?&]d=1&/);
    // Space pauses (keyboard), and nothing was counted as a listener play.
    await op.locator('#owner-comments h2').first().click();
    await op.keyboard.press('Space');
    await op.waitForFunction(() => document.querySelector('#audio').paused);
    // From the Tracks tab, "Play" opens the player on that version and plays.
    await op.getByRole('tab', { name: 'Tracks' }).click();
    await op.locator('.track-row', { hasText: 'Harbour Lights' }).getByRole('link', { name: /Play version 1/ }).click();
    await op.waitForFunction(() => document.querySelector('#op-track')?.selectedOptions[0]?.textContent === 'Harbour Lights');
    await op.waitForFunction(() => document.querySelector('#audio').currentTime > 0.3, null, { timeout: 10000 });
    await op.evaluate(() => document.querySelector('#audio').pause());
  });

  await step('owner notes at a time and over a range in their player; the guest sees them as the owner\'s', async () => {
    await op.getByRole('tab', { name: 'Comments' }).click();
    await op.locator('#owner-player').waitFor();
    await op.waitForFunction(() => document.querySelector('#op-track')?.selectedOptions[0]?.textContent === 'First Light' &&
      document.querySelector('#time').textContent.endsWith('0:12'));
    await op.locator('#wave canvas').first().waitFor({ state: 'attached' });
    const ownerMarks = () => [...document.querySelector('#wave').querySelectorAll('*')].filter((e) => e.shadowRoot)
      .reduce((n, e) => n + e.shadowRoot.querySelectorAll('.marker-label.owner').length, 0);
    // Over a range: drag across the waveform (about 3.6 s to 6 s of 12 s).
    const box = await op.locator('#wave').boundingBox();
    await op.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await op.mouse.down();
    await op.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2, { steps: 5 });
    await op.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 });
    await op.mouse.up();
    assert.match(await op.textContent('#op-anchor'), /^over 0:0[34]–0:0[56]$/);
    await op.fill('#op-comment-body', 'Vocal sits nicely in this stretch');
    await op.getByRole('button', { name: 'Comment', exact: true }).click();
    await op.locator('#owner-comments .comment .ts', { hasText: /^0:0[34]–0:0[56]$/ }).waitFor();
    // At the current time: frozen when the text box gets focus.
    await op.evaluate(() => window.audiomus.ownerPlayer.player.seek(7.5));
    await op.fill('#op-comment-body', OWNER_NOTE);
    assert.equal(await op.textContent('#op-anchor'), 'at 0:07', 'the range was cleared after it was used');
    await op.getByRole('button', { name: 'Comment', exact: true }).click();
    const mine = op.locator('#owner-comments .comment', { hasText: OWNER_NOTE });
    await mine.waitFor();
    assert.equal(await op.inputValue('#op-comment-body'), '', 'the form is emptied');
    assert.equal(await mine.locator(':scope > .body').textContent(), OWNER_NOTE);
    assert.equal(await mine.locator('.ts').textContent(), '0:07');
    assert.equal(await mine.locator(':scope > .comment-head .badge.owner').textContent(), 'you');
    assert.match(await mine.getAttribute('class'), /\bactive\b/);
    // Both are markers on the waveform (the list and the markers are redrawn
    // twice in a row after a comment: no ghost of the first drawing stays).
    await op.waitForFunction(`(${ownerMarks})() === 2`);
    await op.evaluate(() => window.scrollTo(0, 0));
    const shot = await screenshot(browser, op, 'dashboard-player.png');
    assert.ok(shot.bytes > 20000 && shot.stddev > 8 && shot.colors > 50, `dashboard-player.png looks blank: ${JSON.stringify(shot)}`);
    assert.equal(await op.evaluate(ownerMarks), 2, 'two owner markers, no ghosts');
    // The guest: the note is there, marked as the owner's (a badge no name
    // can fake), as text, and its time jumps.
    await gp.reload();
    await gp.locator('#review').waitFor();
    const note = gp.locator('#comments .comment', { hasText: OWNER_NOTE });
    await note.waitFor();
    assert.equal(await note.locator(':scope > .body').textContent(), OWNER_NOTE);
    assert.equal(await note.locator(':scope > .comment-head .badge.owner').textContent(), 'owner');
    assert.match(await note.getAttribute('class'), /\bby-owner\b/);
    assert.equal(await gp.locator('#comments .comment.by-owner').count(), 2);
    const guestOwn = gp.locator('#comments .comment', { hasText: COMMENT });
    assert.equal(await guestOwn.locator('.badge.owner').count(), 0, 'a guest\'s comment is not marked as the owner\'s');
    assert.doesNotMatch(await guestOwn.getAttribute('class'), /\bby-owner\b/);
    assert.equal(await gp.locator('main img, main script').count(), 0);
    await gp.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:12'));
    await note.locator('.ts').click();
    assert.ok(Math.abs((await cur(gp)) - 7.5) < 0.3);
    assert.deepEqual(guest.record.dialogs, []);
  });

  await step('markers for a DAW: the owner\'s panel and the guest\'s give the files of the version on screen', async () => {
    await op.locator('#op-mk-panel').waitFor();
    assert.ok(await op.locator('#op-mk-panel').isVisible());
    const own = await op.request.get(await op.$eval('#op-mk-audacity', (a) => a.href));
    assert.equal(own.status(), 200);
    assert.match(await own.text(), /\towner: /);
    assert.equal(await op.inputValue('#op-mk-sig'), '4/4');
    assert.ok(await gp.locator('#rv-mk-panel').isVisible());
    const mid = await gp.request.get(await gp.$eval('#rv-mk-smf', (a) => a.href));
    assert.equal(mid.status(), 200);
    assert.equal((await mid.body()).subarray(0, 4).toString(), 'MThd');
    // The zip of all five comes from the media role: the button asks the API
    // for its signed URL and opens it, which downloads the zip.
    await gp.locator('#rv-mk-panel > summary').click();
    const [dl] = await Promise.all([gp.waitForEvent('download'), gp.locator('#rv-mk-zip').click()]);
    assert.match(dl.suggestedFilename(), /-v[0-9]+-markers\.zip$/);
    const zip = fs.readFileSync(await dl.path());
    assert.equal(zip.subarray(0, 2).toString(), 'PK');
    assert.ok(zip.includes(Buffer.from('markers.wav')), 'the zip holds the marked WAV');
    await gp.locator('#rv-mk-panel > summary').click();
  });

  await step('the README\'s pictures: Share, Activity (who heard what), the review page on a phone', async () => {
    await op.getByRole('tab', { name: 'Share' }).click();
    await op.locator('#share-url').waitFor();
    const share = await screenshot(browser, op, 'share.png');
    assert.ok(share.bytes > 20000 && share.stddev > 8, `share.png looks blank: ${JSON.stringify(share)}`);
    await op.getByRole('tab', { name: 'Activity' }).click();
    await op.locator('#act-tracks').waitFor();
    await op.locator('#act-coverage').waitFor();
    const act = await screenshot(browser, op, 'activity.png', { fullPage: true });
    assert.ok(act.bytes > 20000 && act.stddev > 8, `activity.png looks blank: ${JSON.stringify(act)}`);
    const size = gp.viewportSize();
    await gp.setViewportSize({ width: 390, height: 844 });
    await gp.evaluate(() => window.scrollTo(0, 0));
    // A long reviewer name (this one is the markup test's) never widens the page.
    const wide = await gp.evaluate(() => [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && e.getClientRects().length)
      .slice(0, 8).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`));
    assert.deepEqual(wide, [], 'no element wider than a phone screen');
    const phone = await screenshot(browser, gp, 'review-phone.png');
    assert.ok(phone.bytes > 20000 && phone.stddev > 8, `review-phone.png looks blank: ${JSON.stringify(phone)}`);
    await gp.setViewportSize(size);
  });

  await step('downloads off: no button, and the original URL is refused', async () => {
    assert.equal((await gp.request.get(s.download, { maxRedirects: 0 })).status(), 200);
    await op.getByRole('tab', { name: 'Settings' }).click();
    await op.locator('#downloads').uncheck();
    await op.getByText('Downloads are off').waitFor();
    await gp.reload();
    await gp.locator('#review').waitFor();
    await gp.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:12'));
    assert.ok(await gp.locator('#download').isHidden());
    assert.equal(await gp.getAttribute('#download', 'href'), null);
    assert.ok(await gp.locator('#rv-mk-panel').isHidden(), 'no marker files while downloads are off');
    assert.equal((await gp.request.get(s.download)).status(), 403);
  });

  await step('regenerate: the guest page says the link is no longer valid', async () => {
    await op.getByRole('tab', { name: 'Share' }).click();
    await op.locator('#regenerate').click();
    await op.locator('dialog').getByRole('button', { name: 'Regenerate' }).click();
    await op.getByText('New link ready').waitFor();
    const fresh = await op.inputValue('#share-url');
    assert.notEqual(fresh, s.url);
    await gp.reload();
    await gp.getByRole('heading', { name: 'This link is no longer valid' }).waitFor();
    const r = await gp.request.get(`${srv.origin}/api/v1/s/${s.url.split('/s/')[1]}`);
    assert.equal(r.status(), 404);
  });

  await step('a phone-sized screen has no horizontal scrolling', async () => {
    const phone = await newContext(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    await p.goto(await op.inputValue('#share-url'));
    await p.locator('#gate').waitFor();
    assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
    await phone.close();
  });

  await step('no dialog fired, no CSP violation, no page error', () => {
    for (const ctx of [owner, guest]) {
      assert.deepEqual(ctx.record.dialogs, []);
      assert.deepEqual(ctx.record.csp, []);
      assert.deepEqual(ctx.record.errors, []);
    }
  });
});
