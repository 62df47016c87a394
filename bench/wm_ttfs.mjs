// A new listener's time to first sound, marking on vs off (issue 26, target
// under 1 s; run by bench/wm_ttfs.sh). A server (the e2e harness: SQLite,
// AUDIOMUS_BIN), a project with one 120 s track of music (tests/e2e/lib/
// music.mjs) made ready, and its renditions A and B made once (marking on,
// the worker's mark_ab job); then BENCH_REPS rounds, each measuring a new
// listener with marking on and one with it off (switched by PUT …/mark, the
// order alternating per round), two ways:
//
// - browser: headless Chromium (playwright, as tests/browser) opens the share
//   link and the name prompt is filled; the clock starts when the name is
//   submitted (Enter): the page opens the guest view, asks for the mark
//   ticket when the project marks (POST …/mark), sets the player's src; the
//   bench clicks Play as soon as the src is set and the clock stops when the
//   audio element's currentTime is past 0 (the first sound is playing).
//   Includes playwright's round trips (the src poll and the click).
// - HTTP: a new cookie-less client: GET the guest view (signed URLs), POST
//   …/mark when the view says "marked", then GET the stream (`Range:
//   bytes=0-`) until the bytes before the mdat payload (ftyp, moov) and the
//   first 32,768 payload bytes (about 1 s of audio at 256 kbit/s: enough
//   for a decoder to start) have arrived; the connection is then closed.
//   Node's https client, a new TLS connection per request.
//
// One unmeasured listener of each kind first (marking on): the browser's
// first context and the server's first guest requests.
// Every measured listener must hear sound (browser) and get a 206 whose src
// carries a ticket exactly when marking is on, or the row fails. Prints
// markdown rows; with BENCH_GRADES set, one graded line (the browser
// median with marking on against 1 s).
import fs from 'node:fs';
import https from 'node:https';

import { Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from '../tests/e2e/lib/api.mjs';
import { musicWav } from '../tests/e2e/lib/music.mjs';
import { pathOf } from '../tests/e2e/lib/server.mjs';
import { launch, newContext } from '../tests/browser/lib.mjs';

const reps = Number(process.env.BENCH_REPS || 3);
const stats = (v) => { const s = [...v].sort((a, b) => a - b); const m = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; return { med: m, min: s[0], max: s[s.length - 1] }; };
const fails = [];
const phases = { on: [], off: [] }; // HTTP: [view, ticket, stream] ms per listener
const bphases = { on: [], off: [] }; // browser: [name -> src set, src set -> sound] ms
const srv = await startApi('sqlite');
const browser = await launch();

// Browser: name submitted -> currentTime > 0.
async function browserListen(url, name, marked) {
  const ctx = await newContext(browser);
  ctx.setDefaultTimeout(20000);
  try {
    const page = await ctx.newPage();
    await page.goto(url);
    await page.fill('#name-input', name);
    const t0 = Date.now();
    await page.locator('#name-input').press('Enter');
    await page.waitForFunction(() => window.audiomus?.player?.audio?.src, null, { polling: 5 });
    const tSrc = Date.now() - t0;
    const src = await page.evaluate(() => window.audiomus.player.audio.src);
    await page.locator('#play').click();
    const heard = await page.waitForFunction(() => {
      const a = window.audiomus.player.audio;
      return a.currentTime > 0 ? 'sound' : a.error ? 'error' : false;
    }, null, { timeout: 20000, polling: 5 }).then((h) => h.jsonValue(), () => 'nothing');
    const ms = Date.now() - t0;
    bphases[marked ? 'on' : 'off'].push([tSrc, ms - tSrc]);
    if (heard !== 'sound') fails.push(`browser (${marked ? 'on' : 'off'}): ${heard}`);
    if (src.includes('&mt=') !== marked) fails.push(`browser (${marked ? 'on' : 'off'}): src ${src.includes('&mt=') ? 'has' : 'lacks'} a ticket`);
    return ms;
  } finally {
    await ctx.close();
  }
}

// HTTP: view, ticket when marked, stream head + 32 KiB of mdat payload.
function firstBytes(p, want) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: srv.port, path: p, ca: srv.ca, servername: 'localhost', agent: false, headers: { Range: 'bytes=0-' } }, (res) => {
      if (res.statusCode !== 206) { res.resume(); resolve({ status: res.statusCode }); return; }
      let buf = Buffer.alloc(0), need = 0;
      res.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        if (!need) { // walk the top-level boxes to the mdat payload
          for (let off = 0; off + 16 <= buf.length;) {
            let size = buf.readUInt32BE(off), hdr = 8;
            if (size === 1) { size = Number(buf.readBigUInt64BE(off + 8)); hdr = 16; }
            if (buf.toString('latin1', off + 4, off + 8) === 'mdat') { need = off + hdr + want; break; }
            off += size;
          }
        }
        if (need && buf.length >= need) { resolve({ status: 206, bytes: buf.length }); req.destroy(); }
      });
      res.on('end', () => resolve({ status: 206, bytes: buf.length, short: true }));
    });
    req.on('error', (e) => { if (!req.destroyed) reject(e); });
    req.setTimeout(20000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function httpListen(token, name, marked) {
  const g = new Client(srv);
  const t0 = Date.now();
  const v = await g.get(`/api/v1/s/${token}`);
  const t1 = Date.now();
  let p = pathOf(v.json.tracks[0].versions[0].media.stream);
  if (v.json.project?.marked ?? v.json.marked) {
    const m = await g.post(`/api/v1/s/${token}/mark`, { name });
    p += `&mt=${m.json.ticket}`;
  }
  const t2 = Date.now();
  const r = await firstBytes(p, 32768);
  const ms = Date.now() - t0;
  phases[marked ? 'on' : 'off'].push([t1 - t0, t2 - t1, Date.now() - t2]);
  if (r.status !== 206 || r.short) fails.push(`HTTP (${marked ? 'on' : 'off'}): ${r.status}${r.short ? ', stream ended early' : ''}`);
  if (p.includes('&mt=') !== marked) fails.push(`HTTP (${marked ? 'on' : 'off'}): the view's "marked" was wrong`);
  return ms;
}

let code = 0;
try {
  const o = await newOwner(srv);
  const pr = await newProject(o, 'Bench first sound');
  const { vid } = await uploadTrack(o, pr.id, musicWav(120, { seed: 3 }), { title: 'Opener', timeout: 120000 });
  if ((await waitVersion(o, pr.id, vid, { ms: 300000, every: 250 })).state !== 'ready') throw new Error('transcode failed');
  const made = srv.waitLog((l) => l.event === 'job_done' && l.kind === 'mark_ab', 300000);
  const setMark = async (on) => { if ((await o.put(`/api/v1/projects/${pr.id}/mark`, { on })).status !== 200) throw new Error('PUT mark'); };
  await setMark(true);
  await made;
  const t = { bon: [], boff: [], hon: [], hoff: [] };
  let n = 0;
  // Warm-up, not counted: the browser's first context and the server's
  // first guest requests (marking is on here).
  await browserListen(pr.link.url, `Listener ${++n}`, true);
  await httpListen(pr.link.token, `Listener ${++n}`, true);
  phases.on.length = 0;
  bphases.on.length = 0;
  for (let i = 0; i < reps; i++) {
    for (const on of i % 2 ? [false, true] : [true, false]) {
      await setMark(on);
      t[on ? 'bon' : 'boff'].push(await browserListen(pr.link.url, `Listener ${++n}`, on));
      t[on ? 'hon' : 'hoff'].push(await httpListen(pr.link.token, `Listener ${++n}`, on));
    }
  }
  const f = (k) => { const s = stats(t[k]); return `${s.med} ms (${s.min}–${s.max})`; };
  const bad = fails.length ? ` — **FAIL**: ${[...new Set(fails)].join('; ')}` : '';
  console.log(`Load average at the end: ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}. ${reps} new listeners per mode, marking on and off alternating; medians, min–max in brackets. Track: 120 s of music (44.1 kHz 16-bit WAV upload; the plain stream keeps 44.1 kHz).`);
  console.log('\n| a new listener\'s time to first sound | marking on | marking off | target |\n|---|---|---|---|');
  console.log(`| browser (Chromium): name submitted → \`currentTime > 0\` (view, ticket when marked, src, Play, stream, decode)${bad} | ${f('bon')} | ${f('boff')} | < 1 s |`);
  console.log(`| HTTP: view + ticket (when marked) + stream head (ftyp, moov) and 32 KiB of mdat payload (≈ 1 s of audio)${bad} | ${f('hon')} | ${f('hoff')} | |`);
  const ph = (k) => [0, 1, 2].map((j) => stats(phases[k].map((x) => x[j])).med).join(' / ');
  const bph = (k) => [0, 1].map((j) => stats(bphases[k].map((x) => x[j])).med).join(' / ');
  console.log(`| … the browser row's phases, medians: name submitted → player src set (the page's view and ticket requests) / src set → \`currentTime > 0\` (Play clicked by playwright, the element's fetch, decode, start) (ms) | ${bph('on')} | ${bph('off')} | |`);
  console.log(`| … the HTTP row's phases, medians: view / ticket / stream head + 32 KiB (ms) | ${ph('on')} | ${ph('off')} | |`);
  const on = stats(t.bon).med;
  if (process.env.BENCH_GRADES) {
    fs.appendFileSync(process.env.BENCH_GRADES, `| a new listener's time to first sound < 1 s with marking on (browser, median of ${reps}) (26) | ${on} ms on, ${stats(t.boff).med} ms off | ${fails.length ? `**FAIL** (${[...new Set(fails)].join('; ')})` : on < 1000 ? 'met' : '**not met**'} |\n`);
  }
  if (fails.length) {
    code = 1;
    if (process.env.BENCH_FAILS) fs.appendFileSync(process.env.BENCH_FAILS, `wm_ttfs: ${[...new Set(fails)].join('; ')}\n`);
  }
} finally {
  await browser.close();
  await srv.stop();
}
process.exit(code);
