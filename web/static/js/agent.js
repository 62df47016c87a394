// agent.js: a session's User-Agent string as "Chrome on macOS" for the
// account page's sessions list (the raw string stays in a title attribute).
// A small ordered table, first match wins: browsers that embed another's
// token (Edge and Opera say "Chrome", Chrome says "Safari") come before it.
// Input is the server's copy of what a browser sent: treated as text only.

const BROWSERS = [
  [/\bEdg(e|A|iOS)?\//, 'Edge'],
  [/\b(OPR|Opera)\//, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bVivaldi\//, 'Vivaldi'],
  [/\b(Firefox|FxiOS)\//, 'Firefox'],
  [/\b(HeadlessChrome|Chrome|CriOS)\//, 'Chrome'],
  [/\bChromium\//, 'Chromium'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/\bcurl\//, 'curl'],
];

const SYSTEMS = [
  [/\bWindows NT\b|\bWindows\b/, 'Windows'],
  [/\b(iPhone|iPod)\b/, 'iOS'],
  [/\biPad\b/, 'iPadOS'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b|\bX11\b/, 'Linux'],
];

const first = (table, ua) => (table.find(([re]) => re.test(ua)) || [])[1] || null;

// "Browser on OS", "Browser", "a browser on OS", or null when nothing is known.
export function agentName(ua) {
  if (!ua) return null;
  const b = first(BROWSERS, ua);
  const os = first(SYSTEMS, ua);
  if (b && os) return `${b} on ${os}`;
  if (b) return b;
  return os ? `A browser on ${os}` : null;
}
