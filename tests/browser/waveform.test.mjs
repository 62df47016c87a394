// The web player draws a quiet master's waveform with its shape (issue 21):
// a pulsing tone peaking at -38 dBFS, uploaded through the API, opened on the
// guest review page. With 8-bit peaks it held only the levels 0 and +-1 and
// drew as a row of equal blocks; with 16-bit peaks (docs/transcoding.md
// "Peaks") and the player's normalisation its bars have many heights.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { newOwner, newProject, startApi, uploadTrack, waitVersion } from '../e2e/lib/api.mjs';
import { wav } from '../e2e/lib/audio.mjs';
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

// 8 s at 44.1 kHz: a 220 Hz tone under a slow envelope, peak 412 (-38 dBFS).
const quiet = () => wav(8, {
  sample: (i) => Math.round(412 * (0.15 + 0.85 * Math.abs(Math.sin((Math.PI * i) / 44100 / 4))) * Math.sin((2 * Math.PI * 220 * i) / 44100)),
});

test('the guest player draws a -38 dBFS master with many bar heights', async () => {
  const owner = await newOwner(srv);
  const p = await newProject(owner, 'Quiet EP');
  const { vid } = await uploadTrack(owner, p.id, quiet(), { title: 'Quiet' });
  assert.equal((await waitVersion(owner, p.id, vid)).state, 'ready');
  const ctx = await newContext(browser);
  try {
    const gp = await ctx.newPage();
    await gp.goto(p.link.url);
    await gp.locator('#name-form').waitFor();
    await gp.fill('#name-input', 'Listener');
    await gp.getByRole('button', { name: 'Continue' }).click();
    await gp.locator('#review').waitFor();
    await gp.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:08'));
    const canvas = gp.locator('#wave canvas').first();
    await canvas.waitFor({ state: 'attached' });
    // The painted height of each pixel column of the waveform's canvas.
    const heights = await canvas.evaluate(async (c) => {
      await new Promise((r) => setTimeout(r, 300));
      const { width, height } = c;
      const d = c.getContext('2d').getImageData(0, 0, width, height).data;
      const out = [];
      for (let x = 0; x < width; x++) {
        let n = 0;
        for (let y = 0; y < height; y++) if (d[(y * width + x) * 4 + 3] > 128) n++;
        out.push(n);
      }
      return out;
    });
    const distinct = new Set(heights.filter((h) => h > 0)).size;
    assert.ok(heights.some((h) => h > 0), 'the waveform is drawn');
    assert.ok(distinct > 8, `bar heights: ${distinct} distinct (${[...new Set(heights)].slice(0, 20)})`);
    assert.deepEqual(ctx.record.errors, []);
  } finally {
    await ctx.close();
  }
});
