// The current share link from any signed-in session (issue 23, docs/api.md
// "Share links", docs/crypto.md "Share links"): the owner's link list carries
// each live link's token and URL (the token is stored sealed under the
// project's field key, next to its SHA-256), a second session with its own
// cookie jar lists the same working URL, a regenerate changes it and the old
// one dies at once; guest answers never carry a token; and a copy of the
// database without the master key (the SQLite files and an online backup, or
// a pg_dump of the PostgreSQL database) holds no usable token: no token in any
// form it could be stored in (text, its 24 bytes raw, hex or base64), and
// every value of every column, tried as a token, opens nothing.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi } from './lib/api.mjs';

const TOKEN_RE = /^[A-Za-z0-9_-]{32}$/;

// A second signed-in session of the same owner: a new login, a new jar.
async function secondSession(srv, owner) {
  const c = new Client(srv);
  assert.equal((await c.login(owner.email)).status, 200);
  assert.notEqual(c.cookieHeader(), owner.cookieHeader());
  return c;
}

async function listed(c, pid) {
  const r = await c.get(`/api/v1/projects/${pid}/links`);
  assert.equal(r.status, 200);
  return r.json.links;
}

function tokenOfUrl(srv, url) {
  assert.ok(url.startsWith(`${srv.origin}/s/`), url);
  const t = url.slice(`${srv.origin}/s/`.length);
  assert.match(t, TOKEN_RE);
  return t;
}

// A token and every form it could be kept in: the text, its 24 bytes raw
// (latin1, as a SQLite blob), as hex (pg_dump's bytea) and as base64.
function tokenForms(t) {
  const rawBytes = Buffer.from(t, 'base64url');
  assert.equal(rawBytes.length, 24, t);
  return [t, rawBytes.toString('latin1'), rawBytes.toString('hex'), rawBytes.toString('base64')];
}

// What a copy of the database gives someone without the master key: `clear`,
// every byte as text (the SQLite files, main and WAL, as latin1; or the plain
// pg_dump, bytea as \x hex), and the values of every column: `texts`, and
// `blobs` as base64url.
function sqliteCopy(srv) {
  const files = fs.readdirSync(srv.dataDir).filter((f) => f.startsWith('audiomus.db'));
  assert.ok(files.length >= 1);
  const clear = files.map((f) => fs.readFileSync(path.join(srv.dataDir, f)).toString('latin1')).join('\n');
  // A consistent copy (SQLite online backup), read without the key.
  const copy = path.join(srv.tmp, 'copy.db');
  const py = `
import sqlite3, base64, json, sys
src = sqlite3.connect(sys.argv[1]); dst = sqlite3.connect(sys.argv[2]); src.backup(dst); src.close()
texts, blobs = set(), set()
for (t,) in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
    for row in dst.execute('SELECT * FROM "%s"' % t):
        for v in row:
            if isinstance(v, str): texts.add(v)
            elif isinstance(v, bytes):
                blobs.add(base64.urlsafe_b64encode(v).decode().rstrip('='))
                try: texts.add(v.decode())
                except UnicodeDecodeError: pass
print(json.dumps({'texts': sorted(texts), 'blobs': sorted(blobs)}))
`;
  fs.rmSync(copy, { force: true });
  const out = execFileSync('python3', ['-c', py, path.join(srv.dataDir, 'audiomus.db'), copy], { encoding: 'utf8' });
  return { clear, ...JSON.parse(out) };
}

// pg_dump (plain): the rows are the COPY blocks (text format, a tab between
// fields); each \x hex field is a bytea value, the others text values.
function pgCopy(srv) {
  const url = srv.dbArgs[1].replace(/^database=/, '');
  const r = spawnSync('pg_dump', ['--no-owner', url], { encoding: 'latin1', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const clear = r.stdout;
  assert.match(clear, /^COPY public\.share_links /m, 'the dump holds the share_links table');
  const texts = new Set(), blobs = new Set(), utf8 = new TextDecoder('utf-8', { fatal: true });
  for (const block of clear.matchAll(/^COPY [^\n]* FROM stdin;\n([^]*?)^\\\.$/gm)) {
    for (const line of block[1].split('\n')) {
      for (const v of line.split('\t')) {
        const hex = /^\\\\x([0-9a-f]*)$/.exec(v);
        if (!hex) { if (v && v !== '\\N') texts.add(Buffer.from(v, 'latin1').toString('utf8')); continue; }
        const b = Buffer.from(hex[1], 'hex');
        blobs.add(b.toString('base64url'));
        try { texts.add(utf8.decode(b)); } catch { /* not text */ }
      }
    }
  }
  assert.ok(blobs.size > 0, 'bytea values read from the dump');
  return { clear, texts: [...texts], blobs: [...blobs] };
}

// The probe itself: no form of any token in the copy, and every candidate of
// a token's shape tried against the server opens nothing: each blob whole (a
// raw 24-byte token is 32 base64url characters; the sealed token_ct and
// token_hash are among them), the start of each value and every 32-character
// window of a text value (a token inside a URL, JSON or a longer string).
async function probeCopy(srv, { clear, texts, blobs }, tokens, live) {
  assert.ok(texts.length + blobs.length > 10, `${texts.length} texts, ${blobs.length} blobs read`);
  for (const t of tokens) {
    for (const f of tokenForms(t)) assert.equal(clear.indexOf(f), -1, `a token (${t}) in clear in the copy`);
    assert.ok(![...texts, ...blobs].some((v) => v.includes(t)), 'a token in a column of the copy');
  }
  // Control: the scan sees what is there. The look-up key of each live link,
  // SHA-256 of its token, is in the copy (raw in SQLite, hex in the dump).
  for (const t of live) {
    const h = crypto.createHash('sha256').update(t).digest();
    assert.ok(clear.includes(h.toString('latin1')) || clear.includes(h.toString('hex')), 'the token hash is found');
  }
  const cands = new Set(blobs.filter((b) => b.length === 32));
  for (const v of [...texts, ...blobs]) cands.add(v.slice(0, 32));
  for (const v of texts) {
    if (v.length > 4096) continue;
    for (const m of v.matchAll(/[A-Za-z0-9_-]{32,}/g))
      for (let i = 0; i + 32 <= m[0].length; i++) cands.add(m[0].slice(i, i + 32));
  }
  assert.ok(cands.size > 0);
  const g = new Client(srv);
  for (const c of cands) {
    const r = await g.get(`/api/v1/s/${encodeURIComponent(c)}`);
    assert.equal(r.status, 404, `column value ${c} opens the project`);
  }
  // The live tokens do work: the probe above could have found them.
  for (const t of live) assert.equal((await g.get(`/api/v1/s/${t}`)).status, 200);
}

for (const backend of BACKENDS) {
  describe(`share link shown to its owner from any session (${backend})`, () => {
    let srv;
    before(async () => { srv = await startApi(backend); });
    after(async () => { await srv?.stop(); });

    test('a second session lists the same working URL; regenerate changes it and kills the old one', async () => {
      const o = await newOwner(srv);
      const p = await newProject(o);
      const named = (await o.post(`/api/v1/projects/${p.id}/links`, { label: 'For Sam' })).json.link;
      const o2 = await secondSession(srv, o);
      const g = new Client(srv);
      const links = await listed(o2, p.id);
      assert.equal(links.length, 2);
      const def = links.find((l) => l.is_default);
      const sam = links.find((l) => l.id === named.id);
      assert.equal(def.url, p.link.url, 'the default link as it was shown at creation');
      assert.equal(def.token, p.link.token);
      assert.equal(sam.url, named.url);
      for (const l of [def, sam]) assert.equal((await g.get(`/api/v1/s/${tokenOfUrl(srv, l.url)}`)).status, 200);

      // Regenerate from the first session: the second one lists the new URL.
      for (const l of [def, sam]) {
        const regen = await o.post(`/api/v1/projects/${p.id}/links/${l.id}/regenerate`);
        assert.equal(regen.status, 200);
        const now = (await listed(o2, p.id)).find((x) => x.id === l.id);
        assert.notEqual(now.url, l.url);
        assert.equal(now.url, regen.json.link.url);
        assert.equal(now.generation, l.generation + 1);
        assert.equal((await g.get(`/api/v1/s/${tokenOfUrl(srv, l.url)}`)).status, 404, 'the old link dies at once');
        assert.equal((await g.get(`/api/v1/s/${tokenOfUrl(srv, now.url)}`)).status, 200, 'the listed link works');
      }

      // A revoked link lists no URL; the guest answer never carries a token.
      assert.equal((await o.del(`/api/v1/projects/${p.id}/links/${sam.id}`)).status, 204);
      const after = await listed(o2, p.id);
      const gone = after.find((x) => x.id === sam.id);
      assert.equal(gone.revoked, true);
      assert.equal(gone.url, undefined);
      assert.equal(gone.token, undefined);
      const cur = after.find((x) => x.is_default);
      const guest = await g.get(`/api/v1/s/${cur.token}`);
      assert.equal(guest.status, 200);
      assert.ok(!guest.body.includes(cur.token), 'the guest view does not echo the token');
      // Another owner sees none of it.
      const other = await newOwner(srv);
      assert.equal((await other.get(`/api/v1/projects/${p.id}/links`)).status, 404);
      // The export does not carry tokens either.
      const exp = await o.get('/api/v1/export');
      assert.equal(exp.status, 200);
      assert.ok(!exp.body.includes(cur.token), 'no token in the export');
    });

    test(`a copy of the database without the master key yields no token (${backend === 'sqlite' ? 'SQLite files and backup' : 'pg_dump'})`, async () => {
      const o = await newOwner(srv);
      const p = await newProject(o, 'Secret EP');
      const named = (await o.post(`/api/v1/projects/${p.id}/links`, { label: 'Label A&R' })).json.link;
      const regen = (await o.post(`/api/v1/projects/${p.id}/links/${named.id}/regenerate`)).json.link;
      const live = (await listed(o, p.id)).map((l) => l.token);
      assert.equal(live.length, 2);
      assert.ok(live.every((t) => TOKEN_RE.test(t)));
      assert.deepEqual([...live].sort(), [p.link.token, regen.token].sort()); // (no toSorted: Debian bookworm has Node 18)
      const copy = backend === 'sqlite' ? sqliteCopy(srv) : pgCopy(srv);
      await probeCopy(srv, copy, [p.link.token, named.token, regen.token], live);
    });
  });
}
