#!/usr/bin/env bash
# Runs classifyd and batchproxy under valgrind's memcheck through a short
# end-to-end scenario (loadgen traffic, a few bad requests, batches the
# backend refuses with 413, clean SIGTERM), then a second batchproxy in
# front of the scriptable fake backend answering every wrong way it knows,
# and a proxy for each of the oip and tei protocols in front of classifyd
# speaking it, and fails on any memory error or leak in any of them.
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

# classifyd takes shorter sequences than the proxy (40 code points against
# 1000), so the longer ones below come back 413: the proxy's path for a
# backend's 4xx answers, next to its garbage and 500s.
bp_start "$out/classifyd.log" "${vg[@]}" --log-file="$out/classifyd.vg" "$build/classifyd" \
  --cost 0.0001 --quiet --fail-rate 0.1 --garbage-rate 0.1 --max-length 40
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
long=$(printf 'x%.0s' $(seq 1 60))
accents=$(printf '\xc3\xa9%.0s' $(seq 1 50))
for body in "{\"sequence\": \"$long\"}" "{\"sequences\": [\"$accents\", \"short\"]}" \
  "{\"sequence\": \"a $long\"}"; do
  code=$(curl -s -o "$out/rejected.json" -w '%{http_code}' -m 10 -d "$body" \
    "http://127.0.0.1:$pport/proxy_classify")
  if [ "$code" != 502 ]; then
    echo "memcheck: a batch classifyd refuses got $code, want 502: $(cat "$out/rejected.json")" >&2
    exit 1
  fi
done
curl -s -o /dev/null -m 10 "http://127.0.0.1:$pport/metrics"
curl -s -o /dev/null -m 10 "http://127.0.0.1:$pport/stats"
curl -s -o /dev/null -m 10 -H 'X-Client-Id: bad id!' -d '{"sequence": "x"}' \
  "http://127.0.0.1:$pport/proxy_classify"

# A second proxy in front of the fake backend (built with the tests), whose
# answers go wrong in every way it knows, one request after the other (a
# failed attempt takes the next step on its retry); then true answers.
# Every client must get a label or a 502.
[ -x "$build/fakebe" ] || { echo "memcheck: $build/fakebe is missing (built with the tests)" >&2; exit 1; }
bp_start "$out/fakebe.log" "$build/fakebe" \
  "act=status,status=400,body=$(printf 'stale-first-body%.0s' $(seq 1 20))" \
  'act=status,status=400,body={"detail":"no"}' \
  'act=status,status=422,body=bad\x01\x1b[31m\xff\xfe caf\xc3\xa9' \
  'act=raw,body=garbage\x0d\x0a\x0d\x0a' 'then=extra' 'then=repeat' 'chunked' 'pad=2000000' \
  'act=wrong_count' 'act=close' 'trickle=0.01' 'act=silent' \
  'act=status,status=200,body=\x01\x1b[2J' 'act=status,status=500,body={}'
fport=$BP_PORT
bp_start "$out/batchproxy-hostile.log" "${vg[@]}" --log-file="$out/batchproxy-hostile.vg" \
  "$build/batchproxy" --backend "http://127.0.0.1:$fport" --backend-timeout 1 --retries 1 \
  --backoff-base 0.01 --log-level error
hport=$BP_PORT
for i in $(seq 1 16); do
  code=$(curl -s -o "$out/hostile.json" -w '%{http_code}' -m 20 \
    -d "{\"sequence\": \"hostile $i\"}" "http://127.0.0.1:$hport/proxy_classify")
  if [ "$code" != 200 ] && [ "$code" != 502 ]; then
    echo "memcheck: request $i to the proxy of the fake backend got $code: $(cat "$out/hostile.json")" >&2
    exit 1
  fi
done

# A proxy for each of the other protocols, in front of classifyd speaking it
# with faults: results that are JSON values (tei's lists of objects), shared
# by the cache, coalesced requests and the answers.
for proto in oip tei; do
  bp_start "$out/classifyd-$proto.log" "$build/classifyd" --protocol "$proto" --cost 0.0001 \
    --quiet --fail-rate 0.2 --garbage-rate 0.2
  url="http://127.0.0.1:$BP_PORT"
  [ "$proto" = oip ] && url="$url/v2/models/classifier"
  bp_start "$out/batchproxy-$proto.log" "${vg[@]}" --log-file="$out/batchproxy-$proto.vg" \
    "$build/batchproxy" --backend-protocol "$proto" --backend "$url" --retries 1 \
    --backoff-base 0.01 --log-level error
  for i in $(seq 1 12); do
    asked=()
    for copy in 1 2; do # the same text twice at once: coalesced, then cached
      curl -s -o "$out/$proto-$i-$copy.json" -w '%{http_code}\n' -m 20 \
        -d "{\"sequences\": [\"def f$i(): pass\", \"hello $((i % 4))\"]}" \
        "http://127.0.0.1:$BP_PORT/proxy_classify" >"$out/$proto-$i-$copy.code" &
      asked+=($!)
    done
    wait "${asked[@]}"
    for copy in 1 2; do
      code=$(cat "$out/$proto-$i-$copy.code")
      if [ "$code" != 200 ] && [ "$code" != 502 ]; then
        echo "memcheck: $proto request $i got $code: $(cat "$out/$proto-$i-$copy.json")" >&2
        exit 1
      fi
    done
  done
done

# Stop the proxies, then the servers; valgrind's exit status says if it found anything.
status=0
for i in 7 5 3 1 0 2 4 6; do
  kill -TERM "${BP_PIDS[$i]}"
  if wait "${BP_PIDS[$i]}"; then :; else status=$?; fi
done
BP_PIDS=()
for p in batchproxy classifyd batchproxy-hostile batchproxy-oip batchproxy-tei; do
  echo "memcheck: $p: $(grep -E 'ERROR SUMMARY' "$out/$p.vg" | sed 's/==[0-9]*== //')"
  grep -E 'definitely lost|indirectly lost|possibly lost|All heap blocks were freed' \
    "$out/$p.vg" | sed 's/==[0-9]*== /  /'
done
if [ "$status" -ne 0 ]; then
  echo "memcheck: FAILED (exit status $status; see $out/*.vg)" >&2
  exit 1
fi
echo "memcheck: OK, no errors and no leaks"
