#!/usr/bin/env bash
# Benchmarks of the proxy's own overhead, run side by side in one go, with
# nginx as the ceiling: the best an HTTP server does on this machine,
# answering a fixed 200 with the proxy's small JSON body (bench/nginx.sh;
# one worker against batchproxy's one event loop).
#  1. added latency: one client, one request at a time, straight to classifyd
#     vs through batchproxy (both with --cost 0), and straight to nginx,
#     several alternating rounds; medians of the per-round medians. The
#     added latency (via proxy - direct) is then divided by nginx's: how
#     many of the cheapest possible HTTP round trips the proxy adds (a
#     proxy adds at least one hop, so 1 x is the floor);
#  2. throughput: the highest request rate batchproxy sustains in front of a
#     zero-cost classifyd, distinct strings (no cache hits), wrk with 64
#     connections, rounds alternating with nginx under the same load (same
#     script, connections, threads, duration, keep-alive); batchproxy's
#     requests/s as a share of nginx's (median of the per-round ratios).
# Usage: bench/overhead.sh [BUILD_DIR]   (part of make bench; needs wrk and
#        nginx: scripts/deps.sh bench; exit 77 when either is missing)
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
# shellcheck source=bench/nginx.sh
. "$here/nginx.sh"
for tool in wrk "$BENCH_NGINX_BIN"; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: overhead: $tool is not installed (scripts/deps.sh bench installs it)" >&2
    exit 77
  fi
done
ngx_dir=$(mktemp -d)
trap 'bp_stop_all; rm -rf "$ngx_dir"' EXIT
trap 'exit 130' INT TERM

bench_zero_cost "$build" "$out"
backend=$BENCH_BACKEND
proxy=$BENCH_PROXY
bench_nginx_start "$ngx_dir"
nginx=$BENCH_NGINX

echo "== added latency (one request at a time, --cost 0, $rounds rounds of ${seconds}s each, alternating)"
: >"$out/latency.txt"
for r in $(seq 1 "$rounds"); do
  d=$(bench_wrk "http://127.0.0.1:$backend/classify" direct 1 1 "$seconds" | bench_field p50_us)
  p=$(bench_wrk "http://127.0.0.1:$proxy/proxy_classify" proxy 1 1 "$seconds" | bench_field p50_us)
  n=$(bench_wrk "http://127.0.0.1:$nginx/proxy_classify" proxy 1 1 "$seconds" | bench_field p50_us)
  echo "$d $p $n" >>"$out/latency.txt"
  printf '  round %d: direct p50 %6d us   via proxy p50 %6d us   added %6d us   nginx p50 %6d us\n' \
    "$r" "$d" "$p" $((p - d)) "$n"
done
direct_med=$(cut -d' ' -f1 "$out/latency.txt" | bp_median)
proxy_med=$(cut -d' ' -f2 "$out/latency.txt" | bp_median)
nginx_med=$(cut -d' ' -f3 "$out/latency.txt" | bp_median)
added=$(awk -v a="$proxy_med" -v b="$direct_med" 'BEGIN {print a - b}')
echo "  median p50: direct ${direct_med} us, via proxy ${proxy_med} us, added ${added} us (target <= 200)"
awk -v a="$added" -v n="$nginx_med" -v p="$proxy_med" 'BEGIN {
  printf "  ceiling: one hop to nginx %s us; batchproxy adds %.2f x one nginx hop (1 x is the floor for any proxy); wrk -> batchproxy -> classifyd takes %.2f x wrk -> nginx\n",
  n, a / n, p / n}'

echo "== throughput (distinct strings, zero-cost backend, wrk -t2 -c64, $rounds rounds of ${seconds}s, alternating with nginx)"
: >"$out/throughput.txt"
for r in $(seq 1 "$rounds"); do
  line=$(bench_throughput "http://127.0.0.1:$proxy/proxy_classify" "$seconds")
  rps=$(echo "$line" | bench_field rps)
  errors=$(echo "$line" | bench_field errors)
  nline=$(bench_throughput "http://127.0.0.1:$nginx/proxy_classify" "$seconds")
  nrps=$(echo "$nline" | bench_field rps)
  nerrors=$(echo "$nline" | bench_field errors)
  echo "$rps $nrps" >>"$out/throughput.txt"
  printf '  round %d: %8.0f requests/s (%s errors)   nginx %8.0f requests/s (%s errors)   %5.1f %%\n' \
    "$r" "$rps" "$errors" "$nrps" "$nerrors" "$(awk -v a="$rps" -v b="$nrps" 'BEGIN {print 100 * a / b}')"
done
med_rps=$(cut -d' ' -f1 "$out/throughput.txt" | bp_median)
med_nginx=$(cut -d' ' -f2 "$out/throughput.txt" | bp_median)
share=$(awk '{print 100 * $1 / $2}' "$out/throughput.txt" | bp_median)
echo "  median: $(printf '%.0f' "$med_rps") requests/s (target >= 20000)"
printf '  ceiling: nginx %.0f requests/s; batchproxy = %.1f %% of nginx'"'"'s requests/s (median of the per-round ratios)\n' \
  "$med_nginx" "$share"
