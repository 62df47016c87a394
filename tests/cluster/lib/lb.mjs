// A tiny TCP round-robin load balancer for the cluster test (loopback only):
// what a layer-4 balancer such as HAProxy in `mode tcp` does in front of a
// pool of audiomus nodes. TLS passes through untouched (every node has the
// certificate). A backend that refuses the connection is skipped for the
// next one, as a balancer's health check or redispatch would; connections
// already open to a node that dies are cut, and the client sees that.
// The connection to the backend leaves from the client's own loopback
// address, so the nodes see each test client's address (rate limits and
// guest pseudonyms work per client, as behind a transparent proxy).
import net from 'node:net';

export async function startBalancer(name, ports) {
  let next = 0;
  const open = new Set();
  const stats = { accepted: 0, refused: 0, failed: 0 };
  const server = net.createServer((client) => {
    stats.accepted++;
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => {});
    client.pause();
    const start = next++ % ports.length;
    const local = client.remoteAddress?.replace(/^::ffff:/, '');
    const tryBackend = (i) => {
      if (i >= ports.length) { stats.failed++; client.destroy(); return; }
      const port = ports[(start + i) % ports.length];
      const up = net.connect({ host: '127.0.0.1', port, localAddress: local });
      let connected = false;
      up.once('connect', () => {
        connected = true;
        open.add(up);
        up.on('close', () => open.delete(up));
        client.pipe(up);
        up.pipe(client);
        client.resume();
        // A reset on either side resets the other (as a kill -9 would be seen).
        up.on('error', () => client.destroy());
        client.on('error', () => up.destroy());
        up.on('close', () => client.destroy());
        client.on('close', () => up.destroy());
      });
      up.once('error', () => {
        if (connected) return;
        stats.refused++;
        tryBackend(i + 1);
      });
    };
    tryBackend(0);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    name,
    port: server.address().port,
    stats,
    close() {
      for (const s of open) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// A free loopback port for a node (bound and released; the node binds it
// again at once, and again after each restart).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}
