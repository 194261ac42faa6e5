#!/usr/bin/env bash
# Application VMs, end to end (qvd-client -> qvd-l7r -> VMA -> nxagent, real nxproxy, an
# Xvfb screen): an OSF with is_application gives VMs that run one program (the property
# qvd.app.command: the VM's wins over its DI's and its OSF's) without a desktop; they are
# listed by --list-apps (/qvd/list_of_applications) and not by --list-vms, and a desktop VM
# the other way round; `qvd-client --app NAME` opens it, and when the program exits the
# session ends and the client says so with status 0. An application VM whose program is
# not set is refused with a sentence.
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
session_node_init app1 || { t_fail "the test node starts"; exit 1; }
APP_COLOUR=b22222 # the application's background (xterm -bg), never the desktop's
# The program: an xterm painted APP_COLOUR at the top left, smaller than the screen, so that
# the rest shows what is behind it (the desktop, if one ran).
APP_CMD="/usr/bin/xterm -bg rgb:b2/22/22 -geometry 60x20+0+0 -title qvd-app-test"
admin osf add --name tools --memory 300 --is-application 1 >/dev/null &&
  admin di add --osf tools --path "$DI" >/dev/null &&
  admin vm add --name editor --user alice --osf tools >/dev/null || { t_fail "the application VM is made"; exit 1; }
APP_VM=$(sql "SELECT id FROM vms WHERE name = 'editor'")
OSF=$(sql "SELECT id FROM osfs WHERE name = 'tools'")
# the OSF names a program that would end the session at once; the VM's own property wins
admin osf propset --id "$OSF" --key qvd.app.command --value /bin/false >/dev/null &&
  admin vm propset --id "$APP_VM" --key qvd.app.command --value "$APP_CMD" >/dev/null ||
  { t_fail "the application's program is set"; exit 1; }
xvfb XV DISP 1024x768 || { t_fail "Xvfb starts"; exit 1; }

# --- the lists ---
out=$(QVDPASSWORD=pw HOME=$T_DIR/home t_in_node "$CLIENT" --host 127.0.0.1 --port $PORT --user alice \
  --accept-cert once --list-apps 2>&1); rc=$?
t_check "--list-apps lists the application VM" eval '[ $rc = 0 ] && grep -qP "^$APP_VM\teditor\t" <<<"$out"'
t_check "and not the desktop VM" eval '! grep -q desk1 <<<"$out"'
out=$(QVDPASSWORD=pw HOME=$T_DIR/home t_in_node "$CLIENT" --host 127.0.0.1 --port $PORT --user alice \
  --accept-cert once --list-apps --json 2>&1)
t_check "--list-apps --json gives it as JSON" eval '[ "$(jq -c "[.[] | .name]" <<<"$out")" = "[\"editor\"]" ]'
out=$(QVDPASSWORD=pw HOME=$T_DIR/home t_in_node "$CLIENT" --host 127.0.0.1 --port $PORT --user alice \
  --accept-cert once --list-vms 2>&1)
t_check "--list-vms lists the desktop and not the application" \
  eval 'grep -qP "^1\tdesk1\t" <<<"$out" && ! grep -q editor <<<"$out"'
out=$(client_run --app desk1); rc=$?
t_check "--app with a desktop's name is refused with a sentence" \
  eval '[ $rc = 6 ] && grep -q "no application \"desk1\"" <<<"$out"'
t_diag "$out"

# --- the application opens: its window, no desktop ---
( client_run --app editor >"$T_DIR/app.out"; echo $? >"$T_DIR/app.rc" ) &
CSUB=$!
t_cleanup_add 'pkill -P $CSUB; kill $CSUB 2>/dev/null'
t_check "the application's window shows on the client" \
  eval 'DISPLAY=$DISP t_in_node "$XCOLOUR" -t 120 -p 100,100 $APP_COLOUR'
app_pid() { in_vm "$APP_VM" pgrep -u alice -x xterm; }
t_check "the VM runs the program as the user" t_wait 20 app_pid
t_check "and no desktop session (qvd-test-session) in the VM" \
  eval 'app_pid >/dev/null && ! in_vm "$APP_VM" pgrep -f qvd-test-session >/dev/null'
# beside the program, the screen is nxagent's own: never the desktop's colour (seen in the
# session's window for 5 s, by then shown whole since the program's window is)
DISPLAY=$DISP t_in_node "$XCOLOUR" -t 5 -p 900,700 "$COLOUR" 2>"$T_DIR/beside.err"; rc=$?
t_check "beside the program the desktop's colour never shows" \
  eval '[ $rc = 1 ] && grep -q "the point of .QVD. is #" "$T_DIR/beside.err"'
t_diag "beside the program: $(cat "$T_DIR/beside.err")"
t_check "the VMA runs the property's program" eval 'in_vm "$APP_VM" pgrep -u alice -f "xterm -bg rgb:b2/22/22" >/dev/null'

# --- the program exits: the session ends, the client says so and exits 0 ---
in_vm "$APP_VM" kill "$(app_pid | head -1)"
t_check "the client ends when the program exits" t_wait 60 test -s "$T_DIR/app.rc"
t_check "with status 0" [ "$(cat "$T_DIR/app.rc" 2>/dev/null)" = 0 ]
t_check "saying the application ended" grep -q "The application editor ended." "$T_DIR/app.out"
t_diag "client: $(tail -1 "$T_DIR/app.out")"
t_check "the VMA's session is stopped" t_wait 30 eval '[ "$(x_state "$APP_VM")" = stopped ]'
t_check "it ended as a logout (x_end)" \
  eval 'vma_get "$APP_VM" x_end "$(secret "$APP_VM")" | grep -q "\"how\":\"logout\""'
t_check "the user slot is free" t_wait 15 slot_free "$APP_VM"

# --- no program set: refused with a sentence, at once ---
admin vm propdel --id "$APP_VM" --key qvd.app.command >/dev/null &&
  admin osf propdel --id "$OSF" --key qvd.app.command >/dev/null
out=$(client_run --app editor --reconnect-tries 0); rc=$?
t_check "an application VM without a program is refused with a sentence" \
  eval '[ $rc = 7 ] && grep -q "waiting will not help (the application has no program set.*qvd.app.command" <<<"$out"'
t_diag "$out"
t_check "nothing runs in the VM" eval '[ "$(x_state "$APP_VM")" = stopped ]'
exit 0
