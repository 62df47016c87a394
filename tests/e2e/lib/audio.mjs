// Generated audio for the black-box suites (tests/e2e, tests/security,
// tests/cluster, tests/browser): a 16-bit PCM WAV file built in memory, so
// that no test needs a fixture on disk to upload real, decodable audio.
// Test-side only: the bytes are what an owner would upload.

// `seconds` of 16-bit PCM (frames = seconds * rate, rounded). By default a
// 440 Hz sine of peak 12000 (about -8.7 dBFS), stereo at 44.1 kHz.
//   freq, amp  the sine's frequency (Hz) and peak (of 32767)
//   rate, ch   sample rate (Hz) and channel count
//   sample(i)  instead of the sine: frame i's value, the same on every
//              channel, or an array of one value per channel (rounded)
//   marker     a string written into the PCM every 4 KiB from byte 44 + 1024
//              on: a click to the ear, a needle to look for in stored bytes
export function wav(seconds, { freq = 440, amp = 12000, rate = 44100, ch = 2, sample, marker } = {}) {
  const frames = Math.round(seconds * rate), n = frames * ch * 2;
  const b = Buffer.alloc(44 + n);
  b.write('RIFF', 0); b.writeUInt32LE(36 + n, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(ch, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * ch * 2, 28); b.writeUInt16LE(ch * 2, 32);
  b.writeUInt16LE(16, 34); b.write('data', 36); b.writeUInt32LE(n, 40);
  const at = sample || ((i) => amp * Math.sin((2 * Math.PI * freq * i) / rate));
  for (let i = 0; i < frames; i++) {
    const s = at(i);
    for (let c = 0; c < ch; c++) b.writeInt16LE(Math.round(Array.isArray(s) ? s[c] : s), 44 + (i * ch + c) * 2);
  }
  if (marker) for (let off = 44 + 1024; off + marker.length < b.length; off += 4096) b.write(marker, off, 'latin1');
  return b;
}
