// verdicts.js: the reviewer actions of the review page (issue 22,
// docs/web-ui.md "Reviewer actions"), kept out of review.js:
// - which of the listed comments this browser wrote and may still change
//   (GET /api/v1/s/{token}/reviewer: the guest-session cookie decides, the
//   server enforces the 24 h window again on every request), their "Edit" and
//   "Delete" buttons and the inline edit form;
// - the verdict panel of the version playing: every reviewer's verdict
//   ("approved" / "changes requested", name, note) and this browser's own,
//   which it can give or change (PUT …/versions/{vid}/verdict).
// User text (names, notes, bodies) only ever goes in as text (dom.js).
import { get, put, patch, del, serverNowS } from './api.js';
import { h, mount, announce } from './dom.js';

const LABEL = { approved: 'Approved', changes_requested: 'Changes requested' };

export class Reviewer {
  // opts: {base: '/api/v1/s/{token}', name(): the guest's name,
  // onChange(): re-render the comments (an edit, a delete, a fresh load),
  // onFail(e) → true when the page dealt with the error (link gone, password)}
  constructor(opts) {
    this.opts = opts;
    this.mine = new Map(); // comment id → editable_until (ms, server clock)
    this.verdicts = [];
    this.windowMs = 86400000;
    this.versionId = null;
    this.list = h('ul', { class: 'verdict-list', id: 'verdict-list' });
    this.note = h('input', { id: 'verdict-note', maxlength: '1000', placeholder: 'Note (optional)', 'aria-label': 'Note with your verdict' });
    this.status = h('p', { class: 'status', id: 'verdict-status', role: 'status' });
    const btn = (kind, text) => h('button', { type: 'button', class: `btn verdict-${kind}`, id: `verdict-${kind}`, 'aria-pressed': 'false', text,
      onclick: () => this.give(kind) });
    this.buttons = { approved: btn('approved', 'Approve'), changes_requested: btn('changes_requested', 'Request changes') };
    this.el = h('section', { class: 'verdicts', id: 'verdicts', 'aria-labelledby': 'verdicts-h' },
      h('h2', { id: 'verdicts-h', class: 'verdicts-h', text: 'Verdicts on this version' }),
      this.list,
      h('div', { class: 'row verdict-form' }, this.buttons.approved, this.buttons.changes_requested, this.note),
      this.status);
  }

  async load() {
    try {
      const r = await get(`${this.opts.base}/reviewer`);
      this.windowMs = r.edit_window_ms;
      this.mine = new Map(r.mine.map((m) => [m.id, m.editable_until]));
      this.verdicts = r.verdicts;
    } catch { /* the page works without: no edit buttons, no verdicts */ }
    this.render();
    this.opts.onChange();
  }

  setVersion(id) { this.versionId = id; this.render(); }

  // A comment this browser just posted: editable for the window.
  posted(c) { this.mine.set(c.id, c.created + this.windowMs); }

  canChange(c) {
    const until = this.mine.get(c.id);
    return !c.deleted && until != null && serverNowS() * 1000 < until; // the server's clock decides
  }

  // "edited" and, for the own comments, the Edit and Delete buttons.
  extras(c, comments) {
    const edited = c.edited && !c.deleted ? h('span', { class: 'badge subtle edited', title: new Date(c.edited).toLocaleString(), text: 'edited' }) : null;
    if (!this.canChange(c)) return edited ? [edited] : [];
    const li = () => document.getElementById(`comment-${c.id}`);
    return [edited, h('span', { class: 'own-actions' },
      h('button', { type: 'button', class: 'link small edit-btn', text: 'Edit', onclick: () => this.edit(c, li()) }),
      h('button', { type: 'button', class: 'link small delete-btn', text: 'Delete', onclick: (ev) => this.remove(c, comments, li(), ev.currentTarget) }))];
  }

  edit(c, li) {
    if (!li) return;
    li.querySelector('form.edit-form')?.remove();
    const ta = h('textarea', { rows: '2', maxlength: '4096', required: true, 'aria-label': 'Edit your comment' });
    ta.value = c.body;
    const status = h('p', { class: 'status', role: 'status' });
    const save = h('button', { type: 'submit', class: 'btn primary', text: 'Save' });
    const form = h('form', { class: 'edit-form' }, ta,
      h('div', { class: 'row' }, status, h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'btn ghost', onclick: () => form.remove(), text: 'Cancel' }), save));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = ta.value.trim();
      if (!body) return;
      save.disabled = true;
      try {
        const r = await patch(`${this.opts.base}/comments/${encodeURIComponent(c.id)}`, { body });
        Object.assign(c, r.comment);
        this.opts.onChange();
      } catch (e) {
        save.disabled = false;
        this.failed(e, c, status);
      }
    });
    const body = li.querySelector(':scope > p.body');
    (body || li.lastChild).after(form);
    ta.focus();
  }

  // Two clicks, no dialog: "Delete" turns into "Delete for good?" for 5 s.
  async remove(c, comments, li, btn) {
    if (btn && btn.dataset.armed !== '1') {
      btn.dataset.armed = '1';
      btn.textContent = 'Delete for good?';
      btn.classList.add('danger');
      setTimeout(() => { if (btn.isConnected) { btn.dataset.armed = ''; btn.textContent = 'Delete'; btn.classList.remove('danger'); } }, 5000);
      return;
    }
    try {
      await del(`${this.opts.base}/comments/${encodeURIComponent(c.id)}`);
      Object.assign(c, { deleted: true, body: '' });
      this.mine.delete(c.id);
      this.opts.onChange();
    } catch (e) {
      const head = li && li.querySelector('.comment-head');
      this.failed(e, c, head ? head.appendChild(h('span', { class: 'status error small', role: 'status' })) : null);
    }
  }

  failed(e, c, status) {
    if (this.opts.onFail(e)) return;
    if (e.status === 403 || e.status === 404) { this.mine.delete(c.id); this.opts.onChange(); }
    if (status) announce(status, e.message, 'error');
  }

  async give(kind) {
    if (!this.versionId) return;
    for (const b of Object.values(this.buttons)) b.disabled = true;
    announce(this.status, 'Sending…');
    try {
      const note = this.note.value.trim();
      const r = await put(`${this.opts.base}/versions/${encodeURIComponent(this.versionId)}/verdict`,
        { name: this.opts.name(), verdict: kind, ...(note ? { note } : {}) });
      const v = { ...r.verdict, mine: true };
      this.verdicts = this.verdicts.filter((x) => !(x.mine && x.version_id === v.version_id)).concat(v);
      announce(this.status, `Your verdict: ${LABEL[kind].toLowerCase()}.`);
    } catch (e) {
      if (!this.opts.onFail(e)) announce(this.status, e.message, 'error');
    }
    for (const b of Object.values(this.buttons)) b.disabled = false;
    this.render();
  }

  render() {
    const here = this.verdicts.filter((v) => v.version_id === this.versionId);
    mount(this.list, here.length ? here.map((v) => h('li', { class: `verdict ${v.verdict}${v.mine ? ' mine' : ''}` },
      h('span', { class: `badge verdict-badge ${v.verdict}`, text: LABEL[v.verdict] || v.verdict }),
      h('span', { class: 'author', text: v.name }),
      v.mine ? h('span', { class: 'muted small', text: '(you)' }) : null,
      v.note ? h('span', { class: 'verdict-note muted', text: `“${v.note}”` }) : null))
      : h('li', { class: 'empty muted small', text: 'No verdicts on this version yet.' }));
    const own = here.find((v) => v.mine);
    for (const [k, b] of Object.entries(this.buttons)) b.setAttribute('aria-pressed', own && own.verdict === k ? 'true' : 'false');
    if (own && document.activeElement !== this.note && !this.note.value) this.note.value = own.note || '';
  }
}
