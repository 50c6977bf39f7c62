#!/bin/sh
# Every program's --version says "PROG VERSION" or "PROG VERSION (REVISION)",
# VERSION being project(VERSION) in CMakeLists.txt; debian/changelog's
# newest entry carries the same version (make deb builds the package from it).
# Usage: tests/pkg/version.sh BUILD_DIR SOURCE_DIR VERSION
set -eu
build=$1 src=$2 version=$3
fail=0
for prog in batchproxy classifyd loadgen schedsim; do
  out=$("$build/$prog" --version)
  case $out in
  "$prog $version" | "$prog $version ("?*")") echo "ok: $out" ;;
  *) echo "FAIL: $prog --version says '$out', not '$prog $version [(REVISION)]'" >&2; fail=1 ;;
  esac
done
# The first line: "batchproxy (0.1.0) unstable; urgency=medium".
deb=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$src/debian/changelog")
if [ "$deb" = "$version" ]; then
  echo "ok: debian/changelog is at $deb"
else
  echo "FAIL: debian/changelog is at '$deb', CMakeLists.txt at '$version': add a changelog entry (dch -v $version)" >&2
  fail=1
fi
exit $fail
