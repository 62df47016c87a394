// The systemd units in deploy/systemd/ (docs/deploy.md): they start only
// subcommands, options and settings the binary has, carry the hardening the
// deployment guide promises, let the worker's transcoder child install its
// own seccomp filter, and (where systemd-analyze exists) verify cleanly.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { BIN, run } from './lib/nodes.mjs';

const DIR = 'deploy/systemd';
const units = fs.readdirSync(DIR).filter((f) => /\.(service|target)$/.test(f));
const services = units.filter((f) => f.endsWith('.service'));

// [Section] key=value, comments and continuation-free lines (all we use).
function parse(file) {
  const out = [];
  let section = null;
  for (const line of fs.readFileSync(path.join(DIR, file), 'utf8').split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#') || l.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(l);
    if (s) { section = s[1]; continue; }
    const eq = l.indexOf('=');
    assert.ok(eq > 0, `${file}: not key=value: ${l}`);
    out.push({ section, key: l.slice(0, eq), value: l.slice(eq + 1) });
  }
  return out;
}
const values = (u, key) => u.filter((e) => e.section === 'Service' && e.key === key).map((e) => e.value);

const help = run(['--help']).stdout;
const commands = new Set([...help.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]));
const settings = new Set([...help.matchAll(/^ {2}([a-z0-9_]+) \((?:string|integer|size|duration|bool)/gm)].map((m) => m[1]));

test('units: the binary knows every command, option and setting they use', () => {
  assert.ok(services.length >= 4, `units: ${units}`);
  assert.ok(commands.has('web') && settings.has('key_file') && settings.has('listen'), 'parsed audiomus --help');
  const roles = new Set();
  for (const f of services) {
    const u = parse(f);
    const exec = values(u, 'ExecStart');
    assert.equal(exec.length, 1, `${f}: one ExecStart`);
    const argv = exec[0].split(/\s+/);
    assert.equal(argv[0], '/usr/bin/audiomus', f);
    assert.ok(commands.has(argv[1]), `${f}: unknown command ${argv[1]}`);
    roles.add(argv[1]);
    for (let i = 2; i < argv.length; i++) {
      assert.ok(['--config', '--data', '--listen', '--set'].includes(argv[i]), `${f}: unknown option ${argv[i]}`);
      const v = argv[++i];
      assert.ok(v, `${f}: ${argv[i - 1]} needs a value`);
      if (argv[i - 1] === '--set') assert.ok(settings.has(v.split('=')[0]), `${f}: unknown setting ${v}`);
    }
    // The subcommand parses these options (its --help exits 0).
    const r = spawnSync(BIN, [...argv.slice(1), '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${f}: ${argv.slice(1).join(' ')} --help: ${r.stderr}`);
    for (const e of values(u, 'Environment')) {
      const name = /^([A-Z0-9_]+)=/.exec(e)?.[1];
      assert.ok(name, `${f}: Environment=${e}`);
      if (name.startsWith('AUDIOMUS_')) assert.ok(settings.has(name.slice(9).toLowerCase()), `${f}: ${name} is no setting`);
    }
  }
  for (const role of ['serve', 'web', 'media', 'worker']) assert.ok(roles.has(role), `no unit runs ${role}`);
});

test('units: hardening', () => {
  const want = {
    User: 'audiomus', NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes',
    PrivateDevices: 'yes', MemoryDenyWriteExecute: 'yes', LockPersonality: 'yes', LimitCORE: '0',
    RestrictNamespaces: 'yes', RestrictSUIDSGID: 'yes', SystemCallArchitectures: 'native',
    RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6', UMask: '0077',
  };
  for (const f of services) {
    const u = parse(f);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(values(u, k), [v], `${f}: ${k}`);
    const caps = values(u, 'CapabilityBoundingSet');
    assert.equal(caps.length, 1, `${f}: CapabilityBoundingSet`);
    assert.ok(['', 'CAP_NET_BIND_SERVICE'].includes(caps[0]), `${f}: capabilities ${caps[0]}`);
    assert.deepEqual(values(u, 'AmbientCapabilities').filter((c) => c !== caps[0]), [], `${f}: ambient capabilities beyond the bounding set`);
    const filters = values(u, 'SystemCallFilter');
    assert.ok(filters.some((x) => x.split(/\s+/).includes('@system-service')), `${f}: SystemCallFilter=@system-service`);
    // The worker role execs `audiomus-xcode xcode-child`, which loads its own
    // filter with seccomp(2) (TSYNC): not in @system-service.
    const cmd = values(u, 'ExecStart')[0].split(/\s+/)[1];
    if (cmd === 'serve' || cmd === 'worker') assert.ok(filters.some((x) => x.split(/\s+/).includes('seccomp')), `${f}: the transcoder child needs seccomp(2)`);
    // Writable: the serve unit's data directory only; scale-out roles none.
    const rw = values(u, 'ReadWritePaths');
    assert.deepEqual(rw, cmd === 'serve' ? ['/var/lib/audiomus'] : [], `${f}: ReadWritePaths`);
  }
});

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;
test('units: systemd-analyze verify is silent', { skip: !analyze && 'systemd-analyze is not installed' }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'am-units-'));
  try {
    // The real binary in ExecStart (verify checks it is executable); the
    // templates through one instance each.
    for (const f of units) fs.writeFileSync(path.join(tmp, f), fs.readFileSync(path.join(DIR, f), 'utf8').replaceAll('/usr/bin/audiomus', path.resolve(BIN)));
    const names = units.map((f) => (f.endsWith('@.service') ? f.replace('@.service', '@8443.service') : f));
    for (const n of names) if (!units.includes(n)) fs.symlinkSync(n.replace(/@[^.]+\./, '@.'), path.join(tmp, n));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...names.map((n) => `./${n}`)], { cwd: tmp, encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l && !/Failed to read \$container|PR_SET_MM/.test(l));
    assert.equal(r.status, 0, out.join('\n'));
    assert.deepEqual(out, [], 'systemd-analyze verify reports nothing');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
