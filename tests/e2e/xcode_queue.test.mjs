// The transcode queue as the owner sees it (issue 23, docs/api.md "Tracks
// and uploads"): each queued version's place in line, counted over every
// account's transcode jobs in the workers' claim order. A web and a media
// process on one data directory and no worker at all, so the jobs stay
// queued: project A's first upload, project B's (another owner), A's second
// → A's versions are 1st and 3rd, B's 2nd; a guest's view has no places.
// On SQLite, and on PostgreSQL when configured.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, FAST_ARGON, PASSWORD, freshPgDatabase, newProject, uploadTrack, userCli } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { BIN, initDataDir } from './lib/server.mjs';

async function startRole(procs, role, dataDir, dbArgs) {
  const proc = spawn(BIN, [role, '--data', dataDir, '--listen', '127.0.0.1:0', ...FAST_ARGON, ...dbArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(proc);
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => { err += c; });
  let m;
  for (const t0 = Date.now(); !(m = err.match(/"event":"listening"[^\n]*"port":"(\d+)"/));) {
    assert.ok(Date.now() - t0 < 20000 && proc.exitCode === null, `${role} did not start: ${err}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  const port = Number(m[1]);
  return { port, origin: `https://127.0.0.1:${port}`, ca: fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem')), dataDir, dbArgs };
}

async function owner(web, n) {
  const email = `queue${n}@example.org`;
  assert.equal(userCli(web, ['add', email], `${PASSWORD}\n`).code, 0);
  const c = new Client(web);
  assert.equal((await c.login(email)).status, 200);
  return c;
}

for (const backend of BACKENDS) {
  describe(`transcode queue (${backend})`, () => {
    const procs = [];
    let tmp, web, media, pg;

    before(async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-e2e-queue-'));
      const dataDir = path.join(tmp, 'data');
      initDataDir(dataDir);
      if (backend === 'postgresql') pg = freshPgDatabase('am_queue');
      const dbArgs = pg ? ['--set', `database=${pg.url}`] : [];
      web = await startRole(procs, 'web', dataDir, dbArgs);
      media = await startRole(procs, 'media', dataDir, dbArgs);
    });

    after(async () => {
      for (const p of procs) {
        if (p.exitCode === null) p.kill('SIGTERM');
        await new Promise((res) => (p.exitCode !== null ? res() : p.on('exit', res)));
      }
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
      pg?.drop();
    });

    test('queued versions show their place in the transcode queue', async () => {
      const a = await owner(web, 1), b = await owner(web, 2);
      const pa = await newProject(a, 'A'), pb = await newProject(b, 'B');
      const a1 = await uploadTrack(a, pa.id, wav(0.5), { title: 'A1', to: media });
      const b1 = await uploadTrack(b, pb.id, wav(0.5), { title: 'B1', to: media });
      const a2 = await uploadTrack(a, pa.id, wav(0.5), { title: 'A2', to: media });
      const versions = async (c, pid) => new Map((await c.get(`/api/v1/projects/${pid}`)).json.project.tracks.flatMap((t) => t.versions).map((v) => [v.id, v]));
      const va = await versions(a, pa.id), vb = await versions(b, pb.id);
      assert.equal(va.get(a1.vid).state, 'queued');
      assert.equal(va.get(a1.vid).queue_position, 1);
      assert.equal(vb.get(b1.vid).queue_position, 2, 'another account\'s job counts');
      assert.equal(va.get(a2.vid).queue_position, 3);
      // Guests see ready versions only, and no queue.
      const g = await new Client(web).get(`/api/v1/s/${pa.link.token}`);
      assert.equal(g.status, 200, g.body);
      assert.ok(!g.body.includes('queue_position'));
    });
  });
}
