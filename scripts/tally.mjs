#!/usr/bin/env node
// scripts/tally.mjs: the one place where the test suite's results are counted
// (scripts/test-all, scripts/run-unit and scripts/security write records; this
// reads them). Test tooling only: it runs on the developer's or CI's machine,
// never in the service.
//
// A record is one line of the file named by AM_TALLY, tab-separated:
//   RESULT GROUP RUN ID [WHY]
// RESULT is pass, fail or skip; GROUP names what is counted once however
// often it runs ("unit", "e2e", ...); RUN names one run of it ("unit",
// "unit (ASan)"); ID names the test within the group; WHY is a failure's
// cause or a skip's reason.
//
//   tally.mjs tap GROUP RUN TAPFILE EXIT   records of one `node --test
//       --test-reporter=tap` run: every test (pass, fail; cancelled and todo
//       are failures), every skip by name (a skipped describe too), a failed
//       suite or hook, and a runner that exited non-zero without a failing
//       test or never printed its summary.
//   tally.mjs record RESULT GROUP RUN ID [WHY]   one record (shell callers)
//   tally.mjs summary   the closing lines: skipped tests by name, failures by
//       name, distinct tests and runs, then "N passed, N failed, N skipped".
//       Exits 1 when anything failed. Under CI=true a skip that
//       tests/skips.allow (or AM_SKIP_ALLOW) does not list, with its reason,
//       is a failure; so is a malformed allow-list line.
import { appendFileSync, readFileSync, existsSync } from 'node:fs';

const TALLY = process.env.AM_TALLY;
const ALLOW = process.env.AM_SKIP_ALLOW || new URL('../tests/skips.allow', import.meta.url).pathname;
const clean = (s) => String(s).replace(/[\t\r\n]+/g, ' ').trim();

function record(result, group, run, id, why = '') {
  if (!TALLY) throw new Error('AM_TALLY is not set');
  appendFileSync(TALLY, [result, group, run, clean(id), clean(why)].join('\t') + '\n');
}

// One TAP stream of Node's test runner. Names nest by indentation (4 spaces a
// level); "# Subtest: NAME" opens a level and "ok N - NAME" closes it, with a
// YAML block after it that says type: 'suite' for a describe.
function parseTap(text) {
  const lines = text.split('\n');
  const stack = [];
  const out = [];
  let summary = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m = line.match(/^( *)# Subtest: (.*)$/);
    if (m) { stack.length = m[1].length / 4; stack.push(m[2]); continue; }
    if (/^# tests \d+$/.test(line)) summary = true;
    m = line.match(/^( *)(not )?ok \d+ - (.*?)(?: # (SKIP|TODO)\b ?(.*))?$/);
    if (!m) continue;
    const depth = m[1].length / 4;
    const path = stack.slice(0, depth).concat([m[3]]).join(' > ').replace(/\\#/g, '#');
    const yaml = [];
    if (lines[i + 1] !== undefined && lines[i + 1].trim() === '---') {
      for (let j = i + 2; j < lines.length && lines[j].trim() !== '...'; j++) yaml.push(lines[j].trim());
    }
    const isSuite = yaml.includes("type: 'suite'");
    const field = (k) => { const y = yaml.find((l) => l.startsWith(k + ': ')); return y ? y.slice(k.length + 2).replace(/^'|'$/g, '') : ''; };
    const why = [field('failureType'), field('error')].filter(Boolean).join(': ');
    if (m[4] === 'SKIP') out.push(['skip', path, m[5] || (isSuite ? 'suite skipped' : 'skipped')]);
    else if (m[4] === 'TODO') out.push(['fail', path, 'todo: ' + (m[5] || 'not done')]);
    else if (m[2]) out.push(['fail', path, why || 'failed']);
    else if (!isSuite) out.push(['pass', path, '']);
    stack.length = depth;
  }
  return { tests: out, summary };
}

function tap(group, run, file, exit) {
  const { tests, summary } = parseTap(existsSync(file) ? readFileSync(file, 'utf8') : '');
  for (const [result, id, why] of tests) record(result, group, run, id, why);
  const failed = tests.some((t) => t[0] === 'fail');
  if (!summary) record('fail', group, run, `${run}: runner`, `no summary line (exit ${exit}): the runner died or was killed`);
  else if (Number(exit) !== 0 && !failed) record('fail', group, run, `${run}: runner`, `exited ${exit} without a failing test`);
  const n = (r) => tests.filter((t) => t[0] === r).length;
  console.log(`${run}: ${n('pass')} passed, ${n('fail')} failed, ${n('skip')} skipped (node --test exit ${exit})`);
}

// tests/skips.allow: "RUN | TEST ID | REASON" per line ("e2e (ASan) | full
// data export memory (sqlite) | ..."); '#' starts a comment.
function readAllow() {
  const allow = [];
  const bad = [];
  if (!existsSync(ALLOW)) return { allow, bad };
  readFileSync(ALLOW, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim() || line.trim().startsWith('#')) return;
    const parts = line.split(' | ').map((s) => s.trim());
    if (parts.length !== 3 || parts.some((p) => !p)) bad.push(`${ALLOW}:${i + 1}: want "RUN | TEST ID | REASON"`);
    else allow.push({ run: parts[0], id: parts[1], reason: parts[2], used: false });
  });
  return { allow, bad };
}

function summary() {
  const recs = (TALLY && existsSync(TALLY) ? readFileSync(TALLY, 'utf8') : '').split('\n').filter(Boolean)
    .map((l) => { const [result, group, run, id, why = ''] = l.split('\t'); return { result, group, run, id, why }; });
  const ci = process.env.CI === 'true';
  const { allow, bad } = readAllow();
  const failures = recs.filter((r) => r.result === 'fail');
  const skips = [];
  for (const r of recs.filter((x) => x.result === 'skip')) {
    const a = allow.find((x) => x.run === r.run && x.id === r.id);
    if (a) a.used = true;
    if (!a && ci) failures.push({ ...r, why: `skipped (${r.why}) and not listed in tests/skips.allow` });
    else skips.push({ ...r, listed: a ? a.reason : '' });
  }
  for (const b of bad) failures.push({ run: 'tally', id: b, why: 'malformed allow-list line' });
  if (skips.length) {
    console.log(`\nskipped (${skips.length}):`);
    for (const s of skips) console.log(`  SKIP [${s.run}] ${s.id}: ${s.why}${s.listed ? ` (allowed: ${s.listed})` : ' (not in tests/skips.allow: fails under CI)'}`);
  }
  const ranRuns = new Set(recs.map((r) => r.run));
  for (const a of allow.filter((x) => !x.used && ranRuns.has(x.run))) console.log(`  note: tests/skips.allow lists "${a.run} | ${a.id}", which did not skip in this run`);
  if (failures.length) {
    console.log(`\nfailed (${failures.length}):`);
    for (const f of failures.slice(0, 200)) console.log(`  FAIL [${f.run}] ${f.id}${f.why ? `: ${f.why}` : ''}`);
    if (failures.length > 200) console.log(`  ... and ${failures.length - 200} more`);
  }
  const distinct = new Set(recs.map((r) => `${r.group}\t${r.id}`)).size;
  const groups = new Map();
  for (const r of recs) {
    if (!groups.has(r.group)) groups.set(r.group, new Map());
    const runs = groups.get(r.group);
    runs.set(r.run, (runs.get(r.run) || 0) + 1);
  }
  const runs = [...groups].map(([g, m]) => `${g} ${[...m].map(([run, n], i) => (i === 0 ? `${n}` : `${n} (${run.replace(`${g} `, '').replace(/^\((.*)\)$/, '$1')})`)).join('+')}`);
  const passed = recs.filter((r) => r.result === 'pass').length;
  console.log(`\ndistinct tests ${distinct}; runs: ${runs.join(', ') || 'none'}`);
  console.log(`${passed} passed, ${failures.length} failed, ${skips.length} skipped`);
  return failures.length || recs.length === 0 ? 1 : 0;
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'tap' && args.length === 4) tap(...args);
else if (cmd === 'record' && args.length >= 4) record(...args);
else if (cmd === 'summary') process.exitCode = summary();
else {
  console.error('usage: tally.mjs tap GROUP RUN TAPFILE EXIT | record RESULT GROUP RUN ID [WHY] | summary');
  process.exitCode = 2;
}
