#!/usr/bin/env bash
# bench/session.sh: what a user feels of the session path, on one node (qvd-hkd + qvd-l7r
# in a test node's namespaces, the L7R on 127.0.0.1 with a self-signed certificate, one
# LXC VM of the test DI whose session paints the root window #2e8b57):
#  1. login -> first frame: from starting the l7r-connect helper (TLS, connect_to_vm) until
#     the session colour shows at the centre of nxagent's window (named QVD) on an Xvfb
#     screen, through nxproxy started once the helper listens; for a stopped VM and for a
#     running VM whose session is suspended (a resume). Polled every ~1 ms by a tiny X
#     client compiled at run time (1x1 XGetImage of the root window).
#  2. relay throughput: bytes pushed through helper -> TLS -> L7R -> VMA upgrade -> the
#     VM's 127.0.0.1:4100, where a sink takes them instead of nxagent (an nftables redirect
#     in the VM's network namespace sends the VMA's connection to the sink; nxagent keeps
#     listening, untouched); against a plain socat copy on the node's loopback, the same copy
#     over TLS (socat at both ends: what encrypting and decrypting once costs), and against
#     the same path without the L7R (vma-tunnel: plain TCP to the VMA upgrade).
#  3. bytes on the wire of one scripted session (resume, colour changes, an xterm listing
#     2000 lines) through the L7R (TLS bytes client<->L7R, from ss) against nxproxy talking
#     to nxagent through vma-tunnel (plain NX bytes), same workload.
#  4. connections the L7R accepts per second (GET /qvd/ping over new TLS connections, one
#     curl holding the URLs, no TLS session reuse), sequential and 8 in parallel; and
#     keep-alive requests per second on one connection.
#   bash bench/session.sh        (as root; build first). Knobs: BENCH_SESSION_N (5),
#   BENCH_RELAY_MB (200), BENCH_PINGS (500), BENCH_KEEP=1 (keep the scratch folder),
#   BENCH_PERF=PATH (perf record the L7R and the VMA during the relay pushes into PATH.l7r/.vma).
. "$(dirname "$0")/lib.sh"
N=${BENCH_SESSION_N:-5}
MB=${BENCH_RELAY_MB:-200}
PINGS=${BENCH_PINGS:-500}
[ -n "${BENCH_KEEP:-}" ] && export QVD_KEEP_TEST_DIR=1
b_init
[ -n "${BENCH_KEEP:-}" ] && echo "# scratch folder: $T_DIR" >&2
b_test_di || { echo "cannot build the test DI" >&2; exit 1; }
L7R=$QVD_BUILD/src/l7r/qvd-l7r
CONNECT=$QVD_BUILD/tests/helpers/l7r-connect
TUNNEL=$QVD_BUILD/tests/helpers/vma-tunnel
for p in "$L7R" "$CONNECT" "$TUNNEL"; do [ -x "$p" ] || { echo "build first: $p" >&2; exit 1; }; done
for t in Xvfb nxproxy socat nft curl ss cc; do
  command -v $t >/dev/null || { echo "bench/session.sh needs $t" >&2; exit 1; }
done
PORT=$((18600 + RANDOM % 300))           # the L7R, inside the node
LPORT=$((4600 + RANDOM % 200))           # helper / tunnel ports (nxproxy wants 4001-4999)
SINK=$((19000 + RANDOM % 300))           # the sink in the VM's network namespace
DISP=:$((230 + RANDOM % 20))
COLOUR=2e8b57
chmod 755 "$T_DIR"  # the L7R runs as nobody: it must reach the database folder

# the pixel poller (one X connection; see tests/helpers/x-colour.c): prints the epoch
# microseconds when the centre of the window NAME has the colour, then the number of polls
XCOLOUR=$QVD_BUILD/tests/helpers/x-colour
[ -x "$XCOLOUR" ] || { echo "$XCOLOUR is not built (libx11-dev)" >&2; exit 1; }

# --- the node
t_self_cert "$T_DIR" localhost
b_node "$T_DIR/node" lxc "hkd.vm_command.poll = 1" "hkd.vma.ping.interval = 1" \
  "hkd.vm.stop.timeout = 5" "vma.x_session = /usr/local/bin/qvd-test-session" \
  "l7r.address = 127.0.0.1" "l7r.port = $PORT" "l7r.user = nobody" \
  "path.l7r.ssl.cert = $T_DIR/cert.pem" "path.l7r.ssl.key = $T_DIR/key.pem" \
  "l7r.timeout.takeover = 5" "log.level = info"
L7R_PID= XVFB_PID= C_PID= NXP_PID= POLL_PID= SINK_PID= TUN_PID= SRC_PID= VMNET=
t_cleanup_add 'kill $C_PID $NXP_PID $POLL_PID $SINK_PID $TUN_PID $SRC_PID $L7R_PID $XVFB_PID; sleep 0.3'
t_cleanup_add '[ -n "$VMNET" ] && nsenter --net="$VMNET" nft delete table ip qvdbench'
admin user add --login alice --password pw >/dev/null
admin osf add --name desk --memory 512 >/dev/null
admin di add --osf desk --path "$TEST_DI" >/dev/null
admin vm add --name desk1 --user alice --osf desk >/dev/null
b_start_hkd || exit 1
b_sq_open
t_node_spawn L7R_PID "$L7R" -c "$CONF" >>"$T_DIR/node/l7r.log" 2>&1
l7r_up() { t_in_node curl -sk -m 2 -o /dev/null "https://127.0.0.1:$PORT/qvd/ping"; }
t_wait 10 l7r_up || { echo "the L7R did not start:" >&2; tail -20 "$T_DIR/node/l7r.log" >&2; exit 1; }
# the X server lives in the node (X's abstract sockets belong to a network namespace)
t_node_spawn XVFB_PID Xvfb $DISP -screen 0 1024x768x24 -nolisten tcp -ac >"$T_DIR/xvfb.log" 2>&1
sleep 0.5

vma_get() { # vma_get RPC: the VMA's answer (VM 1)
  t_in_node curl -s -m 10 -H "Authorization: Bearer $(sql "SELECT vma_secret FROM vm_runtimes WHERE vm_id = 1")" \
    "http://$(sql "SELECT ip FROM vms WHERE id = 1"):3030/vma/$1"
}
x_is() { vma_get x_state | grep -q "\"$1\""; }
slot_free() { b_sq "SELECT user_state || IFNULL(l7r_pid, '-') FROM vm_runtimes WHERE vm_id = 1;"; [ "$B_SQ_OUT" = "disconnected-" ]; }
stop_pid() { local p; for p in "$@"; do [ -n "$p" ] && { kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; }; done; }
# wait_file FILE TEXT SECONDS: polls every ~1 ms
wait_file() {
  local limit=$(($(b_now) + $3 * 1000000))
  while (($(b_now) < limit)); do [[ -f $1 && $(<"$1") == *"$2"* ]] && return 0; b_sleep 0.001; done
  return 1
}
# end_client: stops nxproxy and the helper, waits for the slot to be free (and the session
# suspended if the VM keeps running)
end_client() {
  stop_pid "$NXP_PID" "$C_PID" "$POLL_PID"; NXP_PID= C_PID= POLL_PID=
  t_wait 10 slot_free || echo "# the slot was not freed" >&2
}

# --- 1. login -> first frame
declare -A FIRST UPG
frame_once() { # frame_once KIND INDEX
  local kind=$1 i=$2 port=$((LPORT + $2)) log=$T_DIR/connect-$1-$2.log t0 t1 seen
  mkdir -p "$T_DIR/nxhome"
  DISPLAY=$DISP t_in_node "$XCOLOUR" -n QVD -t 20 -i 5 -e $COLOUR >"$T_DIR/pixel-$kind-$i" 2>/dev/null &
  POLL_PID=$!
  t0=$(b_now)
  t_node_spawn C_PID "$CONNECT" --l7r 127.0.0.1:$PORT --user alice --password pw --vm 1 --listen $port 2>"$log"
  wait_file "$log" "listening on" 90 || { echo "# $kind $i: no 101: $(cat "$log")" >&2; return 1; }
  t1=$(b_now)
  DISPLAY=$DISP HOME=$T_DIR/nxhome t_node_spawn NXP_PID nxproxy -S localhost:$((port - 4000)) >>"$T_DIR/nxproxy.log" 2>&1
  wait "$POLL_PID" || { echo "# $kind $i: the desktop did not show (VMA: $(vma_get x_state))" >&2; POLL_PID=; return 1; }
  POLL_PID=
  read -r seen POLLS <"$T_DIR/pixel-$kind-$i"
  FIRST[$kind]+="$(((seen - t0) / 1000)) " UPG[$kind]+="$(((t1 - t0) / 1000)) "
}
FAILED=0
# the first start on the node unpacks the DI (once per DI and node): measured on its own
frame_once unpack $((2 * N + 5)) || FAILED=$((FAILED + 1))
end_client
for ((i = 0; i < N; i++)); do
  admin vm stop --id 1 >/dev/null 2>&1; b_wait_vm 1 stopped 60 || { echo "VM 1 did not stop" >&2; exit 1; }
  b_sleep 0.3
  frame_once stopped $i || FAILED=$((FAILED + 1))
  end_client
done
# the VM keeps running: the next connect resumes the suspended session, or starts a fresh
# one when nxagent did not survive (it sometimes crashes on a resume: counted)
x_idle() { local s; s=$(vma_get x_state); [[ $s == *'"suspended"'* || $s == *'"stopped"'* ]]; }
RESUMES=0 FRESH=0
for ((i = 0; i < N; i++)); do
  t_wait 20 x_idle || { echo "the session did not suspend: $(vma_get x_state)" >&2; exit 1; }
  if x_is suspended; then kind=running; RESUMES=$((RESUMES + 1)); else kind=fresh; FRESH=$((FRESH + 1)); fi
  b_sleep 0.3
  frame_once $kind $((N + i)) || FAILED=$((FAILED + 1))
  end_client
done
t_wait 20 x_idle

# --- 2. relay throughput
BYTES=$((MB * 1024 * 1024))
VMNET=/proc/$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = 1")/ns/net
sink_start() { # sink_start NETNS_FILE PORT OUT [BIND-ADDRESS]
  nsenter --net="$1" socat -u -b 131072 "${SINK_ADDR:-TCP-LISTEN}:$2,bind=${4:-127.0.0.1},reuseaddr${SINK_OPTS:-}" STDOUT | wc -c >"$3" &
  SINK_PID=$!
  local k
  for ((k = 0; k < 100; k++)); do nsenter --net="$1" ss -Hltn "sport = :$2" | grep -q . && return 0; b_sleep 0.02; done
  return 1
}
push() { # push [HOST:]PORT OUT: TP = MB/s from the first byte sent to the sink's end
  local t0 t1 got
  TP=-
  t0=$(b_now)
  local dest=$1
  [[ $dest == *:* ]] || dest=127.0.0.1:$dest
  t_in_node timeout 120 socat -u -b 131072 OPEN:/dev/zero,readbytes=$BYTES "${PUSH_ADDR:-TCP}:$dest${PUSH_OPTS:-}" &
  SRC_PID=$!
  wait "$SINK_PID"; t1=$(b_now); SINK_PID=
  wait "$SRC_PID"; SRC_PID=
  got=$(<"$2")
  [ "$got" = "$BYTES" ] || { echo "# the sink got $got of $BYTES bytes" >&2; return; }
  TP=$(awk -v b="$BYTES" -v us=$((t1 - t0)) 'BEGIN { printf "%.0f", b / 1048576 / (us / 1e6) }')
}
# Each path is pushed RUNS times and keeps its best figure: on a shared 2-core machine one
# run can lose half its speed to a neighbour.
RUNS=${BENCH_RELAY_RUNS:-3}
best() { [ "$TP" != - ] && { [ "$1" = - ] || [ "$TP" -gt "$1" ]; } && echo "$TP" || echo "$1"; }
# a) plain copy on the node's loopback
TP_DIRECT=-
for ((r = 0; r < RUNS; r++)); do
  sink_start "/run/netns/$T_NS_NET" $SINK "$T_DIR/sink-direct" || { echo "no sink" >&2; exit 1; }
  push $SINK "$T_DIR/sink-direct"; TP_DIRECT=$(best "$TP_DIRECT")
done
# a2) the same copy over TLS (socat both ends, OpenSSL's defaults as with the helper): the
# ceiling of any path that encrypts and decrypts once on this machine
TP_TLS=-
for ((r = 0; r < RUNS; r++)); do
  SINK_ADDR=OPENSSL-LISTEN SINK_OPTS=",cert=$T_DIR/cert.pem,key=$T_DIR/key.pem,verify=0" \
    sink_start "/run/netns/$T_NS_NET" $SINK "$T_DIR/sink-tls" || { echo "no TLS sink" >&2; exit 1; }
  PUSH_ADDR=OPENSSL PUSH_OPTS=",verify=0" push $SINK "$T_DIR/sink-tls"; TP_TLS=$(best "$TP_TLS")
done
# b) through the L7R: the VMA's connection to nxagent's 127.0.0.1:4100 goes to the sink
nsenter --net="$VMNET" nft -f - <<EOF || { echo "cannot add the redirect in the VM" >&2; exit 1; }
table ip qvdbench {
  chain out { type nat hook output priority -100; ip daddr 127.0.0.1 tcp dport 4100 redirect to :$SINK; }
}
EOF
VMA_PID=$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = 1")
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime + stime
HZ=$(getconf CLK_TCK)
sys_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6; exit }' /proc/stat; } # busy idle
sys_busy() { # sys_busy "BUSY0 IDLE0" "BUSY1 IDLE1": share of all cores that was busy, in %
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); u = y[1] - x[1]; i = y[2] - x[2]
    if (u + i > 0) printf "%.0f", 100 * u / (u + i); else print "-" }'
}
TP_L7R=- CPU_L7R=- CPU_VMA=- CPU_ALL=- BUSY=- PERF_PID=
if [ -n "${BENCH_PERF:-}" ]; then # profile the L7R and the VMA during these pushes
  perf record -q -g -o "$BENCH_PERF.l7r" -p "$L7R_PID" 2>/dev/null & PERF_PID="$PERF_PID $!"
  perf record -q -g -o "$BENCH_PERF.vma" -p "$VMA_PID" 2>/dev/null & PERF_PID="$PERF_PID $!"
fi
for ((r = 0; r < RUNS; r++)); do
  sink_start "$VMNET" $SINK "$T_DIR/sink-l7r" || { echo "no sink in the VM" >&2; exit 1; }
  t_node_spawn C_PID "$CONNECT" --l7r 127.0.0.1:$PORT --user alice --password pw --vm 1 --listen $((LPORT + 90)) 2>"$T_DIR/connect-relay.log"
  wait_file "$T_DIR/connect-relay.log" "listening on" 60 || { echo "relay: no 101: $(cat "$T_DIR/connect-relay.log")" >&2; exit 1; }
  c0=$(cpu_ticks "$L7R_PID") v0=$(cpu_ticks "$VMA_PID") s0=$(sys_ticks)
  push $((LPORT + 90)) "$T_DIR/sink-l7r"
  if [ "$(best "$TP_L7R")" != "$TP_L7R" ]; then
    TP_L7R=$TP
    CPU_L7R=$(((($(cpu_ticks "$L7R_PID") - c0) * 1000) / HZ)) CPU_VMA=$(((($(cpu_ticks "$VMA_PID") - v0) * 1000) / HZ))
    s1=$(sys_ticks); BUSY=$(sys_busy "$s0" "$s1")
    CPU_ALL=$(((${s1%% *} - ${s0%% *}) * 1000 / HZ))
  fi
  stop_pid "$C_PID"; C_PID=
  t_wait 10 slot_free
done
[ -n "$PERF_PID" ] && { kill -INT $PERF_PID; wait $PERF_PID; echo "# perf data: $BENCH_PERF.l7r, $BENCH_PERF.vma" >&2; }
# b2) a plain copy from the node to the VM's address (bridge + veth, the sink's own port)
VMIP=$(sql "SELECT ip FROM vms WHERE id = 1")
TP_VETH=-
if sink_start "$VMNET" $SINK "$T_DIR/sink-veth" "$VMIP"; then
  push "$VMIP:$SINK" "$T_DIR/sink-veth"; TP_VETH=$TP
fi
# c) the same without the L7R: vma-tunnel (plain TCP) to the VMA's upgrade
sql "SELECT vma_secret FROM vm_runtimes WHERE vm_id = 1" | tr -d '\n' >"$T_DIR/secret"
t_node_spawn TUN_PID "$TUNNEL" --listen 127.0.0.1:$((LPORT + 91)) --vma "$VMIP:3030" --secret-file "$T_DIR/secret" >"$T_DIR/tunnel.log" 2>&1
t_wait 5 t_in_node sh -c "ss -Hltn 'sport = :$((LPORT + 91))' | grep -q ."
TP_TUN=-
if x_is listening && sink_start "$VMNET" $SINK "$T_DIR/sink-tun"; then
  push $((LPORT + 91)) "$T_DIR/sink-tun"; TP_TUN=$TP
else echo "# vma-tunnel run skipped: session $(vma_get x_state)" >&2; fi
pkill -TERM -P "$TUN_PID" 2>/dev/null; stop_pid "$TUN_PID"; TUN_PID=
nsenter --net="$VMNET" nft delete table ip qvdbench

# --- 3. bytes on the wire of one scripted session
WORK='for c in red green blue yellow cyan magenta white black orange purple; do xsetroot -solid $c; done
xterm -geometry 80x40+10+10 -e sh -c "ls -lR /usr | head -2000"; xsetroot -solid "#2e8b57"'
workload() {
  t_in_node lxc-attach -P "$T_DIR/node/run/lxc" -n qvd-1 -- \
    runuser -u alice -- env DISPLAY=:100 HOME=/home/alice sh -c "$WORK" >/dev/null 2>&1
  b_sleep 2   # let the last updates reach the client
}
# sock_bytes PORT: sent + received payload bytes of the node's TCP socket connected to PORT
sock_bytes() {
  t_in_node ss -tinH state established "( dport = :$1 )" |
    awk '{ for (i = 1; i <= NF; i++) { if ($i ~ /^bytes_acked:/) { split($i, a, ":"); s += a[2] }
                                       if ($i ~ /^bytes_received:/) { split($i, a, ":"); s += a[2] } } }
         END { print s + 0 }'
}
shown() { # shown: waits for the session colour (the poller)
  DISPLAY=$DISP t_in_node "$XCOLOUR" -n QVD -t 30 -i 10 $COLOUR 2>/dev/null
}
# both runs start a fresh X session (x_stop first): a resume's first refresh would differ
fresh_session() {
  t_wait 20 x_idle; vma_get x_stop >/dev/null
  t_wait 20 x_is stopped || echo "# the session did not stop: $(vma_get x_state)" >&2
}
# One run of each path, alternating, WIRE_RUNS times: the scripted session's bytes vary
# from run to run (xterm's scrolling follows timing), so the medians are compared.
WIRE_RUNS=${BENCH_WIRE_RUNS:-3}
wire_l7r() { # W_TLS W_NX_L7R of one session through the L7R
  local p=$((LPORT + 92))
  rm -rf "$T_DIR/nxhome"; mkdir -p "$T_DIR/nxhome"
  fresh_session
  t_node_spawn C_PID "$CONNECT" --l7r 127.0.0.1:$PORT --user alice --password pw --vm 1 --listen $p 2>"$T_DIR/connect-wire.log"
  wait_file "$T_DIR/connect-wire.log" "listening on" 60 || { echo "wire: no 101" >&2; exit 1; }
  DISPLAY=$DISP HOME=$T_DIR/nxhome t_node_spawn NXP_PID nxproxy -S localhost:$((p - 4000)) >>"$T_DIR/nxproxy.log" 2>&1
  shown || { echo "wire: no desktop" >&2; exit 1; }
  workload
  W_TLS="$W_TLS $(sock_bytes $PORT)" W_NX_L7R="$W_NX_L7R $(sock_bytes $p)"
  end_client
}
wire_tunnel() { # W_RAW of the same session, nxproxy to nxagent through vma-tunnel
  local p=$((LPORT + 93))
  rm -rf "$T_DIR/nxhome"; mkdir -p "$T_DIR/nxhome"
  fresh_session
  vma_get "x_start?qvd.vm.user.name=alice&qvd.client.os=linux&qvd.client.geometry=800x600&qvd.client.link=lan&qvd.client.keyboard=pc105/en&qvd.client.fullscreen=0" >/dev/null
  t_wait 20 x_is listening || { echo "wire: x_start did not listen: $(vma_get x_state)" >&2; exit 1; }
  t_node_spawn TUN_PID "$TUNNEL" --listen 127.0.0.1:$p --vma "$VMIP:3030" --secret-file "$T_DIR/secret" >>"$T_DIR/tunnel.log" 2>&1
  t_wait 5 t_in_node sh -c "ss -Hltn 'sport = :$p' | grep -q ."
  DISPLAY=$DISP HOME=$T_DIR/nxhome t_node_spawn NXP_PID nxproxy -S localhost:$((p - 4000)) >>"$T_DIR/nxproxy.log" 2>&1
  shown || { echo "wire (tunnel): no desktop" >&2; exit 1; }
  workload
  W_RAW="$W_RAW $(sock_bytes $p)"
  stop_pid "$NXP_PID"; NXP_PID=
  pkill -TERM -P "$TUN_PID" 2>/dev/null; stop_pid "$TUN_PID"; TUN_PID=
}
W_TLS= W_NX_L7R= W_RAW=
for ((r = 0; r < WIRE_RUNS; r++)); do wire_l7r; wire_tunnel; done

# --- 4. connections per second
URL=https://127.0.0.1:$PORT/qvd/ping
pings() { # pings COUNT [CURL OPTIONS]: one curl fetching COUNT pings; prints its connects
  local n=$1 k; shift
  local -a urls=()
  for ((k = 0; k < n; k++)); do urls+=("$URL"); done
  t_in_node curl -sk "$@" -o /dev/null -w '%{num_connects}\n' "${urls[@]}" | awk '{ s += $1 } END { print s + 0 }'
}
rate() { awk -v n="$1" -v us="$2" 'BEGIN { printf "%.0f", n / (us / 1e6) }'; }
t0=$(b_now); CONN_SEQ=$(pings $PINGS --no-sessionid -H 'Connection: close'); t1=$(b_now)
RATE_SEQ=$(rate "$CONN_SEQ" $((t1 - t0)))
t0=$(b_now)
PAR=()
for ((k = 0; k < 8; k++)); do pings $((PINGS / 8)) --no-sessionid -H 'Connection: close' >"$T_DIR/par-$k" & PAR+=($!); done
wait "${PAR[@]}"
t1=$(b_now)
CONN_PAR=$(cat "$T_DIR"/par-* | awk '{ s += $1 } END { print s }')
RATE_PAR=$(rate "$CONN_PAR" $((t1 - t0)))
KA=$((PINGS * 4))
t0=$(b_now); CONN_KA=$(pings $KA); t1=$(b_now)
RATE_KA=$(rate $KA $((t1 - t0)))

# --- the table
FRESH_MS=${FIRST[fresh]:-}
st() { tr ' ' '\n' <<<"$1" | grep . | b_stats | awk '{ printf "%s / %s / %s ms", $1, $2, $3 }'; }
row() { printf '| %-62s | %-26s | %-12s |\n' "$1" "$2" "$3"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%+.1f %%", (a / b - 1) * 100; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "Session path through qvd-l7r, one node, test DI ($(nproc) cores, $(date +%F)); N=$N"
row "figure" "value (min / median / max)" "target"
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..64})" "$(printf -- '-%.0s' {1..28})" "$(printf -- '-%.0s' {1..14})"
row "login -> first frame, first start of the DI on the node (unpack)" "$(st "${FIRST[unpack]:-}")" ""
row "login -> first frame, VM stopped (l7r-connect + nxproxy)" "$(st "${FIRST[stopped]:-}")" "< 1000 ms"
row "  of which connect -> 101 (VM start, x_start, upgrade)" "$(st "${UPG[stopped]:-}")" ""
row "login -> first frame, VM running, session suspended (resume)" "$(st "${FIRST[running]:-}")" "< 300 ms"
row "  of which connect -> 101 (x_start resume, upgrade)" "$(st "${UPG[running]:-}")" ""
row "login -> first frame, VM running, fresh session (nxagent lost)" "$(st "${FRESH_MS:-}")" "< 300 ms"
row "  connects: resumes / fresh / desktop not shown" "$RESUMES / $FRESH / $FAILED" ""
row "relay: plain socat copy on loopback" "$TP_DIRECT MB/s" ""
row "relay: helper -> TLS -> L7R -> VMA -> VM's 127.0.0.1:4100" "$TP_L7R MB/s" ""
row "relay: ratio L7R / plain copy" "$(ratio "$TP_L7R" "$TP_DIRECT")" ">= 0.5"
row "relay: socat copy over TLS on loopback (no relay)" "$TP_TLS MB/s" ""
row "relay: ratio TLS copy / plain copy (ceiling of a TLS path)" "$(ratio "$TP_TLS" "$TP_DIRECT")" ""
row "relay: ratio L7R / TLS copy" "$(ratio "$TP_L7R" "$TP_TLS")" ""
row "relay: vma-tunnel (plain TCP) -> VMA -> VM's 127.0.0.1:4100" "$TP_TUN MB/s" ""
row "relay: plain socat copy node -> VM address (bridge + veth)" "$TP_VETH MB/s" ""
row "relay: CPU during the best L7R push: L7R / VMA / all processes" "$CPU_L7R / $CPU_VMA / $CPU_ALL ms" ""
row "relay: share of both cores busy during that push" "$BUSY %" ""
row "relay: bytes the L7R relays per second of its own CPU" "$(awk -v mb="$MB" -v ms="$CPU_L7R" 'BEGIN { if (ms + 0 > 0) printf "%.0f MB/s", mb * 1000 / ms; else print "-" }')" ""
med() { tr ' ' '\n' <<<"$1" | grep . | b_stats | awk '{ print $2 }'; }
bst() { tr ' ' '\n' <<<"$1" | grep . | b_stats | awk '{ printf "%s / %s / %s B", $1, $2, $3 }'; }
row "wire: scripted session via vma-tunnel, NX bytes" "$(bst "$W_RAW")" ""
row "wire: same through the L7R, TLS bytes client<->L7R" "$(bst "$W_TLS")" ""
row "wire: L7R overhead, median vs median" "$(pct "$(med "$W_TLS")" "$(med "$W_RAW")")" "<= +3 %"
row "wire: L7R runs' own NX bytes nxproxy<->helper" "$(bst "$W_NX_L7R")" ""
row "wire: TLS overhead within the L7R runs (median)" "$(pct "$(med "$W_TLS")" "$(med "$W_NX_L7R")")" ""
row "new TLS connections/s, sequential ($CONN_SEQ GET /qvd/ping)" "$RATE_SEQ /s" ""
row "new TLS connections/s, 8 parallel ($CONN_PAR GET /qvd/ping)" "$RATE_PAR /s" ""
row "keep-alive GET /qvd/ping/s, $KA on $CONN_KA connection(s)" "$RATE_KA /s" ""
echo "(the frame poller looked every ~5 ms; relay: best of $RUNS pushes of $MB MiB /dev/zero by socat, sink in the" \
  "VM's network namespace via an nftables redirect of 4100, nxagent left listening; wire: ss" \
  "bytes_acked + bytes_received, fresh nxproxy cache each run, $WIRE_RUNS runs of each path alternating; pings: one curl process per" \
  "stream, --no-sessionid, Connection: close)"
