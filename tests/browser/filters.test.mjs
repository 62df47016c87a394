// The comment filters of the review page (issue 22, docs/web-ui.md, web
// filters.js): one track with three versions, comments by two guests and
// the owner on each of them, some resolved by the owner, one with a reply.
// After each filter (version, open/resolved, reviewer, and two at once) the
// visible list and the waveform's markers are exactly the comments the
// filter keeps (a reply stays with its comment and is no marker), each
// marked with its version; a guest sees the resolved filter but no resolve
// button. Then axe-core on that page (A/B bar, version badges, resolved
// comments, the filters), which tests/browser/a11y.test.mjs's one-version
// project does not show: dark on a desktop, light on a phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';

import { Client, newOwner, newProject, startApi, uploadTrack, uploadVersion, waitVersion } from '../e2e/lib/api.mjs';
import { launch, makeWav, newContext } from './lib.mjs';

const AXE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

let srv, browser, p;
before(async () => {
  srv = await startApi('sqlite');
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('comment filters: by version, open/resolved and reviewer; the list and the markers follow; a guest cannot resolve', { timeout: 120000 }, async () => {
  const o = await newOwner(srv);
  p = await newProject(o, 'Filter EP');
  const { tid, vid } = await uploadTrack(o, p.id, makeWav(4), { title: 'Song' });
  const v = [await waitVersion(o, p.id, vid)];
  for (let i = 0; i < 2; i++) v.push(await waitVersion(o, p.id, await uploadVersion(o, p.id, tid, makeWav(4))));
  for (const x of v) assert.equal(x.state, 'ready', JSON.stringify(x));
  const [v1, v2, v3] = v.map((x) => x.id);

  // [who, body, version, time_ms, resolved]; the owner writes as the owner.
  const plan = [
    ['Mara', 'Kick too loud', v1, 500, false],
    ['Mara', 'Vocal sibilant', v2, 1200, true],
    ['Jon', 'Bass muddy', v2, 1800, false],
    ['Jon', 'Ending abrupt', v3, 3000, true],
    ['Mara', 'Better now', v3, 2500, false],
    [null, 'Try a longer fade', v3, 3500, false],
  ];
  const guests = { Mara: new Client(srv), Jon: new Client(srv) };
  const ids = {};
  for (const [who, body, version_id, time_ms, resolved] of plan) {
    const r = who
      ? await guests[who].post(`/api/v1/s/${encodeURIComponent(p.link.token)}/comments`, { name: who, body, version_id, time_ms })
      : await o.post(`/api/v1/projects/${p.id}/comments`, { body, version_id, time_ms });
    assert.equal(r.status, 201, r.body);
    ids[body] = r.json.comment.id;
    if (resolved) assert.equal((await o.patch(`/api/v1/projects/${p.id}/comments/${ids[body]}`, { resolved: true })).status, 200);
  }
  // A reply by Jon to Mara's open v1 comment: it goes with its comment.
  const reply = await guests.Jon.post(`/api/v1/s/${encodeURIComponent(p.link.token)}/comments`,
    { name: 'Jon', body: 'Agree on the kick', version_id: v1, time_ms: 500, parent_id: ids['Kick too loud'] });
  assert.equal(reply.status, 201, reply.body);

  const ctx = await newContext(browser);
  ctx.setDefaultTimeout(15000);
  try {
    const gp = await ctx.newPage();
    await gp.goto(p.link.url);
    await gp.fill('#name-input', 'Ana');
    await gp.locator('#name-input').press('Enter');
    await gp.locator('#comment-filters').waitFor();
    await gp.waitForFunction(() => !document.querySelector('#wave').classList.contains('loading'));

    // What the page shows: top-level comments (body, version badge,
    // resolved badge, replies) and the marker lane's comment ids.
    const shown = () => gp.evaluate(() => ({
      list: [...document.querySelectorAll('#comments > li.comment')].map((li) => ({
        id: li.dataset.id,
        body: li.querySelector(':scope > .body').textContent,
        badge: li.querySelector('.version-badge')?.textContent,
        resolved: li.classList.contains('resolved'),
        replies: [...li.querySelectorAll('.replies .body')].map((b) => b.textContent),
      })),
      markers: [...document.querySelectorAll('.marker-lane .wm')].map((b) => b.dataset.id).sort(),
    }));
    const num = { [v1]: 'v1', [v2]: 'v2', [v3]: 'v3' };
    const expect = (keep) => plan.filter(keep).map(([, body, ver, , res]) => ({ body, badge: num[ver], resolved: res }));
    // Wait until the markers drawn on the next task match the list, then
    // compare both with the plan.
    const check = async (what, keep) => {
      const want = expect(keep);
      await gp.waitForFunction((n) => document.querySelectorAll('#comments > li.comment').length === n &&
        document.querySelectorAll('.marker-lane .wm').length === n, want.length).catch(() => {});
      const s = await shown();
      const got = s.list.map(({ body, badge, resolved }) => ({ body, badge, resolved }));
      const byBody = (a, b) => a.body.localeCompare(b.body);
      assert.deepEqual(got.sort(byBody), want.sort(byBody), `${what}: the list`);
      assert.deepEqual(s.markers, s.list.map((c) => c.id).sort(), `${what}: the markers`);
      assert.deepEqual(s.markers, want.map((c) => ids[c.body]).sort(), `${what}: the markers' comments`);
      const kick = s.list.find((c) => c.body === 'Kick too loud');
      if (kick) assert.deepEqual(kick.replies, ['Agree on the kick'], `${what}: the reply stays with its comment`);
      assert.equal(s.list.some((c) => c.body === 'Agree on the kick'), false, `${what}: a reply is not a top-level comment`);
    };

    await check('no filter', () => true);
    // Reviewers offered: the authors of top-level comments.
    assert.deepEqual(await gp.locator('#filter-author option').allTextContents(), ['All reviewers', 'Jon', 'Mara', 'Owner']);
    assert.deepEqual(await gp.locator('#filter-version option').allTextContents(), ['All versions', 'Version 3', 'Version 2', 'Version 1']);

    await gp.selectOption('#filter-version', v2);
    await check('version 2', (c) => c[2] === v2);
    await gp.selectOption('#filter-version', v1);
    await check('version 1', (c) => c[2] === v1);
    await gp.selectOption('#filter-version', '');

    // The resolved filter is there for a guest.
    await gp.selectOption('#filter-status', 'resolved');
    await check('resolved', (c) => c[4]);
    await gp.selectOption('#filter-status', 'open');
    await check('open', (c) => !c[4]);

    // Two filters at once: open comments by Mara; then Jon's on version 3.
    await gp.selectOption('#filter-author', 'Mara');
    await check('open by Mara', (c) => !c[4] && c[0] === 'Mara');
    await gp.selectOption('#filter-status', '');
    await gp.selectOption('#filter-author', 'Jon');
    await gp.selectOption('#filter-version', v3);
    await check('Jon on version 3', (c) => c[0] === 'Jon' && c[2] === v3);
    await gp.selectOption('#filter-author', 'Owner');
    await check('the owner on version 3', (c) => c[0] === null && c[2] === v3);
    await gp.selectOption('#filter-version', '');
    await gp.selectOption('#filter-author', '');
    await check('filters off again', () => true);

    // No resolve (or reopen) for a guest, anywhere on the page.
    assert.equal(await gp.getByRole('button', { name: /resolve|reopen/i }).count(), 0, 'a guest has no resolve button');
    assert.deepEqual(ctx.record.errors, []);
    assert.deepEqual(ctx.record.csp, []);
  } finally {
    await ctx.close();
  }
});

test('axe: the review page with A/B, version badges and resolved comments, dark on a desktop and light on a phone', { timeout: 120000 }, async () => {
  assert.ok(p, 'the project of the test above');
  // Each scheme once and the phone once (the scheme's colours do not depend
  // on the layout; a11y.test.mjs runs the full matrix on its pages).
  const combos = [['dark', 'desktop', {}], ['light', 'phone', PHONE]];
  const runs = await Promise.all(combos.map(async ([colorScheme, layout, extra]) => {
    const ctx = await newContext(browser, { colorScheme, ...extra });
    ctx.setDefaultTimeout(30000);
    try {
      const gp = await ctx.newPage();
      await gp.addInitScript(() => { try { localStorage.setItem('audiomus.guestName', 'Ana'); } catch { /* */ } });
      await gp.goto(p.link.url);
      await gp.locator('#ab').waitFor();
      await gp.waitForFunction(() => document.querySelectorAll('#comments .version-badge').length === 6 &&
        !document.querySelector('#wave').classList.contains('loading'));
      await gp.evaluate(AXE);
      const bad = await gp.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.any.map((a) => a.message).join('; ')}`).join(' | ')}`));
      assert.deepEqual(ctx.record.errors, [], `${colorScheme} ${layout}`);
      return [`${colorScheme} ${layout}`, bad];
    } finally {
      await ctx.close();
    }
  }));
  assert.equal(runs.length, 2);
  assert.deepEqual(runs.filter(([, v]) => v.length), []);
});
