#!/bin/sh
# The packaged settings files (deploy/etc/batchproxy.conf.in, classifyd.conf)
# end with every option of the program, commented out after its help text:
# exactly what `PROG --list-options=ini` prints, below the line starting
# "# ---- Every option". This writes that part from the programs of BUILD_DIR,
# or with --check (the test pkg.confdefaults) says where a file differs
# from them and fails: the options' table is the one place they come from.
# Usage: scripts/conf-defaults.sh [--check] BUILD_DIR
set -eu
check=0
if [ "${1:-}" = --check ]; then
  check=1
  shift
fi
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
fail=0
for entry in batchproxy:deploy/etc/batchproxy.conf.in classifyd:deploy/etc/classifyd.conf; do
  prog=${entry%%:*}
  file=$src/${entry#*:}
  if ! grep -q '^# ---- Every option' "$file"; then
    echo "FAIL: $file has no line starting '# ---- Every option'" >&2
    fail=1
    continue
  fi
  { sed '/^# ---- Every option/q' "$file"; "$build/$prog" --list-options=ini; } >"$tmp"
  if cmp -s "$tmp" "$file"; then
    echo "ok: $file lists every option of $prog --list-options=ini"
  elif [ $check = 1 ]; then
    echo "FAIL: $file differs from $prog --list-options=ini (scripts/conf-defaults.sh BUILD_DIR rewrites it):" >&2
    diff -u "$file" "$tmp" >&2 || true
    fail=1
  else
    cp "$tmp" "$file"
    echo "wrote $file"
  fi
done
exit $fail
