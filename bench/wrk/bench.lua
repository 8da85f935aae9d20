-- wrk script for bench/run.mjs. Arguments (after `--`):
--   static <headers-file>                    the same request every time
--   miss   <headers-file> <tokens-file> <threads> <offset>
--                                            + Cf-Access-Jwt-Assertion: the next unused token
--   storm  <headers-file> <run-id>           + a new identity per request (email header)
-- <headers-file> holds `Name: value` lines. done() prints one line `BENCHJSON {...}` with the
-- totals over all threads: requests, latency percentiles (us), non-200 responses, responses
-- carrying Set-Cookie, and how many requests were issued (tokens used, in miss mode).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local mode, tokens, ntok, nthreads, offset, runid
issued = 0
non200 = 0
setcookie = 0

local function read_headers(file)
  for line in io.lines(file) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then
      wrk.headers[name] = value
    end
  end
end

local function miss_request()
  local i = (offset + id + issued * nthreads) % ntok
  issued = issued + 1
  wrk.headers["Cf-Access-Jwt-Assertion"] = tokens[i + 1]
  return wrk.format()
end

local function storm_request()
  issued = issued + 1
  wrk.headers["Cf-Access-Authenticated-User-Email"] =
    string.format("storm-%s-t%d-%d@example.com", runid, id, issued)
  return wrk.format()
end

function init(args)
  mode = args[1]
  read_headers(args[2])
  if mode == "miss" then
    nthreads = tonumber(args[4])
    offset = tonumber(args[5])
    -- Thread `id` takes global token indices offset+id, offset+id+nthreads, ... (wrapping).
    tokens = {}
    for line in io.lines(args[3]) do
      tokens[#tokens + 1] = line
    end
    ntok = #tokens
  elseif mode == "storm" then
    runid = args[3]
  end
  -- wrk formats the request once per thread unless a global `request` function exists, so
  -- define one for the dynamic modes only (setup() ran before init(): `id` is set).
  if mode == "miss" then
    request = miss_request
  elseif mode == "storm" then
    request = storm_request
  end
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
  for name, _ in pairs(headers) do
    if name:lower() == "set-cookie" then
      setcookie = setcookie + 1
      break
    end
  end
end

function done(summary, latency, requests)
  local t = { issued = 0, non200 = 0, setcookie = 0 }
  for _, thread in ipairs(threads) do
    t.issued = t.issued + (thread:get("issued") or 0)
    t.non200 = t.non200 + (thread:get("non200") or 0)
    t.setcookie = t.setcookie + (thread:get("setcookie") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d},' ..
    '"issued":%d,"non200":%d,"setcookie":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
    t.issued, t.non200, t.setcookie))
end
