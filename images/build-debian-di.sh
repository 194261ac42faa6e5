#!/usr/bin/env bash
# images/build-debian-di.sh: builds the demo DI (Debian + nxagent + IceWM desktop) with
# debootstrap, from the Debian mirror this machine's apt already uses.
#
# Usage: images/build-debian-di.sh [--suite SUITE] [--packages "PKG..."] [--mirror URL]
#                                  [--nxagent-debs DIR] [--check-elf FILE]... OUT
#   OUT ending in .tar, .tar.gz/.tgz, .tar.xz or .tar.zst (written atomically).
#   --suite         Debian suite (default bookworm)
#   --packages      replaces DEBIAN_DI_PACKAGES (the VMA libraries are always added)
#   --mirror        use this mirror instead of the one found in the apt sources
#   --nxagent-debs  install nxagent and its nx-libs from the .deb files in DIR instead of
#                   images/build-nxagent.sh's build ("stock": Debian's nxagent)
#   --check-elf     also check that FILE (e.g. build/src/vma/qvd-vma) finds its libraries
# The X session: vma.x_session=/etc/X11/Xsession (the default) or
# /usr/local/bin/qvd-desktop-session; both start IceWM with a background and an xterm.
# When images/nx-libs/patches has patches, QVD's nxagent packages (images/build-nxagent.sh,
# built once and cached) are installed over Debian's.
#
# Sourcing this file defines its functions without building anything (the tests use
# apt_source_entries and debian_mirror that way).

# The desktop: nxagent and the X pieces it needs, IceWM, a terminal, and the tools the
# VMA runs (useradd/groupadd from passwd, ps, ip); PulseAudio for the session's sound; the
# VM's CUPS (printing: the VMA starts cupsd and adds the client's printers to it).
DEBIAN_DI_PACKAGES="passwd procps iproute2 nxagent x11-xkb-utils xkb-data xfonts-base
  fonts-dejavu-core x11-xserver-utils x11-common xterm icewm
  pulseaudio pulseaudio-utils
  openssh-sftp-server
  cups-daemon cups-client"
# The shared libraries qvd-vma links against (check with: ldd build/src/vma/qvd-vma).
VMA_LIB_PACKAGES="libc6 libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7
  libevent-openssl-2.1-7 libevent-pthreads-2.1-7 libjansson4 libssl3 libsqlite3-0
  libargon2-1 libhttp-parser2.9"
# Optional plugins not checked for their libraries (tc's ATM qdisc, libao's audio
# back-ends pulled in by IceWM's sound daemon).
# shellcheck disable=SC2034  # read by di_check_elves in di-common.sh
DI_ELF_CHECK_SKIP="usr/lib/*/tc/* usr/lib/*/ao/plugins-*/*"
# The desktop's background colour.
DESKTOP_COLOUR="#3a6ea5"

DI_PROG=build-debian-di
. "$(dirname "${BASH_SOURCE[0]}")/di-common.sh"

# write_apt_sources ROOT SUITE MIRROR SECURITY: the image's own apt sources (the same
# mirrors as the build), so that `apt-get update` works inside a VM of this DI.
write_apt_sources() {
  local root=$1 suite=$2 mirror=$3 security=$4
  {
    echo "deb $mirror $suite main"
    has_source "$suite-updates" "$mirror" && echo "deb $mirror $suite-updates main"
    [ -n "$security" ] && echo "deb $security $suite-security main"
  } >"$root/etc/apt/sources.list"
  return 0
}

# write_desktop ROOT: the IceWM session with a plain background and a terminal, made the
# default of /etc/X11/Xsession through the x-session-manager alternative.
write_desktop() {
  local root=$1 s=/usr/local/bin/qvd-desktop-session
  mkdir -p "$root/usr/local/bin"
  cat >"$root$s" <<EOF
#!/bin/sh
# qvd-desktop-session: the QVD demo desktop: IceWM, a $DESKTOP_COLOUR background, an xterm.
# The window manager connects first: an X server resets, and forgets the root window's
# colour, when its last client leaves, which xsetroot alone would be. Plain icewm (not
# icewm-session) so that icewmbg does not paint the theme's picture over the colour.
icewm &
wm=\$!
sleep 1
xsetroot -solid '$DESKTOP_COLOUR' || true
xterm -geometry 100x30+40+40 &
wait \$wm
EOF
  chmod 0755 "$root$s"
  chroot "$root" update-alternatives --quiet --install /usr/bin/x-session-manager \
    x-session-manager "$s" 90
  chroot "$root" update-alternatives --quiet --set x-session-manager "$s"
}

# strip_image ROOT: what a DI should not carry: apt caches and lists, logs of the build,
# documentation, the build host's resolver and identity.
strip_image() {
  local root=$1
  rm -f "$root/usr/sbin/policy-rc.d"
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old
  rm -rf "$root"/var/log/apt/* "$root"/var/log/*.log "$root"/var/log/bootstrap.log
  find "$root/usr/share/doc" -type f ! -name copyright -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/*
  rm -rf "$root"/tmp/* "$root"/var/tmp/*
  rm -f "$root/etc/resolv.conf"; : >"$root/etc/resolv.conf"; chmod 0644 "$root/etc/resolv.conf"
  di_write_identity "$root"
  di_write_pulse_conf "$root"
  local d
  for d in usr/lib/qvd/bin etc/qvd home; do mkdir -p "$root/$d"; done
  mkdir -p "$root/tmp/.X11-unix"; chmod 1777 "$root/tmp" "$root/tmp/.X11-unix"
  chroot "$root" dpkg-query -W >"$root/etc/qvd-di-packages"
}

# install_nxagent_debs ROOT DIR: installs the .deb files of DIR in ROOT with apt (they
# replace Debian's nxagent and nx-libs: their versions are higher).
install_nxagent_debs() {
  local root=$1 dir=$2 f
  local -a debs=()
  mkdir -p "$root/tmp/qvd-nxagent"
  for f in "$dir"/*.deb; do
    cp "$f" "$root/tmp/qvd-nxagent/"
    debs+=("/tmp/qvd-nxagent/$(basename "$f")")
  done
  chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -q -y \
    --no-install-recommends install "${debs[@]}" || return 1
  rm -rf "$root/tmp/qvd-nxagent"
}

# Where the build happens; removed on exit once nothing is mounted in it.
WORK=""
cleanup() {
  [ -n "$WORK" ] && [ -d "$WORK" ] || return 0
  if mountpoint -q "$WORK/root/proc" 2>/dev/null; then umount "$WORK/root/proc" || umount -l "$WORK/root/proc"; fi
  if mountpoint -q "$WORK/root/proc" 2>/dev/null; then
    di_log "warning: $WORK/root/proc still mounted; $WORK left in place"
    return 0
  fi
  rm -rf --one-file-system "$WORK"
}

main() {
  set -euo pipefail
  local out="" suite=bookworm pkgs=$DEBIAN_DI_PACKAGES mirror="" security="" check=()
  local t0 root arch include="" nx_choice="" nxdebs=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --suite) [ $# -ge 2 ] || usage; suite=$2; shift ;;
      --packages) [ $# -ge 2 ] || usage; pkgs=$2; shift ;;
      --mirror) [ $# -ge 2 ] || usage; mirror=${2%/}; shift ;;
      --nxagent-debs) [ $# -ge 2 ] || usage; nx_choice=$2; shift ;;
      --check-elf) [ $# -ge 2 ] || usage; check+=("$(realpath "$2")"); shift ;;
      -h | --help) usage 0 ;;
      -*) di_log "unknown option $1"; usage ;;
      *) [ -z "$out" ] || usage; out=$1 ;;
    esac
    shift
  done
  [ -n "$out" ] || usage
  [ "$(id -u)" = 0 ] || di_die "run as root (debootstrap, chroot)"
  command -v debootstrap >/dev/null || di_die "debootstrap is not installed"
  di_tar_compress_flag "$out" >/dev/null || di_die "$out: name must end in .tar, .tar.gz, .tar.xz or .tar.zst"
  if [ -z "$mirror" ]; then
    mirror=$(debian_mirror "$suite") ||
      di_die "no 'deb' source for $suite (main) in $APT_SOURCES_LIST or $APT_SOURCES_DIR; pass --mirror URL"
  fi
  security=$(debian_mirror "$suite-security") || security=""
  arch=$(dpkg --print-architecture)
  case "$nx_choice" in
    stock) ;;
    "") nxdebs=$(bash "$(dirname "${BASH_SOURCE[0]}")/build-nxagent.sh") ||
          di_die "cannot build QVD's nxagent (images/build-nxagent.sh)" ;;
    *) compgen -G "$nx_choice/*.deb" >/dev/null || di_die "no .deb file in $nx_choice"
       nxdebs=$(realpath "$nx_choice") ;;
  esac
  # Those packages are built on (and for) this machine's suite.
  [ -z "$nxdebs" ] || [ "$suite" = "$(. /etc/os-release && echo "$VERSION_CODENAME")" ] ||
    di_die "QVD's nxagent is built for this machine's suite, not $suite: add --nxagent-debs stock"
  [[ $mirror == https:* || $security == https:* ]] && include=--include=ca-certificates
  mkdir -p "$(dirname "$out")"
  out=$(realpath -m "$out")
  t0=$(date +%s)
  di_log "suite $suite ($arch) from $mirror${security:+, security updates from $security}"

  WORK=$(mktemp -d "$(dirname "$out")/.$(basename "$out").build.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP
  root=$WORK/root

  di_log "debootstrap (minbase)..."
  if ! debootstrap --variant=minbase --arch="$arch" $include "$suite" "$root" "$mirror" \
      >"$WORK/debootstrap.log" 2>&1; then
    tail -n 20 "$WORK/debootstrap.log" >&2
    di_die "debootstrap failed"
  fi
  # No daemon starts inside the build; no documentation is unpacked from now on.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/qvd-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
EOF
  write_apt_sources "$root" "$suite" "$mirror" "$security"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  mount -t proc proc "$root/proc"

  di_log "installing the desktop and the VMA's libraries..."
  # shellcheck disable=SC2086
  if ! { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -q update &&
      chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -q -y \
        --no-install-recommends install $pkgs $VMA_LIB_PACKAGES &&
      chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -q -y \
        --no-install-recommends dist-upgrade &&
      { [ -z "$nxdebs" ] || install_nxagent_debs "$root" "$nxdebs"; }; } >"$WORK/apt.log" 2>&1; then
    tail -n 20 "$WORK/apt.log" >&2
    di_die "apt-get in the image failed"
  fi
  if [[ " $pkgs " == *" icewm "* ]]; then write_desktop "$root"; fi
  umount "$root/proc"
  strip_image "$root"
  di_log "checking the image..."
  di_validate "$root" "${check[@]}" || exit 1

  di_publish_tar "$root" "$out" || di_die "cannot write $out"
  printf '%s: %s: %s (unpacked %s), %d packages, %d s\n' "$DI_PROG" "$out" \
    "$(di_human_size "$out")" "$(di_human_size "$root")" \
    "$(wc -l <"$root/etc/qvd-di-packages")" "$(($(date +%s) - t0))"
}

usage() { sed -n '4,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

# Build only when run, not when sourced ("return" works only in a sourced file).
if ! (return 0 2>/dev/null); then
  main "$@"
fi
