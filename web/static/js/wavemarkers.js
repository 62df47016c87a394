// wavemarkers.js: the comment markers of the review page's waveform (browser
// side; comment text is the guests' and goes in as text, dom.js).
//
// A lane of buttons right under the waveform, outside wavesurfer's shadow
// root, so the playhead (drawn inside the waveform) never covers one: a point
// comment is a 24 px round button with the author's initial ("O" for the
// owner), a range comment a bar with square ends from its start to its end
// (at least 24 px wide). Markers that would overlap go to a second or third
// row. Hovering or focusing a marker shows the comment in a tooltip;
// clicking or tapping one shows it too and opens the comment (onOpen(id)).
import { h, mount } from './dom.js';
import { commentTime } from './comments.js';

const SIZE = 24, GAP = 2, ROWS = 3;

export class MarkerLane {
  // wave: the waveform element (the lane goes right after it);
  // onOpen(commentId): a marker was clicked or tapped.
  constructor(wave, { onOpen } = {}) {
    this.onOpen = onOpen;
    this.items = [];
    this.el = h('div', { class: 'marker-lane', role: 'group', 'aria-label': 'Comment markers' });
    this.pop = h('div', { class: 'marker-pop', id: 'marker-pop', role: 'tooltip', hidden: true });
    this.wrap = h('div', { class: 'marker-wrap' }, this.el, this.pop);
    wave.after(this.wrap);
    this.last = null;
    document.addEventListener('pointerdown', (e) => { if (!this.el.contains(e.target)) this.hide(true); });
    // Re-lay out when the width changes (not the height, which set() itself
    // changes: that would loop).
    this.width = 0;
    if (window.ResizeObserver) {
      new ResizeObserver(() => {
        if (this.last && this.el.clientWidth !== this.width) this.set(...this.last);
      }).observe(this.el);
    }
  }

  // comments: top-level comments {id, time_ms, end_ms?, author, by_owner,
  // body}; durationS: the version's length; activeId: the highlighted one.
  set(comments, durationS, activeId) {
    this.last = [comments, durationS, activeId];
    const width = this.width = this.el.clientWidth || 0;
    const d = durationS > 0 ? durationS : 1;
    const rowsEnd = [];
    const sorted = [...comments].sort((a, b) => a.time_ms - b.time_ms);
    const buttons = sorted.map((c) => {
      const range = c.end_ms != null && c.end_ms > c.time_ms;
      const x0 = Math.min(1, c.time_ms / 1000 / d);
      const x1 = range ? Math.min(1, c.end_ms / 1000 / d) : x0;
      const left = range ? x0 * width : x0 * width - SIZE / 2;
      const right = range ? Math.max(x1 * width, left + SIZE) : left + SIZE;
      let row = rowsEnd.findIndex((end) => left >= end + GAP);
      if (row < 0) row = rowsEnd.length < ROWS ? rowsEnd.length : rowsEnd.indexOf(Math.min(...rowsEnd));
      rowsEnd[row] = right;
      return this.button(c, { range, x0, x1, row, active: c.id === activeId });
    });
    this.el.style.height = `${Math.max(1, rowsEnd.length) * (SIZE + GAP)}px`;
    this.items = buttons;
    mount(this.el, buttons);
    if (!this.pop.hidden && !buttons.some((b) => b.dataset.id === this.pop.dataset.id)) this.hide(true);
  }

  button(c, { range, x0, x1, row, active }) {
    const who = c.by_owner ? 'Owner' : c.author || '?';
    const b = h('button', {
      type: 'button',
      class: `wm ${range ? 'range' : 'point'}${c.by_owner ? ' owner' : ''}${active ? ' active' : ''}`,
      'aria-label': `${range ? 'Range comment' : 'Comment'} by ${who} at ${commentTime(c)}`,
      'aria-describedby': 'marker-pop',
      dataset: { id: c.id },
      onmouseenter: () => this.show(c, b),
      onmouseleave: () => this.hide(),
      onfocus: () => this.show(c, b),
      onblur: () => this.hide(),
      onclick: () => { this.pinned = c.id; this.show(c, b); this.onOpen?.(c.id); },
    }, h('span', { class: 'wm-initial', 'aria-hidden': 'true', text: who.slice(0, 1).toUpperCase() }));
    b.style.left = range ? `${x0 * 100}%` : `calc(${x0 * 100}% - ${SIZE / 2}px)`;
    if (range) b.style.width = `max(${SIZE}px, ${(x1 - x0) * 100}%)`;
    b.style.top = `${row * (SIZE + GAP)}px`;
    return b;
  }

  show(c, b) {
    if (this.pinned && this.pinned !== c.id) this.pinned = null;
    const who = c.by_owner ? 'Owner' : c.author || '?';
    mount(this.pop,
      h('span', { class: 'marker-pop-head' }, h('strong', { text: who }), ' · ', commentTime(c)),
      h('span', { class: 'marker-pop-body', text: c.deleted ? '(comment deleted)' : c.body }));
    this.pop.dataset.id = c.id;
    this.pop.hidden = false;
    const lane = this.el.getBoundingClientRect(), r = b.getBoundingClientRect();
    const w = this.pop.offsetWidth;
    const x = Math.max(0, Math.min(lane.width - w, r.left - lane.left + r.width / 2 - w / 2));
    this.pop.style.left = `${x}px`;
    this.pop.style.top = `${r.bottom - lane.top + 4}px`;
  }

  // A clicked (tapped) marker keeps its comment shown until another marker
  // is shown or the page is clicked elsewhere.
  hide(force = false) {
    if (!force && this.pinned && this.pinned === this.pop.dataset.id) return;
    this.pinned = null;
    this.pop.hidden = true;
  }
}
