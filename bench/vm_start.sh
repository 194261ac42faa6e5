#!/usr/bin/env bash
# bench/vm_start.sh: how long a VM takes to start once its DI is unpacked on the node, from
# `qvd-admin vm start` (which sets vm_cmd and sends the wake-up) to vm_state = running,
# polled every ~1 ms: min, median, p90 and max over N starts. The HKD's own figure ("VM N running (started in X ms)") and the time
# between the steps of its debug log are shown too; then the same with hypervisor `nothing`,
# the floor of the control plane (database, wake-up, state machine).
#   bash bench/vm_start.sh [N]      (N starts, default 10; as root; build first)
# Set BENCH_KEEP=1 to keep the scratch folder (logs) and print its name.
. "$(dirname "$0")/lib.sh"
N=${1:-${BENCH_VM_START_N:-10}}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "N must be a number of starts (1 or more), not '$N'." >&2; exit 2; }
[ -n "${BENCH_KEEP:-}" ] && export QVD_KEEP_TEST_DIR=1
b_init
[ -n "${BENCH_KEEP:-}" ] && echo "# scratch folder: $T_DIR" >&2
b_test_di || { echo "cannot build the test DI" >&2; exit 1; }
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# one node, one VM; every VM runs N starts after a warm-up start that unpacks the DI
declare -A TOTAL ADMINMS HKDMS STOPMS POLLRES
run_starts() { # run_starts KIND
  local kind=$1 i t0 t1 t2 t3 polls=0 span=0
  admin vm start --id 1 >/dev/null && b_wait_vm 1 running 120 ||
    { echo "$kind: the warm-up start failed" >&2; tail -30 "$HKD_LOG" >&2; return 1; }
  admin vm stop --id 1 >/dev/null && b_wait_vm 1 stopped 60 ||
    { echo "$kind: the warm-up stop failed" >&2; tail -30 "$HKD_LOG" >&2; return 1; }
  for ((i = 0; i < N; i++)); do
    b_sleep 0.2
    t0=$(b_now)
    echo "=== start $t0" >>"$HKD_LOG"
    admin vm start --id 1 >/dev/null || { echo "$kind: vm start failed" >&2; return 1; }
    t1=$(b_now)
    b_wait_vm 1 running 60 || { echo "$kind: start $i did not reach running" >&2; tail -30 "$HKD_LOG" >&2; return 1; }
    t2=$(b_now)
    polls=$((polls + B_POLLS)) span=$((span + t2 - t1))
    TOTAL[$kind]+="$(((t2 - t0) / 1000)).$(((t2 - t0) % 1000 / 100)) "
    ADMINMS[$kind]+="$(((t1 - t0) / 1000)).$(((t1 - t0) % 1000 / 100)) "
    admin vm stop --id 1 >/dev/null
    b_wait_vm 1 stopped 60 || { echo "$kind: stop $i did not reach stopped" >&2; return 1; }
    t3=$(b_now)
    STOPMS[$kind]+="$(((t3 - t2) / 1000)) "
  done
  HKDMS[$kind]=$(sed -n '/^=== start/,$p' "$HKD_LOG" |
    grep -o 'VM 1 running (started in [0-9]* ms)' | grep -o '[0-9]* ms' | tr -d ' ms' | tr '\n' ' ')
  POLLRES[$kind]=$(awk -v s=$span -v p=$polls 'BEGIN { printf "%.1f", p ? s / p / 1000 : 0 }')
}

# stats: min median p90 max of the numbers on stdin (one a line; p90 by nearest rank)
stats() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "- - - -"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) * 5 + 0.5) / 10
    p = int(NR * 0.9); if (p < NR * 0.9) p++
    printf "%g %g %g %g\n", v[1], m, v[p], v[NR] }'
}
FMT='| %-58s | %8s | %8s | %8s | %8s |\n'
row() { # row LABEL NUMBERS
  # shellcheck disable=SC2046  # the four figures
  printf "$FMT" "$1" $(tr ' ' '\n' <<<"$2" | grep . | stats)
}

# step_times: the times between consecutive events of the measured starts, from
# `qvd-admin vm start` (a "=== start USEC" line that we add to the log) through the HKD's
# log lines of VM 1 to running, as "label<TAB>ms ms..." lines. Log times are UTC wall clock.
step_times() {
  awk '
    function ms(ts,   t) { split(substr(ts, 12, 12), t, ":"); return (t[1] * 3600 + t[2] * 60 + t[3]) * 1000 }
    /^=== start / { on = 1; n = 0; prev = int($3 / 1000) % 86400000; next }
    on && /VM 1[ :]/ {
      msg = $0; sub(/^[^ ]+ [^ ]+ [a-z]+: /, "", msg)
      if (msg ~ /starting DI/) msg = "vm start -> cmd picked up (log: starting DI)"
      else if (msg ~ /running \(started/) msg = "\"running\" logged"
      else sub(/^VM 1: /, "", msg)
      n++; key = sprintf("%02d %s", n, msg)
      d[key] = d[key] " " (ms($1) - prev); prev = ms($1)
      if (msg ~ /running. logged/) on = 0
    }
    END { for (k in d) print k "\t" d[k] }' "$HKD_LOG" | sort | cut -d' ' -f2-
}

# --- lxc ---
b_node "$T_DIR/lxc" lxc "hkd.vm_command.poll = 5" "hkd.vma.ping.interval = 5" \
  "vma.x_session = /usr/local/bin/qvd-test-session"
admin user add --login bench --password pw >/dev/null
admin osf add --name desk --memory 512 >/dev/null
admin di add --osf desk --path "$TEST_DI" >/dev/null
admin vm add --name bench1 --user bench --osf desk >/dev/null
b_start_hkd || exit 1
b_sq_open
run_starts lxc || exit 1
LXC_STEPS=$(step_times)
b_stop_hkd

# --- nothing ---
b_node "$T_DIR/nothing" nothing "hkd.vm_command.poll = 5"
admin user add --login bench --password pw >/dev/null
admin osf add --name desk --memory 512 >/dev/null
admin di add --osf desk --path "$TEST_DI" >/dev/null
admin vm add --name bench1 --user bench --osf desk >/dev/null
b_start_hkd || exit 1
b_sq_use
run_starts nothing || exit 1
b_stop_hkd

echo
echo "VM start, test DI already unpacked, N=$N per hypervisor ($(nproc) cores, $(date +%F)," \
  "load average at the start $LOAD0 and at the end $(cut -d' ' -f1-3 /proc/loadavg), niceness $(nice))"
printf "$FMT" "figure (ms)" min median p90 max
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..60})" ---------- ---------- ---------- ----------
row "lxc: end to end, qvd-admin vm start -> vm_state running" "${TOTAL[lxc]}"
row "lxc: HKD log \"started in X ms\"" "${HKDMS[lxc]}"
row "lxc: qvd-admin vm start itself (sets vm_cmd + wake-up)" "${ADMINMS[lxc]}"
while IFS=$'\t' read -r label v; do
  [ -n "$label" ] && row "  lxc step: ${label:0:47}" "$v"
done <<<"$LXC_STEPS"
row "lxc: running -> stopped (qvd-admin vm stop)" "${STOPMS[lxc]}"
row "nothing: end to end, qvd-admin vm start -> running" "${TOTAL[nothing]}"
row "nothing: HKD log \"started in X ms\"" "${HKDMS[nothing]}"
row "nothing: qvd-admin vm start itself" "${ADMINMS[nothing]}"
row "nothing: running -> stopped" "${STOPMS[nothing]}"
echo "(vm_state polled every ${POLLRES[lxc]} ms (lxc) / ${POLLRES[nothing]} ms (nothing) on average;" \
  "a step is the time from the previous event (qvd-admin vm start, then the HKD's log lines of VM 1) to the one named)"
