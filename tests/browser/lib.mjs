// Shared helpers for the browser suite (tests/browser/*.test.mjs): Debian's
// chromium driven by playwright-core (no browser download, ever), the server
// from tests/e2e/lib (testing mode, fast Argon2id), a generated WAV, and a
// non-blank check for screenshots.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { wav } from '../e2e/lib/audio.mjs';

export const CHROMIUM = process.env.AUDIOMUS_CHROMIUM || '/usr/bin/chromium';

// Headless chromium with a fresh profile (playwright creates a temporary
// --user-data-dir per launch and removes it on close).
export async function launch() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (./scripts/dev deps)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
}

// A context that trusts the test server's self-signed certificate and
// records what the security checks need: dialogs, CSP reports, errors.
export async function newContext(browser, opts = {}) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 }, colorScheme: 'dark', ...opts });
  ctx.record = { dialogs: [], csp: [], errors: [], requests: [] };
  ctx.on('page', (p) => watch(ctx, p));
  return ctx;
}

function watch(ctx, page) {
  page.on('dialog', (d) => { ctx.record.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to (load|execute|apply)/i.test(m.text())) ctx.record.csp.push(m.text());
  });
  page.on('pageerror', (e) => ctx.record.errors.push(String(e)));
  page.on('request', (r) => ctx.record.requests.push(r));
}

// A WAV of `seconds` of 16-bit stereo: a chord with a pulsing envelope, so
// the waveform has a visible shape (the right channel at 90 %). That shape
// repeats every 4/3 s; accents: each 250 ms at a seeded level (45-100 %), so
// that two mixes line up in one place only. intro: that many seconds of
// silence first, the music shifted by as much and its end cut (a bounce
// with a longer intro, for A/B's offset).
export function makeWav(seconds = 12, rate = 44100, { intro = 0, accents = false } = {}) {
  const pad = Math.round(intro * rate);
  const accent = (t) => {
    if (!accents) return 1;
    let x = Math.imul(Math.floor(t * 4) + 1, 2654435761) >>> 0;
    x ^= x >>> 15; x = Math.imul(x, 2246822519) >>> 0; x ^= x >>> 13;
    return 0.45 + 0.55 * ((x >>> 0) % 1000) / 1000;
  };
  return wav(seconds, {
    rate,
    sample: (j) => {
      if (j < pad) return [0, 0];
      const i = j - pad, t = i / rate;
      const env = accent(t) * (0.25 + 0.7 * Math.abs(Math.sin(Math.PI * t * 0.75)) * (0.6 + 0.4 * Math.sin(2 * Math.PI * t * 4) ** 2));
      const s = env * (0.5 * Math.sin(2 * Math.PI * 220 * t) + 0.3 * Math.sin(2 * Math.PI * 277.18 * t) + 0.2 * Math.sin(2 * Math.PI * 329.63 * t));
      const v = Math.max(-32767, Math.min(32767, Math.round(s * 30000)));
      return [v, Math.round(v * 0.9)];
    },
  });
}

// Where screenshots are written. By default a temporary directory, removed
// when the run ends, so that a test run leaves the checkout as it was; the
// README's pictures are regenerated only on request:
// AUDIOMUS_SCREENSHOTS=docs/screenshots (what `make screenshots` sets), or
// any directory to keep and look at them.
let shotDir = null;
export function screenshotDir() {
  if (shotDir) return shotDir;
  if (process.env.AUDIOMUS_SCREENSHOTS) {
    shotDir = path.resolve(process.env.AUDIOMUS_SCREENSHOTS);
  } else {
    shotDir = fs.mkdtempSync(path.join(os.tmpdir(), 'audiomus-shots-'));
    const dir = shotDir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return shotDir;
}

// Write a screenshot and prove it is not blank: a real PNG of some size
// whose pixels vary (decoded in a blank page through a canvas).
// file is a name inside screenshotDir() (e.g. 'review.png').
export async function screenshot(browser, page, name, opts = {}) {
  const file = path.join(screenshotDir(), name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const png = await page.screenshot({ path: file, ...opts });
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  const stats = await p.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let sum = 0, sq = 0, n = 0;
    const colors = new Set();
    for (let i = 0; i < d.length; i += 16) {
      const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      sum += y; sq += y * y; n++;
      if (colors.size < 5000) colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    }
    const mean = sum / n;
    return { width: img.width, height: img.height, stddev: Math.sqrt(sq / n - mean * mean), colors: colors.size };
  }, png.toString('base64'));
  await ctx.close();
  return { bytes: png.length, ...stats };
}
