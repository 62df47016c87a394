// listen.js: the review page's listen reporter (docs/api.md "Listen reports").
// It watches the page's <audio> element and tells the server which parts of
// the current version were actually played:
//   POST /api/v1/s/{token}/listen
//        {listener, version_id, name, play?, heard: [[start_ms, end_ms], ...]}
// - A span grows while time advances normally; a seek, pause or end closes
//   it. Pending spans go out every FLUSH_MS while playing, on pause, seek,
//   end, a version change and when the page is hidden (keepalive fetch).
// - play: true on the first report after playback starts for a version on
//   this page (one play per start, not per report).
// - listener: 16 random bytes kept in this browser (localStorage); the
//   server hashes them with the project id, so the owner sees one listener
//   per browser and nothing links it to another project or to an address.
// Reports are best effort: a failure (offline, 429) keeps at most
// MAX_SPANS spans for the next try and never disturbs playback.

const FLUSH_MS = 15000;
const MAX_SPANS = 64; // the server's bound per report
const JUMP_S = 1.5;   // a timeupdate further than this from the last one is a seek
const KEY = 'audiomus.listener';

function listenerId() {
  let id = null;
  try { id = localStorage.getItem(KEY); } catch { /* private mode */ }
  if (!/^[0-9a-f]{32}$/.test(id || '')) {
    const b = crypto.getRandomValues(new Uint8Array(16));
    id = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
    try { localStorage.setItem(KEY, id); } catch { /* this page only */ }
  }
  return id;
}

export class ListenReporter {
  // audio(): the <audio> element playing (the Player's: an A/B switch or a
  // URL renewal hands over to another element); path: the report URL;
  // name(): the guest's name. Events are taken on the document (capture:
  // media events do not bubble) from whichever element is playing then.
  constructor(audio, { path, name }) {
    this.getAudio = audio;
    this.path = path;
    this.name = name;
    this.listener = listenerId();
    this.version = null;
    this.durationMs = 0;
    this.spans = [];
    this.cur = null;        // [start_s, last_s] of the span being played
    this.playPending = false;
    this.started = new Set(); // versions whose play was counted on this page
    this.timer = 0;
    const on = (ev, fn) => document.addEventListener(ev, (e) => { if (e.target === this.audio) fn(); }, true);
    on('playing', () => this.onPlaying());
    on('timeupdate', () => this.onTime());
    on('pause', () => this.close(true, true));
    on('ended', () => this.close(true, true));
    on('seeking', () => this.close(false, false));
    addEventListener('pagehide', () => this.cut(true));
    document.addEventListener('visibilitychange', () => { if (document.hidden) this.cut(true); });
  }

  get audio() { return this.getAudio(); }

  // A new version in the player: what was heard of the previous goes out first.
  setVersion(id, durationS) {
    if (id === this.version) return;
    this.close(true, true);
    this.version = id;
    this.durationMs = Math.round((durationS || 0) * 1000);
  }

  onPlaying() {
    if (!this.version) return;
    if (!this.started.has(this.version)) { this.started.add(this.version); this.playPending = true; }
    this.cur = [this.audio.currentTime, this.audio.currentTime];
    clearInterval(this.timer);
    this.timer = setInterval(() => this.cut(false), FLUSH_MS);
  }

  // Report what was heard so far; playback goes on in a new span.
  cut(keepalive) {
    const t = this.audio.currentTime;
    this.close(false, true);
    if (!this.audio.paused && this.version) this.cur = [t, t];
    this.flush(keepalive);
  }

  onTime() {
    if (!this.version || this.audio.paused || this.audio.seeking) return;
    const t = this.audio.currentTime;
    if (!this.cur) this.cur = [t, t]; // playing on after a seek
    else if (t < this.cur[1] || t - this.cur[1] > JUMP_S) { this.close(false, false); this.cur = [t, t]; } else this.cur[1] = t;
  }

  // End the current span (kept if it covers anything); flush when asked.
  // now: the element's time is where the span ended (pause, end), not a
  // seek's target.
  close(flush, now) {
    if (this.cur) {
      const t = this.audio.currentTime;
      const end = now && t >= this.cur[1] && t - this.cur[1] <= JUMP_S ? t : this.cur[1];
      this.add(this.cur[0], end);
      this.cur = null;
    }
    if (flush) { clearInterval(this.timer); this.flush(false); }
  }

  add(startS, endS) {
    let a = Math.max(0, Math.floor(startS * 1000));
    let b = Math.ceil(endS * 1000);
    if (this.durationMs) b = Math.min(b, this.durationMs);
    if (b <= a) return;
    if (this.spans.length >= MAX_SPANS) { const last = this.spans.pop(); a = Math.min(a, last[0]); b = Math.max(b, last[1]); }
    this.spans.push([a, b]);
  }

  async flush(keepalive) {
    if (!this.version || (!this.spans.length && !this.playPending)) return;
    const heard = this.spans.splice(0, MAX_SPANS);
    const body = { listener: this.listener, version_id: this.version, heard };
    const name = this.name();
    if (name) body.name = name;
    if (this.playPending) { body.play = true; this.playPending = false; }
    try {
      const r = await fetch(this.path, {
        method: 'POST', credentials: 'same-origin', keepalive, cache: 'no-store',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      });
      if (!r.ok && r.status !== 400 && r.status !== 404) throw new Error(String(r.status));
    } catch {
      if (body.version_id === this.version) {
        this.spans = [...heard, ...this.spans].slice(0, MAX_SPANS);
        if (body.play) this.playPending = true;
      }
    }
  }
}
