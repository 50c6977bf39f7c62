#!/usr/bin/env bash
# Clients, fairness and overload, measured live with loadgen against
# classifyd (--cost 0.002) and batchproxy:
#  1. flood isolation: B keeps the seed profile's steady pace (with
#     X-Client-Id) alone, then while A floods short strings at about 20
#     times what the backend can serve; A is configured as bulk traffic by
#     the clients file (rate limit, queue limit, weight 0.25). B's p99 with
#     the flood over B's p99 alone, B's errors, A's refusals and how fast
#     they were answered; then the same in schedsim over 20 seeds;
#  2. weights: two clients with weights 3 and 1, both sending more than the
#     backend can serve; the backend time batchproxy attributes to each.
# Usage: bench/fairness.sh [BUILD_DIR]   (part of make bench)
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
out=$build/bench/fairness
mkdir -p "$out"
# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
trap bp_stop_all EXIT INT TERM
seconds=${BENCH_FLOOD_SECONDS:-12}
wseconds=${BENCH_WEIGHTS_SECONDS:-60}

bp_start "$out/classifyd.log" "$build/classifyd" --quiet
backend=$BP_PORT

# A, the flooding client, is configured as bulk traffic (bench/workloads/flood.ini):
# 5 requests/s, 20 queued, a quarter of the default share.
{
  cat "$here/workloads/flood.ini"
  cat <<INI
[heavy]
weight = 3
[light]
weight = 1
INI
} >"$out/clients.ini"

proxy() { # starts batchproxy with the clients file; sets proxy_url
  bp_start "$out/batchproxy-$1.log" "$build/batchproxy" --backend "http://127.0.0.1:$backend" \
    --clients "$out/clients.ini" --log-level warn
  proxy_port=$BP_PORT
  proxy_pid=$BP_PID
  proxy_url=http://127.0.0.1:$proxy_port/proxy_classify
}

b_spec="name=B,arrival=steady:0.2-0.5,len=10-25,duration=$seconds,id=yes"
a_spec="name=A,arrival=poisson:400,len=5-12,duration=$seconds,id=yes"

echo "== flood isolation ($seconds s; backend 0.002 * L^2; A limited to 5 requests/s, weight 0.25)"
proxy alone
"$build/loadgen" --url "$proxy_url" --client "$b_spec" --seed 1 --json --no-progress \
  --trace "$out/alone.csv" >"$out/alone.json"
bp_stop "$proxy_pid"
proxy flood
"$build/loadgen" --url "$proxy_url" --client "$b_spec" --client "$a_spec" --seed 1 --json \
  --no-progress --trace "$out/flood.csv" >"$out/flood.json"
bp_stop "$proxy_pid"
"$build/loadgen" --compare "B alone=$out/alone.json" "B + A flood=$out/flood.json" |
  grep -E '^(  |A |B |overall)' | grep -vE 'slowdown|req/s'
# Refusals: status 429 rows of the trace (client,send_s,length,status,latency_s,...).
awk -F, '$1 == "A" && $4 == 429 {print $5 * 1000}' "$out/flood.csv" | sort -g |
  awk '{a[NR] = $1; sum += $1} END {printf "  A refused with 429: %d, answered in %.2f ms on average, p99 %.2f ms, max %.2f ms (measured by loadgen, on kept-alive connections)\n",
       NR, NR ? sum / NR : 0, a[int(0.99 * NR + 0.999999)], a[NR]}'
awk -F, '$1 == "A" && $4 != 200 && $4 != 429 {n++} $1 == "B" && $4 != 200 {b++}
         END {printf "  A other errors: %d; B errors: %d\n", n, b}' "$out/flood.csv"
alone=$(awk -F, '$1 == "B" && $4 == 200 {print $5}' "$out/alone.csv" | sort -g |
  awk '{a[NR] = $1} END {i = int(0.99 * NR + 0.999999); print a[i]}')
flood=$(awk -F, '$1 == "B" && $4 == 200 {print $5}' "$out/flood.csv" | sort -g |
  awk '{a[NR] = $1} END {i = int(0.99 * NR + 0.999999); print a[i]}')
awk -v a="$alone" -v f="$flood" 'BEGIN {printf "  B p99: alone %.0f ms, with the flood %.0f ms: %.2f x (target <= 1.2)\n",
  a * 1000, f * 1000, f / a}'


# The same scenario in the simulator, over 20 seeds (B's tail live rests on
# ~35 requests): B alone vs B with the flood, and with A at the default weight.
sim_p99() { # CLIENTS_FILE WORKLOAD -> B's p99 in ms
  "$build/schedsim" --clients-file "$2" --clients "$1" --seeds 20 --policy cost |
    awk '$1 == "B" && $2 == "p99" {print $4}'
}
grep -v '^name=A' "$here/workloads/flood.txt" >"$out/b-only.txt"
grep -v '^weight' "$here/workloads/flood.ini" >"$out/flood-equal.ini"
b_alone=$(sim_p99 "$here/workloads/flood.ini" "$out/b-only.txt")
b_flood=$(sim_p99 "$here/workloads/flood.ini" "$here/workloads/flood.txt")
b_equal=$(sim_p99 "$out/flood-equal.ini" "$here/workloads/flood.txt")
awk -v a="$b_alone" -v f="$b_flood" -v e="$b_equal" 'BEGIN {
  printf "  schedsim, 20 seeds: B p99 alone %.0f ms, with the flood %.0f ms: %.2f x (target <= 1.2); A at weight 1: %.2f x\n",
  a, f, f / a, e / a}'

echo
echo "== weights 3 and 1, both saturating ($wseconds s; backend time attributed while both are backlogged)"
proxy weights
"$build/loadgen" --url "$proxy_url" --seed 2 --json --no-progress \
  --client "name=heavy,arrival=poisson:30,len=5-25,duration=$wseconds,id=yes" \
  --client "name=light,arrival=poisson:30,len=5-25,duration=$wseconds,id=yes" >"$out/weights.json" &
load=$!
share() { # client -> attributed backend seconds now
  curl -s "http://127.0.0.1:$proxy_port/metrics" |
    sed -n "s/^batchproxy_client_backend_seconds_total{client=\"$1\"} //p"
}
# Both clients are backlogged from about 2 s in until the arrivals stop;
# after that whoever has more queued is served alone, which says nothing
# about shares.
sleep 2
h0=$(share heavy); l0=$(share light)
sleep $((wseconds - 2))
h1=$(share heavy); l1=$(share light)
wait "$load"
bp_stop "$proxy_pid"
awk -v h0="${h0:-0}" -v l0="${l0:-0}" -v h1="$h1" -v l1="$l1" 'BEGIN {h = h1 - h0; l = l1 - l0;
  printf "  backend seconds from 2 s to %d s: heavy %.1f, light %.1f: %.2f : 1 (target 3 : 1 within 10%%)\n",
  '"$wseconds"', h, l, h / l}'
