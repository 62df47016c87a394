// A/B between versions on the guest review page (issue 22, docs/web-ui.md
// "A/B"): v1 is a 30 s song whose pitch says which second of it is
// playing (tests/e2e/lib/abaudio.mjs), v2 the same after 3 s of silence
// and 6 dB louder. Measured through the page's own audio graph (the
// AudioContext of ab.js; a ScriptProcessor on its output gives each 5 ms
// block's RMS on the audio clock, an AnalyserNode the pitch):
// - V switches v2 -> v1 and back while playing, and again after a URL
//   renewal (ab.js's same hand-over), at the same musical
//   moment (the pitch heard after the switch is the second the other
//   version was in; the two elements' times differ by the offset) and with
//   no silent stretch over 50 ms around either switch;
// - in the seconds held at one level, v2 is ~6 dB louder than v1, and
//   within 1 dB with "Match loudness" on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { newOwner, newProject, startApi, uploadVersion, waitVersion } from '../e2e/lib/api.mjs';
import { pitchAt, song } from '../e2e/lib/abaudio.mjs';
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

// In the page: tap ab.js's output. window.__ab.rms: [{t, rms}] per 5 ms
// block (t on the AudioContext clock); __ab.gap(t0, t1): the longest run
// of blocks under -54 dBFS RMS in [t0, t1], in ms; __ab.pitch(): the
// loudest frequency now; __ab.level(t0, t1): mean RMS in dBFS.
function tap() {
  const ab = window.audiomus.ab;
  const ctx = ab.graph();
  const sp = ctx.createScriptProcessor(2048, 1, 1);
  const an = ctx.createAnalyser();
  an.fftSize = 16384;
  // No smoothing: it blends each reading with the previous call's, which
  // may be seconds old (a renewal between two switches).
  an.smoothingTimeConstant = 0;
  const rms = [];
  sp.onaudioprocess = (e) => {
    const x = e.inputBuffer.getChannelData(0), n = Math.round(ctx.sampleRate * 0.005);
    for (let i = 0; i + n <= x.length; i += n) {
      let s = 0;
      for (let k = i; k < i + n; k++) s += x[k] * x[k];
      rms.push({ t: e.playbackTime + i / ctx.sampleRate, rms: Math.sqrt(s / n) });
    }
  };
  ab.out.connect(sp);
  ab.out.connect(an);
  sp.connect(ctx.destination);
  window.__ab = {
    rms,
    now: () => ctx.currentTime,
    gap(t0, t1) {
      let run = 0, best = 0;
      for (const b of rms) {
        if (b.t < t0 || b.t > t1) continue;
        run = b.rms < 0.002 ? run + 1 : 0;
        best = Math.max(best, run);
      }
      return best * 5;
    },
    level(t0, t1) {
      const bs = rms.filter((b) => b.t >= t0 && b.t <= t1);
      return 10 * Math.log10(bs.reduce((a, b) => a + b.rms * b.rms, 0) / bs.length);
    },
    pitch() {
      const f = new Float32Array(an.frequencyBinCount);
      an.getFloatFrequencyData(f);
      let k = 0;
      for (let i = 1; i < f.length; i++) if (f[i] > f[k]) k = i;
      return (k * ctx.sampleRate) / an.fftSize;
    },
  };
}

test('A/B: V switches at the same musical moment with no gap over 50 ms; match loudness', async () => {
  const owner = await newOwner(srv);
  const p = await newProject(owner, 'AB EP');
  const tid = (await owner.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Song' })).json.track.id;
  const log = (m) => process.stderr.write(`ab: ${m}\n`);
  log('uploading');
  const v1 = await waitVersion(owner, p.id, await uploadVersion(owner, p.id, tid, song(30)));
  const v2 = await waitVersion(owner, p.id, await uploadVersion(owner, p.id, tid, song(30, { intro: 3, gainDb: 6 })));
  assert.equal(v2.offset_match, 'matched', JSON.stringify(v2));
  const off = v2.sync_ms / 1000;
  assert.ok(Math.abs(off - 3) < 0.025, `offset ${off}`);

  log('ready');
  const ctx = await newContext(browser);
  try {
    const gp = await ctx.newPage();
    await gp.goto(p.link.url);
    await gp.locator('#name-form').waitFor();
    await gp.fill('#name-input', 'Listener');
    await gp.getByRole('button', { name: 'Continue' }).click();
    await gp.locator('#ab').waitFor();
    await gp.waitForFunction(() => document.querySelector('#time').textContent.endsWith('0:33'));
    await gp.evaluate(tap);
    const elTime = () => gp.evaluate(() => window.audiomus.player.audio.currentTime);
    const hearing = () => gp.evaluate(() => document.querySelector('#ab-status').dataset.hearing);
    assert.equal(await hearing(), 'A');

    // Play v2 (A, the latest) to 5.3 s (music second 2.3), press V.
    log('page open');
    await gp.click('#play');
    await gp.waitForFunction(() => window.audiomus.player.audio.currentTime >= 5.3, null, { timeout: 15000 });
    const switches = [];
    for (const [want, key] of [['B', 1], ['A', 2], ['B', 3]]) {
      // Before the third: a URL renewal, the same hand-over to the same
      // version (the old element then holds nothing: V loads v1 into it).
      if (key === 3) {
        const r = await gp.evaluate(async () => { const a = window.audiomus.player.audio; await window.audiomus.refreshUrls(); return { handedOver: window.audiomus.player.audio !== a, id: window.audiomus.player.audio.id }; });
        assert.deepEqual(r, { handedOver: true, id: 'audio' });
      }
      const t0 = await gp.evaluate(() => window.__ab.now());
      log('press v');
      await gp.keyboard.press('v');
      await gp.waitForFunction((w) => document.querySelector('#ab-status').dataset.hearing === w, want, { timeout: 60000 }).catch(async (e) => {
        const st = await gp.evaluate(() => { const a = window.audiomus.ab; return { busy: !!a.busy, focus: document.activeElement?.id, els: a.els.map((x) => [x.id, x.currentTime, x.paused, x.readyState, x.seeking, a.ver.get(x)?.number]) }; });
        throw new Error(`${e.message}: ${JSON.stringify(st)}`);
      });
      await gp.waitForTimeout(400);
      // The pitch heard is the music second the other version was in:
      // read with the element's time in one call, away from a second's edge
      // (the analyser's window is the last 341 ms).
      let pitch, u;
      for (let i = 0; i < 30; i++) {
        const m = await gp.evaluate(() => ({ pitch: window.__ab.pitch(), t: window.audiomus.player.audio.currentTime }));
        pitch = m.pitch;
        u = (want === 'B' ? m.t : m.t - off) - 0.17; // v1's time is the music's
        if (u % 1 > 0.3 && u % 1 < 0.8) break;
        await gp.waitForTimeout(100);
      }
      const pair = await gp.evaluate(() => { const a = window.audiomus.ab; return [a.active.currentTime, a.shadow.currentTime, a.shadow.paused]; });
      await gp.waitForTimeout(700);
      const gap = await gp.evaluate(([a, b]) => window.__ab.gap(a, b), [t0 - 0.3, t0 + 1.0]);
      switches.push({ want, key, pitch, u, gap, pair });
      log(JSON.stringify(switches.at(-1)));
      assert.ok(Math.abs(pitch - pitchAt(u)) < 15, `switch ${key}: pitch ${pitch} Hz, music second ${u} (${pitchAt(u)} Hz)`);
      assert.ok(gap <= 50, `switch ${key}: gap ${gap} ms`);
      const mapped = want === 'B' ? pair[0] + off - pair[1] : pair[0] - off - pair[1];
      assert.ok(!pair[2] && Math.abs(mapped) < 0.08, `the other version follows at the same moment: ${JSON.stringify(pair)}`);
    }
    console.log(`# A/B switches: ${JSON.stringify(switches)}`);

    // Loudness in music seconds 6-8 (one level): v1 at 6.2 s for 1.2 s,
    // then v2 at the same moment.
    const levelOf = async (which) => {
      await gp.evaluate(() => window.audiomus.player.audio.pause());
      if ((await hearing()) !== which) {
        await gp.keyboard.press('v');
        await gp.waitForFunction((w) => document.querySelector('#ab-status').dataset.hearing === w, which);
      }
      await gp.evaluate((t) => { window.audiomus.player.seek(t); }, which === 'B' ? 6.2 : 6.2 + off);
      const t0 = await gp.evaluate(async () => { await window.audiomus.player.audio.play(); return window.__ab.now(); });
      await gp.waitForTimeout(1300);
      return gp.evaluate(([a, b]) => window.__ab.level(a, b), [t0 + 0.25, t0 + 1.15]);
    };
    const off1 = await levelOf('B'), off2 = await levelOf('A');
    await gp.check('#ab-match');
    await gp.evaluate(() => document.activeElement.blur()); // keys in a form field are not shortcuts
    const on1 = await levelOf('B'), on2 = await levelOf('A');
    console.log(`# loudness: match off v1 ${off1.toFixed(2)} v2 ${off2.toFixed(2)} dBFS; on v1 ${on1.toFixed(2)} v2 ${on2.toFixed(2)}`);
    assert.ok(off2 - off1 > 5 && off2 - off1 < 7, `match off: v2 - v1 = ${off2 - off1} dB`);
    assert.ok(Math.abs(on2 - on1) < 1, `match on: v2 - v1 = ${on2 - on1} dB`);
    assert.deepEqual(ctx.record.errors, []);
    assert.deepEqual(ctx.record.csp, []);
  } finally {
    await ctx.close();
  }
});
