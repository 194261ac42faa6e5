#!/usr/bin/env bash
# Installs, from Debian's archive, every package the build, the product and the tests use.
# Idempotent: does nothing when everything is already there.
set -euo pipefail
PKGS=(
  # build
  build-essential meson ninja-build pkg-config
  libssl-dev libevent-dev libjansson-dev libsqlite3-dev libargon2-dev
  libhttp-parser-dev lxc-dev libcmocka-dev libpq-dev libnftables-dev libseccomp-dev
  # node run time
  lxc iproute2 nftables debootstrap tar xz-utils zstd sqlite3 postgresql
  # a PostgreSQL that fails over (docs/cluster.md, tests/integration/pg_failover.sh)
  postgresql-15-auto-failover pg-auto-failover-cli
  # NX and the desktop (node-side test DI, client side)
  nxagent nxproxy xvfb x11-apps x11-utils x11-xkb-utils x11-xserver-utils xkb-data icewm xterm
  xfonts-base imagemagick
  # keys and clipboard of a session (tests/integration/screen.sh; xclip also in the test DI)
  xdotool xclip
  # integration tests (python3-yaml: tests/integration/openapi.sh); clang for the sanitizer
  # build and the libFuzzer targets
  busybox-static procps psmisc curl socat python3-yaml clang libclang-rt-14-dev clang-format
  # benchmarks: a one-pixel X probe compiled at run time, an HTTP load generator
  libx11-dev wrk
  # sound (tests/integration/audio.sh, bench/audio.sh): PulseAudio for the client side and
  # the test DI, sox to make and measure tones
  pulseaudio pulseaudio-utils sox
)
# QVD's nxagent (images/build-nxagent.sh), built only when there are nx-libs patches:
# dpkg-dev and the Build-Depends of Debian's nx-libs source package.
series=$(dirname "$0")/../images/nx-libs/patches/series
if [ -f "$series" ] && grep -qvE '^[[:space:]]*(#|$)' "$series"; then
  PKGS+=(
    dpkg-dev debhelper autoconf automake expat libjpeg-dev libpixman-1-dev libpng-dev
    libtirpc-dev libtool libxcomposite-dev libxdamage-dev libxdmcp-dev libxext-dev
    libxfixes-dev libxfont-dev libxkbfile-dev libxinerama-dev libxml2-dev libxpm-dev
    libxrandr-dev libxrender-dev libxtst-dev pkgconf x11-xkb-utils x11proto-core-dev
    xutils-dev zlib1g-dev
  )
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
