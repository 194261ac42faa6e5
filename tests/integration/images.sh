#!/usr/bin/env bash
# tests/integration/images.sh: the DI build scripts: what the test DI contains, that it
# runs in a chroot, that outputs are replaced atomically; the demo DI script's syntax and
# how it finds the Debian mirror in apt's sources (the debootstrap build itself is too
# slow for this test).
. "$(dirname "$0")/../lib.sh"
t_init
IMAGES=$QVD_TOP/images
OUT=$T_DIR/out/test-di.tar
ROOT=$T_DIR/unpacked

# tar_has TARBALL PATH: the tarball lists PATH (with or without a leading ./).
# (grep without -q reads all of tar's output: no SIGPIPE to fail the pipeline.)
tar_has() { tar -tf "$1" | grep -xE "(\./)?$2" >/dev/null; }
# no_leftovers DIR: the builds left no temporary files or folders in DIR.
no_leftovers() { [ -z "$(find "$1" -maxdepth 1 -name '.*' ! -name . -print -quit)" ]; }
# in_root CMD...: runs CMD inside the unpacked image.
in_root() { chroot "$ROOT" "$@" >/dev/null 2>&1; }

# QVD's nxagent first (images/build-nxagent.sh; cached, and tests/run.sh has built it
# already): its first build takes many minutes, which the DI build timing must not count.
t_check "images/build-nxagent.sh builds or finds QVD's nxagent" \
  bash -c "bash '$IMAGES/build-nxagent.sh' >'$T_DIR/nxagent-dir' 2>'$T_DIR/nxagent-build.log'"
NXDEBS=$(cat "$T_DIR/nxagent-dir")
[ -n "$NXDEBS" ] || NXDEBS="none (no patches: the stock nxagent)"
t_diag "QVD's nxagent packages: $NXDEBS"

# --- the test DI, as a tarball ---------------------------------------------------------
start=$(date +%s.%N)
if bash "$IMAGES/build-test-di.sh" "$OUT" >"$T_DIR/build1.log" 2>&1; then
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  # how long it took is a figure, not a check (a shared machine's load decides it)
  t_ok "test DI builds: $(du -h "$OUT" | cut -f1) in $secs s"
else
  sed 's/^/# /' "$T_DIR/build1.log"
  t_fail "test DI builds"
  exit 1
fi
t_check "test DI tarball lists usr/bin/nxagent" tar_has "$OUT" usr/bin/nxagent
t_check "test DI tarball lists usr/sbin/useradd" tar_has "$OUT" usr/sbin/useradd
t_check "test DI tarball is in basic layout (sbin, usr, etc at the top)" \
  bash -c "tar -tf '$OUT' | grep -qxE '(\./)?(sbin|usr|etc)/?'"

mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner -xf "$OUT"
t_check "useradd --help runs inside the unpacked DI" in_root /usr/sbin/useradd --help
t_check "nxagent -version runs inside the unpacked DI" in_root /usr/bin/nxagent -version

# The DI's nxagent is QVD's build with exactly the patches of the series (nxagent says
# so in -version and in its start-up log), or Debian's when the series is empty.
SERIES=$IMAGES/nx-libs/patches/series
want=$(grep -vE '^[[:space:]]*(#|$)' "$SERIES" 2>/dev/null | sed 's/\.patch$//' | paste -sd' ')
# qvd_line ROOT: the "QVD patches:" line of ROOT's nxagent -version, without the prefix.
qvd_line() { chroot "$1" /usr/bin/nxagent -version 2>&1 | sed -n 's/^QVD patches: //p'; }
if [ -n "$want" ]; then
  t_check "the DI's nxagent -version names the series' patches ($want)" \
    test "$(qvd_line "$ROOT")" = "$want"
  t_check "the DI lists QVD's nxagent packages (+qvd. versions), not Debian's" \
    bash -c "grep -qP '^nxagent\t.*\+qvd\.' '$ROOT/etc/qvd-di-packages' &&
      grep -qP '^libnx-x11-6t64\t.*\+qvd\.' '$ROOT/etc/qvd-di-packages' &&
      ! grep -qP '^(libnx-x11-6|libxcomp3)\t' '$ROOT/etc/qvd-di-packages'"
  # same_as_deb PKG PATH: the DI's PATH is the file that QVD's package PKG ships.
  same_as_deb() {
    local d rc
    d=$(mktemp -d) && dpkg-deb -x "$(ls "$NXDEBS/$1"_*.deb)" "$d" && cmp -s "$d/$2" "$ROOT/$2"
    rc=$?; rm -rf "$d"; return $rc
  }
  ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
  t_check "the DI's nxagent binary is QVD's" same_as_deb nxagent usr/bin/nxagent
  t_check "the DI's libNX_X11 and libXcomp are QVD's (nxagent's nx-libs match it)" \
    eval "same_as_deb libnx-x11-6t64 usr/lib/$ma/libNX_X11.so.6 &&
      same_as_deb libxcomp3t64 usr/lib/$ma/libXcomp.so.3"
else
  t_check "no patches: the DI's nxagent is Debian's (no QVD line)" test -z "$(qvd_line "$ROOT")"
fi
t_check "xsetroot and xkbcomp are in the DI" \
  test -x "$ROOT/usr/bin/xsetroot" -a -x "$ROOT/usr/bin/xkbcomp"
t_check "the VMA can provision a user in the DI (groupadd, useradd -m)" \
  bash -c "chroot '$ROOT' /usr/sbin/groupadd qvduser && chroot '$ROOT' /usr/sbin/useradd -m \
    -d /home/qvd -g qvduser -s /bin/bash qvd && test -d '$ROOT/home/qvd' &&
    grep -q '^qvd:' '$ROOT/etc/passwd'"
t_check "the X font path has an index (nxagent needs the 'fixed' font)" \
  grep -q '^fixed ' "$ROOT/usr/share/fonts/X11/misc/fonts.alias"

# shared libraries qvd-vma links against
for lib in 'libevent-2.1.so.7*' 'libevent_core-2.1.so.7*' 'libevent_openssl-2.1.so.7*' \
    'libjansson.so.4*' 'libssl.so.3' 'libcrypto.so.3' 'libsqlite3.so.0*' 'libargon2.so.1' \
    'libhttp_parser.so.2.9*'; do
  t_check "the DI has the VMA library $lib" \
    bash -c "ls $ROOT/usr/lib/*-linux-gnu/$lib >/dev/null 2>&1"
done
vma=$QVD_BUILD/src/vma/qvd-vma
if [ -x "$vma" ]; then
  t_check "qvd-vma finds all its libraries inside the DI" \
    bash -c "mkdir -p '$ROOT/tmp/vma' && cp '$vma' '$ROOT/tmp/vma/' &&
      ! chroot '$ROOT' /usr/bin/ldd /tmp/vma/qvd-vma | grep -q 'not found'"
else
  t_skip "qvd-vma finds all its libraries inside the DI" "qvd-vma not built"
fi

s=$ROOT/usr/local/bin/qvd-test-session
t_check "qvd-test-session exists and is executable" test -x "$s"
t_check "qvd-test-session paints #2e8b57" grep -q "xsetroot -solid '#2e8b57'" "$s"
t_check "/etc/X11/Xsession defaults to qvd-test-session (x-session-manager)" \
  test "$(readlink "$ROOT/etc/alternatives/x-session-manager")" = /usr/local/bin/qvd-test-session
t_check "the DI has /etc/hosts with localhost and an empty machine-id" \
  bash -c "grep -qE '^127\.0\.0\.1[[:space:]]+localhost' '$ROOT/etc/hosts' && test ! -s '$ROOT/etc/machine-id'"
t_check "the DI has /tmp with mode 1777" test "$(stat -c %a "$ROOT/tmp")" = 1777

# The session paints the screen: run it in the DI against an Xvfb of the host (over TCP).
for disp in $(seq 91 99); do [ -e /tmp/.X11-unix/X$disp ] || [ -e /tmp/.X$disp-lock ] || break; done
if command -v Xvfb >/dev/null && command -v xwd >/dev/null && command -v convert >/dev/null; then
  Xvfb ":$disp" -listen tcp -ac -noreset -screen 0 320x240x24 >"$T_DIR/xvfb.log" 2>&1 &
  xvfb=$!
  t_cleanup_add "kill $xvfb"
  t_wait 10 xdpyinfo -display ":$disp" >/dev/null 2>&1 || t_wait 10 test -e "/tmp/.X11-unix/X$disp"
  setsid chroot "$ROOT" /usr/sbin/runuser -u qvd -- env HOME=/home/qvd \
    DISPLAY="127.0.0.1:$disp" /usr/local/bin/qvd-test-session >"$T_DIR/session.log" 2>&1 &
  sess=$!
  t_cleanup_add "kill -- -$sess"
  pixel() { DISPLAY=":$disp" xwd -root 2>/dev/null | convert xwd:- -format '%[hex:p{10,10}]' info: 2>/dev/null; }
  green() { [[ "$(pixel)" == 2E8B57* ]]; }
  t_check "qvd-test-session run in the DI turns the screen #2e8b57" t_wait 10 green
  green || { t_diag "pixel: $(pixel)"; sed 's/^/# /' "$T_DIR/session.log"; }
  t_check "qvd-test-session leaves its marker in the user's home" \
    bash -c "ls '$ROOT'/home/qvd/.qvd-session-* >/dev/null 2>&1"
  kill -- "-$sess" 2>/dev/null
  # nxagent's start-up log (what the VMA records) names the patches too: the DI's nxagent
  # run as a plain nested X server on that Xvfb.
  if [ -n "$want" ]; then
    for nd in $(seq 150 170); do [ -e "$ROOT/tmp/.X$nd-lock" ] || break; done
    setsid chroot "$ROOT" env DISPLAY="127.0.0.1:$disp" /usr/bin/nxagent -ac -nolisten tcp \
      -name images-test ":$nd" >"$T_DIR/nxagent.log" 2>&1 &
    agent=$!
    t_cleanup_add "kill -- -$agent"
    t_check "nxagent's start-up log says 'QVD patches: $want'" \
      t_wait 20 grep -qxF "QVD patches: $want" "$T_DIR/nxagent.log"
    kill -- "-$agent" 2>/dev/null
  fi
else
  t_skip "qvd-test-session run in the DI turns the screen #2e8b57" "no Xvfb/xwd/convert"
fi

# --- atomic replacement --------------------------------------------------------------------
ino1=$(stat -c %i "$OUT")
bash "$IMAGES/build-test-di.sh" "$OUT" >"$T_DIR/build2.log" 2>&1 &
builder=$!
t_cleanup_add "kill $builder"
# While the second build runs, OUT is always the complete old (or new) tarball.
torn=0
while kill -0 "$builder" 2>/dev/null; do
  tar -tf "$OUT" >/dev/null 2>&1 || torn=1
  sleep 0.2
done
wait "$builder"; rc=$?
t_check "a second build into the same OUT succeeds" test "$rc" = 0
t_check "OUT stays a complete tarball during the second build" test "$torn" = 0
t_check "the second build replaced OUT (new file, renamed over the old)" \
  test "$(stat -c %i "$OUT")" != "$ino1"
t_check "the second tarball lists usr/bin/nxagent" tar_has "$OUT" usr/bin/nxagent
t_check "the builds leave no temporary files next to OUT" no_leftovers "$T_DIR/out"

ino2=$(stat -c %i "$OUT")
bash "$IMAGES/build-test-di.sh" --packages "qvd-no-such-package" "$OUT" >"$T_DIR/build3.log" 2>&1
rc=$?
t_check "a failing build exits non-zero" test "$rc" != 0
t_check "a failing build leaves the old OUT untouched" \
  bash -c "test \"\$(stat -c %i '$OUT')\" = '$ino2' && tar -tf '$OUT' >/dev/null"
t_check "a failing build leaves no temporary files" no_leftovers "$T_DIR/out"
t_check "a failing build says which package is missing" grep -q qvd-no-such-package "$T_DIR/build3.log"

# --- the test DI as a directory ------------------------------------------------------------
D=$T_DIR/out/test-di
t_check "--dir builds a directory DI" \
  bash -c "bash '$IMAGES/build-test-di.sh' --dir '$D' >'$T_DIR/build4.log' 2>&1 && test -x '$D/usr/bin/nxagent'"
touch "$D/stale-file"
t_check "a second --dir build replaces the directory" \
  bash -c "bash '$IMAGES/build-test-di.sh' --dir '$D' >'$T_DIR/build5.log' 2>&1 &&
    test -x '$D/usr/bin/nxagent' && test ! -e '$D/stale-file'"
t_check "--dir builds leave no temporary folders" no_leftovers "$T_DIR/out"

# --- the demo DI script: syntax and mirror detection ------------------------------------
DEB=$IMAGES/build-debian-di.sh
t_check "build-debian-di.sh passes bash -n" bash -n "$DEB"
F=$T_DIR/apt
mkdir -p "$F/sources.list.d"
cat >"$F/sources.list" <<'EOF'
# a comment line
deb-src http://src.example.org/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://one.example.org/debian/ bookworm main contrib # note
deb http://sec.example.org/debian-security bookworm-security main
EOF
cat >"$F/sources.list.d/two.sources" <<'EOF'
Types: deb
URIs: http://off.example.org/debian
Suites: trixie
Components: main
Enabled: no

# comment
Types: deb deb-src
URIs: http://two.example.org/debian
Suites: trixie
 trixie-updates
Components: main contrib
EOF
cat >"$F/sources.list.d/ignored.list.disabled" <<'EOF'
deb http://ignored.example.org/debian trixie main
EOF
# mirror_of SUITE [FILE...]: debian_mirror with the fake apt configuration.
mirror_of() {
  APT_SOURCES_LIST=$F/sources.list APT_SOURCES_DIR=$F/sources.list.d \
    bash -c '. "$0" && debian_mirror "$@"' "$DEB" "$@"
}
t_check "sourcing build-debian-di.sh builds nothing and prints nothing" \
  test -z "$(bash -c '. "$0"' "$DEB" 2>&1)"
t_check "mirror from a one-line source with options, trailing slash removed" \
  test "$(mirror_of bookworm)" = http://one.example.org/debian
t_check "security mirror found by its suite" \
  test "$(mirror_of bookworm-security)" = http://sec.example.org/debian-security
t_check "mirror from a deb822 .sources file, skipping an 'Enabled: no' paragraph" \
  test "$(mirror_of trixie)" = http://two.example.org/debian
t_check "a continued Suites: line counts (trixie-updates)" \
  test "$(mirror_of trixie-updates)" = http://two.example.org/debian
t_check "no mirror for a suite the sources do not carry (debian_mirror fails)" \
  bash -c "! APT_SOURCES_LIST='$F/sources.list' APT_SOURCES_DIR='$F/sources.list.d' \
    bash -c '. \"\$0\" && debian_mirror sid' '$DEB'"
t_check "files not named *.list or *.sources are ignored" \
  bash -c "! APT_SOURCES_LIST=/nonexistent APT_SOURCES_DIR='$F/sources.list.d' \
    bash -c '. \"\$0\" && debian_mirror trixie | grep -q ignored' '$DEB'"
t_check "explicit files override the machine's sources" \
  test "$(mirror_of bookworm "$F/sources.list.d/two.sources" "$F/sources.list")" = http://one.example.org/debian
t_check "this machine's own apt sources give a mirror for bookworm" \
  bash -c '. "$0" && debian_mirror bookworm | grep -qE "^(https?|ftp|file):"' "$DEB"

# --- images/build-nxagent.sh: the series and the cache key (nothing is built here) -------
NXB=$IMAGES/build-nxagent.sh
P=$T_DIR/patches
mkdir -p "$P"
# nxb DIR ARGS...: build-nxagent.sh with its patches taken from DIR.
nxb() { local d=$1; shift; PATCH_DIR=$d bash "$NXB" "$@"; }
t_check "build-nxagent.sh passes bash -n" bash -n "$NXB"
t_check "sourcing build-nxagent.sh builds nothing and prints nothing" \
  test -z "$(bash -c '. "$0"' "$NXB" 2>&1)"
t_check "no series: nothing is built, nothing printed, success" \
  bash -c "out=\$(PATCH_DIR='$P' bash '$NXB' --cache '$T_DIR/nocache' 2>&1) && test -z \"\$out\" &&
    test ! -e '$T_DIR/nocache'"
printf '# comments and blank lines only\n\n' >"$P/series"
t_check "an empty series: nothing is built" \
  bash -c "test -z \"\$(PATCH_DIR='$P' bash '$NXB' --cache '$T_DIR/nocache')\""
printf 'Description: a test patch\n--- a/x\n+++ b/x\n' >"$P/0001-a.patch"
t_check "a *.patch file missing from the series is refused" \
  bash -c "! PATCH_DIR='$P' bash '$NXB' --key 2>'$T_DIR/nxb1.log' && grep -q 'not listed' '$T_DIR/nxb1.log'"
printf '0001-a.patch\n0002-missing.patch\n' >"$P/series"
t_check "a series entry without its file is refused" \
  bash -c "! PATCH_DIR='$P' bash '$NXB' --key 2>'$T_DIR/nxb2.log' && grep -q 'missing' '$T_DIR/nxb2.log'"
printf '0001-a.patch\n' >"$P/series"
k1=$(nxb "$P" --key)
t_check "the cache key is stable" test "$(nxb "$P" --key)" = "$k1"
t_check "a debug build has a key of its own" test "$(nxb "$P" --key --debug)" != "$k1"
echo '+changed' >>"$P/0001-a.patch"
k2=$(nxb "$P" --key)
t_check "changing a patch changes the key (the DIs get a new build)" \
  bash -c "test -n '$k1' && test -n '$k2' && test '$k1' != '$k2'"
t_check "the repository's series matches its folder" \
  bash -c "bash '$NXB' --key >/dev/null"
