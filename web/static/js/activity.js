// activity.js: the dashboard's Activity tab (#/p/ID/activity): who listened
// to what, pseudonymously (docs/web-ui.md "Activity"). Calls
//   GET /api/v1/projects/{id}/activity[?link=LID&reviewer=NAME]
//   GET /api/v1/projects/{id}/tracks/{tid}/urls?version=VID  (peaks, for the waveforms)
// and links the CSV export (?format=csv, the same filters). Shows plays and
// unique listeners per track, per reviewer the heard parts of each version
// drawn over its waveform, and the events with the reviewer's name as
// given, link, track and version. Names are inserted as text (dom.js).
import { get } from './api.js';
import { h, mount, fmtTime, fmtDate } from './dom.js';
import { parseDat } from './peaks.js';

const EVENT_TEXT = {
  page_open: 'Review page opened', download: 'Original downloaded', listen: 'Played',
  comment: 'Commented', reply: 'Replied',
  password_failed: 'Wrong password entered', password_locked: 'Password attempts locked',
  password_set: 'Password set', password_changed: 'Password changed', password_removed: 'Password removed',
  link_created: 'Link created', link_regenerated: 'Link regenerated', link_revoked: 'Link revoked',
  downloads_enabled: 'Downloads enabled', downloads_disabled: 'Downloads disabled',
  archive: 'Downloaded everything (archive)',
  comment_edited: 'Comment edited by its reviewer', comment_deleted: 'Comment deleted by its reviewer',
  verdict_approved: 'Version approved', verdict_changes_requested: 'Changes requested',
};

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function eventText(e) {
  const who = e.reviewer || 'Someone';
  const what = e.track ? `${e.track.title} (version ${e.version.number})` : '';
  const via = e.link ? ` · via ${e.link.label}` : '';
  if (e.kind === 'listen') return `${who} played ${what}${via}`;
  if (e.kind === 'comment' || e.kind === 'reply') return `${who} ${e.kind === 'reply' ? 'replied' : 'commented'} on ${what}${via}`;
  if (e.kind === 'download') return `${EVENT_TEXT.download}${what ? `: ${what}` : ''}${via}`;
  const detail = /^(password_failed|verdict_)/.test(e.kind) && e.details ? ` (${e.details})` : '';
  return (EVENT_TEXT[e.kind] || e.kind) + detail + via;
}

// Peaks of a version (one fetch per version per tab load), or null.
async function peaksOf(pid, trackId, vid, cache) {
  if (!cache.has(vid)) {
    cache.set(vid, (async () => {
      try {
        const r = await get(`/api/v1/projects/${pid}/tracks/${trackId}/urls?version=${encodeURIComponent(vid)}`);
        const res = await fetch(r.versions[vid].peaks, { credentials: 'same-origin', cache: 'no-store' });
        return res.ok ? parseDat(await res.arrayBuffer()) : null;
      } catch { return null; }
    })());
  }
  return cache.get(vid);
}

// The waveform with the heard seconds in the accent colour.
function drawCoverage(canvas, dat, heard, durationMs) {
  const w = canvas.width, ht = canvas.height, g = canvas.getContext('2d');
  const durS = Math.max(durationMs / 1000, 1e-3);
  const isHeard = (s) => heard.some(([a, b]) => s >= a && s < b);
  const n = dat ? dat.length : 0;
  g.clearRect(0, 0, w, ht);
  for (let x = 0; x < w; x += 3) {
    let amp = 0.35;
    if (n) {
      const i0 = Math.floor((x / w) * n), i1 = Math.max(i0 + 1, Math.floor(((x + 3) / w) * n));
      amp = 0;
      for (let i = i0; i < i1 && i < n; i++) amp = Math.max(amp, Math.abs(dat.data[2 * i]), Math.abs(dat.data[2 * i + 1]));
    }
    const bar = Math.max(2, amp * (ht - 4));
    g.fillStyle = isHeard(((x + 1) / w) * durS) ? css('--wave-progress') || '#e0a33a' : css('--wave') || '#8a8f98';
    g.fillRect(x, (ht - bar) / 2, 2, bar);
  }
}

function coverageItem(pid, c, tracksById, cache) {
  const canvas = h('canvas', { width: '600', height: '48', class: 'coverage-wave', role: 'img',
    'aria-label': `Heard ${c.heard.map(([a, b]) => `${fmtTime(a)}–${fmtTime(b)}`).join(', ') || 'nothing'} of ${fmtTime(c.duration_ms / 1000)}` });
  const track = c.track || {};
  peaksOf(pid, track.id, c.version.id, cache).then((dat) => drawCoverage(canvas, dat, c.heard, c.duration_ms));
  drawCoverage(canvas, null, c.heard, c.duration_ms);
  return h('div', { class: 'coverage', dataset: { version: c.version.id, heard: c.heard.map(([a, b]) => `${a}-${b}`).join(',') } },
    h('div', { class: 'coverage-label' },
      h('span', { class: 'coverage-track', text: `${track.title || (tracksById[track.id] || {}).title || 'Track'} · version ${c.version.number}` }),
      h('span', { class: 'muted small', text: ` heard ${fmtTime(c.heard_s)} of ${fmtTime(c.duration_ms / 1000)}${c.link ? ` · via ${c.link.label}` : ''}` })),
    canvas);
}

// Coverage grouped by reviewer (a listener without a name by their pseudonym).
function coverageSection(pid, a, cache) {
  const groups = new Map();
  for (const c of a.coverage) {
    const key = c.reviewer || `Listener ${c.listener.slice(0, 6)}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(c);
  }
  const tracksById = Object.fromEntries(a.tracks.map((t) => [t.id, t]));
  return h('section', { class: 'card', id: 'act-coverage' }, h('h2', { text: 'What each reviewer heard' }),
    groups.size ? [...groups].map(([name, items]) => h('div', { class: 'reviewer' },
      h('h3', { class: 'reviewer-name', text: name }),
      items.map((c) => coverageItem(pid, c, tracksById, cache))))
      : h('p', { class: 'empty', text: 'Nobody has played anything yet.' }));
}

function tracksSection(a) {
  return h('section', { class: 'card', id: 'act-tracks' }, h('h2', { text: 'Plays per track' }),
    h('table', { class: 'act-table' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Track' }), h('th', { text: 'Plays' }), h('th', { text: 'Unique listeners' }))),
      h('tbody', {}, a.tracks.map((t) => h('tr', {},
        h('td', { text: t.title }), h('td', { text: String(t.plays) }), h('td', { text: String(t.listeners) }))))));
}

function filtersBar(project, a, f, rerender) {
  const link = h('select', { id: 'act-link', 'aria-label': 'Link', onchange: () => rerender({ ...f, link: link.value }) },
    h('option', { value: '', text: 'All links' }),
    a.links.map((l) => h('option', { value: l.id, selected: l.id === f.link, text: l.label })));
  const names = [...new Set([...a.reviewers, ...(f.reviewer ? [f.reviewer] : [])])].sort();
  const who = h('select', { id: 'act-reviewer', 'aria-label': 'Reviewer', onchange: () => rerender({ ...f, reviewer: who.value }) },
    h('option', { value: '', text: 'All reviewers' }),
    names.map((n) => h('option', { value: n, selected: n === f.reviewer, text: n })));
  const q = query(f);
  q.set('format', 'csv');
  return h('div', { class: 'row act-filters' }, link, who,
    h('a', { class: 'btn', id: 'act-csv', href: `/api/v1/projects/${project.id}/activity?${q}`, download: 'activity.csv', text: 'Export CSV' }));
}

function query(f) {
  const q = new URLSearchParams();
  if (f.link) q.set('link', f.link);
  if (f.reviewer) q.set('reviewer', f.reviewer);
  return q;
}

export async function activityTab(project, panel, f = {}) {
  const a = await get(`/api/v1/projects/${project.id}/activity?${query(f)}`);
  const cache = new Map();
  const rerender = (nf) => activityTab(project, panel, nf);
  mount(panel,
    h('section', { class: 'card' }, h('h2', { text: 'Activity' }),
      h('p', { class: 'muted small', text: 'Reviewers appear under the name they gave. Listeners are never identified by address: the server keeps no address, only pseudonyms.' }),
      filtersBar(project, a, f, rerender)),
    tracksSection(a),
    coverageSection(project.id, a, cache),
    h('section', { class: 'card' }, h('h2', { text: 'Events' }),
      a.events.length ? h('ul', { class: 'events', id: 'act-events' }, a.events.map((e) => h('li', { dataset: { kind: e.kind } },
        h('time', { datetime: new Date(e.created).toISOString(), text: fmtDate(e.created) }),
        h('span', { text: eventText(e) }))))
        : h('p', { class: 'empty', text: 'Nothing yet: opens, plays, downloads and comments of your links appear here.' })));
}
