#!/usr/bin/env bash
# Runs classifyd and batchproxy under valgrind's memcheck through a short
# end-to-end scenario (loadgen traffic, a few bad requests, clean SIGTERM)
# and fails on any memory error or leak in either.
#
# Usage: scripts/memcheck.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
out=$build/memcheck
mkdir -p "$out"
# shellcheck disable=SC2054 # the commas separate the values of one option
vg=(valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible
  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 --track-fds=no)

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
trap bp_stop_all EXIT
export BP_START_TIMEOUT=30 # valgrind starts slowly

bp_start "$out/classifyd.log" "${vg[@]}" --log-file="$out/classifyd.vg" "$build/classifyd" \
  --cost 0.0001 --quiet --fail-rate 0.1 --garbage-rate 0.1
cport=$BP_PORT
bp_start "$out/batchproxy.log" "${vg[@]}" --log-file="$out/batchproxy.vg" "$build/batchproxy" \
  --backend "http://127.0.0.1:$cport" --log-level error
pport=$BP_PORT

"$build/loadgen" --url "http://127.0.0.1:$pport/proxy_classify" --profile seed --cost 0.0001 \
  --json >"$out/loadgen.json"
for body in '{"sequence": "int x;"}' '{"sequences": ["a", "b"]}' 'not json' '{"sequence": 1}' \
  '{"sequences": []}'; do
  curl -s -o /dev/null -m 10 -d "$body" "http://127.0.0.1:$pport/proxy_classify"
done
curl -s -o /dev/null -m 10 "http://127.0.0.1:$pport/metrics"
curl -s -o /dev/null -m 10 "http://127.0.0.1:$pport/stats"
curl -s -o /dev/null -m 10 -H 'X-Client-Id: bad id!' -d '{"sequence": "x"}' \
  "http://127.0.0.1:$pport/proxy_classify"

# Stop the proxy, then the server; valgrind's exit status says if it found anything.
status=0
for i in 1 0; do
  kill -TERM "${BP_PIDS[$i]}"
  if wait "${BP_PIDS[$i]}"; then :; else status=$?; fi
done
BP_PIDS=()
for p in batchproxy classifyd; do
  echo "memcheck: $p: $(grep -E 'ERROR SUMMARY' "$out/$p.vg" | sed 's/==[0-9]*== //')"
  grep -E 'definitely lost|indirectly lost|possibly lost|All heap blocks were freed' \
    "$out/$p.vg" | sed 's/==[0-9]*== /  /'
done
if [ "$status" -ne 0 ]; then
  echo "memcheck: FAILED (exit status $status; see $out/*.vg)" >&2
  exit 1
fi
echo "memcheck: OK, no errors and no leaks"
