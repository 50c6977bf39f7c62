#!/bin/sh
# The systemd units in deploy/systemd, configured as cmake --install does
# (the programs of this build): systemd-analyze verify finds nothing wrong;
# batchproxy.service's TimeoutStopSec outlasts the drain-timeout of the
# packaged batchproxy.conf; and systemd-analyze security (offline) prints
# each unit's exposure, which must stay at most 2.0 ("OK"; docs/service.md
# has the figures). Exit 77 (skipped) without systemd-analyze.
# Usage: tests/pkg/units.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze is not installed (Debian package systemd)" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in batchproxy classifyd; do
  sed "s#@BP_SBINDIR@#$build#; s#@BP_CONFDIR@#$src/deploy/etc#g" \
    "$src/deploy/systemd/$unit.service.in" >"$tmp/$unit.service"
done
fail=0
# Offline: it needs no running systemd. --man=no: the Documentation= pages
# are checked by pkg.manlint, and are not installed here.
if systemd-analyze verify --man=no "$tmp/batchproxy.service" "$tmp/classifyd.service"; then
  echo "ok: systemd-analyze verify"
else
  echo "FAIL: systemd-analyze verify" >&2
  fail=1
fi

# Seconds in a systemd time span such as "30s", "1min 30s" or "90".
seconds() {
  echo "$1" | awk '{ t = 0; for (i = 1; i <= NF; i++) { v = $i + 0; u = $i; sub(/^[0-9.]+/, "", u);
    t += (u == "min" || u == "m") ? v * 60 : (u == "h") ? v * 3600 : v } print t }'
}
stop=$(seconds "$(sed -n 's/^TimeoutStopSec=//p' "$tmp/batchproxy.service")")
drain=$(sed -n 's/^drain-timeout *= *\([0-9][0-9.]*\).*/\1/p' "$src/deploy/etc/batchproxy.conf.in")
drain=${drain:-10} # batchproxy's default
if awk -v s="$stop" -v d="$drain" 'BEGIN { exit !(s > d + 5) }'; then
  echo "ok: TimeoutStopSec $stop s outlasts drain-timeout $drain s"
else
  echo "FAIL: TimeoutStopSec $stop s must exceed drain-timeout $drain s (plus 5 s to exit)" >&2
  fail=1
fi

# --offline needs systemd 250 or later; older ones print nothing to check.
for unit in batchproxy classifyd; do
  out=$(systemd-analyze security --offline=true "$tmp/$unit.service" 2>&1 | tail -1) || true
  level=$(echo "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  if [ -z "$level" ]; then
    echo "note: systemd-analyze security --offline gave no score here: $out"
  elif awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
    echo "ok: $unit.service exposure $level"
  else
    echo "FAIL: $unit.service exposure $level, above 2.0: $out" >&2
    fail=1
  fi
done
exit $fail
