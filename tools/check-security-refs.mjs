#!/usr/bin/env node
// check-security-refs: every test the promise table of docs/security.md
// cites in its "proven by" column exists where the row says (make lint,
// through scripts/lint). A cell cites `file` "test name" (Node's test
// runner, scripts/security's checks) or `file` `function` (cmocka); file
// prefixes: sec/ = tests/security/, e2e/ = tests/e2e/, unit/ = tests/unit/,
// browser/ = tests/browser/, cluster/ = tests/cluster/; other paths are from
// the repository root, and a bare file name is in the directory of the file
// cited before it in the same cell. A name with "…" matches any text there
// ("serve runs the worker…" is a prefix). Text in parentheses is commentary:
// only file paths in it are checked. "as 4.1" cites another row.
//
// usage: node tools/check-security-refs.mjs [docs/security.md]
// Prints one line per bad reference (row, file, name) and exits 1 if any.
import { existsSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { join, dirname, basename, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const docPath = process.argv[2] ?? join(root, 'docs/security.md');
const doc = readFileSync(docPath, 'utf8');

const PREFIXES = {
  'sec/': 'tests/security/',
  'e2e/': 'tests/e2e/',
  'unit/': 'tests/unit/',
  'browser/': 'tests/browser/',
  'cluster/': 'tests/cluster/',
};
const TEST_FILE = /\.(c|mjs|js)$|^scripts\/security$/;

// Split a table row into cells at | outside `code`.
function cells(line) {
  const out = [];
  let cur = '', code = false;
  for (const ch of line.trim().replace(/^\||\|$/g, '')) {
    if (ch === '`') code = !code;
    if (ch === '|' && !code) { out.push(cur.trim()); cur = ''; } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

// Tokens of a cell: {kind: 'code'|'quote', text, depth} in order; depth is the
// parenthesis depth outside code and quotes.
function tokens(cell) {
  const out = [];
  let depth = 0;
  for (let i = 0; i < cell.length; i++) {
    const ch = cell[i];
    if (ch === '`' || ch === '"') {
      const end = cell.indexOf(ch, i + 1);
      if (end < 0) break;
      out.push({ kind: ch === '`' ? 'code' : 'quote', text: cell.slice(i + 1, end), depth });
      i = end;
    } else if (ch === '(') depth++;
    else if (ch === ')' && depth > 0) depth--;
  }
  return out;
}

// The repository path of a cited file, or null when the token is no file.
function resolveFile(text, lastDir) {
  for (const [p, dir] of Object.entries(PREFIXES)) if (text.startsWith(p)) return dir + text.slice(p.length);
  if (/^(tests|scripts|fuzz|src|bench|tools|deploy|web|docs|conf)\//.test(text)) return text;
  if (/^[\w.-]+\.(c|mjs|js)$/.test(text) && lastDir) return join(lastDir, text);
  return null;
}

const cache = new Map();
function source(path) {
  if (!cache.has(path)) cache.set(path, readFileSync(join(root, path), 'utf8'));
  return cache.get(path);
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Test titles of a file as globs (segments of text and wildcards): the
// first argument of test/it/describe/suite calls in JavaScript, with each
// template substitution ${…} a VAR wildcard; the name of each `check "…"` in
// a shell script (scripts/security), with each $var a VAR. A VAR stands for
// a value such as a protocol or cipher name: a run of non-blank characters.
// The "…" of a cited name is ANY: any text.
const VAR = Symbol('var');
const ANY = Symbol('any');
function jsLiteral(src, i) {
  const q = src[i], out = [];
  let cur = '';
  for (i++; i < src.length && src[i] !== q; i++) {
    if (src[i] === '\\') { cur += src[++i]; continue; }
    if (q === '`' && src[i] === '$' && src[i + 1] === '{') {
      let depth = 1;
      for (i += 2; i < src.length && depth; i++) depth += src[i] === '{' ? 1 : src[i] === '}' ? -1 : 0;
      i--;
      out.push(cur, VAR); cur = '';
      continue;
    }
    if (src[i] === '\n' && q !== '`') return null;
    cur += src[i];
  }
  out.push(cur);
  return out;
}
function titles(path) {
  const src = source(path), out = [];
  if (/\.(mjs|js)$/.test(path)) {
    const re = /\b(?:test|it|describe|suite)\s*\(\s*(?=['"`])/g;
    for (let m; (m = re.exec(src));) {
      const t = jsLiteral(src, re.lastIndex);
      if (t) out.push(t);
    }
  } else {
    for (const m of src.matchAll(/^\s*check\s+"((?:[^"\\]|\\.)*)"/gm))
      out.push(m[1].split(/\$\{?\w+\}?/).flatMap((seg, k) => (k ? [VAR, seg] : [seg])));
  }
  return out;
}

// Is there a text that both globs match? (Each is a list of strings and
// wildcards, compared character by character.)
function intersects(a, b) {
  const flat = (g) => g.flatMap((x) => (typeof x === 'symbol' ? [x] : [...x]));
  const p = flat(a), q = flat(b), memo = new Map();
  const wild = (x) => typeof x === 'symbol';
  const takes = (w, c) => w === ANY || !/\s/.test(c);
  const go = (i, j) => {
    const key = i * 100003 + j;
    if (memo.has(key)) return memo.get(key);
    let r = false;
    if (i === p.length && j === q.length) r = true;
    else if (i < p.length && wild(p[i]) && (j === q.length || wild(q[j])))
      r = go(i + 1, j) || (j < q.length && go(i, j + 1));
    else if (j < q.length && wild(q[j]) && i === p.length) r = go(i, j + 1);
    else if (i < p.length && wild(p[i])) r = go(i + 1, j) || (takes(p[i], q[j]) && go(i, j + 1));
    else if (j < q.length && wild(q[j])) r = go(i, j + 1) || (i < p.length && takes(q[j], p[i]) && go(i + 1, j));
    else r = i < p.length && j < q.length && p[i] === q[j] && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

// A cited Node test (or scripts/security check) name; "…" in it stands for
// any text, so "serve runs the worker…" is a prefix.
function hasTestName(path, name) {
  const glob = name.split('…').flatMap((seg, k) => (k ? [ANY, seg] : [seg]));
  return titles(path).some((t) => intersects(glob, t));
}

// A cmocka test: defined as `void name(void **state)` or registered through
// cmocka_unit_test*(name …) or a local wrapper macro (FS_TEST(name)).
function hasCmockaTest(src, name) {
  const n = escapeRe(name);
  return new RegExp(`\\bvoid\\s+${n}\\s*\\(\\s*void\\s*\\*\\*`).test(src) ||
    new RegExp(`\\b\\w*(?:cmocka_unit_test\\w*|_TEST)\\s*\\(\\s*${n}\\b`).test(src);
}

// Where else under tests/ a cmocka test of that name is defined (a hint).
function findElsewhere(name) {
  const hits = [];
  const walk = (dir) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.c') && hasCmockaTest(source(p), name)) hits.push(p);
    }
  };
  walk('tests/unit');
  return hits;
}

const bad = [];
let rows = 0, refs = 0;
let provenCol = -1;
doc.split('\n').forEach((line, idx) => {
  if (!line.startsWith('|')) { provenCol = -1; return; }
  const c = cells(line);
  if (c[0] === '#') { provenCol = c.indexOf('proven by'); return; }
  if (provenCol < 0 || /^-+$/.test(c[0].replace(/[\s:|]/g, '-'))) return;
  if (!/^(\d+\.\d+|F\d+)$/.test(c[0])) return;
  rows++;
  const row = c[0], cell = c[provenCol] ?? '';
  const report = (file, name, why) => bad.push(`${relative(root, docPath)}:${idx + 1}: row ${row}: ${file}${name ? ` ${name}` : ''}: ${why}`);
  let file = null, lastDir = null;
  for (const t of tokens(cell)) {
    if (t.kind === 'code') {
      const path = resolveFile(t.text, lastDir);
      if (path) {
        if (!existsSync(join(root, path))) { report(path, '', 'no such file'); if (t.depth === 0) file = null; continue; }
        if (t.depth > 0) continue;
        const isTest = TEST_FILE.test(path) && statSync(join(root, path)).isFile() && !path.startsWith('src/');
        file = isTest ? path : null;
        if (isTest) lastDir = dirname(path);
        continue;
      }
      if (t.depth > 0 || !file) continue;
      if (!/^[A-Za-z_]\w*$/.test(t.text)) { report(file, `\`${t.text}\``, 'not a file or a function name'); continue; }
      refs++;
      if (!file.endsWith('.c')) { report(file, `\`${t.text}\``, 'a function cited in a file that is not C'); continue; }
      if (!hasCmockaTest(source(file), t.text)) {
        const where = findElsewhere(t.text);
        report(file, `\`${t.text}\``, `no cmocka test of that name${where.length ? ` (it is in ${where.join(', ')})` : ''}`);
      }
    } else if (t.depth === 0 && file) {
      refs++;
      if (file.endsWith('.c')) report(file, `"${t.text}"`, 'a quoted name cited in a C file (use `function`)');
      else if (!hasTestName(file, t.text)) report(file, `"${t.text}"`, 'no test of that name');
    }
  }
});

if (rows === 0) bad.push(`${relative(root, docPath)}: no promise-table rows found (has the table's header changed?)`);
for (const b of bad) console.log(b);
console.log(`security refs: ${rows} rows, ${refs} test names checked, ${bad.length} bad`);
process.exit(bad.length ? 1 : 0);
