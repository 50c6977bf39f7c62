#!/bin/sh
# Runs shellcheck on every shell script of the project: scripts/, bench/,
# tests/pkg/ and .ci/run (make lint-shell, part of CI). Sourced files are followed
# (# shellcheck source=... directives name them from the top directory).
# Exit 77 (skipped, not passed) when shellcheck is not installed.
set -eu
cd "$(dirname "$0")/.."
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "SKIP: lint-shell: shellcheck is not installed (scripts/deps.sh lint installs it)" >&2
  exit 77
fi
files=$(find scripts bench tests/pkg -name '*.sh' | sort)
# shellcheck disable=SC2086 # one word per file (the names have no spaces)
shellcheck -x $files .ci/run
echo "lint-shell: $(echo "$files" | wc -l) scripts and .ci/run: no findings"
