// marked.js: the listener mark on the review page (issue 26, docs/watermark.md
// "Serving marked streams"). When the project marks its audio, the page gets
// the listener's mark ticket (POST /api/v1/s/{token}/mark, once per set of
// signed URLs: a ticket expires with them) and appends it to every stream URL
// as "&mt=TICKET" (an <audio src> cannot send a header), and to download URLs
// when the project marks downloads too (the answer's "downloads"). The guest
// view says whether the project marks ("marked"); only then is a ticket asked
// for (a 409 still means the project does not mark: the URLs stay as they
// are). Peaks are never changed. The ticket names a random mark row, never
// the payload.
import { post } from './api.js';

export class MarkTickets {
  // base: "/api/v1/s/{token}"; name(): the reviewer's name as given.
  constructor(base, name) {
    this.base = base;
    this.name = name;
    this.ticket = null;
    this.expires = 0;
    this.marked = true; // the guest view's project.marked (open() sets it)
  }

  // The ticket for URLs that expire at urlsExpire (server seconds), or null
  // when the project does not mark (or the ticket cannot be had now: the
  // media role then refuses the stream, never serves it unmarked).
  async ticketFor(urlsExpire) {
    if (this.ticket && this.expires >= urlsExpire) return this.ticket;
    try {
      const r = await post(`${this.base}/mark`, { name: this.name() || 'Guest' });
      this.ticket = r.ticket;
      this.expires = r.expires;
      this.downloads = Boolean(r.downloads); // originals are marked too (issue 26)
    } catch {
      this.ticket = null;
      this.expires = 0;
    }
    return this.ticket;
  }

  // Append the ticket to the stream URL of each media object of list (in place),
  // and to the download URL when the project marks downloads (this.downloads,
  // from the ticket's answer: the media role refuses a guest's download of such
  // a project without it).
  async apply(list, urlsExpire) {
    const bare = (u) => u && !u.includes('&mt=');
    const media = list.filter((m) => m && (bare(m.stream) || bare(m.download)));
    if (!media.length || !this.marked) return;
    const t = await this.ticketFor(urlsExpire);
    if (!t) return;
    for (const m of media) {
      if (bare(m.stream)) m.stream += `&mt=${t}`;
      if (this.downloads && bare(m.download)) m.download += `&mt=${t}`;
    }
  }
}
