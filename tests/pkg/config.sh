#!/bin/sh
# The packaged configuration works as shipped: classifyd and batchproxy
# started as their units start them, with --config and the settings files
# of deploy/etc (batchproxy's backends file naming that classifyd), the
# settings of clients.example uncommented and named by a "clients =" line
# added to batchproxy.conf; only the ports are free ones instead of 8000
# and 8001 (--listen on the command line, which overrides the file). A
# request with alice's key is classified, /readyz says ready; a reload
# with a changed rate-limit applies it and logs a changed max-queue as
# needing a restart; both drain and exit 0 on SIGTERM.
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

grep -q '^listen = 127.0.0.1:8001$' etc/classifyd.conf || fail "classifyd.conf: expected listen = 127.0.0.1:8001"
"$build/classifyd" --config etc/classifyd.conf --listen 127.0.0.1:0 2>classifyd.log &
cpid=$!
cport=$(port_of classifyd.log) || fail "classifyd did not listen"
sed -i "s#http://127.0.0.1:8001#http://127.0.0.1:$cport#" etc/backends

grep -q '^listen = 127.0.0.1:8000$' etc/batchproxy.conf || fail "batchproxy.conf: expected listen = 127.0.0.1:8000"
echo "clients = $tmp/etc/clients" >>etc/batchproxy.conf
"$build/batchproxy" --config etc/batchproxy.conf --listen 127.0.0.1:0 2>batchproxy.log &
ppid_=$!
pport=$(port_of batchproxy.log) || fail "batchproxy did not listen"
grep -q "clients file $tmp/etc/clients: 1 clients" batchproxy.log || fail "the example's clients were not read"

out=$(curl -sS -H "Authorization: Bearer $key" -d '{"sequence": "int x = 1;"}' \
  "http://127.0.0.1:$pport/proxy_classify")
[ "$out" = '{"result":"code"}' ] || fail "classification through the packaged configuration: $out"
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pport/readyz")
[ "$code" = 200 ] || fail "/readyz: $code"
echo "ok: classified through batchproxy (port $pport) and classifyd (port $cport); /readyz 200"

# systemctl reload: a reloadable setting and a restart-only one.
echo "rate-limit = 5" >>etc/batchproxy.conf
echo "max-queue = 500" >>etc/batchproxy.conf
kill -HUP "$ppid_"
i=0
while [ $i -lt 150 ] && ! grep -q "reload: applied" batchproxy.log; do
  sleep 0.1
  i=$((i + 1))
done
grep -q "info: reload: applied --rate-limit$" batchproxy.log || fail "the reload did not apply rate-limit"
grep -q "warn: reload: --max-queue changed: it needs a restart" batchproxy.log ||
  fail "the reload did not log max-queue as needing a restart"
echo "ok: a reload applied rate-limit, and logged max-queue as needing a restart"

kill -TERM "$ppid_"
wait_exit "$ppid_"
[ "$rc" = 0 ] || fail "batchproxy did not drain and exit 0"
ppid_=''
kill -TERM "$cpid"
wait_exit "$cpid"
[ "$rc" = 0 ] || fail "classifyd did not exit 0"
cpid=''
echo "ok: both drained and exited 0"
