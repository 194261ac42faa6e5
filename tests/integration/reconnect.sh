#!/usr/bin/env bash
# Clients ride it out: qvd-client, connected through qvd-l7r to a real nxagent in an LXC VM
# and checked by its pixels on Xvfb, takes a list of servers and moves past a dead one, and
# reconnects by itself after a broken session (the L7R killed, or stopping) to the same
# nxagent, with the credentials it was given once; it gives up after its tries with the
# sentence of a lost connection, stops at once on SIGTERM while it waits, and does not
# reconnect after an ending an administrator chose (docs/client.md).
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
session_node_init reconn "l7r.shutdown.grace = 5" || { t_fail "the test node starts"; exit 1; }
C1= RC=
t_cleanup_add 'kill $C1; sleep 0.5'
xvfb XVFB_PID DISP || { t_fail "Xvfb starts"; exit 1; }
LOG=$T_DIR/c1.log
DEAD=127.0.0.9 # a loopback address of the test node where nothing listens

# up LOG [options]: alice's client C1 on VM 1 until her desktop shows
up() {
  LOG=$1; shift
  client C1 --vm-id 1 --geometry 800x600 "$@" 2>"$LOG"
  desktop_shown 90 && t_wait 20 slot_connected 1
}
ended() { # waits for C1 to end; its exit status in RC
  t_wait "${1:-120}" dead "$C1"
  wait "$C1"; RC=$?
  C1=
  t_diag "exit $RC: $(tail -1 "$LOG")"
}
said() { [ "$RC" = "$1" ] && tail -1 "$LOG" | t_has "$2"; }
agent_pid() { in_vm 1 pgrep -x nxagent | head -1; }
logged() { grep -q -- "$1" "$LOG"; }
# running PID: the process runs (alive would also pass for a client that ended and is not
# reaped yet)
running() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
kill_l7r() { kill "-${1:-9}" "$L7R_PID"; wait "$L7R_PID" 2>/dev/null; }

# --- a name with several addresses (the node's own /etc/hosts): each is tried in turn;
# ::1 sorts first (RFC 6724) and nothing listens there, the L7R is on 127.0.0.1 ---
{ cat /etc/hosts; printf '::1 l7r.test\n127.0.0.1 l7r.test\n'; } >"$T_DIR/hosts"
t_in_node mount --bind "$T_DIR/hosts" /etc/hosts || t_fail "the node gets its own /etc/hosts"
out=$(client_run --host l7r.test --list-vms); rc=$?
t_diag "$out"
t_check "a name's second address answers when the first refuses" eval '[ "$rc" = 0 ]'
t_check "the progress line names the name, the address tried next and why" \
  grep -q "qvd-client: Trying l7r.test (127.0.0.1):8443 (server 1 of 1): the last one failed: Cannot reach l7r.test:8443: Connection refused." <<<"$out"
t_in_node umount /etc/hosts

# --- a dead server first in the list: the next one is tried, and the line says why ---
up "$T_DIR/c-list.log" --host "$DEAD,127.0.0.1" || t_fail "the desktop shows through the second server"
t_check "a dead server first: the session starts through the next one" running "$C1"
t_check "the progress line names the dead server and why, and the one tried next" \
  logged "qvd-client: Trying 127.0.0.1:8443 (server 2 of 2): the last one failed: Cannot reach $DEAD:8443: Connection refused."
AGENT=$(agent_pid)

# --- the L7R killed with -9 and started again: the client reconnects to the same session ---
t0=$(date +%s%N)
kill_l7r 9
t_wait 30 logged "Reconnecting to 127.0.0.1:8443 (try 1 of 5)" ||
  t_fail "the client says it reconnects"
start_l7r; t_wait 10 l7r_up || t_fail "the L7R starts again"
t1=$(date +%s%N)
t_check "the client reconnects by itself" t_wait 120 logged "qvd-client: Reconnected to 127.0.0.1:8443."
t_check "and shows the desktop again" desktop_shown 90
t_diag "L7R back $(( (t1 - t0) / 1000000 )) ms after its kill; the desktop shown again after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
t_check "the same client process, still running" running "$C1"
t_check "the same nxagent: the session was resumed, not restarted" \
  eval '[ -n "$AGENT" ] && [ "$(agent_pid)" = "$AGENT" ]'
t_check "the new L7R holds the user's slot" t_wait 20 slot_connected 1
t_diag "$(grep -c Reconnecting "$LOG") reconnect line(s): $(grep Reconnecting "$LOG" | tail -1)"

# --- the L7R stopping (SIGTERM) is a broken session too: back when it is back ---
kill_l7r TERM
t_wait 60 logged "Reconnecting to .* the last one failed: the session broke (server_shutdown)" ||
  t_fail "a stopping L7R: the client reconnects"
start_l7r; t_wait 10 l7r_up || t_fail "the L7R starts again"
t_check "after the L7R stopped and started, the desktop shows again on the same nxagent" \
  eval 't_wait 120 eval "[ \"\$(grep -c \"Reconnected to\" \"$LOG\")\" = 2 ]" && desktop_shown 90 &&
        [ "$(agent_pid)" = "$AGENT" ]'
t_wait 20 slot_connected 1

# --- an administrator stops the VM: a chosen ending, no reconnection ---
tries=$(grep -c Reconnecting "$LOG")
admin vm stop --id 1 >/dev/null
ended
t_check "stopped by an administrator: exit 14, its sentence, no reconnection" \
  eval 'said 14 "administrator stopped your virtual machine" && [ "$(grep -c Reconnecting "$LOG")" = "$tries" ]'
t_wait 60 is_vm 1 stopped

# --- the L7R never comes back: the client gives up after its tries ---
up "$T_DIR/c-gone.log" --reconnect-tries 3 || t_fail "the desktop shows"
kill_l7r 9
ended 180
t_check "the L7R gone for good: exit 21 and the sentence of a lost connection" \
  said 21 "The connection to your virtual machine was lost; your session is kept"
t_check "after 3 tries, each on its own line" \
  eval '[ "$(grep -c "Reconnecting to 127.0.0.1:8443 (try [1-3] of 3)" "$LOG")" = 3 ] &&
        logged "Gave up after 3 tries to reconnect; the last one failed: Cannot reach 127.0.0.1:8443: Connection refused."'
t_check "without asking for anything (no terminal, no password again)" \
  eval '! grep -qi "password" "$LOG"'

# --- SIGTERM while the client waits to reconnect: it stops at once ---
start_l7r; t_wait 10 l7r_up || t_fail "the L7R starts again"
up "$T_DIR/c-term.log" --reconnect-tries 10 || t_fail "the desktop shows"
kill_l7r 9
t_wait 60 logged "(try 3 of 10)" || t_fail "the client is reconnecting"
kill -TERM "$C1"
t0=$(date +%s%N)
ended 30
t_diag "ended $(( ($(date +%s%N) - t0) / 1000000 )) ms after SIGTERM"
t_check "SIGTERM while reconnecting: exit 13, 'Interrupted while reconnecting'" \
  said 13 "Interrupted while reconnecting"
start_l7r; t_wait 10 l7r_up || t_fail "the L7R starts again"

# --- an administrator disconnects the session (qvd-api): no reconnection ---
API=$QVD_BUILD/src/api/qvd-api API_PID=
t_cleanup_add 'kill $API_PID'
printf 'api.address =\napi.socket = %s\n' "$T_DIR/run/api.sock" >>"$conf"
echo apw | admin admin add --name root --tenant '*' --role master --password-stdin >/dev/null
t_node_spawn API_PID "$API" -c "$conf" >>"$T_DIR/api.log" 2>&1
t_wait 10 test -S "$T_DIR/run/api.sock" || t_fail "qvd-api starts"
TOK=$(t_in_node curl -s --unix-socket "$T_DIR/run/api.sock" -H 'Content-Type: application/json' \
  -d '{"login":"root","tenant":"*","password":"apw"}' http://localhost/api/v1/login |
  python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
up "$T_DIR/c-disc.log" || t_fail "the desktop shows"
code=$(t_in_node curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T_DIR/run/api.sock" \
  -X POST -H "Authorization: Bearer $TOK" http://localhost/api/v1/vms/1/disconnect)
[ "$code" = 200 ] || t_fail "the API disconnects the user ($code)"
ended
t_check "disconnected by an administrator: exit 16, its sentence, no reconnection" \
  eval 'said 16 "administrator disconnected your session" && ! logged Reconnecting'
exit 0
