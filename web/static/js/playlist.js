// playlist.js: the review page's playlist and listening controls (browser
// side, guest page; nothing here talks to the server).
// - Previous / next track, and at the end of a track the next one in the
//   owner's order (the API lists tracks by the owner's position), starting
//   by itself. Repeat: off (stop after the last track), all (the last is
//   followed by the first) or one (the element's own loop: no gap).
// - Loop a region: the range dragged on the waveform, or else the range
//   comment last opened (clicked marker or time); playback wraps from its
//   end to its start (Player.setLoop).
// - Volume (kept in localStorage, like the guest's name), mute, speed.
// The page supplies the tracks, the current one and how to select one.
import { h, announce } from './dom.js';

const VOLUME_KEY = 'audiomus.volume';
const REPEAT_KEY = 'audiomus.repeat';
const REPEATS = ['off', 'all', 'one'];
const RATES = [0.5, 0.75, 1, 1.25, 1.5];

function stored(key, fallback) {
  try { return localStorage.getItem(key) ?? fallback; } catch { return fallback; }
}
function store(key, value) {
  try { localStorage.setItem(key, String(value)); } catch { /* private mode: this page only */ }
}

export class PlaylistControls {
  // opts: {player() → Player|null, tracks() → playable tracks in order,
  // current() → the selected track, select(track, {play}), loopSource() →
  // {start, end} in seconds or null}
  constructor(opts) {
    this.opts = opts;
    this.repeat = REPEATS.includes(stored(REPEAT_KEY, 'off')) ? stored(REPEAT_KEY, 'off') : 'off';
    const v = Number(stored(VOLUME_KEY, '1'));
    this.volume = Number.isFinite(v) ? Math.max(0, Math.min(1, v)) : 1;
    this.prevBtn = h('button', { type: 'button', class: 'btn ghost', id: 'prev-track', 'aria-label': 'Previous track', title: 'Previous track (P)', text: 'Previous', onclick: () => this.prev() });
    this.nextBtn = h('button', { type: 'button', class: 'btn ghost', id: 'next-track', 'aria-label': 'Next track', title: 'Next track (N)', text: 'Next', onclick: () => this.next() });
    this.repeatBtn = h('button', { type: 'button', class: 'btn ghost', id: 'repeat', title: 'Repeat: off, all, one (R)', onclick: () => this.cycleRepeat() });
    this.loopBtn = h('button', { type: 'button', class: 'btn ghost', id: 'loop', 'aria-pressed': 'false', title: 'Loop the dragged range or the range comment (L)', text: 'Loop', onclick: () => this.toggleLoop() });
    this.volumeIn = h('input', { type: 'range', id: 'volume', min: '0', max: '1', step: '0.05', value: String(this.volume), 'aria-label': 'Volume' });
    this.volumeIn.addEventListener('input', () => this.setVolume(Number(this.volumeIn.value)));
    this.rateSel = h('select', { id: 'speed', 'aria-label': 'Playback speed' },
      RATES.map((r) => h('option', { value: String(r), selected: r === 1, text: `${r}×` })));
    this.rateSel.addEventListener('change', () => this.setRate(Number(this.rateSel.value)));
    this.status = h('span', { class: 'status small', id: 'player-status', role: 'status' });
    this.el = h('div', { class: 'transport-extra' },
      this.prevBtn, this.nextBtn, this.repeatBtn, this.loopBtn,
      h('span', { class: 'volume' }, h('span', { class: 'muted small', 'aria-hidden': 'true', text: 'Vol' }), this.volumeIn),
      this.rateSel, this.status);
    this.paintRepeat();
  }

  player() { return this.opts.player(); }

  // Apply the remembered settings to a (new) player's element.
  apply() {
    const a = this.player()?.audio;
    if (!a) return;
    a.volume = this.volume;
    a.loop = this.repeat === 'one';
    const r = Number(this.rateSel.value) || 1;
    a.defaultPlaybackRate = r;
    a.playbackRate = r;
  }

  playable() { return this.opts.tracks().filter((t) => t.versions.length); }

  // auto: called at the end of a track (stop after the last unless repeat all).
  next({ auto = false } = {}) {
    const list = this.playable();
    if (!list.length) return;
    const i = list.indexOf(this.opts.current());
    let j = i + 1;
    if (j >= list.length) {
      if (auto && this.repeat !== 'all') return;
      j = 0;
    }
    this.opts.select(list[j], { play: auto || !!this.player()?.isPlaying });
  }

  // Back to the start of the track after its first 3 s, else the previous track.
  prev() {
    const p = this.player();
    if (p && p.currentTime > 3) { p.seek(0); return; }
    const list = this.playable();
    const i = list.indexOf(this.opts.current());
    if (!list.length) return;
    this.opts.select(list[i > 0 ? i - 1 : list.length - 1], { play: !!p?.isPlaying });
  }

  onEnded() { this.next({ auto: true }); }

  cycleRepeat() {
    this.repeat = REPEATS[(REPEATS.indexOf(this.repeat) + 1) % REPEATS.length];
    store(REPEAT_KEY, this.repeat);
    this.paintRepeat();
    this.apply();
    announce(this.status, `Repeat ${this.repeat}`);
  }

  paintRepeat() {
    this.repeatBtn.textContent = `Repeat ${this.repeat}`;
    this.repeatBtn.setAttribute('aria-pressed', this.repeat === 'off' ? 'false' : 'true');
    this.repeatBtn.dataset.mode = this.repeat;
  }

  toggleLoop() {
    const p = this.player();
    if (!p) return;
    if (p.loop) { p.setLoop(null); return; }
    const src = this.opts.loopSource();
    if (!src) { announce(this.status, 'Drag across the waveform or open a range comment, then loop it'); return; }
    p.setLoop(src);
    if (p.currentTime < src.start || p.currentTime >= src.end) p.seek(src.start);
  }

  // The player's onLoop hook: the button shows the state.
  paintLoop(loop) {
    this.loopBtn.setAttribute('aria-pressed', loop ? 'true' : 'false');
    announce(this.status, loop ? 'Looping the range' : '');
  }

  setVolume(v) {
    this.volume = Math.max(0, Math.min(1, Math.round(v * 100) / 100));
    this.volumeIn.value = String(this.volume);
    store(VOLUME_KEY, this.volume);
    const a = this.player()?.audio;
    if (a) { a.volume = this.volume; a.muted = false; }
  }

  toggleMute() {
    const a = this.player()?.audio;
    if (a) { a.muted = !a.muted; announce(this.status, a.muted ? 'Muted' : ''); }
  }

  setRate(r) {
    if (!RATES.includes(r)) return;
    this.rateSel.value = String(r);
    this.apply();
  }

  stepRate(dir) {
    const i = RATES.indexOf(Number(this.rateSel.value));
    this.setRate(RATES[Math.max(0, Math.min(RATES.length - 1, i + dir))]);
  }
}
