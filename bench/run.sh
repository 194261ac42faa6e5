#!/usr/bin/env bash
# bench/run.sh: runs every benchmark (as root, after a build); each prints one table.
#   bash bench/run.sh            (make bench)
# Knobs: BENCH_VM_START_N (10), BENCH_DENSITY_N (30), BENCH_SETTLE (10 s), BENCH_SESSION_N (5),
# BENCH_RELAY_MB (200), BENCH_PINGS (500), BENCH_CONNS (5000), BENCH_LOGIN_N (30),
# BENCH_FUZZ_RUNS (1000000), BENCH_STALL_N (500), BENCH_KEEP=1.
cd "$(dirname "$0")/.." || exit 1
rc=0
for b in vm_start vm_density session refusal l7r_conns l7r_stall login_timing fuzz; do
  echo "### bench/$b.sh"
  bash "bench/$b.sh" || { echo "### bench/$b.sh failed" >&2; rc=1; }
  echo
done
exit $rc
