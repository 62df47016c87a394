// review.js: the review page /s/{token} (guest side). Calls, in order:
//   GET  /api/v1/s/{token}            project, tracks, ready versions + signed URLs, comments
//   POST /api/v1/s/{token}/password   on 401 password_required, then reload
//   GET  /api/v1/s/{token}/urls?version=VID   fresh URLs a minute before urls_expire
//   POST /api/v1/s/{token}/comments   {name, body, version_id, time_ms, end_ms?, parent_id?}
//   GET /api/v1/s/{token}/reviewer, PATCH/DELETE …/comments/{cid}, PUT
//   …/versions/{vid}/verdict: the reviewer actions (verdicts.js)
//   POST /api/v1/s/{token}/listen     what the player played (listen.js)
// Every name and body is inserted as text (dom.js). Deep links:
// #v=VERSION&t=SECONDS&c=COMMENT (the dashboard's "jump to time").
import { ApiError, get, post, serverNowS } from './api.js';
import { $, h, mount, fmtTime, fmtAgo } from './dom.js';
import { Player } from './player.js';
import { Composer, authorLabel, commentTime, submitComment } from './comments.js';
import { MarkersPanel } from './markers.js';
import { Reviewer } from './verdicts.js';
import { downloadAllButton } from './archive.js';
import { ListenReporter } from './listen.js';
import { AB } from './ab.js';
import { CommentFilters } from './filters.js';
import { showMeters } from './facts.js';
import { PlaylistControls } from './playlist.js';
import { installShortcuts, sendOnEnter } from './shortcuts.js';
import { MarkTickets } from './marked.js';

const token = decodeURIComponent(location.pathname.split('/')[2] || '');
const base = `/api/v1/s/${encodeURIComponent(token)}`;
const NAME_KEY = 'audiomus.guestName';
// A marked project's stream URLs carry the listener's mark ticket (marked.js).
const marks = new MarkTickets(base, () => currentName());
const allMedia = (tracks) => tracks.flatMap((t) => t.versions.map((v) => v.media));

const st = {
  data: null,         // GET answer
  track: null,        // selected track
  version: null,      // selected version (with .media)
  player: null,
  activeComment: null,
  refreshTimer: 0,
  urlsExpire: 0,
  deep: parseHash(),
};

function parseHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const t = Number(p.get('t'));
  return { v: p.get('v'), t: Number.isFinite(t) && p.has('t') ? t : null, c: p.get('c') };
}

function guestName() {
  try { return localStorage.getItem(NAME_KEY) || ''; } catch { return ''; }
}

// ---- states -------------------------------------------------------------------

function showState(title, text, { retry } = {}) {
  for (const id of ['gate', 'name-form', 'review']) $(`#${id}`).hidden = true;
  const box = $('#state');
  box.hidden = false;
  mount(box, h('div', { class: 'card narrow state-card' },
    h('h1', { text: title }),
    text ? h('p', { class: 'muted', text }) : null,
    retry ? h('button', { type: 'button', class: 'btn', onclick: retry, text: 'Try again' }) : null));
}

function showGone() {
  stopRefresh();
  if (st.player) st.player.audio.pause();
  document.title = 'Link no longer valid · audiomus';
  showState('This link is no longer valid',
    'The owner may have regenerated or revoked it, or removed the project. Ask them for a new link.');
  $('#state').dataset.state = 'gone';
}

function showRateLimited(e, again) {
  let n = e.retryAfter || 5;
  showState('Too many requests', `Try again in ${n} s.`);
  const p = $('#state p');
  const t = setInterval(() => {
    n -= 1;
    if (n <= 0) { clearInterval(t); again(); } else p.textContent = `Try again in ${n} s.`;
  }, 1000);
}

function handleError(e, again) {
  if (e instanceof ApiError) {
    if (e.status === 404) return showGone();
    if (e.status === 401 && e.body.password_required) return showGate(e.body.locked);
    if (e.status === 429 || e.status === 503) return showRateLimited(e, again);
    if (e.status === 0) return showState('Cannot reach the server', e.message, { retry: again });
  }
  showState('Something went wrong', e.message || String(e), { retry: again });
}

// ---- password gate and name ------------------------------------------------------

function showGate(locked) {
  stopRefresh();
  $('#state').hidden = true;
  $('#review').hidden = true;
  $('#name-form').hidden = true;
  const f = $('#gate');
  f.hidden = false;
  if (locked) {
    $('#gate-status').textContent = 'This project stopped taking passwords after too many wrong ones: ask its owner.';
    $('#gate-status').className = 'status error';
    f.querySelector('button').disabled = true;
  }
  $('#gate-password').focus();
}

$('#gate').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const status = $('#gate-status');
  const btn = $('#gate button');
  btn.disabled = true;
  status.textContent = 'Checking…';
  status.className = 'status';
  try {
    await post(`${base}/password`, { password: $('#gate-password').value });
    $('#gate-password').value = '';
    status.textContent = '';
    $('#gate').hidden = true;
    await open();
  } catch (e) {
    let msg = e.message;
    if (e.status === 403 && /wrong password/.test(msg)) msg = 'Wrong password. Try again.';
    if (e.status === 404) return showGone();
    status.textContent = msg;
    status.className = 'status error';
    $('#gate-password').select();
    if (e.status === 429 && e.retryAfter) setTimeout(() => { btn.disabled = false; }, e.retryAfter * 1000);
    else btn.disabled = false;
    return;
  }
  btn.disabled = false;
});

function askName(then) {
  const f = $('#name-form');
  $('#review').hidden = true;
  f.hidden = false;
  $('#name-input').value = guestName();
  $('#name-input').focus();
  f.onsubmit = (ev) => {
    ev.preventDefault();
    const name = $('#name-input').value.trim();
    if (!name) return;
    try { localStorage.setItem(NAME_KEY, name); } catch { /* private mode: keep for this page */ }
    st.name = name;
    f.hidden = true;
    then();
  };
}

function currentName() { return st.name || guestName(); }

// What is actually heard goes to the owner's Activity (listen.js).
const listen = new ListenReporter(() => st.player?.audio || $('#audio'), { path: `${base}/listen`, name: currentName });

$('#change-name').addEventListener('click', () => askName(() => { showReview(); }));

// ---- load --------------------------------------------------------------------------

async function open() {
  let data;
  try {
    data = await get(base);
  } catch (e) {
    return handleError(e, open);
  }
  marks.marked = data.project.marked !== false;
  await marks.apply(allMedia(data.tracks), data.urls_expire);
  st.data = data;
  st.urlsExpire = data.urls_expire;
  document.title = `${data.project.title} · audiomus`;
  $('#project-title').textContent = data.project.title;
  $('#state').hidden = true;
  if (!currentName()) askName(() => showReview());
  else showReview();
  reviewer.load();
  scheduleRefresh();
}

function showReview() {
  $('#whoami').hidden = false;
  $('#guest-name').textContent = currentName();
  $('#review').hidden = false;
  renderTracks();
  if (!st.track) {
    const byVersion = st.deep.v && st.data.tracks.find((t) => t.versions.some((v) => v.id === st.deep.v));
    const first = byVersion || st.data.tracks.find((t) => t.versions.length) || st.data.tracks[0];
    const tracks = st.data.tracks;
    if (!tracks.length) {
      emptyPlayer('Nothing to listen to yet', 'The owner has not added any tracks to this project yet. Come back to this link later.', true);
    } else if (!tracks.some((t) => t.versions.length)) {
      emptyPlayer('Still processing', `${tracks.length === 1 ? 'The track is' : `All ${tracks.length} tracks are`} still being prepared for listening. Reload this page in a minute.`);
    } else if (first) selectTrack(first, st.deep.v);
  }
}

// The empty state instead of the player (no play button, version menu or
// hint): a project without tracks (no track list either), or nothing
// playable yet. selectVersion() brings the player back.
function emptyPlayer(title, text, noTracks = false) {
  $('#player').hidden = true;
  $('#review').classList.toggle('no-tracks', noTracks);
  $('#empty-h').textContent = title;
  $('#empty-text').textContent = text;
  $('#review-empty').hidden = false;
}

function latest(track) {
  return track.versions.reduce((a, v) => (!a || v.number > a.number ? v : a), null);
}

function renderTracks() {
  const list = $('#track-list');
  const items = st.data.tracks.map((t, i) => {
    const v = latest(t);
    const n = st.data.comments.filter((c) => t.versions.some((x) => x.id === c.version_id) && !c.parent_id).length;
    const selected = st.track && st.track.id === t.id;
    return h('li', {},
      h('button', {
        type: 'button', class: `track${selected ? ' selected' : ''}`, 'aria-current': selected ? 'true' : null,
        disabled: !v, onclick: () => selectTrack(t, null, { play: !!st.player?.isPlaying }),
      },
      h('span', { class: 'track-no', text: String(i + 1) }),
      h('span', { class: 'track-title', text: t.title }),
      v ? h('span', { class: 'track-len', text: fmtTime((v.duration_ms || 0) / 1000) })
        : h('span', { class: 'badge', text: 'processing' }),
      n ? h('span', { class: 'badge subtle', title: `${n} comments`, text: String(n) }) : null));
  });
  mount(list, items.length ? items : h('li', { class: 'empty', text: 'No tracks yet.' }));
}

// play: start the track once it is loaded (auto-advance, or a switch while
// playing).
async function selectTrack(track, versionId, { play = false } = {}) {
  st.track = track;
  const v = track.versions.find((x) => x.id === versionId) || latest(track);
  renderTracks();
  const sel = $('#version-select');
  mount(sel, [...track.versions].sort((a, b) => b.number - a.number).map((x) =>
    h('option', { value: x.id, selected: x.id === (v && v.id), text: `Version ${x.number}` })));
  sel.hidden = track.versions.length < 2;
  filters.setTrack(track);
  if (!v) return emptyPlayer(track.title, 'This track is still being processed. Check back in a minute.');
  await selectVersion(v, { play });
  ab.setTrack(track);
}

// Another version of the same track: at the same musical moment, without a
// gap (ab.js).
$('#version-select').addEventListener('change', (e) => {
  const v = st.track.versions.find((x) => x.id === e.target.value);
  if (v) ab.switchTo(v);
});

function showVersion(v) {
  st.version = v;
  composer.anchorTime = null;
  listen.setVersion(v.id, (v.duration_ms || 0) / 1000);
  $('#review-empty').hidden = true;
  $('#player').hidden = false;
  $('#now-title').textContent = st.track.title;
  const facts = [`Version ${v.number}`, fmtTime((v.duration_ms || 0) / 1000)];
  if (v.sample_rate) facts.push(`${(v.sample_rate / 1000).toFixed(1)} kHz`);
  $('#now-meta').textContent = facts.join(' · ');
  $('#version-select').value = v.id;
  showMeters($('#now-meta'), v); // loudness, when the owner shows it (facts.js)
  updateDownload();
  reviewer.setVersion(v.id);
}

async function selectVersion(v, { play = false } = {}) {
  showVersion(v);
  if (!st.player) {
    st.player = new Player({ wave: $('#wave'), audio: $('#audio'), play: $('#play'), time: $('#time'), slider: $('#wave') }, {
      onRegionClick: (id) => focusComment(id, true),
      onSelection: () => composer.update(),
      onTime: () => composer.update(),
      onEnded: () => playlist.onEnded(),
      onLoop: (loop) => playlist.paintLoop(loop),
      onLoading: (on) => { $('.player').setAttribute('aria-busy', on ? 'true' : 'false'); composer.update(); },
    }, { renew: () => ab.renew(), markerLane: true });
    st.player.getFreshUrl = async () => (await refreshUrls())?.stream;
    playlist.apply();
  }
  const loaded = st.player.load(v.media, (v.duration_ms || 0) / 1000, { play });
  renderComments();
  if (!(await loaded) || st.version !== v) return;
  playlist.apply();
  renderComments();
  if (st.deep.t != null) {
    st.player.seek(st.deep.t);
    st.deep.t = null;
  }
  if (st.deep.c) { focusComment(st.deep.c, false); st.deep.c = null; }
}

// Marker files for a DAW: a download, so only while downloads are on (the
// same rule as the original's download URL; the API enforces it too).
const markers = new MarkersPanel({
  prefix: 'rv-',
  versionPath: (vid) => `${base}/versions/${vid}/markers`,
  projectPath: `${base}/markers`,
});
$('.comments-h').before(markers.el);

// "Download all" (archive.js): the project's ZIP, only while downloads are on.
const downloadAll = downloadAllButton(`${base}/archive`, { onError: (text) => { downloadAll.title = text; downloadAll.hidden = true; } });
downloadAll.hidden = true;
$('#track-list').after(downloadAll);

function updateDownload() {
  const a = $('#download');
  const url = st.version && st.version.media && st.version.media.download;
  a.hidden = !url;
  if (url) a.href = url; else a.removeAttribute('href');
  // A marked download (issue 26) is a copy for this listener, not the file.
  const marked = Boolean(url && marks.downloads && url.includes('&mt='));
  a.textContent = marked ? 'Download (marked copy)' : 'Download';
  if (marked) a.title = 'This copy carries an inaudible mark that names you as its listener; it is not bit-identical to the original.';
  else a.removeAttribute('title');
  const downloads = Boolean(st.data && st.data.project && st.data.project.downloads);
  markers.setVersion(downloads && st.version ? st.version.id : null, st.track);
  downloadAll.hidden = !downloads;
}

// ---- signed URL refresh ------------------------------------------------------------

function stopRefresh() { clearTimeout(st.refreshTimer); st.refreshTimer = 0; }

// A minute before the URLs expire (on the server's clock), or half-way for
// short lifetimes; a failed refresh retries in 15 s.
function scheduleRefresh(delayS) {
  stopRefresh();
  if (delayS == null) {
    const left = st.urlsExpire - serverNowS();
    delayS = left > 120 ? left - 60 : Math.max(5, left / 2);
  }
  st.refreshTimer = setTimeout(async () => {
    try { await refreshUrls(); } catch { /* handled inside */ }
  }, delayS * 1000);
}

async function refreshUrls() {
  if (!st.version) { scheduleRefresh(); return null; }
  let r;
  try {
    r = await get(`${base}/urls?version=${encodeURIComponent(st.version.id)}`);
  } catch (e) {
    if (e.status === 404) showGone();
    else if (e.status === 401 && e.body.password_required) showGate(e.body.locked);
    else scheduleRefresh(e.retryAfter || 15);
    return null;
  }
  const media = r.versions && r.versions[st.version.id];
  await marks.apply([media], r.urls_expire);
  st.urlsExpire = r.urls_expire;
  if (media) {
    st.version.media = media;
    updateDownload();
    await st.player.swapSource(media.stream);
  }
  scheduleRefresh();
  return media;
}

// Tests and curious people: window.audiomus.refreshUrls() forces a refresh now.
window.audiomus = { refreshUrls, get player() { return st.player; }, get ab() { return ab; } };

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && st.data && st.urlsExpire - serverNowS() < 90) refreshUrls();
});

// ---- keyboard -------------------------------------------------------------------------

document.addEventListener('keydown', (e) => {
  if (!st.player || $('#review').hidden || e.altKey || e.ctrlKey || e.metaKey) return;
  const t = e.target;
  if (t.closest && t.closest('input, textarea, select, button, a, [contenteditable]')) return;
  if (e.key === ' ' || e.code === 'Space') { st.player.toggle(); e.preventDefault(); }
  else if (t.id !== 'wave' && e.key === 'ArrowLeft') { st.player.skip(-5); e.preventDefault(); }
  else if (t.id !== 'wave' && e.key === 'ArrowRight') { st.player.skip(5); e.preventDefault(); }
});

// Playlist, loop, volume, speed (playlist.js) in a row under the transport,
// and their keys (shortcuts.js; "?" lists them).
const playlist = new PlaylistControls({
  player: () => st.player,
  tracks: () => (st.data ? st.data.tracks : []),
  current: () => st.track,
  select: (t, o) => selectTrack(t, null, o),
  loopSource: () => {
    const sel = st.player && st.player.selection;
    if (sel && sel.end - sel.start >= 0.25) return sel;
    const c = st.activeComment && st.data.comments.find((x) => x.id === st.activeComment && x.version_id === st.version?.id);
    return c && c.end_ms > c.time_ms ? { start: c.time_ms / 1000, end: c.end_ms / 1000 } : null;
  },
});
$('.transport').after(playlist.el);

installShortcuts({
  n: { label: 'Next track', run: () => playlist.next() },
  p: { label: 'Previous track (or the start of this one)', run: () => playlist.prev() },
  l: { label: 'Loop the dragged range or the open range comment (again: stop)', run: () => playlist.toggleLoop() },
  r: { label: 'Repeat: off, all, one', run: () => playlist.cycleRepeat() },
  m: { label: 'Mute / unmute', run: () => playlist.toggleMute() },
  '>': { label: 'Faster', run: () => playlist.stepRate(1) },
  '<': { label: 'Slower', run: () => playlist.stepRate(-1) },
  c: { label: 'Write a comment at the current time', run: () => composer.body.focus() },
}, () => Boolean(st.player) && !$('#review').hidden);

// ---- comments ---------------------------------------------------------------------------

function renderComments() {
  const all = filters.apply(st.data.comments);
  const top = all.filter((c) => !c.parent_id).sort((a, b) => a.time_ms - b.time_ms || a.created - b.created);
  const replies = (id) => all.filter((c) => c.parent_id === id).sort((a, b) => a.created - b.created);
  $('#comment-count').textContent = top.length ? String(top.length) : '';
  const items = top.map((c) => commentItem(c, replies(c.id)));
  mount($('#comments'), items.length ? items
    : h('li', { class: 'empty', text: 'No comments yet. Play the track and say what you hear: a comment is pinned to the current time, or drag across the waveform to comment on a range.' }));
  st.player.setMarkers(top.filter((c) => !c.deleted).map((c) => filters.onVersion(c, st.version)), st.activeComment);
}

function commentItem(c, replies) {
  const li = h('li', { class: `comment${c.resolved ? ' resolved' : ''}${c.id === st.activeComment ? ' active' : ''}${c.by_owner ? ' by-owner' : ''}`, id: `comment-${c.id}`, dataset: { id: c.id } },
    h('div', { class: 'comment-head' },
      h('button', { type: 'button', class: 'ts', onclick: () => focusComment(c.id, true), 'aria-label': `Jump to ${commentTime(c)}`, text: commentTime(c) }),
      authorLabel(c, 'owner'),
      filters.versionBadge(c),
      c.resolved ? h('span', { class: 'badge subtle', text: 'resolved' }) : null,
      h('span', { class: 'when muted small', text: fmtAgo(c.created) }),
      reviewer.extras(c, st.data.comments)),
    c.deleted ? h('p', { class: 'body muted', text: '(comment removed)' }) : h('p', { class: 'body', text: c.body }),
    replies.length ? h('ol', { class: 'replies' }, replies.map((r) => h('li', { class: `reply${r.by_owner ? ' by-owner' : ''}`, id: `comment-${r.id}` },
      h('div', { class: 'comment-head' },
        authorLabel(r, 'owner'),
        h('span', { class: 'when muted small', text: fmtAgo(r.created) }),
        reviewer.extras(r, st.data.comments)),
      r.deleted ? h('p', { class: 'body muted', text: '(comment removed)' }) : h('p', { class: 'body', text: r.body })))) : null,
    c.deleted ? null : h('button', { type: 'button', class: 'link small reply-btn', onclick: () => openReply(c, li), text: 'Reply' }));
  return li;
}

function openReply(c, li) {
  li.querySelector('form.reply-form')?.remove();
  const ta = h('textarea', { rows: '2', maxlength: '4096', required: true, 'aria-label': `Reply to ${c.by_owner ? 'the owner' : c.author}` });
  const status = h('p', { class: 'status', role: 'status' });
  const form = h('form', { class: 'reply-form' }, ta,
    h('div', { class: 'row' }, status, h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'btn ghost', onclick: () => form.remove(), text: 'Cancel' }),
      h('button', { type: 'submit', class: 'btn primary', text: 'Reply' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    await sendComment({ body: ta.value, time_ms: c.time_ms, parent_id: c.id }, status, form.querySelector('[type=submit]'));
  });
  li.append(form);
  sendOnEnter(ta);
  ta.focus();
}

async function focusComment(id, seek) {
  const c = st.data.comments.find((x) => x.id === id);
  if (!c) return;
  st.activeComment = id;
  const v = seek && c.version_id !== st.version.id && st.track.versions.find((x) => x.id === c.version_id);
  if (v) await ab.switchTo(v);
  if (seek) st.player.seek(c.time_ms / 1000);
  renderComments();
  const el = document.getElementById(`comment-${id}`);
  if (el) { el.scrollIntoView({ block: 'nearest', behavior: 'smooth' }); el.querySelector('.ts')?.focus({ preventScroll: true }); }
}

// The comment form under the waveform (comments.js, shared with the owner's
// player): a comment at the frozen time or over the dragged range.
const composer = new Composer({
  placeholder: 'What do you hear here?',
  player: () => st.player,
  durationMs: () => (st.version && st.version.duration_ms) || 0,
  send: postComment,
  onSent: (c) => posted(c, null),
  onFail: guestFail,
});
$('.comments-h').before(composer.el);
sendOnEnter(composer.body);

// Edit/delete of the own comments and the verdicts (verdicts.js).
const reviewer = new Reviewer({
  base,
  name: currentName,
  onChange: () => { if (st.player && st.version) renderComments(); },
  onFail: (e) => { if (e.status === 401 && e.body.password_required) { showGate(e.body.locked); return true; } return false; },
});
composer.el.before(reviewer.el);

// A/B between versions (ab.js) under the transport, and the comment filters
// (filters.js) under the comments' heading.
const ab = new AB({
  player: () => st.player,
  track: () => st.track,
  version: () => st.version,
  onSwitch: (v) => { showVersion(v); renderComments(); },
  freshMedia: async (vid) => {
    try {
      const r = await get(`${base}/urls?version=${encodeURIComponent(vid)}`);
      await marks.apply([r.versions[vid]], r.urls_expire);
      return r.versions[vid] || null;
    } catch { return null; }
  },
}, $('#audio'));
$('.transport').after(ab.el);
const filters = new CommentFilters({ onChange: () => renderComments(), track: () => st.track });
$('.comments-h').after(filters.el);

async function postComment(fields) {
  return (await post(`${base}/comments`, { name: currentName(), version_id: st.version.id, ...fields })).comment;
}

// The link is gone or needs the password again: say so instead of an error line.
function guestFail(e, fields) {
  if (e.status === 404 && !fields.parent_id) { showGone(); return true; }
  if (e.status === 401 && e.body.password_required) { showGate(e.body.locked); return true; }
  return false;
}

function posted(c, parentId) {
  st.data.comments.push(c);
  reviewer.posted(c);
  st.activeComment = parentId || c.id;
  renderComments();
  renderTracks();
}

async function sendComment(fields, status, btn) {
  const c = await submitComment(postComment, fields, status, btn, guestFail);
  if (c) posted(c, fields.parent_id);
  return !!c;
}

open();
