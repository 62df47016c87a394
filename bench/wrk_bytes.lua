-- wrk script for bench/media_stream.sh: print the exact byte count and
-- duration at the end. wrk's own "Transfer/sec: 1.21GB" has three significant
-- digits (a step of 10 MiB/s, ~0.8 % at 1.2 GiB/s: enough to move a ratio
-- across 0.9). Defines no request(), so wrk keeps its static request.
function done(summary, latency, requests)
  io.write(string.format("wrk_bytes %d %d\n", summary.bytes, summary.duration))
end
