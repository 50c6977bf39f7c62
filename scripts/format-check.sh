#!/bin/sh
# Fails, listing the places, when a C source or header of the project is not
# laid out as .clang-format says (make format fixes them). A ctest test
# (lint.format), so part of make check.
set -eu
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1; then
  echo "SKIP: format-check: clang-format is not installed (scripts/deps.sh check installs it)" >&2
  exit 77
fi
find src tests fuzz -name '*.[ch]' -print0 | xargs -0 clang-format --dry-run -Werror
