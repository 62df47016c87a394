// markers.js: "Markers for your DAW", shared by the owner's player
// (dashboard.js) and the review page (review.js, only while downloads are
// on): the comments of the version on screen as marker files (docs/api.md
// "Markers", docs/web-ui.md "Comments into the DAW"): the MIDI file (Pro
// Tools, Logic, Cubase), Reaper CSV, Audacity labels and Audition markers
// as plain links with the choices in the query (same origin, the page's
// credentials); what carries audio, the marked WAV, the zip of all five and
// the zip of every track, the media role makes: the API answers its signed
// URL, which the page then opens. The owner also sets the track's tempo and
// time signature, which the MIDI file carries.
import { get, patch } from './api.js';
import { h } from './dom.js';

const FORMATS = [
  ['smf', 'MIDI file: Pro Tools, Logic, Cubase'],
  ['reaper', 'Reaper CSV'],
  ['audacity', 'Audacity labels'],
  ['audition', 'Audition markers'],
];

export class MarkersPanel {
  // o: {prefix, versionPath(vid), projectPath, owner, trackPath(tid) (owner), onError(e)}
  constructor(o) {
    this.o = o;
    this.vid = null;
    this.track = null;
    const id = (s) => `${o.prefix}mk-${s}`;
    const box = (name, text) => h('label', { class: 'check' }, h('input', { type: 'checkbox', id: id(name), onchange: () => this.refresh() }), ` ${text}`);
    this.resolved = box('resolved', 'include resolved');
    this.replies = box('replies', 'include replies');
    this.ascii = box('ascii', 'ASCII only');
    this.links = FORMATS.map(([f, text]) => h('a', { class: 'btn small', id: id(f), download: '', text }));
    const media = (name, text, url) => h('button', { type: 'button', class: 'btn small', id: id(name), text, onclick: () => this.open(url()) });
    this.zipBtn = media('zip', 'All five (zip, with the marked WAV)', () => `${this.o.versionPath(this.vid)}?${this.query('zip')}`);
    this.wavBtn = media('wav', 'Marked WAV: Reaper, WaveLab, Sound Forge', () => `${this.o.versionPath(this.vid)}?${this.query('wav')}`);
    this.all = media('project', 'Every track (zip)', () => `${this.o.projectPath}?${this.query('zip')}`);
    this.msg = h('p', { class: 'status small', role: 'status' });
    const parts = [h('div', { class: 'row' }, this.resolved, this.replies, this.ascii),
      h('div', { class: 'row wrap' }, this.zipBtn, ...this.links, this.wavBtn, this.all)];
    if (o.owner) {
      this.bpm = h('input', { type: 'number', id: id('bpm'), min: '20', max: '999', step: '0.001', class: 'mk-field' });
      this.sig = h('input', { type: 'text', id: id('sig'), maxlength: '5', pattern: '[0-9]{1,2}/[0-9]{1,2}', class: 'mk-field' });
      parts.push(h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); this.saveTempo(); } },
        h('label', { for: id('bpm'), text: 'Tempo (BPM)' }), this.bpm,
        h('label', { for: id('sig'), text: 'Time signature' }), this.sig,
        h('button', { type: 'submit', class: 'btn small', text: 'Save tempo' })));
    }
    this.el = h('details', { class: 'card markers', id: id('panel') },
      h('summary', { text: 'Markers for your DAW' }),
      h('p', { class: 'muted small', text: 'The comments of this version as markers on your own timeline. How to import each file: see the help (docs/web-ui.md).' }),
      ...parts, this.msg);
    this.el.hidden = true;
  }

  query(format) {
    const q = new URLSearchParams({ format });
    for (const [k, el] of [['resolved', this.resolved], ['replies', this.replies], ['ascii', this.ascii]]) q.set(k, el.querySelector('input').checked ? '1' : '0');
    return q.toString();
  }

  // The version on screen (its id) and its track (owner: tempo fields).
  setVersion(vid, track) {
    this.vid = vid;
    this.track = track || null;
    this.el.hidden = !vid;
    if (this.bpm && track) {
      this.bpm.value = String(track.tempo_bpm ?? 120);
      this.sig.value = track.time_signature || '4/4';
    }
    this.refresh();
  }

  refresh() {
    if (!this.vid) return;
    FORMATS.forEach(([f], i) => { this.links[i].href = `${this.o.versionPath(this.vid)}?${this.query(f)}`; });
  }

  // Ask the API for the media role's signed URL, then open it (a download).
  async open(path) {
    this.msg.textContent = '';
    try {
      const r = await get(path);
      window.location.assign(r.url);
    } catch (e) {
      this.msg.textContent = e.message;
      this.o.onError?.(e);
    }
  }

  async saveTempo() {
    try {
      const r = await patch(this.o.trackPath(this.track.id), { tempo_bpm: Number(this.bpm.value), time_signature: this.sig.value });
      Object.assign(this.track, { tempo_bpm: r.track.tempo_bpm, time_signature: r.track.time_signature });
      this.msg.textContent = `Saved: ${r.track.tempo_bpm} BPM, ${r.track.time_signature}. The MIDI file carries them.`;
    } catch (e) {
      this.msg.textContent = e.message;
    }
  }
}
