// The test hooks exist only in the test build (docs/development.md "Test
// hooks"): the binary under test (AUDIOMUS_BIN: the release or the ASan
// build) and its audiomus-xcode hold none of their strings while the test
// build beside it (AUDIOMUS_TEST_BIN, `make hooks`) holds them all
// (scripts/check-test-hooks, also run by `make lint`), `--version` tells
// the two apart, and the binary under test ignores AUDIOMUS_TESTING=1 with
// a test clock file: its clock does not move.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { newOwner, startApi } from './lib/api.mjs';
import { BIN, run, testBin } from './lib/server.mjs';

test('no test hook in the binary under test or its audiomus-xcode; all of them in the test build', () => {
  const r = spawnSync('scripts/check-test-hooks', [path.dirname(BIN), path.dirname(testBin())], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

test('--version says "test build" for the test build only', () => {
  const v = run(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^audiomus /);
  assert.doesNotMatch(v.stdout, /test build/);
  const t = spawnSync(testBin(), ['--version'], { encoding: 'utf8' });
  assert.match(t.stdout, /^test build: /m);
});

test('the binary under test ignores AUDIOMUS_TESTING=1 and AUDIOMUS_TEST_CLOCK_FILE', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-noclock-'));
  const clock = path.join(dir, 'offset');
  fs.writeFileSync(clock, '0\n');
  const srv = await startApi('sqlite', { env: { AUDIOMUS_TESTING: '1', AUDIOMUS_TEST_CLOCK_FILE: clock } });
  try {
    const a = await newOwner(srv);
    fs.writeFileSync(clock, `${40 * 86400}\n`); // past the 30-day absolute timeout, were it read
    assert.equal((await a.get('/api/v1/session')).status, 200, 'the clock did not move');
    assert.ok(!srv.logs.some((l) => /^test_clock/.test(l.event || '')), 'no test clock log line');
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
