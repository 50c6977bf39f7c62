-- wrk script: POSTs a distinct JSON body per request, so the proxy's cache
-- and coalescing never help. BODY_KIND=proxy sends {"sequence": ...} (for
-- /proxy_classify), BODY_KIND=direct sends {"sequences": [...]} (for
-- classifyd's /classify).
--
-- Each thread formats POOL requests (default 50000) once, before the run,
-- and sends them in turn: the load generator shares the cores with what it
-- measures, and formatting a request in Lua each time slowed it down. A
-- thread's text comes back only after POOL of its requests, far more than
-- can ever be queued or in flight at once (so coalescing can't merge them)
-- and than the proxy's default cache holds; the throughput benchmark runs
-- the proxy with its cache off anyway.
local next_id = 0
local kind = os.getenv("BODY_KIND") or "proxy"
local fixed = os.getenv("FIXED") ~= nil
local ids = tonumber(os.getenv("CLIENT_IDS") or "0")
local pool = tonumber(os.getenv("POOL") or "50000")
local reqs = {}
local i = 0

-- Runs in the main state: gives each thread a global `tid`.
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

function init(args)
  for counter = 1, pool do
    local text = string.format("seq %d-%d", tid, counter)
    -- FIXED=1: every text 13 code points long, so throughput doesn't depend
    -- on which lengths a policy happens to pick from a deep queue.
    if fixed then
      text = string.format("seq %d-%07d", tid % 10, counter % 10000000)
    end
    local body
    if kind == "direct" then
      body = '{"sequences":["' .. text .. '"]}'
    else
      body = '{"sequence":"' .. text .. '"}'
    end
    local headers = {["Content-Type"] = "application/json"}
    -- CLIENT_IDS=N: spread the requests over N X-Client-Id values (for
    -- HAProxy's hashing in bench/scaleout.sh).
    if ids > 0 then
      headers["X-Client-Id"] = string.format("c%d", counter % ids)
    end
    reqs[counter] = wrk.format("POST", nil, headers, body)
  end
end

function request()
  i = i % pool + 1
  return reqs[i]
end

-- Prints the figures the bench script reads, in microseconds.
function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.3f rps=%.1f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout))
end
