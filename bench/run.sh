#!/usr/bin/env bash
# bench/run.sh: runs every benchmark (as root, after a build); each prints one table.
#   bash bench/run.sh            (make bench)
# Knobs: BENCH_VM_START_N (10), BENCH_DENSITY_N (30), BENCH_SETTLE (10 s), BENCH_SESSION_N (5),
# BENCH_RELAY_MB (200), BENCH_PINGS (500), BENCH_CONNS (5000), BENCH_LOGIN_N (30),
# BENCH_FUZZ_RUNS (1000000), BENCH_STALL_N (500), BENCH_KEEP=1. The cluster benches take their
# options from BENCH_CLUSTER_SCALE_ARGS (e.g. --quick) and BENCH_CLUSTER_FAILOVER_ARGS.
cd "$(dirname "$0")/.." || exit 1
rc=0
for b in vm_start vm_density session audio refusal l7r_conns l7r_stall login_timing cluster_scale \
  cluster_failover share fuzz; do
  echo "### bench/$b.sh"
  args=
  case $b in
  cluster_scale) args=${BENCH_CLUSTER_SCALE_ARGS:-} ;;
  cluster_failover) args=${BENCH_CLUSTER_FAILOVER_ARGS:-} ;;
  esac
  # shellcheck disable=SC2086  # the options, word by word
  bash "bench/$b.sh" $args || { echo "### bench/$b.sh failed" >&2; rc=1; }
  echo
done
exit $rc
