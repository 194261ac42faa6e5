#!/usr/bin/env bash
# The L7R while its database stalls (docs/l7r.md "Database workers"): another process holds
# the lock (tests/stall.sh) while a session relays. Before the lock is let go: what the VM
# draws still reaches the client's screen through the relay (nxagent -> VMA -> L7R ->
# nxproxy -> Xvfb, several times), /qvd/ping answers, and a login that needs the database
# (create_auth_token writes a token) has not been answered; after: that login succeeds.
# Every check is an order of events (done while the lock is still held), never a time. The
# lock is let go at the latest after 60 s, so that an L7R that stalls with its database
# fails the checks instead of hanging the test; the L7R's SQLite waits up to 120 s.
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
. "$QVD_TOP/tests/stall.sh"
session_node_init stall1 "database.busy_timeout = 120000" || { t_fail "the test node starts"; exit 1; }
C1=
t_cleanup_add 'kill $C1; sleep 0.5'
xvfb XVFB_PID DISP || { t_fail "Xvfb starts"; exit 1; }
URL=https://127.0.0.1:$PORT
lc() { t_in_node curl -sk -m 150 -w '\n%{http_code}' "$@"; }

client C1 --vm-id 1 --geometry 800x600 2>"$T_DIR/c1.log"
t_check "the client shows the user's desktop" desktop_shown 120
t_check "the slot is connected" slot_connected 1
# a round trip of the relay: a colour the VM paints, seen on the client's screen
paint() { in_vm_x 1 xsetroot -solid "#$1" && DISPLAY=$DISP t_in_node "$XCOLOUR" -t 60 "$1"; }
t_check "before the stall, what the VM paints reaches the client" paint 8b0000

released() { [ -e "$T_DIR/stall.released" ]; }
stall_start 60 || { t_fail "the database lock is taken"; exit 1; }
t_check "the database is stalled" stalled
lc -u alice:pw "$URL/qvd/create_auth_token" >"$T_DIR/login.out" 2>&1 &
LOGIN=$!
t_wait 10 grep -q "GET /qvd/create_auth_token" "$T_DIR/l7r.log"
ok=0
for c in 00008b 8b8b00 2e8b57 8b0000 00008b; do paint $c && ! released && ok=$((ok + 1)); done
t_check "during the stall, 5 of 5 colours the VM paints reach the client before the lock is let go" [ $ok = 5 ]
out=$(lc $URL/qvd/ping)
pinged=no; [ "$out" = $'I am alive!\r\n\n200' ] && ! released && pinged=yes
t_check "during the stall, /qvd/ping answers 200 before the lock is let go" [ $pinged = yes ]
t_check "and the login that needs the database is still waiting" \
  eval 'alive $LOGIN && [ ! -s "$T_DIR/login.out" ] && ! released && stalled'
sleep 5 # the stall lasts 5 s at least (the scenario, not a check)
stall_end
t_check "after the stall, the waiting login succeeds with a token" \
  eval 'wait $LOGIN; tail -1 "$T_DIR/login.out" | t_has -x 200 && grep -q auth_token "$T_DIR/login.out"'
t_check "after the stall, the session still relays" paint 2e8b57
t_check "and its slot is still connected" slot_connected 1
t_check "a new login is answered" eval '[ "$(lc -u alice:pw $URL/qvd/list_of_vm | tail -1)" = 200 ]'

# --- SIGTERM while the database stalls: the session is cut at once (its nxagent suspends:
# asked of the VMA, which needs no database), and the L7R's last writes (the slot, why the
# session ended) are done once the lock is let go, before it exits
VIP=$(vm_ip 1) SEC=$(secret 1)
suspended() { t_in_node curl -s -m 5 -H "Authorization: Bearer $SEC" "http://$VIP:3030/vma/x_state" | t_has suspended; }
stall_start 60 || { t_fail "the database lock is taken again"; exit 1; }
kill -TERM "$L7R_PID"
cut=no; t_wait 30 suspended && ! released && cut=yes
t_check "SIGTERM during a stall cuts the session before the lock is let go" [ $cut = yes ]
stall_end
wait "$L7R_PID"; rc=$?; L7R_PID=
t_check "the L7R then exits with status 0" [ $rc = 0 ]
t_check "having recorded why the session ended (server_shutdown) and freed the slot" \
  eval '[ "$(sql "SELECT reason FROM session_ends WHERE vm_id = 1 ORDER BY started_ts DESC LIMIT 1")" = server_shutdown ] && slot_free 1'
exit 0
