// Black-box tests of the streaming loops (src/http/stream_loop.c, issue 25):
// a GET of a signed media URL whose body is 256 KiB or more is sent by our
// own epoll loop, not libmicrohttpd, and the connection closes after it.
// What must hold: the same bytes and the same headers as libmicrohttpd's
// path (small ranges and HEAD stay there), many streams at once, a reader
// that stops for a while and goes on, a client that leaves mid-body, one
// that stops reading for good (cut after connection_timeout), /metrics
// counting the bytes, and SIGTERM with a stream held open (the server exits
// cleanly: libmicrohttpd refuses to stop with a suspended connection).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';

import { Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw } from './lib/server.mjs';

const TIMEOUT_S = 3;       // connection_timeout of this server
const SMALL = 200 * 1024;  // a range below the hand-over size (256 KiB)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

function noise() {
  let x = 777;
  const next = () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return (x / 2 ** 32 - 0.5) * 20000; };
  return () => [next(), next()];
}

// GET p on a TLS connection of its own, the head parsed by hand. The body
// is read 4 KiB every 2 ms (h.mode 'slow': the kernel does not grow the
// receive window of a slow reader, so one that stops soon fills it; this
// machine allows 32 MB), all that arrived ('fast'), or not at all
// ('stopped'). h.done resolves when the connection has closed and every
// byte that arrived was read.
function heldGet(srv, p) {
  const sock = tls.connect({ host: '127.0.0.1', port: srv.port, ca: srv.ca, servername: 'localhost' });
  const h = { sock, status: 0, length: -1, body: 0, chunks: [], mode: 'slow' };
  let head = Buffer.alloc(0), closed = false;
  sock.on('error', () => {});
  sock.on('close', () => { closed = true; });
  sock.pause();
  sock.write(`GET ${p} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  const take = (c) => {
    if (h.status) { h.body += c.length; h.chunks.push(c); return; }
    head = Buffer.concat([head, c]);
    const i = head.indexOf('\r\n\r\n');
    if (i < 0) return;
    const lines = head.subarray(0, i).toString('latin1').split('\r\n');
    h.status = Number(lines[0].split(' ')[1]);
    const cl = lines.find((l) => /^content-length:/i.test(l));
    h.length = cl ? Number(cl.split(':')[1]) : -1;
    const rest = head.subarray(i + 4);
    h.body = rest.length;
    if (rest.length) h.chunks.push(rest);
  };
  const giveUp = Date.now() + 120000; // a failed test must not hang the run
  h.done = (async () => {
    while ((!closed || sock.readableLength > 0) && Date.now() < giveUp) {
      if (h.mode !== 'stopped') {
        const c = h.mode === 'fast' ? sock.read() : sock.read(Math.min(4096, sock.readableLength) || 0);
        if (c && c.length) take(c);
      }
      await sleep(h.mode === 'fast' ? 1 : 2);
    }
    if (!closed) sock.destroy();
    return h;
  })();
  h.until = async (n, ms = 20000) => {
    for (const t0 = Date.now(); h.body < n; await sleep(5))
      if (Date.now() - t0 > ms) assert.fail(`only ${h.body} bytes after ${ms} ms`);
  };
  return h;
}

// The headers a client sees, without the framing ones (which differ between
// libmicrohttpd's path and the loop's by design).
const FRAMING = new Set(['content-length', 'content-range', 'date', 'connection', 'keep-alive', 'transfer-encoding']);
const semantic = (headers) => Object.fromEntries(Object.entries(headers).filter(([k]) => !FRAMING.has(k)));

describe('streaming loops: large responses outside libmicrohttpd', () => {
  let srv, original, media;

  before(async () => {
    srv = await startApi('sqlite', { args: ['--set', `connection_timeout=${TIMEOUT_S}`, '--set', 'shutdown_grace=1'] });
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Loop EP');
    assert.equal((await owner.patch(`/api/v1/projects/${p.id}`, { downloads: true })).status, 200);
    // 10.6 MB: more than the kernel's buffers hold for a reader that stops
    // (up to 6 MB of receive window and 128 KiB unsent); the rendition ~2 MB
    original = wav(60, { sample: noise() });
    const { vid } = await uploadTrack(owner, p.id, original, { title: 'Loop', filename: 'loop.wav' });
    const v = await waitVersion(owner, p.id, vid, { ms: 120000 });
    assert.equal(v.state, 'ready', JSON.stringify(v));
    const page = await new Client(srv).get(`/api/v1/s/${(await owner.post(`/api/v1/projects/${p.id}/links`, { label: 'loop' })).json.link.token}`);
    assert.equal(page.status, 200, page.body);
    media = page.json.tracks[0].versions[0].media;
  });
  after(async () => { await srv?.stop(); });

  test('the same bytes and headers as libmicrohttpd\'s path; Connection: close after a large body', async () => {
    const dl = await raw(srv, 'GET', pathOf(media.download), {}, undefined, { whole: true });
    assert.equal(dl.status, 200);
    assert.equal(dl.body.length, original.length);
    assert.equal(sha(dl.body), sha(original), 'the download is the original, byte for byte');
    assert.equal(dl.headers.connection, 'close', 'a large body ends its connection');
    assert.ok(dl.headers.date, 'Date');

    const full = await raw(srv, 'GET', pathOf(media.stream), { Range: 'bytes=0-' }, undefined, { whole: true });
    assert.equal(full.status, 206);
    const total = Number(full.headers['content-range'].split('/')[1]);
    assert.equal(full.body.length, total);
    assert.ok(total > 2 * SMALL, `a rendition larger than the hand-over size (${total})`);
    // the same bytes, in ranges small enough for libmicrohttpd's path
    const parts = [];
    for (let o = 0; o < total; o += SMALL) {
      const r = await raw(srv, 'GET', pathOf(media.stream), { Range: `bytes=${o}-${Math.min(o + SMALL, total) - 1}`, Connection: 'keep-alive' }, undefined, { whole: true });
      assert.equal(r.status, 206);
      assert.notEqual(r.headers.connection, 'close', 'a small range keeps its connection');
      if (o === 0) assert.deepEqual(semantic(r.headers), semantic(full.headers), 'the same headers on both paths');
      parts.push(r.body);
    }
    assert.equal(sha(Buffer.concat(parts)), sha(full.body), 'the same bytes on both paths');
    const mid = await raw(srv, 'GET', pathOf(media.stream), { Range: `bytes=${SMALL}-` }, undefined, { whole: true });
    assert.equal(mid.headers['content-range'], `bytes ${SMALL}-${total - 1}/${total}`);
    assert.ok(mid.body.equals(full.body.subarray(SMALL)), 'an open range from the middle');
    // starts inside a record and inside an AM1 segment (64 KiB): the loop
    // encrypts from the reader's segment and copies across its ends
    for (const [a, b] of [[12345, total - 1], [65535, total - 1], [3 * 65536 + 16383, total - 1],
      [77777, 77777 + 300000], [65536 - 7, 65536 * 5 + 6]]) {
      const r = await raw(srv, 'GET', pathOf(media.stream), { Range: `bytes=${a}-${b}` }, undefined, { whole: true });
      assert.equal(r.status, 206);
      assert.equal(r.headers['content-range'], `bytes ${a}-${b}/${total}`);
      assert.ok(r.body.equals(full.body.subarray(a, b + 1)), `bytes ${a}-${b}`);
    }
    const head = await raw(srv, 'HEAD', pathOf(media.stream), { Range: 'bytes=0-' });
    assert.equal(head.status, 206);
    assert.deepEqual(semantic(head.headers), semantic(full.headers), 'HEAD (libmicrohttpd) says what GET (the loop) sends');
    assert.equal(head.headers['content-length'], String(total));
  });

  test('twelve large bodies at once, each whole', async () => {
    const want = sha(original);
    const rs = await Promise.all(Array.from({ length: 12 }, () =>
      raw(srv, 'GET', pathOf(media.download), {}, undefined, { whole: true })));
    for (const r of rs) assert.equal(sha(r.body), want);
  });

  test('a reader that stops for a while, then reads on, gets every byte', async () => {
    const h = heldGet(srv, pathOf(media.download));
    await h.until(256 * 1024);
    h.mode = 'stopped'; // the socket fills; the loop keeps what it could not send
    await sleep(1000);
    h.mode = 'fast';
    await h.done;
    assert.equal(h.status, 200);
    assert.equal(h.body, original.length);
    assert.equal(sha(Buffer.concat(h.chunks)), sha(original));
  });

  test('a client that leaves mid-body is logged as client_abort; the server serves on', async () => {
    const seen = srv.logs.length;
    const h = heldGet(srv, pathOf(media.download));
    await h.until(300 * 1024);
    h.sock.destroy();
    await srv.waitLog((l) => srv.logs.indexOf(l) >= seen && l.event === 'access' && l.path === '/m/{object}' &&
      l.outcome === 'client_abort', 10000);
    const r = await raw(srv, 'GET', pathOf(media.download), {}, undefined, { whole: true });
    assert.equal(r.body.length, original.length);
  });

  test('a client that stops reading for good is cut after connection_timeout', async () => {
    const seen = srv.logs.length;
    const h = heldGet(srv, pathOf(media.download));
    await h.until(256 * 1024);
    h.mode = 'stopped';
    const t0 = Date.now();
    // (the line of the last test's download can come after seen: it is
    // written when libmicrohttpd is done, a moment after the client is)
    const line = await srv.waitLog((l) => srv.logs.indexOf(l) >= seen && l.event === 'access' && l.path === '/m/{object}' &&
      l.outcome !== 'ok', (TIMEOUT_S + 15) * 1000);
    assert.equal(line.outcome, 'timeout');
    assert.ok(Date.now() - t0 >= (TIMEOUT_S - 1) * 1000, `cut ${Date.now() - t0} ms after the client stopped: not before the timeout`);
    h.mode = 'fast'; // what the kernel held, then the end
    await h.done;
    assert.ok(h.body < original.length, `not every byte arrived (${h.body})`);
  });

  test('SIGTERM with a large body held open: the server exits cleanly', async () => {
    const h = heldGet(srv, pathOf(media.download));
    await h.until(256 * 1024);
    h.mode = 'stopped';
    await sleep(200);
    const s = srv, seen = s.logs.length, t0 = Date.now();
    srv = null;
    const r = await s.stop();
    assert.deepEqual(r, { code: 0, signal: null }, 'exit status');
    assert.ok(Date.now() - t0 < 10000, `stopped in ${Date.now() - t0} ms (shutdown_grace 1 s)`);
    h.mode = 'fast';
    await h.done;
    assert.ok(h.body < original.length, `the held body was cut (${h.body})`);
    assert.ok(s.logs.slice(seen).some((l) => l.event === 'access' && l.path === '/m/{object}' && l.outcome === 'shutdown'),
      'logged as ended by the shutdown');
  });
});
