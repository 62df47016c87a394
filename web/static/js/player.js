// player.js: the waveform player of the review page (wavesurfer.js 7 with the
// regions plugin, vendored from npm into /static/vendor/).
//
// - The waveform is drawn from the worker's precomputed peaks (.dat, parsed
//   in peaks.js) with the duration from the API: the browser never downloads
//   or decodes the whole file.
// - Sound streams through a real <audio> element (wavesurfer's `media`
//   option), which fetches the stream rendition with Range requests.
// - Signed URLs expire (30 min by default): swapSource() replaces audio.src
//   keeping currentTime and the play state, and recover() does the same
//   after a failed request (e.g. a seek late in a long track after sleep).
//   With opts.renew (the review page: ab.js's renew()) a playing stream is
//   renewed by handing over to a second element: no dropout.
// - load() stops the previous track at once and shows "loading" until the
//   new one is ready; a load overtaken by a newer one gives up (the last
//   track asked for wins, whatever order the network answers in).
// - With opts.markerLane the comment markers are buttons under the waveform
//   (wavemarkers.js) instead of labels inside it.
// - A loop region (setLoop) wraps playback from its end to its start.
// - CSP (style-src 'self'): wavesurfer writes an inline <style> into its
//   shadow root, which the policy refuses. createWaveSurfer() moves that CSS
//   into a constructed stylesheet (adoptedStyleSheets, which the CSP does not
//   govern: it is script-created, not markup) during the synchronous
//   constructor only, so the vendored file stays byte-identical to npm.
import WaveSurfer from '/static/vendor/wavesurfer.esm.js';
import RegionsPlugin from '/static/vendor/regions.esm.js';
import { parseDat } from './peaks.js';
import { h, fmtTime } from './dom.js';
import { MarkerLane } from './wavemarkers.js';

function createWaveSurfer(opts) {
  const desc = Object.getOwnPropertyDescriptor(ShadowRoot.prototype, 'innerHTML');
  Object.defineProperty(ShadowRoot.prototype, 'innerHTML', {
    configurable: true,
    get() { return desc.get.call(this); },
    set(html) {
      const m = /<style[^>]*>([\s\S]*?)<\/style>/.exec(html);
      if (m) {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(m[1]);
        this.adoptedStyleSheets = [...this.adoptedStyleSheets, sheet];
        html = html.replace(m[0], '');
      }
      desc.set.call(this, html);
    },
  });
  try {
    return WaveSurfer.create(opts);
  } finally {
    Object.defineProperty(ShadowRoot.prototype, 'innerHTML', desc);
  }
}

// wavesurfer 7.9's Timer.start() subscribes a new requestAnimationFrame tick
// loop without ending the running one, and setMediaElement() on a playing
// element calls it again: after a seamless swap the loops doubled every
// frame and starved the page. Here start() replaces the running loop, and a
// frame already requested by an ended loop does nothing.
function guardTimer(ws) {
  const timer = ws.timer;
  if (!timer || typeof timer.on !== 'function' || typeof timer.emit !== 'function') return;
  let gen = 0, off = () => {};
  timer.stop = () => { gen += 1; off(); off = () => {}; };
  timer.start = () => {
    timer.stop();
    const mine = gen;
    off = timer.on('tick', () => requestAnimationFrame(() => { if (mine === gen) timer.emit('tick'); }));
    timer.emit('tick');
  };
  timer.unsubscribe = timer.stop;
}

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export class Player {
  // els: {wave, audio, play, time, slider}; hooks: {onRegionClick(id),
  // onSelection({start,end}|null), onTime(t), onEnded(), onLoading(bool)};
  // opts: {renew(): Promise<bool>, markerLane} (see the top of this file).
  constructor(els, hooks = {}, opts = {}) {
    this.els = els;
    this.hooks = hooks;
    this.opts = opts;
    this.loadSeq = 0;
    this.loading = false;
    this.loop = null; // {start, end} in seconds
    this.audio = els.audio;
    this.duration = 0;
    this.selection = null;
    this.recovering = false;
    this.getFreshUrl = null; // async () => stream URL, set by the page
    this.ws = createWaveSurfer({
      container: els.wave,
      media: this.audio,
      height: 112,
      waveColor: css('--wave') || '#8a8f98',
      progressColor: css('--wave-progress') || '#e0a33a',
      cursorColor: css('--wave-cursor') || '#f3f3f3',
      cursorWidth: 2,
      barWidth: 2,
      barGap: 1,
      barRadius: 2,
      normalize: true,
      dragToSeek: false,
      autoScroll: true,
    });
    guardTimer(this.ws);
    this.regions = this.ws.registerPlugin(RegionsPlugin.create());
    this.regions.enableDragSelection({ color: css('--selection') || 'rgba(224,163,58,.25)' });
    this.regions.on('region-created', (r) => {
      if (r.id.startsWith('c-') || r.id === 'loop') return;
      if (this.selectionRegion && this.selectionRegion !== r) this.selectionRegion.remove();
      this.selectionRegion = r;
      this.selection = { start: r.start, end: r.end };
      this.hooks.onSelection?.(this.selection);
    });
    this.regions.on('region-updated', (r) => {
      if (r === this.selectionRegion) {
        this.selection = { start: r.start, end: r.end };
        this.hooks.onSelection?.(this.selection);
      }
    });
    this.regions.on('region-clicked', (r, e) => {
      if (!r.id.startsWith('c-')) return;
      e.stopPropagation();
      this.hooks.onRegionClick?.(r.id.slice(2));
    });
    const tick = () => { this.updateTime(); this.checkLoop(); };
    this.onAudio = {
      timeupdate: tick,
      durationchange: tick,
      play: () => { this.updatePlayState(); this.watchLoop(); },
      pause: () => this.updatePlayState(),
      ended: () => this.onEnded(),
      error: () => this.recover(),
    };
    this.bindAudio(this.audio, true);
    if (opts.markerLane) this.lane = new MarkerLane(els.wave, { onOpen: (id) => this.hooks.onRegionClick?.(id) });
    els.play.addEventListener('click', () => this.toggle());
    els.slider.addEventListener('keydown', (e) => this.onSliderKey(e));
  }

  // The peaks of media (for adopt(): A/B), or a flat line.
  async fetchPeaks(media) {
    try {
      const r = await fetch(media.peaks, { credentials: 'same-origin', cache: 'no-store' });
      if (!r.ok) throw new Error(`peaks: ${r.status}`);
      const dat = parseDat(await r.arrayBuffer());
      if (!this.duration) this.duration = dat.duration;
      return [dat.data];
    } catch (e) {
      console.warn('waveform unavailable, playing without it:', e.message);
      return [new Float32Array(2)];
    }
  }

  bindAudio(a, on) {
    for (const [ev, fn] of Object.entries(this.onAudio)) {
      if (on) a.addEventListener(ev, fn); else a.removeEventListener(ev, fn);
    }
  }

  // Load one version: media = {stream, peaks}; durationS from the API;
  // play: start once loaded. The previous track stops at once and the
  // waveform is empty until the new one is ready. Returns false when a
  // newer load() overtook this one (nothing of this one is shown then).
  async load(media, durationS, { play = false } = {}) {
    const seq = ++this.loadSeq;
    this.peaksAbort?.abort();
    const ctl = this.peaksAbort = new AbortController();
    this.setLoading(true);
    this.stopAudio();
    this.clearSelection();
    this.setLoop(null);
    this.setMarkers([], null);
    this.duration = durationS || 0;
    this.ws.empty();
    this.updateTime();
    let peaks = [new Float32Array(2)];
    try {
      const r = await fetch(media.peaks, { credentials: 'same-origin', cache: 'no-store', signal: ctl.signal });
      if (!r.ok) throw new Error(`peaks: ${r.status}`);
      const dat = parseDat(await r.arrayBuffer());
      peaks = [dat.data];
      if (!this.duration) this.duration = dat.duration;
    } catch (e) {
      if (seq !== this.loadSeq) return false;
      console.warn('waveform unavailable, playing without it:', e.message);
    }
    if (seq !== this.loadSeq) return false;
    this.audio.preload = 'metadata';
    await this.ws.load(media.stream, peaks, this.duration);
    if (seq !== this.loadSeq) return false;
    this.setLoading(false);
    this.updateTime();
    this.updatePlayState();
    if (play) this.audio.play().catch(() => {});
    return true;
  }

  // Silence the element now: pause alone would let a slow network's answer
  // for the old URL start it again, so the source goes too.
  stopAudio() {
    const a = this.audio;
    a.pause();
    if (a.getAttribute('src')) { a.removeAttribute('src'); a.load(); }
  }

  setLoading(on) {
    this.loading = on;
    this.els.wave.classList.toggle('loading', on);
    this.els.wave.setAttribute('aria-busy', on ? 'true' : 'false');
    this.hooks.onLoading?.(on);
  }

  get isPlaying() { return !this.audio.paused && !this.audio.ended; }

  play() { this.audio.play().catch(() => {}); }

  onEnded() {
    this.updatePlayState();
    if (this.loop) { this.seek(this.loop.start); this.play(); return; }
    this.hooks.onEnded?.();
  }

  // Loop playback over {start, end} (seconds), or stop looping (null).
  // Checked on every timeupdate and, while playing, every 10 ms.
  setLoop(loop) {
    this.loop = loop && loop.end - loop.start >= 0.1 ? { start: loop.start, end: loop.end } : null;
    if (this.loopRegion) { this.loopRegion.remove(); this.loopRegion = null; }
    if (this.loop) {
      this.loopRegion = this.regions.addRegion({ id: 'loop', start: this.loop.start, end: this.loop.end, drag: false, resize: false,
        color: css('--loop') || 'rgba(110,200,140,.22)' });
      this.watchLoop();
    }
    this.hooks.onLoop?.(this.loop);
  }

  watchLoop() {
    if (this.loopTimer || !this.loop) return;
    const step = () => {
      this.loopTimer = 0;
      if (!this.loop || this.audio.paused) return;
      this.checkLoop();
      this.loopTimer = setTimeout(step, 10);
    };
    step();
  }

  checkLoop() {
    const l = this.loop;
    if (l && !this.loading && this.audio.currentTime >= l.end) this.seek(l.start);
  }

  // A/B and URL renewal (ab.js): carry on with another <audio> element,
  // already at the same musical moment in the version `media`: it takes
  // the id of the old one (#audio) and the waveform is redrawn from its
  // peaks, unless o.same (a renewal: the same version; the selection
  // stays too); neither element's playback is touched.
  async adopt(audio, media, durationS, o = {}) {
    const old = this.audio;
    this.bindAudio(old, false);
    this.audio = audio;
    this.els.audio = audio;
    this.bindAudio(audio, true);
    if (old.id && old.id !== audio.id) {
      const id = old.id;
      old.id = audio.id;
      audio.id = id;
    }
    // wavesurfer 7.9's setMediaElement() starts its frame timer again when
    // the element plays without stopping the running one: each extra start
    // doubles the ticks per frame until the page freezes. Stop it first.
    this.ws.timer?.stop();
    this.ws.setMediaElement(audio);
    if (o.same) { this.updateTime(); this.updatePlayState(); return; }
    this.clearSelection();
    this.duration = durationS || 0;
    const peaks = await this.fetchPeaks(media);
    await this.ws.load(audio.currentSrc || audio.src, peaks, this.duration);
    this.updateTime();
    this.updatePlayState();
  }

  toggle() {
    if (this.audio.paused) this.audio.play().catch(() => {});
    else this.audio.pause();
  }

  seek(t) {
    const d = this.duration || this.audio.duration || 0;
    this.ws.setTime(Math.max(0, Math.min(d || t, t)));
    this.updateTime();
  }

  skip(ds) { this.seek(this.audio.currentTime + ds); }

  // While a track loads its position is 0: a comment typed then belongs to
  // the new track's start, not to where the old one was.
  get currentTime() { return this.loading ? 0 : this.audio.currentTime; }

  onSliderKey(e) {
    const keys = { ArrowLeft: -5, ArrowRight: 5, PageDown: -30, PageUp: 30 };
    if (e.key in keys) { this.skip(keys[e.key]); e.preventDefault(); }
    else if (e.key === 'Home') { this.seek(0); e.preventDefault(); }
    else if (e.key === 'End') { this.seek(this.duration); e.preventDefault(); }
  }

  // Comment markers: points (end null) and ranges. Drawn on the next task,
  // the last call winning: the regions plugin appends a new region's element
  // on a timer, so a region removed in the task that added it (two redraws
  // in a row) would come back as a ghost marker (wavesurfer.js 7.9).
  setMarkers(comments, activeId) {
    this.pendingMarkers = { comments, activeId };
    if (this.markerTimer) return;
    this.markerTimer = setTimeout(() => {
      this.markerTimer = 0;
      this.drawMarkers(this.pendingMarkers.comments, this.pendingMarkers.activeId);
    }, 0);
  }

  drawMarkers(comments, activeId) {
    for (const r of this.regions.getRegions().slice()) if (r.id.startsWith('c-')) r.remove();
    this.lane?.set(comments, this.duration, activeId);
    for (const c of comments) {
      const start = c.time_ms / 1000;
      const end = c.end_ms != null && c.end_ms > c.time_ms ? c.end_ms / 1000 : undefined;
      const who = c.by_owner ? 'Owner' : c.author || '?';
      const label = this.lane ? undefined : h('span', { class: `marker-label${c.by_owner ? ' owner' : ''}`, text: who.slice(0, 1).toUpperCase(), title: `${who}: ${c.body}` });
      this.regions.addRegion({
        id: `c-${c.id}`, start, end, drag: false, resize: false, content: label,
        color: end ? (c.id === activeId ? css('--range-active') || 'rgba(224,163,58,.28)' : css('--range') || 'rgba(120,160,255,.18)')
          : (c.id === activeId ? css('--marker-active') || '#f0b44c' : css('--marker') || '#7aa2ff'),
      });
    }
  }

  clearSelection() {
    if (this.selectionRegion) this.selectionRegion.remove();
    this.selectionRegion = null;
    this.selection = null;
    this.hooks.onSelection?.(null);
  }

  // Replace the media URL without interrupting playback: same position,
  // same play state. Paused: nothing is audible. Playing: opts.renew hands
  // over to a second element (ab.js); without it, or when it cannot, the
  // element re-opens the stream at the same time with one Range request.
  // Returns a promise that settles when the new source is in place.
  swapSource(url) {
    const a = this.audio;
    if (!url || a.src === url || this.recovering || this.loading) return Promise.resolve();
    if (this.opts.renew && this.isPlaying) return this.swapRenew(url);
    this.swapPlain(url);
    return Promise.resolve();
  }

  async swapRenew(url) {
    const seq = this.loadSeq;
    let ok = false;
    try { ok = await this.opts.renew(url); } catch (e) { console.warn('renewal:', e.message); }
    if (!ok && seq === this.loadSeq && this.audio.src !== url) this.swapPlain(url);
  }

  swapPlain(url) {
    const a = this.audio;
    const t = a.currentTime, playing = !a.paused && !a.ended, rate = a.playbackRate;
    a.src = url;
    a.addEventListener('loadedmetadata', () => {
      a.currentTime = t;
      a.playbackRate = rate;
      if (playing) a.play().catch(() => {});
    }, { once: true });
    a.load();
  }

  // A stream request failed (expired or refused URL, network): get a fresh
  // URL and carry on from the same place, at most once per 5 s.
  async recover() {
    if (this.recovering || !this.getFreshUrl || !this.audio.src) return;
    const now = Date.now();
    if (this.lastRecover && now - this.lastRecover < 5000) return;
    this.lastRecover = now;
    this.recovering = true;
    const t = this.audio.currentTime;
    try {
      const url = await this.getFreshUrl();
      if (url) {
        const wasPlaying = !this.audio.paused || this.wantPlaying;
        this.audio.src = url;
        this.audio.addEventListener('loadedmetadata', () => {
          this.audio.currentTime = t;
          if (wasPlaying) this.audio.play().catch(() => {});
        }, { once: true });
        this.audio.load();
      }
    } finally {
      this.recovering = false;
    }
  }

  updatePlayState() {
    const playing = !this.audio.paused && !this.audio.ended;
    if (!this.recovering) this.wantPlaying = playing;
    const b = this.els.play;
    b.setAttribute('aria-label', playing ? 'Pause' : 'Play');
    b.setAttribute('aria-pressed', playing ? 'true' : 'false');
    b.classList.toggle('playing', playing);
  }

  updateTime() {
    const t = this.audio.currentTime || 0;
    const d = this.duration || this.audio.duration || 0;
    this.els.time.textContent = `${fmtTime(t)} / ${fmtTime(d)}`;
    const s = this.els.slider;
    s.setAttribute('aria-valuemin', '0');
    s.setAttribute('aria-valuemax', String(Math.round(d)));
    s.setAttribute('aria-valuenow', String(Math.round(t)));
    s.setAttribute('aria-valuetext', `${fmtTime(t)} of ${fmtTime(d)}`);
    this.hooks.onTime?.(t);
  }

  destroy() {
    clearTimeout(this.markerTimer);
    this.markerTimer = 0;
    this.ws.destroy();
  }
}
