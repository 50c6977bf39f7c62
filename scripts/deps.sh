#!/usr/bin/env bash
# Checks that the Debian packages a target needs are present and installs
# the missing ones from Debian's archive when run as root. Otherwise (or
# with --check) lists them with the exact apt-get line to run and fails:
# exit 1 with --check (a build that can't be made), 77 otherwise (the
# check or run that needs them is skipped, not passed).
#
# Usage: scripts/deps.sh [--check] [GROUP...]   (default group: build)
#   --check   never install: only say what is missing and how to get it
#             (make all uses this: a plain build installs nothing)
# Groups (each includes build):
#   build     compiler, cmake, pkg-config, libevent 2.1, jansson, cmocka, curl
#   check     adds chromium and nodejs, for the dashboard's browser test,
#             npm, which installs the OpenAPI test's packages (tests/openapi),
#             haproxy, for the scale-out test (tests/proc/test_haproxy.c),
#             clang-format, for the layout check (scripts/format-check.sh),
#             mandoc, for the manual pages' lint (tests/pkg/manlint.sh),
#             systemd, whose systemd-analyze checks the units (tests/pkg/units.sh),
#             and prometheus, whose promtool checks /metrics, the alerting
#             rules and the dashboard's queries (tests/proc/test_promtool.c)
#   deb       adds what make deb needs: dpkg-dev, debhelper, fakeroot, and
#             lintian to check the package
#   bench     adds wrk, the HTTP load generator used by bench/, and nginx
#             (nginx-light), the ceiling bench/ceiling.sh compares with
#   fuzz      adds clang 14 and its libFuzzer runtime (make fuzz)
#   werror    adds clang 14 (make werror builds with gcc and with clang)
#   lint      adds shellcheck (make lint-shell)
#   memcheck  adds valgrind (make memcheck)
#   ci        all of the above but bench (.ci/run)
# Services that packages start on installation (nginx, haproxy, prometheus) are kept
# from starting: the project runs its own instances with generated configs.
set -euo pipefail

only_check=0
if [ "${1:-}" = --check ]; then
  only_check=1
  shift
fi
groups=("${@:-build}")

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
add_group() {
  case $1 in
  build) ;;
  check)
    need+=("chromium:test -x /usr/bin/chromium" "nodejs:command -v node" "npm:command -v npm"
      "haproxy:test -x /usr/sbin/haproxy" "clang-format:command -v clang-format"
      "mandoc:command -v mandoc" "systemd:command -v systemd-analyze"
      "prometheus:command -v promtool") ;;
  deb)
    need+=("dpkg-dev:command -v dpkg-buildpackage" "debhelper:command -v dh"
      "fakeroot:command -v fakeroot" "lintian:command -v lintian") ;;
  bench) need+=("wrk:command -v wrk" "nginx-light:test -x /usr/sbin/nginx") ;;
  fuzz)
    need+=("clang-14:command -v clang"
      "libclang-rt-14-dev:ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a") ;;
  werror) need+=("clang-14:command -v clang") ;;
  lint) need+=("shellcheck:command -v shellcheck") ;;
  memcheck) need+=("valgrind:command -v valgrind") ;;
  ci) for g in check fuzz werror lint memcheck deb; do add_group "$g"; done ;;
  *)
    echo "deps: unknown group '$1' (build, check, bench, fuzz, werror, lint, memcheck, deb, ci)" >&2
    exit 2
    ;;
  esac
}
for g in "${groups[@]}"; do add_group "$g"; done

missing=()
for entry in "${need[@]}"; do
  pkg=${entry%%:*}
  test_cmd=${entry#*:}
  if ! eval "$test_cmd" >/dev/null 2>&1; then
    # A package two groups need is listed once.
    case " ${missing[*]} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$only_check" = 1 ] || [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  how="scripts/deps.sh ${groups[*]}"
  [ "${groups[*]}" = build ] && how="make deps"
  echo "deps: install them as root with:  $how" >&2
  echo "deps:                         or:  apt-get update && $line" >&2
  [ "$only_check" = 1 ] && exit 1
  echo "SKIP: not run (exit 77): its packages are missing" >&2
  exit 77
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d answering 101 tells the packages' scripts not to start their
# services; only while we install, and only if the machine has none.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap 'rm -f "$policy"' EXIT
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
fi
apt-get update -qq
$line >/dev/null
