#!/usr/bin/env bash
# No function in src/ is longer than 100 lines, except the flat tables of
# rules listed below (a long list of independent cases reads best as one).
# A function is what clang-format lays out as a line starting its body with
# "{" in column 0 up to the "}" in column 0 that ends it.
# Usage: scripts/check-functions.sh [DIR]   (default src)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../src}
max=100
# file:function pairs allowed to be longer: flat rule tables.
allowed=" classify.c:score_punct "
status=0
while read -r lines file name; do
  if [[ $allowed == *" $(basename "$file"):$name "* ]]; then
    continue
  fi
  echo "$file: $name is $lines lines long (at most $max; split it where it mixes steps)" >&2
  status=1
done < <(
  find "$dir" -name '*.c' | sort | while read -r f; do
    awk -v f="$f" -v max="$max" '
      /^\{/ { start = NR; name = sig }
      /^\}/ { if (start && NR - start > max) print NR - start, f, name; start = 0 }
      /^[A-Za-z_].*\(/ { sig = $0; sub(/\(.*/, "", sig); n = split(sig, w, /[ *]+/); sig = w[n] }
    ' "$f"
  done
)
exit $status
