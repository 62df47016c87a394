// Synthesised music-like audio for the watermark tests (tests/e2e/
// watermark.test.mjs): chords with harmonics, a bass line, kick, snare and
// hi-hat, a little noise, stereo, deterministic from a seed. Realistic enough
// that the mark has to hide in a changing spectrum with quiet gaps and
// transients, small enough to make in well under a second. Test-side only.
import { wav } from './audio.mjs';

function rng(seed) {
  let s = (seed >>> 0) || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}

// Float samples [frames][2] of `seconds` at `rate`.
export function music(seconds, { seed = 1, rate = 44100, bpm = 112 } = {}) {
  const r = rng(seed), frames = Math.round(seconds * rate);
  const beat = 60 / bpm, bar = 4 * beat;
  const roots = [0, 5, 7, 3, 8, 10].map((x) => x + Math.floor(r() * 5));
  const chordOf = (k) => { const root = 48 + roots[k % roots.length]; return [root, root + 4 - (k % 2), root + 7, root + 12]; };
  const hz = (m) => 440 * 2 ** ((m - 69) / 12);
  const L = new Float32Array(frames), R = new Float32Array(frames);
  let hat = 0, snare = 0, lp = 0;
  for (let i = 0; i < frames; i++) {
    const t = i / rate, k = Math.floor(t / bar), notes = chordOf(k);
    const tb = t % beat, nb = Math.floor(t / beat) % 4;
    let v = 0;
    for (let n = 0; n < notes.length; n++) {
      const f = hz(notes[n]), env = 0.6 + 0.4 * Math.exp(-3 * (t % bar));
      for (let h = 1; h <= 6; h++) v += (env * 0.05 / h) * Math.sin(2 * Math.PI * f * h * t + n + h);
    }
    v += 0.12 * Math.sin(2 * Math.PI * hz(notes[0] - 12) * t) * Math.exp(-2 * tb);
    if (nb === 0 || nb === 2) v += 0.35 * Math.sin(2 * Math.PI * (50 + 120 * Math.exp(-30 * tb)) * tb) * Math.exp(-12 * tb);
    const noise = r() * 2 - 1;
    if (nb === 1 || nb === 3) { snare = 0.2 * Math.exp(-18 * tb); } else snare = 0;
    hat = 0.06 * Math.exp(-60 * (t % (beat / 2)));
    lp += 0.3 * (noise - lp);
    v += snare * lp + hat * (noise - lp) + 0.002 * noise;
    L[i] = v * 0.8 + 0.05 * Math.sin(2 * Math.PI * hz(notes[2] + 12) * t);
    R[i] = v * 0.8 + 0.05 * Math.sin(2 * Math.PI * hz(notes[1] + 12) * t);
  }
  return { L, R, rate };
}

// A 16-bit stereo WAV of music(seconds, opts).
export function musicWav(seconds, opts = {}) {
  const { L, R, rate } = music(seconds, opts);
  return wav(seconds, { rate, ch: 2, sample: (i) => [L[i] * 32767, R[i] * 32767].map((x) => Math.max(-32768, Math.min(32767, x))) });
}
