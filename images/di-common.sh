# images/di-common.sh: helpers shared by the DI build scripts (sourced, not run).
# Output naming, atomic publication of a tarball or a directory, and the /etc files that
# every QVD DI carries.

di_log() { printf '%s: %s\n' "${DI_PROG:-di}" "$*" >&2; }
di_die() { di_log "error: $*"; exit 1; }

# di_tar_compress_flag OUT: the tar option that compresses for OUT's extension, or
# nothing for a plain .tar. Fails for a name that is not a tarball the node can unpack.
di_tar_compress_flag() {
  case "$1" in
    *.tar) echo "" ;;
    *.tar.gz | *.tgz) echo "--gzip" ;;
    *.tar.xz | *.txz) echo "--xz" ;;
    *.tar.zst | *.tzst) echo "--zstd" ;;
    *) return 1 ;;
  esac
}

# di_publish_tar ROOT OUT: packs ROOT (basic layout: its contents at the top of the
# archive, numeric owners) into a temporary file next to OUT and renames it over OUT, so
# OUT is either the old image or the complete new one, never a partial file.
di_publish_tar() {
  local root=$1 out=$2 flag tmp
  flag=$(di_tar_compress_flag "$out") || di_die "$out: name must end in .tar, .tar.gz, .tgz, .tar.xz or .tar.zst"
  tmp=$(mktemp "$(dirname "$out")/.$(basename "$out").tmp.XXXXXX") || return 1
  # XZ_OPT/ZSTD_CLEVEL keep compression multi-threaded and reasonably quick.
  if ! XZ_OPT=${XZ_OPT:--T0 -6} tar -C "$root" --numeric-owner --sort=name \
      ${flag:+"$flag"} -cf "$tmp" .; then
    rm -f "$tmp"; return 1
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$out"
}

# di_publish_dir ROOT OUT: moves ROOT (which must be on OUT's file system) to OUT. An old
# OUT is first renamed aside and removed afterwards; readers see either the old tree or
# the new one (OUT is briefly absent between the two renames).
di_publish_dir() {
  local root=$1 out=$2 old=""
  if [ -e "$out" ] || [ -L "$out" ]; then
    old=$(mktemp -d "$(dirname "$out")/.$(basename "$out").old.XXXXXX") || return 1
    mv -T "$out" "$old/tree" || { rmdir "$old"; return 1; }
  fi
  if ! mv -T "$root" "$out"; then
    [ -n "$old" ] && mv -T "$old/tree" "$out"
    return 1
  fi
  [ -n "$old" ] && rm -rf --one-file-system "$old"
  return 0
}

# di_write_identity ROOT: the per-VM identity files a DI must not fix: a placeholder
# hostname (LXC sets the real one), loopback in /etc/hosts, an empty machine-id so each
# container generates its own.
di_write_identity() {
  local root=$1
  mkdir -p "$root/etc"
  echo "qvd-vm" >"$root/etc/hostname"
  chmod 0644 "$root/etc/hostname"
  cat >"$root/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
EOF
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
}

# di_check_elves ROOT [EXTRA...]: every ELF file in ROOT (and each EXTRA file, copied in for
# the check) must find all its shared libraries inside ROOT. Prints the missing ones.
# Files under DI_ELF_CHECK_SKIP (globs relative to ROOT, space-separated) are not checked:
# plugins that their program loads only if the optional library is there.
di_check_elves() {
  local root=$1 f missing skip=() globs=() g; shift
  local extra_dir=$root/tmp/.qvd-elf-check
  if [ $# -gt 0 ]; then
    mkdir -p "$extra_dir"
    for f in "$@"; do
      [ -f "$f" ] || { di_log "error: --check-elf $f: no such file"; return 1; }
      cp "$f" "$extra_dir/"
    done
  fi
  read -ra globs <<<"${DI_ELF_CHECK_SKIP:-}"
  for g in "${globs[@]}"; do skip+=(! -path "./$g"); done
  # ldd prints "FILE:" headers only for two or more files, hence the extra /usr/bin/true.
  missing=$(
    cd "$root" && find . -xdev -type f \( -perm /111 -o -name '*.so' -o -name '*.so.*' \) \
      "${skip[@]}" -print0 | xargs -0 -r grep -alZ -m1 $'^\x7fELF' 2>/dev/null | sed -z 's|^\.||' |
      chroot "$root" /usr/bin/xargs -0 -r -n 200 /usr/bin/ldd /usr/bin/true 2>/dev/null |
      awk '/^[^\t].*:$/ { file = substr($0, 1, length($0) - 1); next }
           /not found/ { print file ": " $1 }' || true
  )
  rm -rf "$extra_dir"
  if [ -n "$missing" ]; then
    di_log "error: shared libraries missing in the image:"
    printf '%s\n' "$missing" | sed 's/^/  /' >&2
    return 1
  fi
}

# di_validate ROOT EXTRA...: the tools the VMA runs work inside the image and every ELF
# file finds its libraries (see di_check_elves).
di_validate() {
  local root=$1; shift
  chroot "$root" /usr/bin/nxagent -version >/dev/null 2>&1 || { di_log "error: nxagent -version fails in the image"; return 1; }
  chroot "$root" /usr/sbin/useradd --help >/dev/null 2>&1 || { di_log "error: useradd --help fails in the image"; return 1; }
  di_check_elves "$root" "$@"
}

# di_human_size FILE|DIR: its size on disk, human readable.
di_human_size() { du -sh --apparent-size "$1" 2>/dev/null | cut -f1; }
