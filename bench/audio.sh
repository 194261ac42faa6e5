#!/usr/bin/env bash
# bench/audio.sh: the session's sound, measured on the whole path (qvd-client -> qvd-l7r
# (TLS) -> VMA in an LXC VM of the test DI -> nxagent's media channel -> nxproxy -> the
# client's PulseAudio; tests/session_node.sh), link adsl as QVD's client asks by default.
#  1. latency: the VM's pacat starts a 1 kHz burst (after printing the clock); the client
#     records its speakers' monitor (a null sink) with parec, and the burst's first sample
#     above a tenth of full scale is placed on the same clock (VM and client share this
#     machine's): the recording's start is the clock when parec is stopped minus its
#     length. BENCH_AUDIO_RUNS bursts (5) 3 s apart, the median and the worst; then one
#     after 8 s of silence, when the VM's sink has suspended (5 s) and must wake.
#  2. bandwidth: TLS bytes from the L7R to the client (ss bytes_received) during 20 s of
#     speech-like sound played in the VM (pink noise in the 300-3400 Hz band, cut into
#     syllables by a 4 Hz tremolo, mono 16 kHz played as 44.1 kHz stereo by PulseAudio)
#     and, 20 s before, of the same session silent (its sinks and sources suspended: no
#     stream of silence), that one also both ways; kbit/s. The session has sound and
#     microphone on. With compression asked (QVD's
#     qvd.client.audio.compression.enable=1), the VM's log says whether its PulseAudio
#     tunnels in Opus or, as Debian's does, uncompressed PCM.
#   bash bench/audio.sh    (as root; build first). Knobs: BENCH_AUDIO_RUNS (5), BENCH_KEEP=1.
. "$(dirname "$0")/../tests/lib.sh"
[ -n "${BENCH_KEEP:-}" ] && export QVD_KEEP_TEST_DIR=1
[ "$(id -u)" = 0 ] || { echo "bench/audio.sh runs containers: run it as root" >&2; exit 1; }
t_init
[ -n "${BENCH_KEEP:-}" ] && echo "# scratch folder: $T_DIR" >&2
. "$(dirname "$0")/../tests/session_node.sh"
RUNS=${BENCH_AUDIO_RUNS:-5}
session_node_init baudio >&2 || { echo "the test node did not start" >&2; exit 1; }
xvfb XVFB_PID DISP >&2 || exit 1
C= PA_PID= PLAY=
t_cleanup_add 'kill $C $PLAY; sleep 0.3; kill $PA_PID'

export XDG_RUNTIME_DIR=$T_DIR/pa-run
mkdir -p "$XDG_RUNTIME_DIR" "$T_DIR/home" && chmod 700 "$XDG_RUNTIME_DIR"
printf '%s\n' "load-module module-native-protocol-unix" \
  "load-module module-null-sink sink_name=speakers" "set-default-sink speakers" >"$T_DIR/client.pa"
HOME=$T_DIR/home t_node_spawn PA_PID pulseaudio --daemonize=no -n --exit-idle-time=-1 \
  --use-pid-file=no -F "$T_DIR/client.pa" --log-target=newfile:"$T_DIR/pa-client.log"
t_wait 20 eval 'HOME=$T_DIR/home pactl info >/dev/null 2>&1' || { echo "no client PulseAudio" >&2; exit 1; }
RAW=(-r 44100 -c 2 -b 16 -e signed -t raw)
sox -n "${RAW[@]}" "$T_DIR/burst.raw" synth 1 sine 1000 vol 0.5
sox -n -r 16000 -c 1 -b 16 -e signed -t raw - synth 20 pinknoise sinc 300-3400 tremolo 4 100 \
  norm -6 | sox -r 16000 -c 1 -b 16 -e signed -t raw - "${RAW[@]}" "$T_DIR/speech.raw" \
  remix 1 1 rate 44100

LINK=adsl client C --vm-id 1 --geometry 800x600 --audio --microphone 2>>"$T_DIR/client.log"
desktop_shown 120 || { echo "no desktop" >&2; cat "$T_DIR/client.log" >&2; exit 1; }
UID_A=$(in_vm 1 id -u alice)
as_alice() { in_vm 1 runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/$UID_A HOME=/home/alice "$@"; }
t_wait 60 eval 'as_alice pactl list short sinks | grep -q QVD_Audio' ||
  { echo "no QVD_Audio in the VM" >&2; exit 1; }

# latency_once: ms from the VM's pacat start to the burst at the client
latency_once() {
  local t_vm t_stop n onset
  HOME=$T_DIR/home parec --raw --latency-msec=10 -d speakers.monitor >"$T_DIR/lat.raw" 2>/dev/null &
  local rec=$!
  sleep 1
  t_vm=$(as_alice sh -c 'date +%s.%N; exec pacat --raw --latency-msec=10 >/dev/null 2>&1' <"$T_DIR/burst.raw" | head -1)
  sleep 0.5
  kill $rec; wait $rec 2>/dev/null
  t_stop=$(date +%s.%N)
  n=$(($(stat -c %s "$T_DIR/lat.raw") / 4))
  # the first frame whose left sample is above 3277 (a tenth of full scale)
  onset=$(od -An -v -t d2 -w4 "$T_DIR/lat.raw" | awk '$1 > 3277 || $1 < -3277 { print NR - 1; exit }')
  [ -n "$onset" ] || { echo "-"; return; }
  awk -v tv="$t_vm" -v ts="$t_stop" -v n="$n" -v o="$onset" \
    'BEGIN { printf "%.0f\n", ((ts - n / 44100 + o / 44100) - tv) * 1000 }'
}
# tls_in, tls_both: bytes the client received on its TLS connection to the L7R; both ways
tls_count() {
  t_in_node ss -tinH state established "( dport = :$PORT )" |
    awk -v re="$1" '{ for (i = 1; i <= NF; i++) if ($i ~ re) { split($i, a, ":"); s += a[2] } }
         END { print s + 0 }'
}
tls_in() { tls_count '^bytes_received:'; }
tls_both() { tls_count '^bytes_(received|acked):'; }

LAT=()
for ((i = 0; i < RUNS; i++)); do LAT+=("$(latency_once)"); sleep 1; done
sleep 8 # idle: the VM's QVD_Audio suspends after 5 s, and wakes for the next sound
COLD=$(latency_once)
sorted=$(printf '%s\n' "${LAT[@]}" | grep -v -- - | sort -n)
median=$(awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }' <<<"$sorted")
worst=$(tail -1 <<<"$sorted")

sleep 6 # the sinks and sources of the VM suspend when idle (5 s)
b0=$(tls_in) a0=$(tls_both); sleep 20; b1=$(tls_in) a1=$(tls_both)
as_alice pacat --raw <"$T_DIR/speech.raw" >/dev/null 2>&1 &
PLAY=$!
s0=$(tls_in); sleep 20; s1=$(tls_in)
wait $PLAY 2>/dev/null; PLAY=
silent=$(((b1 - b0) * 8 / 20 / 1000)) idle=$(((a1 - a0) * 8 / 20 / 1000)) speech=$(((s1 - s0) * 8 / 20 / 1000))
codec=$(as_alice cat "/run/user/$UID_A/qvd-audio.log" 2>/dev/null | grep -Eo 'Opus\)|no Opus' | tail -1)
case $codec in "Opus)") codec="Opus" ;; "no Opus") codec="uncompressed PCM (the VM's PulseAudio has no Opus)" ;; *) codec="?" ;; esac

echo
echo "Sound of one session through qvd-l7r, link adsl ($(nproc) cores, $(date +%F); PulseAudio $(pulseaudio --version | awk '{ print $2 }'))"
printf '| %-52s | %-22s | %-10s |\n' figure value target
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..24})" "$(printf -- '-%.0s' {1..12})"
printf '| %-52s | %-22s | %-10s |\n' "latency VM play -> client capture, median of $RUNS" "$median ms" "< 150 ms"
printf '| %-52s | %-22s | %-10s |\n' "latency, worst" "$worst ms" ""
printf '| %-52s | %-22s | %-10s |\n' "latency of a sound after 8 s of silence (tunnel wakes)" "$COLD ms" ""
printf '| %-52s | %-22s | %-10s |\n' "L7R -> client while speech-like sound plays" "$speech kbit/s" "< 64 kbit/s"
printf '| %-52s | %-22s | %-10s |\n' "L7R -> client, the same session silent" "$silent kbit/s" ""
printf '| %-52s | %-22s | %-10s |\n' "both ways, silent (sound and microphone on)" "$idle kbit/s" ""
printf '| %-52s | %-22s | %-10s |\n' "sound over the link" "$codec" "Opus"
echo "(latencies, ms: ${LAT[*]})"
