#!/usr/bin/env bash
# Compares the scheduling policies, in the simulator and live.
#
#  1. schedsim: the seed profile (distinct strings, cost 0.002) over 100
#     seeds, and each workload in bench/workloads/ over 10 seeds; every
#     policy on the same traces, with the lower bound. A workload's header
#     may give the backend model as a line "# schedsim: FLAGS" (e.g.
#     linear-cost.txt: --cost 0 --cost-linear 0.0005); by default the
#     backend costs 0.0005 + 0.002 * L^2 s.
#  2. live: loadgen's seed profile (ROUNDS rounds) through batchproxy to a
#     real classifyd, for each of cost (the default), priority and fifo,
#     alternating, REPS repetitions with seeds 1..REPS; each repetition's
#     traces are the same for every policy. Next to them, schedsim on the
#     same traces with the backend curve batchproxy learned during the run,
#     so live and simulated figures can be compared.
# Usage: bench/policies.sh [BUILD_DIR]   (part of make bench)
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
out=$build/bench/policies
mkdir -p "$out"
reps=${BENCH_REPS:-3}
rounds=${BENCH_LIVE_ROUNDS:-3}
# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
trap bp_stop_all EXIT INT TERM

echo "== schedsim: seed profile, 100 seeds (build/schedsim --seeds 100)"
"$build/schedsim" --seeds 100 | tee "$out/sim-seed.txt"
"$build/schedsim" --seeds 100 --json --plot "$out/sim-seed.svg" >"$out/sim-seed.json"
echo "   (latency CDF per policy: $out/sim-seed.svg)"
for f in "$here"/workloads/*.txt; do
  name=$(basename "$f" .txt)
  # A workload may come with a clients file (weights, limits) of the same name.
  limits=()
  [ -f "${f%.txt}.ini" ] && limits=(--clients "${f%.txt}.ini")
  # ... and with the backend it is meant for.
  backend_model=()
  read -r -a backend_model <<<"$(sed -n 's/^# schedsim: //p' "$f")"
  echo
  echo "== schedsim: $name, 10 seeds (build/schedsim --clients-file $f ${limits[*]} ${backend_model[*]} --seeds 10)"
  sed -n 's/^# /   /p' "$f"
  "$build/schedsim" --clients-file "$f" "${limits[@]}" "${backend_model[@]}" --seeds 10 |
    grep -E '^(overall|Jain|lower|  [a-z])' | tee "$out/sim-$name.txt"
done

echo
echo "== live: seed profile, $rounds rounds, $reps repetitions, classifyd --cost 0.002"
bp_start "$out/classifyd.log" "$build/classifyd" --quiet
backend=$BP_PORT
policies="cost priority fifo"
for rep in $(seq 1 "$reps"); do
  for policy in $policies; do
    bp_start "$out/proxy-$policy-$rep.log" "$build/batchproxy" --policy "$policy" \
      --backend "http://127.0.0.1:$backend" --log-level warn
    proxy=$BP_PORT
    "$build/loadgen" --url "http://127.0.0.1:$proxy/proxy_classify" --profile seed \
      --rounds "$rounds" --seed "$rep" --json --no-progress >"$out/live-$policy-$rep.json"
    curl -s "http://127.0.0.1:$proxy/stats" >"$out/stats-$policy-$rep.json"
    bp_stop "$BP_PID"
  done
  # The simulator on the same traces, with the curve learned live.
  stats=$out/stats-cost-$rep.json
  a=$(sed -n 's/.*"a_seconds": *\([0-9.eE+-]*\).*/\1/p' "$stats")
  lin=$(sed -n 's/.*"linear_seconds": *\([0-9.eE+-]*\).*/\1/p' "$stats")
  b=$(sed -n 's/.*"b_seconds": *\([0-9.eE+-]*\).*/\1/p' "$stats")
  "$build/schedsim" --profile seed --rounds "$rounds" --seed "$rep" --overhead "$a" \
    --cost-linear "$lin" --cost "$b" --json >"$out/sim-live-$rep.json"
  echo
  echo "-- repetition $rep (seed $rep; learned backend curve ${a} + ${lin} * L + ${b} * L^2 s)"
  args=()
  for policy in $policies; do
    args+=("$policy=$out/live-$policy-$rep.json" "$policy-sim=$out/sim-live-$rep.json#$policy")
  done
  "$build/loadgen" --compare "${args[@]}" | grep -E '^(  |A |B |overall|Jain)' || true
done

echo
echo "== live, overall mean latency (ms) per repetition, and the simulator's for the same trace"
printf '%-10s' policy
for rep in $(seq 1 "$reps"); do printf '%12s %9s' "live $rep" "sim $rep"; done
printf '%14s\n' 'median live'
for policy in $policies; do
  printf '%-10s' "$policy"
  means=()
  for rep in $(seq 1 "$reps"); do
    live=$("$build/loadgen" --compare "x=$out/live-$policy-$rep.json" | awk '$1 == "overall" && $2 == "mean" {print $4}')
    sim=$("$build/loadgen" --compare "x=$out/sim-live-$rep.json#$policy" | awk '$1 == "overall" && $2 == "mean" {print $4}')
    printf '%12s %9s' "$live" "$sim"
    means+=("$live")
  done
  printf '%14s\n' "$(printf '%s\n' "${means[@]}" | bp_median)"
done
