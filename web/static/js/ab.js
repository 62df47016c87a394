// ab.js: A/B between versions of a track on the review page (issue 22).
//
// - Same musical moment: each ready version carries sync_ms (the API, from
//   the worker's cross-correlation of the waveform envelopes, docs/api.md):
//   a time t in version X is t - sync(X) + sync(Y) in version Y.
// - Seamless: two <audio> elements, each through a GainNode of one
//   AudioContext. The version to switch to plays silently at the mapped
//   time before the gains cross over (30 ms), so the sound never stops;
//   while A/B is on, the other chosen version keeps playing in sync,
//   muted, and a switch is only the crossfade. The Player then adopts the
//   element (its waveform, time, comments follow; the playing one is
//   always #audio).
// - The same hand-over renews an expiring stream URL while playing
//   (renew(), the Player's `renew` option): the other element opens the
//   fresh URL of the same version, is steered to within 5 ms of the
//   playing one (seamless.js) and takes over through the crossfade.
// - Match loudness: each version's gain is the quieter one's integrated
//   loudness minus its own (loudness_lufs from the API, or match_gain_db
//   while the owner keeps loudness from reviewers), never a boost.
// - Keys: V toggles A/B; A and B pick one.
// The AudioContext is made on the first play after a user gesture (or the
// first switch): without one the page plays as before, without Web Audio,
// and a renewal is the Player's plain swap.
import { h } from './dom.js';
import { align } from './seamless.js';

const RAMP_S = 0.03;     // the crossfade of a hand-over
const DRIFT_S = 0.04;    // A/B: close enough to the mapped moment
const ALIGN_MS = 8000;   // a renewal gives up aligning after this long

const once = (el, ev, ms = 8000) => new Promise((resolve) => {
  const t = setTimeout(done, ms);
  function done() { clearTimeout(t); el.removeEventListener(ev, done); resolve(); }
  el.addEventListener(ev, done);
});

export class AB {
  // opts: {player(): Player, track(): track, version(): current version,
  //   onSwitch(v): the page shows v (after the Player adopted it),
  //   freshMedia(vid): fresh {stream, peaks} of a version or null}
  constructor(opts, mainAudio) {
    this.opts = opts;
    this.els = [mainAudio, h('audio', { preload: 'auto', id: 'audio-ab' })];
    mainAudio.after(this.els[1]);
    this.ver = new Map();       // element -> version it holds
    this.nodes = new Map();     // element -> GainNode
    this.ctx = null;
    this.match = false;
    this.pair = [null, null];   // the two chosen versions (A, B)
    this.busy = null;
    this.gen = 0;               // a new track cancels a hand-over under way
    this.lead = 0.03;           // how late a seek of a playing element lands (s), learned
    this.resyncAt = 0;
    for (const el of this.els) this.wire(el);
    this.buildUi();
    document.addEventListener('keydown', (e) => this.onKey(e));
  }

  wire(el) {
    for (const ev of ['play', 'pause', 'seeked', 'timeupdate', 'ratechange']) el.addEventListener(ev, (e) => this.follow(e));
    el.addEventListener('play', () => this.playGesture(el));
    el.addEventListener('error', () => this.shadowError(el));
  }

  get active() { return this.opts.player()?.audio || this.els[0]; }
  get shadow() { return this.els.find((e) => e !== this.active); }

  static sync(v) { return ((v && v.sync_ms) || 0) / 1000; }
  mapTime(t, from, to) { return t - AB.sync(from) + AB.sync(to); }

  // ---- UI --------------------------------------------------------------------------
  buildUi() {
    const sel = (id, label) => [h('label', { class: 'sr-only', for: id, text: label }), h('select', { id, onchange: () => this.pick() })];
    const [la, sa] = sel('ab-a', 'Version A'), [lb, sb] = sel('ab-b', 'Version B');
    this.selA = sa; this.selB = sb;
    this.toggleBtn = h('button', { type: 'button', class: 'btn', id: 'ab-toggle', onclick: () => this.toggle(), text: 'A/B (V)' });
    this.matchBox = h('input', { type: 'checkbox', id: 'ab-match', onchange: () => { this.match = this.matchBox.checked; this.applyGains(0); } });
    this.status = h('span', { id: 'ab-status', class: 'muted small', 'aria-live': 'polite' });
    this.el = h('div', { class: 'ab-bar', id: 'ab', hidden: true },
      h('span', { class: 'ab-label', text: 'A/B' }), la, sa, lb, sb, this.toggleBtn,
      h('label', { class: 'ab-match', for: 'ab-match' }, this.matchBox, ' Match loudness'), this.status);
  }

  // A new track: A = the latest ready version, B = the one before.
  setTrack(track) {
    this.reset();
    const vs = [...(track?.versions || [])].sort((a, b) => b.number - a.number);
    this.el.hidden = vs.length < 2;
    const opts = (selected) => vs.map((v) => h('option', { value: v.id, selected: v.id === selected, text: `Version ${v.number}` }));
    this.pair = [vs[0] || null, vs[1] || null];
    this.selA.replaceChildren(...opts(this.pair[0]?.id));
    this.selB.replaceChildren(...opts(this.pair[1]?.id));
    this.showStatus();
  }

  pick() {
    const vs = this.opts.track()?.versions || [];
    this.pair = [vs.find((v) => v.id === this.selA.value) || null, vs.find((v) => v.id === this.selB.value) || null];
    this.applyGains(RAMP_S);
    this.showStatus();
  }

  showStatus() {
    const cur = this.opts.version();
    const which = cur && this.pair[0] && cur.id === this.pair[0].id ? 'A' : cur && this.pair[1] && cur.id === this.pair[1].id ? 'B' : '';
    this.status.textContent = which ? `hearing ${which} (version ${cur.number})` : '';
    this.status.dataset.hearing = which;
  }

  onKey(e) {
    if (this.el.hidden || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    if (t.closest && t.closest('input, textarea, select, [contenteditable]')) return;
    const k = e.key.toLowerCase();
    if (k === 'v') this.toggle();
    else if (k === 'a' && this.pair[0]) this.switchTo(this.pair[0]);
    else if (k === 'b' && this.pair[1]) this.switchTo(this.pair[1]);
    else return;
    e.preventDefault();
  }

  toggle() {
    const cur = this.opts.version();
    const next = cur && this.pair[0] && cur.id === this.pair[0].id ? this.pair[1] : this.pair[0];
    if (next) return this.switchTo(next);
    return null;
  }

  // ---- audio -----------------------------------------------------------------------
  graph() {
    if (!this.ctx) {
      this.ctx = new AudioContext();
      this.out = this.ctx.createGain();
      this.out.connect(this.ctx.destination);
      for (const el of this.els) this.connect(el);
      this.ver.set(this.active, this.opts.version());
    }
    if (this.ctx.state !== 'running') this.ctx.resume().catch(() => {});
    return this.ctx;
  }

  // The first play after a user gesture makes the audio graph, before any
  // sound (so that a URL renewal can cross-fade; rerouting a playing element
  // later would itself be a glitch). Without a gesture there is none: an
  // AudioContext would stay suspended and silence the element.
  playGesture(el) {
    if (this.ctx || el !== this.active || !navigator.userActivation?.hasBeenActive) return;
    this.graph();
  }

  connect(el) {
    const g = this.ctx.createGain();
    this.ctx.createMediaElementSource(el).connect(g);
    g.connect(this.out);
    this.nodes.set(el, g);
  }

  // Swap el (no longer playing) for a new, empty element in the page and
  // the graph: a renewal's old element goes with its pipeline and GainNode,
  // and the next A/B switch loads the other version into the new one.
  replace(el) {
    const b = h('audio', { preload: 'auto', id: el.id });
    this.ver.delete(el);
    el.pause();
    el.removeAttribute('src');
    el.load();
    this.nodes.get(el)?.disconnect();
    this.nodes.delete(el);
    el.replaceWith(b);
    this.els[this.els.indexOf(el)] = b;
    this.wire(b);
    if (this.ctx) this.connect(b);
  }

  // Linear gain of version v: the quieter of the pair's loudness minus v's.
  gainOf(v) {
    // loudness_lufs when the owner shows loudness; otherwise match_gain_db
    // (the gain to the track's quietest version), which orders the same way.
    const l = (x) => {
      if (x && typeof x.loudness_lufs === 'number') return x.loudness_lufs;
      return x && typeof x.match_gain_db === 'number' ? -x.match_gain_db : null;
    };
    if (!this.match || l(v) == null) return 1;
    const ref = Math.min(...[...this.pair, v].map(l).filter((x) => x != null));
    return Math.min(1, 10 ** ((ref - l(v)) / 20));
  }

  applyGains(ramp, active = this.active) {
    if (!this.ctx) return;
    const now = this.ctx.currentTime;
    for (const el of this.els) {
      const g = this.nodes.get(el).gain, want = el === active ? this.gainOf(this.ver.get(el)) : 0;
      g.cancelScheduledValues(now);
      g.setValueAtTime(g.value, now);
      g.linearRampToValueAtTime(want, now + ramp);
    }
  }

  // Keep the shadow element at the active one's moment (mapped), playing
  // and pausing with it, while it holds the other version of the pair.
  follow(e) {
    const a = this.active, s = this.shadow;
    if (e.target !== a || this.busy || !this.ctx || !this.ver.get(s)) return;
    const va = this.ver.get(a), vs = this.ver.get(s);
    if (!this.pair.some((p) => p && p.id === vs.id)) return;
    const want = this.mapTime(a.currentTime, va, vs), drift = s.currentTime - want, now = performance.now();
    if (e.type === 'pause') s.pause();
    else if (e.type === 'ratechange') s.playbackRate = a.playbackRate;
    else if (e.type === 'seeked' || a.paused) s.currentTime = Math.max(0, want);
    else if (Math.abs(drift) > DRIFT_S && now - this.resyncAt > 1500 && !s.seeking) {
      // Learn how late a seek lands from the last one's residue.
      if (this.resyncAt && now - this.resyncAt < 4000) this.lead = Math.min(0.3, Math.max(0, this.lead - drift));
      this.resyncAt = now;
      s.currentTime = Math.max(0, want + this.lead);
    }
    if (!a.paused && s.paused && want >= 0) s.play().catch(() => {});
  }

  async shadowError(el) {
    if (el === this.active || !this.ver.get(el)) return;
    const v = this.ver.get(el), m = await this.opts.freshMedia(v.id);
    if (m) { v.media = m; el.src = m.stream; el.load(); }
  }

  // Switch to version v at the same musical moment, without a gap.
  async switchTo(v) {
    while (this.busy) await this.busy;
    const cur = this.opts.version();
    if (!v || !cur || v.id === cur.id) return;
    this.busy = this.doSwitch(cur, v);
    try { await this.busy; } catch (e) { console.warn(e.message); } finally { this.busy = null; }
    this.showStatus();
  }

  async doSwitch(cur, v) {
    const a = this.active;
    await this.handover(cur, v, false);
    // The old element keeps following while it holds the other version of
    // the pair; otherwise it stops.
    if (!this.pair.some((p) => p && p.id === cur.id)) setTimeout(() => { if (a !== this.active) a.pause(); }, 100);
    this.opts.onSwitch(v);
  }

  // The version playing has a fresh stream URL (v.media, review.js's
  // refresh): hand over to the other element on it, the same audio at the
  // same moment within 5 ms (seamless.js), through the crossfade. False,
  // with nothing changed, when there is no running audio graph or the
  // other element cannot take over (the caller swaps the plain way).
  async renew() {
    if (!this.ctx || this.ctx.state !== 'running') return false;
    while (this.busy) await this.busy;
    const cur = this.opts.version(), a = this.active;
    if (!cur || a.paused || a.ended) return false;
    this.busy = (async () => {
      await this.handover(cur, cur, true);
      // The old element held the old URL: once the fade is over it makes
      // way for a new one (an A/B switch loads the other version there).
      await new Promise((r) => setTimeout(r, RAMP_S * 1000 + 70));
      if (a !== this.active) this.replace(a);
    })();
    try {
      await this.busy;
    } catch (e) {
      console.warn(e.message);
      const s = this.shadow;
      if (s !== a) { this.ver.delete(s); s.pause(); }
      return false;
    } finally {
      this.busy = null;
    }
    return true;
  }

  // Hand playback from the active element (version cur) over to the other
  // one holding version v (loaded from v.media.stream unless it holds it;
  // always with fresh: a renewal): it plays silently at the mapped moment,
  // then the gains cross over RAMP_S and the Player adopts it. Throws, with
  // the active element still audible, when the other cannot take over or a
  // new track overtook the hand-over.
  async handover(cur, v, fresh) {
    this.graph();
    const gen = this.gen, a = this.active, s = this.shadow, playing = !a.paused && !a.ended;
    const stale = () => gen !== this.gen || a !== this.active;
    const check = (what) => { if (stale()) throw new Error(`hand-over: ${what}`); };
    this.ver.set(a, cur);
    if (fresh || this.ver.get(s)?.id !== v.id || !s.src) {
      this.ver.set(s, v);
      s.src = v.media.stream;
      s.load();
      await once(s, 'loadedmetadata');
      check('overtaken');
      if (s.readyState < 1) throw new Error('hand-over: the new stream did not load');
    }
    this.ver.set(s, v);
    s.volume = a.volume;
    s.muted = a.muted;
    s.playbackRate = a.playbackRate;
    const target = () => Math.max(0, this.mapTime(a.currentTime, cur, v));
    if (Math.abs(s.currentTime - target()) > DRIFT_S || s.seeking) {
      s.currentTime = target();
      await once(s, 'seeked');
      check('overtaken');
    }
    if (playing) await this.cue(s, target, fresh ? () => this.mapTime(0, cur, v) : null, stale);
    else if (!s.paused) s.pause();
    check('overtaken');
    this.applyGains(RAMP_S, s);
    await this.opts.player().adopt(s, v.media, (v.duration_ms || 0) / 1000, { same: fresh });
  }

  // Bring the playing-to-be element s to target() (within DRIFT_S, a few
  // tries: a seek while playing lands late by the seek's own time); with
  // shift (the renewal), then steer it to within 5 ms of the active one.
  async cue(s, target, shift, stale) {
    if (s.paused) { s.play().catch(() => {}); await once(s, 'playing'); }
    for (let i = 0; i < 4 && !stale() && Math.abs(s.currentTime - target()) > DRIFT_S; i++) {
      s.currentTime = target() + this.lead;
      await once(s, 'seeked');
      await once(s, 'timeupdate', 300);
      this.lead = Math.min(0.3, Math.max(0, this.lead - (s.currentTime - target())));
    }
    if (!shift || stale()) return;
    const d = await align(this.active, s, shift(), performance.now() + ALIGN_MS, stale);
    if (Math.abs(d) > DRIFT_S || s.paused) throw new Error(`hand-over: not aligned (${Math.round(d * 1000)} ms)`);
  }

  // A new track: the shadow stops and forgets its version.
  reset() {
    this.gen += 1;
    const s = this.shadow;
    s.pause();
    this.ver.delete(s);
    this.ver.set(this.active, null);
    if (this.ctx) this.applyGains(0);
  }
}
