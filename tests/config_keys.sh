#!/usr/bin/env bash
# Every configuration key the code reads by name is in the defaults table
# (src/lib/config_defaults.c) with the type its reader asks for, and no call passes a default
# of its own: the table is the only default. (A key read under another name, through a
# variable, stops the program when that path runs: qvd_config_get in src/lib/config.c.)
# Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/.."
table=$(perl -0ne 'while (/\{"([^"]+)",\s*QVD_CONFIG_(\w+)/g) { print "$1 $2\n" }' \
  src/lib/config_defaults.c)
reads=$(git ls-files 'src/*.c' | xargs perl -0ne '
  while (/qvd_config_(int|bool|number|get)\s*\(\s*[^,()]+(?:\([^()]*\))?,\s*"([^"]+)"\s*([,)])/g) {
    print "$ARGV $1 $2 $3\n" }')
n=0 bad=0
while read -r file fn key end; do
  n=$((n + 1))
  type=$(awk -v k="$key" '$1 == k { print $2 }' <<<"$table")
  want=$(tr a-z A-Z <<<"$fn")
  if [ -z "$type" ]; then
    echo "# $file: reads '$key', which is not in the defaults table"; bad=$((bad + 1))
  elif [ "$fn" != get ] && [ "$type" != "$want" ]; then
    echo "# $file: reads '$key' as $fn, but the table says $type"; bad=$((bad + 1))
  elif [ "$end" = , ]; then
    echo "# $file: passes a default of its own with '$key'"; bad=$((bad + 1))
  fi
done <<<"$reads"
if [ "$n" -lt 100 ]; then
  echo "not ok 1 - found only $n configuration reads: the pattern no longer matches the code"
elif [ "$bad" -gt 0 ]; then
  echo "not ok 1 - $bad of $n configuration reads name a key outside the table or the wrong type"
else
  echo "ok 1 - all $n configuration reads by name use a key of the defaults table, with its type"
fi
