// The cluster test (issue 10, docs/deploy.md "Scale-out"): on loopback, one
// fresh PostgreSQL database, one fresh prefix in the Swift s3api bucket,
// 2 `audiomus web` + 2 `audiomus media` + 2 `audiomus worker` processes
// sharing one config file and one master key, a TCP round-robin balancer in
// front of the web pair and one in front of the media pair.
//
// Under a steady load of tus uploads (owners), Range plays of the rendition
// through signed URLs and guest comments, one web, one media and one worker
// node are killed with SIGKILL at random moments and restarted. Then:
//   - every acknowledged upload is intact: the original downloaded through
//     the media role has the SHA-256 the client computed;
//   - every acknowledged comment is there, with its body;
//   - every transcode job finished exactly once: done, one job per version,
//     one stream and one peaks object per version, and the job running on
//     the killed worker was retried (attempts >= 2);
//   - no client saw 5xx or cut connections for longer than the longest
//     restart plus a margin (a correctness bound, not a performance figure);
//   - every object in the bucket is AM1 ciphertext: no audio signature, no
//     PCM marker of any uploaded file; every stored object row has its object;
//   - the nodes' data directories stay empty: the state is in PostgreSQL, the
//     object store and the master key file only.
// Needs AUDIOMUS_TEST_PG_URL and AUDIOMUS_TEST_S3_URL (+ AUDIOMUS_S3_* keys):
// scripts/test-all starts both; `make test-cluster` runs this directory.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { Client, PASSWORD, freshPgDatabase } from '../e2e/lib/api.mjs';
import { wav } from '../e2e/lib/audio.mjs';
import { pathOf, raw, testBin } from '../e2e/lib/server.mjs';
import { freePort, startBalancer } from './lib/lb.mjs';
import { Node, run } from './lib/nodes.mjs';
import { s3FromEnv } from './lib/s3.mjs';

const HAVE = process.env.AUDIOMUS_TEST_PG_URL && process.env.AUDIOMUS_TEST_S3_URL;
const LOAD_MS = 40000;        // steady load
const DRAIN_MS = 75000;       // after it: finish started uploads (a killed media node's upload lease is 60 s)
const MARGIN_MS = 15000;      // allowed beyond the longest restart for a client's failure streak
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (a, b) => a + Math.random() * (b - a);
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

// A 16-bit stereo WAV: a sine with noise, and a unique marker in the PCM
// every 4 KiB (searched for in the bucket afterwards).
function noisyWav(seconds, marker) {
  const f = rand(200, 900), noise = crypto.randomBytes(Math.round(seconds * 44100));
  return wav(seconds, { marker, sample: (i) => Math.round(9000 * Math.sin((2 * Math.PI * f * i) / 44100)) + noise[i] * 8 - 1024 });
}

// One HTTPS request to the media balancer, from a chosen loopback address. A
// body cut short (the node died mid-response) rejects like a reset.
const lbRaw = (lb, ca, localAddress, method, p, headers = {}, body) => raw({ port: lb.port, ca }, method, p, headers, body, { localAddress, timeout: 20000, whole: true });

// What one load client saw: its failure streaks (5xx or a cut/refused
// connection), from the first failure to the next success.
class Tally {
  constructor(name) { this.name = name; this.streaks = []; this.cur = null; this.ok_ = 0; this.fails = 0; }
  ok() { this.ok_++; if (this.cur) { this.streaks.push(this.cur); this.cur = null; } }
  fail(what, why) {
    const now = Date.now();
    this.fails++;
    if (!this.cur) this.cur = { first: now, last: now, what, why, n: 1 };
    else { this.cur.last = now; this.cur.n++; }
  }
  close() { if (this.cur) { this.cur.open = true; this.cur.last = Date.now(); this.streaks.push(this.cur); this.cur = null; } }
}

// Retry fn with jittered backoff while it fails (throws or answers 5xx);
// anything else goes back to the caller.
async function call(tally, what, fn, deadline) {
  for (let n = 0; ; n++) {
    let r = null, err = null;
    try { r = await fn(); } catch (e) { err = e; }
    if (!err && r.status < 500) { tally.ok(); return r; }
    tally.fail(what, err ? (err.code || err.message) : r.status);
    if (Date.now() > deadline) throw new Error(`${tally.name}: ${what} still failing at the deadline: ${err ? err.message : r.status}`);
    await sleep(Math.min(2000, 100 * 2 ** n) * rand(0.5, 1));
  }
}

test('cluster: 2 web + 2 media + 2 workers on PostgreSQL and S3; kill -9 one of each under load', { skip: !HAVE && 'needs AUDIOMUS_TEST_PG_URL and AUDIOMUS_TEST_S3_URL', timeout: 280000 }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-cluster-'));
  const pg = freshPgDatabase('am_cluster');
  const storage = `${process.env.AUDIOMUS_TEST_S3_URL}&prefix=cluster-${process.pid}-${crypto.randomBytes(4).toString('hex')}/`;
  const { s3, prefix } = s3FromEnv(storage);
  const nodes = [];
  const lbs = [];
  const cleanup = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(lbs.map((l) => l.close()));
    pg.drop();
    for (const o of await s3.list(prefix).catch(() => [])) await s3.del(o.key).catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  try {
    // --- one config, one master key, one certificate for every node -------
    const shared = path.join(tmp, 'shared');
    const init = run(['init', '--data', shared, '--set', `database=${pg.url}`]);
    assert.equal(init.code, 0, init.stderr);
    const webPorts = [await freePort(), await freePort()];
    const mediaPorts = [await freePort(), await freePort()];
    const webLb = await startBalancer('web', webPorts);
    const mediaLb = await startBalancer('media', mediaPorts);
    lbs.push(webLb, mediaLb);
    const config = path.join(tmp, 'audiomus.conf');
    fs.writeFileSync(config, [
      `key_file = ${shared}.key`,
      `tls_cert = ${shared}/tls/cert.pem`,
      `tls_key = ${shared}/tls/key.pem`,
      `database = ${pg.url}`,
      `storage = "${storage}"`,
      `public_url = https://127.0.0.1:${webLb.port}`,
      'threads = 2',
      'shutdown_grace = 5s',
      'argon2_opslimit = 2',
      'argon2_memlimit = 8M',
      '',
    ].join('\n'));
    const chk = run(['check-config', '--config', config, '--data', shared]);
    assert.equal(chk.code, 0, `check-config: ${chk.stdout}${chk.stderr}`);
    // The workers are the test build with a 3 s lease (a killed worker's job
    // is reclaimed in seconds); web and media are the binary under test.
    const hooks = { AUDIOMUS_TESTING: '1', AUDIOMUS_TEST_WORKER_LEASE_MS: '3000' };
    const mk = (name, role, port) => {
      const dataDir = path.join(tmp, `node-${name}`);
      fs.mkdirSync(dataDir, { mode: 0o700 });
      const worker = role === 'worker';
      const n = new Node(name, role, { config, dataDir, port, env: worker ? hooks : {}, bin: worker ? testBin() : undefined });
      nodes.push(n);
      return n;
    };
    const webs = webPorts.map((p, i) => mk(`web${i + 1}`, 'web', p));
    const medias = mediaPorts.map((p, i) => mk(`media${i + 1}`, 'media', p));
    const workers = [mk('worker1', 'worker'), mk('worker2', 'worker')];
    await Promise.all(nodes.map((n) => n.start()));
    const ca = fs.readFileSync(`${shared}/tls/cert.pem`);
    const site = { port: webLb.port, ca, origin: `https://127.0.0.1:${webLb.port}` };

    // --- owners, projects, share links -----------------------------------
    const projects = [];
    for (const [i, ip] of ['127.0.0.2', '127.0.0.3'].entries()) {
      const email = `cluster-owner${i}-${crypto.randomBytes(3).toString('hex')}@example.org`;
      const u = run(['user', 'add', email, '--config', config, '--data', shared], { input: `${PASSWORD}\n` });
      assert.equal(u.code, 0, u.stderr);
      const owner = new Client(site, { localAddress: ip });
      assert.equal((await owner.login(email)).status, 200);
      const p = await owner.post('/api/v1/projects', { title: `Cluster EP ${i}` });
      assert.equal(p.status, 201, p.body);
      projects.push({ owner, ip, id: p.json.project.id, token: p.json.project.link.token });
    }

    const t0 = Date.now();
    const loadEnd = t0 + LOAD_MS;
    const drainEnd = loadEnd + DRAIN_MS;
    const tallies = [];
    const uploads = [];   // acknowledged: {pid, vid, sha, marker}
    const comments = [];  // acknowledged: {token, id, body}
    const stat = { plays: 0, leaseWaits: 0, limited: 0, uploadsLost: 0, emptyPatch: {} };

    // --- owners: tus uploads in two PATCHes through the media balancer ----
    const tus = (tally, url, off, chunk) => lbRaw(mediaLb, ca, tally.ip, 'PATCH', pathOf(url), {
      'Tus-Resumable': '1.0.0', 'Upload-Offset': String(off), 'Content-Type': 'application/offset+octet-stream', 'Content-Length': chunk.length,
    }, chunk);
    async function versionState(pr, tally, vid) {
      const r = await call(tally, 'project', () => pr.owner.get(`/api/v1/projects/${pr.id}`), drainEnd);
      for (const tr of r.json.tracks || r.json.project?.tracks || []) for (const v of tr.versions) if (v.id === vid) return v.state;
      return null;
    }
    // Resolves true once the server acknowledged the whole file.
    async function upload(pr, tally, url, vid, bytes) {
      const len = bytes.length, half = Math.floor(len / 2);
      let off = 0;
      for (let n = 0; Date.now() < drainEnd; n++) {
        const end = off < half ? half : len;
        let r = null, err = null;
        try { r = await tus(tally, url, off, bytes.subarray(off, end)); } catch (e) { err = e; }
        if (off === len) { const k = err ? (err.code || err.message) : r.status; stat.emptyPatch[k] = (stat.emptyPatch[k] || 0) + 1; }
        if (!err && r.status === 204) {
          tally.ok();
          off = Number(r.headers['upload-offset']);
          if (off === len) return true;
          n = -1;
          continue;
        }
        if (err || r.status >= 500) tally.fail('PATCH', err ? (err.code || err.message) : r.status);
        else if (r.status === 409) stat.leaseWaits++; // a killed node's lease on the upload (60 s)
        else if (r.status === 404) return (await versionState(pr, tally, vid)) !== 'uploading';
        else throw new Error(`PATCH: ${r.status} ${r.headers['upload-error']}`);
        await sleep(Math.min(3000, 100 * 2 ** n) * rand(0.5, 1));
        const h = await call(tally, 'HEAD', () => lbRaw(mediaLb, ca, tally.ip, 'HEAD', pathOf(url), { 'Tus-Resumable': '1.0.0' }), drainEnd);
        if (h.status === 404) return (await versionState(pr, tally, vid)) !== 'uploading';
        assert.equal(h.status, 200, `HEAD: ${h.status}`);
        off = Number(h.headers['upload-offset']);
        // off === len: every byte is stored but no 204 confirmed completion;
        // the empty PATCH the loop sends next completes it (or 404: done).
      }
      return false;
    }
    async function uploader(pr) {
      const tally = new Tally(`uploader ${pr.ip}`);
      tally.ip = pr.ip;
      tallies.push(tally);
      for (let i = 0; Date.now() < loadEnd; i++) {
        const marker = `AMCLUSTERPCM${crypto.randomBytes(8).toString('hex')}`;
        const bytes = noisyWav(rand(1, 2.5), marker);
        const tr = await call(tally, 'create track', () => pr.owner.post(`/api/v1/projects/${pr.id}/tracks`, { title: `Take ${i}` }), drainEnd);
        if (tr.status === 429) { stat.limited++; await sleep(2000); continue; }
        assert.equal(tr.status, 201, tr.body);
        const up = await call(tally, 'create upload', () => pr.owner.post(`/api/v1/projects/${pr.id}/tracks/${tr.json.track.id}/uploads`, { filename: `take-${i}.wav`, size: bytes.length }), drainEnd);
        if (up.status === 429) { stat.limited++; await sleep(2000); continue; }
        assert.equal(up.status, 201, up.body);
        const vid = up.json.version.id;
        if (await upload(pr, tally, up.json.upload_url, vid, bytes)) uploads.push({ pr, vid, sha: sha256(bytes), marker, size: bytes.length });
        else stat.uploadsLost++;
        await sleep(rand(100, 400));
      }
    }

    // Ready versions of a project, as a guest sees them (web balancer).
    async function guestView(guest, tally, pr) {
      const r = await call(tally, 'guest view', () => guest.get(`/api/v1/s/${pr.token}`), drainEnd);
      assert.equal(r.status, 200, r.body);
      return r.json;
    }

    // --- guests: Range plays of the rendition through signed URLs ---------
    async function player(ip) {
      const tally = new Tally(`player ${ip}`);
      tallies.push(tally);
      const guest = new Client(site, { localAddress: ip });
      const whole = new Map();
      while (Date.now() < loadEnd) {
        const versions = (await guestView(guest, tally, pick(projects))).tracks.flatMap((tr) => tr.versions);
        if (!versions.length) { await sleep(300); continue; }
        const v = pick(versions);
        const url = pathOf(v.media.stream);
        if (!whole.has(v.id)) {
          const r = await call(tally, 'stream', () => lbRaw(mediaLb, ca, ip, 'GET', url), drainEnd);
          assert.equal(r.status, 200);
          assert.equal(r.body.subarray(4, 8).toString('latin1'), 'ftyp');
          whole.set(v.id, r.body);
        }
        const b = whole.get(v.id);
        const a = Math.floor(rand(0, b.length - 1)), e = Math.min(b.length - 1, a + Math.floor(rand(1, 65536)));
        const r = await call(tally, 'range', () => lbRaw(mediaLb, ca, ip, 'GET', url, { Range: `bytes=${a}-${e}` }), drainEnd);
        assert.equal(r.status, 206);
        assert.equal(r.headers['content-range'], `bytes ${a}-${e}/${b.length}`);
        assert.ok(r.body.equals(b.subarray(a, e + 1)), 'a range differs from the whole rendition');
        stat.plays++;
        await sleep(rand(50, 250));
      }
    }

    // --- guests: comments on ready versions -------------------------------
    async function commenter(ip) {
      const tally = new Tally(`commenter ${ip}`);
      tallies.push(tally);
      const guest = new Client(site, { localAddress: ip });
      for (let i = 0; Date.now() < loadEnd; i++) {
        const pr = pick(projects);
        const versions = (await guestView(guest, tally, pr)).tracks.flatMap((tr) => tr.versions);
        if (!versions.length) { await sleep(300); continue; }
        const body = `comment ${i} from ${ip} ${crypto.randomBytes(6).toString('hex')}`;
        const r = await call(tally, 'comment', () => guest.post(`/api/v1/s/${pr.token}/comments`, { name: `Guest ${ip}`, body, version_id: pick(versions).id, time_ms: 500 }), drainEnd);
        if (r.status === 429) stat.limited++;
        else { assert.equal(r.status, 201, r.body); comments.push({ pr, id: r.json.comment.id, body }); }
        await sleep(rand(2500, 4000));
      }
    }

    // --- chaos: kill -9 one web, one media, one worker, restart each ------
    const restarts = [];
    async function chaos(pool, at) {
      await sleep(at);
      let n = pick(pool), job = null;
      if (pool === workers) { // wait (a little) for a worker in the middle of a job
        for (const until = Date.now() + 10000; Date.now() < until; await sleep(50)) {
          const busy = workers.filter((w) => w.runningJob());
          if (busy.length) { n = pick(busy); job = n.runningJob().job; break; }
        }
      }
      const killed = Date.now();
      await n.kill9();
      await sleep(rand(300, 2000));
      await n.start();
      restarts.push({ node: n.name, job, ms: Date.now() - killed, at: killed - t0 });
    }

    await Promise.all([
      ...projects.map((pr) => uploader(pr)),
      player('127.0.0.4'), player('127.0.0.5'),
      commenter('127.0.0.6'), commenter('127.0.0.7'), commenter('127.0.0.8'),
      chaos(medias, rand(3000, 12000)), chaos(webs, rand(4000, 25000)), chaos(workers, rand(5000, 22000)),
    ]);
    for (const ta of tallies) ta.close();
    const loadDone = Date.now();
    t.diagnostic(`load: ${((loadDone - t0) / 1000).toFixed(1)} s, ${uploads.length} uploads, ${stat.plays} plays, ${comments.length} comments; ` +
      `restarts ${JSON.stringify(restarts)}; ${JSON.stringify(stat)}; balancers web ${JSON.stringify(webLb.stats)} media ${JSON.stringify(mediaLb.stats)}`);
    assert.equal(restarts.length, 3, 'three nodes were killed and restarted');
    assert.ok(uploads.length >= 4, `only ${uploads.length} uploads acknowledged`);
    assert.ok(comments.length >= 3, `only ${comments.length} comments acknowledged`);
    assert.ok(stat.plays >= 10, `only ${stat.plays} plays`);

    // --- 5xx / cut connections never outlast a restart --------------------
    const bound = Math.max(...restarts.map((r) => r.ms)) + MARGIN_MS;
    for (const ta of tallies) {
      for (const s of ta.streaks) {
        const ms = s.last - s.first;
        t.diagnostic(`${ta.name}: ${s.n} failure(s) over ${ms} ms from ${s.first - t0} ms (${s.what}: ${s.why})`);
        assert.ok(!s.open && ms <= bound, `${ta.name} saw failures for ${ms} ms (bound ${bound} ms): ${JSON.stringify(s)}`);
      }
    }

    // --- every transcode job ran to completion ----------------------------
    const jobsLeft = () => Number(pg.query("SELECT count(*) FROM jobs WHERE kind = 'transcode' AND state IN ('queued', 'running')")[0][0]);
    for (const until = Date.now() + 90000; jobsLeft() > 0; await sleep(250))
      assert.ok(Date.now() < until, `transcode jobs still pending: ${JSON.stringify(pg.query('SELECT state, attempts, last_error FROM jobs'))}`);
    const vhex = "encode(version_id, 'hex')";
    const jobs = pg.query(`SELECT convert_from(payload, 'UTF8')::json->>'version', state, attempts, coalesce(last_error, ''), encode(id, 'hex') FROM jobs WHERE kind = 'transcode'`);
    const jobOf = new Map();
    for (const [vid, state, attempts, lastError, id] of jobs) {
      assert.equal(state, 'done', `job ${id} of version ${vid}: ${state} after ${attempts} attempts (${lastError})`);
      assert.ok(Number(attempts) >= 1);
      assert.ok(!jobOf.has(vid), `two transcode jobs for version ${vid}`);
      jobOf.set(vid, { attempts: Number(attempts), id });
    }
    const outputs = pg.query(`SELECT ${vhex}, kind, count(*) FROM objects WHERE state = 'ready' GROUP BY 1, 2`);
    const count = new Map(outputs.map(([v, k, n]) => [`${v}/${k}`, Number(n)]));
    for (const vid of jobOf.keys())
      for (const kind of ['original', 'stream', 'peaks']) assert.equal(count.get(`${vid}/${kind}`), 1, `version ${vid}: ${count.get(`${vid}/${kind}`)} ${kind} objects`);
    assert.equal(outputs.filter(([, k]) => k === 'stream').length, jobOf.size, 'a rendition without its job');
    const states = pg.query('SELECT encode(id, \'hex\'), state FROM track_versions');
    for (const [vid, state] of states) if (jobOf.has(vid)) assert.equal(state, 'ready', `version ${vid} is ${state}`);
    const killedJob = restarts.find((r) => r.job)?.job;
    if (killedJob) {
      const [[state, attempts]] = pg.query(`SELECT state, attempts FROM jobs WHERE id = decode('${killedJob}', 'hex')`);
      assert.equal(state, 'done');
      assert.ok(Number(attempts) >= 2, `the killed worker's job ran ${attempts} time(s)`);
    }
    t.diagnostic(`${jobOf.size} transcode jobs done once each; attempts > 1: ${[...jobOf.values()].filter((j) => j.attempts > 1).length}; killed job ${killedJob || '(worker was idle)'}`);

    // --- every acknowledged upload is intact (original through media) -----
    const audit = new Tally('audit');
    for (const u of uploads) {
      assert.ok(jobOf.has(u.vid), `acknowledged upload ${u.vid} has no transcode job`);
      const guest = new Client(site, { localAddress: '127.0.0.9' });
      const view = await guestView(guest, audit, u.pr);
      const v = view.tracks.flatMap((tr) => tr.versions).find((x) => x.id === u.vid);
      assert.ok(v, `acknowledged upload ${u.vid} is not listed as ready`);
      const r = await call(audit, 'download', () => lbRaw(mediaLb, ca, '127.0.0.9', 'GET', pathOf(v.media.download)), Date.now() + 30000);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, u.size);
      assert.equal(sha256(r.body), u.sha, `original of ${u.vid} differs from what was uploaded`);
    }

    // --- every acknowledged comment is there -------------------------------
    for (const pr of projects) {
      const have = new Map((await guestView(new Client(site, { localAddress: '127.0.0.9' }), audit, pr)).comments.map((c) => [c.id, c.body]));
      for (const c of comments.filter((x) => x.pr === pr)) assert.equal(have.get(c.id), c.body, `comment ${c.id} missing or changed`);
    }

    // --- the bucket holds only AM1 ciphertext ------------------------------
    const objects = await s3.list(prefix);
    const stored = new Set(objects.map((o) => o.key.slice(prefix.length)));
    for (const [key] of pg.query("SELECT store_key FROM objects WHERE state = 'ready'")) assert.ok(stored.has(key), `object ${key} is recorded but not in the bucket`);
    const AM1 = Buffer.from('AM1SEG\0\0', 'latin1');
    const anywhere = ['WAVEfmt ', 'ftypisom', 'ftypM4A ', 'ftypmp42', 'ftypdash', 'ID3\x03\x00', 'ID3\x04\x00', ...uploads.map((u) => u.marker)].map((m) => Buffer.from(m, 'latin1'));
    const atStart = [['RIFF', 0], ['fLaC', 0], ['ID3', 0], ['OggS', 0], ['ftyp', 4], ['RIFF', 48], ['fLaC', 48], ['OggS', 48], ['ftyp', 52]];
    let bytes = 0;
    for (const o of objects) {
      assert.match(o.key.slice(prefix.length), /^[a-z0-9]{1,16}\/[0-9a-f]{32}(\.[a-z0-9]{1,8})?$/, `unexpected name ${o.key}`);
      const b = await s3.get(o.key);
      bytes += b.length;
      assert.ok(b.subarray(0, 8).equals(AM1), `${o.key} is not an AM1 object`);
      for (const m of anywhere) assert.equal(b.indexOf(m), -1, `${JSON.stringify(m.toString('latin1'))} inside ${o.key}`);
      for (const [m, off] of atStart) assert.ok(!b.subarray(off, off + m.length).equals(Buffer.from(m, 'latin1')), `${m} at ${off} in ${o.key}`);
    }
    const orphans = objects.filter((o) => /\/stream\//.test(`/${o.key.slice(prefix.length)}`)).length - jobOf.size;
    t.diagnostic(`bucket: ${objects.length} objects, ${(bytes / 1048576).toFixed(1)} MiB, all AM1; renditions not in the database (a killed attempt's, left for gc): ${orphans}`);

    // --- nothing on the nodes -----------------------------------------------
    for (const n of nodes) assert.deepEqual(fs.readdirSync(n.dataDir), [], `${n.name} wrote into its data directory`);
  } catch (e) {
    for (const n of nodes) t.diagnostic(`--- ${n.name} (started ${n.starts}x) ---\n${n.tail(20)}`);
    throw e;
  } finally {
    await cleanup();
  }
});
