#!/usr/bin/env bash
# Benchmarks of the proxy's own overhead, run side by side in one go:
#  1. added latency: one client, one request at a time, straight to classifyd
#     vs through batchproxy (both with --cost 0), several alternating rounds;
#     medians of the per-round medians;
#  2. throughput: the highest request rate batchproxy sustains in front of a
#     zero-cost classifyd, distinct strings (no cache hits), wrk with 64
#     connections.
# Usage: bench/overhead.sh [BUILD_DIR]   (part of make bench)
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
out=$build/bench
mkdir -p "$out"
rounds=${BENCH_ROUNDS:-5}
seconds=${BENCH_SECONDS:-3}

# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
# shellcheck source=bench/wrk.sh
. "$here/wrk.sh"
trap bp_stop_all EXIT INT TERM

bench_zero_cost "$build" "$out"
backend=$BENCH_BACKEND
proxy=$BENCH_PROXY

echo "== added latency (one request at a time, --cost 0, $rounds rounds of ${seconds}s each, alternating)"
: >"$out/latency.txt"
for r in $(seq 1 "$rounds"); do
  d=$(bench_wrk "http://127.0.0.1:$backend/classify" direct 1 1 "$seconds" | bench_field p50_us)
  p=$(bench_wrk "http://127.0.0.1:$proxy/proxy_classify" proxy 1 1 "$seconds" | bench_field p50_us)
  echo "$d $p" >>"$out/latency.txt"
  printf '  round %d: direct p50 %6d us   via proxy p50 %6d us   added %6d us\n' "$r" "$d" "$p" $((p - d))
done
direct_med=$(cut -d' ' -f1 "$out/latency.txt" | bp_median)
proxy_med=$(cut -d' ' -f2 "$out/latency.txt" | bp_median)
added=$(awk -v a="$proxy_med" -v b="$direct_med" 'BEGIN {print a - b}')
echo "  median p50: direct ${direct_med} us, via proxy ${proxy_med} us, added ${added} us (target <= 200)"

echo "== throughput (distinct strings, zero-cost backend, wrk -t2 -c64, $rounds rounds of ${seconds}s)"
: >"$out/throughput.txt"
for r in $(seq 1 "$rounds"); do
  line=$(bench_throughput "http://127.0.0.1:$proxy/proxy_classify" "$seconds")
  rps=$(echo "$line" | bench_field rps)
  errors=$(echo "$line" | bench_field errors)
  echo "$rps" >>"$out/throughput.txt"
  printf '  round %d: %8.0f requests/s (%s errors)\n' "$r" "$rps" "$errors"
done
echo "  median: $(bp_median <"$out/throughput.txt" | xargs printf '%.0f') requests/s (target >= 20000)"
