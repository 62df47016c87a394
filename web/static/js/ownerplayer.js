// ownerplayer.js: the owner's own player in the dashboard (the "Listen &
// comments" tab): the review page's waveform player (player.js) fed with
// owner URLs from
//   GET /api/v1/projects/{id}/tracks/{tid}/urls?version=VID
// (session-bound, no share link or project password needed, the original
// always downloadable), refreshed a minute before urls_expire like the
// review page does, with the version's comments as markers, and the review
// page's comment form (comments.js) posting the owner's own notes at the
// current time or over a dragged range:
//   POST /api/v1/projects/{id}/comments {version_id, body, time_ms, end_ms?}
// The page (dashboard.js) owns the comment list; it calls show(vid, t, cid)
// to jump and hears of a new comment through hooks.onComment.
import { get, post, serverNowS } from './api.js';
import { $, h, mount, fmtTime } from './dom.js';
import { Player } from './player.js';
import { Composer } from './comments.js';

export class OwnerPlayer {
  // project: GET /api/v1/projects/{id} answer's project; hooks:
  // {onMarker(commentId), onError(e), onVersion(vid), onComment(comment)}
  constructor(project, hooks = {}) {
    this.project = project;
    this.hooks = hooks;
    this.pid = project.id;
    this.version = null;
    this.track = null;
    this.comments = [];
    this.activeId = null;
    this.refreshTimer = 0;
    this.urlsExpire = 0;
    this.player = null;
    this.seq = 0;
    this.tracks = project.tracks.filter((t) => t.versions.some((v) => v.state === 'ready'))
      .sort((a, b) => a.position - b.position || a.created - b.created);
    this.el = this.build();
    this.onKey = (e) => this.key(e);
    document.addEventListener('keydown', this.onKey);
  }

  build() {
    if (!this.tracks.length) {
      return h('section', { class: 'card state-card', id: 'owner-player', 'aria-labelledby': 'op-h' },
        h('h2', { id: 'op-h', text: 'Nothing to play yet' }),
        h('p', { class: 'muted', text: 'Once a track has finished processing you can listen to it here, with your reviewers’ comments on the waveform.' }));
    }
    this.trackSel = h('select', { id: 'op-track', onchange: () => this.pickTrack(this.trackSel.value) },
      this.tracks.map((t) => h('option', { value: t.id, text: t.title })));
    this.versionSel = h('select', { id: 'op-version', onchange: () => this.load(this.versionSel.value) });
    this.title = h('h2', { id: 'op-h', class: 'now-title' });
    this.meta = h('p', { class: 'muted small', id: 'op-meta' });
    this.download = h('a', { class: 'btn', id: 'op-download', download: '', hidden: true, text: 'Download original' });
    this.wave = h('div', { id: 'wave', class: 'wave', role: 'slider', tabindex: '0', 'aria-label': 'Playback position: arrow keys move 5 seconds', 'aria-valuemin': '0', 'aria-valuemax': '0', 'aria-valuenow': '0' });
    this.play = h('button', { type: 'button', id: 'play', class: 'play', 'aria-label': 'Play', 'aria-pressed': 'false' }, h('span', { class: 'icon', 'aria-hidden': 'true' }));
    this.time = h('span', { id: 'time', class: 'time', text: '0:00 / 0:00' });
    this.audio = h('audio', { id: 'audio', preload: 'metadata' });
    this.status = h('p', { class: 'status', role: 'status', id: 'op-status' });
    this.composer = new Composer({
      prefix: 'op-',
      placeholder: 'A note for your reviewers at this point, e.g. “bridge too loud here”',
      player: () => this.player,
      durationMs: () => (this.version && this.version.duration_ms) || 0,
      send: async (fields) => (await post(`/api/v1/projects/${this.pid}/comments`, { version_id: this.version.id, ...fields })).comment,
      onSent: (c) => { this.activeId = c.id; this.hooks.onComment?.(c); },
      onFail: (e) => { if (e.status !== 401) return false; this.hooks.onError?.(e); return true; },
    });
    this.composer.el.hidden = true; // until a version is loaded
    return h('section', { class: 'card player', id: 'owner-player', 'aria-labelledby': 'op-h' },
      h('div', { class: 'player-head' },
        h('div', {}, this.title, this.meta),
        h('div', { class: 'player-actions' },
          h('label', { class: 'sr-only', for: 'op-track', text: 'Track' }), this.trackSel,
          h('label', { class: 'sr-only', for: 'op-version', text: 'Version' }), this.versionSel,
          this.download)),
      this.wave,
      h('div', { class: 'transport' }, this.play, this.time, h('span', { class: 'spacer' }),
        h('span', { class: 'hint muted small', text: 'Space play/pause · ← → 5 s · drag to select a range · click a comment’s time to jump' })),
      this.audio, this.status, this.composer.el);
  }

  // Jump: load version vid (any ready one of the project), seek to t
  // seconds, highlight comment cid. Without vid: the first track's latest.
  async show(vid, t, cid) {
    if (!this.tracks.length) return;
    const track = (vid && this.tracks.find((x) => x.versions.some((v) => v.id === vid))) || this.track || this.tracks[0];
    if (cid !== undefined) this.activeId = cid;
    if (!this.version || this.track !== track || (vid && this.version.id !== vid)) {
      this.pickTrack(track.id, vid, false);
      await this.load(this.versionSel.value);
    } else {
      this.setMarkers();
    }
    if (t != null) this.player.seek(t);
  }

  pickTrack(tid, vid, load = true) {
    this.track = this.tracks.find((x) => x.id === tid) || this.tracks[0];
    this.trackSel.value = this.track.id;
    const ready = this.track.versions.filter((v) => v.state === 'ready').sort((a, b) => b.number - a.number);
    mount(this.versionSel, ready.map((v) => h('option', { value: v.id, text: `Version ${v.number}`, selected: v.id === vid })));
    this.versionSel.hidden = ready.length < 2;
    if (!vid || !ready.some((v) => v.id === vid)) this.versionSel.value = ready[0].id;
    if (load) this.load(this.versionSel.value);
  }

  async load(vid) {
    const seq = ++this.seq;
    const v = this.track.versions.find((x) => x.id === vid);
    this.status.textContent = '';
    const media = await this.fetchUrls(v);
    if (!media || seq !== this.seq) return;
    this.version = v;
    this.title.textContent = this.track.title;
    const facts = [`Version ${v.number}`, fmtTime((v.duration_ms || 0) / 1000)];
    // Loudness, range and true peak side by side; a missing figure says why.
    for (const [name, unit] of [['loudness_lufs', 'LUFS'], ['loudness_range_lu', 'LU'], ['true_peak_dbtp', 'dBTP']]) {
      if (typeof v[name] === 'number') facts.push(`${v[name].toFixed(1)} ${unit}`);
      else if (v[name] === null && v[`${name}_reason`]) facts.push(`${unit}: ${v[`${name}_reason`]}`);
    }
    this.meta.textContent = facts.join(' · ');
    if (!this.player) {
      this.player = new Player({ wave: this.wave, audio: this.audio, play: this.play, time: this.time, slider: this.wave }, {
        onRegionClick: (id) => this.hooks.onMarker?.(id),
        onSelection: () => this.composer.update(),
        onTime: () => this.composer.update(),
      });
      this.player.getFreshUrl = async () => (await this.refresh())?.stream;
    }
    this.setDownload(media);
    await this.player.load(media, (v.duration_ms || 0) / 1000);
    this.composer.el.hidden = false;
    this.composer.update();
    this.setMarkers();
    this.hooks.onVersion?.(v.id);
  }

  async fetchUrls(v) {
    try {
      const r = await get(`/api/v1/projects/${this.pid}/tracks/${v.track_id}/urls?version=${encodeURIComponent(v.id)}`);
      this.urlsExpire = r.urls_expire;
      this.schedule();
      return r.versions[v.id];
    } catch (e) {
      if (e.status === 404) this.status.textContent = 'This version is gone: reload the page.';
      else this.status.textContent = e.message;
      this.status.className = 'status error';
      this.hooks.onError?.(e);
      if (e.status !== 401 && e.status !== 404) this.schedule(e.retryAfter || 15);
      return null;
    }
  }

  setDownload(media) {
    this.download.hidden = !media.download;
    if (media.download) this.download.href = media.download; else this.download.removeAttribute('href');
  }

  // A minute before the URLs expire (server clock), half-way for short
  // lifetimes; failures retry in 15 s (or Retry-After).
  schedule(delayS) {
    clearTimeout(this.refreshTimer);
    if (delayS == null) {
      const left = this.urlsExpire - serverNowS();
      delayS = left > 120 ? left - 60 : Math.max(5, left / 2);
    }
    this.refreshTimer = setTimeout(() => this.refresh(), delayS * 1000);
  }

  async refresh() {
    if (!this.version) return null;
    const media = await this.fetchUrls(this.version);
    if (media) {
      this.player.swapSource(media.stream);
      this.setDownload(media);
    }
    return media;
  }

  setComments(comments) {
    this.comments = comments;
    this.setMarkers();
  }

  setMarkers() {
    if (!this.player || !this.version) return;
    const top = this.comments.filter((c) => c.version_id === this.version.id && !c.parent_id && !c.deleted);
    this.player.setMarkers(top, this.activeId);
  }

  key(e) {
    if (!this.player || !this.el.isConnected || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    if ($('#dialog')?.open) return;
    if (t.closest && t.closest('input, textarea, select, button, a, [contenteditable], [role="tab"]')) return;
    if (e.key === ' ' || e.code === 'Space') { this.player.toggle(); e.preventDefault(); }
    else if (t !== this.wave && e.key === 'ArrowLeft') { this.player.skip(-5); e.preventDefault(); }
    else if (t !== this.wave && e.key === 'ArrowRight') { this.player.skip(5); e.preventDefault(); }
  }

  destroy() {
    clearTimeout(this.refreshTimer);
    document.removeEventListener('keydown', this.onKey);
    this.seq++;
    if (this.player) {
      this.audio.pause();
      this.player.destroy();
      this.player = null;
    }
  }
}
