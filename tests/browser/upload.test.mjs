// The owner's uploader in a real browser (issues 21 and 23; docs/web-ui.md
// "Uploads"): files that are not audio are refused before a track exists
// (by extension in the browser, by their first bytes on the server); leaving
// the page mid-upload asks first; after a reload, choosing the same file
// resumes the stored upload (no second track) and the original the owner
// downloads is byte for byte the file; an upload left alone for 5 minutes
// (the test clock) shows "interrupted" with Resume… and Remove; several files
// wait in a queue with their place shown.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { PASSWORD, newOwner, newProject, startApi } from '../e2e/lib/api.mjs';
import { pathOf, raw } from '../e2e/lib/server.mjs';
import { launch, makeWav } from './lib.mjs';

const READY_TIMEOUT = Number(process.env.AUDIOMUS_READY_TIMEOUT_MS || 90000);
let srv, browser, ctx, page, owner, pid, tmp;
const dialogs = [];

before(async () => {
  srv = await startApi('sqlite', { hooks: true }); // the test clock (interrupted, the 25 h clean-up)
  owner = await newOwner(srv);
  pid = (await newProject(owner, 'Tide EP')).id;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-browser-upload-'));
  browser = await launch();
  ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
  ctx.setDefaultTimeout(15000);
  page = await ctx.newPage();
  // Leaving mid-upload: the browser asks (beforeunload); the test says yes.
  page.on('dialog', (d) => { dialogs.push(d.type()); (d.type() === 'beforeunload' ? d.accept() : d.dismiss()).catch(() => {}); });
  await page.goto(`${srv.origin}/`);
  await page.fill('#email', owner.email);
  await page.fill('#password', PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Tide EP').click();
  await page.getByRole('tab', { name: 'Tracks' }).click();
  await page.locator('#dropzone').waitFor();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const tracks = async () => { const j = (await owner.get(`/api/v1/projects/${pid}`)).json; return j.project?.tracks || j.tracks; };

// Drop files (name, bytes) on the drop zone, as a file manager would.
async function drop(files) {
  const dt = await page.evaluateHandle((fs_) => {
    const d = new DataTransfer();
    for (const f of fs_) d.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: f.type }));
    return d;
  }, files.map((f) => ({ name: f.name, type: f.type || '', bytes: [...f.bytes] })));
  await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: dt });
}

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]), Buffer.from('IHDR'), Buffer.alloc(200, 7)]);
const TXT = Buffer.from('Verse 1\nI walked down to the river at night\nChorus\nStay, stay\n');

test('a PNG and a TXT dropped on the page create no track, each with its reason', async () => {
  await drop([{ name: 'cover-art.png', type: 'image/png', bytes: PNG }, { name: 'lyrics.txt', type: 'text/plain', bytes: TXT },
    // a PNG that says it is a WAV: its first bytes give it away, on the server
    { name: 'disguised.wav', type: 'audio/wav', bytes: PNG }]);
  const row = (name) => page.locator(`.upload[data-file="${name}"]`);
  await row('cover-art.png').locator('.status.error', { hasText: 'a PNG image is not a supported audio format' }).waitFor();
  await row('lyrics.txt').locator('.status.error', { hasText: 'a text file is not a supported audio format' }).waitFor();
  await row('disguised.wav').locator('.status.error', { hasText: 'a PNG image is not a supported audio format' }).waitFor();
  assert.deepEqual(await tracks(), [], 'no track was created');
  assert.equal(await page.locator('.track-row').count(), 0);
  assert.equal(await page.locator('.version[data-state="uploading"]').count(), 0);
});

test('several files wait their turn with their place in the queue', async () => {
  const files = ['Queue A.wav', 'Queue B.wav', 'Queue C.wav'].map((name) => ({ name, type: 'audio/wav', bytes: makeWav(1) }));
  // Slow the first one down so the others are seen waiting.
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 64 * 1024 });
  await drop(files);
  await page.locator('.upload[data-file="Queue C.wav"]', { hasText: 'queued · 3 of 3' }).waitFor();
  await page.locator('.upload[data-file="Queue B.wav"]', { hasText: /queued · 2 of 3/ }).waitFor();
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await page.locator('.upload[data-file="Queue C.wav"][data-done="true"]').waitFor({ timeout: 30000 });
  const titles = (await tracks()).map((t) => t.title).filter((t) => t.startsWith('Queue'));
  assert.deepEqual(titles, ['Queue A', 'Queue B', 'Queue C'], 'in the order dropped');
  await cdp.detach();
});

test('reload mid-upload warns, then the same file resumes (no second track) to a byte-identical original', async () => {
  // ~24 MiB: three 8 MiB chunks, sent at 4 MiB/s, so the reload lands mid-file.
  const wavBytes = makeWav(140);
  const file = path.join(tmp, 'Long Take.wav');
  fs.writeFileSync(file, wavBytes);
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 4 * 1024 * 1024 });
  const before0 = (await tracks()).length;
  await page.getByRole('heading', { name: 'Tide EP' }).click(); // a user gesture: beforeunload may ask
  await page.setInputFiles('#files', file);
  const bar = page.locator('.upload[data-file="Long Take.wav"] progress');
  await page.waitForFunction(() => Number(document.querySelector('.upload[data-file="Long Take.wav"] progress')?.value) >= 40, null, { timeout: 30000 });
  const at = Number(await bar.getAttribute('value'));
  assert.ok(at < 100, `still uploading when reloaded (${at}%)`);
  await page.reload();
  assert.ok(dialogs.includes('beforeunload'), `the browser asked before leaving (dialogs: ${dialogs})`);
  await cdp.detach().catch(() => {});
  await page.locator('#dropzone').waitFor();
  const mid = await tracks();
  assert.equal(mid.length, before0 + 1);
  const t = mid.find((x) => x.title === 'Long Take');
  assert.equal(t.versions.length, 1);
  assert.equal(t.versions[0].state, 'uploading');
  // The page offers to resume it right away (this browser remembers it).
  await page.locator(`.version[data-version="${t.versions[0].id}"] .resume`, { hasText: 'choose “Long Take.wav” again to resume' }).waitFor();
  // Left alone for 5 minutes: "interrupted", with its reason, Resume… and
  // (the track holds nothing else) Remove.
  srv.advance(6 * 60);
  await page.reload();
  const row = page.locator(`.version[data-version="${t.versions[0].id}"][data-state="interrupted"]`);
  await row.waitFor();
  assert.equal(await row.locator('.status.error').textContent(), 'upload interrupted: resume or remove');
  assert.ok(await row.locator('label[role="button"]', { hasText: 'Resume…' }).isVisible(), 'Resume…');
  assert.ok(await row.getByRole('button', { name: 'Remove' }).isVisible(), 'Remove');
  assert.ok(await row.locator('.resume', { hasText: 'choose “Long Take.wav” again to resume' }).isVisible());
  // The same file again: resumed into the same version, not a new track.
  await page.setInputFiles('#files', file);
  await page.locator('.upload[data-file="Long Take.wav"][data-resumed="true"]').waitFor();
  await page.locator('.upload[data-file="Long Take.wav"][data-done="true"]').waitFor({ timeout: 60000 });
  const after0 = await tracks();
  assert.equal(after0.length, before0 + 1, 'no duplicate track');
  assert.equal(after0.find((x) => x.title === 'Long Take').versions.length, 1, 'no second version');
  const vid = t.versions[0].id;
  await page.locator(`.version[data-version="${vid}"][data-state="ready"]`).waitFor({ timeout: READY_TIMEOUT });
  const urls = await owner.get(`/api/v1/projects/${pid}/tracks/${t.id}/urls?version=${vid}`);
  assert.equal(urls.status, 200, urls.body);
  const dl = await page.request.get(urls.json.versions[vid].download);
  assert.equal(dl.status(), 200);
  const got = await dl.body();
  assert.equal(got.length, wavBytes.length);
  assert.equal(crypto.createHash('sha256').update(got).digest('hex'), crypto.createHash('sha256').update(wavBytes).digest('hex'), 'the original is the file, byte for byte');
  assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('audiomus.upload.')).length), 0, 'nothing left to resume');
});

// Last: it moves the server's clock 25 hours on. An upload that got half its
// bytes and was never resumed is cleaned up (its bytes removed), and the
// owner's page says so instead of "uploading" or "interrupted" (the clean-up
// is upload_gc_abandoned, run by the media role and by the worker's
// housekeeping, whichever comes first).
test('an upload left unfinished for 25 hours is removed, and the page says what to do', async () => {
  const bytes = makeWav(4);
  const tid = (await owner.post(`/api/v1/projects/${pid}/tracks`, { title: 'Abandoned Take' })).json.track.id;
  const up = await owner.post(`/api/v1/projects/${pid}/tracks/${tid}/uploads`, { filename: 'Abandoned Take.wav', size: bytes.length });
  assert.equal(up.status, 201, up.body);
  const half = bytes.subarray(0, bytes.length >> 1);
  const r = await raw(srv, 'PATCH', pathOf(up.json.upload_url), {
    'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': half.length,
  }, half);
  assert.equal(r.status, 204, r.body.toString());
  const vid = up.json.version.id;
  srv.advance(25 * 3600 + 120);
  const row = page.locator(`.version[data-version="${vid}"][data-state="failed"]`);
  for (let i = 0; i < 100 && !(await row.count()); i++) {
    await page.reload(); // (an API request: the server takes the moved clock)
    await page.locator('#dropzone').waitFor();
  }
  await row.waitFor({ timeout: 1000 });
  assert.match(await row.locator('.status.error').textContent(), /not resumed within 25 hours: its bytes were removed; upload the file again/);
  const head = await raw(srv, 'HEAD', pathOf(up.json.upload_url), { 'Tus-Resumable': '1.0.0' });
  assert.ok([403, 404, 410].includes(head.status), `the upload URL is dead (its 24 h signature too): ${head.status}`);
});
