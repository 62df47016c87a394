// Issue 5, "Export: memory constant for a 2 GiB project", as a black-box test
// on SQLite and on PostgreSQL (the same measurement as bench/export.sh,
// docs/benchmarks.md "Full data export"). bench/export_bench (built with the
// unit tests, next to the binary under test) writes an owner, a live session
// and a project whose original is 64 MiB, and another whose original is
// 2 GiB, AM1-encrypted through the store, and prints a signed export URL for
// each. Each archive is downloaded from a fresh `audiomus media` process and
// streamed into GNU `tar -tv` (so it is complete and well-formed, with the
// original at its full size); the media process's peak RSS (VmHWM) must be
// the same within 4 MiB for both. Not a timing assertion. Skipped for an
// ASan binary (its allocator quarantine makes RSS track freed memory) and
// when the fixture maker was not built. AUDIOMUS_TEST_EXPORT_BIG_MIB
// overrides the 2048.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import { BACKENDS, freshPgDatabase } from './lib/api.mjs';
import { BIN, initDataDir } from './lib/server.mjs';

const DRIVER = path.join(path.dirname(BIN), 'bench', 'export_bench');
const SMALL_MIB = 64;
const BIG_MIB = Number(process.env.AUDIOMUS_TEST_EXPORT_BIG_MIB || 2048);
const TOLERANCE_MIB = 4;

function skipReason() {
  if (!fs.existsSync(DRIVER)) return `${DRIVER} not built (make unit-bins)`;
  if (fs.readFileSync(BIN).includes('__asan_init')) return 'ASan binary: RSS includes the allocator quarantine';
  return false;
}

const hwmKiB = (pid) => Number(/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

// Start `audiomus media`; resolves with the process and its port.
async function startMedia(dataDir, dbArgs) {
  const proc = spawn(BIN, ['media', '--data', dataDir, '--listen', '127.0.0.1:0', ...dbArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => { err += c; });
  const t0 = Date.now();
  let m;
  while (!(m = err.match(/"event":"listening"[^\n]*"port":"(\d+)"/))) {
    assert.ok(Date.now() - t0 < 20000 && proc.exitCode === null, `media did not start: ${err}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  return { proc, port: Number(m[1]), stderr: () => err };
}

// Download url from a fresh media process into `tar -tv`: the listing and
// the process's peak RSS before and after.
async function exportOnce(dataDir, dbArgs, url) {
  const media = await startMedia(dataDir, dbArgs);
  try {
    const before = hwmKiB(media.proc.pid);
    const ca = fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem'));
    const tar = spawn('tar', ['-tvf', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let listing = '', tarErr = '';
    tar.stdout.setEncoding('utf8');
    tar.stdout.on('data', (c) => { listing += c; });
    tar.stderr.on('data', (c) => { tarErr += c; });
    const tarDone = new Promise((res) => tar.on('close', res));
    const status = await new Promise((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: media.port, path: url, ca, servername: 'localhost', agent: false }, (res) => {
        res.pipe(tar.stdin);
        res.on('end', () => resolve(res.statusCode));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    const code = await tarDone;
    assert.equal(status, 200);
    assert.equal(code, 0, `tar: ${tarErr}`);
    return { listing, before, after: hwmKiB(media.proc.pid) };
  } finally {
    media.proc.kill('SIGTERM');
    await new Promise((res) => (media.proc.exitCode !== null ? res() : media.proc.on('exit', res)));
  }
}

for (const backend of BACKENDS) {
  describe(`full data export memory (${backend})`, { skip: skipReason() }, () => {
    test(`peak RSS of the media role is the same for a ${SMALL_MIB} MiB and a ${BIG_MIB} MiB project`, async (t) => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-e2e-xmem-'));
      const dataDir = path.join(tmp, 'data');
      const pg = backend === 'postgresql' ? freshPgDatabase('am_xmem') : null;
      const dbArgs = pg ? ['--set', `database=${pg.url}`] : [];
      const env = { ...process.env, ...(pg ? { AUDIOMUS_DATABASE: pg.url } : {}) };
      try {
        initDataDir(dataDir);
        const fixture = (email, mib) => {
          const r = spawnSync(DRIVER, [dataDir, email, String(mib)], { encoding: 'utf8', env, timeout: 600000 });
          assert.equal(r.status, 0, r.stderr);
          return r.stdout.trim();
        };
        const small = await exportOnce(dataDir, dbArgs, fixture('small@example.org', SMALL_MIB));
        const big = await exportOnce(dataDir, dbArgs, fixture('big@example.org', BIG_MIB));
        // The archives are whole: the original at its full size, tar read to the end.
        for (const [x, mib] of [[small, SMALL_MIB], [big, BIG_MIB]]) {
          assert.match(x.listing, /audiomus-export\/account\.json/);
          assert.match(x.listing, /project\.json/);
          assert.ok(x.listing.split('\n').some((l) => l.split(/\s+/)[2] === String(mib * 1048576)), `a ${mib} MiB original in\n${x.listing}`);
        }
        const diff = Math.abs(big.after - small.after) / 1024;
        const msg = `peak RSS ${(small.after / 1024).toFixed(1)} MiB (${SMALL_MIB} MiB) vs ${(big.after / 1024).toFixed(1)} MiB (${BIG_MIB} MiB)`;
        t.diagnostic(`${msg}; idle before ${(small.before / 1024).toFixed(1)} / ${(big.before / 1024).toFixed(1)} MiB`);
        assert.ok(diff <= TOLERANCE_MIB, msg);
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
        pg?.drop();
      }
    });
  });
}
