// seamless.js: renewing a playing stream's signed URL without a dropout
// (review page, browser side; the URLs come from GET /api/v1/s/{token}/urls).
//
// Setting audio.src on a playing element restarts its pipeline: ~0.2 s of
// silence at every renewal. Instead prepareTwin() opens the new URL in a
// second, muted <audio> beside the playing one, starts it a little ahead and
// steers its playbackRate until both elements report the same position
// (within 5 ms); the Player then unmutes the twin and pauses the old element
// in one task (Player.commitTwin). The listener hears no gap and no jump.
// If the twin cannot be made ready in time, the caller falls back to the
// plain src swap.

const ALIGNED_S = 0.005;  // done when the twin is within 5 ms of the original
const LEAD_S = 0.15;      // the twin starts this far ahead (seeking costs time)
const GIVE_UP_MS = 8000;  // then the caller swaps the plain way
const SETTLE_MS = 250;    // aligned at the normal rate for this long first

function until(el, event, signal, ms) {
  return new Promise((resolve, reject) => {
    const done = (ok, why) => {
      clearTimeout(t);
      el.removeEventListener(event, onEv);
      el.removeEventListener('error', onErr);
      signal.removeEventListener('abort', onAbort);
      if (ok) resolve(); else reject(new Error(why));
    };
    const onEv = () => done(true);
    const onErr = () => done(false, 'twin: media error');
    const onAbort = () => done(false, 'twin: aborted');
    const t = setTimeout(() => done(false, `twin: no ${event}`), ms);
    el.addEventListener(event, onEv);
    el.addEventListener('error', onErr);
    signal.addEventListener('abort', onAbort);
  });
}

// Steer twin.playbackRate until twin and original read the same time, and
// still do after SETTLE_MS at the original's rate (a rate change takes a
// moment to reach the reported position).
function align(orig, twin, signal, deadline) {
  return new Promise((resolve, reject) => {
    let since = 0;
    const step = () => {
      if (signal.aborted) return reject(new Error('twin: aborted'));
      const rate = orig.playbackRate, now = performance.now();
      const d = twin.currentTime - orig.currentTime;
      if (Math.abs(d) < ALIGNED_S * rate) {
        twin.playbackRate = rate;
        since = since || now;
      } else {
        since = 0;
        twin.playbackRate = rate * (1 - Math.max(-0.5, Math.min(0.5, d * 8)));
      }
      if (orig.paused || (since && now - since >= SETTLE_MS) || now > deadline) {
        twin.playbackRate = rate;
        return resolve(d);
      }
      setTimeout(step, 8);
    };
    step();
  });
}

// A muted twin of orig playing the same moment from url, inserted after
// orig (no id), or a rejected promise (aborted by signal, media error, not
// ready within GIVE_UP_MS; the twin is removed then). The caller owns the
// twin and decides when it becomes audible.
export async function prepareTwin(orig, url, signal) {
  const deadline = performance.now() + GIVE_UP_MS;
  const twin = document.createElement('audio');
  twin.preload = 'auto';
  twin.loop = orig.loop;
  twin.volume = 0;
  twin.preservesPitch = orig.preservesPitch;
  twin.defaultPlaybackRate = orig.defaultPlaybackRate;
  twin.playbackRate = orig.playbackRate;
  twin.src = url;
  orig.after(twin);
  try {
    await until(twin, 'loadedmetadata', signal, GIVE_UP_MS);
    twin.currentTime = Math.min(orig.currentTime + LEAD_S * orig.playbackRate, twin.duration || Infinity);
    await until(twin, 'seeked', signal, Math.max(1, deadline - performance.now()));
    await twin.play();
    await align(orig, twin, signal, deadline);
    return twin;
  } catch (e) {
    discard(twin);
    throw e;
  }
}

// Stop an element for good and take it out of the page.
export function discard(el) {
  el.pause();
  el.removeAttribute('src');
  el.load();
  el.remove();
}
