// theme.js: the colour scheme switch (System / Light / Dark) of every page,
// in the browser, no trust boundary (a preference in localStorage,
// 'audiomus.theme'; nothing is sent to the server).
// A classic script in <head>, neither a module nor deferred: it runs before
// the body is parsed, so the stored choice is on <html data-theme> before
// the first frame (no flash of the other scheme) and the CSP needs no inline
// script. app.css: no data-theme follows prefers-color-scheme, "light" and
// "dark" force one. The switch itself is added to the page's top bar once
// the document is parsed; changing it also recolours a waveform on screen
// (wavesurfer reads its colours from the CSS variables when it is created).
(function () {
  'use strict';
  var KEY = 'audiomus.theme';
  var root = document.documentElement;

  function stored() {
    var v = null;
    try { v = localStorage.getItem(KEY); } catch (e) { /* storage off: follow the system */ }
    return v === 'light' || v === 'dark' ? v : 'system';
  }

  function apply(v) {
    if (v === 'light' || v === 'dark') root.setAttribute('data-theme', v);
    else root.removeAttribute('data-theme');
  }

  function recolourWave() {
    var p = window.audiomus && window.audiomus.player;
    if (!p || !p.ws || !p.ws.setOptions) return;
    var css = getComputedStyle(root);
    var get = function (n) { return css.getPropertyValue(n).trim(); };
    p.ws.setOptions({ waveColor: get('--wave'), progressColor: get('--wave-progress'), cursorColor: get('--wave-cursor') });
  }

  function choose(v) {
    try {
      if (v === 'system') localStorage.removeItem(KEY); else localStorage.setItem(KEY, v);
    } catch (e) { /* private mode: for this page only */ }
    apply(v);
    recolourWave();
  }

  function build() {
    var bar = document.querySelector('.topbar');
    if (!bar || document.getElementById('theme-switch')) return;
    var wrap = document.createElement('span');
    wrap.className = 'theme-pick';
    var label = document.createElement('label');
    label.htmlFor = 'theme-switch';
    label.className = 'sr-only';
    label.textContent = 'Colour scheme';
    var sel = document.createElement('select');
    sel.id = 'theme-switch';
    sel.title = 'Colour scheme';
    [['system', 'System'], ['light', 'Light'], ['dark', 'Dark']].forEach(function (o) {
      var opt = document.createElement('option');
      opt.value = o[0];
      opt.textContent = o[1];
      sel.appendChild(opt);
    });
    sel.value = stored();
    sel.addEventListener('change', function () { choose(sel.value); });
    window.addEventListener('storage', function (e) {
      if (e.key !== KEY && e.key !== null) return;
      sel.value = stored();
      apply(sel.value);
      recolourWave();
    });
    wrap.appendChild(label);
    wrap.appendChild(sel);
    bar.appendChild(wrap);
  }

  apply(stored());
  if (window.matchMedia) {
    var mq = window.matchMedia('(prefers-color-scheme: light)');
    var onOs = function () { if (stored() === 'system') recolourWave(); };
    if (mq.addEventListener) mq.addEventListener('change', onOs);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', build);
  else build();
}());
