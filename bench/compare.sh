#!/usr/bin/env bash
# Throughput of two builds side by side, for performance work: alternating
# rounds, each build with its own zero-cost classifyd and batchproxy
# (--cache-size 0) under the load of overhead.sh's throughput test (wrk,
# 64 connections, distinct strings). Each round prints requests/s and the
# proxy's CPU time per request (user + system, from /proc); then the medians
# and the median of the per-round ratios B/A. Alternating rounds in one run
# is what makes the ratio meaningful on a shared, noisy machine.
# Usage: bench/compare.sh BUILD_A BUILD_B [ROUNDS]   (default 7 rounds of
#        BENCH_SECONDS, default 3)
# Example: git worktree add /tmp/before HEAD~3 && cmake -S /tmp/before -B
#          /tmp/before/build && make -C /tmp/before/build batchproxy classifyd
#          && bench/compare.sh /tmp/before/build build
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
a=$1 b=$2 rounds=${3:-7}
seconds=${BENCH_SECONDS:-3}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
# shellcheck source=bench/wrk.sh
. "$here/wrk.sh"
trap 'bp_stop_all; rm -rf "$out"' EXIT INT TERM
hz=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

round() { # BUILD -> "rps proxy_us_per_request"
  bench_zero_cost "$1" "$out"
  local before rps after
  before=$(cpu_ticks "$BENCH_PROXY_PID")
  rps=$(bench_throughput "http://127.0.0.1:$BENCH_PROXY/proxy_classify" "$seconds" | bench_field rps)
  after=$(cpu_ticks "$BENCH_PROXY_PID")
  bp_stop_all
  awk -v r="$rps" -v t=$((after - before)) -v hz="$hz" -v s="$seconds" \
    'BEGIN {printf "%.0f %.1f\n", r, t / hz / (r * s) * 1e6}'
}

echo "== throughput, A = $a, B = $b ($rounds alternating rounds of ${seconds}s)"
printf '  %-7s %10s %12s %10s %12s %8s\n' round "A req/s" "A us/req" "B req/s" "B us/req" "B/A"
: >"$out/rounds"
for r in $(seq 1 "$rounds"); do
  ra=$(round "$a")
  rb=$(round "$b")
  echo "$ra $rb" >>"$out/rounds"
  read -r a_rps a_us b_rps b_us <<<"$ra $rb"
  printf '  %-7s %10s %12s %10s %12s %8.3f\n' "$r" "$a_rps" "$a_us" "$b_rps" "$b_us" \
    "$(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN {print b / a}')"
done
med() { cut -d' ' -f"$1" "$out/rounds" | bp_median; }
printf '  %-7s %10.0f %12.1f %10.0f %12.1f %8.3f\n' median "$(med 1)" "$(med 2)" "$(med 3)" "$(med 4)" \
  "$(awk '{print $3 / $1}' "$out/rounds" | bp_median)"
