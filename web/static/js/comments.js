// comments.js: the comment UI shared by the review page (guests, review.js)
// and the owner's player in the dashboard (ownerplayer.js):
// - Composer: the "comment at the current time" form under the waveform.
//   The time is frozen when the text box gets focus (the listener reacts to
//   what they just heard, the music plays on while they type), or a range is
//   dragged across the waveform (Player.selection, "clear range" drops it).
//   Times are clamped to the version's duration: the API refuses a time past
//   the end, and the stream may run a few milliseconds longer than the
//   duration the API measured.
// - submitComment(): sending a comment or reply with its status line; a 429
//   keeps the button disabled and counts down Retry-After.
// - commentTime(), authorLabel(): how a comment's time and author read.
// The page supplies how to send (guest or owner endpoint) and what to do with
// the new comment; user text only ever goes in as text (dom.js).
import { h, fmtTime, announce } from './dom.js';

// "1:23" or "1:23–1:31".
export function commentTime(c) {
  return c.end_ms != null && c.end_ms > c.time_ms
    ? `${fmtTime(c.time_ms / 1000)}–${fmtTime(c.end_ms / 1000)}` : fmtTime(c.time_ms / 1000);
}

// The author as elements: a guest's name as text, or, for the owner (by_owner
// comes from the server; a guest may call themselves "Owner" but gets no
// badge), a badge saying ownerWord ("owner" for guests, "you" for the owner).
export function authorLabel(c, ownerWord) {
  if (c.by_owner) return [c.author ? h('span', { class: 'author', text: c.author }) : null, h('span', { class: 'badge owner', text: ownerWord })];
  return [h('span', { class: 'author', text: c.author })];
}

// Send fields ({body, time_ms, end_ms?, parent_id?}) with send(fields) →
// the new comment, reporting in status and disabling btn meanwhile. onFail(e,
// fields) returns true when it dealt with the error (e.g. the link is gone).
// Returns the comment, or null.
export async function submitComment(send, fields, status, btn, onFail) {
  const body = fields.body.trim();
  if (!body) return null;
  btn.disabled = true;
  announce(status, 'Sending…');
  try {
    const c = await send({ ...fields, body });
    announce(status, '');
    btn.disabled = false;
    return c;
  } catch (e) {
    if (onFail && onFail(e, fields)) return null;
    if (e.status === 429) {
      let n = e.retryAfter || 5;
      const tick = () => announce(status, `You are commenting fast: try again in ${n} s.`, 'error');
      tick();
      const t = setInterval(() => {
        n -= 1;
        if (n > 0) return tick();
        clearInterval(t);
        announce(status, '');
        btn.disabled = false;
      }, 1000);
      return null;
    }
    announce(status, e.message, 'error');
    btn.disabled = false;
    return null;
  }
}

export class Composer {
  // opts: {prefix: id prefix ('' on the review page: #composer, #comment-body,
  // #anchor, #clear-range, #composer-status, #comment-submit), placeholder,
  // player(): the Player or null, durationMs(): the version's duration,
  // send(fields) → comment, onSent(comment), onFail(e, fields) → handled}
  constructor(opts) {
    this.opts = opts;
    this.anchorTime = null; // seconds, frozen when the text box got focus
    const id = (name) => `${opts.prefix || ''}${name}`;
    this.anchor = h('span', { id: id('anchor'), class: 'anchor', text: 'at 0:00' });
    this.clear = h('button', { type: 'button', id: id('clear-range'), class: 'link small', hidden: true, text: 'clear range',
      onclick: () => this.player()?.clearSelection() });
    this.body = h('textarea', { id: id('comment-body'), rows: '2', maxlength: '4096', required: true, placeholder: opts.placeholder || '' });
    this.status = h('p', { id: id('composer-status'), class: 'status', role: 'status' });
    this.submit = h('button', { type: 'submit', class: 'btn primary', id: id('comment-submit'), text: 'Comment' });
    this.el = h('form', { id: id('composer'), class: 'composer' },
      h('label', { for: id('comment-body') }, 'Comment ', this.anchor, ' ', this.clear),
      this.body,
      h('div', { class: 'row' }, this.status, h('span', { class: 'spacer' }), this.submit));
    this.body.addEventListener('focus', () => { const p = this.player(); if (p) this.anchorTime = p.currentTime; this.update(); });
    this.body.addEventListener('blur', () => { if (!this.body.value) { this.anchorTime = null; this.update(); } });
    this.el.addEventListener('submit', (ev) => { ev.preventDefault(); this.send(); });
  }

  player() { return this.opts.player(); }

  // {time_ms, end_ms?}: the dragged range (at least 0.25 s), else the frozen
  // or current time; within [0, duration].
  range() {
    const p = this.player();
    const d = this.opts.durationMs() || Infinity;
    const ms = (s) => Math.max(0, Math.min(d, Math.round(s * 1000)));
    const sel = p && p.selection;
    if (sel && sel.end - sel.start >= 0.25) return { time_ms: ms(sel.start), end_ms: ms(sel.end) };
    return { time_ms: ms(this.anchorTime != null ? this.anchorTime : (p ? p.currentTime : 0)) };
  }

  // The "at 1:23" / "over 1:00–1:10" label (the player's onTime and
  // onSelection hooks call this).
  update() {
    const a = this.range();
    this.anchor.textContent = a.end_ms != null
      ? `over ${fmtTime(a.time_ms / 1000)}–${fmtTime(a.end_ms / 1000)}` : `at ${fmtTime(a.time_ms / 1000)}`;
    this.clear.hidden = a.end_ms == null;
  }

  async send() {
    const c = await submitComment(this.opts.send, { body: this.body.value, ...this.range() }, this.status, this.submit, this.opts.onFail);
    if (!c) return;
    this.body.value = '';
    this.anchorTime = null;
    this.player()?.clearSelection();
    this.opts.onSent(c);
  }
}
