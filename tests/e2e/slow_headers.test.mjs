// Trickling clients (issue 20, "Slow headers lock everyone out"):
// libmicrohttpd's connection_timeout is reset by every byte, so a client that
// sent one header byte now and then kept its connection forever. The watchdog
// (src/http/watch.c) closes a connection whose request headers are not
// complete header_timeout after it was accepted, or after the previous
// response on keep-alive, and one whose request body arrives slower than
// body_min_rate over body_rate_window (docs/configuration.md). Meanwhile a
// normal client is served.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startApi, newOwner, newProject } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { tlsConnect, readUntil, request, raw, pathOf } from './lib/server.mjs';

let srv;
before(async () => {
  srv = await startApi('sqlite', {
    args: ['--set', 'header_timeout=2', '--set', 'body_min_rate=1000', '--set', 'body_rate_window=2',
      '--set', 'connection_timeout=60', '--set', 'threads=2'],
  });
});
after(async () => { await srv?.stop(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Open a TLS connection, send `head` at once, then one byte of `trickle`
// (a string or a Buffer) every `every` ms until the server closes the socket or `limit` ms pass.
// Resolves { closedAfter (ms from before the connect, or null), got (bytes
// received after `head`) }.
async function trickle({ head, trickle: rest, every, limit = 8000, localAddress = '127.0.0.2' }) {
  const t0 = Date.now();
  const s = await tlsConnect(srv, { localAddress });
  let got = '', closedAt = null, i = 0;
  s.on('data', (d) => { got += d.toString('latin1'); });
  s.on('error', () => {});
  const closed = new Promise((r) => s.on('close', () => { closedAt = Date.now(); r(); }));
  s.write(head);
  const timer = setInterval(() => {
    if (s.destroyed || s.writableEnded) return;
    const k = i++ % rest.length;
    s.write(typeof rest === 'string' ? rest[k] : rest.subarray(k, k + 1));
  }, every);
  await Promise.race([closed, sleep(limit)]);
  clearInterval(timer);
  s.destroy();
  return { closedAfter: closedAt === null ? null : closedAt - t0, got };
}

async function healthz(s) {
  s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
  return readUntil(s, (b) => b.includes('"ok"'));
}

test('header_timeout: 20 connections trickling header bytes are closed at the deadline, without a response; others are served throughout', async () => {
  let stop = false;
  const served = [];
  const normal = (async () => {
    while (!stop) {
      const r = await request(srv, { path: '/healthz' }).catch((e) => ({ status: String(e) }));
      served.push(r.status);
      await sleep(200);
    }
  })();
  const trickled = await Promise.all(Array.from({ length: 20 }, () => trickle({
    head: 'GET /healthz HTTP/1.1\r\n', trickle: 'X-Slow: a\r\n', every: 500,
  })));
  stop = true;
  await normal;
  for (const [i, t] of trickled.entries()) {
    assert.notEqual(t.closedAfter, null, `connection ${i} is closed by the server`);
    assert.ok(t.closedAfter >= 1500, `connection ${i} is not closed before its deadline (${t.closedAfter} ms)`);
    assert.ok(t.closedAfter < 6000, `connection ${i} is closed near its 2 s deadline (${t.closedAfter} ms)`);
    assert.equal(t.got, '', `connection ${i} got no response`);
  }
  assert.ok(served.length >= 5, `the normal client made requests during the trickle (${served.length})`);
  assert.deepEqual(served.filter((s) => s !== 200), [], 'every normal request was answered 200');
  await srv.waitLog((l) => l.event === 'header_timeout');
  assert.ok(!JSON.stringify(srv.logs.filter((l) => l.event === 'header_timeout')).includes('127.0.0'),
    'the log line carries no client address');
});

test('header_timeout on keep-alive: counted from the end of the previous response', async () => {
  const t0 = Date.now();
  const s = await tlsConnect(srv, { localAddress: '127.0.0.3' });
  s.on('error', () => {});
  assert.match(await healthz(s), /HTTP\/1\.1 200/, 'the first request is served');
  await sleep(1000); // idle, within the deadline
  assert.match(await healthz(s), /HTTP\/1\.1 200/, 'a request within header_timeout of the last response is served');
  const tResp = Date.now();
  let got = '';
  s.on('data', (d) => { got += d.toString('latin1'); });
  const closed = new Promise((r) => s.on('close', r));
  s.write('GET /healthz HTTP/1.1\r\n');
  const timer = setInterval(() => { if (!s.destroyed) s.write('X'); }, 500);
  const hit = await Promise.race([closed.then(() => Date.now()), sleep(8000).then(() => null)]);
  clearInterval(timer);
  s.destroy();
  assert.notEqual(hit, null, 'the trickled second request is closed');
  assert.ok(hit - tResp < 6000 && hit - tResp >= 1500, `closed near the deadline (${hit - tResp} ms after the response, ${hit - t0} ms in all)`);
  assert.equal(got, '', 'no response to the trickled request');
});

test('body_min_rate: a POST body trickled below the minimum rate is closed; one sent at once is answered', async () => {
  const head = 'POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n'
    + 'Content-Length: 1000\r\n\r\n';
  const t = await trickle({ head, trickle: ' ', every: 100, localAddress: '127.0.0.4' }); // 10 B/s < 1000 B/s
  assert.notEqual(t.closedAfter, null, 'the slow upload is closed by the server');
  assert.ok(t.closedAfter >= 1500, `not before the 2 s grace window (${t.closedAfter} ms)`);
  assert.ok(t.closedAfter < 6000, `closed at the end of a window (${t.closedAfter} ms)`);
  assert.equal(t.got, '', 'no response');
  await srv.waitLog((l) => l.event === 'body_too_slow');

  // The same request at full speed reaches the handler (whatever it answers).
  const s = await tlsConnect(srv, { localAddress: '127.0.0.4' });
  s.on('error', () => {});
  s.write(head + JSON.stringify({ email: 'nobody@example.org', password: 'x' }).padEnd(1000, ' '));
  assert.match(await readUntil(s, (b) => /\r\n\r\n/.test(b)), /^HTTP\/1\.1 [1-5]\d\d /, 'answered');
  s.destroy();
});

test('body_min_rate: a tus PATCH trickled below the minimum rate is closed; the upload then resumes at full speed', async () => {
  const owner = await newOwner(srv, { localAddress: '127.0.0.5' });
  const pid = (await newProject(owner)).id;
  const tid = (await owner.post(`/api/v1/projects/${pid}/tracks`, { title: 'Slow' })).json.track.id;
  const bytes = wav(1);
  const up = await owner.post(`/api/v1/projects/${pid}/tracks/${tid}/uploads`, { filename: 'mix.wav', size: bytes.length });
  assert.equal(up.status, 201, up.body);
  const p = pathOf(up.json.upload_url);
  const head = `PATCH ${p} HTTP/1.1\r\nHost: localhost\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n`
    + `Content-Type: application/offset+octet-stream\r\nContent-Length: ${bytes.length}\r\n\r\n`;
  const t = await trickle({ head, trickle: bytes.subarray(0, 64), every: 100, localAddress: '127.0.0.5' });
  assert.notEqual(t.closedAfter, null, 'the slow PATCH is closed by the server');
  assert.ok(t.closedAfter >= 1500 && t.closedAfter < 6000, `closed after the 2 s window (${t.closedAfter} ms)`);
  assert.equal(t.got, '', 'no response');

  // tus: ask where to resume, send the rest at once. A 409 while the cut
  // request's lease is still being released is the tus answer to retry after
  // a new HEAD, as any tus client does.
  const tus = { 'Tus-Resumable': '1.0.0' };
  let r;
  for (let i = 0; i < 50; i++) {
    const h = await raw(srv, 'HEAD', p, tus);
    assert.equal(h.status, 200);
    const off = Number(h.headers['upload-offset']);
    assert.ok(off >= 0 && off < bytes.length, `resumable offset ${off}`);
    const rest = bytes.subarray(off);
    r = await raw(srv, 'PATCH', p, {
      ...tus, 'Upload-Offset': String(off), 'Content-Type': 'application/offset+octet-stream', 'Content-Length': rest.length,
    }, rest);
    if (r.status !== 409) break;
    await sleep(200);
  }
  assert.equal(r.status, 204, r.body.toString());
});
