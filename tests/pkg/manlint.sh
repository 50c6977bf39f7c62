#!/bin/sh
# mandoc -T lint on every manual page in man/: no warning nor error (style
# notes are not checked: most say the pages they refer to, ours, are not
# installed on this machine).
# Exit 77 (skipped) without mandoc (scripts/deps.sh check installs it).
# Usage: tests/pkg/manlint.sh SOURCE_DIR
set -eu
src=$1
if ! command -v mandoc >/dev/null 2>&1; then
  echo "SKIP: mandoc is not installed (scripts/deps.sh check installs it)" >&2
  exit 77
fi
fail=0
for page in "$src"/man/*.[1-8]; do
  mandoc -T lint -W warning "$page" || { echo "FAIL: $page" >&2; fail=1; }
done
[ $fail = 0 ] && echo "manlint: every page in $src/man: no warnings"
exit $fail
