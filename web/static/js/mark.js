// mark.js: the listener mark's settings on the owner's project Settings tab
// (issue 26, docs/web-ui.md "Listener marks"): marking on or off, its
// strength, and whether downloaded originals are marked too, each with a
// plain-language explanation. GET/PUT /api/v1/projects/{id}/mark.
//   markCard(pid)  the settings card (a <section>), loaded from the server.
import { ApiError, get, put } from './api.js';
import { h } from './dom.js';

function errorText(e) {
  if (e instanceof ApiError) return e.message || `Error ${e.status}`;
  return (e && e.message) || String(e);
}

function say(el, text, kind = '') { el.textContent = text; el.className = `status ${kind}`.trim(); }

const pct = (s) => `${Math.round(s * 100)} %`;

export async function markCard(pid) {
  const { mark } = await get(`/api/v1/projects/${pid}/mark`);
  const msg = h('p', { class: 'status', role: 'status' });
  const on = h('input', { type: 'checkbox', id: 'mark-on', checked: mark.on, 'aria-describedby': 'mark-help' });
  const dl = h('input', { type: 'checkbox', id: 'mark-downloads', checked: mark.downloads, 'aria-describedby': 'mark-dl-help' });
  const strength = h('input', {
    type: 'range', id: 'mark-strength', min: String(mark.strength_min), max: String(mark.strength_max), step: '0.05',
    value: String(mark.strength), 'aria-describedby': 'mark-strength-help',
  });
  const shown = h('output', { for: 'mark-strength', id: 'mark-strength-value', text: pct(mark.strength) });
  const listeners = h('p', { class: 'muted small', id: 'mark-listeners' });
  const show = (m) => {
    on.checked = m.on; dl.checked = m.downloads; strength.value = String(m.strength);
    shown.textContent = pct(m.strength);
    dl.disabled = !m.on; strength.disabled = !m.on;
    listeners.textContent = m.listeners ? `${m.listeners} listening${m.listeners === 1 ? ' has' : 's have'} a mark so far.` : '';
  };
  const save = async (body, done) => {
    try { const r = await put(`/api/v1/projects/${pid}/mark`, body); show(r.mark); say(msg, done(r.mark), 'ok'); } catch (e) { show(mark); say(msg, errorText(e), 'error'); }
  };
  on.addEventListener('change', () => save({ on: on.checked }, (m) => (m.on
    ? 'Marking is on. Each reviewer now hears a copy marked for them; a track plays for reviewers once its marked copies are made (in the background).'
    : 'Marking is off: new listeners hear the plain stream.')));
  dl.addEventListener('change', () => save({ downloads: dl.checked }, (m) => (m.downloads
    ? 'Downloaded originals carry the listener\u2019s mark (not bit-identical to your file; other formats than WAV and FLAC come as FLAC).'
    : 'Downloaded originals are your exact file, unmarked.')));
  strength.addEventListener('input', () => { shown.textContent = pct(Number(strength.value)); });
  strength.addEventListener('change', () => save({ strength: Number(strength.value) }, (m) => `Strength set to ${pct(m.strength)}.`));
  show(mark);
  return h('section', { class: 'card', id: 'mark-settings', 'aria-labelledby': 'mark-h' },
    h('h2', { id: 'mark-h', text: 'Leak tracing' }),
    h('p', { class: 'muted small', id: 'mark-help', text: 'With marking on, every reviewer hears the music with an inaudible mark of their own, '
      + 'and a leaked recording uploaded under \u201cTrace a leak\u201d names the link and the reviewer it came from. '
      + 'The mark names no one by itself: only this server, with your project\u2019s key, can read who it belongs to.' }),
    h('label', { class: 'switch', for: 'mark-on' }, on, 'Mark what reviewers hear'),
    // issue 26: the media role serves guests of a marked project the splice
    // of the version's renditions A and B, and refuses them while those are
    // still being made (docs/media.md "Marked streams").
    h('p', { class: 'muted small', id: 'mark-not-served', text: 'While this is on, each reviewer hears a copy marked for them. Turning it on makes two marked copies of every track in the background; '
      + 'until a track\u2019s are ready, reviewers cannot play it (unmarked audio is never sent instead). Your own playback is not affected.' }),
    h('div', { class: 'field-row' }, h('label', { for: 'mark-strength', text: 'Strength' }), strength, shown),
    h('p', { class: 'muted small', id: 'mark-strength-help', text: '20 % is inaudible on music in our measurements and survives MP3, AAC, cutting and resampling. '
      + 'Raise it only if traces fail; on a sustained solo tone a strong mark may be heard as a slight roughness.' }),
    h('label', { class: 'switch', for: 'mark-downloads' }, dl, 'Mark downloaded originals too'),
    h('p', { class: 'muted small', id: 'mark-dl-help', text: 'Reviewers then download a copy marked for them: WAV stays WAV, FLAC stays FLAC (same sample format, rate and channels), other formats come as FLAC. A marked copy is not bit-identical to the file you uploaded; your own download always is.' }),
    listeners, msg);
}
