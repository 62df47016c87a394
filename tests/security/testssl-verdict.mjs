// Reads testssl's flat JSON (--jsonfile) and fails on any finding of severity
// MEDIUM, HIGH or CRITICAL, except the allow-listed items that only say the
// test certificate is self-signed (the embedded default's generated
// certificate for localhost; a real deployment uses a CA-issued one).
// usage: node testssl-verdict.mjs FILE.json   -> exit 0 clean, 1 findings
import { readFileSync } from 'node:fs';

const ALLOWED = new Set([
  'cert_chain_of_trust', // self-signed: not trusted by a public CA
  'cert_trust',          // hostname/trust of the self-signed test cert
  'cert_caIssuers',
  'cert_crlDistributionPoints', 'cert_ocspURL', 'OCSP_stapling', 'cert_mustStapleExtension',
  'cert_certificateTransparency', 'DNS_CAArecord',
  'cert_expirationStatus',
  'cert_revocation',     // no CRL/OCSP URI: a self-signed certificate has neither
]);
// secure_client_renego is not allowed: the server refuses a renegotiation
// with a fatal alert (src/http/tls_reneg.c), which testssl's probe reads as
// "not vulnerable" every time (until 2026-12-06 it answered close_notify,
// which the probe scored HIGH when it read it inside its write).
const BAD = new Set(['MEDIUM', 'HIGH', 'CRITICAL']);
const raw = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const findings = Array.isArray(raw) ? raw : (raw.scanResult ?? []).flatMap((r) => Object.values(r).flat());
let bad = 0, allowed = 0;
for (const f of findings) {
  if (!f || !BAD.has(f.severity)) continue;
  if (ALLOWED.has(f.id)) { allowed++; continue; }
  bad++;
  console.log(`testssl finding: ${f.id} ${f.severity}: ${f.finding}`);
}
const protos = Object.fromEntries(findings.filter((f) => /^(SSLv2|SSLv3|TLS1(_[123])?)$/.test(f?.id ?? '')).map((f) => [f.id, f.finding]));
console.log(`testssl: ${findings.length} items, ${bad} MEDIUM+ findings, ${allowed} allowed (self-signed test certificate); protocols ${JSON.stringify(protos)}`);
process.exit(bad === 0 && findings.length > 0 ? 0 : 1);
