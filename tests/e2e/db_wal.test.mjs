// An operator deletes the SQLite database's -wal and -shm while `audiomus
// serve` runs (docs/deploy.md "Never delete -wal or -shm"). Before, a later
// `audiomus user add` printed "created", exited 0 and the account was lost:
// the server and the new process each committed into their own -wal. Now
// the new process is refused with the message, the server answers its next
// write 503 (never a success it cannot keep) and logs db_wal_replaced,
// reads go on, and once the server has stopped, what it committed before
// the deletion is in the database.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client, PASSWORD, newOwner, startApi, userCli } from './lib/api.mjs';

const GONE = /deleted or replaced while audiomus was running; stop every audiomus process and restart/;

describe('SQLite -wal and -shm deleted under a running server', () => {
  let srv;
  before(async () => { srv = await startApi('sqlite'); });
  after(async () => { await srv?.stop(); });

  test('user add is refused, the server refuses writes, nothing acknowledged is lost', async () => {
    const owner = await newOwner(srv);
    const p = await owner.post('/api/v1/projects', { title: 'Before' });
    assert.equal(p.status, 201, p.body);

    const db = path.join(srv.dataDir, 'audiomus.db');
    fs.unlinkSync(`${db}-wal`);
    fs.unlinkSync(`${db}-shm`);

    const add = userCli(srv, ['add', 'late@example.org'], `${PASSWORD}\n`);
    assert.notEqual(add.code, 0, add.stdout);
    assert.doesNotMatch(add.stdout, /created/);
    assert.match(add.stderr, GONE);

    const w = await owner.post('/api/v1/projects', { title: 'After' });
    assert.equal(w.status, 503, w.body);
    await srv.waitLog((l) => l.event === 'db_wal_replaced' && GONE.test(l.detail));
    const r = await owner.get('/api/v1/projects');
    assert.equal(r.status, 200, 'reads go on');
    assert.notEqual((await new Client(srv).login('late@example.org')).status, 200);

    // Stopped, the server's last connection folds its -wal into the database.
    srv.proc.kill('SIGTERM');
    await srv.exited;
    const list = userCli(srv, ['list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${owner.email.replace(/\./g, '\\.')}\\t`, 'm'));
    assert.doesNotMatch(list.stdout, /late@example\.org/);
  });
});
