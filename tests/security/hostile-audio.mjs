// Hostile audio through the real worker (docs/security.md, threat "malicious
// uploader / hostile file"): every file of tests/fixtures/hostile/
// (tests/fixtures/make-hostile.sh; EXPECTED says which ones decode) is
// uploaded through the API and tus to `audiomus serve`, whose worker runs
// each job in the sandboxed transcoder child. Each file must end in one of
// the documented outcomes, and nothing else:
//   - `ready`, where EXPECTED says "ok";
//   - `failed` with exactly EXPECTED's error (the documented failed states);
//   - for an "unsupported format" file only, refused before any job with the
//     documented 4xx and its exact message: 400 'field "size" is too small
//     for an audio file' when the upload is asked for (docs/api.md), or 415
//     "… is not a supported audio format: …" from the tus PATCH (docs/media.md).
// Any other status is a failure of the test, a 5xx above all: it is the
// server breaking, not refusing. Every API request the test makes must
// succeed, and no request of the whole run may be answered 5xx (the server's
// access log is checked). The server must stay up and answer /healthz
// throughout, the process must not have died, and no stream or peaks object
// may be stored for a failure: the number of committed rendition and peaks
// objects equals the number of ready versions.
// usage: AUDIOMUS_BIN=... node --test tests/security/hostile-audio.mjs
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { FAST_ARGON, newOwner, newProject } from '../e2e/lib/api.mjs';
import { pathOf, raw, startServer } from '../e2e/lib/server.mjs';

const DIR = 'tests/fixtures/hostile';
const EXPECTED = Object.fromEntries(fs.readFileSync(path.join(DIR, 'EXPECTED'), 'utf8').trim().split('\n')
  .map((l) => l.split('\t')).filter((f) => f.length >= 2));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The only refusals that count as one: status and JSON "error" (docs/api.md:
// "400 (size < 12)", the message depending on whether the size is 0;
// docs/media.md: 415 after the sniff).
const REFUSED_AT_UPLOAD = { status: 400, error: /^field "size" (is too small for an audio file|must be an integer from 1 to \d+)$/ };
const REFUSED_BY_TUS = { status: 415, error: /^.+ is not a supported audio format: upload WAV, AIFF, FLAC, MP3, M4A\/AAC or Ogg\/Opus$/ };

// A refusal is documented if its status and message are exactly `want`;
// otherwise the outcome names what came back (a 5xx is "server error").
function refusal(r, want, where) {
  let error;
  try { error = JSON.parse(Buffer.isBuffer(r.body) ? r.body.toString('utf8') : r.body).error; } catch { error = undefined; }
  const what = r.status >= 500 ? 'server error' : 'undocumented answer';
  if (r.status === want.status && typeof error === 'string' && want.error.test(error)) return { outcome: `refused ${where}`, status: r.status, error };
  return { outcome: `${what} ${where}`, status: r.status, error: error ?? String(r.body).slice(0, 80), bad: true };
}

function committed(dataDir, ns) {
  const d = path.join(dataDir, 'objects', ns);
  if (!fs.existsSync(d)) return 0;
  return fs.readdirSync(d, { recursive: true }).filter((f) => /^[0-9a-f]{32}(\.[a-z0-9]+)?$/.test(path.basename(f))).length;
}

test('hostile audio: every file fails (or decodes) in the sandbox, the server stays up, failures store no output', { timeout: 420000 }, async () => {
  const files = fs.readdirSync(DIR).filter((f) => f !== 'EXPECTED' && EXPECTED[f] && (!process.env.HOSTILE_ONLY || f.includes(process.env.HOSTILE_ONLY))).sort();
  assert.ok(process.env.HOSTILE_ONLY || files.length >= 20, `hostile corpus present (${files.length} files)`);
  const srv = await startServer({ args: [...FAST_ARGON] });
  const results = [];
  try {
    // Uploads are limited per account (30, then 1 per 2 s): one owner per 15 files.
    const owners = [];
    for (let i = 0; i < files.length; i += 15) {
      const o = await newOwner(srv);
      owners.push({ o, p: await newProject(o, `Hostile ${i}`) });
    }
    const pending = [];
    for (const [i, f] of files.entries()) {
      const { o, p } = owners[Math.floor(i / 15)];
      const bytes = fs.readFileSync(path.join(DIR, f));
      const tr = await o.post(`/api/v1/projects/${p.id}/tracks`, { title: f });
      assert.equal(tr.status, 201, `${f}: create track: ${tr.status} ${tr.body}`);
      const tid = tr.json.track.id;
      let up;
      for (let tries = 0; tries < 5; tries++) {
        up = await o.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: f, size: bytes.length });
        if (up.status !== 429) break;
        await sleep(1000 * Number(up.headers['retry-after'] || 1));
      }
      if (up.status !== 201) {
        // Only a file shorter than the 12 bytes the sniffer needs is refused here.
        const why = refusal(up, REFUSED_AT_UPLOAD, 'at upload');
        results.push({ f, ...why, ...(bytes.length >= 12 && !why.bad ? { bad: true, error: `${why.error} (for ${bytes.length} bytes)` } : {}) });
        continue;
      }
      const r = await raw(srv, 'PATCH', pathOf(up.json.upload_url), {
        'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': bytes.length,
      }, bytes);
      if (r.status !== 204) { results.push({ f, ...refusal(r, REFUSED_BY_TUS, 'by tus') }); continue; }
      pending.push({ f, o, pid: p.id, vid: up.json.version.id });
    }
    // Wait for every job; /healthz must answer all along.
    const t0 = Date.now();
    while (pending.length && Date.now() - t0 < Number(process.env.HOSTILE_WAIT_MS || 300000)) {
      const h = await raw(srv, 'GET', '/healthz');
      assert.equal(h.status, 200, 'healthz while hostile jobs run');
      for (const owner of owners) {
        const pr = await owner.o.get(`/api/v1/projects/${owner.p.id}`);
        assert.equal(pr.status, 200, `project poll: ${pr.status} ${pr.body}`);
        const versions = new Map();
        for (const t of pr.json.tracks || pr.json.project?.tracks || []) for (const v of t.versions) versions.set(v.id, v);
        for (const j of [...pending]) {
          const v = versions.get(j.vid);
          if (v) j.last = v;
          if (!v || !["ready", "failed"].includes(v.state)) continue;
          results.push({ f: j.f, outcome: v.state, error: v.error || '' });
          pending.splice(pending.indexOf(j), 1);
        }
      }
      await sleep(200);
    }
    if (pending.length) console.log(srv.logs.filter((l) => l.event !== "access").slice(-40).map((l) => `# ${JSON.stringify(l)}`).join('\n'));
    assert.deepEqual(pending.map((j) => `${j.f}: ${JSON.stringify(j.last)}`), [], 'jobs still unfinished after 300 s (hang past the timeout?)');
    assert.equal(srv.proc.exitCode, null, 'serve is still running');
    assert.equal(srv.proc.signalCode, null, 'serve was not killed by a signal');
    assert.equal((await raw(srv, 'GET', '/healthz')).status, 200);

    const wrong = [];
    for (const r of results) {
      const want = EXPECTED[r.f];
      const st = r.status ? ` ${r.status}` : '';
      console.log(`# ${r.f}: ${r.outcome}${st}${r.error ? ` (${r.error})` : ''}; EXPECTED ${want}`);
      if (r.bad) wrong.push(`${r.f}: ${r.outcome}: ${r.status} "${r.error}" is no documented refusal`);
      else if (want === 'ok' && r.outcome !== 'ready') wrong.push(`${r.f} should decode: ${r.outcome}${st} ${r.error || ''}`);
      else if (want !== 'ok' && r.outcome === 'ready') wrong.push(`${r.f} should fail (${want}) but is ready`);
      else if (want !== 'ok' && r.outcome === 'failed' && r.error !== want) wrong.push(`${r.f} failed with "${r.error}", EXPECTED "${want}"`);
      else if (want !== 'ok' && r.outcome.startsWith('refused') && want !== 'unsupported format') wrong.push(`${r.f} refused${st} before any job, but EXPECTED "${want}" (only an unsupported format may be refused)`);
    }
    assert.deepEqual(wrong, []);
    const errors5xx = srv.logs.filter((l) => l.event === 'access' && /^5/.test(String(l.status))).map((l) => `${l.method} ${l.path} ${l.status}`);
    assert.deepEqual(errors5xx, [], 'no request of the run answered 5xx');
    const ready = results.filter((r) => r.outcome === 'ready').length;
    assert.equal(committed(srv.dataDir, 'stream'), ready, 'one rendition per ready version, none for failures');
    assert.equal(committed(srv.dataDir, 'peaks'), ready, 'one peaks object per ready version, none for failures');
    const crashes = srv.logs.filter((l) => /crash|abort|segv|sanitizer/i.test(JSON.stringify(l)) && !/child|sandbox|seccomp|killed/i.test(JSON.stringify(l)));
    assert.deepEqual(crashes, [], 'no crash reported by the worker parent');
  } finally {
    await srv.stop();
  }
});
