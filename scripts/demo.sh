#!/usr/bin/env bash
# The demo: classifyd + batchproxy on free local ports, the original
# challenge's clients (loadgen --profile seed) against the default policy
# and against fifo, both reports side by side, and their latency plots.
#
# Usage: scripts/demo.sh [BUILD_DIR]   (default: build)
# Logs, reports, traces and plots (SVG) go to BUILD_DIR/demo/; while a proxy
# runs, its live dashboard is at the URL printed. Every server it starts is
# stopped on exit, also on Ctrl-C.
set -euo pipefail

build=${1:-build}
rounds=${DEMO_ROUNDS:-3}
seed=${DEMO_SEED:-1}
out=$build/demo
for p in classifyd batchproxy loadgen; do
  if [ ! -x "$build/$p" ]; then
    echo "demo: $build/$p is missing; build first (make all)" >&2
    exit 1
  fi
done
mkdir -p "$out"

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
trap bp_stop_all EXIT
trap 'exit 130' INT TERM

bp_start "$out/classifyd.log" "$build/classifyd" --cost 0.002 --quiet
cpid=$BP_PID
cport=$BP_PORT
echo "demo: classifyd on 127.0.0.1:$cport (cost 0.002 s * L^2)"

# run NAME [PROXY FLAGS...]: a fresh batchproxy (empty cache), the seed
# profile for $rounds rounds, the report saved as $out/NAME.json.
run() {
  local name=$1
  shift
  bp_start "$out/batchproxy-$name.log" "$build/batchproxy" --backend "http://127.0.0.1:$cport" "$@"
  local ppid=$BP_PID pport=$BP_PORT
  echo "demo: batchproxy ${*:-(default policy)} on 127.0.0.1:$pport;" \
    "loadgen --profile seed --rounds $rounds --seed $seed"
  echo "demo: live dashboard while this run lasts: http://127.0.0.1:$pport/dashboard"
  "$build/loadgen" --url "http://127.0.0.1:$pport/proxy_classify" --profile seed \
    --rounds "$rounds" --seed "$seed" --trace "$out/$name.csv" --plot "$out/$name.svg" \
    --json >"$out/$name.json"
  "$build/loadgen" --compare "$name=$out/$name.json" | grep -E '^overall (ok|errors|p50|req)|^Jain' |
    sed 's/^/  /'
  for pid in "$cpid" "$ppid"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo: a server exited during the run; see $out/*.log" >&2
      exit 1
    fi
  done
  bp_stop "$ppid" # SIGTERM: the proxy drains first
}

run default
run fifo --policy fifo

echo
echo "demo: seed profile, $rounds rounds, same seed ($seed) for both runs:"
"$build/loadgen" --compare "default=$out/default.json" "fifo=$out/fifo.json"
if [ -x "$build/schedsim" ]; then
  "$build/schedsim" --profile seed --rounds "$rounds" --seed "$seed" \
    --plot "$out/schedsim.svg" >"$out/schedsim.txt"
fi
echo
echo "demo: latency plots (CDF per client):"
for f in "$out/default.svg" "$out/fifo.svg" "$out/schedsim.svg"; do
  if [ -f "$f" ]; then echo "  $f"; fi
done
echo "demo: reports, traces and logs are in $out/"
