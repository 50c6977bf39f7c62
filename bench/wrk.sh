# shellcheck shell=bash
# The sourcing script sets $here and reads the BENCH_* variables set here.
# shellcheck disable=SC2154,SC2034
# Helpers for the benchmarks of the proxy's own overhead (source it after
# scripts/lib.sh; needs $here, the bench directory).
#
# bench_wrk URL KIND CONNS THREADS SECONDS  runs wrk with distinct.lua
#                      (KIND: proxy or direct) and prints its RESULT line.
# bench_throughput URL SECONDS  the throughput load: distinct strings, wrk
#                      with 2 threads and 64 connections; the RESULT line.
# bench_field NAME     reads NAME=VALUE from a RESULT line on stdin.
# bench_zero_cost BUILD LOGDIR  starts BUILD's classifyd (--cost 0) and a
#                      batchproxy in front of it with its cache off; sets
#                      BENCH_BACKEND and BENCH_PROXY (ports) and
#                      BENCH_PROXY_PID. bp_stop_all stops both.

bench_wrk() {
  BODY_KIND=$2 wrk -t"$4" -c"$3" -d"$5"s -s "$here/distinct.lua" "$1" | grep '^RESULT'
}

bench_throughput() { bench_wrk "$1" proxy 64 2 "$2"; }

bench_field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

bench_zero_cost() {
  bp_start "$2/classifyd.log" "$1/classifyd" --cost 0 --quiet
  BENCH_BACKEND=$BP_PORT
  bp_start "$2/batchproxy.log" "$1/batchproxy" --backend "http://127.0.0.1:$BENCH_BACKEND" \
    --cache-size 0 --log-level warn
  BENCH_PROXY=$BP_PORT
  BENCH_PROXY_PID=$BP_PID
}
