// Black-box test of the server's stop while an upload PATCH is suspended
// for a media job (docs/configuration.md "Signals"): libmicrohttpd 0.9.75
// aborts the process when it is stopped with a connection suspended, so the
// stop must wait for the job to resume the request, however long after
// shutdown_grace that is. The test build holds every media job 6 s
// (AUDIOMUS_TEST_MEDIA_JOB_HOLD_MS, testing mode only), the grace is 1 s,
// and SIGTERM arrives while the PATCH's first job is held: the server must
// say it is waiting (http_shutdown_waiting) and exit 0, not die on SIGABRT.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { newOwner, newProject, startApi } from './lib/api.mjs';
import { wav } from './lib/audio.mjs';
import { pathOf, raw } from './lib/server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('SIGTERM while an upload waits for its job', () => {
  let srv;
  before(async () => {
    srv = await startApi('sqlite', {
      hooks: true,
      args: ['--set', 'shutdown_grace=1'],
      env: { AUDIOMUS_TEST_MEDIA_JOB_HOLD_MS: '6000' },
    });
  });
  after(async () => { await srv?.stop(); });

  test('the stop waits for the suspended request past the grace and exits 0', async () => {
    const owner = await newOwner(srv);
    const p = await newProject(owner, 'Stop EP');
    const tid = (await owner.post(`/api/v1/projects/${p.id}/tracks`, { title: 'Held' })).json.track.id;
    const bytes = wav(2);
    const up = await owner.post(`/api/v1/projects/${p.id}/tracks/${tid}/uploads`, { filename: 'held.wav', size: bytes.length });
    assert.equal(up.status, 201, up.body);
    // the PATCH's first job (the part's begin) is held 6 s: the request is
    // suspended when the signal comes
    const patch = raw(srv, 'PATCH', pathOf(up.json.upload_url), {
      'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': bytes.length,
    }, bytes, { timeout: 30000 }).catch((e) => ({ error: e }));
    await sleep(1500); // the PATCH reaches its job well within this (its hold is 6 s)
    srv.proc.kill('SIGTERM');
    const r = await srv.exited;
    assert.deepEqual(r, { code: 0, signal: null }, `the server exits cleanly (${JSON.stringify(srv.logs.slice(-5))})`);
    assert.ok(srv.logs.some((l) => l.event === 'http_shutdown_waiting' && Number(l.suspended) >= 1),
      'the stop said it waited for a suspended request');
    const answer = await patch;
    // the client gets the upload's answer or a closed connection, never a hang
    assert.ok(answer.error || [204, 503].includes(answer.status), JSON.stringify(answer.status ?? String(answer.error)));
  });
});
