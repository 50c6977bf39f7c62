#!/bin/sh
# cmake --install (into a scratch DESTDIR) puts every file where it
# belongs: the servers in sbin, the tools in bin, the manual pages in their
# sections, the units and the sysusers.d entry where systemd reads them,
# the configuration in SYSCONFDIR/batchproxy; the installed units start the
# installed programs with the installed settings files (--config), which
# the programs accept, batchproxy's naming the installed backends file.
# Usage: tests/pkg/install.sh BUILD_DIR
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DESTDIR=$tmp cmake --install "$build" >"$tmp.log" 2>&1 || { cat "$tmp.log" >&2; rm -f "$tmp.log"; exit 1; }
rm -f "$tmp.log"
find "$tmp" -type f | sed "s#^$tmp##" | sort >"$tmp/files"
fail=0
for want in /sbin/batchproxy /sbin/classifyd /bin/loadgen /bin/schedsim \
  /man1/loadgen.1 /man1/schedsim.1 /man5/batchproxy-clients.5 /man8/batchproxy.8 \
  /man8/classifyd.8 /system/batchproxy.service /system/classifyd.service \
  /sysusers.d/batchproxy.conf /batchproxy/batchproxy.conf /batchproxy/classifyd.conf \
  /batchproxy/backends /batchproxy/clients.example; do
  if ! grep -q -- "$want\$" "$tmp/files"; then
    echo "FAIL: nothing installed as .../${want#/}" >&2
    fail=1
  fi
done
path() { grep -- "$1\$" "$tmp/files" | head -1; }
for prog in batchproxy classifyd; do
  unit=$tmp$(path "/system/$prog.service")
  exec=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
  [ "$exec" = "$(path "/sbin/$prog")" ] || { echo "FAIL: $prog.service runs '$exec'" >&2; fail=1; }
  if ! "$tmp$exec" --version >/dev/null; then
    echo "FAIL: $exec doesn't run" >&2
    fail=1
  fi
  conf=$(sed -n 's/^ExecStart=[^ ]* --config \([^ ]*\)$/\1/p' "$unit")
  [ "$conf" = "$(path "/batchproxy/$prog.conf")" ] || { echo "FAIL: $prog.service reads '$conf'" >&2; fail=1; }
  if ! "$tmp$exec" --config "$tmp$conf" --list-options >/dev/null; then
    echo "FAIL: $prog refuses its installed settings file" >&2
    fail=1
  fi
done
backends=$(sed -n 's/^backends-file = //p' "$tmp$(path /batchproxy/batchproxy.conf)")
[ "$backends" = "$(path /batchproxy/backends)" ] || { echo "FAIL: batchproxy.conf names '$backends'" >&2; fail=1; }
[ $fail = 0 ] && echo "ok: $(wc -l <"$tmp/files") files installed:" && sed 's/^/  /' "$tmp/files"
exit $fail
