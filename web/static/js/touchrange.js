// touchrange.js: marking a range on the review page's waveform with an
// ordinary gesture (issue 22), in the guest's browser, no trust boundary
// (it only makes the same selection a mouse drag makes).
// On a touch screen a finger moving over the waveform scrolls the page, and
// the regions plugin starts a drag selection only after a press-and-hold.
// "Mark range" (#mark-range, shown on phones and touch screens, with the
// hint #range-hint saying how) arms the waveform: its touch-action becomes
// none (the page no longer scrolls under the finger) and the next drag, by
// finger, pen or mouse, from where it starts to where it ends, becomes the
// selection (a region the player treats like a dragged one: Player.selection,
// the comment form's "0:01–0:03" and "clear range"). The toggle turns itself
// off after one range. Events are taken in the capture phase on the
// waveform's host element, before wavesurfer's own handlers inside its
// shadow root, so a marking drag neither seeks nor starts another region.
const btn = document.getElementById('mark-range');
const wave = document.getElementById('wave');
const player = () => window.audiomus && window.audiomus.player;

let armed = false;
let drag = null; // {id, x0, start, region, moved}
let swallowClick = false; // the click that follows a marking drag

function arm(on) {
  armed = on;
  btn.setAttribute('aria-pressed', String(on));
  btn.classList.toggle('on', on);
  wave.classList.toggle('marking', on);
}

// Seconds under clientX, clamped to the track.
function timeAt(p, clientX) {
  const box = (p.ws.getWrapper ? p.ws.getWrapper() : wave).getBoundingClientRect();
  const dur = p.ws.getDuration() || p.duration || 0;
  if (!box.width || !dur) return 0;
  return Math.min(dur, Math.max(0, ((clientX - box.left) / box.width) * dur));
}

function span(d, t) {
  return t >= d.start ? { start: d.start, end: t } : { start: t, end: d.start };
}

function color() {
  return getComputedStyle(document.documentElement).getPropertyValue('--selection').trim() || 'rgba(224,163,58,.25)';
}

function down(e) {
  const p = player();
  if (!armed || !p || drag) return;
  e.preventDefault();
  e.stopPropagation();
  wave.setPointerCapture?.(e.pointerId);
  drag = { id: e.pointerId, x0: e.clientX, start: timeAt(p, e.clientX), region: null, moved: false };
}

function move(e) {
  const p = player();
  if (!drag || e.pointerId !== drag.id || !p) return;
  e.preventDefault();
  e.stopPropagation();
  if (!drag.moved && Math.abs(e.clientX - drag.x0) < 4) return;
  drag.moved = true;
  const r = span(drag, timeAt(p, e.clientX));
  // A preview while the finger moves; the final region replaces it.
  if (drag.region) drag.region.setOptions(r);
  else drag.region = p.regions.addRegion({ ...r, color: color(), drag: false, resize: false });
}

function up(e) {
  const p = player();
  if (!drag || e.pointerId !== drag.id) return;
  e.preventDefault();
  e.stopPropagation();
  const d = drag;
  drag = null;
  swallowClick = true;
  setTimeout(() => { swallowClick = false; }, 0);
  if (!p || e.type === 'pointercancel' || !d.moved) { d.region?.remove(); return; }
  const r = span(d, timeAt(p, e.clientX));
  d.region?.remove();
  if (r.end - r.start < 0.05) return;
  p.regions.addRegion({ ...r, color: color(), drag: true, resize: true });
  arm(false);
}

// The click that ends a marking drag must not seek.
function click(e) {
  if (armed || drag || swallowClick) { e.preventDefault(); e.stopPropagation(); }
}

if (btn && wave) {
  btn.addEventListener('click', () => arm(!armed));
  wave.addEventListener('pointerdown', down, true);
  wave.addEventListener('pointermove', move, true);
  wave.addEventListener('pointerup', up, true);
  wave.addEventListener('pointercancel', up, true);
  wave.addEventListener('click', click, true);
  document.addEventListener('keydown', (e) => { if (armed && e.key === 'Escape') arm(false); });
}
