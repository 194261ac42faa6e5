#!/usr/bin/env bash
# The slave channel end to end (qvd-client -> qvd-l7r -> VMA -> nxagent slave=, real
# nxproxy, sftp-server in the VM, sshfs here): a tunnel from a port in the VM to a port on
# the client's side carries bytes both ways; a VM folder mounted on the client side shows
# files written on either side; both slave servers refuse requests without the session's
# key or with another session's key; the key is in no command line; a server with
# vma.slave.enable off gets its one sentence from the client and the session goes on.
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
for tool in sshfs socat fusermount; do
  command -v $tool >/dev/null || { t_skip "slave channel" "missing $tool (scripts/install-deps.sh)"; exit 0; }
done
[ -c /dev/fuse ] || { t_skip "slave channel" "no /dev/fuse on this machine"; exit 0; }
session_node_init slv1 || { t_fail "the test node starts"; exit 1; }
C1= ECHO=
MNT=$T_DIR/vmhome
mkdir -p "$MNT"
t_cleanup_add 'kill $C1 $ECHO; sleep 0.5; t_in_node fusermount -u -z "$MNT" 2>/dev/null'
xvfb XPID DISP || { t_fail "Xvfb starts"; exit 1; }

# the client side's service: upper-cases what it gets (bytes both ways)
t_node_spawn ECHO socat TCP-LISTEN:7302,bind=127.0.0.1,reuseaddr,fork SYSTEM:'stdbuf -oL tr a-z A-Z'
client C1 --vm-id 1 --tunnel 7301:7302 --vm-folder /home/alice:"$MNT" 2>>"$T_DIR/client.log"
t_check "the session with a tunnel and a VM folder shows its desktop" desktop_shown 90

# our client, like QVD's, sends no qvd.client.slave.enable: the channel is on, as QVD's VMA
# gives it (reference 7: slave=1 at port 11000 + display)
t_check "nxagent's options carry slave=11100" \
  grep -q ',slave=11100,' <(in_vm 1 cat /var/run/qvd/nxagent-100.options)

# --- the tunnel: a port in the VM that reaches the client's port ---
vm_tcp() { # vm_tcp PORT TEXT: TEXT sent to 127.0.0.1:PORT in the VM as alice, the first line back
  in_vm 1 runuser -u alice -- timeout 10 bash -c \
    "exec 3<>/dev/tcp/127.0.0.1/$1 && printf '%s\n' '$2' >&3 && head -n 1 <&3"
}
tunnel_up() { [ "$(vm_tcp 7301 hello 2>/dev/null)" = HELLO ]; }
t_check "a connection to the tunnel's port in the VM reaches the client's port and back" t_wait 60 tunnel_up
t_check "a second connection through the tunnel works as well" [ "$(vm_tcp 7301 again)" = AGAIN ]

# --- the VM folder on the client side (sftp-server in the VM, sshfs -o slave here) ---
mounted() { t_in_node grep -q " $MNT fuse.sshfs " /proc/self/mounts; }
t_check "the VM's folder is mounted on the client side" t_wait 60 mounted
in_vm 1 runuser -u alice -- sh -c 'echo written-in-the-vm > /home/alice/from-vm.txt'
read_here() { [ "$(t_in_node cat "$MNT/from-vm.txt" 2>/dev/null)" = written-in-the-vm ]; }
t_check "a file written in the VM is read on the client side" t_wait 20 read_here
t_in_node sh -c "echo written-on-the-client > '$MNT/from-client.txt'"
read_vm() { [ "$(in_vm 1 cat /home/alice/from-client.txt 2>/dev/null)" = written-on-the-client ]; }
t_check "a file written on the client side is read in the VM" t_wait 20 read_vm
t_check "and it belongs to the session user in the VM" \
  [ "$(in_vm 1 stat -c %U /home/alice/from-client.txt)" = alice ]

# --- the keys ---
KEYFILE=$(in_vm 1 sh -c 'ls /var/run/qvd/slave-*.key' | head -1)
K1=$(in_vm 1 cat "$KEYFILE")
t_check "the VM keeps the session's key for the user only (0600, alice)" \
  [ "$(in_vm 1 stat -c '%a %U' "$KEYFILE")" = "600 alice" ]
t_check "the VM's key is the client's (X-QVD-Slave-Key)" [ "$K1" = "$(cat "$T_DIR/home/.qvd/slave-key")" ]
t_check "the key is in no command line on either side" \
  eval '! t_in_node pgrep -af "$K1" >/dev/null && ! in_vm 1 pgrep -af "$K1" >/dev/null'
NXP=$(t_in_node pgrep -P "$C1" -x nxproxy | head -1)
SLAVE_PORT=$(t_in_node ps -o args= -p "$NXP" | grep -o 'slave=[0-9]*' | cut -d= -f2)
t_check "nxproxy got a slave port" [ -n "$SLAVE_PORT" ]
# ask_client HEADERS TARGET: a request to the client's slave server, made in the VM (through
# nxagent's slave port 11100); its status line
ask_client() {
  in_vm 1 runuser -u alice -- timeout 10 bash -c \
    "exec 3<>/dev/tcp/127.0.0.1/11100 && printf 'POST $2 HTTP/1.1\r\n$1\r\n' >&3 && head -n 1 <&3" | tr -d '\r'
}
# ask_vm HEADERS TARGET: a request to the VM's slave server from the client side (nxproxy's port)
ask_vm() {
  t_in_node timeout 10 bash -c \
    "exec 3<>/dev/tcp/127.0.0.1/$SLAVE_PORT && printf 'GET $2 HTTP/1.1\r\n$1\r\n' >&3 && head -n 1 <&3" | tr -d '\r'
}
t_check "the client's slave server answers the key (tunnel port: 101)" \
  [ "$(ask_client "X-QVD-Slave-Key: $K1\r\n" /tcp/connect/7302)" = "HTTP/1.1 101 Switching Protocols" ]
t_check "the client's slave server refuses a request without the key (401)" \
  [ "$(ask_client "" /tcp/connect/7302)" = "HTTP/1.1 401 Unauthorized" ]
t_check "the client's slave server refuses a port the user did not open (403)" \
  [ "$(ask_client "X-QVD-Slave-Key: $K1\r\n" /tcp/connect/$PORT)" = "HTTP/1.1 403 Forbidden" ]
t_check "the VM's slave server answers the key in QVD's Authorization: Basic" \
  [ "$(ask_vm "Authorization: Basic $K1\r\n" /ping)" = "HTTP/1.1 200 OK" ]
t_check "the VM's slave server refuses a request without the key (401)" \
  [ "$(ask_vm "" /ping)" = "HTTP/1.1 401 Unauthorized" ]

# another session: the old key is refused on both ends, the new one answered
kill "$C1"; t_wait 10 dead "$C1"; t_wait 15 slot_free 1
t_in_node fusermount -u -z "$MNT" 2>/dev/null
client C1 --vm-id 1 --tunnel 7301:7302 2>>"$T_DIR/client.log"
t_check "the session resumes with a new client" desktop_shown 90
t_wait 60 tunnel_up
K2=$(in_vm 1 cat "$KEYFILE")
NXP=$(t_in_node pgrep -P "$C1" -x nxproxy | head -1)
SLAVE_PORT=$(t_in_node ps -o args= -p "$NXP" | grep -o 'slave=[0-9]*' | cut -d= -f2)
t_check "the new connection has a new key" [ -n "$K2" -a "$K2" != "$K1" ]
t_check "the client's slave server refuses the previous session's key" \
  [ "$(ask_client "X-QVD-Slave-Key: $K1\r\n" /tcp/connect/7302)" = "HTTP/1.1 401 Unauthorized" ]
t_check "the VM's slave server refuses the previous session's key" \
  [ "$(ask_vm "X-QVD-Slave-Key: $K1\r\n" /ping)" = "HTTP/1.1 401 Unauthorized" ]
t_check "the VM's slave server answers the new key" \
  [ "$(ask_vm "X-QVD-Slave-Key: $K2\r\n" /ping)" = "HTTP/1.1 200 OK" ]
t_check "the tunnel works again in the new connection" tunnel_up

# --- a server with the slave channel off: one sentence, at once, and the session goes on ---
kill "$C1"; t_wait 10 dead "$C1"; t_wait 15 slot_free 1
admin config set vma.slave.enable 0 >/dev/null
: >"$T_DIR/off.log"
client C1 --vm-id 1 --tunnel 7301:7302 2>"$T_DIR/off.log"
said() { grep -q 'turned off on this server (vma.slave.enable)' "$T_DIR/off.log"; }
t_check "the client says the server has the slave channel off" t_wait 60 said
t_check "in one sentence" [ "$(grep -c 'vma.slave.enable' "$T_DIR/off.log")" = 1 ]
t_check "and the session goes on without it" desktop_shown 90
t_check "nxproxy gets no slave port then" \
  eval '! t_in_node ps -o args= -p "$(t_in_node pgrep -P "$C1" -x nxproxy | head -1)" | grep -q slave='
admin config del vma.slave.enable >/dev/null
exit 0
