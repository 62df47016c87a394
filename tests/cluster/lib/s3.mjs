// A minimal S3 client for the cluster test: SigV4-signed ListObjectsV2,
// GetObject and DeleteObject, path-style, against the storage URL the test
// servers use (scripts/s3-test env: AUDIOMUS_TEST_S3_URL and the
// AUDIOMUS_S3_* credentials). It reads the bucket as an operator (or an
// attacker with the bucket credentials) would, to check what is at rest.
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();
// RFC 3986 unreserved characters stay, everything else is %XX (SigV4's rule).
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

// Parse "s3://BUCKET?endpoint=...&region=...&path_style=1[&prefix=...]".
export function parseStorageUrl(url) {
  const m = /^s3:\/\/([^?]+)\?(.*)$/.exec(url);
  if (!m) throw new Error(`not an s3:// URL: ${url}`);
  const q = new URLSearchParams(m[2]);
  return { bucket: m[1], endpoint: q.get('endpoint'), region: q.get('region') || 'us-east-1', prefix: q.get('prefix') || '' };
}

export class S3 {
  constructor({ endpoint, region, bucket, accessKey, secretKey }) {
    Object.assign(this, { endpoint: new URL(endpoint), region, bucket, accessKey, secretKey });
  }

  // One signed request; resolves {status, headers, body: Buffer}.
  request(method, key, query = {}) {
    const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const day = now.slice(0, 8);
    const uri = `/${this.bucket}${key ? `/${key.split('/').map(enc).join('/')}` : ''}`;
    const qs = Object.keys(query).sort().map((k) => `${enc(k)}=${enc(String(query[k]))}`).join('&');
    const host = this.endpoint.host;
    const payload = sha256('');
    const headers = { host, 'x-amz-content-sha256': payload, 'x-amz-date': now };
    const signed = Object.keys(headers).sort();
    const canon = [method, uri, qs, ...signed.map((h) => `${h}:${headers[h]}\n`).join('').split('\n').slice(0, -1), '', signed.join(';'), payload].join('\n');
    const scope = `${day}/${this.region}/s3/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', now, scope, sha256(canon)].join('\n');
    let k = hmac(`AWS4${this.secretKey}`, day);
    for (const part of [this.region, 's3', 'aws4_request']) k = hmac(k, part);
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${this.accessKey}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${hmac(k, toSign).toString('hex')}`;
    const lib = this.endpoint.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request({ host: this.endpoint.hostname, port: this.endpoint.port, method, path: qs ? `${uri}?${qs}` : uri, headers, agent: false },
        (res) => { const ch = []; res.on('data', (c) => ch.push(c)); res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(ch) })); });
      req.on('error', reject);
      req.setTimeout(30000, () => req.destroy(new Error('S3 request timeout')));
      req.end();
    });
  }

  // Every object name (and size) under prefix, following continuation tokens.
  async list(prefix) {
    const out = [];
    let token = null;
    do {
      const q = { 'list-type': 2, prefix, 'max-keys': 1000 };
      if (token) q['continuation-token'] = token;
      const r = await this.request('GET', '', q);
      if (r.status !== 200) throw new Error(`ListObjectsV2: ${r.status} ${r.body}`);
      const xml = r.body.toString('utf8');
      for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
        const key = /<Key>([^<]*)<\/Key>/.exec(m[1])[1].replace(/&amp;/g, '&');
        out.push({ key, size: Number(/<Size>(\d+)<\/Size>/.exec(m[1])[1]) });
      }
      token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? /<NextContinuationToken>([^<]*)</.exec(xml)[1].replace(/&amp;/g, '&') : null;
    } while (token);
    return out;
  }

  async get(key) {
    const r = await this.request('GET', key);
    if (r.status !== 200) throw new Error(`GetObject ${key}: ${r.status}`);
    return r.body;
  }

  async del(key) {
    const r = await this.request('DELETE', key);
    if (r.status !== 204 && r.status !== 404) throw new Error(`DeleteObject ${key}: ${r.status}`);
  }
}

export function s3FromEnv(storageUrl) {
  const u = parseStorageUrl(storageUrl);
  return {
    s3: new S3({ ...u, accessKey: process.env.AUDIOMUS_S3_ACCESS_KEY, secretKey: process.env.AUDIOMUS_S3_SECRET_KEY }),
    prefix: u.prefix,
  };
}
