#!/usr/bin/env bash
# batchproxy in front of each backend protocol: what speaking oip, tei or a
# plain JSON endpoint costs next to classify, live.
#
# For each protocol a classifyd --cost 0.002 speaks it (json: classifyd's
# classify protocol, seen through --backend-protocol json with the request
# field "sequences" and the results at /results); batchproxy
# --backend-protocol P in front of it gets loadgen's seed profile (ROUNDS
# rounds). REPS repetitions with seeds 1..REPS; in each, every protocol
# runs the same trace, on a fresh batchproxy (empty cache), the order turned
# by one each repetition so that no protocol always goes first.
#
# Prints per protocol the requests sent, answered and failed (summed over
# the repetitions), the medians over the repetitions of the mean, p50 and
# p99 latency and of the throughput, and the median of the per-repetition
# ratios of the mean latency to classify's. Fails (exit 1) if a request was
# unanswered or failed, or a median ratio is off 1 by more than 10 %: the
# protocol's encoding is microseconds against a backend that takes tens to
# hundreds of milliseconds a batch, so the scheduling, and the latency,
# must be the same.
# Raw outputs (loadgen's --json reports, /stats, logs, one answer per
# protocol) go to BUILD_DIR/bench/protocols/.
# Usage: bench/protocols.sh [BUILD_DIR]   (part of make bench)
#   BENCH_REPS (default 3), BENCH_LIVE_ROUNDS (default 3)
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
out=$build/bench/protocols
mkdir -p "$out"
reps=${BENCH_REPS:-3}
rounds=${BENCH_LIVE_ROUNDS:-3}
# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
trap bp_stop_all EXIT INT TERM

protocols=(classify oip tei json)
sample='{"sequence": "def f(): pass"}'

# One classifyd per protocol, for the whole run; proxy_args[P]: how
# batchproxy reaches it.
declare -A proxy_args
for p in "${protocols[@]}"; do
  speaks=$p
  [ "$p" = json ] && speaks=classify
  bp_start "$out/classifyd-$p.log" "$build/classifyd" --protocol "$speaks" --cost 0.002 --quiet
  case $p in
  classify) proxy_args[$p]="--backend http://127.0.0.1:$BP_PORT" ;;
  oip) proxy_args[$p]="--backend http://127.0.0.1:$BP_PORT/v2/models/classifier" ;;
  tei) proxy_args[$p]="--backend http://127.0.0.1:$BP_PORT" ;;
  json)
    proxy_args[$p]="--backend http://127.0.0.1:$BP_PORT/classify --backend-request-field sequences"
    proxy_args[$p]+=" --backend-results-pointer /results"
    ;;
  esac
done

# overall FILE KEY: KEY's number in the "overall" object of a loadgen --json
# report (latency keys are those of its latency_s, the first they appear in).
overall() {
  awk -v key="\"$2\":" '
    /^  "overall": \{/ { on = 1 }
    /^  "fairness"/ { on = 0 }
    on && $1 == key { sub(/,$/, "", $2); print $2; exit }' "$1"
}

# ms SECONDS...: their median, in milliseconds.
ms() { printf '%s\n' "$@" | bp_median | awk '{printf "%.1f", $1 * 1000}'; }

echo "== batchproxy in front of each protocol: seed profile, $rounds rounds, $reps repetitions, classifyd --cost 0.002"
for rep in $(seq 1 "$reps"); do
  order=()
  for i in "${!protocols[@]}"; do
    order+=("${protocols[(i + rep - 1) % ${#protocols[@]}]}")
  done
  echo "-- repetition $rep (seed $rep): ${order[*]}"
  for p in "${order[@]}"; do
    read -r -a args <<<"${proxy_args[$p]}"
    bp_start "$out/proxy-$p-$rep.log" "$build/batchproxy" --backend-protocol "$p" "${args[@]}" \
      --log-level warn
    proxy=$BP_PORT
    "$build/loadgen" --url "http://127.0.0.1:$proxy/proxy_classify" --profile seed \
      --rounds "$rounds" --seed "$rep" --json --no-progress >"$out/live-$p-$rep.json"
    f=$out/live-$p-$rep.json
    printf '   %-9s mean %s ms, %s of %s answered, %s failed\n' "$p" "$(ms "$(overall "$f" mean)")" \
      "$(overall "$f" answered)" "$(overall "$f" requests)" "$(overall "$f" errors)"
    curl -s "http://127.0.0.1:$proxy/stats" >"$out/stats-$p-$rep.json"
    curl -s -d "$sample" "http://127.0.0.1:$proxy/proxy_classify" >"$out/answer-$p.json"
    bp_stop "$BP_PID"
  done
done

echo
echo "== per protocol: requests summed over the repetitions; latency (ms) and throughput their medians;"
echo "   ratio: the median of the per-repetition ratios of the mean to classify's"
printf '%-9s %6s %9s %7s %9s %9s %9s %8s %8s\n' protocol sent answered failed \
  'mean ms' 'p50 ms' 'p99 ms' 'req/s' ratio
bad=()
for p in "${protocols[@]}"; do
  sent=0 answered=0 failed=0
  means=() p50s=() p99s=() rates=() ratios=()
  for rep in $(seq 1 "$reps"); do
    f=$out/live-$p-$rep.json
    sent=$((sent + $(overall "$f" requests)))
    answered=$((answered + $(overall "$f" answered)))
    failed=$((failed + $(overall "$f" errors)))
    mean=$(overall "$f" mean)
    means+=("$mean")
    p50s+=("$(overall "$f" p50)")
    p99s+=("$(overall "$f" p99)")
    rates+=("$(overall "$f" throughput_rps)")
    base=$(overall "$out/live-classify-$rep.json" mean)
    ratios+=("$(awk -v a="$mean" -v b="$base" 'BEGIN {print (b > 0) ? a / b : 0}')")
  done
  ratio=$(printf '%s\n' "${ratios[@]}" | bp_median)
  printf '%-9s %6d %9d %7d %9s %9s %9s %8.2f %8.3f\n' "$p" "$sent" "$answered" "$failed" \
    "$(ms "${means[@]}")" "$(ms "${p50s[@]}")" "$(ms "${p99s[@]}")" \
    "$(printf '%s\n' "${rates[@]}" | bp_median)" "$ratio"
  [ "$answered" -eq "$sent" ] || bad+=("$p: $((sent - answered)) of $sent requests unanswered")
  [ "$failed" -eq 0 ] || bad+=("$p: $failed of $sent requests failed")
  awk -v r="$ratio" 'BEGIN {exit !(r >= 0.9 && r <= 1.1)}' ||
    bad+=("$p: mean latency $ratio x classify's (more than 10 % off)")
done

echo
echo "== what a client gets for $sample, per protocol"
for p in "${protocols[@]}"; do
  printf '%-9s %s\n' "$p" "$(cat "$out/answer-$p.json")"
done
echo "(raw outputs: $out)"

if [ ${#bad[@]} -gt 0 ]; then
  echo
  printf 'FAIL: %s\n' "${bad[@]}" >&2
  exit 1
fi
