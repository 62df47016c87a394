// facts.js: the meters of the version on the review page (issue 21):
// loudness (EBU R128 integrated, LUFS), loudness range (EBU Tech 3342, LU)
// and true peak (dBTP) beside the version's other facts, shown only when the
// owner lets reviewers see loudness (the project's "show_loudness": the
// guest API then carries the figures, docs/api.md; otherwise it has none and
// nothing is drawn). A figure the meter cannot give reads as its reason
// ("silent", "too short to measure"). Runs in the guest's browser; every
// value comes from the API and is set as text, never as HTML.
import { h } from './dom.js';

const METERS = [['Loudness', 'loudness_lufs', 'LUFS'], ['Range', 'loudness_range_lu', 'LU'],
  ['True peak', 'true_peak_dbtp', 'dBTP']];

function meterText(v, name, unit) {
  if (typeof v[name] === 'number') return `${v[name].toFixed(1)} ${unit}`;
  return v[name] === null && typeof v[`${name}_reason`] === 'string' ? v[`${name}_reason`] : null;
}

// Replace the meters shown after el (the version's facts line) with v's:
// a `.facts.meters` line, or none when v carries no meter.
export function showMeters(el, v) {
  const old = el.parentNode && el.parentNode.querySelector(':scope > .meters');
  if (old) old.remove();
  const f = [];
  for (const [label, name, unit] of METERS) {
    const val = v ? meterText(v, name, unit) : null;
    if (val != null) f.push(h('span', { 'data-meter': name }, `${label} `, h('b', { text: val })));
  }
  if (f.length) el.after(h('p', { class: 'facts meters', 'aria-label': 'Loudness' }, ...f));
}
