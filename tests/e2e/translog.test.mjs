// Black-box tests of the tamper-evident access log (issue 26,
// docs/security.md "Access log"), on SQLite and on PostgreSQL: a guest's
// page opening, play and download append entries (ids and a time, never the
// address); the owner downloads a signed tree head and the entries; then
// `audiomus log verify` passes on the unchanged log, and fails, naming the
// first bad index, after a past entry is edited in the database, two are
// swapped, and one is deleted, both from the API's pages and straight from
// the database.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw, run } from './lib/server.mjs';

const GUEST_ADDRS = ['127.0.0.81', '127.0.0.82'];

// SQL against the server's database: rows as arrays of strings.
function sqlOf(srv) {
  if (srv.backend === 'postgresql') {
    const url = srv.dbArgs[1].replace(/^database=/, '');
    return (q) => {
      const r = spawnSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-AtF', '|', '-c', q], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('|'));
    };
  }
  const db = path.join(srv.dataDir, 'audiomus.db');
  return (q) => {
    const r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', db, q], { encoding: 'utf8' });
    assert.ok(!r.error, `the sqlite3 command line tool (scripts/dev installs it): ${r.error?.message}`);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('|'));
  };
}

// An entry's bytes as hex, and setting them, in either engine's dialect.
function entryHex(srv, sql, pidHex, idx) {
  const hex = srv.backend === 'postgresql' ? `encode(entry, 'hex')` : 'lower(hex(entry))';
  const blob = srv.backend === 'postgresql' ? `decode('${pidHex}', 'hex')` : `X'${pidHex}'`;
  return sql(`SELECT ${hex} FROM translog_entries WHERE project_id = ${blob} AND idx = ${idx}`)[0][0];
}
function setEntry(srv, sql, pidHex, idx, hex) {
  const lit = (h) => (srv.backend === 'postgresql' ? `decode('${h}', 'hex')` : `X'${h}'`);
  sql(`UPDATE translog_entries SET entry = ${lit(hex)} WHERE project_id = ${lit(pidHex)} AND idx = ${idx}`);
}

describe('audiomus log verify (usage)', () => {
  test('--help documents the exit codes; a missing head is a usage error', () => {
    const h = run(['log', '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /0 verified; 1 verification failed; 2 usage error/);
    assert.equal(run(['log', 'verify', '--log', '/nonexistent']).code, 2);
  });
});

for (const backend of BACKENDS) {
  describe(`access log (${backend})`, () => {
    let srv, tmp;
    before(async () => {
      srv = await startApi(backend);
      tmp = fs.mkdtempSync(path.join(srv.tmp, 'log-'));
    });
    after(async () => { await srv?.stop(); });

    async function page(owner, pid) {
      const r = await owner.get(`/api/v1/projects/${pid}/log/entries`);
      assert.equal(r.status, 200, r.body);
      return r;
    }
    async function waitEntries(owner, pid, n, ms = 15000) {
      const t0 = Date.now();
      for (;;) {
        const r = await page(owner, pid);
        if (r.json.entries.length >= n) return r;
        assert.ok(Date.now() - t0 < ms, `only ${r.body} after ${ms} ms`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    async function guestVisit(p, addr) {
      const guest = new Client(srv, { localAddress: addr });
      const r = await guest.get(`/api/v1/s/${p.link.token}`);
      assert.equal(r.status, 200, r.body);
      const media = r.json.tracks[0].versions[0].media;
      const get = (url) => raw(srv, 'GET', pathOf(url), { Range: 'bytes=0-15' }, undefined, { localAddress: addr });
      assert.equal((await get(media.stream)).status, 206);
      assert.equal((await get(media.download)).status, 206);
    }

    test('served media and grants are logged; edits, swaps and deletions in the database fail verification at the first bad index', async () => {
      const o = await newOwner(srv);
      const p = await newProject(o, 'Log EP');
      const { vid } = await uploadTrack(o, p.id, wav(1), { title: 'Song', filename: 'song.wav' });
      assert.equal((await waitVersion(o, p.id, vid)).state, 'ready');

      // First listener: page_open, play, download.
      await guestVisit(p, GUEST_ADDRS[0]);
      await waitEntries(o, p.id, 3);
      const sth = await o.get(`/api/v1/projects/${p.id}/log/sth`);
      assert.equal(sth.status, 200, sth.body);
      assert.deepEqual(Object.keys(sth.json), ['v', 'project', 'tree_size', 'timestamp', 'root_hash', 'key', 'signature']);
      assert.equal(sth.json.tree_size, 3);
      const kept = path.join(tmp, 'kept.json');
      fs.writeFileSync(kept, sth.body);

      // Second listener after the head was kept.
      await guestVisit(p, GUEST_ADDRS[1]);
      const r = await waitEntries(o, p.id, 6);
      const entries = r.json.entries.map((e) => Buffer.from(e.entry, 'base64url').toString());
      assert.deepEqual(r.json.entries.map((e) => e.index), [0, 1, 2, 3, 4, 5]);
      assert.deepEqual(entries.map((e) => JSON.parse(e).k).sort(), ['download', 'download', 'page_open', 'page_open', 'play', 'play']);
      for (const e of entries) {
        assert.deepEqual(Object.keys(JSON.parse(e)).filter((k) => !['t', 'k', 'o', 'l'].includes(k)), [], e);
        for (const a of GUEST_ADDRS) assert.ok(!e.includes(a), 'never an address');
      }

      // verify from the API's page and from the database.
      const verify = async () => {
        const pg = path.join(tmp, 'page.json');
        fs.writeFileSync(pg, (await page(o, p.id)).body);
        const a = run(['log', 'verify', '--sth', kept, '--log', pg]);
        const b = run(['log', 'verify', '--sth', kept, '--project', p.id, '--data', srv.dataDir, ...srv.dbArgs]);
        return [a, b];
      };
      for (const v of await verify()) {
        assert.equal(v.code, 0, v.stdout + v.stderr);
        assert.match(v.stdout, /^verified: 6 entries, consistent with the kept head of 3 entries/);
      }

      const sql = sqlOf(srv);
      const pidHex = p.id;
      const orig = [0, 1, 2, 3, 4, 5].map((i) => entryHex(srv, sql, pidHex, i));
      const expectBad = async (idx, what) => {
        for (const v of await verify()) {
          assert.equal(v.code, 1, `${what}: ${v.stdout}${v.stderr}`);
          assert.match(v.stdout, new RegExp(`^FAILED at entry ${idx}: `), what);
        }
      };

      // A past entry edited: one digit of its time.
      const edited = Buffer.from(orig[1], 'hex').toString().replace(/"t":(\d)/, (m, d) => `"t":${(Number(d) + 1) % 10}`);
      setEntry(srv, sql, pidHex, 1, Buffer.from(edited).toString('hex'));
      await expectBad(1, 'edit');
      setEntry(srv, sql, pidHex, 1, orig[1]);
      for (const v of await verify()) assert.equal(v.code, 0, v.stdout);

      // Two entries swapped.
      setEntry(srv, sql, pidHex, 3, orig[4]);
      setEntry(srv, sql, pidHex, 4, orig[3]);
      await expectBad(3, 'swap');
      setEntry(srv, sql, pidHex, 3, orig[3]);
      setEntry(srv, sql, pidHex, 4, orig[4]);
      for (const v of await verify()) assert.equal(v.code, 0, v.stdout);

      // One entry deleted.
      const lit = backend === 'postgresql' ? `decode('${pidHex}', 'hex')` : `X'${pidHex}'`;
      sql(`DELETE FROM translog_entries WHERE project_id = ${lit} AND idx = 2`);
      await expectBad(2, 'delete');
    });
  });
}
