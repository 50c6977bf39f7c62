# shellcheck shell=bash
# Shell helpers shared by the demo and the benchmarks (source it).
#
# bp_start LOG CMD...  starts CMD with "--listen 127.0.0.1:0" and stderr to
#                      LOG, waits (up to BP_START_TIMEOUT seconds, default
#                      10) for its "listening on" line, and sets BP_PORT and
#                      BP_PID. Every started PID is kept in BP_PIDS for
#                      bp_stop_all. If it exits or never listens, its log is
#                      printed and bp_start fails.
# bp_stop PID          SIGTERM, then waits for it to exit.
# bp_stop_all          stops everything bp_start started (use in a trap).
# bp_free_port         prints a port nothing on 127.0.0.1 answers on, for a
#                      server that can't pick its own (it may still be taken
#                      before that server binds it: check that it started).

BP_PIDS=()

bp_start() {
  local log=$1
  shift
  "$@" --listen 127.0.0.1:0 2>"$log" &
  BP_PID=$!
  BP_PIDS+=("$BP_PID")
  BP_PORT=
  local steps=$((${BP_START_TIMEOUT:-10} * 100))
  for _ in $(seq 1 "$steps"); do
    BP_PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$log" | head -n1)
    [ -n "$BP_PORT" ] && return 0
    if ! kill -0 "$BP_PID" 2>/dev/null; then
      echo "$(basename "$1") exited before listening; its log ($log):" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.01
  done
  echo "$(basename "$1") did not listen within ${BP_START_TIMEOUT:-10} s; its log ($log):" >&2
  cat "$log" >&2
  return 1
}

bp_stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

bp_stop_all() {
  local p
  for p in "${BP_PIDS[@]}"; do
    bp_stop "$p"
  done
  BP_PIDS=()
}

bp_free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# bp_median: the median of the numbers on stdin, one per line.
bp_median() {
  sort -g | awk '{a[NR] = $1} END {if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
