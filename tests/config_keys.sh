#!/usr/bin/env bash
# Every configuration key the code reads by name is in the defaults table
# (src/lib/config_defaults.c) with the type its reader asks for, and no call passes a default
# of its own: the table is the only default. (A key read under another name, through a
# variable, stops the program when that path runs: qvd_config_get in src/lib/config.c.)
# Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/.."
# one perl: the table's keys and types, then every read by name checked against them
git ls-files 'src/*.c' | xargs perl -0ne '
  BEGIN { open(my $t, "<", "src/lib/config_defaults.c") or die; local $/; my $s = <$t>;
          while ($s =~ /\{"([^"]+)",\s*QVD_CONFIG_(\w+)/g) { $type{$1} = $2 } }
  while (/qvd_config_(int|bool|number|get)\s*\(\s*[^,()]+(?:\([^()]*\))?,\s*"([^"]+)"\s*([,)])/g) {
    my ($fn, $key, $end) = ($1, $2, $3);
    $n++;
    if (!exists $type{$key}) {
      print "# $ARGV: reads \x27$key\x27, which is not in the defaults table\n"; $bad++;
    } elsif ($fn ne "get" && $type{$key} ne uc $fn) {
      print "# $ARGV: reads \x27$key\x27 as $fn, but the table says $type{$key}\n"; $bad++;
    } elsif ($end eq ",") {
      print "# $ARGV: passes a default of its own with \x27$key\x27\n"; $bad++;
    }
  }
  END {
    $n += 0; $bad += 0;
    if ($n < 100) {
      print "not ok 1 - found only $n configuration reads: the pattern no longer matches the code\n";
    } elsif ($bad > 0) {
      print "not ok 1 - $bad of $n configuration reads name a key outside the table or the wrong type\n";
    } else {
      print "ok 1 - all $n configuration reads by name use a key of the defaults table, with its type\n";
    }
  }'
