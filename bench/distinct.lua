-- wrk script: POSTs a distinct JSON body per request, so the proxy's cache
-- and coalescing never help. BODY_KIND=proxy sends {"sequence": ...} (for
-- /proxy_classify), BODY_KIND=direct sends {"sequences": [...]} (for
-- classifyd's /classify). Each wrk thread numbers its own requests.
local counter = 0
local next_id = 0
local kind = os.getenv("BODY_KIND") or "proxy"
-- Read once: the script runs for every request, and the load generator
-- shares the cores with what it measures.
local fixed = os.getenv("FIXED") ~= nil
local ids = tonumber(os.getenv("CLIENT_IDS") or "0")
local headers = {["Content-Type"] = "application/json"}

-- Runs in the main state: gives each thread a global `tid`.
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

function request()
  counter = counter + 1
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
  -- CLIENT_IDS=N: spread the requests over N X-Client-Id values (for
  -- HAProxy's hashing in bench/scaleout.sh).
  if ids > 0 then
    headers["X-Client-Id"] = string.format("c%d", counter % ids)
  end
  return wrk.format("POST", nil, headers, body)
end

-- Prints the figures the bench script reads, in microseconds.
function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.3f rps=%.1f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout))
end
