#!/usr/bin/env bash
# Sound both ways, through qvd-client -> qvd-l7r -> VMA -> nxagent and nxproxy's media
# channel, with real PulseAudio servers at both ends: the client's is the test's own
# (private runtime folder and socket, two null sinks: "speakers", whose monitor the test
# records, and "voice", whose monitor is the client's default source, the microphone). A
# 440 Hz tone played in the VM is recorded at the client and measured by sox as 440 Hz; an
# 880 Hz tone of the client's microphone is recorded in the VM's QVD_Microphone as 880 Hz.
# Suspend unloads the VM's tunnels; after the resume both ways work again. Then QVD's own
# client's request (reference §2.6: no qvd.client.audio.enable, compression asked) gets
# sound too, with nxproxy run as QVD's client runs it. Then a server with
# vma.audio.enable = 0: the client says so in one sentence and the session goes on.
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
session_node_init audio || { t_fail "the test node starts"; exit 1; }
xvfb XVFB_PID DISP || { t_fail "Xvfb starts"; exit 1; }
C= PA_PID= VOICE_PID= PLAY_PID= QVD_PID= NXP_PID=
t_cleanup_add 'kill $C $PLAY_PID $VOICE_PID $QVD_PID $NXP_PID; sleep 0.3; kill $PA_PID'

# --- the client's PulseAudio: private, stopped by PID ---
export XDG_RUNTIME_DIR=$T_DIR/pa-run
mkdir -p "$XDG_RUNTIME_DIR" "$T_DIR/home" && chmod 700 "$XDG_RUNTIME_DIR"
cat >"$T_DIR/client.pa" <<'EOF'
load-module module-native-protocol-unix
load-module module-null-sink sink_name=speakers
load-module module-null-sink sink_name=voice
set-default-sink speakers
set-default-source voice.monitor
EOF
HOME=$T_DIR/home t_node_spawn PA_PID pulseaudio --daemonize=no -n --exit-idle-time=-1 \
  --use-pid-file=no -F "$T_DIR/client.pa" --log-target=newfile:"$T_DIR/pa-client.log"
cpactl() { HOME=$T_DIR/home pactl "$@"; }
t_wait 20 eval 'cpactl info >/dev/null 2>&1' || { t_fail "the client's PulseAudio starts"; exit 1; }
# 20 s tones, signed 16-bit stereo at 44.1 kHz: pacat's and parec's raw format
sox -n -r 44100 -c 2 -b 16 -e signed -t raw "$T_DIR/t440.raw" synth 20 sine 440 vol 0.5
sox -n -r 44100 -c 2 -b 16 -e signed -t raw "$T_DIR/t880.raw" synth 20 sine 880 vol 0.5

# freq FILE: the strongest frequency of a raw recording (sox's spectrum, 10.8 Hz bins) and
# its RMS amplitude; is_tone FILE HZ: that frequency within 20 Hz, and not silence
freq() {
  local f a
  f=$(sox -t raw -r 44100 -c 2 -b 16 -e signed "$1" -n remix 1 stat -freq 2>&1 |
    awk 'NF == 2 && $1 + 0 > 0 && $2 + 0 >= 0 { if ($2 > m) { m = $2; f = $1 } } END { printf "%d", f }')
  a=$(sox -t raw -r 44100 -c 2 -b 16 -e signed "$1" -n stat 2>&1 | awk '/RMS +amplitude/ { print $3 }')
  echo "$f $a"
}
is_tone() {
  local m; m=$(freq "$1")
  LAST="$m"
  awk -v m="$m" -v hz="$2" 'BEGIN { split(m, v, " "); d = v[1] - hz; exit !(d < 20 && d > -20 && v[2] > 0.05) }'
}

UID_A=
vm_pactl() { in_vm 1 runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/$UID_A HOME=/home/alice pactl "$@"; }
vm_has() { vm_pactl list short "$1" 2>/dev/null | awk '{ print $2 }' | grep -qx "$2"; }
# heard_at_client: the VM plays 440 Hz to its default sink (QVD_Audio); 2 s of the client's
# speakers are recorded until they hold it (60 s at most)
heard_at_client() {
  kill $PLAY_PID 2>/dev/null
  in_vm 1 runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/$UID_A HOME=/home/alice \
    pacat --raw <"$T_DIR/t440.raw" >/dev/null 2>&1 &
  PLAY_PID=$!
  local i
  for ((i = 0; i < 30; i++)); do
    timeout 2 env HOME=$T_DIR/home parec --raw -d speakers.monitor >"$T_DIR/heard.raw" 2>/dev/null
    is_tone "$T_DIR/heard.raw" 440 && { kill $PLAY_PID 2>/dev/null; return 0; }
  done
  t_diag "the client's speakers: $LAST (strongest Hz, RMS)"
  kill $PLAY_PID 2>/dev/null
  return 1
}
# heard_in_vm: the client's microphone (the "voice" sink's monitor) carries 880 Hz; the
# VM's QVD_Microphone is recorded 2 s at a time until it holds it (60 s at most)
heard_in_vm() {
  local i
  for ((i = 0; i < 30; i++)); do
    in_vm 1 runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/$UID_A HOME=/home/alice \
      timeout 2 parec --raw -d QVD_Microphone >"$T_DIR/mic.raw" 2>/dev/null
    is_tone "$T_DIR/mic.raw" 880 && return 0
  done
  t_diag "the VM's microphone: $LAST (strongest Hz, RMS)"
  return 1
}
# the client's voice plays 880 Hz without end (a loop of the 20 s tone)
(while :; do HOME=$T_DIR/home pacat --raw -d voice "$T_DIR/t880.raw" || exit; done) &
VOICE_PID=$!

connect() { client C --vm-id 1 --geometry 800x600 --audio --microphone 2>>"$T_DIR/client.log"; }
is_x() { [ "$(x_state 1)" = "$1" ]; }
connect
t_check "the session shows its desktop" desktop_shown 90 || exit 1
UID_A=$(in_vm 1 id -u alice)
t_check "nxagent was given media=1" in_vm 1 grep -q ',media=1' /var/run/qvd/nxagent-100.options
t_check "the VM's PulseAudio has the tunnels QVD_Audio and QVD_Microphone" \
  t_wait 60 eval 'vm_has sinks QVD_Audio && vm_has sources QVD_Microphone'
t_check "a 440 Hz tone played in the VM is heard at the client as 440 Hz" heard_at_client
t_check "an 880 Hz tone of the client's microphone is recorded in the VM as 880 Hz" heard_in_vm
t_check "the client's PulseAudio took the session on 127.0.0.1 (module-native-protocol-tcp)" \
  eval 'cpactl list short modules | grep -q "module-native-protocol-tcp.*listen=127.0.0.1"'

# --- suspend and resume ---
kill "$C"; t_wait 10 dead "$C"; C=
t_check "the session suspends" t_wait 60 is_x suspended
t_check "at suspend the VM's tunnels are unloaded" \
  t_wait 30 eval '! vm_has sinks QVD_Audio && ! vm_has sources QVD_Microphone'
t_check "and the client unloaded its module" \
  eval '! cpactl list short modules | grep -q module-native-protocol-tcp'
t_wait 20 slot_free 1
PA_VM=$(in_vm 1 pgrep -u alice -x pulseaudio)
connect
t_check "the session resumes" desktop_shown 90
# nxagent's "Session resumed" comes glued to its list of keystrokes (no newline between)
t_check "the VMA sees the resumed session connected" t_wait 30 is_x connected
t_check "after the resume the tunnels are back" \
  t_wait 60 eval 'vm_has sinks QVD_Audio && vm_has sources QVD_Microphone'
t_check "the same PulseAudio of the user runs in the VM" \
  eval '[ -n "$PA_VM" ] && [ "$(in_vm 1 pgrep -u alice -x pulseaudio)" = "$PA_VM" ]'
t_check "after the resume 440 Hz from the VM is heard at the client" heard_at_client
t_check "after the resume the client's 880 Hz is recorded in the VM" heard_in_vm
kill "$C"; t_wait 10 dead "$C"; C=
t_wait 60 is_x suspended; t_wait 20 slot_free 1

# --- QVD's own client: its request shape (reference §2.6), its nxproxy command ---
# QVD's client loads module-native-protocol-tcp itself and runs nxproxy -S media=<port>
QPORT=$((50000 + RANDOM % 10000)) LPORT=$((4500 + RANDOM % 400))
QMOD=$(cpactl load-module module-native-protocol-tcp port=$QPORT listen=127.0.0.1 auth-anonymous=1)
t_node_spawn QVD_PID "$QVD_BUILD/tests/helpers/l7r-connect" --l7r 127.0.0.1:$PORT --user alice \
  --password pw --vm 1 --listen $LPORT --query 'qvd.client.nxagent.extra_args=&qvd.client.fullscreen=&qvd.client.usb.implementation=USBIP&qvd.client.printing.enabled=1&qvd.client.os=linux&qvd.client.geometry=1024x768&qvd.client.audio.redirect.port=&qvd.client.audio.compression.enable=1&qvd.client.audio.redirect.server=&qvd.client.keyboard=pc105%2Fes&qvd.client.link=adsl&qvd.client.audio.redirect.enable=0&id=1&qvd.client.usb.enabled=0' \
  2>"$T_DIR/qvd-client.log"
t_wait 90 grep -q "listening on" "$T_DIR/qvd-client.log" # after the 101; it takes one connection
mkdir -p "$T_DIR/nxhome"
# (QVD's client always gives nxproxy slave=<62000-63999> too: nxagent has slave=11100)
HOME=$T_DIR/nxhome NX_CLIENT=/bin/true DISPLAY=$DISP t_node_spawn NXP_PID nxproxy -S \
  media=$QPORT slave=$((62000 + RANDOM % 2000)) localhost:$((LPORT - 4000)) >"$T_DIR/nxproxy-qvd.log" 2>&1
t_check "QVD's client request: the session resumes" t_wait 90 is_x connected
t_check "QVD's client request (no qvd.client.audio.enable): the tunnels are loaded" \
  t_wait 60 eval 'vm_has sinks QVD_Audio && vm_has sources QVD_Microphone'
t_check "QVD's client request: 440 Hz from the VM is heard at the client" heard_at_client
t_check "QVD's client request: the client's 880 Hz is recorded in the VM" heard_in_vm
t_check "compression asked: the VM's log says which (Opus or uncompressed)" \
  in_vm 1 grep -qE 'Opus|no Opus' "/run/user/$UID_A/qvd-audio.log"
kill $NXP_PID $QVD_PID 2>/dev/null; NXP_PID= QVD_PID=
cpactl unload-module "$QMOD"
t_wait 60 is_x suspended; t_wait 20 slot_free 1

# --- the server has sound off: one sentence, at once, and the session goes on ---
# qvd-hkd reads the database's settings when it starts and writes them into each VM's
# vma.conf; the L7R tells the client in X-QVD-Features
admin config set vma.audio.enable 0 >/dev/null
kill "$HKD_PID"; t_wait 30 dead "$HKD_PID"
start_hkd
t_wait 30 is_host running || t_diag "the HKD did not come back: $(tail -5 "$T_DIR/hkd.log")"
: >"$T_DIR/client.log"
client C --vm-id 1 --geometry 800x600 --audio --restart 2>>"$T_DIR/client.log"
t_check "sound off on the server: the session (a new VM start) shows its desktop" desktop_shown 180
t_check "sound off on the server: nxagent was not given media=1" \
  eval 'in_vm 1 grep -q nx/nx /var/run/qvd/nxagent-100.options && ! in_vm 1 grep -q media= /var/run/qvd/nxagent-100.options'
if grep -q X-QVD-Features "$QVD_TOP"/src/l7r/*.c; then
  t_check "sound off on the server: the client says so in one sentence" \
    eval '[ "$(grep -c "Sound is turned off on this server (vma.audio.enable); the session goes on without it." "$T_DIR/client.log")" = 1 ]'
  t_check "sound off on the server: the client loaded nothing into its PulseAudio" \
    eval '! cpactl list short modules | grep -q module-native-protocol-tcp'
else
  t_skip "sound off on the server: the client's sentence" "the L7R sends no X-QVD-Features yet (the slave part)"
fi
kill "$C"; t_wait 10 dead "$C"; C=
[ -n "${QVD_KEEP_TEST_DIR:-}" ] && t_diag "client log: $(cat "$T_DIR/client.log")"
echo "1..$T_N"
