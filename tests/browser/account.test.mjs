// The signed-out pages and the e-mail settings in a real browser (issue 8):
// notification switches (account-wide and per project) survive a reload;
// "Forgot password?" → /reset-password → the reset e-mail arrives in the
// SMTP sink (scripts/smtp-test, as tests/e2e/mail.test.mjs uses it) → its
// link sets a new password (a weak one refused, the link single-use) → sign
// in with it; /verify-email with the mailed token and with a bad one; the
// "confirm your address" notice and its resend button. Every page: CSP
// header, no violation, no dialog, no page error, no horizontal scrolling
// on a phone. Skipped without the SMTP sink (python3-aiosmtpd); the
// verification part is skipped when GET /api/v1/account has no
// email_verified (a server without address verification).
//
//   node --test tests/browser/         (AUDIOMUS_BIN picks the binary)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { startApi } from '../e2e/lib/api.mjs';
import { launch, newContext } from './lib.mjs';

const SINK = path.resolve('scripts/smtp-test');
const HAVE_SINK = spawnSync('/usr/bin/python3', ['-c', 'import aiosmtpd']).status === 0;
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const sink = (cmd) => {
  const r = spawnSync(SINK, [cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`smtp-test ${cmd}: ${r.stderr}`);
  return r.stdout.trim();
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The text of every base64 MIME part of the messages to `to` in the sink.
function texts(maildir, to) {
  const dir = path.join(maildir, 'new');
  return fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .filter((raw) => raw.includes(`To: <${to}>`))
    .map((raw) => {
      const subject = /^Subject: (.*)$/m.exec(raw)?.[1] || '';
      const parts = raw.replace(/\r\n/g, '\n').split(/\n--[^\n]+\n/).map((p) => {
        const s = p.indexOf('\n\n');
        return /Content-Transfer-Encoding: base64/i.test(p.slice(0, s)) ? Buffer.from(p.slice(s + 2).replace(/--[^\n]*--\s*$/, ''), 'base64').toString('utf8') : '';
      });
      return { subject, text: parts.join('\n') };
    });
}

// The token of the newest message to `to` whose link goes to `page`.
async function mailedToken(maildir, to, page, seen = new Set(), ms = 30000) {
  const re = new RegExp(`/${page}#token=([A-Za-z0-9_-]+)`);
  const t0 = Date.now();
  for (;;) {
    const hit = texts(maildir, to).map((m) => re.exec(m.text)?.[1]).filter((x) => x && !seen.has(x));
    if (hit.length) return hit.at(-1);
    if (Date.now() - t0 > ms) throw new Error(`no ${page} mail to ${to} within ${ms / 1000} s`);
    await sleep(200);
  }
}

let srv, browser, ctx, page, maildir;
const EMAIL = `lena-${crypto.randomBytes(4).toString('hex')}@example.org`;
const PW1 = 'harbour lights at dawn';
const PW2 = 'a brand new passphrase here';

before(async () => {
  if (!HAVE_SINK) return;
  maildir = sink('start'); // the shared sink; started only if it is not running
  srv = await startApi('sqlite', {
    args: ['--set', 'signup_open=true', '--set', `smtp_url=${sink('url')}`, '--set', `smtp_ca_file=${sink('ca')}`,
      '--set', 'mail_from=Audiomus Test <noreply@review.example.org>'],
  });
  browser = await launch();
  ctx = await newContext(browser);
  ctx.setDefaultTimeout(10000);
  page = await ctx.newPage();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('e-mail settings, password reset and address confirmation', { timeout: 150000, skip: !HAVE_SINK && 'python3-aiosmtpd missing: no SMTP sink' }, async (t) => {
  let failed = false;
  const step = (name, fn, opts = {}) => t.test(name, opts, async (tt) => {
    if (failed) { tt.skip('an earlier step failed'); return; }
    try { await fn(tt); } catch (e) { failed = true; throw e; }
  });
  const account = async () => (await page.request.get(`${srv.origin}/api/v1/account`)).json();

  await step('sign up; the account page explains the notifications, all off', async () => {
    await page.goto(`${srv.origin}/`);
    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.fill('#email', EMAIL);
    await page.fill('#password', PW1);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
    await page.locator('#nav-account').click();
    const card = page.locator('#notifications');
    await card.waitFor();
    await card.getByText('Every one is off until you turn it on').waitFor();
    for (const k of ['comments', 'replies', 'password_locked', 'link_regenerated', 'password_changed', 'new_login']) {
      assert.equal(await page.isChecked(`#notif-${k}`), false, k);
      assert.ok((await page.textContent(`#notif-${k}-help`)).length > 20, `${k} is explained`);
    }
  });

  await step('account-wide switches persist across a reload', async () => {
    await page.getByLabel('New comments').check();
    await page.locator('#notif-status', { hasText: 'Saved' }).waitFor();
    await page.getByLabel('Sign-in from a new browser').check();
    await page.locator('#notif-status', { hasText: 'Sign-in from a new browser: on' }).waitFor();
    await page.reload();
    await page.locator('#notifications').waitFor();
    assert.equal(await page.isChecked('#notif-comments'), true);
    assert.equal(await page.isChecked('#notif-new_login'), true);
    assert.equal(await page.isChecked('#notif-replies'), false);
    const api = (await (await page.request.get(`${srv.origin}/api/v1/account/notifications`)).json()).notifications;
    assert.deepEqual(api, { comments: true, replies: false, password_locked: false, link_regenerated: false, password_changed: false, new_login: true });
  });

  await step('per-project overrides persist across a reload', async () => {
    await page.locator('#nav-projects').click();
    await page.fill('#new-title', 'Tide EP');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.locator('#tracks-empty').waitFor(); // a new project opens on Tracks
    await page.getByRole('tab', { name: 'Settings' }).click();
    const card = page.locator('#project-notifications');
    await card.waitFor();
    assert.equal(await page.inputValue('#pnotif-comments'), 'inherit');
    assert.equal(await page.locator('#pnotif-comments option:checked').textContent(), 'Same as account (on)');
    assert.equal(await page.locator('#pnotif-replies option:checked').textContent(), 'Same as account (off)');
    await page.selectOption('#pnotif-replies', 'on');
    await page.locator('#pnotif-status', { hasText: 'Replies: on for this project' }).waitFor();
    await page.selectOption('#pnotif-comments', 'off');
    await page.locator('#pnotif-status', { hasText: 'New comments: off for this project' }).waitFor();
    await page.reload();
    await page.locator('#project-notifications').waitFor();
    assert.equal(await page.inputValue('#pnotif-replies'), 'on');
    assert.equal(await page.inputValue('#pnotif-comments'), 'off');
    assert.equal(await page.inputValue('#pnotif-link_regenerated'), 'inherit');
  });

  let verifyOn = false;
  await step('an unconfirmed address is announced, with a resend button', async (tt) => {
    const a = await account();
    verifyOn = 'email_verified' in a;
    if (!verifyOn) { tt.skip('this server has no address verification (GET /api/v1/account lacks email_verified)'); return; }
    assert.equal(a.email_verified, false);
    await page.locator('#nav-account').click();
    const banner = page.locator('#verify-banner');
    await banner.getByText('Confirm your address to receive notifications').waitFor();
    await banner.getByRole('button', { name: 'Send the confirmation e-mail again' }).click();
    // Sign-up already sent one: either another is on its way or the limit says when.
    await banner.locator('.status', { hasText: /Sent to|try again in \d+ s/ }).waitFor();
  });

  await step('/verify-email: a bad token is refused clearly, the mailed one confirms', async (tt) => {
    if (!verifyOn) { tt.skip('this server has no address verification (GET /api/v1/account lacks email_verified)'); return; }
    const r = await page.goto(`${srv.origin}/verify-email#token=AAAAnot-a-real-token`);
    assert.equal(r.headers()['content-security-policy'], CSP);
    await page.getByRole('heading', { name: 'This confirmation link does not work' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
    const token = await mailedToken(maildir, EMAIL, 'verify-email');
    await page.goto(`${srv.origin}/verify-email#token=${token}`);
    await page.getByRole('heading', { name: 'Your address is confirmed' }).waitFor();
    assert.equal((await account()).email_verified, true);
    await page.getByRole('link', { name: 'Go to your dashboard' }).click();
    await page.locator('#notifications').waitFor();
    assert.equal(await page.locator('#verify-banner').count(), 0);
  });

  await step('"Forgot password?" → reset e-mail → a weak password refused → new password set, link single-use', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.waitForURL(`${srv.origin}/reset-password`);
    await page.getByRole('heading', { name: 'Reset your password' }).waitFor();
    const seen = new Set(texts(maildir, EMAIL).map((m) => /reset-password#token=([A-Za-z0-9_-]+)/.exec(m.text)?.[1]).filter(Boolean));
    await page.fill('#reset-email', EMAIL);
    await page.getByRole('button', { name: 'Send the reset link' }).click();
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    // The same neutral answer for an address without an account.
    await page.goto(`${srv.origin}/reset-password`);
    await page.fill('#reset-email', `nobody-${crypto.randomBytes(3).toString('hex')}@example.org`);
    await page.getByRole('button', { name: 'Send the reset link' }).click();
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    const token = await mailedToken(maildir, EMAIL, 'reset-password', seen);
    await page.goto(`${srv.origin}/reset-password#token=${token}`);
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
    await page.fill('#new-password', 'password');
    await page.fill('#new-password-again', 'password');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.locator('form .status.error').waitFor();
    assert.match(await page.textContent('form .status.error'), /password/i);
    await page.fill('#new-password', PW2);
    await page.fill('#new-password-again', `${PW2}!`);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByText('The two passwords differ.').waitFor();
    await page.fill('#new-password-again', PW2);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByRole('heading', { name: 'Your password was changed' }).waitFor();
    // The link works once.
    await page.goto(`${srv.origin}/reset-password#token=${token}`);
    await page.fill('#new-password', 'yet another passphrase');
    await page.fill('#new-password-again', 'yet another passphrase');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByRole('heading', { name: 'This reset link no longer works' }).waitFor();
    // Sign in with the new password; the old one is refused.
    await page.goto(`${srv.origin}/`);
    await page.fill('#email', EMAIL);
    await page.fill('#password', PW1);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('form .status.error').waitFor();
    await page.fill('#password', PW2);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Projects', exact: true }).waitFor();
  });

  await step('the signed-out pages on a phone: CSP header, no horizontal scrolling, keyboard reachable', async () => {
    const phone = await newContext(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    for (const u of ['/reset-password#token=abc', '/verify-email', '/reset-password', '/']) {
      const r = await p.goto(`${srv.origin}${u}`);
      assert.equal(r.headers()['content-security-policy'], CSP, u);
      await p.locator('main h1').first().waitFor();
      assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), `${u} scrolls sideways`);
    }
    await p.goto(`${srv.origin}/reset-password`);
    await p.locator('#reset-email').waitFor();
    assert.equal(await p.evaluate(() => document.activeElement.id), 'reset-email', 'the field has focus');
    await p.keyboard.type('x@example.org');
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    // Signed in: the account page and a project's settings fit too.
    await p.goto(`${srv.origin}/`);
    await p.fill('#email', EMAIL);
    await p.fill('#password', PW2);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByText('Tide EP').click();
    await p.getByRole('tab', { name: 'Settings' }).click();
    await p.locator('#project-notifications').waitFor();
    assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'project settings scroll sideways');
    await p.locator('#nav-account').click();
    await p.locator('#notifications').waitFor();
    assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'the account page scrolls sideways');
    assert.deepEqual(phone.record.csp, []);
    assert.deepEqual(phone.record.errors, []);
    await phone.close();
  });

  await step('no dialog fired, no CSP violation, no page error', () => {
    assert.deepEqual(ctx.record.dialogs, []);
    assert.deepEqual(ctx.record.csp, []);
    assert.deepEqual(ctx.record.errors, []);
  });
});
