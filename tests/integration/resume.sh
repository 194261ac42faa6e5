#!/usr/bin/env bash
# A resume never loses the session: one user's session, with windows open (an xterm showing
# a marker, a window that was moved), is disconnected and reconnected RESUME_CYCLES times
# through qvd-client -> qvd-l7r -> VMA -> nxagent, the pixels checked on an Xvfb screen.
# Each cycle first cuts the client off while nxagent is still resuming (the link breaks in
# the middle of nxagent's reconnection, as a flaky network or a killed client does; this
# is what crashed Debian's nxagent 3.5.99.26 in 7 of 17 cycles), then resumes fully:
# the same nxagent, the same X session and its windows, where they were.
# Then a client that reaches nxagent but never speaks NX: past vma.timeout.listening the
# VMA cuts it off and nxagent suspends again (the VMA used to SIGKILL nxagent there, losing
# the session). Then the VMA's marker: nxagent killed in the middle of a resume is reported
# by x_end as lost while "resuming", and the next connection gets a fresh session.
#   RESUME_CYCLES (default 20, about 3 minutes here: with Debian's stock nxagent 7 of the
#   first 17 cycles lost the session, so 20 catch it in practically every run);
#   bench/resume.sh runs 100 with RESUME_KEEP_GOING=1 (counts the losses instead of
#   stopping at the first).
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
CYCLES=${RESUME_CYCLES:-20}
# a resume left half-way must not cost the session either (below): the VMA's timeout for
# nxagent's NX handshake and reconnection is shortened to see it expire
session_node_init resume "vma.timeout.listening = 15" || { t_fail "the test node starts"; exit 1; }
xvfb XVFB_PID DISP || { t_fail "Xvfb starts"; exit 1; }
C=
t_cleanup_add 'kill $C; sleep 0.3'

MARKER=ff00ff MOVED=ffd700 # the two xterms' backgrounds
# colour_at X,Y RRGGBB [SECONDS]: the session's point X,Y on the client's screen has RRGGBB
colour_at() { DISPLAY=$DISP t_in_node "$XCOLOUR" -p "$1" -t "${3:-30}" "$2" 2>/dev/null; }
# the session's picture as the user left it: the marker xterm at 40,40, the moved one at
# 480,60 (created at 300,300), the desktop's colour where the moved one was
windows_shown() {
  colour_at 190,130 $MARKER && colour_at 630,150 $MOVED && colour_at 450,390 $COLOUR 5
}
agent_pid() { in_vm 1 pgrep -x nxagent; }
session_pid() { in_vm 1 pgrep -u alice -f qvd-test-session | head -1; }
marker_pid() { in_vm 1 pgrep -u alice -f 'xterm -T qvd-marker'; }
is_x() { [ "$(x_state 1)" = "$1" ]; }
last_end() { vma_get 1 x_end "$(secret 1)" | tr -d '\r\n'; } # docs/vma.md
connect() { client C --vm-id 1 --geometry 800x600 "$@" 2>>"$T_DIR/client.log"; }
disconnect() {
  kill "$C" 2>/dev/null; t_wait 10 dead "$C"; C=
  t_wait 20 slot_free 1 && t_wait 30 is_x suspended
}

open_windows() {
  in_vm_x 1 sh -c 'setsid xterm -T qvd-marker -bg "#ff00ff" -geometry 30x8+40+40 \
      -e sh -c "echo QVD-RESUME-MARKER; exec sleep infinity" </dev/null >/dev/null 2>&1 &
    setsid xterm -T qvd-moved -bg "#ffd700" -geometry 30x8+300+300 -xrm "XTerm*allowWindowOps: true" \
      -e sh -c "printf \"\\033[3;480;60t\"; exec sleep infinity" </dev/null >/dev/null 2>&1 &'
}
connect
t_check "the first connection shows the desktop" desktop_shown 90 || exit 1
open_windows
t_check "the marker xterm and the moved window show on the client's screen" windows_shown
AGENT=$(agent_pid) SESSION=$(session_pid) XTERM=$(marker_pid)
t_check "nxagent, the X session and the marker xterm run" \
  eval '[ -n "$AGENT" ] && [ -n "$SESSION" ] && [ -n "$XTERM" ]'

# same_session: nothing of the session was replaced
same_session() {
  [ "$(agent_pid)" = "$AGENT" ] && [ "$(session_pid)" = "$SESSION" ] && [ "$(marker_pid)" = "$XTERM" ]
}
lost() { # lost WHAT: says what went, and what the VMA says of it
  LOST=$((LOST + 1))
  t_diag "cycle $i: $1 (nxagent $(agent_pid), was $AGENT; x_state $(x_state 1); x_end $(last_end))"
  [ -n "${RESUME_KEEP_GOING:-}" ] || return 0
  # counting on (bench/resume.sh): a new session with the same windows for the next cycles
  kill "$C" 2>/dev/null; t_wait 10 dead "$C"; C=; t_wait 20 slot_free 1
  connect
  t_wait 30 eval 'is_x connected && desktop_shown 5' && [ -z "$(marker_pid)" ] && open_windows
  windows_shown
  AGENT=$(agent_pid) SESSION=$(session_pid) XTERM=$(marker_pid)
}
KEPT=0 LOST=0 CUT=0
for ((i = 1; i <= CYCLES; i++)); do
  disconnect || { lost "the session did not suspend"; [ -n "${RESUME_KEEP_GOING:-}" ] || break; continue; }
  # cut off in the middle of the resume: as soon as nxagent took the proxy connection
  connect
  t_wait 30 eval 'is_x connecting || is_x connected' && is_x connecting && CUT=$((CUT + 1))
  if ! disconnect || ! same_session; then
    lost "a client cut off while resuming lost the session"
    [ -n "${RESUME_KEEP_GOING:-}" ] || break
    continue
  fi
  connect
  if desktop_shown 60 && windows_shown && same_session; then
    KEPT=$((KEPT + 1))
  else
    lost "the full resume did not show the same session"
    [ -n "${RESUME_KEEP_GOING:-}" ] || break
  fi
done
t_diag "resumes that kept their session: $KEPT of $CYCLES ($CUT clients cut off while nxagent was resuming)"
t_check "$CYCLES disconnect/reconnect cycles, each with a client cut off mid-resume: every one resumed the same session" \
  [ "$KEPT" = "$CYCLES" ]
t_check "x_end: still the first nxagent, none has ended" \
  eval 'out=$(last_end); grep -q "\"agent\":1," <<<"$out" && ! grep -q "\"last\"" <<<"$out"'

# --- a resume nobody completes: a client that reaches nxagent but never speaks NX ---
disconnect
HOLD=
t_cleanup_add 'kill $HOLD'
t_node_spawn HOLD "$QVD_BUILD/tests/helpers/l7r-connect" --l7r 127.0.0.1:$PORT --user alice \
  --password pw --vm 1 --listen $((4600 + RANDOM % 300)) 2>"$T_DIR/hold.log"
t_check "a client stuck in the NX handshake: nxagent is resuming (connecting)" t_wait 30 is_x connecting
t_check "past vma.timeout.listening the VMA cuts it off: nxagent suspends again, not killed" \
  eval 't_wait 90 is_x suspended && same_session'
t_check "and the VMA's log says so" grep -q "nxagent did not resume in time" "$T_DIR/log/vm/1/vma.log"
kill "$HOLD" 2>/dev/null; t_wait 20 slot_free 1
connect
t_check "the next client resumes that session, its windows where they were" \
  eval 'desktop_shown 60 && windows_shown && same_session'

# --- a session lost on resume is never hidden: the VMA says so ---
# (this client does not reconnect by itself: its new session would replace the lost one
# before the checks below could see it)
disconnect
connect --reconnect-tries 0
t_wait 30 eval 'is_x starting || is_x listening || is_x connecting'
in_vm 1 kill -SEGV "$(agent_pid)"
t_check "nxagent killed while resuming: the session is gone (stopped)" t_wait 30 is_x stopped
out=$(last_end)
t_check "x_end says the session was lost while resuming, by signal 11" \
  eval 'grep -q "\"how\":\"signal\",\"code\":11,\"during\":\"resuming\",\"lost\":true" <<<"$out" &&
        grep -q " 200$" <<<"$out"'
t_check "the VMA's log says the session was lost on resume" \
  grep -q "ended: signal 11 while resuming (the user's session is lost)" "$T_DIR/log/vm/1/vma.log"
kill "$C" 2>/dev/null; t_wait 10 dead "$C"; C=; t_wait 20 slot_free 1
connect
t_check "the next connection gets a fresh session (the desktop shows)" desktop_shown 90
t_check "x_end still reports the loss until another nxagent ends" \
  eval 'last_end | grep -q "\"during\":\"resuming\",\"lost\":true"'
exit 0
