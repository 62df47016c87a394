// Who listened to what (issue 23, docs/web-ui.md "Activity"): a guest opens
// a named link, gives a name, plays the first part of a track and pauses;
// the review page reports what was heard (listen.js). The owner's Activity
// tab then shows the name, the link, the track and the version of the play,
// the track's plays and listeners, and the heard part drawn on the
// waveform (the heard bars in the accent colour, the rest not), and offers
// the CSV export with the same filters.
//
//   node --test tests/browser/activity.test.mjs   (AUDIOMUS_BIN picks the binary)
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

test('a guest plays part of a track; the owner sees name, track, version and the heard part', { timeout: 120000 }, async () => {
  const o = await newOwner(srv);
  const p = await newProject(o, 'Listening EP');
  const { vid } = await uploadTrack(o, p.id, makeWav(8), { title: 'Night Drive', filename: 'night.wav' });
  assert.equal((await waitVersion(o, p.id, vid)).state, 'ready');
  const l = await o.post(`/api/v1/projects/${p.id}/links`, { label: 'For Robin' });
  assert.equal(l.status, 201, l.body);

  // The guest: name, play about two seconds, pause.
  const guest = await newContext(browser);
  guest.setDefaultTimeout(15000);
  const gp = await guest.newPage();
  await gp.goto(`${srv.origin}/s/${l.json.link.token}`);
  await gp.locator('#name-form').waitFor();
  await gp.fill('#name-input', 'Robin');
  await gp.getByRole('button', { name: 'Continue' }).click();
  await gp.locator('#review').waitFor();
  await gp.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:08'));
  await gp.getByRole('button', { name: 'Play' }).click();
  await gp.waitForFunction(() => document.querySelector('#audio').currentTime > 2.2, null, { timeout: 15000 });
  const reported = gp.waitForResponse((r) => r.url().endsWith('/listen') && r.request().method() === 'POST');
  await gp.evaluate(() => document.querySelector('#audio').pause());
  assert.equal((await reported).status(), 204);
  const sent = JSON.parse((await reported).request().postData());
  assert.equal(sent.name, 'Robin');
  assert.equal(sent.play, true);
  assert.ok(sent.heard.length >= 1 && sent.heard[0][0] < 500, JSON.stringify(sent));

  // The owner's Activity tab.
  const owner = await newContext(browser);
  owner.setDefaultTimeout(15000);
  const op = await owner.newPage();
  await op.goto(`${srv.origin}/`);
  await op.fill('#email', o.email);
  await op.fill('#password', PASSWORD);
  await op.getByRole('button', { name: 'Sign in' }).click();
  await op.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
  await op.goto(`${srv.origin}/#/p/${p.id}/activity`);
  await op.locator('#act-events').getByText('Robin played Night Drive (version 1) · via For Robin').waitFor();
  const row = op.locator('#act-tracks tbody tr').first();
  assert.deepEqual(await row.locator('td').allTextContents(), ['Night Drive', '1', '1']);
  const cov = op.locator('#act-coverage .reviewer').filter({ has: op.getByRole('heading', { name: 'Robin' }) }).locator('.coverage');
  await cov.waitFor();
  assert.equal(await cov.getAttribute('data-version'), vid);
  const heard = (await cov.getAttribute('data-heard')).split(',').map((s) => s.split('-').map(Number));
  assert.equal(heard.length, 1, `one heard span: ${JSON.stringify(heard)}`);
  assert.equal(heard[0][0], 0);
  assert.ok(heard[0][1] >= 2 && heard[0][1] < 8, `heard part only: ${JSON.stringify(heard)}`);
  assert.match(await cov.textContent(), /Night Drive · version 1/);
  // On the waveform: the heard start in the accent colour, the unheard end not.
  await op.waitForFunction(() => {
    const c = document.querySelector('#act-coverage canvas');
    return c && c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v) => v > 0);
  });
  const colours = await op.evaluate(() => {
    const c = document.querySelector('#act-coverage canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const at = (x0, x1) => { // the bar colours in columns [x0, x1)
      const seen = new Set();
      for (let x = x0; x < x1; x++) for (let y = 0; y < c.height; y++) {
        const i = (y * c.width + x) * 4;
        if (d[i + 3] > 200) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
      }
      return [...seen];
    };
    const css = (n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim();
    return { start: at(0, 30), end: at(c.width - 30, c.width), accent: css('--wave-progress'), wave: css('--wave') };
  });
  const rgb = (s) => { const v = parseInt(s.slice(1), 16); return [v >> 16, (v >> 8) & 255, v & 255]; };
  const near = (c, want) => c.split(',').map(Number).every((v, i) => Math.abs(v - want[i]) <= 8); // bar edges are anti-aliased
  assert.ok(colours.start.length && colours.start.every((c) => near(c, rgb(colours.accent))), `heard start: ${JSON.stringify(colours)}`);
  assert.ok(colours.end.length && colours.end.every((c) => near(c, rgb(colours.wave))), `unheard end: ${JSON.stringify(colours)}`);

  // The filter and the CSV export.
  await op.selectOption('#act-reviewer', 'Robin');
  await op.locator('#act-events').getByText('Robin played').waitFor();
  const href = await op.getAttribute('#act-csv', 'href');
  assert.match(href, /format=csv/);
  assert.match(href, /reviewer=Robin/);
  const csv = await op.request.get(`${srv.origin}${href}`);
  assert.equal(csv.status(), 200);
  assert.match(await csv.text(), /"listen","Robin","For Robin","Night Drive","1"/);

  for (const c of [guest, owner]) {
    assert.deepEqual(c.record.errors, []);
    assert.deepEqual(c.record.csp, []);
    await c.close();
  }
});
