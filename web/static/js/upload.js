// upload.js: resumable uploads to the media role's signed /u/ URL with tus
// 1.0 core (docs/media.md): HEAD for the stored offset, then PATCH chunks
// with Upload-Offset. A dropped connection keeps what arrived: we ask HEAD
// again and continue from there, with backoff. XMLHttpRequest because
// fetch() has no upload progress.

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
  return Object.assign(new Error(why || msg || `upload failed (${x.status})`), { status: x.status, retry: x.status === 409 || x.status >= 500 });
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
      const wait = Math.min(30000, 1000 * 2 ** (failures - 1));
      onProgress(offset, total, `connection lost: resuming in ${Math.round(wait / 1000)} s`);
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
