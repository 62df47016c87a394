// archive.js: getting everything out (issue 23, docs/web-ui.md "Download
// all" and "Export"). Two things, each a small hook for its page:
//   downloadAllButton(path)  "Download all": GET path (the owner's
//       /api/v1/projects/{id}/archive or a guest's /api/v1/s/{token}/archive)
//       answers a signed media URL of the project's ZIP, which the browser
//       then downloads itself (its own download bar shows the progress; the
//       archive is never held in the page).
//   fullExportCard()  the account's full export with the audio: POST
//       /api/v1/export answers a signed URL of the tar and its estimated
//       size; the page reads it with a progress bar (bytes and percent) and
//       saves it. An archive larger than SAVE_IN_PAGE_MAX, or a media role
//       on another origin (fetch refused), is handed to the browser's own
//       download instead. The metadata-only JSON stays a link beside it.
import { ApiError, get, post } from './api.js';
import { fmtBytes, h } from './dom.js';

// The most the page holds in memory to save an archive with its own
// progress bar; beyond it the browser downloads the URL itself.
const SAVE_IN_PAGE_MAX = 1024 * 1024 * 1024;

function errorText(e) {
  if (e instanceof ApiError && e.status === 403) return e.message || 'Downloads are off for this project.';
  return (e && e.message) || String(e);
}

// Let the browser download url (a signed media URL: no cookie needed).
function browserDownload(url, name) {
  const a = h('a', { href: url, download: name || '', hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

// A "Download all" button for the archive URL at path. onError(text) shows
// a refusal (downloads switched off meanwhile, too many archives).
export function downloadAllButton(path, { onError = () => {}, label = 'Download all' } = {}) {
  const btn = h('button', {
    type: 'button', class: 'btn', id: 'download-all', text: label,
    title: 'One ZIP of every original file and the comments (JSON and CSV)',
  });
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const r = await get(path);
      browserDownload(r.url);
    } catch (e) {
      onError(errorText(e));
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}

// The file name of a response's Content-Disposition, or fallback.
function dispositionName(res, fallback) {
  const m = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '');
  return m ? m[1] : fallback;
}

// Read url with progress into a Blob and save it. Returns false when the
// page cannot read it (another origin): the caller falls back.
async function saveWithProgress(url, estimate, show, signal) {
  let res;
  try {
    res = await fetch(url, { signal, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    if (signal.aborted) throw e;
    return false;
  }
  if (!res.ok || !res.body) throw new Error(res.status === 429 ? 'Too many exports: try again later.' : `The export failed (HTTP ${res.status}).`);
  const reader = res.body.getReader(), parts = [];
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
    show(got, estimate);
  }
  const blobUrl = URL.createObjectURL(new Blob(parts, { type: 'application/x-tar' }));
  browserDownload(blobUrl, dispositionName(res, 'audiomus-export.tar'));
  setTimeout(() => URL.revokeObjectURL(blobUrl), 60000);
  return got;
}

// The account page's Export card: the full archive with the audio (with
// progress), and the metadata-only JSON.
export function fullExportCard() {
  const bar = h('progress', { id: 'export-progress', max: 100, hidden: true });
  const msg = h('p', { class: 'status', role: 'status', id: 'export-status' });
  const cancel = h('button', { type: 'button', class: 'btn ghost', text: 'Cancel', hidden: true });
  const go = h('button', { type: 'button', class: 'btn primary', id: 'export-full', text: 'Download everything (with audio)' });
  let ctl = null;
  const show = (got, estimate) => {
    if (estimate > 0) {
      const pct = Math.min(99, Math.floor((got / estimate) * 100));
      bar.value = pct;
      msg.textContent = `Downloading: ${fmtBytes(got)} of about ${fmtBytes(estimate)} (${pct} %)`;
    } else {
      bar.removeAttribute('value');
      msg.textContent = `Downloading: ${fmtBytes(got)}`;
    }
    msg.className = 'status';
  };
  const finish = (text, kind) => {
    go.disabled = false;
    cancel.hidden = true;
    bar.hidden = kind !== 'ok';
    if (kind === 'ok') bar.value = 100;
    msg.textContent = text;
    msg.className = `status ${kind}`.trim();
    ctl = null;
  };
  cancel.addEventListener('click', () => ctl && ctl.abort());
  go.addEventListener('click', async () => {
    go.disabled = true;
    ctl = new AbortController();
    try {
      msg.textContent = 'Preparing the archive…';
      msg.className = 'status';
      const r = await post('/api/v1/export');
      const estimate = Number(r.estimated_size) || 0;
      if (estimate > SAVE_IN_PAGE_MAX) {
        browserDownload(r.url);
        return finish('The download runs in your browser’s download bar (it is too large to follow here).', 'ok');
      }
      bar.hidden = false;
      cancel.hidden = false;
      show(0, estimate);
      const got = await saveWithProgress(r.url, estimate, show, ctl.signal);
      if (got === false) {
        browserDownload(r.url);
        return finish('The download runs in your browser’s download bar.', 'ok');
      }
      finish(`Done: ${fmtBytes(got)} saved.`, 'ok');
    } catch (e) {
      finish(ctl && ctl.signal.aborted ? 'Cancelled.' : errorText(e), 'error');
    }
  });
  return h('section', { class: 'card', id: 'export-card' }, h('h2', { text: 'Export' }),
    h('p', { class: 'muted small', text: 'Everything in your account as one archive: every original audio file, and your projects, links, tracks, comments and activity as JSON.' }),
    h('div', { class: 'row' }, go, cancel), bar, msg,
    h('p', { class: 'muted small' }, 'Only the data, without audio: ',
      h('a', { href: '/api/v1/export', download: 'audiomus-export.json', id: 'export-json', text: 'download the JSON' }), '.'));
}
