#!/usr/bin/env bash
# images/build-nxagent.sh: QVD's nxagent: Debian's nx-libs source package with the patches
# of images/nx-libs/patches (in the order of its series file), built into Debian binary
# packages whose version ends in +qvd.<key>. Built once per key (a hash of the source
# version, the patches and RECIPE_REVISION) and kept in a cache.
#
# Usage: images/build-nxagent.sh [--debug] [--cache DIR] [--key]
#   Prints the folder holding the .deb files a DI installs (nxagent and the nx-libs
#   libraries it needs), or nothing when the series is empty: the DIs then keep Debian's
#   own nxagent and nothing is built.
#   --debug   built without optimisation (-O0) and not stripped, for gdb; cached apart,
#             with its source tree (the folder's src/, gdb's `directory`)
#   --cache   where builds are kept (default $QVD_NXAGENT_CACHE, else /var/cache/qvd/nxagent)
#   --key     prints the cache key of the build and stops
#
# The source comes through apt from the Debian mirror of this machine's apt sources (a
# private deb-src list; the machine's apt configuration is not touched). Its build
# dependencies must be installed (scripts/install-deps.sh does it). Sourcing this file
# defines its functions without building anything.

# Debian's nx-libs at this exact version: our patches are written against it. Bookworm's
# own 2:3.5.99.26-5+deb12u1 cannot be used: the mirror no longer serves its upstream
# tarball. 2:3.5.99.27-3 is complete on the mirror (docs/nx-libs-patches.md). Change the
# version and rebase the patches together.
NXLIBS_VERSION=2:3.5.99.27-3
# The suites whose source index is searched for that version.
NXLIBS_SUITES="forky sid"
# The binary packages a DI takes from the build (the rest stays in the cache's other/).
NXAGENT_DI_PACKAGES="nxagent libnx-x11-6t64 libxcomp3t64 libxcompshad3t64 nx-x11-common"
# Part of the cache key: bump it when a change here changes the packages built (the
# source, the build options, what add_patches writes), so that DIs get a new build.
RECIPE_REVISION=1

# shellcheck disable=SC2034  # read by di_log in di-common.sh
DI_PROG=build-nxagent
. "$(dirname "${BASH_SOURCE[0]}")/di-common.sh"
PATCH_DIR=${PATCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/nx-libs/patches}

# patch_series: the patch file names of the series, in order; fails when the series and
# the folder disagree (a listed patch missing, a *.patch file not listed).
patch_series() {
  local series=$PATCH_DIR/series name f rc=0
  local -A listed=()
  if [ -f "$series" ]; then
    while read -r name _; do
      [[ -z $name || $name == \#* ]] && continue
      [ -f "$PATCH_DIR/$name" ] || { di_log "error: $series lists $name, which is missing"; rc=1; }
      listed[$name]=1
      echo "$name"
    done <"$series"
  fi
  for f in "$PATCH_DIR"/*.patch; do
    [ -f "$f" ] || continue
    [ -n "${listed[$(basename "$f")]:-}" ] ||
      { di_log "error: $f is not listed in $series"; rc=1; }
  done
  return $rc
}

# build_key DEBUG PATCH...: the cache key: sha256 of the source version, the recipe's
# revision, the series and the patches' contents, and the kind of build. (Not of this
# file: a comment edited here must not cost a rebuild; bump RECIPE_REVISION instead.)
build_key() {
  local debug=$1 p; shift
  {
    echo "nx-libs $NXLIBS_VERSION recipe $RECIPE_REVISION debug=$debug"
    for p in "$@"; do echo "$p"; sha256sum <"$PATCH_DIR/$p"; done
  } | sha256sum | cut -c1-16
}

# host_suite: this machine's Debian suite (bookworm), whose mirror the source comes from.
host_suite() { (. /etc/os-release && echo "${VERSION_CODENAME:?}"); }

# fetch_source DIR: downloads nx-libs NXLIBS_VERSION into DIR through a private apt
# configuration (deb-src of NXLIBS_SUITES on this machine's Debian mirror); apt checks the
# files against the suites' signed indexes.
fetch_source() {
  local dir=$1 mirror suite st=$1/apt
  mirror=$(debian_mirror "$(host_suite)") ||
    { di_log "error: no Debian mirror in this machine's apt sources"; return 1; }
  mkdir -p "$st/lists/partial" "$st/cache/archives/partial"
  for suite in $NXLIBS_SUITES; do echo "deb-src $mirror $suite main"; done >"$st/sources.list"
  local -a opts=(-o "Dir::Etc::SourceList=$st/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$st/lists" -o "Dir::Cache=$st/cache" -o Dir::State::Status=/dev/null
    -o APT::Sandbox::User=root -q)
  di_log "nx-libs $NXLIBS_VERSION from $mirror ($NXLIBS_SUITES)"
  if ! { apt-get "${opts[@]}" update >"$dir/apt.log" 2>&1 &&
      (cd "$dir" && apt-get "${opts[@]}" source --download-only "nx-libs=$NXLIBS_VERSION") \
        >>"$dir/apt.log" 2>&1; }; then
    tail -n 5 "$dir/apt.log" >&2
    di_log "error: cannot download nx-libs $NXLIBS_VERSION (gone from $NXLIBS_SUITES? then move NXLIBS_VERSION on and rebase the patches)"
    return 1
  fi
}

# add_patches TREE KEY PATCH...: our patches go into the package as quilt patches after
# Debian's (debian/patches/qvd/), a changelog entry names them, and
# nxagent/QvdPatches.h records their names for nxagent's log (see
# 0001-nxagent-log-qvd-patches.patch). The dpkg-dev (>= 1.22.5) build dependency, there
# only for the 64-bit time_t transition's t64:Provides on 32-bit ports, is relaxed so
# that the package builds with bookworm's dpkg-dev.
add_patches() {
  local tree=$1 key=$2 p names=""; shift 2
  mkdir -p "$tree/debian/patches/qvd"
  for p in "$@"; do
    cp "$PATCH_DIR/$p" "$tree/debian/patches/qvd/"
    echo "qvd/$p" >>"$tree/debian/patches/series"
    names+="${names:+ }${p%.patch}"
  done
  sed -i 's/dpkg-dev (>= 1\.22\.5)/dpkg-dev/' "$tree/debian/control"
  local date
  date=$(cd "$tree" && dpkg-parsechangelog -S Date)
  {
    printf 'nx-libs (%s+qvd.%s) UNRELEASED; urgency=medium\n\n' "$NXLIBS_VERSION" "$key"
    printf '  * QVD build (images/build-nxagent.sh), with debian/patches/qvd/:\n'
    for p in "$@"; do printf '    + %s\n' "$p"; done
    printf '  * Build-Depends: dpkg-dev without (>= 1.22.5), to build on bookworm.\n'
    printf '\n -- QVD images <qvd-images@localhost>  %s\n\n' "$date"
    cat "$tree/debian/changelog"
  } >"$tree/debian/changelog.new"
  mv "$tree/debian/changelog.new" "$tree/debian/changelog"
  printf '/* Written by images/build-nxagent.sh: the QVD patches built into nxagent. */\n#define NXAGENT_QVD_PATCHES "%s"\n' \
    "$names" >"$tree/nx-X11/programs/Xserver/hw/nxagent/QvdPatches.h"
}

# build_debs TREE DEBUG LOG: dpkg-buildpackage of the binary packages (no clean: the tree
# is fresh; no tests, no documentation).
build_debs() {
  local tree=$1 debug=$2 log=$3 flags="nocheck nodoc"
  [ "$debug" = 1 ] && flags+=" noopt nostrip"
  (cd "$tree" && dpkg-source --before-build . && dpkg-checkbuilddeps &&
    DEB_BUILD_OPTIONS=$flags dpkg-buildpackage -us -uc -b -nc) >"$log" 2>&1
}

# publish_debs WORK OUT: moves the built packages into OUT (the DI ones at its top, the
# others in OUT/other), renaming a temporary folder over it.
publish_debs() {
  local work=$1 out=$2 tmp=$1/out f pkg
  mkdir -p "$tmp/other"
  for f in "$work"/*.deb; do
    pkg=$(dpkg-deb -f "$f" Package)
    if [[ " $NXAGENT_DI_PACKAGES " == *" $pkg "* ]]; then mv "$f" "$tmp/"; else mv "$f" "$tmp/other/"; fi
  done
  for pkg in $NXAGENT_DI_PACKAGES; do
    compgen -G "$tmp/${pkg}_*.deb" >/dev/null || { di_log "error: the build made no $pkg package"; return 1; }
  done
  rm -rf "$out"
  mv -T "$tmp" "$out"
}

main() {
  set -euo pipefail
  local debug=0 cache=${QVD_NXAGENT_CACHE:-/var/cache/qvd/nxagent} key_only="" key out
  while [ $# -gt 0 ]; do
    case "$1" in
      --debug) debug=1 ;;
      --cache) [ $# -ge 2 ] || usage; cache=$2; shift ;;
      --key) key_only=1 ;;
      -h | --help) usage 0 ;;
      *) di_log "unknown argument $1"; usage ;;
    esac
    shift
  done
  local series
  local -a patches
  series=$(patch_series) || exit 1
  [ -n "$series" ] || exit 0
  mapfile -t patches <<<"$series"
  key=$(build_key "$debug" "${patches[@]}")
  [ "$debug" = 1 ] && key=$key-debug
  if [ -n "$key_only" ]; then echo "$key"; exit 0; fi
  out=$cache/$key
  [ -f "$out/.done" ] && { echo "$out"; exit 0; }

  [ "$(id -u)" = 0 ] || di_die "run as root (apt-get source, build dependencies)"
  mkdir -p "$cache"
  cache=$(realpath "$cache"); out=$cache/$key
  # One build at a time; a caller that waited finds the other's result.
  exec {lock}>"$cache/.lock"
  flock "$lock"
  [ -f "$out/.done" ] && { echo "$out"; exit 0; }

  local t0 work tree
  t0=$(date +%s)
  WORK=$(mktemp -d "$cache/.build.XXXXXX")
  trap 'rm -rf --one-file-system "$WORK"' EXIT
  trap 'exit 130' INT TERM HUP
  work=$WORK
  fetch_source "$work" || exit 1
  (cd "$work" && dpkg-source -x ./*.dsc src) >"$work/unpack.log" 2>&1 ||
    { cat "$work/unpack.log" >&2; di_die "cannot unpack the source package"; }
  tree=$work/src
  add_patches "$tree" "${key%-debug}" "${patches[@]}"
  di_log "building (${#patches[@]} patches, key $key; a serial build: 20 to 30 minutes)..."
  if ! build_debs "$tree" "$debug" "$work/build.log"; then
    grep -E -B2 -A12 "(does not apply|FAILED|Unmet build dependencies)" "$work/build.log" >&2 ||
      tail -n 30 "$work/build.log" >&2
    cp "$work/build.log" "$cache/failed-build.log"
    di_die "the nx-libs build failed (above; whole log: $cache/failed-build.log)"
  fi
  publish_debs "$work" "$out" || exit 1
  cp "$work/build.log" "$out/other/build.log"
  # gdb's source folder for a debug build (its debug info names paths relative to it)
  [ "$debug" = 1 ] && mv "$tree" "$out/src"
  printf 'nx-libs %s+qvd.%s built in %d s\n' "$NXLIBS_VERSION" "${key%-debug}" \
    "$(($(date +%s) - t0))" >"$out/.done"
  di_log "$(cat "$out/.done")"
  echo "$out"
}

usage() { sed -n '7,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

if ! (return 0 2>/dev/null); then
  main "$@"
fi
