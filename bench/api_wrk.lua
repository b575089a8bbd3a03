-- wrk script for the closed-loop phases of bench/api.py; not meant to be run on its own.
--
--   wrk -t1 -c32 -d10s --latency -s bench/api_wrk.lua https://127.0.0.1:PORT -- REQUESTS_FILE
--
-- REQUESTS_FILE holds tab-separated lines: "H<TAB>Name<TAB>value" is a header sent with every
-- request; "R<TAB>METHOD<TAB>PATH<TAB>BODY" is one request (BODY may be empty). The requests are
-- sent in turn, round and round. At the end one line is printed,
--   confida-bench-status 2xx=N 503=N 503_retry_after=N 5xx=N other=N
-- counting the responses by status (5xx there leaves the 503s out; 503_retry_after counts the
-- 503s that carried a Retry-After header).

local threads = {}
local requests = {}
local count = 0
local next_one = 0

-- globals, one set per wrk thread: done() collects them with thread:get
c2xx, c503, c503ra, c5xx, cother = 0, 0, 0, 0, 0

local function split(line)
  local out = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    out[#out + 1] = field
  end
  return out
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local headers = {}
  local items = {}
  for line in io.lines(args[1]) do
    local f = split(line)
    if f[1] == "H" then
      headers[f[2]] = f[3]
    elseif f[1] == "R" then
      items[#items + 1] = f
    end
  end
  for _, f in ipairs(items) do
    local body = f[4]
    if body == nil or body == "" then
      body = nil
    end
    count = count + 1
    requests[count] = wrk.format(f[2], f[3], headers, body)
  end
  if count == 0 then
    error("no requests in " .. args[1])
  end
end

function request()
  next_one = next_one % count + 1
  return requests[next_one]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    c2xx = c2xx + 1
  elseif status == 503 then
    c503 = c503 + 1
    for name, _ in pairs(headers) do
      if name:lower() == "retry-after" then
        c503ra = c503ra + 1
        break
      end
    end
  elseif status >= 500 then
    c5xx = c5xx + 1
  else
    cother = cother + 1
  end
end

function done(summary, latency, requests_)
  local t = {c2xx = 0, c503 = 0, c503ra = 0, c5xx = 0, cother = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(t) do
      t[name] = t[name] + (thread:get(name) or 0)
    end
  end
  io.write(string.format("confida-bench-status 2xx=%d 503=%d 503_retry_after=%d 5xx=%d other=%d\n",
    t.c2xx, t.c503, t.c503ra, t.c5xx, t.cother))
end
