#!/usr/bin/env node
// Slow-client load for bench/media_stream.sh (issue 6): N TLS connections each
// streaming a signed media URL and reading it at RATE bytes/s, plus M
// connections each sending a tus PATCH body at RATE bytes/s to its own upload
// URL. Connections open over RAMP seconds from several loopback source
// addresses (the server's per-address connection limit), stay open for
// SECONDS, then everything is cut and a JSON summary is printed. Bounded in
// count and time; loopback only; Node built-ins only.
//
//   node bench/slowclients.mjs --port P --down '/m/OBJ?...' --uplist urls.txt \
//        [--downloads 1000] [--uploads 200] [--rate 16384] [--seconds 30] [--ramp 5] [--addrs 10]
import fs from 'node:fs';
import tls from 'node:tls';

const a = process.argv.slice(2);
const opt = {};
for (let i = 0; i < a.length; i += 2) opt[a[i].replace(/^--/, '')] = a[i + 1];
const port = Number(opt.port);
const nDown = Number(opt.downloads ?? 1000);
const nUp = Number(opt.uploads ?? 200);
const rate = Number(opt.rate ?? 16384);
const seconds = Number(opt.seconds ?? 30);
const ramp = Number(opt.ramp ?? 5);
const nAddrs = Number(opt.addrs ?? 10);
const upUrls = opt.uplist ? fs.readFileSync(opt.uplist, 'utf8').split('\n').filter(Boolean) : [];
if (nUp > upUrls.length) { console.error(`slowclients: ${nUp} uploaders need ${nUp} upload URLs`); process.exit(2); }
// A WAV header so the upload passes the media role's type sniffing.
const WAV = Buffer.alloc(44);
WAV.write('RIFF', 0); WAV.writeUInt32LE(0xffffffff, 4); WAV.write('WAVEfmt ', 8); WAV.writeUInt32LE(16, 16);
WAV.writeUInt16LE(1, 20); WAV.writeUInt16LE(2, 22); WAV.writeUInt32LE(48000, 24); WAV.writeUInt32LE(192000, 28);
WAV.writeUInt16LE(4, 32); WAV.writeUInt16LE(16, 34); WAV.write('data', 36); WAV.writeUInt32LE(0xffffffff, 40);

const st = { down_open: 0, down_206: 0, down_bytes: 0, down_err: 0, up_open: 0, up_bytes: 0, up_err: 0,
  up_early_answer: 0, statuses: {} };
const socks = [];
const t0 = Date.now();
let stopping = false;

function addr(i) { return `127.0.0.${2 + (i % nAddrs)}`; }

function connect(i, onReady) {
  const s = tls.connect({ host: '127.0.0.1', port, localAddress: addr(i), servername: 'localhost',
    rejectUnauthorized: false });
  socks.push(s);
  s.setNoDelay(true);
  s.on('secureConnect', () => onReady(s));
  return s;
}

function downloader(i) {
  let got = 0; let head = ''; let start = 0;
  const s = connect(i, () => {
    st.down_open++; start = Date.now();
    s.write(`GET ${opt.down} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nRange: bytes=0-\r\n\r\n`);
  });
  s.on('data', (d) => {
    if (head !== null) {
      head += d.toString('latin1', 0, Math.min(d.length, 64));
      if (head.length >= 12) { const code = head.slice(9, 12); st.statuses[code] = (st.statuses[code] || 0) + 1;
        if (code === '206') st.down_206++; head = null; }
    }
    got += d.length; st.down_bytes += d.length;
    // token bucket: 64 KiB burst, then RATE bytes/s
    const allowed = 65536 + rate * (Date.now() - start) / 1000;
    if (got > allowed && !stopping) { s.pause(); setTimeout(() => s.resume(), ((got - allowed) / rate) * 1000); }
  });
  s.on('error', () => { if (!stopping) st.down_err++; });
}

function uploader(i) {
  const u = new URL(upUrls[i]);
  let timer = null; let sent = 0;
  const s = connect(i + nDown, () => {
    st.up_open++;
    const len = Number(u.searchParams.get('n'));
    s.write(`PATCH ${u.pathname}${u.search} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nTus-Resumable: 1.0.0\r\n` +
      `Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: ${len}\r\n\r\n`);
    s.write(WAV); sent = WAV.length;
    const chunk = Buffer.alloc(Math.max(1, Math.floor(rate / 4)));
    timer = setInterval(() => {
      if (stopping || sent + chunk.length >= len) return;
      s.write(chunk); sent += chunk.length; st.up_bytes += chunk.length;
    }, 250);
  });
  s.on('data', (d) => { // an answer before the body ends is an error (403/409/413/415)
    st.up_early_answer++; const code = d.toString('latin1', 9, 12); st.statuses[`up${code}`] = (st.statuses[`up${code}`] || 0) + 1;
  });
  s.on('error', () => { if (!stopping) st.up_err++; });
  s.on('close', () => clearInterval(timer));
}

const total = nDown + nUp;
for (let k = 0; k < total; k++) {
  setTimeout(() => { if (k < nDown) downloader(k); else uploader(k - nDown); }, (ramp * 1000 * k) / total);
}
setTimeout(() => {
  stopping = true;
  st.seconds = (Date.now() - t0) / 1000;
  for (const s of socks) s.destroy();
  console.log(JSON.stringify(st));
  setTimeout(() => process.exit(0), 200);
}, (ramp + seconds) * 1000);
setTimeout(() => process.exit(3), (ramp + seconds + 20) * 1000).unref();
