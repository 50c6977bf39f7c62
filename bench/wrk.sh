# wrk helpers shared by the benchmark scripts (source it; needs $here, the
# bench directory).
#
# bench_wrk URL KIND CONNS THREADS SECONDS  runs wrk with distinct.lua
#                      (KIND: proxy or direct) and prints its RESULT line.
# bench_field NAME     reads NAME=VALUE from a RESULT line on stdin.

bench_wrk() {
  BODY_KIND=$2 wrk -t"$4" -c"$3" -d"$5"s -s "$here/distinct.lua" "$1" | grep '^RESULT'
}

bench_field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
