// peaks.js: BBC audiowaveform .dat (version 1 or 2) -> one channel of
// interleaved min/max values in [-1, 1] for wavesurfer's `peaks` option.
// The worker writes version 2, 16-bit (docs/transcoding.md "Peaks"): a
// 24-byte little-endian header (version, flags 0, sample rate, samples per
// pixel, length in pixels, channels) then per pixel and channel int16 min,
// int16 max; 8-bit files (flags 1: int8 pairs) from before still parse.
// Channels are merged (min of mins, max of maxes): one waveform per track.

const MAX_PIXELS = 8 * 1024 * 1024; // 6 h at 44.1 kHz / 512 is 1.9 M

export function parseDat(buf) {
  const dv = new DataView(buf);
  if (buf.byteLength < 20) throw new Error('peaks: short header');
  const version = dv.getInt32(0, true);
  const flags = dv.getUint32(4, true);
  const sampleRate = dv.getInt32(8, true);
  const samplesPerPixel = dv.getInt32(12, true);
  const length = dv.getUint32(16, true);
  let channels = 1, off = 20;
  if (version === 2) {
    if (buf.byteLength < 24) throw new Error('peaks: short header');
    channels = dv.getInt32(20, true);
    off = 24;
  } else if (version !== 1) {
    throw new Error(`peaks: unknown version ${version}`);
  }
  const bytes = flags & 1 ? 1 : 2;
  if (channels < 1 || channels > 64 || length > MAX_PIXELS || sampleRate <= 0 || samplesPerPixel <= 0)
    throw new Error('peaks: implausible header');
  const avail = Math.floor((buf.byteLength - off) / (2 * bytes * channels));
  const n = Math.min(length, avail);
  const out = new Float32Array(2 * n);
  const scale = bytes === 1 ? 128 : 32768;
  for (let i = 0; i < n; i++) {
    let lo = Infinity, hi = -Infinity;
    for (let c = 0; c < channels; c++) {
      const p = off + (i * channels + c) * 2 * bytes;
      const mn = bytes === 1 ? dv.getInt8(p) : dv.getInt16(p, true);
      const mx = bytes === 1 ? dv.getInt8(p + 1) : dv.getInt16(p + 2, true);
      if (mn < lo) lo = mn;
      if (mx > hi) hi = mx;
    }
    out[2 * i] = lo / scale;
    out[2 * i + 1] = hi / scale;
  }
  return { version, sampleRate, samplesPerPixel, length: n, channels, data: out,
    duration: (n * samplesPerPixel) / sampleRate };
}
