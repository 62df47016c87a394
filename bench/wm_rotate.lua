-- wrk script for bench/wm_serve.sh (issue 26): each request asks for the next
-- listener's stream URL of a list (each URL carries its own mark ticket, so
-- each request is another listener's splice of A and B), thread k of N taking
-- lines k+1, k+1+N, ... as bench/rotate.lua does; wrk's -H headers (Range)
-- go with every request. At the end the exact byte count and duration, as
-- bench/wrk_bytes.lua prints them (CPU-seconds per GiB needs the bytes).
--   wrk -t2 ... -s bench/wm_rotate.lua https://HOST:PORT -- PATHS-FILE 2
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local reqs, i = {}, 1

function init(args)
  local n = tonumber(args[2]) or 1
  local k = 0
  for line in io.lines(args[1]) do
    if line ~= "" then
      if k % n == id then reqs[#reqs + 1] = wrk.format("GET", line) end
      k = k + 1
    end
  end
  if #reqs == 0 then error("wm_rotate.lua: no paths for thread " .. id) end
end

function request()
  local r = reqs[i]
  i = i % #reqs + 1
  return r
end

function done(summary, latency, requests)
  io.write(string.format("wrk_bytes %d %d\n", summary.bytes, summary.duration))
end
