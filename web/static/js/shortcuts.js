// shortcuts.js: the review page's keyboard shortcuts and the "?" overlay
// that lists them (browser side, guest page).
// - installShortcuts(keys): one keydown listener for single keys outside text
//   fields; keys maps a key (as KeyboardEvent.key) to {label, run}.
//   "?" opens a modal <dialog> listing every shortcut (Escape closes it).
// - sendOnEnter(textarea): Enter sends the form (Shift+Enter is a new line;
//   Ctrl/Cmd+Enter sends too), except while an input method composes.
import { h } from './dom.js';

// Always listed; handled elsewhere (review.js, the waveform slider).
const FIXED = [
  ['Space', 'Play / pause'],
  ['← →', 'Back / forward 5 s'],
  ['PageUp PageDown', 'On the waveform: 30 s'],
  ['Enter', 'In the comment box: send (Shift+Enter: new line)'],
];

let dialog = null;

function overlay(keys) {
  if (dialog) return dialog;
  const rows = [...FIXED, ...Object.entries(keys).map(([k, v]) => [v.shown || k.toUpperCase(), v.label]), ['?', 'This list']];
  dialog = h('dialog', { id: 'shortcuts', class: 'card shortcuts', 'aria-labelledby': 'shortcuts-h' },
    h('h2', { id: 'shortcuts-h', text: 'Keyboard shortcuts' }),
    h('dl', { class: 'keys' }, rows.map(([k, what]) => [h('dt', {}, h('kbd', { text: k })), h('dd', { text: what })])),
    h('form', { method: 'dialog' }, h('button', { class: 'btn', text: 'Close' })));
  document.body.append(dialog);
  return dialog;
}

export function showShortcuts(keys) {
  const d = overlay(keys);
  if (!d.open) d.showModal();
}

// keys: {key: {label, run(event), shown?}}; active() says whether the page
// is in a state that takes shortcuts (the player is on screen).
export function installShortcuts(keys, active) {
  document.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || !active()) return;
    const t = e.target;
    if (t.closest && t.closest('input, textarea, select, [contenteditable], dialog')) return;
    if (e.key === '?') { showShortcuts(keys); e.preventDefault(); return; }
    const k = keys[e.key] || keys[e.key.toLowerCase()];
    if (k) { k.run(e); e.preventDefault(); }
  });
}

export function sendOnEnter(textarea) {
  textarea.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.isComposing || e.shiftKey || e.altKey) return;
    e.preventDefault();
    textarea.form?.requestSubmit();
  });
}
