#!/bin/sh
# Each program's manual page documents exactly the options its --help
# lists: every --option in --help is in the page (as ".Fl -option") and
# every option the page names is in --help. batchproxy-clients(5) may only
# name batchproxy's options.
# Usage: tests/pkg/manopts.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

help_opts() { "$build/$1" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
page_opts() { grep -oE '(^|[ .])Fl -[a-z][a-z0-9-]*' "$1" | sed 's/.*Fl -/--/' | sort -u; }

fail=0
for entry in batchproxy:8 classifyd:8 loadgen:1 schedsim:1; do
  prog=${entry%:*}
  page=$src/man/$prog.${entry#*:}
  help_opts "$prog" >"$tmp/help"
  page_opts "$page" >"$tmp/page"
  missing=$(comm -23 "$tmp/help" "$tmp/page" | tr '\n' ' ')
  extra=$(comm -13 "$tmp/help" "$tmp/page" | tr '\n' ' ')
  if [ -n "$missing" ]; then
    echo "FAIL: $page lacks what $prog --help lists: $missing" >&2
    fail=1
  fi
  if [ -n "$extra" ]; then
    echo "FAIL: $page names what $prog --help doesn't: $extra" >&2
    fail=1
  fi
  [ -z "$missing$extra" ] && echo "ok: $prog: $(wc -l <"$tmp/help") options in --help and $page"
done
help_opts batchproxy >"$tmp/help"
page_opts "$src/man/batchproxy-clients.5" >"$tmp/page"
extra=$(comm -13 "$tmp/help" "$tmp/page" | tr '\n' ' ')
if [ -n "$extra" ]; then
  echo "FAIL: batchproxy-clients.5 names what batchproxy --help doesn't: $extra" >&2
  fail=1
fi
exit $fail
