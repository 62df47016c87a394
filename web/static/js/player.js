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
// - CSP (style-src 'self'): wavesurfer writes an inline <style> into its
//   shadow root, which the policy refuses. createWaveSurfer() moves that CSS
//   into a constructed stylesheet (adoptedStyleSheets, which the CSP does not
//   govern: it is script-created, not markup) during the synchronous
//   constructor only, so the vendored file stays byte-identical to npm.
import WaveSurfer from '/static/vendor/wavesurfer.esm.js';
import RegionsPlugin from '/static/vendor/regions.esm.js';
import { parseDat } from './peaks.js';
import { h, fmtTime } from './dom.js';

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

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export class Player {
  // els: {wave, audio, play, time, slider}; hooks: {onRegionClick(id), onSelection({start,end}|null), onTime(t)}
  constructor(els, hooks = {}) {
    this.els = els;
    this.hooks = hooks;
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
    this.regions = this.ws.registerPlugin(RegionsPlugin.create());
    this.regions.enableDragSelection({ color: css('--selection') || 'rgba(224,163,58,.25)' });
    this.regions.on('region-created', (r) => {
      if (r.id.startsWith('c-')) return;
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
    this.bindAudio(this.audio);
    els.play.addEventListener('click', () => this.toggle());
    els.slider.addEventListener('keydown', (e) => this.onSliderKey(e));
  }

  // The element's listeners, kept so that adopt() can move them.
  bindAudio(a) {
    const tick = () => this.updateTime();
    const state = () => this.updatePlayState();
    this.audioListeners = [['timeupdate', tick], ['durationchange', tick], ['play', state],
      ['pause', state], ['ended', state], ['error', () => this.recover()]];
    for (const [k, f] of this.audioListeners) a.addEventListener(k, f);
  }

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

  // Load one version: media = {stream, peaks}; durationS from the API.
  async load(media, durationS) {
    this.clearSelection();
    this.duration = durationS || 0;
    const peaks = await this.fetchPeaks(media);
    this.audio.preload = 'metadata';
    await this.ws.load(media.stream, peaks, this.duration);
    this.updateTime();
    this.updatePlayState();
  }

  // A/B (ab.js): carry on with another <audio> element, already at the
  // same musical moment in the version `media`: the waveform is redrawn
  // from its peaks; neither element's playback is touched.
  async adopt(audio, media, durationS) {
    for (const [k, f] of this.audioListeners) this.audio.removeEventListener(k, f);
    this.audio = audio;
    this.bindAudio(audio);
    // wavesurfer 7.9's setMediaElement() starts its frame timer again when
    // the element plays without stopping the running one: each extra start
    // doubles the ticks per frame until the page freezes. Stop it first.
    this.ws.timer?.stop();
    this.ws.setMediaElement(audio);
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

  get currentTime() { return this.audio.currentTime; }

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
    for (const c of comments) {
      const start = c.time_ms / 1000;
      const end = c.end_ms != null && c.end_ms > c.time_ms ? c.end_ms / 1000 : undefined;
      const who = c.by_owner ? 'Owner' : c.author || '?';
      const label = h('span', { class: `marker-label${c.by_owner ? ' owner' : ''}`, text: who.slice(0, 1).toUpperCase(), title: `${who}: ${c.body}` });
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
  // same play state. Paused: nothing is audible. Playing: the element
  // re-opens the stream at the same time with one Range request.
  swapSource(url) {
    const a = this.audio;
    if (!url || a.src === url) return;
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
