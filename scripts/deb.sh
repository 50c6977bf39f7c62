#!/usr/bin/env bash
# Builds the Debian package (debian/) and checks it with lintian: make deb.
# The build runs on a copy of the source in OUT (default build-deb), so the
# package's build products and dpkg-buildpackage's results, which it puts
# in the parent directory, stay there; the .deb is then copied to the top
# directory, for: apt-get install ./batchproxy_*.deb
# The package build runs no tests (make check does): DEB_BUILD_OPTIONS
# gets nocheck. Fails when debian/changelog's version isn't the one in
# CMakeLists.txt, or lintian reports an error.
# Usage: scripts/deb.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-deb}

version=$(sed -n 's/^project(batchproxy VERSION \([^ ]*\) .*/\1/p' CMakeLists.txt)
deb_version=$(dpkg-parsechangelog -S Version)
if [ "$version" != "$deb_version" ]; then
  echo "deb: debian/changelog is at $deb_version, CMakeLists.txt at $version:" >&2
  echo "deb: add a changelog entry (dch -v $version) or fix project(VERSION)" >&2
  exit 1
fi

# The copy: the files git tracks, as they are in the work tree (changes not
# yet committed included), or everything but build directories outside a
# checkout. The checkout's revision goes to the build as BP_REVISION.
rm -rf "$out"
src="$out/batchproxy-$version"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z | xargs -0 cp --parents -t "$src"
  rev_h=$(mktemp)
  cmake -DSRC="$PWD" -DOUT="$rev_h" -P cmake/revision.cmake
  BP_REVISION=$(sed -n 's/^#define BP_REVISION "\(.*\)"/\1/p' "$rev_h")
  rm -f "$rev_h"
  export BP_REVISION
else
  tar --exclude='./build*' --exclude='./batchproxy_*' -cf - . | tar -xf - -C "$src"
fi

arch=$(dpkg --print-architecture)
(cd "$src" && DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b)
deb="batchproxy_${version}_${arch}.deb"
cp "$out/$deb" .
echo "deb: built $deb ($(du -k "$deb" | cut -f1) kB)"

# lintian: errors fail; warnings and the rest are listed (docs/service.md
# says why the ones left are there).
echo "deb: lintian (the .changes: the .deb and the build's record)"
lintian --info --display-info --fail-on error "$out/batchproxy_${version}_${arch}.changes"
echo "deb: lintian: no errors"
