// upload.js: resumable uploads to the media role's signed /u/ URL with tus
// 1.0 core (docs/media.md): HEAD for the stored offset, then PATCH chunks
// with Upload-Offset. A dropped connection keeps what arrived: we ask HEAD
// again and continue from there, with backoff. XMLHttpRequest because
// fetch() has no upload progress. A hand-written client, not tus-js-client
// (not vendored), with the same two habits: the upload URL is kept in
// localStorage under the file's fingerprint (name, size, lastModified), so
// that choosing the same file after a reload resumes it; and a file is
// checked before anything is created: its extension here, its first bytes
// by the server's own sniffer (they go with the new track as "head").

const TUS = '1.0.0';
const MAX_PARTS = 4000;               // the server allows 4,096 parts
const MIN_CHUNK = 8 * 1024 * 1024;

function xhr(method, url, { headers = {}, body, onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = () => resolve(x);
    x.onerror = () => reject(Object.assign(new Error('connection lost'), { retry: true }));
    x.ontimeout = x.onerror;
    x.onabort = () => reject(Object.assign(new Error('cancelled'), { cancelled: true }));
    if (signal) signal.addEventListener('abort', () => x.abort(), { once: true });
    x.send(body);
  });
}

function failure(x) {
  let msg = x.getResponseHeader('Upload-Error');
  if (!msg) { try { msg = JSON.parse(x.responseText).error; } catch { msg = ''; } }
  const why = {
    403: 'the upload link expired or was refused',
    404: 'this upload no longer exists',
    413: 'the file is larger than this server accepts (or your storage quota)',
    415: 'this is not an audio file audiomus can read (WAV, AIFF, FLAC, MP3, AAC, M4A, Ogg)',
  }[x.status];
  // The server's reason first where it names the file's problem (a refused
  // type, the failure of a gone upload).
  const text = ([404, 415].includes(x.status) && msg) || why || msg || `upload failed (${x.status})`;
  // A 503 with Retry-After (a full or read-only disk: 60 s) says when to
  // try again, and its message says why.
  const retryAfter = x.status === 503 ? Number(x.getResponseHeader('Retry-After')) || 0 : 0;
  return Object.assign(new Error(text), { status: x.status, retry: x.status === 409 || x.status >= 500, retryAfter });
}

// ---- before anything is created -------------------------------------------

const ACCEPTED = 'WAV, AIFF, FLAC, MP3, M4A/AAC or Ogg/Opus';
// Extensions that are certainly not audio audiomus reads: refused at once,
// with no request. Anything else is judged by its first bytes on the server.
const REFUSED_EXT = {
  wv: 'WavPack (.wv)', caf: 'Core Audio Format (.caf)', w64: 'Sony Wave64 (.w64)', webm: 'WebM/Matroska (.webm, .mka)',
  mka: 'WebM/Matroska (.webm, .mka)', wma: 'Windows Media (.wma, .asf)', asf: 'Windows Media (.wma, .asf)', ape: "Monkey's Audio (.ape)",
  mid: 'a MIDI file (.mid)', midi: 'a MIDI file (.mid)', txt: 'a text file', lrc: 'a text file', md: 'a text file', rtf: 'a text document (.rtf)',
  doc: 'a document', docx: 'a document', pdf: 'a PDF document', png: 'a PNG image', jpg: 'a JPEG image', jpeg: 'a JPEG image',
  gif: 'a GIF image', webp: 'a WebP image', heic: 'an image', svg: 'an image', zip: 'a ZIP archive',
};

// Why a file is refused by its name alone, or '' to ask the server.
export function refusedByName(file) {
  const ext = (/\.([A-Za-z0-9]+)$/.exec(file.name)?.[1] || '').toLowerCase();
  const what = REFUSED_EXT[ext];
  return what ? `${what} is not a supported audio format: upload ${ACCEPTED}` : '';
}

// The file's first 64 bytes, base64url: the "head" the API sniffs.
export async function fileHead(file) {
  const b = new Uint8Array(await file.slice(0, 64).arrayBuffer());
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// ---- resume after a reload (tus-js-client's fingerprint) -----------------

const KEY = 'audiomus.upload.';
const fingerprint = (file) => KEY + JSON.stringify([file.name, file.size, file.lastModified]);

// Remember where file goes ({url, pid, tid, vid}); forget it once done.
export function rememberUpload(file, entry) {
  try { localStorage.setItem(fingerprint(file), JSON.stringify({ ...entry, at: Date.now() })); } catch { /* private mode */ }
}
export function recallUpload(file) {
  try { return JSON.parse(localStorage.getItem(fingerprint(file)) || 'null'); } catch { return null; }
}
export function forgetUpload(file) {
  try { localStorage.removeItem(fingerprint(file)); } catch { /* nothing */ }
}
// Every remembered upload (for the "resume" hint on an interrupted version).
export function rememberedUploads() {
  const out = [];
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (!k?.startsWith(KEY)) continue;
      const [name, size] = JSON.parse(k.slice(KEY.length));
      out.push({ name, size, ...JSON.parse(localStorage.getItem(k)) });
    }
  } catch { /* unreadable: none */ }
  return out;
}

// The stored offset of a remembered upload, or -1 when it cannot resume
// (gone, refused, expired link).
export async function resumableOffset(url) {
  try { return await offsetOf(url); } catch { return -1; }
}

async function offsetOf(url, signal) {
  const x = await xhr('HEAD', url, { headers: { 'Tus-Resumable': TUS }, signal });
  if (x.status !== 200) throw failure(x);
  return Number(x.getResponseHeader('Upload-Offset')) || 0;
}

const sleep = (ms, signal) => new Promise((res, rej) => {
  const t = setTimeout(res, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); rej(Object.assign(new Error('cancelled'), { cancelled: true })); }, { once: true });
});

// Send file to url; onProgress(bytesSent, total, note). Resolves when the
// server holds every byte; rejects with a user-facing message.
export async function tusUpload(url, file, { onProgress = () => {}, signal, chunkSize } = {}) {
  const total = file.size;
  const chunk = chunkSize || Math.max(MIN_CHUNK, Math.ceil(total / MAX_PARTS));
  let offset = 0, failures = 0, done = false;
  offset = await offsetOf(url, signal);
  onProgress(offset, total);
  // Done only when a PATCH is answered with the whole length. If HEAD says
  // every byte is stored but no 204 said so (the media node died while it
  // assembled the original), an empty PATCH at the end completes the upload
  // (409 while the dead node's 60 s lease lasts: retried; 404: the cut
  // request had completed it).
  while (!done) {
    const end = Math.min(total, offset + chunk);
    try {
      const x = await xhr('PATCH', url, {
        headers: { 'Tus-Resumable': TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
        body: file.slice(offset, end), signal,
        onProgress: (n) => onProgress(offset + n, total),
      });
      if (x.status === 404 && offset === total) break;
      if (x.status !== 204) throw failure(x);
      offset = Number(x.getResponseHeader('Upload-Offset'));
      done = offset === total;
      failures = 0;
      onProgress(offset, total);
    } catch (e) {
      if (e.cancelled || !e.retry || ++failures > 8) throw e;
      const wait = e.retryAfter > 0 ? Math.min(300, e.retryAfter) * 1000 : Math.min(30000, 1000 * 2 ** (failures - 1));
      const why = e.status >= 500 && e.message ? e.message : 'connection lost';
      onProgress(offset, total, `${why}: resuming in ${Math.round(wait / 1000)} s`);
      await sleep(wait, signal);
      // Whatever reached the server before the cut is kept: ask where to go on.
      for (;;) {
        try { offset = await offsetOf(url, signal); break; } catch (e2) {
          if (e2.cancelled || !e2.retry || ++failures > 8) throw e2;
          await sleep(Math.min(30000, 1000 * 2 ** (failures - 1)), signal);
        }
      }
      onProgress(offset, total, 'resuming');
    }
  }
}
