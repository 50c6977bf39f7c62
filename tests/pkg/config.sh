#!/bin/sh
# The packaged configuration works as shipped: classifyd started with
# CLASSIFYD_OPTS from deploy/etc/classifyd.conf, batchproxy with
# BATCHPROXY_OPTS from batchproxy.conf (its backends file naming that
# classifyd) and the settings of clients.example uncommented, as the units
# start them (the options split on spaces); only the ports are free ones
# instead of 8000 and 8001. A request with alice's key is classified,
# /readyz says ready, and both drain and exit 0 on SIGTERM.
# Usage: tests/pkg/config.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
cd "$tmp"
cpid='' ppid_=''
cleanup() {
  for pid in $ppid_ $cpid; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for log in classifyd.log batchproxy.log; do [ -f "$log" ] && sed "s/^/$log: /" "$log" >&2; done
  exit 1
}

# The port a server printed in "listening on HOST:PORT", waiting up to 15 s.
port_of() {
  i=0
  while [ $i -lt 150 ]; do
    port=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$1" | head -1)
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# Waits up to 15 s for the child to exit (then SIGKILLs it); its exit
# status in $rc.
wait_exit() {
  i=0
  while [ $i -lt 150 ]; do
    st=$(ps -o stat= -p "$1") || break
    case $st in Z*) break ;; esac
    sleep 0.1
    i=$((i + 1))
  done
  kill -KILL "$1" 2>/dev/null || true
  rc=0
  wait "$1" || rc=$?
}

mkdir etc
cp "$src/deploy/etc/classifyd.conf" "$src/deploy/etc/backends" etc/
sed "s#@BP_CONFDIR@#$tmp/etc#g" "$src/deploy/etc/batchproxy.conf.in" >etc/batchproxy.conf
# Only the example's sections and settings: "# [alice]", "# weight = 3".
sed -n 's/^# \(\[.*\]\)/\1/p; s/^# \([a-z_]* *=.*\)/\1/p' "$src/deploy/etc/clients.example" >etc/clients
grep -q '^key = ' etc/clients || fail "clients.example has no key to try"
key=$(sed -n 's/^key = \([^ ;]*\).*/\1/p' etc/clients | head -1)

# shellcheck source=deploy/etc/classifyd.conf
. ./etc/classifyd.conf
# shellcheck disable=SC2086 # split into words, as systemd splits $CLASSIFYD_OPTS
set -- $CLASSIFYD_OPTS
[ "$1 $2" = "--listen 127.0.0.1:8001" ] || fail "classifyd.conf: expected --listen 127.0.0.1:8001 first"
shift 2
"$build/classifyd" --listen 127.0.0.1:0 "$@" 2>classifyd.log &
cpid=$!
cport=$(port_of classifyd.log) || fail "classifyd did not listen"
sed -i "s#http://127.0.0.1:8001#http://127.0.0.1:$cport#" etc/backends

# shellcheck disable=SC1091 # made from deploy/etc/batchproxy.conf.in above
. ./etc/batchproxy.conf
# shellcheck disable=SC2086 # as systemd splits $BATCHPROXY_OPTS
set -- $BATCHPROXY_OPTS
[ "$1 $2" = "--listen 127.0.0.1:8000" ] || fail "batchproxy.conf: expected --listen 127.0.0.1:8000 first"
shift 2
"$build/batchproxy" --listen 127.0.0.1:0 "$@" --clients etc/clients 2>batchproxy.log &
ppid_=$!
pport=$(port_of batchproxy.log) || fail "batchproxy did not listen"
grep -q "clients file etc/clients: 1 clients" batchproxy.log || fail "the example's clients were not read"

out=$(curl -sS -H "Authorization: Bearer $key" -d '{"sequence": "int x = 1;"}' \
  "http://127.0.0.1:$pport/proxy_classify")
[ "$out" = '{"result":"code"}' ] || fail "classification through the packaged configuration: $out"
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pport/readyz")
[ "$code" = 200 ] || fail "/readyz: $code"
echo "ok: classified through batchproxy (port $pport) and classifyd (port $cport); /readyz 200"

kill -TERM "$ppid_"
wait_exit "$ppid_"
[ "$rc" = 0 ] || fail "batchproxy did not drain and exit 0"
ppid_=''
kill -TERM "$cpid"
wait_exit "$cpid"
[ "$rc" = 0 ] || fail "classifyd did not exit 0"
cpid=''
echo "ok: both drained and exited 0"
