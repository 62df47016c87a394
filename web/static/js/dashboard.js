// dashboard.js: the owner's single-page dashboard at / (hash routes):
//   #/                 projects (GET/POST /api/v1/projects)
//   #/p/ID/TAB         one project: tracks & uploads, listen & comments, share,
//                      settings (incl. notifications), activity
//   #/p/ID/comments/V  the owner's player on version V (ownerplayer.js)
//   #/account          account, e-mail notifications, password, sessions, export
// Signed out it is the sign-in / sign-up screen. The CSRF token comes from
// the login answer or GET /api/v1/session (after a reload) and rides on
// every non-GET (api.js). User text is always inserted as text (dom.js).
import { ApiError, get, post, patch, put, del, setCsrf } from './api.js';
import { $, h, mount, fmtTime, fmtDate, fmtAgo, fmtBytes } from './dom.js';
import { tusUpload, refusedByName, fileHead, rememberUpload, recallUpload, forgetUpload, rememberedUploads, resumableOffset } from './upload.js';
import { OwnerPlayer } from './ownerplayer.js';
import { authorLabel, commentTime } from './comments.js';
import { MarkersPanel } from './markers.js';
import { agentName } from './agent.js';
import { downloadAllButton, fullExportCard } from './archive.js';
import { activityTab } from './activity.js';
import { markCard } from './mark.js';
import { traceCard } from './trace.js';
import { accessLogButton } from './accesslog.js';

const app = $('#app');
const st = { account: null, pollTimer: 0, uploads: new Map(), routeSeq: 0, ownerPlayer: null, queue: [], server: null, dragTrack: null };

// Leaving (or reloading) the page while a file is still going up stops it:
// the browser asks first. After a reload, choosing the same file resumes it.
window.addEventListener('beforeunload', (e) => {
  if (st.queue.length) { e.preventDefault(); e.returnValue = ''; }
});

// ---- share URLs ----------------------------------------------------------------
// The owner's link list carries each live link's current URL (the server
// keeps the token sealed under the project key), so the Share tab shows it
// from any signed-in session. Nothing of it is kept in this browser: an
// older version cached URLs in localStorage under this key, dropped here.
try { localStorage.removeItem('audiomus.links'); } catch { /* storage off */ }

// ---- small UI helpers ---------------------------------------------------------

function toast(text) {
  const t = h('div', { class: 'toast', role: 'status', text });
  document.body.append(t);
  setTimeout(() => t.remove(), 2200);
}

function status(el, text, kind = '') { el.textContent = text; el.className = `status ${kind}`.trim(); }

async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    if (input) { input.select(); document.execCommand('copy'); }
  }
  toast('Link copied');
}

// A modal built from nodes; resolves with the button's value or null.
function dialog(title, body, buttons, { onOpen } = {}) {
  const d = $('#dialog');
  return new Promise((resolve) => {
    const form = h('form', { method: 'dialog' },
      h('h2', { text: title }), body,
      h('div', { class: 'row' }, h('span', { class: 'spacer' }),
        buttons.map((b) => h('button', { class: `btn ${b.class || ''}`, value: b.value, type: 'submit', text: b.label, disabled: b.disabled }))));
    mount(d, form);
    d.onclose = () => resolve(d.returnValue && d.returnValue !== 'cancel' ? d.returnValue : null);
    d.returnValue = '';
    d.showModal();
    onOpen?.(form);
  });
}

function confirmDialog(title, text, okLabel, danger) {
  return dialog(title, h('p', { text }), [
    { label: 'Cancel', value: 'cancel' },
    { label: okLabel, value: 'ok', class: danger ? 'danger solid' : 'primary' }]);
}

function errorText(e) {
  if (e instanceof ApiError && e.status === 401) { showAuth(); return 'Your session ended: sign in again.'; }
  return e.message || String(e);
}

// ---- auth ------------------------------------------------------------------------

function setSignedIn(body) {
  st.account = body.account;
  setCsrf(body.csrf_token);
  $('#nav').hidden = false;
  $('#logout').hidden = false;
  $('#who').hidden = false;
  $('#who').textContent = body.account.email;
}

// What the signed-out screens need to know (GET /api/v1/server): whether
// sign-up is open and whether this server sends e-mail. Asked once; a
// server that does not say is taken to offer both (the actions answer).
function serverInfo() {
  st.server ||= get('/api/v1/server').catch(() => ({}));
  return st.server;
}

// "New here? Create an account", or why there is none.
function authToggle(el, signup) {
  if (signup) {
    mount(el, 'Already have an account? ', h('button', { type: 'button', class: 'link', onclick: () => showAuth('signin'), text: 'Sign in' }));
    return;
  }
  serverInfo().then((s) => {
    if (s.signup_open === false) mount(el, h('span', { class: 'muted', id: 'signup-closed', text: 'New here? Sign-up is closed on this server: ask its administrator for an account.' }));
    else mount(el, 'New here? ', h('button', { type: 'button', class: 'link', id: 'to-signup', onclick: () => showAuth('signup'), text: 'Create an account' }));
  });
}

function showAuth(mode = 'signin') {
  st.account = null;
  setCsrf(null);
  clearTimeout(st.pollTimer);
  stopPlayer();
  $('#nav').hidden = true; $('#logout').hidden = true; $('#who').hidden = true;
  const signup = mode === 'signup';
  const toggle = h('p', { class: 'toggle-auth', id: 'auth-toggle' });
  const msg = h('p', { class: 'status', role: 'alert' });
  const email = h('input', { id: 'email', type: 'email', autocomplete: 'email', required: true });
  const pw = h('input', { id: 'password', type: 'password', autocomplete: signup ? 'new-password' : 'current-password', required: true, minlength: '8' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'auth-h' },
    h('h1', { id: 'auth-h', text: signup ? 'Create your account' : 'Sign in' }),
    h('label', { for: 'email', text: 'E-mail' }), email,
    h('label', { for: 'password', text: 'Password' }), pw,
    signup ? h('p', { class: 'muted small', text: 'At least 8 characters and not a common password. A passphrase is best.' }) : null,
    msg,
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'btn primary', text: signup ? 'Create account' : 'Sign in' }),
      h('span', { class: 'spacer' }),
      signup ? null : h('a', { href: '/reset-password', id: 'forgot', text: 'Forgot password?' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status(msg, signup ? 'Creating your account…' : 'Signing in…');
    try {
      const body = await post(signup ? '/api/v1/accounts' : '/api/v1/session', { email: email.value.trim(), password: pw.value });
      setSignedIn(body);
      if (location.hash.startsWith('#/')) route(); else location.hash = '#/';
    } catch (e) {
      status(msg, e.message, 'error');
    }
  });
  mount(app, h('div', { class: 'hero' },
    h('div', { class: 'hero-brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'audiomus'),
    h('p', { class: 'tag', text: 'Private review for unreleased music. Share a project with one link; reviewers listen on a waveform and comment at the exact second.' }),
    form, toggle));
  authToggle(toggle, signup);
  email.focus();
}

$('#logout').addEventListener('click', async () => {
  try { await del('/api/v1/session'); } catch { /* gone already */ }
  location.hash = '#/';
  showAuth();
});

// ---- router ------------------------------------------------------------------------

function stopPlayer() {
  st.ownerPlayer?.destroy();
  st.ownerPlayer = null;
}

async function route() {
  clearTimeout(st.pollTimer);
  stopPlayer();
  const seq = ++st.routeSeq;
  if (!st.account) return showAuth();
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  for (const a of document.querySelectorAll('.topnav a')) a.removeAttribute('aria-current');
  try {
    if (parts[0] === 'p' && parts[1]) await projectPage(parts[1], parts[2] || 'tracks', seq, parts[3]);
    else if (parts[0] === 'account') { $('#nav-account').setAttribute('aria-current', 'page'); await accountPage(); }
    else { $('#nav-projects').setAttribute('aria-current', 'page'); await projectsPage(); }
  } catch (e) {
    if (seq !== st.routeSeq) return;
    if (e instanceof ApiError && e.status === 401) return showAuth();
    mount(app, h('div', { class: 'card narrow state-card' }, h('h1', { text: e.status === 404 ? 'Not found' : 'Something went wrong' }),
      h('p', { class: 'muted', text: e.status === 404 ? 'This project does not exist or was deleted.' : e.message }),
      h('a', { class: 'btn', href: '#/', text: 'Back to projects' })));
  }
}
window.addEventListener('hashchange', route);

// ---- projects ------------------------------------------------------------------------

async function projectsPage() {
  const { projects } = await get('/api/v1/projects');
  const title = h('input', { id: 'new-title', maxlength: '200', required: true, placeholder: 'e.g. Demo EP' });
  const msg = h('p', { class: 'status', role: 'status' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-h' },
    h('h2', { id: 'new-h', text: 'New project' }),
    h('div', { class: 'field-row' }, h('div', {}, h('label', { for: 'new-title', text: 'Title' }), title),
      h('button', { type: 'submit', class: 'btn primary', text: 'Create project' })), msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status(msg, 'Creating…');
    try {
      const { project } = await post('/api/v1/projects', { title: title.value.trim() });
      sessionStorage.setItem('audiomus.justCreated', project.id);
      sessionStorage.setItem('audiomus.newProject', project.id);
      location.hash = `#/p/${project.id}/tracks`;
    } catch (e) { status(msg, errorText(e), 'error'); }
  });
  const list = projects.length
    ? h('ul', { class: 'projects' }, projects.map((p) => h('li', {},
      h('a', { class: 'card project-card', href: `#/p/${p.id}` },
        h('h2', { text: p.title }),
        h('p', { class: 'muted small', text: `Created ${fmtDate(p.created)}` }),
        h('div', { class: 'row' },
          p.has_password ? h('span', { class: 'badge subtle', text: 'password' }) : null,
          p.password_locked ? h('span', { class: 'badge bad', text: 'locked' }) : null,
          h('span', { class: 'badge subtle', text: p.downloads ? 'downloads on' : 'downloads off' }))))))
    : h('div', { class: 'card state-card' }, h('h2', { text: 'No projects yet' }),
      h('p', { class: 'muted', text: 'Create a project, drop your mixes in, and share one private link with your reviewers.' }));
  mount(app, h('div', { class: 'page-head' }, h('h1', { text: 'Projects' })), h('div', { class: 'stack' }, form, list));
}

// ---- one project ------------------------------------------------------------------------

const TABS = [['tracks', 'Tracks'], ['comments', 'Listen & comments'], ['share', 'Share'], ['settings', 'Settings'], ['activity', 'Activity']];

async function projectPage(id, tab, seq, sub) {
  const { project } = await get(`/api/v1/projects/${id}`);
  if (seq !== st.routeSeq) return;
  const panel = h('section', { id: 'panel', role: 'tabpanel', 'aria-labelledby': `tab-${tab}` });
  const tabs = h('div', { class: 'tabs', role: 'tablist' }, TABS.map(([k, label]) =>
    h('button', { type: 'button', role: 'tab', id: `tab-${k}`, 'aria-selected': k === tab ? 'true' : 'false', tabindex: k === tab ? '0' : '-1',
      onclick: () => { location.hash = `#/p/${id}/${k}`; },
      onkeydown: (e) => {
        const i = TABS.findIndex(([x]) => x === tab);
        const j = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : -9;
        if (j >= 0 && j < TABS.length) { location.hash = `#/p/${id}/${TABS[j][0]}`; }
      }, text: label })));
  mount(app,
    h('div', { class: 'page-head' }, h('a', { class: 'crumb', href: '#/', text: 'Projects /' }), h('h1', { id: 'project-h', text: project.title }),
      project.has_password ? h('span', { class: 'badge subtle', text: 'password' }) : null,
      h('span', { class: 'badge subtle', id: 'downloads-badge', text: project.downloads ? 'downloads on' : 'downloads off' }),
      downloadAllButton(`/api/v1/projects/${id}/archive`, { onError: toast }), // archive.js
      accessLogButton(id, { onError: toast })), // accesslog.js
    tabs, panel);
  const pages = { tracks: tracksTab, comments: commentsTab, share: shareTab, settings: settingsTab, activity: activityTab };
  await (pages[tab] || tracksTab)(project, panel, seq, sub);
  $(`#tab-${tab}`)?.focus({ preventScroll: true });
}

// -- tracks and uploads

const STATE_TEXT = { uploading: 'uploading', interrupted: 'interrupted', queued: 'queued', processing: 'processing', ready: 'ready', failed: 'failed' };

// The meters (docs/api.md): a figure, or null with NAME_reason ("silent",
// "too short to measure", ...) shown as words; absent: not measured.
const METERS = [['Loudness', 'loudness_lufs', 'LUFS'], ['Range', 'loudness_range_lu', 'LU'],
  ['True peak', 'true_peak_dbtp', 'dBTP'], ['Stream peak', 'stream_true_peak_dbtp', 'dBTP']];

function meterText(v, name, unit) {
  if (typeof v[name] === 'number') return `${v[name].toFixed(1)} ${unit}`;
  return v[name] === null && v[`${name}_reason`] ? v[`${name}_reason`] : null;
}

function versionFacts(v) {
  const f = [];
  if (v.duration_ms != null) f.push(['Duration', fmtTime(v.duration_ms / 1000)]);
  if (v.sample_rate) f.push(['Format', `${(v.sample_rate / 1000).toFixed(1)} kHz${v.bit_depth ? ` · ${v.bit_depth}-bit` : ''}${v.channels ? ` · ${v.channels === 1 ? 'mono' : v.channels === 2 ? 'stereo' : `${v.channels} ch`}` : ''}`]);
  for (const [k, name, unit] of METERS) {
    const val = meterText(v, name, unit);
    if (val != null) f.push([k, val]);
  }
  return h('span', { class: 'facts' }, f.map(([k, val]) => h('span', {}, `${k} `, h('b', { text: val }))));
}

// An interrupted upload: resume it (choose the same file: its fingerprint
// finds the stored upload URL) or remove it (its track, when that holds
// nothing else).
function interruptedActions(v, t, pid, resume) {
  const known = rememberedUploads().find((r) => r.vid === v.id);
  const pick = h('input', { type: 'file', class: 'sr-only', id: `rf-${v.id}` });
  pick.addEventListener('change', () => { if (pick.files[0]) resume(pick.files[0]); pick.value = ''; });
  return h('span', { class: 'resume' },
    known ? h('span', { class: 'muted small', text: `choose “${known.name}” again to resume` }) : null,
    h('label', { for: `rf-${v.id}`, class: 'btn ghost', tabindex: '0', role: 'button', text: 'Resume…',
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick.click(); } } }), pick,
    t.versions.length === 1 ? h('button', { type: 'button', class: 'btn ghost danger', text: 'Remove', onclick: () => deleteTrack(pid, t).then(() => resume(null)) }) : null);
}

function versionRow(v, pid, t, resume) {
  const badge = v.state === 'ready' ? 'ok' : v.state === 'failed' || v.state === 'interrupted' ? 'bad' : 'subtle';
  const up = st.uploads.get(v.id);
  return h('li', { class: 'version', dataset: { version: v.id, state: v.state } },
    h('span', { class: 'badge subtle', text: `v${v.number}` }),
    h('span', { class: `badge ${badge}`, text: STATE_TEXT[v.state] || v.state }),
    v.state === 'processing' && v.progress != null ? h('progress', { max: '100', value: String(Math.round(v.progress)), 'aria-label': 'Processing' }) : null,
    v.state === 'processing' && v.progress != null ? h('span', { class: 'muted small xcode-progress', text: `${Math.round(v.progress)} %` }) : null,
    v.state === 'queued' && v.queue_position ? h('span', { class: 'muted small queue-place', text: v.queue_position === 1 ? 'next to be processed' : `${v.queue_position - 1} ahead of it in the processing queue` }) : null,
    v.state === 'uploading' && up ? h('span', { class: 'muted small', text: up.note || '' }) : null,
    h('span', { class: 'muted small', text: v.filename || '' }),
    (v.state === 'failed' || v.state === 'interrupted') && v.error ? h('span', { class: 'status error', text: v.error }) : null,
    // Interrupted, or still 'uploading' after a reload of this page (it
    // turns interrupted after 5 minutes): offer to resume at once.
    t && (v.state === 'interrupted' || (v.state === 'uploading' && !up && rememberedUploads().some((r) => r.vid === v.id)))
      ? interruptedActions(v, t, pid, resume) : null,
    v.state === 'ready' ? versionFacts(v) : null,
    v.state === 'ready' ? h('a', { class: 'btn ghost play-link', href: `#/p/${pid}/comments/${v.id}`, 'aria-label': `Play version ${v.number}`, text: '▶ Play' }) : null);
}

async function tracksTab(project, panel, seq) {
  const pid = project.id;
  const file = h('input', { type: 'file', id: 'files', accept: 'audio/*,.wav,.aif,.aiff,.flac,.mp3,.m4a,.aac,.ogg', multiple: true, class: 'sr-only' });
  const drop = h('div', { class: 'dropzone', id: 'dropzone' },
    h('p', {}, 'Drop audio files here to add tracks, or ',
      h('label', { for: 'files', class: 'link', tabindex: '0', role: 'button', onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); file.click(); } }, text: 'choose files' }), '.'),
    h('p', { class: 'muted small', text: 'WAV, AIFF, FLAC, MP3, AAC, M4A or Ogg. Originals are encrypted on arrival; reviewers stream a 256 kbit/s AAC copy.' }), file);
  const uploadList = h('ul', { class: 'uploads', id: 'uploads', 'aria-live': 'polite' });
  const list = h('div', { id: 'track-list' });
  const orderMsg = h('p', { class: 'status', role: 'status', id: 'order-status' });
  // A project created a moment ago opens here: say what comes next.
  const fresh = sessionStorage.getItem('audiomus.newProject') === pid;
  sessionStorage.removeItem('audiomus.newProject');
  // Files go up one after another, in the order they were dropped; each
  // row says its place in the queue until its turn comes.
  const addFiles = (files, track) => {
    for (const f of files) enqueueUpload(pid, f, track, uploadList, () => refresh());
  };
  file.addEventListener('change', () => { addFiles([...file.files]); file.value = ''; });
  dropTarget(drop, (files) => addFiles(files));
  mount(panel, h('div', { class: 'stack' },
    fresh ? h('p', { class: 'status ok', id: 'project-created', text: 'Project created. Add your tracks first; the Share tab has the link for your reviewers.' }) : null,
    drop, uploadList, h('div', { class: 'card' }, list, orderMsg)));
  for (const [vid, u] of st.uploads) {
    if (u.pid !== pid) continue;
    if (u.done && !u.failed) st.uploads.delete(vid); else uploadList.append(u.row);
  }

  let shown = project;
  // Move track id to index `to` (drag or the ↑/↓ buttons): the whole new
  // order goes to the server at once; the list shows it at once and the
  // server's answer after. `focus`: the button to keep the focus on.
  const move = async (id, to, focus) => {
    const ids = shown.tracks.map((t) => t.id).filter((x) => x !== id);
    ids.splice(Math.max(0, Math.min(to, ids.length)), 0, id);
    const byId = new Map(shown.tracks.map((t) => [t.id, t]));
    const moved = byId.get(id);
    render({ ...shown, tracks: ids.map((x, i) => ({ ...byId.get(x), position: i })) });
    try {
      const { tracks } = await put(`/api/v1/projects/${pid}/tracks/order`, { track_ids: ids });
      if (seq !== st.routeSeq) return;
      render({ ...shown, tracks });
      status(orderMsg, `“${moved.title}” is now number ${ids.indexOf(id) + 1} of ${ids.length}.`, 'ok');
    } catch (e) { status(orderMsg, errorText(e), 'error'); refresh(); }
    if (focus) {
      const row = list.querySelector(`[data-track="${id}"]`);
      const btn = row?.querySelector(`.move-${focus}:not([disabled])`) || row?.querySelector('.move-up:not([disabled]), .move-down:not([disabled])');
      btn?.focus();
    }
  };

  const render = (p) => {
    shown = p;
    const sorted = p.tracks.sort((a, b) => a.position - b.position || a.created - b.created);
    const items = sorted.map((t, i) => {
      const vf = h('input', { type: 'file', class: 'sr-only', id: `vf-${t.id}`, accept: file.accept });
      vf.addEventListener('change', () => { addFiles([...vf.files], t); vf.value = ''; });
      const row = h('div', { class: 'track-row', dataset: { track: t.id } },
        h('div', { class: 'track-row-head' }, sorted.length > 1 ? orderControls(t, i, sorted.length, move) : null, h('h3', { text: t.title }),
          h('label', { for: `vf-${t.id}`, class: 'btn', tabindex: '0', role: 'button',
            onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); vf.click(); } }, text: 'New version' }), vf,
          h('button', { type: 'button', class: 'btn ghost', text: 'Rename', onclick: () => renameTrack(p.id, t).then(refresh) }),
          h('button', { type: 'button', class: 'btn ghost danger', text: 'Delete', onclick: () => deleteTrack(p.id, t).then(refresh) })),
        h('ul', { class: 'versions' }, [...t.versions].sort((a, b) => b.number - a.number).map((v) => versionRow(v, p.id, t, (f) => (f ? addFiles([f], t) : refresh())))),
        t.versions.length ? null : h('p', { class: 'muted small', text: 'No versions yet: drop a file on this track.' }));
      dragTrack(row, t, sorted, move);
      dropTarget(row, (files) => addFiles(files.slice(0, 1), t));
      return row;
    });
    mount(list, items.length ? items : h('div', { class: 'state-card', id: 'tracks-empty' },
      h('h2', { text: 'Add your first track' }),
      h('p', { class: 'muted', text: 'Drop your mixes on the box above or choose them: each file becomes a track, in the order you add them. Reviewers see the tracks in the order of this list.' }),
      h('button', { type: 'button', class: 'btn primary', id: 'upload-cta', text: 'Choose audio files…', onclick: () => file.click() })));
    showVerdicts(p.id, list);
    return p.tracks.some((t) => t.versions.some((v) => ['queued', 'processing'].includes(v.state) || (v.state === 'uploading' && !st.uploads.has(v.id))));
  };

  async function refresh() {
    if (seq !== st.routeSeq) return;
    clearTimeout(st.pollTimer);
    let p;
    try { ({ project: p } = await get(`/api/v1/projects/${pid}`)); } catch (e) { st.pollTimer = setTimeout(refresh, 5000); return; }
    if (seq !== st.routeSeq) return;
    const busy = render(p);
    if (!busy) {
      for (const [vid, u] of st.uploads) if (u.pid === pid && u.done && !u.failed) { u.row.remove(); st.uploads.delete(vid); }
    }
    if (busy || [...st.uploads.values()].some((u) => u.pid === pid && !u.done)) st.pollTimer = setTimeout(refresh, busy ? 1500 : 3000);
  }
  const busy = render(project);
  if (busy) st.pollTimer = setTimeout(refresh, 1500);
}

// The ↑/↓ buttons of a track row: the keyboard's way to reorder.
function orderControls(t, i, n, move) {
  return h('span', { class: 'order' },
    h('span', { class: 'drag-handle', 'aria-hidden': 'true', title: 'Drag to reorder', draggable: 'true', text: '⠿' }),
    h('button', { type: 'button', class: 'btn ghost order-btn move-up', 'aria-label': `Move “${t.title}” up`, disabled: i === 0, text: '↑',
      onclick: () => move(t.id, i - 1, 'up') }),
    h('button', { type: 'button', class: 'btn ghost order-btn move-down', 'aria-label': `Move “${t.title}” down`, disabled: i === n - 1, text: '↓',
      onclick: () => move(t.id, i + 1, 'down') }));
}

// Drag a track row by its handle onto another: it lands before or after
// that one (the upper or lower half). Files dropped on a row still make a
// new version (dropTarget ignores a track being dragged).
function dragTrack(row, t, sorted, move) {
  const handle = row.querySelector('.drag-handle');
  if (!handle) return;
  const clear = () => row.classList.remove('drop-before', 'drop-after');
  const after = (e) => { const r = row.getBoundingClientRect(); return e.clientY > r.top + r.height / 2; };
  handle.addEventListener('dragstart', (e) => {
    st.dragTrack = t.id;
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/plain', t.title);
    e.dataTransfer.setDragImage(row, 16, 16);
    row.classList.add('dragging');
  });
  handle.addEventListener('dragend', () => { st.dragTrack = null; row.classList.remove('dragging'); });
  row.addEventListener('dragover', (e) => {
    if (!st.dragTrack || st.dragTrack === t.id) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    row.classList.toggle('drop-after', after(e));
    row.classList.toggle('drop-before', !after(e));
  });
  row.addEventListener('dragleave', clear);
  row.addEventListener('drop', (e) => {
    const id = st.dragTrack;
    clear();
    if (!id || id === t.id) return;
    e.preventDefault();
    st.dragTrack = null;
    const others = sorted.filter((x) => x.id !== id);
    move(id, others.findIndex((x) => x.id === t.id) + (after(e) ? 1 : 0));
  });
}

function dropTarget(el, onFiles) {
  el.addEventListener('dragover', (e) => { if (st.dragTrack) return; e.preventDefault(); e.stopPropagation(); el.classList.add('over'); });
  el.addEventListener('dragleave', () => el.classList.remove('over'));
  el.addEventListener('drop', (e) => {
    if (st.dragTrack) return;
    e.preventDefault(); e.stopPropagation(); el.classList.remove('over');
    const files = [...(e.dataTransfer?.files || [])];
    if (files.length) onFiles(files);
  });
}

// The upload queue: one file at a time, the others wait with their place.
function showQueue() {
  st.queue.forEach((q, i) => {
    if (!q.started) q.note.textContent = i === 0 ? 'starting…' : `queued · ${i + 1} of ${st.queue.length} · waiting for ${i} before it`;
    q.row.dataset.queue = String(i + 1);
  });
}

function enqueueUpload(pid, f, track, listEl, onChange) {
  const bar = h('progress', { max: '100', value: '0', 'aria-label': `Upload of ${f.name}` });
  const note = h('span', { class: 'muted small', text: '' });
  const cancel = h('button', { type: 'button', class: 'link small', text: 'Cancel' });
  const row = h('li', { class: 'upload', dataset: { file: f.name } }, h('span', { text: `${f.name} · ${fmtBytes(f.size)}` }), h('span', {}, note, ' ', cancel), bar);
  listEl.append(row);
  const q = { pid, f, track, row, note, bar, cancel, ctl: new AbortController(), started: false, onChange };
  const refused = refusedByName(f);
  if (refused) return uploadFailed(q, refused, 'refused');
  cancel.addEventListener('click', () => {
    q.ctl.abort();
    if (!q.started) { st.queue.splice(st.queue.indexOf(q), 1); uploadFailed(q, 'cancelled'); showQueue(); }
  });
  const prev = st.queue.length ? st.queue[st.queue.length - 1].done : Promise.resolve();
  st.queue.push(q);
  q.done = prev.then(() => (q.ctl.signal.aborted ? null : runUpload(q))).finally(() => {
    const i = st.queue.indexOf(q);
    if (i >= 0) st.queue.splice(i, 1);
    showQueue();
  });
  showQueue();
  return q.done;
}

function uploadFailed(q, text, why = 'failed') {
  q.note.textContent = text;
  q.note.className = 'status error';
  q.row.dataset.failed = why;
  q.cancel.remove();
  q.bar.remove();
}

// A remembered upload of this very file into this project that the server
// still holds: where to go on from, or null.
async function resumeTarget(q) {
  const r = recallUpload(q.f);
  if (!r || r.pid !== q.pid || (q.track && r.tid !== q.track.id)) return null;
  const offset = await resumableOffset(r.url);
  if (offset < 0 || offset > q.f.size) { forgetUpload(q.f); return null; }
  return { ...r, offset };
}

// Create the track (unless given) and the upload, each with the file's
// first bytes, so that a file that is not audio is refused before either
// exists.
async function createUpload(q) {
  const head = await fileHead(q.f);
  let t = q.track;
  if (!t) {
    const title = q.f.name.replace(/\.[^.]+$/, '').slice(0, 200) || 'Untitled';
    ({ track: t } = await post(`/api/v1/projects/${q.pid}/tracks`, { title, head }));
  }
  const r = await post(`/api/v1/projects/${q.pid}/tracks/${t.id}/uploads`, { filename: q.f.name.slice(0, 255), size: q.f.size, head });
  const entry = { url: r.upload_url, pid: q.pid, tid: t.id, vid: r.version.id };
  rememberUpload(q.f, entry);
  return entry;
}

async function runUpload(q) {
  const { f, bar, note, row } = q;
  const u = { pid: q.pid, row, done: false, note: '' };
  q.started = true;
  showQueue();
  try {
    note.textContent = 'checking…';
    const resumed = await resumeTarget(q);
    const target = resumed || await createUpload(q);
    st.uploads.set(target.vid, u);
    row.dataset.version = target.vid;
    if (resumed) row.dataset.resumed = 'true';
    q.onChange();
    await tusUpload(target.url, f, {
      signal: q.ctl.signal,
      onProgress: (sent, total, why) => {
        const pct = total ? Math.floor((sent / total) * 100) : 100;
        bar.value = pct;
        u.note = why || `${pct}%`;
        note.textContent = `${resumed ? 'resumed · ' : ''}${why ? `${pct}% · ${why}` : `${pct}%`}`;
      },
    });
    forgetUpload(f);
    bar.value = 100;
    note.textContent = 'uploaded · processing';
    row.dataset.done = 'true';
    q.cancel.remove();
  } catch (e) {
    u.failed = true;
    // Refused or gone: nothing to resume. A lost connection or a cancel
    // keeps the remembered URL: the same file resumes later.
    if (!e.cancelled && !e.retry) forgetUpload(f);
    uploadFailed(q, e.cancelled ? 'cancelled' : errorText(e), e.cancelled ? 'cancelled' : 'failed');
  } finally {
    u.done = true;
    q.onChange();
  }
}

async function renameTrack(pid, t) {
  const v = await dialog('Rename track', h('div', {}, h('label', { for: 'rt', text: 'Title' }), h('input', { id: 'rt', value: t.title, maxlength: '200' })),
    [{ label: 'Cancel', value: 'cancel' }, { label: 'Rename', value: 'ok', class: 'primary' }]);
  const title = $('#rt')?.value.trim();
  if (v === 'ok' && title) { try { await patch(`/api/v1/projects/${pid}/tracks/${t.id}`, { title }); } catch (e) { toast(errorText(e)); } }
}

async function deleteTrack(pid, t) {
  if (await confirmDialog('Delete track?', `“${t.title}”, all its versions and their comments will be deleted. This cannot be undone.`, 'Delete track', true) !== 'ok') return;
  try { await del(`/api/v1/projects/${pid}/tracks/${t.id}`); } catch (e) { toast(errorText(e)); }
}

// -- comments

async function commentsTab(project, panel, seq, sub) {
  const pid = project.id;
  const op = new OwnerPlayer(project, {
    onMarker: (id) => jump(id),
    onError: (e) => { if (e.status === 401) errorText(e); },
    onVersion: () => { markActive(); markers.setVersion(op.version?.id, op.track); },
    onComment: (c) => shown(c.id),
  });
  // The comments of the version on screen as DAW marker files (markers.js).
  const markers = new MarkersPanel({
    prefix: 'op-', owner: true,
    versionPath: (vid) => `/api/v1/projects/${pid}/versions/${vid}/markers`,
    projectPath: `/api/v1/projects/${pid}/markers`,
    trackPath: (tid) => `/api/v1/projects/${pid}/tracks/${tid}`,
  });
  st.ownerPlayer = op;
  const list = h('div', { class: 'stack', id: 'owner-comments' });
  const byId = new Map();
  const versions = new Map();
  for (const t of project.tracks) for (const v of t.versions) versions.set(v.id, { t, v });

  // Highlight the active comment (and only it) without re-rendering.
  function markActive() {
    for (const el of list.querySelectorAll('.comment.active')) el.classList.remove('active');
    if (op.activeId) document.getElementById(`comment-${op.activeId}`)?.classList.add('active');
  }
  // A timestamp or a marker: load that version, seek, highlight.
  async function jump(id) {
    const c = byId.get(id);
    if (!c) return;
    op.activeId = id;
    markActive();
    await op.show(c.version_id, c.time_ms / 1000, id);
    markActive();
    const el = document.getElementById(`comment-${id}`);
    if (el) { el.scrollIntoView({ block: 'nearest' }); el.querySelector('.ts')?.focus({ preventScroll: true }); }
  }
  // The owner's new comment: in the list, highlighted, on the waveform.
  async function shown(id) {
    await reload();
    op.activeId = id;
    op.setMarkers();
    markActive();
    document.getElementById(`comment-${id}`)?.scrollIntoView({ block: 'nearest' });
  }
  async function reload() {
    if (seq !== st.routeSeq) return;
    let comments;
    try { ({ comments } = await get(`/api/v1/projects/${pid}/comments`)); } catch (e) { toast(errorText(e)); return; }
    if (seq !== st.routeSeq) return;
    byId.clear();
    for (const c of comments) byId.set(c.id, c);
    const byParent = (id) => comments.filter((c) => c.parent_id === id).sort((x, y) => x.created - y.created);
    const groups = project.tracks.map((t) => {
      const top = comments.filter((c) => !c.parent_id && t.versions.some((v) => v.id === c.version_id))
        .sort((x, y) => x.time_ms - y.time_ms);
      if (!top.length) return null;
      return h('section', { class: 'card' }, h('h2', { text: t.title }),
        h('ol', { class: 'comments' }, top.map((c) => ownerComment(pid, c, byParent(c.id), versions.get(c.version_id), jump, reload))));
    }).filter(Boolean);
    mount(list, groups.length ? groups : h('div', { class: 'card state-card' }, h('h2', { text: 'No comments yet' }),
      h('p', { class: 'muted', text: 'Share the link: reviewers’ timestamped comments appear here and on the waveform above. Your own notes too: play, and comment at the moment you mean.' })));
    op.setComments(comments);
    markActive();
  }
  mount(panel, h('div', { class: 'stack' }, op.el, markers.el, list));
  await reload();
  if (seq !== st.routeSeq) return;
  await op.show(sub || null);
  // "▶ Play" on the Tracks tab: the click that got here allows playback.
  if (sub && op.player && seq === st.routeSeq) op.player.audio.play().catch(() => {});
}

function ownerComment(pid, c, replies, vt, jump, reload) {
  const time = commentTime(c);
  const playable = vt && vt.v.state === 'ready';
  const jumpBtn = h('button', { type: 'button', class: 'ts', disabled: !playable, 'aria-label': `Jump to ${time}`,
    title: playable ? null : 'This version is not playable', onclick: () => jump(c.id), text: time });
  const li = h('li', { class: `comment${c.resolved ? ' resolved' : ''}${c.by_owner ? ' by-owner' : ''}`, id: `comment-${c.id}` },
    h('div', { class: 'comment-head' }, jumpBtn,
      authorLabel(c, 'you'),
      vt ? h('span', { class: 'badge subtle', text: `v${vt.v.number}` }) : null,
      c.resolved ? h('span', { class: 'badge ok', text: 'resolved' }) : null,
      h('span', { class: 'when muted small', text: fmtAgo(c.created) }), editedBadge(c)),
    c.deleted ? h('p', { class: 'body muted', text: '(deleted)' }) : h('p', { class: 'body', text: c.body }),
    replies.length ? h('ol', { class: 'replies' }, replies.map((r) => h('li', { class: `reply${r.by_owner ? ' by-owner' : ''}`, id: `comment-${r.id}` },
      h('div', { class: 'comment-head' }, authorLabel(r, 'you'),
        h('span', { class: 'when muted small', text: fmtAgo(r.created) }), editedBadge(r),
        r.deleted ? null : h('button', { type: 'button', class: 'link small', text: 'Delete', onclick: () => deleteComment(pid, r).then(reload) })),
      r.deleted ? h('p', { class: 'body muted', text: '(deleted)' }) : h('p', { class: 'body', text: r.body })))) : null,
    c.deleted ? null : h('div', { class: 'row' },
      h('button', { type: 'button', class: 'link small', text: 'Reply', onclick: () => ownerReply(pid, c, li, reload) }),
      h('button', { type: 'button', class: 'link small', text: c.resolved ? 'Reopen' : 'Resolve',
        onclick: async () => { try { await patch(`/api/v1/projects/${pid}/comments/${c.id}`, { resolved: !c.resolved }); reload(); } catch (e) { toast(errorText(e)); } } }),
      h('button', { type: 'button', class: 'link small', text: 'Delete', onclick: () => deleteComment(pid, c).then(reload) })));
  return li;
}

function ownerReply(pid, c, li, reload) {
  li.querySelector('form')?.remove();
  const ta = h('textarea', { rows: '2', maxlength: '4096', required: true, 'aria-label': c.by_owner ? 'Add to your note' : `Reply to ${c.author}` });
  const msg = h('p', { class: 'status', role: 'status' });
  const form = h('form', { class: 'reply-form' }, ta, h('div', { class: 'row' }, msg, h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'btn ghost', text: 'Cancel', onclick: () => form.remove() }),
    h('button', { type: 'submit', class: 'btn primary', text: 'Reply' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await post(`/api/v1/projects/${pid}/comments`, { version_id: c.version_id, body: ta.value.trim(), time_ms: c.time_ms, parent_id: c.id });
      reload();
    } catch (e) { status(msg, errorText(e), 'error'); }
  });
  li.append(form);
  ta.focus();
}

async function deleteComment(pid, c) {
  if (await confirmDialog('Delete comment?', 'Its text is destroyed for good; a placeholder keeps the thread readable.', 'Delete', true) !== 'ok') return;
  try { await del(`/api/v1/projects/${pid}/comments/${c.id}`); } catch (e) { toast(errorText(e)); }
}

// -- share

function urlBox(url, id) {
  const input = h('input', { id, readonly: true, value: url, 'aria-label': 'Share link', onfocus: (e) => e.target.select() });
  return h('div', { class: 'urlbox' }, input, h('button', { type: 'button', class: 'btn primary', text: 'Copy', onclick: () => copy(url, input) }));
}

async function shareTab(project, panel) {
  const pid = project.id;
  const reload = () => shareTab(project, panel);
  const { links } = await get(`/api/v1/projects/${pid}/links`);
  const def = links.find((l) => l.is_default);
  const extra = links.filter((l) => !l.is_default);
  const justCreated = sessionStorage.getItem('audiomus.justCreated') === pid;
  sessionStorage.removeItem('audiomus.justCreated');
  const defUrl = def && def.url;

  const regenerate = async (l) => {
    if (await confirmDialog('Regenerate this link?', 'The current link stops working at once, for everyone who has it, along with every player URL and password unlock made with it. You will get a new link to share.', 'Regenerate', true) !== 'ok') return;
    try {
      await post(`/api/v1/projects/${pid}/links/${l.id}/regenerate`);
      await reload();
      toast('New link ready');
    } catch (e) { toast(errorText(e)); }
  };

  const defCard = h('section', { class: 'card', 'aria-labelledby': 'share-h' },
    h('h2', { id: 'share-h', text: 'Share link' }),
    justCreated ? h('p', { class: 'status ok', text: 'Project created. Copy the link and send it to your reviewers.' }) : null,
    def && defUrl ? urlBox(defUrl, 'share-url')
      : h('p', { class: 'muted', text: 'This link was made before links could be shown again. Regenerate it once to get a link you can copy from any device; the old one stops working.' }),
    def ? h('div', { class: 'row' },
      h('span', { class: 'muted small', text: `Generation ${def.generation} · created ${fmtDate(def.created)}` }), h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'btn danger', id: 'regenerate', text: 'Regenerate…', onclick: () => regenerate(def) })) : null);

  const label = h('input', { id: 'link-label', maxlength: '100', required: true, placeholder: 'e.g. For the label' });
  const expiry = h('select', { id: 'link-expiry' },
    h('option', { value: '0', text: 'Never' }), h('option', { value: '86400', text: '1 day' }),
    h('option', { value: '604800', text: '7 days', selected: true }), h('option', { value: '2592000', text: '30 days' }));
  const msg = h('p', { class: 'status', role: 'status' });
  const created = h('div', {});
  const form = h('form', {}, h('div', { class: 'field-row' },
    h('div', {}, h('label', { for: 'link-label', text: 'Name' }), label),
    h('div', {}, h('label', { for: 'link-expiry', text: 'Expires' }), expiry),
    h('button', { type: 'submit', class: 'btn', text: 'Create link' })), msg, created);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { label: label.value.trim() };
    if (Number(expiry.value)) body.expires_in_s = Number(expiry.value);
    try {
      await post(`/api/v1/projects/${pid}/links`, body);
      await reload();
      toast('Link created');
    } catch (e) { status(msg, errorText(e), 'error'); }
  });
  const rows = extra.map((l) => {
    const u = l.url;
    const expired = l.expires && l.expires < Date.now();
    return h('li', { class: 'link-row' },
      h('strong', { text: l.label }),
      l.revoked ? h('span', { class: 'badge bad', text: 'revoked' }) : expired ? h('span', { class: 'badge bad', text: 'expired' })
        : h('span', { class: 'badge subtle', text: l.expires ? `expires ${fmtDate(l.expires)}` : 'no expiry' }),
      h('span', { class: 'spacer' }),
      u && !l.revoked ? h('button', { type: 'button', class: 'btn', text: 'Copy', 'aria-label': `Copy the link “${l.label}”`, 'data-url': u, onclick: () => copy(u) }) : null,
      l.revoked ? null : h('button', { type: 'button', class: 'btn ghost', text: 'Regenerate', onclick: () => regenerate(l) }),
      l.revoked ? null : h('button', { type: 'button', class: 'btn danger', text: 'Revoke', onclick: async () => {
        if (await confirmDialog('Revoke this link?', `“${l.label}” stops working at once.`, 'Revoke', true) !== 'ok') return;
        try { await del(`/api/v1/projects/${pid}/links/${l.id}`); reload(); } catch (e) { toast(errorText(e)); }
      } }));
  });
  mount(panel, h('div', { class: 'stack' }, defCard,
    h('section', { class: 'card', 'aria-labelledby': 'extra-h' }, h('h2', { id: 'extra-h', text: 'Named links' }),
      h('p', { class: 'muted small', text: 'A separate link per person or label, each with its own expiry; revoke one without bothering the others.' }),
      rows.length ? h('ul', { class: 'links' }, rows) : h('p', { class: 'empty', text: 'No named links.' }), form)));
}

// -- settings

async function settingsTab(project, panel) {
  const pid = project.id;
  const again = async () => { const { project: p } = await get(`/api/v1/projects/${pid}`); route(); return p; };

  const title = h('input', { id: 'rename', value: project.title, maxlength: '200', required: true });
  const rmsg = h('p', { class: 'status', role: 'status' });
  const rename = h('form', { class: 'card' }, h('h2', { text: 'Title' }),
    h('div', { class: 'field-row' }, h('div', {}, h('label', { for: 'rename', text: 'Project title' }), title), h('button', { type: 'submit', class: 'btn', text: 'Save' })), rmsg);
  rename.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try { await patch(`/api/v1/projects/${pid}`, { title: title.value.trim() }); status(rmsg, 'Saved', 'ok'); $('#project-h').textContent = title.value.trim(); } catch (e) { status(rmsg, errorText(e), 'error'); }
  });

  const dl = h('input', { type: 'checkbox', id: 'downloads', checked: project.downloads });
  const dmsg = h('p', { class: 'status', role: 'status' });
  dl.addEventListener('change', async () => {
    try {
      await patch(`/api/v1/projects/${pid}`, { downloads: dl.checked });
      project.downloads = dl.checked;
      const badge = $('#downloads-badge');
      if (badge) badge.textContent = dl.checked ? 'downloads on' : 'downloads off';
      status(dmsg, dl.checked ? 'Reviewers can download the original files.' : 'Downloads are off: reviewers can only stream, and download links handed out earlier stop working.', 'ok');
    } catch (e) { dl.checked = !dl.checked; status(dmsg, errorText(e), 'error'); }
  });
  const downloads = h('section', { class: 'card' }, h('h2', { text: 'Downloads' }),
    h('label', { class: 'switch', for: 'downloads' }, dl, 'Let reviewers download the original files'), dmsg);

  // Issue 21: the meters on the review page, off until the owner wants them.
  const loud = h('input', { type: 'checkbox', id: 'show-loudness', checked: project.show_loudness });
  const lmsg = h('p', { class: 'status', role: 'status' });
  loud.addEventListener('change', async () => {
    try {
      await patch(`/api/v1/projects/${pid}`, { show_loudness: loud.checked });
      project.show_loudness = loud.checked;
      status(lmsg, loud.checked ? 'Reviewers see loudness, range and true peak beside each version.' : 'Reviewers no longer see the loudness figures.', 'ok');
    } catch (e) { loud.checked = !loud.checked; status(lmsg, errorText(e), 'error'); }
  });
  const loudness = h('section', { class: 'card' }, h('h2', { text: 'Loudness' }),
    h('label', { class: 'switch', for: 'show-loudness' }, loud, 'Show loudness to reviewers'), lmsg);

  const pw = h('input', { id: 'project-password', type: 'password', autocomplete: 'new-password', minlength: '8', required: true });
  const pmsg = h('p', { class: 'status', role: 'status' });
  const pwForm = h('form', { class: 'card' }, h('h2', { text: 'Password' }),
    h('p', { class: 'muted small', text: project.has_password
      ? (project.password_locked ? 'This project stopped taking passwords after too many wrong ones. Set a new password (or remove it) to open it again.' : 'Reviewers need this password as well as the link. Changing it signs every reviewer out.')
      : 'Add a password for an extra lock on top of the link.' }),
    h('div', { class: 'field-row' }, h('div', {}, h('label', { for: 'project-password', text: project.has_password ? 'New password' : 'Password' }), pw),
      h('button', { type: 'submit', class: 'btn primary', id: 'set-password', text: project.has_password ? 'Change password' : 'Set password' })),
    project.has_password ? h('button', { type: 'button', class: 'btn danger', id: 'remove-password', text: 'Remove password', onclick: async () => {
      if (await confirmDialog('Remove the password?', 'Anyone with the link can listen again.', 'Remove', true) !== 'ok') return;
      try { await del(`/api/v1/projects/${pid}/password`); await again(); } catch (e) { status(pmsg, errorText(e), 'error'); }
    } }) : null, pmsg);
  pwForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try { await put(`/api/v1/projects/${pid}/password`, { password: pw.value }); pw.value = ''; await again(); toast('Password saved'); } catch (e) { status(pmsg, errorText(e), 'error'); }
  });

  const danger = h('section', { class: 'card' }, h('h2', { text: 'Delete project' }),
    h('p', { class: 'muted small', text: 'Deleting destroys the project’s key: its tracks, comments and links become unreadable at once and are removed. This cannot be undone.' }),
    h('button', { type: 'button', class: 'btn danger', id: 'delete-project', text: 'Delete project…', onclick: () => deleteProject(project) }));
  mount(panel, h('div', { class: 'grid2' }, rename, downloads, loudness, await markCard(pid), traceCard(pid), await projectNotificationsCard(pid), pwForm, danger));
}

async function deleteProject(project) {
  const input = h('input', { id: 'confirm-title', autocomplete: 'off' });
  const v = await dialog('Delete this project?', h('div', {},
    h('p', { text: 'Type the project title to confirm:' }), h('p', {}, h('strong', { text: project.title })),
    h('label', { for: 'confirm-title', text: 'Project title' }), input),
  [{ label: 'Cancel', value: 'cancel' }, { label: 'Delete for good', value: 'ok', class: 'danger solid' }]);
  if (v !== 'ok') return;
  if (input.value !== project.title) { toast('The title did not match: nothing was deleted'); return; }
  try { await del(`/api/v1/projects/${project.id}`, { confirm: input.value }); toast('Project deleted'); location.hash = '#/'; } catch (e) { toast(errorText(e)); }
}

// -- activity: activity.js

// ---- account -----------------------------------------------------------------------

async function accountPage() {
  const acct = await get('/api/v1/account');
  const { sessions } = await get('/api/v1/sessions');
  const notif = await get('/api/v1/account/notifications');
  const cur = h('input', { id: 'cur-pw', type: 'password', autocomplete: 'current-password', required: true });
  const nw = h('input', { id: 'new-pw', type: 'password', autocomplete: 'new-password', minlength: '8', required: true });
  const pmsg = h('p', { class: 'status', role: 'status' });
  const pwForm = h('form', { class: 'card' }, h('h2', { text: 'Password' }),
    h('label', { for: 'cur-pw', text: 'Current password' }), cur, h('label', { for: 'new-pw', text: 'New password' }), nw, pmsg,
    h('button', { type: 'submit', class: 'btn primary', text: 'Change password' }));
  pwForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try { await post('/api/v1/account/password', { current_password: cur.value, new_password: nw.value }); cur.value = ''; nw.value = ''; status(pmsg, 'Changed. Your other sessions were signed out.', 'ok'); }
    catch (e) { status(pmsg, errorText(e), 'error'); }
  });
  const sess = h('section', { class: 'card' }, h('h2', { text: 'Sessions' }),
    h('ul', { class: 'sessions' }, sessions.map((s) => h('li', {},
      h('span', { class: 'agent', title: s.agent || null, text: agentName(s.agent) || 'Unknown browser' }),
      s.current ? h('span', { class: 'badge ok', text: 'this browser' }) : null,
      h('span', { class: 'muted small', text: `last seen ${fmtAgo(s.last_seen)}` }),
      s.current ? null : h('button', { type: 'button', class: 'btn ghost', text: 'Sign out', onclick: async () => { try { await del(`/api/v1/sessions/${s.id}`); route(); } catch (e) { toast(errorText(e)); } } })))),
    sessions.length > 1 ? h('button', { type: 'button', class: 'btn', text: 'Sign out everywhere else', onclick: async () => { try { await del('/api/v1/sessions'); route(); } catch (e) { toast(errorText(e)); } } }) : null);
  const exp = fullExportCard(); // archive.js
  const dpw = h('input', { id: 'del-pw', type: 'password', autocomplete: 'current-password', required: true });
  const dmsg = h('p', { class: 'status', role: 'status' });
  const delForm = h('form', { class: 'card' }, h('h2', { text: 'Delete account' }),
    h('p', { class: 'muted small', text: 'Every project is destroyed (its key is shredded) and the account is removed. This cannot be undone.' }),
    h('label', { for: 'del-pw', text: 'Your password' }), dpw, dmsg, h('button', { type: 'submit', class: 'btn danger', text: 'Delete my account' }));
  delForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (await confirmDialog('Delete your account?', 'All projects, tracks and comments are destroyed.', 'Delete everything', true) !== 'ok') return;
    try { await del('/api/v1/account', { password: dpw.value }); showAuth(); } catch (e) { status(dmsg, errorText(e), 'error'); }
  });
  mount(app, h('div', { class: 'page-head' }, h('h1', { text: 'Account' })),
    h('div', { class: 'grid2' },
      h('section', { class: 'card' }, h('h2', { text: 'Profile' }), h('p', {}, 'Signed in as ', h('strong', { text: acct.email })),
        h('p', { class: 'muted small', text: `Member since ${fmtDate(acct.created)}` }),
        verifyBanner(acct, notif.mail_enabled)),
      notificationsCard(acct, notif), pwForm, sess, exp, delForm));
}

// ---- e-mail notifications ------------------------------------------------------------
// Every kind is off until the owner turns it on (docs/mail.md). Account-wide
// switches on the account page; per project "same as account" / on / off in
// the project's settings. Mail goes only to a confirmed address: while
// GET /api/v1/account says email_verified: false the cards say so and offer
// the confirmation e-mail again (an absent field counts as confirmed).

const KINDS = [
  ['comments', 'New comments', 'A digest of reviewers’ new comments: at most one e-mail per project every few minutes, however many arrive.'],
  ['replies', 'Replies', 'A reviewer answered in a comment thread: sent at once.'],
  ['password_locked', 'Project password locked', 'Someone entered a wrong project password 100 times in a row, so the project stopped taking passwords.'],
  ['link_regenerated', 'Share link regenerated', 'A share link of the project was regenerated (the old one stopped working).'],
  ['password_changed', 'Account password changed', 'Your account password was changed, in settings or with a reset link.'],
  ['new_login', 'Sign-in from a new browser', 'Someone signed in to your account from a browser this server has not seen before.'],
];
const PROJECT_KINDS = KINDS.slice(0, 4);

function verifyBanner(acct, mailEnabled) {
  if (acct.email_verified !== false) return null;
  if (mailEnabled === false) {
    return h('div', { class: 'notice', id: 'verify-banner' },
      h('p', {}, h('strong', { text: 'Confirm your address to receive notifications.' })),
      h('p', { class: 'muted small', text: 'This server sends no e-mail, so it cannot confirm your address: ask its administrator.' }));
  }
  const msg = h('p', { class: 'status', role: 'status' });
  const btn = h('button', { type: 'button', class: 'btn', text: 'Send the confirmation e-mail again' });
  const box = h('div', { class: 'notice', id: 'verify-banner' },
    h('p', {}, h('strong', { text: 'Confirm your address to receive notifications.' })),
    h('p', { class: 'muted small', text: `We sent a link to ${acct.email}. Until you open it, no notification e-mail is sent.` }),
    h('div', { class: 'row' }, btn), msg);
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    status(msg, 'Sending…');
    try {
      await post('/api/v1/account/email/resend');
      status(msg, `Sent to ${acct.email}: open the link in it. Check the spam folder too.`, 'ok');
      setTimeout(() => { btn.disabled = false; }, 5000);
    } catch (e) {
      if (e.status === 409) { status(msg, 'Your address is already confirmed.', 'ok'); box.querySelector('p strong').textContent = 'Your address is confirmed.'; btn.remove(); return; }
      if (e.status === 429) { countdown(msg, btn, e.retryAfter || 60, (n) => `Sent recently: try again in ${n} s.`); return; }
      status(msg, e.status === 503 ? 'This server cannot send e-mail right now (or at all): ask its administrator.' : errorText(e), 'error');
      btn.disabled = false;
    }
  });
  return box;
}

// "try again in N s", counting down, then re-enable btn.
function countdown(msg, btn, n, text) {
  btn.disabled = true;
  status(msg, text(n), 'error');
  const t = setInterval(() => {
    n -= 1;
    if (n <= 0 || !msg.isConnected) { clearInterval(t); btn.disabled = false; status(msg, ''); } else status(msg, text(n), 'error');
  }, 1000);
}

function mailIntro(mailEnabled, digest) {
  return [
    h('p', { class: 'muted small', text: 'E-mails about your projects and account. Every one is off until you turn it on.' }),
    mailEnabled === false ? h('p', { class: 'status error', text: 'This server is not set up to send e-mail: your choices are kept, but nothing is sent until its administrator configures it.' }) : null,
    digest ? h('p', { class: 'muted small', text: `Comment digests go out at most every ${digest} min per project.` }) : null,
  ];
}

function notificationsCard(acct, r) {
  const msg = h('p', { class: 'status', role: 'status', id: 'notif-status' });
  const rows = KINDS.map(([k, label, help]) => {
    const box = h('input', { type: 'checkbox', id: `notif-${k}`, checked: !!r.notifications[k], 'aria-describedby': `notif-${k}-help` });
    box.addEventListener('change', async () => {
      try {
        const a = await put('/api/v1/account/notifications', { [k]: box.checked });
        box.checked = !!a.notifications[k];
        status(msg, `${label}: ${box.checked ? 'on' : 'off'}. Saved.`, 'ok');
      } catch (e) { box.checked = !box.checked; status(msg, errorText(e), 'error'); }
    });
    return h('li', {}, h('label', { class: 'switch', for: `notif-${k}` }, box, label),
      h('p', { class: 'muted small', id: `notif-${k}-help`, text: help }));
  });
  return h('section', { class: 'card', id: 'notifications', 'aria-labelledby': 'notif-h' },
    h('h2', { id: 'notif-h', text: 'E-mail notifications' }),
    mailIntro(r.mail_enabled, r.digest_minutes),
    acct.email_verified === false ? h('p', { class: 'status error', text: 'Not sent until you confirm your address (see Profile).' }) : null,
    h('ul', { class: 'notif-list' }, rows),
    h('p', { class: 'muted small', text: 'A project’s settings can turn the first four on or off for that project only.' }), msg);
}

async function projectNotificationsCard(pid) {
  const [r, acct] = await Promise.all([get(`/api/v1/projects/${pid}/notifications`), get('/api/v1/account')]);
  const msg = h('p', { class: 'status', role: 'status', id: 'pnotif-status' });
  const sameText = (on) => `Same as account (${on ? 'on' : 'off'})`;
  const rows = PROJECT_KINDS.map(([k, label, help]) => {
    const inheritOpt = h('option', { value: 'inherit', text: sameText(r.effective[k]) });
    const sel = h('select', { id: `pnotif-${k}`, 'aria-describedby': `pnotif-${k}-help` },
      inheritOpt, h('option', { value: 'on', text: 'On for this project' }), h('option', { value: 'off', text: 'Off for this project' }));
    sel.value = r.notifications[k];
    let prev = sel.value;
    sel.addEventListener('change', async () => {
      try {
        const a = await put(`/api/v1/projects/${pid}/notifications`, { [k]: sel.value });
        sel.value = a.notifications[k];
        prev = sel.value;
        if (sel.value === 'inherit') inheritOpt.textContent = sameText(a.effective[k]);
        status(msg, `${label}: ${a.effective[k] ? 'on' : 'off'} for this project. Saved.`, 'ok');
      } catch (e) { sel.value = prev; status(msg, errorText(e), 'error'); }
    });
    return h('li', {}, h('label', { for: `pnotif-${k}`, text: label }), sel,
      h('p', { class: 'muted small', id: `pnotif-${k}-help`, text: help }));
  });
  return h('section', { class: 'card', id: 'project-notifications', 'aria-labelledby': 'pnotif-h' },
    h('h2', { id: 'pnotif-h', text: 'E-mail notifications' }),
    h('p', { class: 'muted small' }, 'For this project only. “Same as account” follows your ', h('a', { href: '#/account', text: 'account settings' }), ', where every notification is off until you turn it on.'),
    acct.email_verified === false ? h('p', { class: 'status error', text: 'Confirm your address (Account page) to receive any of these.' }) : null,
    h('ul', { class: 'notif-list' }, rows), msg);
}

// Tests and curious people: window.audiomus.ownerPlayer.refresh() fetches
// fresh owner URLs now.
window.audiomus = { get ownerPlayer() { return st.ownerPlayer; } };

// ---- boot ---------------------------------------------------------------------------

(async function boot() {
  try {
    setSignedIn(await get('/api/v1/session'));
    route();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) showAuth();
    else mount(app, h('div', { class: 'card narrow state-card' }, h('h1', { text: 'Cannot reach the server' }), h('p', { class: 'muted', text: e.message }),
      h('button', { type: 'button', class: 'btn', text: 'Try again', onclick: () => location.reload() })));
  }
}());

// ---- reviewer actions (issue 22): "edited" and verdicts -------------------------------
// A guest may edit their comment for 24 h: the owner sees that it was.
function editedBadge(c) {
  return c.edited && !c.deleted ? h('span', { class: 'badge subtle edited', title: `edited ${fmtDate(c.edited)}`, text: 'edited' }) : null;
}

const VERDICT_TEXT = { approved: 'approved', changes_requested: 'changes requested' };

// Each reviewer's verdict under its version on the Tracks tab
// (GET /api/v1/projects/{id}/verdicts), added to the rows render() made.
async function showVerdicts(pid, list) {
  let verdicts;
  try { ({ verdicts } = await get(`/api/v1/projects/${pid}/verdicts`)); } catch { return; }
  for (const row of list.querySelectorAll('li.version')) {
    row.querySelector('.version-verdicts')?.remove();
    const mine = verdicts.filter((v) => v.version_id === row.dataset.version);
    if (!mine.length) continue;
    row.append(h('span', { class: 'version-verdicts', 'aria-label': 'Reviewers’ verdicts' }, mine.map((v) =>
      h('span', { class: 'verdict-item', title: fmtDate(v.updated) },
        h('span', { class: `badge verdict-badge ${v.verdict}`, text: VERDICT_TEXT[v.verdict] || v.verdict }),
        h('span', { class: 'author', text: ` ${v.name}` }),
        v.note ? h('span', { class: 'muted small verdict-note', text: ` “${v.note}”` }) : null))));
  }
}
