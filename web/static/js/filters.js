// filters.js: the comment list of the review page across every version of
// the track (issue 22): each comment marked with its version, and filters
// by version, by open/resolved and by reviewer. A reply stays with its
// comment. A comment of another version is drawn on the waveform at the
// same musical moment (the versions' sync_ms, as in ab.js). User text goes
// in as text only (dom.js).
import { h } from './dom.js';

export class CommentFilters {
  // opts: {onChange(), track(): the selected track}
  constructor(opts) {
    this.opts = opts;
    const sel = (id, label) => h('select', { id, 'aria-label': label, onchange: () => opts.onChange() });
    this.version = sel('filter-version', 'Show comments of version');
    this.status = sel('filter-status', 'Show open or resolved comments');
    this.author = sel('filter-author', 'Show comments by reviewer');
    this.status.replaceChildren(...[['', 'Open and resolved'], ['open', 'Open'], ['resolved', 'Resolved']]
      .map(([value, text]) => h('option', { value, text })));
    this.el = h('div', { class: 'comment-filters row', id: 'comment-filters' }, this.version, this.status, this.author);
    this.numbers = new Map();
  }

  // The version menu for a track; reviewers are filled from its comments.
  setTrack(track) {
    const vs = [...(track?.versions || [])].sort((a, b) => b.number - a.number);
    this.numbers = new Map(vs.map((v) => [v.id, v]));
    this.version.replaceChildren(h('option', { value: '', text: 'All versions' }),
      ...vs.map((v) => h('option', { value: v.id, text: `Version ${v.number}` })));
    this.author.value = '';
  }

  static who(c) { return c.by_owner ? 'Owner' : c.author || '?'; }

  // The track's comments that pass the filters, with their replies.
  apply(comments) {
    const ofTrack = comments.filter((c) => this.numbers.has(c.version_id));
    const top = ofTrack.filter((c) => !c.parent_id);
    const names = [...new Set(top.map(CommentFilters.who))].sort();
    const keep = this.author.value;
    this.author.replaceChildren(h('option', { value: '', text: 'All reviewers' }),
      ...names.map((n) => h('option', { value: n, text: n })));
    this.author.value = names.includes(keep) ? keep : '';
    const v = this.version.value, s = this.status.value, a = this.author.value;
    const shown = new Set(top.filter((c) => (!v || c.version_id === v)
      && (!s || (s === 'resolved') === Boolean(c.resolved))
      && (!a || CommentFilters.who(c) === a)).map((c) => c.id));
    return ofTrack.filter((c) => shown.has(c.id) || (c.parent_id && shown.has(c.parent_id)));
  }

  // "v2" beside a comment.
  versionBadge(c) {
    const v = this.numbers.get(c.version_id);
    return v ? h('span', { class: 'badge subtle version-badge', title: `Version ${v.number}`, text: `v${v.number}` }) : null;
  }

  // c as a marker on version cur's waveform (time mapped from its own version).
  onVersion(c, cur) {
    const v = this.numbers.get(c.version_id);
    if (!v || !cur || v.id === cur.id) return c;
    const d = ((cur.sync_ms || 0) - (v.sync_ms || 0));
    return { ...c, time_ms: Math.max(0, c.time_ms + d), end_ms: c.end_ms != null ? Math.max(0, c.end_ms + d) : c.end_ms };
  }
}
