// The HTTPS accept loop (src/http/server.c "accept_loop"): one thread accepts
// every connection and hands it to libmicrohttpd, whose limits then apply.
// Beyond per_ip_connections or max_connections a new connection is closed at
// once (docs/configuration.md), the connections already open keep working,
// and a slot freed by a client that leaves can be taken again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startServer, tlsConnect, readUntil } from './lib/server.mjs';

let srv;
before(async () => {
  srv = await startServer({ args: ['--set', 'per_ip_connections=4', '--set', 'max_connections=16', '--set', 'threads=2'] });
});
after(async () => { await srv?.stop(); });

const from = (addr) => ({ localAddress: addr });
// A TLS connection that completes its handshake, or null when the server closed it.
const connect = (opts) => tlsConnect(srv, opts).then((s) => s, () => null);

async function healthz(s) {
  s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
  return readUntil(s, (b) => b.includes('"ok"'));
}

// Retry until a connection is taken (the server frees a slot when it reads
// the client's close), for at most 5 s.
async function connectWhenFree(opts) {
  for (let i = 0; i < 50; i++) {
    const s = await connect(opts);
    if (s) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

test('per_ip_connections: the fifth connection from one address is closed, a freed slot is reused', async () => {
  const open = [];
  for (let i = 0; i < 4; i++) {
    const s = await connect(from('127.0.0.1'));
    assert.ok(s, `connection ${i + 1} of 4 is accepted`);
    open.push(s);
  }
  assert.equal(await connect(from('127.0.0.1')), null, 'the fifth is closed before the handshake');
  const other = await connect(from('127.0.0.2'));
  assert.ok(other, 'another address is not affected');
  for (const s of open) assert.match(await healthz(s), /HTTP\/1\.1 200/, 'the open connections keep working');
  open.shift().destroy();
  const again = await connectWhenFree(from('127.0.0.1'));
  assert.ok(again, 'the freed slot is taken again');
  assert.match(await healthz(again), /HTTP\/1\.1 200/);
  for (const s of [...open, other, again]) s.destroy();
});

test('max_connections: beyond 16 in all, new connections are closed until one leaves', async () => {
  const open = [];
  for (const addr of ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']) {
    for (let i = 0; i < 4; i++) {
      const s = await connectWhenFree(from(addr)); // the last test's connections may still be closing
      assert.ok(s, `${addr} connection ${i + 1}`);
      open.push(s);
    }
  }
  assert.equal(await connect(from('127.0.0.7')), null, 'the 17th is closed');
  open.pop().destroy();
  const again = await connectWhenFree(from('127.0.0.7'));
  assert.ok(again, 'taken once a connection left');
  assert.match(await healthz(again), /HTTP\/1\.1 200/);
  for (const s of [...open, again]) s.destroy();
});
