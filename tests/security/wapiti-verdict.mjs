// Reads wapiti's JSON report (-f json) and fails on any vulnerability or
// anomaly except the allow-listed ones, each matched exactly by wapiti's
// category, method, path and info text, and each explained in
// docs/security.md ("Web scanners"). Prints how many URLs wapiti attacked so
// a scan that reached nothing cannot pass silently.
// usage: node wapiti-verdict.mjs REPORT.json BASE_URL TOKEN -> exit 0 clean, 1 findings
import { readFileSync } from 'node:fs';

const [file, base] = process.argv.slice(2);
const ALLOWED = [
  // Wapiti 3.0.4 wants "X-XSS-Protection: 1". Current guidance (OWASP Secure
  // Headers Project, MDN) is to omit it or send 0: the XSS auditor is gone
  // from every current browser, where it existed it opened XS-leaks, and the
  // strict CSP (no inline script) is the real defence. Deliberately not sent.
  { category: 'HTTP Secure Headers', method: 'GET', path: '/', info: 'X-XSS-Protection is not set' },
];
const r = JSON.parse(readFileSync(file, 'utf8'));
let bad = 0, allowed = 0;
for (const section of ['vulnerabilities', 'anomalies']) {
  for (const [category, list] of Object.entries(r[section] ?? {})) {
    for (const f of list) {
      const path = (f.path || '').replace(base, '') || '/';
      const ok = ALLOWED.some((a) => a.category === category && a.method === f.method && a.path === path && a.info === f.info);
      if (ok) { allowed++; continue; }
      bad++;
      console.log(`wapiti ${section}: ${category}: ${f.method} ${path} ${f.parameter ? `[${f.parameter}] ` : ''}${f.info}`);
    }
  }
}
console.log(`wapiti ${r.infos?.version ?? ''}: ${bad} finding(s), ${allowed} allow-listed (documented in docs/security.md)`);
process.exit(bad === 0 ? 0 : 1);
