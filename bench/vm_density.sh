#!/usr/bin/env bash
# bench/vm_density.sh: memory per idle VM with its desktop session when many run on one
# node. Takes COUNT VMs (default 30) of the demo DI (IceWM + xterm; built and cached under
# /var/tmp/qvd-di if missing; falls back to the test DI with a bare xterm session) one
# after the other, as users arrive: starts the VM, x_starts a session, connects an NX
# client once and drops it, waits until nxagent suspends, then the next VM. (nxagent gives
# up after 60 s without a client, so the sessions cannot all be started first and
# connected afterwards.) After a settle it sums the PSS (/proc/PID/smaps_rollup) of every
# process of each container (the processes in the PID namespace of the container's init,
# vm_runtimes.vm_pid) with a breakdown by process name. The host-side LXC monitor of each
# container and the containers' cgroup memory use are shown apart.
#   bash bench/vm_density.sh [COUNT]      (as root; build first)
# Set BENCH_KEEP=1 to keep the scratch folder (logs); BENCH_SETTLE=S to change the 10 s settle.
. "$(dirname "$0")/lib.sh"
COUNT=${1:-${BENCH_DENSITY_N:-30}}
SETTLE=${BENCH_SETTLE:-10}
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "COUNT must be a number of VMs (1 or more), not '$COUNT'." >&2; exit 2; }
[[ $SETTLE =~ ^[0-9]+$ ]] || { echo "BENCH_SETTLE must be a number of seconds, not '$SETTLE'." >&2; exit 2; }
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
b_sq_open
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# vma_get ID PATH: body and HTTP status of a VMA call, from the node, as the L7R makes it
declare -A VM_IP VM_SECRET
vma_get() {
  t_in_node curl -s -m 20 -w ' %{http_code}' -H "Authorization: Bearer ${VM_SECRET[$1]}" \
    "http://${VM_IP[$1]}:3030/vma/$2"
}
x_state_is() { vma_get "$1" x_state | grep -q "\"$2\""; }

# measure TAG ID...: one line per process of the containers of the VMs ID (vm ID NAME
# PSS-kB), per host-side LXC monitor (mon - NAME kB) and per container cgroup (cg - - kB),
# appended to $T_DIR/TAG.tsv. A process belongs to the VM whose init (vm_runtimes.vm_pid)
# shares its PID namespace. One stat(1) reads the namespace of every process and one awk
# reads the /proc files, so that measuring 150 VMs (1200 processes) takes seconds on a
# loaded machine, not minutes.
measure() {
  local tag=$1 id ino p
  local -A vm_of=() ns_vm=()
  shift
  for id; do
    b_sq "SELECT vm_pid FROM vm_runtimes WHERE vm_id = $id;"
    if [ -n "$B_SQ_OUT" ] && [ -e "/proc/$B_SQ_OUT" ]; then vm_of[$B_SQ_OUT]=$id
    else echo "# VM $id: no init PID" >&2; fi
  done
  ((${#vm_of[@]})) || return 0
  while read -r ino p; do
    p=${p#/proc/} p=${p%%/*}
    ns_vm[$ino]=${vm_of[$p]}
  done < <(stat -L -c '%i %n' $(printf '/proc/%s/ns/pid ' "${!vm_of[@]}"))
  {
    for p in "${!vm_of[@]}"; do printf 'init\t%s\t%s\n' "${vm_of[$p]}" "$p"; done
    while read -r ino p; do
      [ -n "${ns_vm[$ino]:-}" ] || continue
      p=${p#/proc/} p=${p%%/*}
      printf 'vm\t%s\t%s\n' "${ns_vm[$ino]}" "$p"
    done < <(stat -L -c '%i %n' /proc/[0-9]*/ns/pid 2>/dev/null)
  } | awk -F'\t' -v OFS='\t' '
    function pss(p,   f, l, a, kb) {
      f = "/proc/" p "/smaps_rollup"; kb = ""
      while ((getline l < f) > 0) if (l ~ /^Pss:/) { split(l, a, " "); kb = a[2]; break }
      close(f); return kb
    }
    function comm(p,   f, c) { f = "/proc/" p "/comm"; c = ""; getline c < f; close(f); return c }
    # the memory use of the cgroup of P: v1 memory.usage_in_bytes, else v2 memory.current
    function cg_kb(p,   f, l, ctl, path, v1, v2, b) {
      f = "/proc/" p "/cgroup"
      while ((getline l < f) > 0) {
        ctl = l; sub(/^[^:]*:/, "", ctl); path = ctl; sub(/:.*/, "", ctl); sub(/^[^:]*:/, "", path)
        if (ctl ~ /(^|,)memory(,|$)/) v1 = path
        if (l ~ /^0::/) v2 = path
      }
      close(f)
      f = "/sys/fs/cgroup/memory" v1 "/memory.usage_in_bytes"
      if (v1 != "" && (getline b < f) > 0) { close(f); return int(b / 1024) }
      f = "/sys/fs/cgroup" v2 "/memory.current"
      if (v2 != "" && (getline b < f) > 0) { close(f); return int(b / 1024) }
      return ""
    }
    $1 == "init" {
      kb = cg_kb($3); if (kb != "") print "cg", "-", "-", kb
      # the LXC monitor is the parent of the init: field 4 of stat, after the (name)
      f = "/proc/" $3 "/stat"; mon = ""
      if ((getline l < f) > 0) { sub(/.*\) /, "", l); split(l, a, " "); mon = a[2] }
      close(f)
      kb = mon != "" ? pss(mon) : ""; if (kb != "") print "mon", "-", comm(mon), kb
    }
    $1 == "vm" { kb = pss($3); if (kb != "") print "vm", $2, comm($3), kb }' >>"$T_DIR/$tag.tsv"
}

# An NX client draws on an Xvfb screen of a free display.
TUNNEL=$QVD_BUILD/tests/helpers/vma-tunnel
for ((d = 60; d < 100; d++)); do [ -e "/tmp/.X$d-lock" ] || break; done
DISP=:$d
Xvfb "$DISP" -screen 0 1280x1024x24 -nolisten tcp >"$T_DIR/xvfb.log" 2>&1 &
XVFB_PID=$!
t_cleanup_add "kill $XVFB_PID"
sleep 0.5
kill -0 "$XVFB_PID" 2>/dev/null || { echo "Xvfb did not start on $DISP:" >&2; cat "$T_DIR/xvfb.log" >&2; exit 1; }

# One VM after the other, as users arrive: start it, x_start a session (nxagent listens
# and waits for a client, for 60 s at most), connect an NX client once (nxproxy through the
# VMA, as the L7R relays it; the VMA starts the X session when nxagent reports the client,
# as QVD does), drop it and wait until nxagent suspends. That is the idle VM with its
# desktop. Each VM is also measured alone as soon as its session listens (nothing but the
# VMA and nxagent), while the VMs before it already hold their desktops.
ms_since() { echo $((($(b_now) - $1) / 1000)); }
ran=0 listening=0 connected=0 suspended=0 start_fail=0 STARTED=()
T_RUN= T_LISTEN= T_CONN= T_SUSP=
T_START_VMS=$(b_now) tun= nxp=
t_cleanup_add 'kill $nxp; pkill -P $tun; kill $tun'
for id in "${IDS[@]}"; do
  t0=$(b_now)
  admin vm start --id "$id" >/dev/null
  # the first start unpacks the DI
  if ! b_wait_vm "$id" running $((${#STARTED[@]} ? 60 : 300)); then
    b_sq "SELECT vm_state FROM vm_runtimes WHERE vm_id = $id;"
    echo "# VM $id did not reach running (state: $B_SQ_OUT); the HKD's last words:" >&2
    grep "VM $id[ :]" "$HKD_LOG" | tail -5 >&2
    start_fail=$((start_fail + 1))
    ((start_fail < 3)) && continue
    echo "# three VMs did not start: no more VMs are started" >&2
    break
  fi
  T_RUN+="$(ms_since "$t0") " ran=$((ran + 1)) STARTED+=("$id")
  b_sq "SELECT ip FROM vms WHERE id = $id;" && VM_IP[$id]=$B_SQ_OUT
  b_sq "SELECT vma_secret FROM vm_runtimes WHERE vm_id = $id;" && VM_SECRET[$id]=$B_SQ_OUT

  t0=$(b_now)
  out=$(vma_get "$id" "x_start?qvd.vm.user.name=user$id&qvd.client.geometry=1024x768")
  [ "${out##* }" = 200 ] || { echo "# VM $id: x_start answered: $out" >&2; continue; }
  if ! t_wait 60 x_state_is "$id" listening; then
    echo "# VM $id: the session did not reach listening: $(vma_get "$id" x_state)" >&2; continue
  fi
  T_LISTEN+="$(ms_since "$t0") " listening=$((listening + 1))
  measure listening "$id"

  t0=$(b_now)
  printf '%s' "${VM_SECRET[$id]}" >"$T_DIR/secret-$id"
  port=$((4200 + id))
  t_in_node "$TUNNEL" --listen "127.0.0.1:$port" --vma "${VM_IP[$id]}:3030" \
    --secret-file "$T_DIR/secret-$id" >"$T_DIR/tunnel-$id.log" 2>&1 &
  tun=$!
  for ((i = 0; i < 50; i++)); do t_in_node ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.05; done
  DISPLAY=$DISP t_in_node nxproxy -S "localhost:$((port - 4000))" >"$T_DIR/nxproxy-$id.log" 2>&1 &
  nxp=$!
  if t_wait 30 x_state_is "$id" connected; then T_CONN+="$(ms_since "$t0") " connected=$((connected + 1))
  else echo "# VM $id: no NX connection: $(vma_get "$id" x_state)" >&2; fi
  # the tunnel serves each connection in a child of its own: stop those too
  t0=$(b_now)
  kill "$nxp" 2>/dev/null; wait "$nxp" 2>/dev/null
  pkill -TERM -P "$tun"; kill "$tun" 2>/dev/null; wait "$tun" 2>/dev/null
  nxp= tun=
  if t_wait 20 x_state_is "$id" suspended; then T_SUSP+="$(ms_since "$t0") " suspended=$((suspended + 1))
  else echo "# VM $id: the session did not suspend: $(vma_get "$id" x_state)" >&2; fi
done
T_ALL=$(($(ms_since "$T_START_VMS") / 1000))
kill "$XVFB_PID" 2>/dev/null
sleep "$SETTLE"
((${#STARTED[@]})) || { echo "no VM started:" >&2; tail -30 "$HKD_LOG" >&2; exit 1; }
measure session "${STARTED[@]}"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
med() { tr ' ' '\n' <<<"$1" | grep . | b_stats | awk '{ print $2 " / " $3 }'; }

echo
echo "VM density: $ran of $COUNT VMs idle with their desktops ($WHAT)"
echo "($(nproc) cores, $(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo) GiB," \
  "$(date +%F); load average at the start $LOAD0 and at the end $LOAD; niceness $(nice); OSF memory 512 MB; one VM after the other," \
  "median / max ms: vm start -> running ${T_RUN:+$(med "$T_RUN")} (the first unpacks the DI)," \
  "x_start -> listening $(med "$T_LISTEN"), nxproxy started -> connected $(med "$T_CONN")," \
  "dropped -> suspended $(med "$T_SUSP"); $listening listening, $connected connected, $suspended" \
  "suspended; all VMs in $T_ALL s; the listening column measures each VM as its session listened," \
  "the session column all of them after a ${SETTLE} s settle)"
awk -F'\t' '
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
    printf "PSS per idle desktop: %s MiB (all processes of a container, mean of %d VMs; %s MiB with its LXC monitor)\n", \
      mib(tot[2] / nv[2]), nv[2], mib((tot[2] + mon[2]) / nv[2])
  }' "$T_DIR/listening.tsv" "$T_DIR/session.tsv"
echo "(total run time so far: $((($(b_now) - T_START) / 1000000)) s; stopping the VMs...)"
[ -n "${BENCH_HOLD:-}" ] && sleep "$BENCH_HOLD"
b_stop_hkd
# a figure over VMs that did not all reach their idle desktop is not the figure asked for
((suspended == COUNT)) || { echo "only $suspended of $COUNT VMs reached an idle desktop (see the lines starting with # above)." >&2; exit 1; }
