#!/usr/bin/env bash
# images/build-debian-di.sh: builds the demo DI (Debian + nxagent + IceWM desktop) with
# debootstrap, from the Debian mirror this machine's apt already uses.
#
# Usage: images/build-debian-di.sh [--suite SUITE] [--packages "PKG..."] [--mirror URL]
#                                  [--check-elf FILE]... OUT
#   OUT ending in .tar, .tar.gz/.tgz, .tar.xz or .tar.zst (written atomically).
#   --suite      Debian suite (default bookworm)
#   --packages   replaces DEBIAN_DI_PACKAGES (the VMA libraries are always added)
#   --mirror     use this mirror instead of the one found in the apt sources
#   --check-elf  also check that FILE (e.g. build/src/vma/qvd-vma) finds its libraries
# The X session: vma.x_session=/etc/X11/Xsession (the default) or
# /usr/local/bin/qvd-desktop-session; both start IceWM with a background and an xterm.
#
# Sourcing this file defines its functions without building anything (the tests use
# apt_source_entries and debian_mirror that way).

# The desktop: nxagent and the X pieces it needs, IceWM, a terminal, and the tools the
# VMA runs (useradd/groupadd from passwd, ps, ip).
DEBIAN_DI_PACKAGES="passwd procps iproute2 nxagent x11-xkb-utils xkb-data xfonts-base
  fonts-dejavu-core x11-xserver-utils x11-common xterm icewm"
# The shared libraries qvd-vma links against (check with: ldd build/src/vma/qvd-vma).
VMA_LIB_PACKAGES="libc6 libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7
  libevent-openssl-2.1-7 libevent-pthreads-2.1-7 libjansson4 libssl3 libsqlite3-0
  libargon2-1 libhttp-parser2.9"
# Optional plugins not checked for their libraries (tc's ATM qdisc, libao's audio
# back-ends pulled in by IceWM's sound daemon).
# shellcheck disable=SC2034  # read by di_check_elves in di-common.sh
DI_ELF_CHECK_SKIP="usr/lib/*/tc/* usr/lib/*/ao/plugins-*/*"
# The apt configuration the mirror is read from (overridable for tests).
APT_SOURCES_LIST=${APT_SOURCES_LIST:-/etc/apt/sources.list}
APT_SOURCES_DIR=${APT_SOURCES_DIR:-/etc/apt/sources.list.d}
# The desktop's background colour.
DESKTOP_COLOUR="#3a6ea5"

DI_PROG=build-debian-di
. "$(dirname "${BASH_SOURCE[0]}")/di-common.sh"

# apt_source_files: the apt source files of this machine, in the order apt reads them.
apt_source_files() {
  [ -f "$APT_SOURCES_LIST" ] && echo "$APT_SOURCES_LIST"
  local f
  for f in "$APT_SOURCES_DIR"/*.list "$APT_SOURCES_DIR"/*.sources; do
    [ -f "$f" ] && echo "$f"
  done
  return 0
}

# apt_source_entries FILE...: one line "TYPE URI SUITE [COMPONENT...]" per source and
# suite, from one-line files (*.list: "deb [opts] URI SUITE COMP...") and deb822 files
# (*.sources: Types/URIs/Suites/Components paragraphs; "Enabled: no" ones skipped).
# Comments, options and blank lines are dropped.
apt_source_entries() {
  [ $# -gt 0 ] || return 0
  awk '
    function flush(   nt, nu, ns, i, j, k, t, u, s) {
      if (have && tolower(f["enabled"]) !~ /^[ \t]*no[ \t]*$/) {
        nt = split(f["types"], t); nu = split(f["uris"], u); ns = split(f["suites"], s)
        for (i = 1; i <= nt; i++) for (j = 1; j <= nu; j++) for (k = 1; k <= ns; k++)
          print t[i], u[j], s[k], f["components"]
      }
      for (i in f) delete f[i]
      have = 0; key = ""
    }
    FNR == 1 { flush(); d822 = (FILENAME ~ /\.sources$/) }
    d822 {
      if ($0 ~ /^[ \t]*#/) next
      line = $0
      if (line ~ /^[ \t]*$/) { flush(); next }
      if (line ~ /^[ \t]/) { if (key != "") f[key] = f[key] " " line; next }
      c = index(line, ":"); if (c == 0) next
      key = tolower(substr(line, 1, c - 1)); f[key] = substr(line, c + 1); have = 1
      next
    }
    {
      line = $0; sub(/#.*/, "", line)
      o = index(line, "[")
      if (o) { c = index(line, "]"); if (c > o) line = substr(line, 1, o - 1) " " substr(line, c + 1) }
      n = split(line, w); if (n < 3) next
      comps = ""; for (i = 4; i <= n; i++) comps = comps " " w[i]
      print w[1], w[2], w[3] comps
    }
    END { flush() }
  ' "$@"
}

# debian_mirror SUITE [FILE...]: the URI of the first "deb" source carrying SUITE's main
# component, read from FILE... (default: this machine's apt sources). Failing an exact
# suite, a source of one of SUITE's non-security companions (SUITE-updates, ...) is
# taken. Only http, https, ftp and file URIs (what debootstrap can fetch). Prints nothing
# and fails if there is none.
debian_mirror() {
  local suite=$1; shift
  local -a files=("$@")
  [ $# -gt 0 ] || mapfile -t files < <(apt_source_files)
  [ ${#files[@]} -gt 0 ] || return 1
  local uri
  uri=$(apt_source_entries "${files[@]}" | awk -v s="$suite" '
    $1 != "deb" || $2 !~ /^(https?|ftp|file):/ || (" " $0 " ") !~ / main / { next }
    $3 == s { print $2; found = 1; exit }
    !alt && index($3, s "-") == 1 && $3 !~ /-security$/ && $2 !~ /security/ { alt = $2 }
    END { if (!found && alt != "") print alt }')
  [ -n "$uri" ] || return 1
  echo "${uri%/}"
}

# has_source SUITE URI [FILE...]: true if the apt sources list URI for SUITE.
has_source() {
  local suite=$1 uri=$2; shift 2
  local -a files=("$@")
  [ $# -gt 0 ] || mapfile -t files < <(apt_source_files)
  apt_source_entries "${files[@]}" |
    awk -v s="$suite" -v u="$uri" '$1 == "deb" && $3 == s { x = $2; sub(/\/$/, "", x); if (x == u) f = 1 } END { exit !f }'
}

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
  local d
  for d in usr/lib/qvd/bin etc/qvd home; do mkdir -p "$root/$d"; done
  mkdir -p "$root/tmp/.X11-unix"; chmod 1777 "$root/tmp" "$root/tmp/.X11-unix"
  chroot "$root" dpkg-query -W >"$root/etc/qvd-di-packages"
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
  local t0 root arch include=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --suite) [ $# -ge 2 ] || usage; suite=$2; shift ;;
      --packages) [ $# -ge 2 ] || usage; pkgs=$2; shift ;;
      --mirror) [ $# -ge 2 ] || usage; mirror=${2%/}; shift ;;
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
        --no-install-recommends dist-upgrade; } >"$WORK/apt.log" 2>&1; then
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

usage() { sed -n '4,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

# Build only when run, not when sourced ("return" works only in a sourced file).
if ! (return 0 2>/dev/null); then
  main "$@"
fi
