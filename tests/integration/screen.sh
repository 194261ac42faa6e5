#!/usr/bin/env bash
# The user's screen and keyboard, end to end (qvd-client -> qvd-l7r -> VMA -> nxagent, real
# nxproxy, Xvfb screens without a window manager as on a kiosk): the session window is the
# size asked for, fullscreen fills the screen, and both hold after a resume from a client
# with another screen; the keyboard of the client's X server is the session's (a key typed
# with the es layout arrives as ntilde); text copied on one side is pasted on the other.
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
for tool in xdotool xclip setxkbmap xwininfo xev; do
  command -v $tool >/dev/null || { t_skip "screen and keyboard" "missing $tool (scripts/install-deps.sh)"; exit 0; }
done
session_node_init scr1 || { t_fail "the test node starts"; exit 1; }
C1= KEEP=
t_cleanup_add 'kill $C1 $KEEP; sleep 0.5'
admin vm add --name desk2 --user alice --osf desk >/dev/null # VM 2
# Two machines of the user: a big screen and a smaller one.
xvfb XA_PID BIG 1440x1080 && xvfb XB_PID SMALL 1024x768 || { t_fail "Xvfb starts"; exit 1; }
# An X server resets (keymap and all) when its last client leaves: this one stays connected
# to the big screen, so that the keyboard set there below lasts.
DISPLAY=$BIG t_node_spawn KEEP xev -root -event property >/dev/null
on() { local d=$1; shift; DISPLAY=$d t_in_node "$@"; }

# win_is DISPLAY WxH [+X+Y]: the session window (named QVD) on DISPLAY has that size (and
# position). Asked only once the desktop shows (a new X client while nxproxy sets up its
# display would break it, see tests/helpers/x-colour.c).
win_geom() { # the biggest window named QVD (nxagent's icon window has the name too): WxH+X+Y
  on "$1" xwininfo -root -tree 2>/dev/null | awk '/"QVD"/ {
      for (i = 1; i < NF; i++) if ($i ~ /^[0-9]+x[0-9]+[+-]/) {
        split($i, wh, /[x+-]/); a = wh[1] * wh[2]
        if (a > best) { best = a; g = wh[1] "x" wh[2] $(i + 1) }
      } }
    END {if (g) print g}'
}
win_is() { local g; g=$(win_geom "$1"); [ "${g%%+*}" = "$2" ] && [[ -z "${3:-}" || "$g" = "$2$3" ]]; }
# vm_screen_is VM WxH: the session's X screen in the VM has that size
vm_screen() { in_vm_x "$1" xdpyinfo 2>/dev/null | awk '/dimensions:/ {print $2; exit}'; }
vm_screen_is() { [ "$(vm_screen "$1")" = "$2" ]; }
# size_is DISPLAY WxH [+X+Y]: the window on DISPLAY and the screen of VM ${VM:-1}, waited for
size_is() {
  t_wait 20 win_is "$1" "$2" "${3:-}" && t_wait 20 vm_screen_is "${VM:-1}" "$2" && return 0
  t_diag "asked $2${3:-}: the window on $1 is $(win_geom "$1"), the session's screen $(vm_screen "${VM:-1}")"
  return 1
}
# connect DISPLAY OPTIONS...: a client on DISPLAY for VM 1 (the previous one ended first),
# until the desktop shows
connect() {
  local d=$1; shift
  if [ -n "$C1" ]; then kill "$C1"; t_wait 10 dead "$C1"; t_wait 15 slot_free 1; fi
  DISP=$d client C1 --vm-id 1 "$@" 2>>"$T_DIR/client.log"
  DISP=$d desktop_shown 90
}

# --- a new session: exactly the size asked for ---
t_check "a new session asking 800x600 shows on the big screen" connect "$BIG" --geometry 800x600
t_check "its window is 800x600 (not 3/4 of the screen)" size_is "$BIG" 800x600
SESSION_PID=$(in_vm 1 pgrep -u alice -f qvd-test-session | head -1)
same_session() { [ -n "$SESSION_PID" ] && [ "$(in_vm 1 pgrep -u alice -f qvd-test-session | head -1)" = "$SESSION_PID" ]; }

# --- clipboard both ways (nxagent's clipboard=both) ---
in_vm_x 1 sh -c 'printf from-the-vm-4711 | xclip -selection clipboard -i >/dev/null 2>&1'
t_check "text copied in the VM is pasted on the client" \
  t_wait 20 eval '[ "$(on "$BIG" timeout 5 xclip -selection clipboard -o 2>/dev/null)" = from-the-vm-4711 ]'
on "$BIG" sh -c 'printf from-the-client-0815 | xclip -selection clipboard -i >/dev/null 2>&1'
t_check "text copied on the client is pasted in the VM" \
  t_wait 20 eval '[ "$(in_vm_x 1 timeout 5 xclip -selection clipboard -o 2>/dev/null)" = from-the-client-0815 ]'

# --- resume on the same screen at another size ---
t_check "the client resumes asking 1280x800" connect "$BIG" --geometry 1280x800
t_check "the same session" same_session
t_check "its window and screen are now 1280x800" size_is "$BIG" 1280x800

# --- resume from another machine, fullscreen ---
t_check "a client on the 1024x768 machine resumes it fullscreen" connect "$SMALL" --fullscreen
t_check "the same session" same_session
t_check "it fills that screen: window and session 1024x768" size_is "$SMALL" 1024x768 +0+0
t_check "back on the big screen fullscreen" connect "$BIG" --fullscreen
t_check "it fills the big screen: 1440x1080" size_is "$BIG" 1440x1080 +0+0
t_check "from fullscreen to a window again on the small screen" connect "$SMALL" --geometry 800x600
t_check "800x600 there" size_is "$SMALL" 800x600
t_check "still the same session" same_session

# --- the keyboard: the client's own by default ---
# key_gives DISPLAY KEYSYM: the key at the Spanish n-tilde place (keycode 47, AC10) typed on
# the client's screen reaches the session as KEYSYM (read by xev on the session's root)
key_gives() {
  in_vm_x 1 sh -c 'pkill -u alice -x xev; rm -f /tmp/keys; setsid xev -root -event keyboard >/tmp/keys 2>&1 </dev/null &'
  local sym k=0
  sym=$(on "$1" xmodmap -pke | awk '$2 == 47 {print $4; exit}') # what that key is there
  while [ $k -lt 5 ]; do
    sleep 1 # xev may still be starting: the key is typed again until it arrives
    on "$1" xdotool mousemove 100 100 key --clearmodifiers "$sym"
    t_wait 3 in_vm 1 grep -q "keysym 0x[0-9a-f]*, $2)" /tmp/keys && return 0
    k=$((k + 1))
  done
  t_diag "typed $sym on $1; keys seen in the session: $(in_vm 1 grep -o 'keysym 0x[0-9a-f]*, [A-Za-z_]*' /tmp/keys | sort -u | tr '\n' ' ')"
  return 1
}
t_check "with the small screen's us keyboard the key gives a semicolon" key_gives "$SMALL" semicolon
on "$BIG" setxkbmap es
t_check "the big screen now has a Spanish keyboard" eval 'on "$BIG" setxkbmap -query | t_has "layout: *es"'
t_check "a client there without --keyboard resumes the session" connect "$BIG" --geometry 800x600 -v
t_check "it sent its X server's keyboard (pc105/es)" grep -q 'keyboard pc105/es (from the X server' "$T_DIR/client.log"
t_check "the key typed with the es layout arrives as ntilde" key_gives "$BIG" ntilde
t_check "--keyboard overrides it: pc105/us from the same screen" connect "$BIG" --geometry 800x600 --keyboard pc105/us
t_check "the same key is a semicolon again" key_gives "$BIG" semicolon
t_check "still the same session after all these resumes" same_session

# --- a new session that starts fullscreen ---
kill "$C1"; t_wait 10 dead "$C1"; C1=
DISP=$SMALL client C1 --vm-id 2 --fullscreen 2>>"$T_DIR/client.log"
t_check "a new session asking fullscreen shows on the small screen" eval 'DISP=$SMALL desktop_shown 120'
t_check "it fills the screen: 1024x768" eval 'VM=2 size_is "$SMALL" 1024x768 +0+0'

# --- a desktop with a window manager (icewm): the window manager places the window, the
# size is still the one asked for ---
if command -v icewm >/dev/null; then
  xvfb XC_PID DESK 1280x1024 || t_fail "a third Xvfb starts"
  HOME=$T_DIR/home DISPLAY=$DESK t_node_spawn WM_PID icewm >>"$T_DIR/icewm.log" 2>&1
  t_cleanup_add 'kill $WM_PID'
  wm_up() { on "$DESK" xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | t_has 'window id'; }
  t_check "icewm runs on a third screen" t_wait 30 wm_up
  t_check "the first session resumes there asking 1024x700" connect "$DESK" --geometry 1024x700
  t_check "its window and screen are 1024x700" size_is "$DESK" 1024x700
  t_check "still the same session" same_session
else
  t_skip "a desktop with a window manager" "icewm is not installed"
fi
exit 0
