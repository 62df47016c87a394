// "Trace a leak" on a project's Settings tab (issue 26, docs/web-ui.md
// "Trace a leak"): the owner picks a recording; the page gets a signed
// tracer URL, posts the file to the media role and explains the answer:
// the reviewer, link and first listening for a listener's marked copy
// (marked by `audiomus watermark embed --project --mark`), "No mark found"
// and what it means for the unmarked original. Error-free under the CSP.
//
//   node --test tests/browser/trace.test.mjs   (AUDIOMUS_BIN picks the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Client, FAST_ARGON, newOwner, newProject, PASSWORD, startApi } from '../e2e/lib/api.mjs';
import { musicWav } from '../e2e/lib/music.mjs';
import { BIN } from '../e2e/lib/server.mjs';
import { launch, newContext } from './lib.mjs';

let srv, browser, dir;

before(async () => {
  srv = await startApi('sqlite');
  browser = await launch();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-trace-ui-'));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('trace a leak: a listener named, and no mark found explained', { timeout: 90000 }, async () => {
  const owner = await newOwner(srv);
  const p = await newProject(owner, 'Traced EP');
  assert.equal((await owner.put(`/api/v1/projects/${p.id}/mark`, { on: true })).status, 200);
  const r = await new Client(srv).post(`/api/v1/s/${p.link.token}/mark`, { name: 'Eve Leaker' });
  assert.equal(r.status, 200, r.body);
  const orig = path.join(dir, 'orig.wav'), leak = path.join(dir, 'leak.wav');
  fs.writeFileSync(orig, musicWav(32, { seed: 7 }));
  const e = spawnSync(BIN, ['watermark', 'embed', '--project', p.id, '--mark', r.json.ticket.split('.')[5], orig, leak,
    '--data', srv.dataDir, ...FAST_ARGON], { encoding: 'utf8' });
  assert.equal(e.status, 0, e.stderr);

  const ctx = await newContext(browser);
  ctx.setDefaultTimeout(30000);
  const page = await ctx.newPage();
  await page.goto(`${srv.origin}/`);
  await page.fill('#email', owner.email);
  await page.fill('#password', PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
  await page.goto(`${srv.origin}/#/p/${p.id}/settings`);
  await page.getByRole('heading', { name: 'Trace a leak' }).waitFor();

  await page.setInputFiles('#trace-file', leak);
  await page.getByRole('button', { name: 'Trace', exact: true }).click();
  await page.locator('#trace-result', { hasText: 'Eve Leaker' }).waitFor();
  assert.match(await page.locator('#trace-result').textContent(), /came from Eve Leaker, listening through the project.s default link/);

  await page.setInputFiles('#trace-file', orig);
  await page.getByRole('button', { name: 'Trace', exact: true }).click();
  await page.locator('#trace-result', { hasText: 'No mark found' }).waitFor();
  assert.match(await page.locator('#trace-result').textContent(), /accuses no one/);

  assert.deepEqual(ctx.record.errors, []);
  assert.deepEqual(ctx.record.csp, []);
  await ctx.close();
});
