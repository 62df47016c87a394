// reset.js: /reset-password, signed out.
//   without a token: ask for the address → POST /api/v1/password-reset
//     (the answer is the same whether or not an account has it: so is ours);
//     a server that sends no e-mail (GET /api/v1/server) is named up front
//   with #token=… (the link mailed by docs/mail.md "password reset"):
//     choose a new password → POST /api/v1/password-reset/confirm
// The token sits in the fragment (never sent to a server or logged); it is
// removed from the address bar as soon as it is read.
import { get, post } from './api.js';
import { $, h, mount, announce } from './dom.js';

const app = $('#app');
const token = new URLSearchParams(location.hash.slice(1)).get('token');
if (token) history.replaceState(null, '', location.pathname);
// Another mailed link opened in this tab only changes the fragment: start over.
window.addEventListener('hashchange', () => location.reload());

function page(...children) {
  mount(app, h('div', { class: 'hero' },
    h('div', { class: 'hero-brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'audiomus'), ...children));
}

// 429: count down, then let the visitor try again.
function wait(msg, btn, n) {
  btn.disabled = true;
  announce(msg, `Too many attempts: try again in ${n} s.`, 'error');
  const t = setInterval(() => {
    n -= 1;
    if (n <= 0) { clearInterval(t); btn.disabled = false; announce(msg, ''); } else announce(msg, `Too many attempts: try again in ${n} s.`, 'error');
  }, 1000);
}

function requestForm() {
  document.title = 'Reset your password · audiomus';
  const email = h('input', { id: 'reset-email', type: 'email', autocomplete: 'email', required: true });
  const msg = h('p', { class: 'status', role: 'alert' });
  const btn = h('button', { type: 'submit', class: 'btn primary', text: 'Send the reset link' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'reset-h' },
    h('h1', { id: 'reset-h', text: 'Reset your password' }),
    h('p', { class: 'muted', text: 'Enter the address of your account. We e-mail a link that lets you choose a new password; it works once, for 30 minutes.' }),
    h('label', { for: 'reset-email', text: 'E-mail' }), email, msg, btn);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    announce(msg, 'Sending…');
    try {
      await post('/api/v1/password-reset', { email: email.value.trim() });
      page(h('section', { class: 'card', id: 'reset-sent', 'aria-labelledby': 'sent-h' },
        h('h1', { id: 'sent-h', text: 'Check your inbox' }),
        h('p', {}, 'If an account has the address ', h('strong', { text: email.value.trim() }), ', a link to reset its password is on its way. It works once, for 30 minutes.'),
        h('p', { class: 'muted small', text: 'Nothing arrived after a few minutes? Check the spam folder, or ask again.' }),
        h('div', { class: 'row' }, h('a', { class: 'btn', href: '/', text: 'Back to sign in' }),
          h('a', { class: 'btn ghost', href: '/reset-password', text: 'Ask again' }))));
      $('#sent-h').focus?.();
    } catch (e) {
      if (e.status === 429) return wait(msg, btn, e.retryAfter || 20);
      announce(msg, e.status === 503 ? 'This server sends no e-mail, so it cannot send a reset link: ask its administrator to reset your password.' : e.message, 'error');
      btn.disabled = false;
    }
  });
  page(form, h('p', { class: 'toggle-auth' }, h('a', { href: '/', text: 'Back to sign in' })));
  email.focus();
  noMailFirst(form, btn);
}

// A server without e-mail cannot send the link: say so before the visitor
// types anything (GET /api/v1/server), and offer no button that cannot work.
async function noMailFirst(form, btn) {
  let s = {};
  try { s = await get('/api/v1/server'); } catch { /* an older server: the answer of the POST says it */ }
  if (s.mail_enabled !== false) return;
  btn.disabled = true;
  form.querySelector('p.muted')?.replaceWith(h('p', { class: 'status error', id: 'reset-nomail', role: 'alert',
    text: 'This server sends no e-mail, so it cannot send a reset link: ask its administrator to reset your password.' }));
}

function confirmForm() {
  document.title = 'Choose a new password · audiomus';
  const pw = h('input', { id: 'new-password', type: 'password', autocomplete: 'new-password', minlength: '8', required: true, 'aria-describedby': 'pw-help' });
  const again = h('input', { id: 'new-password-again', type: 'password', autocomplete: 'new-password', minlength: '8', required: true });
  const msg = h('p', { class: 'status', role: 'alert' });
  const btn = h('button', { type: 'submit', class: 'btn primary', text: 'Set the new password' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'confirm-h' },
    h('h1', { id: 'confirm-h', text: 'Choose a new password' }),
    h('label', { for: 'new-password', text: 'New password' }), pw,
    h('p', { class: 'muted small', id: 'pw-help', text: 'At least 8 characters and not a common password. A passphrase is best.' }),
    h('label', { for: 'new-password-again', text: 'The same again' }), again, msg, btn);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (pw.value !== again.value) { announce(msg, 'The two passwords differ.', 'error'); again.select(); return; }
    btn.disabled = true;
    announce(msg, 'Saving…');
    try {
      await post('/api/v1/password-reset/confirm', { token, new_password: pw.value });
      pw.value = ''; again.value = '';
      page(h('section', { class: 'card', id: 'reset-done', 'aria-labelledby': 'done-h' },
        h('h1', { id: 'done-h', text: 'Your password was changed' }),
        h('p', { class: 'muted', text: 'Every browser that was signed in to your account has been signed out. Sign in with the new password.' }),
        h('a', { class: 'btn primary', href: '/', text: 'Sign in' })));
    } catch (e) {
      if (e.status === 429) return wait(msg, btn, e.retryAfter || 10);
      if (e.status === 400 && /reset link/.test(e.message)) {
        page(h('section', { class: 'card', id: 'reset-expired', 'aria-labelledby': 'bad-h' },
          h('h1', { id: 'bad-h', text: 'This reset link no longer works' }),
          h('p', { class: 'muted', text: 'It was already used, it is older than 30 minutes, or it was damaged on the way. Ask for a new one.' }),
          h('a', { class: 'btn primary', href: '/reset-password', text: 'Send a new link' })));
        return;
      }
      announce(msg, e.message, 'error'); // the password policy: too short, too common…
      btn.disabled = false;
      pw.select();
    }
  });
  page(form);
  pw.focus();
}

if (token) confirmForm(); else requestForm();
