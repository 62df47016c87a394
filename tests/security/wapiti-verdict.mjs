// Reads wapiti's JSON report (-f json) and fails on any vulnerability or
// anomaly except the allow-listed ones, each matched exactly by wapiti's
// category, method, path and info text, and each explained in
// docs/security.md ("Web scanners").
//
// A clean report proves nothing if wapiti reached nothing (a dead session
// cookie, a scope that excludes the API, a crawl cut short): wapiti 3.0.4's
// JSON report says only what it found, its "infos" hold the target, date,
// version and scope, not what was crawled or attacked. That is in the
// session database wapiti keeps (--store-session DIR: DIR/<host>_<port>_
// <scope>_<hash>.db, SQLite): `paths` (every crawled resource with the HTTP
// status it answered; evil = 0), `params` (its query and form parameters)
// and `attack_log` (which module attacked which resource to the end). So the
// verdict also fails unless
//   - every start URL (depth 0) answered 2xx and at least MIN_START did,
//   - at least MIN_CRAWLED resources answered 2xx in all,
//   - each injection module attacked at least MIN_ATTACKED resources and
//     MIN_PARAMS (resource, parameter) pairs, the parameters among them
//     including every one of MUST_PARAMS.
// The thresholds come from a real run (2026-12-06, 7c47649: 11 start URLs
// all 200, 16 resources 200, 5 resources / 5 pairs per module: version on
// /urls and /comments, limit on /events, password and name on the review
// page's forms) less a margin of one; the counts are printed.
// usage: node wapiti-verdict.mjs REPORT.json BASE_URL TOKEN [SESSION_DIR]
//   SESSION_DIR defaults to "wapiti" beside REPORT.json (scripts/security's
//   layout: -o $tmp/wapiti.json --store-session $tmp/wapiti)
//   -> exit 0 clean, 1 findings or too little attacked
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const [file, base, , sessionArg] = process.argv.slice(2);
const ALLOWED = [
  // Wapiti 3.0.4 wants "X-XSS-Protection: 1". Current guidance (OWASP Secure
  // Headers Project, MDN) is to omit it or send 0: the XSS auditor is gone
  // from every current browser, where it existed it opened XS-leaks, and the
  // strict CSP (no inline script) is the real defence. Deliberately not sent.
  { category: 'HTTP Secure Headers', method: 'GET', path: '/', info: 'X-XSS-Protection is not set' },
];
const MIN_START = 10;
const MIN_CRAWLED = 12;
const MIN_ATTACKED = 4;
const MIN_PARAMS = 4;
const MUST_PARAMS = ['version', 'limit', 'name'];
const INJECTION_MODULES = ['sql', 'blindsql', 'xss', 'permanentxss', 'exec', 'file', 'crlf', 'redirect'];

const r = JSON.parse(readFileSync(file, 'utf8'));
let bad = 0, allowed = 0;
for (const section of ['vulnerabilities', 'anomalies']) {
  for (const [category, list] of Object.entries(r[section] ?? {})) {
    for (const f of list) {
      const p = (f.path || '').replace(base, '') || '/';
      const ok = ALLOWED.some((a) => a.category === category && a.method === f.method && a.path === p && a.info === f.info);
      if (ok) { allowed++; continue; }
      bad++;
      console.log(`wapiti ${section}: ${category}: ${f.method} ${p} ${f.parameter ? `[${f.parameter}] ` : ''}${f.info}`);
    }
  }
}
console.log(`wapiti ${r.infos?.version ?? ''}: ${bad} finding(s), ${allowed} allow-listed (documented in docs/security.md)`);

// The session database of this scan: the newest .db in the session
// directory whose root_url is BASE_URL/.
const short = [];
const dir = sessionArg || path.join(path.dirname(file), 'wapiti');
const dbs = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.db')).map((f) => path.join(dir, f))
  .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs) : [];
// python3 (wapiti's own interpreter, so present wherever wapiti is) reads it:
// no sqlite3 command line tool is needed.
const QUERY = `
import json, sqlite3, sys
c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)
root = c.execute("SELECT value FROM scan_infos WHERE key = 'root_url'").fetchone()
paths = c.execute("SELECT path_id, method, path, depth, http_status FROM paths WHERE evil = 0").fetchall()
params = c.execute("SELECT path_id, name FROM params WHERE type IN ('GET', 'POST', 'FILE')").fetchall()
attacks = c.execute("SELECT DISTINCT path_id, module_name FROM attack_log").fetchall()
print(json.dumps({'root': root[0] if root else None, 'paths': paths, 'params': params, 'attacks': attacks}))
`;
let s = null;
for (const db of dbs) {
  const d = JSON.parse(execFileSync('python3', ['-c', QUERY, db], { encoding: 'utf8' }));
  if (d.root === `${base}/`) { s = d; console.log(`wapiti session: ${db}`); break; }
}
if (!s) {
  short.push(`no wapiti session database for ${base}/ in ${dir} (${dbs.length} .db file(s)): cannot tell what was attacked`);
} else {
  const ok2xx = (p) => p[4] >= 200 && p[4] < 300;
  const start = s.paths.filter((p) => p[3] === 0);
  const startBad = start.filter((p) => !ok2xx(p));
  const crawled = s.paths.filter(ok2xx);
  console.log(`wapiti crawl: ${start.length} start URL(s), ${start.length - startBad.length} answered 2xx (min ${MIN_START}, all); ` +
    `${crawled.length} of ${s.paths.length} resource(s) answered 2xx (min ${MIN_CRAWLED})`);
  for (const p of startBad) short.push(`start URL ${p[1]} ${p[2].replace(base, '')} answered ${p[4] ?? 'nothing'}`);
  if (start.length - startBad.length < MIN_START) short.push(`${start.length - startBad.length} start URL(s) answered 2xx, fewer than ${MIN_START}`);
  if (crawled.length < MIN_CRAWLED) short.push(`${crawled.length} resource(s) answered 2xx, fewer than ${MIN_CRAWLED}`);
  const byId = new Map(s.paths.map((p) => [p[0], p]));
  const paramsOf = new Map();
  for (const [id, name] of s.params) paramsOf.set(id, [...(paramsOf.get(id) || []), name]);
  for (const m of INJECTION_MODULES) {
    const ids = s.attacks.filter((a) => a[1] === m && byId.has(a[0]) && ok2xx(byId.get(a[0]))).map((a) => a[0]);
    const pairs = ids.flatMap((id) => (paramsOf.get(id) || []).map((n) => `${byId.get(id)[2].replace(base, '').replace(/\/[A-Za-z0-9_-]{20,}/g, '/…')}[${n}]`));
    const names = new Set(pairs.map((p) => p.replace(/.*\[(.*)\]$/, '$1')));
    const missing = MUST_PARAMS.filter((n) => !names.has(n));
    console.log(`wapiti ${m}: ${ids.length} resource(s) (min ${MIN_ATTACKED}), ${pairs.length} parameter(s) (min ${MIN_PARAMS}): ${pairs.join(' ')}`);
    if (ids.length < MIN_ATTACKED) short.push(`${m} attacked ${ids.length} resource(s), fewer than ${MIN_ATTACKED}`);
    if (pairs.length < MIN_PARAMS) short.push(`${m} attacked ${pairs.length} parameter(s), fewer than ${MIN_PARAMS}`);
    if (missing.length) short.push(`${m} did not attack ${missing.join(', ')}`);
  }
}
for (const m of short) console.log(`wapiti attacked too little: ${m}`);
process.exit(bad === 0 && short.length === 0 ? 0 : 1);
