#!/usr/bin/env bash
# batchproxy's memory under a flood of connections that all send the largest
# bodies at once. classifyd (--cost 0) runs once; each variant gets a fresh
# batchproxy in front of it, and build/connflood (bench/connflood.c) opens
# BENCH_FLOOD_CONNECTIONS (default 1000) connections together, each POSTing
# one body of --max-body bytes (BENCH_FLOOD_BODY, default batchproxy's own
# default, 1 MiB), for BENCH_FLOOD_SECONDS at most (default 60). Reported:
# the proxy's RSS at the start, at its peak and after the connections
# closed, and how many were answered, with what, in how long. Variants:
#  nokey     the clients file gives API keys and the requests carry none:
#            401 from the head, no body byte read (RSS should barely move);
#  oversize  Content-Length one byte over --max-body: 413 from the head;
#  valid     bodies of exactly --max-body, no clients file: each is read in
#            full and parsed (then refused 413, a sequence that long being
#            over --max-length; the memory is spent before that).
# The soft limit on open files is raised to the hard one first, for the
# driver and the servers alike.
# Usage: bench/connflood.sh [BUILD_DIR [SERVERS_BUILD_DIR]]   (part of make
#   bench). The driver comes from BUILD_DIR, classifyd and batchproxy from
#   SERVERS_BUILD_DIR (default BUILD_DIR), e.g. an older commit's build.
set -euo pipefail
build=${1:-build}
servers=${2:-$build}
here=$(cd "$(dirname "$0")" && pwd)
out=$build/bench/connflood
mkdir -p "$out"
conns=${BENCH_FLOOD_CONNECTIONS:-1000}
seconds=${BENCH_FLOOD_SECONDS:-60}
# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
driver=
cleanup() {
  [ -z "$driver" ] || bp_stop "$driver"
  bp_stop_all
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -S -n "$(ulimit -H -n)" 2>/dev/null || true # the driver says if it is too low
max_body=${BENCH_FLOOD_BODY:-$("$servers/batchproxy" --help |
  sed -n 's/.*--max-body BYTES.*(default \([0-9]*\)).*/\1/p')}
[ -n "$max_body" ] || { echo "connflood: no --max-body default in batchproxy --help" >&2; exit 1; }

bp_start "$out/classifyd.log" "$servers/classifyd" --cost 0 --quiet
backend=$BP_PORT
key=connflood-key-0123456789
printf '[alice]\nkey = %s\n' "$key" >"$out/clients.ini"

summary=()
# variant NAME BODY_BYTES [BATCHPROXY FLAGS...]: one flood against a fresh proxy.
variant() {
  local name=$1 body=$2 proxy_pid line
  shift 2
  bp_start "$out/batchproxy-$name.log" "$servers/batchproxy" --backend "http://127.0.0.1:$backend" \
    --max-body "$max_body" --log-level error "$@"
  proxy_pid=$BP_PID
  echo "== $name: $conns connections, $body-byte bodies, --max-body $max_body ${*:+($*)}"
  # In the background, so that a signal stops it and the servers at once.
  "$build/connflood" --port "$BP_PORT" --pid "$proxy_pid" --connections "$conns" \
    --body "$body" --seconds "$seconds" >"$out/$name.txt" &
  driver=$!
  wait "$driver"
  driver=
  grep -v '^RESULT' "$out/$name.txt" | sed 's/^/  /'
  bp_stop "$proxy_pid"
  line=$(grep '^RESULT' "$out/$name.txt")
  summary+=("$(echo "$line" | awk -v n="$name" '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    last = f["answered"] ? sprintf("%6.2f s", f["answered_s"]) : "       -"
    printf "| %-8s | %7.1f | %7.1f | %7.1f | %4d of %d | %s | %s |", n, f["rss_start_kb"] / 1e3,
      f["rss_peak_kb"] / 1e3, f["rss_after_kb"] / 1e3, f["answered"], f["connections"], last,
      f["statuses"]
  }')")
}

variant nokey "$max_body" --clients "$out/clients.ini"
variant oversize $((max_body + 1))
variant valid "$max_body"

echo "== batchproxy's RSS in MB ($servers), $conns connections at once"
echo "| variant  |   start |    peak |   after | answered     | last at  | statuses |"
printf '%s\n' "${summary[@]}"
