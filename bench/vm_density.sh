#!/usr/bin/env bash
# bench/vm_density.sh: memory per idle VM with its desktop session when many run on one
# node. Starts COUNT VMs (default 30) from the demo DI (IceWM + xterm; built and cached
# under /var/tmp/qvd-di if missing; falls back to the test DI with a bare xterm session),
# x_starts a session in each (nxagent + the X session, no NX client attached: the idle
# state), lets them settle, then sums the PSS (/proc/PID/smaps_rollup) of every process of
# each container (the processes in the PID namespace of the container's init,
# vm_runtimes.vm_pid) with a breakdown by process name. The host-side LXC monitor of each
# container and the containers' cgroup memory.current are shown apart.
#   bash bench/vm_density.sh [COUNT]      (as root; build first)
# Set BENCH_KEEP=1 to keep the scratch folder (logs); BENCH_SETTLE=S to change the 10 s settle.
. "$(dirname "$0")/lib.sh"
COUNT=${1:-${BENCH_DENSITY_N:-30}}
SETTLE=${BENCH_SETTLE:-10}
[ -n "${BENCH_KEEP:-}" ] && export QVD_KEEP_TEST_DIR=1
b_init
[ -n "${BENCH_KEEP:-}" ] && echo "# scratch folder: $T_DIR" >&2
T_START=$(b_now)

if b_demo_di; then
  DI=$DEMO_DI_CACHE SESSION=/usr/local/bin/qvd-desktop-session
  WHAT="demo DI, session qvd-desktop-session = icewm + xterm"
else
  echo "# the demo DI cannot be built: falling back to the test DI with an xterm session" >&2
  b_test_di || { echo "cannot build the test DI either" >&2; exit 1; }
  DI=$TEST_DI SESSION=/usr/bin/xterm
  WHAT="FALLBACK test DI (no icewm), session = xterm alone"
fi

b_node "$T_DIR/node" lxc "vma.x_session = $SESSION" "hkd.vm_command.poll = 1" \
  "hkd.vma.ping.interval = 5"
admin user add --login bench --password pw >/dev/null
admin osf add --name desk --memory 512 >/dev/null
admin di add --osf desk --path "$DI" >/dev/null
for ((i = 1; i <= COUNT; i++)); do admin vm add --name "desk$i" --user bench --osf desk >/dev/null; done
mapfile -t IDS < <(sql "SELECT id FROM vms ORDER BY id")
b_start_hkd || exit 1

t0=$(b_now)
for id in "${IDS[@]}"; do admin vm start --id "$id" >/dev/null; done
all_running() { [ "$(sql "SELECT COUNT(*) FROM vm_runtimes WHERE vm_state = 'running'")" = "$COUNT" ]; }
t_wait 300 all_running || {
  echo "not every VM reached running:" >&2; sql "SELECT vm_id, vm_state FROM vm_runtimes" >&2
  tail -30 "$HKD_LOG" >&2; exit 1; }
T_RUNNING=$((($(b_now) - t0) / 1000))

# a session in each VM, as the L7R would ask for it
vma_get() { # vma_get ID PATH: body and HTTP status of a VMA call, from the node
  local ip s
  ip=$(sql "SELECT ip FROM vms WHERE id = $1") s=$(sql "SELECT vma_secret FROM vm_runtimes WHERE vm_id = $1")
  t_in_node curl -s -m 20 -w ' %{http_code}' -H "Authorization: Bearer $s" "http://$ip:3030/vma/$2"
}
t0=$(b_now)
for id in "${IDS[@]}"; do
  out=$(vma_get "$id" "x_start?qvd.vm.user.name=user$id&qvd.client.geometry=1024x768")
  [ "${out##* }" = 200 ] || echo "# VM $id: x_start answered: $out" >&2
done
listening=0
for id in "${IDS[@]}"; do
  is_listening() { vma_get "$id" x_state | grep -q '"listening"'; }
  if t_wait 60 is_listening; then listening=$((listening + 1))
  else echo "# VM $id: the session did not reach listening: $(vma_get "$id" x_state)" >&2; fi
done
T_LISTENING=$((($(b_now) - t0) / 1000))

# measure TAG: one line per process of the containers (vm ID NAME PSS-kB), per host-side
# LXC monitor (mon - NAME kB) and per container cgroup (cg - - kB) into $T_DIR/TAG.tsv
pss() { awk '/^Pss:/ {print $2; exit}' "/proc/$1/smaps_rollup" 2>/dev/null; }
cg_kb() { # cg_kb PID: the memory use of the cgroup of PID (v2 memory.current or v1 usage)
  local cg
  cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$1/cgroup")
  if [ -n "$cg" ] && [ -r "/sys/fs/cgroup/memory$cg/memory.usage_in_bytes" ]; then
    echo $(($(cat "/sys/fs/cgroup/memory$cg/memory.usage_in_bytes") / 1024)); return
  fi
  cg=$(awk -F: '$1 == 0 {print $3}' "/proc/$1/cgroup")
  [ -r "/sys/fs/cgroup$cg/memory.current" ] && echo $(($(cat "/sys/fs/cgroup$cg/memory.current") / 1024))
}
measure() {
  local -A ns_vm=()
  local id pid p ns vm kb
  local -a mons=()
  {
    for id in "${IDS[@]}"; do
      pid=$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = $id")
      [ -n "$pid" ] && [ -e "/proc/$pid" ] || { echo "# VM $id: no init PID" >&2; continue; }
      ns_vm[$(readlink "/proc/$pid/ns/pid")]=$id
      mons+=("$(awk '{print $4}' "/proc/$pid/stat")")
      kb=$(cg_kb "$pid") && printf 'cg\t-\t-\t%s\n' "$kb"
    done
    for p in /proc/[0-9]*; do
      ns=$(readlink "$p/ns/pid" 2>/dev/null) || continue
      vm=${ns_vm[$ns]:-}
      [ -n "$vm" ] || continue
      kb=$(pss "${p#/proc/}")
      [ -n "$kb" ] && printf 'vm\t%s\t%s\t%s\n' "$vm" "$(cat "$p/comm" 2>/dev/null)" "$kb"
    done
    for p in "${mons[@]}"; do
      kb=$(pss "$p")
      [ -n "$kb" ] && printf 'mon\t-\t%s\t%s\n' "$(cat "/proc/$p/comm" 2>/dev/null)" "$kb"
    done
  } >"$T_DIR/$1.tsv"
}
sleep "$SETTLE"
measure listening

# The VMA starts the X session when nxagent reports a client (as QVD does): connect an NX
# client once to each VM (nxproxy through the VMA, drawing on an Xvfb screen), then drop
# it: the session stays, nxagent suspends. That is the idle VM with its desktop.
TUNNEL=$QVD_BUILD/tests/helpers/vma-tunnel
DISP=:$((60 + RANDOM % 30))
Xvfb $DISP -screen 0 1280x1024x24 -nolisten tcp >"$T_DIR/xvfb.log" 2>&1 &
XVFB_PID=$!
t_cleanup_add "kill $XVFB_PID"
sleep 0.5
t0=$(b_now)
connected=0 tun= nxp=
t_cleanup_add 'kill $nxp; pkill -P $tun; kill $tun'
for id in "${IDS[@]}"; do
  sql "SELECT vma_secret FROM vm_runtimes WHERE vm_id = $id" | tr -d '\n' >"$T_DIR/secret-$id"
  port=$((4200 + id))
  t_in_node "$TUNNEL" --listen "127.0.0.1:$port" --vma "$(sql "SELECT ip FROM vms WHERE id = $id"):3030" \
    --secret-file "$T_DIR/secret-$id" >"$T_DIR/tunnel-$id.log" 2>&1 &
  tun=$!
  for ((i = 0; i < 50; i++)); do t_in_node ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.05; done
  DISPLAY=$DISP t_in_node nxproxy -S "localhost:$((port - 4000))" >"$T_DIR/nxproxy-$id.log" 2>&1 &
  nxp=$!
  is_connected() { vma_get "$id" x_state | grep -q '"connected"'; }
  if t_wait 30 is_connected; then connected=$((connected + 1))
  else echo "# VM $id: no NX connection: $(vma_get "$id" x_state)" >&2; fi
  # the tunnel serves each connection in a child of its own: stop those too
  kill "$nxp" 2>/dev/null; wait "$nxp" 2>/dev/null
  pkill -TERM -P "$tun"; kill "$tun" 2>/dev/null; wait "$tun" 2>/dev/null
done
suspended=0
for id in "${IDS[@]}"; do
  is_suspended() { vma_get "$id" x_state | grep -q '"suspended"'; }
  if t_wait 20 is_suspended; then suspended=$((suspended + 1))
  else echo "# VM $id: the session did not suspend: $(vma_get "$id" x_state)" >&2; fi
done
T_CONNECT=$((($(b_now) - t0) / 1000))
kill "$XVFB_PID" 2>/dev/null
sleep "$SETTLE"
measure session

echo
echo "VM density: $COUNT idle VMs ($WHAT)"
echo "($(nproc) cores, $(date +%F); OSF memory 512 MB; $COUNT running after ${T_RUNNING} ms;" \
  "$listening x_start'ed sessions listening after ${T_LISTENING} ms more; $connected NX clients" \
  "connected once and dropped, $suspended sessions suspended after ${T_CONNECT} ms more; ${SETTLE} s settle before each measure)"
awk -F'\t' -v n="$COUNT" '
  function mib(kb) { return sprintf("%.1f", kb / 1024) }
  FNR == 1 { f++ }
  $1 == "vm"  { tot[f] += $4; per[f, $2] += $4; vms[f, $2] = 1; name[f, $3] += $4; cnt[f, $3]++; procs[f]++; names[$3] = 1 }
  $1 == "mon" { mon[f] += $4; monn[f]++; monname = $3 }
  $1 == "cg"  { cg[f] += $4; cgn[f]++ }
  END {
    for (i = 1; i <= 2; i++) { nv[i] = 0; mn[i] = ""; mx[i] = 0
      for (k in vms) { split(k, kk, SUBSEP); if (kk[1] != i) continue; v = per[k]; nv[i]++
        if (mn[i] == "" || v < mn[i]) mn[i] = v; if (v > mx[i]) mx[i] = v } }
    fmt = "| %-46s | %15s | %15s | %10s |\n"
    printf fmt, "PSS, MiB", "listening:/VM", "with session:/VM", "total"
    printf fmt, "", "(procs)", "(procs)", ""
    printf "|%s|%s|%s|%s|\n", "------------------------------------------------", "-----------------", "-----------------", "------------"
    printf fmt, "all processes of the containers", mib(tot[1] / nv[1]) " (" procs[1] ")", mib(tot[2] / nv[2]) " (" procs[2] ")", mib(tot[2])
    printf fmt, "  min / max of a VM", mib(mn[1]) " / " mib(mx[1]), mib(mn[2]) " / " mib(mx[2]), ""
    for (c in names) order[c] = name[2, c] + name[1, c] / 1e6
    while (length(order)) {
      best = ""; for (c in order) if (best == "" || order[c] > order[best]) best = c
      printf fmt, "  " best, mib(name[1, best] / nv[1]) " (" cnt[1, best] + 0 ")", mib(name[2, best] / nv[2]) " (" cnt[2, best] + 0 ")", mib(name[2, best])
      delete order[best]
    }
    printf fmt, "host side: LXC monitor (comm " monname ")", mib(mon[1] / monn[1]) " (" monn[1] ")", mib(mon[2] / monn[2]) " (" monn[2] ")", mib(mon[2])
    printf fmt, "containers + monitors", mib((tot[1] + mon[1]) / nv[1]), mib((tot[2] + mon[2]) / nv[2]), mib(tot[2] + mon[2])
    printf fmt, "cgroup memory use (incl. page cache, kernel)", mib(cg[1] / cgn[1]), mib(cg[2] / cgn[2]), mib(cg[2])
  }' "$T_DIR/listening.tsv" "$T_DIR/session.tsv"
echo "(total run time so far: $((($(b_now) - T_START) / 1000000)) s; stopping the VMs...)"
[ -n "${BENCH_HOLD:-}" ] && sleep "$BENCH_HOLD"
b_stop_hkd
