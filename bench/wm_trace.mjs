// Tracer time for a 45 s excerpt (issue 26, docs/watermark.md "Tracer";
// run by bench/wm_trace.sh): a server (the e2e harness: SQLite), a project
// with marking on and one listening, 60 s of music marked for it
// (`audiomus watermark embed --project --mark`), a 45 s excerpt from 7.3 s
// as WAV and as MP3 128 kbit/s; then BENCH_REPS traces of each through
// `audiomus watermark trace` (wall clock of the whole command: start-up,
// keys, the sandboxed child's decode and detection, the decision) and
// through the web tracer (the signed URL's POST to the media role). Every
// trace must name the listener, or the row fails. Prints markdown rows.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Client, FAST_ARGON, newOwner, newProject, startApi } from '../tests/e2e/lib/api.mjs';
import { musicWav } from '../tests/e2e/lib/music.mjs';
import { BIN, pathOf, raw } from '../tests/e2e/lib/server.mjs';

const reps = Number(process.env.BENCH_REPS || 3);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-bench-trace-'));
const at = (n) => path.join(dir, n);
const ff = (...a) => { const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...a]); if (r.status) throw new Error('ffmpeg'); };
const stats = (v) => { const s = [...v].sort((a, b) => a - b); return { med: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] }; };
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;
const srv = await startApi('sqlite');
let failed = 0;
try {
  const owner = await newOwner(srv);
  const p = await newProject(owner, 'Bench');
  await owner.put(`/api/v1/projects/${p.id}/mark`, { on: true });
  const m = await new Client(srv).post(`/api/v1/s/${p.link.token}/mark`, { name: 'Bench Listener' });
  const mark = m.json.ticket.split('.')[5];
  const db = ['--data', srv.dataDir, ...FAST_ARGON];
  fs.writeFileSync(at('orig.wav'), musicWav(60, { seed: 3 }));
  spawnSync(BIN, ['watermark', 'embed', '--project', p.id, '--mark', mark, at('orig.wav'), at('l.wav'), ...db]);
  ff('-ss', '7.3', '-t', '45', '-i', at('l.wav'), at('x.wav'));
  ff('-ss', '7.3', '-t', '45', '-i', at('l.wav'), '-c:a', 'libmp3lame', '-b:a', '128k', at('x.mp3'));
  const rows = [];
  for (const f of ['x.wav', 'x.mp3']) {
    const cli = [], web = [];
    for (let i = 0; i < reps; i++) {
      let t0 = Date.now();
      const r = spawnSync(BIN, ['watermark', 'trace', '--project', p.id, at(f), ...db], { encoding: 'utf8' });
      cli.push(Date.now() - t0);
      if (r.status !== 0 || JSON.parse(r.stdout).reviewer !== 'Bench Listener') failed++;
      const u = await owner.post(`/api/v1/projects/${p.id}/trace`, {});
      t0 = Date.now();
      const w = await raw(srv, 'POST', pathOf(u.json.url), { 'Content-Type': 'application/octet-stream' }, fs.readFileSync(at(f)));
      web.push(Date.now() - t0);
      if (w.status !== 200 || JSON.parse(w.body).reviewer !== 'Bench Listener') failed++;
    }
    const c = stats(cli), w = stats(web);
    rows.push(`| tracer, 45 s excerpt (${f.endsWith('mp3') ? 'MP3 128 kbit/s' : '16-bit WAV'}), \`audiomus watermark trace\` | ${fmt(c.med)} | ${fmt(c.min)}–${fmt(c.max)} | ${reps} |`);
    rows.push(`| tracer, 45 s excerpt (${f.endsWith('mp3') ? 'MP3 128 kbit/s' : '16-bit WAV'}), web (\`POST /m/trace\`) | ${fmt(w.med)} | ${fmt(w.min)}–${fmt(w.max)} | ${reps} |`);
  }
  console.log('\n### Tracer (issue 26)\n\n| what (wall clock, listener named every time) | median | min–max | runs |\n|---|---|---|---|');
  for (const r of rows) console.log(failed ? r.replace(/\| (\d+) \|$/, `| $1 — **FAIL**: ${failed} traces did not name the listener |`) : r);
  console.log(`\nLoad average at the end: ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}.`);
  if (failed && process.env.BENCH_FAILS) fs.appendFileSync(process.env.BENCH_FAILS, `wm_trace: ${failed} traces did not name the listener\n`);
} finally {
  await srv.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
