// Real small filesystems for the disk-full tests (tests/e2e/disk_full,
// tests/browser/upload_full): mount a tmpfs, remount it read-only or back,
// fill it to ENOSPC. Needs root and permission to mount; canMount() says
// whether this machine gives both (the suites skip, saying so, without).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function mount(dir, size) {
  fs.mkdirSync(dir, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
}

// A read-only remount is refused ("mount point is busy", 32) while a file
// on it is open for writing: the worker may still be writing the rendition
// of the previous test's upload. Try again for up to 30 s.
export function remount(dir, mode) {
  let r;
  for (let i = 0; i < 300; i++) {
    r = spawnSync('mount', ['-o', `remount,${mode}`, dir], { encoding: 'utf8' });
    if (r.status !== 32) break;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
  assert.equal(r.status, 0, `remount ${mode} ${dir}: ${r.stderr}`);
}

// Whether this machine lets us mount a tmpfs (root, and not forbidden).
export function canMount() {
  if (process.getuid?.() !== 0) return false;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-mnt-probe-'));
  const ok = mount(dir, '1m').status === 0;
  if (ok) spawnSync('umount', [dir]);
  fs.rmSync(dir, { recursive: true, force: true });
  return ok;
}

// Write a filler file in dir until the filesystem is full (ENOSPC), the
// last partial block too; returns its path.
export function fill(dir) {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x55);
  try {
    for (;;) {
      try { fs.writeSync(fd, chunk); } catch (e) {
        if (e.code !== 'ENOSPC') throw e;
        for (let n = 4096; n >= 1; n >>= 1) try { for (;;) fs.writeSync(fd, chunk, 0, n); } catch { /* next size */ }
        break;
      }
    }
  } finally { fs.closeSync(fd); }
  return file;
}
