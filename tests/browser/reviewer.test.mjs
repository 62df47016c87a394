// Reviewer actions in the browser (issue 22, docs/web-ui.md "Reviewer
// actions"): a guest edits and deletes their own comment on the review page
// (a second guest's browser offers neither on it), a deleted comment with a
// reply stays as "comment removed"; the owner's dashboard marks the edit;
// verdicts: a guest approves, then requests changes with a note, another
// guest sees it, and the owner's Tracks tab shows each reviewer's verdict
// under the version.
//
//   node --test tests/browser/reviewer.test.mjs   (AUDIOMUS_BIN picks the binary)
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

async function guestPage(url, name) {
  const ctx = await newContext(browser);
  ctx.setDefaultTimeout(15000);
  const page = await ctx.newPage();
  await page.goto(url);
  await page.fill('#name-input', name);
  await page.locator('#name-input').press('Enter');
  await page.locator('#wave canvas').first().waitFor({ state: 'attached' });
  return { ctx, page };
}

test('guest edit and delete of their own comments; verdicts for the guest page and the owner', { timeout: 120000 }, async () => {
  const o = await newOwner(srv);
  const p = await newProject(o, 'Verdict EP');
  const { vid } = await uploadTrack(o, p.id, makeWav(4), { title: 'Opener' });
  assert.equal((await waitVersion(o, p.id, vid)).state, 'ready');

  const ana = await guestPage(p.link.url, 'Ana');
  const ap = ana.page;
  // Comment, then edit it in place.
  await ap.fill('#comment-body', 'Snare too loud');
  await ap.getByRole('button', { name: 'Comment', exact: true }).click();
  const first = ap.locator('#comments > li.comment').first();
  await first.locator('.edit-btn').waitFor();
  await first.locator('.edit-btn').click();
  await first.locator('form.edit-form textarea').fill('Snare a bit too loud');
  await first.getByRole('button', { name: 'Save' }).click();
  await ap.locator('#comments > li.comment', { hasText: 'Snare a bit too loud' }).locator('.edited').waitFor();
  const cid = await ap.locator('#comments > li.comment').first().getAttribute('data-id');
  const listed = (await o.get(`/api/v1/projects/${p.id}/comments`)).json.comments.find((c) => c.id === cid);
  assert.equal(listed.body, 'Snare a bit too loud');
  assert.ok(listed.edited > 0, 'the server has the edit');

  // A second comment, a reply by the owner, then Ana deletes it (two clicks).
  await ap.fill('#comment-body', 'Intro drags');
  await ap.getByRole('button', { name: 'Comment', exact: true }).click();
  await ap.locator('#comments > li.comment', { hasText: 'Intro drags' }).waitFor();
  const second = (await o.get(`/api/v1/projects/${p.id}/comments`)).json.comments.find((c) => c.body === 'Intro drags');
  assert.equal((await o.post(`/api/v1/projects/${p.id}/comments`, { body: 'Will shorten it', version_id: vid, time_ms: second.time_ms, parent_id: second.id })).status, 201);
  await ap.reload();
  const doomed = ap.locator(`#comment-${second.id}`);
  await doomed.locator('.delete-btn').waitFor();
  await doomed.locator('.delete-btn').click();
  assert.equal(await doomed.locator('.delete-btn').textContent(), 'Delete for good?');
  await doomed.locator('.delete-btn').click();
  await doomed.locator(':scope > p.body', { hasText: '(comment removed)' }).waitFor();
  assert.equal(await doomed.locator('.replies .body').textContent(), 'Will shorten it', 'the reply stays');
  assert.equal(await doomed.locator('.edit-btn, .delete-btn').count(), 0);

  // Another browser: the comments, no Edit or Delete on them.
  const ben = await guestPage(p.link.url, 'Ben');
  const bp = ben.page;
  await bp.locator('#comments > li.comment', { hasText: 'Snare a bit too loud' }).locator('.edited').waitFor();
  assert.equal(await bp.locator('#comments .edit-btn, #comments .delete-btn').count(), 0);

  // Verdicts: Ana approves, then asks for changes with a note.
  await ap.locator('#verdict-approved').click();
  await ap.locator('#verdict-list .verdict.mine', { hasText: 'Approved' }).waitFor();
  assert.equal(await ap.locator('#verdict-approved').getAttribute('aria-pressed'), 'true');
  await ap.fill('#verdict-note', 'Fix the snare first');
  await ap.locator('#verdict-changes_requested').click();
  await ap.locator('#verdict-list .verdict.mine', { hasText: 'Changes requested' }).waitFor();
  assert.equal(await ap.locator('#verdict-list .verdict').count(), 1, 'one verdict per reviewer');
  assert.equal(await ap.locator('#verdict-changes_requested').getAttribute('aria-pressed'), 'true');
  // Ben sees it after a reload, as someone else's, and approves.
  await bp.reload();
  const anas = bp.locator('#verdict-list .verdict', { hasText: 'Ana' });
  await anas.waitFor();
  assert.match(await anas.textContent(), /Changes requested.*Ana.*Fix the snare first/);
  assert.equal(await anas.evaluate((e) => e.classList.contains('mine')), false);
  await bp.locator('#verdict-approved').click();
  await bp.locator('#verdict-list .verdict.mine', { hasText: 'Approved' }).waitFor();

  // The owner: verdicts under the version on Tracks, "edited" in the comments.
  const octx = await newContext(browser);
  octx.setDefaultTimeout(15000);
  const op = await octx.newPage();
  await op.goto(`${srv.origin}/`);
  await op.fill('#email', o.email);
  await op.fill('#password', PASSWORD);
  await op.getByRole('button', { name: 'Sign in' }).click();
  await op.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
  await op.goto(`${srv.origin}/#/p/${p.id}/tracks`);
  const row = op.locator(`li.version[data-version="${vid}"] .version-verdicts`);
  await row.locator('.verdict-item').nth(1).waitFor();
  const items = await row.locator('.verdict-item').allTextContents();
  assert.deepEqual(items.map((t) => t.replace(/\s+/g, ' ').trim()).sort(),
    ['approved Ben', 'changes requested Ana “Fix the snare first”']);
  await op.goto(`${srv.origin}/#/p/${p.id}/comments`);
  await op.locator(`#comment-${cid} .edited`).waitFor();

  for (const ctx of [ana.ctx, ben.ctx, octx]) {
    assert.deepEqual(ctx.record.errors, [], 'no page errors');
    assert.deepEqual(ctx.record.csp, [], 'no CSP violations');
    assert.deepEqual(ctx.record.dialogs, [], 'no dialogs');
    await ctx.close();
  }
});
