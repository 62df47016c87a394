// The owner's uploader in a real browser against a full object store (issue
// 25 follow-up; docs/media.md "When the store refuses the part"): the
// uploader sends its first 8 MiB chunk at once, the media role refuses the
// part before reading it, and the browser gets the 503 (not a reset, which
// XHR reports as "connection lost"): the row shows the server's message and
// waits the 60 s of Retry-After. The store lives on a small tmpfs filled to
// ENOSPC; needs root (mount), skipped without, saying so.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, newOwner, newProject, startApi } from '../e2e/lib/api.mjs';
import { canMount, fill, mount } from '../e2e/lib/tmpfs.mjs';
import { launch, makeWav } from './lib.mjs';

const skip = canMount() ? false : 'needs root and permission to mount a tmpfs (a real full filesystem)';

describe('the uploader on a full store', { skip }, () => {
  let srv, browser, page, owner, pid, tmp, storeMnt;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-browser-full-'));
    storeMnt = path.join(tmp, 'store');
    const m = mount(storeMnt, '8m');
    assert.equal(m.status, 0, `mount: ${m.stderr}`);
    srv = await startApi('sqlite', { args: ['--set', `storage=file:${storeMnt}/objects`] });
    owner = await newOwner(srv);
    pid = (await newProject(owner, 'Full Disk EP')).id;
    browser = await launch();
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
    ctx.setDefaultTimeout(15000);
    page = await ctx.newPage();
    await page.goto(`${srv.origin}/`);
    await page.fill('#email', owner.email);
    await page.fill('#password', PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Full Disk EP').click();
    await page.getByRole('tab', { name: 'Tracks' }).click();
    await page.locator('#dropzone').waitFor();
  });

  after(async () => {
    await browser?.close();
    await srv?.stop();
    if (storeMnt) spawnSync('umount', ['-l', storeMnt]);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('an 8 MiB chunk refused by a full store: the row shows the server\'s message and waits 60 s, not "connection lost"', async () => {
    const file = path.join(tmp, 'Full Disk.wav');
    fs.writeFileSync(file, makeWav(140)); // ~24 MiB: three 8 MiB chunks
    fill(storeMnt);
    await page.setInputFiles('#files', file);
    const note = page.locator('.upload[data-file="Full Disk.wav"] .muted.small');
    await page.waitForFunction(() => /resuming in/.test(document.querySelector('.upload[data-file="Full Disk.wav"]')?.textContent || ''), null, { timeout: 30000 });
    const text = await note.first().textContent();
    assert.match(text, /the server is out of space: nothing was saved, try again later: resuming in 60 s/, text);
    assert.doesNotMatch(text, /connection lost/, text);
    const j = (await owner.get(`/api/v1/projects/${pid}`)).json;
    const t = (j.project?.tracks || j.tracks).find((x) => x.title === 'Full Disk');
    assert.equal(t.versions[0].state, 'uploading', 'nothing failed: the upload waits');
  });
});
