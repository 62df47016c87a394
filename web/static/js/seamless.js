// seamless.js: lining a second, silent <audio> element up with the playing
// one to within a few milliseconds (review page, browser side), for the
// hand-over of ab.js when the two elements play the same audio: a renewed
// signed URL (GET /api/v1/s/{token}/urls). There a residue of even 20 ms
// would be heard as a skip or an echo through the crossfade; A/B between
// two mixes needs no more than its own 40 ms.
//
// align() steers the element's playbackRate until both report the same
// musical position (within ALIGNED_S) and still do after SETTLE_MS at the
// normal rate (a rate change takes a moment to reach the reported position).

const ALIGNED_S = 0.005;  // done when within 5 ms
const SETTLE_MS = 250;    // aligned at the normal rate for this long first

// Steer el until el.currentTime = ref.currentTime + shift (s); resolves
// with the residue (s) when aligned, when ref pauses, or at deadline
// (performance.now() ms); rejects when stale() becomes true.
export function align(ref, el, shift, deadline, stale) {
  return new Promise((resolve, reject) => {
    let since = 0;
    const step = () => {
      if (stale()) { el.playbackRate = ref.playbackRate; return reject(new Error('align: overtaken')); }
      const rate = ref.playbackRate, now = performance.now();
      const d = el.currentTime - (ref.currentTime + shift);
      if (Math.abs(d) < ALIGNED_S * rate) {
        el.playbackRate = rate;
        since = since || now;
      } else {
        since = 0;
        el.playbackRate = rate * (1 - Math.max(-0.5, Math.min(0.5, d * 8)));
      }
      if (ref.paused || (since && now - since >= SETTLE_MS) || now > deadline) {
        el.playbackRate = rate;
        return resolve(d);
      }
      setTimeout(step, 8);
    };
    step();
  });
}
