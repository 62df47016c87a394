// "Show loudness to reviewers" (issue 21, docs/web-ui.md): the owner's
// project settings have the switch, off by default; while it is off the
// review page shows no meter beside the version, and once the owner ticks it
// the guest sees Loudness (LUFS), Range (LU) and True peak (dBTP) beside the
// version after a reload (web/static/js/facts.js).
//
//   node --test tests/browser/loudness.test.mjs   (AUDIOMUS_BIN picks the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { newOwner, newProject, PASSWORD, startApi, uploadTrack, waitVersion } from '../e2e/lib/api.mjs';
import { launch, makeWav, newContext } from './lib.mjs';

let srv, browser;

before(async () => {
  srv = await startApi('sqlite');
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('show loudness to reviewers: off by default, the guest sees the meters once on', { timeout: 90000 }, async () => {
  const owner = await newOwner(srv);
  const p = await newProject(owner, 'Loud EP');
  const { vid } = await uploadTrack(owner, p.id, makeWav(4), { title: 'Loud one' });
  assert.equal((await waitVersion(owner, p.id, vid)).state, 'ready');

  const octx = await newContext(browser);
  octx.setDefaultTimeout(10000);
  const op = await octx.newPage();
  await op.goto(`${srv.origin}/`);
  await op.fill('#email', owner.email);
  await op.fill('#password', PASSWORD);
  await op.getByRole('button', { name: 'Sign in' }).click();
  await op.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
  await op.goto(`${srv.origin}/#/p/${p.id}/settings`);
  const box = op.getByLabel('Show loudness to reviewers');
  await box.waitFor();
  assert.equal(await box.isChecked(), false, 'off by default');

  const gctx = await newContext(browser);
  gctx.setDefaultTimeout(10000);
  const gp = await gctx.newPage();
  await gp.goto(p.link.url);
  await gp.fill('#name-input', 'Ana');
  await gp.locator('#name-input').press('Enter');
  await gp.locator('#now-meta', { hasText: 'Version 1' }).waitFor();
  assert.equal(await gp.locator('.meters').count(), 0, 'no meter while the owner has not shown them');
  assert.doesNotMatch(await gp.locator('section.player').textContent(), /LUFS|dBTP/);

  await box.check();
  await op.getByText('Reviewers see loudness').waitFor();
  assert.equal((await owner.get(`/api/v1/projects/${p.id}`)).json.project.show_loudness, true, 'saved');

  await gp.reload();
  await gp.locator('#now-meta', { hasText: 'Version 1' }).waitFor();
  const meters = gp.locator('.meters');
  await meters.waitFor();
  const text = await meters.textContent();
  assert.match(text, /Loudness -?\d+\.\d LUFS/);
  assert.match(text, /Range \d+\.\d LU|Range too short to measure/);
  assert.match(text, /True peak -?\d+\.\d dBTP/);

  for (const c of [octx, gctx]) {
    assert.deepEqual(c.record.errors, []);
    assert.deepEqual(c.record.csp, []);
    await c.close();
  }
});
