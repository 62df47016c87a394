// accesslog.js: the owner's copy of the project's signed tree head (issue
// 26, docs/security.md "Access log"). One button in the project's header
// saves GET /api/v1/projects/{id}/log/sth as a JSON file, to keep outside
// the server; `audiomus log verify --sth FILE` checks the log against it
// later. The page only relays the server's answer: it verifies nothing.
import { get } from './api.js';
import { h } from './dom.js';

// Save text as a file called name (the browser's own download).
function saveText(text, name) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The "Access log head" button of project pid; onError(text) shows a failure.
export function accessLogButton(pid, { onError = () => {} } = {}) {
  const btn = h('button', {
    type: 'button', class: 'btn', id: 'log-sth', text: 'Access log head',
    title: 'Download the signed head of this project\'s tamper-evident access log, to keep outside the server (audiomus log verify)',
  });
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const sth = await get(`/api/v1/projects/${pid}/log/sth`);
      saveText(`${JSON.stringify(sth)}\n`, `audiomus-log-${pid}-${sth.tree_size}.json`);
    } catch (e) {
      onError((e && e.message) || String(e));
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}
