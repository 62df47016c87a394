// Versions of one "song" for the A/B tests (tests/e2e/version_offset,
// tests/browser/ab): a tone whose pitch says which second of the music is
// playing (400 Hz + 50 Hz per second, 16 steps) and whose level changes
// every 100 ms by a seeded pattern, so that the waveform envelope has a
// shape to line up, except seconds 6 to 8, held at one level (a window to
// compare two versions' loudness in). A version may start with an intro (silence or noise)
// of intro seconds, be louder by gainDb, or use another seed (a different
// song). Test-side only: the bytes are what an owner would upload.
import { wav } from './audio.mjs';

export function level(seed, u) {
  if (u >= 6 && u < 8) return 0.6;
  let x = (seed ^ Math.imul(Math.floor(u * 10), 2654435761)) >>> 0;
  x ^= x >>> 15; x = Math.imul(x, 2246822519) >>> 0; x ^= x >>> 13;
  return 0.15 + 0.85 * ((x >>> 0) % 1000) / 1000;
}

// The pitch (Hz) of musical second u.
export const pitchAt = (u) => 400 + 50 * (Math.floor(u) % 16);

export function song(seconds, { seed = 7, intro = 0, noise = false, gainDb = 0, rate = 44100 } = {}) {
  const g = 10 ** (gainDb / 20) * 9000;
  let phase = 0, rnd = 12345;
  return wav(seconds + intro, {
    rate,
    ch: 2,
    sample: (i) => {
      const u = i / rate - intro;
      if (u < 0) {
        if (!noise) return 0;
        rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0;
        return ((rnd >>> 16) / 32768 - 1) * 800;
      }
      phase += (2 * Math.PI * pitchAt(u)) / rate;
      return g * level(seed, u) * Math.sin(phase);
    },
  });
}
