#!/usr/bin/env bash
# Every program answers -h and --help on stdout with status 0, --version with its name and
# the project's version, and an unknown option with its usage status (2; qvd-client: 1) and
# a message on stderr.
. "$(dirname "$0")/../lib.sh"
t_init
version=$(sed -n "s/^ *version : '\([^']*\)'.*/\1/p" "$QVD_TOP/meson.build" | head -1)
for p in hkd/qvd-hkd l7r/qvd-l7r api/qvd-api vma/qvd-vma client/qvd-client admin/qvd-admin; do
  bin=$QVD_BUILD/src/$p name=${p#*/}
  [ -x "$bin" ] || { t_fail "$name is built"; continue; }
  for o in -h --help; do
    out=$("$bin" $o 2>/dev/null); rc=$?
    t_check "$name $o: usage on stdout, status 0" eval '[ $rc = 0 ] && grep -qi "usage" <<<"$out"'
  done
  out=$("$bin" --version 2>/dev/null); rc=$?
  t_check "$name --version: '$name $version', status 0" eval '[ $rc = 0 ] && [ "$out" = "$name $version" ]'
  want=2; [ "$name" = qvd-client ] && want=1 # docs/client.md: 1 is its usage status
  err=$("$bin" --no-such-option 2>&1 >/dev/null); rc=$?
  t_check "$name --no-such-option: status $want and a message" eval '[ $rc = $want ] && [ -n "$err" ]'
done
exit 0
