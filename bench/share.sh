#!/usr/bin/env bash
# bench/share.sh: how soon a file written on one side of a VM folder opened on the client
# (qvd-client --vm-folder: sftp-server in the VM, sshfs -o slave on the client, through the
# slave channel of nxagent/nxproxy) can be read on the other side, and how fast a tunnel
# (--tunnel) answers. The whole path: qvd-client -> qvd-l7r (TLS) -> VMA in an LXC VM of
# the test DI -> nxagent (tests/session_node.sh). Each figure is the median of
# BENCH_SHARE_RUNS (10) files of one line: written with one command on one side, then read
# in a loop on the other until its text shows (the loop's own step, a process start,
# counts in: about 5-20 ms on the machine of the figures). Also the time sshfs takes to
# show a new file written in the VM when its directory was listed just before (its
# attribute cache: sshfs's default 20 s dcache shows here).
#   bash bench/share.sh    (as root; build first). Knobs: BENCH_SHARE_RUNS, BENCH_KEEP=1.
. "$(dirname "$0")/../tests/lib.sh"
[ -n "${BENCH_KEEP:-}" ] && export QVD_KEEP_TEST_DIR=1
t_init
. "$(dirname "$0")/../tests/session_node.sh"
RUNS=${BENCH_SHARE_RUNS:-10}
session_node_init bsh1 >/dev/null || { echo "the test node did not start" >&2; exit 1; }
C1= ECHO=
MNT=$T_DIR/vmhome
mkdir -p "$MNT"
t_cleanup_add 'kill $C1 $ECHO; sleep 0.5; t_in_node fusermount -u -z "$MNT" 2>/dev/null'
xvfb XPID DISP >/dev/null || exit 1
t_node_spawn ECHO socat TCP-LISTEN:7302,bind=127.0.0.1,reuseaddr,fork SYSTEM:'stdbuf -oL tr a-z A-Z'
client C1 --vm-id 1 --tunnel 7301:7302 --vm-folder /home/alice:"$MNT" 2>>"$T_DIR/client.log"
desktop_shown 90 || { echo "no desktop" >&2; exit 1; }
mounted() { t_in_node grep -q " $MNT fuse.sshfs " /proc/self/mounts; }
t_wait 60 mounted || { echo "the VM folder was not mounted" >&2; exit 1; }
now() { date +%s%N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# the VM writes, the client reads (each a new name: no cache has seen it)
vm_to_client() {
  local i t0 t1
  for i in $(seq "$RUNS"); do
    t0=$(now)
    in_vm 1 runuser -u alice -- sh -c "echo v$i > /home/alice/b-vm-$i"
    until [ "$(t_in_node cat "$MNT/b-vm-$i" 2>/dev/null)" = "v$i" ]; do :; done
    t1=$(now)
    echo $(((t1 - t0) / 1000000))
  done | median
}
# the client writes, the VM reads
client_to_vm() {
  local i t0 t1
  for i in $(seq "$RUNS"); do
    t0=$(now)
    t_in_node sh -c "echo c$i > '$MNT/b-cl-$i'"
    until [ "$(in_vm 1 cat "/home/alice/b-cl-$i" 2>/dev/null)" = "c$i" ]; do :; done
    t1=$(now)
    echo $(((t1 - t0) / 1000000))
  done | median
}
# the same as vm_to_client, but the client listed the folder just before the write
listed_first() {
  local i t0 t1
  for i in $(seq 3); do
    t_in_node ls "$MNT" >/dev/null
    t0=$(now)
    in_vm 1 runuser -u alice -- sh -c "echo l$i > /home/alice/b-ls-$i"
    until [ "$(t_in_node cat "$MNT/b-ls-$i" 2>/dev/null)" = "l$i" ]; do sleep 0.1; done
    t1=$(now)
    echo $(((t1 - t0) / 1000000))
  done | median
}
# a tunnel round trip: connect from the VM, one line there and back
tunnel_rtt() {
  local i t0 t1
  for i in $(seq "$RUNS"); do
    t0=$(now)
    in_vm 1 runuser -u alice -- bash -c 'exec 3<>/dev/tcp/127.0.0.1/7301; echo x >&3; head -n 1 <&3' >/dev/null
    t1=$(now)
    echo $(((t1 - t0) / 1000000))
  done | median
}
# what one command in the VM costs by itself (lxc-attach), to read the figures against
vm_cmd() {
  local i t0 t1
  for i in $(seq "$RUNS"); do
    t0=$(now); in_vm 1 true; t1=$(now); echo $(((t1 - t0) / 1000000))
  done | median
}
printf '%-58s %8s\n' "measure (median of $RUNS)" "ms"
printf '%-58s %8s\n' "write in the VM -> read on the client" "$(vm_to_client)"
printf '%-58s %8s\n' "write on the client -> read in the VM" "$(client_to_vm)"
printf '%-58s %8s\n' "write in the VM -> read on the client, folder listed before" "$(listed_first)"
printf '%-58s %8s\n' "tunnel: connect + one line both ways, from the VM" "$(tunnel_rtt)"
printf '%-58s %8s\n' "(one command in the VM alone: lxc-attach)" "$(vm_cmd)"
