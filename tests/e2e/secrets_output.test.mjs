// Black-box test that no command prints or logs a secret (issue 20: `init`
// once printed the database URL with its password). The configuration's
// database URL password, S3 secret key and SMTP password are three distinct
// canary strings; every subcommand of the binary runs with it - with
// --help, and with real arguments that succeed and that fail (an unreachable
// PostgreSQL, a PostgreSQL database that does not exist, an S3 endpoint
// that refuses the signature as a wrong secret does, an unreachable SMTP
// server) - and no canary may appear in its stdout, its stderr (the log:
// every role logs JSON lines there) or any file it leaves in the data
// directory. Configurations come from a config file and, once, from the
// environment (AUDIOMUS_DATABASE, AUDIOMUS_S3_SECRET_KEY,
// AUDIOMUS_SMTP_PASSWORD). With AUDIOMUS_TEST_PG_URL a configuration on a
// real PostgreSQL database runs too (the test cluster trusts any password,
// so the commands get past the connection and do their work).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, freshPgDatabase } from './lib/api.mjs';
import { BIN } from './lib/server.mjs';

const hex = () => crypto.randomBytes(6).toString('hex');
const CANARY = { pg: `pgCanary${hex()}`, s3: `s3Canary${hex()}`, smtp: `smtpCanary${hex()}` };
// The canaries as they could leak: as is, percent-encoded, base64.
const FORMS = Object.values(CANARY).flatMap((c) => [c, encodeURIComponent(c), Buffer.from(c).toString('base64').slice(0, 12)]);

const SUBCOMMANDS = ['serve', 'web', 'media', 'worker', 'init', 'check-config', 'keys', 'user', 'export', 'watermark'];

// An S3 endpoint that refuses every request the way S3 refuses a wrong
// secret. In a child process: the commands run under spawnSync, which
// blocks this process's event loop, so a server here could never answer.
const FAKE_S3 = `
const http = require('node:http');
const srv = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(403, { 'Content-Type': 'application/xml' });
    res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>'
      + '<Message>The request signature we calculated does not match the signature you provided.</Message></Error>');
  });
});
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
`;
function fakeS3() {
  const proc = spawn(process.execPath, ['-e', FAKE_S3], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    proc.stdout.setEncoding('utf8');
    proc.stdout.once('data', (d) => resolve({ proc, port: Number(d.trim()) }));
    proc.once('exit', (code) => reject(new Error(`fake S3 exited: ${code}`)));
  });
}

function pgUrl(base, dbname) {
  const u = new URL(base);
  u.username = u.username || 'postgres';
  u.password = CANARY.pg;
  if (dbname) u.pathname = `/${dbname}`;
  return u.toString();
}

// A closed port: connections are refused at once.
const CLOSED = 9;

function leaks(text) {
  return FORMS.filter((f) => text.includes(f));
}

// Every file under dir whose bytes hold a canary (as a relative path).
function leakyFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && leaks(fs.readFileSync(p).toString('latin1')).length) out.push(path.relative(dir, p));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

describe('no secret in any command\'s output (canary passwords, issue 20)', () => {
  let s3, tmp;
  const pgBase = process.env.AUDIOMUS_TEST_PG_URL;
  const pgDbs = [];

  before(async () => {
    s3 = await fakeS3();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-canary-'));
    fs.writeFileSync(path.join(tmp, 'pw'), `${PASSWORD}\n`);
  });
  after(() => {
    s3?.proc.kill();
    for (const db of pgDbs) db.drop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  // The settings of one configuration (name -> value).
  const settings = (name, database) => ({
    data_dir: path.join(tmp, name, 'data'),
    database,
    storage: `s3://audiomus?endpoint=http://127.0.0.1:${s3.port}&region=us-east-1&path_style=1`,
    s3_access_key: 'AKIDCANARYTEST',
    s3_secret_key: CANARY.s3,
    smtp_url: `smtps://127.0.0.1:${CLOSED}`,
    smtp_user: 'mailer',
    smtp_password: CANARY.smtp,
    mail_from: 'Audiomus <noreply@example.org>',
    argon2_opslimit: '2',
    argon2_memlimit: '8M',
  });

  // Run one command; returns its combined, checked output.
  function runOne(cfg, args, { input } = {}) {
    const long = ['serve', 'web', 'media', 'worker'].includes(args[0]) && !args.includes('--help');
    const full = [...args, ...(cfg.file ? ['--config', cfg.file] : []),
      ...(long && args[0] !== 'worker' ? ['--listen', '127.0.0.1:0'] : [])];
    const r = spawnSync(BIN, full, {
      encoding: 'utf8', input: input ?? '', env: { ...process.env, ...cfg.env },
      // the daemons run until a first job or failure shows, then stop (SIGTERM: a clean shutdown)
      timeout: long ? 3000 : 30000, killSignal: 'SIGTERM',
    });
    const out = `${r.stdout || ''}${r.stderr || ''}`;
    const found = leaks(out);
    assert.deepEqual(found, [], `audiomus ${full.join(' ')} printed a secret (${found.join(', ')}):\n${out}`);
    return { code: r.status, out };
  }

  // Every subcommand, --help and real arguments, successes and failures.
  function runAll(cfg, { help = false } = {}) {
    const data = cfg.settings.data_dir;
    const ran = [];
    const go = (args, o) => { const r = runOne(cfg, args, o); ran.push([args.join(' '), r.code, r.out]); return r; };
    if (help) {
      go(['--help']);
      go(['--version']);
      go(['no-such-command']);
      for (const c of SUBCOMMANDS) go([c, '--help']);
    }
    go(['init', '--data', data]);
    go(['init', '--data', data]); // exists: fails
    go(['check-config']);
    go(['check-config', '--set', 'database_tls=bogus']);
    go(['keys', 'show']);
    go(['keys', 'rotate']);
    go(['keys']);
    go(['user', 'add', 'owner@example.org', '--password-file', path.join(tmp, 'pw')]);
    go(['user', 'add', 'second@example.org'], { input: `${PASSWORD}\n` });
    go(['user', 'add', 'not-an-address', '--password-file', path.join(tmp, 'pw')]);
    go(['user', 'list']);
    go(['user', 'reset-password', 'owner@example.org', '--password-file', path.join(tmp, 'pw')]);
    go(['user', 'verify-email', 'owner@example.org']);
    go(['user', 'verify-email', 'nobody@example.org']);
    go(['export', '--account', 'owner@example.org', '--output', path.join(tmp, `${cfg.name}.tar`)]);
    go(['export', '--account', 'nobody@example.org', '--output', '-']);
    for (const role of ['serve', 'web', 'media', 'worker']) go([role]);
    const files = leakyFiles(data);
    assert.deepEqual(files, [], `a secret is in ${files.join(', ')} of the data directory`);
    return ran;
  }

  function configFile(name, s) {
    const file = path.join(tmp, `${name}.conf`);
    fs.mkdirSync(path.join(tmp, name), { recursive: true });
    fs.writeFileSync(file, Object.entries(s).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} = "${v}"\n`).join(''));
    return file;
  }

  test('config file: unreachable PostgreSQL (URL with a password), S3 refusing the secret, SMTP unreachable', () => {
    const s = settings('unreachable', `postgres://audiomus:${CANARY.pg}@127.0.0.1:${CLOSED}/audiomus?sslmode=disable`);
    const ran = runAll({ name: 'unreachable', settings: s, file: configFile('unreachable', s) }, { help: true });
    assert.ok(ran.some(([a, code]) => a === 'check-config' && code !== 0), 'check-config fails on it');
  });

  test('control: a canary where output shows it (the data directory\'s path) is caught', () => {
    const s = { ...settings('control', undefined), data_dir: path.join(tmp, CANARY.pg, 'data') };
    assert.throws(() => runOne({ settings: s, file: configFile('control', s) }, ['check-config']), /printed a secret/);
  });

  test('environment: the same secrets in AUDIOMUS_DATABASE, AUDIOMUS_S3_SECRET_KEY, AUDIOMUS_SMTP_PASSWORD', () => {
    const s = settings('env', `postgresql://audiomus:${CANARY.pg}@localhost:${CLOSED}/audiomus`);
    const { database, s3_secret_key: s3key, smtp_password: smtp, ...rest } = s;
    const env = { AUDIOMUS_DATABASE: database, AUDIOMUS_S3_SECRET_KEY: s3key, AUDIOMUS_SMTP_PASSWORD: smtp };
    runAll({ name: 'env', settings: s, file: configFile('env', rest), env });
  });

  test('SQLite database; S3 refusing the secret and SMTP unreachable: the commands do their work', () => {
    const s = settings('sqlite', undefined);
    const ran = runAll({ name: 'sqlite', settings: s, file: configFile('sqlite', s) });
    assert.ok(ran.some(([a, code]) => a.startsWith('user add owner@') && code === 0), `user add works: ${JSON.stringify(ran)}`);
    assert.ok(ran.some(([a, code, out]) => a === 'check-config' && code !== 0 && /SignatureDoesNotMatch|403/.test(out)),
      'the S3 endpoint refused the secret (so the secret was used)');
  });

  test('PostgreSQL that answers: a database that does not exist, then a real one (password in the URL)', { skip: !pgBase && 'needs AUDIOMUS_TEST_PG_URL' }, () => {
    const missing = settings('pgmissing', pgUrl(pgBase, `am_missing_${hex()}`));
    runAll({ name: 'pgmissing', settings: missing, file: configFile('pgmissing', missing) });
    const db = freshPgDatabase('am_canary');
    pgDbs.push(db);
    const real = settings('pgreal', pgUrl(db.url));
    const ran = runAll({ name: 'pgreal', settings: real, file: configFile('pgreal', real) });
    assert.ok(ran.some(([a, code]) => a.startsWith('user add owner@') && code === 0), `user add works: ${JSON.stringify(ran)}`);
  });
});
