// The "Leak tracing" card of a project's Settings tab (issue 26,
// docs/web-ui.md "Leak tracing"): off by default with the strength and
// downloads controls disabled; ticking "Mark what reviewers hear" saves it
// (the API says so) and enables them; the strength slider saves its value;
// an error-free page under the CSP. No upload: the card needs none.
//
//   node --test tests/browser/mark.test.mjs   (AUDIOMUS_BIN picks the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { newOwner, newProject, PASSWORD, startApi } from '../e2e/lib/api.mjs';
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

test('leak tracing settings: off by default, turned on and saved', { timeout: 60000 }, async () => {
  const owner = await newOwner(srv);
  const p = await newProject(owner, 'Traced EP');
  const ctx = await newContext(browser);
  ctx.setDefaultTimeout(10000);
  const page = await ctx.newPage();
  await page.goto(`${srv.origin}/`);
  await page.fill('#email', owner.email);
  await page.fill('#password', PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
  await page.goto(`${srv.origin}/#/p/${p.id}/settings`);

  const on = page.getByLabel('Mark what reviewers hear');
  await on.waitFor();
  assert.equal(await on.isChecked(), false, 'off by default');
  assert.equal(await page.locator('#mark-strength').isDisabled(), true);
  assert.equal(await page.getByLabel('Mark downloaded originals too').isDisabled(), true);
  assert.match(await page.locator('#mark-help').textContent(), /names no one/);
  assert.match(await page.locator('#mark-dl-help').textContent(), /not bit-identical to the file you uploaded; your own download always is/);

  await on.check();
  await page.locator('[role="status"]', { hasText: 'Marking is on. Each reviewer now hears a copy marked for them' }).waitFor();
  assert.equal((await owner.get(`/api/v1/projects/${p.id}/mark`)).json.mark.on, true, 'saved');
  assert.equal(await page.locator('#mark-strength').isDisabled(), false);

  await page.locator('#mark-strength').fill('0.35');
  await page.getByText('Strength set to 35 %').waitFor();
  assert.equal((await owner.get(`/api/v1/projects/${p.id}/mark`)).json.mark.strength, 0.35);

  assert.deepEqual(ctx.record.errors, []);
  assert.deepEqual(ctx.record.csp, []);
  await ctx.close();
});
