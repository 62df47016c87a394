// Getting everything out in a real browser (issue 23, docs/web-ui.md
// "Download all" and "Export"): the owner's "Download all" on the project
// page saves a ZIP whose original is byte for byte the uploaded file; the
// review page shows the button only while downloads are on, and its ZIP is
// the same; the account page's "Download everything (with audio)" shows its
// progress and saves the tar with the original in it. The project head's
// "Access log head" saves a signed tree head that `audiomus log verify`
// accepts (issue 26). No CSP violation, no page error.
//
//   node --test tests/browser/archive.test.mjs   (AUDIOMUS_BIN picks the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { newOwner, newProject, PASSWORD, startApi, uploadTrack, waitVersion } from '../e2e/lib/api.mjs';
import { run } from '../e2e/lib/server.mjs';
import { launch, makeWav, newContext } from './lib.mjs';

let srv, browser, tmp;
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

before(async () => {
  srv = await startApi('sqlite');
  browser = await launch();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-archive-'));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// The SHA-256 of each member of a ZIP or tar file (python3).
function members(file) {
  const py = `
import hashlib, json, sys, tarfile, zipfile
f = sys.argv[1]
out = {}
if zipfile.is_zipfile(f):
    z = zipfile.ZipFile(f)
    for n in z.namelist(): out[n] = hashlib.sha256(z.read(n)).hexdigest()
else:
    t = tarfile.open(f)
    for m in t.getmembers():
        if m.isfile(): out[m.name] = hashlib.sha256(t.extractfile(m).read()).hexdigest()
print(json.dumps(out))
`;
  const r = spawnSync('python3', ['-c', py, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function saved(page, click) {
  const [dl] = await Promise.all([page.waitForEvent('download'), click()]);
  const file = path.join(tmp, `${crypto.randomBytes(4).toString('hex')}-${dl.suggestedFilename()}`);
  await dl.saveAs(file);
  return { name: dl.suggestedFilename(), file };
}

test('Download all (owner and review page) and the full export with progress', { timeout: 120000 }, async () => {
  const owner = await newOwner(srv);
  const p = await newProject(owner, 'Out Takes');
  const bytes = makeWav(3);
  const { vid } = await uploadTrack(owner, p.id, bytes, { title: 'Song', filename: 'song.wav' });
  assert.equal((await waitVersion(owner, p.id, vid)).state, 'ready');
  assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: false })).status, 200);

  const ctx = await newContext(browser, { acceptDownloads: true });
  ctx.setDefaultTimeout(15000);
  const page = await ctx.newPage();
  await page.goto(`${srv.origin}/`);
  await page.fill('#email', owner.email);
  await page.fill('#password', PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Projects', exact: true }).waitFor();

  // The owner: downloads off does not matter.
  await page.goto(`${srv.origin}/#/p/${p.id}/tracks`);
  const z = await saved(page, () => page.getByRole('button', { name: 'Download all' }).click());
  assert.equal(z.name, 'out-takes.zip');
  const zm = members(z.file);
  assert.equal(zm['out-takes/tracks/1-song/v1-song.wav'], sha(bytes), 'the original, byte for byte');
  assert.ok('out-takes/comments.json' in zm && 'out-takes/comments.csv' in zm);

  // The access log's signed head (accesslog.js), kept as a file: the log verifies against it.
  const head = await saved(page, () => page.getByRole('button', { name: 'Access log head' }).click());
  assert.match(head.name, new RegExp(`^audiomus-log-${p.id}-[0-9]+[.]json$`));
  const v = run(['log', 'verify', '--sth', head.file, '--project', p.id, '--data', srv.dataDir, ...srv.dbArgs]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /^verified: /);

  // The review page: no button while downloads are off; with them on, the same ZIP.
  const guest = await ctx.newPage();
  await guest.goto(`${srv.origin}/s/${p.link.token}`);
  await guest.locator('#name-form').waitFor();
  await guest.fill('#name-input', 'Listener');
  await guest.getByRole('button', { name: 'Continue' }).click();
  await guest.locator('#review').waitFor();
  await guest.locator('#track-list li').first().waitFor();
  assert.equal(await guest.locator('#download-all').isHidden(), true, 'hidden while downloads are off');
  assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: true })).status, 200);
  await guest.reload();
  await guest.locator('#review').waitFor();
  await guest.locator('#track-list li').first().waitFor();
  const g = await saved(guest, () => guest.getByRole('button', { name: 'Download all' }).click());
  assert.equal(members(g.file)['out-takes/tracks/1-song/v1-song.wav'], sha(bytes));

  // The account's full export: progress, then the tar with the original.
  await page.goto(`${srv.origin}/#/account`);
  const t = await saved(page, () => page.getByRole('button', { name: 'Download everything (with audio)' }).click());
  assert.match(t.name, /^audiomus-export-\d+\.tar$/);
  const tm = members(t.file);
  assert.ok(Object.entries(tm).some(([n, h]) => n.endsWith('/tracks/1-song/v1-song.wav') && h === sha(bytes)), Object.keys(tm).join(', '));
  await page.getByText(/^Done: .* saved\.$/).waitFor();
  assert.equal(await page.locator('#export-progress').getAttribute('value'), '100');
  assert.ok(await page.locator('#export-json').isVisible(), 'the JSON-only export is still offered');

  assert.deepEqual(ctx.record.csp, []);
  assert.deepEqual(ctx.record.errors, []);
  await ctx.close();
});
