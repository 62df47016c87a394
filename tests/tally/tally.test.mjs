// tests/tally/tally.test.mjs: the test suite's own count can be trusted.
// Each case runs `scripts/test-all --only ...` (the same runners and tally as
// the full run) on a fixture from tests/tally/fixtures/ and checks the exit
// status and the closing lines: a failing before() hook, a todo, an unlisted
// skip under CI, a crashing unit binary, a unit binary that skips whole and
// an empty fuzz corpus each fail the run; the passing controls pass, so
// every assertion here could fail. Test tooling only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const fx = (name) => join(here, 'fixtures', name);
let tmp;

// run(args, env): scripts/test-all --only ARGS; returns exit status and output.
function run(args, env = {}) {
  // NODE_TEST_CONTEXT would make the inner `node --test` a silent child of
  // this one (it then runs nothing): drop it, as a user's shell has none.
  const { NODE_TEST_CONTEXT, ...outer } = process.env;
  const r = spawnSync(join(root, 'scripts', 'test-all'), ['--only', ...args], {
    cwd: root, encoding: 'utf8', timeout: 120000,
    env: { ...outer, CI: 'true', AM_SKIP_ALLOW: join(tmp, 'none.allow'), ...env },
  });
  const out = `${r.stdout}${r.stderr}`;
  const last = r.stdout.trim().split('\n').pop();
  return { status: r.status, out, last };
}

function cc(out, ...args) {
  const r = spawnSync('cc', ['-o', join(tmp, out), ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `cc ${out}: ${r.stderr}`);
  return join(tmp, out);
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'am-tally-'));
  writeFileSync(join(tmp, 'none.allow'), '# nothing is allowed to skip\n');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('tally: passing Node tests pass (the control)', () => {
  const r = run(['node', fx('passes.mjs')]);
  assert.equal(r.status, 0, r.out);
  assert.equal(r.last, '2 passed, 0 failed, 0 skipped');
});

test('tally: a failing before() fails the run and names the cancelled tests', () => {
  const r = run(['node', fx('before-fails.mjs')]);
  assert.notEqual(r.status, 0, r.out);
  assert.match(r.last, /^0 passed, [1-9]\d* failed/);
  assert.match(r.out, /FAIL \[node\] server suite > first request: cancelledByParent/);
  assert.match(r.out, /FAIL \[node\] server suite: hookFailed: server did not start/);
});

test('tally: a todo test is a failure', () => {
  const r = run(['node', fx('todo.mjs')]);
  assert.notEqual(r.status, 0, r.out);
  assert.equal(r.last, '1 passed, 1 failed, 0 skipped');
  assert.match(r.out, /FAIL \[node\] export markers: todo/);
});

test('tally: an unlisted skip fails under CI, a listed one does not, and both are named', () => {
  let r = run(['node', fx('skips.mjs')]);
  assert.notEqual(r.status, 0, r.out);
  assert.equal(r.last, '1 passed, 2 failed, 0 skipped');
  assert.match(r.out, /FAIL \[node\] needs postgres: skipped \(AUDIOMUS_TEST_PG_URL is not set\) and not listed/);
  assert.match(r.out, /FAIL \[node\] needs a sink: skipped \(no SMTP sink\)/);

  const allow = join(tmp, 'skips.allow');
  writeFileSync(allow, 'node | needs postgres | the fixture has no server\nnode | needs a sink | the fixture has no sink\n');
  r = run(['node', fx('skips.mjs')], { AM_SKIP_ALLOW: allow });
  assert.equal(r.status, 0, r.out);
  assert.equal(r.last, '1 passed, 0 failed, 2 skipped');
  assert.match(r.out, /SKIP \[node\] needs postgres: AUDIOMUS_TEST_PG_URL is not set \(allowed: the fixture has no server\)/);

  r = run(['node', fx('skips.mjs')], { CI: '' });
  assert.equal(r.status, 0, r.out);
  assert.equal(r.last, '1 passed, 0 failed, 2 skipped');
  assert.match(r.out, /not in tests\/skips.allow: fails under CI/);
});

test('tally: a malformed allow-list line fails the run', () => {
  const allow = join(tmp, 'bad.allow');
  writeFileSync(allow, 'node | needs postgres\n');
  const r = run(['node', fx('passes.mjs')], { AM_SKIP_ALLOW: allow });
  assert.notEqual(r.status, 0, r.out);
  assert.match(r.out, /want "RUN \| TEST ID \| REASON"/);
});

test('tally: passing cmocka tests pass, one crashing test fails and is named', () => {
  const ok = cc('unit_pass', fx('unit_pass.c'), '-lcmocka');
  let r = run(['unit', ok]);
  assert.equal(r.status, 0, r.out);
  assert.equal(r.last, '2 passed, 0 failed, 0 skipped');

  const crash = cc('unit_crash', fx('unit_crash.c'), '-lcmocka');
  r = run(['unit', crash]);
  assert.notEqual(r.status, 0, r.out);
  assert.match(r.out, /FAIL \[unit\] unit_crash: crashes/);
  assert.match(r.last, /^1 passed, [1-9]\d* failed/);
});

test('tally: a unit binary that skips whole (exit 77) fails under CI', () => {
  const skip = cc('unit_skip', fx('unit_skip.c'));
  let r = run(['unit', skip]);
  assert.notEqual(r.status, 0, r.out);
  assert.match(r.out, /FAIL \[unit\] unit_skip: skipped \(SKIP db \(postgresql\)/);
  r = run(['unit', skip], { CI: '' });
  assert.equal(r.status, 0, r.out);
  assert.equal(r.last, '0 passed, 0 failed, 1 skipped');
});

test('tally: a fuzz replay of an empty or missing corpus fails, of one input passes', () => {
  const bin = cc('toy-replay', fx('fuzz_target.c'), join(root, 'fuzz', 'replay_main.c'));
  const corpus = join(tmp, 'corpus');
  mkdirSync(join(corpus, 'toy'), { recursive: true });
  let r = run(['unit', '--', bin], { AM_FUZZ_CORPUS: corpus });
  assert.notEqual(r.status, 0, r.out);
  assert.match(r.out, /FAIL \[unit\] fuzz replay: toy: no input replayed/);

  r = run(['unit', '--', bin], { AM_FUZZ_CORPUS: join(tmp, 'no-such-corpus') });
  assert.notEqual(r.status, 0, r.out);

  writeFileSync(join(corpus, 'toy', 'seed'), 'x');
  r = run(['unit', '--', bin], { AM_FUZZ_CORPUS: corpus });
  assert.equal(r.status, 0, r.out);
  assert.equal(r.last, '1 passed, 0 failed, 0 skipped');
});
