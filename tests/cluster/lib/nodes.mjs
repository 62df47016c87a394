// Role processes of the cluster test: `audiomus web|media|worker` started
// from one shared config file (and master key), each with its own empty
// data directory, killed with SIGKILL and restarted on the same address.
import { spawn } from 'node:child_process';

import { BIN, onLogLines, run as runBin } from '../../e2e/lib/server.mjs';

export { BIN };

// `audiomus ARGS`, allowed 60 s (init and check-config reach PostgreSQL and S3).
export const run = (args, opts = {}) => runBin(args, { timeout: 60000, ...opts });

// One role process. `name` is for messages; `port` is its fixed HTTPS port
// (none for the worker); `bin` the binary (default BIN; testBin() for a
// role that needs a test hook). start() resolves once it is ready: the
// "listening" line for web and media, "worker_started" for the worker.
export class Node {
  constructor(name, role, { config, dataDir, port, env, bin = BIN }) {
    Object.assign(this, { name, role, config, dataDir, port, env, bin });
    this.proc = null;
    this.log = [];
    this.starts = 0;
  }

  start(ms = 30000) {
    const args = [this.role, '--config', this.config, '--data', this.dataDir];
    if (this.port) args.push('--listen', `127.0.0.1:${this.port}`);
    const proc = spawn(this.bin, args, { env: { ...process.env, ...this.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    this.starts++;
    const ready = this.role === 'worker' ? 'worker_started' : 'listening';
    let resolveReady;
    const readyP = new Promise((r) => { resolveReady = r; });
    onLogLines(proc.stderr, (o) => {
      o.node = this.name;
      o.run = this.starts;
      this.log.push(o);
      if (o.event === ready) resolveReady(o);
    });
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    let timer;
    const fail = new Promise((_, reject) => {
      this.exited.then((r) => reject(new Error(`${this.name} exited while starting: ${JSON.stringify(r)}\n${this.tail()}`)));
      timer = setTimeout(() => reject(new Error(`${this.name} not ready after ${ms} ms\n${this.tail()}`)), ms);
    });
    return Promise.race([readyP, fail]).finally(() => clearTimeout(timer));
  }

  alive() { return this.proc && this.proc.exitCode === null && this.proc.signalCode === null; }

  async kill9() {
    this.proc.kill('SIGKILL');
    const r = await this.exited;
    if (r.signal !== 'SIGKILL') throw new Error(`${this.name}: ${JSON.stringify(r)}`);
  }

  async stop() {
    if (!this.alive()) return this.proc ? this.exited : null;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 15000);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }

  // The job this worker is running now (job_start without its end), or null.
  runningJob() {
    const open = new Map();
    for (const l of this.log) {
      if (l.run !== this.starts) continue;
      if (l.event === 'job_start') open.set(l.job, l);
      else if (l.job) open.delete(l.job);
    }
    return [...open.values()].pop() || null;
  }

  tail(n = 15) { return this.log.slice(-n).map((l) => JSON.stringify(l)).join('\n'); }
}
