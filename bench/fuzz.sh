#!/usr/bin/env bash
# bench/fuzz.sh: runs every libFuzzer target (tests/fuzz) for RUNS executions from its seed
# corpus and prints one table: target, executions, seconds, executions per second and the
# crashes found (0 expected: a crash, a leak or one input that takes over 10 s; each is kept
# as a reproducer and named below the table).
# Builds the fuzz build as tests/run.sh does (clang, ASan + UBSan, -Dfuzz=true) or reuses it.
#   bash bench/fuzz.sh [RUNS]   (default 1000000 per target; BENCH_FUZZ_TARGETS="rpc http"
#                                picks targets; QVD_SAN_BUILD names the build folder)
cd "$(dirname "$0")/.." || exit 1
top=$PWD
RUNS=${1:-${BENCH_FUZZ_RUNS:-1000000}}
SAN_BUILD=${QVD_SAN_BUILD:-${QVD_BUILD:-$top/build}-san}
command -v clang >/dev/null || { echo "bench/fuzz.sh needs clang (scripts/install-deps.sh)" >&2; exit 1; }
if [ ! -f "$SAN_BUILD/build.ninja" ]; then
  echo "# setting up the fuzz build in $SAN_BUILD..." >&2
  CC=clang meson setup "$SAN_BUILD" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false >/dev/null || exit 1
fi
ninja -C "$SAN_BUILD" >/dev/null || { echo "the fuzz build failed: ninja -C $SAN_BUILD" >&2; exit 1; }

work=$(mktemp -d /tmp/qvd-bench-fuzz.XXXXXX)
trap '[ -n "${BENCH_KEEP:-}" ] && echo "# kept $work" >&2 || rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
rc=0 found=()
printf '%-12s %12s %9s %9s %8s\n' target executions seconds exec/s crashes
for f in "$SAN_BUILD"/tests/fuzz/fuzz-*; do
  [ -f "$f" ] && [ -x "$f" ] || continue
  n=${f##*/fuzz-}
  [ -n "${BENCH_FUZZ_TARGETS:-}" ] && [[ " $BENCH_FUZZ_TARGETS " != *" $n "* ]] && continue
  corpus=$work/corpus-$n art=$work/artifacts-$n/
  mkdir -p "$corpus" "$art"
  cp "$top/tests/fuzz/corpus/$n"/* "$corpus"/ 2>/dev/null
  t0=${EPOCHREALTIME/./}
  nice "$f" -runs="$RUNS" -seed=1 -print_final_stats=1 -timeout=10 -artifact_prefix="$art" "$corpus" \
    >"$work/$n.log" 2>&1
  t1=${EPOCHREALTIME/./}
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$n.log" | tail -1)
  crashes=$(find "$art" -type f | wc -l)
  us=$((10#$t1 - 10#$t0))
  [ -n "$execs" ] || { execs=0; [ "$crashes" -gt 0 ] || crashes="?"; }
  printf '%-12s %12s %9.1f %9d %8s\n' "$n" "$execs" "$(bc -l <<<"$us / 1000000")" \
    "$((execs * 1000000 / (us > 0 ? us : 1)))" "$crashes"
  if [ "$crashes" != 0 ]; then
    rc=1 found+=("$n: $(find "$art" -type f | head -3 | tr '\n' ' ')(log: $work/$n.log)")
    BENCH_KEEP=1
  fi
done
for x in "${found[@]}"; do echo "# crash in $x"; done
exit $rc
