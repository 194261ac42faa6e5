#!/usr/bin/env bash
# What a user sees, end to end: qvd-client logs in through qvd-l7r (TLS), the node starts
# the VM, and the desktop appears on an Xvfb screen through nxproxy. Also: reconnecting
# resumes the same X session, a second client takes the session over, the client's error
# sentences, and that killing the client, the L7R or the VM frees the user slot.
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
session_node_init sess1 "l7r.timeout.request = 3" || { t_fail "the test node starts"; exit 1; }
B=$QVD_BUILD
C1= C2=
t_cleanup_add 'kill $C1 $C2; sleep 0.5'
admin user add --login bob --password pw2 >/dev/null
admin vm add --name bobs --user bob --osf desk >/dev/null      # VM 2
admin vm add --name spare --user alice --osf desk >/dev/null   # VM 3
# Two screens, as on two machines of the user (a takeover comes from another machine).
xvfb XVFB_PID DISP1 && xvfb XVFB2_PID DISP2 || { t_fail "Xvfb starts"; exit 1; }
DISP=$DISP1

# --- errors become one sentence and a non-zero exit ---
out=$(PW=wrong client_run --vm-id 1); rc=$?
t_check "a wrong password: the login sentence and a non-zero exit" \
  eval '[ $rc -ne 0 ] && grep -q "Login failed: wrong user name or password." <<<"$out"'
out=$(client_run --vm-id 2); rc=$?
t_check "another user's VM is refused" eval '[ $rc -ne 0 ] && grep -qi "not allowed" <<<"$out"'
out=$(client_run --vm-id 99); rc=$?
t_check "an unknown VM: 'No such virtual machine.'" \
  eval '[ $rc -ne 0 ] && grep -q "No such virtual machine." <<<"$out"'
sql "UPDATE vm_runtimes SET blocked = 1 WHERE vm_id = 3"
out=$(client_run --vm-id 3); rc=$?
t_check "a blocked VM: 'offline for maintenance'" \
  eval '[ $rc -ne 0 ] && grep -q "offline for maintenance" <<<"$out"'
out=$(QVDPASSWORD=pw HOME=$T_DIR/home t_in_node "$CLIENT" --host 127.0.0.1 --port $PORT --user alice --vm-id 1 </dev/null 2>&1 >/dev/null); rc=$?
t_check "an unknown certificate is never accepted silently" \
  eval '[ $rc -ne 0 ] && grep -qi "fingerprint" <<<"$out"'
out=$(client_run --list-vms 2>&1)
t_check "--list-vms lists the user's VMs" eval 'QVDPASSWORD=pw HOME=$T_DIR/home t_in_node "$CLIENT" --host 127.0.0.1 --port $PORT --user alice --accept-cert once --list-vms 2>/dev/null | t_has desk1'

# --- the desktop ---
t_check "VM 1 is stopped before the first login" is_vm 1 stopped
client C1 --vm-id 1 --geometry 800x600 2>"$T_DIR/c1.log"
t_check "the client shows the user's desktop (pixels on the Xvfb screen)" desktop_shown 60
t_check "the L7R started the stopped VM and the client showed its progress" \
  eval 'is_vm 1 running && grep -qi "virtual machine\|starting\|assign" "$T_DIR/c1.log"'
t_check "the user slot is connected through this L7R" slot_connected 1
t_check "the L7R runs unprivileged" [ "$(ps -o user= -p "$L7R_PID")" = nobody ]
# The VM's nxagent is QVD's build when images/nx-libs/patches has patches: it names them
# at start-up and the VMA logs that line (at info level).
want=$(grep -vE '^[[:space:]]*(#|$)' "$QVD_TOP/images/nx-libs/patches/series" 2>/dev/null |
  sed 's/\.patch$//' | paste -sd' ')
if [ -n "$want" ]; then
  t_check "the VMA logs which nxagent runs ('QVD patches: $want')" \
    t_in_node grep -qF "nxagent: QVD patches: $want" "$T_DIR/log/vm/1/vma.log"
fi

# --- bad requests while the session relays: answered or dropped, the session unharmed ---
raw() { t_tls_raw $PORT "$@"; }
out=$(raw 'GARBAGE\r\n\r\n')
t_check "while relaying: a malformed request line gets 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
big=$(head -c 20000 /dev/zero | tr '\0' a)
out=$(raw "GET /qvd/ping HTTP/1.1\r\nX-Big: $big\r\n\r\n")
t_check "while relaying: an oversized header gets 431" grep -q '^HTTP/1.1 431 ' <<<"$out"
t_in_node bash -c "head -c 65536 /dev/urandom >/dev/tcp/127.0.0.1/$PORT" 2>/dev/null
{ printf 'GET /qvd/ping HTTP/1.1\r\nX-Slow: '; sleep 60; } |
  t_in_node openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:$PORT >/dev/null 2>&1 & SLOW=$!
for i in $(seq 20); do t_in_node bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf 'x' >&3" 2>/dev/null; done
t_check "while relaying: the L7R still answers ping" \
  eval 't_in_node curl -sk -m 5 https://127.0.0.1:$PORT/qvd/ping | t_has "I am alive"'
# the session still carries the desktop both ways: a new colour set in the VM reaches the
# client's screen, and back
in_vm_x 1 xsetroot -solid '#8b0000'
t_check "while relaying: the session still shows what the VM draws" \
  eval 'DISPLAY=$DISP t_in_node "$XCOLOUR" -t 20 8b0000'
in_vm_x 1 xsetroot -solid "#$COLOUR"
t_check "the slot is still held" slot_connected 1
t_check "the slow client is dropped by the L7R's request timeout (3 s)" t_wait 15 dead "$SLOW"
SESSION_PID=$(in_vm 1 pgrep -u alice -f qvd-test-session | head -1)
in_vm 1 su alice -s /bin/sh -c 'echo still-here > /home/alice/left-in-session' 2>/dev/null ||
  in_vm 1 sh -c 'echo still-here > /home/alice/left-in-session'

# --- disconnect and reconnect: the same X session ---
kill "$C1"; t_wait 10 dead "$C1"; C1=
t_check "killing the client frees the user slot" t_wait 15 slot_free 1
suspended() { in_vm 1 pgrep -x nxagent >/dev/null && [ -n "$(in_vm 1 pgrep -u alice -f qvd-test-session)" ]; }
client C1 --vm-id 1 --geometry 800x600 2>"$T_DIR/c1b.log"
t_check "reconnecting shows the desktop again" desktop_shown 60
t_check "reconnecting resumes the same X session (same session process)" \
  eval '[ -n "$SESSION_PID" ] && [ "$(in_vm 1 pgrep -u alice -f qvd-test-session | head -1)" = "$SESSION_PID" ]'
t_check "what was left in the session is still there" in_vm 1 grep -q still-here /home/alice/left-in-session

# --- takeover, from the user's other machine ---
DISP=$DISP2 client C2 --vm-id 1 --geometry 800x600 2>"$T_DIR/c2.log"
t_check "a second client takes the session over: the first one ends" t_wait 40 dead "$C1"
DISP=$DISP2 t_check "and the second one shows the desktop (on the other screen)" desktop_shown 60
t_check "the slot is held by the L7R for the second client" slot_connected 1

# --- the L7R dies ---
kill -9 "$L7R_PID"; wait "$L7R_PID" 2>/dev/null
t_check "after kill -9 of the L7R the slot is freed (by the node's heartbeat)" t_wait 15 slot_free 1
t_wait 10 dead "$C2"; kill "$C2" 2>/dev/null; C2=
start_l7r; t_wait 10 l7r_up
client C1 --vm-id 1 --geometry 800x600 2>"$T_DIR/c1c.log"
t_check "after the L7R restarts the next connection shows the desktop" desktop_shown 60

# --- the VM dies ---
vma=$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = 1")
kill -9 "$vma"
t_check "killing the VM mid-session ends the client" t_wait 30 dead "$C1"
t_check "and frees the user slot" t_wait 15 slot_free 1
t_check "the node notices the VM is gone" t_wait 30 is_vm 1 stopped
client C1 --vm-id 1 --geometry 800x600 2>"$T_DIR/c1d.log"
t_check "the next connection starts the VM again" t_wait 90 is_vm 1 running
t_check "and shows the desktop" desktop_shown 60

# --- --restart stops the VM first ---
kill "$C1"; t_wait 10 dead "$C1"; C1=; t_wait 15 slot_free 1
old=$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = 1")
client C1 --vm-id 1 --restart --geometry 800x600 2>"$T_DIR/c1e.log"
t_check "--restart boots a fresh VM" t_wait 90 eval '[ "$(sql "SELECT vm_pid FROM vm_runtimes WHERE vm_id = 1")" != "$old" ] && is_vm 1 running'

# --- an administrator acts on the live session through qvd-api (on the node's socket) ---
API=$B/src/api/qvd-api API_PID= FEED=
t_cleanup_add 'kill $API_PID $FEED'
printf 'api.address =\napi.socket = %s\napi.events.interval = 100\n' "$T_DIR/run/api.sock" >>"$conf"
echo apw | admin admin add --name root --tenant '*' --role master --password-stdin >/dev/null
t_node_spawn API_PID "$API" -c "$conf" >>"$T_DIR/api.log" 2>&1
t_wait 10 test -S "$T_DIR/run/api.sock" || t_fail "qvd-api starts"
api() { # api METHOD PATH [JSON]: the status code; the body in $T_DIR/api.out
  t_in_node curl -s -o "$T_DIR/api.out" -w '%{http_code}' --unix-socket "$T_DIR/run/api.sock" \
    -X "$1" -H "Authorization: Bearer $TOK" ${3:+-H 'Content-Type: application/json' -d "$3"} \
    "http://localhost/api/v1$2"
}
TOK=$(t_in_node curl -s --unix-socket "$T_DIR/run/api.sock" -H 'Content-Type: application/json' \
  -d '{"login":"root","tenant":"*","password":"apw"}' http://localhost/api/v1/login |
  python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
nsenter --mount="$T_NS_MNT" --net="/run/netns/$T_NS_NET" curl -s -N --unix-socket "$T_DIR/run/api.sock" \
  -H "Authorization: Bearer $TOK" http://localhost/api/v1/events >"$T_DIR/feed" 2>/dev/null &
FEED=$!
t_wait 60 slot_connected 1
t_wait 5 grep -q connected "$T_DIR/feed"; sleep 0.3
t_check "the API disconnects the user (200)" [ "$(api POST /vms/1/disconnect)" = 200 ]
t_check "the client ends" t_wait 30 dead "$C1"
t_check "and the user slot is free" t_wait 15 slot_free 1
t_check "the live feed showed the user disconnected" t_wait 5 grep -q '"id":1,.*"user_state":"disconnected"' "$T_DIR/feed"
t_check "the API stops the VM (200)" [ "$(api POST /vms/1/stop)" = 200 ]
t_check "the node stops it" t_wait 60 is_vm 1 stopped
t_check "the live feed showed it stopped" t_wait 5 grep -q '"id":1,.*"state":"stopped"' "$T_DIR/feed"
t_check "the API starts the VM on the node (200)" [ "$(api POST /vms/1/start)" = 200 ]
t_check "the node runs it" t_wait 90 is_vm 1 running
t_check "the API lists it running on this node" eval '[ "$(api GET "/vms/1?fields=state,host")" = 200 ] && grep -q "\"host\":\"sess1\"" "$T_DIR/api.out"'
kill $FEED 2>/dev/null; FEED=
# (without reconnecting: a stopping L7R is a broken session the client would otherwise
# reconnect after, tests/integration/reconnect.sh)
client C1 --vm-id 1 --geometry 800x600 --reconnect-tries 0 2>"$T_DIR/c1f.log"
t_check "a client connects again after the administrator's actions" desktop_shown 60

kill -TERM "$L7R_PID"
t_check "SIGTERM of the L7R ends the session and frees the slot" t_wait 20 eval 'dead $C1 && slot_free 1'
exit 0
