// verify.js: /verify-email#token=…, the link of the address confirmation
// e-mail. Reads the token from the fragment (never sent to a server or
// logged; removed from the address bar at once) and posts it:
//   POST /api/v1/account/email/verify {"token"} → 200 {"email_verified": true}
// 400 is a bad, used or expired token. No session needed: the token is the
// credential.
import { post } from './api.js';
import { $, h, mount } from './dom.js';

const app = $('#app');
const token = new URLSearchParams(location.hash.slice(1)).get('token');
if (token) history.replaceState(null, '', location.pathname);
// Another mailed link opened in this tab only changes the fragment: start over.
window.addEventListener('hashchange', () => location.reload());

function show(id, title, text, ...extra) {
  mount(app, h('section', { class: 'card narrow state-card', id, 'aria-labelledby': 'verify-h' },
    h('h1', { id: 'verify-h', text: title }), h('p', { class: 'muted', text }), ...extra,
    h('p', {}, h('a', { class: 'btn primary', href: '/#/account', text: 'Go to your dashboard' }))));
  document.title = `${title} · audiomus`;
}

async function verify() {
  if (!token) {
    show('verify-bad', 'No confirmation code in this link',
      'Open the link from the e-mail exactly as it was sent (some mail programs cut long links). You can ask for a new e-mail on your account page.');
    return;
  }
  mount(app, h('p', { class: 'muted', role: 'status', text: 'Confirming your address…' }));
  try {
    const r = await post('/api/v1/account/email/verify', { token });
    if (!r || r.email_verified !== true) throw new Error('unexpected answer from the server');
    show('verify-ok', 'Your address is confirmed', 'Notifications you turned on will now reach it. Choose which ones on your account page.');
  } catch (e) {
    if (e.status === 400) {
      show('verify-bad', 'This confirmation link does not work',
        `${e.message.charAt(0).toUpperCase()}${e.message.slice(1)}.`,
        h('p', { class: 'muted small', text: 'On your account page, “Send the confirmation e-mail again” mails a fresh link.' }));
    } else if (e.status === 429) {
      show('verify-bad', 'Too many attempts', `Try again in ${e.retryAfter || 10} s.`,
        h('button', { type: 'button', class: 'btn', text: 'Try again', onclick: () => verify() }));
    } else {
      show('verify-bad', 'Could not confirm your address', e.message);
    }
  }
}

verify();
