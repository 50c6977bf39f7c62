#!/usr/bin/env bash
# Checks that the build and test dependencies are present and installs the
# missing ones from Debian's archive when run as root. Otherwise prints the
# exact apt-get line to run and fails.
#
# Usage: scripts/deps.sh [build|check|bench|fuzz|memcheck]
#   build     compiler, cmake, pkg-config, libevent 2.1, jansson, cmocka, curl
#   check     adds chromium and nodejs, for the dashboard's browser test,
#             haproxy, for the scale-out test (tests/proc/test_haproxy.c),
#             and clang-format, for the layout check (scripts/format-check.sh)
#   bench     adds wrk, the HTTP load generator used by bench/
#   fuzz      adds clang 14 and its libFuzzer runtime (make fuzz)
#   memcheck  adds valgrind (make memcheck)
set -euo pipefail

what=${1:-build}

# package  check-command
need=(
  "build-essential:command -v cc"
  "cmake:command -v cmake"
  "pkg-config:command -v pkg-config"
  "libevent-dev:pkg-config --atleast-version=2.1 libevent"
  "libjansson-dev:pkg-config --exists jansson"
  "libcmocka-dev:pkg-config --exists cmocka"
  "curl:command -v curl"
)
if [ "$what" = check ]; then
  need+=("chromium:test -x /usr/bin/chromium" "nodejs:command -v node"
    "haproxy:test -x /usr/sbin/haproxy" "clang-format:command -v clang-format")
fi
if [ "$what" = bench ]; then
  need+=("wrk:command -v wrk")
fi
if [ "$what" = fuzz ]; then
  need+=("clang-14:command -v clang"
    "libclang-rt-14-dev:ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a")
fi
if [ "$what" = memcheck ]; then
  need+=("valgrind:command -v valgrind")
fi

missing=()
for entry in "${need[@]}"; do
  pkg=${entry%%:*}
  test_cmd=${entry#*:}
  if ! eval "$test_cmd" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run as root:  $line" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$line >/dev/null
