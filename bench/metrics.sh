#!/usr/bin/env bash
# What looping scrapers of /metrics cost batchproxy with many client ids:
#  1. BENCH_CLIENT_IDS (default 1100) X-Client-Id values send requests
#     (wrk, distinct strings, zero-cost classifyd, the proxy's cache off);
#  2. one /metrics answer: its size and the client label values in it (and
#     the size of /stats);
#  3. one connection scraping /metrics in a loop: latency per scrape and the
#     proxy's CPU time per scrape (from /proc: the render and the send, on
#     its only thread);
#  4. classify latency (one connection, one request at a time, spread over
#     the same client ids) alone, then while 4 connections loop on /metrics.
# Usage: bench/metrics.sh [BUILD_DIR [BATCHPROXY FLAGS...]]
#   e.g. bench/metrics.sh build --metrics-cache-ms 0   (render every scrape)
set -euo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
out=$build/bench
mkdir -p "$out"
seconds=${BENCH_SECONDS:-5}
ids=${BENCH_CLIENT_IDS:-1100}

# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
# shellcheck source=bench/wrk.sh
. "$here/wrk.sh"
trap bp_stop_all EXIT INT TERM

bp_start "$out/classifyd.log" "$build/classifyd" --cost 0 --quiet
backend=$BP_PORT
bp_start "$out/batchproxy.log" "$build/batchproxy" --backend "http://127.0.0.1:$backend" \
  --cache-size 0 --log-level warn "$@"
proxy=$BP_PORT
pid=$BP_PID
url=http://127.0.0.1:$proxy

# Every client id is used: each wrk thread cycles through all of them.
CLIENT_IDS=$ids POOL=$((ids * 10)) bench_wrk "$url/proxy_classify" proxy 8 2 3 >/dev/null
curl -sf "$url/metrics" >"$out/metrics.txt"
echo "== one /metrics answer ($ids client ids; flags: ${*:-none})"
echo "  $(wc -c <"$out/metrics.txt") bytes, $(grep -c -v '^#' "$out/metrics.txt") samples," \
  "$(grep -o 'client="[^"]*"' "$out/metrics.txt" | sort -u | wc -l) client label values"

echo "  (/stats: $(curl -sf "$url/stats" | wc -c) bytes)"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

echo "== one connection scraping /metrics for ${seconds}s"
t0=$(cpu_ticks "$pid")
line=$(wrk -t1 -c1 -d"$seconds"s -s "$here/scrape.lua" "$url/metrics" | grep '^RESULT')
t1=$(cpu_ticks "$pid")
n=$(echo "$line" | bench_field requests)
echo "  $n scrapes, p50 $(echo "$line" | bench_field p50_us) us, p99 $(echo "$line" | bench_field p99_us) us;" \
  "proxy CPU $(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN {printf "%.3f", 1000 * t / hz / n}') ms a scrape"

classify() { CLIENT_IDS=$ids bench_wrk "$url/proxy_classify" proxy 1 1 "$seconds"; }
echo "== classify, one request at a time, ${seconds}s"
line=$(classify)
echo "  alone:                       p50 $(echo "$line" | bench_field p50_us) us, p99 $(echo "$line" | bench_field p99_us) us"
wrk -t1 -c4 -d$((seconds + 2))s -s "$here/scrape.lua" "$url/metrics" >"$out/scrapers.txt" &
scrapers=$!
sleep 1
t0=$(cpu_ticks "$pid")
line=$(classify)
t1=$(cpu_ticks "$pid")
wait "$scrapers"
s=$(grep '^RESULT' "$out/scrapers.txt")
echo "  with 4 looping /metrics:     p50 $(echo "$line" | bench_field p50_us) us, p99 $(echo "$line" | bench_field p99_us) us" \
  "($(echo "$s" | bench_field rps | xargs printf '%.0f') scrapes/s answered; proxy CPU" \
  "$(awk -v t=$((t1 - t0)) -v hz="$hz" -v s="$seconds" 'BEGIN {printf "%.0f", 100 * t / hz / s}') %)"
