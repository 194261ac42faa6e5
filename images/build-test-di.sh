#!/usr/bin/env bash
# images/build-test-di.sh: builds the small test DI from Debian packages already installed
# on this node, in seconds and without the network (for the integration tests).
#
# Usage: images/build-test-di.sh [--dir] [--packages "PKG..."] [--nxagent-debs DIR]
#                                [--check-elf FILE]... OUT
#   OUT ending in .tar, .tar.gz/.tgz, .tar.xz or .tar.zst: a tarball in basic layout;
#   any other OUT, or --dir: a directory. OUT is replaced atomically.
#   --packages      replaces TEST_DI_PACKAGES (the VMA libraries are always added)
#   --nxagent-debs  take nxagent and its nx-libs from the .deb files in DIR (those that
#                   replace a package of the image) instead of images/build-nxagent.sh's
#                   build ("stock": Debian's installed nxagent)
#   --check-elf     also checks that FILE (e.g. build/src/vma/qvd-vma) finds every shared
#                   library it needs inside the image
#
# The image holds the files of TEST_DI_PACKAGES + VMA_LIB_PACKAGES and of every installed
# package they depend on (Depends and Pre-Depends, recursively), without documentation,
# manuals or translations, plus minimal /etc files and the test session
# /usr/local/bin/qvd-test-session (vma.x_session for the tests). When
# images/nx-libs/patches has patches, QVD's nxagent packages (images/build-nxagent.sh,
# built once and cached) replace the installed nxagent and the nx-libs it uses.
set -euo pipefail

# What the container needs: nxagent and the X tools of the session, useradd/groupadd for
# user provisioning, a shell and core tools for the VMA's hooks; x11-utils (xev, xdpyinfo)
# and xclip let tests read what the session got (keys, screen size, clipboard); pulseaudio
# for the session's sound, pulseaudio-utils (pactl, pacat, parec) for the VMA and the tests;
# cups-daemon and cups-client: the VM's CUPS, where the VMA adds the client's printers
# (printing, tests/integration/printing.sh).
TEST_DI_PACKAGES="base-files dash bash coreutils debianutils sed grep findutils util-linux
  libc-bin passwd login procps iproute2 x11-common nxagent x11-xserver-utils
  x11-xkb-utils xkb-data xfonts-base xterm x11-utils xclip
  pulseaudio pulseaudio-utils
  openssh-sftp-server
  cups-daemon cups-client"
# The shared libraries qvd-vma links against (check with: ldd build/src/vma/qvd-vma).
VMA_LIB_PACKAGES="libc6 libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7
  libevent-openssl-2.1-7 libevent-pthreads-2.1-7 libjansson4 libssl3 libsqlite3-0
  libargon2-1 libhttp-parser2.9"
# Package paths never copied (documentation, manuals, translations).
EXCLUDE_PATHS="usr/share/doc usr/share/man usr/share/info usr/share/locale
  usr/share/lintian usr/share/bug usr/share/common-licenses usr/share/gtk-doc
  usr/share/doc-base usr/share/menu usr/lib/x86_64-linux-gnu/tc
  usr/lib/x86_64-linux-gnu/gconv"
# Installed dependencies left out: cpp (30 MB of C compiler, wanted only by xrdb). Without
# it xrdb would fail, so the image also drops x11-common's system X resources file, which
# is what made /etc/X11/Xsession call xrdb.
# And, of PulseAudio's, libasound2-plugins (ALSA programs' way into PulseAudio, 135 MB of
# codecs with libavcodec; PulseAudio itself does not load them) and iso-codes (language
# names for GStreamer's tags, 20 MB).
SKIP_PACKAGES="cpp cpp-12 libasound2-plugins iso-codes"
# The colour the test session paints (tests look for it on the client's screen).
TEST_SESSION_COLOUR="#2e8b57"

DI_PROG=build-test-di
. "$(dirname "${BASH_SOURCE[0]}")/di-common.sh"

usage() { sed -n '4,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

# pkg_closure PKG...: prints the given packages and, recursively, every installed package
# they depend on (Depends, Pre-Depends). Of alternatives ("a | b") the first installed one
# is taken; a virtual package resolves to an installed provider. Fails if a requested
# package is not installed.
pkg_closure() {
  local -A inst=() deps=() prov=() seen=()
  local pkg st pre dep pv name group alt chosen p
  local -a list groups alts
  # Fields are split on \x1f: a tab separator would merge empty fields.
  while IFS=$'\x1f' read -r pkg st pre dep pv; do
    [[ $st == [ih]i* ]] || continue
    inst[$pkg]=1
    deps[$pkg]="$pre, $dep"
    IFS=',' read -ra list <<<"$pv"
    for name in "${list[@]}"; do
      name=${name%%(*}; name=${name// /}
      [ -n "$name" ] && [ -z "${prov[$name]:-}" ] && prov[$name]=$pkg
    done
  done < <(dpkg-query -W \
    -f=$'${Package}\x1f${db:Status-Abbrev}\x1f${Pre-Depends}\x1f${Depends}\x1f${Provides}\n')

  for p in $SKIP_PACKAGES; do seen[$p]=1; done
  local missing=() queue=()
  for p in "$@"; do
    if [ -n "${inst[$p]:-}" ]; then queue+=("$p"); else missing+=("$p"); fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    di_log "error: not installed on this node: ${missing[*]}"
    di_log "install them with: apt-get install --no-install-recommends ${missing[*]}"
    return 1
  fi
  while [ ${#queue[@]} -gt 0 ]; do
    pkg=${queue[0]}; queue=("${queue[@]:1}")
    [ -n "${seen[$pkg]:-}" ] && continue
    seen[$pkg]=1
    echo "$pkg"
    IFS=',' read -ra groups <<<"${deps[$pkg]}"
    for group in "${groups[@]}"; do
      chosen=""
      IFS='|' read -ra alts <<<"$group"
      for alt in "${alts[@]}"; do
        alt=${alt%%(*}; alt=${alt// /}; alt=${alt%%:*}
        [ -z "$alt" ] && continue
        if [ -n "${inst[$alt]:-}" ]; then chosen=$alt; break; fi
        if [ -n "${prov[$alt]:-}" ]; then chosen=${prov[$alt]}; break; fi
      done
      if [ -n "$chosen" ]; then
        [ -z "${seen[$chosen]:-}" ] && queue+=("$chosen")
      elif [ -n "${group// /}" ]; then
        di_log "warning: $pkg: dependency '${group# }' is not installed, skipped"
      fi
    done
  done
  return 0 # not the status of the loop's last test (a dependency already queued)
}

# pkg_files PKG...: the paths (relative to /) of the packages' files that exist on this
# node, sorted (parents first), without EXCLUDE_PATHS and without the top-level
# merged-/usr symlinks (bin, lib, ...) that the image gets separately.
pkg_files() {
  local path canon skip x top
  local -a excl
  read -rd "" -a excl <<<"$EXCLUDE_PATHS" || true
  dpkg-query -L "$@" | grep '^/' | sed 's|^/||' | LC_ALL=C sort -u | while IFS= read -r path; do
    [ -z "$path" ] || [ "$path" = . ] && continue
    # Compare as the merged-/usr path: lib/x86_64-linux-gnu/tc is usr/lib/...
    canon=$path; top=${path%%/*}
    [ -L "/$top" ] && canon=$(readlink "/$top")${path#"$top"} && canon=${canon#/}
    skip=""
    for x in "${excl[@]}"; do
      if [[ $canon == "$x" || $canon == "$x"/* ]]; then skip=1; break; fi
    done
    [ -n "$skip" ] && continue
    [[ $path != */* && -L /$path ]] && continue
    [[ -e /$path || -L /$path ]] && printf '%s\0' "$path"
  done
}

# debs_for_image DIR PKG...: the .deb files of DIR that replace one of the installed
# packages PKG... (a package of the same name, or one named without a version in the
# .deb's Replaces: libxcomp3t64 replaces libxcomp3; nxdialog's "nxagent (<< ...)" does
# not count), one line "FILE PKG..." each, PKG... being what that file replaces. The other
# .deb files of DIR (nxproxy, -dev packages) are left out.
debs_for_image() {
  local dir=$1 f p hit; shift
  local -A inst=()
  for p in "$@"; do inst[$p]=1; done
  for f in "$dir"/*.deb; do
    hit=""
    for p in $(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Replaces | tr ',' '\n' | grep -v '[(|]'); do
      [ -n "${inst[$p]:-}" ] && hit+=" $p"
    done
    [ -z "$hit" ] || echo "$f$hit"
  done
}

# unpack_debs ROOT FILE...: the files of the .deb FILEs, without EXCLUDE_PATHS, into ROOT
# (as dpkg would install them, but no maintainer script runs: nx-libs' only run ldconfig,
# which the build runs at the end).
unpack_debs() {
  local root=$1 f x; shift
  local -a excl=()
  for x in $EXCLUDE_PATHS; do excl+=("--exclude=./$x"); done
  for f in "$@"; do
    dpkg-deb --fsys-tarfile "$f" |
      tar -C "$root" --keep-directory-symlink --numeric-owner "${excl[@]}" -xpf - || return 1
  done
}

# nxagent_debs CHOICE: the folder of nxagent .deb files to use: CHOICE itself, nothing for
# "stock", or (CHOICE empty) images/build-nxagent.sh's build, nothing if it has no patches.
nxagent_debs() {
  case "$1" in
    stock) return 0 ;;
    "") bash "$(dirname "${BASH_SOURCE[0]}")/build-nxagent.sh" ;;
    *)
      compgen -G "$1/*.deb" >/dev/null || { di_log "error: no .deb file in $1"; return 1; }
      realpath "$1" ;;
  esac
}

# copy_alternatives ROOT: recreates the update-alternatives links (/usr/bin/awk,
# /usr/bin/x-terminal-emulator, ...) whose chosen target was copied into ROOT.
copy_alternatives() {
  local root=$1 f name link target
  for f in /var/lib/dpkg/alternatives/*; do
    [ -f "$f" ] || continue
    # Line 2 is the master link; slave name/link pairs follow until an empty line.
    {
      read -r _mode || continue
      read -r link || continue
      name=$(basename "$f")
      while :; do
        target=$(readlink "/etc/alternatives/$name" 2>/dev/null) || target=""
        if [ -n "$target" ] && [ -e "$root$target" ] && [ -n "$link" ]; then
          ln -sfn "$target" "$root/etc/alternatives/$name"
          mkdir -p "$root$(dirname "$link")"
          ln -sfn "/etc/alternatives/$name" "$root$link"
        fi
        read -r name || break
        [ -z "$name" ] && break
        read -r link || break
      done
    } <"$f"
  done
}

# copy_font_indexes ROOT: the X font directories' indexes (fonts.dir, fonts.alias, ...)
# are made by maintainer scripts, not shipped; nxagent cannot open "fixed" without them.
copy_font_indexes() {
  local root=$1 d f
  for d in "$root"/usr/share/fonts/X11/*/; do
    [ -d "$d" ] || continue
    for f in fonts.dir fonts.alias fonts.scale encodings.dir; do
      [ -f "/${d#"$root"/}$f" ] && cp -p "/${d#"$root"/}$f" "$d$f"
    done
  done
  return 0
}

# write_etc ROOT: users, groups, name service, PAM and shell lists for a system on which
# no maintainer script ran. Only system accounts; the VMA adds the session user.
write_etc() {
  local root=$1
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
audio:x:29:
video:x:44:
shadow:x:42:
utmp:x:43:
plugdev:x:46:
staff:x:50:
users:x:100:
lpadmin:x:105:
nogroup:x:65534:
EOF
  awk -F: '{ print $1 ":*:19000:0:99999:7:::" }' "$root/etc/passwd" >"$root/etc/shadow"
  awk -F: '{ print $1 ":*::" }' "$root/etc/group" >"$root/etc/gshadow"
  chmod 0644 "$root/etc/passwd" "$root/etc/group"
  chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
  chown 0:42 "$root/etc/shadow" "$root/etc/gshadow"
  cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd:   files
group:    files
shadow:   files
gshadow:  files
hosts:    files dns
networks: files
protocols: files
services: files
EOF
  printf '%s\n' /bin/sh /usr/bin/sh /bin/bash /usr/bin/bash /bin/dash /usr/bin/dash \
    >"$root/etc/shells"
  mkdir -p "$root/etc/pam.d"
  echo "auth required pam_unix.so nullok" >"$root/etc/pam.d/common-auth"
  echo "account required pam_unix.so" >"$root/etc/pam.d/common-account"
  echo "password required pam_unix.so obscure yescrypt" >"$root/etc/pam.d/common-password"
  echo "session required pam_unix.so" >"$root/etc/pam.d/common-session"
  echo "session required pam_unix.so" >"$root/etc/pam.d/common-session-noninteractive"
  di_write_identity "$root"
}

# write_session ROOT: the test X session, also made the default of /etc/X11/Xsession
# (as x-session-manager) so that the VMA's default vma.x_session works too.
write_session() {
  local root=$1 s=/usr/local/bin/qvd-test-session
  mkdir -p "$root/usr/local/bin"
  cat >"$root$s" <<EOF
#!/bin/sh
# qvd-test-session: the integration tests' X session. It paints the root window
# $TEST_SESSION_COLOUR (the tests look for it on the client's screen), leaves a marker
# ~/.qvd-session-<pid> holding DISPLAY, and stays alive until the X server goes.
echo "\${DISPLAY:-}" >"\${HOME:-/tmp}/.qvd-session-\$\$" 2>/dev/null || true
xsetroot -solid '$TEST_SESSION_COLOUR'
exec sleep infinity
EOF
  chmod 0755 "$root$s"
  mkdir -p "$root/etc/alternatives" "$root/usr/bin"
  ln -sfn "$s" "$root/etc/alternatives/x-session-manager"
  ln -sfn /etc/alternatives/x-session-manager "$root/usr/bin/x-session-manager"
}

# write_cups_conf ROOT: cups-daemon's postinst makes /etc/cups/cupsd.conf from its
# default (no maintainer script runs here); the VMA starts cupsd with it.
write_cups_conf() {
  local root=$1
  if [ -f "$root/usr/share/cups/cupsd.conf.default" ] && [ ! -e "$root/etc/cups/cupsd.conf" ]; then
    install -m 0644 "$root/usr/share/cups/cupsd.conf.default" "$root/etc/cups/cupsd.conf"
  fi
  return 0
}

# make_dirs ROOT: mount points and scratch folders that no package ships.
make_dirs() {
  local root=$1 d
  for d in dev proc sys run run/lock home root etc/qvd usr/lib/qvd/bin var/log var/lib/xkb; do
    mkdir -p "$root/$d"
  done
  chmod 0700 "$root/root"
  for d in tmp var/tmp tmp/.X11-unix; do
    mkdir -p "$root/$d"; chmod 1777 "$root/$d"
  done
  [ -e "$root/var/run" ] || ln -s /run "$root/var/run"
  [ -e "$root/var/lock" ] || ln -s /run/lock "$root/var/lock"
}

main() {
  local out="" as_dir="" pkgs=$TEST_DI_PACKAGES t0 root d t check=() nx_choice="" nxdebs
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) as_dir=1 ;;
      --packages) [ $# -ge 2 ] || usage; pkgs=$2; shift ;;
      --nxagent-debs) [ $# -ge 2 ] || usage; nx_choice=$2; shift ;;
      --check-elf) [ $# -ge 2 ] || usage; check+=("$(realpath "$2")"); shift ;;
      -h | --help) usage 0 ;;
      -*) di_log "unknown option $1"; usage ;;
      *) [ -z "$out" ] || usage; out=$1 ;;
    esac
    shift
  done
  [ -n "$out" ] || usage
  [ "$(id -u)" = 0 ] || di_die "run as root (files keep their owners; chroot checks)"
  nxdebs=$(nxagent_debs "$nx_choice") || di_die "no nxagent packages (images/build-nxagent.sh failed?)"
  di_tar_compress_flag "$out" >/dev/null || as_dir=1
  mkdir -p "$(dirname "$out")"
  out=$(realpath -m "$out")
  t0=$(date +%s.%N)

  WORK=$(mktemp -d "$(dirname "$out")/.$(basename "$out").build.XXXXXX")
  # Removed at any exit; after a successful directory build it is already gone.
  trap 'rm -rf --one-file-system "$WORK"' EXIT
  trap 'exit 130' INT TERM HUP
  root=$WORK/root
  mkdir -p "$root"
  for d in bin sbin lib lib64; do
    if [ -L "/$d" ]; then
      t=$(readlink "/$d")
      ln -s "$t" "$root/$d"
      mkdir -p "$root/${t#/}"
    fi
  done

  local closure copied replaced="" sel=""
  local -a debs=()
  # shellcheck disable=SC2086
  closure=$(pkg_closure $pkgs $VMA_LIB_PACKAGES) || exit 1
  if [ -n "$nxdebs" ]; then
    # shellcheck disable=SC2086
    sel=$(debs_for_image "$nxdebs" $closure)
    [ -n "$sel" ] || di_die "no .deb file in $nxdebs replaces a package of the image"
    mapfile -t debs < <(cut -d' ' -f1 <<<"$sel")
    replaced=$(cut -d' ' -f2- <<<"$sel" | tr ' ' '\n' | LC_ALL=C sort -u)
  fi
  copied=$closure
  [ -n "$replaced" ] && copied=$(echo "$closure" | grep -vxF -f <(echo "$replaced"))
  # shellcheck disable=SC2086
  pkg_files $copied >"$WORK/files"
  tar -C / --no-recursion --null -T "$WORK/files" -cf - |
    tar -C "$root" --keep-directory-symlink --numeric-owner -xpf -
  if [ -n "$nxdebs" ]; then
    unpack_debs "$root" "${debs[@]}" || di_die "cannot unpack the nxagent packages of $nxdebs"
    di_log "nxagent from $nxdebs (replacing $(echo $replaced))"
  fi
  mkdir -p "$root/etc/alternatives"
  copy_alternatives "$root"
  copy_font_indexes "$root"
  make_dirs "$root"
  write_etc "$root"
  di_write_pulse_conf "$root"
  write_session "$root"
  rm -f "$root/etc/X11/Xresources/x11-common"
  write_cups_conf "$root"
  chroot "$root" /sbin/ldconfig
  # "name<TAB>version" lines, as dpkg-query -W prints them
  {
    # shellcheck disable=SC2086
    dpkg-query -W -f='${Package}\t${Version}\n' $copied
    if [ -n "$nxdebs" ]; then
      for d in "${debs[@]}"; do dpkg-deb --show --showformat='${Package}\t${Version}\n' "$d"; done
    fi
  } | LC_ALL=C sort >"$root/etc/qvd-di-packages"
  di_validate "$root" "${check[@]}" || exit 1

  if [ -n "$as_dir" ]; then
    di_publish_dir "$root" "$out" || di_die "cannot move the image to $out"
  else
    di_publish_tar "$root" "$out" || di_die "cannot write $out"
  fi
  printf '%s: %s: %s, %d packages, %.1f s\n' "$DI_PROG" "$out" "$(di_human_size "$out")" \
    "$(echo "$closure" | wc -w)" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
}

main "$@"
