// The review page of a marked project (issue 26, docs/web-ui.md "Leak
// tracing", docs/media.md "Marked streams"): with marking off a guest's
// player gets the plain stream URL and plays (time to first sound logged,
// no timing assertion); with marking on, once the worker made the version's
// renditions A and B, the page asks for the listener's mark ticket, appends
// it to the stream URL (`&mt=mt1.…`) and the player plays the listener's
// splice of A and B (time to first sound logged). Error-free pages under
// the CSP.
//
//   node --test tests/browser/mark_review.test.mjs   (AUDIOMUS_BIN picks the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { newOwner, newProject, startApi, uploadTrack, waitVersion } from '../e2e/lib/api.mjs';
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

// A guest's review page, named, with its player ready; then play and wait
// for the first sound (currentTime > 0) or a media error.
async function listen(url, name) {
  const ctx = await newContext(browser);
  ctx.setDefaultTimeout(15000);
  const page = await ctx.newPage();
  await page.goto(url);
  await page.fill('#name-input', name);
  await page.locator('#name-input').press('Enter');
  await page.waitForFunction(() => window.audiomus?.player?.audio?.src);
  const src = await page.evaluate(() => window.audiomus.player.audio.src);
  const t0 = Date.now();
  await page.locator('#play').click();
  const heard = await page.waitForFunction(() => {
    const a = window.audiomus.player.audio;
    return a.currentTime > 0 ? 'sound' : a.error ? 'error' : false;
  }, null, { timeout: 15000 }).then((h) => h.jsonValue(), () => 'nothing');
  return { ctx, src, heard, ms: Date.now() - t0 };
}

test('review page: plain stream when off; the ticket appended and the marked stream played when on', { timeout: 120000 }, async () => {
  const o = await newOwner(srv);
  const p = await newProject(o, 'Marked review EP');
  const { vid } = await uploadTrack(o, p.id, makeWav(4), { title: 'Opener' });
  assert.equal((await waitVersion(o, p.id, vid)).state, 'ready');

  const off = await listen(p.link.url, 'Ana');
  assert.ok(!off.src.includes('&mt='), off.src);
  assert.equal(off.heard, 'sound');
  assert.deepEqual(off.ctx.record.errors, []);
  assert.deepEqual(off.ctx.record.csp, []);
  await off.ctx.close();

  const made = srv.waitLog((l) => l.event === 'job_done' && l.kind === 'mark_ab', 60000);
  assert.equal((await o.put(`/api/v1/projects/${p.id}/mark`, { on: true })).status, 200);
  await made;
  const on = await listen(p.link.url, 'Ben');
  assert.match(on.src, /&mt=mt1\.\d+\.\d+\.[0-9a-f]{32}\.[0-9a-f]{32}\.[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/);
  assert.equal(on.heard, 'sound', 'the marked stream plays');
  assert.deepEqual(on.ctx.record.errors, []);
  assert.deepEqual(on.ctx.record.csp, []);
  await on.ctx.close();
  console.log(`# time to first sound: marking off ${off.ms} ms; marking on ${on.ms} ms`);
});
