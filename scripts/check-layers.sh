#!/usr/bin/env bash
# The modules of src/proxy include each other without a cycle, so their
# calls run one way (a C file calls another module only through its
# header): each `#include "x.h"` in a.c or a.h is an edge a -> x between
# modules of that folder, and tsort(1) finds any loop. Also checks that the
# dispatcher includes no header of the layers above it (front, proxy).
# Usage: scripts/check-layers.sh [DIR]   (default src/proxy)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../src/proxy}
status=0
edges=$(
  for f in "$dir"/*.c "$dir"/*.h; do
    from=$(basename "$f"); from=${from%.*}
    # Only the folder's own headers: common and sched sit below it.
    sed -n 's/^#include "\([a-z_0-9]*\)\.h".*/\1/p' "$f" | while read -r to; do
      if [ -e "$dir/$to.h" ] && [ "$to" != "$from" ]; then
        echo "$from $to"
      fi
    done
  done | sort -u
)
if ! order=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null); then
  echo "$order" >&2
  status=1
elif [ -n "$order" ]; then # tsort reports a loop on stderr and still succeeds
  echo "include cycle among the modules of $dir:" >&2
  echo "$order" >&2
  status=1
fi
for upper in front proxy; do
  if printf '%s\n' "$edges" | grep -qx "disp $upper"; then
    echo "disp includes $upper.h: the dispatcher must not know the layers above it" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "ok: $(printf '%s\n' "$edges" | wc -l) include edges in $dir, no cycle"
exit "$status"
