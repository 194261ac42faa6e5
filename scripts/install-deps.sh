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
  # printing: the VM's CUPS (test DI) and the client's private CUPS of
  # tests/integration/printing.sh (cups-core-drivers: gziptoany, its file printer's filter)
  cups-daemon cups-client cups-core-drivers
  # the slave channel: sshfs mounts a VM's folder (--vm-folder); sftp-server for the test DI
  sshfs openssh-sftp-server
  # benchmarks: a one-pixel X probe compiled at run time, an HTTP load generator
  libx11-dev wrk
  # sound (tests/integration/audio.sh, bench/audio.sh): PulseAudio for the client side and
  # the test DI, sox to make and measure tones
  pulseaudio pulseaudio-utils sox
  # the npm packages of the tests (below)
  nodejs
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
# npm (Debian's package, unless Node.js came with its own), then the npm packages of the
# tests (tests/npm/package.json: the OpenAPI validator of tests/integration/openapi.sh),
# kept in /var/cache/qvd/npm and installed again when that list changes.
if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
npm_dir=/var/cache/qvd/npm
list=$(dirname "$0")/../tests/npm/package.json
if ! cmp -s "$list" "$npm_dir/package.json" || [ ! -d "$npm_dir/node_modules" ]; then
  echo "installing the tests' npm packages in $npm_dir"
  rm -rf "$npm_dir" && mkdir -p "$npm_dir" && cp "$list" "$npm_dir/package.json" &&
    (cd "$npm_dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null) ||
    { echo "install-deps: npm install in $npm_dir failed" >&2; rm -rf "$npm_dir"; exit 1; }
fi
