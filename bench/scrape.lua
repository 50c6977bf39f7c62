-- wrk script: GETs SCRAPE_PATH (default /metrics) in a loop, as a scraper
-- that asks too often would, and prints the figures bench/metrics.sh reads
-- (latencies in microseconds, bytes per answer).
wrk.method = "GET"
wrk.path = os.getenv("SCRAPE_PATH") or "/metrics"

function done(summary, latency, requests)
  local n = math.max(summary.requests, 1)
  io.write(string.format("RESULT requests=%d rps=%.1f p50_us=%d p99_us=%d bytes=%d errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), math.floor(summary.bytes / n),
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout))
end
