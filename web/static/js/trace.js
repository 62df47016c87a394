// trace.js: "Trace a leak", the tracer on the owner's project Settings tab
// (issue 26, docs/web-ui.md "Trace a leak", docs/api.md "Trace a leak"):
// the owner picks a suspect recording; the page asks the web role for a
// signed tracer URL (POST /api/v1/projects/{id}/trace) and posts the file
// to it (the media role decodes and searches it in the sandboxed
// transcoder; the file is not kept). The answer is explained in plain
// words: the link, the reviewer's name, the first access and how sure the
// match is, or "no mark found" and what that does and does not mean.
//   traceCard(pid)  the card (a <section>).
import { ApiError, post } from './api.js';
import { h } from './dom.js';

function say(el, text, kind = '') { el.textContent = text; el.className = `status ${kind}`.trim(); }

const NO_MARK = 'No mark found. This recording carries no listener mark of this project that the tracer can read. '
  + 'That can mean it did not come from a marked stream of this project (another project, the original file, '
  + 'your own playback, a download of unmarked originals), that it is shorter than about 30 seconds, '
  + 'or that it was altered more than the mark survives. It accuses no one.';

// The answer as sentences (the JSON of docs/api.md "Trace a leak").
export function traceText(t) {
  if (!t.found) return NO_MARK;
  const when = new Date(t.first_access_ms).toLocaleString();
  const link = t.link.label ? `the link \u201c${t.link.label}\u201d` : 'the project\u2019s default link';
  const sure = t.confidence >= 0.9 ? 'a clear match' : t.confidence >= 0.6 ? 'a good match' : 'a weak but verified match';
  return `This recording came from ${t.reviewer}, listening through ${link}, who first listened on ${when} `
    + `(${sure}: ${Math.round(t.confidence * 100)} % of the mark\u2019s bits agree, and its keyed check passed, `
    + 'which a recording without this listener\u2019s mark passes about once in four billion tries).';
}

export function traceCard(pid) {
  const file = h('input', { type: 'file', id: 'trace-file', accept: 'audio/*,.wav,.flac,.mp3,.m4a,.aac,.ogg,.aif,.aiff', 'aria-describedby': 'trace-help' });
  const go = h('button', { type: 'submit', class: 'btn', text: 'Trace', disabled: true });
  const msg = h('p', { class: 'status', role: 'status', id: 'trace-result' });
  file.addEventListener('change', () => { go.disabled = !file.files.length; say(msg, ''); });
  const form = h('form', { id: 'trace-form' }, h('label', { for: 'trace-file', text: 'Suspect recording' }), file, go, msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) return;
    go.disabled = true;
    say(msg, 'Tracing\u2026 (the file is decoded and searched on the server; it is not kept)');
    try {
      const u = await post(`/api/v1/projects/${pid}/trace`);
      if (f.size > u.max_bytes) throw new Error(`The file is larger than ${u.max_bytes >> 20} MiB: send an excerpt of a minute or two.`);
      const r = await fetch(u.url, { method: 'POST', body: f, credentials: 'omit', cache: 'no-store', headers: { 'Content-Type': 'application/octet-stream' } });
      const body = await r.json().catch(() => ({}));
      if (r.status === 422) throw new Error(`This file could not be read as audio (${body.error || 'unsupported'}).`);
      if (r.status === 429 || r.status === 503) throw new Error('Too many traces at once: wait a little and try again.');
      if (!r.ok) throw new Error(`The trace failed (${r.status}).`);
      say(msg, traceText(body), body.found ? 'ok' : '');
    } catch (e) {
      say(msg, e instanceof ApiError ? (e.message || `Error ${e.status}`) : e.message || String(e), 'error');
    } finally {
      go.disabled = !file.files.length;
    }
  });
  return h('section', { class: 'card', id: 'trace-leak', 'aria-labelledby': 'trace-h' },
    h('h2', { id: 'trace-h', text: 'Trace a leak' }),
    h('p', { class: 'muted small', id: 'trace-help', text: 'Found a recording of this project where it should not be? Upload it (or 30 seconds or more of it, '
      + 'as a file in any common format, up to 64 MiB) and the tracer names the reviewer whose marked stream it came from, '
      + 'with the link and the time they first listened. It names someone only when the recording carries a mark that this '
      + 'project\u2019s key verifies and that belongs to one of its listenings; otherwise it says no mark was found. '
      + 'Only streams heard while marking was on carry a mark.' }),
    form);
}
