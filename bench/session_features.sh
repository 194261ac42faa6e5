#!/usr/bin/env bash
# bench/session_features.sh: what sound, printing and folder sharing cost an idle session
# on the wire (issue 14's target: under 5 % more bytes per minute than without them).
# The whole path: qvd-client -> qvd-l7r (TLS) -> VMA in an LXC VM of the test DI -> nxagent,
# the client's nxproxy drawing on an Xvfb screen (tests/session_node.sh); the session is the
# test DI's (a painted root window, nothing moving). Each run starts VM 1 afresh (a new
# nxagent and nxproxy, a fresh nxproxy cache), waits until the desktop shows and
# BENCH_FEATURES_SETTLE seconds more (the features' set-up: PulseAudio's tunnels, the
# printers, the sshfs mount), then counts the TLS bytes between qvd-client and the L7R (ss:
# bytes_acked + bytes_received) for BENCH_FEATURES_IDLE seconds of nobody doing anything.
#   off: --no-audio --no-printing, no --share
#   on:  --audio --microphone --printing --share DIR (whichever of these this build's
#        qvd-client knows: the others are left out and named in the table)
# Runs alternate off/on, BENCH_FEATURES_RUNS of each; the table gives each median.
#   bash bench/session_features.sh    (as root; build first). Knobs: BENCH_FEATURES_RUNS (3),
#   BENCH_FEATURES_IDLE (60 s), BENCH_FEATURES_SETTLE (15 s), BENCH_FEATURES_LINK (adsl),
#   BENCH_KEEP=1 (keep the scratch folder).
. "$(dirname "$0")/../tests/lib.sh"
[ -n "${BENCH_KEEP:-}" ] && export QVD_KEEP_TEST_DIR=1
t_init
[ -n "${BENCH_KEEP:-}" ] && echo "# scratch folder: $T_DIR" >&2
. "$(dirname "$0")/../tests/session_node.sh"
RUNS=${BENCH_FEATURES_RUNS:-3}
IDLE=${BENCH_FEATURES_IDLE:-60}
SETTLE=${BENCH_FEATURES_SETTLE:-15}
LINK=${BENCH_FEATURES_LINK:-adsl}
command -v ss >/dev/null && command -v Xvfb >/dev/null || { echo "needs ss and Xvfb" >&2; exit 1; }
session_node_init bfeat || { echo "the node did not start" >&2; exit 1; }
xvfb XV DISP 1024x768 || { echo "Xvfb did not start" >&2; exit 1; }
C1=
t_cleanup_add 'kill $C1; sleep 0.3'
mkdir -p "$T_DIR/share" && echo "a shared file" >"$T_DIR/share/readme.txt"

# the options of each setting that this qvd-client has (the features land one by one)
HELP=$("$CLIENT" --help 2>&1)
has() { grep -q -- "$1" <<<"$HELP"; }
OFF=() ON=() MISSING=()
for o in --no-audio --no-printing; do has "$o" && OFF+=("$o"); done
for o in --audio --microphone --printing; do
  if has "$o\b"; then ON+=("$o"); else MISSING+=("$o"); fi
done
if has "--share"; then ON+=(--share "$T_DIR/share"); else MISSING+=(--share); fi

# tls_bytes: bytes sent and received on the client's TLS connection(s) to the L7R
tls_bytes() {
  t_in_node ss -tinH state established "( dport = :$PORT )" |
    awk '{ for (i = 1; i <= NF; i++) { if ($i ~ /^bytes_acked:/) { split($i, a, ":"); s += a[2] }
                                       if ($i ~ /^bytes_received:/) { split($i, a, ":"); s += a[2] } } }
         END { print s + 0 }'
}
declare -A PERMIN
# run SETTING OPTIONS...: one fresh idle session; its bytes per minute into PERMIN[SETTING]
run() {
  local setting=$1 b0 b1
  shift
  admin vm stop --id 1 >/dev/null 2>&1; t_wait 90 is_vm 1 stopped
  rm -rf "$T_DIR/home/.nx"
  client C1 --vm-id 1 --geometry 1024x768 --reconnect-tries 0 "$@" >>"$T_DIR/client-$setting.log" 2>&1
  if ! desktop_shown 120; then
    echo "# $setting: no desktop: $(tail -2 "$T_DIR/client-$setting.log")" >&2
    kill "$C1"; C1=; return
  fi
  sleep "$SETTLE"
  b0=$(tls_bytes)
  sleep "$IDLE"
  b1=$(tls_bytes)
  alive "$C1" && PERMIN[$setting]+="$(((b1 - b0) * 60 / IDLE)) "
  kill "$C1"; t_wait 10 dead "$C1"; C1=
  t_wait 15 slot_free 1
}
for ((r = 0; r < RUNS; r++)); do
  run off "${OFF[@]}"
  run on "${ON[@]}"
done

# median: the middle value, or the mean of the two middle ones (an even count)
median() {
  tr ' ' '\n' <<<"$1" | grep . | sort -n |
    awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
                              else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
row() { printf '%-64s %-22s %s\n' "$1" "$2" "$3"; }
off=$(median "${PERMIN[off]:-}") on=$(median "${PERMIN[on]:-}")
echo "bench/session_features.sh: an idle session's bytes per minute with and without sound, printing and sharing ($(nproc) cores, link $LINK)"
row "measure" "value" "target"
row "features off (${OFF[*]:-no options}): bytes/min, median" "$off" ""
row "features on (${ON[*]:-none in this build}): bytes/min, median" "$on" ""
if [[ "$off" =~ ^[0-9]+$ && "$on" =~ ^[0-9]+$ && "$off" -gt 0 ]]; then
  row "on vs off" "$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%+.1f %%", (a - b) * 100 / b }')" "< +5 %"
fi
row "runs (bytes/min each): off" "${PERMIN[off]:-}" ""
row "runs (bytes/min each): on" "${PERMIN[on]:-}" ""
[ ${#MISSING[@]} -gt 0 ] && echo "# not in this qvd-client, left out of 'on': ${MISSING[*]}"
echo "# ss bytes_acked + bytes_received of the client's TLS socket over ${IDLE} s of an idle session, from ${SETTLE} s after the desktop showed; a fresh VM and nxproxy cache each run, $RUNS runs of each setting alternating"
exit 0
