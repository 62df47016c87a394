// Black-box tests of the Prometheus endpoint (issue 25, docs/deploy.md
// "Metrics"): `metrics_listen` starts a plain-HTTP listener apart from the
// HTTPS one. After real traffic (an owner, a project, a tus upload the
// worker transcodes, a guest who opens the review page, comments, plays and
// downloads, a 404) the scrape is parsed strictly as the text exposition
// format (HELP/TYPE lines, names, label syntax, no duplicate series,
// histogram buckets cumulative and ending in le="+Inf" equal to _count), the
// counters moved as the traffic says, and no token, id, e-mail, reviewer
// name, title or address appears anywhere in it. With metrics_token a
// scrape needs the bearer token (401 otherwise); off loopback the token is
// required to start at all; /metrics is not served on the main port.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { BACKENDS, Client, newOwner, newProject, startApi, uploadTrack, waitVersion } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw, run, startServer } from './lib/server.mjs';

// One plain HTTP request to the metrics listener.
function scrapeRaw(port, { path = '/metrics', method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

// Parse "{a="x",b="y"}" strictly from s at i; returns [labels, next index].
function parseLabels(s, i, where) {
  const labels = {};
  assert.equal(s[i], '{', where);
  i++;
  while (s[i] !== '}') {
    const eq = s.indexOf('=', i);
    assert.ok(eq > i, `label without "=": ${where}`);
    const name = s.slice(i, eq);
    assert.match(name, LABEL, `label name: ${where}`);
    assert.ok(!(name in labels), `repeated label ${name}: ${where}`);
    assert.equal(s[eq + 1], '"', `label value not quoted: ${where}`);
    let v = '';
    let j = eq + 2;
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        j++;
        assert.ok(['\\', '"', 'n'].includes(s[j]), `bad escape in label value: ${where}`);
        v += s[j] === 'n' ? '\n' : s[j];
      } else {
        v += s[j];
      }
    }
    assert.equal(s[j], '"', `unterminated label value: ${where}`);
    labels[name] = v;
    i = j + 1;
    if (s[i] === ',') i++;
    else assert.equal(s[i], '}', `expected , or } after a label: ${where}`);
  }
  return [labels, i + 1];
}

function parseValue(t, where) {
  if (t === '+Inf') return Infinity;
  if (t === '-Inf') return -Infinity;
  if (t === 'NaN') return NaN;
  assert.match(t, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `value: ${where}`);
  return Number(t);
}

// The text exposition format 0.0.4, strictly: returns { families, samples }
// where samples maps 'name{sorted labels}' to a number.
function parseExposition(text) {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const families = new Map(); // name -> { type, help }
  const samples = new Map();
  const seenSample = new Set(); // families that already have samples
  for (const [n, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${n + 1}: ${line}`;
    assert.notEqual(line, '', `empty line: ${where}`);
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      assert.ok(m, `comment is not HELP or TYPE: ${where}`);
      const [, kw, name, rest] = m;
      assert.match(name, NAME, where);
      const f = families.get(name) || {};
      if (kw === 'TYPE') {
        assert.ok(TYPES.has(rest), `type: ${where}`);
        assert.equal(f.type, undefined, `TYPE twice: ${where}`);
        assert.ok(!seenSample.has(name), `TYPE after samples: ${where}`);
        f.type = rest;
      } else {
        assert.equal(f.help, undefined, `HELP twice: ${where}`);
        assert.ok(rest.length > 0, `empty HELP: ${where}`);
        f.help = rest;
      }
      families.set(name, f);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    assert.ok(m, `metric name: ${where}`);
    const name = m[1];
    let i = name.length;
    let labels = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, where);
    assert.equal(line[i], ' ', `one space before the value: ${where}`);
    const value = parseValue(line.slice(i + 1), where);
    // Which family: a histogram's series carry suffixes.
    let fam = name;
    for (const suf of ['_bucket', '_sum', '_count']) {
      const base = name.slice(0, -suf.length);
      if (name.endsWith(suf) && families.get(base)?.type === 'histogram') fam = base;
    }
    const f = families.get(fam);
    assert.ok(f?.type, `sample before its TYPE: ${where}`);
    assert.ok(f.help, `no HELP for ${fam}`);
    if (f.type === 'counter') assert.ok(name.endsWith('_total'), `counter name ends in _total: ${where}`);
    if (f.type === 'histogram') assert.notEqual(name, fam, `histogram sample without suffix: ${where}`);
    if (name.endsWith('_bucket') && f.type === 'histogram') assert.ok('le' in labels, `bucket without le: ${where}`);
    if (f.type === 'counter' || name.endsWith('_bucket') || name.endsWith('_count')) assert.ok(value >= 0, `negative: ${where}`);
    seenSample.add(fam);
    const key = `${name}{${Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`).join(',')}}`;
    assert.ok(!samples.has(key), `duplicate series: ${where}`);
    samples.set(key, value);
  }
  checkHistograms(families, samples);
  return { families, samples };
}

// Each histogram series: le ascending, counts cumulative, last le "+Inf",
// and _count equal to it, with a _sum.
function checkHistograms(families, samples) {
  for (const [fam, f] of families) {
    if (f.type !== 'histogram') continue;
    const series = new Map();
    for (const [key, v] of samples) {
      if (!key.startsWith(`${fam}_bucket{`)) continue;
      const labels = key.slice(`${fam}_bucket{`.length, -1).split(',');
      const le = labels.find((l) => l.startsWith('le=')).slice(4, -1);
      const rest = labels.filter((l) => !l.startsWith('le=')).join(',');
      if (!series.has(rest)) series.set(rest, []);
      series.get(rest).push([le === '+Inf' ? Infinity : parseValue(le, key), v]);
    }
    assert.ok(series.size > 0, `histogram ${fam} has buckets`);
    for (const [rest, buckets] of series) {
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(buckets[i][0] > buckets[i - 1][0], `${fam}{${rest}} le ascending`);
        assert.ok(buckets[i][1] >= buckets[i - 1][1], `${fam}{${rest}} cumulative`);
      }
      assert.equal(buckets.at(-1)[0], Infinity, `${fam}{${rest}} ends with le="+Inf"`);
      assert.equal(samples.get(`${fam}_count{${rest}}`), buckets.at(-1)[1], `${fam}{${rest}} _count = +Inf bucket`);
      assert.ok(samples.has(`${fam}_sum{${rest}}`), `${fam}{${rest}} has _sum`);
    }
  }
}

async function scrape(port, headers) {
  const r = await scrapeRaw(port, { headers });
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  return { text: r.body, ...parseExposition(r.body) };
}

const val = (s, key) => s.samples.get(key) ?? 0;

async function metricsPort(srv) {
  return Number((await srv.waitLog((l) => l.event === 'metrics_listening')).port);
}

for (const backend of BACKENDS) describe(`/metrics after traffic (${backend})`, () => {
  let srv, port;
  before(async () => {
    srv = await startApi(backend, { args: ['--set', 'metrics_listen=127.0.0.1:0'] });
    port = await metricsPort(srv);
  });
  after(async () => { await srv?.stop(); });

  test('the format parses strictly, counters move with the traffic, no sensitive value in any label', async () => {
    const s0 = await scrape(port);
    const reviewer = 'Reviewer Quxwell-Zebedee';
    const title = 'Metrics Secret Title';
    const guestAddr = '127.0.0.93';
    const o = await newOwner(srv, { localAddress: '127.0.0.92' });
    const p = await newProject(o, title);
    const bytes = wav(1);
    const { tid, vid } = await uploadTrack(o, p.id, bytes, { title: 'Track Quux', filename: 'quux.wav' });
    assert.equal((await waitVersion(o, p.id, vid)).state, 'ready');
    const guest = new Client(srv, { localAddress: guestAddr });
    const page = await guest.get(`/api/v1/s/${p.link.token}`);
    assert.equal(page.status, 200, page.body);
    const c = await guest.post(`/api/v1/s/${p.link.token}/comments`, { name: reviewer, body: 'lovely', version_id: vid, time_ms: 5 });
    assert.equal(c.status, 201, c.body);
    const media = page.json.tracks[0].versions[0].media;
    const play = await raw(srv, 'GET', pathOf(media.stream), { Range: 'bytes=0-99' }, undefined, { localAddress: guestAddr });
    assert.equal(play.status, 206);
    const dl = await raw(srv, 'GET', pathOf(media.download), {}, undefined, { localAddress: guestAddr });
    assert.equal(dl.status, 200);
    assert.equal((await raw(srv, 'GET', `/s/${p.link.token}`, {}, undefined, {})).status, 200);
    assert.equal((await raw(srv, 'GET', `/no-such-${p.link.token}`, {})).status, 404);

    // A request is counted when the server's completion callback runs, which
    // can come just after the client has read the last byte: wait (bounded)
    // until the last request's count shows, then check everything.
    let s1 = await scrape(port);
    for (let i = 0; i < 50 && val(s1, 'audiomus_http_requests_total{code="404",route="other"}') - val(s0, 'audiomus_http_requests_total{code="404",route="other"}') < 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s1 = await scrape(port);
    }
    const d = (key) => val(s1, key) - val(s0, key);
    assert.ok(d('audiomus_http_requests_total{code="201",route="api"}') >= 2, 'project, track, upload created');
    assert.ok(d('audiomus_http_requests_total{code="200",route="review"}') >= 1, 'review page API');
    assert.ok(d('audiomus_http_requests_total{code="201",route="review"}') >= 1, 'guest comment');
    assert.ok(d('audiomus_http_requests_total{code="204",route="upload"}') >= 1, 'tus PATCH');
    assert.ok(d('audiomus_http_requests_total{code="206",route="media_stream"}') >= 1, 'play');
    assert.ok(d('audiomus_http_requests_total{code="200",route="media_download"}') >= 1, 'download');
    assert.ok(d('audiomus_http_requests_total{code="200",route="static"}') >= 1, 'review page');
    assert.ok(d('audiomus_http_requests_total{code="404",route="other"}') >= 1, '404');
    assert.ok(d('audiomus_http_request_bytes_total{route="upload"}') >= bytes.length, 'upload bytes received');
    assert.ok(d('audiomus_http_response_bytes_total{route="media_stream"}') >= 100, 'stream bytes sent');
    assert.ok(d('audiomus_http_response_bytes_total{route="media_download"}') >= dl.body.length, 'download bytes sent');
    assert.ok(d('audiomus_http_request_duration_seconds_count{route="review"}') >= 2);
    assert.ok(d('audiomus_tls_handshakes_total{version="1.3"}') >= 5, 'one handshake per new connection');
    assert.ok(d('audiomus_transcodes_total{result="ok"}') >= 1, 'the worker of serve counts here');
    assert.ok(val(s1, 'audiomus_transcode_duration_seconds_count{}') >= 1);
    assert.equal(val(s1, 'audiomus_database_up{}'), 1);
    for (const k of ['transcode', 'mail', 'other']) {
      assert.ok(s1.samples.has(`audiomus_jobs_queued{kind="${k}"}`), k);
      assert.ok(s1.samples.has(`audiomus_jobs_oldest_queued_age_seconds{kind="${k}"}`), k);
    }
    assert.ok(s1.samples.has('audiomus_mail_outbox_messages{state="queued"}'));
    assert.ok(val(s1, 'audiomus_http_connections_active{}') >= 0);
    assert.ok(d('audiomus_http_connections_total{}') >= 5);

    // Exactly the /healthz requests made between two scrapes.
    const h0 = await scrape(port);
    for (let i = 0; i < 3; i++) assert.equal((await raw(srv, 'GET', '/healthz')).status, 200);
    // (counted in the completion callback, which can run just after the
    // client read the answer: wait, bounded, for the third, then exactly 3)
    const hd = (s) => val(s, 'audiomus_http_requests_total{code="200",route="health"}') - val(h0, 'audiomus_http_requests_total{code="200",route="health"}');
    let h1 = await scrape(port);
    for (let i = 0; i < 50 && hd(h1) < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      h1 = await scrape(port);
    }
    assert.equal(hd(h1), 3);
    assert.equal(val(h1, 'audiomus_http_request_duration_seconds_count{route="health"}') - val(h0, 'audiomus_http_request_duration_seconds_count{route="health"}'), 3);

    // Nothing a user typed or was given, and no address, anywhere.
    const secrets = [p.link.token, p.id, tid, vid, o.accountId, o.email, reviewer, title, 'Track Quux', 'quux.wav',
      '127.0.0.92', guestAddr, '127.0.0.1', o.csrf, ...o.jar.values(), ...guest.jar.values()];
    for (const s of secrets) assert.ok(s && !s1.text.includes(s), `the scrape holds ${s}`);
    assert.doesNotMatch(s1.text, /@|[0-9a-f]{32}/i, 'no e-mail address or hex id');
    // Every label value is from the fixed sets.
    const allowed = /^(route|code|le|version|result|kind|state)$/;
    for (const key of s1.samples.keys()) {
      for (const [, k] of key.matchAll(/([a-z_]+)="/g)) assert.match(k, allowed, key);
    }
  });

  test('/metrics is not on the HTTPS port; the listener answers only GET /metrics', async () => {
    assert.equal((await raw(srv, 'GET', '/metrics')).status, 404);
    assert.equal((await scrapeRaw(port, { path: '/other' })).status, 404);
    const post = await scrapeRaw(port, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await scrapeRaw(port, { method: 'HEAD' })).status, 200);
  });
});

describe('/metrics with metrics_token', () => {
  const TOKEN = 'scrape-token-0123456789abcdef';
  let srv, port;
  before(async () => {
    srv = await startServer({ args: ['--set', 'metrics_listen=127.0.0.1:0'], env: { AUDIOMUS_METRICS_TOKEN: TOKEN } });
    port = await metricsPort(srv);
  });
  after(async () => { await srv?.stop(); });

  test('401 without the bearer token or with another one, 200 with it; the token is not logged', async () => {
    const none = await scrapeRaw(port);
    assert.equal(none.status, 401);
    assert.match(none.headers['www-authenticate'], /^Bearer /);
    assert.doesNotMatch(none.body, /audiomus_/);
    const wrong = TOKEN.slice(0, -1) + (TOKEN.endsWith('f') ? 'e' : 'f');
    assert.equal((await scrapeRaw(port, { headers: { Authorization: `Bearer ${wrong}` } })).status, 401);
    assert.equal((await scrapeRaw(port, { headers: { Authorization: `Bearer ${TOKEN}x` } })).status, 401);
    assert.equal((await scrapeRaw(port, { headers: { Authorization: `Basic ${TOKEN}` } })).status, 401);
    assert.equal((await scrapeRaw(port, { path: '/other' })).status, 401, 'nothing without the token');
    const s = await scrape(port, { Authorization: `Bearer ${TOKEN}` });
    assert.ok(s.samples.has('audiomus_database_up{}'));
    assert.ok(!JSON.stringify(srv.logs).includes(TOKEN));
  });
});

describe('metrics_listen settings', () => {
  test('off loopback without a token, or with a short token, the configuration is refused', () => {
    const noTok = run(['check-config', '--data', '/nonexistent', '--set', 'metrics_listen=0.0.0.0:9464']);
    assert.notEqual(noTok.code, 0);
    assert.match(noTok.stderr, /metrics_listen on 0\.0\.0\.0 \(not loopback\) needs metrics_token/);
    const short = run(['check-config', '--data', '/nonexistent', '--set', 'metrics_listen=127.0.0.1:9464', '--set', 'metrics_token=short']);
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /metrics_token: use 16 characters or more/);
    const ok = run(['check-config', '--data', '/nonexistent', '--set', 'metrics_listen=0.0.0.0:9464'], { env: { ...process.env, AUDIOMUS_METRICS_TOKEN: 'x'.repeat(20) } });
    assert.match(ok.stdout, /^configuration parsed: ok$/m, ok.stderr);
  });
});
