// The owner's dashboard details of issue 23 in a real browser, on a server
// with sign-up closed and no SMTP (the defaults): no "Create an account"
// offer; "Forgot password?" leads to a form that says up front that no
// e-mail can be sent; a new project opens on Tracks with the call to
// upload; tracks reorder by dragging and by the ↑/↓ buttons (keyboard), and
// the guests' review page lists them in that order after a reload; the
// header's downloads badge follows the switch at once; the sessions list
// names the test browser "Chrome on Linux" (the raw User-Agent in the title
// attribute). No dialog, page error or CSP violation along the way.
//
//   node --test tests/browser/         (AUDIOMUS_BIN picks the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { PASSWORD, newOwner, newProject, startApi } from '../e2e/lib/api.mjs';
import { launch, newContext } from './lib.mjs';

let srv, browser, ctx, page, owner;

before(async () => {
  srv = await startApi('sqlite');
  owner = await newOwner(srv);
  browser = await launch();
  ctx = await newContext(browser);
  ctx.setDefaultTimeout(10000);
  page = await ctx.newPage();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const titles = (p, sel) => p.locator(sel).allTextContents();

test('owner dashboard details', { timeout: 120000 }, async (t) => {
  let failed = false;
  const step = (name, fn) => t.test(name, async (tt) => {
    if (failed) { tt.skip('an earlier step failed'); return; }
    try { await fn(); } catch (e) { failed = true; throw e; }
  });

  await step('sign-up closed: no "Create an account", the reason instead', async () => {
    await page.goto(`${srv.origin}/`);
    await page.locator('#signup-closed').waitFor();
    assert.match(await page.locator('#auth-toggle').textContent(), /Sign-up is closed on this server/);
    assert.equal(await page.getByText('Create an account').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Create an account' }).count(), 0);
  });

  await step('no SMTP: the forgot-password form says so before anything is sent', async () => {
    const posts = [];
    page.on('request', (r) => { if (r.method() === 'POST') posts.push(r.url()); });
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.locator('#reset-nomail').waitFor();
    assert.match(await page.locator('#reset-nomail').textContent(), /sends no e-mail/);
    assert.equal(await page.getByRole('button', { name: 'Send the reset link' }).isDisabled(), true);
    assert.deepEqual(posts, [], 'nothing was submitted');
  });

  await step('a new project opens on Tracks with an upload call to action', async () => {
    await page.goto(`${srv.origin}/`);
    await page.fill('#email', owner.email);
    await page.fill('#password', PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.fill('#new-title', 'Fresh EP');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.locator('#upload-cta').waitFor();
    assert.match(page.url(), /#\/p\/[0-9a-f]{32}\/tracks$/);
    assert.equal(await page.getByRole('tab', { name: 'Tracks' }).getAttribute('aria-selected'), 'true');
    await page.locator('#project-created').waitFor();
    // The call to action opens the file chooser.
    const chooser = page.waitForEvent('filechooser');
    await page.locator('#upload-cta').click();
    assert.equal((await chooser).isMultiple(), true);
  });

  const p = {};
  await step('reorder by dragging: the review page follows after a reload', async () => {
    Object.assign(p, await newProject(owner, 'Order EP'));
    p.tids = {};
    for (const title of ['Alpha', 'Beta', 'Gamma']) {
      p.tids[title] = (await owner.post(`/api/v1/projects/${p.id}/tracks`, { title })).json.track.id;
    }
    await page.goto(`${srv.origin}/#/p/${p.id}/tracks`);
    await page.locator('.track-row').nth(2).waitFor();
    assert.deepEqual(await titles(page, '.track-row h3'), ['Alpha', 'Beta', 'Gamma']);
    const target = page.locator(`.track-row[data-track="${p.tids.Gamma}"]`);
    const box = await target.boundingBox();
    await page.locator(`.track-row[data-track="${p.tids.Alpha}"] .drag-handle`)
      .dragTo(target, { targetPosition: { x: 40, y: box.height - 4 } }); // its lower half: after it
    await page.locator('#order-status', { hasText: 'number 3 of 3' }).waitFor();
    assert.deepEqual(await titles(page, '.track-row h3'), ['Beta', 'Gamma', 'Alpha']);

    const guest = await newContext(browser);
    p.guest = await guest.newPage();
    await p.guest.goto(p.link.url);
    await p.guest.fill('#name-input', 'Ana'); // asked once, kept in this browser
    await p.guest.locator('#name-input').press('Enter');
    await p.guest.locator('#track-list .track-title').nth(2).waitFor();
    await p.guest.reload();
    await p.guest.locator('#track-list .track-title').nth(2).waitFor();
    assert.deepEqual(await titles(p.guest, '#track-list .track-title'), ['Beta', 'Gamma', 'Alpha']);
    await page.reload();
    await page.locator('.track-row').nth(2).waitFor();
    assert.deepEqual(await titles(page, '.track-row h3'), ['Beta', 'Gamma', 'Alpha'], 'the owner sees it after a reload too');
  });

  await step('reorder by the keyboard: ↑ on the focused track, focus stays on it', async () => {
    const up = page.locator(`.track-row[data-track="${p.tids.Alpha}"] .move-up`);
    assert.equal(await page.locator(`.track-row[data-track="${p.tids.Beta}"] .move-up`).isDisabled(), true, 'the first cannot go up');
    assert.equal(await up.getAttribute('aria-label'), 'Move “Alpha” up');
    await up.focus();
    await page.keyboard.press('Enter');
    await page.locator('#order-status', { hasText: '“Alpha” is now number 2 of 3' }).waitFor();
    assert.deepEqual(await titles(page, '.track-row h3'), ['Beta', 'Alpha', 'Gamma']);
    const focused = await page.evaluate(() => [document.activeElement.closest('.track-row')?.dataset.track, document.activeElement.className]);
    assert.equal(focused[0], p.tids.Alpha);
    assert.match(focused[1], /move-up/);
    await page.keyboard.press('Enter'); // up again: the first now
    await page.locator('#order-status', { hasText: '“Alpha” is now number 1 of 3' }).waitFor();
    assert.match(await page.evaluate(() => document.activeElement.className), /move-down/, 'at the top, the focus moves to ↓');
    await page.keyboard.press('Enter'); // and back down
    await page.locator('#order-status', { hasText: '“Alpha” is now number 2 of 3' }).waitFor();
    await p.guest.reload();
    await p.guest.locator('#track-list .track-title').nth(2).waitFor();
    assert.deepEqual(await titles(p.guest, '#track-list .track-title'), ['Beta', 'Alpha', 'Gamma']);
    await p.guest.context().close();
  });

  await step('the header badge follows the downloads switch without a reload', async () => {
    await page.getByRole('tab', { name: 'Settings' }).click();
    const badge = page.locator('#downloads-badge');
    assert.equal(await badge.textContent(), 'downloads on');
    let navigations = 0;
    page.on('framenavigated', () => { navigations += 1; });
    await page.locator('#downloads').uncheck();
    await page.getByText('Downloads are off').waitFor();
    assert.equal(await badge.textContent(), 'downloads off');
    await page.locator('#downloads').check();
    await page.getByText('Reviewers can download the original files.').waitFor();
    assert.equal(await badge.textContent(), 'downloads on');
    assert.equal(navigations, 0, 'no reload');
  });

  await step('sessions: "Chrome on Linux", the raw string in the title', async () => {
    await page.locator('#nav-account').click();
    const mine = page.locator('.sessions li', { hasText: 'this browser' }).locator('.agent');
    await mine.waitFor();
    assert.equal(await mine.textContent(), 'Chrome on Linux');
    const ua = await page.evaluate(() => navigator.userAgent);
    const title = await mine.getAttribute('title'); // as the server keeps it: the first bytes
    assert.ok(title.length > 40 && ua.startsWith(title.trim()), `title ${JSON.stringify(title)} vs ${ua}`);
    assert.match(title, /HeadlessChrome|Chrome\//);
    assert.equal(await page.getByText(title.trim()).count(), 0, 'the raw string is not shown as text');
  });

  await step('no dialog, page error or CSP violation', async () => {
    assert.deepEqual(ctx.record.dialogs, []);
    assert.deepEqual(ctx.record.errors, []);
    assert.deepEqual(ctx.record.csp, []);
  });
});
