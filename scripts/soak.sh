#!/usr/bin/env bash
# Soak: SOAK_SECONDS (default 600) of mixed traffic through batchproxy while
# classifyd injects every fault at 2% each. Reports batchproxy's RSS at the
# start and the end, and checks that every request was answered and that the
# proxy's /metrics count as many requests as loadgen sent.
#
# Usage: scripts/soak.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
secs=${SOAK_SECONDS:-600}
out=$build/soak
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

port_of() {
  for _ in $(seq 1 100); do
    grep -q 'listening on' "$1" && { grep -o 'listening on [0-9.]*:[0-9]*' "$1" | sed 's/.*://'; return 0; }
    sleep 0.1
  done
  return 1
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

"$build/classifyd" --listen 127.0.0.1:0 --cost 0.00005 --quiet --fault-seed 7 --fail-rate 0.02 \
  --drop-rate 0.02 --hang-rate 0.02 --slow-rate 0.02 --garbage-rate 0.02 2>"$out/classifyd.log" &
pids+=($!)
cport=$(port_of "$out/classifyd.log")
"$build/batchproxy" --listen 127.0.0.1:0 --backend "http://127.0.0.1:$cport" \
  --backend-timeout 0.5 --cost-prior 0.00005 --retries 3 --log-level error 2>"$out/batchproxy.log" &
ppid=$!
pids+=("$ppid")
pport=$(port_of "$out/batchproxy.log")

rss_start=$(rss_kb "$ppid")
"$build/loadgen" --url "http://127.0.0.1:$pport/proxy_classify" --json --seed 5 \
  --client "name=short,arrival=burst:5:0.01-0.05:0.2-0.5,len=3-12,duration=$secs,distinct=no" \
  --client "name=long,arrival=poisson:20,len=10-40,duration=$secs" \
  --client "name=uniq,arrival=poisson:30,len=5-25,duration=$secs" --trace "$out/trace.csv" \
  >"$out/loadgen.json" &
lg=$!
pids+=("$lg")
samples=()
while kill -0 "$lg" 2>/dev/null; do
  sleep 30
  samples+=("$(rss_kb "$ppid")")
done
wait "$lg"
rss_end=$(rss_kb "$ppid")
metrics=$(curl -s "http://127.0.0.1:$pport/metrics")
proxied=$(echo "$metrics" | awk '/^batchproxy_requests_total\{/ {s += $NF} END {print s}')

# Every planned request is a row of the trace (client,send_s,length,status,
# latency_s,...): status 200, another HTTP status, conn or timeout, or
# empty if it was never answered (lost).
awk -F, -v start="$rss_start" -v end="$rss_end" -v counted="$proxied" -v every="${samples[*]}" '
  NR == 1 { next }
  { sent++ }
  $4 == 200 { ok++; next }
  $4 == "" { lost++; next }
  { err++; by[$4]++; if ($4 !~ /^5[0-9][0-9]$/) bad++ }
  END {
    list = ""
    for (k in by) list = list sprintf(" %s: %d", k, by[k])
    printf "soak: sent %d, answered %d, successes %d (%.3f%%), errors %d {%s }, lost %d\n",
      sent, ok + err, ok, 100 * ok / sent, err, list, lost
    printf "soak: batchproxy counted %d requests\n", counted
    printf "soak: batchproxy RSS %s kB at start, %s kB at end (every 30 s: %s)\n", start, end, every
    exit (lost == 0 && counted + 0 == sent && bad == 0) ? 0 : 1
  }' "$out/trace.csv"
kill -TERM "$ppid"
wait "$ppid"
echo "soak: OK"
