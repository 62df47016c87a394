-- wrk script for bench/review_api.sh (issue 18): each request asks for the next
-- path of a list, so the server cannot answer from a cache of recent answers.
-- Thread k of N takes lines k+1, k+1+N, ... of the file: no two threads ask for
-- the same path at nearly the same time (one thread's answer would be the
-- other's cache hit). The requests are formatted once, in init. wrk's -H
-- headers go with every request. At the end the exact byte count and duration,
-- as bench/wrk_bytes.lua prints them (bench/wm_serve.sh's CPU per GiB needs
-- the bytes; bench/lib.sh's wrk_mibps prefers them).
--   wrk -t2 ... -s bench/rotate.lua https://HOST:PORT -- PATHS-FILE 2
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
  if #reqs == 0 then error("rotate.lua: no paths for thread " .. id) end
end

function request()
  local r = reqs[i]
  i = i % #reqs + 1
  return r
end

function done(summary, latency, requests)
  io.write(string.format("wrk_bytes %d %d\n", summary.bytes, summary.duration))
end
