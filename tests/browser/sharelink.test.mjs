// The share link on a second device (issue 23, docs/web-ui.md "Share links
// are shown from any session"): the owner creates a project and a named link
// in one browser context, signs in from a second, fresh context (its own
// cookies and storage: another device, or a cleared browser) and copies the
// same working links there; a regenerate on the second device shows the new
// link on the first after a reload, and the old one is dead. Nothing of a
// link is left in either browser's storage.
//
//   node --test tests/browser/sharelink.test.mjs   (AUDIOMUS_BIN picks the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { newOwner, PASSWORD, startApi } from '../e2e/lib/api.mjs';
import { launch, newContext } from './lib.mjs';

let srv, browser;

before(async () => {
  srv = await startApi('sqlite');
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

async function signedIn(email) {
  const ctx = await newContext(browser);
  ctx.setDefaultTimeout(10000);
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.origin });
  const page = await ctx.newPage();
  await page.goto(`${srv.origin}/`);
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
  return { ctx, page };
}

const guestStatus = async (page, url) =>
  (await page.request.get(`${srv.origin}/api/v1/s/${url.split('/s/')[1]}`)).status();

test('a second device copies the same link; regenerate there moves both', { timeout: 90000 }, async () => {
  const o = await newOwner(srv); // the account (CLI); both devices sign in through the page
  const a = await signedIn(o.email);
  await a.page.fill('#new-title', 'Second Device EP');
  await a.page.getByRole('button', { name: 'Create project' }).click();
  await a.page.getByRole('tab', { name: 'Share' }).click(); // a new project opens on Tracks
  await a.page.locator('#share-url').waitFor();
  const url1 = await a.page.inputValue('#share-url');
  assert.match(url1, new RegExp(`^${srv.origin}/s/[A-Za-z0-9_-]{32}$`));
  const pid = /#\/p\/([0-9a-f]{32})/.exec(a.page.url())[1];
  await a.page.fill('#link-label', 'For Sam');
  await a.page.getByRole('button', { name: 'Create link' }).click();
  const samCopy = a.page.getByRole('button', { name: 'Copy the link “For Sam”' });
  await samCopy.waitFor();
  const samUrl = await samCopy.getAttribute('data-url');

  // The second device: a fresh context, signed in on its own.
  const b = await signedIn(o.email);
  await b.page.goto(`${srv.origin}/#/p/${pid}/share`);
  await b.page.locator('#share-url').waitFor();
  assert.equal(await b.page.inputValue('#share-url'), url1, 'the same link on the second device');
  await b.page.locator('.urlbox').getByRole('button', { name: 'Copy' }).click();
  await b.page.getByText('Link copied').first().waitFor();
  assert.equal(await b.page.evaluate(() => navigator.clipboard.readText()), url1);
  await b.page.getByRole('button', { name: 'Copy the link “For Sam”' }).click();
  assert.equal(await b.page.evaluate(() => navigator.clipboard.readText()), samUrl);
  assert.equal(await guestStatus(b.page, url1), 200, 'the copied link works');
  assert.equal(await guestStatus(b.page, samUrl), 200);

  // Regenerate on the second device; the first shows the new link on reload.
  await b.page.locator('#regenerate').click();
  await b.page.locator('dialog').getByRole('button', { name: 'Regenerate' }).click();
  await b.page.getByText('New link ready').waitFor();
  const url2 = await b.page.inputValue('#share-url');
  assert.notEqual(url2, url1);
  await a.page.reload();
  await a.page.locator('#share-url').waitFor();
  assert.equal(await a.page.inputValue('#share-url'), url2);
  assert.equal(await guestStatus(a.page, url1), 404, 'the old link is dead');
  assert.equal(await guestStatus(a.page, url2), 200);

  // No share URL is kept in either browser's storage.
  for (const p of [a.page, b.page]) {
    const stored = await p.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    for (const u of [url1, url2, samUrl]) assert.ok(!stored.includes(u.split('/s/')[1]), 'a token in web storage');
  }
  for (const c of [a.ctx, b.ctx]) {
    assert.deepEqual(c.record.errors, []);
    assert.deepEqual(c.record.csp, []);
    await c.close();
  }
});
