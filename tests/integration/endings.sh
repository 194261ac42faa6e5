#!/usr/bin/env bash
# Every ending of a session is explained: qvd-client, connected through qvd-l7r to a real
# nxagent in an LXC VM, ends with its own sentence and exit status for each way a session
# can end (docs/client.md), and a request that waiting cannot mend is refused at once.
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
session_node_init ends1 "l7r.shutdown.grace = 15" || { t_fail "the test node starts"; exit 1; }
C1= C2= RC= OUT=
t_cleanup_add 'kill $C1 $C2; sleep 0.5'
xvfb XVFB_PID DISP1 && xvfb XVFB2_PID DISP2 || { t_fail "Xvfb starts"; exit 1; }
DISP=$DISP1

# up [LOG [OPTIONS]]: alice's client C1 on VM 1 until her desktop shows; its stderr in LOG
up() {
  LOG=${1:-$T_DIR/c1.log}
  shift $(($# > 0))
  client C1 --vm-id 1 --geometry 800x600 "$@" 2>"$LOG"
  desktop_shown 90 && t_wait 20 slot_connected 1
}
# ended: waits for C1 to end; its exit status in RC, its stderr in OUT
ended() {
  t_wait 90 dead "$C1"
  wait "$C1"; RC=$?
  C1=
  OUT=$(cat "$LOG")
  t_diag "exit $RC: $(tail -1 "$LOG")"
}
said() { [ "$RC" = "$1" ] && tail -1 "$LOG" | t_has "$2"; }
# the last line only: the ending's sentence is the client's final word
agent_pid() { in_vm 1 pgrep -x nxagent | head -1; }

# --- a request the VMA refuses for good is answered at once, not retried ---
curl_connect() { # curl_connect LOGIN:PW QUERY: every answer's head (102s too), the body, the status
  t_in_node curl -skv -m 120 -u "$1" -H 'Connection: Upgrade' -H 'Upgrade: QVD/1.0' \
    -w '\n%{http_code}' "https://127.0.0.1:$PORT/qvd/connect_to_vm?$2" 2>&1 | grep -v '^[*>{}]'
}
mark=$(wc -l <"$T_DIR/l7r.log")
out=$(curl_connect alice:pw 'id=1&qvd.client.geometry=abc')
t_check "an invalid qvd.client.geometry is refused with 403 and the VMA's reason" \
  eval '[ "$(tail -1 <<<"$out")" = 403 ] && grep -q "refused the session: invalid value for parameter qvd.client.geometry" <<<"$out"'
t_check "it was answered after one x_start, with no retry" \
  eval '[ "$(tail -n +$((mark + 1)) "$T_DIR/l7r.log" | grep -c "x_start try")" = 1 ]'
t_check "and the client was never told to wait for the session (its 102s)" \
  eval 'grep -q "X-QVD-VM-Info: Starting session" <<<"$out" && ! grep -q "Waiting for the session" <<<"$out"'

# a users row the model would refuse (login root), written past it: the VMA refuses the
# account, and that refusal is final too
admin user add --login rooty --password pw3 >/dev/null &&
  admin vm add --name rootvm --user rooty --osf desk >/dev/null   # VM 2
sql "UPDATE users SET login = 'root' WHERE login = 'rooty'"
mark=$(wc -l <"$T_DIR/l7r.log")
out=$(curl_connect root:pw3 'id=2')
t_check "a forged root user is refused with 403 and the VMA's reason" \
  eval '[ "$(tail -1 <<<"$out")" = 403 ] && grep -q "refused the session" <<<"$out"'
t_check "after one x_start" \
  eval '[ "$(tail -n +$((mark + 1)) "$T_DIR/l7r.log" | grep -c "x_start try")" = 1 ]'
admin vm stop --id 2 >/dev/null

# --- taken over by another client ---
up || t_fail "the desktop shows"
DISP=$DISP2 client C2 --vm-id 1 --geometry 800x600 2>"$T_DIR/c2.log"
ended
t_check "taken over: 'taken over by another client', exit 15" said 15 "taken over by another client"
DISP=$DISP2 desktop_shown 60 || t_fail "the second client shows the desktop"

# --- disconnected by an administrator (qvd-api) ---
API=$QVD_BUILD/src/api/qvd-api API_PID=
t_cleanup_add 'kill $API_PID'
printf 'api.address =\napi.socket = %s\n' "$T_DIR/run/api.sock" >>"$conf"
echo apw | admin admin add --name root --tenant '*' --role master --password-stdin >/dev/null
t_node_spawn API_PID "$API" -c "$conf" >>"$T_DIR/api.log" 2>&1
t_wait 10 test -S "$T_DIR/run/api.sock" || t_fail "qvd-api starts"
TOK=$(t_in_node curl -s --unix-socket "$T_DIR/run/api.sock" -H 'Content-Type: application/json' \
  -d '{"login":"root","tenant":"*","password":"apw"}' http://localhost/api/v1/login |
  python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
t_wait 20 slot_connected 1
C1=$C2 C2= LOG=$T_DIR/c2.log
code=$(t_in_node curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T_DIR/run/api.sock" \
  -X POST -H "Authorization: Bearer $TOK" http://localhost/api/v1/vms/1/disconnect)
[ "$code" = 200 ] || t_fail "the API disconnects the user ($code)"
ended
t_check "disconnected by an administrator: its sentence, exit 16" said 16 "administrator disconnected your session"

# --- the server shuts down (a broken session the client reconnects after, by default:
# tests/integration/reconnect.sh; here the ending as said without reconnecting) ---
up "$T_DIR/c1.log" --reconnect-tries 0 || t_fail "the desktop shows"
kill -TERM "$L7R_PID"
ended
t_check "the L7R stops (SIGTERM): 'The server is shutting down', exit 19" said 19 "server is shutting down"
wait "$L7R_PID" 2>/dev/null
start_l7r; t_wait 10 l7r_up || t_fail "the L7R starts again"

# --- the session is lost on a resume ---
up || t_fail "the desktop shows"
kill "$C1"; wait "$C1"; C1=
t_wait 30 eval '[ "$(x_state 1)" = suspended ]' || t_fail "the session is suspended"
pid=$(agent_pid)
in_vm 1 kill -SEGV "$pid"
t_wait 20 eval '[ "$(x_state 1)" = stopped ]' || t_fail "nxagent died"
up "$T_DIR/c1-lost.log" || t_fail "reconnecting shows a desktop"
t_check "reconnecting after the session was lost says so (the L7R's 102)" \
  grep -q "qvd-client: Your previous session was lost; a new session was started" "$T_DIR/c1-lost.log"
t_check "and in the client's own sentence" \
  grep -q "qvd-client: Your previous session was lost (it crashed or was stopped); this is a new session." "$T_DIR/c1-lost.log"
t_check "on a new nxagent" eval '[ -n "$(agent_pid)" ] && [ "$(agent_pid)" != "$pid" ]'

# --- the desktop session crashes while connected ---
in_vm 1 kill -SEGV "$(agent_pid)"
ended
t_check "nxagent crashes: 'Your desktop session crashed and is lost', exit 20" said 20 "desktop session crashed"

# --- the user logs out (the X session ends): a normal end ---
up || t_fail "the desktop shows"
in_vm 1 pkill -u alice -f qvd-test-session
ended
t_check "logging out: 'you logged out', exit 0" said 0 "you logged out"

# --- stopped by an administrator ---
up || t_fail "the desktop shows"
admin vm stop --id 1 >/dev/null
ended
t_check "stopped by an administrator: its sentence, exit 14" said 14 "administrator stopped your virtual machine"
t_wait 60 is_vm 1 stopped

# --- the VM crashes ---
up || t_fail "the desktop shows"
kill -9 "$(vm_pid 1)"
ended
t_check "the VM dies: 'stopped unexpectedly', exit 17" said 17 "virtual machine stopped unexpectedly"
t_wait 60 is_vm 1 stopped

# --- the VM's node is lost: its HKD gone (no heartbeat for longer than hkd.cluster.node.timeout,
# aged in the database rather than waited for), then its VM. Without reconnecting: a lost
# node is a broken session the client reconnects after, to the VM started on another node
# (a cluster's test); on this one node there is none ---
up "$T_DIR/c1.log" --reconnect-tries 0 || t_fail "the desktop shows"
kill -9 "$HKD_PID"; wait "$HKD_PID" 2>/dev/null
sql "UPDATE host_runtimes SET ok_ts = ok_ts - 3600"
kill -9 "$(vm_pid 1)"
ended
t_check "the VM's node is lost: 'The server running your virtual machine was lost', exit 18" \
  said 18 "server running your virtual machine was lost"
start_hkd; t_wait 10 is_host running || t_fail "the HKD starts again"
t_wait 60 is_vm 1 stopped

# --- the L7R cannot be asked (without reconnecting: tests/integration/reconnect.sh) ---
up "$T_DIR/c1.log" --reconnect-tries 0 || t_fail "the desktop shows"
kill -9 "$L7R_PID"; wait "$L7R_PID" 2>/dev/null
ended
t_check "the L7R is gone: the client says it could not learn why, exit 22" \
  said 22 "The session ended and the server could not be asked why"
start_l7r; t_wait 10 l7r_up

# --- only the session's own user may read its ending ---
id=$(sql "SELECT id FROM session_ends ORDER BY started_ts DESC LIMIT 1")
admin user add --login eve --password pw4 >/dev/null
ask() { t_in_node curl -sk -m 20 -u "$1" -w '\n%{http_code}' "https://127.0.0.1:$PORT/qvd/session_end?id=$id"; }
t_check "its user reads a session's ending; another user gets 404" \
  eval 'ask alice:pw | t_has "\"id\": \"$id\"" && [ "$(ask eve:pw4 | tail -1)" = 404 ]'
exit 0
