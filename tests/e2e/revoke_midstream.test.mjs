// Black-box tests of revocation reaching transfers already running (issue
// 20, docs/media.md "Transfers in flight", docs/security.md), on SQLite and
// on PostgreSQL: a slow client reads a ~10 MB download (a 60 s WAV, the
// original) or its ~2 MB stream rendition 4 KiB at a time, so the server is in
// the middle of the body when the owner regenerates the link, revokes a
// named link, deletes the project, switches downloads off or logs out (the
// owner's own URLs). The connection must end within 5 s of the change with
// far fewer than all the bytes, and the media role logs one
// media_revoked_midstream line; the same slow transfer with no change runs to
// the last byte (the control), as does a stream when only downloads are
// switched off. The owner's export archive, which streams through the same
// producer, ends when the session that asked for it does.
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf } from './lib/server.mjs';

const READ = 4096;        // bytes the client takes at a time
// Deterministic white noise at about -9 dBFS (a 32-bit LCG), per channel.
function noise() {
  let x = 12345;
  const next = () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return (x / 2 ** 32 - 0.5) * 20000; };
  return () => [next(), next()];
}

const TICK_MS = 2;        // between two reads: about 2 MB/s at most
const HEAD_START = 512 * 1024; // body bytes read before the change (download)
const STREAM_START = 128 * 1024; // the same for a ~2 MB stream rendition
const END_WITHIN_MS = 5000;    // the bound, change to close
const PAUSE_MS = 1500;         // a reader that stops for a while (o.pause)
// A control reads slowly for this long after its (non-)change: more than two
// of the producer's re-checks (MEDIA_RECHECK_MS, 1 s) pass mid-body. Then it
// takes the rest as fast as it comes (h.fast): the producer still re-checks
// every second, but the 10 MB no longer cost a minute at 2 MB/s or less.
const SLOW_AFTER_MS = 2500;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// GET p over its own TLS connection and read the answer READ bytes per
// TICK_MS (a paused socket between reads: the kernel buffers fill and the
// server waits for the client; h.paused = true stops reading). Returns a
// handle: status/length once the head is in, body bytes so far, until(n)
// (wait for n body bytes) and done (a promise of the end: complete, or cut
// at closedAt). h.fast = true: from then on read whatever has arrived.
function slowGet(srv, p) {
  const sock = tls.connect({ host: '127.0.0.1', port: srv.port, ca: srv.ca, servername: 'localhost' });
  const h = { status: 0, length: -1, body: 0, closedAt: 0, error: null, paused: false, fast: false, tail: Buffer.alloc(0) };
  let head = Buffer.alloc(0), closed = false;
  sock.on('error', (e) => { h.error = e; });
  sock.on('close', () => { closed = true; h.closedAt = Date.now(); });
  sock.pause();
  sock.write(`GET ${p} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  const take = (c) => {
    h.tail = Buffer.concat([h.tail, c]).subarray(-16);
    if (h.status) { h.body += c.length; return; }
    head = Buffer.concat([head, c]);
    const i = head.indexOf('\r\n\r\n');
    if (i < 0) return;
    const lines = head.subarray(0, i).toString('latin1').split('\r\n');
    h.status = Number(lines[0].split(' ')[1]);
    const cl = lines.find((l) => /^content-length:/i.test(l));
    h.length = cl ? Number(cl.split(':')[1]) : -1;
    h.body = head.length - i - 4;
  };
  h.done = (async () => {
    while (!closed || sock.readableLength > 0) {
      if (h.paused) { await sleep(TICK_MS); continue; }
      if (h.fast) {
        const all = sock.read();
        if (all && all.length) take(all);
        await sleep(1);
        continue;
      }
      const n = Math.min(READ, sock.readableLength);
      const c = n > 0 ? sock.read(n) : sock.read(0);
      if (c && c.length) take(c);
      await sleep(TICK_MS);
    }
    return h;
  })();
  h.until = async (bytes, ms = 20000) => {
    for (const t0 = Date.now(); h.body < bytes; await sleep(5)) {
      if (closed) assert.fail(`closed after ${h.body} bytes, before ${bytes}`);
      if (Date.now() - t0 > ms) assert.fail(`only ${h.body} bytes after ${ms} ms`);
    }
  };
  return h;
}

// Start a slow transfer of url, make the change once HEAD_START (with
// o.pause: STREAM_START) bytes are
// in, and check it ends within END_WITHIN_MS with fewer than half the bytes
// and one media_revoked_midstream line. o.pause: stop reading for
// PAUSE_MS after the change (the server waits for the socket and finds the
// change at its next block): what then arrives is what the kernel already
// held, so a body of ~2 MB (a stream rendition) is enough. Without it the
// client reads on and the server finds the change within its re-check
// interval: the 10 MB download.
async function cutShort(srv, url, change, what, { pause = false } = {}) {
  const seen = srv.logs.filter((l) => l.event === 'media_revoked_midstream').length;
  const h = slowGet(srv, pathOf(url));
  await h.until(pause ? STREAM_START : HEAD_START);
  assert.equal(h.status, 200, what);
  if (pause) h.paused = true;
  await change();
  const changed = Date.now();
  if (pause) setTimeout(() => { h.paused = false; }, PAUSE_MS);
  const r = await Promise.race([h.done, sleep(END_WITHIN_MS + 10000).then(() => null)]);
  assert.ok(r, `${what}: the transfer still runs ${END_WITHIN_MS + 10000} ms after the change (${h.body}/${h.length} bytes)`);
  assert.ok(r.closedAt - changed <= END_WITHIN_MS,
    `${what}: ended ${r.closedAt - changed} ms after the change (${r.body}/${r.length} bytes)`);
  assert.ok(r.body < r.length / 2, `${what}: ${r.body} of ${r.length} bytes arrived`);
  await srv.waitLog(() => srv.logs.filter((l) => l.event === 'media_revoked_midstream').length > seen);
  return r;
}

// The same slow transfer with no change (or one that does not concern it)
// runs to its last byte: slowly through SLOW_AFTER_MS of re-checks after the
// change, then at full speed.
async function runsToEnd(srv, url, change = async () => {}) {
  const h = slowGet(srv, pathOf(url));
  await h.until(STREAM_START);
  await change();
  const slowUntil = Date.now() + SLOW_AFTER_MS;
  await Promise.race([h.done, (async () => {
    while (Date.now() < slowUntil) await sleep(50);
  })()]);
  h.fast = true;
  const r = await h.done;
  assert.equal(r.status, 200);
  if (r.length >= 0) assert.equal(r.body, r.length, `all ${r.length} bytes (got ${r.body})`);
  return r;
}

for (const backend of BACKENDS) {
  describe(`revocation reaches running transfers (${backend})`, () => {
    let srv, owner, p;
    // One project with one ready version, a 60 s stereo WAV: its download is
    // the original (10,584,044 bytes), its stream the AAC rendition (256
    // kbit/s, about 1.9 MB: the signal is noise, which the encoder cannot
    // make smaller than its bitrate, as a sine it can). Each test takes its
    // own named link, so one upload serves them all; deleting the project
    // comes last.
    before(async () => {
      srv = await startApi(backend);
      owner = await newOwner(srv);
      p = await newProject(owner, 'Revoke EP');
      const { vid } = await uploadTrack(owner, p.id, wav(60, { sample: noise() }), { title: 'Song', filename: 'song.wav' });
      const v = await waitVersion(owner, p.id, vid, { ms: 120000 });
      assert.equal(v.state, 'ready', JSON.stringify(v));
    });
    after(async () => { await srv?.stop(); });

    // A new named link and the signed URLs of its review page.
    async function linkMedia(label) {
      const l = await owner.post(`/api/v1/projects/${p.id}/links`, { label });
      assert.equal(l.status, 201, l.body);
      const r = await new Client(srv).get(`/api/v1/s/${l.json.link.token}`);
      assert.equal(r.status, 200, r.body);
      return { id: l.json.link.id, media: r.json.tracks[0].versions[0].media };
    }
    const regenerate = (id) => async () => {
      assert.equal((await owner.post(`/api/v1/projects/${p.id}/links/${id}/regenerate`)).status, 200);
    };
    const revoke = (id) => async () => {
      assert.equal((await owner.del(`/api/v1/projects/${p.id}/links/${id}`)).status, 204);
    };
    const downloads = (on) => async () => {
      assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: on })).status, 200);
    };

    test('control: a slow download with no change gets every byte', async () => {
      const r = await runsToEnd(srv, (await linkMedia('control')).media.download);
      assert.ok(r.length > 10 * 1000 * 1000, `a ~10 MB download (${r.length})`);
    });

    test('regenerating the link ends a running download', async () => {
      const l = await linkMedia('regenerate download');
      await cutShort(srv, l.media.download, regenerate(l.id), 'download, regenerate');
    });

    test('revoking a named link ends a running download', async () => {
      const l = await linkMedia('revoke download');
      await cutShort(srv, l.media.download, revoke(l.id), 'download, revoke');
    });

    test('switching downloads off ends a running download, not a running stream', async () => {
      const l = await linkMedia('downloads off');
      const stream = slowGet(srv, pathOf(l.media.stream));
      await stream.until(STREAM_START);
      try {
        await cutShort(srv, l.media.download, downloads(false), 'download, downloads off');
      } finally {
        await downloads(true)(); // for the tests after this one
      }
      const r = await stream.done;
      assert.equal(r.body, r.length, `the stream still gets all ${r.length} bytes (got ${r.body})`);
    });

    test('control: a slow stream with no change gets every byte', async () => {
      const r = await runsToEnd(srv, (await linkMedia('stream control')).media.stream);
      assert.ok(r.length > 1000 * 1000, `a ~2 MB rendition (${r.length})`);
    });

    test('regenerating the link ends a running stream', async () => {
      const l = await linkMedia('regenerate stream');
      await cutShort(srv, l.media.stream, regenerate(l.id), 'stream, regenerate', { pause: true });
    });

    test('revoking a named link ends a running stream', async () => {
      const l = await linkMedia('revoke stream');
      await cutShort(srv, l.media.stream, revoke(l.id), 'stream, revoke', { pause: true });
    });

    test("the owner's stream and download end when the owner logs out, not before", async () => {
      const o2 = new Client(srv);
      assert.equal((await o2.login(owner.email)).status, 200);
      const pj = (await o2.get(`/api/v1/projects/${p.id}`)).json;
      const tid = (pj.tracks || pj.project.tracks)[0].id;
      const u = await o2.get(`/api/v1/projects/${p.id}/tracks/${tid}/urls`);
      assert.equal(u.status, 200, u.body);
      const urls = Object.values(u.json.versions)[0];
      // Control: the owner's own URLs run to the end while the session lives
      // (and another session of the same owner ending does not matter).
      const o3 = new Client(srv);
      assert.equal((await o3.login(owner.email)).status, 200);
      await runsToEnd(srv, urls.stream, async () => {
        assert.equal((await o3.del('/api/v1/session')).status, 204);
      });
      const down = slowGet(srv, pathOf(urls.download));
      await down.until(HEAD_START);
      await cutShort(srv, urls.stream, async () => {
        assert.equal((await o2.del('/api/v1/session')).status, 204);
      }, 'owner stream, logout', { pause: true });
      const r = await down.done;
      assert.ok(r.body < r.length / 2, `owner download, logout: ${r.body} of ${r.length} bytes arrived`);
    });

    test("a running export archive ends when the owner's session does, not before", async () => {
      const o4 = new Client(srv), o5 = new Client(srv);
      assert.equal((await o4.login(owner.email)).status, 200);
      assert.equal((await o5.login(owner.email)).status, 200);
      const x = await o4.post('/api/v1/export');
      assert.equal(x.status, 200, x.body);
      // Control: another session ending does not matter; the archive (chunked,
      // with the 10 MB original) ends with its last chunk.
      const c = await runsToEnd(srv, x.json.url, async () => {
        assert.equal((await o5.del('/api/v1/session')).status, 204);
      });
      assert.ok(c.body > 10 * 1000 * 1000 && c.tail.toString('latin1').endsWith('\r\n0\r\n\r\n'),
        `the whole archive (${c.body} bytes)`);
      const seen = srv.logs.filter((l) => l.event === 'media_revoked_midstream').length;
      const h = slowGet(srv, pathOf(x.json.url));
      await h.until(HEAD_START);
      assert.equal((await o4.del('/api/v1/session')).status, 204);
      const changed = Date.now();
      const r = await h.done;
      assert.ok(r.closedAt - changed <= END_WITHIN_MS, `export, logout: ended ${r.closedAt - changed} ms after`);
      assert.ok(r.body < c.body / 2, `export, logout: ${r.body} of ${c.body} bytes arrived`);
      assert.ok(!r.tail.toString('latin1').endsWith('\r\n0\r\n\r\n'), 'no last chunk');
      await srv.waitLog(() => srv.logs.filter((l) => l.event === 'media_revoked_midstream').length > seen);
    });

    test('deleting the project ends a running download and stream', async () => {
      const l = await linkMedia('delete');
      const stream = slowGet(srv, pathOf(l.media.stream));
      await stream.until(STREAM_START);
      stream.paused = true;
      await cutShort(srv, l.media.download, async () => {
        assert.equal((await owner.del(`/api/v1/projects/${p.id}`, { confirm: 'Revoke EP' })).status, 204);
        setTimeout(() => { stream.paused = false; }, PAUSE_MS);
      }, 'download, project deleted');
      const r = await stream.done;
      assert.ok(r.body < r.length / 2, `stream, project deleted: ${r.body} of ${r.length} bytes arrived`);
    });
  });
}
